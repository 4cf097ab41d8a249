/* From parsed modules to an evaluable program: packages and rule groups,
 * then, per rule, name resolution into frame slots, safety (every variable
 * bound before it is needed) and OPA-style reordering of body expressions. */
#include "policy/rg_compile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/rg_builtins.h"

struct sent {
	const char *name;
	int slot;
	bool assigned; /* declared by := (declaring it again is an error) */
};

struct scope {
	struct scope *up;
	struct sent *e;
	size_t n, cap;
};

struct cx {
	struct rg_arena *a;
	struct rg_pkg *root;
	struct rg_pkg *pkg;      /* NULL for queries */
	struct rg_module *mod;
	int nslots;
	const char **slotname;   /* for messages */
	int slotcap;
	char *err;
	size_t errlen;
	int rc;
	unsigned line;
};

static int cfail(struct cx *c, unsigned line, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int cfail(struct cx *c, unsigned line, int rc, const char *fmt, ...)
{
	va_list ap;
	char msg[200];

	if (c->rc)
		return c->rc;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctfs_seterr(c->err, c->errlen, "line %u: %s", line, msg);
	c->rc = rc;
	return rc;
}

static int nomem(struct cx *c)
{
	return cfail(c, c->line, c->a->over ? -E2BIG : -ENOMEM, "out of memory while compiling");
}

/* --- package tree ------------------------------------------------------- */

struct rg_pkg *rg_pkg_kid(const struct rg_pkg *p, const char *name, size_t len)
{
	for (size_t i = 0; i < p->nkids; i++)
		if (strlen(p->kids[i]->name) == len && !memcmp(p->kids[i]->name, name, len))
			return p->kids[i];
	return NULL;
}

struct rg_group *rg_pkg_group(const struct rg_pkg *p, const char *name, size_t len)
{
	for (size_t i = 0; i < p->ngroups; i++)
		if (strlen(p->groups[i]->name) == len && !memcmp(p->groups[i]->name, name, len))
			return p->groups[i];
	return NULL;
}

struct rg_group *rg_find_group(const struct rg_pkg *root, const char *const *path, size_t n)
{
	const struct rg_pkg *p = root;

	for (size_t i = 0; p && i + 1 < n; i++)
		p = rg_pkg_kid(p, path[i], strlen(path[i]));
	return p && n ? rg_pkg_group(p, path[n - 1], strlen(path[n - 1])) : NULL;
}

static int grow(struct rg_arena *a, void **v, size_t n, size_t *cap, size_t size)
{
	void *nv;

	if (n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 4;
	nv = rg_allocn(a, *cap, size);
	if (!nv)
		return -ENOMEM;
	if (n)
		memcpy(nv, *v, n * size);
	*v = nv;
	return 0;
}

static struct rg_pkg *pkg_get(struct cx *c, struct rg_pkg *p, const char *name)
{
	struct rg_pkg *k = rg_pkg_kid(p, name, strlen(name));
	size_t cap = p->nkids; /* arrays are exactly full: grow doubles past that */

	if (k)
		return k;
	if (rg_pkg_group(p, name, strlen(name))) {
		cfail(c, c->line, -EINVAL, "package path '%s' is also a rule", name);
		return NULL;
	}
	k = rg_alloc(c->a, sizeof(*k));
	if (!k || grow(c->a, (void **)&p->kids, p->nkids, &cap, sizeof(*p->kids))) {
		nomem(c);
		return NULL;
	}
	k->name = name;
	k->parent = p;
	p->kids[p->nkids++] = k;
	return k;
}

static int add_rule(struct cx *c, struct rg_pkg *p, struct rg_rule *r, size_t *ngroups)
{
	struct rg_group *g = rg_pkg_group(p, r->name, strlen(r->name));
	size_t cap;

	c->line = r->line;
	if (rg_pkg_kid(p, r->name, strlen(r->name)))
		return cfail(c, r->line, -EINVAL, "rule '%s' conflicts with a package of the same name", r->name);
	if (!g) {
		cap = p->ngroups;
		g = rg_alloc(c->a, sizeof(*g));
		if (!g || grow(c->a, (void **)&p->groups, p->ngroups, &cap, sizeof(*p->groups)))
			return nomem(c);
		g->name = r->name;
		g->pkg = p;
		g->kind = r->kind;
		g->nargs = r->nargs;
		g->index = (*ngroups)++;
		p->groups[p->ngroups++] = g;
	}
	if (g->kind != r->kind || g->nargs != r->nargs)
		return cfail(c, r->line, -EINVAL, "rule '%s' is defined with different kinds or arities", r->name);
	if (r->is_default) {
		if (g->dflt)
			return cfail(c, r->line, -EINVAL, "multiple default rules '%s'", r->name);
		g->dflt = r;
		return 0;
	}
	cap = g->n;
	if (grow(c->a, (void **)&g->defs, g->n, &cap, sizeof(*g->defs)))
		return nomem(c);
	g->defs[g->n++] = r;
	return 0;
}

/* --- scopes and slots ------------------------------------------------------ */

static int new_slot(struct cx *c, const char *name)
{
	if (c->nslots == c->slotcap) {
		size_t cap = (size_t)c->slotcap;

		if (grow(c->a, (void **)&c->slotname, (size_t)c->nslots, &cap, sizeof(*c->slotname)))
			return nomem(c);
		c->slotcap = (int)cap;
	}
	c->slotname[c->nslots] = name;
	return c->nslots++;
}

static int scope_add(struct cx *c, struct scope *s, const char *name, int *slot)
{
	int k = new_slot(c, name);

	if (k < 0)
		return k;
	if (grow(c->a, (void **)&s->e, s->n, &s->cap, sizeof(*s->e)))
		return nomem(c);
	s->e[s->n].name = name;
	s->e[s->n++].slot = k;
	*slot = k;
	return 0;
}

static int scope_find_local(const struct scope *s, const char *name)
{
	for (size_t i = s->n; i-- > 0;)
		if (!strcmp(s->e[i].name, name))
			return s->e[i].slot;
	return -1;
}

static int scope_find(const struct scope *s, const char *name)
{
	for (; s; s = s->up) {
		int k = scope_find_local(s, name);

		if (k >= 0)
			return k;
	}
	return -1;
}

static const struct rg_import *find_import(const struct cx *c, const char *name)
{
	if (!c->mod)
		return NULL;
	for (size_t i = 0; i < c->mod->nimports; i++)
		if (!strcmp(c->mod->imports[i]->alias, name))
			return c->mod->imports[i];
	return NULL;
}

/* A name that refers to something outside the body. */
static bool is_global(const struct cx *c, const char *name)
{
	return !strcmp(name, "input") || !strcmp(name, "data") || find_import(c, name) ||
	       (c->pkg && rg_pkg_group(c->pkg, name, strlen(name)));
}

/* --- declaration pass: which names a body declares ------------------------- */

static int declare_term(struct cx *c, struct scope *s, struct rg_term *t);

static int declare_list(struct cx *c, struct scope *s, struct rg_term **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] && declare_term(c, s, v[i]))
			return c->rc;
	return 0;
}

