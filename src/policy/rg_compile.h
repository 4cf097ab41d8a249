/* From parsed modules to an evaluable program: package tree, rule groups,
 * name resolution, safety checks and expression ordering. */
#ifndef CTFS_RG_COMPILE_H
#define CTFS_RG_COMPILE_H

#include "policy/rego.h"
#include "policy/rg_ast.h"

struct ctfs_rego {
	struct rg_arena arena;
	struct rg_pkg *root;   /* "data" */
	size_t ngroups;
	struct ctfs_rego_limits lim;
};

int rg_compile_modules(struct ctfs_rego *prog, struct rg_module **mods, size_t n,
		       char *err, size_t errlen);

/* A compiled query; its variables (not `_`) are what it binds. */
struct rg_query {
	struct rg_body *body;
	int nslots;
	const char **names;
	int *slots;
	size_t nvars;
};

int rg_compile_query(struct rg_arena *a, const struct ctfs_rego *prog, struct rg_body *body,
		     struct rg_query *q, char *err, size_t errlen);

/* The group at data.<path...> (path without "data"), or NULL. */
struct rg_group *rg_find_group(const struct rg_pkg *root, const char *const *path, size_t n);
struct rg_pkg *rg_pkg_kid(const struct rg_pkg *p, const char *name, size_t len);
struct rg_group *rg_pkg_group(const struct rg_pkg *p, const char *name, size_t len);

#endif
