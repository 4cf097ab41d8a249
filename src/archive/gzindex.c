#include "archive/gzindex.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>

#include "crypto/plainbuf.h"
#include "util.h"

/* Each cursor keeps the last RING bytes it inflated: the kernel reads ahead
 * with several requests at once (up to some 8 MiB ahead with ctfs's 4 MiB
 * readahead), which FUSE threads serve out of order; a request just behind
 * a cursor is then copied, not inflated again from an access point. The
 * ring is also where a span inflated ahead (CTFS_GZINDEX_AHEAD) waits for
 * its reader: it holds two spans. */
#ifdef CTFS_GZINDEX_RING
#define RING CTFS_GZINDEX_RING	/* fuzz builds: small, so it wraps often */
#else
#define RING (8u << 20)
#endif
#define BUILD_STEP (256u << 10)
/* An access point is the inflater's whole state (ISA-L's inflate_state: its
 * Huffman tables, bit buffer, running CRC-32 and, in tmp_out_buffer, the
 * history), so a point may sit anywhere, not only at a block boundary. Only
 * the used part of the history buffer is kept. */
#define STATE_HEAD offsetof(struct inflate_state, tmp_out_buffer)

struct point {
	uint64_t out;		/* uncompressed offset */
	uint64_t in;		/* compressed offset of the first byte not in the state */
	size_t len;		/* bytes of snap: STATE_HEAD + the history used */
	uint8_t *snap;		/* plaintext (history): locked, wiped when freed */
};

struct cursor {
	struct inflate_state *st;	/* plaintext in its buffers: plain_alloc */
	bool valid;		/* in / out describe where st is */
	bool eof;
	bool fetch_failed;	/* the last error came from the source */
	int zerr;		/* the inflater's last error code, or ZERR_FLAGS */
	uint64_t in;		/* compressed offset of st->next_in */
	uint64_t member_at;	/* compressed offset of the current member */
	bool flags_seen;	/* its header's FLG byte was checked */
	uint64_t out;		/* uncompressed offset of the next byte out */
	void *ctx;
	uint8_t *ring;		/* RING bytes; byte at offset o is ring[o % RING] */
	uint64_t hist;		/* how many bytes before out the ring holds */
	bool busy;
	uint64_t next_out;	/* where it will be when the current read ends */
	uint64_t used;
	size_t ahead;		/* the span inflated ahead into it (0: none) */
};

struct ctfs_gzindex {
	struct ctfs_gz_source src;
	uint64_t span;
	uint64_t total;
	struct point *pt;
	size_t n_pt, cap_pt;
	pthread_mutex_t lock;
	pthread_cond_t idle;	/* a cursor came back, or work for the workers */
	uint64_t tick;
	/* inflating ahead (all under lock) */
	unsigned int want_workers;	/* CTFS_GZINDEX_WORKERS or as set */
	unsigned int n_workers;		/* started */
	bool stop;
	size_t last_span;	/* span of the last read */
	size_t ahead_next;	/* next span to inflate ahead */
	size_t ahead_upto;	/* inflate ahead up to this span */
	uint64_t ahead_done;	/* spans inflated ahead, for tests */
	pthread_t workers[CTFS_GZINDEX_WORKERS];
	unsigned int n_cur;
	struct cursor cur[];
};

static unsigned int default_workers(unsigned int cursors);

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
	if (!c->st) {
		c->st = ctfs_plain_alloc(sizeof(*c->st));
		if (!c->st)
			return -ENOMEM;
	}
	return 0;
}

static void cursor_release(struct ctfs_gzindex *ix, struct cursor *c)
{
	if (c->ctx)
		ix->src.ctx_free(ix->src.arg, c->ctx);
	ctfs_plain_free(c->ring, RING);
	ctfs_plain_free(c->st, sizeof(*c->st));
	c->valid = false;
	c->ahead = 0;
	c->ctx = NULL;
	c->ring = NULL;
	c->st = NULL;
}

/* RFC 1952 reserves FLG bits 5-7 and has a decoder refuse a member that
 * sets them, as zlib does; ISA-L ignores them, so we check that byte
 * ourselves (ZERR_FLAGS in c->zerr, beside ISA-L's negative codes). */
