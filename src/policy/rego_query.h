/* Internal entry point for tests and tools: run a full Rego query. */
#ifndef CTFS_REGO_QUERY_H
#define CTFS_REGO_QUERY_H

#include <stdbool.h>

#include "policy/rego.h"

/* Evaluate a query body ("data.x.p = y; y > 1"). *results_json receives a
 * JSON array with one object per solution, mapping each query variable to
 * its value (caller frees). strict: builtin errors are evaluation errors. */
int ctfs_rego_query(const struct ctfs_rego *r, const char *query,
		    const char *input_json, size_t input_len,
		    const char *data_json, size_t data_len, bool strict,
		    char **results_json, char *err, size_t errlen);

#endif
