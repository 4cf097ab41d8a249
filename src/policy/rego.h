/* Rego v1 policy engine: compile modules once, evaluate them many times. */
#ifndef CTFS_REGO_H
#define CTFS_REGO_H

#include <stddef.h>
#include <stdint.h>

/* Caps on untrusted policy text and its evaluation; 0 = the default
 * (CTFS_REGO_DEFAULT_*). Exceeding one is an error naming the cap. */
struct ctfs_rego_limits {
	size_t max_text;      /* bytes of all modules together */
	unsigned max_depth;   /* nesting of terms/bodies while parsing, and of calls while evaluating */
	uint64_t max_steps;   /* evaluation steps (expressions, unifications, iterations) */
	uint64_t max_time_ns; /* wall time of one evaluation */
	size_t max_mem;       /* bytes allocated by one evaluation (and by one compilation) */
};

#define CTFS_REGO_DEFAULT_MAX_TEXT (64u * 1024)
#define CTFS_REGO_DEFAULT_MAX_DEPTH 64u
#define CTFS_REGO_DEFAULT_MAX_STEPS 1000000u
#define CTFS_REGO_DEFAULT_MAX_TIME_NS 100000000u /* 100 ms */
#define CTFS_REGO_DEFAULT_MAX_MEM (64u * 1024 * 1024)
#define CTFS_REGO_MAX_NODES 100000u /* AST nodes per compilation (not configurable) */

struct ctfs_rego; /* one or more compiled modules; read-only once compiled */

/* Parse and check n modules (texts[i] of lens[i] bytes). Anything outside the
 * supported subset, and v0 syntax, is refused here with a message naming the
 * construct: -EINVAL (syntax/subset), -E2BIG (a cap), -ENOMEM. */
int ctfs_rego_compile(const char *const *texts, const size_t *lens, size_t n,
		      const struct ctfs_rego_limits *lim, struct ctfs_rego **out,
		      char *err, size_t errlen);

/* Evaluate a reference such as "data.model.allow". input/data are JSON text
 * (NULL = absent). *result_json receives the result as canonical JSON (sorted
 * keys, no spaces; caller frees) or NULL when undefined. Errors: -EINVAL (bad
 * query or JSON), -EDOM (evaluation error, e.g. a conflict), -E2BIG (a cap),
 * -ENOMEM. Safe to call from several threads on one compiled r. */
int ctfs_rego_eval(const struct ctfs_rego *r, const char *query,
		   const char *input_json, size_t input_len,
		   const char *data_json, size_t data_len,
		   char **result_json, char *err, size_t errlen);

/* The decision used at open: 0 when data.model.allow is exactly true;
 * -EACCES otherwise, with a reason that says which: false, undefined,
 * non-boolean, evaluation error or limit exceeded. */
int ctfs_rego_decide(const struct ctfs_rego *r, const char *input_json, size_t input_len,
		     const char *data_json, size_t data_len, char *reason, size_t reasonlen);

void ctfs_rego_free(struct ctfs_rego *r);

#endif
