/* Builtins: strings (search, case, split/join, trimming, sprintf, ...). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/rg_builtins.h"

#define A rg_ev_arena(ev)
#define RET(x) do { *out = (x); return *out ? 0 : -ENOMEM; } while (0)

static int strs(struct rg_ev *ev, const char *fn, struct rg_val **a, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i]->type != RG_STR)
			return rg_bi_type(ev, fn, i + 1, "string", a[i]);
	return 0;
}

static bool has_at(const struct rg_val *s, size_t at, const struct rg_val *p)
{
	return at + p->len <= s->len && !memcmp(s->s + at, p->s, p->len);
}

static long find(const struct rg_val *s, const struct rg_val *p, size_t from)
{
	for (size_t i = from; i + p->len <= s->len; i++)
		if (has_at(s, i, p))
			return (long)i;
	return -1;
}

static int b_startswith(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = strs(ev, "startswith", a, 2);

	if (!rc)
		*out = rg_bool(has_at(a[0], 0, a[1]));
	return rc;
}

static int b_endswith(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = strs(ev, "endswith", a, 2);

	if (!rc)
		*out = rg_bool(a[1]->len <= a[0]->len && has_at(a[0], a[0]->len - a[1]->len, a[1]));
	return rc;
}

static int b_contains(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = strs(ev, "contains", a, 2);

	if (!rc)
		*out = rg_bool(find(a[0], a[1], 0) >= 0);
	return rc;
}

static int casemap(struct rg_ev *ev, const char *fn, struct rg_val **a, struct rg_val **out, bool up)
{
	struct rg_val *v;
	char *p;
	int rc = strs(ev, fn, a, 1);

	if (rc)
		return rc;
	if (!(v = rg_str(A, a[0]->s, a[0]->len)))
		return -ENOMEM;
	p = (char *)v->s;
	for (size_t i = 0; i < v->len; i++) /* ASCII only: non-ASCII bytes pass through */
		if (!((unsigned char)p[i] & 0x80))
			p[i] = (char)(up ? toupper((unsigned char)p[i]) : tolower((unsigned char)p[i]));
	*out = v;
	return 0;
}

static int b_lower(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return casemap(ev, "lower", a, out, false); }
static int b_upper(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return casemap(ev, "upper", a, out, true); }

/* UTF-8 code point boundaries: index i of the n-th code point. */
static size_t cp_offset(const struct rg_val *s, size_t cp)
{
	size_t i = 0;

	for (size_t k = 0; k < cp && i < s->len; k++) {
		i++;
		while (i < s->len && ((unsigned char)s->s[i] & 0xc0) == 0x80)
			i++;
	}
	return i;
}

