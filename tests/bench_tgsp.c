/* The stages of reading a TGSP package, each on one core: frame decryption
 * (ChaCha20-Poly1305 on 4 MiB frames), the payload hash, inflate of model-
 * like and of incompressible data (zlib and ISA-L, alternating), random
 * reads through the gzip index, and the whole library path (open, then a
 * sequential read). Not a test:
 * `tests/bench_tgsp [MiB]` (the size of the packaged file, default 256). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <isa-l/igzip_lib.h>
#include <zlib.h>

#include "archive/gzindex.h"
#include "crypto/secmem.h"
#include "crypto/sha256.h"
#include "tgsp/build.h"
#include "tgsp/payload.h"
#include "tgsp/tgsp.h"
#include "util.h"

#define MiB (1u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *what, double bytes, double secs)
{
	printf("%-46s %9.0f MB/s  (%.0f MB in %.2f s)\n", what, bytes / secs / 1e6, bytes / 1e6,
	       secs);
}

/* bf16 weights: a narrow exponent range and noisy mantissas, which deflate
 * shrinks by some 15-25% like real checkpoints. */
static void model_like(uint8_t *d, size_t n)
{
	uint32_t x = 12345;

	for (size_t i = 0; i + 1 < n; i += 2) {
		x = x * 1103515245u + 12345u;
		d[i] = (uint8_t)(x >> 16);
		d[i + 1] = (uint8_t)(0x3c + ((x >> 27) & 3) + ((x >> 8) & 0x80));
	}
}

static void bench_frames(void)
{
	struct ctfs_tgsp_frame_key k;
	uint8_t dek[32], tag[16], *buf = malloc(CTFS_TGSP_FRAME), *ct = malloc(CTFS_TGSP_FRAME);
	double t0, done = 0;
	uint64_t i = 0;

	randombytes_buf(dek, sizeof(dek));
	randombytes_buf(k.nonce_base, sizeof(k.nonce_base));
	memset(k.aad_prefix, 'a', sizeof(k.aad_prefix));
	k.dek = dek;
	randombytes_buf(buf, CTFS_TGSP_FRAME);
	t0 = now();
	while (now() - t0 < 2.0) {
		if (ctfs_tgsp_frame_seal(&k, i++ & 7, buf, CTFS_TGSP_FRAME, ct, tag))
			abort();
		done += CTFS_TGSP_FRAME;
	}
	report("frame seal (4 MiB frames)", done, now() - t0);
	ctfs_tgsp_frame_seal(&k, 3, buf, CTFS_TGSP_FRAME, ct, tag);
	done = 0;
	t0 = now();
	while (now() - t0 < 2.0) {
		if (ctfs_tgsp_frame_open(&k, 3, ct, CTFS_TGSP_FRAME, buf, tag))
			abort();
		done += CTFS_TGSP_FRAME;
	}
	report("frame open: decrypt + verify (4 MiB frames)", done, now() - t0);
	free(buf);
	free(ct);
}

static void bench_hash(void)
{
	uint8_t *buf = malloc(MiB), d[32];
	struct ctfs_sha256_ctx *md = NULL;
	double t0 = now(), done = 0;

	if (!buf || ctfs_sha256_new(&md)) {
		free(buf);
		return;
	}
	randombytes_buf(buf, MiB);
	while (now() - t0 < 1.0 && !ctfs_sha256_update(md, buf, MiB))
		done += MiB;
	if (!ctfs_sha256_final(md, d))
		report("payload hash (SHA-256, 1 MiB reads)", done, now() - t0);
	ctfs_sha256_free(md);
	free(buf);
}

static void zlib_once(const uint8_t *c, size_t clen, uint8_t *out, size_t n)
{
	z_stream is = { 0 };

	inflateInit2(&is, 31);
	is.next_in = (Bytef *)(uintptr_t)c;
	is.avail_in = (uInt)clen;
	is.next_out = out;
	is.avail_out = (uInt)n;
	if (inflate(&is, Z_FINISH) != Z_STREAM_END)
		abort();
	inflateEnd(&is);
}

