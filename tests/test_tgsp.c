/* TGSP packages: canonical JSON, the tar member table, random access into
 * gzip streams, frames, keys, the container checks (on the sample packages
 * of an independent implementation and on mutated copies), and packages
 * built here opened again. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>
#include <zlib.h>

#include "codec/hex.h"
#include "json/canon_json.h"
#include "archive/gzindex.h"
#include "crypto/secmem.h"
#include "crypto/curve25519.h"
#include "crypto/sha256.h"
#include "tap.h"
#include "archive/tar_index.h"
#include "archive/tar_writer.h"
#include "tgsp/build.h"
#include "tgsp/payload.h"
#include "tgsp/tgsp.h"
#include "util.h"

#define MiB (1u << 20)

static char vec[2048];

static char *vpath(const char *rel)
{
	static char buf[8][4096];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", vec, rel);
	return buf[k];
}

static uint8_t *slurp(const char *path, size_t *len)
{
	uint8_t *d = NULL;

	if (ctfs_read_file(path, 1u << 30, &d, len))
		return NULL;
	return d;
}

static int mem_fd(const uint8_t *d, size_t len)
{
	int fd = memfd_create("test_tgsp", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (ctfs_write_full(fd, d, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* --- canonical JSON -------------------------------------------------------- */

static void test_canon(void)
{
	static const char *const good[] = {
		"{}", "[]", "\"\"", "0", "-1", "1.5", "1e+16", "1e-05", "0.0001", "-0.0",
		"123456789012345678901234567890", "{\"a\":1,\"b\":[true,false,null]}",
		"\"\\u0000\\n\\t\\u001f\\\"\\\\\x7f\xc3\xa9\"", "{\"\":0,\"a\":0,\"\xc3\xa9\":0}",
		"1795250496.336", "[0.1,0.30000000000000004,1.7976931348623157e+308]",
	};
	static const char *const bad[] = {
		"", " {}", "{} ", "{\"a\": 1}", "{\"b\":1,\"a\":2}", "{\"a\":1,\"a\":1}", "[1.50]",
		"[1E5]", "[1e16]", "[1.0e+16]", "[01]", "[-0]", "[.5]", "[1.]", "\"\\u0041\"",
		"\"\\/\"", "\"\\u000a\"", "\"\\u001F\"", "\"\x01\"", "\"\xff\"", "[NaN]", "[1e400]",
		"nul", "[1,]", "{\"a\"}", "\"abc", "[1.0000000000000001]",
	};
	static const struct { double v; const char *s; } reprs[] = {
		{ 0.0, "0.0" }, { 1.0, "1.0" }, { 1e16, "1e+16" }, { 1e15, "1000000000000000.0" },
		{ 1e-5, "1e-05" }, { 0.1, "0.1" }, { 1795250496.55, "1795250496.55" },
		{ 5e-324, "5e-324" }, { -2.5, "-2.5" },
	};
	char deep[200];
	int ok = 1;

	for (size_t i = 0; i < CTFS_ARRAY_LEN(good); i++) {
		if (ctfs_canon_json_check((const uint8_t *)good[i], strlen(good[i]), NULL, 0)) {
			tap_diag("refused canonical %s", good[i]);
			ok = 0;
		}
	}
	tap_ok(ok, "canonical JSON: %zu canonical texts accepted", CTFS_ARRAY_LEN(good));
	ok = 1;
	for (size_t i = 0; i < CTFS_ARRAY_LEN(bad); i++) {
		char err[200] = "";

		if (!ctfs_canon_json_check((const uint8_t *)bad[i], strlen(bad[i]), err, sizeof(err)) ||
		    !strstr(err, "canonical")) {
			tap_diag("accepted %s", bad[i]);
			ok = 0;
		}
	}
	tap_ok(ok, "canonical JSON: %zu other texts refused with a reason", CTFS_ARRAY_LEN(bad));
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	tap_ok(ctfs_canon_json_check((uint8_t *)deep, 200, NULL, 0) == -EINVAL,
	       "canonical JSON: nesting is bounded");
	ok = 1;
	for (size_t i = 0; i < CTFS_ARRAY_LEN(reprs); i++) {
		struct ctfs_buf b = { 0 };

		ok &= !ctfs_canon_put_double(&b, reprs[i].v) && !strcmp((char *)b.data, reprs[i].s);
		ctfs_buf_free(&b);
	}
	tap_ok(ok, "doubles written as Python's repr");
}

/* --- tar ---------------------------------------------------------------------- */

static void test_paths(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "a", "a" }, { "./a/b", "a/b" }, { "a/b/", "a/b" }, { ".", "" }, { "./", "" },
		{ "", "" }, { "/a", NULL }, { "../a", NULL }, { "a/../b", NULL }, { "a//b", NULL },
		{ "a/./b", NULL }, { "a/..", NULL }, { "..", NULL }, { "./.", "" }, { "a/.", NULL },
	};
	char out[64], longc[300];
	int ok = 1;

	for (size_t i = 0; i < CTFS_ARRAY_LEN(cases); i++) {
		bool r = ctfs_tar_path_normalize(cases[i].in, strlen(cases[i].in), out, sizeof(out));

		if (r != !!cases[i].out || (r && strcmp(out, cases[i].out))) {
			tap_diag("path '%s'", cases[i].in);
			ok = 0;
		}
	}
	memset(longc, 'x', 256);
	ok &= !ctfs_tar_path_normalize(longc, 256, longc, sizeof(longc));
	ok &= !ctfs_tar_path_normalize("a\0b", 3, out, sizeof(out));
	tap_ok(ok, "member paths normalised, unsafe ones refused");
}

