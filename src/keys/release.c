/* The key-release API's messages (release.h): request and answers as JSON,
 * and the header checks both ends run on what a request carries. */
#include "keys/release.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "codec/base64.h"
#include "codec/hex.h"
#include "crypto/secmem.h"
#include "crypto/sha256.h"
#include "ct/model.h"
#include "safetensors/header_json.h"

bool ctfs_release_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > CTFS_RELEASE_MAX_NAME || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._:@+-", c)))
			return false;
	}
	return true;
}

int ctfs_release_request_build(const uint8_t *hdr, size_t hdr_len, uint64_t file_size,
			       const char *kid, const char *fleet, struct ctfs_buf *out)
{
	struct ctfs_buf b64 = { 0 };
	int rc;

	if (!ctfs_release_name_ok(kid) || (fleet && *fleet && !ctfs_release_name_ok(fleet)) ||
	    hdr_len > CTFS_RELEASE_MAX_HEADER)
		return -EINVAL;
	rc = ctfs_b64_encode(hdr, hdr_len, &b64);
	if (!rc)
		rc = ctfs_buf_printf(out, "{\"v\":1,\"kid\":\"%s\",\"fleet\":\"%s\",\"file_size\":%"
				     PRIu64 ",\"header\":\"", kid, fleet ? fleet : "", file_size);
	if (!rc)
		rc = ctfs_buf_append(out, b64.data, b64.len);
	if (!rc)
		rc = ctfs_buf_puts(out, "\"}");
	ctfs_buf_free(&b64);
	return rc;
}

static const char *str_member(const cJSON *o, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int decode_header(const char *b64, struct ctfs_release_req *r, char *err, size_t errlen)
{
	size_t slen = strlen(b64), cap = ctfs_b64_decoded_max(slen);

	if (cap > CTFS_RELEASE_MAX_HEADER + 3) {
		ctfs_seterr(err, errlen, "header over the %u-byte limit", CTFS_RELEASE_MAX_HEADER);
		return -EINVAL;
	}
	r->header = malloc(cap ? cap : 1);
	if (!r->header)
		return -ENOMEM;
	r->header_len = cap;
	if (ctfs_b64_decode(b64, slen, r->header, &r->header_len) || r->header_len < 10) {
		ctfs_seterr(err, errlen, "header is not base64 of a safetensors header");
		return -EINVAL;
	}
	ctfs_sha256(r->header_sha256, r->header, r->header_len);
	return 0;
}

static int request_fields(const cJSON *o, struct ctfs_release_req *r, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "file_size");
	const char *kid = str_member(o, "kid"), *fleet = str_member(o, "fleet");
	const char *hdr = str_member(o, "header");

	if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
		ctfs_seterr(err, errlen, "unsupported request version (want \"v\":1)");
		return -EINVAL;
	}
	if (!kid || !ctfs_release_name_ok(kid)) {
		ctfs_seterr(err, errlen, "missing or malformed kid");
		return -EINVAL;
	}
	if (fleet && *fleet && !ctfs_release_name_ok(fleet)) {
		ctfs_seterr(err, errlen, "malformed fleet name");
		return -EINVAL;
	}
	/* 2^53: the largest size a JSON number carries exactly. */
	if (!cJSON_IsNumber(size) || size->valuedouble < 10 || size->valuedouble > 9007199254740992.0 ||
	    size->valuedouble != (double)(uint64_t)size->valuedouble) {
		ctfs_seterr(err, errlen, "missing or malformed file_size");
		return -EINVAL;
	}
	if (!hdr) {
		ctfs_seterr(err, errlen, "missing header");
		return -EINVAL;
	}
	r->file_size = (uint64_t)size->valuedouble;
	r->kid = strdup(kid);
	r->fleet = strdup(fleet ? fleet : "");
	if (!r->kid || !r->fleet)
		return -ENOMEM;
	return decode_header(hdr, r, err, errlen);
}

int ctfs_release_request_parse(const char *body, size_t len, struct ctfs_release_req *out,
			       char *err, size_t errlen)
{
	cJSON *o;
	int rc;

	memset(out, 0, sizeof(*out));
	o = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		ctfs_seterr(err, errlen, "request is not a JSON object");
		return -EINVAL;
	}
	rc = request_fields(o, out, err, errlen);
	cJSON_Delete(o);
	if (rc)
		ctfs_release_request_free(out);
	return rc;
}

