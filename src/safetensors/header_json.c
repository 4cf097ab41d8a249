#include "safetensors/header_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "codec/utf8.h"

/* The letter of serde_json's two-character escape for c, or 0. */
static char short_escape(uint8_t c)
{
	switch (c) {
	case '"':
		return '"';
	case '\\':
		return '\\';
	case '\b':
		return 'b';
	case '\f':
		return 'f';
	case '\n':
		return 'n';
	case '\r':
		return 'r';
	case '\t':
		return 't';
	}
	return 0;
}

int ctfs_json_put_text(struct ctfs_buf *out, const char *s)
{
	int rc = ctfs_buf_putc(out, '"');

	for (; !rc && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = ctfs_buf_printf(out, "\\%c", c);
		else if (c < 0x20)
			rc = ctfs_buf_printf(out, "\\u%04x", c);
		else
			rc = ctfs_buf_putc(out, (char)c);
	}
	return rc ? rc : ctfs_buf_putc(out, '"');
}

int ctfs_json_put_string(struct ctfs_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s;
	size_t from = 0;
	int rc;

	if (!ctfs_utf8_valid(p, len, NULL))
		return -EINVAL;
	rc = ctfs_buf_putc(out, '"');
	for (size_t i = 0; i < len && !rc; i++) {
		char esc[6] = { '\\', short_escape(p[i]) };
		size_t n = 2;

		if (!esc[1] && p[i] >= 0x20)
			continue;	/* written raw, with the run it belongs to */
		if (!esc[1]) {
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[p[i] >> 4];
			esc[5] = hex[p[i] & 0xf];
			n = 6;
		}
		rc = ctfs_buf_append(out, p + from, i - from);
		if (!rc)
			rc = ctfs_buf_append(out, esc, n);
		from = i + 1;
	}
	if (!rc)
		rc = ctfs_buf_append(out, p + from, len - from);
	if (!rc)
		rc = ctfs_buf_putc(out, '"');
	return rc;
}

static int put_cstring(struct ctfs_buf *out, const char *s)
{
	return ctfs_json_put_string(out, s, strlen(s));
}

static bool omitted(const char *key, const char *const *omit)
{
	for (; omit && *omit; omit++) {
		if (strcmp(key, *omit) == 0)
			return true;
	}
	return false;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct ctfs_meta_entry *x = *(const struct ctfs_meta_entry *const *)a;
	const struct ctfs_meta_entry *y = *(const struct ctfs_meta_entry *const *)b;

	return strcmp(x->key, y->key);	/* byte order, as Rust's BTreeMap<String, _> */
}

/* The kept metadata entries sorted by key; *n may be 0. */
static int sorted_meta(const struct ctfs_st_header *h, const char *const *omit,
		       const struct ctfs_meta_entry ***out, size_t *n)
{
	const struct ctfs_meta_entry **v = calloc(h->n_meta ? h->n_meta : 1, sizeof(*v));
	size_t k = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < h->n_meta; i++) {
		if (!omitted(h->meta[i].key, omit))
			v[k++] = &h->meta[i];
	}
	qsort(v, k, sizeof(*v), cmp_entry);
	for (size_t i = 1; i < k; i++) {
		if (strcmp(v[i - 1]->key, v[i]->key) == 0) {
			free(v);
			return -EINVAL;
		}
	}
	*out = v;
	*n = k;
	return 0;
}

static int put_meta(struct ctfs_buf *out, const struct ctfs_meta_entry *const *v, size_t n)
{
	int rc = ctfs_buf_puts(out, "\"__metadata__\":{");

	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = ctfs_buf_putc(out, ',');
		if (!rc)
			rc = put_cstring(out, v[i]->key);
		if (!rc)
			rc = ctfs_buf_putc(out, ':');
		if (!rc)
			rc = put_cstring(out, v[i]->value);
	}
	if (!rc)
		rc = ctfs_buf_putc(out, '}');
	return rc;
}

static int put_tensor(struct ctfs_buf *out, const struct ctfs_tensor *t)
{
	const char *dt = ctfs_dtype_name(t->dtype);
	int rc;

	if (!dt || (t->ndim && !t->shape))
		return -EINVAL;
	rc = put_cstring(out, t->name);
	if (!rc)
		rc = ctfs_buf_printf(out, ":{\"dtype\":\"%s\",\"shape\":[", dt);
	for (size_t i = 0; i < t->ndim && !rc; i++)
		rc = ctfs_buf_printf(out, i ? ",%" PRIu64 : "%" PRIu64, t->shape[i]);
	if (!rc)
		rc = ctfs_buf_printf(out, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
				     t->begin, t->end);
	return rc;
}

int ctfs_st_serialize(const struct ctfs_st_header *h, const char *const *omit,
		      bool omit_empty_metadata, struct ctfs_buf *out)
{
	const struct ctfs_meta_entry **meta = NULL;
	size_t n_meta = 0, start = out->len;
	bool any = false;
	int rc;

	if (h->n_tensors && !h->order)
		return -EINVAL;
	rc = sorted_meta(h, omit, &meta, &n_meta);
	if (rc)
		return rc;
	rc = ctfs_buf_putc(out, '{');
	if (!rc && h->has_metadata && (n_meta || !omit_empty_metadata)) {
		rc = put_meta(out, meta, n_meta);
		any = true;
	}
	for (size_t i = 0; i < h->n_tensors && !rc; i++) {
		if (h->order[i] >= h->n_tensors) {
			rc = -EINVAL;
			break;
		}
		if (any)
			rc = ctfs_buf_putc(out, ',');
		if (!rc)
			rc = put_tensor(out, &h->tensors[h->order[i]]);
		any = true;
	}
	if (!rc)
		rc = ctfs_buf_putc(out, '}');
	free(meta);
	if (rc && out->data) {
		out->len = start;	/* nothing half-written */
		out->data[start] = 0;
	}
	return rc;
}

int ctfs_st_build_header(const struct ctfs_st_header *h, const char *const *omit,
			 bool omit_empty_metadata, struct ctfs_buf *out)
{
	static const char spaces[8] = "        ";
	size_t start = out->len, n;
	uint8_t prefix[8] = { 0 };
	int rc;

	rc = ctfs_buf_append(out, prefix, sizeof(prefix));
	if (!rc)
		rc = ctfs_st_serialize(h, omit, omit_empty_metadata, out);
	if (!rc) {
		n = out->len - start - sizeof(prefix);
		rc = ctfs_buf_append(out, spaces, (8 - n % 8) % 8);
	}
	if (rc) {
		out->len = start;	/* leave out as it was */
		if (out->data)
			out->data[start] = 0;
		return rc;
	}
	n = out->len - start - sizeof(prefix);
	ctfs_store_le64(out->data + start, (uint64_t)n);
	return 0;
}