#define GZ_FLG_AT 3
#define GZ_FLG_RESERVED 0xe0
#define ZERR_FLAGS 1

/* A gzip member from its header: ISA-L parses the header, checks the
 * trailer's CRC-32 and ISIZE at the member's end. */
static void member_start(struct inflate_state *st)
{
	isal_inflate_init(st);
	st->crc_flag = ISAL_GZIP;
}

static void restart_at_start(struct cursor *c)
{
	member_start(c->st);
	c->in = c->out = c->hist = 0;
	c->member_at = 0;
	c->flags_seen = false;
	c->eof = false;
	c->valid = true;
}

static void restart_at(struct cursor *c, const struct point *pt)
{
	memcpy(c->st, pt->snap, pt->len);
	c->st->next_in = NULL;
	c->st->avail_in = 0;
	c->in = pt->in;
	c->out = pt->out;
	c->flags_seen = true;	/* the index pass checked every header */
	c->hist = 0;
	c->eof = false;
	c->valid = true;
}

/* After a member's end (trailer checked): the next member's header, or the
 * end of the stream. The input left over stays in st for the next member. */
static void member_end(struct ctfs_gzindex *ix, struct cursor *c)
{
	uint8_t *next_in = c->st->next_in;
	uint32_t avail_in = c->st->avail_in;

	if (c->in == ix->src.size && !avail_in) {
		c->eof = true;
		return;
	}
	member_start(c->st);
	c->st->next_in = next_in;
	c->st->avail_in = avail_in;
	c->member_at = c->in;
	c->flags_seen = false;
}

/* Before the inflater consumes the current member's FLG byte: 0, or
 * -EBADMSG when it sets reserved bits. */
static int check_flags(struct cursor *c)
{
	uint64_t at = c->member_at + GZ_FLG_AT;

	if (c->flags_seen || at >= c->in + c->st->avail_in)
		return 0;
	c->flags_seen = true;
	/* not a gzip header at all: ISA-L says so in its own words */
	if (c->member_at >= c->in && (c->st->next_in[c->member_at - c->in] != 0x1f ||
				      c->st->next_in[c->member_at - c->in + 1] != 0x8b))
		return 0;
	if (at >= c->in && c->st->next_in[at - c->in] & GZ_FLG_RESERVED) {
		c->zerr = ZERR_FLAGS;
		return -EBADMSG;
	}
	return 0;
}

/* One call to the inflater into dst[0..cap), refilling the input first.
 * -EBADMSG for corrupt or truncated data (c->zerr says why), the source's
 * error (c->fetch_failed), or -EIO for no progress with input at hand. */
static int step(struct ctfs_gzindex *ix, struct cursor *c, uint8_t *dst, size_t cap,
		size_t *produced)
{
	uint32_t in_before, out_cap = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
	int ret;

	*produced = 0;
	c->fetch_failed = false;
	c->zerr = 0;
	/* at the end of the input the inflater may still have output pending */
	if (!c->st->avail_in && c->in < ix->src.size) {
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
		c->st->next_in = (uint8_t *)(uintptr_t)p;
		c->st->avail_in = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	}
	if (check_flags(c))
		return -EBADMSG;
	in_before = c->st->avail_in;
	c->st->next_out = dst;
	c->st->avail_out = out_cap;
	ret = isal_inflate(c->st);
	c->in += in_before - c->st->avail_in;
	*produced = out_cap - c->st->avail_out;
	c->out += *produced;
	if (ret != ISAL_DECOMP_OK) {
		c->zerr = ret;
		return -EBADMSG;
	}
	if (c->st->block_state == ISAL_BLOCK_FINISH) {
		member_end(ix, c);
		return 0;
	}
	if (*produced || in_before != c->st->avail_in)
		return 0;
	if (c->st->avail_in)
		return -EIO;
	return c->in >= ix->src.size ? -EBADMSG : 0;	/* stops mid-member */
}

