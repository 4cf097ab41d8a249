/* Serving bytes of the plaintext view: each segment of a read is filled from
 * the view header, the backing file, a verified chunk, or a verified v1
 * tensor. Nothing reaches the caller's buffer unless its tag verified. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ct/chunk_cache.h"
#include "log.h"
#include "metrics/metrics.h"
#include "ct/model.h"
#include "ct/v1_reader.h"
#include "ct/range_map.h"
#include "trust/digests.h"

struct read_ctx {
	struct ctfs_model *m;
	struct ctfs_cache *cache;
	uint8_t *buf;
};

static uint64_t tensor_len(const struct ctfs_model *m, size_t t)
{
	return m->h->tensors[t].end - m->h->tensors[t].begin;
}

/* Decrypt chunk `chunk` of tensor t in place: in holds its ciphertext. */
static int open_chunk(struct ctfs_model *m, size_t t, uint64_t chunk, uint8_t *in, size_t len)
{
	const struct ctfs_ct_tensor *ct = &m->ci->tensors[t];
	uint8_t nonce[CTFS_AEAD_NONCE];
	uint64_t file_off = m->h->data_start + m->h->tensors[t].begin + chunk * m->ci->chunk_size;
	uint64_t t0 = ctfs_metrics_now_ns();
	int rc;

	rc = ctfs_ct_chunk_nonce(ct->iv, chunk, nonce);
	if (!rc)
		rc = ctfs_front_pread(&m->front, m->fd, in, len, file_off);
	if (!rc)
		rc = ctfs_aead_open(m->ci->alg, ctfs_model_dek(m, t), nonce, NULL, 0, in, len, in,
				    ct->tags + chunk * CTFS_AEAD_TAG);
	ctfs_observe_since(CTFS_H_DECRYPT, t0);
	ctfs_count(rc == -EBADMSG ? CTFS_M_TAG_FAILURES : CTFS_M_CHUNKS_DECRYPTED, rc == 0 || rc == -EBADMSG);
	if (rc == -EBADMSG)
		ctfs_err("%s: tensor '%s' chunk %llu fails its tag (tampered or corrupt)",
			 m->name, m->h->tensors[t].name, (unsigned long long)chunk);
	return rc ? -EIO : 0;
}

static int read_chunk(struct read_ctx *rc_, const struct ctfs_seg *s)
{
	struct ctfs_model *m = rc_->m;
	uint64_t cs = m->ci->chunk_size, tlen = tensor_len(m, s->tensor);
	size_t clen = (size_t)(tlen - s->chunk * cs < cs ? tlen - s->chunk * cs : cs);
	struct ctfs_cache_key key = { m->uid, s->tensor, s->chunk };
	struct ctfs_cache_entry *e;
	bool fill;
	int rc;

	ctfs_count_chunk();
	/* A read that covers the whole chunk decrypts straight into the reply. */
	if (s->off == 0 && s->len == clen)
		return open_chunk(m, s->tensor, s->chunk, rc_->buf + s->buf_off, clen);
	rc = ctfs_cache_lookup(rc_->cache, &key, clen, &e, &fill);
	if (rc)
		return rc;
	if (fill) {
		rc = open_chunk(m, s->tensor, s->chunk, ctfs_cache_data(e), clen);
		ctfs_cache_filled(rc_->cache, e, rc == 0);
	}
	if (!rc)
		memcpy(rc_->buf + s->buf_off, ctfs_cache_data(e) + s->off, s->len);
	ctfs_cache_put(rc_->cache, e);
	return rc;
}

/* Chunk `chunk` of plaintext tensor t, read whole and checked against its
 * signed digest (ctfs.plain_sha256), as a tag is checked for ciphertext. */
static int plain_chunk(struct ctfs_model *m, size_t t, uint64_t chunk, uint8_t *out, size_t len)
{
	uint64_t file_off = m->h->data_start + m->h->tensors[t].begin +
			    chunk * m->digests->chunk_size;
	int rc = ctfs_front_pread(&m->front, m->fd, out, len, file_off);

	if (!rc && ctfs_digests_check(m->digests, t, chunk, out, len)) {
		ctfs_err("%s: plaintext tensor '%s' chunk %llu fails its digest (tampered or "
			 "corrupt)", m->name, m->h->tensors[t].name, (unsigned long long)chunk);
		rc = -EIO;
	}
	return rc ? -EIO : 0;
}

