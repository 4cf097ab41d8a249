/* Trust steps of an open: signer key source, revocation, rollback, digests. */
#include "ct/model_trust.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "trust/chain.h"
#include "trust/digests.h"
#include "trust/rollback.h"
#include "trust/trust.h"

static const char *kid_or(const char *kid)
{
	return kid ? kid : "(none)";
}

static int chain_key(struct ctfs_model *m, const struct ctfs_anchors *a, char **x5c,
		     size_t n, uint8_t pub[32], char *err, size_t errlen)
{
	struct ctfs_chain_info *info = calloc(1, sizeof(*info));
	int rc;

	if (!info)
		return -ENOMEM;
	rc = ctfs_chain_verify(a, x5c, n, info, err, errlen);
	if (rc) {
		free(info);
		return rc;
	}
	memcpy(pub, info->leaf_pub, 32);
	free(m->chain);
	m->chain = info;
	return 0;
}

int ctfs_model_signer_key(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			  uint8_t pub[32], char *err, size_t errlen)
{
	struct ctfs_jwk key = { 0 };
	char kerr[256] = "";
	char **x5c = NULL;
	size_t n = 0;
	int rc;

	if (kp->trust && kp->trust->anchors) {
		rc = ctfs_x5c_from_header(m->h, &x5c, &n, err, errlen);
		if (!rc && n)
			rc = chain_key(m, kp->trust->anchors, x5c, n, pub, err, errlen);
		ctfs_x5c_free(x5c, n);
		if (rc || n)
			return rc;
	}
	rc = kp->get(kp, CTFS_KTY_OKP, m->ci->sign_kid, &key, kerr, sizeof(kerr));
	if (!rc && !key.has_pub)
		rc = -ENOKEY;
	if (rc) {
		ctfs_seterr(err, errlen, "verification key kid=%s: %s", kid_or(m->ci->sign_kid),
			    *kerr ? kerr : "no public key");
	} else if (key.n_x5c && kp->trust && kp->trust->anchors) {
		/* a signing key with its own chain: the chain must hold, for it */
		rc = chain_key(m, kp->trust->anchors, key.x5c, key.n_x5c, pub, err, errlen);
		if (!rc && memcmp(pub, key.pub, 32)) {
			ctfs_seterr(err, errlen, "signing key kid=%s is not its certificate's key",
				    kid_or(m->ci->sign_kid));
			rc = -EKEYREJECTED;
		}
	} else {
		memcpy(pub, key.pub, 32);
	}
	ctfs_jwk_clear(&key);
	return rc;
}

int ctfs_model_check_revoked(const struct ctfs_model *m, const struct ctfs_keyprov *kp,
			     char *err, size_t errlen)
{
	struct ctfs_revoked_query q = {
		.kid = m->ci->sign_kid,
		.thumbprint = m->signer_ok ? m->signer_tp : NULL,
		.header_digest = m->signer_ok ? m->header_digest : NULL,
	};
	char rerr[256];

	if (!kp->trust)
		return 0;
	if (ctfs_trust_maybe_reload(kp->trust, rerr, sizeof(rerr)) < 0)
		ctfs_err("revocation list not reloaded, the previous one stays: %s", rerr);
	if (m->chain) {
		q.serials = (const char *const *)m->chain->serial_ptr;
		q.n_serials = m->chain->n;
	}
	return ctfs_revocation_check(&kp->trust->revoked, &q, err, errlen);
}

int ctfs_model_version(const struct ctfs_model *m, const char **id, uint64_t *version,
		       char *err, size_t errlen)
{
	const char *v = ctfs_st_meta_get(m->h, CTFS_META_VERSION);
	char *end;

	*id = ctfs_st_meta_get(m->h, CTFS_META_MODEL_ID);
	if (!*id)
		return v ? (ctfs_seterr(err, errlen, "%s without %s", CTFS_META_VERSION,
					CTFS_META_MODEL_ID), -EBADMSG) : -ENOENT;
	if (ctfs_model_id_check(*id)) {
		ctfs_seterr(err, errlen, "%s is empty, too long or holds control characters",
			    CTFS_META_MODEL_ID);
		return -EBADMSG;
	}
	errno = 0;
	*version = v && *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
	if (!v || *v < '0' || *v > '9' || errno || *end || *version > CTFS_VERSION_MAX ||
	    (v[0] == '0' && v[1])) {
		ctfs_seterr(err, errlen, "model '%s': %s is not a decimal integer", *id,
			    CTFS_META_VERSION);
		return -EBADMSG;
	}
	return 0;
}

