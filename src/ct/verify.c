/* One pass over the data region: a job per AEAD message (v2 chunk, v1
 * tensor) and, when exporting, per piece of plaintext tensor. Jobs start in
 * data order, so the lowest failing job is the first bad chunk of the file. */
#include "ct/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sys/copy_range.h"
#include "util.h"
#include "sys/workpool.h"

#define IO_BUF (1u << 20)
#define COPY_PIECE ((uint64_t)64 << 20)

struct check {
	struct ctfs_model *m;
	struct ctfs_ct_check *c;
	struct ctfs_job_map jobs;      /* groups: the tensors in h->order */
	uint8_t **bufs;                /* one IO_BUF per worker */
	unsigned n_workers;
	atomic_uint_fast64_t done;
	uint64_t total;
};

static uint64_t tensor_len(const struct ctfs_model *m, size_t t)
{
	return m->h->tensors[t].end - m->h->tensors[t].begin;
}

static bool exporting(const struct check *k)
{
	return k->c->out_fd >= 0;
}

/* Messages of an encrypted tensor; pieces of a plaintext one if exporting. */
static uint64_t job_count(const struct check *k, size_t t)
{
	const struct ctfs_ct_tensor *ct = &k->m->ci->tensors[t];
	uint64_t len = tensor_len(k->m, t);

	if (ct->encrypted)
		return ct->n_tags;
	if (!exporting(k))
		return 0;
	return len / COPY_PIECE + (len % COPY_PIECE != 0);
}

/* Byte range [*start, *end) of message idx of tensor t, and its nonce. */
static int message_range(const struct check *k, size_t t, uint64_t idx, uint64_t *start,
			 uint64_t *end, uint8_t nonce[CTFS_AEAD_NONCE])
{
	const struct ctfs_ct_info *ci = k->m->ci;
	uint64_t len = tensor_len(k->m, t);

	if (ci->version == 1) {
		*start = 0;
		*end = len;
		memcpy(nonce, ci->tensors[t].iv, CTFS_AEAD_NONCE);
		return 0;
	}
	*start = idx * ci->chunk_size;
	*end = len - *start < ci->chunk_size ? len : *start + ci->chunk_size;
	return ctfs_ct_chunk_nonce(ci->tensors[t].iv, idx, nonce);
}

/* A message small enough for one buffer: one read, one open. */
static int open_small(struct check *k, size_t t, uint64_t start, uint64_t end,
		      const uint8_t *nonce, const uint8_t *tag, uint8_t *buf)
{
	const struct ctfs_model *m = k->m;
	uint64_t at = m->h->tensors[t].begin + start;
	size_t n = (size_t)(end - start);
	int rc = ctfs_pread_full(m->fd, buf, n, m->h->data_start + at);

	if (!rc)
		rc = ctfs_aead_open(m->ci->alg, ctfs_model_dek(m, t), nonce, NULL, 0, buf, n, buf,
				    tag);
	if (!rc && exporting(k))
		rc = ctfs_pwrite_full(k->c->out_fd, buf, n, k->c->out_off + at);
	return rc;
}

/* A larger message streamed through the buffer; its plaintext is only
 * trusted once the final tag check passed. */
static int open_stream(struct check *k, size_t t, uint64_t start, uint64_t end,
		       const uint8_t *nonce, const uint8_t *tag, uint8_t *buf)
{
	const struct ctfs_model *m = k->m;
	struct ctfs_aead_stream *as;
	int rc = ctfs_aead_stream_open_init(&as, m->ci->alg, ctfs_model_dek(m, t), nonce);

	for (uint64_t off = start; !rc && off < end;) {
		size_t n = end - off < IO_BUF ? (size_t)(end - off) : IO_BUF;
		uint64_t at = m->h->tensors[t].begin + off;

		rc = ctfs_pread_full(m->fd, buf, n, m->h->data_start + at);
		if (!rc)
			rc = ctfs_aead_stream_update(as, buf, n, buf);
		if (!rc && exporting(k))
			rc = ctfs_pwrite_full(k->c->out_fd, buf, n, k->c->out_off + at);
		off += n;
	}
	if (!rc)
		rc = ctfs_aead_stream_final(as, tag);
	ctfs_aead_stream_free(as);
	return rc;
}

/* When exporting, start writing a finished range out now (advisory, as in
 * the writer: disk writes overlap the work, errors show up in fsync). */
