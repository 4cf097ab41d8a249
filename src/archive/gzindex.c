#include "archive/gzindex.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "crypto/plainbuf.h"
#include "util.h"

/* Each cursor keeps the last RING bytes it inflated: the kernel reads ahead
 * with several requests at once (up to some 8 MiB ahead with ctfs's 4 MiB
 * readahead), which FUSE threads serve out of order; a request just behind
 * a cursor is then copied, not inflated again from an access point. */
#ifdef CTFS_GZINDEX_RING
#define RING CTFS_GZINDEX_RING	/* fuzz builds: small, so it wraps often */
#else
#define RING (8u << 20)
#endif
#define BUILD_STEP (256u << 10)
#define GZIP_BITS 31		/* zlib: gzip wrapper, 32 KiB window */
#define RAW_BITS (-15)		/* zlib: raw deflate, 32 KiB window */
#define TRAILER 8		/* gzip member trailer: CRC-32, ISIZE */

struct point {
	uint64_t out;		/* uncompressed offset */
	uint64_t in;		/* compressed offset of the first whole byte */
	unsigned int bits;	/* bits of the byte before `in` still to read */
	unsigned int wlen;
	uint8_t *window;	/* CTFS_GZINDEX_WINDOW bytes, wlen used */
};

struct cursor {
	z_stream zs;
	bool init;		/* zs set up */
	bool valid;		/* in / out describe where zs is */
	bool raw;		/* restarted at a point: no gzip wrapper in view */
	bool eof;
	bool fetch_failed;	/* the last error came from the source */
	uint64_t in;		/* compressed offset of zs.next_in */
	uint64_t out;		/* uncompressed offset of the next byte out */
	void *ctx;
	uint8_t *ring;		/* RING bytes; byte at offset o is ring[o % RING] */
	uint64_t hist;		/* how many bytes before out the ring holds */
	bool busy;
	uint64_t next_out;	/* where it will be when the current read ends */
	uint64_t used;
};

struct ctfs_gzindex {
	struct ctfs_gz_source src;
	uint64_t span;
	uint64_t total;
	struct point *pt;
	size_t n_pt, cap_pt;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	uint64_t tick;
	unsigned int n_cur;
	struct cursor cur[];
};

/* --- one cursor ---------------------------------------------------------- */

static int cursor_setup(struct ctfs_gzindex *ix, struct cursor *c)
{
	if (!c->ctx) {
		c->ctx = ix->src.ctx_new(ix->src.arg);
		if (!c->ctx)
			return -ENOMEM;
	}
	if (!c->ring) {
		c->ring = ctfs_plain_alloc(RING);
		if (!c->ring)
			return -ENOMEM;
	}
	if (!c->init) {
		memset(&c->zs, 0, sizeof(c->zs));
		c->zs.zalloc = ctfs_z_alloc;
		c->zs.zfree = ctfs_z_free;
		if (inflateInit2(&c->zs, GZIP_BITS) != Z_OK)
			return -ENOMEM;
		c->init = true;
	}
	return 0;
}

static void cursor_release(struct ctfs_gzindex *ix, struct cursor *c)
{
	if (c->init)
		inflateEnd(&c->zs);
	if (c->ctx)
		ix->src.ctx_free(ix->src.arg, c->ctx);
	ctfs_plain_free(c->ring, RING);
	c->init = c->valid = false;
	c->ctx = NULL;
	c->ring = NULL;
}

static int restart_at_start(struct cursor *c)
{
	if (inflateReset2(&c->zs, GZIP_BITS) != Z_OK)
		return -EIO;
	c->zs.avail_in = 0;
	c->in = c->out = c->hist = 0;
	c->raw = c->eof = false;
	c->valid = true;
	return 0;
}

static int restart_at(struct ctfs_gzindex *ix, struct cursor *c, const struct point *pt)
{
	c->valid = false;
	if (inflateReset2(&c->zs, RAW_BITS) != Z_OK)
		return -EIO;
	if (pt->bits) {
		const uint8_t *p;
		size_t n;
		int rc = ix->src.fetch(ix->src.arg, c->ctx, pt->in - 1, &p, &n);

		if (rc)
			return rc;
		if (inflatePrime(&c->zs, (int)pt->bits, p[0] >> (8 - pt->bits)) != Z_OK)
			return -EIO;
	}
	if (pt->wlen && inflateSetDictionary(&c->zs, pt->window, pt->wlen) != Z_OK)
		return -EIO;
	c->zs.avail_in = 0;
	c->in = pt->in;
	c->out = pt->out;
	c->hist = 0;
	c->raw = true;
	c->eof = false;
	c->valid = true;
	return 0;
}