/* A header block written by hand, for the shapes tar_writer never makes. */
static void hdr(uint8_t *h, const char *name, char type, uint64_t size, const char *link,
		const char *magic)
{
	unsigned int sum = 0;

	memset(h, 0, 512);
	memcpy(h, name, strlen(name) < 100 ? strlen(name) : 100);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	h[156] = (uint8_t)type;
	if (link)
		memcpy(h + 157, link, strlen(link));
	memcpy(h + 257, magic ? magic : "ustar\0" "00", 8);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

struct arch {
	uint8_t *d;
	size_t n;
};

static void put(struct arch *a, const void *p, size_t n)
{
	a->d = realloc(a->d, a->n + n);
	memcpy(a->d + a->n, p, n);
	a->n += n;
}

static void put_member(struct arch *a, const char *name, char type, const void *data,
		       size_t size, const char *link, const char *magic)
{
	uint8_t h[512], zero[512] = { 0 };

	hdr(h, name, type, size, link, magic);
	put(a, h, 512);
	if (size) {
		put(a, data, size);
		put(a, zero, (512 - size % 512) % 512);
	}
}

static void put_end(struct arch *a)
{
	uint8_t z[1024] = { 0 };

	put(a, z, sizeof(z));
}

/* Parse a whole archive, fed in chunks of chunk bytes. */
static int parse(const struct arch *a, size_t chunk, struct ctfs_tar_index **ix, char *err,
		 size_t errlen)
{
	struct ctfs_tar_parser *p;
	int rc = ctfs_tar_parser_new(&p);

	for (size_t o = 0; !rc && o < a->n; o += chunk)
		rc = ctfs_tar_parser_feed(p, a->d + o, a->n - o < chunk ? a->n - o : chunk, err,
					  errlen);
	if (!rc)
		rc = ctfs_tar_parser_finish(p, ix, err, errlen);
	ctfs_tar_parser_free(p);
	return rc;
}

static const struct ctfs_tar_entry *ent(const struct ctfs_tar_index *ix, const char *path)
{
	return ctfs_tar_lookup(ix, path);
}

static void test_tar_shapes(void)
{
	struct arch a = { 0 };
	struct ctfs_tar_index *ix = NULL;
	static const char pax[] = "14 path=pax/p\n";	/* the length counts itself */
	uint8_t longname[300];
	char err[256];
	int rc, ok;

	/* ustar prefix, GNU long name, pax path and size, hard and symbolic
	 * links, a directory, a device (skipped), implied parents */
	put_member(&a, "top/", '5', NULL, 0, NULL, NULL);
	put_member(&a, "top/file", '0', "hello", 5, NULL, NULL);
	memset(longname, 'L', sizeof(longname));
	memcpy(longname, "deep/", 5);
	put_member(&a, "././@LongLink", 'L', longname, 200, NULL, "ustar  \0");
	put_member(&a, "ignored", '0', "gnu", 3, NULL, "ustar  \0");
	put_member(&a, "././@PaxHeader", 'x', pax, strlen(pax), NULL, NULL);
	put_member(&a, "truncated-name", '0', "pax!", 4, NULL, NULL);
	put_member(&a, "hard", '1', NULL, 0, "top/file", NULL);
	put_member(&a, "soft", '2', NULL, 0, "../outside", NULL);
	put_member(&a, "dev", '3', NULL, 0, NULL, NULL);
	put_end(&a);
	ok = 1;
	for (size_t chunk = 1; chunk <= 4096 && ok; chunk = chunk * 3 + 1) {
		rc = parse(&a, chunk, &ix, err, sizeof(err));
		ok = !rc;
		if (rc) {
			tap_diag("chunk %zu: %s", chunk, err);
			break;
		}
		ok = ctfs_tar_count(ix) == 9 && ctfs_tar_skipped(ix) == 1 &&
		     ent(ix, "top/file") && ent(ix, "top/file")->size == 5 &&
		     ent(ix, "pax/p") && ent(ix, "pax/p")->size == 4 &&
		     ent(ix, "pax")->type == CTFS_TAR_DIR && ent(ix, "deep")->type == CTFS_TAR_DIR &&
		     ent(ix, "hard")->offset == ent(ix, "top/file")->offset &&
		     ent(ix, "soft")->type == CTFS_TAR_SYMLINK &&
		     !strcmp(ent(ix, "soft")->link, "../outside") && !ent(ix, "dev") &&
		     !ent(ix, "ignored") && !ent(ix, "truncated-name");
		{
			char want[256];

			snprintf(want, sizeof(want), "%.*s", 200, (char *)longname);
			ok = ok && ent(ix, want) && ent(ix, want)->size == 3;
		}
		ok = ok && !memcmp(a.d + ent(ix, "pax/p")->offset, "pax!", 4);
		ctfs_tar_index_free(ix);
		ix = NULL;
	}
	tap_ok(ok, "tar: ustar, GNU long names, pax, links, devices skipped, parents implied, "
	       "any feeding granularity");
	free(a.d);
}

static void expect_refusal(const char *what, void (*make)(struct arch *), const char *words)
{
	struct arch a = { 0 };
	struct ctfs_tar_index *ix = NULL;
	char err[256] = "";
	int rc;

	make(&a);
	rc = parse(&a, 7, &ix, err, sizeof(err));
	tap_ok(rc == -EBADMSG && strstr(err, words), "tar refuses %s (%s)", what, err);
	if (!rc)
		ctfs_tar_index_free(ix);
	free(a.d);
}

static void mk_badsum(struct arch *a)
{
	put_member(a, "f", '0', "x", 1, NULL, NULL);
	a->d[0] = 'g';
	put_end(a);
}

static void mk_magic(struct arch *a)
{
	put_member(a, "f", '0', "x", 1, NULL, "posix\0" "00");
	put_end(a);
}

static void mk_trunc(struct arch *a)
{
	put_member(a, "f", '0', "xxxxxxxxxx", 10, NULL, NULL);
	a->n -= 600;
}

static void mk_noend(struct arch *a)
{
	put_member(a, "f", '0', "x", 1, NULL, NULL);
}

static void mk_halfend(struct arch *a)
{
	uint8_t z[512] = { 0 };

	put_member(a, "f", '0', "x", 1, NULL, NULL);
	put(a, z, sizeof(z));
}

static void mk_after(struct arch *a)
{
	put_member(a, "f", '0', "x", 1, NULL, NULL);
	put_end(a);
	put(a, "junk", 4);
}

static void mk_dup(struct arch *a)
{
	put_member(a, "f", '0', "x", 1, NULL, NULL);
	put_member(a, "./f", '0', "y", 1, NULL, NULL);
	put_end(a);
}

static void mk_under_file(struct arch *a)
{
	put_member(a, "f", '0', "x", 1, NULL, NULL);
	put_member(a, "f/g", '0', "y", 1, NULL, NULL);
	put_end(a);
}

static void mk_under_link(struct arch *a)
{
	put_member(a, "l", '2', NULL, 0, "/etc", NULL);
	put_member(a, "l/passwd", '0', "y", 1, NULL, NULL);
	put_end(a);
}

static void mk_dotdot(struct arch *a)
{
	put_member(a, "../f", '0', "x", 1, NULL, NULL);
	put_end(a);
}

static void mk_abs(struct arch *a)
{
	put_member(a, "/etc/f", '0', "x", 1, NULL, NULL);
	put_end(a);
}

static void mk_hard_missing(struct arch *a)
{
	put_member(a, "h", '1', NULL, 0, "nowhere", NULL);
	put_end(a);
}

static void mk_hard_forward(struct arch *a)
{
	put_member(a, "h", '1', NULL, 0, "f", NULL);
	put_member(a, "f", '0', "x", 1, NULL, NULL);
	put_end(a);
}

static void mk_badsize(struct arch *a)
{
	put_member(a, "f", '0', "x", 1, NULL, NULL);
	memcpy(a->d + 124, "00000000x01", 11);
	{
		unsigned int sum = 0;

		memset(a->d + 148, ' ', 8);
		for (int i = 0; i < 512; i++)
			sum += a->d[i];
		snprintf((char *)a->d + 148, 8, "%06o", sum);
	}
	put_end(a);
}

/* Bounds (issue 9, finding 7) */
static void mk_long_trailer(struct arch *a)
{
	static uint8_t z[CTFS_TAR_MAX_TRAILER];

	put_member(a, "f", '0', "x", 1, NULL, NULL);
	put_end(a);
	put(a, z, sizeof(z));
}

static void mk_long_gnu_link(struct arch *a)
{
	static char t[CTFS_TAR_MAX_PATH + 2];

	memset(t, 'a', sizeof(t) - 1);
	put_member(a, "././@LongLink", 'K', t, strlen(t), NULL, "ustar  \0");
	put_member(a, "l", '2', NULL, 0, "x", "ustar  \0");
	put_end(a);
}

static void mk_long_pax_link(struct arch *a)
{
	static char rec[8192];
	int n = CTFS_TAR_MAX_PATH + 1, len = n + 10 + 5; /* "LLLL linkpath=" + value + "\n" */

	snprintf(rec, sizeof(rec), "%d linkpath=%0*d\n", len, n, 0);
	put_member(a, "././@PaxHeader", 'x', rec, strlen(rec), NULL, NULL);
	put_member(a, "l", '2', NULL, 0, "x", NULL);
	put_end(a);
}

static void mk_dir_with_data(struct arch *a)
{
	static uint8_t d[CTFS_TAR_MAX_AUX + 1];

	put_member(a, "d", '5', d, sizeof(d), NULL, NULL);
	put_end(a);
}

static void test_tar_bounds(void)
{
	struct arch a = { 0 };
	struct ctfs_tar_index *ix = NULL;
	static uint8_t z[CTFS_TAR_MAX_TRAILER - 1024];
	char err[256] = "";
	int rc;

	expect_refusal("more than 64 KiB after the end marker", mk_long_trailer,
		       "more than 64 KiB after the end-of-archive marker");
	expect_refusal("a GNU link target over 4095 bytes", mk_long_gnu_link, "over 4095 bytes");
	expect_refusal("a pax link target over 4095 bytes", mk_long_pax_link,
		       "pax path or link target over 4095 bytes");
	expect_refusal("a directory carrying 1 MiB of data", mk_dir_with_data,
		       "not a regular file carries over 1 MiB");
	/* the end marker and zeros up to the bound, as tar's records pad it */
	put_member(&a, "f", '0', "x", 1, NULL, NULL);
	put_end(&a);
	put(&a, z, sizeof(z));
	rc = parse(&a, 4096, &ix, err, sizeof(err));
	tap_ok(rc == 0, "tar: 64 KiB of zeros from the end marker on are accepted (%s)", err);
	ctfs_tar_index_free(ix);
	free(a.d);
}

static void test_tar_refusals(void)
{
	expect_refusal("a bad checksum", mk_badsum, "checksum");
	expect_refusal("an unknown magic", mk_magic, "not a ustar header");
	expect_refusal("a stream ending inside a member", mk_trunc, "inside a member");
	expect_refusal("a missing end marker", mk_noend, "no end-of-archive marker");
	expect_refusal("half an end marker", mk_halfend, "inside its end-of-archive marker");
	expect_refusal("data after the end", mk_after, "after the end-of-archive marker");
	expect_refusal("duplicate members", mk_dup, "duplicate member 'f'");
	expect_refusal("a member below a file", mk_under_file, "not a directory");
	expect_refusal("a member below a symlink", mk_under_link, "not a directory");
	expect_refusal("'..' paths", mk_dotdot, "unsafe member path");
	expect_refusal("absolute paths", mk_abs, "unsafe member path");
	expect_refusal("a hard link to nothing", mk_hard_missing, "hard link");
	expect_refusal("a hard link to a later member", mk_hard_forward, "hard link");
	expect_refusal("a bad size field", mk_badsize, "size field");
}

static int tar_out(void *arg, const uint8_t *d, size_t n)
{
	put(arg, d, n);
	return 0;
}

static void test_tar_writer(void)
{
	struct arch a = { 0 };
	struct ctfs_tar_writer w = { tar_out, &a, 0 };
	struct ctfs_tar_index *ix = NULL;
	char name[400], err[256] = "";
	int fd = mem_fd((const uint8_t *)"0123456789", 10), rc;

	/* 300 bytes in components of up to 150 */
	memset(name, 'n', sizeof(name));
	memcpy(name, "d/", 2);
	name[152] = '/';
	name[300] = 0;
	lseek(fd, 0, SEEK_SET);
	tap_ok(ctfs_tar_write_file(&w, "grew", 0644, fd, 4) == -EFBIG,
	       "tar writer: a file larger than announced is refused");
	lseek(fd, 0, SEEK_SET);
	tap_ok(ctfs_tar_write_file(&w, "shrank", 0644, fd, 20) == -EIO,
	       "tar writer: a file smaller than announced is refused");
	a.n = 0;
	w.written = 0;
	rc = ctfs_tar_write_file(&w, "plain", 0644, fd, 0);
	lseek(fd, 0, SEEK_SET);
	if (!rc)
		rc = ctfs_tar_write_file(&w, name, 0755, fd, 10);
	lseek(fd, 0, SEEK_SET);
	if (!rc)
		rc = ctfs_tar_write_file(&w, "d/\xc3\xa9t\xc3\xa9", 0644, fd, 10);
	if (!rc)
		rc = ctfs_tar_write_end(&w);
	if (!rc)
		rc = parse(&a, 4096, &ix, err, sizeof(err));
	tap_ok(!rc && a.n % CTFS_TAR_RECORD == 0 && ctfs_tar_count(ix) == 6 &&
	       ent(ix, name) && ent(ix, name)->mode == 0755 && ent(ix, name)->size == 10 &&
	       ent(ix, "d/\xc3\xa9t\xc3\xa9") && ent(ix, "plain")->size == 0 &&
	       !memcmp(a.d + ent(ix, name)->offset, "0123456789", 10) &&
	       !memcmp(a.d + 257, "ustar\0" "00", 8) && !memcmp(a.d + 108, "0000000\0", 8),
	       "tar writer: ustar records, pax for long and non-ASCII names, read back (%s)", err);
	if (!rc)
		ctfs_tar_index_free(ix);
	close(fd);
	free(a.d);
}

/* --- gzindex ------------------------------------------------------------------ */

struct memsrc {
	const uint8_t *d;
	size_t n;
	size_t chunk;	/* fetch boundary, like a frame */
	int fail_at;	/* a fetch of this chunk fails */
};

static void *msrc_new(void *arg)
{
	(void)arg;
	return malloc(1);
}

static void msrc_free(void *arg, void *ctx)
{
	(void)arg;
	free(ctx);
}

static int msrc_fetch(void *arg, void *ctx, uint64_t off, const uint8_t **p, size_t *n)
{
	struct memsrc *m = arg;
	size_t k = m->chunk - off % m->chunk;

	(void)ctx;
	if (m->fail_at >= 0 && off / m->chunk == (uint64_t)m->fail_at)
		return -EKEYREJECTED;
	*p = m->d + off;
	*n = m->n - off < k ? m->n - off : k;
	return 0;
}

static uint8_t *gz(const uint8_t *d, size_t n, int level, size_t *outlen)
{
	z_stream zs = { 0 };
	uLong cap = compressBound(n) + 64;
	uint8_t *out = malloc(cap);

	deflateInit2(&zs, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)(uintptr_t)d;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	*outlen = zs.total_out;
	deflateEnd(&zs);
	return out;
}

static int count_sink(void *arg, const uint8_t *d, size_t n, char *err, size_t errlen)
{
	(void)d, (void)err, (void)errlen;
	*(uint64_t *)arg += n;
	return 0;
}

/* Plaintext mixing stretches zlib compresses well and stretches it cannot. */
static uint8_t *mixed(size_t n)
{
	uint8_t *d = malloc(n);

	for (size_t o = 0; o < n;) {
		size_t k = 1 + (size_t)tap_below(300000);

		if (k > n - o)
			k = n - o;
		if ((uint32_t)tap_below(3))
			memset(d + o, (int)(uint32_t)tap_below(4), k);
		else
			tap_fill(d + o, k);
		o += k;
	}
	return d;
}

struct reader_arg {
	struct ctfs_gzindex *ix;
	const uint8_t *plain;
	size_t n;
	int bad;
	uint64_t rng;		/* this thread's own generator, seeded from tap_rand */
};

/* splitmix64 on a thread's own state (tap_rand is not thread-safe). */
static uint64_t rng_next(uint64_t *st)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void *reader(void *p)
{
	struct reader_arg *r = p;
	uint8_t *buf = malloc(MiB);

	for (int i = 0; i < 200; i++) {
		uint64_t off = rng_next(&r->rng) % r->n;
		size_t len = (size_t)(rng_next(&r->rng) % MiB);
		size_t want = len < r->n - off ? len : r->n - off;
		ssize_t got = ctfs_gzindex_read(r->ix, buf, len, off);

		if (got != (ssize_t)want || memcmp(buf, r->plain + off, want))
			r->bad++;
	}
	free(buf);
	return NULL;
}

static void test_gzindex(void)
{
	size_t n = 24 * MiB + 12345, g1, g2;
	uint8_t *plain = mixed(n), *c1 = gz(plain, n / 3, 6, &g1), *c2 = gz(plain + n / 3,
									   n - n / 3, 1, &g2);
	uint8_t *both = malloc(g1 + g2), *buf = malloc(3 * MiB);
	struct memsrc m = { both, g1 + g2, 1000003, -1 };
	struct ctfs_gz_source src = { &m, g1 + g2, msrc_new, msrc_free, msrc_fetch };
	struct ctfs_gzindex *ix = NULL;
	struct reader_arg ra[4];
	pthread_t th[4];
	uint64_t seen = 0;
	char err[256] = "";
	int bad = 0, rc;

	/* two members, of two compression levels */
	memcpy(both, c1, g1);
	memcpy(both + g1, c2, g2);
	rc = ctfs_gzindex_build(&src, 256 << 10, 3, count_sink, &seen, &ix, err, sizeof(err));
	tap_ok(!rc && seen == n && ctfs_gzindex_size(ix) == n,
	       "gzindex: one pass over a two-member stream (%s)", err);
	if (rc)
		goto out;
	/* at most one point per half span, each at most CTFS_GZINDEX_POINT_MAX */
	tap_ok(ctfs_gzindex_points(ix) >= 1 && ctfs_gzindex_points(ix) <= n / (128 << 10) + 2 &&
	       ctfs_gzindex_bytes(ix) <= (ctfs_gzindex_points(ix) + 16) * (CTFS_GZINDEX_POINT_MAX + 64),
	       "gzindex: one access point per span, memory as documented (%zu points, %zu KiB)",
	       ctfs_gzindex_points(ix), ctfs_gzindex_bytes(ix) >> 10);
	for (int i = 0; i < 300; i++) {
		uint64_t off = i < 3 ? (uint64_t[]){ 0, n / 3 - 5, n - 1 }[i] :
			       (uint32_t)tap_below((uint32_t)n);
		size_t len = (uint32_t)tap_below(3 * MiB);
		size_t want = len < n - off ? len : n - off;

		if (ctfs_gzindex_read(ix, buf, len, off) != (ssize_t)want ||
		    memcmp(buf, plain + off, want))
			bad++;
	}
	tap_ok(!bad, "gzindex: 300 random reads equal the full inflate (%d bad)", bad);
	bad = 0;
	for (uint64_t off = 0; off < n; off += 131072) {
		if (ctfs_gzindex_read(ix, buf, 131072, off) != (ssize_t)(n - off < 131072 ? n - off : 131072) ||
		    memcmp(buf, plain + off, n - off < 131072 ? n - off : 131072))
			bad++;
	}
	tap_ok(!bad, "gzindex: a sequential read in 128 KiB requests");
	tap_ok(ctfs_gzindex_read(ix, buf, 10, n) == 0 && ctfs_gzindex_read(ix, buf, 10, n + 5) == 0,
	       "gzindex: reads at or past the end return 0");
	for (int t = 0; t < 4; t++) {
		ra[t] = (struct reader_arg){ ix, plain, n, 0, tap_rand() };
		pthread_create(&th[t], NULL, reader, &ra[t]);
	}
	for (int t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		bad += ra[t].bad;
	}
	tap_ok(!bad, "gzindex: 4 threads, 3 cursors, 800 random reads (%d bad)", bad);
	ctfs_gzindex_trim(ix);
	tap_ok(ctfs_gzindex_read(ix, buf, 1000, n / 2) == 1000 && !memcmp(buf, plain + n / 2, 1000),
	       "gzindex: reads after trim");
	ctfs_gzindex_free(ix);
	ix = NULL;

	/* refusals. Only what gzip guarantees to catch: a byte flipped inside
	 * deflate data is not always detectable (it can land in bits that do
	 * not change the output), but a changed CRC-32 or ISIZE in a member's
	 * trailer, or a member header whose magic is wrong, always is. */
	{
		static const struct { size_t back; const char *what; } flips[] = {
			{ 8, "CRC-32 of the last member" },
			{ 1, "ISIZE of the last member" },
		};

		for (size_t i = 0; i < CTFS_ARRAY_LEN(flips); i++) {
			both[g1 + g2 - flips[i].back] ^= 0x55;
			err[0] = 0;
			rc = ctfs_gzindex_build(&src, 0, 0, count_sink, &seen, &ix, err, sizeof(err));
			tap_ok(rc == -EBADMSG && strstr(err, "corrupt archive: gzip"),
			       "gzindex: corrupt data: %s (%s)", flips[i].what, err);
			if (!rc)
				ctfs_gzindex_free(ix);
			both[g1 + g2 - flips[i].back] ^= 0x55;
		}
		both[g1 + 1] ^= 0x55;	/* the second member's magic */
		err[0] = 0;
		rc = ctfs_gzindex_build(&src, 0, 0, count_sink, &seen, &ix, err, sizeof(err));
		tap_ok(rc == -EBADMSG && strstr(err, "gzip"),
		       "gzindex: corrupt data: a member header's magic (%s)", err);
		if (!rc)
			ctfs_gzindex_free(ix);
		both[g1 + 1] ^= 0x55;
		both[g1 + 3] |= 0x40;	/* a reserved FLG bit of the second member */
		err[0] = 0;
		rc = ctfs_gzindex_build(&src, 0, 0, count_sink, &seen, &ix, err, sizeof(err));
		tap_ok(rc == -EBADMSG && strstr(err, "reserved flag bits"),
		       "gzindex: corrupt data: a reserved header flag, which zlib refuses too (%s)",
		       err);
		if (!rc)
			ctfs_gzindex_free(ix);
		both[g1 + 3] &= (uint8_t)~0x40;
		ix = NULL;
	}
	src.size = m.n = g1 + g2 - 3;
	err[0] = 0;
	rc = ctfs_gzindex_build(&src, 0, 0, count_sink, &seen, &ix, err, sizeof(err));
	tap_ok(rc == -EBADMSG && strstr(err, "truncated"), "gzindex: truncated stream (%s)", err);
	memcpy(both + g1, "junk-after", 10);
	src.size = m.n = g1 + 10;
	err[0] = 0;
	rc = ctfs_gzindex_build(&src, 0, 0, count_sink, &seen, &ix, err, sizeof(err));
	tap_ok(rc == -EBADMSG && strstr(err, "gzip"), "gzindex: data after the last member (%s)", err);
	src.size = m.n = g1;
	/* the last fetch of the stream fails (its size depends on the random data) */
	m.fail_at = (int)((g1 - 1) / m.chunk);
	err[0] = 0;
	rc = ctfs_gzindex_build(&src, 0, 0, count_sink, &seen, &ix, err, sizeof(err));
	tap_ok(rc == -EKEYREJECTED, "gzindex: a source failure is passed on as it is");
	if (!rc)
		ctfs_gzindex_free(ix);
	src.size = 0;
	rc = ctfs_gzindex_build(&src, 0, 0, count_sink, &seen, &ix, err, sizeof(err));
	tap_ok(rc == -EBADMSG && strstr(err, "empty"), "gzindex: empty stream");
	if (!rc)
		ctfs_gzindex_free(ix);
out:
	free(plain);
	free(c1);
	free(c2);
	free(both);
	free(buf);
}

/* --- frames and keys ------------------------------------------------------------- */

/* One sequential run of reads of random sizes from a random place: what a
 * FUSE reader does, and what makes the workers inflate ahead. Every read
 * must equal the plaintext and what an index without workers returns. */
static int ahead_run(struct ctfs_gzindex *par, struct ctfs_gzindex *ser, const uint8_t *plain,
		     size_t n, uint8_t *a, uint8_t *b)
{
	uint64_t off = (uint32_t)tap_below((uint32_t)n);
	int reads = 1 + (int)tap_below(60), bad = 0;
	size_t size = 1 + (uint32_t)tap_below(MiB);

	for (int r = 0; r < reads && off < n; r++) {
		size_t len = (uint32_t)tap_below(4) ? size : 1 + (uint32_t)tap_below(MiB);
		size_t want = len < n - off ? len : n - off;
		ssize_t x = ctfs_gzindex_read(par, a, len, off), y = ctfs_gzindex_read(ser, b, len, off);

		if (x != (ssize_t)want || y != x || memcmp(a, plain + off, want) || memcmp(a, b, want))
			bad++;
		off += want;
	}
	return bad;
}

static void test_gzindex_ahead(void)
{
	size_t n = 40 * MiB + 4321, g;
	uint8_t *plain = mixed(n), *c = gz(plain, n, 6, &g), *a = malloc(MiB), *b = malloc(MiB);
	struct memsrc m = { c, g, 1u << 20, -1 }, m2 = { c, g, 1u << 20, -1 };
	struct ctfs_gz_source src = { &m, g, msrc_new, msrc_free, msrc_fetch };
	struct ctfs_gzindex *par = NULL, *ser = NULL, *bad_ix = NULL;
	uint64_t seen = 0;
	char err[256] = "";
	int bad = 0, failed = 0, wrong = 0;

	/* small spans: many of them, and a worker at every turn */
	if (ctfs_gzindex_build(&src, 1u << 20, 4, count_sink, &seen, &par, err, sizeof(err)) ||
	    ctfs_gzindex_build(&src, 1u << 20, 4, count_sink, &seen, &ser, err, sizeof(err))) {
		tap_ok(0, "gzindex ahead: build (%s)", err);
		goto out;
	}
	ctfs_gzindex_set_workers(par, CTFS_GZINDEX_WORKERS);
	ctfs_gzindex_set_workers(ser, 0);
	for (int i = 0; i < 60; i++)
		bad += ahead_run(par, ser, plain, n, a, b);
	tap_ok(!bad && ctfs_gzindex_ahead_spans(par) > 0 && ctfs_gzindex_ahead_spans(ser) == 0,
	       "gzindex ahead: 60 sequential runs of random reads from random places, %d workers: "
	       "the same bytes as without workers (%d bad, %llu spans inflated ahead)",
	       CTFS_GZINDEX_WORKERS, bad, (unsigned long long)ctfs_gzindex_ahead_spans(par));
	for (uint64_t off = 0; off < n; off += MiB) {
		size_t want = n - off < MiB ? n - off : MiB;

		if (ctfs_gzindex_read(par, a, MiB, off) != (ssize_t)want ||
		    memcmp(a, plain + off, want))
			bad++;
	}
	tap_ok(!bad, "gzindex ahead: a whole sequential read, 1 MiB requests");

	/* a source that fails in the middle (a frame whose tag no longer
	 * verifies): workers meet it first; every read that needs the bad
	 * piece fails, every other one is right */
	src.arg = &m2;
	if (ctfs_gzindex_build(&src, 1u << 20, 4, count_sink, &seen, &bad_ix, err, sizeof(err))) {
		tap_ok(0, "gzindex ahead: build (%s)", err);
		goto out;
	}
	ctfs_gzindex_set_workers(bad_ix, CTFS_GZINDEX_WORKERS);
	m2.fail_at = (int)(g / m2.chunk / 2);	/* before any read: no worker runs yet */
	for (uint64_t off = 0; off < n; off += 256 << 10) {
		size_t want = n - off < (256 << 10) ? n - off : 256 << 10;
		ssize_t got = ctfs_gzindex_read(bad_ix, a, 256 << 10, off);

		if (got < 0)
			failed++;
		else if (got != (ssize_t)want || memcmp(a, plain + off, want))
			wrong++;
	}
	tap_ok(failed > 0 && !wrong,
	       "gzindex ahead: a failing source piece fails the reads that need it (%d), "
	       "no read returns other bytes (%d)", failed, wrong);
out:
	ctfs_gzindex_free(par);
	ctfs_gzindex_free(ser);
	ctfs_gzindex_free(bad_ix);
	free(plain);
	free(c);
	free(a);
	free(b);
}

static void test_frames(void)
{
	struct ctfs_tgsp_frame_key k;
	uint8_t dek[32], nonce[12], in[20], d[32], msg[1000], ct[1000], out[1000], tag[16];
	bool ok = true;

	tap_fill(dek, sizeof(dek));
	tap_fill(k.nonce_base, sizeof(k.nonce_base));
	memset(k.aad_prefix, 'a', sizeof(k.aad_prefix));
	k.dek = dek;
	for (uint64_t i = 0; i < 3; i++) {
		uint64_t idx = i == 2 ? 0x0102030405060708ull : i;

		memcpy(in, k.nonce_base, 12);
		for (int b = 0; b < 8; b++)
			in[12 + b] = (uint8_t)(idx >> (56 - 8 * b));
		ctfs_sha256(d, in, sizeof(in));
		ctfs_tgsp_frame_nonce(k.nonce_base, idx, nonce);
		ok &= !memcmp(d, nonce, 12);
	}
	tap_ok(ok, "frame nonce = SHA-256(nonce_base || be64(i))[0..12]");
	tap_fill(msg, sizeof(msg));
	ok = !ctfs_tgsp_frame_seal(&k, 5, msg, sizeof(msg), ct, tag) &&
	     !ctfs_tgsp_frame_open(&k, 5, ct, sizeof(ct), out, tag) && !memcmp(out, msg, sizeof(msg));
	tap_ok(ok, "frame seal / open");
	tap_ok(ctfs_tgsp_frame_open(&k, 6, ct, sizeof(ct), out, tag) == -EBADMSG,
	       "a frame moved to another index does not open (AAD and nonce)");
	k.aad_prefix[0] ^= 1;
	tap_ok(ctfs_tgsp_frame_open(&k, 5, ct, sizeof(ct), out, tag) == -EBADMSG,
	       "a frame under other manifest/recipients hashes does not open");
	k.aad_prefix[0] ^= 1;
	tag[3] ^= 1;
	memset(out, 0x77, sizeof(out));
	ok = ctfs_tgsp_frame_open(&k, 5, ct, sizeof(ct), out, tag) == -EBADMSG;
	for (size_t i = 0; i < sizeof(out); i++)
		ok &= out[i] == 0;
	tap_ok(ok, "a bad tag: refused and nothing unauthenticated is left in the output");
}

static int parse_file_key(const char *path, int kind, void *out)
{
	size_t len;
	uint8_t *t = slurp(path, &len);
	char err[200];
	int rc = -EIO;

	if (!t)
		return rc;
	switch (kind) {
	case 0: rc = ctfs_tgsp_sign_pub_parse((char *)t, len, out, err, sizeof(err)); break;
	case 1: rc = ctfs_tgsp_sign_sec_parse((char *)t, len, out, err, sizeof(err)); break;
	case 2: rc = ctfs_tgsp_enc_pub_parse((char *)t, len, out, err, sizeof(err)); break;
	default: rc = ctfs_tgsp_enc_sec_parse((char *)t, len, out, err, sizeof(err)); break;
	}
	free(t);
	return rc;
}

static struct ctfs_tgsp_sign_pub vsig;
static struct ctfs_tgsp_enc_sec *venc;

static void test_keys(void)
{
	struct ctfs_tgsp_sign_pub spub, spub2;
	struct ctfs_tgsp_sign_sec *ssec = NULL, *ssec2 = NULL;
	struct ctfs_tgsp_enc_pub epub, epub2;
	struct ctfs_tgsp_enc_sec *esec2 = NULL;
	struct ctfs_buf b = { 0 };
	char err[200];
	int rc;

	rc = parse_file_key(vpath("tgsp/keys/signing.pub"), 0, &vsig) ||
	     parse_file_key(vpath("tgsp/keys/signing.priv"), 1, &ssec) ||
	     parse_file_key(vpath("tgsp/keys/encryption.pub"), 2, &epub) ||
	     parse_file_key(vpath("tgsp/keys/encryption.priv"), 3, &venc);
	tap_ok(!rc, "the sample key files parse");
	if (rc)
		return;
	tap_ok(!ctfs_tgsp_sign_pair_check(&vsig, ssec) && !ctfs_tgsp_enc_pair_check(&epub, venc),
	       "the sample key pairs match");
	tap_ok(ctfs_tgsp_enc_pub_parse("{\"classic\":\"00\",\"pqc\":\"00\",\"alg\":\"Hybrid-Kyber-v1\"}",
				       55, &epub2, err, sizeof(err)) == -EINVAL &&
	       ctfs_tgsp_sign_pub_parse((char *)"{\"alg\":\"Hybrid-Kyber-v1\"}", 25, &spub2, err,
					sizeof(err)) == -EINVAL,
	       "key files with a wrong length or alg are refused");
	rc = ctfs_tgsp_sign_keygen(&spub, &ssec2);
	if (!rc)
		rc = ctfs_tgsp_key_json(&b, ssec2->ed25519_seed, 32, ssec2->mldsa,
					sizeof(ssec2->mldsa), CTFS_TGSP_SIG);
	ctfs_secure_free(ssec2);
	ssec2 = NULL;
	if (!rc)
		rc = ctfs_tgsp_sign_sec_parse((char *)b.data, b.len, &ssec2, err, sizeof(err));
	tap_ok(!rc && !ctfs_tgsp_sign_pair_check(&spub, ssec2) &&
	       ctfs_tgsp_sign_pair_check(&vsig, ssec2) == -EKEYREJECTED &&
	       !strncmp((char *)b.data, "{\"classic\":\"", 12),
	       "signing keygen, key file round trip, pair check");
	sodium_memzero(b.data, b.cap);
	b.len = 0;
	rc = ctfs_tgsp_enc_keygen(&epub2, &esec2);
	tap_ok(!rc && !ctfs_tgsp_enc_pair_check(&epub2, esec2) &&
	       ctfs_tgsp_enc_pair_check(&epub, esec2) == -EKEYREJECTED,
	       "encryption keygen and pair check");
	if (esec2) {
		/* a damaged ML-KEM secret key fails the FIPS 203 hash check at load */
		esec2->mlkem[1200] ^= 1;
		rc = ctfs_tgsp_key_json(&b, esec2->x25519, 32, esec2->mlkem, sizeof(esec2->mlkem),
					CTFS_TGSP_KEM);
		ctfs_secure_free(esec2);
		esec2 = NULL;
		tap_ok(!rc && ctfs_tgsp_enc_sec_parse((char *)b.data, b.len, &esec2, err,
						      sizeof(err)) == -EINVAL && strstr(err, "hash check"),
		       "a damaged ML-KEM secret key is refused (%s)", err);
	}
	sodium_memzero(b.data, b.cap);
	ctfs_buf_free(&b);
	ctfs_secure_free(ssec);
	ctfs_secure_free(ssec2);
	ctfs_secure_free(esec2);
}

/* --- the container ------------------------------------------------------------- */

static int vec_key(void *arg, const char *rid, struct ctfs_tgsp_enc_sec **key)
{
	const struct ctfs_tgsp_enc_sec *k = arg;

	(void)rid;
	if (!k)
		return -ENOKEY;
	*key = ctfs_secure_alloc(sizeof(**key));
	if (!*key)
		return -ENOMEM;
	memcpy(*key, k, sizeof(**key));
	return 0;
}

/* Read, verify, check the payload: 0 or the first failure. */
static int check_bytes(const uint8_t *d, size_t n, const struct ctfs_tgsp_trust *t, char *err,
		       size_t errlen)
{
	struct ctfs_tgsp_container *c = NULL;
	int fd = mem_fd(d, n), rc;

	if (fd < 0)
		return -EIO;
	rc = ctfs_tgsp_container_read(fd, "mem", &c, err, errlen);
	close(fd);
	if (!rc)
		rc = ctfs_tgsp_container_verify(c, t, err, errlen);
	if (!rc)
		rc = ctfs_tgsp_container_check_payload(c, err, errlen);
	ctfs_tgsp_container_free(c);
	return rc;
}

static int open_bytes(const uint8_t *d, size_t n, const struct ctfs_tgsp_open_opts *o,
		      struct ctfs_tgsp **p, char *err, size_t errlen)
{
	int fd = mem_fd(d, n), rc;

	if (fd < 0)
		return -EIO;
	rc = ctfs_tgsp_open(fd, "mem", o, p, err, errlen);
	close(fd);
	return rc;
}

static bool entry_matches(struct ctfs_tgsp *p, const char *path, const char *hex)
{
	const struct ctfs_tar_entry *e = ctfs_tar_lookup(ctfs_tgsp_index(p), path);
	uint8_t *buf, d[32];
	struct ctfs_buf h = { 0 };
	bool ok;

	if (!e || e->type != CTFS_TAR_FILE)
		return false;
	buf = malloc(e->size + 1);
	ok = ctfs_tgsp_read(p, e, buf, e->size + 1, 0) == (ssize_t)e->size;
	ctfs_sha256(d, buf, e->size);
	ok = ok && !ctfs_hex_encode(d, 32, &h) && !strcmp((char *)h.data, hex);
	/* and in pieces, from the end backwards */
	for (uint64_t off = e->size; ok && off > 0;) {
		size_t k = off > 77777 ? 77777 : (size_t)off;
		uint8_t *piece = malloc(k);

		off -= k;
		ok = ctfs_tgsp_read(p, e, piece, k, off) == (ssize_t)k && !memcmp(piece, buf + off, k);
		free(piece);
	}
	ctfs_buf_free(&h);
	free(buf);
	return ok;
}

static void test_vectors(void)
{
	size_t elen;
	uint8_t *ej = slurp(vpath("tgsp/expected.json"), &elen);
	cJSON *exp = ej ? cJSON_ParseWithLength((char *)ej, elen) : NULL, *pkg, *f;
	struct ctfs_tgsp_trust trust = { 0 };
	int n_files = 0, n_ok = 0, n_pkgs = 0;

	free(ej);
	if (!exp || !venc || ctfs_tgsp_trust_add(&trust, &vsig, NULL, "vectors")) {
		tap_ok(0, "sample packages: expected.json and keys");
		cJSON_Delete(exp);
		return;
	}
	cJSON_ArrayForEach(pkg, exp) {
		struct ctfs_tgsp_open_opts o = { &trust, "fleet-demo", time(NULL), vec_key, venc,
						 NULL, 0 };
		struct ctfs_tgsp *p = NULL;
		size_t n;
		uint8_t *d;
		char err[512] = "", rel[256];
		int rc;

		snprintf(rel, sizeof(rel), "tgsp/%s", pkg->string);
		d = slurp(vpath(rel), &n);
		rc = d ? open_bytes(d, n, &o, &p, err, sizeof(err)) : -EIO;
		tap_ok(!rc, "%s opens (%s)", pkg->string, err);
		n_pkgs++;
		cJSON_ArrayForEach(f, pkg) {
			n_files++;
			if (!rc && entry_matches(p, f->string, f->valuestring))
				n_ok++;
		}
		if (!rc)
			tap_ok(ctfs_tar_count(ctfs_tgsp_index(p)) - 1 ==
			       (size_t)cJSON_GetArraySize(pkg) +
			       (ctfs_tar_lookup(ctfs_tgsp_index(p), "sub") ? 1 : 0),
			       "%s: no members beyond expected.json", pkg->string);
		ctfs_tgsp_close(p);
		free(d);
	}
	tap_ok(n_files == 4 && n_ok == n_files && n_pkgs == 2,
	       "sample packages: %d/%d files of %d packages match expected.json", n_ok, n_files,
	       n_pkgs);
	cJSON_Delete(exp);
	ctfs_tgsp_trust_free(&trust);
}

static void test_policy(void)
{
	struct ctfs_tgsp_policy p = { true, true, 1000, 2000.5, (char *)"blue", NULL };
	char err[200];

	tap_ok(!ctfs_tgsp_policy_check(&p, "blue", 1000, err, sizeof(err)) &&
	       !ctfs_tgsp_policy_check(&p, "blue", 2000, err, sizeof(err)),
	       "policy: the window is inclusive");
	tap_ok(ctfs_tgsp_policy_check(&p, "blue", 999, err, sizeof(err)) == -EACCES &&
	       strstr(err, "not valid before"), "policy: not yet valid (%s)", err);
	tap_ok(ctfs_tgsp_policy_check(&p, "blue", 2001, err, sizeof(err)) == -EACCES &&
	       strstr(err, "expired at"), "policy: expired (%s)", err);
	tap_ok(ctfs_tgsp_policy_check(&p, "red", 1500, err, sizeof(err)) == -EACCES &&
	       strstr(err, "'blue'") && strstr(err, "'red'"), "policy: another fleet (%s)", err);
	tap_ok(ctfs_tgsp_policy_check(&p, NULL, 1500, err, sizeof(err)) == -EACCES &&
	       strstr(err, "no fleet"), "policy: no fleet id (%s)", err);
	p.problem = (char *)"unknown constraint 'x'";
	tap_ok(ctfs_tgsp_policy_check(&p, "blue", 1500, err, sizeof(err)) == -EACCES &&
	       strstr(err, "'x'"), "policy: constraints it cannot honour deny");
}

/* Sections of a package, for mutating and signing again. */
struct secs {
	uint8_t *s[TGSP_N_SECTIONS];
	size_t n[TGSP_N_SECTIONS];
};

static int split(const uint8_t *d, size_t len, struct secs *x)
{
	static const int w[] = { 4, 4, 4, 8, 4 };
	size_t pos = 6;

	for (int i = 0; i < TGSP_N_SECTIONS; i++) {
		uint64_t n = w[i] == 8 ? ctfs_load_be64(d + pos) : ctfs_load_be32(d + pos);

		pos += (size_t)w[i];
		if (n > len - pos)
			return -1;
		x->s[i] = malloc(n + 1);
		memcpy(x->s[i], d + pos, n);
		x->n[i] = n;
		pos += n;
	}
	return pos == len ? 0 : -1;
}

static void free_secs(struct secs *x)
{
	for (int i = 0; i < TGSP_N_SECTIONS; i++)
		free(x->s[i]);
}

static void hexhash(const uint8_t *d, size_t n, char out[65])
{
	uint8_t h[32];
	struct ctfs_buf b = { 0 };

	ctfs_sha256(h, d, n);
	ctfs_hex_encode(h, 32, &b);
	memcpy(out, b.data, 65);
	ctfs_buf_free(&b);
}

/* Put the hashes of the sections into the header, sign, and lay out. */
/* repack writes a wrong payload hash (and signs it) */
static bool repack_flip_payload_hash;

static uint8_t *repack(struct secs *x, const struct ctfs_tgsp_sign_sec *sk, size_t *len)
{
	static const int w[] = { 4, 4, 4, 8, 4 };
	static const char *const keys[3] = { "\"manifest\":\"", "\"payload\":\"",
					     "\"recipients\":\"" };
	const int which[3] = { TGSP_MANIFEST, TGSP_PAYLOAD, TGSP_RECIPIENTS };
	struct ctfs_buf sig = { 0 }, hx = { 0 };
	uint8_t ed[64], *pq = malloc(CTFS_MLDSA65_SIG_BYTES), *msg, *out, *o;
	size_t mlen;

	for (int i = 0; i < 3; i++) {
		char h[65], *at = strstr((char *)x->s[TGSP_HEADER], keys[i]);

		hexhash(x->s[which[i]], x->n[which[i]], h);
		if (repack_flip_payload_hash && which[i] == TGSP_PAYLOAD)
			h[0] = h[0] == '0' ? '1' : '0';
		memcpy(at + strlen(keys[i]), h, 64);
	}
	mlen = x->n[0] + x->n[1] + x->n[2];
	msg = malloc(mlen);
	memcpy(msg, x->s[0], x->n[0]);
	memcpy(msg + x->n[0], x->s[1], x->n[1]);
	memcpy(msg + x->n[0] + x->n[1], x->s[2], x->n[2]);
	ctfs_ed25519_sign(ed, msg, mlen, sk->ed25519_seed);
	ctfs_mldsa65_sign(pq, msg, mlen, NULL, 0, sk->mldsa, NULL);
	ctfs_buf_puts(&sig, "{\"key_id\":\"t\",\"signature\":{\"sig_classic\":\"");
	ctfs_hex_encode(ed, 64, &sig);
	ctfs_buf_puts(&sig, "\",\"sig_pqc\":\"");
	ctfs_hex_encode(pq, CTFS_MLDSA65_SIG_BYTES, &sig);
	ctfs_buf_puts(&sig, "\"}}");
	free(x->s[TGSP_SIGNATURE]);
	x->s[TGSP_SIGNATURE] = sig.data;
	x->n[TGSP_SIGNATURE] = sig.len;
	*len = 6;
	for (int i = 0; i < TGSP_N_SECTIONS; i++)
		*len += (size_t)w[i] + x->n[i];
	o = out = malloc(*len);
	memcpy(o, CTFS_TGSP_MAGIC, 6);
	o += 6;
	for (int i = 0; i < TGSP_N_SECTIONS; i++) {
		if (w[i] == 8)
			ctfs_store_be64(o, x->n[i]);
		else
			ctfs_store_be32(o, (uint32_t)x->n[i]);
		o += w[i];
		memcpy(o, x->s[i], x->n[i]);
		o += x->n[i];
	}
	free(msg);
	free(pq);
	ctfs_buf_free(&hx);
	return out;
}

/* --- building ----------------------------------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *rel, const uint8_t *d, size_t n, mode_t mode)
{
	char path[512], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/tree/%s", tmpdir, rel);
	for (slash = path + strlen(tmpdir) + 1; (slash = strchr(slash, '/')); slash++) {
		*slash = 0;
		mkdir(path, 0755);
		*slash = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd >= 0) {
		if (ctfs_write_full(fd, d, n))
			tap_diag("cannot write %s", path);
		close(fd);
	}
}

struct built {
	uint8_t *d;
	size_t n;
};

static int build(const struct ctfs_tgsp_build_opts *o, struct built *b, char *err, size_t errlen)
{
	char path[128];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/pkg.tgsp", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	rc = ctfs_tgsp_build(fd, o, err, errlen);
	close(fd);
	free(b->d);
	b->d = rc ? NULL : slurp(path, &b->n);
	unlink(path);
	return rc ? rc : b->d ? 0 : -EIO;
}

/* An open package whose file changes under it (frame 1 flipped): reads
 * through the workers inflating ahead fail where they need frame 1 (its tag
 * no longer verifies) and never return other bytes. */
static void test_corrupt_after_open(const uint8_t *d, size_t n, const struct secs *x,
				    const struct ctfs_tgsp_open_opts *oo, const uint8_t *big)
{
	size_t poff = 6 + 4 + x->n[0] + 4 + x->n[1] + 4 + x->n[2] + 8;
	size_t at = poff + (4 + CTFS_TGSP_FRAME + CTFS_TGSP_TAG) + 4 + 1000;
	int fd = mem_fd(d, n), failed = 0, wrong = 0;
	const struct ctfs_tar_entry *e;
	struct ctfs_tgsp *p = NULL;
	uint8_t *buf = malloc(256 << 10), flip;
	char err[512] = "";

	if (fd < 0 || ctfs_tgsp_open(fd, "mem", oo, &p, err, sizeof(err))) {
		tap_ok(0, "corrupt after open: open (%s)", err);
		goto out;
	}
	ctfs_tgsp_set_workers(p, CTFS_GZINDEX_WORKERS);
	/* the open pass's cursor still holds the last 8 MiB it inflated */
	ctfs_tgsp_trim(p);
	e = ctfs_tar_lookup(ctfs_tgsp_index(p), "model.safetensors");
	if (pread(fd, &flip, 1, (off_t)at) != 1 || (flip ^= 0x20, pwrite(fd, &flip, 1, (off_t)at)) != 1) {
		tap_ok(0, "corrupt after open: flip a byte");
		goto out;
	}
	for (uint64_t off = 0; e && off < e->size; off += 256 << 10) {
		size_t want = e->size - off < (256 << 10) ? (size_t)(e->size - off) : 256 << 10;
		ssize_t got = ctfs_tgsp_read(p, e, buf, 256 << 10, off);

		if (got == -EIO)
			failed++;
		else if (got != (ssize_t)want || memcmp(buf, big + off, want))
			wrong++;
	}
	tap_ok(e && failed > 0 && !wrong, "corrupt after open: a frame flipped under an open "
	       "package fails the reads that need it (%d, EIO), none returns other bytes (%d)",
	       failed, wrong);
out:
	ctfs_tgsp_close(p);
	if (fd >= 0)
		close(fd);
	free(buf);
}

static void test_build_and_mutations(void)
{
	struct ctfs_tgsp_sign_pub spub, other_pub;
	struct ctfs_tgsp_sign_sec *ssec = NULL, *other_sec = NULL;
	struct ctfs_tgsp_enc_pub epub[2];
	struct ctfs_tgsp_enc_sec *esec[2] = { NULL, NULL };
	struct ctfs_tgsp_trust trust = { 0 }, wrong = { 0 };
	const char *ids[2] = { "someone", "me" };
	struct built b = { 0 };
	struct secs x = { 0 };
	struct ctfs_tgsp *p = NULL;
	uint8_t *big = malloc(9 * MiB), *mut;
	char tree[128], err[512] = "";
	size_t mn;
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tgsp-XXXXXX");
	if (!mkdtemp(tmpdir) || ctfs_tgsp_sign_keygen(&spub, &ssec) ||
	    ctfs_tgsp_sign_keygen(&other_pub, &other_sec) || ctfs_tgsp_enc_keygen(&epub[0], &esec[0]) ||
	    ctfs_tgsp_enc_keygen(&epub[1], &esec[1]) ||
	    ctfs_tgsp_trust_add(&trust, &spub, NULL, "t") ||
	    ctfs_tgsp_trust_add(&wrong, &other_pub, NULL, "w")) {
		tap_ok(0, "build: set-up");
		goto out;
	}
	tap_fill(big, 9 * MiB);
	write_file("model.safetensors", big, 9 * MiB, 0644);
	write_file("config.json", (const uint8_t *)"{}", 2, 0644);
	write_file("a/b/c.sh", (const uint8_t *)"#!/bin/sh\n", 10, 0755);
	write_file("empty", NULL, 0, 0644);
	snprintf(tree, sizeof(tree), "%s/tree", tmpdir);
	struct ctfs_tgsp_build_opts bo = {
		.dir = tree, .signer_pub = &spub, .signer_sec = ssec, .key_id = "t",
		.recipients = epub, .recipient_ids = ids, .n_recipients = 2,
		.model_name = "m", .model_version = "1", .author_id = "test", .fleet = "blue",
		.has_not_before = true, .not_before = 1000, .created_at = 1795250496.25,
	};
	struct ctfs_tgsp_open_opts oo = { &trust, "blue", time(NULL), vec_key, esec[1], NULL, 0 };

	rc = build(&bo, &b, err, sizeof(err));
	tap_ok(!rc, "build: a tree of 4 files, 2 recipients (%s)", err);
	if (rc)
		goto out;
	rc = open_bytes(b.d, b.n, &oo, &p, err, sizeof(err));
	tap_ok(!rc, "build: our package opens with the second recipient's key (%s)", err);
	if (!rc) {
		const struct ctfs_tgsp_container *c = ctfs_tgsp_container(p);
		const struct ctfs_tar_entry *e = ctfs_tar_lookup(ctfs_tgsp_index(p), "a/b/c.sh");
		uint8_t *got = malloc(9 * MiB);

		tap_ok(c->n_frames == 3 && c->policy.has_not_before && !c->policy.has_not_after &&
		       !strcmp(c->policy.target_fleet, "blue") && c->n_rcpt == 2 &&
		       !strcmp(c->rcpt[1].id, "me") && !strcmp(c->key_id, "t"),
		       "build: frames, constraints, recipients and key_id as asked");
		tap_ok(e && e->mode == 0755 && ctfs_tar_lookup(ctfs_tgsp_index(p), "empty")->size == 0 &&
		       ctfs_tar_lookup(ctfs_tgsp_index(p), "a/b")->type == CTFS_TAR_DIR,
		       "build: modes, empty files, implied directories");
		e = ctfs_tar_lookup(ctfs_tgsp_index(p), "model.safetensors");
		tap_ok(e && ctfs_tgsp_read(p, e, got, 9 * MiB, 0) == 9 * MiB &&
		       !memcmp(got, big, 9 * MiB), "build: 9 MiB read back whole");
		free(got);
		tap_ok(!ctfs_canon_json_check(c->text[TGSP_MANIFEST], c->len[TGSP_MANIFEST], NULL, 0),
		       "build: canonical manifest");
	}
	ctfs_tgsp_close(p);
	p = NULL;

	/* keys, trust and policy */
	oo.arg = esec[0];
	oo.recipient_key = vec_key;
	tap_ok(!open_bytes(b.d, b.n, &oo, &p, err, sizeof(err)),
	       "the first recipient's key opens it too");
	ctfs_tgsp_close(p);
	p = NULL;
	oo.arg = NULL;
	tap_ok(open_bytes(b.d, b.n, &oo, &p, err, sizeof(err)) == -ENOKEY &&
	       strstr(err, "no key for recipients 'someone', 'me'"), "no key: ENOKEY (%s)", err);
	{
		struct ctfs_tgsp_enc_pub np;
		struct ctfs_tgsp_enc_sec *ns;

		ctfs_tgsp_enc_keygen(&np, &ns);
		oo.arg = ns;
		tap_ok(open_bytes(b.d, b.n, &oo, &p, err, sizeof(err)) == -ENOKEY &&
		       strstr(err, "open no recipient block"), "a key that fits no block: ENOKEY (%s)",
		       err);
		ctfs_secure_free(ns);
	}
	oo.arg = esec[1];
	oo.trust = &wrong;
	tap_ok(open_bytes(b.d, b.n, &oo, &p, err, sizeof(err)) == -EBADMSG &&
	       strstr(err, "untrusted key"), "an untrusted signer: EBADMSG (%s)", err);
	oo.trust = NULL;
	tap_ok(open_bytes(b.d, b.n, &oo, &p, err, sizeof(err)) == -ENOKEY &&
	       strstr(err, "no trusted signer"), "no trust at all: ENOKEY (%s)", err);
	oo.trust = &trust;
	oo.fleet = "red";
	tap_ok(open_bytes(b.d, b.n, &oo, &p, err, sizeof(err)) == -EACCES,
	       "another fleet: EACCES (%s)", err);
	oo.fleet = "blue";
	oo.now = 999;
	tap_ok(open_bytes(b.d, b.n, &oo, &p, err, sizeof(err)) == -EACCES,
	       "before not_before: EACCES (%s)", err);
	oo.now = time(NULL);

	/* truncations and flipped bits anywhere */
	{
		int accepted = 0, tried = 0;

		for (size_t cut = 0; cut < b.n; cut += cut < 20000 ? 13 : 65537) {
			tried++;
			if (check_bytes(b.d, cut, &trust, err, sizeof(err)) != -EBADMSG)
				accepted++;
		}
		tap_ok(!accepted, "%d truncations refused with EBADMSG", tried);
		accepted = tried = 0;
		mut = malloc(b.n);
		const uint8_t *kid = memmem(b.d + b.n - 8000, 8000, "{\"key_id\":\"", 11);

		for (int i = 0; i < 400; i++) {
			size_t at = i < 200 ? (uint32_t)tap_below(20000) : (uint32_t)tap_below((uint32_t)b.n);

			/* the key_id value is a hint no one signs: a file-trusted
			 * signer verifies whatever it says */
			if (kid && at == (size_t)(kid + 11 - b.d))
				continue;
			memcpy(mut, b.d, b.n);
			mut[at] ^= (uint8_t)(1u << (uint32_t)tap_below(8));
			tried++;
			rc = check_bytes(mut, b.n, &trust, err, sizeof(err));
			if (rc != -EBADMSG) {
				accepted++;
				tap_diag("flip at %zu: %d", at, rc);
			}
		}
		tap_ok(!accepted, "%d flipped bits refused with EBADMSG", tried);
		free(mut);
	}

	/* validly signed but wrong inside */
	if (split(b.d, b.n, &x)) {
		tap_ok(0, "split");
		goto out;
	}
	x.s[TGSP_PAYLOAD][4 + CTFS_TGSP_FRAME + 10] ^= 1;	/* frame 0's tag */
	mut = repack(&x, ssec, &mn);
	rc = open_bytes(mut, mn, &oo, &p, err, sizeof(err));
	tap_ok(rc == -EBADMSG && strstr(err, "frame 0: authentication tag"),
	       "a signed package with a bad frame tag (%s)", err);
	free(mut);
	x.s[TGSP_PAYLOAD][4 + CTFS_TGSP_FRAME + 10] ^= 1;
	{
		/* frames 1 and 2 swapped: each is fine alone */
		size_t fb = 4 + CTFS_TGSP_FRAME + 16;
		uint8_t *tmp = malloc(fb);

		memcpy(tmp, x.s[TGSP_PAYLOAD], fb);
		memmove(x.s[TGSP_PAYLOAD], x.s[TGSP_PAYLOAD] + fb, fb);
		memcpy(x.s[TGSP_PAYLOAD] + fb, tmp, fb);
		mut = repack(&x, ssec, &mn);
		rc = open_bytes(mut, mn, &oo, &p, err, sizeof(err));
		tap_ok(rc == -EBADMSG && strstr(err, "frame 0"), "reordered frames (%s)", err);
		free(mut);
		memcpy(x.s[TGSP_PAYLOAD] + fb, x.s[TGSP_PAYLOAD], fb);
		memcpy(x.s[TGSP_PAYLOAD], tmp, fb);
		free(tmp);
	}
	{
		size_t keep = x.n[TGSP_PAYLOAD];

		x.n[TGSP_PAYLOAD] = 4 + CTFS_TGSP_FRAME + 16;	/* only frame 0: a truncated stream */
		mut = repack(&x, ssec, &mn);
		rc = open_bytes(mut, mn, &oo, &p, err, sizeof(err));
		tap_ok(rc == -EBADMSG && strstr(err, "corrupt archive"),
		       "a signed package missing its last frames (%s)", err);
		free(mut);
		x.n[TGSP_PAYLOAD] = 4 + CTFS_TGSP_FRAME - 1;	/* a cut frame */
		mut = repack(&x, ssec, &mn);
		rc = open_bytes(mut, mn, &oo, &p, err, sizeof(err));
		tap_ok(rc == -EBADMSG && strstr(err, "frames:"), "a cut frame (%s)", err);
		free(mut);
		ctfs_store_be32(x.s[TGSP_PAYLOAD], CTFS_TGSP_FRAME - 1);	/* a short frame first */
		x.n[TGSP_PAYLOAD] = keep;
		mut = repack(&x, ssec, &mn);
		rc = open_bytes(mut, mn, &oo, &p, err, sizeof(err));
		tap_ok(rc == -EBADMSG && strstr(err, "not the last"), "a short frame that is not "
		       "the last (%s)", err);
		free(mut);
		ctfs_store_be32(x.s[TGSP_PAYLOAD], CTFS_TGSP_FRAME + 1);
		mut = repack(&x, ssec, &mn);
		rc = open_bytes(mut, mn, &oo, &p, err, sizeof(err));
		tap_ok(rc == -EBADMSG && strstr(err, "frames:"), "a frame over 4 MiB (%s)", err);
		free(mut);
		ctfs_store_be32(x.s[TGSP_PAYLOAD], CTFS_TGSP_FRAME);
		x.n[TGSP_PAYLOAD] = 0;
		mut = repack(&x, ssec, &mn);
		rc = open_bytes(mut, mn, &oo, &p, err, sizeof(err));
		tap_ok(rc == -EBADMSG && strstr(err, "empty"), "an empty payload (%s)", err);
		free(mut);
		x.n[TGSP_PAYLOAD] = keep;
	}
	/* the open pass reads the payload once: its hash is still checked */
	repack_flip_payload_hash = true;
	mut = repack(&x, ssec, &mn);
	repack_flip_payload_hash = false;
	rc = open_bytes(mut, mn, &oo, &p, err, sizeof(err));
	tap_ok(rc == -EBADMSG && strstr(err, "payload hash"),
	       "a signed package whose payload hash is wrong, frames fine: refused (%s)", err);
	free(mut);
	test_corrupt_after_open(b.d, b.n, &x, &oo, big);
	{
		/* recipients re-ordered, header re-hashed and re-signed: still fine */
		cJSON *a = cJSON_ParseWithLength((char *)x.s[TGSP_RECIPIENTS], x.n[TGSP_RECIPIENTS]);
		cJSON *first = cJSON_DetachItemFromArray(a, 0);
		char *t;

		cJSON_AddItemToArray(a, first);
		t = cJSON_PrintUnformatted(a);
		free(x.s[TGSP_RECIPIENTS]);
		x.s[TGSP_RECIPIENTS] = (uint8_t *)strdup(t);
		x.n[TGSP_RECIPIENTS] = strlen(t);
		cJSON_free(t);
		cJSON_Delete(a);
		mut = repack(&x, ssec, &mn);
		rc = open_bytes(mut, mn, &oo, &p, err, sizeof(err));
		/* the frames' AAD holds the old recipients hash */
		tap_ok(rc == -EBADMSG && strstr(err, "frame 0"),
		       "re-signed recipients under the old frames: frames refused (%s)", err);
		free(mut);
	}
out:
	ctfs_tgsp_close(p);
	free_secs(&x);
	free(b.d);
	free(big);
	ctfs_secure_free(ssec);
	ctfs_secure_free(other_sec);
	ctfs_secure_free(esec[0]);
	ctfs_secure_free(esec[1]);
	ctfs_tgsp_trust_free(&trust);
	ctfs_tgsp_trust_free(&wrong);
	if (tmpdir[0]) {
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			tap_diag("cannot remove %s", tmpdir);
	}
}

int main(void)
{
	tap_seed();
	struct stat st;

	if (ctfs_secmem_init())
		return 1;
	snprintf(vec, sizeof(vec), "%s", tap_vectors_dir());
	test_canon();
	test_paths();
	test_tar_shapes();
	test_tar_refusals();
	test_tar_bounds();
	test_tar_writer();
	test_gzindex();
	test_gzindex_ahead();
	test_frames();
	test_policy();
	if (stat(vpath("tgsp/expected.json"), &st)) {
		tap_diag("no TGSP vectors at %s: sample package tests skipped", vec);
	} else {
		test_keys();
		test_vectors();
	}
	test_build_and_mutations();
	ctfs_secure_free(venc);
	return tap_done();
}
