/* Unlocking a CryptoTensors file: signature, signer binding, policy, keys.
 * The order matters: nothing in the header is trusted, not even the policy
 * or the kids, before the signature over it has verified. */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "safetensors/header_json.h"
#include "ct/model.h"
#include "policy/policy.h"
#include "crypto/secmem.h"
#include "crypto/curve25519.h"
#include "crypto/sha256.h"
#include "log.h"
#include "ct/model_trust.h"
#include "trust/chain.h"
#include "trust/thumbprint.h"

#define DEK_MAX 32

static const char *kid_or(const char *kid)
{
	return kid ? kid : "(none)";
}

int ctfs_model_check_signature(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			       char *err, size_t errlen)
{
	struct ctfs_buf signed_text = { 0 };
	uint8_t pub[32];
	int rc;

	m->signer_ok = false;
	rc = ctfs_model_signer_key(m, kp, pub, err, errlen);
	if (rc)
		return rc;
	rc = ctfs_st_serialize(m->h, ctfs_signature_omit, false, &signed_text);
	if (!rc)
		rc = ctfs_ed25519_verify(pub, signed_text.data, signed_text.len,
					 m->ci->signature);
	if (!rc) {
		m->signer_ok = true;
		ctfs_thumbprint_ed25519(pub, m->signer_tp);
		ctfs_sha256(m->header_digest, signed_text.data, signed_text.len);
	}
	if (rc == -EBADMSG)
		ctfs_seterr(err, errlen, "header signature does not verify with %s kid=%s",
			    m->chain ? "the certificate of" : "", kid_or(m->ci->sign_kid));
	else if (rc)
		ctfs_seterr(err, errlen, "cannot check the signature with kid=%s: %s",
			    kid_or(m->ci->sign_kid), strerror(-rc));
	ctfs_buf_free(&signed_text);
	return rc;
}

static int check_master(const struct ctfs_model *m, const struct ctfs_jwk *key,
			char *err, size_t errlen)
{
	if (key->secret && key->secret_len == ctfs_alg_key_len(m->ci->alg))
		return 0;
	ctfs_seterr(err, errlen, "master key kid=%s has no %zu-byte secret for %s",
		    kid_or(m->ci->enc_kid), ctfs_alg_key_len(m->ci->alg),
		    ctfs_alg_name(m->ci->alg));
	return -EKEYREJECTED;
}

/* Step 4 of CONTROL-PLANE.md on the master key at hand: does it allow the
 * key that signed this file? */
static int check_binding(const struct ctfs_model *m, const struct ctfs_keyprov *kp,
			 const struct ctfs_jwk *key, bool quiet, char *err, size_t errlen)
{
	bool warned;
	int rc;

	if (!m->signer_ok) {
		ctfs_seterr(err, errlen, "signature not checked before the master key kid=%s",
			    kid_or(m->ci->enc_kid));
		return -EKEYREJECTED;
	}
	rc = ctfs_binding_check(key, m->signer_tp, m->chain ? m->chain->subject[0] : NULL,
				kp->unbound, &warned, err, errlen);
	if (warned && !quiet) {
		char tp[CTFS_THUMBPRINT_TEXT];

		ctfs_thumbprint_text(m->signer_tp, tp);
		ctfs_log(LOG_WARNING, "%s: master key kid=%s names no allowed signer; signer %s "
			 "accepted only because unbound_keys=warn (re-add the key with "
			 "ctfs-tool key add)", m->name ? m->name : "?", kid_or(m->ci->enc_kid), tp);
	}
	return rc;
}

/* The binding is checked before the policy when the master key is already
 * there; when it is not (yet), the check happens on the key that arrives. */
static int check_binding_early(const struct ctfs_model *m, const struct ctfs_keyprov *kp,
			       char *err, size_t errlen)
{
	struct ctfs_jwk key = { 0 };
	int rc;

	if (kp->get(kp, CTFS_KTY_OCT, m->ci->enc_kid, &key, NULL, 0))
		return 0;
	rc = check_binding(m, kp, &key, true, err, errlen);
	ctfs_jwk_clear(&key);
	return rc;
}

int ctfs_model_unwrap_keys(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			   char *err, size_t errlen)
{
	const struct ctfs_ct_info *ci = m->ci;
	struct ctfs_jwk key = { 0 };
	char kerr[256] = "";
	int rc;

	rc = kp->get(kp, CTFS_KTY_OCT, ci->enc_kid, &key, kerr, sizeof(kerr));
	if (rc) {
		ctfs_seterr(err, errlen, "master key kid=%s: %s", kid_or(ci->enc_kid), kerr);
		return rc;
	}
	rc = check_master(m, &key, err, errlen);
	if (!rc)
		rc = check_binding(m, kp, &key, false, err, errlen);
	if (!rc && !(m->deks = ctfs_secure_alloc(m->h->n_tensors * DEK_MAX + 1)))
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < ci->n_tensors; i++) {
		const struct ctfs_ct_tensor *t = &ci->tensors[i];

		if (!t->encrypted)
			continue;
		rc = ctfs_aead_open(ci->alg, key.secret, t->key_iv, NULL, 0, t->wrapped_key,
				    t->wrapped_len, m->deks + i * DEK_MAX, t->key_tag);
		if (rc) {
			ctfs_seterr(err, errlen, "tensor '%s': key does not unwrap with master "
				    "kid=%s (wrong key?)", m->h->tensors[i].name, kid_or(ci->enc_kid));
			rc = -EKEYREJECTED;
		}
	}
	if (!rc)
		ctfs_sha256_secret(m->master_fpr, key.secret, key.secret_len);
	ctfs_jwk_clear(&key);
	if (rc) {
		ctfs_secure_free(m->deks);
		m->deks = NULL;
	}
	return rc;
}

