#include "json/canon_json.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/utf8.h"

struct cj {
	const uint8_t *start;
	const uint8_t *p;
	const uint8_t *end;
	unsigned int depth;
	char *err;
	size_t errlen;
};

static int fail(struct cj *c, const char *what)
{
	ctfs_seterr(c->err, c->errlen, "not canonical JSON at byte %zu: %s",
		    (size_t)(c->p - c->start), what);
	return -EINVAL;
}

static bool at(const struct cj *c, char ch)
{
	return c->p < c->end && *c->p == (uint8_t)ch;
}

/* --- numbers ------------------------------------------------------------ */

static int put_zeros(struct ctfs_buf *out, int k)
{
	int rc = 0;

	while (k-- > 0 && !rc)
		rc = ctfs_buf_putc(out, '0');
	return rc;
}

/* Python's float repr from shortest digits d[0..n) and the position of the
 * decimal point (value = 0.d1d2...dn * 10^decpt). */
static int put_repr(struct ctfs_buf *out, bool neg, const char *d, int n, int decpt)
{
	int rc = neg ? ctfs_buf_putc(out, '-') : 0;

	if (rc)
		return rc;
	if (decpt <= -4 || decpt > 16) {
		int e = decpt - 1;

		rc = ctfs_buf_putc(out, d[0]);
		if (!rc && n > 1)
			rc = ctfs_buf_printf(out, ".%.*s", n - 1, d + 1);
		if (!rc)
			rc = ctfs_buf_printf(out, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
	} else if (decpt <= 0) {
		rc = ctfs_buf_puts(out, "0.");
		if (!rc)
			rc = put_zeros(out, -decpt);
		if (!rc)
			rc = ctfs_buf_append(out, d, (size_t)n);
	} else if (decpt >= n) {
		rc = ctfs_buf_append(out, d, (size_t)n);
		if (!rc)
			rc = put_zeros(out, decpt - n);
		if (!rc)
			rc = ctfs_buf_puts(out, ".0");
	} else {
		rc = ctfs_buf_printf(out, "%.*s.%.*s", decpt, d, n - decpt, d + decpt);
	}
	return rc;
}

/* The shortest digit string that reads back as v (v finite, >= 0). */
static void shortest_digits(double v, char *d, int *n, int *decpt)
{
	char tmp[40];

	for (int p = 1; p <= 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
		if (strtod(tmp, NULL) == v || p == 17) {
			char *e = strchr(tmp, 'e');
			int k = 0;

			for (char *q = tmp; q < e; q++) {
				if (*q != '.')
					d[k++] = *q;
			}
			while (k > 1 && d[k - 1] == '0')
				k--;
			*n = k;
			*decpt = atoi(e + 1) + 1;
			return;
		}
	}
}

int ctfs_canon_put_double(struct ctfs_buf *out, double v)
{
	char d[24];
	int n, decpt;

	if (!isfinite(v))
		return -EINVAL;
	shortest_digits(fabs(v), d, &n, &decpt);
	return put_repr(out, signbit(v) != 0, d, n, decpt);
}

/* Digits and decimal point of a number as written (leading and trailing
 * zeros of the digit string dropped); false if it has too many digits. */
static bool text_digits(const char *t, char *d, int *n, int *decpt)
{
	int k = 0, intdigits = 0, exp10 = 0;
	bool frac = false, lead = true;

	for (; *t && *t != 'e' && *t != 'E'; t++) {
		if (*t == '-')
			continue;
		if (*t == '.') {
			frac = true;
			continue;
		}
		if (lead && *t == '0') {
			if (frac)
				intdigits--;
			continue;
		}
		lead = false;
		if (k == 23)
			return false;
		d[k++] = *t;
		if (!frac)
			intdigits++;
	}
	if (*t)
		exp10 = atoi(t + 1);
	if (!k) {
		d[k++] = '0';
		intdigits = 1;
	}
	while (k > 1 && d[k - 1] == '0')
		k--;
	*n = k;
	*decpt = intdigits + exp10;
	return true;
}

/* A non-integer number must be the repr of its double; any shortest digit
 * string is accepted, so that a writer whose tie-breaking differs in the
 * last digit from glibc's still reads as canonical. */
static int check_float(struct cj *c, const char *txt)
{
	struct ctfs_buf want = { 0 };
	char d[24], dt[24];
	int n, decpt, nt, decpt_t, rc;
	double v = strtod(txt, NULL);

	if (!isfinite(v))
		return fail(c, "number out of range");
	shortest_digits(fabs(v), d, &n, &decpt);
	rc = put_repr(&want, signbit(v) != 0, d, n, decpt);
	if (!rc && strcmp((char *)want.data, txt) != 0) {
		rc = -EINVAL;
		if (text_digits(txt, dt, &nt, &decpt_t) && nt == n) {
			want.len = 0;
			if (!put_repr(&want, txt[0] == '-', dt, nt, decpt_t) &&
			    !strcmp((char *)want.data, txt))
				rc = 0;
		}
	}
	ctfs_buf_free(&want);
	return rc == -ENOMEM ? rc : rc ? fail(c, "number not written as Python's repr") : 0;
}

static size_t digits(struct cj *c)
{
	size_t n = 0;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		c->p++;
		n++;
	}
	return n;
}

