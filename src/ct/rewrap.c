/* Rewrapping: the data keys are unwrapped with the old master key and
 * wrapped again under the new one; the crypto entries are edited member by
 * member (order and unknown members kept), the header re-signed, and the
 * data region copied as it is. Only the header changes, so its length may
 * change too: data_offsets are relative to the data region and stay valid. */
#include "ct/rewrap.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/atomic_file.h"
#include "codec/base64.h"
#include "sys/copy_range.h"
#include "ct/crypto_entries.h"
#include "ct/meta.h"
#include "safetensors/header_json.h"
#include "ct/model.h"
#include "crypto/curve25519.h"
#include "util.h"

#define IO_BUF (1u << 20)
#define COPY_PIECE ((uint64_t)64 << 20)

struct rewrap {
	const struct ctfs_ct_rewrap_opts *o;
	struct ctfs_model *m;
	struct ctfs_jwk old_signer;    /* the source's key, when o->signer is NULL */
	const struct ctfs_jwk *signer;
	char *err;
	size_t errlen;
};

static const char *kid_or(const char *kid)
{
	return kid ? kid : "(none)";
}

/* Parse metadata entry key, let edit change it, store it back. */
static int edit_meta(struct rewrap *r, const char *key, int (*edit)(struct rewrap *, cJSON *))
{
	cJSON *j = cJSON_Parse(ctfs_st_meta_get(r->m->h, key));
	struct ctfs_buf b = { 0 };
	int rc;

	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return -EINVAL;
	}
	rc = edit(r, j);
	if (!rc)
		rc = ctfs_ct_meta_print(&b, j);
	if (!rc)
		rc = ctfs_st_meta_set(r->m->h, key, (const char *)b.data);
	ctfs_buf_free(&b);
	cJSON_Delete(j);
	return rc;
}

/* ---- the edits ------------------------------------------------------------------ */

static int rewrap_entries(struct rewrap *r, cJSON *enc)
{
	const struct ctfs_ct_info *ci = r->m->ci;
	int rc = 0;

	for (size_t i = 0; !rc && i < ci->n_tensors; i++) {
		struct ctfs_ct_wrapped w;
		cJSON *e;

		if (!ci->tensors[i].encrypted)
			continue;
		e = cJSON_GetObjectItemCaseSensitive(enc, r->m->h->tensors[i].name);
		if (!cJSON_IsObject(e))
			return -EINVAL;
		rc = ctfs_ct_wrap_dek(ci->alg, r->o->new_master->secret, ctfs_model_dek(r->m, i),
				      &w);
		if (!rc)
			rc = ctfs_ct_meta_set_wrapped(e, &w);
	}
	return rc;
}

static int rename_keys(struct rewrap *r, cJSON *ck)
{
	int rc = 0;

	if (r->o->new_master)
		rc = ctfs_ct_meta_set_keyref(cJSON_GetObjectItemCaseSensitive(ck, "enc"),
					     r->o->new_master);
	if (!rc && r->o->signer)
		rc = ctfs_ct_meta_set_keyref(cJSON_GetObjectItemCaseSensitive(ck, "sign"),
					     r->o->signer);
	if (!rc && r->o->signer)
		rc = ctfs_ct_meta_set_x5c(cJSON_GetObjectItemCaseSensitive(ck, "sign"), r->o->x5c,
					   r->o->n_x5c);
	return rc;
}

/* ctfs.model_id / ctfs.version, and the plaintext digests from the source. */
static int trust_meta(struct rewrap *r)
{
	struct ctfs_st_header *h = r->m->h;
	bool *plain = calloc(h->n_tensors ? h->n_tensors : 1, sizeof(*plain));
	int rc;

	if (!plain)
		return -ENOMEM;
	for (size_t i = 0; i < h->n_tensors; i++)
		plain[i] = !r->m->ci->tensors[i].encrypted;
	rc = ctfs_ct_meta_trust(h, r->o->model_id, r->o->model_version,
				r->o->digests ? r->m->fd : -1, plain, r->m->ci->version,
				r->m->ci->chunk_size);
	free(plain);
	return rc;
}

static int new_policy(struct rewrap *r)
{
	const char *local = r->o->policy_local ? r->o->policy_local : r->m->ci->policy_local;
	const char *remote = r->o->policy_remote ? r->o->policy_remote : r->m->ci->policy_remote;
	struct ctfs_buf b = { 0 };
	int rc = ctfs_ct_meta_policy(&b, local, remote);

	if (!rc)
		rc = ctfs_st_meta_set(r->m->h, CTFS_META_POLICY, (const char *)b.data);
	ctfs_buf_free(&b);
	return rc;
}