/* A plaintext segment with digests: chunk by chunk through the cache. */
static int read_plain_verified(struct read_ctx *ctx, const struct ctfs_seg *s)
{
	struct ctfs_model *m = ctx->m;
	uint64_t tlen = tensor_len(m, s->tensor), cs = m->digests->chunk_size;
	uint64_t toff = s->off - m->h->data_start - m->h->tensors[s->tensor].begin;
	size_t done = 0;
	int rc = 0;

	while (!rc && done < s->len) {
		uint64_t chunk = (toff + done) / cs, in = (toff + done) % cs;
		size_t clen = ctfs_digests_chunk_len(m->digests, tlen, chunk);
		size_t n = clen - in < s->len - done ? (size_t)(clen - in) : s->len - done;
		struct ctfs_cache_key key = { m->uid, s->tensor, chunk };
		struct ctfs_cache_entry *e;
		bool fill;

		if (in == 0 && n == clen) {	/* whole chunk: straight into the reply */
			rc = plain_chunk(m, s->tensor, chunk, ctx->buf + s->buf_off + done, clen);
		} else if (!(rc = ctfs_cache_lookup(ctx->cache, &key, clen, &e, &fill))) {
			if (fill) {
				rc = plain_chunk(m, s->tensor, chunk, ctfs_cache_data(e), clen);
				ctfs_cache_filled(ctx->cache, e, rc == 0);
			}
			if (!rc)
				memcpy(ctx->buf + s->buf_off + done, ctfs_cache_data(e) + in, n);
			ctfs_cache_put(ctx->cache, e);
		}
		done += n;
	}
	return rc;
}

static void stream_msg(const struct ctfs_model *m, size_t t, struct ctfs_stream_msg *msg)
{
	*msg = (struct ctfs_stream_msg){
		.fd = m->fd,
		.file_off = m->h->data_start + m->h->tensors[t].begin,
		.len = tensor_len(m, t),
		.alg = m->ci->alg,
		.key = ctfs_model_dek(m, t),
		.iv = m->ci->tensors[t].iv,
	};
}

/* The first reader of a v1 tensor authenticates all of it. */
static int ensure_verified(struct ctfs_model *m, size_t t, const struct ctfs_stream_msg *msg)
{
	int rc = 0;

	pthread_mutex_lock(&m->stream_lock);
	if (!m->streams[t]) {
		rc = ctfs_stream_verify(msg, m->ci->tensors[t].tags, &m->streams[t]);
		ctfs_count(CTFS_M_TAG_FAILURES, rc == -EBADMSG);
		if (rc == -EBADMSG)
			ctfs_err("%s: tensor '%s' fails its tag (tampered or corrupt)", m->name,
				 m->h->tensors[t].name);
	}
	pthread_mutex_unlock(&m->stream_lock);
	return rc ? -EIO : 0;
}

static int read_stream(struct read_ctx *ctx, const struct ctfs_seg *s)
{
	struct ctfs_model *m = ctx->m;
	struct ctfs_stream_msg msg;
	int rc;

	stream_msg(m, s->tensor, &msg);
	rc = ensure_verified(m, s->tensor, &msg);
	if (!rc)
		rc = ctfs_stream_read(m->streams[s->tensor], &msg, s->off,
				      ctx->buf + s->buf_off, s->len);
	if (rc == -EIO)
		ctfs_err("%s: tensor '%s' changed since it was verified", m->name,
			 m->h->tensors[s->tensor].name);
	return rc ? -EIO : 0;
}

static int read_seg(void *arg, const struct ctfs_seg *s)
{
	struct read_ctx *ctx = arg;

	switch (s->kind) {
	case CTFS_SEG_HEADER:
		memcpy(ctx->buf + s->buf_off, ctx->m->view_hdr.data + s->off, s->len);
		return 0;
	case CTFS_SEG_PLAIN:
		if (ctfs_digests_cover(ctx->m->digests, s->tensor))
			return read_plain_verified(ctx, s);
		return ctfs_front_pread(&ctx->m->front, ctx->m->fd, ctx->buf + s->buf_off, s->len,
					s->off);
	case CTFS_SEG_CHUNK:
		return read_chunk(ctx, s);
	case CTFS_SEG_STREAM:
		return read_stream(ctx, s);
	}
	return -EINVAL;
}

static ssize_t read_passthrough(struct ctfs_model *m, uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(m->fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Plaintext tensors are not authenticated by the format: a backing file that
 * changed under the read must not have its bytes mixed with the verified
 * header, so identity is checked after the bytes were read. */
static int still_same_file(const struct ctfs_model *m)
{
	struct stat st;

	if (fstat(m->fd, &st) || !ctfs_model_same_file(m, &st)) {
		ctfs_err("%s: backing file changed while open; reopen to verify it again",
			 m->name);
		return -EIO;
	}
	return 0;
}

ssize_t ctfs_model_read(struct ctfs_model *m, struct ctfs_cache *cache,
			uint8_t *buf, size_t len, uint64_t off)
{
	struct read_ctx ctx = { m, cache, buf };
	size_t n;
	int rc;

	if (!ctfs_model_is_encrypted(m))
		return read_passthrough(m, buf, len, off);
	if (!m->unlocked)
		return -EACCES;
	if (off >= m->view_size)
		return 0;
	n = m->view_size - off < len ? (size_t)(m->view_size - off) : len;
	rc = ctfs_range_map_view(m->h, m->ci, m->view_hdr.len, off, n, read_seg, &ctx);
	if (!rc)
		rc = still_same_file(m);
	if (rc) {
		explicit_bzero(buf, n);
		return rc;
	}
	return (ssize_t)n;
}
