/*
 * A strict, pull-style JSON reader for header text. It accepts exactly what
 * serde_json accepts when reading a header (RFC 8259, nesting depth <= 128,
 * numbers that fit an f64), with two additional refusals: no string may
 * contain U+0000, and lone UTF-16 surrogates in \u escapes are errors (as in
 * serde_json). Integers are read exactly as u64, never through a double.
 *
 * Errors leave a one-line description, with the byte offset, in r->msg.
 */
#ifndef CTFS_JSON_READER_H
#define CTFS_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTFS_JR_MAX_DEPTH 128

struct ctfs_jr {
	const uint8_t *start;
	const uint8_t *p;
	const uint8_t *end;
	unsigned int depth;
	char msg[160];
};

/* -EINVAL (and msg) if text is not well-formed UTF-8. */
int ctfs_jr_init(struct ctfs_jr *r, const uint8_t *text, size_t len);
/* Skip whitespace; the next byte, or -1 at the end of the text. */
int ctfs_jr_peek(struct ctfs_jr *r);
/* Enter an object ('{') or array ('['), counting depth. */
int ctfs_jr_open(struct ctfs_jr *r, char open);
/*
 * Iterate a container entered with ctfs_jr_open: 1 if a member follows (the
 * caller then reads it), 0 once the closing bracket has been consumed.
 * *first must be true before the first call.
 */
int ctfs_jr_more(struct ctfs_jr *r, char close, bool *first);
/* An object key and its ':'; *key is malloc'ed and NUL-terminated. */
int ctfs_jr_key(struct ctfs_jr *r, char **key, size_t *len);
/* A string value, decoded; malloc'ed and NUL-terminated. */
int ctfs_jr_string(struct ctfs_jr *r, char **out, size_t *len);
/* A number written as a plain non-negative integer (no sign, fraction or
 * exponent) that fits 64 bits, as serde reads a usize. */
int ctfs_jr_u64(struct ctfs_jr *r, uint64_t *out);
/* Validate and skip any value. */
int ctfs_jr_skip(struct ctfs_jr *r);
/* Only whitespace remains. */
int ctfs_jr_end(struct ctfs_jr *r);

#endif