static int build(struct rewrap *r, struct ctfs_buf *hdr)
{
	int rc = 0;

	if (r->o->new_master)
		rc = edit_meta(r, CTFS_META_ENCRYPTION, rewrap_entries);
	if (!rc && (r->o->new_master || r->o->signer))
		rc = edit_meta(r, CTFS_META_CRYPTO_KEYS, rename_keys);
	if (!rc && (r->o->policy_local || r->o->policy_remote))
		rc = new_policy(r);
	if (!rc)
		rc = trust_meta(r);
	if (!rc)
		rc = ctfs_ct_meta_sign(r->m->h, r->signer->secret);
	if (!rc)
		rc = ctfs_st_build_header(r->m->h, NULL, false, hdr);
	if (rc && rc != -ENOMEM)
		ctfs_seterr(r->err, r->errlen, "cannot rebuild the header: %s", strerror(-rc));
	return rc;
}

/* ---- checking the new header before anything is written ------------------------ */

static int same_data_entry(const struct ctfs_ct_tensor *a, const struct ctfs_ct_tensor *b)
{
	return a->encrypted == b->encrypted && a->n_tags == b->n_tags &&
	       !memcmp(a->iv, b->iv, sizeof(a->iv)) &&
	       (!a->n_tags || !memcmp(a->tags, b->tags, a->n_tags * CTFS_AEAD_TAG));
}

/* The new key opens what the old one did, for every tensor. */
static int check_entries(struct rewrap *r, const struct ctfs_st_header *h2,
			 const struct ctfs_ct_info *ci2)
{
	const struct ctfs_ct_info *ci = r->m->ci;
	size_t klen = ctfs_alg_key_len(ci->alg);
	uint8_t dek[CTFS_AEAD_MAX_KEY];
	int rc = 0;

	for (size_t i = 0; !rc && i < ci->n_tensors; i++) {
		const struct ctfs_tensor *t2 = ctfs_st_find(h2, r->m->h->tensors[i].name);
		const struct ctfs_ct_tensor *e2;

		if (!t2)
			return -EIO;
		e2 = &ci2->tensors[t2 - h2->tensors];
		if (!same_data_entry(&ci->tensors[i], e2))
			return -EIO;
		if (!e2->encrypted || !r->o->new_master)
			continue;
		rc = ctfs_aead_open(ci2->alg, r->o->new_master->secret, e2->key_iv, NULL, 0,
				    e2->wrapped_key, e2->wrapped_len, dek, e2->key_tag);
		if (!rc && sodium_memcmp(dek, ctfs_model_dek(r->m, i), klen))
			rc = -EIO;
	}
	sodium_memzero(dek, sizeof(dek));
	return rc;
}

static int self_check(struct rewrap *r, const struct ctfs_buf *hdr)
{
	struct ctfs_st_header *h2 = NULL;
	struct ctfs_ct_info *ci2 = NULL;
	struct ctfs_buf msg = { 0 };
	uint8_t pub[32];
	int rc;

	rc = ctfs_st_parse(hdr->data + 8, hdr->len - 8, hdr->len + r->m->h->data_len, &h2,
			   NULL, 0);
	if (!rc)
		rc = ctfs_ct_parse(h2, &ci2, NULL, 0);
	if (!rc)
		rc = ctfs_st_serialize(h2, ctfs_signature_omit, false, &msg);
	if (!rc)
		rc = ctfs_ed25519_pub_from_seed(pub, r->signer->secret);
	if (!rc)
		rc = ctfs_ed25519_verify(pub, msg.data, msg.len, ci2->signature);
	if (!rc)
		rc = check_entries(r, h2, ci2);
	if (rc)
		ctfs_seterr(r->err, r->errlen, "internal error: the rewritten header does not "
			    "check out (%s); nothing was written", strerror(-rc));
	ctfs_buf_free(&msg);
	ctfs_ct_free(ci2);
	ctfs_st_free(h2);
	return rc ? -EIO : 0;
}

/* ---- keys ------------------------------------------------------------------------ */

static int check_new_master(struct rewrap *r)
{
	const struct ctfs_jwk *k = r->o->new_master;
	enum ctfs_alg file_alg = r->m->ci->alg, key_alg;

	if (!k)
		return 0;
	if (k->kty != CTFS_KTY_OCT || !k->secret) {
		ctfs_seterr(r->err, r->errlen, "the new master key must be an oct key with its k");
		return -EINVAL;
	}
	if ((k->alg && (ctfs_alg_parse(k->alg, &key_alg) || key_alg != file_alg)) ||
	    k->secret_len != ctfs_alg_key_len(file_alg)) {
		ctfs_seterr(r->err, r->errlen, "new master key kid=%s does not fit %s, the "
			    "algorithm of this file (rewrap does not re-encrypt the data)",
			    kid_or(k->kid), ctfs_alg_name(file_alg));
		return -EINVAL;
	}
	return 0;
}

static int choose_signer(struct rewrap *r)
{
	const struct ctfs_ct_info *ci = r->m->ci;
	char kerr[256] = "";
	int rc;

	if (r->o->signer) {
		r->signer = r->o->signer;
		if (r->signer->kty == CTFS_KTY_OKP && r->signer->secret &&
		    r->signer->secret_len == 32)
			return 0;
		ctfs_seterr(r->err, r->errlen, "new signing key kid=%s has no private part (d)",
			    kid_or(r->signer->kid));
		return -EINVAL;
	}
	rc = r->o->old->get(r->o->old, CTFS_KTY_OKP, ci->sign_kid, &r->old_signer, kerr,
			    sizeof(kerr));
	if (!rc && (!r->old_signer.secret || r->old_signer.secret_len != 32))
		rc = -ENOKEY;
	if (rc) {
		ctfs_seterr(r->err, r->errlen, "re-signing needs the private part (d) of signing "
			    "key kid=%s, or a new signing key", kid_or(ci->sign_kid));
		return rc;
	}
	r->signer = &r->old_signer;
	return 0;
}