/* ISA-L's streaming inflater, as gzindex.c drives it (one call here) */
static void isal_once(const uint8_t *c, size_t clen, uint8_t *out, size_t n)
{
	static struct inflate_state st;

	isal_inflate_init(&st);
	st.crc_flag = ISAL_GZIP;
	st.next_in = (uint8_t *)(uintptr_t)c;
	st.avail_in = (uint32_t)clen;
	st.next_out = out;
	st.avail_out = (uint32_t)n;
	if (isal_inflate(&st) != ISAL_DECOMP_OK || st.block_state != ISAL_BLOCK_FINISH)
		abort();
}

/* Both inflaters on the same gzip stream, one after the other, a few
 * times each: the figures that chose ISA-L (gzindex.h). */
static void bench_inflate(const char *what, const uint8_t *plain, size_t n)
{
	uLong cap = compressBound(n) + 64;
	uint8_t *c = malloc(cap), *out = malloc(n);
	z_stream zs = { 0 };
	double t[2] = { 0, 0 }, ratio;
	int reps = 0;

	deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)(uintptr_t)plain;
	zs.avail_in = (uInt)n;
	zs.next_out = c;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	ratio = (double)zs.total_out / (double)n;
	cap = zs.total_out;
	deflateEnd(&zs);
	do {
		double t0 = now();

		zlib_once(c, cap, out, n);
		t[0] += now() - t0;
		t0 = now();
		isal_once(c, cap, out, n);
		t[1] += now() - t0;
		reps++;
	} while (t[0] + t[1] < 3.0);
	{
		char label[80];

		snprintf(label, sizeof(label), "inflate zlib, %s (ratio %.2f)", what, ratio);
		report(label, (double)n * reps, t[0]);
		snprintf(label, sizeof(label), "inflate ISA-L, %s (ratio %.2f)", what, ratio);
		report(label, (double)n * reps, t[1]);
	}
	free(c);
	free(out);
}

static int noop_sink(void *arg, const uint8_t *d, size_t n, char *err, size_t errlen)
{
	(void)arg, (void)d, (void)n, (void)err, (void)errlen;
	return 0;
}

static void *mctx_new(void *arg)
{
	(void)arg;
	return malloc(1);
}

static void mctx_free(void *arg, void *ctx)
{
	(void)arg;
	free(ctx);
}

static int mfetch(void *arg, void *ctx, uint64_t off, const uint8_t **p, size_t *n)
{
	const struct ctfs_buf *b = arg;

	(void)ctx;
	*p = b->data + off;
	*n = b->len - off;
	return 0;
}

/* Random 4 KiB reads: what each costs with an access point every 4 MiB. */
static void bench_random_reads(const uint8_t *plain, size_t n)
{
	struct ctfs_buf c = { 0 };
	uLong cap = compressBound(n) + 64;
	struct ctfs_gz_source src = { &c, 0, mctx_new, mctx_free, mfetch };
	struct ctfs_gzindex *ix = NULL;
	uint8_t buf[4096];
	z_stream zs = { 0 };
	double t0;
	int reads = 0;
	char err[200];

	c.data = malloc(cap);
	deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)(uintptr_t)plain;
	zs.avail_in = (uInt)n;
	zs.next_out = c.data;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	c.len = src.size = zs.total_out;
	deflateEnd(&zs);
	t0 = now();
	if (ctfs_gzindex_build(&src, 0, 1, noop_sink, NULL, &ix, err, sizeof(err)))
		abort();
	report("gzip index build pass (model-like)", (double)n, now() - t0);
	t0 = now();
	while (now() - t0 < 1.5) {
		if (ctfs_gzindex_read(ix, buf, sizeof(buf), randombytes_uniform((uint32_t)(n - 4096))) !=
		    (ssize_t)sizeof(buf))
			abort();
		reads++;
	}
	printf("%-46s %9.2f ms each (%zu points, %zu KiB of index)\n",
	       "random 4 KiB read, cold cursor", (now() - t0) * 1e3 / reads,
	       ctfs_gzindex_points(ix), ctfs_gzindex_bytes(ix) >> 10);
	ctfs_gzindex_free(ix);
	free(c.data);
}

