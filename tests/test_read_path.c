/* The read path without a mount: the range map (every byte of small views
 * classified against a brute-force model, for v1 and v2 layouts) and the v1
 * random-access reader (reads match the plaintext; tampering is caught). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include "crypto/aead.h"
#include "crypto/secmem.h"
#include "ct/crypto_entries.h"
#include "ct/range_map.h"
#include "ct/read_front.h"
#include "ct/v1_reader.h"
#include "safetensors/safetensors.h"
#include "tap.h"
#include "util.h"

/* ---- the range map -------------------------------------------------------- */

#define CS 64		/* v2 chunk size of the test layouts */
#define HLEN 40		/* view header length */
#define NT 5

/* Tensors in file order, deliberately not in data order; one is empty. */
static const struct { uint64_t begin, end; bool enc; } layout[NT] = {
	{ 100, 100 + 3 * CS + 5, true },	/* 3 full chunks and a short one */
	{ 0, 100, false },			/* plaintext */
	{ 297, 297, true },			/* empty */
	{ 297, 297 + CS, true },		/* exactly one chunk */
	{ 297 + CS, 297 + CS + 7, false },
};

struct fixture {
	struct ctfs_st_header h;
	struct ctfs_ct_info ci;
	struct ctfs_tensor t[NT];
	struct ctfs_ct_tensor ct[NT];
	size_t order[NT];
};

static void fixture_init(struct fixture *f, int version)
{
	static const size_t order[NT] = { 1, 0, 2, 3, 4 };

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < NT; i++) {
		f->t[i].begin = layout[i].begin;
		f->t[i].end = layout[i].end;
		f->ct[i].encrypted = layout[i].enc;
		f->order[i] = order[i];
	}
	f->h.header_len = 1000;
	f->h.data_start = 1008;
	f->h.data_len = layout[4].end;
	f->h.n_tensors = NT;
	f->h.tensors = f->t;
	f->h.order = f->order;
	f->ci.version = version;
	f->ci.chunk_size = CS;
	f->ci.n_tensors = NT;
	f->ci.tensors = f->ct;
}

/* What byte p of the view is, by brute force. */
static struct ctfs_seg expect_byte(const struct fixture *f, uint64_t p)
{
	struct ctfs_seg s = { 0 };
	uint64_t d;

	if (p < HLEN) {
		s.kind = CTFS_SEG_HEADER;
		s.off = p;
		return s;
	}
	d = p - HLEN;
	for (size_t i = 0; i < NT; i++) {
		if (d < f->t[i].begin || d >= f->t[i].end)
			continue;
		s.tensor = i;
		if (!f->ct[i].encrypted) {
			s.kind = CTFS_SEG_PLAIN;
			s.off = f->h.data_start + d;
		} else if (f->ci.version == 1) {
			s.kind = CTFS_SEG_STREAM;
			s.off = d - f->t[i].begin;
		} else {
			s.kind = CTFS_SEG_CHUNK;
			s.chunk = (d - f->t[i].begin) / CS;
			s.off = (d - f->t[i].begin) % CS;
		}
		return s;
	}
	abort();	/* the layout has no holes */
}

struct walk {
	const struct fixture *f;
	uint64_t start;		/* view offset of the request */
	size_t want;		/* bytes the request covers once clamped */
	size_t next_buf;	/* where the next segment must start */
	int bad;
	int stop_after;		/* return -EXDEV from this call on (0: never) */
	int calls;
};