/* Keys are looked up at every open, not only the first: removing the master
 * key from the keyring (or replacing it) stops new opens of a file that was
 * unlocked before; handles already open keep reading. */
static int recheck_master(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			  char *err, size_t errlen)
{
	struct ctfs_jwk key = { 0 };
	uint8_t fpr[32];
	char kerr[256] = "";
	int rc;

	rc = kp->get(kp, CTFS_KTY_OCT, m->ci->enc_kid, &key, kerr, sizeof(kerr));
	if (rc) {
		ctfs_seterr(err, errlen, "master key kid=%s: %s", kid_or(m->ci->enc_kid), kerr);
		return rc;
	}
	rc = check_master(m, &key, err, errlen);
	if (!rc)	/* the signer list may have changed since: quiet, logged once */
		rc = check_binding(m, kp, &key, true, err, errlen);
	if (!rc) {
		ctfs_sha256_secret(fpr, key.secret, key.secret_len);
		if (sodium_memcmp(fpr, m->master_fpr, sizeof(fpr))) {
			ctfs_seterr(err, errlen, "master key kid=%s is not the key this file was "
				    "opened with", kid_or(m->ci->enc_kid));
			rc = -EKEYREJECTED;
		}
	}
	ctfs_jwk_clear(&key);
	return rc;
}

/* A v2 chunk is decrypted whole into locked memory: bound the largest one. */
static int check_chunk_sizes(const struct ctfs_model *m, char *err, size_t errlen)
{
	if (m->ci->version != 2 || m->ci->chunk_size <= CTFS_MAX_CHUNK_SIZE)
		return 0;
	for (size_t i = 0; i < m->h->n_tensors; i++) {
		const struct ctfs_tensor *t = &m->h->tensors[i];

		if (m->ci->tensors[i].encrypted && t->end - t->begin > CTFS_MAX_CHUNK_SIZE) {
			ctfs_seterr(err, errlen, "tensor '%s': chunks of %llu bytes are over the "
				    "%u this mount decrypts", t->name,
				    (unsigned long long)m->ci->chunk_size, CTFS_MAX_CHUNK_SIZE);
			return -EFBIG;
		}
	}
	return 0;
}

/* Step 6: the caller's access decision, or upstream's (the local policy,
 * no input) when there is no gate. */
static int check_access(struct ctfs_model *m, const struct ctfs_gate *gate, char *err,
			size_t errlen)
{
	if (gate)
		return gate->check(gate->arg, m, err, errlen);
	return ctfs_policy_check(m->ci->policy_local, err, errlen);
}

static int unlock_locked(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			 const struct ctfs_gate *gate, char *err, size_t errlen)
{
	int rc;

	/* CONTROL-PLANE.md: signature (key from the keyring or a chain),
	 * revocation, signer binding, rollback, policy, key. */
	rc = check_chunk_sizes(m, err, errlen);
	if (!rc)
		rc = ctfs_model_check_signature(m, kp, err, errlen);
	if (!rc)
		rc = ctfs_model_load_digests(m, kp, err, errlen);
	if (!rc)
		rc = ctfs_model_check_revoked(m, kp, err, errlen);
	if (!rc)
		rc = check_binding_early(m, kp, err, errlen);
	if (!rc)
		rc = ctfs_model_check_rollback(m, kp, err, errlen);
	if (!rc)
		rc = check_access(m, gate, err, errlen);
	if (!rc)
		rc = ctfs_model_unwrap_keys(m, kp, err, errlen);
	if (rc) {
		ctfs_secure_free(m->deks);
		m->deks = NULL;
		return rc;
	}
	m->unlocked = true;
	return 0;
}

int ctfs_model_unlock(struct ctfs_model *m, const struct ctfs_keyprov *kp,
		      const struct ctfs_gate *gate, char *err, size_t errlen)
{
	int rc = 0;

	if (!ctfs_model_is_encrypted(m))
		return 0;
	pthread_mutex_lock(&m->lock);
	if (!m->unlocked) {
		rc = unlock_locked(m, kp, gate, err, errlen);
	} else {
		/* Revocation, rollback and the gate's decision hold for every
		 * new open, as keys do. */
		rc = ctfs_model_check_revoked(m, kp, err, errlen);
		if (!rc)
			rc = ctfs_model_check_rollback(m, kp, err, errlen);
		if (!rc && gate)
			rc = check_access(m, gate, err, errlen);
		if (!rc)
			rc = recheck_master(m, kp, err, errlen);
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

const uint8_t *ctfs_model_dek(const struct ctfs_model *m, size_t tensor)
{
	return m->deks + tensor * DEK_MAX;
}
