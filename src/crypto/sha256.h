/* SHA-256: of a buffer in one call, or streamed over data that arrives in
 * pieces (a payload hashed while it is written or read back). */
#ifndef CTFS_SHA256_H
#define CTFS_SHA256_H

#include <stddef.h>
#include <stdint.h>

void ctfs_sha256(uint8_t out[32], const void *in, size_t len);
/* The same for secret input (key fingerprints): no copy of the input or of
 * the message schedule is left on the stack. Slower; for short inputs. */
void ctfs_sha256_secret(uint8_t out[32], const void *in, size_t len);

struct ctfs_sha256_ctx;

/* 0, -ENOMEM or -ENOSYS (no SHA-256 in the crypto library). */
int ctfs_sha256_new(struct ctfs_sha256_ctx **c);
/* 0 or -EIO. */
int ctfs_sha256_update(struct ctfs_sha256_ctx *c, const void *in, size_t len);
/* The digest of everything updated so far; the context cannot be updated
 * afterwards. 0 or -EIO. */
int ctfs_sha256_final(struct ctfs_sha256_ctx *c, uint8_t out[32]);
/* NULL is fine. */
void ctfs_sha256_free(struct ctfs_sha256_ctx *c);

#endif