int ctfs_model_check_rollback(const struct ctfs_model *m, const struct ctfs_keyprov *kp,
			      char *err, size_t errlen)
{
	const char *id;
	uint64_t version, highest;
	int rc;

	if (!kp->trust || !kp->trust->rollback_db)
		return 0;
	rc = ctfs_model_version(m, &id, &version, err, errlen);
	if (rc == -ENOENT)
		return 0;	/* a file without a model id cannot be ordered */
	if (!rc && !m->signer_ok) {
		ctfs_seterr(err, errlen, "rollback check before the signature");
		rc = -EBADMSG;
	}
	if (!rc)
		rc = ctfs_rollback_check(kp->trust->rollback_db, m->signer_tp, id, version,
					 &highest, err, errlen);
	return rc;
}

static bool has_plain_bytes(const struct ctfs_model *m, bool *plain)
{
	bool any = false;

	for (size_t i = 0; i < m->h->n_tensors; i++) {
		plain[i] = !m->ci->tensors[i].encrypted;
		any |= plain[i] && m->h->tensors[i].end > m->h->tensors[i].begin;
	}
	return any;
}

int ctfs_model_load_digests(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			    char *err, size_t errlen)
{
	const char *text = ctfs_st_meta_get(m->h, CTFS_META_DIGESTS);
	bool *plain = calloc(m->h->n_tensors ? m->h->n_tensors : 1, sizeof(*plain));
	bool any;
	int rc = 0;

	if (!plain)
		return -ENOMEM;
	any = has_plain_bytes(m, plain);
	if (text && !m->digests) {
		rc = ctfs_digests_parse(text, m->h, plain, &m->digests, err, errlen);
	} else if (!text && any && kp->trust && kp->trust->require_digests) {
		ctfs_seterr(err, errlen, "plaintext tensors without %s (require_digests)",
			    CTFS_META_DIGESTS);
		rc = -EBADMSG;
	} else if (!text && any && kp->trust) {	/* once: unlock runs once per load */
		ctfs_log(LOG_WARNING, "%s: plaintext tensors served without integrity check "
			 "(no %s)", m->name ? m->name : "?", CTFS_META_DIGESTS);
	}
	free(plain);
	return rc;
}

int ctfs_model_check_plain_digests(const struct ctfs_model *m, uint64_t *chunks, char *err,
				   size_t errlen)
{
	const struct ctfs_digests *d = m->digests;
	uint8_t *buf = d ? malloc((size_t)d->chunk_size) : NULL;
	int rc = 0;

	*chunks = 0;
	if (!d)
		return 0;
	if (!buf)
		return -ENOMEM;
	for (size_t t = 0; !rc && t < m->h->n_tensors; t++) {
		const struct ctfs_tensor *ten = &m->h->tensors[t];

		for (uint64_t c = 0; !rc && ctfs_digests_cover(d, t) && c < d->n_chunks[t]; c++) {
			size_t len = ctfs_digests_chunk_len(d, ten->end - ten->begin, c);

			rc = ctfs_pread_full(m->fd, buf, len,
					     m->h->data_start + ten->begin + c * d->chunk_size);
			if (!rc && ctfs_digests_check(d, t, c, buf, len))
				rc = -EIO;
			if (rc)
				ctfs_seterr(err, errlen, "plaintext tensor '%s' chunk %llu fails "
					    "its digest", ten->name, (unsigned long long)c);
			(*chunks)++;
		}
	}
	free(buf);
	return rc;
}