/* ---- the file ---------------------------------------------------------------------- */

static int copy_data(struct rewrap *r, int out_fd, uint64_t out_off)
{
	const struct ctfs_st_header *h = r->m->h;
	uint8_t *buf = malloc(IO_BUF);
	int rc = buf ? 0 : -ENOMEM;

	for (uint64_t off = 0; !rc && off < h->data_len; off += COPY_PIECE) {
		uint64_t n = h->data_len - off < COPY_PIECE ? h->data_len - off : COPY_PIECE;

		rc = ctfs_copy_range(r->m->fd, h->data_start + off, out_fd, out_off + off, n, buf,
				     IO_BUF);
		if (!rc && r->o->progress)
			rc = r->o->progress(r->o->progress_arg, off + n, h->data_len);
	}
	free(buf);
	if (rc == -ENOSPC)
		ctfs_seterr(r->err, r->errlen, "no space left on the device");
	else if (rc)
		ctfs_seterr(r->err, r->errlen, "cannot copy the data region: %s",
			    rc == -EINTR ? "interrupted" : strerror(-rc));
	return rc;
}

static int unchanged(struct rewrap *r)
{
	struct stat st;

	if (fstat(r->m->fd, &st) == 0 && ctfs_model_same_file(r->m, &st))
		return 0;
	ctfs_seterr(r->err, r->errlen, "the source changed while it was copied");
	return -EAGAIN;
}

static int write_dst(struct rewrap *r, const char *dst, const struct ctfs_buf *hdr)
{
	mode_t mode = r->m->id.st_mode & 0777;
	struct ctfs_afile f;
	int rc = ctfs_afile_create(&f, dst, mode, r->err, r->errlen);

	if (rc)
		return rc;
	if (fchmod(f.fd, mode) < 0)
		rc = -errno;
	if (!rc)
		rc = ctfs_afile_reserve(&f, hdr->len + r->m->h->data_len, r->err, r->errlen);
	if (!rc) {
		rc = ctfs_pwrite_full(f.fd, hdr->data, hdr->len, 0);
		if (rc)
			ctfs_seterr(r->err, r->errlen, "cannot write %s: %s", dst, strerror(-rc));
	}
	if (!rc)
		rc = copy_data(r, f.fd, hdr->len);
	if (!rc && ftruncate(f.fd, (off_t)(hdr->len + r->m->h->data_len)) < 0)
		rc = -errno;
	if (!rc)
		rc = unchanged(r);
	if (!rc)
		return ctfs_afile_commit(&f, r->err, r->errlen);
	ctfs_afile_abort(&f);
	return rc;
}

static int open_source(struct rewrap *r, const char *src)
{
	int rc = ctfs_model_load(AT_FDCWD, src, src, &r->m, r->err, r->errlen);

	if (rc)
		return rc;
	if (!ctfs_model_is_encrypted(r->m)) {
		ctfs_seterr(r->err, r->errlen, "not a CryptoTensors file");
		return -ENODATA;
	}
	rc = ctfs_model_check_signature(r->m, r->o->old, r->err, r->errlen);
	if (!rc && !r->o->sign_only)
		rc = ctfs_model_unwrap_keys(r->m, r->o->old, r->err, r->errlen);
	return rc;
}

int ctfs_ct_rewrap_file(const char *src, const char *dst, const struct ctfs_ct_rewrap_opts *o,
			char *err, size_t errlen)
{
	struct rewrap r = { .o = o, .err = err, .errlen = errlen };
	struct ctfs_buf hdr = { 0 };
	int rc = 0;

	ctfs_seterr(err, errlen, "%s", "");
	if (o->sign_only && (o->new_master || !o->signer)) {
		ctfs_seterr(err, errlen, "re-signing takes a new signing key and no master key");
		return -EINVAL;
	}
	if (!o->new_master && !o->signer && !o->policy_local && !o->policy_remote &&
	    !o->model_id && !o->model_version) {
		ctfs_seterr(err, errlen, "nothing to change: no new key and no new policy");
		return -EINVAL;
	}
	rc = open_source(&r, src);
	if (!rc)
		rc = check_new_master(&r);
	if (!rc)
		rc = choose_signer(&r);
	if (!rc)
		rc = build(&r, &hdr);
	if (!rc)
		rc = self_check(&r, &hdr);
	if (!rc)
		rc = write_dst(&r, dst, &hdr);
	if (rc && err && !*err)
		ctfs_seterr(err, errlen, "%s", strerror(-rc));
	ctfs_buf_free(&hdr);
	ctfs_jwk_clear(&r.old_signer);
	ctfs_model_put(r.m);
	return rc;
}
