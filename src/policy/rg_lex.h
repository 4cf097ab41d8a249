/* Rego tokens: the whole text is tokenized up front. */
#ifndef CTFS_RG_LEX_H
#define CTFS_RG_LEX_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/rg_value.h"

enum rg_tok { TOK_EOF, TOK_IDENT, TOK_NUM, TOK_STR, TOK_OP };

struct rg_token {
	enum rg_tok kind;
	bool nl_before; /* a newline since the previous token (statement separator) */
	bool ws_before; /* any white space or comment since the previous token */
	unsigned line, col;
	const char *p; /* TOK_IDENT/TOK_NUM/TOK_OP: text in the source */
	size_t len;
	struct rg_val *str; /* TOK_STR: the decoded string */
};

/* Tokenize; -EINVAL with "line L:C: ..." in err. max_tokens bounds the work. */
int rg_lex(struct rg_arena *a, const char *s, size_t n, size_t max_tokens,
	   struct rg_token **out, size_t *ntok, char *err, size_t errlen);

static inline bool rg_tok_is(const struct rg_token *t, const char *text)
{
	size_t l = __builtin_strlen(text);

	return (t->kind == TOK_IDENT || t->kind == TOK_OP) && t->len == l &&
	       !__builtin_memcmp(t->p, text, l);
}

#endif
