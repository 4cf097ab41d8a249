/* Builtins: type tests and type_name. */
#include <errno.h>

#include "policy/rg_builtins.h"

#define TYPE_FN(fname, t) \
	static int fname(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) \
	{ \
		(void)ev; \
		*out = rg_bool(a[0]->type == (t)); \
		return 0; \
	}

TYPE_FN(b_is_string, RG_STR)
TYPE_FN(b_is_number, RG_NUM)
TYPE_FN(b_is_boolean, RG_BOOL)
TYPE_FN(b_is_array, RG_ARR)
TYPE_FN(b_is_set, RG_SET)
TYPE_FN(b_is_object, RG_OBJ)
TYPE_FN(b_is_null, RG_NULL)

static int b_type_name(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	*out = rg_cstr(rg_ev_arena(ev), rg_type_name(a[0]));
	return *out ? 0 : -ENOMEM;
}

const struct rg_builtin rg_bi_types[] = {
	{ "is_string", 1, b_is_string }, { "is_number", 1, b_is_number },
	{ "is_boolean", 1, b_is_boolean }, { "is_array", 1, b_is_array }, { "is_set", 1, b_is_set },
	{ "is_object", 1, b_is_object }, { "is_null", 1, b_is_null }, { "type_name", 1, b_type_name },
	{ NULL, 0, NULL },
};