void ctfs_release_request_free(struct ctfs_release_req *r)
{
	free(r->kid);
	free(r->fleet);
	free(r->header);
	memset(r, 0, sizeof(*r));
}

int ctfs_release_hdr_parse(const uint8_t *hdr, size_t hdr_len, uint64_t file_size,
			   struct ctfs_release_hdr *out, char *err, size_t errlen)
{
	uint64_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	out->m.fd = -1;
	if (hdr_len < 10 || (n = ctfs_load_le64(hdr)) != hdr_len - 8) {
		ctfs_seterr(err, errlen, "header length prefix does not match the header sent");
		return -EINVAL;
	}
	rc = ctfs_st_parse(hdr + 8, hdr_len - 8, file_size, &out->h, err, errlen);
	if (rc)
		return rc;
	if (!ctfs_ct_is_encrypted(out->h)) {
		ctfs_seterr(err, errlen, "not a CryptoTensors header (no %s)", CTFS_META_ENCRYPTION);
		rc = -EINVAL;
	} else {
		rc = ctfs_ct_parse(out->h, &out->ci, err, errlen);
	}
	if (rc) {
		ctfs_release_hdr_free(out);
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	/* The model functions only read h and ci (and record the signer in m):
	 * a model without a file. */
	out->m.fd = -1;
	out->m.h = out->h;
	out->m.ci = out->ci;
	return 0;
}

int ctfs_release_hdr_verify(struct ctfs_release_hdr *rh, const struct ctfs_keyprov *signers,
			    char *err, size_t errlen)
{
	return ctfs_model_check_signature(&rh->m, signers, err, errlen);
}

int ctfs_release_hdr_unwraps(struct ctfs_release_hdr *rh, const struct ctfs_jwk *key,
			     char *err, size_t errlen)
{
	struct ctfs_keyprov kp;
	int rc;

	ctfs_keyprov_jwks(&kp, key, 1);
	rc = ctfs_model_unwrap_keys(&rh->m, &kp, err, errlen);
	ctfs_secure_free(rh->m.deks);
	rh->m.deks = NULL;
	return rc == -ENOKEY ? -EKEYREJECTED : rc;
}

int ctfs_release_hdr_key_opens(const struct ctfs_release_hdr *rh, const struct ctfs_jwk *key,
			       char *err, size_t errlen)
{
	const struct ctfs_ct_info *ci = rh->ci;
	uint8_t *dek = ctfs_secure_alloc(32);
	int rc = dek ? 0 : -ENOMEM;

	if (!rc && (!key->secret || key->secret_len != ctfs_alg_key_len(ci->alg))) {
		ctfs_seterr(err, errlen, "master key kid=%s is not a %s key",
			    key->kid ? key->kid : "?", ctfs_alg_name(ci->alg));
		rc = -EKEYREJECTED;
	}
	for (size_t i = 0; !rc && i < ci->n_tensors; i++) {
		const struct ctfs_ct_tensor *t = &ci->tensors[i];

		if (t->encrypted && ctfs_aead_open(ci->alg, key->secret, t->key_iv, NULL, 0,
						   t->wrapped_key, t->wrapped_len, dek, t->key_tag)) {
			ctfs_seterr(err, errlen, "tensor '%s': key does not unwrap with master "
				    "kid=%s (wrong key?)", rh->h->tensors[i].name,
				    key->kid ? key->kid : "?");
			rc = -EKEYREJECTED;
		}
	}
	ctfs_secure_free(dek);
	return rc;
}

void ctfs_release_hdr_free(struct ctfs_release_hdr *rh)
{
	free(rh->m.chain);	/* a signer chain, if the signer key came from one */
	ctfs_secure_free(rh->m.deks);
	ctfs_ct_free(rh->ci);
	ctfs_st_free(rh->h);
	memset(rh, 0, sizeof(*rh));
}

int ctfs_release_grant_build(const struct ctfs_jwk *key, unsigned lifetime, struct ctfs_buf *out)
{
	int rc;

	/* Room first, so the buffer holding the secret is never reallocated. */
	rc = ctfs_buf_reserve(out, 1024);
	if (!rc)
		rc = ctfs_buf_printf(out, "{\"kid\":\"%s\",\"lifetime\":%u,\"jwk\":", key->kid,
				     lifetime);
	if (!rc)
		rc = ctfs_jwk_to_json(key, true, out);
	if (!rc)
		rc = ctfs_buf_putc(out, '}');
	return rc;
}

int ctfs_release_refusal_build(const char *code, const char *reason, struct ctfs_buf *out)
{
	int rc = ctfs_buf_puts(out, "{\"error\":");

	if (!rc)
		rc = ctfs_json_put_text(out, code);
	if (!rc)
		rc = ctfs_buf_puts(out, ",\"reason\":");
	if (!rc)
		rc = ctfs_json_put_text(out, reason);
	return rc ? rc : ctfs_buf_putc(out, '}');
}

static int grant_key(const cJSON *jwk, const char *kid, struct ctfs_jwk *key,
		     char *err, size_t errlen)
{
	struct ctfs_jwk *set = NULL;
	size_t n = 0;
	char *text = cJSON_PrintUnformatted(jwk);
	int rc;

	if (!text)
		return -ENOMEM;
	rc = ctfs_jwk_parse_set(text, strlen(text), &set, &n, err, errlen);
	sodium_memzero(text, strlen(text));
	cJSON_free(text);
	if (rc)
		return -EKEYREJECTED;
	if (n != 1 || set[0].kty != CTFS_KTY_OCT || !set[0].secret || !set[0].kid ||
	    strcmp(set[0].kid, kid)) {
		ctfs_seterr(err, errlen, "the service answered with another key than master kid=%s",
			    kid);
		ctfs_jwk_free_set(set, n);
		return -EKEYREJECTED;
	}
	*key = set[0];
	free(set);
	return 0;
}

int ctfs_release_grant_parse(const char *body, size_t len, const char *kid,
			     struct ctfs_jwk *key, unsigned *lifetime, char *err, size_t errlen)
{
	cJSON *o = cJSON_ParseWithLength(body, len);
	const cJSON *jwk, *lt;
	const char *akid;
	int rc = -EINVAL;