/* After a member's end: skip the trailer a raw inflate leaves unread, then
 * expect the next member's header, or the end of the stream. */
static int member_end(struct ctfs_gzindex *ix, struct cursor *c)
{
	if (c->raw) {
		c->zs.avail_in = 0;	/* refetch past the trailer */
		if (ctfs_add_overflow(c->in, TRAILER, &c->in) || c->in > ix->src.size)
			return -EBADMSG;
	}
	if (c->in == ix->src.size) {
		c->eof = true;
		return 0;
	}
	if (inflateReset2(&c->zs, GZIP_BITS) != Z_OK)
		return -EIO;
	c->raw = false;
	return 0;
}

/* One call to inflate into dst[0..cap), refilling the input first.
 * *ret is zlib's verdict (Z_OK, Z_STREAM_END, Z_BUF_ERROR...). */
static int step(struct ctfs_gzindex *ix, struct cursor *c, uint8_t *dst, size_t cap, int flush,
		size_t *produced, int *ret)
{
	uInt in_before, out_cap = cap > UINT_MAX ? UINT_MAX : (uInt)cap;

	*produced = 0;
	c->fetch_failed = false;
	/* at the end of the input inflate may still have output pending */
	if (!c->zs.avail_in && c->in < ix->src.size) {
		const uint8_t *p;
		size_t n;
		int rc;

		rc = ix->src.fetch(ix->src.arg, c->ctx, c->in, &p, &n);
		if (!rc && (!n || n > ix->src.size - c->in))
			rc = -EIO;
		if (rc) {
			c->fetch_failed = true;
			return rc;
		}
		c->zs.next_in = (Bytef *)(uintptr_t)p;
		c->zs.avail_in = n > UINT_MAX ? UINT_MAX : (uInt)n;
	}
	in_before = c->zs.avail_in;
	c->zs.next_out = dst;
	c->zs.avail_out = out_cap;
	*ret = inflate(&c->zs, flush);
	c->in += in_before - c->zs.avail_in;
	*produced = out_cap - c->zs.avail_out;
	c->out += *produced;
	switch (*ret) {
	case Z_STREAM_END:
		return member_end(ix, c);
	case Z_OK:
		return 0;
	case Z_BUF_ERROR:	/* no progress: more input needed */
		if (c->zs.avail_in)
			return -EIO;
		return c->in >= ix->src.size ? -EBADMSG : 0;	/* stops mid-member */
	default:
		return -EBADMSG;
	}
}

/* Inflate up to want bytes at the cursor's position into its ring (less at
 * the ring's end); *got is 0 only at the end of the stream. */
static int produce(struct ctfs_gzindex *ix, struct cursor *c, size_t want, int flush,
		   size_t *got, int *ret)
{
	size_t at = (size_t)(c->out % RING);
	int rc;

	if (want > RING - at)
		want = RING - at;
	rc = step(ix, c, c->ring + at, want, flush, got, ret);
	c->hist = c->hist + *got > RING ? RING : c->hist + *got;
	return rc;
}

/* Bytes [off, off + len) from a cursor with off >= out - hist: copied from
 * its ring, inflating forward as needed. */
static int serve(struct ctfs_gzindex *ix, struct cursor *c, uint8_t *buf, size_t len,
		 uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		uint64_t pos = off + done;
		size_t got;
		int ret, rc;

		if (pos < c->out) {
			size_t at = (size_t)(pos % RING), k = len - done;

			if (k > c->out - pos)
				k = (size_t)(c->out - pos);
			if (k > RING - at)
				k = RING - at;
			memcpy(buf + done, c->ring + at, k);
			done += k;
			continue;
		}
		if (c->eof)
			return -EIO;	/* shorter than the build pass saw */
		/* what lies before pos, then what was asked for */
		rc = produce(ix, c, (size_t)(pos - c->out) + (len - done), Z_NO_FLUSH, &got, &ret);
		if (rc)
			return rc == -EBADMSG ? -EIO : rc;
	}
	return 0;
}

/* --- the build pass ------------------------------------------------------- */