static int number(struct cj *c)
{
	const uint8_t *from = c->p;
	bool is_float = false;
	char txt[40];

	if (at(c, '-'))
		c->p++;
	if (at(c, '0')) {
		c->p++;
		if (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			return fail(c, "leading zero");
	} else if (!digits(c)) {
		return fail(c, "bad number");
	}
	if (at(c, '.')) {
		c->p++;
		is_float = true;
		if (!digits(c))
			return fail(c, "bad fraction");
	}
	if (at(c, 'e') || at(c, 'E')) {
		c->p++;
		is_float = true;
		if (at(c, '+') || at(c, '-'))
			c->p++;
		if (!digits(c))
			return fail(c, "bad exponent");
	}
	if (!is_float)
		return c->p - from == 2 && from[0] == '-' && from[1] == '0' ? fail(c, "-0") : 0;
	if ((size_t)(c->p - from) >= sizeof(txt))
		return fail(c, "number too long for a double's repr");
	memcpy(txt, from, (size_t)(c->p - from));
	txt[c->p - from] = 0;
	return check_float(c, txt);
}

/* --- strings ------------------------------------------------------------ */

static bool lower_hex(uint8_t ch, unsigned int *v)
{
	if (ch >= '0' && ch <= '9')
		*v = ch - '0';
	else if (ch >= 'a' && ch <= 'f')
		*v = ch - 'a' + 10;
	else
		return false;
	return true;
}

/* A \u escape: only for control characters without a short form. */
static int unicode_escape(struct cj *c, struct ctfs_buf *dec)
{
	unsigned int v = 0, h;

	if (c->end - c->p < 4)
		return fail(c, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		if (!lower_hex(c->p[i], &h))
			return fail(c, "\\u escape not in lowercase hex");
		v = v << 4 | h;
	}
	if (v >= 0x20 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
		return fail(c, "needless \\u escape");
	c->p += 4;
	return dec ? ctfs_buf_putc(dec, (char)v) : 0;
}

static int escape(struct cj *c, struct ctfs_buf *dec)
{
	static const char from[] = "\"\\bfnrt", to[] = "\"\\\b\f\n\r\t";
	const char *hit;

	if (c->p >= c->end)
		return fail(c, "unterminated string");
	if (*c->p == 'u') {
		c->p++;
		return unicode_escape(c, dec);
	}
	hit = memchr(from, *c->p, sizeof(from) - 1);
	if (!hit)
		return fail(c, "escape Python does not write");
	c->p++;
	return dec ? ctfs_buf_putc(dec, to[hit - from]) : 0;
}

/* A string; its decoded bytes are appended to dec when dec is not NULL. */
static int string(struct cj *c, struct ctfs_buf *dec)
{
	int rc = 0;

	c->p++;
	while (!rc) {
		const uint8_t *run = c->p;

		while (c->p < c->end && *c->p != '"' && *c->p != '\\' && *c->p >= 0x20)
			c->p++;
		if (dec && c->p > run)
			rc = ctfs_buf_append(dec, run, (size_t)(c->p - run));
		if (rc)
			break;
		if (c->p >= c->end)
			return fail(c, "unterminated string");
		if (*c->p == '"') {
			c->p++;
			return 0;
		}
		if (*c->p < 0x20)
			return fail(c, "raw control character in string");
		c->p++;
		rc = escape(c, dec);
	}
	return rc;
}

/* --- containers ----------------------------------------------------------- */

static int value(struct cj *c);

static int literal(struct cj *c, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n))
		return fail(c, "unexpected character");
	c->p += n;
	return 0;
}

