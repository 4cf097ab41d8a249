/* Builtins: regex.match (PCRE2, restricted to what RE2 accepts) and
 * glob.match (gobwas/glob semantics, as OPA uses). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <string.h>

#include "policy/rg_builtins.h"

/* PCRE features RE2 (OPA's engine) rejects: refuse them as OPA would
 * fail on them, rather than match differently. */
static const char *re2_unsupported(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] == '\\') {
			char c = p[i + 1];

			if (c >= '1' && c <= '9')
				return "backreferences";
			if (c == 'k' || c == 'g')
				return "named or relative backreferences";
			if (c == 'K' || c == 'R' || c == 'X' || c == 'G')
				return "\\K, \\R, \\X and \\G";
			i++;
			continue;
		}
		if (p[i] == '(' && p[i + 1] == '?' && i + 2 < n) {
			char c = p[i + 2];

			if (c == '=' || c == '!' || (c == '<' && i + 3 < n && (p[i + 3] == '=' || p[i + 3] == '!')))
				return "lookaround assertions";
			if (c == '>' || c == '|' || c == '(' || c == 'R' || (c >= '0' && c <= '9') || c == '&' || c == '+')
				return "atomic groups, conditionals and recursion";
		}
		if ((p[i] == '+' || p[i] == '*' || p[i] == '?' || p[i] == '}') && p[i + 1] == '+')
			return "possessive quantifiers";
	}
	return NULL;
}

static int b_regex_match(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	pcre2_code *re;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	int errcode, rc;
	PCRE2_SIZE erroff;
	const char *why;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "regex.match", 1, "string", a[0]);
	if (a[1]->type != RG_STR)
		return rg_bi_type(ev, "regex.match", 2, "string", a[1]);
	if ((why = re2_unsupported(a[0]->s, a[0]->len)))
		return rg_bi_err(ev, "regex.match: error parsing regexp: %s are not supported (RE2 syntax)", why);
	re = pcre2_compile((PCRE2_SPTR)a[0]->s, a[0]->len, PCRE2_UTF, &errcode, &erroff, NULL);
	if (!re)
		return rg_bi_err(ev, "regex.match: error parsing regexp at offset %zu", (size_t)erroff);
	md = pcre2_match_data_create_from_pattern(re, NULL);
	mc = pcre2_match_context_create(NULL);
	if (!md || !mc) {
		pcre2_match_data_free(md);
		pcre2_match_context_free(mc);
		pcre2_code_free(re);
		return -ENOMEM;
	}
	/* RE2 runs in linear time: bound PCRE's backtracking instead */
	pcre2_set_match_limit(mc, 1000000);
	pcre2_set_depth_limit(mc, 10000);
	rc = pcre2_match(re, (PCRE2_SPTR)a[1]->s, a[1]->len, 0, 0, md, mc);
	pcre2_match_data_free(md);
	pcre2_match_context_free(mc);
	pcre2_code_free(re);
	if (rc >= 0) {
		*out = &rg_true;
		return 0;
	}
	if (rc == PCRE2_ERROR_NOMATCH) {
		*out = &rg_false;
		return 0;
	}
	return rg_bi_err(ev, "regex.match: matching failed (%d)", rc);
}

/* --- glob ------------------------------------------------------------------ */

struct glob {
	const char *d; /* delimiters (bytes; multi-byte delimiters are refused) */
	size_t nd;
	unsigned steps;
};

static bool is_delim(const struct glob *g, char c)
{
	return memchr(g->d, c, g->nd) != NULL;
}

/* End of a {a,b} group or [..] class starting at p[i]. */
static size_t group_end(const char *p, size_t n, size_t i, char open, char close)
{
	int depth = 0;

	for (; i < n; i++) {
		if (p[i] == '\\') {
			i++;
			continue;
		}
		if (p[i] == open)
			depth++;
		else if (p[i] == close && --depth == 0)
			return i;
	}
	return n;
}

static int gmatch(struct glob *g, const char *p, size_t pn, const char *s, size_t sn);

