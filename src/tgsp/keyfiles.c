/* TGSP key files and trusted signers (FORMATS.md section 3, "Key files"). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "codec/hex.h"
#include "pq/fips202.h"
#include "crypto/secmem.h"
#include "crypto/curve25519.h"
#include "tgsp/format.h"
#include "tgsp/keyfiles.h"

#define KEYFILE_MAX (64u << 10)
/* ML-KEM-768 decapsulation key: dk_pke || ek || H(ek) || z */
#define MLKEM_EK_AT 1152
#define MLKEM_HEK_AT (MLKEM_EK_AT + CTFS_MLKEM768_PK_BYTES)
/* ML-DSA-65 secret key: rho || K || tr || ...; tr = SHAKE256(pk, 64) */
#define MLDSA_TR_AT 64
#define MLDSA_TR_LEN 64

/* Decode the hex member `name` of a key object into out[0..len). */
static int hex_member(const cJSON *o, const char *name, uint8_t *out, size_t len,
		      char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(v) || strlen(v->valuestring) != 2 * len ||
	    ctfs_hex_decode(v->valuestring, 2 * len, out, len)) {
		ctfs_seterr(err, errlen, "key file: \"%s\" is not %zu bytes of hex", name, len);
		return -EINVAL;
	}
	return 0;
}

static int parse_key(const char *text, size_t len, const char *alg, uint8_t *classic,
		     size_t classic_len, uint8_t *pqc, size_t pqc_len, char *err, size_t errlen)
{
	cJSON *o = cJSON_ParseWithLength(text, len);
	const cJSON *a;
	int rc = -EINVAL;

	if (!cJSON_IsObject(o)) {
		ctfs_seterr(err, errlen, "key file: not a JSON object");
		goto out;
	}
	a = cJSON_GetObjectItemCaseSensitive(o, "alg");
	if (!cJSON_IsString(a) || strcmp(a->valuestring, alg)) {
		ctfs_seterr(err, errlen, "key file: \"alg\" is not \"%s\"", alg);
		goto out;
	}
	rc = hex_member(o, "classic", classic, classic_len, err, errlen);
	if (!rc)
		rc = hex_member(o, "pqc", pqc, pqc_len, err, errlen);
out:
	cJSON_Delete(o);	/* the secmem hooks wipe what it held */
	return rc;
}

int ctfs_tgsp_sign_pub_parse(const char *text, size_t len, struct ctfs_tgsp_sign_pub *out,
			     char *err, size_t errlen)
{
	return parse_key(text, len, CTFS_TGSP_SIG, out->ed25519, sizeof(out->ed25519),
			 out->mldsa, sizeof(out->mldsa), err, errlen);
}

int ctfs_tgsp_enc_pub_parse(const char *text, size_t len, struct ctfs_tgsp_enc_pub *out,
			    char *err, size_t errlen)
{
	return parse_key(text, len, CTFS_TGSP_KEM, out->x25519, sizeof(out->x25519),
			 out->mlkem, sizeof(out->mlkem), err, errlen);
}

