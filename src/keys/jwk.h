/* JWK keys and key sets as key providers hand them out (FORMATS.md §2 "Keys"):
 * "oct" master keys for the AEADs and "okp" Ed25519 signing keys. */
#ifndef CTFS_JWK_H
#define CTFS_JWK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum ctfs_kty { CTFS_KTY_OCT, CTFS_KTY_OKP };

struct ctfs_jwk {
	enum ctfs_kty kty;
	char *kid;		/* may be NULL */
	char *jku;		/* may be NULL */
	char *alg;		/* as written, may be NULL */
	uint8_t *secret;	/* oct: k; okp: d (32-byte seed); ctfs_secure_alloc memory; NULL if absent */
	size_t secret_len;
	uint8_t pub[32];	/* okp: x */
	bool has_pub;
	/* oct: member "ctfs_signers", the RFC 7638 thumbprints of the signing
	 * keys allowed to sign files this master key protects (at most
	 * CTFS_JWK_MAX_SIGNERS). has_signers is false when the member is absent
	 * (a key from before the binding existed), true with n_signers == 0 when
	 * it is present and empty (no signer allowed). */
	uint8_t (*signers)[32];
	size_t n_signers;
	bool has_signers;
	/* oct: member "ctfs_signer_subjects", subjects (as OpenSSL's one-line
	 * form, "/CN=...") of signer certificates allowed when their chain
	 * validated to a trusted CA: survives a renewal of the leaf key. Its
	 * presence also sets has_signers. At most CTFS_JWK_MAX_SIGNERS. */
	char **subjects;
	size_t n_subjects;
	/* okp: member "x5c" (RFC 7517 §4.7), the key's certificate chain as
	 * standard base64 DER, leaf first; kept as text, validated by
	 * trust/chain.h where anchors are configured. At most 8 entries. */
	char **x5c;
	size_t n_x5c;
};

#define CTFS_JWK_SIGNERS_MEMBER "ctfs_signers"
#define CTFS_JWK_SUBJECTS_MEMBER "ctfs_signer_subjects"
#define CTFS_JWK_SUBJECT_MAX 256
#define CTFS_JWK_MAX_SIGNERS 64

/* Parse one JWK object or a {"keys":[...]} set. Base64 may be standard or
 * URL-safe. kty compares case-insensitively ("oct", "okp"). oct keys: k of
 * 16 or 32 bytes, matching alg when alg names a ctfs AEAD (another alg is an
 * error); okp keys: Ed25519 only (crv, if given, "Ed25519"; alg, if given,
 * "ed25519" or "EdDSA"), d and/or x of 32 bytes, x derived when absent and
 * checked against d when both are given. Any key that fails these checks
 * fails the whole set. On success *keys (NULL when n == 0) is freed with
 * ctfs_jwk_free_set. 0, -EINVAL (with err) or -ENOMEM. */
int ctfs_jwk_parse_set(const char *text, size_t len, struct ctfs_jwk **keys, size_t *n,
		       char *err, size_t errlen);
void ctfs_jwk_free_set(struct ctfs_jwk *keys, size_t n);
/* Free what a key holds (the secret is wiped) and zero it. */
void ctfs_jwk_clear(struct ctfs_jwk *k);
/* Deep copy; the secret goes to fresh locked memory. 0 or -ENOMEM. */
int ctfs_jwk_copy(struct ctfs_jwk *dst, const struct ctfs_jwk *src);

/* Record signer thumbprint tp as allowed for master key k (no duplicate;
 * sets has_signers). 0, -E2BIG past CTFS_JWK_MAX_SIGNERS, -ENOMEM. */
int ctfs_jwk_allow_signer(struct ctfs_jwk *k, const uint8_t tp[32]);
/* Record an allowed certificate subject (no duplicate; sets has_signers).
 * 0, -EINVAL (empty or longer than CTFS_JWK_SUBJECT_MAX), -E2BIG, -ENOMEM. */
int ctfs_jwk_allow_subject(struct ctfs_jwk *k, const char *subject);
bool ctfs_jwk_subject_allowed(const struct ctfs_jwk *k, const char *subject);
/* True when k names tp among its signers. */
bool ctfs_jwk_signer_allowed(const struct ctfs_jwk *k, const uint8_t tp[32]);

/* The first key of type kty whose kid is kid; with kid NULL, the only key of
 * that type (NULL when there are none or several). */
const struct ctfs_jwk *ctfs_jwk_find(const struct ctfs_jwk *keys, size_t n, enum ctfs_kty kty,
				     const char *kid);

/* Append one key as a JWK object (members kty, alg, kid, jku, ctfs_signers,
 * then x and/or k/d; standard padded base64). include_private=false leaves out k and d.
 * When include_private, out holds the secret: the caller wipes it
 * (sodium_memzero over out->cap) before ctfs_buf_free; out is grown before
 * the secret is written, so no copy of it is left behind by a realloc.
 * 0, -EINVAL or -ENOMEM. */
int ctfs_jwk_to_json(const struct ctfs_jwk *k, bool include_private, struct ctfs_buf *out);

/* A fresh random key: oct of the length of alg (a ctfs AEAD name, stored
 * canonical), or an okp Ed25519 key (alg NULL or "ed25519"; stored
 * "ed25519"). kid may be NULL. 0, -EINVAL or -ENOMEM. */
int ctfs_jwk_generate(struct ctfs_jwk *k, enum ctfs_kty kty, const char *alg, const char *kid);

#endif
