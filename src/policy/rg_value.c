/* Rego values: construction, OPA's ordering, lookups and canonical JSON. */
#include "policy/rg_value.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rg_val rg_null = { .type = RG_NULL };
struct rg_val rg_true = { .type = RG_BOOL, .b = true };
struct rg_val rg_false = { .type = RG_BOOL, .b = false };

struct rg_val *rg_new(struct rg_arena *a, enum rg_type t)
{
	struct rg_val *v = rg_alloc(a, sizeof(*v));

	if (v)
		v->type = (uint8_t)t;
	return v;
}

struct rg_val *rg_bool(bool b)
{
	return b ? &rg_true : &rg_false;
}

struct rg_val *rg_int(struct rg_arena *a, int64_t i)
{
	struct rg_val *v = rg_new(a, RG_NUM);

	if (v) {
		v->isint = true;
		v->i = i;
		v->f = (long double)i;
	}
	return v;
}

struct rg_val *rg_float(struct rg_arena *a, long double f)
{
	struct rg_val *v;

	/* 2^63 is exactly representable: the range test is exact */
	if (f == floorl(f) && f >= -9223372036854775808.0L && f < 9223372036854775808.0L)
		return rg_int(a, (int64_t)f);
	v = rg_new(a, RG_NUM);
	if (v)
		v->f = f;
	return v;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool num_syntax(const char *s, size_t n, bool *isint)
{
	size_t i = 0;

	*isint = true;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n || s[i] < '0' || s[i] > '9')
		return false;
	if (s[i] == '0')
		i++;
	else
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	if (i < n && s[i] == '.') {
		*isint = false;
		if (++i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		*isint = false;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

struct rg_val *rg_num_text(struct rg_arena *a, const char *s, size_t n)
{
	char tmp[64], *end;
	bool isint;
	struct rg_val *v;
	char *copy;

	if (!num_syntax(s, n, &isint) || n >= sizeof(tmp))
		return NULL;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	v = rg_new(a, RG_NUM);
	copy = rg_strndup(a, s, n);
	if (!v || !copy)
		return NULL;
	v->text = copy;
	errno = 0;
	if (isint) {
		long long ll = strtoll(tmp, &end, 10);

		if (errno == 0) {
			v->isint = true;
			v->i = ll;
			v->f = (long double)ll;
			return v;
		}
	}
	errno = 0;
	v->f = strtold(tmp, &end);
	if (!isfinite(v->f))
		return NULL;
	return v;
}

struct rg_val *rg_str(struct rg_arena *a, const char *s, size_t n)
{
	struct rg_val *v = rg_new(a, RG_STR);
	char *p = rg_strndup(a, s, n);

	if (!v || !p)
		return NULL;
	v->s = p;
	v->len = n;
	return v;
}

struct rg_val *rg_cstr(struct rg_arena *a, const char *s)
{
	return rg_str(a, s, strlen(s));
}

long double rg_num_ld(const struct rg_val *v)
{
	return v->isint ? (long double)v->i : v->f;
}

bool rg_num_int(const struct rg_val *v, int64_t *out)
{
	if (v->type != RG_NUM)
		return false;
	if (v->isint) {
		*out = v->i;
		return true;
	}
	if (v->f != floorl(v->f) || v->f < -9223372036854775808.0L || v->f >= 9223372036854775808.0L)
		return false;
	*out = (int64_t)v->f;
	return true;
}

static int cmp_num(const struct rg_val *x, const struct rg_val *y)
{
	if (x->isint && y->isint)
		return x->i < y->i ? -1 : x->i > y->i;
	long double a = rg_num_ld(x), b = rg_num_ld(y);

	return a < b ? -1 : a > b;
}

static int cmp_str(const struct rg_val *x, const struct rg_val *y)
{
	size_t n = x->len < y->len ? x->len : y->len;
	int c = n ? memcmp(x->s, y->s, n) : 0;

	if (c)
		return c < 0 ? -1 : 1;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int cmp_seq(struct rg_val *const *a, size_t na, struct rg_val *const *b, size_t nb)
{
	for (size_t i = 0; i < na && i < nb; i++) {
		int c = rg_cmp(a[i], b[i]);

		if (c)
			return c;
	}
	return na < nb ? -1 : na > nb;
}

static int cmp_obj(const struct rg_val *x, const struct rg_val *y)
{
	for (size_t i = 0; i < x->len && i < y->len; i++) {
		int c = rg_cmp(x->a[i], y->a[i]);

		if (c)
			return c;
		c = rg_cmp(x->v[i], y->v[i]);
		if (c)
			return c;
	}
	return x->len < y->len ? -1 : x->len > y->len;
}

int rg_cmp(const struct rg_val *x, const struct rg_val *y)
{
	if (x == y)
		return 0;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	switch (x->type) {
	case RG_NULL:
		return 0;
	case RG_BOOL:
		return (int)x->b - (int)y->b;
	case RG_NUM:
		return cmp_num(x, y);
	case RG_STR:
		return cmp_str(x, y);
	case RG_OBJ:
		return cmp_obj(x, y);
	default:
		return cmp_seq(x->a, x->len, y->a, y->len);
	}
}

long rg_find(const struct rg_val *coll, const struct rg_val *key)
{
	size_t lo = 0, hi = coll->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = rg_cmp(coll->a[mid], key);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

struct rg_val *rg_obj_get(const struct rg_val *obj, const struct rg_val *key)
{
	long i = obj->type == RG_OBJ ? rg_find(obj, key) : -1;

	return i < 0 ? NULL : obj->v[i];
}

struct rg_val *rg_obj_getc(const struct rg_val *obj, const char *key)
{
	struct rg_val k = { .type = RG_STR, .s = key, .len = strlen(key) };

	return rg_obj_get(obj, &k);
}

struct rg_val *rg_array(struct rg_arena *a, struct rg_val *const *items, size_t n)
{
	struct rg_val *v = rg_new(a, RG_ARR);

	if (!v || !(v->a = rg_allocn(a, n, sizeof(*v->a))))
		return NULL;
	if (n)
		memcpy(v->a, items, n * sizeof(*items));
	v->len = n;
	return v;
}

/* Merge sort of indices by key: stable, so "last duplicate wins" is exact. */
static void msort(struct rg_val *const *keys, size_t *idx, size_t *tmp, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2, i = 0, j = h, k = 0;

	msort(keys, idx, tmp, h);
	msort(keys, idx + h, tmp, n - h);
	while (i < h && j < n)
		tmp[k++] = rg_cmp(keys[idx[j]], keys[idx[i]]) < 0 ? idx[j++] : idx[i++];
	while (i < h)
		tmp[k++] = idx[i++];
	while (j < n)
		tmp[k++] = idx[j++];
	memcpy(idx, tmp, n * sizeof(*idx));
}

static size_t *sorted_index(struct rg_arena *a, struct rg_val *const *keys, size_t n)
{
	size_t *idx = rg_allocn(a, n, sizeof(size_t));
	size_t *tmp = rg_allocn(a, n, sizeof(size_t));

	if (!idx || !tmp)
		return NULL;
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	msort(keys, idx, tmp, n);
	return idx;
}

struct rg_val *rg_set(struct rg_arena *a, struct rg_val *const *items, size_t n)
{
	struct rg_val *v = rg_new(a, RG_SET);
	size_t *idx = sorted_index(a, items, n);

	if (!v || !idx || !(v->a = rg_allocn(a, n, sizeof(*v->a))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (v->len && rg_eq(v->a[v->len - 1], items[idx[i]]))
			continue;
		v->a[v->len++] = items[idx[i]];
	}
	return v;
}

struct rg_val *rg_object(struct rg_arena *a, struct rg_val *const *keys, struct rg_val *const *vals, size_t n)
{
	struct rg_val *v = rg_new(a, RG_OBJ);
	size_t *idx = sorted_index(a, keys, n);

	if (!v || !idx || !(v->a = rg_allocn(a, n, sizeof(*v->a))) ||
	    !(v->v = rg_allocn(a, n, sizeof(*v->v))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (v->len && rg_eq(v->a[v->len - 1], keys[idx[i]])) {
			v->v[v->len - 1] = vals[idx[i]];
			continue;
		}
		v->a[v->len] = keys[idx[i]];
		v->v[v->len++] = vals[idx[i]];
	}
	return v;
}

const char *rg_type_name(const struct rg_val *v)
{
	static const char *const names[] = { "null", "boolean", "number", "string",
					     "array", "object", "set" };

	return names[v->type];
}

/* Shortest text that reads back to the same 64-bit-mantissa value, as Go's
 * big.Float.Text('g', -1) prints OPA's arithmetic results. */
int rg_num_print(struct ctfs_buf *b, const struct rg_val *v)
{
	char tmp[80];

	if (v->text)
		return ctfs_buf_puts(b, v->text);
	if (v->isint)
		return ctfs_buf_printf(b, "%lld", (long long)v->i);
	if (v->f == floorl(v->f))
		return ctfs_buf_printf(b, "%.0Lf", v->f);
	for (int p = 1; p <= 21; p++) {
		snprintf(tmp, sizeof(tmp), "%.*Lg", p, v->f);
		if (strtold(tmp, NULL) == v->f)
			break;
	}
	/* Go writes exponents with at least two digits: 1e-07 -> 1e-07 (same as C) */
	return ctfs_buf_puts(b, tmp);
}

static int json_str(struct ctfs_buf *b, const char *s, size_t n)
{
	int rc = ctfs_buf_putc(b, '"');

	for (size_t i = 0; !rc && i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			rc = ctfs_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			rc = ctfs_buf_puts(b, "\\n");
		else if (c == '\t')
			rc = ctfs_buf_puts(b, "\\t");
		else if (c == '\r')
			rc = ctfs_buf_puts(b, "\\r");
		else if (c < 0x20)
			rc = ctfs_buf_printf(b, "\\u%04x", c);
		else
			rc = ctfs_buf_putc(b, (char)c);
	}
	return rc ? rc : ctfs_buf_putc(b, '"');
}

/* Object keys that are not strings are written as their JSON text. */
static int json_key(struct ctfs_buf *b, const struct rg_val *k)
{
	struct ctfs_buf t = { 0 };
	int rc;

	if (k->type == RG_STR)
		return json_str(b, k->s, k->len);
	rc = rg_to_json(&t, k);
	if (!rc)
		rc = json_str(b, (const char *)t.data, t.len);
	ctfs_buf_free(&t);
	return rc;
}

int rg_to_json(struct ctfs_buf *b, const struct rg_val *v)
{
	int rc = 0;

	switch (v->type) {
	case RG_NULL:
		return ctfs_buf_puts(b, "null");
	case RG_BOOL:
		return ctfs_buf_puts(b, v->b ? "true" : "false");
	case RG_NUM:
		return rg_num_print(b, v);
	case RG_STR:
		return json_str(b, v->s, v->len);
	case RG_OBJ:
		rc = ctfs_buf_putc(b, '{');
		for (size_t i = 0; !rc && i < v->len; i++) {
			if (i)
				rc = ctfs_buf_putc(b, ',');
			if (!rc)
				rc = json_key(b, v->a[i]);
			if (!rc)
				rc = ctfs_buf_putc(b, ':');
			if (!rc)
				rc = rg_to_json(b, v->v[i]);
		}
		return rc ? rc : ctfs_buf_putc(b, '}');
	default:
		rc = ctfs_buf_putc(b, '[');
		for (size_t i = 0; !rc && i < v->len; i++) {
			if (i)
				rc = ctfs_buf_putc(b, ',');
			if (!rc)
				rc = rg_to_json(b, v->a[i]);
		}
		return rc ? rc : ctfs_buf_putc(b, ']');
	}
}
