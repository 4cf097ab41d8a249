/* TGSP payload frames: u32 plain_len | ciphertext | tag, ChaCha20-Poly1305
 * with a per-frame nonce and AAD bound to the frame index and to the
 * manifest and recipients hashes. */
#include "tgsp/payload.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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

/* --- the open pass: the payload read once, in order ------------------------- */

struct stream_slot {
	uint8_t *buf;		/* FRAME_BYTES(CTFS_TGSP_FRAME), plain_alloc */
	uint64_t frame;
	size_t len;
	int rc;			/* 0, or why the frame cannot be used */
	const char *why;
	bool full;		/* handed to the consumer, not yet given back */
};

struct ctfs_tgsp_stream {
	struct ctfs_tgsp_frames *f;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct stream_slot slot[CTFS_TGSP_OPEN_AHEAD];
	uint64_t next_get;	/* the frame the consumer takes next */
	struct stream_slot *held;	/* the one it reads from */
	bool stop;		/* the consumer is done: hash only */
	struct ctfs_sha256_ctx *md;
	int hash_rc;
	uint8_t digest[32];
};

/* A slot for frame i, once the consumer has given it back (or stopped:
 * *stopped, and nothing is handed over any more). */
static struct stream_slot *slot_for(struct ctfs_tgsp_stream *s, uint64_t i, bool *stopped)
{
	struct stream_slot *sl = &s->slot[i % CTFS_TGSP_OPEN_AHEAD];

	pthread_mutex_lock(&s->lock);
	while (sl->full && !s->stop)
		pthread_cond_wait(&s->cond, &s->lock);
	*stopped = s->stop;
	pthread_mutex_unlock(&s->lock);
	return sl;
}

/* Read frame i into sl and add its stored bytes to the payload hash. */
static int stream_read(struct ctfs_tgsp_stream *s, struct ctfs_sha256_ctx *md, uint64_t i,
		       struct stream_slot *sl)
{
	struct ctfs_tgsp_frames *f = s->f;

	sl->frame = i;
	sl->len = i + 1 < f->n_frames ? CTFS_TGSP_FRAME :
		  (size_t)(f->plain_len - i * CTFS_TGSP_FRAME);
	if (ctfs_pread_full(f->fd, sl->buf, (size_t)FRAME_BYTES(sl->len),
			    f->payload_off + i * FRAME_BYTES(CTFS_TGSP_FRAME)))
		return -EIO;
	return ctfs_sha256_update(md, sl->buf, (size_t)FRAME_BYTES(sl->len));
}

/* Authenticate and decrypt the frame in sl, in place. */
static void stream_open(struct ctfs_tgsp_stream *s, struct stream_slot *sl)
{
	uint8_t *b = sl->buf;
	int rc;

	sl->rc = 0;
	if (ctfs_load_be32(b) != sl->len) {
		sl->rc = -EIO;
		sl->why = "its length changed since it was checked";
		return;
	}
	rc = ctfs_tgsp_frame_open(&s->f->key, sl->frame, b + 4, sl->len, b + 4, b + 4 + sl->len);
	if (rc) {
		sl->rc = rc;
		sl->why = rc == -EBADMSG ? "authentication tag does not verify" : "decryption failed";
	}
}