static void start_writeback(const struct check *k, size_t t, uint64_t start, uint64_t len)
{
	uint64_t at = k->c->out_off + k->m->h->tensors[t].begin + start;

	if (exporting(k))
		(void)sync_file_range(k->c->out_fd, (off_t)at, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

static int open_message(struct check *k, size_t t, uint64_t idx, uint8_t *buf)
{
	const uint8_t *tag = k->m->ci->tensors[t].tags + idx * CTFS_AEAD_TAG;
	uint8_t nonce[CTFS_AEAD_NONCE];
	uint64_t start, end;
	int rc = message_range(k, t, idx, &start, &end, nonce);

	if (rc)
		return rc;
	if (end - start <= IO_BUF)
		rc = open_small(k, t, start, end, nonce, tag, buf);
	else
		rc = open_stream(k, t, start, end, nonce, tag, buf);
	if (!rc) {
		atomic_fetch_add(&k->done, end - start);
		start_writeback(k, t, start, end - start);
	}
	return rc;
}

static int copy_piece(struct check *k, size_t t, uint64_t idx, uint8_t *buf)
{
	const struct ctfs_model *m = k->m;
	uint64_t off = m->h->tensors[t].begin + idx * COPY_PIECE;
	uint64_t len = m->h->tensors[t].end - off;
	int rc;

	if (len > COPY_PIECE)
		len = COPY_PIECE;
	rc = ctfs_copy_range(m->fd, m->h->data_start + off, k->c->out_fd, k->c->out_off + off,
			     len, buf, IO_BUF);
	if (!rc) {
		atomic_fetch_add(&k->done, len);
		start_writeback(k, t, idx * COPY_PIECE, len);
	}
	return rc;
}

static int run_job(void *arg, uint64_t i, unsigned w)
{
	struct check *k = arg;
	size_t g, t;
	uint64_t idx;

	ctfs_job_map_find(&k->jobs, i, &g, &idx);
	t = k->m->h->order[g];
	if (!k->m->ci->tensors[t].encrypted)
		return copy_piece(k, t, idx, k->bufs[w]);
	return open_message(k, t, idx, k->bufs[w]);
}

static int tick(void *arg)
{
	struct check *k = arg;

	if (!k->c->progress)
		return 0;
	return k->c->progress(k->c->progress_arg, atomic_load(&k->done), k->total);
}

static int plan(struct check *k)
{
	const struct ctfs_st_header *h = k->m->h;
	uint64_t *counts = calloc(h->n_tensors ? h->n_tensors : 1, sizeof(*counts));
	int rc;

	if (!counts)
		return -ENOMEM;
	for (size_t g = 0; g < h->n_tensors; g++) {
		size_t t = h->order[g];

		counts[g] = job_count(k, t);
		if (counts[g])
			k->total += tensor_len(k->m, t);
		if (k->m->ci->tensors[t].encrypted)
			k->c->messages += counts[g];
	}
	rc = ctfs_job_map_init(&k->jobs, counts, h->n_tensors);
	free(counts);
	return rc;
}

static int alloc_bufs(struct check *k)
{
	k->n_workers = ctfs_pool_threads(k->c->threads);
	k->bufs = calloc(k->n_workers, sizeof(*k->bufs));
	if (!k->bufs)
		return -ENOMEM;
	for (unsigned w = 0; w < k->n_workers; w++) {
		k->bufs[w] = malloc(IO_BUF);
		if (!k->bufs[w])
			return -ENOMEM;
	}
	return 0;
}

static void free_bufs(struct check *k)
{
	for (unsigned w = 0; k->bufs && w < k->n_workers; w++) {
		if (k->bufs[w]) {
			sodium_memzero(k->bufs[w], IO_BUF); /* held plaintext */
			free(k->bufs[w]);
		}
	}
	free(k->bufs);
}

/* err for a failed run: the job is named when there is one. */
static int report(struct check *k, uint64_t i, int rc, char *err, size_t errlen)
{
	const struct ctfs_st_header *h = k->m->h;
	size_t g, t;
	uint64_t idx;
	char where[64] = "";

	if (i == UINT64_MAX) {
		ctfs_seterr(err, errlen, "%s", rc == -EINTR ? "interrupted" : strerror(-rc));
		return rc;
	}
	ctfs_job_map_find(&k->jobs, i, &g, &idx);
	t = h->order[g];
	if (k->m->ci->tensors[t].encrypted && k->m->ci->version == 2)
		snprintf(where, sizeof(where), " chunk %llu", (unsigned long long)idx);
	if (rc == -EBADMSG) {
		k->c->bad = true;
		k->c->bad_tensor = t;
		k->c->bad_chunk = k->m->ci->version == 2 ? idx : 0;
		ctfs_seterr(err, errlen, "tensor '%s'%s fails its tag (tampered or corrupt)",
			    h->tensors[t].name, where);
	} else if (rc == -ENOSPC) {
		ctfs_seterr(err, errlen, "no space left on the device");
	} else {
		ctfs_seterr(err, errlen, "tensor '%s'%s: %s", h->tensors[t].name, where,
			    strerror(-rc));
	}
	return rc;
}

int ctfs_model_check_data(struct ctfs_model *m, struct ctfs_ct_check *c,
			  char *err, size_t errlen)
{
	struct check k = { .m = m, .c = c };
	struct ctfs_pool_run run = { .job = run_job, .arg = &k, .tick = tick, .tick_arg = &k };
	uint64_t bad = UINT64_MAX;
	int rc;

	c->messages = c->bytes = 0;
	c->bad = false;
	if (!ctfs_model_is_encrypted(m) || !m->deks) {
		ctfs_seterr(err, errlen, "not an unlocked CryptoTensors file");
		return -EINVAL;
	}
	atomic_init(&k.done, 0);
	rc = plan(&k);
	if (!rc)
		rc = alloc_bufs(&k);
	if (!rc) {
		run.n_jobs = k.jobs.total;
		run.threads = k.n_workers;
		rc = ctfs_pool_run(&run, &bad);
		if (rc)
			rc = report(&k, bad, rc, err, errlen);
	} else {
		ctfs_seterr(err, errlen, "%s", strerror(-rc));
	}
	for (size_t t = 0; !rc && t < m->h->n_tensors; t++)
		if (m->ci->tensors[t].encrypted)
			c->bytes += tensor_len(m, t);
	free_bufs(&k);
	ctfs_job_map_free(&k.jobs);
	return rc;
}