/* Implicit declarations: every unknown name used directly in the body
 * (not inside a nested comprehension) becomes a variable of this body. */
static int declare_term(struct cx *c, struct scope *s, struct rg_term *t)
{
	int slot;

	switch (t->kind) {
	case TK_VAR:
		if (t->wildcard) {
			if (scope_add(c, s, "_", &slot))
				return c->rc;
			t->vkind = V_LOCAL;
			t->slot = slot;
			return 0;
		}
		if (scope_find(s, t->name) >= 0 || is_global(c, t->name))
			return 0;
		return scope_add(c, s, t->name, &slot);
	case TK_REF: case TK_ARR: case TK_SET: case TK_CALL:
		return declare_list(c, s, t->items, t->n);
	case TK_OBJ:
		if (declare_list(c, s, t->items, t->n))
			return c->rc;
		return declare_list(c, s, t->vals, t->n);
	default:
		return 0;
	}
}

/* Explicit declarations (`:=`, `some`, `some ... in`) shadow outer names. */
static int declare_pattern(struct cx *c, struct scope *s, struct rg_term *t, bool assign)
{
	int slot;

	if (t->kind == TK_VAR && t->wildcard) {
		if (scope_add(c, s, "_", &slot))
			return c->rc;
		t->vkind = V_LOCAL;
		t->slot = slot;
		return 0;
	}
	if (t->kind == TK_VAR) {
		for (size_t i = 0; assign && i < s->n; i++)
			if (s->e[i].assigned && !strcmp(s->e[i].name, t->name))
				return cfail(c, t->line, -EINVAL, "var '%s' assigned above", t->name);
		if (!strcmp(t->name, "input") || !strcmp(t->name, "data"))
			return cfail(c, t->line, -EINVAL, "cannot assign to '%s'", t->name);
		if (scope_add(c, s, t->name, &slot))
			return c->rc;
		s->e[s->n - 1].assigned = assign;
		return 0;
	}
	if (t->kind == TK_ARR)
		for (size_t i = 0; i < t->n; i++)
			if (declare_pattern(c, s, t->items[i], assign))
				return c->rc;
	if (t->kind == TK_OBJ)
		for (size_t i = 0; i < t->n; i++)
			if (declare_pattern(c, s, t->vals[i], assign))
				return c->rc;
	return 0;
}

