/* Resident plaintext copies without a mount (view/resident.c): a copy
 * serves the same bytes as the lazy read path, is shared by the handles of
 * a file, sealed, released after the grace time; a tampered file gives no
 * copy; patterns select files; and sys/procmaps.c finds a mapping made by
 * another process, by path and by device and inode. */
#include <errno.h>
#include <fcntl.h>
#include <keyutils.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "keys/jwk.h"
#include "keys/keyring.h"
#include "metrics/metrics.h"
#include "sys/procmaps.h"
#include "tap.h"
#include "util.h"
#include "view/internal.h"

#define VEC "v2-aes256-partial.safetensors"

static void sh(const char *cmd)
{
	if (system(cmd)) {
		fprintf(stderr, "failed: %s\n", cmd);
		exit(2);
	}
}

/* Flip a byte in the middle of tensor w (encrypted, data [8, 600008)). */
static void tamper(const char *path)
{
	int fd = open(path, O_RDWR);
	uint64_t hlen;
	uint8_t b;
	off_t at;

	if (fd < 0 || pread(fd, &hlen, 8, 0) != 8)
		exit(2);
	at = (off_t)(8 + hlen + 8 + 300000);
	if (pread(fd, &b, 1, at) != 1)
		exit(2);
	b ^= 1;
	if (pwrite(fd, &b, 1, at) != 1 || close(fd))
		exit(2);
}

static key_serial_t keys_ring(const char *vectors)
{
	key_serial_t ring = add_key("keyring", "ctfs-test-resident", NULL, 0,
				    KEY_SPEC_PROCESS_KEYRING);
	char path[PATH_MAX];
	struct ctfs_jwk *keys = NULL;
	uint8_t *text;
	size_t len, n = 0;

	snprintf(path, sizeof(path), "%s/cryptotensors/keys-aes256.json", vectors);
	if (ring < 0 || ctfs_read_file(path, 1 << 20, &text, &len) ||
	    ctfs_jwk_parse_set((char *)text, len, &keys, &n, NULL, 0)) {
		fprintf(stderr, "cannot set up the keyring: %m\n");
		exit(2);
	}
	/* readable by this user without possession: a forked child (which
	 * has a process keyring of its own) uses them too */
	for (size_t i = 0; i < n; i++) {
		key_serial_t id;

		if (ctfs_keyring_add_jwk(ring, &keys[i], false, &id) ||
		    keyctl_setperm(id, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH))
			exit(2);
	}
	if (keyctl_setperm(ring, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH))
		exit(2);
	ctfs_jwk_free_set(keys, n);
	free(text);
	return ring;
}

static struct ctfs_view *view_cache(const char *src, key_serial_t ring, const char *resident,
				    unsigned grace, size_t cache)
{
	struct ctfs_view_opts o = {
		.source = src, .ring = ring, .cache_size = cache,
		.header_cache = CTFS_VIEW_HEADER_CACHE_DEFAULT, .unbound = CTFS_UNBOUND_WARN,
		.resident = resident, .resident_grace = grace,
	};
	struct ctfs_view *v = NULL;
	char err[256];

	if (ctfs_view_new(&o, &v, err, sizeof(err))) {
		fprintf(stderr, "view: %s\n", err);
		exit(2);
	}
	return v;
}

static struct ctfs_view *view(const char *src, key_serial_t ring, const char *resident,
			      unsigned grace)
{
	return view_cache(src, ring, resident, grace, 1u << 20);
}

/* The whole view of path through handle h, malloc'd; *len its size. */
static uint8_t *read_all(struct ctfs_handle *h, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);
	ssize_t r;

	while (buf && (r = ctfs_handle_read(h, buf + n, cap - n, n)) > 0) {
		n += (size_t)r;
		if (n == cap && !(buf = realloc(buf, cap *= 2)))
			return NULL;
	}
	*len = n;
	return buf;
}

static struct ctfs_handle *open_file(struct ctfs_view *v, const char *path, int *rc)
{
	struct ctfs_caller me = { getpid(), getuid(), getgid() };
	struct ctfs_handle *h = NULL;
	bool keep;

	*rc = ctfs_view_open(v, path, &me, &h, &keep);
	return *rc ? NULL : h;
}

static bool wait_gauge_zero(void)
{
	for (int i = 0; i < 200; i++) {	/* up to 20 s on a loaded machine */
		if (ctfs_metrics_get(CTFS_M_RESIDENT_BYTES) == 0)
			return true;
		nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	}
	return false;
}

