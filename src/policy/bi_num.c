/* Builtins: comparison, arithmetic, aggregates over numbers, conversions. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rg_builtins.h"

#define A rg_ev_arena(ev)
#define RET(x) do { *out = (x); return *out ? 0 : -ENOMEM; } while (0)

static int cmp_op(struct rg_val **a, struct rg_val **out, int which)
{
	int c = rg_cmp(a[0], a[1]);
	bool r;

	switch (which) {
	case 0: r = c == 0; break;
	case 1: r = c != 0; break;
	case 2: r = c < 0; break;
	case 3: r = c <= 0; break;
	case 4: r = c > 0; break;
	default: r = c >= 0; break;
	}
	*out = rg_bool(r);
	return 0;
}

static int b_equal(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { (void)ev; return cmp_op(a, out, 0); }
static int b_neq(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { (void)ev; return cmp_op(a, out, 1); }
static int b_lt(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { (void)ev; return cmp_op(a, out, 2); }
static int b_lte(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { (void)ev; return cmp_op(a, out, 3); }
static int b_gt(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { (void)ev; return cmp_op(a, out, 4); }
static int b_gte(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { (void)ev; return cmp_op(a, out, 5); }

static int nums(struct rg_ev *ev, const char *fn, struct rg_val **a, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i]->type != RG_NUM)
			return rg_bi_type(ev, fn, i + 1, "number", a[i]);
	return 0;
}

/* Integers stay exact while they fit; otherwise 64-bit-mantissa floats. */
static int arith(struct rg_ev *ev, const char *fn, char op, struct rg_val **a, struct rg_val **out)
{
	int64_t x, y, r;
	long double f;
	int rc = nums(ev, fn, a, 2);

	if (rc)
		return rc;
	if (a[0]->isint && a[1]->isint) {
		x = a[0]->i;
		y = a[1]->i;
		bool ovf = op == '+' ? __builtin_add_overflow(x, y, &r) :
			   op == '-' ? __builtin_sub_overflow(x, y, &r) : __builtin_mul_overflow(x, y, &r);

		if (!ovf)
			RET(rg_int(A, r));
	}
	f = op == '+' ? rg_num_ld(a[0]) + rg_num_ld(a[1]) : op == '-' ? rg_num_ld(a[0]) - rg_num_ld(a[1]) :
	    rg_num_ld(a[0]) * rg_num_ld(a[1]);
	if (!isfinite(f))
		return rg_bi_err(ev, "%s: result out of range", fn);
	RET(rg_float(A, f));
}

static int b_plus(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return arith(ev, "plus", '+', a, out); }
static int b_mul(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return arith(ev, "mul", '*', a, out); }

static int set_op(struct rg_ev *ev, const char *fn, char op, struct rg_val **a, struct rg_val **out)
{
	struct rg_val **v;
	size_t n = 0;

	if (a[0]->type != RG_SET)
		return rg_bi_type(ev, fn, 1, "set", a[0]);
	if (a[1]->type != RG_SET)
		return rg_bi_type(ev, fn, 2, "set", a[1]);
	v = rg_allocn(A, a[0]->len + a[1]->len + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < a[0]->len; i++) {
		bool in = rg_find(a[1], a[0]->a[i]) >= 0;

		if (op == '|' || (op == '&' && in) || (op == '-' && !in))
			v[n++] = a[0]->a[i];
	}
	for (size_t i = 0; op == '|' && i < a[1]->len; i++)
		v[n++] = a[1]->a[i];
	RET(rg_set(A, v, n));
}

static int b_minus(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	if (a[0]->type == RG_SET && a[1]->type == RG_SET)
		return set_op(ev, "minus", '-', a, out);
	if (a[0]->type == RG_NUM && a[1]->type == RG_NUM)
		return arith(ev, "minus", '-', a, out);
	if (a[0]->type != RG_NUM && a[0]->type != RG_SET)
		return rg_bi_type(ev, "minus", 1, "number or set", a[0]);
	return rg_bi_type(ev, "minus", 2, a[0]->type == RG_SET ? "set" : "number", a[1]);
}

