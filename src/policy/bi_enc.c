/* Builtins: base64, base64url, crypto.sha256 and semver. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rg_builtins.h"

#define A rg_ev_arena(ev)
#define RET(x) do { *out = (x); return *out ? 0 : -ENOMEM; } while (0)

static const char std_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int encode(struct rg_ev *ev, const struct rg_val *s, const char *abc, bool pad, struct rg_val **out)
{
	size_t n = s->len, o = 0;
	char *buf = rg_alloc(A, n / 3 * 4 + 8);
	const unsigned char *p = (const unsigned char *)s->s;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);

		buf[o++] = abc[v >> 18 & 63];
		buf[o++] = abc[v >> 12 & 63];
		if (i + 1 < n)
			buf[o++] = abc[v >> 6 & 63];
		else if (pad)
			buf[o++] = '=';
		if (i + 2 < n)
			buf[o++] = abc[v & 63];
		else if (pad)
			buf[o++] = '=';
	}
	RET(rg_str(A, buf, o));
}

/* Strict decoding (padding required, no stray characters), as Go's. */
static int decode(struct rg_ev *ev, const struct rg_val *s, const char *abc, struct rg_val **out)
{
	size_t n = s->len, o = 0, pad = 0;
	char *buf = rg_alloc(A, n / 4 * 3 + 4);
	unsigned acc = 0;

	if (!buf)
		return -ENOMEM;
	if (n % 4)
		return -EINVAL;
	while (pad < 2 && n > pad && s->s[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++) {
		const char *c = s->s[i] ? strchr(abc, s->s[i]) : NULL;

		if (!c)
			return -EINVAL;
		acc = acc << 6 | (unsigned)(c - abc);
		if (i % 4 == 3) {
			buf[o++] = (char)(acc >> 16);
			buf[o++] = (char)(acc >> 8);
			buf[o++] = (char)acc;
			acc = 0;
		}
	}
	if (pad == 2) {
		if (acc & 0xf)
			return -EINVAL;
		buf[o++] = (char)(acc >> 4);
	} else if (pad == 1) {
		if (acc & 0x3)
			return -EINVAL;
		buf[o++] = (char)(acc >> 10);
		buf[o++] = (char)(acc >> 2);
	}
	RET(rg_str(A, buf, o));
}

static int str1(struct rg_ev *ev, const char *fn, struct rg_val **a)
{
	return a[0]->type == RG_STR ? 0 : rg_bi_type(ev, fn, 1, "string", a[0]);
}

static int b_b64_encode(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = str1(ev, "base64.encode", a);

	return rc ? rc : encode(ev, a[0], std_abc, true, out);
}

static int b_b64_decode(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = str1(ev, "base64.decode", a);

	if (rc)
		return rc;
	rc = decode(ev, a[0], std_abc, out);
	return rc == -EINVAL ? rg_bi_err(ev, "base64.decode: illegal base64 data") : rc;
}

static int b_b64_is_valid(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct rg_val *v;
	int rc = str1(ev, "base64.is_valid", a);

	if (rc)
		return rc;
	rc = decode(ev, a[0], std_abc, &v);
	if (rc && rc != -EINVAL)
		return rc;
	*out = rg_bool(rc == 0);
	return 0;
}

static int b_b64url_encode(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = str1(ev, "base64url.encode", a);

	return rc ? rc : encode(ev, a[0], url_abc, true, out);
}

static int b_b64url_encode_np(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int rc = str1(ev, "base64url.encode_no_pad", a);

	return rc ? rc : encode(ev, a[0], url_abc, false, out);
}

/* base64url.decode accepts unpadded input too. */
static int b_b64url_decode(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct rg_val padded = *a[0];
	char *p;
	int rc = str1(ev, "base64url.decode", a);

	if (rc)
		return rc;
	if (padded.len % 4) {
		if (padded.len % 4 == 1)
			return rg_bi_err(ev, "base64url.decode: illegal base64 data");
		p = rg_alloc(A, padded.len + 4);
		if (!p)
			return -ENOMEM;
		memcpy(p, padded.s, padded.len);
		while (padded.len % 4)
			p[padded.len++] = '=';
		padded.s = p;
	}
	rc = decode(ev, &padded, url_abc, out);
	return rc == -EINVAL ? rg_bi_err(ev, "base64url.decode: illegal base64 data") : rc;
}

static int b_sha256(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof(h) + 1];
	int rc = str1(ev, "crypto.sha256", a);

	if (rc)
		return rc;
	crypto_hash_sha256(h, (const unsigned char *)a[0]->s, a[0]->len);
	for (size_t i = 0; i < sizeof(h); i++) {
		hex[2 * i] = "0123456789abcdef"[h[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[h[i] & 15];
	}
	RET(rg_str(A, hex, 2 * sizeof(h)));
}

/* --- semver 2.0.0 ------------------------------------------------------------ */

struct semver {
	const char *num[3];
	size_t nlen[3];
	const char *pre; /* after '-', up to '+' */
	size_t prelen;
};

static bool sv_numeric(const char *s, size_t n)
{
	if (!n || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool sv_ident(const char *s, size_t n, bool pre)
{
	bool alnum = false;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
			return false;
		alnum |= !(c >= '0' && c <= '9');
	}
	return !pre || alnum || sv_numeric(s, n);
}

static bool sv_idents(const char *s, size_t n, bool pre)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!sv_ident(s + start, i - start, pre))
				return false;
			start = i + 1;
		}
	}
	return true;
}

