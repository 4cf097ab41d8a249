#include "crypto/secmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>

#include <cjson/cJSON.h>
#include <sodium.h>

/* Each cJSON block is prefixed by its size so that the free hook knows how
 * much to wipe; the prefix keeps the payload aligned for any type. */
#define HDR_SIZE (sizeof(max_align_t) > sizeof(size_t) ? sizeof(max_align_t) : sizeof(size_t))

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void *json_alloc(size_t len)
{
	size_t total;
	unsigned char *p;

	if (__builtin_add_overflow(len, HDR_SIZE, &total))
		return NULL;
	p = malloc(total);
	if (!p)
		return NULL;
	*(size_t *)(void *)p = len;
	return p + HDR_SIZE;
}

static void json_free(void *ptr)
{
	unsigned char *p;

	if (!ptr)
		return;
	p = (unsigned char *)ptr - HDR_SIZE;
	sodium_memzero(p, HDR_SIZE + *(size_t *)(void *)p);
	free(p);
}

static void init_once_fn(void)
{
	cJSON_Hooks hooks = { .malloc_fn = json_alloc, .free_fn = json_free };

	if (sodium_init() < 0) {
		init_rc = -EIO;
		return;
	}
	cJSON_InitHooks(&hooks);
}

int ctfs_secmem_init(void)
{
	int rc = pthread_once(&init_once, init_once_fn);

	return rc ? -rc : init_rc;
}

void *ctfs_secure_alloc(size_t len)
{
	/* sodium_malloc needs the page size that sodium_init records; calling
	 * it again is cheap and safe from any thread. */
	if (sodium_init() < 0)
		return NULL;
	return sodium_malloc(len);
}

void ctfs_secure_free(void *p)
{
	if (p)
		sodium_free(p);
}