static size_t cp_count(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

static int b_split(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct rg_val **v;
	size_t n = 0, start = 0;
	int rc = strs(ev, "split", a, 2);

	if (rc)
		return rc;
	v = rg_allocn(A, a[0]->len + 2, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (a[1]->len == 0) { /* Go: split into UTF-8 sequences */
		for (size_t i = 0; i < a[0]->len;) {
			size_t j = i + 1;

			while (j < a[0]->len && ((unsigned char)a[0]->s[j] & 0xc0) == 0x80)
				j++;
			if (!(v[n++] = rg_str(A, a[0]->s + i, j - i)))
				return -ENOMEM;
			i = j;
		}
		RET(rg_array(A, v, n));
	}
	for (long at; (at = find(a[0], a[1], start)) >= 0; start = (size_t)at + a[1]->len)
		if (!(v[n++] = rg_str(A, a[0]->s + start, (size_t)at - start)))
			return -ENOMEM;
	if (!(v[n++] = rg_str(A, a[0]->s + start, a[0]->len - start)))
		return -ENOMEM;
	RET(rg_array(A, v, n));
}

static int b_concat(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct ctfs_buf b = { 0 };
	int rc = 0;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "concat", 1, "string", a[0]);
	if (a[1]->type != RG_ARR && a[1]->type != RG_SET)
		return rg_bi_type(ev, "concat", 2, "any of array[string], set[string]", a[1]);
	for (size_t i = 0; !rc && i < a[1]->len; i++) {
		if (a[1]->a[i]->type != RG_STR) {
			ctfs_buf_free(&b);
			return rg_bi_type(ev, "concat", 2, "any of array[string], set[string]", a[1]);
		}
		if (i)
			rc = ctfs_buf_append(&b, a[0]->s, a[0]->len);
		if (!rc)
			rc = ctfs_buf_append(&b, a[1]->a[i]->s, a[1]->a[i]->len);
	}
	*out = rc ? NULL : rg_str(A, b.data ? (const char *)b.data : "", b.len);
	ctfs_buf_free(&b);
	return *out ? 0 : -ENOMEM;
}

/* Is the code point at s[i..] one of cutset's? Sets *len to its size. */
static bool in_cutset(const struct rg_val *s, size_t i, const struct rg_val *cut, size_t *len)
{
	size_t j = i + 1;

	while (j < s->len && ((unsigned char)s->s[j] & 0xc0) == 0x80)
		j++;
	*len = j - i;
	for (size_t k = 0; k < cut->len;) {
		size_t m = k + 1;

		while (m < cut->len && ((unsigned char)cut->s[m] & 0xc0) == 0x80)
			m++;
		if (m - k == *len && !memcmp(cut->s + k, s->s + i, *len))
			return true;
		k = m;
	}
	return false;
}

static size_t last_cp_start(const struct rg_val *s, size_t end)
{
	size_t i = end - 1;

	while (i > 0 && ((unsigned char)s->s[i] & 0xc0) == 0x80)
		i--;
	return i;
}

static int trim_cut(struct rg_ev *ev, const char *fn, struct rg_val **a, struct rg_val **out, bool left, bool right)
{
	size_t b = 0, e, l;
	int rc = strs(ev, fn, a, 2);

	if (rc)
		return rc;
	e = a[0]->len;
	while (left && b < e && in_cutset(a[0], b, a[1], &l))
		b += l;
	while (right && e > b) {
		size_t st = last_cp_start(a[0], e);

		if (!in_cutset(a[0], st, a[1], &l))
			break;
		e = st;
	}
	RET(rg_str(A, a[0]->s + b, e - b));
}

static int b_trim(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return trim_cut(ev, "trim", a, out, true, true); }
static int b_trim_left(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return trim_cut(ev, "trim_left", a, out, true, false); }
static int b_trim_right(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return trim_cut(ev, "trim_right", a, out, false, true); }

static int b_trim_prefix(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = strs(ev, "trim_prefix", a, 2);

	if (rc)
		return rc;
	if (!has_at(a[0], 0, a[1])) {
		*out = a[0];
		return 0;
	}
	RET(rg_str(A, a[0]->s + a[1]->len, a[0]->len - a[1]->len));
}

static int b_trim_suffix(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = strs(ev, "trim_suffix", a, 2);

	if (rc)
		return rc;
	if (a[1]->len > a[0]->len || !has_at(a[0], a[0]->len - a[1]->len, a[1])) {
		*out = a[0];
		return 0;
	}
	RET(rg_str(A, a[0]->s, a[0]->len - a[1]->len));
}

/* Go's unicode.IsSpace for ASCII, plus U+0085 and U+00A0. */
static size_t space_at(const struct rg_val *s, size_t i)
{
	unsigned char c = (unsigned char)s->s[i];

	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return 1;
	if (c == 0xc2 && i + 1 < s->len && ((unsigned char)s->s[i + 1] == 0x85 || (unsigned char)s->s[i + 1] == 0xa0))
		return 2;
	return 0;
}

static int b_trim_space(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	size_t b = 0, e, l;
	int rc = strs(ev, "trim_space", a, 1);

	if (rc)
		return rc;
	e = a[0]->len;
	while (b < e && (l = space_at(a[0], b)))
		b += l;
	while (e > b) {
		size_t st = last_cp_start(a[0], e);

		if (!space_at(a[0], st) || space_at(a[0], st) != e - st)
			break;
		e = st;
	}
	RET(rg_str(A, a[0]->s + b, e - b));
}

static int b_replace(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct ctfs_buf b = { 0 };
	size_t i = 0;
	int rc = strs(ev, "replace", a, 3);

	if (rc)
		return rc;
	if (a[1]->len == 0) { /* Go: insert at every code point boundary */
		for (i = 0; !rc && i <= a[0]->len;) {
			size_t j = i + 1;

			rc = ctfs_buf_append(&b, a[2]->s, a[2]->len);
			if (i == a[0]->len)
				break;
			while (j < a[0]->len && ((unsigned char)a[0]->s[j] & 0xc0) == 0x80)
				j++;
			if (!rc)
				rc = ctfs_buf_append(&b, a[0]->s + i, j - i);
			i = j;
		}
	} else {
		while (!rc && i < a[0]->len) {
			if (has_at(a[0], i, a[1])) {
				rc = ctfs_buf_append(&b, a[2]->s, a[2]->len);
				i += a[1]->len;
			} else {
				rc = ctfs_buf_putc(&b, a[0]->s[i++]);
			}
		}
	}
	*out = rc ? NULL : rg_str(A, b.data ? (const char *)b.data : "", b.len);
	ctfs_buf_free(&b);
	return *out ? 0 : -ENOMEM;
}

static int b_indexof(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	long at;
	int rc = strs(ev, "indexof", a, 2);

	if (rc)
		return rc;
	if (a[1]->len == 0)
		return rg_bi_err(ev, "indexof: empty search character");
	at = find(a[0], a[1], 0);
	RET(rg_int(A, at < 0 ? -1 : (int64_t)cp_count(a[0]->s, (size_t)at)));
}

static int b_substring(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t off, len;
	size_t total, b, e;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "substring", 1, "string", a[0]);
	if (!rg_num_int(a[1], &off))
		return rg_bi_type(ev, "substring", 2, "number", a[1]);
	if (!rg_num_int(a[2], &len))
		return rg_bi_type(ev, "substring", 3, "number", a[2]);
	if (off < 0)
		return rg_bi_err(ev, "substring: negative offset");
	total = cp_count(a[0]->s, a[0]->len);
	if ((uint64_t)off >= total)
		RET(rg_str(A, "", 0));
	b = cp_offset(a[0], (size_t)off);
	e = (len < 0 || (uint64_t)off + (uint64_t)len > total) ? a[0]->len : cp_offset(a[0], (size_t)(off + len));
	RET(rg_str(A, a[0]->s + b, e - b));
}

