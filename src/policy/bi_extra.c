/* Builtins beyond the core list that are cheap and exact: more string,
 * object and array helpers, bitwise operations, hex, numbers.range_step. */
#include <errno.h>
#include <string.h>

#include "policy/rg_builtins.h"

#define A rg_ev_arena(ev)
#define RET(x) do { *out = (x); return *out ? 0 : -ENOMEM; } while (0)

/* A string, or an array/set of strings, as a list. */
static int str_list(struct rg_ev *ev, const char *fn, int argn, struct rg_val *v, struct rg_val ***items, size_t *n)
{
	if (v->type == RG_STR) {
		*items = rg_allocn(A, 1, sizeof(**items));
		if (!*items)
			return -ENOMEM;
		(*items)[0] = v;
		*n = 1;
		return 0;
	}
	if (v->type != RG_ARR && v->type != RG_SET)
		return rg_bi_type(ev, fn, argn, "any of array[string], set[string], string", v);
	for (size_t i = 0; i < v->len; i++)
		if (v->a[i]->type != RG_STR)
			return rg_bi_type(ev, fn, argn, "any of array[string], set[string], string", v);
	*items = v->a;
	*n = v->len;
	return 0;
}

static int any_match(struct rg_ev *ev, const char *fn, struct rg_val **a, struct rg_val **out, bool suffix)
{
	struct rg_val **s, **b;
	size_t ns, nb;
	int rc = str_list(ev, fn, 1, a[0], &s, &ns);

	if (rc || (rc = str_list(ev, fn, 2, a[1], &b, &nb)))
		return rc;
	for (size_t i = 0; i < ns; i++)
		for (size_t j = 0; j < nb; j++)
			if (b[j]->len <= s[i]->len &&
			    !memcmp(s[i]->s + (suffix ? s[i]->len - b[j]->len : 0), b[j]->s, b[j]->len)) {
				*out = &rg_true;
				return 0;
			}
	*out = &rg_false;
	return 0;
}

static int b_any_prefix(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return any_match(ev, "strings.any_prefix_match", a, out, false); }
static int b_any_suffix(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return any_match(ev, "strings.any_suffix_match", a, out, true); }

static int b_str_reverse(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	char *o;
	size_t n;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "strings.reverse", 1, "string", a[0]);
	n = a[0]->len;
	if (!(o = rg_alloc(A, n * 3 + 1)))
		return -ENOMEM;
	/* code points in reverse order; each invalid byte is U+FFFD, as Go's []rune */
	size_t total = 0, k = 0;
	unsigned *cps = rg_allocn(A, n + 1, sizeof(*cps));

	if (!cps)
		return -ENOMEM;
	for (size_t i = 0, l; i < n; i += l)
		cps[k++] = rg_utf8_decode(a[0]->s + i, n - i, &l);
	while (k--)
		total += rg_utf8_encode(o + total, cps[k]);
	RET(rg_str(A, o, total));
}

static int b_str_count(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	const struct rg_val *s = a[0], *sub = a[1];
	int64_t n = 0;

	if (s->type != RG_STR)
		return rg_bi_type(ev, "strings.count", 1, "string", s);
	if (sub->type != RG_STR)
		return rg_bi_type(ev, "strings.count", 2, "string", sub);
	if (!sub->len)
		RET(rg_int(A, (int64_t)rg_utf8_count(s->s, s->len) + 1));
	for (size_t i = 0; i + sub->len <= s->len;) {
		if (!memcmp(s->s + i, sub->s, sub->len)) {
			n++;
			i += sub->len;
		} else {
			i++;
		}
	}
	RET(rg_int(A, n));
}

