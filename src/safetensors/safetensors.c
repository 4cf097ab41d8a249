#include "safetensors/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json_reader.h"
#include "codec/utf8.h"
#include "util.h"

#define META_KEY "__metadata__"

struct parser {
	struct ctfs_jr r;
	struct ctfs_st_header *h;
	size_t tensors_cap;
	size_t meta_cap;
	char *err;
	size_t errlen;
};

/* A name in a string safe for a one-line message. */
#define SHOWN_MAX 64
struct shown {
	char s[SHOWN_MAX + 4];
};

static const char *shown(const char *name, struct shown *b)
{
	size_t n = strlen(name), cut = n;

	if (n > SHOWN_MAX) {
		cut = SHOWN_MAX;
		while (cut && ((unsigned char)name[cut] & 0xc0) == 0x80)
			cut--;	/* do not split a UTF-8 sequence */
	}
	for (size_t i = 0; i < cut; i++)
		b->s[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	strcpy(b->s + cut, n > cut ? "..." : "");
	return b->s;
}

static __attribute__((format(printf, 2, 3))) int bad(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err && p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A failure of the JSON reader, while reading what (NULL: the header itself). */
static int json_error(struct parser *p, int rc, const char *tensor, const char *what)
{
	struct shown b;

	if (rc == -ENOMEM) {
		ctfs_seterr(p->err, p->errlen, "out of memory while parsing the header");
		return rc;
	}
	if (tensor)
		return bad(p, "tensor \"%s\": %s: %s", shown(tensor, &b), what, p->r.msg);
	if (what)
		return bad(p, "%s: %s", what, p->r.msg);
	return bad(p, "invalid header JSON %s", p->r.msg);
}

/* Named things, sorted by name to find duplicates and to look names up. */
struct named {
	const char *name;
	size_t idx;
};

static int cmp_named(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sort v by name; the first name that occurs twice, or NULL. */
static const char *sort_find_duplicate(struct named *v, size_t n)
{
	if (n < 2)
		return NULL;
	qsort(v, n, sizeof(*v), cmp_named);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i - 1].name, v[i].name) == 0)
			return v[i].name;
	}
	return NULL;
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	if (ctfs_mul_overflow(*cap ? *cap : 4, 2, &ncap))
		return -ENOMEM;
	nv = reallocarray(*v, ncap, size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static int parse_metadata(struct parser *p)
{
	struct ctfs_st_header *h = p->h;
	struct named *keys;
	const char *dup;
	bool first = true;
	int rc;

	if (ctfs_jr_peek(&p->r) != '{')
		return bad(p, "\"__metadata__\" is not a JSON object");
	rc = ctfs_jr_open(&p->r, '{');
	if (rc)
		return json_error(p, rc, NULL, "__metadata__");
	h->has_metadata = true;
	while ((rc = ctfs_jr_more(&p->r, '}', &first)) > 0) {
		struct ctfs_meta_entry *e;
		struct shown b;

		rc = grow((void **)&h->meta, &p->meta_cap, h->n_meta, sizeof(*h->meta));
		if (rc)
			return json_error(p, rc, NULL, NULL);
		e = &h->meta[h->n_meta];
		rc = ctfs_jr_key(&p->r, &e->key, NULL);
		if (rc)
			return json_error(p, rc, NULL, "__metadata__");
		if (ctfs_jr_peek(&p->r) != '"') {
			rc = bad(p, "\"__metadata__\": the value of \"%s\" is not a string",
				 shown(e->key, &b));
			free(e->key);
			return rc;
		}
		rc = ctfs_jr_string(&p->r, &e->value, NULL);
		if (rc) {
			rc = json_error(p, rc, NULL, "__metadata__");
			free(e->key);
			return rc;
		}
		h->n_meta++;
	}
	if (rc)
		return json_error(p, rc, NULL, "__metadata__");

	keys = calloc(h->n_meta ? h->n_meta : 1, sizeof(*keys));
	if (!keys)
		return json_error(p, -ENOMEM, NULL, NULL);
	for (size_t i = 0; i < h->n_meta; i++)
		keys[i] = (struct named){ h->meta[i].key, i };
	dup = sort_find_duplicate(keys, h->n_meta);
	if (dup) {
		struct shown b;

		rc = bad(p, "\"__metadata__\": duplicate key \"%s\"", shown(dup, &b));
	}
	free(keys);
	return rc;
}

static int parse_dtype(struct parser *p, struct ctfs_tensor *t)
{
	struct shown b, d;
	char *s;
	int rc;

	if (ctfs_jr_peek(&p->r) != '"')
		return bad(p, "tensor \"%s\": dtype is not a string", shown(t->name, &b));
	rc = ctfs_jr_string(&p->r, &s, NULL);
	if (rc)
		return json_error(p, rc, t->name, "dtype");
	rc = ctfs_dtype_parse(s, &t->dtype);
	if (rc)
		rc = bad(p, "tensor \"%s\": unknown dtype \"%s\"", shown(t->name, &b), shown(s, &d));
	free(s);
	return rc;
}

static int parse_shape(struct parser *p, struct ctfs_tensor *t)
{
	struct shown b;
	size_t cap = 0;
	bool first = true;
	int rc;

	if (ctfs_jr_peek(&p->r) != '[')
		return bad(p, "tensor \"%s\": shape is not an array", shown(t->name, &b));
	rc = ctfs_jr_open(&p->r, '[');
	while (!rc && (rc = ctfs_jr_more(&p->r, ']', &first)) > 0) {
		rc = grow((void **)&t->shape, &cap, t->ndim, sizeof(*t->shape));
		if (!rc)
			rc = ctfs_jr_u64(&p->r, &t->shape[t->ndim]);
		if (!rc)
			t->ndim++;
	}
	if (rc)
		return json_error(p, rc, t->name, "shape");
	return 0;
}

static int parse_offsets(struct parser *p, struct ctfs_tensor *t)
{
	uint64_t v[2];
	struct shown b;
	bool first = true;
	size_t n = 0;
	int rc;

	if (ctfs_jr_peek(&p->r) != '[')
		return bad(p, "tensor \"%s\": data_offsets is not an array", shown(t->name, &b));
	rc = ctfs_jr_open(&p->r, '[');
	while (!rc && (rc = ctfs_jr_more(&p->r, ']', &first)) > 0) {
		if (n == 2)
			return bad(p, "tensor \"%s\": data_offsets has more than two entries",
				   shown(t->name, &b));
		rc = ctfs_jr_u64(&p->r, &v[n++]);
	}
	if (rc)
		return json_error(p, rc, t->name, "data_offsets");
	if (n != 2)
		return bad(p, "tensor \"%s\": data_offsets has %zu entries instead of two",
			   shown(t->name, &b), n);
	t->begin = v[0];
	t->end = v[1];
	return 0;
}

enum { F_DTYPE = 1, F_SHAPE = 2, F_OFFSETS = 4 };

/* One member of a tensor entry; unknown ones are kept in *other for the
 * duplicate check and otherwise ignored, as serde ignores them. */
static int parse_field(struct parser *p, struct ctfs_tensor *t, unsigned int *seen,
		       struct named **other, size_t *n_other, size_t *other_cap)
{
	static const char *const names[] = { "dtype", "shape", "data_offsets" };
	struct shown b;
	unsigned int f = 0;
	char *key;
	int rc = ctfs_jr_key(&p->r, &key, NULL);

	if (rc)
		return json_error(p, rc, t->name, "entry");
	for (size_t i = 0; i < CTFS_ARRAY_LEN(names); i++) {
		if (strcmp(key, names[i]) == 0)
			f = 1u << i;
	}
	if (f & *seen) {
		rc = bad(p, "tensor \"%s\": duplicate field \"%s\"", shown(t->name, &b), key);
		free(key);
		return rc;
	}
	*seen |= f;
	if (f) {
		free(key);
		if (f == F_DTYPE)
			return parse_dtype(p, t);
		if (f == F_SHAPE)
			return parse_shape(p, t);
		return parse_offsets(p, t);
	}
	rc = grow((void **)other, other_cap, *n_other, sizeof(**other));
	if (rc) {
		free(key);
		return json_error(p, rc, NULL, NULL);
	}
	(*other)[*n_other] = (struct named){ key, *n_other };
	(*n_other)++;
	rc = ctfs_jr_skip(&p->r);
	return rc ? json_error(p, rc, t->name, shown(key, &b)) : 0;
}

static int parse_entry(struct parser *p, struct ctfs_tensor *t)
{
	static const char *const missing[] = { "dtype", "shape", "data_offsets" };
	struct named *other = NULL;
	size_t n_other = 0, other_cap = 0;
	unsigned int seen = 0;
	const char *dup;
	struct shown b;
	bool first = true;
	int rc;

	if (ctfs_jr_peek(&p->r) != '{')
		return bad(p, "tensor \"%s\": entry is not a JSON object", shown(t->name, &b));
	rc = ctfs_jr_open(&p->r, '{');
	if (rc)
		return json_error(p, rc, t->name, "entry");
	while ((rc = ctfs_jr_more(&p->r, '}', &first)) > 0) {
		rc = parse_field(p, t, &seen, &other, &n_other, &other_cap);
		if (rc)
			goto out;
	}
	if (rc) {
		rc = json_error(p, rc, t->name, "entry");
		goto out;
	}
	dup = sort_find_duplicate(other, n_other);
	if (dup) {
		struct shown d;

		rc = bad(p, "tensor \"%s\": duplicate field \"%s\"", shown(t->name, &b),
			 shown(dup, &d));
		goto out;
	}
	for (size_t i = 0; i < CTFS_ARRAY_LEN(missing); i++) {
		if (!(seen & 1u << i)) {
			rc = bad(p, "tensor \"%s\": missing field \"%s\"", shown(t->name, &b),
				 missing[i]);
			goto out;
		}
	}
out:
	for (size_t i = 0; i < n_other; i++)
		free((char *)other[i].name);
	free(other);
	return rc;
}

/* A top-level member other than __metadata__; takes ownership of name. */
static int parse_tensor(struct parser *p, char *name)
{
	struct ctfs_st_header *h = p->h;
	struct ctfs_tensor t = { .name = name };
	int rc;

	rc = grow((void **)&h->tensors, &p->tensors_cap, h->n_tensors, sizeof(*h->tensors));
	if (rc)
		rc = json_error(p, rc, NULL, NULL);
	else
		rc = parse_entry(p, &t);
	if (rc) {
		free(t.name);
		free(t.shape);
		return rc;
	}
	h->tensors[h->n_tensors++] = t;
	return 0;
}

static int parse_object(struct parser *p)
{
	bool first = true;
	int c, rc;

	c = ctfs_jr_peek(&p->r);
	if (c == -1)
		return bad(p, "the header is empty");
	if (c != '{')
		return bad(p, "the header is not a JSON object");
	rc = ctfs_jr_open(&p->r, '{');
	if (rc)
		return json_error(p, rc, NULL, NULL);
	while ((rc = ctfs_jr_more(&p->r, '}', &first)) > 0) {
		char *key;

		rc = ctfs_jr_key(&p->r, &key, NULL);
		if (rc)
			return json_error(p, rc, NULL, NULL);
		if (strcmp(key, META_KEY) != 0) {
			rc = parse_tensor(p, key);
		} else {
			free(key);
			if (p->h->has_metadata)
				return bad(p, "duplicate \"__metadata__\"");
			rc = parse_metadata(p);
		}
		if (rc)
			return rc;
	}
	if (!rc)
		rc = ctfs_jr_end(&p->r);
	return rc ? json_error(p, rc, NULL, NULL) : 0;
}

static int index_names(struct parser *p)
{
	struct ctfs_st_header *h = p->h;
	struct named *v = calloc(h->n_tensors ? h->n_tensors : 1, sizeof(*v));
	const char *dup;
	struct shown b;

	h->by_name = calloc(h->n_tensors ? h->n_tensors : 1, sizeof(*h->by_name));
	if (!v || !h->by_name) {
		free(v);
		return json_error(p, -ENOMEM, NULL, NULL);
	}
	for (size_t i = 0; i < h->n_tensors; i++)
		v[i] = (struct named){ h->tensors[i].name, i };
	dup = sort_find_duplicate(v, h->n_tensors);
	for (size_t i = 0; i < h->n_tensors; i++)
		h->by_name[i] = v[i].idx;
	free(v);
	if (dup)
		return bad(p, "duplicate tensor name \"%s\"", shown(dup, &b));
	return 0;
}

static int check_size(struct parser *p, const struct ctfs_tensor *t)
{
	uint64_t nbytes;
	struct shown b;
	int rc;

	if (t->end < t->begin)
		return bad(p, "tensor \"%s\": data_offsets end %" PRIu64 " is before begin %" PRIu64,
			   shown(t->name, &b), t->end, t->begin);
	rc = ctfs_tensor_nbytes(t->dtype, t->shape, t->ndim, &nbytes);
	if (rc == -EOVERFLOW)
		return bad(p, "tensor \"%s\": the size of the shape overflows", shown(t->name, &b));
	if (rc)
		return bad(p, "tensor \"%s\": %s elements of this shape do not fill whole bytes",
			   shown(t->name, &b), ctfs_dtype_name(t->dtype));
	if (t->end - t->begin != nbytes)
		return bad(p, "tensor \"%s\": data_offsets span %" PRIu64 " bytes but a %s tensor "
			   "of this shape has %" PRIu64, shown(t->name, &b), t->end - t->begin,
			   ctfs_dtype_name(t->dtype), nbytes);
	return 0;
}

struct span {
	uint64_t begin, end;
	size_t idx;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Upstream's validation: sorted by data_offsets, the tensors tile the data
 * region from 0 without gap or overlap, and the region ends the file. */
static int check_layout(struct parser *p, uint64_t file_size)
{
	struct ctfs_st_header *h = p->h;
	struct span *v;
	uint64_t pos = 0, total;
	struct shown b;
	int rc = 0;

	for (size_t i = 0; i < h->n_tensors && !rc; i++)
		rc = check_size(p, &h->tensors[i]);
	if (rc)
		return rc;
	v = calloc(h->n_tensors ? h->n_tensors : 1, sizeof(*v));
	h->order = calloc(h->n_tensors ? h->n_tensors : 1, sizeof(*h->order));
	if (!v || !h->order) {
		free(v);
		return json_error(p, -ENOMEM, NULL, NULL);
	}
	for (size_t i = 0; i < h->n_tensors; i++)
		v[i] = (struct span){ h->tensors[i].begin, h->tensors[i].end, i };
	qsort(v, h->n_tensors, sizeof(*v), cmp_span);
	for (size_t i = 0; i < h->n_tensors; i++) {
		h->order[i] = v[i].idx;
		if (!rc && v[i].begin != pos)
			rc = bad(p, "tensor \"%s\" begins at data offset %" PRIu64 " instead of %"
				 PRIu64 " (tensors must be contiguous from offset 0)",
				 shown(h->tensors[v[i].idx].name, &b), v[i].begin, pos);
		pos = v[i].end;
	}
	free(v);
	if (rc)
		return rc;
	h->data_len = pos;
	if (ctfs_add_overflow(h->data_start, pos, &total) || total != file_size)
		return bad(p, "the tensors end at data offset %" PRIu64 " but the data region of "
			   "this %" PRIu64 "-byte file is %" PRIu64 " bytes", pos, file_size,
			   file_size - h->data_start);
	return 0;
}

static int check_header_len(uint64_t n, uint64_t file_size, char *err, size_t errlen)
{
	if (n > CTFS_ST_MAX_HEADER) {
		ctfs_seterr(err, errlen, "header length %" PRIu64 " exceeds the limit of %llu bytes",
			    n, CTFS_ST_MAX_HEADER);
		return -EINVAL;
	}
	if (file_size < 8 || n > file_size - 8) {
		ctfs_seterr(err, errlen, "header length %" PRIu64 " does not fit in a file of %"
			    PRIu64 " bytes", n, file_size);
		return -EINVAL;
	}
	return 0;
}

int ctfs_st_parse(const uint8_t *json, size_t len, uint64_t file_size,
		  struct ctfs_st_header **out, char *err, size_t errlen)
{
	struct parser p = { .err = err, .errlen = errlen };
	int rc;

	rc = check_header_len(len, file_size, err, errlen);
	if (rc)
		return rc;
	if (!json && len)
		return -EINVAL;
	p.h = calloc(1, sizeof(*p.h));
	if (!p.h) {
		ctfs_seterr(err, errlen, "out of memory while parsing the header");
		return -ENOMEM;
	}
	p.h->header_len = len;
	p.h->data_start = 8 + (uint64_t)len;
	rc = ctfs_jr_init(&p.r, json ? json : (const uint8_t *)"", len);
	if (rc)
		rc = bad(&p, "the header is not valid UTF-8 (%s)", p.r.msg);
	if (!rc)
		rc = parse_object(&p);
	if (!rc)
		rc = index_names(&p);
	if (!rc)
		rc = check_layout(&p, file_size);
	if (rc) {
		ctfs_st_free(p.h);
		return rc;
	}
	*out = p.h;
	return 0;
}

int ctfs_st_read(int fd, uint64_t file_size, struct ctfs_st_header **out,
		 char *err, size_t errlen)
{
	uint8_t prefix[8], *json;
	uint64_t n;
	int rc;

	if (file_size < 8) {
		ctfs_seterr(err, errlen, "a %" PRIu64 "-byte file is too small for a safetensors "
			    "header", file_size);
		return -EINVAL;
	}
	rc = ctfs_pread_full(fd, prefix, sizeof(prefix), 0);
	if (rc) {
		ctfs_seterr(err, errlen, "cannot read the header length: %s", strerror(-rc));
		return rc;
	}
	n = ctfs_load_le64(prefix);
	rc = check_header_len(n, file_size, err, errlen);
	if (rc)
		return rc;
	json = malloc(n ? (size_t)n : 1);
	if (!json) {
		ctfs_seterr(err, errlen, "out of memory for a %" PRIu64 "-byte header", n);
		return -ENOMEM;
	}
	rc = ctfs_pread_full(fd, json, (size_t)n, 8);
	if (rc)
		ctfs_seterr(err, errlen, "cannot read the header: %s", strerror(-rc));
	else
		rc = ctfs_st_parse(json, (size_t)n, file_size, out, err, errlen);
	free(json);
	return rc;
}

void ctfs_st_free(struct ctfs_st_header *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_tensors; i++) {
		free(h->tensors[i].name);
		free(h->tensors[i].shape);
	}
	for (size_t i = 0; i < h->n_meta; i++) {
		free(h->meta[i].key);
		free(h->meta[i].value);
	}
	free(h->tensors);
	free(h->order);
	free(h->by_name);
	free(h->meta);
	free(h);
}

static struct ctfs_meta_entry *meta_find(const struct ctfs_st_header *h, const char *key)
{
	for (size_t i = 0; i < h->n_meta; i++) {
		if (strcmp(h->meta[i].key, key) == 0)
			return &h->meta[i];
	}
	return NULL;
}

const char *ctfs_st_meta_get(const struct ctfs_st_header *h, const char *key)
{
	const struct ctfs_meta_entry *e = meta_find(h, key);

	return e ? e->value : NULL;
}

int ctfs_st_meta_set(struct ctfs_st_header *h, const char *key, const char *value)
{
	struct ctfs_meta_entry *e = meta_find(h, key), *nm;
	char *v, *k = NULL;

	if (!ctfs_utf8_valid((const uint8_t *)key, strlen(key), NULL) ||
	    !ctfs_utf8_valid((const uint8_t *)value, strlen(value), NULL))
		return -EINVAL;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	if (e) {
		free(e->value);
		e->value = v;
		h->has_metadata = true;
		return 0;
	}
	k = strdup(key);
	nm = k ? reallocarray(h->meta, h->n_meta + 1, sizeof(*h->meta)) : NULL;
	if (!nm) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	h->meta = nm;
	h->meta[h->n_meta++] = (struct ctfs_meta_entry){ k, v };
	h->has_metadata = true;
	return 0;
}

int ctfs_st_meta_remove(struct ctfs_st_header *h, const char *key)
{
	struct ctfs_meta_entry *e = meta_find(h, key);
	size_t i;

	if (!e)
		return -ENOENT;
	i = (size_t)(e - h->meta);
	free(e->key);
	free(e->value);
	memmove(e, e + 1, (h->n_meta - i - 1) * sizeof(*e));
	h->n_meta--;
	return 0;
}

const struct ctfs_tensor *ctfs_st_find(const struct ctfs_st_header *h, const char *name)
{
	size_t lo = 0, hi = h->n_tensors;

	if (!h->by_name) {
		for (size_t i = 0; i < h->n_tensors; i++) {
			if (strcmp(h->tensors[i].name, name) == 0)
				return &h->tensors[i];
		}
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ctfs_tensor *t = &h->tensors[h->by_name[mid]];
		int c = strcmp(t->name, name);

		if (c == 0)
			return t;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