static int add_point(struct ctfs_gzindex *ix, struct cursor *c)
{
	struct point *pt;
	uInt wlen = CTFS_GZINDEX_WINDOW;

	if (ix->n_pt == ix->cap_pt) {
		size_t nc = ix->cap_pt ? ix->cap_pt * 2 : 16;

		pt = realloc(ix->pt, nc * sizeof(*pt));
		if (!pt)
			return -ENOMEM;
		ix->pt = pt;
		ix->cap_pt = nc;
	}
	pt = &ix->pt[ix->n_pt];
	pt->window = ctfs_plain_alloc(CTFS_GZINDEX_WINDOW);
	if (!pt->window)
		return -ENOMEM;
	if (inflateGetDictionary(&c->zs, pt->window, &wlen) != Z_OK) {
		ctfs_plain_free(pt->window, CTFS_GZINDEX_WINDOW);
		return -EIO;
	}
	pt->wlen = wlen;
	pt->out = c->out;
	pt->in = c->in;
	pt->bits = (unsigned int)c->zs.data_type & 7;
	ix->n_pt++;
	return 0;
}

static int build_pass(struct ctfs_gzindex *ix, ctfs_gz_sink sink, void *sink_arg,
		      char *err, size_t errlen)
{
	struct cursor *c = &ix->cur[0];
	uint64_t last = 0;
	int rc = cursor_setup(ix, c);

	if (!rc)
		rc = restart_at_start(c);
	while (!rc && !c->eof) {
		size_t got;
		int ret = Z_OK;

		uint64_t from = c->out;

		rc = produce(ix, c, BUILD_STEP, Z_BLOCK, &got, &ret);
		if (rc == -EBADMSG && !c->fetch_failed) {
			/* zlib's reason first: a bad trailer is found at the
			 * very end of the input, which is not a truncation */
			ctfs_seterr(err, errlen, "corrupt archive: gzip: %s",
				    c->zs.msg ? c->zs.msg :
				    c->in >= ix->src.size ? "stream truncated" : "bad data");
			break;
		}
		if (!rc && got)
			rc = sink(sink_arg, c->ring + from % RING, got, err, errlen);
		/* a block boundary, not the end of the last block of a member */
		if (!rc && ret == Z_OK && (c->zs.data_type & 128) && !(c->zs.data_type & 64) &&
		    c->out - last >= ix->span) {
			rc = add_point(ix, c);
			last = c->out;
		}
	}
	ix->total = c->out;
	c->used = ++ix->tick;
	return rc;
}

int ctfs_gzindex_build(const struct ctfs_gz_source *src, uint64_t span, unsigned int cursors,
		       ctfs_gz_sink sink, void *sink_arg, struct ctfs_gzindex **out,
		       char *err, size_t errlen)
{
	struct ctfs_gzindex *ix;
	int rc;

	if (!cursors)
		cursors = 4;
	if (!src->size) {
		ctfs_seterr(err, errlen, "corrupt archive: empty gzip stream");
		return -EBADMSG;
	}
	ix = calloc(1, sizeof(*ix) + cursors * sizeof(ix->cur[0]));
	if (!ix)
		return -ENOMEM;
	ix->src = *src;
	ix->span = span ? span : CTFS_GZINDEX_SPAN;
	ix->n_cur = cursors;
	if (pthread_mutex_init(&ix->lock, NULL)) {
		free(ix);
		return -ENOMEM;
	}
	if (pthread_cond_init(&ix->idle, NULL)) {
		pthread_mutex_destroy(&ix->lock);
		free(ix);
		return -ENOMEM;
	}
	rc = build_pass(ix, sink, sink_arg, err, errlen);
	if (rc) {
		if (err && !*err)
			ctfs_seterr(err, errlen, "gzip index: %s", strerror(-rc));
		ctfs_gzindex_free(ix);
		return rc;
	}
	*out = ix;
	return 0;
}

/* --- reads ------------------------------------------------------------------ */

/* The last point at or before off; NULL when the start is the best place. */
static const struct point *best_point(const struct ctfs_gzindex *ix, uint64_t off)
{
	size_t lo = 0, hi = ix->n_pt;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->pt[mid].out <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &ix->pt[lo - 1] : NULL;
}

/* Can a cursor at out, holding hist bytes before it, serve off without
 * going back to an access point? 2: off is in its ring; 1: off lies ahead,
 * with no access point closer (floor: the last one at or before off) or
 * at most two spans away: the bytes on the way are those that requests
 * still in flight ask for, and a second cursor would inflate them again. */
static int reach(uint64_t out, uint64_t hist, uint64_t off, uint64_t floor, uint64_t span)
{
	if (off < out)
		return off >= out - hist ? 2 : 0;
	return out >= floor || off - out <= 2 * span ? 1 : 0;
}

/* What reading off costs a cursor at out holding hist bytes before it: 0
 * from its ring, the bytes to inflate on the way, or UINT64_MAX when it
 * would have to go back to an access point. */