static void test_copy(const char *src, key_serial_t ring)
{
	struct ctfs_view *lazy = view(src, ring, NULL, 0), *v = view(src, ring, "", 0);
	struct ctfs_handle *h, *h2;
	uint8_t *want, *got, *got2;
	size_t want_len = 0, len = 0, len2 = 0;
	const char *name;
	struct stat id;
	int rc, fd, fd2;

	h = open_file(lazy, "/" VEC, &rc);
	want = h ? read_all(h, &want_len) : NULL;
	tap_ok(want && want_len > 0, "the lazy view reads (%zu bytes)", want_len);
	tap_ok(h && ctfs_handle_resident_fd(h, &fd, &id, &name) == -ENOENT,
	       "a lazy handle has no resident copy");
	if (h)
		ctfs_handle_release(h);
	h = open_file(v, "/" VEC, &rc);
	h2 = open_file(v, "/" VEC, &rc);
	got = h ? read_all(h, &len) : NULL;
	got2 = h2 ? read_all(h2, &len2) : NULL;
	tap_ok(got && want && len == want_len && !memcmp(got, want, len),
	       "the resident copy serves the bytes of the lazy view");
	tap_ok(got2 && len2 == len && !memcmp(got2, got, len), "a second handle too");
	tap_ok(h && h2 && !ctfs_handle_resident_fd(h, &fd, &id, &name) &&
	       !ctfs_handle_resident_fd(h2, &fd2, &id, &name) && fd == fd2,
	       "both handles share one copy");
	tap_ok(h && ctfs_metrics_get(CTFS_M_RESIDENT_BYTES) == want_len,
	       "the gauge counts it (%llu)",
	       (unsigned long long)ctfs_metrics_get(CTFS_M_RESIDENT_BYTES));
	tap_ok(h && fcntl(fd, F_GET_SEALS) ==
	       (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) &&
	       pwrite(fd, "x", 1, 0) < 0 && errno == EPERM && ftruncate(fd, 0) < 0,
	       "the copy is sealed: no write, no size change through its memfd");
	if (h)
		ctfs_handle_release(h);
	if (h2)
		ctfs_handle_release(h2);
	tap_ok(wait_gauge_zero(), "released after the grace time once the handles are gone");
	free(want);
	free(got);
	free(got2);
	ctfs_view_free(v);
	ctfs_view_free(lazy);
}

static void test_tampered(const char *src, key_serial_t ring)
{
	struct ctfs_view *v = view(src, ring, "", 30);
	int rc;

	open_file(v, "/bad/" VEC, &rc);
	tap_ok(rc == -EIO, "a tampered file does not open resident: EIO (%d)", rc);
	tap_ok(ctfs_metrics_get(CTFS_M_RESIDENT_BYTES) == 0, "and leaves no copy");
	open_file(v, "/bad/" VEC, &rc);
	tap_ok(rc == -EIO, "nor at the next open (%d)", rc);
	ctfs_view_free(v);
}

static void test_patterns(void)
{
	struct ctfs_resident *r;

	if (ctfs_resident_new("a*.safetensors:x/*", 1, NULL, &r)) {
		tap_ok(0, "a store");
		return;
	}
	tap_ok(ctfs_resident_wanted(r, "/a1.safetensors") && ctfs_resident_wanted(r, "/x/y/z"),
	       "paths matching a pattern are resident");
	tap_ok(!ctfs_resident_wanted(r, "/b.safetensors") &&
	       !ctfs_resident_wanted(r, "/dir/a.safetensors"), "others are not");
	ctfs_resident_free(r);
	if (ctfs_resident_new("", 1, NULL, &r) == 0) {
		tap_ok(ctfs_resident_wanted(r, "/any/thing"), "no pattern: every file");
		ctfs_resident_free(r);
	}
}

/* In a child that may not lock memory (no CAP_IPC_LOCK, a small
 * RLIMIT_MEMLOCK): bit 0 the open is served lazily with the right bytes,
 * bit 1 a second open while the first is open is lazy too, bit 2 once the
 * limit is lifted and the lazy handles are closed, the next open is
 * resident. */
