/* Random access into one verified CryptoTensors v1 tensor (v1_reader.h). */
#include "ct/v1_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sha256.h"
#include "util.h"

#define PASS_BUF (16u * CTFS_STREAM_BLOCK)

struct ctfs_stream_state {
	uint64_t n_blocks;
	uint8_t digests[][32];
};

static size_t block_len(const struct ctfs_stream_msg *msg, uint64_t b)
{
	uint64_t start = b * CTFS_STREAM_BLOCK;
	uint64_t left = msg->len - start;

	return left < CTFS_STREAM_BLOCK ? (size_t)left : CTFS_STREAM_BLOCK;
}

static int verify_pass(const struct ctfs_stream_msg *msg, struct ctfs_aead_stream *as,
		       struct ctfs_stream_state *s, uint8_t *buf)
{
	uint64_t b = 0;

	for (uint64_t off = 0; off < msg->len;) {
		size_t n = msg->len - off < PASS_BUF ? (size_t)(msg->len - off) : PASS_BUF;
		int rc = ctfs_pread_full(msg->fd, buf, n, msg->file_off + off);

		if (rc)
			return rc;
		for (size_t i = 0; i < n; i += CTFS_STREAM_BLOCK, b++)
			ctfs_sha256(s->digests[b], buf + i, block_len(msg, b));
		rc = ctfs_aead_stream_update(as, buf, n, buf);
		if (rc)
			return rc;
		off += n;
	}
	return 0;
}

int ctfs_stream_verify(const struct ctfs_stream_msg *msg, const uint8_t *tag,
		       struct ctfs_stream_state **out)
{
	uint64_t n_blocks = msg->len / CTFS_STREAM_BLOCK + (msg->len % CTFS_STREAM_BLOCK != 0);
	struct ctfs_aead_stream *as = NULL;
	struct ctfs_stream_state *s;
	uint8_t *buf;
	int rc;

	*out = NULL;
	if (n_blocks > (SIZE_MAX - sizeof(*s)) / 32)
		return -EOVERFLOW;
	s = malloc(sizeof(*s) + (size_t)n_blocks * 32);
	buf = malloc(PASS_BUF);
	rc = s && buf ? 0 : -ENOMEM;
	if (!rc)
		rc = ctfs_aead_stream_open_init(&as, msg->alg, msg->key, msg->iv);
	if (!rc) {
		s->n_blocks = n_blocks;
		rc = verify_pass(msg, as, s, buf);
	}
	if (!rc)
		rc = ctfs_aead_stream_final(as, tag);
	ctfs_aead_stream_free(as);
	if (buf) {
		explicit_bzero(buf, PASS_BUF); /* held plaintext */
		free(buf);
	}
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int ctfs_stream_read(const struct ctfs_stream_state *s, const struct ctfs_stream_msg *msg,
		     uint64_t off, uint8_t *out, size_t n)
{
	uint8_t *blk = malloc(CTFS_STREAM_BLOCK);
	int rc = blk ? 0 : -ENOMEM;

	while (!rc && n) {
		uint64_t b = off / CTFS_STREAM_BLOCK, in_blk = off % CTFS_STREAM_BLOCK;
		size_t blen = block_len(msg, b);
		size_t take = blen - in_blk < n ? blen - (size_t)in_blk : n;
		uint8_t digest[32];

		rc = ctfs_pread_full(msg->fd, blk, blen, msg->file_off + b * CTFS_STREAM_BLOCK);
		if (rc)
			break;
		ctfs_sha256(digest, blk, blen);
		if (memcmp(digest, s->digests[b], sizeof(digest))) {
			rc = -EIO;
			break;
		}
		rc = ctfs_aead_keystream_xor(msg->alg, msg->key, msg->iv, off, blk + in_blk,
					     take, out);
		off += take;
		out += take;
		n -= take;
	}
	free(blk);
	return rc;
}

void ctfs_stream_state_free(struct ctfs_stream_state *s)
{
	free(s);
}