static uint64_t cost(uint64_t out, uint64_t hist, uint64_t off, uint64_t floor, uint64_t span)
{
	if (!reach(out, hist, off, floor, span))
		return UINT64_MAX;
	return off < out ? 0 : off - out;
}

/* A cursor for reading at off: the one that gets there with the least
 * inflating. A busy cursor counts with where it will be: the kernel reads
 * ahead with parallel requests, and the next one should wait for the
 * cursor that serves the previous one rather than inflate the same bytes
 * on a second cursor. With no cursor near, the least recently used idle one
 * goes back to an access point. */
static struct cursor *acquire(struct ctfs_gzindex *ix, uint64_t off, size_t len, uint64_t floor)
{
	struct cursor *use;

	pthread_mutex_lock(&ix->lock);
	for (;;) {
		uint64_t idle_cost = UINT64_MAX, busy_cost = UINT64_MAX;
		struct cursor *lru = NULL;

		use = NULL;
		for (unsigned int i = 0; i < ix->n_cur; i++) {
			struct cursor *c = &ix->cur[i];
			uint64_t k;

			if (c->busy) {
				k = cost(c->next_out, RING, off, floor, ix->span);
				busy_cost = k < busy_cost ? k : busy_cost;
				continue;
			}
			k = c->valid ? cost(c->out, c->hist, off, floor, ix->span) : UINT64_MAX;
			if (k < idle_cost) {
				idle_cost = k;
				use = c;
			}
			if (!lru || c->used < lru->used)
				lru = c;
		}
		if (use && idle_cost <= busy_cost)
			break;
		if (!use && lru && busy_cost == UINT64_MAX) {
			use = lru;
			break;
		}
		pthread_cond_wait(&ix->idle, &ix->lock);
	}
	use->busy = true;
	use->next_out = off + len > use->out ? off + len : use->out;
	use->used = ++ix->tick;
	pthread_mutex_unlock(&ix->lock);
	return use;
}

static void put_back(struct ctfs_gzindex *ix, struct cursor *c, bool ok)
{
	pthread_mutex_lock(&ix->lock);
	if (!ok)
		c->valid = false;
	c->busy = false;
	pthread_cond_broadcast(&ix->idle);
	pthread_mutex_unlock(&ix->lock);
}

ssize_t ctfs_gzindex_read(struct ctfs_gzindex *ix, uint8_t *buf, size_t len, uint64_t off)
{
	const struct point *pt;
	struct cursor *c;
	uint64_t floor;
	int rc;

	if (off >= ix->total || !len)
		return 0;
	if (len > ix->total - off)
		len = (size_t)(ix->total - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	pt = best_point(ix, off);
	floor = pt ? pt->out : 0;
	c = acquire(ix, off, len, floor);
	rc = cursor_setup(ix, c);
	if (!rc && (!c->valid || !reach(c->out, c->hist, off, floor, ix->span)))
		rc = pt ? restart_at(ix, c, pt) : restart_at_start(c);
	if (!rc)
		rc = serve(ix, c, buf, len, off);
	put_back(ix, c, rc == 0);
	return rc ? rc : (ssize_t)len;
}

/* --- housekeeping ----------------------------------------------------------- */

uint64_t ctfs_gzindex_size(const struct ctfs_gzindex *ix)
{
	return ix->total;
}

size_t ctfs_gzindex_points(const struct ctfs_gzindex *ix)
{
	return ix->n_pt;
}

size_t ctfs_gzindex_bytes(const struct ctfs_gzindex *ix)
{
	return ix->cap_pt * sizeof(struct point) + ix->n_pt * (size_t)CTFS_GZINDEX_WINDOW;
}

void ctfs_gzindex_trim(struct ctfs_gzindex *ix)
{
	pthread_mutex_lock(&ix->lock);
	for (unsigned int i = 0; i < ix->n_cur; i++) {
		if (!ix->cur[i].busy)
			cursor_release(ix, &ix->cur[i]);
	}
	pthread_mutex_unlock(&ix->lock);
}

void ctfs_gzindex_free(struct ctfs_gzindex *ix)
{
	if (!ix)
		return;
	for (unsigned int i = 0; i < ix->n_cur; i++)
		cursor_release(ix, &ix->cur[i]);
	for (size_t i = 0; i < ix->n_pt; i++)
		ctfs_plain_free(ix->pt[i].window, CTFS_GZINDEX_WINDOW);
	free(ix->pt);
	pthread_cond_destroy(&ix->idle);
	pthread_mutex_destroy(&ix->lock);
	free(ix);
}
