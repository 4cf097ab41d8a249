/* Parsing and checking the crypto entries of a CryptoTensors header.
 * Everything here runs before any key is touched: a header that fails any
 * check is refused as a whole (fail closed). */
#include "ct/crypto_entries.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/base64.h"
#include "json/json_unique.h"
#include "util.h"

/* ctfs.plain_sha256 (trust/digests.h) describes the protected file: the
 * plaintext view and decrypted exports leave it out like the crypto entries. */
const char *const ctfs_crypto_meta_keys[] = {
	CTFS_META_CRYPTO_KEYS, CTFS_META_ENCRYPTION, CTFS_META_POLICY,
	CTFS_META_SIGNATURE, "ctfs.plain_sha256", NULL,
};

const char *const ctfs_signature_omit[] = { CTFS_META_SIGNATURE, NULL };

bool ctfs_ct_is_encrypted(const struct ctfs_st_header *h)
{
	return ctfs_st_meta_get(h, CTFS_META_ENCRYPTION) != NULL;
}

uint64_t ctfs_ct_chunk_count(uint64_t len, uint64_t chunk_size)
{
	if (len == 0)
		return 1;
	return len / chunk_size + (len % chunk_size != 0);
}

int ctfs_ct_chunk_nonce(const uint8_t base_iv[CTFS_AEAD_NONCE], uint64_t index,
			uint8_t nonce[CTFS_AEAD_NONCE])
{
	uint64_t ctr = (uint64_t)ctfs_load_be32(base_iv + 8) + index;

	if (index > UINT32_MAX || ctr > UINT32_MAX)
		return -EOVERFLOW;
	memcpy(nonce, base_iv, 8);
	ctfs_store_be32(nonce + 8, (uint32_t)ctr);
	return 0;
}

/* Optional string member; -EINVAL when present but not a string. */
static int opt_string(const cJSON *obj, const char *name, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return -EINVAL;
	*out = strdup(v->valuestring);
	return *out ? 0 : -ENOMEM;
}

/* A base64 member that must decode to exactly `want` bytes. */
static int b64_exact(const cJSON *obj, const char *name, uint8_t *out, size_t want,
		     char *err, size_t errlen, const char *tensor)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	size_t n = want;

	if (!cJSON_IsString(v)) {
		ctfs_seterr(err, errlen, "tensor '%s': '%s' missing or not a string", tensor, name);
		return -EINVAL;
	}
	if (ctfs_b64_decode(v->valuestring, strlen(v->valuestring), out, &n) || n != want) {
		ctfs_seterr(err, errlen, "tensor '%s': '%s' is not base64 of %zu bytes",
			    tensor, name, want);
		return -EINVAL;
	}
	return 0;
}

static cJSON *parse_meta_json(const struct ctfs_st_header *h, const char *key,
			      char *err, size_t errlen)
{
	const char *text = ctfs_st_meta_get(h, key);
	char why[160];
	cJSON *j;

	if (!text) {
		ctfs_seterr(err, errlen, "encrypted file lacks %s", key);
		return NULL;
	}
	/* signed text must mean one thing to every reader: cJSON alone would
	 * keep the first of two equal keys where another reader keeps the last */
	if (ctfs_json_check_strict(text, strlen(text), why, sizeof(why))) {
		ctfs_seterr(err, errlen, "%s is not strict JSON: %s", key, why);
		return NULL;
	}
	j = cJSON_ParseWithOpts(text, NULL, true);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		ctfs_seterr(err, errlen, "%s is not a JSON object", key);
		return NULL;
	}
	return j;
}

static int parse_key_refs(struct ctfs_ct_info *ci, const cJSON *ck, char *err, size_t errlen)
{
	const cJSON *enc = cJSON_GetObjectItemCaseSensitive(ck, "enc");
	const cJSON *sign = cJSON_GetObjectItemCaseSensitive(ck, "sign");
	const cJSON *alg;

	if (!cJSON_IsObject(enc) || !cJSON_IsObject(sign)) {
		ctfs_seterr(err, errlen, "__crypto_keys__ lacks the enc or sign object");
		return -EINVAL;
	}
	alg = cJSON_GetObjectItemCaseSensitive(enc, "alg");
	if (!cJSON_IsString(alg) || ctfs_alg_parse(alg->valuestring, &ci->alg)) {
		ctfs_seterr(err, errlen, "__crypto_keys__: unsupported enc alg");
		return -EINVAL;
	}
	alg = cJSON_GetObjectItemCaseSensitive(sign, "alg");
	if (!cJSON_IsString(alg) || strcasecmp(alg->valuestring, "ed25519")) {
		ctfs_seterr(err, errlen, "__crypto_keys__: unsupported sign alg");
		return -EINVAL;
	}
	if (opt_string(enc, "kid", &ci->enc_kid) || opt_string(enc, "jku", &ci->enc_jku) ||
	    opt_string(sign, "kid", &ci->sign_kid) || opt_string(sign, "jku", &ci->sign_jku)) {
		ctfs_seterr(err, errlen, "__crypto_keys__: kid/jku must be strings");
		return -EINVAL;
	}
	return 0;
}