static const char *zerr_text(const struct cursor *c, uint64_t size)
{
	switch (c->zerr) {
	case ISAL_INVALID_BLOCK:
		return "invalid block";
	case ISAL_INVALID_SYMBOL:
		return "invalid code";
	case ISAL_INVALID_LOOKBACK:
		return "invalid distance too far back";
	case ISAL_INVALID_WRAPPER:
		return "not a gzip member header";
	case ISAL_UNSUPPORTED_METHOD:
		return "unknown compression method";
	case ISAL_INCORRECT_CHECKSUM:
		return "member trailer: CRC-32 or length does not match";
	case ZERR_FLAGS:
		return "gzip header: reserved flag bits set";
	case 0:
		return c->in >= size ? "stream truncated" : "bad data";
	default:
		return "bad data";
	}
}

/* Inflate up to want bytes at the cursor's position into its ring (less at
 * the ring's end); *got is 0 only at the end of the stream. */
static int produce(struct ctfs_gzindex *ix, struct cursor *c, size_t want, size_t *got)
{
	size_t at = (size_t)(c->out % RING);
	int rc;

	if (want > RING - at)
		want = RING - at;
	rc = step(ix, c, c->ring + at, want, got);
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
		int rc;

		if (pos < c->out) {
			size_t at = (size_t)(pos % RING), k = len - done;

			if (k > c->out - pos)
				k = (size_t)(c->out - pos);
			if (k > RING - at)
				k = RING - at;
			if (buf)
				memcpy(buf + done, c->ring + at, k);
			done += k;
			continue;
		}
		if (c->eof)
			return -EIO;	/* shorter than the build pass saw */
		/* what lies before pos, then what was asked for */
		rc = produce(ix, c, (size_t)(pos - c->out) + (len - done), &got);
		if (rc)
			return rc == -EBADMSG ? -EIO : rc;
	}
	return 0;
}

/* --- the build pass ------------------------------------------------------- */

static int add_point(struct ctfs_gzindex *ix, struct cursor *c)
{
	struct point *pt;
	int32_t used = c->st->tmp_out_valid;

	if (used < 0 || (size_t)used > sizeof(c->st->tmp_out_buffer))
		return -EIO;
	if (ix->n_pt == ix->cap_pt) {
		size_t nc = ix->cap_pt ? ix->cap_pt * 2 : 16;

		pt = realloc(ix->pt, nc * sizeof(*pt));
		if (!pt)
			return -ENOMEM;
		ix->pt = pt;
		ix->cap_pt = nc;
	}
	pt = &ix->pt[ix->n_pt];
	pt->len = STATE_HEAD + (size_t)used;
	pt->snap = ctfs_plain_alloc(pt->len);
	if (!pt->snap)
		return -ENOMEM;
	memcpy(pt->snap, c->st, pt->len);
	pt->out = c->out;
	/* the input the state has not taken yet is fetched again on restart */
	pt->in = c->in;
	ix->n_pt++;
	return 0;
}

/* A point is taken between two calls, within a member (at its end the
 * state has nothing left to resume). Where: at the first end of a piece of
 * the source (st->avail_in == 0: the TGSP source's pieces are its frames)
 * after half a span of output, so that a span read later decrypts whole
 * frames and no frame twice; or after a span and a half (a span then still
 * fits a ring), for sources whose pieces inflate to more. */
static bool point_here(const struct ctfs_gzindex *ix, const struct cursor *c, uint64_t last)
{
	uint64_t since = c->out - last;

	if (c->eof || c->st->block_state == ISAL_BLOCK_FINISH || !c->st->wrapper_flag)
		return false;
	return (since >= ix->span / 2 && !c->st->avail_in) || since >= ix->span + ix->span / 2;
}

