/* RFC 7638 JWK thumbprints of Ed25519 signing keys: the name by which a
 * master key, a revocation list or a rollback store refers to a signer. */
#ifndef CTFS_THUMBPRINT_H
#define CTFS_THUMBPRINT_H

#include <stddef.h>
#include <stdint.h>

#define CTFS_THUMBPRINT_LEN 32
/* base64url without padding of 32 bytes, plus the NUL */
#define CTFS_THUMBPRINT_TEXT 44

/* SHA-256 of {"crv":"Ed25519","kty":"OKP","x":"<base64url of pub>"}
 * (RFC 7638 §3, members of RFC 8037 §2). */
void ctfs_thumbprint_ed25519(const uint8_t pub[32], uint8_t out[CTFS_THUMBPRINT_LEN]);

/* The thumbprint as text: 43 base64url characters, no padding. */
void ctfs_thumbprint_text(const uint8_t tp[CTFS_THUMBPRINT_LEN], char out[CTFS_THUMBPRINT_TEXT]);

/* Parse the text form (exactly 43 base64url characters); 0 or -EINVAL. */
int ctfs_thumbprint_parse(const char *text, uint8_t out[CTFS_THUMBPRINT_LEN]);

#endif
