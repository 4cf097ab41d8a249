/*
 * Canonical JSON as Python writes it with json.dumps(sort_keys=True,
 * separators=(",", ":"), ensure_ascii=False): the form TGSP signs and hashes
 * (FORMATS.md section 3).
 *
 * Canonical means: no whitespace; object keys in strictly increasing code
 * point order (so no duplicates); strings as raw UTF-8 except '"', '\\' and
 * the control characters, which use \b \f \n \r \t or \u00xx (lowercase);
 * integers without leading zeros or "-0"; other numbers exactly as Python's
 * repr() of the double they denote (shortest round-trip digits, ".0" on whole
 * values, exponent form "1e+16" / "1e-05" outside 1e-4 <= |x| < 1e16).
 */
#ifndef CTFS_CANON_JSON_H
#define CTFS_CANON_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CTFS_CANON_MAX_DEPTH 64

/* 0 when s[0..len) is one canonical JSON value and nothing else; -EINVAL
 * with err naming the first offending byte offset otherwise. */
int ctfs_canon_json_check(const uint8_t *s, size_t len, char *err, size_t errlen);

/* Append v as Python's repr(float) writes it; -EINVAL if v is not finite. */
int ctfs_canon_put_double(struct ctfs_buf *out, double v);

#endif
