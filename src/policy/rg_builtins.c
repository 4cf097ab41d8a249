/* The builtin registry: one table per family, looked up by name. */
#include "policy/rg_builtins.h"

#include <string.h>

static const struct rg_builtin *const families[] = {
	rg_bi_num, rg_bi_str, rg_bi_coll, rg_bi_regex, rg_bi_time, rg_bi_enc, rg_bi_net, rg_bi_types,
};

const struct rg_builtin *rg_builtin_find(const char *name)
{
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
		for (const struct rg_builtin *b = families[f]; b->name; b++)
			if (!strcmp(b->name, name))
				return b;
	return NULL;
}
