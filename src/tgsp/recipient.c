/* The hybrid KEM that wraps a TGSP data key for each recipient:
 * KEK = SHA-256(X25519 shared secret || ML-KEM-768 shared secret),
 * DEK = ChaCha20-Poly1305 under KEK with empty AAD. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "crypto/aead.h"
#include "crypto/secmem.h"
#include "crypto/curve25519.h"
#include "crypto/sha256.h"
#include "tgsp/recipient.h"

/* Everything secret one wrap or unwrap handles, in one locked block. */
struct kem_secrets {
	uint8_t eph[32];	/* wrap only: the ephemeral X25519 secret */
	uint8_t ss[64];		/* ss_c || ss_pq */
	uint8_t kek[32];
};

int ctfs_tgsp_recipient_unwrap(const struct ctfs_tgsp_recipient *r,
			       const struct ctfs_tgsp_enc_sec *sk, uint8_t *dek)
{
	struct kem_secrets *s = ctfs_secure_alloc(sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	/* a low-order ek gives an all-zero secret: not a block for anyone */
	rc = ctfs_x25519(s->ss, sk->x25519, r->ek_classic) ? -EKEYREJECTED : 0;
	if (!rc)
		rc = ctfs_mlkem768_decaps(s->ss + 32, r->ct_pqc, sk->mlkem);
	if (!rc) {
		ctfs_sha256(s->kek, s->ss, sizeof(s->ss));
		rc = ctfs_aead_open(CTFS_ALG_CHACHA20POLY1305, s->kek, r->nonce, NULL, 0,
				    r->wrapped, CTFS_TGSP_DEK, dek, r->wrapped + CTFS_TGSP_DEK);
		if (rc == -EBADMSG)
			rc = -EKEYREJECTED;
	}
	ctfs_secure_free(s);
	return rc;
}

int ctfs_tgsp_recipient_wrap(const struct ctfs_tgsp_enc_pub *pub, const uint8_t *dek,
			     struct ctfs_tgsp_recipient *r)
{
	struct kem_secrets *s = ctfs_secure_alloc(sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	randombytes_buf(s->eph, sizeof(s->eph));
	randombytes_buf(r->nonce, sizeof(r->nonce));
	rc = ctfs_x25519_pub(r->ek_classic, s->eph);
	if (!rc)
		rc = ctfs_x25519(s->ss, s->eph, pub->x25519);
	if (!rc)
		rc = ctfs_mlkem768_encaps(r->ct_pqc, s->ss + 32, pub->mlkem);
	if (!rc) {
		ctfs_sha256(s->kek, s->ss, sizeof(s->ss));
		rc = ctfs_aead_seal(CTFS_ALG_CHACHA20POLY1305, s->kek, r->nonce, NULL, 0, dek,
				    CTFS_TGSP_DEK, r->wrapped, r->wrapped + CTFS_TGSP_DEK);
	}
	ctfs_secure_free(s);
	return rc;
}

/* "a, b, c" (truncated) for messages. */
static void list_ids(const struct ctfs_tgsp_recipient *rcpt, size_t n_rcpt, char *out,
		     size_t len)
{
	size_t o = 0;

	out[0] = 0;
	for (size_t i = 0; i < n_rcpt && o + 1 < len; i++) {
		int n = snprintf(out + o, len - o, "%s'%s'", i ? ", " : "", rcpt[i].id);

		if (n < 0)
			break;
		o += (size_t)n;
	}
	if (o >= len && len > 4)
		memcpy(out + len - 4, "...", 4);
}

int ctfs_tgsp_find_dek(const struct ctfs_tgsp_recipient *rcpt, size_t n_rcpt, ctfs_tgsp_key_fn fn,
		       void *arg, uint8_t *dek, char *err, size_t errlen)
{
	size_t tried = 0;
	int other = 0;
	char ids[256];

	for (size_t i = 0; i < n_rcpt; i++) {
		struct ctfs_tgsp_enc_sec *key = NULL;
		int rc = fn(arg, rcpt[i].id, &key);

		if (rc == -ENOKEY)
			continue;
		if (rc) {
			other = other ? other : rc;
			continue;
		}
		tried++;
		rc = ctfs_tgsp_recipient_unwrap(&rcpt[i], key, dek);
		ctfs_secure_free(key);
		if (!rc)
			return 0;
		if (rc != -EKEYREJECTED)
			other = other ? other : rc;
	}
	list_ids(rcpt, n_rcpt, ids, sizeof(ids));
	if (tried)
		ctfs_seterr(err, errlen, "recipient key: the key(s) found open no recipient block "
			    "(recipients %s)", ids);
	else if (other)
		ctfs_seterr(err, errlen, "recipient key: cannot read a key for recipients %s: %s",
			    ids, strerror(-other));
	else
		ctfs_seterr(err, errlen, "recipient key: no key for recipients %s", ids);
	return -ENOKEY;
}
