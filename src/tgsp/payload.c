/* TGSP payload frames: u32 plain_len | ciphertext | tag, ChaCha20-Poly1305
 * with a per-frame nonce and AAD bound to the frame index and to the
 * manifest and recipients hashes. */
#include "tgsp/payload.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "log.h"
#include "crypto/plainbuf.h"
#include "crypto/sha256.h"

#define FRAME_BYTES(len) (4 + (uint64_t)(len) + CTFS_TGSP_TAG)
#define AAD_LEN (CTFS_TGSP_AAD_PREFIX + 8)

void ctfs_tgsp_frame_nonce(const uint8_t *nonce_base, uint64_t i, uint8_t *nonce)
{
	uint8_t in[CTFS_TGSP_NONCE + 8], d[32];

	memcpy(in, nonce_base, CTFS_TGSP_NONCE);
	ctfs_store_be64(in + CTFS_TGSP_NONCE, i);
	ctfs_sha256(d, in, sizeof(in));
	memcpy(nonce, d, CTFS_TGSP_NONCE);
}

static void frame_aad(const struct ctfs_tgsp_frame_key *k, uint64_t i, uint8_t *aad)
{
	memcpy(aad, k->aad_prefix, CTFS_TGSP_AAD_PREFIX);
	ctfs_store_be64(aad + CTFS_TGSP_AAD_PREFIX, i);
}

int ctfs_tgsp_frame_seal(const struct ctfs_tgsp_frame_key *k, uint64_t i, const uint8_t *in,
			 size_t len, uint8_t *out, uint8_t *tag)
{
	uint8_t nonce[CTFS_TGSP_NONCE], aad[AAD_LEN];

	ctfs_tgsp_frame_nonce(k->nonce_base, i, nonce);
	frame_aad(k, i, aad);
	return ctfs_aead_seal(CTFS_ALG_CHACHA20POLY1305, k->dek, nonce, aad, sizeof(aad), in, len,
			      out, tag);
}

int ctfs_tgsp_frame_open(const struct ctfs_tgsp_frame_key *k, uint64_t i, const uint8_t *in,
			 size_t len, uint8_t *out, const uint8_t *tag)
{
	uint8_t nonce[CTFS_TGSP_NONCE], aad[AAD_LEN];

	ctfs_tgsp_frame_nonce(k->nonce_base, i, nonce);
	frame_aad(k, i, aad);
	return ctfs_aead_open(CTFS_ALG_CHACHA20POLY1305, k->dek, nonce, aad, sizeof(aad), in, len,
			      out, tag);
}

void ctfs_tgsp_frames_init(struct ctfs_tgsp_frames *f, const struct ctfs_tgsp_container *c,
			   const uint8_t *dek)
{
	memset(f, 0, sizeof(*f));
	f->fd = c->fd;
	f->name = c->name;
	f->payload_off = c->off[TGSP_PAYLOAD];
	f->n_frames = c->n_frames;
	f->plain_len = c->plain_len;
	f->key.dek = dek;
	memcpy(f->key.nonce_base, c->nonce_base, CTFS_TGSP_NONCE);
	memcpy(f->key.aad_prefix, c->hash_hex[0], 64);
	memcpy(f->key.aad_prefix + 64, c->hash_hex[1], 64);
}

/* --- the gzindex source ----------------------------------------------------- */

/* One decrypted frame per reading context. */
struct frame_ctx {
	uint8_t *buf;		/* FRAME_BYTES(CTFS_TGSP_FRAME): length, text, tag */
	uint64_t frame;
	size_t len;
	bool loaded;
};

static void *ctx_new(void *arg)
{
	struct frame_ctx *x = calloc(1, sizeof(*x));

	(void)arg;
	if (!x)
		return NULL;
	x->buf = ctfs_plain_alloc(FRAME_BYTES(CTFS_TGSP_FRAME));
	if (!x->buf) {
		free(x);
		return NULL;
	}
	return x;
}

static void ctx_free(void *arg, void *ctx)
{
	struct frame_ctx *x = ctx;

	(void)arg;
	ctfs_plain_free(x->buf, FRAME_BYTES(CTFS_TGSP_FRAME));
	free(x);
}

static int frame_failed(struct ctfs_tgsp_frames *f, uint64_t i, int rc, const char *why)
{
	snprintf(f->why, sizeof(f->why), "frame %" PRIu64 ": %s", i, why);
	if (f->log_failures)
		ctfs_err("%s: frame %" PRIu64 ": %s", f->name, i, why);
	return rc;
}

static int load(struct ctfs_tgsp_frames *f, struct frame_ctx *x, uint64_t i)
{
	size_t len = i + 1 < f->n_frames ? CTFS_TGSP_FRAME :
		     (size_t)(f->plain_len - i * CTFS_TGSP_FRAME);
	uint64_t at = f->payload_off + i * FRAME_BYTES(CTFS_TGSP_FRAME);
	int rc;

	x->loaded = false;
	rc = ctfs_pread_full(f->fd, x->buf, (size_t)FRAME_BYTES(len), at);
	if (rc)
		return frame_failed(f, i, -EIO, "cannot be read (the file changed?)");
	if (ctfs_load_be32(x->buf) != len)
		return frame_failed(f, i, -EIO, "its length changed since it was checked");
	rc = ctfs_tgsp_frame_open(&f->key, i, x->buf + 4, len, x->buf + 4, x->buf + 4 + len);
	if (rc == -EBADMSG)
		return frame_failed(f, i, -EBADMSG, "authentication tag does not verify");
	if (rc)
		return frame_failed(f, i, rc, "decryption failed");
	x->frame = i;
	x->len = len;
	x->loaded = true;
	return 0;
}

static int fetch(void *arg, void *ctx, uint64_t off, const uint8_t **p, size_t *n)
{
	struct ctfs_tgsp_frames *f = arg;
	struct frame_ctx *x = ctx;
	uint64_t i = off / CTFS_TGSP_FRAME;
	size_t in = (size_t)(off % CTFS_TGSP_FRAME);

	if (off >= f->plain_len)
		return -EIO;
	if (!x->loaded || x->frame != i) {
		int rc = load(f, x, i);

		if (rc)
			return rc;
	}
	*p = x->buf + 4 + in;
	*n = x->len - in;
	return 0;
}

void ctfs_tgsp_frames_source(struct ctfs_tgsp_frames *f, struct ctfs_gz_source *src)
{
	src->arg = f;
	src->size = f->plain_len;
	src->ctx_new = ctx_new;
	src->ctx_free = ctx_free;
	src->fetch = fetch;
}
