/* Refuses JSON texts with duplicate object keys (see json_unique.h). */
#include "json/json_unique.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json_reader.h"
#include "util.h"

struct key {
	char *s;
	size_t len;
};

struct keys {
	struct key *v;
	size_t n, cap;
};

static int cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);

	return r ? r : (x->len > y->len) - (x->len < y->len);
}

static void keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i].s);
	free(k->v);
}

static int keys_add(struct keys *k, char *s, size_t len)
{
	if (k->n == k->cap) {
		size_t nc = k->cap ? k->cap * 2 : 16;
		struct key *v = realloc(k->v, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		k->v = v;
		k->cap = nc;
	}
	k->v[k->n++] = (struct key){ s, len };
	return 0;
}

/* Sorting finds equal keys in n log n: __encryption__ has one per tensor. */
static const struct key *keys_duplicate(struct keys *k)
{
	if (k->n > 1)
		qsort(k->v, k->n, sizeof(*k->v), cmp_key);
	for (size_t i = 1; i < k->n; i++) {
		if (!cmp_key(&k->v[i - 1], &k->v[i]))
			return &k->v[i];
	}
	return NULL;
}

static int value(struct ctfs_jr *r, char *err, size_t errlen);

static int object(struct ctfs_jr *r, char *err, size_t errlen)
{
	struct keys k = { 0 };
	const struct key *dup;
	bool first = true;
	int rc = ctfs_jr_open(r, '{');

	while (!rc && (rc = ctfs_jr_more(r, '}', &first)) > 0) {
		char *s;
		size_t len;

		rc = ctfs_jr_key(r, &s, &len);
		if (!rc && (rc = keys_add(&k, s, len)))
			free(s);
		if (!rc)
			rc = value(r, err, errlen);
	}
	if (!rc && (dup = keys_duplicate(&k))) {
		ctfs_seterr(err, errlen, "duplicate key \"%.*s\"", (int)(dup->len > 80 ? 80 : dup->len),
			    dup->s);
		rc = -EBADMSG;
	}
	keys_free(&k);
	return rc;
}

static int array(struct ctfs_jr *r, char *err, size_t errlen)
{
	bool first = true;
	int rc = ctfs_jr_open(r, '[');

	while (!rc && (rc = ctfs_jr_more(r, ']', &first)) > 0)
		rc = value(r, err, errlen);
	return rc;
}

static int value(struct ctfs_jr *r, char *err, size_t errlen)
{
	int c = ctfs_jr_peek(r);

	if (c == '{')
		return object(r, err, errlen);
	if (c == '[')
		return array(r, err, errlen);
	return ctfs_jr_skip(r);
}

int ctfs_json_check_strict(const char *text, size_t len, char *err, size_t errlen)
{
	struct ctfs_jr r;
	int rc;

	if (err && errlen)
		err[0] = 0;
	rc = ctfs_jr_init(&r, (const uint8_t *)text, len);
	if (!rc)
		rc = value(&r, err, errlen);
	if (!rc)
		rc = ctfs_jr_end(&r);
	if (rc == -ENOMEM)
		return rc;
	if (rc && !(err && err[0]))
		ctfs_seterr(err, errlen, "%s", r.msg);
	return rc ? -EBADMSG : 0;
}