static int declare_expr(struct cx *c, struct scope *s, struct rg_expr *e)
{
	int slot;

	switch (e->kind) {
	case EX_SOME:
		for (size_t i = 0; i < e->nsome; i++)
			if (scope_add(c, s, e->somevars[i]->name, &slot))
				return c->rc;
		return 0;
	case EX_ASSIGN:
		return declare_pattern(c, s, e->a, true);
	case EX_SOMEIN:
		if (e->a && declare_pattern(c, s, e->a, false))
			return c->rc;
		return declare_pattern(c, s, e->b, false);
	default:
		return 0;
	}
}

static int declare_expr_uses(struct cx *c, struct scope *s, struct rg_expr *e)
{
	switch (e->kind) {
	case EX_SOME:
		return 0;
	case EX_EVERY:
		return declare_term(c, s, e->c);
	case EX_SOMEIN:
		return declare_term(c, s, e->c);
	default:
		if (declare_term(c, s, e->a) || (e->b && declare_term(c, s, e->b)))
			return c->rc;
		for (size_t i = 0; i < e->nwith; i++)
			if (declare_term(c, s, e->with[i].value))
				return c->rc;
		return 0;
	}
}

/* --- resolution pass --------------------------------------------------------- */

static int resolve_body(struct cx *c, struct rg_body *b, struct scope *up, struct scope *pre);

static int resolve_call(struct cx *c, struct rg_term *t)
{
	const char *n = t->name;

	t->bi = rg_builtin_find(n);
	if (t->bi) {
		t->outarg = t->n == (size_t)t->bi->nargs + 1;
		if (t->bi->nargs != t->n && !t->outarg)
			return cfail(c, t->line, -EINVAL, "%s: takes %u arguments, got %zu",
				     n, t->bi->nargs, t->n);
		return 0;
	}
	if (!strncmp(n, "data.", 5)) {
		const char *parts[64];
		size_t np = 0;
		char *dup = rg_strndup(c->a, n + 5, strlen(n + 5));

		if (!dup)
			return nomem(c);
		for (char *tok = strtok(dup, "."); tok && np < 64; tok = strtok(NULL, "."))
			parts[np++] = tok;
		t->grp = rg_find_group(c->root, parts, np);
	} else if (c->pkg && !strchr(n, '.')) {
		t->grp = rg_pkg_group(c->pkg, n, strlen(n));
	}
	if (!t->grp || t->grp->kind != R_FUNC)
		return cfail(c, t->line, -EINVAL, "unknown function '%s' (not a builtin of the supported subset)", n);
	t->outarg = t->n == t->grp->nargs + 1;
	if (t->grp->nargs != t->n && !t->outarg)
		return cfail(c, t->line, -EINVAL, "function %s takes %zu arguments, got %zu",
			     n, t->grp->nargs, t->n);
	return 0;
}