static int give_key(void *arg, const char *rid, struct ctfs_tgsp_enc_sec **key)
{
	(void)rid;
	*key = ctfs_secure_alloc(sizeof(**key));
	if (!*key)
		return -ENOMEM;
	memcpy(*key, arg, sizeof(**key));
	return 0;
}

/* Build a package of one model-like file, open it, read it sequentially. */
static void bench_package(const uint8_t *plain, size_t n)
{
	char dir[] = "/tmp/bench_tgsp-XXXXXX", tree[64], file[96], pkg[64], err[512] = "";
	struct ctfs_tgsp_sign_pub spub;
	struct ctfs_tgsp_sign_sec *ssec;
	struct ctfs_tgsp_enc_pub epub;
	struct ctfs_tgsp_enc_sec *esec;
	struct ctfs_tgsp_trust trust = { 0 };
	struct ctfs_tgsp *p = NULL;
	const char *ids[] = { "bench" };
	uint8_t *buf = malloc(MiB);
	double t0;
	int fd;

	if (!mkdtemp(dir) || ctfs_tgsp_sign_keygen(&spub, &ssec) || ctfs_tgsp_enc_keygen(&epub, &esec) ||
	    ctfs_tgsp_trust_add(&trust, &spub, NULL, "bench"))
		abort();
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(file, sizeof(file), "%s/model.safetensors", tree);
	snprintf(pkg, sizeof(pkg), "%s/m.tgsp", dir);
	mkdir(tree, 0755);
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || ctfs_write_full(fd, plain, n))
		abort();
	close(fd);
	{
		struct ctfs_tgsp_build_opts bo = {
			.dir = tree, .signer_pub = &spub, .signer_sec = ssec, .key_id = "b",
			.recipients = &epub, .recipient_ids = ids, .n_recipients = 1,
			.model_name = "m", .model_version = "1", .author_id = "bench",
		};

		fd = open(pkg, O_RDWR | O_CREAT, 0644);
		t0 = now();
		if (fd < 0 || ctfs_tgsp_build(fd, &bo, err, sizeof(err))) {
			fprintf(stderr, "build: %s\n", err);
			abort();
		}
		report("build: tar + deflate + seal + sign", (double)n, now() - t0);
	}
	{
		struct ctfs_tgsp_open_opts oo = { &trust, NULL, time(NULL), give_key, esec, NULL, 0 };
		const struct ctfs_tar_entry *e;
		uint64_t off = 0;

		t0 = now();
		if (ctfs_tgsp_open(fd, pkg, &oo, &p, err, sizeof(err))) {
			fprintf(stderr, "open: %s\n", err);
			abort();
		}
		report("open: checks, payload hash, index pass", (double)n, now() - t0);
		e = ctfs_tar_lookup(ctfs_tgsp_index(p), "model.safetensors");
		t0 = now();
		while (off < e->size) {
			ssize_t k = ctfs_tgsp_read(p, e, buf, MiB, off);

			if (k <= 0)
				abort();
			off += (uint64_t)k;
		}
		report("sequential read through the library (1 MiB)", (double)n, now() - t0);
	}
	ctfs_tgsp_close(p);
	close(fd);
	unlink(pkg);
	unlink(file);
	rmdir(tree);
	rmdir(dir);
	ctfs_secure_free(ssec);
	ctfs_secure_free(esec);
	ctfs_tgsp_trust_free(&trust);
	free(buf);
}

int main(int argc, char **argv)
{
	size_t n = (size_t)(argc > 1 ? atoi(argv[1]) : 256) * MiB;
	uint8_t *model = malloc(n), *rnd = malloc(64 * MiB);

	if (ctfs_secmem_init() || !model || !rnd)
		return 1;
	model_like(model, n);
	randombytes_buf(rnd, 64 * MiB);
	bench_frames();
	bench_hash();
	bench_inflate("model-like bf16", model, 64 * MiB);
	bench_inflate("incompressible", rnd, 64 * MiB);
	bench_random_reads(model, 64 * MiB);
	bench_package(model, n);
	free(model);
	free(rnd);
	return 0;
}
