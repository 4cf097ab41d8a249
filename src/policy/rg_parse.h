/* Rego v1 parser: text to modules (names not yet resolved). */
#ifndef CTFS_RG_PARSE_H
#define CTFS_RG_PARSE_H

#include "policy/rg_ast.h"

struct rg_parse_limits {
	unsigned max_depth;
	size_t max_nodes;
	size_t *nodes; /* running count across modules */
};

/* One module. -EINVAL (syntax, v0 syntax, outside the subset) or -E2BIG (a
 * cap) with "line L: ..." in err. */
int rg_parse_module(struct rg_arena *a, const char *s, size_t n,
		    const struct rg_parse_limits *lim, struct rg_module **out,
		    char *err, size_t errlen);

/* A query: a body ("data.x.p = y; y > 1") for evaluation. */
int rg_parse_query(struct rg_arena *a, const char *s, size_t n,
		   const struct rg_parse_limits *lim, struct rg_body **out,
		   char *err, size_t errlen);

#endif
