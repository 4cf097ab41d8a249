/* The plaintext-digest entry: parse, check a chunk, compute for a file. */
#include "trust/digests.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "codec/base64.h"
#include "crypto/sha256.h"
#include "safetensors/header_json.h"

static uint64_t chunks_of(uint64_t len, uint64_t cs)
{
	return len / cs + (len % cs != 0);
}

static int bad(char *err, size_t errlen, const char *what, const char *name)
{
	ctfs_seterr(err, errlen, "%s: %s%s%s", CTFS_META_DIGESTS, what, name ? " " : "",
		    name ? name : "");
	return -EBADMSG;
}

void ctfs_digests_free(struct ctfs_digests *d)
{
	if (!d)
		return;
	for (size_t i = 0; d->sums && i < d->n_tensors; i++)
		free(d->sums[i]);
	free(d->sums);
	free(d->n_chunks);
	free(d);
}

static struct ctfs_digests *digests_new(size_t n)
{
	struct ctfs_digests *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->n_tensors = n;
	d->sums = calloc(n ? n : 1, sizeof(*d->sums));
	d->n_chunks = calloc(n ? n : 1, sizeof(*d->n_chunks));
	if (!d->sums || !d->n_chunks) {
		ctfs_digests_free(d);
		return NULL;
	}
	return d;
}

static int parse_head(const cJSON *root, uint64_t *cs, char *err, size_t errlen)
{
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(root, "alg");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "chunk_size");

	if (cJSON_GetArraySize(root) != 3)
		return bad(err, errlen, "members other than alg, chunk_size, tensors", NULL);
	if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "sha256"))
		return bad(err, errlen, "alg is not \"sha256\"", NULL);
	if (!cJSON_IsNumber(c) || c->valuedouble < 1 || c->valuedouble > CTFS_DIGESTS_MAX_CHUNK ||
	    c->valuedouble != (double)(uint64_t)c->valuedouble)
		return bad(err, errlen, "chunk_size is not an integer in 1..16 MiB", NULL);
	*cs = (uint64_t)c->valuedouble;
	return 0;
}

/* One "NAME":"BASE64" member: a plaintext tensor, listed once, with the
 * right number of digests. */
static int parse_tensor(struct ctfs_digests *d, const struct ctfs_st_header *h,
			const bool *plain, const cJSON *it, char *err, size_t errlen)
{
	const struct ctfs_tensor *t = it->string ? ctfs_st_find(h, it->string) : NULL;
	size_t i, len, want;

	if (!t)
		return bad(err, errlen, "names no tensor of the file:", it->string);
	i = (size_t)(t - h->tensors);
	if (!plain[i])
		return bad(err, errlen, "lists an encrypted tensor:", t->name);
	if (d->sums[i])
		return bad(err, errlen, "lists a tensor twice:", t->name);
	if (!cJSON_IsString(it))
		return bad(err, errlen, "value is not a string for", t->name);
	d->n_chunks[i] = chunks_of(t->end - t->begin, d->chunk_size);
	if (d->n_chunks[i] > SIZE_MAX / CTFS_DIGEST_LEN)
		return -ENOMEM;
	want = (size_t)d->n_chunks[i] * CTFS_DIGEST_LEN;
	d->sums[i] = malloc(want ? want : 1);
	if (!d->sums[i])
		return -ENOMEM;
	len = want;
	if (ctfs_b64_decode(it->valuestring, strlen(it->valuestring), d->sums[i], &len) ||
	    len != want)
		return bad(err, errlen, "wrong number of digests for", t->name);
	return 0;
}

int ctfs_digests_parse(const char *text, const struct ctfs_st_header *h, const bool *plain,
		       struct ctfs_digests **out, char *err, size_t errlen)
{
	struct ctfs_digests *d = digests_new(h->n_tensors);
	cJSON *root = cJSON_Parse(text);
	const cJSON *tensors, *it;
	int rc = 0;

	if (!d || !root) {
		rc = d ? bad(err, errlen, "not JSON", NULL) : -ENOMEM;
		goto out;
	}
	tensors = cJSON_GetObjectItemCaseSensitive(root, "tensors");
	rc = cJSON_IsObject(root) ? parse_head(root, &d->chunk_size, err, errlen)
				  : bad(err, errlen, "not an object", NULL);
	if (!rc && !cJSON_IsObject(tensors))
		rc = bad(err, errlen, "tensors is not an object", NULL);
	for (it = rc ? NULL : tensors->child; it && !rc; it = it->next)
		rc = parse_tensor(d, h, plain, it, err, errlen);
	for (size_t i = 0; !rc && i < h->n_tensors; i++)
		if (plain[i] && !d->sums[i])
			rc = bad(err, errlen, "misses plaintext tensor", h->tensors[i].name);
out:
	cJSON_Delete(root);
	if (rc)
		ctfs_digests_free(d);
	else
		*out = d;
	return rc;
}

