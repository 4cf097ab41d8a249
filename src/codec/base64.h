/* Base64 (RFC 4648 §4 and §5). */
#ifndef CTFS_BASE64_H
#define CTFS_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Decode standard or URL-safe base64 (one alphabet per string), padded or
 * not. Rejects anything else: whitespace, stray or misplaced '=', a
 * length that is 1 mod 4, and non-zero bits after the last byte (so every
 * value has one encoding per alphabet). *outlen is the capacity of out on
 * entry and the decoded length on return; 0 or -EINVAL (also when out is
 * too small). */
int ctfs_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t *outlen);
/* Most bytes that inlen characters can decode to. */
size_t ctfs_b64_decoded_max(size_t inlen);
/* Append standard padded base64 of in to out (NUL-terminated); 0 or -ENOMEM. */
int ctfs_b64_encode(const uint8_t *in, size_t len, struct ctfs_buf *out);
/* Characters that ctfs_b64_encode writes for len bytes. */
size_t ctfs_b64_encoded_len(size_t len);

#endif
