/* Ed25519 signatures and X25519 key agreement. */
#ifndef CTFS_CURVE25519_H
#define CTFS_CURVE25519_H

#include <stddef.h>
#include <stdint.h>

/* Strict verification: non-canonical S, non-canonical or small-order R and
 * public keys are rejected. 0 or -EBADMSG. */
int ctfs_ed25519_verify(const uint8_t pub[32], const uint8_t *msg, size_t len,
			const uint8_t sig[64]);
/* 0, or -EIO if the library fails. */
int ctfs_ed25519_sign(uint8_t sig[64], const uint8_t *msg, size_t len, const uint8_t seed[32]);
int ctfs_ed25519_pub_from_seed(uint8_t pub[32], const uint8_t seed[32]);

/* out = X25519(priv, pub); -EINVAL (out wiped) when the result is all zero,
 * i.e. pub is a low-order point. */
int ctfs_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32]);
int ctfs_x25519_pub(uint8_t pub[32], const uint8_t priv[32]);

#endif