static int resolve_var(struct cx *c, struct rg_term *t, struct scope *s)
{
	const struct rg_import *imp;
	int slot;

	if (t->vkind != V_UNRES)
		return 0;
	slot = scope_find(s, t->name);
	if (slot >= 0) {
		t->vkind = V_LOCAL;
		t->slot = slot;
	} else if (!strcmp(t->name, "input")) {
		t->vkind = V_INPUT;
	} else if (!strcmp(t->name, "data")) {
		t->vkind = V_DATA;
	} else if ((imp = find_import(c, t->name))) {
		t->vkind = V_ALIAS;
		t->alias = imp->ref;
	} else if (c->pkg && (t->grp = rg_pkg_group(c->pkg, t->name, strlen(t->name)))) {
		if (t->grp->kind == R_FUNC)
			return cfail(c, t->line, -EINVAL, "function '%s' used as a value", t->name);
		t->vkind = V_RULE;
	} else {
		return cfail(c, t->line, -EINVAL, "var '%s' is unsafe (not bound by the body)", t->name);
	}
	return 0;
}

static int resolve_term(struct cx *c, struct rg_term *t, struct scope *s);

static int resolve_list(struct cx *c, struct rg_term **v, size_t n, struct scope *s)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] && resolve_term(c, v[i], s))
			return c->rc;
	return 0;
}

/* A literal made only of constants becomes one constant value. */
static void fold(struct cx *c, struct rg_term *t)
{
	struct rg_val **k, **v;

	for (size_t i = 0; i < t->n; i++)
		if (t->items[i]->kind != TK_VAL || (t->vals && t->vals[i]->kind != TK_VAL))
			return;
	k = rg_allocn(c->a, t->n, sizeof(*k));
	v = rg_allocn(c->a, t->n, sizeof(*v));
	if (!k || !v)
		return;
	for (size_t i = 0; i < t->n; i++) {
		k[i] = t->items[i]->val;
		v[i] = t->vals ? t->vals[i]->val : NULL;
	}
	t->val = t->kind == TK_ARR ? rg_array(c->a, k, t->n) : t->kind == TK_SET ?
		 rg_set(c->a, k, t->n) : rg_object(c->a, k, v, t->n);
	if (t->val)
		t->kind = TK_VAL;
}

static int resolve_comp(struct cx *c, struct rg_term *t, struct scope *s)
{
	struct scope inner = { .up = s };
	struct rg_body *b = t->body;

	/* the head's names are declared by the body, so resolve it in the body's scope */
	b->lo = c->nslots;
	if (declare_term(c, &inner, t->value) || (t->key && declare_term(c, &inner, t->key)))
		return c->rc;
	if (resolve_body(c, b, s, &inner))
		return c->rc;
	if (resolve_term(c, t->value, &inner) || (t->key && resolve_term(c, t->key, &inner)))
		return c->rc;
	b->hi = c->nslots;
	return 0;
}

static int resolve_term(struct cx *c, struct rg_term *t, struct scope *s)
{
	switch (t->kind) {
	case TK_VAR:
		return resolve_var(c, t, s);
	case TK_REF:
		if (resolve_list(c, t->items, t->n, s))
			return c->rc;
		if (t->items[0]->kind == TK_VAL)
			return cfail(c, t->line, -EINVAL, "a constant cannot be dereferenced");
		return 0;
	case TK_CALL:
		if (resolve_list(c, t->items, t->n, s))
			return c->rc;
		return resolve_call(c, t);
	case TK_ARR: case TK_SET: case TK_OBJ:
		if (resolve_list(c, t->items, t->n, s) || (t->vals && resolve_list(c, t->vals, t->n, s)))
			return c->rc;
		fold(c, t);
		return 0;
	case TK_ACOMP: case TK_SCOMP: case TK_OCOMP:
		return resolve_comp(c, t, s);
	default:
		return 0;
	}
}

static int check_with_target(struct cx *c, struct rg_with *w)
{
	const struct rg_term *t = w->target, *h = t->kind == TK_REF ? t->items[0] : t;

	if (h->kind != TK_VAR || (strcmp(h->name, "input") && strcmp(h->name, "data")))
		return cfail(c, t->line, -EINVAL, "'with' is supported on input and data paths only "
			     "(not on functions or builtins)");
	for (size_t i = 1; t->kind == TK_REF && i < t->n; i++)
		if (t->items[i]->kind != TK_VAL || t->items[i]->val->type != RG_STR)
			return cfail(c, t->line, -EINVAL, "'with' targets must be constant paths");
	return 0;
}

