/* Bump allocator with a byte cap: values are never freed one by one, which
 * keeps the evaluator simple; the cap bounds what a runaway policy costs. */
#include "policy/rg_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN 16384u

struct rg_chunk {
	struct rg_chunk *next;
	size_t size, off;
	max_align_t data[];
};

void rg_arena_init(struct rg_arena *a, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->cap = cap;
}

static struct rg_chunk *new_chunk(struct rg_arena *a, size_t need)
{
	size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
	struct rg_chunk *c;

	if (size > SIZE_MAX - sizeof(*c) || (a->cap && (a->used + size + sizeof(*c) > a->cap))) {
		a->over = 1;
		return NULL;
	}
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	a->used += size + sizeof(*c);
	c->size = size;
	c->off = 0;
	return c;
}

void *rg_alloc(struct rg_arena *a, size_t size)
{
	const size_t al = sizeof(max_align_t);
	struct rg_chunk *c = a->head;
	void *p;

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - al)
		return NULL;
	size = (size + al - 1) / al * al;
	if (!c || c->size - c->off < size) {
		c = new_chunk(a, size);
		if (!c)
			return NULL;
		/* a big block goes behind the head so the head's free room stays usable */
		if (a->head && size > CHUNK_MIN) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	p = (char *)c->data + c->off;
	c->off += size;
	memset(p, 0, size);
	return p;
}

void *rg_allocn(struct rg_arena *a, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	return rg_alloc(a, total);
}

char *rg_strndup(struct rg_arena *a, const char *s, size_t n)
{
	char *p = n < SIZE_MAX ? rg_alloc(a, n + 1) : NULL;

	if (p && n)
		memcpy(p, s, n);
	return p;
}

void rg_arena_free(struct rg_arena *a)
{
	struct rg_chunk *c = a->head, *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
	a->used = 0;
}
