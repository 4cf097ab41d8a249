/* The local revocation list: parsing, lookups, and the reloadable holder. */
#include "trust/revoked.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codec/hex.h"
#include "trust/thumbprint.h"
#include "util.h"

struct ctfs_revoked {
	atomic_int refs;
	char **kids, **serials;
	size_t n_kids, n_serials;
	uint8_t (*tps)[32], (*digests)[32];
	size_t n_tps, n_digests;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

int ctfs_serial_canon(const char *hex, char out[CTFS_SERIAL_MAX])
{
	size_t n = 0;

	if (!hex || !*hex)
		return -EINVAL;
	while (hex[0] == '0' && hex[1])
		hex++;
	for (; *hex; hex++) {
		if (!isxdigit((unsigned char)*hex) || n + 1 >= CTFS_SERIAL_MAX)
			return -EINVAL;
		out[n++] = (char)tolower((unsigned char)*hex);
	}
	out[n] = 0;
	return 0;
}

void ctfs_revoked_free(struct ctfs_revoked *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	for (size_t i = 0; i < r->n_kids; i++)
		free(r->kids[i]);
	for (size_t i = 0; i < r->n_serials; i++)
		free(r->serials[i]);
	free(r->kids);
	free(r->serials);
	free(r->tps);
	free(r->digests);
	free(r);
}

/* The array member `name` of root as a list of strings (absent: none). */
static int strings_of(const cJSON *root, const char *name, const cJSON **arr, size_t *n,
		      size_t *total, char *err, size_t errlen)
{
	const cJSON *it;

	*arr = cJSON_GetObjectItemCaseSensitive(root, name);
	*n = 0;
	if (!*arr)
		return 0;
	if (!cJSON_IsArray(*arr)) {
		ctfs_seterr(err, errlen, "\"%s\" is not an array", name);
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, *arr) {
		if (!cJSON_IsString(it)) {
			ctfs_seterr(err, errlen, "\"%s\" holds a non-string", name);
			return -EINVAL;
		}
		(*n)++;
	}
	*total += *n;
	if (*total > CTFS_REVOKED_MAX_ENTRIES) {
		ctfs_seterr(err, errlen, "more than %u entries", CTFS_REVOKED_MAX_ENTRIES);
		return -EINVAL;
	}
	return 0;
}

static int take_kids(struct ctfs_revoked *r, const cJSON *arr, size_t n)
{
	const cJSON *it;

	r->kids = calloc(n ? n : 1, sizeof(*r->kids));
	if (!r->kids)
		return -ENOMEM;
	cJSON_ArrayForEach(it, arr) {
		r->kids[r->n_kids] = strdup(it->valuestring);
		if (!r->kids[r->n_kids])
			return -ENOMEM;
		r->n_kids++;
	}
	qsort(r->kids, r->n_kids, sizeof(*r->kids), cmp_str);
	return 0;
}

static int take_serials(struct ctfs_revoked *r, const cJSON *arr, size_t n, char *err,
			size_t errlen)
{
	const cJSON *it;
	char canon[CTFS_SERIAL_MAX];

	r->serials = calloc(n ? n : 1, sizeof(*r->serials));
	if (!r->serials)
		return -ENOMEM;
	cJSON_ArrayForEach(it, arr) {
		if (ctfs_serial_canon(it->valuestring, canon)) {
			ctfs_seterr(err, errlen, "serial \"%s\" is not hex of 20 bytes at most",
				    it->valuestring);
			return -EINVAL;
		}
		r->serials[r->n_serials] = strdup(canon);
		if (!r->serials[r->n_serials])
			return -ENOMEM;
		r->n_serials++;
	}
	qsort(r->serials, r->n_serials, sizeof(*r->serials), cmp_str);
	return 0;
}

/* thumbprints (base64url) or header digests (hex): 32 bytes each. */
static int take_32(uint8_t (**out)[32], size_t *count, const cJSON *arr, size_t n, bool hex,
		   char *err, size_t errlen)
{
	const cJSON *it;

	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	cJSON_ArrayForEach(it, arr) {
		int rc = hex ? ctfs_hex_decode(it->valuestring, strlen(it->valuestring),
					       (*out)[*count], 32)
			     : ctfs_thumbprint_parse(it->valuestring, (*out)[*count]);

		if (rc) {
			ctfs_seterr(err, errlen, "\"%s\" is not %s", it->valuestring,
				    hex ? "64 hex digits" : "an RFC 7638 thumbprint");
			return -EINVAL;
		}
		(*count)++;
	}
	qsort(*out, *count, 32, cmp_32);
	return 0;
}

static int build(struct ctfs_revoked *r, const cJSON *root, char *err, size_t errlen)
{
	const cJSON *kids, *tps, *serials, *digests, *it;
	size_t nk, nt, ns, nd, total = 0;
	int rc;

	cJSON_ArrayForEach(it, root) {
		if (strcmp(it->string, "kids") && strcmp(it->string, "thumbprints") &&
		    strcmp(it->string, "serials") && strcmp(it->string, "header_digests")) {
			ctfs_seterr(err, errlen, "unknown member \"%s\"", it->string);
			return -EINVAL;
		}
	}
	rc = strings_of(root, "kids", &kids, &nk, &total, err, errlen);
	if (!rc)
		rc = strings_of(root, "thumbprints", &tps, &nt, &total, err, errlen);
	if (!rc)
		rc = strings_of(root, "serials", &serials, &ns, &total, err, errlen);
	if (!rc)
		rc = strings_of(root, "header_digests", &digests, &nd, &total, err, errlen);
	if (!rc)
		rc = take_kids(r, kids, nk);
	if (!rc)
		rc = take_serials(r, serials, ns, err, errlen);
	if (!rc)
		rc = take_32(&r->tps, &r->n_tps, tps, nt, false, err, errlen);
	if (!rc)
		rc = take_32(&r->digests, &r->n_digests, digests, nd, true, err, errlen);
	return rc;
}

int ctfs_revoked_parse(const char *text, size_t len, struct ctfs_revoked **out,
		       char *err, size_t errlen)
{
	struct ctfs_revoked *r;
	cJSON *root;
	int rc;

	if (len > CTFS_REVOKED_MAX_BYTES) {
		ctfs_seterr(err, errlen, "larger than %u bytes", CTFS_REVOKED_MAX_BYTES);
		return -EINVAL;
	}
	root = cJSON_ParseWithLength(text, len);
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		ctfs_seterr(err, errlen, "not a JSON object");
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	rc = r ? build(r, root, err, errlen) : -ENOMEM;
	cJSON_Delete(root);
	if (r)
		atomic_init(&r->refs, 1);
	if (rc) {
		ctfs_revoked_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int ctfs_revoked_load(const char *path, struct ctfs_revoked **out, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;
	int rc = ctfs_read_file(path, CTFS_REVOKED_MAX_BYTES, &text, &len);

	if (rc) {
		ctfs_seterr(err, errlen, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = ctfs_revoked_parse((const char *)text, len, out, err, errlen);
	free(text);
	return rc;
}

static bool has_str(char *const *v, size_t n, const char *s)
{
	return s && n && bsearch(&s, v, n, sizeof(*v), cmp_str);
}

static bool has_32(const uint8_t (*v)[32], size_t n, const uint8_t *x)
{
	return x && n && bsearch(x, v, n, 32, cmp_32);
}

int ctfs_revoked_check(const struct ctfs_revoked *r, const struct ctfs_revoked_query *q,
		       char *err, size_t errlen)
{
	char canon[CTFS_SERIAL_MAX];

	if (!r)
		return 0;
	if (has_str(r->kids, r->n_kids, q->kid)) {
		ctfs_seterr(err, errlen, "signer kid=%s is revoked", q->kid);
		return -EKEYREVOKED;
	}
	if (has_32((const uint8_t (*)[32])r->tps, r->n_tps, q->thumbprint)) {
		char tp[CTFS_THUMBPRINT_TEXT];

		ctfs_thumbprint_text(q->thumbprint, tp);
		ctfs_seterr(err, errlen, "signer %s is revoked", tp);
		return -EKEYREVOKED;
	}
	for (size_t i = 0; i < q->n_serials; i++) {
		if (!ctfs_serial_canon(q->serials[i], canon) &&
		    has_str(r->serials, r->n_serials, canon)) {
			ctfs_seterr(err, errlen, "certificate serial %s of the signer's chain is "
				    "revoked", canon);
			return -EKEYREVOKED;
		}
	}
	if (has_32((const uint8_t (*)[32])r->digests, r->n_digests, q->header_digest)) {
		ctfs_seterr(err, errlen, "this model file (header digest) is withdrawn");
		return -EKEYREVOKED;
	}
	return 0;
}

int ctfs_revocation_init(struct ctfs_revocation *rv, const char *path, char *err,
			 size_t errlen)
{
	memset(rv, 0, sizeof(*rv));
	pthread_mutex_init(&rv->lock, NULL);
	if (!path)
		return 0;
	rv->path = strdup(path);
	if (!rv->path)
		return -ENOMEM;
	return ctfs_revoked_load(path, &rv->cur, err, errlen);
}

int ctfs_revocation_reload(struct ctfs_revocation *rv, char *err, size_t errlen)
{
	struct ctfs_revoked *fresh, *old;
	int rc;

	if (!rv->path)
		return 0;
	rc = ctfs_revoked_load(rv->path, &fresh, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&rv->lock);
	old = rv->cur;
	rv->cur = fresh;
	pthread_mutex_unlock(&rv->lock);
	ctfs_revoked_free(old);
	return 0;
}

int ctfs_revocation_check(struct ctfs_revocation *rv, const struct ctfs_revoked_query *q,
			  char *err, size_t errlen)
{
	struct ctfs_revoked *r;
	int rc;

	pthread_mutex_lock(&rv->lock);
	r = rv->cur;
	if (r)
		atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&rv->lock);
	rc = ctfs_revoked_check(r, q, err, errlen);
	ctfs_revoked_free(r);
	return rc;
}

void ctfs_revocation_destroy(struct ctfs_revocation *rv)
{
	ctfs_revoked_free(rv->cur);
	free(rv->path);
	pthread_mutex_destroy(&rv->lock);
	memset(rv, 0, sizeof(*rv));
}