static int resolve_every(struct cx *c, struct rg_expr *e, struct scope *s)
{
	struct scope inner = { .up = s };
	int slot;

	if (resolve_term(c, e->c, s))
		return c->rc;
	e->body->lo = c->nslots;
	if ((e->a && scope_add(c, &inner, e->a->name, &slot)) || scope_add(c, &inner, e->b->name, &slot))
		return c->rc;
	if ((e->a && resolve_var(c, e->a, &inner)) || resolve_var(c, e->b, &inner))
		return c->rc;
	if (resolve_body(c, e->body, s, &inner))
		return c->rc;
	e->body->hi = c->nslots;
	return 0;
}

static int resolve_expr(struct cx *c, struct rg_expr *e, struct scope *s)
{
	c->line = e->line;
	switch (e->kind) {
	case EX_SOME:
		return resolve_list(c, e->somevars, e->nsome, s);
	case EX_EVERY:
		return resolve_every(c, e, s);
	case EX_SOMEIN:
		if ((e->a && resolve_term(c, e->a, s)) || resolve_term(c, e->b, s))
			return c->rc;
		return resolve_term(c, e->c, s);
	default:
		if (resolve_term(c, e->a, s) || (e->b && resolve_term(c, e->b, s)))
			return c->rc;
		for (size_t i = 0; i < e->nwith; i++) {
			if (check_with_target(c, &e->with[i]) || resolve_term(c, e->with[i].value, s))
				return c->rc;
		}
		return 0;
	}
}

/* pre: a scope already holding the names declared for this body (e.g. by a
 * comprehension head), or NULL. */
static int resolve_body(struct cx *c, struct rg_body *b, struct scope *up, struct scope *pre)
{
	struct scope local = { .up = up };
	struct scope *s = pre ? pre : &local;

	if (!pre)
		b->lo = c->nslots;
	for (size_t i = 0; i < b->n; i++)
		if (declare_expr(c, s, b->e[i]))
			return c->rc;
	for (size_t i = 0; i < b->n; i++)
		if (declare_expr_uses(c, s, b->e[i]))
			return c->rc;
	for (size_t i = 0; i < b->n; i++)
		if (resolve_expr(c, b->e[i], s))
			return c->rc;
	if (!pre)
		b->hi = c->nslots;
	/* names visible to the caller (rule heads) stay in `pre` */
	return 0;
}

/* --- safety and ordering ------------------------------------------------------ */

struct vset {
	int *v;
	size_t n, cap;
};

static int vset_add(struct cx *c, struct vset *s, int slot)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == slot)
			return 0;
	if (grow(c->a, (void **)&s->v, s->n, &s->cap, sizeof(*s->v)))
		return nomem(c);
	s->v[s->n++] = slot;
	return 0;
}

struct io {
	struct vset in, out;
	int lo; /* locals below lo belong to an enclosing body */
};

static int vars_term(struct cx *c, const struct rg_term *t, bool pattern, struct io *io);

static int vars_body_free(struct cx *c, const struct rg_body *b, struct io *io);
static int head_free(struct cx *c, const struct rg_term *t, int lo, struct io *io);

static int vars_list(struct cx *c, struct rg_term *const *v, size_t n, bool pattern, struct io *io)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] && vars_term(c, v[i], pattern, io))
			return c->rc;
	return 0;
}

/* Collect a term's variables: those it can bind (pattern positions and
 * reference operands: iteration) and those it needs bound. */
static int vars_term(struct cx *c, const struct rg_term *t, bool pattern, struct io *io)
{
	switch (t->kind) {
	case TK_VAR:
		if (t->vkind == V_LOCAL && t->slot >= io->lo)
			return vset_add(c, (pattern || t->wildcard) ? &io->out : &io->in, t->slot);
		if (t->vkind == V_LOCAL) /* an enclosing body's variable: must be bound */
			return vset_add(c, &io->in, t->slot);
		return 0;
	case TK_REF:
		if (vars_term(c, t->items[0], false, io))
			return c->rc;
		return vars_list(c, t->items + 1, t->n - 1, true, io);
	case TK_ARR:
		return vars_list(c, t->items, t->n, pattern, io);
	case TK_OBJ:
		if (vars_list(c, t->items, t->n, false, io))
			return c->rc;
		return vars_list(c, t->vals, t->n, pattern, io);
	case TK_CALL:
		if (t->outarg)
			return vars_list(c, t->items, t->n - 1, false, io) ||
			       vars_term(c, t->items[t->n - 1], true, io) ? c->rc : 0;
		return vars_list(c, t->items, t->n, false, io);
	case TK_SET:
		return vars_list(c, t->items, t->n, false, io);
	case TK_ACOMP: case TK_SCOMP: case TK_OCOMP:
		if (vars_body_free(c, t->body, io) || head_free(c, t->value, t->body->lo, io) ||
		    (t->key && head_free(c, t->key, t->body->lo, io)))
			return c->rc;
		return 0;
	default:
		return 0;
	}
}