static int build_pass(struct ctfs_gzindex *ix, ctfs_gz_sink sink, void *sink_arg,
		      char *err, size_t errlen)
{
	struct cursor *c = &ix->cur[0];
	uint64_t last = 0;
	int rc = cursor_setup(ix, c);

	if (!rc)
		restart_at_start(c);
	while (!rc && !c->eof) {
		uint64_t from = c->out;
		size_t got;

		rc = produce(ix, c, BUILD_STEP, &got);
		if (rc == -EBADMSG && !c->fetch_failed) {
			/* the inflater's reason first: a bad trailer is found at
			 * the very end of the input, which is not a truncation */
			ctfs_seterr(err, errlen, "corrupt archive: gzip: %s",
				    zerr_text(c, ix->src.size));
			break;
		}
		if (!rc && got)
			rc = sink(sink_arg, c->ring + from % RING, got, err, errlen);
		if (!rc && point_here(ix, c, last)) {
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
	ix->want_workers = default_workers(cursors);
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

/* The number of points at or before off: the span off lies in. Span d > 0
 * starts at point d - 1; span 0 at the start of the stream. */
static size_t span_of(const struct ctfs_gzindex *ix, uint64_t off)
{
	size_t lo = 0, hi = ix->n_pt;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->pt[mid].out <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t span_end(const struct ctfs_gzindex *ix, size_t d)
{
	return d < ix->n_pt ? ix->pt[d].out : ix->total;
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

/* What reading [off, off + len) costs a cursor at out holding hist bytes
 * before it: the bytes it has to inflate (0: all in its ring), or
 * UINT64_MAX when it would have to go back to an access point. Counting
 * the end of the read, not only its start, makes a reader at the end of
 * its own span take the cursor into which a worker inflated the next one
 * rather than inflate that span a second time. */
static uint64_t cost(uint64_t out, uint64_t hist, uint64_t off, size_t len, uint64_t floor,
		     uint64_t span)
{
	if (!reach(out, hist, off, floor, span))
		return UINT64_MAX;
	return off + len > out ? off + len - out : 0;
}

/* A cursor for reading at off: the one that gets there with the least
 * inflating. A busy cursor counts with where it will be: the kernel reads
 * ahead with parallel requests, and the next one should wait for the
 * cursor that serves the previous one (or inflates the span ahead) rather
 * than inflate the same bytes on a second cursor. With no cursor near, the
 * least recently used idle one goes back to an access point. Called with
 * the lock held. */
static struct cursor *acquire(struct ctfs_gzindex *ix, uint64_t off, size_t len, uint64_t floor)
{
	struct cursor *use;

	for (;;) {
		uint64_t idle_cost = UINT64_MAX, busy_cost = UINT64_MAX;
		struct cursor *lru = NULL;

		use = NULL;
		for (unsigned int i = 0; i < ix->n_cur; i++) {
			struct cursor *c = &ix->cur[i];
			uint64_t k;

			if (c->busy) {
				k = cost(c->next_out, RING, off, len, floor, ix->span);
				busy_cost = k < busy_cost ? k : busy_cost;
				continue;
			}
			k = c->valid ? cost(c->out, c->hist, off, len, floor, ix->span) : UINT64_MAX;
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
	return use;
}

/* A cursor back from a read or a worker; one that failed holds nothing.
 * With the lock held. */
static void put_back_locked(struct ctfs_gzindex *ix, struct cursor *c, bool ok)
{
	if (!ok) {
		c->valid = false;
		c->ahead = 0;
	}
	c->busy = false;
	pthread_cond_broadcast(&ix->idle);
}

static void put_back(struct ctfs_gzindex *ix, struct cursor *c, bool ok)
{
	pthread_mutex_lock(&ix->lock);
	put_back_locked(ix, c, ok);
	pthread_mutex_unlock(&ix->lock);
}

/* --- inflating ahead -------------------------------------------------------- */

/* A sequential reader (this read's span is the last one's or the next)
 * wants the CTFS_GZINDEX_AHEAD spans after it inflated by the workers while
 * it copies the current one. A jump elsewhere stops that until the reads
 * are sequential again. Called with the lock held. */
static void note_read(struct ctfs_gzindex *ix, size_t s)
{
	bool sequential = s == ix->last_span || s == ix->last_span + 1;

	ix->last_span = s;
	if (!sequential || !ix->want_workers)
		return;
	if (ix->ahead_next <= s || ix->ahead_next > s + CTFS_GZINDEX_AHEAD + 1)
		ix->ahead_next = s + 1;
	ix->ahead_upto = s + CTFS_GZINDEX_AHEAD;
	if (ix->ahead_upto > ix->n_pt)
		ix->ahead_upto = ix->n_pt;
	if (ix->ahead_next <= ix->ahead_upto)
		pthread_cond_broadcast(&ix->idle);
}

/* Is span d (> 0) in a cursor's ring, or on its way there? */
static bool covered(const struct ctfs_gzindex *ix, size_t d)
{
	uint64_t start = ix->pt[d - 1].out;

	for (unsigned int i = 0; i < ix->n_cur; i++) {
		const struct cursor *c = &ix->cur[i];

		if (c->ahead == d && (c->busy || c->valid))
			return true;
		if (!c->busy && c->valid && c->out >= span_end(ix, d) && c->out - c->hist <= start)
			return true;
	}
	return false;
}

/* An idle cursor that holds nothing a sequential reader still wants: the
 * least recently used one, not one holding the span before the last one
 * read (the kernel's readahead requests run a span or so ahead of the
 * reader, so the last span read is the reader's front, not its back), that
 * span, or one after it (inflated ahead, not yet read). With the default 4
 * cursors and 2 spans ahead, the one freed is the one two spans behind the
 * front. NULL when there is none. */
static struct cursor *spare_cursor(struct ctfs_gzindex *ix)
{
	struct cursor *lru = NULL;

	for (unsigned int i = 0; i < ix->n_cur; i++) {
		struct cursor *c = &ix->cur[i];

		if (c->busy || (c->valid && c->ahead + 1 >= ix->last_span))
			continue;
		if (!lru || c->used < lru->used)
			lru = c;
	}
	return lru;
}

/* Inflate span d (> 0) from its access point into c's ring. A failure only
 * drops the cursor: the reader that needs the span inflates it again and
 * meets the error itself (the source logs it), so nothing unverified is
 * served and no error is lost. */
static bool fill_span(struct ctfs_gzindex *ix, struct cursor *c, size_t d)
{
	uint64_t end = span_end(ix, d);
	int rc = cursor_setup(ix, c);

	if (!rc) {
		restart_at(c, &ix->pt[d - 1]);
		rc = serve(ix, c, NULL, (size_t)(end - c->out), c->out);
	}
	return rc == 0;
}

/* The next span to inflate ahead and a cursor for it, marked busy; NULL
 * when there is nothing to do or no cursor to spare. With the lock held. */
static struct cursor *claim(struct ctfs_gzindex *ix, size_t *span)
{
	while (ix->ahead_next && ix->ahead_next <= ix->ahead_upto) {
		size_t d = ix->ahead_next;
		struct cursor *c;

		if (covered(ix, d)) {
			ix->ahead_next++;
			continue;
		}
		c = spare_cursor(ix);
		if (!c)
			return NULL;
		ix->ahead_next++;
		c->busy = true;
		c->ahead = d;
		c->next_out = span_end(ix, d);
		c->used = ++ix->tick;
		*span = d;
		return c;
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct ctfs_gzindex *ix = arg;

	pthread_mutex_lock(&ix->lock);
	while (!ix->stop) {
		size_t d = 0;
		struct cursor *c = claim(ix, &d);
		bool ok;

		if (!c) {
			pthread_cond_wait(&ix->idle, &ix->lock);
			continue;
		}
		pthread_mutex_unlock(&ix->lock);
		ok = fill_span(ix, c, d);
		pthread_mutex_lock(&ix->lock);
		if (ok)
			ix->ahead_done++;
		put_back_locked(ix, c, ok);
	}
	pthread_mutex_unlock(&ix->lock);
	return NULL;
}

/* The workers start with the first read that wants a span ahead; without
 * threads, reads work as before. Called with the lock held. */
static void start_workers(struct ctfs_gzindex *ix)
{
	while (ix->n_workers < ix->want_workers && ix->ahead_next <= ix->ahead_upto) {
		if (pthread_create(&ix->workers[ix->n_workers], NULL, worker_main, ix))
			break;
		ix->n_workers++;
	}
}

/* At most CTFS_GZINDEX_WORKERS; a worker needs a cursor of its own and
 * leaves two to the readers. */
static unsigned int fit_workers(unsigned int n, unsigned int cursors)
{
	if (n > CTFS_GZINDEX_WORKERS)
		n = CTFS_GZINDEX_WORKERS;
	return cursors >= n + 2 ? n : cursors > 2 ? cursors - 2 : 0;
}

static unsigned int default_workers(unsigned int cursors)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	/* one core: nothing runs beside the reader */
	if (cpus < 2)
		return 0;
	return fit_workers(cpus > UINT_MAX ? UINT_MAX : (unsigned int)cpus, cursors);
}

void ctfs_gzindex_set_workers(struct ctfs_gzindex *ix, unsigned int workers)
{
	pthread_mutex_lock(&ix->lock);
	ix->want_workers = fit_workers(workers, ix->n_cur);
	pthread_mutex_unlock(&ix->lock);
}

int ctfs_gzindex_set_source(struct ctfs_gzindex *ix, const struct ctfs_gz_source *src)
{
	int rc = 0;

	if (src->size != ix->src.size)
		return -EINVAL;
	pthread_mutex_lock(&ix->lock);
	for (unsigned int i = 0; i < ix->n_cur; i++) {
		if (ix->cur[i].busy)
			rc = -EBUSY;
	}
	for (unsigned int i = 0; !rc && i < ix->n_cur; i++) {
		struct cursor *c = &ix->cur[i];

		if (c->ctx)
			ix->src.ctx_free(ix->src.arg, c->ctx);
		c->ctx = NULL;
		/* the input it holds came from the old source */
		if (c->st && c->st->avail_in)
			c->valid = false;
	}
	if (!rc)
		ix->src = *src;
	pthread_mutex_unlock(&ix->lock);
	return rc;
}

/* Bytes [off, off + len) within span s. A cursor that has to inflate
 * claims the span (ahead = s), so that no worker inflates it a second time;
 * one that holds it already (a worker's) is only copied from. */
static int read_in_span(struct ctfs_gzindex *ix, uint8_t *buf, size_t len, uint64_t off,
			size_t s)
{
	const struct point *pt = s ? &ix->pt[s - 1] : NULL;
	uint64_t floor = pt ? pt->out : 0;
	struct cursor *c;
	bool restart;
	int rc;

	pthread_mutex_lock(&ix->lock);
	note_read(ix, s);
	start_workers(ix);
	c = acquire(ix, off, len, floor);
	restart = !c->valid || !reach(c->out, c->hist, off, floor, ix->span);
	if (restart || off + len > c->out)
		c->ahead = s;
	pthread_mutex_unlock(&ix->lock);
	rc = cursor_setup(ix, c);
	if (!rc && restart) {
		if (pt)
			restart_at(c, pt);
		else
			restart_at_start(c);
	}
	if (!rc)
		rc = serve(ix, c, buf, len, off);
	put_back(ix, c, rc == 0);
	return rc;
}

/* A read is served span by span: each piece then comes from the cursor
 * that holds (or inflates) that span, and a reader at the end of a span
 * does not inflate the start of the next one that a worker holds. */
ssize_t ctfs_gzindex_read(struct ctfs_gzindex *ix, uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	if (off >= ix->total || !len)
		return 0;
	if (len > ix->total - off)
		len = (size_t)(ix->total - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		uint64_t at = off + done;
		size_t s = span_of(ix, at), piece = len - done;
		int rc;

		if (piece > span_end(ix, s) - at)
			piece = (size_t)(span_end(ix, s) - at);
		rc = read_in_span(ix, buf + done, piece, at, s);
		if (rc)
			return rc;
		done += piece;
	}
	return (ssize_t)len;
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
	size_t n = ix->cap_pt * sizeof(struct point);

	for (size_t i = 0; i < ix->n_pt; i++)
		n += ix->pt[i].len;
	return n;
}

uint64_t ctfs_gzindex_ahead_spans(struct ctfs_gzindex *ix)
{
	uint64_t n;

	pthread_mutex_lock(&ix->lock);
	n = ix->ahead_done;
	pthread_mutex_unlock(&ix->lock);
	return n;
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
	pthread_mutex_lock(&ix->lock);
	ix->stop = true;
	pthread_cond_broadcast(&ix->idle);
	pthread_mutex_unlock(&ix->lock);
	for (unsigned int i = 0; i < ix->n_workers; i++)
		pthread_join(ix->workers[i], NULL);
	for (unsigned int i = 0; i < ix->n_cur; i++)
		cursor_release(ix, &ix->cur[i]);
	for (size_t i = 0; i < ix->n_pt; i++)
		ctfs_plain_free(ix->pt[i].snap, ix->pt[i].len);
	free(ix->pt);
	pthread_cond_destroy(&ix->idle);
	pthread_mutex_destroy(&ix->lock);
	free(ix);
}
