#include "keys/jwk.h"
#include "crypto/aead.h"
#include "codec/base64.h"
#include "crypto/secmem.h"
#include "crypto/curve25519.h"
#include "trust/thumbprint.h"
#include "safetensors/header_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#define OKP_LEN 32

/* The string member `name` of o: NULL if absent; -EINVAL if it is not a
 * string or appears twice (two "k" could mean two different keys). */
static int member_string(const cJSON *o, const char *name, cJSON **out,
			 size_t idx, char *err, size_t errlen)
{
	cJSON *it;

	*out = NULL;
	cJSON_ArrayForEach(it, o) {
		if (!it->string || strcmp(it->string, name))
			continue;
		if (*out || !cJSON_IsString(it) || !it->valuestring) {
			ctfs_seterr(err, errlen, "key %zu: member \"%s\" is %s", idx, name,
				    *out ? "repeated" : "not a string");
			return -EINVAL;
		}
		*out = it;
	}
	return 0;
}

static int dup_member(const cJSON *o, const char *name, char **out, size_t idx,
		      char *err, size_t errlen)
{
	cJSON *it;
	int rc = member_string(o, name, &it, idx, err, errlen);

	if (rc || !it)
		return rc;
	*out = strdup(it->valuestring);
	return *out ? 0 : -ENOMEM;
}

/* Decode a base64 member into fresh secure memory, then wipe the parsed
 * text so the tree does not keep a second copy of the secret. */
static int decode_secret(cJSON *it, struct ctfs_jwk *k, size_t idx, char *err, size_t errlen)
{
	size_t slen = strlen(it->valuestring);
	size_t cap = ctfs_b64_decoded_max(slen);
	int rc;

	/* Every key we take is 32 bytes at most; do not lock pages for more. */
	if (cap > 64) {
		sodium_memzero(it->valuestring, slen);
		ctfs_seterr(err, errlen, "key %zu: secret \"%s\" is too long", idx, it->string);
		return -EINVAL;
	}
	k->secret = ctfs_secure_alloc(cap ? cap : 1);
	if (!k->secret)
		return -ENOMEM;
	k->secret_len = cap;
	rc = ctfs_b64_decode(it->valuestring, slen, k->secret, &k->secret_len);
	sodium_memzero(it->valuestring, slen);
	if (rc)
		ctfs_seterr(err, errlen, "key %zu: secret \"%s\" is not base64", idx, it->string);
	return rc;
}

