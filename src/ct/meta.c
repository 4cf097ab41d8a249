/* The CryptoTensors metadata values, written in one place (see meta.h). */
#include "ct/meta.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "codec/base64.h"
#include "crypto/curve25519.h"
#include "ct/crypto_entries.h"
#include "ct/model_trust.h"
#include "trust/digests.h"
#include "safetensors/header_json.h"

#define SIG_LEN 64

int ctfs_ct_wrap_dek(enum ctfs_alg alg, const uint8_t *master, const uint8_t *dek,
		     struct ctfs_ct_wrapped *out)
{
	size_t klen = ctfs_alg_key_len(alg);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!klen || klen > sizeof(out->key))
		return -EINVAL;
	out->key_len = klen;
	randombytes_buf(out->iv, sizeof(out->iv));
	rc = ctfs_aead_seal(alg, master, out->iv, NULL, 0, dek, klen, out->key, out->tag);
	if (rc)
		sodium_memzero(out, sizeof(*out));
	return rc;
}

/* ---- text built from scratch ----------------------------------------------- */

static int put_str(struct ctfs_buf *b, const char *s)
{
	return ctfs_json_put_string(b, s, strlen(s));
}

static int put_member(struct ctfs_buf *b, bool comma, const char *key, const char *val)
{
	int rc = comma ? ctfs_buf_putc(b, ',') : 0;

	if (!rc)
		rc = put_str(b, key);
	if (!rc)
		rc = ctfs_buf_putc(b, ':');
	return rc ? rc : put_str(b, val);
}

static int put_b64_member(struct ctfs_buf *b, bool comma, const char *key,
			  const uint8_t *p, size_t n)
{
	struct ctfs_buf enc = { 0 };
	int rc = ctfs_b64_encode(p, n, &enc);

	if (!rc)
		rc = put_member(b, comma, key, enc.len ? (const char *)enc.data : "");
	ctfs_buf_free(&enc);
	return rc;
}

/* A key reference: kty, alg, kid, jku. This member order is the one of the
 * reference vectors and FORMATS.md; upstream's serde_json passes the object
 * through a sorted map and writes alg, jku, kid, kty. Readers parse this
 * text, and the signature covers it as an opaque string, so both read. */
static int put_keyref(struct ctfs_buf *b, const char *kty, const char *alg,
		      const struct ctfs_jwk *k, char *const *x5c, size_t n_x5c)
{
	int rc = ctfs_buf_putc(b, '{');

	if (!rc)
		rc = put_member(b, false, "kty", kty);
	if (!rc)
		rc = put_member(b, true, "alg", alg);
	if (!rc && k->kid)
		rc = put_member(b, true, "kid", k->kid);
	if (!rc && k->jku)
		rc = put_member(b, true, "jku", k->jku);
	if (!rc && n_x5c)	/* RFC 7517 §4.7; upstream ignores the member */
		rc = ctfs_buf_puts(b, ",\"x5c\":[");
	for (size_t i = 0; !rc && i < n_x5c; i++) {
		rc = i ? ctfs_buf_putc(b, ',') : 0;
		if (!rc)
			rc = put_str(b, x5c[i]);
	}
	if (!rc && n_x5c)
		rc = ctfs_buf_putc(b, ']');
	return rc ? rc : ctfs_buf_putc(b, '}');
}

/* The top level is a serde_json map, so its keys are sorted. */
int ctfs_ct_meta_crypto_keys(struct ctfs_buf *b, int version, uint64_t chunk,
			     enum ctfs_alg alg, const struct ctfs_jwk *master,
			     const struct ctfs_jwk *signer, char *const *x5c, size_t n_x5c)
{
	int rc = version == 2 ?
		ctfs_buf_printf(b, "{\"chunk_size\":%llu,\"enc\":", (unsigned long long)chunk) :
		ctfs_buf_puts(b, "{\"enc\":");

	if (!rc)
		rc = put_keyref(b, "oct", ctfs_alg_name(alg), master, NULL, 0);
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"sign\":");
	if (!rc)
		rc = put_keyref(b, "okp", "ed25519", signer, x5c, n_x5c);
	if (!rc)
		rc = ctfs_buf_printf(b, ",\"version\":\"%d\"}", version);
	return rc;
}

