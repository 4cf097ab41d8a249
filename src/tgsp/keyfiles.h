/* TGSP key files (JSON {"classic":HEX,"pqc":HEX,"alg":...}): the hybrid
 * signing and encryption keys, parsing, fresh pairs, and the set of trusted
 * signers a reader checks packages against. Secret keys live in
 * ctfs_secure_alloc memory. */
#ifndef CTFS_TGSP_KEYFILES_H
#define CTFS_TGSP_KEYFILES_H

#include <stddef.h>
#include <stdint.h>

#include "pq/mldsa65.h"
#include "pq/mlkem768.h"
#include "util.h"

struct ctfs_tgsp_sign_pub {
	uint8_t ed25519[32];
	uint8_t mldsa[CTFS_MLDSA65_PK_BYTES];
};

struct ctfs_tgsp_sign_sec {	/* ctfs_secure_alloc memory */
	uint8_t ed25519_seed[32];
	uint8_t mldsa[CTFS_MLDSA65_SK_BYTES];
};

struct ctfs_tgsp_enc_pub {
	uint8_t x25519[32];
	uint8_t mlkem[CTFS_MLKEM768_PK_BYTES];
};

struct ctfs_tgsp_enc_sec {	/* ctfs_secure_alloc memory */
	uint8_t x25519[32];
	uint8_t mlkem[CTFS_MLKEM768_SK_BYTES];
};

/* Parse key files: alg must name the right scheme, hex lengths must be
 * exact, and an ML-KEM secret key must pass the FIPS 203 hash check. Secret
 * keys are allocated with ctfs_secure_alloc (free with ctfs_secure_free);
 * the text is not modified, the caller wipes it. 0, -EINVAL with err,
 * -ENOMEM. */
int ctfs_tgsp_sign_pub_parse(const char *text, size_t len, struct ctfs_tgsp_sign_pub *out,
			     char *err, size_t errlen);
int ctfs_tgsp_sign_sec_parse(const char *text, size_t len, struct ctfs_tgsp_sign_sec **out,
			     char *err, size_t errlen);
int ctfs_tgsp_enc_pub_parse(const char *text, size_t len, struct ctfs_tgsp_enc_pub *out,
			    char *err, size_t errlen);
int ctfs_tgsp_enc_sec_parse(const char *text, size_t len, struct ctfs_tgsp_enc_sec **out,
			    char *err, size_t errlen);

/* Does sec belong to pub? (Ed25519 public key from the seed; ML-DSA tr =
 * H(pk) inside the secret key.) 0 or -EKEYREJECTED. */
int ctfs_tgsp_sign_pair_check(const struct ctfs_tgsp_sign_pub *pub,
			      const struct ctfs_tgsp_sign_sec *sec);
int ctfs_tgsp_enc_pair_check(const struct ctfs_tgsp_enc_pub *pub,
			     const struct ctfs_tgsp_enc_sec *sec);

/* Fresh key pairs (libsodium randomness). 0, -ENOMEM or -EIO. */
int ctfs_tgsp_sign_keygen(struct ctfs_tgsp_sign_pub *pub, struct ctfs_tgsp_sign_sec **sec);
int ctfs_tgsp_enc_keygen(struct ctfs_tgsp_enc_pub *pub, struct ctfs_tgsp_enc_sec **sec);

/* Append a key file: {"classic":HEX,"pqc":HEX,"alg":ALG}, the layout of the
 * reference platform. For a secret key out holds the secret: the caller
 * wipes out->data over out->cap before freeing (the buffer is grown before
 * any secret is written, so realloc leaves no copy). */
int ctfs_tgsp_key_json(struct ctfs_buf *out, const uint8_t *classic, size_t classic_len,
		       const uint8_t *pqc, size_t pqc_len, const char *alg);

struct ctfs_tgsp_signer {
	char *key_id;		/* NULL: trusted whatever key_id a package names */
	char *origin;		/* where it came from, for messages */
	struct ctfs_tgsp_sign_pub pub;
};

struct ctfs_tgsp_trust {
	struct ctfs_tgsp_signer *v;
	size_t n;
};

int ctfs_tgsp_trust_add(struct ctfs_tgsp_trust *t, const struct ctfs_tgsp_sign_pub *pub,
			const char *key_id, const char *origin);
/* A signer public key file, or every "*.pub" / "*.json" file of a directory
 * (at least one; any that fails to parse fails the whole load). */
int ctfs_tgsp_trust_load(struct ctfs_tgsp_trust *t, const char *path, char *err, size_t errlen);
void ctfs_tgsp_trust_free(struct ctfs_tgsp_trust *t);

#endif