static int parse_crypto_keys(struct ctfs_ct_info *ci, const struct ctfs_st_header *h,
			     char *err, size_t errlen)
{
	cJSON *ck = parse_meta_json(h, CTFS_META_CRYPTO_KEYS, err, errlen);
	const cJSON *ver, *cs;
	int rc = -EINVAL;

	if (!ck)
		return -EINVAL;
	ver = cJSON_GetObjectItemCaseSensitive(ck, "version");
	if (!cJSON_IsString(ver) || (strcmp(ver->valuestring, "1") && strcmp(ver->valuestring, "2"))) {
		ctfs_seterr(err, errlen, "__crypto_keys__: version must be \"1\" or \"2\"");
		goto out;
	}
	ci->version = ver->valuestring[0] - '0';
	ci->chunk_size = CTFS_DEFAULT_CHUNK_SIZE;
	cs = cJSON_GetObjectItemCaseSensitive(ck, "chunk_size");
	if (ci->version == 2 && cs && !cJSON_IsNull(cs)) {
		double d = cs->valuedouble;

		if (!cJSON_IsNumber(cs) || d < 1 || d > 9007199254740992.0 || d != (double)(uint64_t)d) {
			ctfs_seterr(err, errlen, "__crypto_keys__: chunk_size must be a positive integer");
			goto out;
		}
		ci->chunk_size = (uint64_t)d;
	}
	rc = parse_key_refs(ci, ck, err, errlen);
out:
	cJSON_Delete(ck);
	return rc;
}

static int parse_policy(struct ctfs_ct_info *ci, const struct ctfs_st_header *h,
			char *err, size_t errlen)
{
	cJSON *p = parse_meta_json(h, CTFS_META_POLICY, err, errlen);
	int rc;

	if (!p)
		return -EINVAL;
	rc = opt_string(p, "local", &ci->policy_local);
	if (!rc)
		rc = opt_string(p, "remote", &ci->policy_remote);
	cJSON_Delete(p);
	if (rc) {
		ctfs_seterr(err, errlen, "__policy__: local/remote must be strings");
		return rc;
	}
	/* Upstream refuses a file whose __policy__ lacks either entry (or has
	 * null): no default is assumed when reading (doc/INTEROP.md C2). */
	if (!ci->policy_local || !ci->policy_remote) {
		ctfs_seterr(err, errlen, "__policy__: both local and remote policies are required");
		return -EINVAL;
	}
	return 0;
}

static int parse_signature(struct ctfs_ct_info *ci, const struct ctfs_st_header *h,
			   char *err, size_t errlen)
{
	const char *s = ctfs_st_meta_get(h, CTFS_META_SIGNATURE);
	size_t n = sizeof(ci->signature);

	if (!s || ctfs_b64_decode(s, strlen(s), ci->signature, &n) || n != sizeof(ci->signature)) {
		ctfs_seterr(err, errlen, "__signature__ missing or not base64 of 64 bytes");
		return -EINVAL;
	}
	return 0;
}

static int parse_v1_data(struct ctfs_ct_tensor *t, const cJSON *e, uint64_t len,
			 const char *name, char *err, size_t errlen)
{
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(e, "iv");
	const cJSON *tag = cJSON_GetObjectItemCaseSensitive(e, "tag");

	/* Upstream leaves an empty tensor unsealed: iv == tag == "". */
	if (len == 0 && cJSON_IsString(iv) && cJSON_IsString(tag) &&
	    !*iv->valuestring && !*tag->valuestring) {
		t->n_tags = 0;
		return 0;
	}
	t->n_tags = 1;
	t->tags = malloc(CTFS_AEAD_TAG);
	if (!t->tags)
		return -ENOMEM;
	if (b64_exact(e, "iv", t->iv, CTFS_AEAD_NONCE, err, errlen, name))
		return -EINVAL;
	return b64_exact(e, "tag", t->tags, CTFS_AEAD_TAG, err, errlen, name);
}

