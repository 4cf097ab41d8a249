/* Builtins: objects, arrays, sets, membership, sorting and JSON text. */
#include <errno.h>
#include <string.h>

#include "policy/rg_builtins.h"

#define A rg_ev_arena(ev)
#define RET(x) do { *out = (x); return *out ? 0 : -ENOMEM; } while (0)

/* `x in xs`: a member of an array or set, or a value of an object. */
static int b_member(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	const struct rg_val *c = a[1];
	bool in = false;

	(void)ev;
	if (c->type == RG_SET) {
		in = rg_find(c, a[0]) >= 0;
	} else if (c->type == RG_ARR || c->type == RG_OBJ) {
		struct rg_val **v = c->type == RG_ARR ? c->a : c->v;

		for (size_t i = 0; i < c->len && !in; i++)
			in = rg_eq(v[i], a[0]);
	}
	*out = rg_bool(in);
	return 0;
}

static int b_object_get(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	const struct rg_val *o = a[0];
	struct rg_val *v;

	if (o->type != RG_OBJ)
		return rg_bi_type(ev, "object.get", 1, "object", o);
	if (a[1]->type == RG_ARR) { /* a path */
		v = (struct rg_val *)o;
		for (size_t i = 0; v && i < a[1]->len; i++) {
			const struct rg_val *k = a[1]->a[i];

			if (v->type == RG_OBJ) {
				v = rg_obj_get(v, k);
			} else if (v->type == RG_ARR) {
				int64_t n;

				v = rg_num_int(k, &n) && n >= 0 && (uint64_t)n < v->len ? v->a[n] : NULL;
			} else if (v->type == RG_SET) {
				long j = rg_find(v, k);

				v = j >= 0 ? v->a[j] : NULL;
			} else {
				v = NULL;
			}
		}
	} else {
		v = rg_obj_get(o, a[1]);
	}
	*out = v ? v : a[2];
	return 0;
}

static int b_object_keys(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	if (a[0]->type != RG_OBJ)
		return rg_bi_type(ev, "object.keys", 1, "object", a[0]);
	RET(rg_set(A, a[0]->a, a[0]->len));
}

static int b_array_concat(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct rg_val **v;

	if (a[0]->type != RG_ARR)
		return rg_bi_type(ev, "array.concat", 1, "array", a[0]);
	if (a[1]->type != RG_ARR)
		return rg_bi_type(ev, "array.concat", 2, "array", a[1]);
	v = rg_allocn(A, a[0]->len + a[1]->len + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (a[0]->len)
		memcpy(v, a[0]->a, a[0]->len * sizeof(*v));
	if (a[1]->len)
		memcpy(v + a[0]->len, a[1]->a, a[1]->len * sizeof(*v));
	RET(rg_array(A, v, a[0]->len + a[1]->len));
}

static int b_array_slice(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t s, e, n;

	if (a[0]->type != RG_ARR)
		return rg_bi_type(ev, "array.slice", 1, "array", a[0]);
	if (!rg_num_int(a[1], &s))
		return rg_bi_type(ev, "array.slice", 2, "number", a[1]);
	if (!rg_num_int(a[2], &e))
		return rg_bi_type(ev, "array.slice", 3, "number", a[2]);
	n = (int64_t)a[0]->len;
	if (s < 0)
		s = 0;
	if (e > n)
		e = n;
	if (s >= e)
		RET(rg_array(A, NULL, 0));
	RET(rg_array(A, a[0]->a + s, (size_t)(e - s)));
}

static int sets_op(struct rg_ev *ev, const char *fn, struct rg_val **a, struct rg_val **out, bool uni)
{
	const struct rg_val *ss = a[0];
	struct rg_val **v;
	size_t n = 0, total = 0;

	if (ss->type != RG_SET)
		return rg_bi_type(ev, fn, 1, "set[set[any]]", ss);
	for (size_t i = 0; i < ss->len; i++) {
		if (ss->a[i]->type != RG_SET)
			return rg_bi_type(ev, fn, 1, "set[set[any]]", ss);
		total += ss->a[i]->len;
	}
	v = rg_allocn(A, total + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < ss->len; i++) {
		for (size_t j = 0; j < ss->a[i]->len; j++) {
			struct rg_val *m = ss->a[i]->a[j];
			bool keep = true;

			for (size_t k = 0; !uni && keep && k < ss->len; k++)
				keep = rg_find(ss->a[k], m) >= 0;
			if (keep)
				v[n++] = m;
		}
		if (!uni)
			break;
	}
	RET(rg_set(A, v, n));
}

static int b_union(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return sets_op(ev, "union", a, out, true); }
static int b_intersection(struct rg_ev *ev, struct rg_val **a, struct rg_val **out) { return sets_op(ev, "intersection", a, out, false); }

static int b_sort(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct rg_val *s, **v;
	size_t n = 0;

	if (a[0]->type == RG_SET)
		RET(rg_array(A, a[0]->a, a[0]->len));
	if (a[0]->type != RG_ARR)
		return rg_bi_type(ev, "sort", 1, "any of array, set", a[0]);
	/* a set drops duplicates: count them back in */
	s = rg_set(A, a[0]->a, a[0]->len);
	v = rg_allocn(A, a[0]->len + 1, sizeof(*v));
	if (!s || !v)
		return -ENOMEM;
	for (size_t i = 0; i < s->len; i++)
		for (size_t j = 0; j < a[0]->len; j++)
			if (rg_eq(a[0]->a[j], s->a[i]))
				v[n++] = s->a[i];
	RET(rg_array(A, v, n));
}

static int b_json_marshal(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct ctfs_buf b = { 0 };
	int rc = rg_to_json(&b, a[0]);

	*out = rc ? NULL : rg_str(A, b.data ? (const char *)b.data : "", b.len);
	ctfs_buf_free(&b);
	return *out ? 0 : -ENOMEM;
}

static int b_json_unmarshal(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	char err[120];

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "json.unmarshal", 1, "string", a[0]);
	if (rg_from_json(A, a[0]->s, a[0]->len, 64, out, err, sizeof(err)))
		return rg_bi_err(ev, "json.unmarshal: %s", err);
	return 0;
}

static int b_json_is_valid(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct rg_val *v;

	if (a[0]->type != RG_STR) {
		*out = &rg_false;
		return 0;
	}
	*out = rg_bool(!rg_from_json(A, a[0]->s, a[0]->len, 64, &v, NULL, 0));
	return 0;
}

const struct rg_builtin rg_bi_coll[] = {
	{ "internal.member_2", 2, b_member }, { "object.get", 3, b_object_get },
	{ "object.keys", 1, b_object_keys }, { "array.concat", 2, b_array_concat },
	{ "array.slice", 3, b_array_slice }, { "union", 1, b_union },
	{ "intersection", 1, b_intersection }, { "sort", 1, b_sort },
	{ "json.marshal", 1, b_json_marshal }, { "json.unmarshal", 1, b_json_unmarshal },
	{ "json.is_valid", 1, b_json_is_valid },
	{ NULL, 0, NULL },
};
