/* JSON text to Rego values (input, data, json.unmarshal), depth-bounded. */
#include <errno.h>
#include <string.h>

#include "policy/rg_value.h"

struct jp {
	struct rg_arena *a;
	const char *s;
	size_t n, pos;
	unsigned depth, max_depth;
	const char *why;
};

static void skip_ws(struct jp *p)
{
	while (p->pos < p->n && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos])
		p->pos++;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* \uXXXX, possibly a surrogate pair; i points after the 'u'. */
static int unicode_escape(const char *s, size_t n, size_t *i, unsigned *cp)
{
	unsigned hi, lo;

	if (*i + 4 > n || hex4(s + *i, &hi))
		return -EINVAL;
	*i += 4;
	if (hi >= 0xd800 && hi < 0xdc00 && *i + 6 <= n && s[*i] == '\\' && s[*i + 1] == 'u' &&
	    !hex4(s + *i + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
		*i += 6;
		hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
	} else if (hi >= 0xd800 && hi < 0xe000) {
		hi = 0xfffd;
	}
	*cp = hi;
	return 0;
}

static int one_escape(const char *s, size_t n, size_t *i, char *o, size_t *olen)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	unsigned cp;

	if (*i >= n)
		return -EINVAL;
	if (s[*i] == 'u') {
		(*i)++;
		if (unicode_escape(s, n, i, &cp))
			return -EINVAL;
		*olen += rg_utf8_encode(o + *olen, cp);
		return 0;
	}
	e = strchr(from, s[*i]);
	if (!e || !*e)
		return -EINVAL;
	o[(*olen)++] = to[e - from];
	(*i)++;
	return 0;
}

int rg_json_string(struct rg_arena *a, const char *s, size_t n, size_t *pos, struct rg_val **out)
{
	size_t i = *pos + 1, olen = 0;
	char *o = rg_alloc(a, n - *pos + 4);

	if (!o)
		return -ENOMEM;
	while (i < n && s[i] != '"') {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20)
			return -EINVAL;
		if (c == '\\') {
			i++;
			if (one_escape(s, n, &i, o, &olen))
				return -EINVAL;
			continue;
		}
		o[olen++] = (char)c;
		i++;
	}
	if (i >= n)
		return -EINVAL;
	*pos = i + 1;
	*out = rg_new(a, RG_STR);
	if (!*out)
		return -ENOMEM;
	(*out)->s = o;
	(*out)->len = olen;
	return 0;
}

static int parse_value(struct jp *p, struct rg_val **out);

/* Growable pointer vector in the arena. */
struct pvec {
	struct rg_val **v;
	size_t n, cap;
};

static int pvec_push(struct rg_arena *a, struct pvec *pv, struct rg_val *x)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 8;
		struct rg_val **nv = rg_allocn(a, cap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		if (pv->n)
			memcpy(nv, pv->v, pv->n * sizeof(*nv));
		pv->v = nv;
		pv->cap = cap;
	}
	pv->v[pv->n++] = x;
	return 0;
}

static int parse_array(struct jp *p, struct rg_val **out)
{
	struct pvec items = { 0 };
	struct rg_val *x;
	int rc;

	p->pos++;
	skip_ws(p);
	if (p->pos < p->n && p->s[p->pos] == ']') {
		p->pos++;
		return (*out = rg_array(p->a, NULL, 0)) ? 0 : -ENOMEM;
	}
	for (;;) {
		if ((rc = parse_value(p, &x)) || (rc = pvec_push(p->a, &items, x)))
			return rc;
		skip_ws(p);
		if (p->pos < p->n && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->n && p->s[p->pos] == ']')
			break;
		p->why = "expected ',' or ']'";
		return -EINVAL;
	}
	p->pos++;
	return (*out = rg_array(p->a, items.v, items.n)) ? 0 : -ENOMEM;
}

static int parse_object(struct jp *p, struct rg_val **out)
{
	struct pvec keys = { 0 }, vals = { 0 };
	struct rg_val *k, *v;
	int rc;

	p->pos++;
	skip_ws(p);
	if (p->pos < p->n && p->s[p->pos] == '}') {
		p->pos++;
		return (*out = rg_object(p->a, NULL, NULL, 0)) ? 0 : -ENOMEM;
	}
	for (;;) {
		skip_ws(p);
		if (p->pos >= p->n || p->s[p->pos] != '"') {
			p->why = "expected a string key";
			return -EINVAL;
		}
		if ((rc = rg_json_string(p->a, p->s, p->n, &p->pos, &k)))
			return rc;
		skip_ws(p);
		if (p->pos >= p->n || p->s[p->pos] != ':') {
			p->why = "expected ':'";
			return -EINVAL;
		}
		p->pos++;
		if ((rc = parse_value(p, &v)) || (rc = pvec_push(p->a, &keys, k)) ||
		    (rc = pvec_push(p->a, &vals, v)))
			return rc;
		skip_ws(p);
		if (p->pos < p->n && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->n && p->s[p->pos] == '}')
			break;
		p->why = "expected ',' or '}'";
		return -EINVAL;
	}
	p->pos++;
	return (*out = rg_object(p->a, keys.v, vals.v, keys.n)) ? 0 : -ENOMEM;
}

static int parse_number(struct jp *p, struct rg_val **out)
{
	size_t start = p->pos;

	while (p->pos < p->n && strchr("+-0123456789.eE", p->s[p->pos]) && p->s[p->pos])
		p->pos++;
	*out = rg_num_text(p->a, p->s + start, p->pos - start);
	if (!*out)
		p->why = "bad number";
	return *out ? 0 : -EINVAL;
}

static int parse_word(struct jp *p, struct rg_val **out)
{
	static const char *const words[] = { "null", "true", "false" };
	struct rg_val *const vals[] = { &rg_null, &rg_true, &rg_false };

	for (int i = 0; i < 3; i++) {
		size_t l = strlen(words[i]);

		if (p->n - p->pos >= l && !memcmp(p->s + p->pos, words[i], l)) {
			p->pos += l;
			*out = vals[i];
			return 0;
		}
	}
	p->why = "unexpected character";
	return -EINVAL;
}

static int parse_value(struct jp *p, struct rg_val **out)
{
	int rc;

	skip_ws(p);
	if (p->pos >= p->n) {
		p->why = "unexpected end";
		return -EINVAL;
	}
	if (++p->depth > p->max_depth) {
		p->why = "nested too deeply";
		return -E2BIG;
	}
	switch (p->s[p->pos]) {
	case '{':
		rc = parse_object(p, out);
		break;
	case '[':
		rc = parse_array(p, out);
		break;
	case '"':
		rc = rg_json_string(p->a, p->s, p->n, &p->pos, out);
		if (rc == -EINVAL)
			p->why = "bad string";
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		rc = parse_number(p, out);
		break;
	default:
		rc = parse_word(p, out);
	}
	p->depth--;
	return rc;
}

int rg_from_json(struct rg_arena *a, const char *s, size_t n, unsigned max_depth,
		 struct rg_val **out, char *err, size_t errlen)
{
	struct jp p = { .a = a, .s = s, .n = n, .max_depth = max_depth };
	int rc = parse_value(&p, out);

	if (!rc) {
		skip_ws(&p);
		if (p.pos != n) {
			p.why = "trailing characters";
			rc = -EINVAL;
		}
	}
	if (rc == -ENOMEM && a->over)
		rc = -E2BIG, p.why = "memory limit exceeded";
	if (rc)
		ctfs_seterr(err, errlen, "JSON: %s at byte %zu", p.why ? p.why : "out of memory", p.pos);
	return rc;
}