/* Decoded keys compare as code points when compared as UTF-8 bytes. */
static int key_cmp(const struct ctfs_buf *a, const struct ctfs_buf *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int r = n ? memcmp(a->data, b->data, n) : 0;

	return r ? r : (a->len > b->len) - (a->len < b->len);
}

static int object(struct cj *c)
{
	struct ctfs_buf keys[2] = { { 0 }, { 0 } };
	int cur = 0, rc = 0;
	bool first = true;

	c->p++;
	if (at(c, '}')) {
		c->p++;
		return 0;
	}
	while (!rc) {
		if (!at(c, '"')) {
			rc = fail(c, "expected a key");
			break;
		}
		keys[cur].len = 0;
		rc = string(c, &keys[cur]);
		if (!rc && !first && key_cmp(&keys[!cur], &keys[cur]) >= 0)
			rc = fail(c, "keys not sorted or duplicated");
		if (!rc && !at(c, ':'))
			rc = fail(c, "expected ':'");
		if (rc)
			break;
		c->p++;
		rc = value(c);
		if (rc)
			break;
		first = false;
		cur = !cur;
		if (at(c, '}')) {
			c->p++;
			break;
		}
		if (!at(c, ','))
			rc = fail(c, "expected ',' or '}'");
		else
			c->p++;
	}
	ctfs_buf_free(&keys[0]);
	ctfs_buf_free(&keys[1]);
	return rc;
}

static int array(struct cj *c)
{
	int rc;

	c->p++;
	if (at(c, ']')) {
		c->p++;
		return 0;
	}
	for (;;) {
		rc = value(c);
		if (rc)
			return rc;
		if (at(c, ']')) {
			c->p++;
			return 0;
		}
		if (!at(c, ','))
			return fail(c, "expected ',' or ']'");
		c->p++;
	}
}

static int value(struct cj *c)
{
	int rc;

	if (c->p >= c->end)
		return fail(c, "unexpected end");
	switch (*c->p) {
	case '{':
	case '[':
		if (++c->depth > CTFS_CANON_MAX_DEPTH)
			return fail(c, "nested too deeply");
		rc = *c->p == '{' ? object(c) : array(c);
		c->depth--;
		return rc;
	case '"':
		return string(c, NULL);
	case 't':
		return literal(c, "true");
	case 'f':
		return literal(c, "false");
	case 'n':
		return literal(c, "null");
	default:
		if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
			return number(c);
		return fail(c, "unexpected character");
	}
}

int ctfs_canon_json_check(const uint8_t *s, size_t len, char *err, size_t errlen)
{
	struct cj c = { s, s, s + len, 0, err, errlen };
	size_t bad;
	int rc;

	if (!ctfs_utf8_valid(s, len, &bad)) {
		ctfs_seterr(err, errlen, "not canonical JSON: invalid UTF-8 at byte %zu", bad);
		return -EINVAL;
	}
	rc = value(&c);
	if (!rc && c.p != c.end)
		rc = fail(&c, "trailing bytes");
	return rc;
}
