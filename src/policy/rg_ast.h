/* The compiled form of Rego modules: terms, expressions, bodies, rules,
 * rule groups and the package tree. Read-only once compiled. */
#ifndef CTFS_RG_AST_H
#define CTFS_RG_AST_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/rg_value.h"

enum rg_tkind {
	TK_VAL,   /* constant scalar (or constant composite after folding) */
	TK_VAR,   /* a name: local, input, data, a rule of the package, an import */
	TK_REF,   /* items[0] is the head, items[1..] the operands ([x] or .x) */
	TK_ARR, TK_SET, TK_OBJ,
	TK_CALL,  /* builtin or user function call */
	TK_ACOMP, TK_SCOMP, TK_OCOMP,
};

enum rg_vkind { V_UNRES, V_LOCAL, V_INPUT, V_DATA, V_RULE, V_ALIAS };

struct rg_group;
struct rg_body;
struct rg_builtin;

struct rg_term {
	unsigned char kind;
	unsigned char vkind;
	unsigned line;
	struct rg_val *val;      /* TK_VAL */
	const char *name;        /* TK_VAR; TK_CALL: the dotted function name */
	int slot;                /* V_LOCAL */
	bool wildcard;           /* the var `_` (every occurrence is its own var) */
	bool outarg;             /* TK_CALL: f(x, out): the last argument receives the result */
	struct rg_group *grp;    /* V_RULE; TK_CALL to a user function */
	struct rg_term *alias;   /* V_ALIAS: the imported reference */
	const struct rg_builtin *bi; /* TK_CALL to a builtin */
	struct rg_term **items;  /* TK_REF head+operands, TK_ARR/TK_SET items, TK_CALL args, TK_OBJ keys */
	struct rg_term **vals;   /* TK_OBJ values */
	size_t n;
	struct rg_term *key, *value; /* comprehensions: head ({key: value | ...}; value for [v|..]/{v|..}) */
	struct rg_body *body;        /* comprehensions */
};

enum rg_ekind { EX_TERM, EX_UNIFY, EX_ASSIGN, EX_SOME, EX_SOMEIN, EX_EVERY };

struct rg_with {
	struct rg_term *target; /* input..., data... */
	struct rg_term *value;
};

struct rg_expr {
	unsigned char kind;
	bool neg;
	unsigned line;
	struct rg_term *a, *b, *c; /* TERM: a; UNIFY/ASSIGN: a op b; SOMEIN/EVERY: a (key or NULL), b (value), c (collection) */
	struct rg_body *body;      /* EVERY */
	struct rg_term **somevars; /* EX_SOME */
	size_t nsome;
	struct rg_with *with;
	size_t nwith;
};

struct rg_body {
	struct rg_expr **e;
	size_t n;
	int lo, hi; /* frame slots declared inside (free vars are below lo) */
};

enum rg_rkind { R_COMPLETE, R_SET, R_OBJ, R_FUNC };

struct rg_rule {
	unsigned char kind;
	bool is_default;
	const char *name;
	unsigned line;
	struct rg_term **args; /* R_FUNC parameters (patterns) */
	size_t nargs;
	struct rg_term *key;   /* R_SET member, R_OBJ key */
	struct rg_term *value; /* R_COMPLETE/R_OBJ/R_FUNC value; never NULL once parsed */
	struct rg_body *body;  /* never NULL: an empty body is true */
	struct rg_rule *els;   /* else chain */
	struct rg_module *mod;
	int nslots;            /* frame size, for the rule and its else chain */
};

/* All definitions of one rule (or function) of one package. */
struct rg_group {
	const char *name;
	struct rg_pkg *pkg;
	unsigned char kind;
	size_t nargs;
	struct rg_rule **defs;
	size_t n;
	struct rg_rule *dflt;
	size_t index;          /* into the evaluation's memo table */
};

struct rg_pkg {
	const char *name;      /* last path element ("" for data) */
	struct rg_pkg *parent;
	struct rg_pkg **kids;
	size_t nkids;
	struct rg_group **groups;
	size_t ngroups;
};

struct rg_import {
	const char *alias;
	struct rg_term *ref;
};

struct rg_module {
	const char **pkg; /* package path without "data" */
	size_t npkg;
	struct rg_pkg *node;
	struct rg_import **imports;
	size_t nimports;
	struct rg_rule **rules;
	size_t nrules;
};

#endif
