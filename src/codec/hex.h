/* Hex encoding of binary values (lowercase out, either case in). */
#ifndef CTFS_HEX_H
#define CTFS_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The value (0-15) of the hex digit c (either case), or -1. */
int ctfs_hex_digit(int c);
/* Decode exactly 2 * outlen hex digits (either case); 0 or -EINVAL. */
int ctfs_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen);
/* Append lowercase hex to out (NUL-terminated); 0 or -ENOMEM. */
int ctfs_hex_encode(const uint8_t *in, size_t len, struct ctfs_buf *out);

#endif