static void hand_over(struct ctfs_tgsp_stream *s, struct stream_slot *sl)
{
	pthread_mutex_lock(&s->lock);
	sl->full = !s->stop;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* Every frame in order: hashed, then (until the first bad frame, or until
 * the consumer stops) opened and handed over. The hash always covers the
 * whole payload: its verdict is the one reported first. */
static void *stream_main(void *arg)
{
	struct ctfs_tgsp_stream *s = arg;
	bool feeding = true;
	int rc = 0;

	for (uint64_t i = 0; !rc && i < s->f->n_frames; i++) {
		bool stopped;
		struct stream_slot *sl = slot_for(s, i, &stopped);

		feeding = feeding && !stopped;
		rc = stream_read(s, s->md, i, sl);
		if (rc) {
			sl->rc = rc;
			sl->why = "cannot be read (the file changed?)";
		} else if (feeding) {
			stream_open(s, sl);
		}
		if (feeding)
			hand_over(s, sl);
		/* after a bad frame the index pass stops: hash only */
		feeding = feeding && !sl->rc;
	}
	if (!rc)
		rc = ctfs_sha256_final(s->md, s->digest);
	s->hash_rc = rc;
	return NULL;
}

int ctfs_tgsp_stream_start(struct ctfs_tgsp_frames *f, struct ctfs_tgsp_stream **out)
{
	struct ctfs_tgsp_stream *s = calloc(1, sizeof(*s));
	int rc = s ? ctfs_sha256_new(&s->md) : -ENOMEM;

	for (unsigned int k = 0; !rc && k < CTFS_TGSP_OPEN_AHEAD; k++) {
		s->slot[k].buf = ctfs_plain_alloc(FRAME_BYTES(CTFS_TGSP_FRAME));
		rc = s->slot[k].buf ? 0 : -ENOMEM;
	}
	if (!rc && pthread_mutex_init(&s->lock, NULL))
		rc = -ENOMEM;
	if (!rc && pthread_cond_init(&s->cond, NULL)) {
		pthread_mutex_destroy(&s->lock);
		rc = -ENOMEM;
	}
	if (!rc) {
		s->f = f;
		rc = -pthread_create(&s->thread, NULL, stream_main, s);
		if (rc) {
			pthread_cond_destroy(&s->cond);
			pthread_mutex_destroy(&s->lock);
		}
	}
	if (rc) {
		for (unsigned int k = 0; s && k < CTFS_TGSP_OPEN_AHEAD; k++)
			ctfs_plain_free(s->slot[k].buf, FRAME_BYTES(CTFS_TGSP_FRAME));
		if (s)
			ctfs_sha256_free(s->md);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int ctfs_tgsp_stream_finish(struct ctfs_tgsp_stream *s, uint8_t digest[32])
{
	int rc;

	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	rc = s->hash_rc;
	if (!rc)
		memcpy(digest, s->digest, 32);
	for (unsigned int k = 0; k < CTFS_TGSP_OPEN_AHEAD; k++)
		ctfs_plain_free(s->slot[k].buf, FRAME_BYTES(CTFS_TGSP_FRAME));
	ctfs_sha256_free(s->md);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return rc;
}

static void *stream_ctx_new(void *arg)
{
	return arg;
}

static void stream_ctx_free(void *arg, void *ctx)
{
	(void)arg;
	(void)ctx;
}

/* Frames come in order: the consumer gives back the one it held and waits
 * for the next. Anything else is not the one pass this source is for. */
static int stream_fetch(void *arg, void *ctx, uint64_t off, const uint8_t **p, size_t *n)
{
	struct ctfs_tgsp_stream *s = arg;
	uint64_t i = off / CTFS_TGSP_FRAME;
	size_t in = (size_t)(off % CTFS_TGSP_FRAME);
	struct stream_slot *sl;

	(void)ctx;
	if (off >= s->f->plain_len)
		return -EIO;
	if (!s->held || s->held->frame != i) {
		if (i != s->next_get)
			return frame_failed(s->f, i, -EIO, "read out of order in the open pass");
		sl = &s->slot[i % CTFS_TGSP_OPEN_AHEAD];
		pthread_mutex_lock(&s->lock);
		if (s->held) {
			s->held->full = false;
			pthread_cond_broadcast(&s->cond);
		}
		s->held = NULL;
		while (!sl->full || sl->frame != i)
			pthread_cond_wait(&s->cond, &s->lock);
		pthread_mutex_unlock(&s->lock);
		if (sl->rc)
			return frame_failed(s->f, i, sl->rc, sl->why);
		s->held = sl;
		s->next_get++;
	}
	*p = s->held->buf + 4 + in;
	*n = s->held->len - in;
	return 0;
}

void ctfs_tgsp_stream_source(struct ctfs_tgsp_stream *s, struct ctfs_gz_source *src)
{
	src->arg = s;
	src->size = s->f->plain_len;
	src->ctx_new = stream_ctx_new;
	src->ctx_free = stream_ctx_free;
	src->fetch = stream_fetch;
}