int ctfs_ct_meta_entry(struct ctfs_buf *b, int version, const struct ctfs_ct_entry_values *v)
{
	int rc = put_str(b, v->name);

	if (!rc)
		rc = ctfs_buf_puts(b, ":{");
	if (!rc)
		rc = put_b64_member(b, false, "wrapped_key", v->key->key, v->key->key_len);
	if (!rc)
		rc = put_b64_member(b, true, "key_iv", v->key->iv, sizeof(v->key->iv));
	if (!rc)
		rc = put_b64_member(b, true, "key_tag", v->key->tag, sizeof(v->key->tag));
	if (!rc)
		rc = put_b64_member(b, true, version == 1 ? "iv" : "base_iv", v->iv, v->iv_len);
	if (!rc)
		rc = put_b64_member(b, true, version == 1 ? "tag" : "tags", v->tags, v->tags_len);
	return rc ? rc : ctfs_buf_putc(b, '}');
}

int ctfs_ct_meta_policy(struct ctfs_buf *b, const char *local, const char *remote)
{
	int rc = ctfs_buf_putc(b, '{');

	if (!rc)
		rc = put_member(b, false, "local", local);
	if (!rc)
		rc = put_member(b, true, "remote", remote);
	return rc ? rc : ctfs_buf_putc(b, '}');
}

/* ---- edits of parsed entries --------------------------------------------------- */

/* Replace member key in place, or append it. */
static int set_string(cJSON *obj, const char *key, const char *val)
{
	cJSON *s = cJSON_CreateString(val);
	cJSON_bool ok;

	if (!s)
		return -ENOMEM;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		ok = cJSON_ReplaceItemInObjectCaseSensitive(obj, key, s);
	else
		ok = cJSON_AddItemToObject(obj, key, s);
	if (!ok) {
		cJSON_Delete(s);
		return -ENOMEM;
	}
	return 0;
}

static int set_b64(cJSON *obj, const char *key, const uint8_t *p, size_t n)
{
	struct ctfs_buf enc = { 0 };
	int rc = ctfs_b64_encode(p, n, &enc);

	if (!rc)
		rc = set_string(obj, key, enc.len ? (const char *)enc.data : "");
	ctfs_buf_free(&enc);
	return rc;
}

int ctfs_ct_meta_set_wrapped(cJSON *entry, const struct ctfs_ct_wrapped *w)
{
	int rc;

	if (!cJSON_IsObject(entry))
		return -EINVAL;
	rc = set_b64(entry, "wrapped_key", w->key, w->key_len);
	if (!rc)
		rc = set_b64(entry, "key_iv", w->iv, sizeof(w->iv));
	if (!rc)
		rc = set_b64(entry, "key_tag", w->tag, sizeof(w->tag));
	return rc;
}

int ctfs_ct_meta_set_keyref(cJSON *ref, const struct ctfs_jwk *k)
{
	int rc = 0;

	if (!cJSON_IsObject(ref))
		return -EINVAL;
	if (k->kid)
		rc = set_string(ref, "kid", k->kid);
	else
		cJSON_DeleteItemFromObjectCaseSensitive(ref, "kid");
	if (!rc && k->jku)
		rc = set_string(ref, "jku", k->jku);
	else if (!rc)
		cJSON_DeleteItemFromObjectCaseSensitive(ref, "jku");
	return rc;
}

int ctfs_ct_meta_set_x5c(cJSON *ref, char *const *x5c, size_t n)
{
	cJSON *arr;

	if (!cJSON_IsObject(ref))
		return -EINVAL;
	cJSON_DeleteItemFromObjectCaseSensitive(ref, "x5c");
	if (!n)
		return 0;
	arr = cJSON_AddArrayToObject(ref, "x5c");
	for (size_t i = 0; arr && i < n; i++) {
		cJSON *s = cJSON_CreateString(x5c[i]);

		if (!s || !cJSON_AddItemToArray(arr, s)) {
			cJSON_Delete(s);
			return -ENOMEM;
		}
	}
	return arr ? 0 : -ENOMEM;
}

