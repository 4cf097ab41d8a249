/* SHA-256 of a buffer in one call (also for secret input), and streamed. */
#include "crypto/sha256.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <sodium.h>

static const EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void ctfs_sha256(uint8_t out[32], const void *in, size_t len)
{
	crypto_hash_sha256_state st;

	/* OpenSSL uses the SHA extensions where the CPU has them; libsodium,
	 * which cannot fail, covers the (allocation) failures. */
	if (!pthread_once(&sha256_once, sha256_fetch) && sha256_md &&
	    EVP_Digest(in, len, out, NULL, sha256_md, NULL) == 1)
		return;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, in, len);
	crypto_hash_sha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

void ctfs_sha256_secret(uint8_t out[32], const void *in, size_t len)
{
	crypto_hash_sha256_state st;

	/* libsodium wipes its temporaries (the message schedule holds the key);
	 * OpenSSL's block functions leave it on the stack */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, in, len);
	crypto_hash_sha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

struct ctfs_sha256_ctx {
	EVP_MD_CTX *md;
	int failed;
};

int ctfs_sha256_new(struct ctfs_sha256_ctx **cp)
{
	struct ctfs_sha256_ctx *c;

	*cp = NULL;
	if (pthread_once(&sha256_once, sha256_fetch) || !sha256_md)
		return -ENOSYS;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->md = EVP_MD_CTX_new();
	if (!c->md || EVP_DigestInit_ex(c->md, sha256_md, NULL) != 1) {
		ctfs_sha256_free(c);
		return -ENOMEM;
	}
	*cp = c;
	return 0;
}

int ctfs_sha256_update(struct ctfs_sha256_ctx *c, const void *in, size_t len)
{
	if (c->failed || EVP_DigestUpdate(c->md, in, len) != 1) {
		c->failed = 1;
		return -EIO;
	}
	return 0;
}

int ctfs_sha256_final(struct ctfs_sha256_ctx *c, uint8_t out[32])
{
	int ok = !c->failed && EVP_DigestFinal_ex(c->md, out, NULL) == 1;

	c->failed = 1;	/* one final per context */
	return ok ? 0 : -EIO;
}

void ctfs_sha256_free(struct ctfs_sha256_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}
