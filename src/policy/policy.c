#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "util.h"

#define MAX_TOKENS 16

/* Split Rego text into at most MAX_TOKENS tokens, dropping comments and
 * white space. ":=" is one token. -E2BIG when there are more. */
static int tokenize(const char *s, char tok[MAX_TOKENS][16], size_t *n)
{
	*n = 0;
	while (*s) {
		size_t len = 1;

		if (isspace((unsigned char)*s) || *s == ';') {
			s++;
			continue;
		}
		if (*s == '#') {
			s += strcspn(s, "\n");
			continue;
		}
		if (isalnum((unsigned char)*s) || *s == '_' || *s == '.') {
			while (isalnum((unsigned char)s[len]) || s[len] == '_' || s[len] == '.')
				len++;
		} else if (s[0] == ':' && s[1] == '=') {
			len = 2;
		}
		if (*n == MAX_TOKENS || len >= sizeof(tok[0]))
			return -E2BIG;
		memcpy(tok[*n], s, len);
		tok[(*n)++][len] = 0;
		s += len;
	}
	return 0;
}

static const char *const allow_forms[] = {
	"allow = true", "allow := true", "allow if true", "allow { true }",
	"allow if { true }", "default allow = true", "default allow := true",
	"allow = true { true }", "allow := true if { true }", NULL,
};

/* Compare tokens [from, n) with a space-separated form. */
static int matches(char tok[MAX_TOKENS][16], size_t from, size_t n, const char *form)
{
	char want[MAX_TOKENS][16];
	size_t m;

	if (tokenize(form, want, &m) || m != n - from)
		return 0;
	for (size_t i = 0; i < m; i++) {
		if (strcmp(tok[from + i], want[i]))
			return 0;
	}
	return 1;
}

int ctfs_policy_check(const char *rego, char *err, size_t errlen)
{
	char tok[MAX_TOKENS][16];
	size_t n, body = 2;

	if (!rego || tokenize(rego, tok, &n) || n < 2 ||
	    strcmp(tok[0], "package") || strcmp(tok[1], "model"))
		goto unsupported;
	/* "import rego.v1" only switches syntax versions */
	if (n > 3 && !strcmp(tok[2], "import") && !strcmp(tok[3], "rego.v1"))
		body = 4;
	for (size_t i = 0; allow_forms[i]; i++) {
		if (matches(tok, body, n, allow_forms[i]))
			return 0;
	}
unsupported:
	ctfs_seterr(err, errlen,
		    "policy denied: the policy engine does not evaluate this policy yet "
		    "(only the unconditional 'allow = true' is supported)");
	return -EACCES;
}
