/* The evaluator: backtracking search in continuation-passing style. Every
 * term yields its values to a continuation; variables are frame slots bound
 * for the duration of a continuation and unbound on return. Rule values
 * are memoised per evaluation (unless a `with` is in force). */
#include "policy/rg_eval.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy/rg_builtins.h"

#define STOP 1 /* a continuation asks its producers to stop: not an error */

typedef int (*kval)(struct rg_ev *ev, void *ud, struct rg_val *v);
typedef int (*kbody)(struct rg_ev *ev, void *ud);

static int eval_term(struct rg_ev *ev, const struct rg_term *t, kval k, void *ud);
static int eval_body(struct rg_ev *ev, const struct rg_body *b, size_t i, kbody k, void *ud);
static int eval_group(struct rg_ev *ev, struct rg_group *g, struct rg_val **out);
static int unify(struct rg_ev *ev, const struct rg_term *p, struct rg_val *v, kbody k, void *ud);

uint64_t rg_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int everr(struct rg_ev *ev, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int everr(struct rg_ev *ev, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!ev->msg[0]) {
		va_start(ap, fmt);
		vsnprintf(ev->msg, sizeof(ev->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

int rg_ev_nomem(struct rg_ev *ev)
{
	if (ev->a->over)
		return everr(ev, -E2BIG, "memory limit exceeded (%zu bytes)", ev->a->cap);
	return everr(ev, -ENOMEM, "out of memory");
}

struct rg_arena *rg_ev_arena(struct rg_ev *ev) { return ev->a; }
int64_t rg_ev_now_ns(struct rg_ev *ev) { return ev->now_ns; }

int rg_bi_err(struct rg_ev *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev->bierr, sizeof(ev->bierr), fmt, ap);
	va_end(ap);
	return -EDOM;
}

int rg_bi_type(struct rg_ev *ev, const char *fn, int argn, const char *want, const struct rg_val *got)
{
	return rg_bi_err(ev, "%s: operand %d must be %s but got %s", fn, argn, want, rg_type_name(got));
}

int rg_ev_init(struct rg_ev *ev, struct rg_arena *a, const struct ctfs_rego *prog)
{
	struct timespec ts;

	memset(ev, 0, sizeof(*ev));
	ev->a = a;
	ev->prog = prog;
	ev->max_depth = prog->lim.max_depth;
	ev->max_steps = prog->lim.max_steps;
	ev->deadline_ns = rg_clock_ns() + prog->lim.max_time_ns;
	clock_gettime(CLOCK_REALTIME, &ts);
	ev->now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	ev->memo = rg_allocn(a, prog->ngroups + 1, sizeof(*ev->memo));
	return ev->memo ? 0 : -ENOMEM;
}

/* One unit of work: the step and time caps are checked here. */
static int tick(struct rg_ev *ev)
{
	if (++ev->steps > ev->max_steps)
		return everr(ev, -E2BIG, "evaluation step limit exceeded (%llu steps)",
			     (unsigned long long)ev->max_steps);
	if ((ev->steps & 255) == 0 && rg_clock_ns() > ev->deadline_ns)
		return everr(ev, -E2BIG, "evaluation time limit exceeded");
	return 0;
}

/* --- lists of terms ---------------------------------------------------------- */

typedef int (*klist)(struct rg_ev *ev, void *ud, struct rg_val **vals);

struct lctx {
	struct rg_term *const *items;
	size_t n, i;
	struct rg_val **vals;
	klist k;
	void *ud;
};

static int eval_list_from(struct rg_ev *ev, struct lctx *c);

static int list_next(struct rg_ev *ev, void *ud, struct rg_val *v)
{
	struct lctx *c = ud, next = *c;

	c->vals[c->i] = v;
	next.i = c->i + 1;
	return eval_list_from(ev, &next);
}

static int eval_list_from(struct rg_ev *ev, struct lctx *c)
{
	if (c->i == c->n)
		return c->k(ev, c->ud, c->vals);
	return eval_term(ev, c->items[c->i], list_next, c);
}

/* Every combination of the values of n terms (each may iterate). */
static int eval_list(struct rg_ev *ev, struct rg_term *const *items, size_t n, klist k, void *ud)
{
	struct lctx c = { .items = items, .n = n, .k = k, .ud = ud };

	c.vals = rg_allocn(ev->a, n + 1, sizeof(*c.vals));
	if (!c.vals)
		return rg_ev_nomem(ev);
	return eval_list_from(ev, &c);
}

/* --- composite literals -------------------------------------------------------- */

struct compose {
	const struct rg_term *t;
	kval k;
	void *ud;
};

static int compose_done(struct rg_ev *ev, void *ud, struct rg_val **vals)
{
	struct compose *c = ud;
	const struct rg_term *t = c->t;
	struct rg_val *v;

	if (t->kind == TK_ARR)
		v = rg_array(ev->a, vals, t->n);
	else if (t->kind == TK_SET)
		v = rg_set(ev->a, vals, t->n);
	else
		v = rg_object(ev->a, vals, vals + t->n, t->n);
	if (!v)
		return rg_ev_nomem(ev);
	return c->k(ev, c->ud, v);
}

static int eval_composite(struct rg_ev *ev, const struct rg_term *t, kval k, void *ud)
{
	struct compose c = { t, k, ud };
	struct rg_term **items = t->items;

	if (t->kind == TK_OBJ) {
		items = rg_allocn(ev->a, 2 * t->n + 1, sizeof(*items));
		if (!items)
			return rg_ev_nomem(ev);
		memcpy(items, t->items, t->n * sizeof(*items));
		memcpy(items + t->n, t->vals, t->n * sizeof(*items));
		return eval_list(ev, items, 2 * t->n, compose_done, &c);
	}
	return eval_list(ev, items, t->n, compose_done, &c);
}

/* --- comprehensions ---------------------------------------------------------- */

struct vec {
	struct rg_val **v, **w;
	size_t n, cap;
};

static int vec_push(struct rg_ev *ev, struct vec *x, struct rg_val *v, struct rg_val *w)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 8;
		struct rg_val **nv = rg_allocn(ev->a, cap, sizeof(*nv));
		struct rg_val **nw = rg_allocn(ev->a, cap, sizeof(*nw));

		if (!nv || !nw)
			return rg_ev_nomem(ev);
		if (x->n) {
			memcpy(nv, x->v, x->n * sizeof(*nv));
			memcpy(nw, x->w, x->n * sizeof(*nw));
		}
		x->v = nv;
		x->w = nw;
		x->cap = cap;
	}
	x->v[x->n] = v;
	x->w[x->n++] = w;
	return 0;
}

struct comp {
	const struct rg_term *t;
	struct vec out;
	struct rg_val *key;
};

static int comp_val(struct rg_ev *ev, void *ud, struct rg_val *v)
{
	struct comp *c = ud;

	return vec_push(ev, &c->out, c->key ? c->key : v, v);
}

static int comp_key(struct rg_ev *ev, void *ud, struct rg_val *k)
{
	struct comp *c = ud;
	int rc;

	c->key = k;
	rc = eval_term(ev, c->t->value, comp_val, c);
	c->key = NULL;
	return rc;
}

static int comp_sol(struct rg_ev *ev, void *ud)
{
	struct comp *c = ud;

	if (c->t->kind == TK_OCOMP)
		return eval_term(ev, c->t->key, comp_key, c);
	return eval_term(ev, c->t->value, comp_val, c);
}

static int eval_comprehension(struct rg_ev *ev, const struct rg_term *t, kval k, void *ud)
{
	struct comp c = { .t = t };
	struct rg_val *v;
	int rc = eval_body(ev, t->body, 0, comp_sol, &c);

	if (rc)
		return rc;
	if (t->kind == TK_ACOMP) {
		v = rg_array(ev->a, c.out.v, c.out.n);
	} else if (t->kind == TK_SCOMP) {
		v = rg_set(ev->a, c.out.v, c.out.n);
	} else {
		v = rg_object(ev->a, c.out.v, c.out.w, c.out.n);
		if (v && v->len != c.out.n) {
			for (size_t i = 0; i < c.out.n; i++)
				if (!rg_eq(rg_obj_get(v, c.out.v[i]), c.out.w[i]))
					return everr(ev, -EDOM, "object keys must be unique (comprehension, line %u)", t->line);
		}
	}
	if (!v)
		return rg_ev_nomem(ev);
	return k(ev, ud, v);
}

/* --- references ------------------------------------------------------------------- */

static int index_from(struct rg_ev *ev, struct rg_val *v, const struct rg_term *t, size_t i, kval k, void *ud);

struct idx {
	struct rg_val *coll;
	const struct rg_term *t;
	size_t i;
	kval k;
	void *ud;
};

static struct rg_val *child(const struct rg_val *coll, const struct rg_val *key)
{
	int64_t n;
	long j;

	switch (coll->type) {
	case RG_ARR:
		if (key->type != RG_NUM || !rg_num_int(key, &n) || n < 0 || (uint64_t)n >= coll->len)
			return NULL;
		return coll->a[n];
	case RG_OBJ:
		return rg_obj_get(coll, key);
	case RG_SET:
		j = rg_find(coll, key);
		return j < 0 ? NULL : coll->a[j];
	default:
		return NULL;
	}
}

static int idx_key(struct rg_ev *ev, void *ud, struct rg_val *key)
{
	struct idx *c = ud;
	struct rg_val *ch = child(c->coll, key);

	return ch ? index_from(ev, ch, c->t, c->i + 1, c->k, c->ud) : 0;
}

/* Iterate a collection binding an unbound operand variable to each key. */
static int iterate(struct rg_ev *ev, struct rg_val *v, const struct rg_term *t, size_t i, kval k, void *ud)
{
	int slot = t->items[i]->slot;
	struct rg_val *key;
	int rc = 0;

	for (size_t j = 0; !rc && j < v->len; j++) {
		if ((rc = tick(ev)))
			break;
		if (v->type == RG_ARR) {
			if (!(key = rg_int(ev->a, (int64_t)j)))
				return rg_ev_nomem(ev);
		} else {
			key = v->a[j];
		}
		ev->frame[slot] = key;
		rc = index_from(ev, v->type == RG_OBJ ? v->v[j] : v->a[j], t, i + 1, k, ud);
		ev->frame[slot] = NULL;
	}
	return rc;
}

static int index_from(struct rg_ev *ev, struct rg_val *v, const struct rg_term *t, size_t i, kval k, void *ud)
{
	const struct rg_term *op;
	struct idx c = { v, t, i, k, ud };

	if (i == t->n)
		return k(ev, ud, v);
	op = t->items[i];
	if (v->type != RG_ARR && v->type != RG_OBJ && v->type != RG_SET)
		return 0;
	if (op->kind == TK_VAR && op->vkind == V_LOCAL && !ev->frame[op->slot])
		return iterate(ev, v, t, i, k, ud);
	if (op->kind == TK_VAL)
		return idx_key(ev, &c, op->val);
	return eval_term(ev, op, idx_key, &c);
}

static bool path_is(const struct rg_term *target, const struct rg_term *t, size_t i)
{
	if (target->kind != TK_REF || target->n != i)
		return target->kind == TK_VAR && i == 1;
	for (size_t j = 1; j < i; j++) {
		const struct rg_val *a = target->items[j]->val, *b = t->items[j]->val;

		if (t->items[j]->kind != TK_VAL || !rg_eq(a, b))
			return false;
	}
	return true;
}

static struct rg_val *override_at(struct rg_ev *ev, const struct rg_term *t, size_t i)
{
	for (struct rg_override *o = ev->over; o; o = o->next)
		if (path_is(o->target, t, i))
			return o->val;
	return NULL;
}

static int materialize(struct rg_ev *ev, const struct rg_pkg *p, struct rg_val *base, struct rg_val **out);

/* data.<...>: walk packages while operands are constant names. */
static int eval_data(struct rg_ev *ev, const struct rg_pkg *p, struct rg_val *base,
		     const struct rg_term *t, size_t i, kval k, void *ud)
{
	const struct rg_term *op = i < t->n ? t->items[i] : NULL;
	struct rg_val *ov = ev->over ? override_at(ev, t, i) : NULL, *v;
	int rc;

	if (ov)
		return index_from(ev, ov, t, i, k, ud);
	if (!p)
		return base ? index_from(ev, base, t, i, k, ud) : 0;
	if (op && op->kind == TK_VAL && op->val->type == RG_STR) {
		struct rg_group *g = rg_pkg_group(p, op->val->s, op->val->len);
		struct rg_pkg *kid = rg_pkg_kid(p, op->val->s, op->val->len);
		struct rg_val *sub = base && base->type == RG_OBJ ? rg_obj_get(base, op->val) : NULL;

		if (g) {
			if (g->kind == R_FUNC)
				return everr(ev, -EDOM, "function %s used as a value", g->name);
			if ((rc = eval_group(ev, g, &v)))
				return rc;
			return v ? index_from(ev, v, t, i + 1, k, ud) : 0;
		}
		if (kid)
			return eval_data(ev, kid, sub, t, i + 1, k, ud);
		return sub ? index_from(ev, sub, t, i + 1, k, ud) : 0;
	}
	if ((rc = materialize(ev, p, base, &v)))
		return rc;
	return index_from(ev, v, t, i, k, ud);
}

/* A whole package as an object: its rules' values, sub-packages, base data. */
static int materialize(struct rg_ev *ev, const struct rg_pkg *p, struct rg_val *base, struct rg_val **out)
{
	struct vec kv = { 0 };
	struct rg_val *v, *name;
	int rc;

	for (size_t i = 0; i < p->ngroups; i++) {
		if (p->groups[i]->kind == R_FUNC)
			continue;
		if ((rc = eval_group(ev, p->groups[i], &v)))
			return rc;
		if (!v)
			continue;
		if (!(name = rg_cstr(ev->a, p->groups[i]->name)) || (rc = vec_push(ev, &kv, name, v)))
			return rc ? rc : rg_ev_nomem(ev);
	}
	for (size_t i = 0; i < p->nkids; i++) {
		struct rg_val *sub;

		if (!(name = rg_cstr(ev->a, p->kids[i]->name)))
			return rg_ev_nomem(ev);
		sub = base && base->type == RG_OBJ ? rg_obj_get(base, name) : NULL;
		if ((rc = materialize(ev, p->kids[i], sub, &v)) || (rc = vec_push(ev, &kv, name, v)))
			return rc;
	}
	for (size_t i = 0; base && base->type == RG_OBJ && i < base->len; i++) {
		bool seen = false;

		for (size_t j = 0; j < kv.n && !seen; j++)
			seen = rg_eq(kv.v[j], base->a[i]);
		if (!seen && (rc = vec_push(ev, &kv, base->a[i], base->v[i])))
			return rc;
	}
	*out = rg_object(ev->a, kv.v, kv.w, kv.n);
	return *out ? 0 : rg_ev_nomem(ev);
}

static int ref_head(struct rg_ev *ev, void *ud, struct rg_val *v)
{
	struct idx *c = ud;

	return index_from(ev, v, c->t, 1, c->k, c->ud);
}

static int eval_ref(struct rg_ev *ev, const struct rg_term *t, kval k, void *ud)
{
	const struct rg_term *h = t->items[0];
	struct idx c = { .t = t, .k = k, .ud = ud };

	if (h->kind == TK_VAR && h->vkind == V_DATA)
		return eval_data(ev, ev->prog->root, ev->data, t, 1, k, ud);
	if (h->kind == TK_VAR && h->vkind == V_INPUT) {
		struct rg_val *in = ev->input;

		return in ? index_from(ev, in, t, 1, k, ud) : 0;
	}
	return eval_term(ev, h, ref_head, &c);
}

/* --- calls --------------------------------------------------------------------- */

struct callc {
	const struct rg_term *t;
	kval k;
	void *ud;
};

static int unify(struct rg_ev *ev, const struct rg_term *p, struct rg_val *v, kbody k, void *ud);

static int out_true(struct rg_ev *ev, void *ud)
{
	struct callc *c = ud;

	return c->k(ev, c->ud, &rg_true);
}

/* f(x, out): the result is unified with the last argument; the call is true. */
static int call_result(struct rg_ev *ev, void *ud, struct rg_val *v)
{
	struct callc *c = ud;

	if (c->t->outarg)
		return unify(ev, c->t->items[c->t->n - 1], v, out_true, c);
	return c->k(ev, c->ud, v);
}

static int eval_func(struct rg_ev *ev, struct rg_group *g, struct rg_val **args, kval k, void *ud);

static int call_done(struct rg_ev *ev, void *ud, struct rg_val **vals)
{
	struct callc *c = ud;
	struct rg_val *out = NULL;
	int rc;

	if ((rc = tick(ev)))
		return rc;
	if (c->t->grp)
		return eval_func(ev, c->t->grp, vals, call_result, c);
	rc = c->t->bi->fn(ev, vals, &out);
	if (rc == RG_UNDEF)
		return 0;
	if (rc == -EDOM) {
		if (ev->strict)
			return everr(ev, -EDOM, "%s", ev->bierr);
		return 0;
	}
	if (rc == -ENOMEM || rc == -E2BIG)
		return rg_ev_nomem(ev);
	if (rc)
		return rc;
	return call_result(ev, c, out);
}

static int eval_call(struct rg_ev *ev, const struct rg_term *t, kval k, void *ud)
{
	struct callc c = { t, k, ud };

	return eval_list(ev, t->items, t->n - t->outarg, call_done, &c);
}

/* --- terms ------------------------------------------------------------------------ */

static int eval_term(struct rg_ev *ev, const struct rg_term *t, kval k, void *ud)
{
	struct rg_val *v;
	int rc;

	switch (t->kind) {
	case TK_VAL:
		return k(ev, ud, t->val);
	case TK_VAR:
		switch (t->vkind) {
		case V_LOCAL:
			if (!ev->frame[t->slot])
				return everr(ev, -EDOM, "var '%s' is unbound (line %u)", t->name ? t->name : "_", t->line);
			return k(ev, ud, ev->frame[t->slot]);
		case V_INPUT:
			return ev->input ? k(ev, ud, ev->input) : 0;
		case V_DATA:
			if ((rc = materialize(ev, ev->prog->root, ev->data, &v)))
				return rc;
			return k(ev, ud, v);
		case V_RULE:
			if ((rc = eval_group(ev, t->grp, &v)))
				return rc;
			return v ? k(ev, ud, v) : 0;
		case V_ALIAS:
			return eval_term(ev, t->alias, k, ud);
		default:
			return everr(ev, -EINVAL, "unresolved name '%s'", t->name);
		}
	case TK_REF:
		if (t->items[0]->kind == TK_VAR && t->items[0]->vkind == V_RULE) {
			if ((rc = eval_group(ev, t->items[0]->grp, &v)))
				return rc;
			return v ? index_from(ev, v, t, 1, k, ud) : 0;
		}
		return eval_ref(ev, t, k, ud);
	case TK_ARR: case TK_SET: case TK_OBJ:
		return eval_composite(ev, t, k, ud);
	case TK_CALL:
		return eval_call(ev, t, k, ud);
	default:
		return eval_comprehension(ev, t, k, ud);
	}
}

/* --- unification --------------------------------------------------------------- */

struct uctx {
	const struct rg_term *p;
	struct rg_val *v;
	size_t i;
	kbody k;
	void *ud;
};

static int unify_items(struct rg_ev *ev, void *ud);

static int unify_next(struct rg_ev *ev, void *ud)
{
	struct uctx *c = ud, next = *c;

	next.i = c->i + 1;
	return unify_items(ev, &next);
}

static int unify_obj_key(struct rg_ev *ev, void *ud, struct rg_val *key);

static int unify_items(struct rg_ev *ev, void *ud)
{
	struct uctx *c = ud;

	if (c->i == c->p->n)
		return c->k(ev, c->ud);
	if (c->p->kind == TK_ARR)
		return unify(ev, c->p->items[c->i], c->v->a[c->i], unify_next, c);
	return eval_term(ev, c->p->items[c->i], unify_obj_key, c);
}

static int unify_obj_key(struct rg_ev *ev, void *ud, struct rg_val *key)
{
	struct uctx *c = ud;
	struct rg_val *w = rg_obj_get(c->v, key);

	return w ? unify(ev, c->p->vals[c->i], w, unify_next, c) : 0;
}

static int unify_cmp(struct rg_ev *ev, void *ud, struct rg_val *w)
{
	struct uctx *c = ud;

	return rg_eq(c->v, w) ? c->k(ev, c->ud) : 0;
}

/* Match pattern p against value v, binding p's unbound variables. */
static int unify(struct rg_ev *ev, const struct rg_term *p, struct rg_val *v, kbody k, void *ud)
{
	struct uctx c = { p, v, 0, k, ud };
	int rc;

	if ((rc = tick(ev)))
		return rc;
	if (p->kind == TK_VAR && p->vkind == V_LOCAL) {
		struct rg_val *cur = ev->frame[p->slot];

		if (cur)
			return rg_eq(cur, v) ? k(ev, ud) : 0;
		ev->frame[p->slot] = v;
		rc = k(ev, ud);
		ev->frame[p->slot] = NULL;
		return rc;
	}
	if (p->kind == TK_VAL)
		return rg_eq(p->val, v) ? k(ev, ud) : 0;
	if (p->kind == TK_ARR)
		return v->type == RG_ARR && v->len == p->n ? unify_items(ev, &c) : 0;
	if (p->kind == TK_OBJ)
		return v->type == RG_OBJ && v->len == p->n ? unify_items(ev, &c) : 0;
	return eval_term(ev, p, unify_cmp, &c);
}

/* Does a pattern still have unbound variables? */
static bool unbound(const struct rg_ev *ev, const struct rg_term *p)
{
	if (p->kind == TK_VAR)
		return p->vkind == V_LOCAL && !ev->frame[p->slot];
	if (p->kind == TK_ARR || p->kind == TK_OBJ) {
		for (size_t i = 0; i < p->n; i++)
			if (unbound(ev, p->kind == TK_ARR ? p->items[i] : p->vals[i]))
				return true;
	}
	return false;
}

struct u2 {
	const struct rg_term *other;
	kbody k;
	void *ud;
	const struct rg_term *a, *b;
	size_t i;
};

static int u2_val(struct rg_ev *ev, void *ud, struct rg_val *v)
{
	struct u2 *c = ud;

	return unify(ev, c->other, v, c->k, c->ud);
}

static int unify2(struct rg_ev *ev, const struct rg_term *a, const struct rg_term *b, kbody k, void *ud);

static int u2_pair(struct rg_ev *ev, void *ud)
{
	struct u2 *c = ud, next = *c;

	if (c->i == c->a->n)
		return c->k(ev, c->ud);
	next.i = c->i + 1;
	return unify2(ev, c->a->items[c->i], c->b->items[c->i], u2_pair, &next);
}

static int unify2(struct rg_ev *ev, const struct rg_term *a, const struct rg_term *b, kbody k, void *ud)
{
	struct u2 c = { .k = k, .ud = ud, .a = a, .b = b };
	bool ua = unbound(ev, a), ub = unbound(ev, b);

	if (ua && ub) {
		if (a->kind == TK_ARR && b->kind == TK_ARR) {
			if (a->n != b->n)
				return 0;
			return u2_pair(ev, &c);
		}
		return everr(ev, -EDOM, "line %u: both sides of '=' have unbound variables", a->line);
	}
	c.other = ua ? a : b;
	return eval_term(ev, ua ? b : a, u2_val, &c);
}

/* --- expressions --------------------------------------------------------------- */

struct ectx {
	const struct rg_expr *e;
	kbody k;
	void *ud;
	struct rg_val *coll;
};

static int term_true(struct rg_ev *ev, void *ud, struct rg_val *v)
{
	struct ectx *c = ud;

	if (v->type == RG_BOOL && !v->b)
		return 0;
	return c->k(ev, c->ud);
}

static int unify_next_value(struct rg_ev *ev, void *ud)
{
	struct uctx *c = ud;

	return unify(ev, c->p, c->v, c->k, c->ud);
}

static int somein_coll(struct rg_ev *ev, void *ud, struct rg_val *coll)
{
	struct ectx *c = ud;
	const struct rg_expr *e = c->e;
	int rc = 0;

	if (coll->type != RG_ARR && coll->type != RG_OBJ && coll->type != RG_SET)
		return 0;
	for (size_t j = 0; !rc && j < coll->len; j++) {
		struct rg_val *key = coll->a[j], *val = coll->type == RG_OBJ ? coll->v[j] : coll->a[j];

		if ((rc = tick(ev)))
			return rc;
		if (coll->type == RG_ARR && e->a && !(key = rg_int(ev->a, (int64_t)j)))
			return rg_ev_nomem(ev);
		if (e->a) {
			/* key then value: nest through a small context */
			struct uctx kc = { .p = e->b, .v = val, .k = c->k, .ud = c->ud };

			rc = unify(ev, e->a, key, unify_next_value, &kc);
		} else {
			rc = unify(ev, e->b, val, c->k, c->ud);
		}
	}
	return rc;
}

static int stop_k(struct rg_ev *ev, void *ud)
{
	(void)ev;
	(void)ud;
	return STOP;
}

/* every: the body must hold for each member (checked once each). */
static int every_coll(struct rg_ev *ev, void *ud, struct rg_val *coll)
{
	struct ectx *c = ud;
	const struct rg_expr *e = c->e;
	int rc;

	if (coll->type != RG_ARR && coll->type != RG_OBJ && coll->type != RG_SET)
		return 0;
	for (size_t j = 0; j < coll->len; j++) {
		struct rg_val *key = coll->a[j], *val = coll->type == RG_OBJ ? coll->v[j] : coll->a[j];

		if ((rc = tick(ev)))
			return rc;
		if (coll->type == RG_ARR && !(key = rg_int(ev->a, (int64_t)j)))
			return rg_ev_nomem(ev);
		if (e->a)
			ev->frame[e->a->slot] = key;
		ev->frame[e->b->slot] = val;
		rc = eval_body(ev, e->body, 0, stop_k, NULL);
		if (e->a)
			ev->frame[e->a->slot] = NULL;
		ev->frame[e->b->slot] = NULL;
		if (rc < 0)
			return rc;
		if (rc != STOP)
			return 0;
	}
	return c->k(ev, c->ud);
}

static int eval_expr_plain(struct rg_ev *ev, const struct rg_expr *e, kbody k, void *ud)
{
	struct ectx c = { e, k, ud, NULL };

	switch (e->kind) {
	case EX_SOME:
		return k(ev, ud);
	case EX_UNIFY: case EX_ASSIGN:
		return unify2(ev, e->a, e->b, k, ud);
	case EX_SOMEIN:
		return eval_term(ev, e->c, somein_coll, &c);
	case EX_EVERY: {
		/* an undefined domain: every holds vacuously, as OPA does */
		int rc = eval_term(ev, e->c, every_coll, &c);
		bool any = false;

		(void)any;
		return rc;
	}
	default:
		return eval_term(ev, e->a, term_true, &c);
	}
}

static int eval_expr_neg(struct rg_ev *ev, const struct rg_expr *e, kbody k, void *ud)
{
	int rc = eval_expr_plain(ev, e, stop_k, NULL);

	if (rc < 0)
		return rc;
	return rc == STOP ? 0 : k(ev, ud);
}

/* input with the value at path (operands 1..n of target) replaced. */
static struct rg_val *patch(struct rg_ev *ev, struct rg_val *doc, const struct rg_term *target,
			    size_t i, struct rg_val *v)
{
	struct vec kv = { 0 };
	struct rg_val *key, *sub;

	if (target->kind != TK_REF || i == target->n)
		return v;
	key = target->items[i]->val;
	sub = doc && doc->type == RG_OBJ ? rg_obj_get(doc, key) : NULL;
	for (size_t j = 0; doc && doc->type == RG_OBJ && j < doc->len; j++)
		if (!rg_eq(doc->a[j], key) && vec_push(ev, &kv, doc->a[j], doc->v[j]))
			return NULL;
	sub = patch(ev, sub, target, i + 1, v);
	if (!sub || vec_push(ev, &kv, key, sub))
		return NULL;
	return rg_object(ev->a, kv.v, kv.w, kv.n);
}

struct withc {
	const struct rg_expr *e;
	size_t i;
	kbody k;
	void *ud;
};

static int eval_with_from(struct rg_ev *ev, const struct rg_expr *e, size_t i, kbody k, void *ud);

static int with_val(struct rg_ev *ev, void *ud, struct rg_val *v)
{
	struct withc *c = ud;
	const struct rg_with *w = &c->e->with[c->i];
	const struct rg_term *h = w->target->kind == TK_REF ? w->target->items[0] : w->target;
	struct rg_val *saved = ev->input;
	struct rg_override o = { w->target, v, ev->over };
	int rc;

	ev->with_depth++;
	if (!strcmp(h->name, "input")) {
		ev->input = patch(ev, ev->input, w->target, 1, v);
		if (!ev->input) {
			ev->input = saved;
			ev->with_depth--;
			return rg_ev_nomem(ev);
		}
	} else {
		ev->over = &o;
	}
	rc = eval_with_from(ev, c->e, c->i + 1, c->k, c->ud);
	ev->input = saved;
	ev->over = o.next;
	ev->with_depth--;
	return rc;
}

static int eval_with_from(struct rg_ev *ev, const struct rg_expr *e, size_t i, kbody k, void *ud)
{
	struct withc c = { e, i, k, ud };

	if (i == e->nwith)
		return e->neg ? eval_expr_neg(ev, e, k, ud) : eval_expr_plain(ev, e, k, ud);
	return eval_term(ev, e->with[i].value, with_val, &c);
}

/* The continuation runs outside the `with`: OPA scopes it to the expression. */
struct withdone {
	struct rg_val *input;
	struct rg_override *over;
	unsigned with_depth;
	kbody k;
	void *ud;
};

static int with_escape(struct rg_ev *ev, void *ud)
{
	struct withdone *d = ud;
	struct rg_val *in = ev->input;
	struct rg_override *ov = ev->over;
	unsigned wd = ev->with_depth;
	int rc;

	ev->input = d->input;
	ev->over = d->over;
	ev->with_depth = d->with_depth;
	rc = d->k(ev, d->ud);
	ev->input = in;
	ev->over = ov;
	ev->with_depth = wd;
	return rc;
}

static int eval_expr(struct rg_ev *ev, const struct rg_expr *e, kbody k, void *ud)
{
	struct withdone d = { ev->input, ev->over, ev->with_depth, k, ud };
	int rc;

	if ((rc = tick(ev)))
		return rc;
	if (e->nwith)
		return eval_with_from(ev, e, 0, with_escape, &d);
	return e->neg ? eval_expr_neg(ev, e, k, ud) : eval_expr_plain(ev, e, k, ud);
}

struct bctx {
	const struct rg_body *b;
	size_t i;
	kbody k;
	void *ud;
};

static int body_next(struct rg_ev *ev, void *ud)
{
	struct bctx *c = ud;

	return eval_body(ev, c->b, c->i + 1, c->k, c->ud);
}

static int eval_body(struct rg_ev *ev, const struct rg_body *b, size_t i, kbody k, void *ud)
{
	struct bctx c = { b, i, k, ud };

	if (i == b->n)
		return k(ev, ud);
	return eval_expr(ev, b->e[i], body_next, &c);
}

/* --- rules ---------------------------------------------------------------------- */

struct rulec {
	const struct rg_rule *r;
	struct vec out;
	struct rg_val *key;
};

static int rule_val(struct rg_ev *ev, void *ud, struct rg_val *v)
{
	struct rulec *c = ud;

	return vec_push(ev, &c->out, c->key ? c->key : v, v);
}

static int rule_key(struct rg_ev *ev, void *ud, struct rg_val *key)
{
	struct rulec *c = ud;
	int rc;

	if (c->r->kind == R_SET)
		return vec_push(ev, &c->out, key, key);
	c->key = key;
	rc = eval_term(ev, c->r->value, rule_val, c);
	c->key = NULL;
	return rc;
}

static int rule_sol(struct rg_ev *ev, void *ud)
{
	struct rulec *c = ud;

	if (c->r->key)
		return eval_term(ev, c->r->key, rule_key, c);
	return eval_term(ev, c->r->value, rule_val, c);
}

static int enter(struct rg_ev *ev, int nslots, struct rg_val ***saved)
{
	struct rg_val **f;

	if (++ev->depth > ev->max_depth)
		return everr(ev, -E2BIG, "evaluation nested too deeply (more than %u rule or function calls)",
			     ev->max_depth);
	f = rg_allocn(ev->a, (size_t)nslots + 1, sizeof(*f));
	if (!f)
		return rg_ev_nomem(ev);
	*saved = ev->frame;
	ev->frame = f;
	return 0;
}

static void leave(struct rg_ev *ev, struct rg_val **saved)
{
	ev->depth--;
	ev->frame = saved;
}

/* One rule with its else chain: the first branch with solutions counts. */
static int eval_rule(struct rg_ev *ev, const struct rg_rule *r, struct vec *out)
{
	struct rg_val **saved = NULL;
	int rc;

	for (; r; r = r->els) {
		struct rulec c = { .r = r, .out = *out };

		if ((rc = enter(ev, r->nslots, &saved)))
			return rc;
		rc = eval_body(ev, r->body, 0, rule_sol, &c);
		leave(ev, saved);
		if (rc)
			return rc;
		if (c.out.n > out->n) {
			*out = c.out;
			return 0;
		}
	}
	return 0;
}

static int conflict(struct rg_ev *ev, const struct rg_group *g)
{
	return everr(ev, -EDOM, "%s rules must not produce multiple outputs (rule '%s')",
		     g->kind == R_OBJ ? "object keys must be unique:" : "complete", g->name);
}

static int group_value(struct rg_ev *ev, struct rg_group *g, struct rg_val **out)
{
	struct vec kv = { 0 };
	int rc;

	for (size_t i = 0; i < g->n; i++)
		if ((rc = eval_rule(ev, g->defs[i], &kv)))
			return rc;
	if (g->kind == R_SET) {
		*out = rg_set(ev->a, kv.v, kv.n);
	} else if (g->kind == R_OBJ) {
		*out = rg_object(ev->a, kv.v, kv.w, kv.n);
		for (size_t i = 0; *out && (*out)->len != kv.n && i < kv.n; i++)
			if (!rg_eq(rg_obj_get(*out, kv.v[i]), kv.w[i]))
				return conflict(ev, g);
	} else {
		for (size_t i = 1; i < kv.n; i++)
			if (!rg_eq(kv.w[0], kv.w[i]))
				return conflict(ev, g);
		*out = kv.n ? kv.w[0] : g->dflt ? g->dflt->value->val : NULL;
		return 0;
	}
	return *out ? 0 : rg_ev_nomem(ev);
}

/* data.<pkg...>.<name> as an override target? */
static struct rg_val *group_override(struct rg_ev *ev, const struct rg_group *g)
{
	for (struct rg_override *o = ev->over; o; o = o->next) {
		const struct rg_term *t = o->target;
		const struct rg_pkg *p = g->pkg;
		size_t i;

		if (t->kind != TK_REF || t->n < 2)
			continue;
		i = t->n - 1;
		if (strlen(g->name) != t->items[i]->val->len || memcmp(g->name, t->items[i]->val->s, t->items[i]->val->len))
			continue;
		for (i--; i >= 1 && p && p->parent; i--, p = p->parent) {
			const struct rg_val *s = t->items[i]->val;

			if (strlen(p->name) != s->len || memcmp(p->name, s->s, s->len))
				break;
		}
		if (i == 0 && p && !p->parent)
			return o->val;
	}
	return NULL;
}

static int eval_group(struct rg_ev *ev, struct rg_group *g, struct rg_val **out)
{
	struct rg_memo *m = &ev->memo[g->index];
	int rc;

	if (ev->over && (*out = group_override(ev, g)))
		return 0;
	if (ev->with_depth == 0) {
		if (m->state == 2) {
			*out = m->v;
			return 0;
		}
		if (m->state == 1)
			return everr(ev, -EDOM, "rule '%s' depends on itself (recursion)", g->name);
		m->state = 1;
	}
	*out = NULL;
	rc = group_value(ev, g, out);
	if (ev->with_depth == 0) {
		m->state = rc ? 0 : 2;
		m->v = *out;
	}
	return rc;
}

/* --- functions ------------------------------------------------------------------ */

struct fnc {
	const struct rg_rule *r;
	struct rg_val **args;
	size_t i;
	struct vec *out;
};

static int fn_args(struct rg_ev *ev, void *ud);

static int fn_val(struct rg_ev *ev, void *ud, struct rg_val *v)
{
	struct fnc *c = ud;

	return vec_push(ev, c->out, v, v);
}

static int fn_sol(struct rg_ev *ev, void *ud)
{
	struct fnc *c = ud;

	return eval_term(ev, c->r->value, fn_val, c);
}

static int fn_body(struct rg_ev *ev, void *ud)
{
	struct fnc *c = ud;

	return eval_body(ev, c->r->body, 0, fn_sol, c);
}

static int fn_args(struct rg_ev *ev, void *ud)
{
	struct fnc *c = ud, next = *c;

	if (c->i == c->r->nargs)
		return fn_body(ev, c);
	next.i = c->i + 1;
	return unify(ev, c->r->args[c->i], c->args[c->i], fn_args, &next);
}

static int eval_func(struct rg_ev *ev, struct rg_group *g, struct rg_val **args, kval k, void *ud)
{
	struct vec out = { 0 };
	struct rg_val **saved = NULL;
	int rc;

	for (size_t i = 0; i < g->n; i++) {
		for (const struct rg_rule *r = g->defs[i]; r; r = r->els) {
			struct fnc c = { r, args, 0, &out };
			size_t before = out.n;

			if ((rc = enter(ev, r->nslots, &saved)))
				return rc;
			rc = fn_args(ev, &c);
			leave(ev, saved);
			if (rc)
				return rc;
			if (out.n > before)
				break;
		}
	}
	for (size_t i = 1; i < out.n; i++)
		if (!rg_eq(out.v[0], out.v[i]))
			return everr(ev, -EDOM, "functions must not produce multiple outputs for same inputs (%s)",
				     g->name);
	if (out.n)
		return k(ev, ud, out.v[0]);
	if (g->dflt)
		return k(ev, ud, g->dflt->value->val);
	return 0;
}

/* --- queries -------------------------------------------------------------------- */

int rg_eval_query(struct rg_ev *ev, const struct rg_query *q, rg_ksol k, void *ud)
{
	struct rg_val **saved = NULL;
	int rc;

	if ((rc = enter(ev, q->nslots, &saved)))
		return rc;
	rc = eval_body(ev, q->body, 0, k, ud);
	leave(ev, saved);
	return rc;
}