/* Values as Rego prints them (sprintf %v and nested operands). */
static int rego_text(struct ctfs_buf *b, const struct rg_val *v, bool top)
{
	int rc = 0;

	switch (v->type) {
	case RG_STR:
		if (top)
			return ctfs_buf_append(b, v->s, v->len);
		return rg_to_json(b, v);
	case RG_ARR: case RG_SET:
		if (v->type == RG_SET && !v->len)
			return ctfs_buf_puts(b, "set()");
		rc = ctfs_buf_putc(b, v->type == RG_ARR ? '[' : '{');
		for (size_t i = 0; !rc && i < v->len; i++) {
			if (i)
				rc = ctfs_buf_puts(b, ", ");
			if (!rc)
				rc = rego_text(b, v->a[i], false);
		}
		return rc ? rc : ctfs_buf_putc(b, v->type == RG_ARR ? ']' : '}');
	case RG_OBJ:
		rc = ctfs_buf_putc(b, '{');
		for (size_t i = 0; !rc && i < v->len; i++) {
			if (i)
				rc = ctfs_buf_puts(b, ", ");
			if (!rc)
				rc = rego_text(b, v->a[i], false);
			if (!rc)
				rc = ctfs_buf_puts(b, ": ");
			if (!rc)
				rc = rego_text(b, v->v[i], false);
		}
		return rc ? rc : ctfs_buf_putc(b, '}');
	default:
		return rg_to_json(b, v);
	}
}

