/* Memory for secrets: locked, guarded pages for keys, and a cJSON allocator
 * that wipes every block it frees. */
#ifndef CTFS_SECMEM_H
#define CTFS_SECMEM_H

#include <stddef.h>

/* Initialise libsodium and route cJSON's allocations through a wiping
 * allocator, so parsed JSON that held key material does not linger in freed
 * heap. Call it at program start, before any other cJSON use: a block that
 * cJSON allocated before the hooks were installed must not be freed after.
 * Idempotent and thread-safe; 0 or -errno. */
int ctfs_secmem_init(void);

/* sodium_malloc: locked, with guard pages, excluded from core dumps.
 * NULL on failure. */
void *ctfs_secure_alloc(size_t len);

/* Wipe and release a block from ctfs_secure_alloc; NULL is a no-op. */
void ctfs_secure_free(void *p);

#endif