static int b_or(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return set_op(ev, "or", '|', a, out); }
static int b_and(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return set_op(ev, "and", '&', a, out); }

static bool is_zero(const struct rg_val *v)
{
	return v->isint ? v->i == 0 : v->f == 0;
}

static int b_div(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = nums(ev, "div", a, 2);

	if (rc)
		return rc;
	if (is_zero(a[1]))
		return rg_bi_err(ev, "div: divide by zero");
	if (a[0]->isint && a[1]->isint && a[1]->i != -1 && a[0]->i % a[1]->i == 0)
		RET(rg_int(A, a[0]->i / a[1]->i));
	RET(rg_float(A, rg_num_ld(a[0]) / rg_num_ld(a[1])));
}

static int b_rem(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t x, y;
	int rc = nums(ev, "rem", a, 2);

	if (rc)
		return rc;
	if (!rg_num_int(a[0], &x) || !rg_num_int(a[1], &y))
		return rg_bi_err(ev, "rem: modulo on floating-point number");
	if (y == 0)
		return rg_bi_err(ev, "rem: modulo by zero");
	RET(rg_int(A, y == -1 ? 0 : x % y));
}

static int unary(struct rg_ev *ev, const char *fn, struct rg_val **a, struct rg_val **out, int op)
{
	long double f;

	if (a[0]->type != RG_NUM)
		return rg_bi_type(ev, fn, 1, "number", a[0]);
	if (a[0]->isint && op != 0)
		RET(rg_int(A, a[0]->i));
	f = rg_num_ld(a[0]);
	switch (op) {
	case 0: f = fabsl(f); break;
	case 1: f = f < 0 ? ceill(f - 0.5L) : floorl(f + 0.5L); break;
	case 2: f = ceill(f); break;
	default: f = floorl(f); break;
	}
	if (a[0]->isint && a[0]->i == INT64_MIN)
		return rg_bi_err(ev, "abs: out of range");
	RET(rg_float(A, f));
}

static int b_abs(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return unary(ev, "abs", a, out, 0); }
static int b_round(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return unary(ev, "round", a, out, 1); }
static int b_ceil(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return unary(ev, "ceil", a, out, 2); }
static int b_floor(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return unary(ev, "floor", a, out, 3); }

static int b_count(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	size_t n;

	switch (a[0]->type) {
	case RG_STR: {
		n = 0;
		for (size_t i = 0; i < a[0]->len; i++)
			n += ((unsigned char)a[0]->s[i] & 0xc0) != 0x80;
		break;
	}
	case RG_ARR: case RG_OBJ: case RG_SET:
		n = a[0]->len;
		break;
	default:
		return rg_bi_type(ev, "count", 1, "any of array, object, set, string", a[0]);
	}
	RET(rg_int(A, (int64_t)n));
}

static int aggregate(struct rg_ev *ev, const char *fn, struct rg_val **a, struct rg_val **out, int op)
{
	const struct rg_val *c = a[0];
	struct rg_val *acc, *pair[2];

	if (c->type != RG_ARR && c->type != RG_SET)
		return rg_bi_type(ev, fn, 1, "any of array, set", c);
	if (op >= 2) { /* max/min of any values */
		if (!c->len)
			return RG_UNDEF;
		acc = c->a[0];
		for (size_t i = 1; i < c->len; i++)
			if ((op == 2) == (rg_cmp(c->a[i], acc) > 0))
				acc = c->a[i];
		*out = acc;
		return 0;
	}
	if (!(acc = rg_int(A, op)))
		return -ENOMEM;
	for (size_t i = 0; i < c->len; i++) {
		int rc;

		if (c->a[i]->type != RG_NUM)
			return rg_bi_err(ev, "%s: operand 1 must be any of array[number], set[number]", fn);
		pair[0] = acc;
		pair[1] = c->a[i];
		if ((rc = arith(ev, fn, op ? '*' : '+', pair, &acc)))
			return rc;
	}
	*out = acc;
	return 0;
}

static int b_sum(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return aggregate(ev, "sum", a, out, 0); }
static int b_product(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return aggregate(ev, "product", a, out, 1); }
static int b_max(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return aggregate(ev, "max", a, out, 2); }
static int b_min(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return aggregate(ev, "min", a, out, 3); }

