/* The evaluator: one evaluation of a compiled program (state, limits). */
#ifndef CTFS_RG_EVAL_H
#define CTFS_RG_EVAL_H

#include "policy/rg_compile.h"

struct rg_override {
	const struct rg_term *target; /* data.a.b... (constant string operands) */
	struct rg_val *val;
	struct rg_override *next;
};

struct rg_memo {
	unsigned char state; /* 0 not yet, 1 being evaluated, 2 done */
	struct rg_val *v;    /* NULL: undefined */
};

struct rg_ev {
	struct rg_arena *a;
	const struct ctfs_rego *prog;
	struct rg_val *input; /* NULL: undefined */
	struct rg_val *data;  /* base documents (an object) */
	struct rg_val **frame;
	struct rg_memo *memo;
	struct rg_override *over;
	unsigned with_depth, depth, max_depth;
	uint64_t steps, max_steps, deadline_ns;
	int64_t now_ns;
	bool strict;      /* builtin errors stop the evaluation (as OPA's strict mode) */
	char msg[256];    /* the error */
	char bierr[256];  /* the last builtin error (non-strict: expression undefined) */
};

/* Set up ev for one evaluation: memo table, clock, caps. */
int rg_ev_init(struct rg_ev *ev, struct rg_arena *a, const struct ctfs_rego *prog);

typedef int (*rg_ksol)(struct rg_ev *ev, void *ud);

/* Evaluate a compiled query; k is called for every solution with ev->frame
 * holding the bindings. Errors are negative with ev->msg set. */
int rg_eval_query(struct rg_ev *ev, const struct rg_query *q, rg_ksol k, void *ud);

uint64_t rg_clock_ns(void);

#endif