/* The formats below are built from a verb and flags checked against
 * "+- #0123456789." only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int fmt_num(struct ctfs_buf *b, const char *spec, char conv, const struct rg_val *v)
{
	char f[40];

	if (conv == 'd' && v->isint) {
		snprintf(f, sizeof(f), "%%%slld", spec);
		return ctfs_buf_printf(b, f, (long long)v->i);
	}
	if (conv == 'x' || conv == 'X' || conv == 'o' || conv == 'b') {
		int64_t i;

		if (!rg_num_int(v, &i))
			return ctfs_buf_printf(b, "%%!%c(big.Float=", conv) || rg_num_print(b, v) || ctfs_buf_putc(b, ')');
		if (conv == 'b') {
			char tmp[70];
			size_t n = sizeof(tmp);
			unsigned long long u = (unsigned long long)(i < 0 ? -i : i);

			tmp[--n] = 0;
			do { tmp[--n] = (char)('0' + (u & 1)); u >>= 1; } while (u);
			if (i < 0)
				tmp[--n] = '-';
			return ctfs_buf_puts(b, tmp + n);
		}
		snprintf(f, sizeof(f), "%s%%%sll%c", i < 0 ? "-" : "", spec, conv);
		return ctfs_buf_printf(b, f, (unsigned long long)(i < 0 ? -i : i));
	}
	if (conv == 'f' || conv == 'e' || conv == 'g' || conv == 'E' || conv == 'G') {
		snprintf(f, sizeof(f), "%%%sL%c", spec, conv);
		return ctfs_buf_printf(b, f, rg_num_ld(v));
	}
	return rg_num_print(b, v);
}

static int one_arg(struct ctfs_buf *b, const char *spec, char conv, const struct rg_val *v)
{
	if (conv == 'q' && v->type == RG_STR)
		return rg_to_json(b, v);
	if (v->type == RG_NUM && conv != 's' && conv != 'v')
		return fmt_num(b, spec, conv, v);
	if (v->type == RG_BOOL && (conv == 't' || conv == 'v' || conv == 's'))
		return ctfs_buf_puts(b, v->b ? "true" : "false");
	if (conv == 's' || conv == 'v') {
		if (*spec) {
			struct ctfs_buf t = { 0 };
			char f[40];
			int rc = rego_text(&t, v, true);

			snprintf(f, sizeof(f), "%%%s.*s", spec);
			if (!rc)
				rc = ctfs_buf_printf(b, f, (int)t.len, t.data ? (char *)t.data : "");
			ctfs_buf_free(&t);
			return rc;
		}
		return rego_text(b, v, true);
	}
	return ctfs_buf_printf(b, "%%!%c(", conv) || rego_text(b, v, true) || ctfs_buf_putc(b, ')');
}

#pragma GCC diagnostic pop

static int b_sprintf(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct ctfs_buf b = { 0 };
	const struct rg_val *f = a[0], *args = a[1];
	size_t k = 0;
	int rc = 0;

	if (f->type != RG_STR)
		return rg_bi_type(ev, "sprintf", 1, "string", f);
	if (args->type != RG_ARR)
		return rg_bi_type(ev, "sprintf", 2, "array", args);
	for (size_t i = 0; !rc && i < f->len; i++) {
		char spec[16];
		size_t sl = 0;

		if (f->s[i] != '%') {
			rc = ctfs_buf_putc(&b, f->s[i]);
			continue;
		}
		if (++i >= f->len) {
			rc = ctfs_buf_puts(&b, "%!(NOVERB)");
			break;
		}
		while (i < f->len && strchr("+- #0123456789.", f->s[i]) && sl + 1 < sizeof(spec))
			spec[sl++] = f->s[i++];
		spec[sl] = 0;
		if (i >= f->len) {
			rc = ctfs_buf_puts(&b, "%!(NOVERB)");
			break;
		}
		if (f->s[i] == '%') {
			rc = ctfs_buf_putc(&b, '%');
			continue;
		}
		if (k >= args->len) {
			rc = ctfs_buf_printf(&b, "%%!%c(MISSING)", f->s[i]);
			continue;
		}
		rc = one_arg(&b, spec, f->s[i], args->a[k++]);
	}
	if (!rc && k < args->len) {
		rc = ctfs_buf_puts(&b, "%!(EXTRA ");
		for (size_t j = k; !rc && j < args->len; j++) {
			if (j > k)
				rc = ctfs_buf_puts(&b, ", ");
			if (!rc)
				rc = ctfs_buf_printf(&b, "%s=", args->a[j]->type == RG_STR ? "string" : "*ast.Term");
			if (!rc)
				rc = rego_text(&b, args->a[j], true);
		}
		if (!rc)
			rc = ctfs_buf_putc(&b, ')');
	}
	*out = rc ? NULL : rg_str(A, b.data ? (const char *)b.data : "", b.len);
	ctfs_buf_free(&b);
	return *out ? 0 : -ENOMEM;
}

const struct rg_builtin rg_bi_str[] = {
	{ "startswith", 2, b_startswith }, { "endswith", 2, b_endswith }, { "contains", 2, b_contains },
	{ "lower", 1, b_lower }, { "upper", 1, b_upper }, { "split", 2, b_split },
	{ "concat", 2, b_concat }, { "trim", 2, b_trim }, { "trim_left", 2, b_trim_left },
	{ "trim_right", 2, b_trim_right }, { "trim_prefix", 2, b_trim_prefix },
	{ "trim_suffix", 2, b_trim_suffix }, { "trim_space", 1, b_trim_space },
	{ "replace", 3, b_replace }, { "indexof", 2, b_indexof }, { "substring", 3, b_substring },
	{ "sprintf", 2, b_sprintf },
	{ NULL, 0, NULL },
};