int ctfs_jwk_allow_signer(struct ctfs_jwk *k, const uint8_t tp[32])
{
	uint8_t (*grown)[32];

	k->has_signers = true;
	if (ctfs_jwk_signer_allowed(k, tp))
		return 0;
	if (k->n_signers >= CTFS_JWK_MAX_SIGNERS)
		return -E2BIG;
	grown = realloc(k->signers, (k->n_signers + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	k->signers = grown;
	memcpy(k->signers[k->n_signers++], tp, 32);
	return 0;
}

bool ctfs_jwk_signer_allowed(const struct ctfs_jwk *k, const uint8_t tp[32])
{
	for (size_t i = 0; i < k->n_signers; i++)
		if (!memcmp(k->signers[i], tp, 32))
			return true;
	return false;
}

int ctfs_jwk_allow_subject(struct ctfs_jwk *k, const char *subject)
{
	char **grown;

	if (!*subject || strlen(subject) > CTFS_JWK_SUBJECT_MAX)
		return -EINVAL;
	k->has_signers = true;
	if (ctfs_jwk_subject_allowed(k, subject))
		return 0;
	if (k->n_subjects >= CTFS_JWK_MAX_SIGNERS)
		return -E2BIG;
	grown = realloc(k->subjects, (k->n_subjects + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	k->subjects = grown;
	k->subjects[k->n_subjects] = strdup(subject);
	if (!k->subjects[k->n_subjects])
		return -ENOMEM;
	k->n_subjects++;
	return 0;
}

bool ctfs_jwk_subject_allowed(const struct ctfs_jwk *k, const char *subject)
{
	for (size_t i = 0; subject && i < k->n_subjects; i++)
		if (!strcmp(k->subjects[i], subject))
			return true;
	return false;
}

/* The array member `name` of o (present once at most), or NULL. */
static int array_member(const cJSON *o, const char *name, const cJSON **arr, size_t idx,
			char *err, size_t errlen)
{
	const cJSON *it;

	*arr = NULL;
	cJSON_ArrayForEach(it, o) {
		if (!it->string || strcmp(it->string, name))
			continue;
		if (*arr || !cJSON_IsArray(it)) {
			ctfs_seterr(err, errlen, "key %zu: member \"%s\" is %s", idx, name,
				    *arr ? "repeated" : "not an array");
			return -EINVAL;
		}
		*arr = it;
	}
	return 0;
}

static int parse_subjects(const cJSON *o, struct ctfs_jwk *k, size_t idx, char *err,
			  size_t errlen)
{
	const cJSON *arr, *s;
	int rc = array_member(o, CTFS_JWK_SUBJECTS_MEMBER, &arr, idx, err, errlen);

	if (rc || !arr)
		return rc;
	k->has_signers = true;
	cJSON_ArrayForEach(s, arr) {
		rc = cJSON_IsString(s) ? ctfs_jwk_allow_subject(k, s->valuestring) : -EINVAL;
		if (rc) {
			ctfs_seterr(err, errlen, "key %zu: \"%s\" holds an empty, long or non-string "
				    "subject, or more than %d", idx, CTFS_JWK_SUBJECTS_MEMBER,
				    CTFS_JWK_MAX_SIGNERS);
			return rc == -ENOMEM ? rc : -EINVAL;
		}
	}
	return 0;
}

/* "ctfs_signers": an array of thumbprint texts, present once at most. */
static int parse_signers(const cJSON *o, struct ctfs_jwk *k, size_t idx, char *err,
			 size_t errlen)
{
	const cJSON *it, *arr = NULL, *s;
	uint8_t tp[CTFS_THUMBPRINT_LEN];
	int rc;

	cJSON_ArrayForEach(it, o) {
		if (!it->string || strcmp(it->string, CTFS_JWK_SIGNERS_MEMBER))
			continue;
		if (arr || !cJSON_IsArray(it)) {
			ctfs_seterr(err, errlen, "key %zu: member \"%s\" is %s", idx,
				    CTFS_JWK_SIGNERS_MEMBER, arr ? "repeated" : "not an array");
			return -EINVAL;
		}
		arr = it;
	}
	if (!arr)
		return 0;
	k->has_signers = true;
	cJSON_ArrayForEach(s, arr) {
		if (!cJSON_IsString(s) || ctfs_thumbprint_parse(s->valuestring, tp)) {
			ctfs_seterr(err, errlen, "key %zu: \"%s\" holds something other than "
				    "RFC 7638 thumbprints (43 base64url characters)", idx,
				    CTFS_JWK_SIGNERS_MEMBER);
			return -EINVAL;
		}
		rc = ctfs_jwk_allow_signer(k, tp);
		if (rc) {
			ctfs_seterr(err, errlen, "key %zu: more than %d signers", idx,
				    CTFS_JWK_MAX_SIGNERS);
			return rc == -E2BIG ? -EINVAL : rc;
		}
	}
	return 0;
}

static int parse_oct(const cJSON *o, struct ctfs_jwk *k, size_t idx, char *err, size_t errlen)
{
	cJSON *kv;
	enum ctfs_alg alg;
	size_t want = 0;
	int rc;

	if (k->alg) {
		if (ctfs_alg_parse(k->alg, &alg)) {
			ctfs_seterr(err, errlen, "key %zu: unsupported oct alg \"%s\"", idx, k->alg);
			return -EINVAL;
		}
		want = ctfs_alg_key_len(alg);
	}
	rc = parse_signers(o, k, idx, err, errlen);
	if (!rc)
		rc = parse_subjects(o, k, idx, err, errlen);
	if (rc)
		return rc;
	rc = member_string(o, "k", &kv, idx, err, errlen);
	if (rc || !kv)
		return rc;	/* a key without its secret, as in __crypto_keys__ */
	rc = decode_secret(kv, k, idx, err, errlen);
	if (rc)
		return rc;
	if (want ? k->secret_len != want : k->secret_len != 16 && k->secret_len != 32) {
		ctfs_seterr(err, errlen, "key %zu: oct key is %zu bytes, want %s", idx,
			    k->secret_len, want == 16 ? "16" : want ? "32" : "16 or 32");
		return -EINVAL;
	}
	return 0;
}

#define X5C_MAX 8
#define X5C_CERT_TEXT_MAX 21848	/* base64 of 16 KiB */

static int parse_x5c(const cJSON *o, struct ctfs_jwk *k, size_t idx, char *err, size_t errlen)
{
	const cJSON *arr, *s;
	int rc = array_member(o, "x5c", &arr, idx, err, errlen), count;

	if (rc || !arr)
		return rc;
	count = cJSON_GetArraySize(arr);
	if (count < 1 || count > X5C_MAX) {
		ctfs_seterr(err, errlen, "key %zu: x5c holds %d certificates (1..%d)", idx, count,
			    X5C_MAX);
		return -EINVAL;
	}
	k->x5c = calloc((size_t)count, sizeof(*k->x5c));
	if (!k->x5c)
		return -ENOMEM;
	cJSON_ArrayForEach(s, arr) {
		if (!cJSON_IsString(s) || strlen(s->valuestring) > X5C_CERT_TEXT_MAX) {
			ctfs_seterr(err, errlen, "key %zu: x5c holds a non-string or an oversized "
				    "certificate", idx);
			return -EINVAL;
		}
		k->x5c[k->n_x5c] = strdup(s->valuestring);
		if (!k->x5c[k->n_x5c])
			return -ENOMEM;
		k->n_x5c++;
	}
	return 0;
}

static int parse_okp(const cJSON *o, struct ctfs_jwk *k, size_t idx, char *err, size_t errlen)
{
	cJSON *crv, *x, *d;
	uint8_t derived[OKP_LEN];
	size_t xlen = sizeof(k->pub);
	int rc;

	if (k->alg && strcasecmp(k->alg, "ed25519") && strcasecmp(k->alg, "eddsa")) {
		ctfs_seterr(err, errlen, "key %zu: unsupported okp alg \"%s\"", idx, k->alg);
		return -EINVAL;
	}
	rc = member_string(o, "crv", &crv, idx, err, errlen);
	if (!rc)
		rc = parse_x5c(o, k, idx, err, errlen);
	if (!rc)
		rc = member_string(o, "x", &x, idx, err, errlen);
	if (!rc)
		rc = member_string(o, "d", &d, idx, err, errlen);
	if (rc)
		return rc;
	if (crv && strcasecmp(crv->valuestring, "ed25519")) {
		ctfs_seterr(err, errlen, "key %zu: unsupported okp curve \"%s\"", idx,
			    crv->valuestring);
		return -EINVAL;
	}
	if (!x && !d) {
		ctfs_seterr(err, errlen, "key %zu: okp key has neither x nor d", idx);
		return -EINVAL;
	}
	if (x) {
		if (ctfs_b64_decode(x->valuestring, strlen(x->valuestring), k->pub, &xlen) ||
		    xlen != OKP_LEN) {
			ctfs_seterr(err, errlen, "key %zu: okp x is not 32 bytes of base64", idx);
			return -EINVAL;
		}
		k->has_pub = true;
	}
	if (!d)
		return 0;
	rc = decode_secret(d, k, idx, err, errlen);
	if (rc)
		return rc;
	if (k->secret_len != OKP_LEN) {
		ctfs_seterr(err, errlen, "key %zu: okp d is %zu bytes, want 32", idx, k->secret_len);
		return -EINVAL;
	}
	rc = ctfs_ed25519_pub_from_seed(derived, k->secret);
	if (rc)
		return rc;
	if (k->has_pub && sodium_memcmp(derived, k->pub, OKP_LEN)) {
		ctfs_seterr(err, errlen, "key %zu: okp x does not belong to d", idx);
		return -EINVAL;
	}
	memcpy(k->pub, derived, OKP_LEN);
	k->has_pub = true;
	return 0;
}

static int parse_key(const cJSON *o, struct ctfs_jwk *k, size_t idx, char *err, size_t errlen)
{
	cJSON *kty;
	int rc;

	if (!cJSON_IsObject(o)) {
		ctfs_seterr(err, errlen, "key %zu: not a JSON object", idx);
		return -EINVAL;
	}
	rc = member_string(o, "kty", &kty, idx, err, errlen);
	if (rc)
		return rc;
	if (!kty) {
		ctfs_seterr(err, errlen, "key %zu: no \"kty\"", idx);
		return -EINVAL;
	}
	if (!strcasecmp(kty->valuestring, "oct")) {
		k->kty = CTFS_KTY_OCT;
	} else if (!strcasecmp(kty->valuestring, "okp")) {
		k->kty = CTFS_KTY_OKP;
	} else {
		ctfs_seterr(err, errlen, "key %zu: unsupported kty \"%s\"", idx, kty->valuestring);
		return -EINVAL;
	}
	rc = dup_member(o, "kid", &k->kid, idx, err, errlen);
	if (!rc)
		rc = dup_member(o, "jku", &k->jku, idx, err, errlen);
	if (!rc)
		rc = dup_member(o, "alg", &k->alg, idx, err, errlen);
	if (rc)
		return rc;
	return k->kty == CTFS_KTY_OCT ? parse_oct(o, k, idx, err, errlen)
				      : parse_okp(o, k, idx, err, errlen);
}

/* The whole text must be one JSON value, give or take whitespace. */
static cJSON *parse_whole(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);

	if (!root)
		return NULL;
	while (end < text + len && *end && strchr(" \t\r\n", *end))
		end++;
	if (end != text + len) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

int ctfs_jwk_parse_set(const char *text, size_t len, struct ctfs_jwk **keys, size_t *n,
		       char *err, size_t errlen)
{
	const cJSON *list, *it;
	struct ctfs_jwk *out = NULL;
	size_t count = 0, i = 0;
	cJSON *root;
	int rc = 0;

	*keys = NULL;
	*n = 0;
	root = parse_whole(text, len);
	if (!root || !cJSON_IsObject(root)) {
		ctfs_seterr(err, errlen, root ? "not a JSON object" : "not valid JSON");
		cJSON_Delete(root);
		return -EINVAL;
	}
	list = cJSON_GetObjectItemCaseSensitive(root, "keys");
	if (list && !cJSON_IsArray(list)) {
		ctfs_seterr(err, errlen, "\"keys\" is not an array");
		rc = -EINVAL;
		goto out;
	}
	count = list ? (size_t)cJSON_GetArraySize(list) : 1;
	if (count) {
		out = calloc(count, sizeof(*out));
		if (!out) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (!list) {
		rc = parse_key(root, &out[0], 0, err, errlen);
		i = 1;
	} else {
		cJSON_ArrayForEach(it, list) {
			rc = parse_key(it, &out[i], i, err, errlen);
			i++;
			if (rc)
				break;
		}
	}
	if (rc) {
		ctfs_jwk_free_set(out, i);
		goto out;
	}
	*keys = out;
	*n = count;
out:
	cJSON_Delete(root);
	return rc;
}

void ctfs_jwk_clear(struct ctfs_jwk *k)
{
	free(k->kid);
	free(k->jku);
	free(k->alg);
	free(k->signers);
	for (size_t i = 0; i < k->n_subjects; i++)
		free(k->subjects[i]);
	free(k->subjects);
	for (size_t i = 0; i < k->n_x5c; i++)
		free(k->x5c[i]);
	free(k->x5c);
	ctfs_secure_free(k->secret);
	sodium_memzero(k, sizeof(*k));
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int ctfs_jwk_copy(struct ctfs_jwk *dst, const struct ctfs_jwk *src)
{
	*dst = (struct ctfs_jwk){ .kty = src->kty, .has_pub = src->has_pub,
				  .has_signers = src->has_signers };
	memcpy(dst->pub, src->pub, sizeof(dst->pub));
	if (dup_str(&dst->kid, src->kid) || dup_str(&dst->jku, src->jku) ||
	    dup_str(&dst->alg, src->alg))
		goto nomem;
	if (src->n_signers) {
		dst->signers = malloc(src->n_signers * sizeof(*dst->signers));
		if (!dst->signers)
			goto nomem;
		memcpy(dst->signers, src->signers, src->n_signers * sizeof(*dst->signers));
		dst->n_signers = src->n_signers;
	}
	for (size_t i = 0; i < src->n_subjects; i++)
		if (ctfs_jwk_allow_subject(dst, src->subjects[i]))
			goto nomem;
	if (src->n_x5c && !(dst->x5c = calloc(src->n_x5c, sizeof(*dst->x5c))))
		goto nomem;
	for (; dst->n_x5c < src->n_x5c; dst->n_x5c++)
		if (!(dst->x5c[dst->n_x5c] = strdup(src->x5c[dst->n_x5c])))
			goto nomem;
	if (src->secret) {
		dst->secret = ctfs_secure_alloc(src->secret_len);
		if (!dst->secret)
			goto nomem;
		memcpy(dst->secret, src->secret, src->secret_len);
		dst->secret_len = src->secret_len;
	}
	return 0;
nomem:
	ctfs_jwk_clear(dst);
	return -ENOMEM;
}

void ctfs_jwk_free_set(struct ctfs_jwk *keys, size_t n)
{
	if (!keys)
		return;
	for (size_t i = 0; i < n; i++)
		ctfs_jwk_clear(&keys[i]);
	free(keys);
}

const struct ctfs_jwk *ctfs_jwk_find(const struct ctfs_jwk *keys, size_t n, enum ctfs_kty kty,
				     const char *kid)
{
	const struct ctfs_jwk *found = NULL;

	for (size_t i = 0; i < n; i++) {
		if (keys[i].kty != kty)
			continue;
		if (kid) {
			if (keys[i].kid && !strcmp(keys[i].kid, kid))
				return &keys[i];
		} else {
			if (found)
				return NULL;
			found = &keys[i];
		}
	}
	return found;
}

static int put_member(struct ctfs_buf *b, const char *name, const char *value)
{
	int rc;

	if (!value)
		return 0;
	rc = ctfs_buf_printf(b, ",\"%s\":", name);
	return rc ? rc : ctfs_json_put_text(b, value);
}

static int put_signers(struct ctfs_buf *b, const struct ctfs_jwk *k)
{
	char text[CTFS_THUMBPRINT_TEXT];
	int rc = ctfs_buf_puts(b, ",\"" CTFS_JWK_SIGNERS_MEMBER "\":[");

	for (size_t i = 0; !rc && i < k->n_signers; i++) {
		ctfs_thumbprint_text(k->signers[i], text);
		rc = ctfs_buf_printf(b, "%s\"%s\"", i ? "," : "", text);
	}
	if (!rc)
		rc = ctfs_buf_putc(b, ']');
	if (!rc && k->n_subjects)
		rc = ctfs_buf_puts(b, ",\"" CTFS_JWK_SUBJECTS_MEMBER "\":[");
	for (size_t i = 0; !rc && i < k->n_subjects; i++) {
		rc = i ? ctfs_buf_putc(b, ',') : 0;
		if (!rc)
			rc = ctfs_json_put_text(b, k->subjects[i]);
	}
	if (!rc && k->n_subjects)
		rc = ctfs_buf_putc(b, ']');
	return rc;
}

int ctfs_jwk_to_json(const struct ctfs_jwk *k, bool include_private, struct ctfs_buf *out)
{
	bool okp = k->kty == CTFS_KTY_OKP;
	bool secret = include_private && k->secret;
	int rc;

	if (k->kty != CTFS_KTY_OCT && !okp)
		return -EINVAL;
	rc = ctfs_buf_puts(out, okp ? "{\"kty\":\"okp\"" : "{\"kty\":\"oct\"");
	if (!rc)
		rc = put_member(out, "alg", k->alg);
	if (!rc)
		rc = put_member(out, "kid", k->kid);
	if (!rc)
		rc = put_member(out, "jku", k->jku);
	if (!rc && !okp && k->has_signers)
		rc = put_signers(out, k);
	for (size_t i = 0; !rc && okp && i < k->n_x5c; i++) {
		rc = ctfs_buf_puts(out, i ? "," : ",\"x5c\":[");
		if (!rc)
			rc = ctfs_json_put_text(out, k->x5c[i]);
		if (!rc && i + 1 == k->n_x5c)
			rc = ctfs_buf_putc(out, ']');
	}
	if (!rc && okp && k->has_pub) {
		rc = ctfs_buf_puts(out, ",\"x\":\"");
		if (!rc)
			rc = ctfs_b64_encode(k->pub, sizeof(k->pub), out);
		if (!rc)
			rc = ctfs_buf_putc(out, '"');
	}
	if (rc || !secret)
		return rc ? rc : ctfs_buf_puts(out, "}");
	/* Room for the rest up front: growing later would free a copy of it. */
	rc = ctfs_buf_reserve(out, sizeof(",\"k\":\"\"}") + ctfs_b64_encoded_len(k->secret_len));
	if (!rc)
		rc = ctfs_buf_puts(out, okp ? ",\"d\":\"" : ",\"k\":\"");
	if (!rc)
		rc = ctfs_b64_encode(k->secret, k->secret_len, out);
	if (!rc)
		rc = ctfs_buf_puts(out, "\"}");
	return rc;
}

static int generate_secret(struct ctfs_jwk *k, size_t len)
{
	k->secret = ctfs_secure_alloc(len);
	if (!k->secret)
		return -ENOMEM;
	randombytes_buf(k->secret, len);
	k->secret_len = len;
	return 0;
}

int ctfs_jwk_generate(struct ctfs_jwk *k, enum ctfs_kty kty, const char *alg, const char *kid)
{
	enum ctfs_alg a;
	int rc;

	memset(k, 0, sizeof(*k));
	k->kty = kty;
	if (sodium_init() < 0)
		return -EIO;
	if (kty == CTFS_KTY_OCT) {
		if (ctfs_alg_parse(alg, &a))
			return -EINVAL;
		k->alg = strdup(ctfs_alg_name(a));
		rc = k->alg ? generate_secret(k, ctfs_alg_key_len(a)) : -ENOMEM;
	} else if (kty == CTFS_KTY_OKP) {
		if (alg && strcasecmp(alg, "ed25519"))
			return -EINVAL;
		k->alg = strdup("ed25519");
		rc = k->alg ? generate_secret(k, OKP_LEN) : -ENOMEM;
		if (!rc)
			rc = ctfs_ed25519_pub_from_seed(k->pub, k->secret);
		k->has_pub = !rc;
	} else {
		return -EINVAL;
	}
	if (!rc && kid) {
		k->kid = strdup(kid);
		if (!k->kid)
			rc = -ENOMEM;
	}
	if (rc)
		ctfs_jwk_clear(k);
	return rc;
}
