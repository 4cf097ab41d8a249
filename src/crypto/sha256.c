/* SHA-256 of a buffer in one call. */
#include "crypto/sha256.h"

#include <pthread.h>

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