/* Free variables of a nested body (below its lo) must be bound outside it. */
static int vars_body_free(struct cx *c, const struct rg_body *b, struct io *io)
{
	struct io inner = { .lo = b->lo };

	for (size_t i = 0; i < b->n; i++) {
		const struct rg_expr *e = b->e[i];

		if (vars_list(c, (struct rg_term *const[]){ e->a, e->b, e->c }, 3, false, &inner))
			return c->rc;
		for (size_t w = 0; w < e->nwith; w++)
			if (vars_term(c, e->with[w].value, false, &inner))
				return c->rc;
		if (e->body && vars_body_free(c, e->body, &inner))
			return c->rc;
	}
	for (size_t i = 0; i < inner.in.n; i++)
		if (inner.in.v[i] < b->lo && vset_add(c, &io->in, inner.in.v[i]))
			return c->rc;
	return 0;
}

/* A comprehension head's variables from enclosing bodies must be bound. */
static int head_free(struct cx *c, const struct rg_term *t, int lo, struct io *io)
{
	struct io inner = { .lo = lo };

	if (vars_term(c, t, false, &inner))
		return c->rc;
	for (size_t i = 0; i < inner.in.n; i++)
		if (inner.in.v[i] < lo && vset_add(c, &io->in, inner.in.v[i]))
			return c->rc;
	return 0;
}

static int expr_io(struct cx *c, const struct rg_expr *e, int lo, struct io *io)
{
	memset(io, 0, sizeof(*io));
	io->lo = lo;
	switch (e->kind) {
	case EX_SOME:
		return 0;
	case EX_UNIFY:
		if (vars_term(c, e->a, true, io) || vars_term(c, e->b, true, io))
			return c->rc;
		break;
	case EX_ASSIGN:
		if (vars_term(c, e->a, true, io) || vars_term(c, e->b, false, io))
			return c->rc;
		break;
	case EX_SOMEIN:
		if ((e->a && vars_term(c, e->a, true, io)) || vars_term(c, e->b, true, io) ||
		    vars_term(c, e->c, false, io))
			return c->rc;
		break;
	case EX_EVERY:
		if (vars_term(c, e->c, false, io) || vars_body_free(c, e->body, io))
			return c->rc;
		break;
	default:
		if (vars_term(c, e->a, false, io))
			return c->rc;
	}
	for (size_t i = 0; i < e->nwith; i++)
		if (vars_term(c, e->with[i].value, false, io))
			return c->rc;
	if (e->neg) {
		/* a negated expression binds nothing outside: all it uses must be bound */
		for (size_t i = 0; i < io->out.n; i++)
			if (strcmp(c->slotname[io->out.v[i]], "_") && vset_add(c, &io->in, io->out.v[i]))
				return c->rc;
	}
	return 0;
}

static bool all_bound(const struct vset *s, const bool *bound)
{
	for (size_t i = 0; i < s->n; i++)
		if (!bound[s->v[i]])
			return false;
	return true;
}

static int order_body(struct cx *c, struct rg_body *b, bool *bound);

static int order_term_bodies(struct cx *c, struct rg_term *t, bool *bound);

static int order_nested(struct cx *c, struct rg_body *b, bool *bound, struct rg_term *head)
{
	bool *copy = rg_allocn(c->a, (size_t)c->nslots + 1, sizeof(bool));

	if (!copy)
		return nomem(c);
	memcpy(copy, bound, (size_t)c->nslots * sizeof(bool));
	if (order_body(c, b, copy))
		return c->rc;
	if (head) {
		struct io io = { .lo = b->lo };

		if (vars_term(c, head, false, &io))
			return c->rc;
		for (size_t i = 0; i < io.in.n; i++)
			if (!copy[io.in.v[i]])
				return cfail(c, head->line, -EINVAL, "var '%s' is unsafe",
					     c->slotname[io.in.v[i]]);
		if (order_term_bodies(c, head, copy))
			return c->rc;
	}
	return 0;
}

