/* Encrypting a safetensors file into a CryptoTensors file.
 *
 * Ciphertext is as long as plaintext and every value in the header has a
 * length fixed by the options (base64 of fixed-size binaries), so the header
 * size is known before anything is encrypted: the data region is written
 * first, straight to its final place, and the header, which needs the tags
 * and then the signature over everything, last.
 *
 * The unit of work is one AEAD message: a v2 chunk or a whole v1 tensor. It
 * reads and writes with pread/pwrite at absolute offsets and fills its own
 * tag slot, so messages are independent of each other and are sealed by a
 * pool of workers, each with its own cipher context and buffer. A message
 * is streamed through that fixed buffer, so memory does not grow with
 * tensor or chunk size. Plaintext tensors are copied by the kernel. */
#include "ct/writer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/atomic_file.h"
#include "codec/base64.h"
#include "sys/copy_range.h"
#include "ct/crypto_entries.h"
#include "ct/meta.h"
#include "safetensors/header_json.h"
#include "safetensors/safetensors.h"
#include "crypto/secmem.h"
#include "crypto/curve25519.h"
#include "util.h"
#include "sys/workpool.h"

#define IO_BUF (1u << 20)
#define COPY_PIECE ((uint64_t)64 << 20)
#define KEY_MAX 32
#define HEADER_MAX CTFS_ST_MAX_HEADER

/* ---- the writer ------------------------------------------------------------ */

struct enc_tensor {
	const struct ctfs_tensor *t;
	uint8_t *dek;                  /* into writer.deks */
	struct ctfs_ct_wrapped wrapped; /* the DEK under the master key */
	uint8_t iv[CTFS_AEAD_NONCE];   /* v1 iv, v2 base_iv */
	uint8_t *tags;                 /* n_tags * CTFS_AEAD_TAG */
	uint64_t n_tags;               /* v1: 1, or 0 for an empty tensor */
};

struct writer {
	const struct ctfs_ct_write_opts *o;
	int version;
	uint64_t chunk;
	size_t key_len;
	struct ctfs_st_header *h;
	struct enc_tensor *enc;        /* sorted by name, as __encryption__ is */
	size_t n_enc;
	struct enc_tensor **by_index;  /* h->tensors index -> entry, or NULL */
	uint8_t *deks;                 /* locked: n_enc * KEY_MAX */
	int in_fd, out_fd;
	uint64_t out_data;             /* file offset of the output data region */
	struct ctfs_afile out;
	struct ctfs_job_map jobs;      /* groups: the tensors in h->order */
	struct worker *workers;
	unsigned n_workers;
	atomic_uint_fast64_t done;     /* data bytes written */
	char *err;
	size_t errlen;
};

/* What each worker of the pool owns. */
struct worker {
	struct ctfs_aead_sealer *s;
	uint8_t *buf;                  /* IO_BUF */
};