int ctfs_tgsp_sign_sec_parse(const char *text, size_t len, struct ctfs_tgsp_sign_sec **out,
			     char *err, size_t errlen)
{
	struct ctfs_tgsp_sign_sec *k = ctfs_secure_alloc(sizeof(*k));
	int rc;

	if (!k)
		return -ENOMEM;
	rc = parse_key(text, len, CTFS_TGSP_SIG, k->ed25519_seed, sizeof(k->ed25519_seed),
		       k->mldsa, sizeof(k->mldsa), err, errlen);
	if (rc) {
		ctfs_secure_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int ctfs_tgsp_enc_sec_parse(const char *text, size_t len, struct ctfs_tgsp_enc_sec **out,
			    char *err, size_t errlen)
{
	struct ctfs_tgsp_enc_sec *k = ctfs_secure_alloc(sizeof(*k));
	uint8_t h[32];
	int rc;

	if (!k)
		return -ENOMEM;
	rc = parse_key(text, len, CTFS_TGSP_KEM, k->x25519, sizeof(k->x25519),
		       k->mlkem, sizeof(k->mlkem), err, errlen);
	if (!rc) {
		/* the FIPS 203 decapsulation key check, at load time */
		ctfs_sha3_256(h, k->mlkem + MLKEM_EK_AT, CTFS_MLKEM768_PK_BYTES);
		if (sodium_memcmp(h, k->mlkem + MLKEM_HEK_AT, 32)) {
			ctfs_seterr(err, errlen, "key file: ML-KEM-768 key fails its hash check");
			rc = -EINVAL;
		}
	}
	if (rc) {
		ctfs_secure_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int ctfs_tgsp_sign_pair_check(const struct ctfs_tgsp_sign_pub *pub,
			      const struct ctfs_tgsp_sign_sec *sec)
{
	uint8_t ed[32], tr[MLDSA_TR_LEN];

	if (ctfs_ed25519_pub_from_seed(ed, sec->ed25519_seed))
		return -EIO;
	ctfs_shake256(tr, sizeof(tr), pub->mldsa, sizeof(pub->mldsa));
	if (memcmp(ed, pub->ed25519, 32) || memcmp(tr, sec->mldsa + MLDSA_TR_AT, MLDSA_TR_LEN))
		return -EKEYREJECTED;
	return 0;
}

int ctfs_tgsp_enc_pair_check(const struct ctfs_tgsp_enc_pub *pub,
			     const struct ctfs_tgsp_enc_sec *sec)
{
	uint8_t x[32];

	if (ctfs_x25519_pub(x, sec->x25519))
		return -EIO;
	if (memcmp(x, pub->x25519, 32) ||
	    memcmp(sec->mlkem + MLKEM_EK_AT, pub->mlkem, CTFS_MLKEM768_PK_BYTES))
		return -EKEYREJECTED;
	return 0;
}

int ctfs_tgsp_sign_keygen(struct ctfs_tgsp_sign_pub *pub, struct ctfs_tgsp_sign_sec **sec)
{
	struct ctfs_tgsp_sign_sec *k = ctfs_secure_alloc(sizeof(*k));
	int rc;

	if (!k)
		return -ENOMEM;
	randombytes_buf(k->ed25519_seed, sizeof(k->ed25519_seed));
	rc = ctfs_ed25519_pub_from_seed(pub->ed25519, k->ed25519_seed);
	if (!rc)
		rc = ctfs_mldsa65_keypair(pub->mldsa, k->mldsa);
	if (rc) {
		ctfs_secure_free(k);
		return rc;
	}
	*sec = k;
	return 0;
}

int ctfs_tgsp_enc_keygen(struct ctfs_tgsp_enc_pub *pub, struct ctfs_tgsp_enc_sec **sec)
{
	struct ctfs_tgsp_enc_sec *k = ctfs_secure_alloc(sizeof(*k));
	int rc;

	if (!k)
		return -ENOMEM;
	randombytes_buf(k->x25519, sizeof(k->x25519));
	rc = ctfs_x25519_pub(pub->x25519, k->x25519);
	if (!rc)
		rc = ctfs_mlkem768_keypair(pub->mlkem, k->mlkem);
	if (rc) {
		ctfs_secure_free(k);
		return rc;
	}
	*sec = k;
	return 0;
}

int ctfs_tgsp_key_json(struct ctfs_buf *out, const uint8_t *classic, size_t classic_len,
		       const uint8_t *pqc, size_t pqc_len, const char *alg)
{
	int rc = ctfs_buf_reserve(out, 2 * (classic_len + pqc_len) + strlen(alg) + 64);

	if (!rc)
		rc = ctfs_buf_puts(out, "{\"classic\":\"");
	if (!rc)
		rc = ctfs_hex_encode(classic, classic_len, out);
	if (!rc)
		rc = ctfs_buf_puts(out, "\",\"pqc\":\"");
	if (!rc)
		rc = ctfs_hex_encode(pqc, pqc_len, out);
	if (!rc)
		rc = ctfs_buf_printf(out, "\",\"alg\":\"%s\"}", alg);
	return rc;
}

/* --- trusted signers ---------------------------------------------------------- */

int ctfs_tgsp_trust_add(struct ctfs_tgsp_trust *t, const struct ctfs_tgsp_sign_pub *pub,
			const char *key_id, const char *origin)
{
	struct ctfs_tgsp_signer *v = realloc(t->v, (t->n + 1) * sizeof(*v)), *s;

	if (!v)
		return -ENOMEM;
	t->v = v;
	s = &v[t->n];
	memset(s, 0, sizeof(*s));
	s->pub = *pub;
	s->key_id = key_id ? strdup(key_id) : NULL;
	s->origin = strdup(origin ? origin : "?");
	if ((key_id && !s->key_id) || !s->origin) {
		free(s->key_id);
		free(s->origin);
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

/* Another kind of key (an encryption key beside the signer's in a
 * directory): its "alg" names something else. */
static bool other_alg(const uint8_t *text, size_t len)
{
	cJSON *o = cJSON_ParseWithLength((const char *)text, len);
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "alg");
	bool other = cJSON_IsString(a) && strcmp(a->valuestring, CTFS_TGSP_SIG) != 0;

	cJSON_Delete(o);
	return other;
}

/* 0 loaded, 1 skipped (in_dir and not a signing key), -errno. */
static int trust_file(struct ctfs_tgsp_trust *t, const char *path, bool in_dir,
		      char *err, size_t errlen)
{
	struct ctfs_tgsp_sign_pub pub;
	uint8_t *text;
	size_t len;
	char why[200] = "";
	int rc = ctfs_read_file(path, KEYFILE_MAX, &text, &len);

	if (rc) {
		ctfs_seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (in_dir && other_alg(text, len)) {
		free(text);
		return 1;
	}
	rc = ctfs_tgsp_sign_pub_parse((const char *)text, len, &pub, why, sizeof(why));
	free(text);
	if (rc) {
		ctfs_seterr(err, errlen, "%s: %s", path, why);
		return rc;
	}
	return ctfs_tgsp_trust_add(t, &pub, NULL, path);
}

static int key_file_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	if (d->d_name[0] == '.')
		return 0;
	return (n > 4 && !strcmp(d->d_name + n - 4, ".pub")) ||
	       (n > 5 && !strcmp(d->d_name + n - 5, ".json"));
}

int ctfs_tgsp_trust_load(struct ctfs_tgsp_trust *t, const char *path, char *err, size_t errlen)
{
	struct dirent **names;
	struct ctfs_buf full = { 0 };
	size_t before = t->n;
	int n, rc = 0;
	DIR *d = opendir(path);

	if (!d) {
		rc = -errno;
		if (rc == -ENOTDIR)
			return trust_file(t, path, false, err, errlen);
		ctfs_seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	closedir(d);
	n = scandir(path, &names, key_file_name, alphasort);
	if (n < 0) {
		rc = -errno;
		ctfs_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	for (int i = 0; i < n; i++) {
		full.len = 0;
		if (rc >= 0)
			rc = ctfs_buf_printf(&full, "%s/%s", path, names[i]->d_name);
		if (rc == 0)
			rc = trust_file(t, (const char *)full.data, true, err, errlen);
		free(names[i]);
	}
	free(names);
	ctfs_buf_free(&full);
	if (rc >= 0 && t->n == before) {
		ctfs_seterr(err, errlen, "%s: no signer key file (*.pub or *.json with alg %s)",
			    path, CTFS_TGSP_SIG);
		rc = -ENOENT;
	}
	return rc < 0 ? rc : 0;
}

void ctfs_tgsp_trust_free(struct ctfs_tgsp_trust *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].key_id);
		free(t->v[i].origin);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