static int order_term_bodies(struct cx *c, struct rg_term *t, bool *bound)
{
	if (!t)
		return 0;
	switch (t->kind) {
	case TK_ACOMP: case TK_SCOMP: case TK_OCOMP:
		if (order_nested(c, t->body, bound, t->value))
			return c->rc;
		return t->key ? order_nested(c, t->body, bound, t->key) : 0;
	case TK_REF: case TK_ARR: case TK_SET: case TK_CALL: case TK_OBJ:
		for (size_t i = 0; i < t->n; i++)
			if (order_term_bodies(c, t->items[i], bound) ||
			    (t->vals && order_term_bodies(c, t->vals[i], bound)))
				return c->rc;
		return 0;
	default:
		return 0;
	}
}

static int order_expr_bodies(struct cx *c, struct rg_expr *e, bool *bound)
{
	if (order_term_bodies(c, e->a, bound) || order_term_bodies(c, e->b, bound) ||
	    order_term_bodies(c, e->c, bound))
		return c->rc;
	for (size_t i = 0; i < e->nwith; i++)
		if (order_term_bodies(c, e->with[i].value, bound))
			return c->rc;
	if (e->kind == EX_EVERY) {
		bool *copy = rg_allocn(c->a, (size_t)c->nslots + 1, sizeof(bool));

		if (!copy)
			return nomem(c);
		memcpy(copy, bound, (size_t)c->nslots * sizeof(bool));
		if (e->a)
			copy[e->a->slot] = true;
		copy[e->b->slot] = true;
		return order_body(c, e->body, copy);
	}
	return 0;
}

/* Greedy, stable: the first expression whose needs are bound goes next. */
static int order_body(struct cx *c, struct rg_body *b, bool *bound)
{
	struct io *io = rg_allocn(c->a, b->n + 1, sizeof(*io));
	bool *done = rg_allocn(c->a, b->n + 1, sizeof(bool));
	struct rg_expr **out = rg_allocn(c->a, b->n + 1, sizeof(*out));

	if (!io || !done || !out)
		return nomem(c);
	for (size_t i = 0; i < b->n; i++)
		if (expr_io(c, b->e[i], b->lo, &io[i]))
			return c->rc;
	for (size_t k = 0; k < b->n; k++) {
		size_t i;

		for (i = 0; i < b->n; i++)
			if (!done[i] && all_bound(&io[i].in, bound))
				break;
		if (i == b->n) {
			for (i = 0; i < b->n && done[i]; i++)
				;
			for (size_t j = 0; j < io[i].in.n; j++)
				if (!bound[io[i].in.v[j]])
					return cfail(c, b->e[i]->line, -EINVAL, "var '%s' is unsafe%s",
						     c->slotname[io[i].in.v[j]],
						     b->e[i]->neg ? " (negation needs its variables bound)" : "");
			return cfail(c, b->e[i]->line, -EINVAL, "unsafe expression");
		}
		done[i] = true;
		out[k] = b->e[i];
		if (order_expr_bodies(c, b->e[i], bound))
			return c->rc;
		if (!b->e[i]->neg)
			for (size_t j = 0; j < io[i].out.n; j++)
				bound[io[i].out.v[j]] = true;
	}
	b->e = out;
	return 0;
}

/* --- rules --------------------------------------------------------------------- */

static int head_safe(struct cx *c, struct rg_term *t, bool *bound)
{
	struct io io = { .lo = 0 };

	if (!t)
		return 0;
	if (vars_term(c, t, false, &io))
		return c->rc;
	for (size_t i = 0; i < io.in.n; i++)
		if (!bound[io.in.v[i]])
			return cfail(c, t->line, -EINVAL, "var '%s' in the rule head is unsafe",
				     c->slotname[io.in.v[i]]);
	for (size_t i = 0; i < io.out.n; i++)
		if (!bound[io.out.v[i]])
			return cfail(c, t->line, -EINVAL, "var '%s' in the rule head is unsafe",
				     c->slotname[io.out.v[i]]);
	return order_term_bodies(c, t, bound);
}

