#include "gzindex.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "plainbuf.h"
#include "util.h"

#define SCRATCH (64u << 10)
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
	uint8_t *scratch;
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
	if (!c->scratch) {
		c->scratch = ctfs_plain_alloc(SCRATCH);
		if (!c->scratch)
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
	ctfs_plain_free(c->scratch, SCRATCH);
	c->init = c->valid = false;
	c->ctx = NULL;
	c->scratch = NULL;
}

static int restart_at_start(struct cursor *c)
{
	if (inflateReset2(&c->zs, GZIP_BITS) != Z_OK)
		return -EIO;
	c->zs.avail_in = 0;
	c->in = c->out = 0;
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

/* Up to len bytes from the cursor's position into dst (NULL: thrown away). */
static ssize_t pump(struct ctfs_gzindex *ix, struct cursor *c, uint8_t *dst, size_t len)
{
	size_t done = 0;

	while (done < len && !c->eof) {
		size_t want = len - done, got;
		int ret, rc;

		if (!dst && want > SCRATCH)
			want = SCRATCH;
		rc = step(ix, c, dst ? dst + done : c->scratch, want, Z_NO_FLUSH, &got, &ret);
		if (rc)
			return rc == -EBADMSG ? -EIO : rc;
		done += got;
	}
	return (ssize_t)done;
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

		rc = step(ix, c, c->scratch, SCRATCH, Z_BLOCK, &got, &ret);
		if (rc == -EBADMSG && !c->fetch_failed) {
			ctfs_seterr(err, errlen, "corrupt archive: gzip: %s",
				    c->in >= ix->src.size ? "stream truncated" :
				    c->zs.msg ? c->zs.msg : "bad data");
			break;
		}
		if (!rc && got)
			rc = sink(sink_arg, c->scratch, got, err, errlen);
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

/* A cursor for reading at off: preferably one that is already just before
 * off, or one that soon will be (the kernel reads ahead in parallel: the
 * next request must not restart from a point while the cursor that holds
 * its position is busy with the previous one); else the least recently used. */
static struct cursor *acquire(struct ctfs_gzindex *ix, uint64_t off, size_t len, uint64_t floor)
{
	struct cursor *use;

	pthread_mutex_lock(&ix->lock);
	for (;;) {
		struct cursor *lru = NULL;
		bool worth_waiting = false;

		use = NULL;
		for (unsigned int i = 0; i < ix->n_cur; i++) {
			struct cursor *c = &ix->cur[i];

			if (c->busy) {
				if (c->next_out <= off && c->next_out >= floor &&
				    off - c->next_out <= ix->span)
					worth_waiting = true;
				continue;
			}
			if (c->valid && c->out <= off && c->out >= floor && (!use || c->out > use->out))
				use = c;
			if (!lru || c->used < lru->used)
				lru = c;
		}
		if (use || (lru && !worth_waiting)) {
			use = use ? use : lru;
			break;
		}
		pthread_cond_wait(&ix->idle, &ix->lock);
	}
	use->busy = true;
	use->next_out = off + len;
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
	ssize_t n = 0;
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
	if (!rc && (!c->valid || c->out > off || c->out < floor))
		rc = pt ? restart_at(ix, c, pt) : restart_at_start(c);
	while (!rc && c->out < off) {
		n = pump(ix, c, NULL, off - c->out);
		if (n < 0)
			rc = (int)n;
		else if (n == 0)
			rc = -EIO;	/* ended before the length the build pass saw */
	}
	if (!rc) {
		n = pump(ix, c, buf, len);
		if (n < 0)
			rc = (int)n;
		else if ((size_t)n != len)
			rc = -EIO;
	}
	put_back(ix, c, rc == 0);
	return rc ? rc : n;
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