	memset(key, 0, sizeof(*key));
	if (!cJSON_IsObject(o)) {
		ctfs_seterr(err, errlen, "the service's answer is not a JSON object");
		goto out;
	}
	akid = str_member(o, "kid");
	lt = cJSON_GetObjectItemCaseSensitive(o, "lifetime");
	jwk = cJSON_GetObjectItemCaseSensitive(o, "jwk");
	rc = -EKEYREJECTED;
	if (!akid || strcmp(akid, kid)) {
		ctfs_seterr(err, errlen, "the service answered for kid=%s, not %s",
			    akid ? akid : "(none)", kid);
		goto out;
	}
	if (!cJSON_IsNumber(lt) || lt->valuedouble < CTFS_RELEASE_MIN_LIFETIME ||
	    lt->valuedouble > CTFS_RELEASE_MAX_LIFETIME) {
		ctfs_seterr(err, errlen, "the service's lifetime for kid=%s is missing or out of "
			    "range (%u..%u s)", kid, CTFS_RELEASE_MIN_LIFETIME,
			    CTFS_RELEASE_MAX_LIFETIME);
		goto out;
	}
	*lifetime = (unsigned)lt->valuedouble;
	rc = cJSON_IsObject(jwk) ? grant_key(jwk, kid, key, err, errlen) : -EKEYREJECTED;
	if (rc == -EKEYREJECTED && !cJSON_IsObject(jwk))
		ctfs_seterr(err, errlen, "the service's answer for kid=%s has no jwk", kid);
out:
	cJSON_Delete(o);
	return rc;
}

static void copy_member(const cJSON *o, const char *name, char *dst, size_t cap)
{
	const char *s = str_member(o, name);

	if (cap)
		snprintf(dst, cap, "%s", s ? s : "");
}

void ctfs_release_refusal_parse(const char *body, size_t len, char *code, size_t codelen,
				char *reason, size_t reasonlen)
{
	cJSON *o = cJSON_ParseWithLength(body, len);

	copy_member(o, "error", code, codelen);
	copy_member(o, "reason", reason, reasonlen);
	cJSON_Delete(o);
}
