/* Buffers for decrypted content (not keys: those use secmem.h). Kept out
 * of core dumps and forked children, locked in memory when RLIMIT_MEMLOCK
 * allows it (an unprivileged daemon may not lock tens of MiB), and wiped
 * when released. */
#ifndef CTFS_PLAINBUF_H
#define CTFS_PLAINBUF_H

#include <stddef.h>

/* Page-aligned, zero-filled; NULL on failure. */
void *ctfs_plain_alloc(size_t len);
/* Wipe and release; NULL is a no-op. len as allocated. */
void ctfs_plain_free(void *p, size_t len);

/* zlib allocators (zalloc / zfree) that wipe what they free: a deflate or
 * inflate state holds up to 32 KiB of plaintext in its window. */
void *ctfs_z_alloc(void *opaque, unsigned int items, unsigned int size);
void ctfs_z_free(void *opaque, void *ptr);

#endif
