/* Bump allocator with a byte cap: every value of one evaluation lives here. */
#ifndef CTFS_RG_ARENA_H
#define CTFS_RG_ARENA_H

#include <stddef.h>

struct rg_chunk;

struct rg_arena {
	struct rg_chunk *head;
	size_t used; /* bytes obtained from malloc so far */
	size_t cap;  /* 0 = unlimited */
	int over;    /* set once an allocation failed on the cap */
};

void rg_arena_init(struct rg_arena *a, size_t cap);
/* Zeroed memory, aligned for any type; NULL on cap or malloc failure. */
void *rg_alloc(struct rg_arena *a, size_t size);
/* n * size bytes, overflow-checked. */
void *rg_allocn(struct rg_arena *a, size_t n, size_t size);
char *rg_strndup(struct rg_arena *a, const char *s, size_t n);
void rg_arena_free(struct rg_arena *a);

#endif
