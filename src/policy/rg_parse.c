/* Rego v1 parser: recursive descent over the token array. v0-only syntax
 * and constructs outside the supported subset are refused here, with a
 * message naming them, so nothing is ever silently mis-evaluated. */
#include "policy/rg_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/rg_lex.h"

struct ps {
	struct rg_arena *a;
	const struct rg_token *t;
	size_t n, i;
	unsigned depth, max_depth;
	size_t *nodes, max_nodes;
	bool nlsig;  /* a newline ends the current expression */
	bool no_bar; /* `|` ends the term (comprehension heads) */
	char *err;
	size_t errlen;
	int rc;
};

static const char *const keywords[] = {
	"package", "import", "default", "else", "if", "contains", "in", "every", "some",
	"not", "with", "as", "true", "false", "null", NULL,
};

static int fail(struct ps *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record the first error only: later ones are consequences of it. */
static int fail(struct ps *p, int rc, const char *fmt, ...)
{
	va_list ap;
	char msg[200];

	if (p->rc)
		return p->rc;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctfs_seterr(p->err, p->errlen, "line %u: %s", p->t[p->i].line, msg);
	p->rc = rc;
	return rc;
}

static const struct rg_token *cur(struct ps *p)
{
	return &p->t[p->i];
}

static bool is(struct ps *p, const char *text)
{
	return rg_tok_is(cur(p), text);
}

static bool accept(struct ps *p, const char *text)
{
	if (!is(p, text))
		return false;
	p->i++;
	return true;
}

static int expect(struct ps *p, const char *text)
{
	if (accept(p, text))
		return 0;
	return fail(p, -EINVAL, "expected '%s' but found '%.*s'", text,
		    cur(p)->kind == TOK_EOF ? 3 : (int)(cur(p)->len > 20 ? 20 : cur(p)->len),
		    cur(p)->kind == TOK_EOF ? "end" : cur(p)->kind == TOK_STR ? "\"" : cur(p)->p);
}

static bool is_keyword(const struct rg_token *t)
{
	for (int k = 0; keywords[k]; k++)
		if (rg_tok_is(t, keywords[k]))
			return true;
	return false;
}

static void *node(struct ps *p, size_t size)
{
	void *x;

	if (++*p->nodes > p->max_nodes) {
		fail(p, -E2BIG, "policy too large (more than %zu syntax nodes)", p->max_nodes);
		return NULL;
	}
	x = rg_alloc(p->a, size);
	if (!x)
		fail(p, p->a->over ? -E2BIG : -ENOMEM, "out of memory while parsing");
	return x;
}

static struct rg_term *term_new(struct ps *p, enum rg_tkind k)
{
	struct rg_term *t = node(p, sizeof(*t));

	if (t) {
		t->kind = (unsigned char)k;
		t->line = cur(p)->line;
		t->slot = -1;
	}
	return t;
}

static struct rg_term *val_term(struct ps *p, struct rg_val *v)
{
	struct rg_term *t = v ? term_new(p, TK_VAL) : NULL;

	if (t)
		t->val = v;
	else if (!v)
		fail(p, -ENOMEM, "out of memory");
	return t;
}

static char *tokdup(struct ps *p, const struct rg_token *t)
{
	char *s = rg_strndup(p->a, t->p, t->len);

	if (!s)
		fail(p, -ENOMEM, "out of memory");
	return s;
}

/* Growable term list in the arena. */
struct tlist {
	struct rg_term **v;
	size_t n, cap;
};

static int push(struct ps *p, struct tlist *l, void *x)
{
	if (!x)
		return p->rc ? p->rc : -ENOMEM;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct rg_term **nv = rg_allocn(p->a, cap, sizeof(*nv));

		if (!nv)
			return fail(p, -ENOMEM, "out of memory");
		if (l->n)
			memcpy(nv, l->v, l->n * sizeof(*nv));
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = x;
	return 0;
}

static int enter(struct ps *p)
{
	if (++p->depth > p->max_depth)
		return fail(p, -E2BIG, "policy nested too deeply (more than %u levels)", p->max_depth);
	return 0;
}

static struct rg_term *call_term(struct ps *p, const char *name, struct rg_term *x, struct rg_term *y)
{
	struct rg_term *t = term_new(p, TK_CALL);

	if (!t || !x || !y)
		return NULL;
	t->name = name;
	t->items = rg_allocn(p->a, 2, sizeof(*t->items));
	if (!t->items)
		return NULL;
	t->items[0] = x;
	t->items[1] = y;
	t->n = 2;
	return t;
}

static struct rg_term *parse_term(struct ps *p);
static struct rg_term *parse_rel(struct ps *p);
static struct rg_body *parse_body_braced(struct ps *p);
static struct rg_body *parse_body_until(struct ps *p, const char *close);

/* A newline ends an expression when newlines separate statements. */
static bool stop_nl(struct ps *p)
{
	return p->nlsig && cur(p)->nl_before;
}

/* `.name`, `[term]` and `(args)` directly after a term (no blank between). */
static struct rg_term *ref_push(struct ps *p, struct rg_term *t, struct rg_term *operand)
{
	struct rg_term *r;

	if (!operand)
		return NULL;
	if (t->kind == TK_REF) {
		struct rg_term **nv = rg_allocn(p->a, t->n + 1, sizeof(*nv));

		if (!nv)
			return NULL;
		memcpy(nv, t->items, t->n * sizeof(*nv));
		nv[t->n++] = operand;
		t->items = nv;
		return t;
	}
	r = term_new(p, TK_REF);
	if (!r || !(r->items = rg_allocn(p->a, 2, sizeof(*r->items))))
		return NULL;
	r->line = t->line;
	r->items[0] = t;
	r->items[1] = operand;
	r->n = 2;
	return r;
}

/* The dotted name of a call target: a var followed by .name operands. */
static char *call_name(struct ps *p, const struct rg_term *t)
{
	struct ctfs_buf b = { 0 };
	const struct rg_term *head = t->kind == TK_REF ? t->items[0] : t;
	size_t n = t->kind == TK_REF ? t->n : 1;
	char *s = NULL;
	int rc;

	if (head->kind != TK_VAR)
		return NULL;
	rc = ctfs_buf_puts(&b, head->name);
	for (size_t i = 1; !rc && i < n; i++) {
		const struct rg_term *o = t->items[i];

		if (o->kind != TK_VAL || o->val->type != RG_STR || memchr(o->val->s, '.', o->val->len)) {
			ctfs_buf_free(&b);
			return NULL;
		}
		rc = ctfs_buf_printf(&b, ".%.*s", (int)o->val->len, o->val->s);
	}
	if (!rc)
		s = rg_strndup(p->a, (const char *)b.data, b.len);
	ctfs_buf_free(&b);
	return s;
}

static int parse_args(struct ps *p, struct tlist *args, const char *close)
{
	bool save = p->nlsig, bar = p->no_bar;
	int rc = 0;

	p->nlsig = false;
	p->no_bar = false;
	if (!accept(p, close)) {
		do {
			if ((rc = push(p, args, parse_term(p))))
				break;
		} while (accept(p, ","));
		if (!rc)
			rc = expect(p, close);
	}
	p->nlsig = save;
	p->no_bar = bar;
	return rc ? rc : p->rc;
}

static struct rg_term *parse_call(struct ps *p, struct rg_term *target)
{
	struct tlist args = { 0 };
	char *name = call_name(p, target);
	struct rg_term *t;

	if (!name) {
		fail(p, -EINVAL, "only named functions can be called");
		return NULL;
	}
	p->i++; /* ( */
	if (parse_args(p, &args, ")"))
		return NULL;
	if (!strcmp(name, "set") && args.n == 0) {
		struct rg_val *e = rg_set(p->a, NULL, 0);

		return val_term(p, e);
	}
	t = term_new(p, TK_CALL);
	if (!t)
		return NULL;
	t->line = target->line;
	t->name = name;
	t->items = args.v;
	t->n = args.n;
	return t;
}

static struct rg_term *parse_postfix(struct ps *p, struct rg_term *t)
{
	while (t && !cur(p)->ws_before) {
		if (is(p, ".")) {
			p->i++;
			if (cur(p)->kind != TOK_IDENT || cur(p)->ws_before) {
				fail(p, -EINVAL, "expected a name after '.'");
				return NULL;
			}
			t = ref_push(p, t, val_term(p, rg_str(p->a, cur(p)->p, cur(p)->len)));
			p->i++;
		} else if (is(p, "[")) {
			bool save = p->nlsig, bar = p->no_bar;
			struct rg_term *o;

			p->i++;
			p->nlsig = p->no_bar = false;
			o = parse_term(p);
			p->nlsig = save;
			p->no_bar = bar;
			if (!o || expect(p, "]"))
				return NULL;
			t = ref_push(p, t, o);
		} else if (is(p, "(")) {
			t = parse_call(p, t);
		} else {
			break;
		}
	}
	return t;
}

static struct rg_term *comprehension(struct ps *p, enum rg_tkind k, struct rg_term *key,
				     struct rg_term *value, const char *close)
{
	struct rg_term *t = term_new(p, k);

	if (!t)
		return NULL;
	t->key = key;
	t->value = value;
	t->body = parse_body_until(p, close);
	return t->body ? t : NULL;
}

/* `[` already consumed: an array or an array comprehension. */
static struct rg_term *parse_array(struct ps *p)
{
	struct tlist items = { 0 };
	struct rg_term *t, *first;

	if (accept(p, "]"))
		goto done;
	p->no_bar = true;
	first = parse_term(p);
	p->no_bar = false;
	if (!first)
		return NULL;
	if (accept(p, "|"))
		return comprehension(p, TK_ACOMP, NULL, first, "]");
	if (push(p, &items, first))
		return NULL;
	while (accept(p, ",")) {
		if (is(p, "]"))
			break;
		if (push(p, &items, parse_term(p)))
			return NULL;
	}
	if (expect(p, "]"))
		return NULL;
done:
	t = term_new(p, TK_ARR);
	if (t) {
		t->items = items.v;
		t->n = items.n;
	}
	return t;
}

static struct rg_term *parse_object_rest(struct ps *p, struct rg_term *k0, struct rg_term *v0)
{
	struct tlist keys = { 0 }, vals = { 0 };
	struct rg_term *t;

	if (push(p, &keys, k0) || push(p, &vals, v0))
		return NULL;
	while (accept(p, ",")) {
		if (is(p, "}"))
			break;
		if (push(p, &keys, parse_term(p)) || expect(p, ":") || push(p, &vals, parse_term(p)))
			return NULL;
	}
	if (expect(p, "}"))
		return NULL;
	t = term_new(p, TK_OBJ);
	if (t) {
		t->items = keys.v;
		t->vals = vals.v;
		t->n = keys.n;
	}
	return t;
}

static struct rg_term *parse_set_rest(struct ps *p, struct rg_term *first)
{
	struct tlist items = { 0 };
	struct rg_term *t;

	if (push(p, &items, first))
		return NULL;
	while (accept(p, ",")) {
		if (is(p, "}"))
			break;
		if (push(p, &items, parse_term(p)))
			return NULL;
	}
	if (expect(p, "}"))
		return NULL;
	t = term_new(p, TK_SET);
	if (t) {
		t->items = items.v;
		t->n = items.n;
	}
	return t;
}

/* `{` already consumed: object, set, or their comprehensions. */
static struct rg_term *parse_brace(struct ps *p)
{
	struct rg_term *first, *val;

	if (accept(p, "}")) {
		struct rg_term *t = term_new(p, TK_OBJ);

		return t;
	}
	p->no_bar = true;
	first = parse_term(p);
	if (!first)
		return NULL;
	if (accept(p, ":")) {
		val = parse_term(p);
		p->no_bar = false;
		if (!val)
			return NULL;
		if (accept(p, "|"))
			return comprehension(p, TK_OCOMP, first, val, "}");
		return parse_object_rest(p, first, val);
	}
	p->no_bar = false;
	if (accept(p, "|"))
		return comprehension(p, TK_SCOMP, NULL, first, "}");
	return parse_set_rest(p, first);
}

static struct rg_term *parse_negative(struct ps *p)
{
	const struct rg_token *t;

	p->i++;
	t = cur(p);
	if (t->kind == TOK_NUM && !t->ws_before) {
		char buf[72];

		if (t->len > 64) {
			fail(p, -EINVAL, "number literal too long");
			return NULL;
		}
		snprintf(buf, sizeof(buf), "-%.*s", (int)t->len, t->p);
		p->i++;
		return val_term(p, rg_num_text(p->a, buf, strlen(buf)));
	}
	return call_term(p, "minus", val_term(p, rg_int(p->a, 0)), parse_postfix(p, parse_term(p)));
}

static struct rg_term *parse_ident(struct ps *p)
{
	const struct rg_token *tok = cur(p);
	struct rg_term *t;

	if (rg_tok_is(tok, "true") || rg_tok_is(tok, "false") || rg_tok_is(tok, "null")) {
		p->i++;
		return val_term(p, rg_tok_is(tok, "null") ? &rg_null : rg_bool(rg_tok_is(tok, "true")));
	}
	/* contains(s, t) is a builtin as well as a keyword */
	if (is_keyword(tok) && !(rg_tok_is(tok, "contains") && tok[1].kind != TOK_EOF &&
				 rg_tok_is(&tok[1], "(") && !tok[1].ws_before)) {
		fail(p, -EINVAL, "unexpected keyword '%.*s'", (int)tok->len, tok->p);
		return NULL;
	}
	t = term_new(p, TK_VAR);
	if (!t || !(t->name = tokdup(p, tok)))
		return NULL;
	t->wildcard = !strcmp(t->name, "_");
	p->i++;
	return t;
}

static struct rg_term *parse_primary(struct ps *p)
{
	const struct rg_token *tok = cur(p);
	struct rg_term *t = NULL;
	bool save = p->nlsig, bar = p->no_bar;

	if (enter(p))
		return NULL;
	if (tok->kind == TOK_NUM) {
		p->i++;
		t = val_term(p, rg_num_text(p->a, tok->p, tok->len));
		if (!t)
			fail(p, -EINVAL, "malformed number");
	} else if (tok->kind == TOK_STR) {
		p->i++;
		t = val_term(p, tok->str);
	} else if (tok->kind == TOK_IDENT) {
		t = parse_ident(p);
	} else if (is(p, "-")) {
		t = parse_negative(p);
	} else if (is(p, "[") || is(p, "{") || is(p, "(")) {
		p->i++;
		p->nlsig = false;
		p->no_bar = false;
		if (rg_tok_is(tok, "["))
			t = parse_array(p);
		else if (rg_tok_is(tok, "{"))
			t = parse_brace(p);
		else if ((t = parse_term(p)) && expect(p, ")"))
			t = NULL;
		p->nlsig = save;
		p->no_bar = bar;
	} else {
		fail(p, -EINVAL, "expected a term but found '%.*s'",
		     tok->kind == TOK_EOF ? 3 : (int)tok->len, tok->kind == TOK_EOF ? "end" : tok->p);
	}
	t = parse_postfix(p, t);
	p->depth--;
	return t;
}

struct binop {
	const char *op, *fn;
};

static const struct binop factor_ops[] = { { "*", "mul" }, { "/", "div" }, { "%", "rem" }, { 0 } };
static const struct binop arith_ops[] = { { "+", "plus" }, { "-", "minus" }, { 0 } };
static const struct binop and_ops[] = { { "&", "and" }, { 0 } };
static const struct binop or_ops[] = { { "|", "or" }, { 0 } };
static const struct binop rel_ops[] = {
	{ "==", "equal" }, { "!=", "neq" }, { "<=", "lte" }, { ">=", "gte" },
	{ "<", "lt" }, { ">", "gt" }, { 0 },
};

static const struct binop *find_op(struct ps *p, const struct binop *ops)
{
	if (stop_nl(p) || cur(p)->kind != TOK_OP)
		return NULL;
	if (p->no_bar && is(p, "|"))
		return NULL;
	for (; ops->op; ops++)
		if (is(p, ops->op))
			return ops;
	return NULL;
}

typedef struct rg_term *(*level_fn)(struct ps *p);

static struct rg_term *binary(struct ps *p, level_fn next, const struct binop *ops)
{
	struct rg_term *l = next(p);
	const struct binop *op;

	while (l && (op = find_op(p, ops))) {
		p->i++;
		l = call_term(p, op->fn, l, next(p));
	}
	return l;
}

static struct rg_term *parse_factor(struct ps *p) { return binary(p, parse_primary, factor_ops); }
static struct rg_term *parse_arith(struct ps *p) { return binary(p, parse_factor, arith_ops); }
static struct rg_term *parse_and(struct ps *p) { return binary(p, parse_arith, and_ops); }
static struct rg_term *parse_or(struct ps *p) { return binary(p, parse_and, or_ops); }
static struct rg_term *parse_rel(struct ps *p) { return binary(p, parse_or, rel_ops); }

/* Membership: `x in xs` (and `k, v in xs` is refused outside some/every). */
static struct rg_term *parse_term(struct ps *p)
{
	struct rg_term *l = parse_rel(p);

	while (l && !stop_nl(p) && is(p, "in")) {
		p->i++;
		l = call_term(p, "internal.member_2", l, parse_rel(p));
	}
	return l;
}

static struct rg_expr *expr_new(struct ps *p, enum rg_ekind k)
{
	struct rg_expr *e = node(p, sizeof(*e));

	if (e) {
		e->kind = (unsigned char)k;
		e->line = cur(p)->line;
	}
	return e;
}

/* `some x, y` or `some [k,] v in xs`. */
static struct rg_expr *parse_some(struct ps *p)
{
	struct tlist vars = { 0 };
	struct rg_expr *e = expr_new(p, EX_SOME);

	if (!e)
		return NULL;
	do {
		if (push(p, &vars, parse_rel(p)))
			return NULL;
	} while (vars.n < 3 && accept(p, ","));
	if (accept(p, "in")) {
		if (vars.n > 2) {
			fail(p, -EINVAL, "'some ... in' takes one or two variables");
			return NULL;
		}
		e->kind = EX_SOMEIN;
		e->a = vars.n == 2 ? vars.v[0] : NULL;
		e->b = vars.v[vars.n - 1];
		e->c = parse_rel(p);
		return e->c ? e : NULL;
	}
	for (size_t i = 0; i < vars.n; i++) {
		if (vars.v[i]->kind != TK_VAR) {
			fail(p, -EINVAL, "'some' declares variables (or iterates with 'in')");
			return NULL;
		}
	}
	e->somevars = vars.v;
	e->nsome = vars.n;
	return e;
}

static struct rg_expr *parse_every(struct ps *p)
{
	struct rg_expr *e = expr_new(p, EX_EVERY);
	struct rg_term *first;

	if (!e || !(first = parse_rel(p)))
		return NULL;
	if (accept(p, ",")) {
		e->a = first;
		if (!(e->b = parse_rel(p)))
			return NULL;
	} else {
		e->b = first;
	}
	if ((e->a && e->a->kind != TK_VAR) || e->b->kind != TK_VAR) {
		fail(p, -EINVAL, "'every' takes one or two variables");
		return NULL;
	}
	if (expect(p, "in") || !(e->c = parse_rel(p)))
		return NULL;
	if (!is(p, "{")) {
		fail(p, -EINVAL, "expected '{' after 'every ... in ...'");
		return NULL;
	}
	e->body = parse_body_braced(p);
	return e->body ? e : NULL;
}

static int parse_with(struct ps *p, struct rg_expr *e)
{
	struct rg_with w[16];
	size_t n = 0;

	while (!stop_nl(p) && accept(p, "with")) {
		if (n == CTFS_ARRAY_LEN(w))
			return fail(p, -EINVAL, "too many 'with' modifiers");
		if (!(w[n].target = parse_postfix(p, parse_ident(p))) || expect(p, "as") ||
		    !(w[n].value = parse_term(p)))
			return p->rc ? p->rc : -EINVAL;
		n++;
	}
	if (!n)
		return 0;
	e->with = rg_allocn(p->a, n, sizeof(*e->with));
	if (!e->with)
		return fail(p, -ENOMEM, "out of memory");
	memcpy(e->with, w, n * sizeof(*w));
	e->nwith = n;
	return 0;
}

static struct rg_expr *parse_literal(struct ps *p)
{
	struct rg_expr *e;
	bool neg = false;

	if (enter(p))
		return NULL;
	if (accept(p, "some")) {
		e = parse_some(p);
		goto out;
	}
	if (accept(p, "every")) {
		e = parse_every(p);
		goto out;
	}
	if (accept(p, "not"))
		neg = true;
	e = expr_new(p, EX_TERM);
	if (!e || !(e->a = parse_term(p)))
		goto fail;
	if (!stop_nl(p) && (is(p, ":=") || is(p, "="))) {
		e->kind = is(p, ":=") ? EX_ASSIGN : EX_UNIFY;
		p->i++;
		if (!(e->b = parse_term(p)))
			goto fail;
	}
	if (!stop_nl(p) && is(p, ",")) {
		fail(p, -EINVAL, "'x, y in xs' outside 'some'/'every' is not supported");
		goto fail;
	}
	e->neg = neg;
	if (parse_with(p, e))
		goto fail;
out:
	p->depth--;
	return e;
fail:
	p->depth--;
	return NULL;
}

/* Literals up to `close`, separated by ';' or newlines. */
static struct rg_body *parse_body_until(struct ps *p, const char *close)
{
	struct tlist lits = { 0 };
	struct rg_body *b;
	bool save = p->nlsig, bar = p->no_bar;

	if (enter(p))
		return NULL;
	p->nlsig = true;
	p->no_bar = false;
	while (!is(p, close)) {
		if (cur(p)->kind == TOK_EOF) {
			fail(p, -EINVAL, "missing '%s'", close);
			return NULL;
		}
		if (lits.n && !cur(p)->nl_before && !accept(p, ";")) {
			fail(p, -EINVAL, "expected a new line or ';' between expressions, found '%.*s'",
			     (int)cur(p)->len, cur(p)->p);
			return NULL;
		}
		while (accept(p, ";"))
			;
		if (is(p, close))
			break;
		if (push(p, &lits, parse_literal(p)))
			return NULL;
	}
	p->i++;
	p->nlsig = save;
	p->no_bar = bar;
	p->depth--;
	if (!lits.n) {
		fail(p, -EINVAL, "empty body");
		return NULL;
	}
	b = node(p, sizeof(*b));
	if (b) {
		b->e = (struct rg_expr **)lits.v;
		b->n = lits.n;
	}
	return b;
}

static struct rg_body *parse_body_braced(struct ps *p)
{
	if (expect(p, "{"))
		return NULL;
	return parse_body_until(p, "}");
}

static struct rg_body *true_body(struct ps *p)
{
	struct rg_body *b = node(p, sizeof(*b));

	return b; /* n == 0: always true */
}

/* After `if`: a braced body or a single literal. */
static struct rg_body *parse_if_body(struct ps *p)
{
	struct rg_body *b;
	struct rg_expr *e;

	if (is(p, "{")) {
		/* `if {}` is not valid; `if {x | ...}`/`if {"a": 1}` as a term is unusual: treat `{` as a body */
		return parse_body_braced(p);
	}
	b = node(p, sizeof(*b));
	if (!b || !(b->e = rg_alloc(p->a, sizeof(*b->e))))
		return NULL;
	p->nlsig = true;
	e = parse_literal(p);
	if (!e)
		return NULL;
	b->e[0] = e;
	b->n = 1;
	return b;
}

static int v0_body(struct ps *p)
{
	return fail(p, -EINVAL, "'{' after a rule head without 'if' is Rego v0 syntax; "
		    "Rego v1 (what upstream evaluates) requires 'if' before a rule body");
}

static struct rg_rule *rule_new(struct ps *p, const char *name, unsigned line)
{
	struct rg_rule *r = node(p, sizeof(*r));

	if (r) {
		r->name = name;
		r->line = line;
	}
	return r;
}

static int parse_value_and_body(struct ps *p, struct rg_rule *r, bool need_value_op)
{
	if (is(p, ":=") || is(p, "=")) {
		p->i++;
		if (!(r->value = parse_term(p)))
			return p->rc;
	} else if (need_value_op) {
		return fail(p, -EINVAL, "expected ':=' or '=' after 'else'");
	}
	if (!r->value && !(r->value = val_term(p, &rg_true)))
		return p->rc;
	if (!stop_nl(p) && accept(p, "if"))
		r->body = parse_if_body(p);
	else if (is(p, "{") && !stop_nl(p))
		return v0_body(p);
	else
		r->body = true_body(p);
	return r->body ? 0 : (p->rc ? p->rc : -ENOMEM);
}

static int parse_else(struct ps *p, struct rg_rule *r)
{
	struct rg_rule *prev = r;

	while (accept(p, "else")) {
		struct rg_rule *e = rule_new(p, r->name, cur(p)->line);
		int rc;

		if (!e)
			return p->rc;
		e->kind = r->kind;
		e->args = r->args;
		e->nargs = r->nargs;
		if (!is(p, ":=") && !is(p, "=") && !is(p, "if"))
			return fail(p, -EINVAL, "expected ':=', '=' or 'if' after 'else'");
		if ((rc = parse_value_and_body(p, e, false)))
			return rc;
		prev->els = e;
		prev = e;
	}
	return 0;
}

static int parse_head_key(struct ps *p, struct rg_rule *r)
{
	bool save = p->nlsig;

	p->i++; /* [ */
	p->nlsig = false;
	r->key = parse_term(p);
	p->nlsig = save;
	if (!r->key || expect(p, "]"))
		return p->rc ? p->rc : -EINVAL;
	if (is(p, "[") || is(p, "."))
		return fail(p, -EINVAL, "rule heads with nested references (p[x][y], p[x].y) are not supported");
	r->kind = R_OBJ;
	if (!is(p, ":=") && !is(p, "=")) {
		if (is(p, "{") || !is(p, "if"))
			return fail(p, -EINVAL, "'%s[x]' without ':= value' is Rego v0 partial set syntax; "
				    "Rego v1 spells it '%s contains x if { ... }'", r->name, r->name);
	}
	return 0;
}

static struct rg_rule *parse_rule(struct ps *p)
{
	bool dflt = accept(p, "default");
	const struct rg_token *tok = cur(p);
	struct rg_rule *r;
	int rc;

	if (tok->kind != TOK_IDENT || is_keyword(tok)) {
		fail(p, -EINVAL, "expected a rule name but found '%.*s'",
		     tok->kind == TOK_EOF ? 3 : (int)tok->len, tok->kind == TOK_EOF ? "end" : tok->p);
		return NULL;
	}
	if (!(r = rule_new(p, tokdup(p, tok), tok->line)) || !r->name)
		return NULL;
	p->i++;
	r->is_default = dflt;
	p->nlsig = true;
	if (is(p, ".") && !cur(p)->ws_before) {
		fail(p, -EINVAL, "rule heads with a dotted reference ('%s.…') are not supported", r->name);
		return NULL;
	}
	if (is(p, "(") && !cur(p)->ws_before) {
		struct tlist args = { 0 };

		p->i++;
		if (parse_args(p, &args, ")"))
			return NULL;
		r->kind = R_FUNC;
		r->args = args.v;
		r->nargs = args.n;
		if (!args.n) {
			fail(p, -EINVAL, "functions need at least one parameter");
			return NULL;
		}
	} else if (is(p, "[") && !cur(p)->ws_before) {
		if (parse_head_key(p, r))
			return NULL;
	} else if (accept(p, "contains")) {
		r->kind = R_SET;
		if (!(r->key = parse_term(p)))
			return NULL;
	}
	if (dflt) {
		if ((r->kind != R_COMPLETE && r->kind != R_FUNC) || (!is(p, ":=") && !is(p, "="))) {
			fail(p, -EINVAL, "'default' needs a complete rule or a function with ':= value'");
			return NULL;
		}
		p->i++;
		if (!(r->value = parse_term(p)) || !(r->body = true_body(p)))
			return NULL;
		return r;
	}
	if (r->kind == R_SET && (is(p, ":=") || is(p, "="))) {
		fail(p, -EINVAL, "'contains' rules have no value");
		return NULL;
	}
	if ((rc = parse_value_and_body(p, r, false)) || (rc = parse_else(p, r)))
		return NULL;
	if (r->kind == R_SET && r->els) {
		fail(p, -EINVAL, "'else' is not allowed on 'contains' rules");
		return NULL;
	}
	if (!cur(p)->nl_before && cur(p)->kind != TOK_EOF && !accept(p, ";")) {
		if (is(p, "{"))
			fail(p, -EINVAL, "a second body '{ ... }' after a rule is Rego v0 syntax (use separate rules)");
		else
			fail(p, -EINVAL, "unexpected '%.*s' after the rule", (int)cur(p)->len, cur(p)->p);
		return NULL;
	}
	return r;
}

/* A dotted path of names: `a.b["c"]` style operands only with strings. */
static int parse_path(struct ps *p, const char ***out, size_t *n)
{
	struct tlist parts = { 0 };

	do {
		if (cur(p)->kind != TOK_IDENT)
			return fail(p, -EINVAL, "expected a name in the package path");
		if (push(p, &parts, tokdup(p, cur(p))))
			return p->rc;
		p->i++;
	} while (!cur(p)->ws_before && accept(p, "."));
	if (is(p, "[") && !cur(p)->ws_before)
		return fail(p, -EINVAL, "package paths with brackets are not supported");
	*out = (const char **)parts.v;
	*n = parts.n;
	return 0;
}

static int parse_import(struct ps *p, struct rg_module *m, struct tlist *imps)
{
	const char **path;
	size_t n;
	struct rg_import *imp;
	struct rg_term *ref;

	if (parse_path(p, &path, &n))
		return p->rc;
	if (!strcmp(path[0], "rego") || !strcmp(path[0], "future")) {
		if ((!strcmp(path[0], "rego") && (n != 2 || strcmp(path[1], "v1"))) ||
		    (!strcmp(path[0], "future") && (n < 2 || strcmp(path[1], "keywords"))))
			return fail(p, -EINVAL, "unknown import '%s.%s'", path[0], n > 1 ? path[1] : "");
		return 0; /* keywords are always on in v1 */
	}
	if (strcmp(path[0], "data") && strcmp(path[0], "input"))
		return fail(p, -EINVAL, "imports must start with data or input");
	if (!(imp = node(p, sizeof(*imp))) || !(ref = term_new(p, TK_VAR)))
		return p->rc;
	ref->name = path[0];
	for (size_t i = 1; i < n; i++)
		if (!(ref = ref_push(p, ref, val_term(p, rg_cstr(p->a, path[i])))))
			return p->rc ? p->rc : -ENOMEM;
	imp->ref = ref;
	imp->alias = path[n - 1];
	if (accept(p, "as")) {
		if (cur(p)->kind != TOK_IDENT)
			return fail(p, -EINVAL, "expected a name after 'as'");
		imp->alias = tokdup(p, cur(p));
		p->i++;
	}
	(void)m;
	return push(p, imps, imp);
}

static int parse_module_body(struct ps *p, struct rg_module *m)
{
	struct tlist imps = { 0 }, rules = { 0 };

	if (expect(p, "package") || parse_path(p, &m->pkg, &m->npkg))
		return p->rc;
	while (accept(p, "import"))
		if (parse_import(p, m, &imps))
			return p->rc;
	while (cur(p)->kind != TOK_EOF) {
		struct rg_rule *r;

		if (is(p, "package") || is(p, "import"))
			return fail(p, -EINVAL, "'%.*s' must come before the rules", (int)cur(p)->len, cur(p)->p);
		if (!(r = parse_rule(p)))
			return p->rc ? p->rc : -EINVAL;
		r->mod = m;
		for (struct rg_rule *e = r->els; e; e = e->els)
			e->mod = m;
		if (push(p, &rules, r))
			return p->rc;
	}
	m->imports = (struct rg_import **)imps.v;
	m->nimports = imps.n;
	m->rules = (struct rg_rule **)rules.v;
	m->nrules = rules.n;
	return 0;
}

static int setup(struct ps *p, struct rg_arena *a, const char *s, size_t n,
		 const struct rg_parse_limits *lim, char *err, size_t errlen)
{
	struct rg_token *toks;
	size_t ntok;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = rg_lex(a, s, n, lim->max_nodes * 4 + 64, &toks, &ntok, err, errlen);
	if (rc)
		return rc;
	p->a = a;
	p->t = toks;
	p->n = ntok;
	p->max_depth = lim->max_depth;
	p->nodes = lim->nodes;
	p->max_nodes = lim->max_nodes;
	p->err = err;
	p->errlen = errlen;
	return 0;
}

/* The import list and the rules are stored through the generic list. */
int rg_parse_module(struct rg_arena *a, const char *s, size_t n,
		    const struct rg_parse_limits *lim, struct rg_module **out,
		    char *err, size_t errlen)
{
	struct ps p;
	struct rg_module *m;
	int rc = setup(&p, a, s, n, lim, err, errlen);

	if (rc)
		return rc;
	if (!(m = node(&p, sizeof(*m))))
		return p.rc;
	rc = parse_module_body(&p, m);
	if (rc)
		return p.rc ? p.rc : rc;
	*out = m;
	return 0;
}

int rg_parse_query(struct rg_arena *a, const char *s, size_t n,
		   const struct rg_parse_limits *lim, struct rg_body **out,
		   char *err, size_t errlen)
{
	struct ps p;
	struct tlist lits = { 0 };
	struct rg_body *b;
	int rc = setup(&p, a, s, n, lim, err, errlen);

	if (rc)
		return rc;
	p.nlsig = true;
	while (cur(&p)->kind != TOK_EOF) {
		while (accept(&p, ";"))
			;
		if (cur(&p)->kind == TOK_EOF)
			break;
		if (push(&p, &lits, parse_literal(&p)))
			return p.rc ? p.rc : -EINVAL;
		if (cur(&p)->kind != TOK_EOF && !cur(&p)->nl_before && !is(&p, ";"))
			return fail(&p, -EINVAL, "unexpected '%.*s' in the query", (int)cur(&p)->len, cur(&p)->p);
	}
	if (!lits.n)
		return fail(&p, -EINVAL, "empty query");
	if (!(b = node(&p, sizeof(*b))))
		return p.rc;
	b->e = (struct rg_expr **)lits.v;
	b->n = lits.n;
	*out = b;
	return 0;
}