/* All (overlapping) code-point indices of sub in s. */
static int b_indexof_n(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	const struct rg_val *s = a[0], *sub = a[1];
	struct rg_val **v;
	size_t n = 0, cp = 0;

	if (s->type != RG_STR)
		return rg_bi_type(ev, "indexof_n", 1, "string", s);
	if (sub->type != RG_STR)
		return rg_bi_type(ev, "indexof_n", 2, "string", sub);
	if (!sub->len)
		return rg_bi_err(ev, "indexof_n: empty search character");
	if (!(v = rg_allocn(A, s->len + 1, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0, l; i < s->len; i += l, cp++) {
		l = rg_utf8_len(s->s + i, s->len - i);
		if (i + sub->len <= s->len && !memcmp(s->s + i, sub->s, sub->len) && !(v[n++] = rg_int(A, (int64_t)cp)))
			return -ENOMEM;
	}
	RET(rg_array(A, v, n));
}

/* strings.replace_n: at each position the first matching key (in key order) wins. */
static int b_replace_n(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	const struct rg_val *pat = a[0], *s = a[1];
	struct ctfs_buf b = { 0 };
	int rc = 0;

	if (pat->type != RG_OBJ)
		return rg_bi_type(ev, "strings.replace_n", 1, "object[string: string]", pat);
	if (s->type != RG_STR)
		return rg_bi_type(ev, "strings.replace_n", 2, "string", s);
	for (size_t k = 0; k < pat->len; k++)
		if (pat->a[k]->type != RG_STR || pat->v[k]->type != RG_STR)
			return rg_bi_err(ev, "strings.replace_n: operand 1 non-string key or value");
	for (size_t i = 0; !rc && i < s->len;) {
		size_t k;

		for (k = 0; k < pat->len; k++)
			if (pat->a[k]->len && i + pat->a[k]->len <= s->len && !memcmp(s->s + i, pat->a[k]->s, pat->a[k]->len))
				break;
		if (k < pat->len) {
			rc = ctfs_buf_append(&b, pat->v[k]->s, pat->v[k]->len);
			i += pat->a[k]->len;
		} else {
			rc = ctfs_buf_putc(&b, s->s[i++]);
		}
	}
	*out = rc ? NULL : rg_str(A, b.data ? (const char *)b.data : "", b.len);
	ctfs_buf_free(&b);
	return *out ? 0 : -ENOMEM;
}

static int b_array_reverse(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct rg_val **v;

	if (a[0]->type != RG_ARR)
		return rg_bi_type(ev, "array.reverse", 1, "array", a[0]);
	if (!(v = rg_allocn(A, a[0]->len + 1, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < a[0]->len; i++)
		v[i] = a[0]->a[a[0]->len - 1 - i];
	RET(rg_array(A, v, a[0]->len));
}

/* Keys given as an array, a set or an object's keys. */
static int key_list(struct rg_ev *ev, const char *fn, struct rg_val *k, struct rg_val **set)
{
	if (k->type == RG_ARR || k->type == RG_SET || k->type == RG_OBJ) {
		*set = rg_set(A, k->a, k->len);
		return *set ? 0 : -ENOMEM;
	}
	return rg_bi_type(ev, fn, 2, "any of array, object, set", k);
}

static int keep_keys(struct rg_ev *ev, const char *fn, struct rg_val **a, struct rg_val **out, bool keep)
{
	struct rg_val *keys = NULL, **k, **v;
	size_t n = 0;
	int rc;

	if (a[0]->type != RG_OBJ)
		return rg_bi_type(ev, fn, 1, "object", a[0]);
	if ((rc = key_list(ev, fn, a[1], &keys)))
		return rc;
	k = rg_allocn(A, a[0]->len + 1, sizeof(*k));
	v = rg_allocn(A, a[0]->len + 1, sizeof(*v));
	if (!k || !v)
		return -ENOMEM;
	for (size_t i = 0; i < a[0]->len; i++) {
		if ((rg_find(keys, a[0]->a[i]) >= 0) != keep)
			continue;
		k[n] = a[0]->a[i];
		v[n++] = a[0]->v[i];
	}
	RET(rg_object(A, k, v, n));
}

static int b_object_remove(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return keep_keys(ev, "object.remove", a, out, false); }
static int b_object_filter(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return keep_keys(ev, "object.filter", a, out, true); }

/* b's entries over a's; where both values are objects, merged recursively. */
static struct rg_val *merge(struct rg_ev *ev, struct rg_val *x, struct rg_val *y)
{
	struct rg_val **k = rg_allocn(A, x->len + y->len + 1, sizeof(*k));
	struct rg_val **v = rg_allocn(A, x->len + y->len + 1, sizeof(*v));
	size_t n = 0;

	if (!k || !v)
		return NULL;
	for (size_t i = 0; i < x->len; i++) {
		struct rg_val *w = rg_obj_get(y, x->a[i]);

		k[n] = x->a[i];
		if (!w)
			v[n] = x->v[i];
		else if (w->type == RG_OBJ && x->v[i]->type == RG_OBJ)
			v[n] = merge(ev, x->v[i], w);
		else
			v[n] = w;
		if (!v[n++])
			return NULL;
	}
	for (size_t i = 0; i < y->len; i++) {
		if (rg_obj_get(x, y->a[i]))
			continue;
		k[n] = y->a[i];
		v[n++] = y->v[i];
	}
	return rg_object(A, k, v, n);
}

static int b_object_union(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	if (a[0]->type != RG_OBJ)
		return rg_bi_type(ev, "object.union", 1, "object", a[0]);
	if (a[1]->type != RG_OBJ)
		return rg_bi_type(ev, "object.union", 2, "object", a[1]);
	RET(merge(ev, a[0], a[1]));
}

static int b_object_union_n(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct rg_val *acc;

	if (a[0]->type != RG_ARR)
		return rg_bi_type(ev, "object.union_n", 1, "array", a[0]);
	if (!(acc = rg_object(A, NULL, NULL, 0)))
		return -ENOMEM;
	for (size_t i = 0; i < a[0]->len; i++) {
		if (a[0]->a[i]->type != RG_OBJ)
			return rg_bi_type(ev, "object.union_n", 1, "array[object]", a[0]);
		if (!(acc = merge(ev, acc, a[0]->a[i])))
			return -ENOMEM;
	}
	*out = acc;
	return 0;
}

static int b_range_step(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t x, y, step;
	struct rg_val **v;
	uint64_t n;

	if (!rg_num_int(a[0], &x))
		return rg_bi_err(ev, "numbers.range_step: operand 1 must be integer");
	if (!rg_num_int(a[1], &y))
		return rg_bi_err(ev, "numbers.range_step: operand 2 must be integer");
	if (!rg_num_int(a[2], &step))
		return rg_bi_err(ev, "numbers.range_step: operand 3 must be integer");
	if (step <= 0)
		return rg_bi_err(ev, "numbers.range_step: step must be a positive number above zero");
	n = (uint64_t)(x < y ? y - x : x - y) / (uint64_t)step + 1;
	if (n > 1000000)
		return -E2BIG;
	if (!(v = rg_allocn(A, n, sizeof(*v))))
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		if (!(v[i] = rg_int(A, x < y ? x + (int64_t)i * step : x - (int64_t)i * step)))
			return -ENOMEM;
	RET(rg_array(A, v, n));
}

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

/* x << y past int64: exact while it fits 127 bits, printed as its digits. */
static int wide_shift(struct rg_ev *ev, const char *fn, int64_t x, int64_t y, struct rg_val **out)
{
	i128 v = x, lim = (i128)1 << 120;
	char buf[64];
	size_t n = sizeof(buf);
	u128 u;
	struct rg_val *r;

	for (int64_t i = 0; i < y; i++) {
		if (v >= lim || v <= -lim)
			return rg_bi_err(ev, "%s: result out of range", fn);
		v *= 2;
	}
	u = v < 0 ? (u128)(-v) : (u128)v;
	buf[--n] = 0;
	do {
		buf[--n] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	if (v < 0)
		buf[--n] = '-';
	r = rg_num_text(A, buf + n, sizeof(buf) - 1 - n);
	RET(r);
}

static int bits(struct rg_ev *ev, const char *fn, struct rg_val **a, int nargs, struct rg_val **out, char op)
{
	int64_t x, y = 0;

	if (!rg_num_int(a[0], &x) || !a[0]->isint)
		return rg_bi_type(ev, fn, 1, "int", a[0]);
	if (nargs == 2 && (!rg_num_int(a[1], &y) || !a[1]->isint))
		return rg_bi_type(ev, fn, 2, "int", a[1]);
	switch (op) {
	case '&': RET(rg_int(A, x & y));
	case '|': RET(rg_int(A, x | y));
	case '^': RET(rg_int(A, x ^ y));
	case '~': RET(rg_int(A, ~x));
	case '<':
		if (y < 0)
			return rg_bi_err(ev, "%s: operand 2 must be an unsigned integer", fn);
		if (x != 0 && (x > (INT64_MAX >> (y < 63 ? y : 63)) || x < (INT64_MIN >> (y < 63 ? y : 63)) || y >= 63))
			return wide_shift(ev, fn, x, y, out);
		RET(rg_int(A, (int64_t)((uint64_t)x << y)));
	default:
		if (y < 0)
			return rg_bi_err(ev, "%s: operand 2 must be an unsigned integer", fn);
		RET(rg_int(A, y >= 63 ? (x < 0 ? -1 : 0) : x >> y));
	}
}

static int b_bits_and(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return bits(ev, "bits.and", a, 2, out, '&'); }
static int b_bits_or(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return bits(ev, "bits.or", a, 2, out, '|'); }
static int b_bits_xor(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return bits(ev, "bits.xor", a, 2, out, '^'); }
static int b_bits_negate(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return bits(ev, "bits.negate", a, 1, out, '~'); }
static int b_bits_lsh(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return bits(ev, "bits.lsh", a, 2, out, '<'); }
static int b_bits_rsh(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return bits(ev, "bits.rsh", a, 2, out, '>'); }

static int b_hex_encode(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	char *o;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "hex.encode", 1, "string", a[0]);
	if (!(o = rg_alloc(A, a[0]->len * 2 + 1)))
		return -ENOMEM;
	for (size_t i = 0; i < a[0]->len; i++) {
		o[2 * i] = "0123456789abcdef"[(unsigned char)a[0]->s[i] >> 4];
		o[2 * i + 1] = "0123456789abcdef"[(unsigned char)a[0]->s[i] & 15];
	}
	RET(rg_str(A, o, a[0]->len * 2));
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int b_hex_decode(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	char *o;
	size_t n;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "hex.decode", 1, "string", a[0]);
	n = a[0]->len;
	if (!(o = rg_alloc(A, n / 2 + 1)))
		return -ENOMEM;
	for (size_t i = 0; i + 1 < n || i < n; i += 2) {
		int hi = hexval(a[0]->s[i]), lo = i + 1 < n ? hexval(a[0]->s[i + 1]) : -2;

		if (hi < 0 || lo == -1)
			return rg_bi_err(ev, "hex.decode: encoding/hex: invalid byte: U+%04X", (unsigned char)a[0]->s[hi < 0 ? i : i + 1]);
		if (lo == -2)
			return rg_bi_err(ev, "hex.decode: encoding/hex: odd length hex string");
		o[i / 2] = (char)(hi << 4 | lo);
	}
	RET(rg_str(A, o, n / 2));
}

static int b_quote_meta(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	char *o;
	size_t n = 0;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "glob.quote_meta", 1, "string", a[0]);
	if (!(o = rg_alloc(A, a[0]->len * 2 + 1)))
		return -ENOMEM;
	for (size_t i = 0; i < a[0]->len; i++) {
		if (strchr("*?\\[]{}", a[0]->s[i]) && a[0]->s[i])
			o[n++] = '\\';
		o[n++] = a[0]->s[i];
	}
	RET(rg_str(A, o, n));
}

const struct rg_builtin rg_bi_extra[] = {
	{ "strings.any_prefix_match", 2, b_any_prefix }, { "strings.any_suffix_match", 2, b_any_suffix },
	{ "strings.reverse", 1, b_str_reverse }, { "strings.count", 2, b_str_count },
	{ "indexof_n", 2, b_indexof_n }, { "strings.replace_n", 2, b_replace_n },
	{ "array.reverse", 1, b_array_reverse }, { "object.remove", 2, b_object_remove },
	{ "object.filter", 2, b_object_filter }, { "object.union", 2, b_object_union },
	{ "object.union_n", 1, b_object_union_n }, { "numbers.range_step", 3, b_range_step },
	{ "bits.and", 2, b_bits_and }, { "bits.or", 2, b_bits_or }, { "bits.xor", 2, b_bits_xor },
	{ "bits.negate", 1, b_bits_negate }, { "bits.lsh", 2, b_bits_lsh }, { "bits.rsh", 2, b_bits_rsh },
	{ "hex.encode", 1, b_hex_encode }, { "hex.decode", 1, b_hex_decode },
	{ "glob.quote_meta", 1, b_quote_meta },
	{ NULL, 0, NULL },
};