static int parse_v2_data(struct ctfs_ct_tensor *t, const cJSON *e, uint64_t len,
			 uint64_t chunk_size, const char *name, char *err, size_t errlen)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(e, "tags");
	uint64_t n = ctfs_ct_chunk_count(len, chunk_size);
	uint8_t last[CTFS_AEAD_NONCE];
	size_t want, got, tlen;

	if (b64_exact(e, "base_iv", t->iv, CTFS_AEAD_NONCE, err, errlen, name))
		return -EINVAL;
	if (ctfs_ct_chunk_nonce(t->iv, n - 1, last)) {
		ctfs_seterr(err, errlen, "tensor '%s': chunk counter overflows 32 bits", name);
		return -EINVAL;
	}
	if (!cJSON_IsString(tags)) {
		ctfs_seterr(err, errlen, "tensor '%s': tags missing or not a string", name);
		return -EINVAL;
	}
	/* n <= 2^32 after the counter check, so this cannot overflow */
	want = (size_t)n * CTFS_AEAD_TAG;
	got = want;
	/* the text must be about as long as the tags it should hold before a
	 * buffer is sized from the tensor: a tiny chunk_size on a huge (sparse)
	 * tensor must not make us allocate gigabytes */
	tlen = strlen(tags->valuestring);
	if (tlen < want / 3 * 4 || tlen > (want + 2) / 3 * 4) {
		ctfs_seterr(err, errlen, "tensor '%s': expected %llu tags", name,
			    (unsigned long long)n);
		return -EINVAL;
	}
	t->tags = malloc(want);
	if (!t->tags)
		return -ENOMEM;
	/* the buffer holds exactly the expected count: more or fewer tags than
	 * chunks is malformed */
	if (ctfs_b64_decode(tags->valuestring, tlen, t->tags, &got) || got != want) {
		ctfs_seterr(err, errlen, "tensor '%s': expected %llu tags", name,
			    (unsigned long long)n);
		return -EINVAL;
	}
	t->n_tags = n;
	return 0;
}

static int parse_entry(struct ctfs_ct_info *ci, struct ctfs_ct_tensor *t, const cJSON *e,
		       const struct ctfs_tensor *st, char *err, size_t errlen)
{
	size_t klen = ctfs_alg_key_len(ci->alg);
	uint64_t len = st->end - st->begin;

	if (!cJSON_IsObject(e)) {
		ctfs_seterr(err, errlen, "tensor '%s': encryption entry is not an object", st->name);
		return -EINVAL;
	}
	t->encrypted = true;
	t->wrapped_len = klen;
	if (b64_exact(e, "wrapped_key", t->wrapped_key, klen, err, errlen, st->name) ||
	    b64_exact(e, "key_iv", t->key_iv, CTFS_AEAD_NONCE, err, errlen, st->name) ||
	    b64_exact(e, "key_tag", t->key_tag, CTFS_AEAD_TAG, err, errlen, st->name))
		return -EINVAL;
	if (ci->version == 1)
		return parse_v1_data(t, e, len, st->name, err, errlen);
	return parse_v2_data(t, e, len, ci->chunk_size, st->name, err, errlen);
}

static int parse_encryption(struct ctfs_ct_info *ci, const struct ctfs_st_header *h,
			    char *err, size_t errlen)
{
	cJSON *enc = parse_meta_json(h, CTFS_META_ENCRYPTION, err, errlen);
	const cJSON *e;
	int rc = 0;

	if (!enc)
		return -EINVAL;
	cJSON_ArrayForEach(e, enc) {
		const struct ctfs_tensor *st = ctfs_st_find(h, e->string);

		if (!st || ci->tensors[st - h->tensors].encrypted) {
			ctfs_seterr(err, errlen, "__encryption__: unknown or repeated tensor '%s'",
				    e->string);
			rc = -EINVAL;
			break;
		}
		rc = parse_entry(ci, &ci->tensors[st - h->tensors], e, st, err, errlen);
		if (rc)
			break;
	}
	cJSON_Delete(enc);
	return rc;
}

int ctfs_ct_parse(const struct ctfs_st_header *h, struct ctfs_ct_info **out,
		  char *err, size_t errlen)
{
	struct ctfs_ct_info *ci;
	int rc;

	*out = NULL;
	if (!ctfs_ct_is_encrypted(h)) {
		ctfs_seterr(err, errlen, "not a CryptoTensors file");
		return -ENODATA;
	}
	ci = calloc(1, sizeof(*ci));
	if (!ci)
		return -ENOMEM;
	ci->n_tensors = h->n_tensors;
	ci->tensors = calloc(h->n_tensors ? h->n_tensors : 1, sizeof(*ci->tensors));
	if (!ci->tensors) {
		free(ci);
		return -ENOMEM;
	}
	rc = parse_crypto_keys(ci, h, err, errlen);
	if (!rc)
		rc = parse_policy(ci, h, err, errlen);
	if (!rc)
		rc = parse_signature(ci, h, err, errlen);
	if (!rc)
		rc = parse_encryption(ci, h, err, errlen);
	if (rc) {
		ctfs_ct_free(ci);
		return rc;
	}
	*out = ci;
	return 0;
}

void ctfs_ct_free(struct ctfs_ct_info *ci)
{
	if (!ci)
		return;
	for (size_t i = 0; i < ci->n_tensors; i++)
		free(ci->tensors[i].tags);
	free(ci->tensors);
	free(ci->enc_kid);
	free(ci->enc_jku);
	free(ci->sign_kid);
	free(ci->sign_jku);
	free(ci->policy_local);
	free(ci->policy_remote);
	free(ci);
}