bool ctfs_digests_cover(const struct ctfs_digests *d, size_t t)
{
	return d && t < d->n_tensors && d->sums[t] != NULL;
}

size_t ctfs_digests_chunk_len(const struct ctfs_digests *d, uint64_t tlen, uint64_t chunk)
{
	uint64_t start = chunk * d->chunk_size;

	if (start >= tlen)
		return 0;
	return (size_t)(tlen - start < d->chunk_size ? tlen - start : d->chunk_size);
}

int ctfs_digests_check(const struct ctfs_digests *d, size_t t, uint64_t chunk,
		       const uint8_t *data, size_t len)
{
	uint8_t sum[CTFS_DIGEST_LEN];

	if (!ctfs_digests_cover(d, t) || chunk >= d->n_chunks[t])
		return -EIO;
	ctfs_sha256(sum, data, len);
	return sodium_memcmp(sum, d->sums[t] + chunk * CTFS_DIGEST_LEN, sizeof(sum)) ? -EIO : 0;
}

static int by_name(const void *a, const void *b, void *h_)
{
	const struct ctfs_st_header *h = h_;

	return strcmp(h->tensors[*(const size_t *)a].name, h->tensors[*(const size_t *)b].name);
}

/* Append the base64 of every chunk digest of tensor t. */
static int put_sums(int fd, const struct ctfs_st_header *h, size_t t, uint64_t cs,
		    uint8_t *buf, struct ctfs_buf *out)
{
	const struct ctfs_tensor *ten = &h->tensors[t];
	uint64_t len = ten->end - ten->begin, n = chunks_of(len, cs);
	uint8_t *sums = malloc(n ? n * CTFS_DIGEST_LEN : 1);
	int rc = sums ? 0 : -ENOMEM;

	for (uint64_t c = 0; !rc && c < n; c++) {
		size_t clen = (size_t)(len - c * cs < cs ? len - c * cs : cs);

		rc = ctfs_pread_full(fd, buf, clen, h->data_start + ten->begin + c * cs);
		if (!rc)
			ctfs_sha256(sums + c * CTFS_DIGEST_LEN, buf, clen);
	}
	if (!rc)
		rc = ctfs_buf_putc(out, '"');
	if (!rc)
		rc = ctfs_b64_encode(sums, (size_t)n * CTFS_DIGEST_LEN, out);
	if (!rc)
		rc = ctfs_buf_putc(out, '"');
	free(sums);
	return rc;
}

int ctfs_digests_compute(int fd, const struct ctfs_st_header *h, const bool *plain,
			 uint64_t chunk_size, struct ctfs_buf *out)
{
	size_t *idx = malloc((h->n_tensors ? h->n_tensors : 1) * sizeof(*idx)), n = 0;
	uint8_t *buf = NULL;
	int rc;

	if (chunk_size < 1 || chunk_size > CTFS_DIGESTS_MAX_CHUNK) {
		free(idx);
		return -EINVAL;
	}
	buf = malloc((size_t)chunk_size);
	rc = idx && buf ? 0 : -ENOMEM;
	for (size_t i = 0; !rc && i < h->n_tensors; i++)
		if (plain[i])
			idx[n++] = i;
	if (!rc) {
		qsort_r(idx, n, sizeof(*idx), by_name, (void *)h);
		rc = ctfs_buf_printf(out, "{\"alg\":\"sha256\",\"chunk_size\":%llu,\"tensors\":{",
				     (unsigned long long)chunk_size);
	}
	for (size_t k = 0; !rc && k < n; k++) {
		const char *name = h->tensors[idx[k]].name;

		rc = k ? ctfs_buf_putc(out, ',') : 0;
		if (!rc)
			rc = ctfs_json_put_string(out, name, strlen(name));
		if (!rc)
			rc = ctfs_buf_putc(out, ':');
		if (!rc)
			rc = put_sums(fd, h, idx[k], chunk_size, buf, out);
	}
	if (!rc)
		rc = ctfs_buf_puts(out, "}}");
	free(buf);
	free(idx);
	return rc;
}
