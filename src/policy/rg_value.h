/* Rego values: null, booleans, numbers, strings, arrays, sets and objects.
 * Values are immutable once built and live in an arena; sets and objects
 * keep their members sorted (OPA's order), so lookups bisect and output is
 * canonical. */
#ifndef CTFS_RG_VALUE_H
#define CTFS_RG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/rg_arena.h"
#include "util.h"

/* Sort order of the types, as OPA compares values of different types. */
enum rg_type { RG_NULL, RG_BOOL, RG_NUM, RG_STR, RG_ARR, RG_OBJ, RG_SET };

struct rg_val {
	uint8_t type;
	bool b;      /* RG_BOOL */
	bool isint;  /* RG_NUM: i is exact; otherwise f */
	int64_t i;
	long double f; /* 64-bit mantissa, like OPA's big.Float arithmetic */
	const char *text; /* RG_NUM: the literal as written (printed as is), or NULL */
	size_t len;  /* bytes of s; members of a, k/v */
	const char *s;
	struct rg_val **a; /* RG_ARR items; RG_SET members (sorted, unique); RG_OBJ keys (sorted) */
	struct rg_val **v; /* RG_OBJ values */
};

/* Shared constants: never written. */
extern struct rg_val rg_null, rg_true, rg_false;

struct rg_val *rg_new(struct rg_arena *a, enum rg_type t);
struct rg_val *rg_int(struct rg_arena *a, int64_t i);
/* A number from a long double: an integer when it is one (and fits int64). */
struct rg_val *rg_float(struct rg_arena *a, long double f);
/* A number from literal text (JSON grammar); NULL if malformed. */
struct rg_val *rg_num_text(struct rg_arena *a, const char *s, size_t n);
struct rg_val *rg_str(struct rg_arena *a, const char *s, size_t n);
struct rg_val *rg_cstr(struct rg_arena *a, const char *s);
struct rg_val *rg_bool(bool b);
/* Build an array/set/object from n items; sets and objects are sorted and
 * deduplicated (objects: the last duplicate key wins). items are copied. */
struct rg_val *rg_array(struct rg_arena *a, struct rg_val *const *items, size_t n);
struct rg_val *rg_set(struct rg_arena *a, struct rg_val *const *items, size_t n);
struct rg_val *rg_object(struct rg_arena *a, struct rg_val *const *keys, struct rg_val *const *vals, size_t n);

/* Numbers as long double (for arithmetic on non-integers). */
long double rg_num_ld(const struct rg_val *v);
/* The number as an int64 when it is integral and in range. */
bool rg_num_int(const struct rg_val *v, int64_t *out);

/* Total order across types (OPA's); 0 when equal. */
int rg_cmp(const struct rg_val *x, const struct rg_val *y);
static inline bool rg_eq(const struct rg_val *x, const struct rg_val *y) { return rg_cmp(x, y) == 0; }

/* Member lookup: index in a set/object, or -1. */
long rg_find(const struct rg_val *coll, const struct rg_val *key);
/* obj[key] or NULL. */
struct rg_val *rg_obj_get(const struct rg_val *obj, const struct rg_val *key);
struct rg_val *rg_obj_getc(const struct rg_val *obj, const char *key);

/* Canonical JSON (sorted keys, no spaces, sets as sorted arrays). */
int rg_to_json(struct ctfs_buf *b, const struct rg_val *v);
/* Print a number as OPA does. */
int rg_num_print(struct ctfs_buf *b, const struct rg_val *v);
const char *rg_type_name(const struct rg_val *v);

/* Parse JSON text into a value; -EINVAL with a message, -E2BIG past depth. */
int rg_from_json(struct rg_arena *a, const char *s, size_t n, unsigned max_depth,
		 struct rg_val **out, char *err, size_t errlen);

/* A double-quoted JSON string starting at s[*pos] == '"'; *pos moves past
 * it. -EINVAL on bad escapes, control characters or a missing quote. */
int rg_json_string(struct rg_arena *a, const char *s, size_t n, size_t *pos, struct rg_val **out);

#endif
