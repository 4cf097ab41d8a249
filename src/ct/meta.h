/* The one writer of the CryptoTensors metadata values (FORMATS.md §2):
 * __crypto_keys__, the key fields of __encryption__ entries, __policy__ and
 * __signature__. The encrypting writer builds them from scratch; rewrap
 * edits the parsed entries member by member (order and unknown members
 * kept) through the same member writers, and both sign through here. JSON
 * text is compact with raw UTF-8, as serde_json writes it. */
#ifndef CTFS_CT_META_H
#define CTFS_CT_META_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"
#include "keys/jwk.h"
#include "safetensors/safetensors.h"
#include "util.h"

/* A data key wrapped under the master key: the wrapped_key, key_iv and
 * key_tag members of an __encryption__ entry. */
struct ctfs_ct_wrapped {
	uint8_t key[CTFS_AEAD_MAX_KEY];
	size_t key_len;
	uint8_t iv[CTFS_AEAD_NONCE];
	uint8_t tag[CTFS_AEAD_TAG];
};

/* Wrap dek (ctfs_alg_key_len(alg) bytes) under master with a fresh key_iv.
 * 0 or -errno (out wiped). */
int ctfs_ct_wrap_dek(enum ctfs_alg alg, const uint8_t *master, const uint8_t *dek,
		     struct ctfs_ct_wrapped *out);

/* __crypto_keys__: {"chunk_size":N,"enc":REF,"sign":REF,"version":"V"} (no
 * chunk_size for v1); a REF is {"kty","alg","kid","jku"}, the optional ones
 * only when set, never a key value; the signer's REF carries its
 * certificate chain as "x5c" (standard base64 DER, leaf first) when n_x5c. */
int ctfs_ct_meta_crypto_keys(struct ctfs_buf *b, int version, uint64_t chunk,
			     enum ctfs_alg alg, const struct ctfs_jwk *master,
			     const struct ctfs_jwk *signer, char *const *x5c, size_t n_x5c);

/* One __encryption__ member, "NAME":{wrapped_key, key_iv, key_tag, then iv
 * and tag (v1) or base_iv and tags (v2)}: upstream's field order. */
struct ctfs_ct_entry_values {
	const char *name;
	const struct ctfs_ct_wrapped *key;
	const uint8_t *iv;		/* v1 iv or v2 base_iv */
	size_t iv_len;			/* 0 for an empty v1 tensor */
	const uint8_t *tags;
	size_t tags_len;
};
int ctfs_ct_meta_entry(struct ctfs_buf *b, int version, const struct ctfs_ct_entry_values *v);

/* __policy__: {"local":L,"remote":R}. */
int ctfs_ct_meta_policy(struct ctfs_buf *b, const char *local, const char *remote);

/* Edits of a parsed entry (rewrap): replace the three key fields; make a
 * key reference name k (kid and jku set or removed). 0, -EINVAL (not an
 * object) or -ENOMEM. */
int ctfs_ct_meta_set_wrapped(cJSON *entry, const struct ctfs_ct_wrapped *w);
int ctfs_ct_meta_set_keyref(cJSON *ref, const struct ctfs_jwk *k);

/* Replace the "x5c" of a parsed key reference with x5c[0..n) (n 0: remove
 * it): a new signer's chain replaces the old one's, which would not match. */
int ctfs_ct_meta_set_x5c(cJSON *ref, char *const *x5c, size_t n);

/* The signed trust metadata (ct/model_trust.h, trust/digests.h): model_id
 * and model_version become ctfs.model_id / ctfs.version when not NULL;
 * when digests_fd >= 0 and some plain[i] is true, ctfs.plain_sha256 holds
 * the SHA-256 of each chunk of those plaintext tensors, read from
 * digests_fd (laid out as h says), cut on the v2 chunk grid when it fits a
 * digest chunk (chunk_size of a version 2 file), else on the default. */
int ctfs_ct_meta_trust(struct ctfs_st_header *h, const char *model_id,
		       const char *model_version, int digests_fd, const bool *plain,
		       int version, uint64_t chunk_size);

/* v as compact JSON text (strings, integers, booleans, null, containers). */
int ctfs_ct_meta_print(struct ctfs_buf *b, const cJSON *v);

/* Store __signature__: Ed25519 by secret over the header serialized
 * without it, or with secret NULL a zero placeholder of the same length (to
 * size a header before anything is known). */
int ctfs_ct_meta_sign(struct ctfs_st_header *h, const uint8_t *secret);

#endif
