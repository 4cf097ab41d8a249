/* UTF-8 well-formedness (Unicode table 3-7: no overlongs, no surrogates, <= U+10FFFF). */
#ifndef CTFS_UTF8_H
#define CTFS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if s[0..len) is well-formed UTF-8; otherwise *bad (if not NULL) is the
 * offset of the first byte of the first ill-formed sequence. */
bool ctfs_utf8_valid(const uint8_t *s, size_t len, size_t *bad);

#endif
