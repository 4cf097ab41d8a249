#include "crypto/plainbuf.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* A size header in front of each zlib block, kept max_align_t aligned. */
#define ZHDR (sizeof(max_align_t))

void *ctfs_plain_alloc(size_t len)
{
	void *p;

	if (!len)
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, len, MADV_DONTDUMP) || madvise(p, len, MADV_DONTFORK)) {
		munmap(p, len);
		return NULL;
	}
	/* best effort: without the privilege to lock, the pages may be swapped */
	(void)mlock(p, len);
	return p;
}

void ctfs_plain_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	munlock(p, len);
	munmap(p, len);
}

void *ctfs_z_alloc(void *opaque, unsigned int items, unsigned int size)
{
	size_t n = (size_t)items * size;
	unsigned char *p;

	(void)opaque;
	if (size && n / size != items)
		return NULL;
	p = malloc(n + ZHDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + ZHDR;
}

void ctfs_z_free(void *opaque, void *ptr)
{
	unsigned char *p = (unsigned char *)ptr - ZHDR;
	size_t n;

	(void)opaque;
	memcpy(&n, p, sizeof(n));
	explicit_bzero(p, n + ZHDR);
	free(p);
}