static __attribute__((format(printf, 3, 4))) int fail(struct writer *w, int rc,
							const char *fmt, ...)
{
	va_list ap;

	if (w->err && w->errlen) {
		va_start(ap, fmt);
		vsnprintf(w->err, w->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- options and keys ------------------------------------------------------- */

static int check_keys(struct writer *w)
{
	const struct ctfs_jwk *m = w->o->master, *s = w->o->signer;
	uint8_t pub[32];
	enum ctfs_alg key_alg;

	if (!m || m->kty != CTFS_KTY_OCT || !m->secret)
		return fail(w, -EINVAL, "the master key must be an oct key with its k");
	if (m->alg && (ctfs_alg_parse(m->alg, &key_alg) || key_alg != w->o->alg))
		return fail(w, -EINVAL, "master key is for %s, not for %s", m->alg,
			    ctfs_alg_name(w->o->alg));
	if (m->secret_len != w->key_len)
		return fail(w, -EINVAL, "master key has the wrong length for %s",
			    ctfs_alg_name(w->o->alg));
	if (!s || s->kty != CTFS_KTY_OKP || !s->secret || s->secret_len != 32)
		return fail(w, -EINVAL, "the signing key must be an okp Ed25519 key with its private d");
	if (s->alg && strcasecmp(s->alg, "ed25519"))
		return fail(w, -EINVAL, "signing key algorithm %s is not ed25519", s->alg);
	if (s->has_pub) {
		/* A file signed with a d that does not match the published x
		 * could never be verified: refuse before doing any work. */
		if (ctfs_ed25519_pub_from_seed(pub, s->secret))
			return -EIO;
		if (sodium_memcmp(pub, s->pub, sizeof(pub)))
			return fail(w, -EINVAL, "signing key: x does not match d");
	}
	return 0;
}

static int check_opts(struct writer *w)
{
	const struct ctfs_ct_write_opts *o = w->o;

	w->version = o->version ? o->version : 2;
	if (w->version != 1 && w->version != 2)
		return fail(w, -EINVAL, "version must be 1 or 2");
	w->chunk = o->chunk_size ? o->chunk_size : CTFS_DEFAULT_CHUNK_SIZE;
	w->key_len = ctfs_alg_key_len(o->alg);
	if (!w->key_len || w->key_len > KEY_MAX)
		return fail(w, -EINVAL, "unsupported algorithm");
	if (w->version == 2 && w->chunk > ctfs_alg_max_len(o->alg))
		return fail(w, -EINVAL, "chunk size too large for %s", ctfs_alg_name(o->alg));
	return check_keys(w);
}

/* ---- which tensors, and their nonces --------------------------------------- */

static int by_name(const void *a, const void *b)
{
	const struct enc_tensor *x = a, *y = b;

	return strcmp(x->t->name, y->t->name); /* byte order, as serde's BTreeMap */
}

static bool wanted(const struct ctfs_ct_write_opts *o, const char *name)
{
	if (!o->tensors)
		return true;
	for (const char *const *p = o->tensors; *p; p++)
		if (!strcmp(*p, name))
			return true;
	return false;
}

/* v2: a random base_iv whose 32-bit counter cannot overflow over n chunks. */
static int pick_base_iv(uint8_t iv[CTFS_AEAD_NONCE], uint64_t n_chunks)
{
	uint32_t ctr;

	if (n_chunks > (uint64_t)UINT32_MAX + 1)
		return -EOVERFLOW;
	randombytes_buf(iv, CTFS_AEAD_NONCE);
	if (n_chunks > 1) {
		ctr = randombytes_uniform((uint32_t)((uint64_t)UINT32_MAX + 2 - n_chunks));
		ctfs_store_be32(iv + 8, ctr);
	}
	return 0;
}

static int plan_tensor(struct writer *w, struct enc_tensor *e, uint64_t *tag_bytes)
{
	uint64_t len = e->t->end - e->t->begin, bytes;

	if (w->version == 1 && len > ctfs_alg_max_len(w->o->alg))
		return fail(w, -EMSGSIZE, "tensor '%s' is too large for one %s message: use version 2",
			    e->t->name, ctfs_alg_name(w->o->alg));
	e->n_tags = w->version == 1 ? (len != 0) : ctfs_ct_chunk_count(len, w->chunk);
	if (ctfs_mul_overflow(e->n_tags, CTFS_AEAD_TAG, &bytes) ||
	    ctfs_add_overflow(*tag_bytes, bytes, tag_bytes) || *tag_bytes > HEADER_MAX / 2)
		return fail(w, -E2BIG, "tensor '%s': too many chunks for a header (chunk size too small)",
			    e->t->name);
	e->tags = calloc(e->n_tags ? (size_t)e->n_tags : 1, CTFS_AEAD_TAG);
	if (!e->tags)
		return -ENOMEM;
	e->wrapped.key_len = w->key_len;	/* sizes the header before the DEKs exist */
	if (w->version == 1) {
		randombytes_buf(e->iv, sizeof(e->iv));
		return 0;
	}
	if (pick_base_iv(e->iv, e->n_tags))
		return fail(w, -EOVERFLOW, "tensor '%s': more than 2^32 chunks", e->t->name);
	return 0;
}

static int select_tensors(struct writer *w)
{
	const struct ctfs_st_header *h = w->h;
	uint64_t tag_bytes = 0;
	int rc;

	if (w->o->tensors) {
		for (const char *const *p = w->o->tensors; *p; p++)
			if (!ctfs_st_find(h, *p))
				return fail(w, -ENOENT, "no tensor named '%s'", *p);
	}
	w->enc = calloc(h->n_tensors ? h->n_tensors : 1, sizeof(*w->enc));
	w->by_index = calloc(h->n_tensors ? h->n_tensors : 1, sizeof(*w->by_index));
	if (!w->enc || !w->by_index)
		return -ENOMEM;
	for (size_t i = 0; i < h->n_tensors; i++)
		if (wanted(w->o, h->tensors[i].name))
			w->enc[w->n_enc++].t = &h->tensors[i];
	if (!w->n_enc)
		return fail(w, -ENOENT, "no tensor to encrypt");
	qsort(w->enc, w->n_enc, sizeof(*w->enc), by_name);
	w->deks = ctfs_secure_alloc(w->n_enc * KEY_MAX);
	if (!w->deks)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_enc; i++) {
		w->enc[i].dek = w->deks + i * KEY_MAX;
		rc = plan_tensor(w, &w->enc[i], &tag_bytes);
		if (rc)
			return rc;
		w->by_index[w->enc[i].t - h->tensors] = &w->enc[i];
	}
	return 0;
}

/* ---- the crypto entries (written by ct/meta.c) ------------------------------ */

static int crypto_keys_json(const struct writer *w, struct ctfs_buf *b)
{
	return ctfs_ct_meta_crypto_keys(b, w->version, w->chunk, w->o->alg, w->o->master,
					w->o->signer, w->o->x5c, w->o->n_x5c);
}

/* An empty v1 tensor has empty iv and tag. */
static int entry_json(const struct writer *w, const struct enc_tensor *e, struct ctfs_buf *b)
{
	struct ctfs_ct_entry_values v = {
		.name = e->t->name,
		.key = &e->wrapped,
		.iv = e->iv,
		.iv_len = w->version == 1 && !e->n_tags ? 0 : sizeof(e->iv),
		.tags = e->tags,
		.tags_len = (size_t)e->n_tags * CTFS_AEAD_TAG,
	};

	return ctfs_ct_meta_entry(b, w->version, &v);
}

static int encryption_json(const struct writer *w, struct ctfs_buf *b)
{
	int rc = ctfs_buf_putc(b, '{');

	for (size_t i = 0; !rc && i < w->n_enc; i++) {
		if (i)
			rc = ctfs_buf_putc(b, ',');
		if (!rc)
			rc = entry_json(w, &w->enc[i], b);
	}
	return rc ? rc : ctfs_buf_putc(b, '}');
}

static int policy_json(const struct writer *w, struct ctfs_buf *b)
{
	const char *local = w->o->policy_local ? w->o->policy_local : CTFS_DEFAULT_POLICY;
	const char *remote = w->o->policy_remote ? w->o->policy_remote : CTFS_DEFAULT_POLICY;

	return ctfs_ct_meta_policy(b, local, remote);
}

static int set_meta(struct writer *w, const char *key,
		    int (*build)(const struct writer *, struct ctfs_buf *))
{
	struct ctfs_buf b = { 0 };
	int rc = build(w, &b);

	if (!rc)
		rc = ctfs_st_meta_set(w->h, key, (const char *)b.data);
	ctfs_buf_free(&b);
	return rc;
}

/* Put every crypto entry into the header and return the complete header
 * bytes (length prefix, JSON, padding). With sign false the signature is a
 * placeholder of the right length: used to size the header up front. */
static int build_header(struct writer *w, bool sign, struct ctfs_buf *out)
{
	int rc;

	rc = set_meta(w, CTFS_META_CRYPTO_KEYS, crypto_keys_json);
	if (!rc)
		rc = set_meta(w, CTFS_META_ENCRYPTION, encryption_json);
	if (!rc)
		rc = set_meta(w, CTFS_META_POLICY, policy_json);
	if (!rc)
		rc = ctfs_ct_meta_sign(w->h, sign ? w->o->signer->secret : NULL);
	if (!rc)
		rc = ctfs_st_build_header(w->h, NULL, false, out);
	return rc;
}

/* ---- data --------------------------------------------------------------------- */

/* Fresh DEKs for every tensor, wrapped with the master key. */
static int new_deks(struct writer *w)
{
	for (size_t i = 0; i < w->n_enc; i++) {
		struct enc_tensor *e = &w->enc[i];
		int rc;

		randombytes_buf(e->dek, w->key_len);
		rc = ctfs_ct_wrap_dek(w->o->alg, w->o->master->secret, e->dek, &e->wrapped);
		if (rc)
			return rc;
	}
	return 0;
}

/* Start writing [off, off+len) of the data region out now, so that disk
 * writes overlap the sealing and the final fsync finds little left to do.
 * Advisory: a failure to write shows up in that fsync. */
static void start_writeback(struct writer *w, uint64_t off, uint64_t len)
{
	(void)sync_file_range(w->out_fd, (off_t)(w->out_data + off), (off_t)len,
			      SYNC_FILE_RANGE_WRITE);
}

/* Seal message idx of tensor e (v2: chunk idx; v1: idx 0, the whole tensor). */
static int seal_message(struct writer *w, struct enc_tensor *e, uint64_t idx,
			struct worker *wk)
{
	uint64_t len = e->t->end - e->t->begin, start = 0, end = len;
	uint8_t nonce[CTFS_AEAD_NONCE];
	int rc;

	if (w->version == 2) {
		start = idx * w->chunk;
		end = len - start < w->chunk ? len : start + w->chunk;
		rc = ctfs_ct_chunk_nonce(e->iv, idx, nonce);
		if (rc)
			return rc;
	} else {
		memcpy(nonce, e->iv, sizeof(nonce));
	}
	rc = ctfs_aead_sealer_begin(wk->s, e->dek, nonce);
	for (uint64_t off = start; !rc && off < end;) {
		size_t n = end - off < IO_BUF ? (size_t)(end - off) : IO_BUF;
		uint64_t at = e->t->begin + off;

		rc = ctfs_pread_full(w->in_fd, wk->buf, n, w->h->data_start + at);
		if (!rc)
			rc = ctfs_aead_sealer_update(wk->s, wk->buf, n, wk->buf);
		if (!rc)
			rc = ctfs_pwrite_full(w->out_fd, wk->buf, n, w->out_data + at);
		if (!rc)
			atomic_fetch_add(&w->done, n);
		off += n;
	}
	if (!rc)
		rc = ctfs_aead_sealer_end(wk->s, e->tags + idx * CTFS_AEAD_TAG);
	if (!rc)
		start_writeback(w, e->t->begin + start, end - start);
	return rc;
}

/* Piece idx (COPY_PIECE bytes) of a plaintext tensor, stored as it is. */
static int copy_piece(struct writer *w, const struct ctfs_tensor *t, uint64_t idx,
		      struct worker *wk)
{
	uint64_t off = t->begin + idx * COPY_PIECE, len = t->end - off;
	int rc;

	if (len > COPY_PIECE)
		len = COPY_PIECE;
	rc = ctfs_copy_range(w->in_fd, w->h->data_start + off, w->out_fd, w->out_data + off,
			     len, wk->buf, IO_BUF);
	if (!rc) {
		atomic_fetch_add(&w->done, len);
		start_writeback(w, off, len);
	}
	return rc;
}

/* Jobs per tensor, in data order: its messages, or its plaintext pieces. */
static uint64_t job_count(const struct writer *w, size_t t)
{
	const struct ctfs_tensor *ten = &w->h->tensors[t];
	uint64_t len = ten->end - ten->begin;

	if (w->by_index[t])
		return w->by_index[t]->n_tags;
	return len / COPY_PIECE + (len % COPY_PIECE != 0);
}

static int run_job(void *arg, uint64_t i, unsigned wi)
{
	struct writer *w = arg;
	struct worker *wk = &w->workers[wi];
	size_t k, t;
	uint64_t idx;
	int rc;

	ctfs_job_map_find(&w->jobs, i, &k, &idx);
	t = w->h->order[k];
	if (!w->by_index[t])
		return copy_piece(w, &w->h->tensors[t], idx, wk);
	rc = seal_message(w, w->by_index[t], idx, wk);
	if (rc && rc != -ENOMEM && rc != -ENOSPC)
		rc = -EIO;
	return rc;
}

static int tick(void *arg)
{
	struct writer *w = arg;

	if (!w->o->progress)
		return 0;
	return w->o->progress(w->o->progress_arg, atomic_load(&w->done), w->h->data_len);
}

static int plan_jobs(struct writer *w)
{
	uint64_t *counts = calloc(w->h->n_tensors ? w->h->n_tensors : 1, sizeof(*counts));
	int rc;

	if (!counts)
		return -ENOMEM;
	for (size_t k = 0; k < w->h->n_tensors; k++)
		counts[k] = job_count(w, w->h->order[k]);
	rc = ctfs_job_map_init(&w->jobs, counts, w->h->n_tensors);
	free(counts);
	return rc;
}

static int start_workers(struct writer *w)
{
	w->n_workers = ctfs_pool_threads(w->o->threads);
	w->workers = calloc(w->n_workers, sizeof(*w->workers));
	if (!w->workers)
		return -ENOMEM;
	for (unsigned i = 0; i < w->n_workers; i++) {
		int rc = ctfs_aead_sealer_new(&w->workers[i].s, w->o->alg);

		if (rc)
			return rc;
		w->workers[i].buf = malloc(IO_BUF);
		if (!w->workers[i].buf)
			return -ENOMEM;
	}
	return 0;
}

static void stop_workers(struct writer *w)
{
	for (unsigned i = 0; w->workers && i < w->n_workers; i++) {
		ctfs_aead_sealer_free(w->workers[i].s);
		if (w->workers[i].buf) {
			sodium_memzero(w->workers[i].buf, IO_BUF); /* held plaintext */
			free(w->workers[i].buf);
		}
	}
	free(w->workers);
	w->workers = NULL;
}

/* Name the message that failed: "tensor 'x' chunk 3: reason". */
static int job_failed(struct writer *w, uint64_t i, int rc)
{
	size_t k;
	uint64_t idx;
	const char *name;

	if (i == UINT64_MAX)
		return fail(w, rc, "%s", rc == -EINTR ? "interrupted" : strerror(-rc));
	ctfs_job_map_find(&w->jobs, i, &k, &idx);
	name = w->h->tensors[w->h->order[k]].name;
	if (rc == -ENOSPC)
		return fail(w, rc, "no space left on the device");
	if (w->by_index[w->h->order[k]] && w->version == 2)
		return fail(w, rc, "tensor '%s' chunk %llu: %s", name, (unsigned long long)idx,
			    strerror(-rc));
	return fail(w, rc, "tensor '%s': %s", name, strerror(-rc));
}

static int write_data(struct writer *w)
{
	struct ctfs_pool_run run = { .job = run_job, .arg = w, .tick = tick, .tick_arg = w };
	uint64_t bad;
	int rc;

	atomic_init(&w->done, 0);
	rc = new_deks(w);
	if (!rc)
		rc = plan_jobs(w);
	if (!rc)
		rc = start_workers(w);
	if (rc) {
		stop_workers(w);
		return rc;
	}
	run.n_jobs = w->jobs.total;
	run.threads = w->n_workers;
	rc = ctfs_pool_run(&run, &bad);
	stop_workers(w);
	return rc ? job_failed(w, bad, rc) : 0;
}

/* ---- files ---------------------------------------------------------------------- */

static int open_input(struct writer *w, const char *path)
{
	struct stat st;
	int rc;

	w->in_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (w->in_fd < 0)
		return fail(w, -errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(w->in_fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return fail(w, -EINVAL, "%s is not a regular file", path);
	rc = ctfs_st_read(w->in_fd, (uint64_t)st.st_size, &w->h, w->err, w->errlen);
	if (rc)
		return rc;
	if (ctfs_ct_is_encrypted(w->h))
		return fail(w, -EALREADY, "%s is already a CryptoTensors file", path);
	return 0;
}

/* Header sized with placeholders, data written, then the real header. */
static int write_output(struct writer *w, const char *out_path)
{
	struct ctfs_buf hdr = { 0 };
	uint64_t total;
	size_t planned;
	int rc;

	rc = build_header(w, false, &hdr);
	if (rc)
		return rc == -ENOMEM ? rc : fail(w, rc, "cannot build the header");
	planned = hdr.len;
	w->out_data = hdr.len;
	ctfs_buf_free(&hdr);
	if (planned - 8 > HEADER_MAX)
		return fail(w, -E2BIG, "the header would exceed %llu bytes",
			    (unsigned long long)HEADER_MAX);
	if (ctfs_add_overflow(w->out_data, w->h->data_len, &total))
		return -EOVERFLOW;
	rc = ctfs_afile_create(&w->out, out_path, 0666, w->err, w->errlen);
	if (rc)
		return rc;
	w->out_fd = w->out.fd;
	/* Reserve the space now, so a full disk fails before any work. */
	rc = ctfs_afile_reserve(&w->out, total, w->err, w->errlen);
	if (!rc)
		rc = write_data(w);
	if (rc)
		return rc;
	rc = build_header(w, true, &hdr);
	if (!rc && hdr.len != planned)
		rc = fail(w, -EIO, "internal error: header size changed");
	if (!rc)
		rc = ctfs_pwrite_full(w->out_fd, hdr.data, hdr.len, 0);
	ctfs_buf_free(&hdr);
	if (!rc && ftruncate(w->out_fd, (off_t)total) < 0)
		rc = -errno;
	if (rc)
		return rc == -ENOSPC ? fail(w, rc, "no space left on the device") : rc;
	w->out_fd = -1;
	return ctfs_afile_commit(&w->out, w->err, w->errlen);
}

static void writer_free(struct writer *w)
{
	ctfs_afile_abort(&w->out);
	if (w->in_fd >= 0)
		close(w->in_fd);
	for (size_t i = 0; w->enc && i < w->n_enc; i++)
		free(w->enc[i].tags);
	ctfs_secure_free(w->deks); /* wipes */
	ctfs_job_map_free(&w->jobs);
	free(w->enc);
	free(w->by_index);
	ctfs_st_free(w->h);
}

/* ctfs.model_id / ctfs.version and the plaintext digests, before the
 * header is sized: they are signed with the rest of it. */
static int add_trust_meta(struct writer *w)
{
	bool *plain = calloc(w->h->n_tensors ? w->h->n_tensors : 1, sizeof(*plain));
	int rc;

	if (!plain)
		return -ENOMEM;
	for (size_t i = 0; i < w->h->n_tensors; i++)
		plain[i] = !w->by_index[i];
	rc = ctfs_ct_meta_trust(w->h, w->o->model_id, w->o->model_version,
				w->o->no_digests ? -1 : w->in_fd, plain, w->version, w->chunk);
	if (rc && rc != -ENOMEM)
		rc = fail(w, rc, "cannot compute the plaintext digests: %s", strerror(-rc));
	free(plain);
	return rc;
}

int ctfs_ct_encrypt_file(const char *in_path, const char *out_path,
			 const struct ctfs_ct_write_opts *o, char *err, size_t errlen)
{
	struct writer w = { .o = o, .in_fd = -1, .out_fd = -1, .out = { .fd = -1 },
			    .err = err, .errlen = errlen };
	int rc;

	ctfs_seterr(err, errlen, "%s", "");
	rc = check_opts(&w);
	if (!rc)
		rc = open_input(&w, in_path);
	if (!rc)
		rc = select_tensors(&w);
	if (!rc)
		rc = add_trust_meta(&w);
	if (!rc)
		rc = write_output(&w, out_path);
	if (rc && err && !*err)
		ctfs_seterr(err, errlen, "%s", strerror(-rc));
	writer_free(&w);
	return rc;
}