/* ---- trust metadata ------------------------------------------------------------- */

int ctfs_ct_meta_trust(struct ctfs_st_header *h, const char *model_id,
		       const char *model_version, int digests_fd, const bool *plain,
		       int version, uint64_t chunk_size)
{
	struct ctfs_buf text = { 0 };
	bool any = false;
	int rc = 0;

	if (model_id)
		rc = ctfs_st_meta_set(h, CTFS_META_MODEL_ID, model_id);
	if (!rc && model_version)
		rc = ctfs_st_meta_set(h, CTFS_META_VERSION, model_version);
	for (size_t i = 0; digests_fd >= 0 && i < h->n_tensors; i++)
		any |= plain[i];
	if (rc || !any)
		return rc;
	rc = ctfs_digests_compute(digests_fd, h, plain,
				  version == 2 && chunk_size <= CTFS_DIGESTS_MAX_CHUNK ?
				  chunk_size : CTFS_DEFAULT_CHUNK_SIZE, &text);
	if (!rc)
		rc = ctfs_st_meta_set(h, CTFS_META_DIGESTS, (const char *)text.data);
	ctfs_buf_free(&text);
	return rc;
}

/* ---- printing parsed entries ------------------------------------------------------- */

/* The crypto entries hold no numbers but integers (chunk_size). */
static int put_number(struct ctfs_buf *b, double d)
{
	if (d >= 0 && d <= 9007199254740992.0 && d == (double)(uint64_t)d)
		return ctfs_buf_printf(b, "%llu", (unsigned long long)d);
	if (d < 0 && d >= -9007199254740992.0 && d == (double)(int64_t)d)
		return ctfs_buf_printf(b, "%lld", (long long)d);
	return -EINVAL;
}

static int put_container(struct ctfs_buf *b, const cJSON *v, bool obj)
{
	const cJSON *c;
	int rc = ctfs_buf_putc(b, obj ? '{' : '[');

	cJSON_ArrayForEach(c, v) {
		if (!rc && c != v->child)
			rc = ctfs_buf_putc(b, ',');
		if (!rc && obj) {
			rc = ctfs_json_put_string(b, c->string, strlen(c->string));
			if (!rc)
				rc = ctfs_buf_putc(b, ':');
		}
		if (!rc)
			rc = ctfs_ct_meta_print(b, c);
	}
	return rc ? rc : ctfs_buf_putc(b, obj ? '}' : ']');
}

int ctfs_ct_meta_print(struct ctfs_buf *b, const cJSON *v)
{
	if (cJSON_IsString(v))
		return ctfs_json_put_string(b, v->valuestring, strlen(v->valuestring));
	if (cJSON_IsNumber(v))
		return put_number(b, v->valuedouble);
	if (cJSON_IsBool(v))
		return ctfs_buf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
	if (cJSON_IsNull(v))
		return ctfs_buf_puts(b, "null");
	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		return put_container(b, v, cJSON_IsObject(v));
	return -EINVAL;
}

/* ---- the signature ---------------------------------------------------------------- */

int ctfs_ct_meta_sign(struct ctfs_st_header *h, const uint8_t *secret)
{
	struct ctfs_buf msg = { 0 }, sig_b64 = { 0 };
	uint8_t sig[SIG_LEN] = { 0 };
	int rc = 0;

	if (secret) {
		rc = ctfs_st_serialize(h, ctfs_signature_omit, false, &msg);
		if (!rc)
			rc = ctfs_ed25519_sign(sig, msg.data, msg.len, secret);
	}
	if (!rc)
		rc = ctfs_b64_encode(sig, sizeof(sig), &sig_b64);
	if (!rc)
		rc = ctfs_st_meta_set(h, CTFS_META_SIGNATURE, (const char *)sig_b64.data);
	ctfs_buf_free(&msg);
	ctfs_buf_free(&sig_b64);
	return rc;
}
