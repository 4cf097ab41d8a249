#include "json/json_reader.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/hex.h"
#include "codec/utf8.h"
#include "util.h"

static __attribute__((format(printf, 2, 3))) int fail(struct ctfs_jr *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->msg, sizeof(r->msg), "at byte %zu: ", (size_t)(r->p - r->start));
	if (n < 0 || (size_t)n >= sizeof(r->msg))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(r->msg + n, sizeof(r->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int ctfs_jr_init(struct ctfs_jr *r, const uint8_t *text, size_t len)
{
	size_t bad;

	r->start = r->p = text;
	r->end = text + len;
	r->depth = 0;
	r->msg[0] = 0;
	if (!ctfs_utf8_valid(text, len, &bad)) {
		r->p = text + bad;
		return fail(r, "invalid UTF-8");
	}
	return 0;
}

int ctfs_jr_peek(struct ctfs_jr *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
	return r->p < r->end ? *r->p : -1;
}

static int expect(struct ctfs_jr *r, char c)
{
	if (ctfs_jr_peek(r) != (unsigned char)c)
		return fail(r, "expected '%c'", c);
	r->p++;
	return 0;
}

int ctfs_jr_open(struct ctfs_jr *r, char open)
{
	int rc = expect(r, open);

	if (rc)
		return rc;
	if (r->depth >= CTFS_JR_MAX_DEPTH)
		return fail(r, "nesting deeper than %d", CTFS_JR_MAX_DEPTH);
	r->depth++;
	return 0;
}

int ctfs_jr_more(struct ctfs_jr *r, char close, bool *first)
{
	int c = ctfs_jr_peek(r);

	if (c == (unsigned char)close) {
		r->p++;
		r->depth--;
		return 0;
	}
	if (*first) {
		*first = false;
		return 1;
	}
	if (c == ',') {
		r->p++;
		return 1;
	}
	return fail(r, "expected ',' or '%c'", close);
}

/* The 4 hex digits after "\u" at s; -1 if they are not all there. */
static long hex4(const uint8_t *s, const uint8_t *end)
{
	long v = 0;

	if (end - s < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = ctfs_hex_digit(s[i]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

static size_t put_utf8(uint8_t *d, unsigned long cp)
{
	if (cp < 0x80) {
		d[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (uint8_t)(0xc0 | cp >> 6);
		d[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (uint8_t)(0xe0 | cp >> 12);
		d[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (uint8_t)(0xf0 | cp >> 18);
	d[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* r->p is just past "\u"; leaves it after the escape (or surrogate pair). */
static int unicode_escape(struct ctfs_jr *r, const uint8_t *end, unsigned long *cp)
{
	long hi = hex4(r->p, end), lo;

	if (hi < 0)
		return fail(r, "invalid \\u escape");
	r->p += 4;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return fail(r, "lone trailing surrogate in \\u escape");
	if (hi >= 0xd800 && hi <= 0xdbff) {
		if (end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
			return fail(r, "lone leading surrogate in \\u escape");
		lo = hex4(r->p + 2, end);
		if (lo < 0xdc00 || lo > 0xdfff)
			return fail(r, "lone leading surrogate in \\u escape");
		r->p += 6;
		*cp = 0x10000 + ((unsigned long)(hi - 0xd800) << 10) + (unsigned long)(lo - 0xdc00);
		return 0;
	}
	if (hi == 0)
		return fail(r, "\\u0000 is not allowed in strings");
	*cp = (unsigned long)hi;
	return 0;
}

/*
 * Decode the string body [r->p, end) into d (NULL: validate only). The raw
 * bytes are already known to be UTF-8, and a decoded string is never longer
 * than its escaped form.
 */
static int decode(struct ctfs_jr *r, const uint8_t *end, uint8_t *d, size_t *len)
{
	static const char simple[] = "\"\\/bfnrt", repl[] = "\"\\/\b\f\n\r\t";
	size_t n = 0;

	while (r->p < end) {
		uint8_t c = *r->p;
		const char *e;
		unsigned long cp = 0;
		uint8_t tmp[4];
		size_t k;
		int rc;

		if (c < 0x20)
			return fail(r, "control character in string");
		if (c != '\\') {
			if (d)
				d[n] = c;
			n++;
			r->p++;
			continue;
		}
		c = r->p + 1 < end ? r->p[1] : 0;
		e = c ? strchr(simple, c) : NULL;
		if (e) {
			if (d)
				d[n] = (uint8_t)repl[e - simple];
			n++;
			r->p += 2;
			continue;
		}
		if (c != 'u')
			return fail(r, "invalid escape in string");
		r->p += 2;
		rc = unicode_escape(r, end, &cp);
		if (rc)
			return rc;
		k = put_utf8(d ? d + n : tmp, cp);
		n += k;
	}
	*len = n;
	return 0;
}

/* Both the reading and the skipping of strings: out NULL means skip. */
static int string(struct ctfs_jr *r, char **out, size_t *len)
{
	const uint8_t *q;
	uint8_t *d = NULL;
	size_t n = 0;
	int rc;

	if (ctfs_jr_peek(r) != '"')
		return fail(r, "expected a string");
	/* Find the closing quote first so that the buffer can be sized. */
	for (q = r->p + 1; q < r->end && *q != '"'; q++) {
		if (*q == '\\' && q + 1 < r->end)
			q++;	/* the escaped byte cannot end the string */
	}
	if (q >= r->end)
		return fail(r, "unterminated string");
	if (out) {
		d = malloc((size_t)(q - r->p));
		if (!d)
			return -ENOMEM;
	}
	r->p++;
	rc = decode(r, q, d, &n);
	if (rc) {
		free(d);
		return rc;
	}
	r->p = q + 1;
	if (out) {
		d[n] = 0;
		*out = (char *)d;
		if (len)
			*len = n;
	}
	return 0;
}

int ctfs_jr_string(struct ctfs_jr *r, char **out, size_t *len)
{
	return string(r, out, len);
}

int ctfs_jr_key(struct ctfs_jr *r, char **key, size_t *len)
{
	int rc;

	if (ctfs_jr_peek(r) != '"')
		return fail(r, "expected a string key");
	rc = string(r, key, len);
	if (rc)
		return rc;
	rc = expect(r, ':');
	if (rc) {
		free(*key);
		*key = NULL;
	}
	return rc;
}

struct number {
	const uint8_t *text;
	size_t len;
	bool negative, plain, fits;
	uint64_t value;	/* when plain && fits */
};

static bool is_digit(const uint8_t *p, const uint8_t *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/* Scan one number token per the RFC 8259 grammar. */
static int scan_number(struct ctfs_jr *r, struct number *num)
{
	const uint8_t *p = r->p;

	memset(num, 0, sizeof(*num));
	num->text = p;
	num->fits = true;
	if (p < r->end && *p == '-') {
		num->negative = true;
		p++;
	}
	if (!is_digit(p, r->end))
		return fail(r, "invalid number");
	if (*p == '0' && is_digit(p + 1, r->end)) {
		r->p = p;
		return fail(r, "invalid number (leading zero)");
	}
	for (; is_digit(p, r->end); p++) {
		if (ctfs_mul_overflow(num->value, 10, &num->value) ||
		    ctfs_add_overflow(num->value, (uint64_t)(*p - '0'), &num->value))
			num->fits = false;
	}
	num->plain = !num->negative;
	if (p < r->end && *p == '.') {
		num->plain = false;
		if (!is_digit(++p, r->end)) {
			r->p = p;
			return fail(r, "invalid number (no digit after '.')");
		}
		while (is_digit(p, r->end))
			p++;
	}
	if (p < r->end && (*p == 'e' || *p == 'E')) {
		num->plain = false;
		p++;
		if (p < r->end && (*p == '+' || *p == '-'))
			p++;
		if (!is_digit(p, r->end)) {
			r->p = p;
			return fail(r, "invalid number (no digit in exponent)");
		}
		while (is_digit(p, r->end))
			p++;
	}
	num->len = (size_t)(p - num->text);
	return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* serde_json refuses numbers whose value rounds to infinity as an f64. */
static int check_f64_range(struct ctfs_jr *r, const struct number *num)
{
	char *s;
	double v;

	if (pthread_once(&c_locale_once, c_locale_init) || !c_locale)
		return -ENOMEM;
	s = malloc(num->len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, num->text, num->len);
	s[num->len] = 0;
	v = strtod_l(s, NULL, c_locale);
	free(s);
	if (isinf(v))
		return fail(r, "number out of range");
	return 0;
}

int ctfs_jr_u64(struct ctfs_jr *r, uint64_t *out)
{
	struct number num;
	int c = ctfs_jr_peek(r), rc;

	if (c != '-' && !(c >= '0' && c <= '9'))
		return fail(r, "expected a non-negative integer");
	rc = scan_number(r, &num);
	if (rc)
		return rc;
	if (num.negative)
		return fail(r, "negative number where a non-negative integer is expected");
	if (!num.plain)
		return fail(r, "number is not written as an integer");
	if (!num.fits)
		return fail(r, "integer does not fit in 64 bits");
	r->p += num.len;
	*out = num.value;
	return 0;
}

static int literal(struct ctfs_jr *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return fail(r, "expected a value");
	r->p += n;
	return 0;
}

static int skip_container(struct ctfs_jr *r, char open, char close)
{
	bool first = true;
	int rc = ctfs_jr_open(r, open);

	while (!rc && (rc = ctfs_jr_more(r, close, &first)) > 0) {
		rc = 0;
		if (open == '{') {
			if (ctfs_jr_peek(r) != '"')
				return fail(r, "expected a string key");
			rc = string(r, NULL, NULL);
			if (!rc)
				rc = expect(r, ':');
		}
		if (!rc)
			rc = ctfs_jr_skip(r);
	}
	return rc;
}

static int skip_number(struct ctfs_jr *r)
{
	struct number num;
	int rc = scan_number(r, &num);

	if (rc)
		return rc;
	if (!(num.plain && num.fits)) {
		rc = check_f64_range(r, &num);
		if (rc)
			return rc;
	}
	r->p += num.len;
	return 0;
}

int ctfs_jr_skip(struct ctfs_jr *r)
{
	int c = ctfs_jr_peek(r);

	switch (c) {
	case '{':
		return skip_container(r, '{', '}');
	case '[':
		return skip_container(r, '[', ']');
	case '"':
		return string(r, NULL, NULL);
	case 't':
		return literal(r, "true");
	case 'f':
		return literal(r, "false");
	case 'n':
		return literal(r, "null");
	case -1:
		return fail(r, "unexpected end of text");
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return skip_number(r);
	return fail(r, "expected a value");
}

int ctfs_jr_end(struct ctfs_jr *r)
{
	if (ctfs_jr_peek(r) != -1)
		return fail(r, "trailing characters after the JSON value");
	return 0;
}
