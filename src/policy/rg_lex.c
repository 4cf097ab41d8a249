/* Rego lexer: identifiers, numbers, strings (quoted and raw), operators;
 * records newlines because they separate the expressions of a body. */
#include "policy/rg_lex.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

struct lx {
	struct rg_arena *a;
	const char *s;
	size_t n, i;
	unsigned line;
	size_t line_start;
};

/* Longest first, so ":=" wins over ":". */
static const char *const ops[] = {
	":=", "==", "!=", "<=", ">=", "{", "}", "[", "]", "(", ")", ".", ",", ";", ":",
	"=", "<", ">", "+", "-", "*", "/", "%", "|", "&", NULL,
};

/* Skip blanks and comments; report whether a newline was crossed. */
static void skip(struct lx *l, bool *nl, bool *ws)
{
	while (l->i < l->n) {
		char c = l->s[l->i];

		if (c == '\n') {
			*nl = *ws = true;
			l->line++;
			l->line_start = ++l->i;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			*ws = true;
			l->i++;
		} else if (c == '#') {
			*ws = true;
			while (l->i < l->n && l->s[l->i] != '\n')
				l->i++;
		} else {
			return;
		}
	}
}

static bool ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static int lex_number(struct lx *l, struct rg_token *t)
{
	size_t j = l->i;

	while (j < l->n && isdigit((unsigned char)l->s[j]))
		j++;
	if (j + 1 < l->n && l->s[j] == '.' && isdigit((unsigned char)l->s[j + 1])) {
		j++;
		while (j < l->n && isdigit((unsigned char)l->s[j]))
			j++;
	}
	if (j < l->n && (l->s[j] == 'e' || l->s[j] == 'E')) {
		size_t k = j + 1;

		if (k < l->n && (l->s[k] == '+' || l->s[k] == '-'))
			k++;
		if (k < l->n && isdigit((unsigned char)l->s[k])) {
			while (k < l->n && isdigit((unsigned char)l->s[k]))
				k++;
			j = k;
		}
	}
	if (j < l->n && (ident_start(l->s[j]) || isdigit((unsigned char)l->s[j])))
		return -EINVAL;
	t->kind = TOK_NUM;
	t->len = j - l->i;
	l->i = j;
	return 0;
}

static int lex_raw(struct lx *l, struct rg_token *t)
{
	size_t j = l->i + 1;

	while (j < l->n && l->s[j] != '`') {
		if (l->s[j] == '\n') {
			l->line++;
			l->line_start = j + 1;
		}
		j++;
	}
	if (j >= l->n)
		return -EINVAL;
	t->kind = TOK_STR;
	t->str = rg_str(l->a, l->s + l->i + 1, j - l->i - 1);
	if (!t->str)
		return -ENOMEM;
	l->i = j + 1;
	return 0;
}

static int lex_one(struct lx *l, struct rg_token *t)
{
	char c = l->s[l->i];

	t->p = l->s + l->i;
	if (ident_start(c)) {
		size_t j = l->i;

		while (j < l->n && (ident_start(l->s[j]) || isdigit((unsigned char)l->s[j])))
			j++;
		t->kind = TOK_IDENT;
		t->len = j - l->i;
		l->i = j;
		return 0;
	}
	if (isdigit((unsigned char)c))
		return lex_number(l, t);
	if (c == '"') {
		t->kind = TOK_STR;
		return rg_json_string(l->a, l->s, l->n, &l->i, &t->str);
	}
	if (c == '`')
		return lex_raw(l, t);
	for (int k = 0; ops[k]; k++) {
		size_t ol = strlen(ops[k]);

		if (l->n - l->i >= ol && !memcmp(l->s + l->i, ops[k], ol)) {
			t->kind = TOK_OP;
			t->len = ol;
			l->i += ol;
			return 0;
		}
	}
	return -EINVAL;
}

int rg_lex(struct rg_arena *a, const char *s, size_t n, size_t max_tokens,
	   struct rg_token **out, size_t *ntok, char *err, size_t errlen)
{
	struct lx l = { .a = a, .s = s, .n = n, .line = 1 };
	size_t cap = 256, cnt = 0;
	struct rg_token *toks = rg_allocn(a, cap, sizeof(*toks));

	if (!toks)
		return -ENOMEM;
	for (;;) {
		bool nl = false, ws = false;
		struct rg_token *t;
		int rc;

		skip(&l, &nl, &ws);
		if (cnt + 1 >= cap) {
			struct rg_token *nt;

			if (cap >= max_tokens) {
				ctfs_seterr(err, errlen, "line %u: too many tokens (more than %zu)", l.line, max_tokens);
				return -E2BIG;
			}
			nt = rg_allocn(a, cap * 2, sizeof(*nt));
			if (!nt)
				return a->over ? -E2BIG : -ENOMEM;
			memcpy(nt, toks, cnt * sizeof(*nt));
			toks = nt;
			cap *= 2;
		}
		t = &toks[cnt];
		memset(t, 0, sizeof(*t));
		t->nl_before = nl;
		t->ws_before = ws;
		t->line = l.line;
		t->col = (unsigned)(l.i - l.line_start + 1);
		if (l.i >= l.n) {
			t->kind = TOK_EOF;
			cnt++;
			break;
		}
		if (memchr(s + l.i, 0, 1)) {
			ctfs_seterr(err, errlen, "line %u:%u: NUL byte in policy text", t->line, t->col);
			return -EINVAL;
		}
		rc = lex_one(&l, t);
		if (rc) {
			if (rc == -ENOMEM)
				return a->over ? -E2BIG : rc;
			size_t off = (size_t)(t->p - s), show = n - off < 10 ? n - off : 10;

			ctfs_seterr(err, errlen, "line %u:%u: unexpected or malformed token '%.*s'",
				    t->line, t->col, (int)show, t->p);
			return rc;
		}
		cnt++;
	}
	*out = toks;
	*ntok = cnt;
	return 0;
}