static int check_seg(void *arg, const struct ctfs_seg *s)
{
	struct walk *w = arg;

	w->calls++;
	if (w->stop_after && w->calls >= w->stop_after)
		return -EXDEV;
	/* (an empty request below the header end yields one empty header
	 * segment: harmless, and readers never ask for 0 bytes) */
	if (s->buf_off != w->next_buf || (!s->len && w->want)) {
		tap_diag("request at %llu: segment at buffer offset %zu (expected %zu), %zu bytes",
			 (unsigned long long)w->start, s->buf_off, w->next_buf, s->len);
		w->bad++;
	}
	if (s->kind == CTFS_SEG_CHUNK && s->off + s->len > CS) {
		tap_diag("request at %llu: a chunk segment crosses its chunk", (unsigned long long)w->start);
		w->bad++;
	}
	for (size_t k = 0; k < s->len; k++) {
		struct ctfs_seg e = expect_byte(w->f, w->start + s->buf_off + k);
		bool same = e.kind == s->kind && e.off == s->off + k;

		if (e.kind != CTFS_SEG_HEADER)
			same = same && e.tensor == s->tensor;
		if (e.kind == CTFS_SEG_CHUNK)
			same = same && e.chunk == s->chunk;
		if (!same) {
			if (!w->bad)
				tap_diag("view byte %llu: kind %d/%d off %llu/%llu tensor %zu/%zu",
					 (unsigned long long)(w->start + s->buf_off + k), s->kind,
					 e.kind, (unsigned long long)(s->off + k),
					 (unsigned long long)e.off, s->tensor, e.tensor);
			w->bad++;
			break;
		}
	}
	w->next_buf = s->buf_off + s->len;
	return 0;
}

static void test_range_map(int version)
{
	static const size_t lens[] = { 0, 1, 7, CS - 1, CS, CS + 1, 200, 1000 };
	struct fixture f;
	uint64_t view = HLEN + layout[4].end;
	int bad = 0, clamp_bad = 0;

	fixture_init(&f, version);
	for (uint64_t off = 0; off <= view + 2; off++) {
		for (size_t i = 0; i < CTFS_ARRAY_LEN(lens); i++) {
			size_t want = off >= view ? 0 :
				      lens[i] < view - off ? lens[i] : (size_t)(view - off);
			struct walk w = { .f = &f, .start = off, .want = want };
			int rc = ctfs_range_map_view(&f.h, &f.ci, HLEN, off, lens[i], check_seg, &w);

			bad += rc != 0 || w.bad != 0;
			clamp_bad += w.next_buf != want;
		}
	}
	tap_ok(!bad, "v%d range map: every byte of every range maps where a brute-force model says",
	       version);
	tap_ok(!clamp_bad, "v%d range map: segments are contiguous and cover the range clamped to "
	       "the view", version);

	struct walk w = { .f = &f, .start = 0, .stop_after = 2 };

	tap_ok(ctfs_range_map_view(&f.h, &f.ci, HLEN, 0, (size_t)view, check_seg, &w) == -EXDEV &&
	       w.calls == 2, "v%d range map: stops at the callback's first error and returns it",
	       version);
}

static void test_range_map_overflow(void)
{
	struct fixture f;
	struct walk w = { .f = &f };

	fixture_init(&f, 2);
	tap_ok(ctfs_range_map_view(&f.h, &f.ci, UINT64_MAX - 10, 0, 10, check_seg, &w) ==
	       -EOVERFLOW && !w.calls, "range map: a view size that overflows is refused");
}

/* ---- the v1 reader ---------------------------------------------------------- */

#define PREFIX 13	/* the message does not start at offset 0 of the file */

struct v1_case {
	char path[64];
	int fd;
	uint8_t key[32], iv[12], tag[16];
	uint8_t *pt;
	struct ctfs_stream_msg msg;
};

static int v1_setup(struct v1_case *c, enum ctfs_alg alg, uint64_t len)
{
	uint8_t *ct = malloc(len + 1), pre[PREFIX];
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->pt = malloc(len + 1);
	if (!ct || !c->pt) {
		free(ct);
		return -ENOMEM;
	}
	tap_fill(c->key, sizeof(c->key));
	tap_fill(c->iv, sizeof(c->iv));
	tap_fill(c->pt, len);
	tap_fill(pre, sizeof(pre));
	rc = ctfs_aead_seal(alg, c->key, c->iv, NULL, 0, c->pt, len, ct, c->tag);
	snprintf(c->path, sizeof(c->path), "/tmp/ctfs-test-v1-XXXXXX");
	c->fd = rc ? -1 : mkstemp(c->path);
	if (!rc && c->fd < 0)
		rc = -errno;
	if (!rc)
		rc = ctfs_pwrite_full(c->fd, pre, PREFIX, 0);
	if (!rc)
		rc = ctfs_pwrite_full(c->fd, ct, len, PREFIX);
	free(ct);
	c->msg = (struct ctfs_stream_msg){ .fd = c->fd, .file_off = PREFIX, .len = len,
					   .alg = alg, .key = c->key, .iv = c->iv };
	return rc;
}