static int match_class(const char *p, size_t i, size_t end, char c)
{
	bool neg = i + 1 < end && p[i + 1] == '!';
	bool hit = false;

	for (size_t k = i + 1 + neg; k < end; k++) {
		char lo = p[k] == '\\' && k + 1 < end ? p[++k] : p[k], hi = lo;

		if (k + 2 < end && p[k + 1] == '-') {
			hi = p[k + 2] == '\\' && k + 3 < end ? p[k + 3] : p[k + 2];
			k += p[k + 2] == '\\' ? 3 : 2;
		}
		if (c >= lo && c <= hi)
			hit = true;
	}
	return hit != neg;
}

/* {a,b}rest: try each alternative followed by the rest. */
static int match_alt(struct glob *g, const char *p, size_t pn, size_t i, const char *s, size_t sn)
{
	size_t end = group_end(p, pn, i, '{', '}'), start = i + 1;
	char buf[1024];

	if (end >= pn)
		return -EINVAL;
	for (size_t k = start; k <= end; k++) {
		int depth = 0, rc;

		if (k < end && (p[k] == '{' || p[k] == '['))
			depth++;
		if (k < end && p[k] == '\\') {
			k++;
			continue;
		}
		if (k < end && (p[k] != ',' || depth))
			continue;
		if ((k - start) + (pn - end - 1) >= sizeof(buf))
			return -E2BIG;
		memcpy(buf, p + start, k - start);
		memcpy(buf + (k - start), p + end + 1, pn - end - 1);
		rc = gmatch(g, buf, (k - start) + (pn - end - 1), s, sn);
		if (rc)
			return rc;
		start = k + 1;
	}
	return 0;
}

/* 1 match, 0 no match, negative: bad pattern or too much work. */
static int gmatch(struct glob *g, const char *p, size_t pn, const char *s, size_t sn)
{
	size_t i = 0, j = 0;

	if (++g->steps > 100000)
		return -E2BIG;
	while (i < pn) {
		char c = p[i];

		if (c == '*') {
			bool super = i + 1 < pn && p[i + 1] == '*';
			size_t rest = i + (super ? 2 : 1);

			for (size_t k = j; k <= sn; k++) {
				int rc = gmatch(g, p + rest, pn - rest, s + k, sn - k);

				if (rc)
					return rc;
				if (k < sn && !super && is_delim(g, s[k]))
					break;
			}
			return 0;
		}
		if (c == '{')
			return match_alt(g, p, pn, i, s + j, sn - j) > 0 ? 1 :
			       match_alt(g, p, pn, i, s + j, sn - j);
		if (j >= sn)
			return 0;
		if (c == '?') {
			if (is_delim(g, s[j]))
				return 0;
		} else if (c == '[') {
			size_t end = group_end(p, pn, i, '[', ']');

			if (end >= pn)
				return -EINVAL;
			if (!match_class(p, i, end, s[j]))
				return 0;
			i = end;
		} else {
			if (c == '\\' && i + 1 < pn)
				c = p[++i];
			if (c != s[j])
				return 0;
		}
		i++;
		j++;
	}
	return j == sn;
}

static int b_glob_match(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	char d[64];
	struct glob g = { .d = d };
	int rc;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "glob.match", 1, "string", a[0]);
	if (a[1]->type == RG_ARR) {
		for (size_t i = 0; i < a[1]->len; i++) {
			const struct rg_val *x = a[1]->a[i];

			if (x->type != RG_STR || x->len != 1 || g.nd == sizeof(d))
				return rg_bi_err(ev, "glob.match: delimiters must be single ASCII characters");
			d[g.nd++] = x->s[0];
		}
		if (!g.nd)
			d[g.nd++] = '.';
	} else if (a[1]->type != RG_NULL) {
		return rg_bi_type(ev, "glob.match", 2, "any of array, null", a[1]);
	}
	if (a[2]->type != RG_STR)
		return rg_bi_type(ev, "glob.match", 3, "string", a[2]);
	rc = gmatch(&g, a[0]->s, a[0]->len, a[2]->s, a[2]->len);
	if (rc < 0)
		return rg_bi_err(ev, "glob.match: %s", rc == -E2BIG ? "pattern too complex" : "bad pattern");
	*out = rg_bool(rc == 1);
	return 0;
}

const struct rg_builtin rg_bi_regex[] = {
	{ "regex.match", 2, b_regex_match }, { "glob.match", 3, b_glob_match },
	{ NULL, 0, NULL },
};
