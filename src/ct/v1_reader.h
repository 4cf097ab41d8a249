/* Random access into one large AEAD message (a CryptoTensors v1 tensor).
 *
 * The tag covers the whole tensor, so no byte may be served before all of it
 * has been authenticated, and a multi-GiB tensor cannot be held in memory.
 * The trade-off chosen: on first access, one streaming pass verifies the tag
 * and records the SHA-256 of every 64 KiB block of ciphertext (32 bytes per
 * block: 0.05% of the tensor). Later reads re-read only the blocks they need,
 * check them against those digests, and decrypt them with the keystream at
 * their offset. A file changed after verification fails the digest check. */
#ifndef CTFS_V1_READER_H
#define CTFS_V1_READER_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"

#define CTFS_STREAM_BLOCK 65536u

struct ctfs_stream_state;

struct ctfs_stream_msg {
	int fd;
	uint64_t file_off;    /* where the ciphertext starts in the file */
	uint64_t len;
	enum ctfs_alg alg;
	const uint8_t *key;
	const uint8_t *iv;
};

/* -EBADMSG when the tag does not verify, -EIO on a short file. */
int ctfs_stream_verify(const struct ctfs_stream_msg *msg, const uint8_t *tag,
		       struct ctfs_stream_state **out);

/* Plaintext [off, off+n) of a verified message. -EIO when a block no longer
 * matches what was verified. */
int ctfs_stream_read(const struct ctfs_stream_state *s, const struct ctfs_stream_msg *msg,
		     uint64_t off, uint8_t *out, size_t n);

void ctfs_stream_state_free(struct ctfs_stream_state *s);

#endif