static void v1_teardown(struct v1_case *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		unlink(c->path);
	}
	free(c->pt);
}

static int flip_file_byte(int fd, uint64_t at)
{
	uint8_t b;
	int rc = ctfs_pread_full(fd, &b, 1, at);

	b ^= 0x20;
	return rc ? rc : ctfs_pwrite_full(fd, &b, 1, at);
}

/* Random ranges, plus the edges of blocks and of the message. */
static int v1_reads_match(const struct v1_case *c, const struct ctfs_stream_state *s)
{
	uint64_t len = c->msg.len;
	uint8_t *out = malloc(len + 1);
	int bad = out ? 0 : 1;

	for (int i = 0; !bad && i < 300 && len; i++) {
		uint64_t off = tap_below(len);
		size_t n = (size_t)tap_below(len - off) + 1;

		if (i < 4) {	/* fixed edges */
			static const uint64_t at[] = { 0, CTFS_STREAM_BLOCK - 1, CTFS_STREAM_BLOCK };

			off = i < 3 ? (at[i] < len ? at[i] : 0) : len - 1;
			n = i == 0 ? (size_t)len : (size_t)(len - off < 2 ? len - off : 2);
		}
		memset(out, 0, n);
		if (ctfs_stream_read(s, &c->msg, off, out, n) || memcmp(out, c->pt + off, n)) {
			tap_diag("mismatch at off %llu len %zu", (unsigned long long)off, n);
			bad++;
		}
	}
	free(out);
	return bad;
}

static void test_v1_reader(enum ctfs_alg alg, uint64_t len)
{
	const char *name = ctfs_alg_name(alg);
	struct ctfs_stream_state *s = NULL;
	struct v1_case c;
	uint8_t buf[8];
	int rc = v1_setup(&c, alg, len);

	if (!tap_ok(!rc, "%s v1 %llu bytes: set up", name, (unsigned long long)len))
		goto out;
	c.tag[0] ^= 1;
	tap_ok(ctfs_stream_verify(&c.msg, c.tag, &s) == -EBADMSG && !s,
	       "%s v1 %llu bytes: a wrong tag fails verification", name, (unsigned long long)len);
	c.tag[0] ^= 1;
	rc = ctfs_stream_verify(&c.msg, c.tag, &s);
	tap_ok(!rc, "%s v1 %llu bytes: the right tag verifies", name, (unsigned long long)len);
	if (rc || !len)
		goto out;
	tap_ok(!v1_reads_match(&c, s), "%s v1 %llu bytes: random-access reads match the plaintext",
	       name, (unsigned long long)len);
	/* The file changes after verification: the changed block is refused,
	 * the others still read. */
	rc = flip_file_byte(c.fd, PREFIX + len - 1);
	tap_ok(!rc && ctfs_stream_read(s, &c.msg, len - 1, buf, 1) == -EIO &&
	       (len <= CTFS_STREAM_BLOCK ||	/* one block: no other to read */
		(!ctfs_stream_read(s, &c.msg, 0, buf, 1) && buf[0] == c.pt[0])),
	       "%s v1 %llu bytes: a block changed after verification is refused, others read",
	       name, (unsigned long long)len);
	tap_ok(!flip_file_byte(c.fd, PREFIX + len - 1) && ftruncate(c.fd, PREFIX + len - 1) == 0 &&
	       ctfs_stream_read(s, &c.msg, len - 1, buf, 1) == -EIO,
	       "%s v1 %llu bytes: a truncated file fails the read", name, (unsigned long long)len);
	ctfs_stream_state_free(s);
	s = NULL;
	tap_ok(ctfs_stream_verify(&c.msg, c.tag, &s) == -EIO && !s,
	       "%s v1 %llu bytes: a short file fails verification with EIO", name,
	       (unsigned long long)len);
out:
	ctfs_stream_state_free(s);
	v1_teardown(&c);
}

