/* CryptoTensors: the crypto entries that turn a safetensors header into an
 * encrypted, signed model file (FORMATS.md section 2). */
#ifndef CTFS_CRYPTO_ENTRIES_H
#define CTFS_CRYPTO_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"
#include "safetensors/safetensors.h"

#define CTFS_META_ENCRYPTION "__encryption__"
#define CTFS_META_CRYPTO_KEYS "__crypto_keys__"
#define CTFS_META_SIGNATURE "__signature__"
#define CTFS_META_POLICY "__policy__"
#define CTFS_DEFAULT_CHUNK_SIZE 2097152u
/* Largest v2 chunk the mount serves: each one is held whole in locked memory
 * while it is verified (8x the default; larger files are refused). */
#define CTFS_MAX_CHUNK_SIZE (16u << 20)
#define CTFS_DEFAULT_POLICY "package model\nallow = true"

/* NULL-terminated: the metadata entries a plaintext view leaves out. */
extern const char *const ctfs_crypto_meta_keys[];
/* NULL-terminated: what the signature does not cover. */
extern const char *const ctfs_signature_omit[];

struct ctfs_ct_tensor {
	bool encrypted;
	uint8_t wrapped_key[32];
	size_t wrapped_len;      /* == key length of the algorithm */
	uint8_t key_iv[CTFS_AEAD_NONCE];
	uint8_t key_tag[CTFS_AEAD_TAG];
	uint8_t iv[CTFS_AEAD_NONCE]; /* v1: iv; v2: base_iv */
	uint8_t *tags;           /* n_tags * CTFS_AEAD_TAG bytes */
	uint64_t n_tags;         /* v1: 1, or 0 for an empty tensor without iv/tag */
};

struct ctfs_ct_info {
	int version;             /* 1 or 2 */
	uint64_t chunk_size;     /* v2 only */
	enum ctfs_alg alg;
	char *enc_kid, *enc_jku;
	char *sign_kid, *sign_jku;
	char *policy_local, *policy_remote;
	uint8_t signature[64];
	size_t n_tensors;
	struct ctfs_ct_tensor *tensors; /* parallel to ctfs_st_header.tensors */
};

/* True when the header carries __encryption__ (encryption is by content). */
bool ctfs_ct_is_encrypted(const struct ctfs_st_header *h);

/* Parse and check every crypto entry of an encrypted header. */
int ctfs_ct_parse(const struct ctfs_st_header *h, struct ctfs_ct_info **out,
		  char *err, size_t errlen);
void ctfs_ct_free(struct ctfs_ct_info *ci);

/* Nonce of v2 chunk `index`: base_iv[0..8] || be32(be32(base_iv[8..12]) + index).
 * -EOVERFLOW when the 32-bit counter would wrap. */
int ctfs_ct_chunk_nonce(const uint8_t base_iv[CTFS_AEAD_NONCE], uint64_t index,
			uint8_t nonce[CTFS_AEAD_NONCE]);

/* Number of v2 chunks of a tensor of len bytes (1 for an empty tensor). */
uint64_t ctfs_ct_chunk_count(uint64_t len, uint64_t chunk_size);

#endif
