/* The public API of the Rego engine: compile, evaluate, decide. */
#include "policy/rego.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rego_query.h"
#include "policy/rg_eval.h"
#include "policy/rg_parse.h"

static void fill_limits(struct ctfs_rego_limits *l, const struct ctfs_rego_limits *in)
{
	memset(l, 0, sizeof(*l));
	if (in)
		*l = *in;
	if (!l->max_text)
		l->max_text = CTFS_REGO_DEFAULT_MAX_TEXT;
	if (!l->max_depth)
		l->max_depth = CTFS_REGO_DEFAULT_MAX_DEPTH;
	if (!l->max_steps)
		l->max_steps = CTFS_REGO_DEFAULT_MAX_STEPS;
	if (!l->max_time_ns)
		l->max_time_ns = CTFS_REGO_DEFAULT_MAX_TIME_NS;
	if (!l->max_mem)
		l->max_mem = CTFS_REGO_DEFAULT_MAX_MEM;
}

int ctfs_rego_compile(const char *const *texts, const size_t *lens, size_t n,
		      const struct ctfs_rego_limits *lim, struct ctfs_rego **out,
		      char *err, size_t errlen)
{
	struct ctfs_rego *r;
	struct rg_module **mods;
	size_t total = 0, nodes = 0;
	struct rg_parse_limits pl;
	int rc = 0;

	*out = NULL;
	if (!texts || !lens || n == 0) {
		ctfs_seterr(err, errlen, "no policy module");
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	fill_limits(&r->lim, lim);
	rg_arena_init(&r->arena, r->lim.max_mem);
	for (size_t i = 0; i < n; i++) {
		if (!texts[i] || __builtin_add_overflow(total, lens[i], &total) || total > r->lim.max_text) {
			ctfs_seterr(err, errlen, "policy text too large (more than %zu bytes)", r->lim.max_text);
			ctfs_rego_free(r);
			return texts[i] ? -E2BIG : -EINVAL;
		}
	}
	pl = (struct rg_parse_limits){ r->lim.max_depth, CTFS_REGO_MAX_NODES, &nodes };
	mods = rg_allocn(&r->arena, n, sizeof(*mods));
	if (!mods)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++)
		rc = rg_parse_module(&r->arena, texts[i], lens[i], &pl, &mods[i], err, errlen);
	if (!rc)
		rc = rg_compile_modules(r, mods, n, err, errlen);
	if (rc) {
		if (rc == -ENOMEM && r->arena.over) {
			rc = -E2BIG;
			ctfs_seterr(err, errlen, "memory limit exceeded while compiling (%zu bytes)", r->lim.max_mem);
		}
		ctfs_rego_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void ctfs_rego_free(struct ctfs_rego *r)
{
	if (!r)
		return;
	rg_arena_free(&r->arena);
	free(r);
}

struct run {
	struct rg_arena a;
	struct rg_ev ev;
	struct rg_query q;
};

/* Parse input/data and the query into a fresh arena. */
static int run_setup(struct run *run, const struct ctfs_rego *r, const char *query,
		     const char *input_json, size_t input_len, const char *data_json, size_t data_len,
		     char *err, size_t errlen)
{
	size_t nodes = 0;
	struct rg_parse_limits pl = { r->lim.max_depth, CTFS_REGO_MAX_NODES, &nodes };
	struct rg_body *body;
	int rc;

	rg_arena_init(&run->a, r->lim.max_mem);
	if ((rc = rg_ev_init(&run->ev, &run->a, r)))
		return rc;
	if (input_json && (rc = rg_from_json(&run->a, input_json, input_len, 1000, &run->ev.input, err, errlen)))
		return rc;
	if (data_json) {
		if ((rc = rg_from_json(&run->a, data_json, data_len, 1000, &run->ev.data, err, errlen)))
			return rc;
		if (run->ev.data->type != RG_OBJ) {
			ctfs_seterr(err, errlen, "data must be a JSON object");
			return -EINVAL;
		}
	}
	if (!query || strlen(query) > r->lim.max_text) {
		ctfs_seterr(err, errlen, "bad query");
		return -EINVAL;
	}
	if ((rc = rg_parse_query(&run->a, query, strlen(query), &pl, &body, err, errlen)))
		return rc;
	return rg_compile_query(&run->a, r, body, &run->q, err, errlen);
}

static int run_error(struct run *run, int rc, char *err, size_t errlen)
{
	if (rc == -ENOMEM && run->a.over)
		rc = -E2BIG;
	ctfs_seterr(err, errlen, "%s", run->ev.msg[0] ? run->ev.msg : rc == -E2BIG ?
		    "memory limit exceeded" : "evaluation failed");
	return rc;
}

struct qres {
	struct ctfs_buf out;
	const struct rg_query *q;
	size_t n;
	int rc;
};

static int query_sol(struct rg_ev *ev, void *ud)
{
	struct qres *r = ud;
	int rc = ctfs_buf_putc(&r->out, r->n++ ? ',' : '[');

	if (!rc)
		rc = ctfs_buf_putc(&r->out, '{');
	for (size_t i = 0, k = 0; !rc && i < r->q->nvars; i++) {
		struct rg_val *v = ev->frame[r->q->slots[i]];
		struct rg_val name = { .type = RG_STR, .s = r->q->names[i], .len = strlen(r->q->names[i]) };

		if (!v)
			continue;
		if (k++)
			rc = ctfs_buf_putc(&r->out, ',');
		if (!rc)
			rc = rg_to_json(&r->out, &name);
		if (!rc)
			rc = ctfs_buf_putc(&r->out, ':');
		if (!rc)
			rc = rg_to_json(&r->out, v);
	}
	if (!rc)
		rc = ctfs_buf_putc(&r->out, '}');
	if (!rc && r->out.len > ev->a->cap)
		return -E2BIG;
	return rc;
}

int ctfs_rego_query(const struct ctfs_rego *r, const char *query,
		    const char *input_json, size_t input_len,
		    const char *data_json, size_t data_len, bool strict,
		    char **results_json, char *err, size_t errlen)
{
	struct run *run = calloc(1, sizeof(*run));
	struct qres res = { 0 };
	int rc;

	*results_json = NULL;
	if (!run)
		return -ENOMEM;
	rc = run_setup(run, r, query, input_json, input_len, data_json, data_len, err, errlen);
	if (!rc) {
		run->ev.strict = strict;
		res.q = &run->q;
		rc = rg_eval_query(&run->ev, &run->q, query_sol, &res);
		if (rc < 0)
			rc = run_error(run, rc, err, errlen);
	}
	if (!rc && !res.n)
		rc = ctfs_buf_putc(&res.out, '[');
	if (!rc)
		rc = ctfs_buf_puts(&res.out, "]");
	if (!rc) {
		*results_json = (char *)res.out.data;
		res.out.data = NULL;
	}
	ctfs_buf_free(&res.out);
	rg_arena_free(&run->a);
	free(run);
	return rc;
}

struct evres {
	int slot;
	struct rg_val *v;
	bool several;
};

static int eval_sol(struct rg_ev *ev, void *ud)
{
	struct evres *r = ud;
	struct rg_val *v = ev->frame[r->slot];

	if (r->v && !rg_eq(r->v, v))
		r->several = true;
	r->v = v;
	return 0;
}

int ctfs_rego_eval(const struct ctfs_rego *r, const char *query,
		   const char *input_json, size_t input_len,
		   const char *data_json, size_t data_len,
		   char **result_json, char *err, size_t errlen)
{
	struct run *run;
	struct evres res = { .slot = -1 };
	struct ctfs_buf b = { 0 };
	char *wrapped;
	size_t qlen;
	int rc;

	*result_json = NULL;
	if (!r || !query || strchr(query, '\n') || strchr(query, ';')) {
		ctfs_seterr(err, errlen, "the query must be one reference such as data.model.allow");
		return -EINVAL;
	}
	qlen = strlen(query);
	run = calloc(1, sizeof(*run));
	wrapped = qlen < SIZE_MAX - 32 ? malloc(qlen + 32) : NULL;
	if (!run || !wrapped) {
		free(run);
		free(wrapped);
		return -ENOMEM;
	}
	snprintf(wrapped, qlen + 32, "__result__ = (%s)", query);
	rc = run_setup(run, r, wrapped, input_json, input_len, data_json, data_len, err, errlen);
	for (size_t i = 0; !rc && i < run->q.nvars; i++)
		if (!strcmp(run->q.names[i], "__result__"))
			res.slot = run->q.slots[i];
	if (!rc && (res.slot < 0 || run->q.nvars != 1)) {
		ctfs_seterr(err, errlen, "the query must be one reference without variables");
		rc = -EINVAL;
	}
	if (!rc) {
		rc = rg_eval_query(&run->ev, &run->q, eval_sol, &res);
		if (rc < 0)
			rc = run_error(run, rc, err, errlen);
	}
	if (!rc && res.several) {
		ctfs_seterr(err, errlen, "the query has several values");
		rc = -EDOM;
	}
	if (!rc && res.v) {
		rc = rg_to_json(&b, res.v);
		if (!rc)
			rc = ctfs_buf_putc(&b, 0);
		if (!rc) {
			*result_json = (char *)b.data;
			b.data = NULL;
		}
	}
	ctfs_buf_free(&b);
	free(wrapped);
	rg_arena_free(&run->a);
	free(run);
	return rc;
}

int ctfs_rego_decide(const struct ctfs_rego *r, const char *input_json, size_t input_len,
		     const char *data_json, size_t data_len, char *reason, size_t reasonlen)
{
	char *res = NULL, msg[256] = "";
	int rc = ctfs_rego_eval(r, "data.model.allow", input_json, input_len, data_json, data_len,
				&res, msg, sizeof(msg));

	if (rc == -E2BIG) {
		ctfs_seterr(reason, reasonlen, "policy denied: limit exceeded: %s", msg);
	} else if (rc) {
		ctfs_seterr(reason, reasonlen, "policy denied: evaluation error: %s", msg);
	} else if (!res) {
		ctfs_seterr(reason, reasonlen, "policy denied: data.model.allow is undefined");
	} else if (!strcmp(res, "true")) {
		free(res);
		return 0;
	} else if (!strcmp(res, "false")) {
		ctfs_seterr(reason, reasonlen, "policy denied: data.model.allow is false");
	} else {
		ctfs_seterr(reason, reasonlen, "policy denied: data.model.allow is not a boolean (%.60s)", res);
	}
	free(res);
	return -EACCES;
}