static bool sv_parse(const struct rg_val *v, struct semver *sv)
{
	const char *s = v->s, *end = s + v->len, *p = s;

	memset(sv, 0, sizeof(*sv));
	for (int k = 0; k < 3; k++) {
		const char *q = p;

		while (q < end && *q >= '0' && *q <= '9')
			q++;
		if (!sv_numeric(p, (size_t)(q - p)) || (k < 2 && (q >= end || *q != '.')))
			return false;
		sv->num[k] = p;
		sv->nlen[k] = (size_t)(q - p);
		p = k < 2 ? q + 1 : q;
	}
	if (p < end && *p == '-') {
		const char *q = ++p;

		while (q < end && *q != '+')
			q++;
		if (!sv_idents(p, (size_t)(q - p), true))
			return false;
		sv->pre = p;
		sv->prelen = (size_t)(q - p);
		p = q;
	}
	if (p < end && *p == '+') {
		p++;
		if (!sv_idents(p, (size_t)(end - p), false))
			return false;
		p = end;
	}
	return p == end;
}

static int cmp_numstr(const char *a, size_t na, const char *b, size_t nb)
{
	int c;

	if (na != nb)
		return na < nb ? -1 : 1;
	c = memcmp(a, b, na);
	return (c > 0) - (c < 0);
}

static int cmp_pre(const struct semver *x, const struct semver *y)
{
	const char *a = x->pre, *b = y->pre, *ae = a + x->prelen, *be = b + y->prelen;

	if (!x->prelen || !y->prelen)
		return x->prelen ? -1 : y->prelen ? 1 : 0;
	while (a < ae && b < be) {
		const char *ad = memchr(a, '.', (size_t)(ae - a)), *bd = memchr(b, '.', (size_t)(be - b));
		size_t na = (size_t)((ad ? ad : ae) - a), nb = (size_t)((bd ? bd : be) - b);
		bool an = sv_numeric(a, na), bn = sv_numeric(b, nb);
		int c;

		if (an && bn)
			c = cmp_numstr(a, na, b, nb);
		else if (an != bn)
			c = an ? -1 : 1;
		else {
			c = memcmp(a, b, na < nb ? na : nb);
			c = c ? (c > 0) - (c < 0) : (na > nb) - (na < nb);
		}
		if (c)
			return c;
		a += na + (ad != NULL);
		b += nb + (bd != NULL);
		if (!ad || !bd)
			return ad ? 1 : bd ? -1 : 0;
	}
	return 0;
}

static int b_semver_compare(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct semver x, y;
	int c = 0;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "semver.compare", 1, "string", a[0]);
	if (a[1]->type != RG_STR)
		return rg_bi_type(ev, "semver.compare", 2, "string", a[1]);
	if (!sv_parse(a[0], &x))
		return rg_bi_err(ev, "semver.compare: operand 1: string \"%.*s\" is not a valid SemVer",
				 (int)(a[0]->len > 64 ? 64 : a[0]->len), a[0]->s);
	if (!sv_parse(a[1], &y))
		return rg_bi_err(ev, "semver.compare: operand 2: string \"%.*s\" is not a valid SemVer",
				 (int)(a[1]->len > 64 ? 64 : a[1]->len), a[1]->s);
	for (int k = 0; k < 3 && !c; k++)
		c = cmp_numstr(x.num[k], x.nlen[k], y.num[k], y.nlen[k]);
	if (!c)
		c = cmp_pre(&x, &y);
	RET(rg_int(A, c));
}

static int b_semver_is_valid(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct semver x;

	(void)ev;
	*out = rg_bool(a[0]->type == RG_STR && sv_parse(a[0], &x));
	return 0;
}

const struct rg_builtin rg_bi_enc[] = {
	{ "base64.encode", 1, b_b64_encode }, { "base64.decode", 1, b_b64_decode },
	{ "base64.is_valid", 1, b_b64_is_valid }, { "base64url.encode", 1, b_b64url_encode },
	{ "base64url.encode_no_pad", 1, b_b64url_encode_np }, { "base64url.decode", 1, b_b64url_decode },
	{ "crypto.sha256", 1, b_sha256 }, { "semver.compare", 2, b_semver_compare },
	{ "semver.is_valid", 1, b_semver_is_valid },
	{ NULL, 0, NULL },
};
