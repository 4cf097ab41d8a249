/* The AEADs of CryptoTensors (AES-128/256-GCM, ChaCha20-Poly1305), all with
 * 12-byte nonces and 16-byte tags, through OpenSSL. */
#ifndef CTFS_AEAD_H
#define CTFS_AEAD_H

#include <stddef.h>
#include <stdint.h>

enum ctfs_alg { CTFS_ALG_AES128GCM, CTFS_ALG_AES256GCM, CTFS_ALG_CHACHA20POLY1305 };

#define CTFS_AEAD_NONCE 12
#define CTFS_AEAD_TAG 16
#define CTFS_AEAD_MAX_KEY 32

/* Algorithm names compare after lower-casing and deleting '-'; 0 / -EINVAL. */
int ctfs_alg_parse(const char *name, enum ctfs_alg *out);
/* Canonical name ("aes128gcm", "aes256gcm", "chacha20poly1305"); NULL if unknown. */
const char *ctfs_alg_name(enum ctfs_alg alg);
/* Key length in bytes; 0 if unknown. */
size_t ctfs_alg_key_len(enum ctfs_alg alg);
/* Largest message the algorithm can seal under one nonce (GCM: 2^36 - 32,
 * ChaCha20-Poly1305: 64 * (2^32 - 1)); 0 if unknown. */
uint64_t ctfs_alg_max_len(enum ctfs_alg alg);

/* One-shot AEAD. Lengths above INT_MAX are fine. in == out is allowed (no
 * other overlap). 0, -EINVAL (bad alg), -EMSGSIZE (longer than
 * ctfs_alg_max_len), -ENOMEM or -EIO (OpenSSL failure). */
int ctfs_aead_seal(enum ctfs_alg alg, const uint8_t *key, const uint8_t *nonce,
		   const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
		   uint8_t *out, uint8_t *tag);
/* As seal, plus -EBADMSG when the tag does not verify. On any failure out is
 * wiped, so no unauthenticated plaintext escapes. */
int ctfs_aead_open(enum ctfs_alg alg, const uint8_t *key, const uint8_t *nonce,
		   const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
		   uint8_t *out, const uint8_t *tag);

/* Streaming open of one message with empty AAD, in bounded memory. The
 * plaintext that update writes is unauthenticated until final returns 0:
 * callers must discard it on any error. */
struct ctfs_aead_stream;

int ctfs_aead_stream_open_init(struct ctfs_aead_stream **s, enum ctfs_alg alg,
			       const uint8_t *key, const uint8_t *nonce);
/* out may be NULL to authenticate only (the plaintext then goes to a wiped
 * scratch buffer: OpenSSL has no MAC-only path). in == out is allowed. */
int ctfs_aead_stream_update(struct ctfs_aead_stream *s, const uint8_t *in, size_t len,
			    uint8_t *out);
/* 0 or -EBADMSG; the stream cannot be used afterwards except to free it. */
int ctfs_aead_stream_final(struct ctfs_aead_stream *s, const uint8_t *tag);
void ctfs_aead_stream_free(struct ctfs_aead_stream *s);

/* Streaming seal with empty AAD, in bounded memory: one context, bound to
 * its cipher once and re-keyed by begin for each message, so a worker that
 * seals many messages keeps it. update may be called any number of times
 * between begin and end (in == out allowed); the total of a message is
 * capped at ctfs_alg_max_len (-EMSGSIZE). end writes the 16-byte tag. */
struct ctfs_aead_sealer;

int ctfs_aead_sealer_new(struct ctfs_aead_sealer **s, enum ctfs_alg alg);
int ctfs_aead_sealer_begin(struct ctfs_aead_sealer *s, const uint8_t *key,
			   const uint8_t *nonce);
int ctfs_aead_sealer_update(struct ctfs_aead_sealer *s, const uint8_t *in, size_t len,
			    uint8_t *out);
int ctfs_aead_sealer_end(struct ctfs_aead_sealer *s, uint8_t *tag);
/* Frees the context, whose providers wipe the key schedule. NULL is fine. */
void ctfs_aead_sealer_free(struct ctfs_aead_sealer *s);

/* XOR in[0..len) with the keystream that the AEAD applies at byte `off` of
 * a message under (key, nonce): AES-GCM is CTR with the 32-bit counter
 * starting at 2, ChaCha20-Poly1305 is ChaCha20 with the block counter
 * starting at 1. No authentication: use it only on a message whose tag was
 * verified before. Any off; off + len must not exceed ctfs_alg_max_len
 * (-EMSGSIZE). in == out is allowed. */
int ctfs_aead_keystream_xor(enum ctfs_alg alg, const uint8_t *key, const uint8_t *nonce,
			    uint64_t off, const uint8_t *in, size_t len, uint8_t *out);

#endif