static int compile_one(struct cx *c, struct rg_rule *r, struct scope *args)
{
	struct scope s = { .up = args };
	bool *bound;

	c->line = r->line;
	r->body->lo = c->nslots;
	if ((r->key && declare_term(c, &s, r->key)) || declare_term(c, &s, r->value))
		return c->rc;
	if (resolve_body(c, r->body, args, &s))
		return c->rc;
	if ((r->key && resolve_term(c, r->key, &s)) || resolve_term(c, r->value, &s))
		return c->rc;
	r->body->hi = c->nslots;
	bound = rg_allocn(c->a, (size_t)c->nslots + 1, sizeof(bool));
	if (!bound)
		return nomem(c);
	for (size_t i = 0; i < args->n; i++)
		bound[args->e[i].slot] = true;
	if (order_body(c, r->body, bound) || head_safe(c, r->key, bound) || head_safe(c, r->value, bound))
		return c->rc;
	return 0;
}

static int compile_rule(struct cx *c, struct rg_rule *r)
{
	struct scope args = { 0 };

	c->nslots = 0;
	c->mod = r->mod;
	c->pkg = r->mod->node;
	for (size_t i = 0; i < r->nargs; i++)
		if (declare_pattern(c, &args, r->args[i], false) || resolve_term(c, r->args[i], &args))
			return c->rc;
	for (struct rg_rule *e = r; e; e = e->els)
		if (compile_one(c, e, &args))
			return c->rc;
	if (r->is_default && r->value->kind != TK_VAL)
		return cfail(c, r->line, -EINVAL, "default rule '%s' must have a constant value", r->name);
	for (struct rg_rule *e = r; e; e = e->els)
		e->nslots = c->nslots;
	return 0;
}

int rg_compile_modules(struct ctfs_rego *prog, struct rg_module **mods, size_t n,
		       char *err, size_t errlen)
{
	struct cx c = { .a = &prog->arena, .err = err, .errlen = errlen };

	prog->root = rg_alloc(c.a, sizeof(*prog->root));
	if (!prog->root)
		return nomem(&c);
	prog->root->name = "data";
	c.root = prog->root;
	for (size_t m = 0; m < n; m++) {
		struct rg_pkg *p = prog->root;

		for (size_t i = 0; p && i < mods[m]->npkg; i++)
			p = pkg_get(&c, p, mods[m]->pkg[i]);
		if (!p)
			return c.rc;
		mods[m]->node = p;
		for (size_t i = 0; i < mods[m]->nrules; i++)
			if (add_rule(&c, p, mods[m]->rules[i], &prog->ngroups))
				return c.rc;
	}
	for (size_t m = 0; m < n; m++)
		for (size_t i = 0; i < mods[m]->nrules; i++)
			if (compile_rule(&c, mods[m]->rules[i]))
				return c.rc;
	return 0;
}

int rg_compile_query(struct rg_arena *a, const struct ctfs_rego *prog, struct rg_body *body,
		     struct rg_query *q, char *err, size_t errlen)
{
	struct cx c = { .a = a, .root = prog->root, .err = err, .errlen = errlen };
	struct scope s = { 0 };
	bool *bound;
	size_t nv = 0;

	if (resolve_body(&c, body, NULL, &s))
		return c.rc;
	body->lo = 0;
	body->hi = c.nslots;
	bound = rg_allocn(a, (size_t)c.nslots + 1, sizeof(bool));
	q->names = rg_allocn(a, s.n + 1, sizeof(*q->names));
	q->slots = rg_allocn(a, s.n + 1, sizeof(*q->slots));
	if (!bound || !q->names || !q->slots)
		return nomem(&c);
	if (order_body(&c, body, bound))
		return c.rc;
	for (size_t i = 0; i < s.n; i++) {
		if (!strcmp(s.e[i].name, "_"))
			continue;
		q->names[nv] = s.e[i].name;
		q->slots[nv++] = s.e[i].slot;
	}
	q->body = body;
	q->nslots = c.nslots;
	q->nvars = nv;
	return 0;
}