/* --- the backing file's page cache around a sequential reader ------------ */

#define FRONT_FILE (48u << 20)
#define FRONT_STEP (2u << 20)
#define FRONT_START 1234u	/* tensor data rarely starts on a page */

/* Share of the pages of [from, to) of fd in the page cache. */
static double cached_share(int fd, uint64_t from, uint64_t to)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = (size_t)((to - from) / (uint64_t)page), in = 0;
	unsigned char *vec = malloc(pages ? pages : 1);
	void *map = mmap(NULL, to - from, PROT_READ, MAP_SHARED, fd, (off_t)from);

	if (!vec || map == MAP_FAILED || mincore(map, to - from, vec)) {
		free(vec);
		if (map != MAP_FAILED)
			munmap(map, to - from);
		return -1;
	}
	for (size_t i = 0; i < pages; i++)
		in += vec[i] & 1;
	munmap(map, to - from);
	free(vec);
	return (double)in / (double)(pages ? pages : 1);
}

/* Read [FRONT_START, FRONT_FILE) in FRONT_STEP requests, in order or from
 * the end backwards; 0 when every byte matched. */
static int front_pass(int fd, const uint8_t *want, bool forward)
{
	struct ctfs_read_front f = { 0 };
	uint8_t *buf = malloc(FRONT_STEP);
	size_t steps = (FRONT_FILE - FRONT_START) / FRONT_STEP;
	int bad = !buf;

	for (size_t i = 0; !bad && i < steps; i++) {
		uint64_t off = FRONT_START + (forward ? i : steps - 1 - i) * (uint64_t)FRONT_STEP;

		bad = ctfs_front_pread(&f, fd, buf, FRONT_STEP, off) ||
		      memcmp(buf, want + off, FRONT_STEP);
	}
	free(buf);
	return bad;
}

static void test_read_front(void)
{
	char path[] = "ctfs-test-front-XXXXXX";	/* the build tree: tmpfs keeps its pages */
	uint8_t *data = malloc(FRONT_FILE);
	struct statfs sfs;
	int fd = data ? mkstemp(path) : -1;

	if (fd < 0 || fstatfs(fd, &sfs) || sfs.f_type == TMPFS_MAGIC) {
		tap_ok(fd >= 0, "read front: a file to test with # SKIP %s",
		       fd < 0 ? strerror(errno) : "on tmpfs, whose pages cannot be dropped");
		goto out;
	}
	tap_fill(data, FRONT_FILE);
	if (ctfs_pwrite_full(fd, data, FRONT_FILE, 0) || fsync(fd)) {
		tap_ok(0, "read front: write the test file: %s", strerror(errno));
		goto out;
	}
	tap_ok(!front_pass(fd, data, false) && cached_share(fd, 0, FRONT_FILE) > 0.9,
	       "read front: reads out of order return the file and leave its pages cached");
	tap_ok(!front_pass(fd, data, true), "read front: a sequential pass returns the file");
	tap_ok(cached_share(fd, 0, FRONT_FILE / 2) < 0.1,
	       "read front: what a sequential reader left behind is no longer cached (%.2f)",
	       cached_share(fd, 0, FRONT_FILE / 2));
	tap_ok(cached_share(fd, FRONT_FILE - 2 * CTFS_FRONT_DROP, FRONT_FILE) > 0.9,
	       "read front: the stretch just behind the reader stays cached");
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(data);
}

int main(void)
{
	if (ctfs_secmem_init())
		tap_skip_all("libsodium does not initialise");
	tap_seed();
	test_range_map(2);
	test_range_map(1);
	test_range_map_overflow();
	test_v1_reader(CTFS_ALG_AES256GCM, 3 * CTFS_STREAM_BLOCK + 1234);
	test_v1_reader(CTFS_ALG_CHACHA20POLY1305, 2 * CTFS_STREAM_BLOCK);
	test_v1_reader(CTFS_ALG_AES128GCM, 1 + tap_below(5 * CTFS_STREAM_BLOCK));
	test_v1_reader(CTFS_ALG_AES128GCM, 0);
	test_read_front();
	return tap_done();
}