static int lazy_child(const char *src, key_serial_t ring, const uint8_t *want, size_t want_len)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];
	struct rlimit rl, small = { 512 << 10, 0 };
	struct ctfs_handle *h, *h2;
	struct ctfs_view *v;
	const char *name;
	struct stat id;
	int rc, fd, bits = 0;
	uint8_t *got;
	size_t len = 0;

	if (syscall(SYS_capget, &hdr, caps) || getrlimit(RLIMIT_MEMLOCK, &rl))
		return 0;
	caps[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	small.rlim_max = rl.rlim_max;
	if (syscall(SYS_capset, &hdr, caps) || setrlimit(RLIMIT_MEMLOCK, &small))
		return 0;
	/* room for two 64 KiB chunks of cache and the keys, not the copy */
	v = view_cache(src, ring, "", 0, 128 << 10);
	h = open_file(v, "/" VEC, &rc);
	got = h ? read_all(h, &len) : NULL;

	if (h && got && len == want_len && !memcmp(got, want, len) &&
	    ctfs_handle_resident_fd(h, &fd, &id, &name) == -ENOENT)
		bits |= 1;
	free(got);
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return bits;
	h2 = open_file(v, "/" VEC, &rc);
	if (h2 && ctfs_handle_resident_fd(h2, &fd, &id, &name) == -ENOENT)
		bits |= 2;
	if (h2)
		ctfs_handle_release(h2);
	if (h)
		ctfs_handle_release(h);
	h = open_file(v, "/" VEC, &rc);
	if (h && ctfs_handle_resident_fd(h, &fd, &id, &name) == 0)
		bits |= 4;
	if (h)
		ctfs_handle_release(h);
	ctfs_view_free(v);
	return bits;
}

static void test_lazy_fallback(const char *src, key_serial_t ring)
{
#if defined(__SANITIZE_ADDRESS__)
	/* AddressSanitizer makes mlock a no-op that succeeds */
	(void)src, (void)ring, (void)lazy_child;
	for (int i = 0; i < 3; i++)
		tap_ok(1, "# SKIP memory locking is not real under AddressSanitizer");
#else
	struct ctfs_view *lazy = view(src, ring, NULL, 0);
	struct ctfs_handle *h;
	uint8_t *want = NULL;
	size_t want_len = 0;
	int rc, status = 0;
	pid_t child;

	h = open_file(lazy, "/" VEC, &rc);
	if (h) {
		want = read_all(h, &want_len);
		ctfs_handle_release(h);
	}
	ctfs_view_free(lazy);
	fflush(stdout);
	child = fork();
	if (child == 0)
		_exit(want ? lazy_child(src, ring, want, want_len) : 0);
	waitpid(child, &status, 0);
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	tap_ok(rc & 1, "a copy that cannot be locked: the file is served lazily, right");
	tap_ok(rc & 2, "a second open meanwhile is lazy too (no mixed opens)");
	tap_ok(rc & 4, "once memory can be locked and the lazy handles closed: resident");
	free(want);
#endif
}

/* A child maps a file and waits; the scan finds it until it is gone. */
static void test_procmaps(const char *dir)
{
	char path[PATH_MAX], *abs;
	struct ctfs_procmaps_query q = { 0 };
	struct stat st;
	unsigned unreadable;
	int pipefd[2], fd, rc;
	pid_t child, who = 0;
	char c;

	snprintf(path, sizeof(path), "%s/mapped\nname", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4096) || fstat(fd, &st) || pipe(pipefd) ||
	    !(abs = realpath(path, NULL)))
		exit(2);
	child = fork();
	if (child == 0) {
		void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

		close(fd);
		if (p == MAP_FAILED || write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fd);
	if (read(pipefd[0], &c, 1) != 1)
		exit(2);
	q.path = abs;
	rc = ctfs_procmaps_find(&q, &who, &unreadable);
	tap_ok(rc == 1 && who == child, "a mapping is found by its path, newline and all "
	       "(%d, pid %d)", rc, (int)who);
	q.path = "/nowhere";
	q.by_id = true;
	q.dev = st.st_dev;
	q.ino = st.st_ino;
	rc = ctfs_procmaps_find(&q, &who, &unreadable);
	tap_ok(rc == 1 && who == child, "and by device and inode (%d)", rc);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	rc = ctfs_procmaps_find(&q, &who, &unreadable);
	tap_ok(rc == 0, "not once the process is gone (%d)", rc);
	free(abs);
	close(pipefd[0]);
	close(pipefd[1]);
}

int main(void)
{
	const char *vectors = tap_vectors_dir();
	char tmpl[] = "/tmp/ctfs-test-resident-XXXXXX", src[PATH_MAX], cmd[8 * PATH_MAX];
	key_serial_t ring;

	if (!mkdtemp(tmpl) || ctfs_secmem_init())
		return 2;
	snprintf(src, sizeof(src), "%s/src", tmpl);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/bad && cp %s/cryptotensors/%s %s/ && cp %s/cryptotensors/%s %s/bad/",
		 src, vectors, VEC, src, vectors, VEC, src);
	sh(cmd);
	snprintf(cmd, sizeof(cmd), "%s/bad/%s", src, VEC);
	tamper(cmd);
	ring = keys_ring(vectors);
	test_patterns();
	test_copy(src, ring);
	test_tampered(src, ring);
	test_lazy_fallback(src, ring);
	test_procmaps(tmpl);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	if (system(cmd))
		tap_diag("could not remove %s", tmpl);
	return tap_done();
}
