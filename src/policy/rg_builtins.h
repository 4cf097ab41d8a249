/* The builtin function table and the helpers builtins share. */
#ifndef CTFS_RG_BUILTINS_H
#define CTFS_RG_BUILTINS_H

#include "policy/rg_value.h"

struct rg_ev;

/* 0 with *out set; RG_UNDEF when the result is undefined; -EDOM for a
 * builtin error (message via rg_bi_err; undefined unless strict); any other
 * negative errno stops the evaluation. */
#define RG_UNDEF 1
typedef int (*rg_bifn)(struct rg_ev *ev, struct rg_val **args, struct rg_val **out);

struct rg_builtin {
	const char *name;
	unsigned char nargs;
	rg_bifn fn;
};

const struct rg_builtin *rg_builtin_find(const char *name);

int rg_bi_err(struct rg_ev *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "NAME: operand N must be T but got U" */
int rg_bi_type(struct rg_ev *ev, const char *fn, int argn, const char *want, const struct rg_val *got);
struct rg_arena *rg_ev_arena(struct rg_ev *ev);
int64_t rg_ev_now_ns(struct rg_ev *ev);
/* -ENOMEM, or -E2BIG when the evaluation's memory cap was hit. */
int rg_ev_nomem(struct rg_ev *ev);

/* Families, each in its own file: NULL-terminated tables. */
extern const struct rg_builtin rg_bi_num[], rg_bi_str[], rg_bi_coll[], rg_bi_regex[],
	rg_bi_time[], rg_bi_enc[], rg_bi_net[], rg_bi_types[];

#endif
