#include "crypto/curve25519.h"

#include <errno.h>

#include <sodium.h>

int ctfs_ed25519_verify(const uint8_t pub[32], const uint8_t *msg, size_t len,
			const uint8_t sig[64])
{
	static const uint8_t empty;

	/* libsodium wants a valid pointer even for an empty message. */
	if (!msg)
		msg = &empty;
	return crypto_sign_verify_detached(sig, msg, len, pub) ? -EBADMSG : 0;
}

int ctfs_ed25519_sign(uint8_t sig[64], const uint8_t *msg, size_t len, const uint8_t seed[32])
{
	static const uint8_t empty;
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	int rc = 0;

	if (!msg)
		msg = &empty;
	if (crypto_sign_seed_keypair(pk, sk, seed) ||
	    crypto_sign_detached(sig, NULL, msg, len, sk))
		rc = -EIO;
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

int ctfs_ed25519_pub_from_seed(uint8_t pub[32], const uint8_t seed[32])
{
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	int rc = crypto_sign_seed_keypair(pub, sk, seed) ? -EIO : 0;

	sodium_memzero(sk, sizeof(sk));
	return rc;
}

int ctfs_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
	/* libsodium fails exactly when the shared secret is all zero. */
	if (crypto_scalarmult(out, priv, pub)) {
		sodium_memzero(out, 32);
		return -EINVAL;
	}
	return 0;
}

int ctfs_x25519_pub(uint8_t pub[32], const uint8_t priv[32])
{
	return crypto_scalarmult_base(pub, priv) ? -EIO : 0;
}
