/* libFuzzer: the gzip random-access index, and the tar index fed by it as a
 * TGSP package feeds it. Input: 2 bytes choosing the read pattern, then a
 * gzip stream (served in small uneven pieces, as the TGSP frames are). When
 * the index builds, every read must return what a plain one-pass inflate of
 * the stream gives (zlib: an independent inflater), whatever the offset, with
 * or without the workers that inflate ahead (bit 6 of the second byte). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "archive/gzindex.h"
#include "archive/tar_index.h"

#define MAX_OUT (4u << 20)	/* bounded work per input */

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

struct src {
	const uint8_t *d;
	size_t n;
	size_t piece;
};

static void *ctx_new(void *arg)
{
	static int dummy;

	(void)arg;
	return &dummy;
}

static void ctx_free(void *arg, void *ctx)
{
	(void)arg;
	(void)ctx;
}

static int fetch(void *arg, void *ctx, uint64_t off, const uint8_t **p, size_t *n)
{
	struct src *s = arg;
	size_t left;

	(void)ctx;
	if (off >= s->n)
		return -5;
	left = s->n - (size_t)off;
	*p = s->d + off;
	*n = left < s->piece ? left : s->piece;
	return 0;
}

struct total {
	uint64_t n;
	struct ctfs_tar_parser *tar;
	int tar_rc;
};

static int sink(void *arg, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct total *t = arg;

	(void)err;
	(void)errlen;
	t->n += len;
	if (!t->tar_rc) {
		char terr[256];

		t->tar_rc = ctfs_tar_parser_feed(t->tar, data, len, terr, sizeof(terr));
	}
	return t->n > MAX_OUT ? -74 : 0;	/* -EBADMSG: too much output */
}

/* The reference: zlib's own multi-member gunzip, bounded. */
static uint8_t *reference(const uint8_t *d, size_t n, size_t *out_len)
{
	static uint8_t out[MAX_OUT];
	z_stream zs = { 0 };
	int ret = Z_OK;

	if (inflateInit2(&zs, 31) != Z_OK)
		return NULL;
	zs.next_in = (uint8_t *)d;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = MAX_OUT;
	while (zs.avail_in && ret == Z_OK) {
		ret = inflate(&zs, Z_NO_FLUSH);
		if (ret == Z_STREAM_END && zs.avail_in) {
			ret = inflateReset(&zs) == Z_OK ? Z_OK : Z_DATA_ERROR;
		}
	}
	*out_len = (size_t)(MAX_OUT - zs.avail_out);
	inflateEnd(&zs);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct src s;
	struct ctfs_gz_source src = { &s, 0, ctx_new, ctx_free, fetch };
	struct ctfs_gzindex *ix = NULL;
	struct total t = { 0 };
	uint8_t *ref, *buf;
	size_t ref_len, step;
	char err[256];

	if (n < 3)
		return 0;
	step = (size_t)d[0] * 37 + 1;
	s.piece = (size_t)d[1] % 64 + 1;
	s.d = d + 2;
	s.n = n - 2;
	src.size = s.n;
	if (ctfs_tar_parser_new(&t.tar))
		abort();
	/* small spans, many points; a span still fits the fuzz builds' ring */
	if (ctfs_gzindex_build(&src, 32768, 4, sink, &t, &ix, err, sizeof(err))) {
		ctfs_tar_parser_free(t.tar);
		return 0;
	}
	if (!t.tar_rc) {
		struct ctfs_tar_index *tix = NULL;

		if (!ctfs_tar_parser_finish(t.tar, &tix, err, sizeof(err)))
			ctfs_tar_index_free(tix);
	}
	ctfs_tar_parser_free(t.tar);
	ref = reference(s.d, s.n, &ref_len);
	buf = malloc(8192);
	if (!ref || !buf)
		abort();
	/* the reads below are sequential: with workers, spans are inflated
	 * ahead on other threads, and must give the same bytes */
	ctfs_gzindex_set_workers(ix, d[1] & 64 ? CTFS_GZINDEX_WORKERS : 0);
	if (ctfs_gzindex_size(ix) != t.n || ref_len != t.n)
		abort();	/* the index and zlib agree on the length */
	for (uint64_t off = 0; off < t.n; off += step) {
		size_t want = t.n - off < 8192 ? (size_t)(t.n - off) : 8192;
		ssize_t got = ctfs_gzindex_read(ix, buf, want, off);

		if (got != (ssize_t)want || memcmp(buf, ref + off, want))
			abort();
	}
	free(buf);
	ctfs_gzindex_free(ix);
	return 0;
}