static int b_to_number(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	const struct rg_val *v = a[0];

	switch (v->type) {
	case RG_NULL: RET(rg_int(A, 0));
	case RG_BOOL: RET(rg_int(A, v->b));
	case RG_NUM: *out = a[0]; return 0;
	case RG_STR: {
		struct rg_val *n = rg_num_text(A, v->s, v->len);
		char tmp[64], *end;

		if (n)
			RET(n);
		/* Go's ParseFloat also takes a leading '+', '.5', '5.' and the like */
		if (v->len == 0 || v->len >= sizeof(tmp))
			return rg_bi_err(ev, "strconv.ParseFloat: parsing \"%.*s\": invalid syntax", (int)v->len, v->s);
		memcpy(tmp, v->s, v->len);
		tmp[v->len] = 0;
		long double f = strtold(tmp, &end);

		if (*end || !isfinite(f) || strpbrk(tmp, "xXpP") || isspace((unsigned char)tmp[0]))
			return rg_bi_err(ev, "strconv.ParseFloat: parsing \"%s\": invalid syntax", tmp);
		RET(rg_float(A, f));
	}
	default:
		return rg_bi_type(ev, "to_number", 1, "any of null, boolean, number, string", v);
	}
}

static int b_format_int(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t base;
	long double f;
	char buf[80];
	size_t n = sizeof(buf);
	unsigned long long u;
	bool neg;

	if (a[0]->type != RG_NUM)
		return rg_bi_type(ev, "format_int", 1, "number", a[0]);
	if (a[1]->type != RG_NUM)
		return rg_bi_type(ev, "format_int", 2, "number", a[1]);
	if (!rg_num_int(a[1], &base) || (base != 2 && base != 8 && base != 10 && base != 16))
		return rg_bi_err(ev, "format_int: operand 2 must be one of {2, 8, 10, 16}");
	f = truncl(rg_num_ld(a[0]));
	neg = f < 0;
	if (fabsl(f) >= 18446744073709551616.0L)
		return rg_bi_err(ev, "format_int: number too large");
	u = (unsigned long long)fabsl(f);
	buf[--n] = 0;
	do {
		buf[--n] = "0123456789abcdef"[u % (unsigned)base];
		u /= (unsigned)base;
	} while (u);
	if (neg)
		buf[--n] = '-';
	RET(rg_cstr(A, buf + n));
}

static int b_numbers_range(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t x, y;
	struct rg_val **v;
	uint64_t n;

	if (!rg_num_int(a[0], &x))
		return rg_bi_err(ev, "numbers.range: operand 1 must be an integer");
	if (!rg_num_int(a[1], &y))
		return rg_bi_err(ev, "numbers.range: operand 2 must be an integer");
	n = (uint64_t)(x < y ? y - x : x - y) + 1;
	if (n > 1000000)
		return -E2BIG;
	v = rg_allocn(A, n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		if (!(v[i] = rg_int(A, x < y ? x + (int64_t)i : x - (int64_t)i)))
			return -ENOMEM;
	RET(rg_array(A, v, n));
}

const struct rg_builtin rg_bi_num[] = {
	{ "equal", 2, b_equal }, { "neq", 2, b_neq }, { "lt", 2, b_lt }, { "lte", 2, b_lte },
	{ "gt", 2, b_gt }, { "gte", 2, b_gte },
	{ "plus", 2, b_plus }, { "minus", 2, b_minus }, { "mul", 2, b_mul }, { "div", 2, b_div },
	{ "rem", 2, b_rem }, { "abs", 1, b_abs }, { "round", 1, b_round }, { "ceil", 1, b_ceil },
	{ "floor", 1, b_floor }, { "or", 2, b_or }, { "and", 2, b_and },
	{ "count", 1, b_count }, { "sum", 1, b_sum }, { "product", 1, b_product },
	{ "max", 1, b_max }, { "min", 1, b_min }, { "to_number", 1, b_to_number },
	{ "format_int", 2, b_format_int }, { "numbers.range", 2, b_numbers_range },
	{ NULL, 0, NULL },
};
