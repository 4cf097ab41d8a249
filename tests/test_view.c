/* The mount view without a mount: confined path resolution, the name rules,
 * the backing-file registry, and the view's operations on a SOURCE tree,
 * including the attacks of issue 9 replayed deterministically (a directory
 * or a package swapped for a symlink between lookup and open, a FIFO in
 * place of a model, hard links of one header). */
#include <errno.h>
#include <fcntl.h>
#include <keyutils.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "sys/beneath.h"
#include "tap.h"
#include "view/internal.h"

static char root[PATH_MAX];

static void put_file(const char *rel, const char *text)
{
	FILE *f = fopen(rel, "w");	/* the cwd is the SOURCE directory */

	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(rel);
		exit(2);
	}
}

/* Run a shell command in the SOURCE directory (cwd is root). */
static void sh(const char *cmd)
{
	if (system(cmd)) {
		fprintf(stderr, "failed: %s\n", cmd);
		exit(2);
	}
}

/* --- beneath ---------------------------------------------------------------- */

static void test_beneath(bool walk)
{
	const char *mode = walk ? "walk" : "openat2";
	int dir, fd, rc;
	struct stat st;

	ctfs_beneath_force_walk(walk);
	dir = open(root, O_RDONLY | O_DIRECTORY);
	rc = ctfs_beneath_open(dir, "b/inner.txt", O_RDONLY, &fd);
	tap_ok(rc == 0, "%s: a file two levels down opens", mode);
	if (!rc)
		close(fd);
	rc = ctfs_beneath_open(dir, "out/passwd", O_RDONLY, &fd);
	tap_ok(rc == -ELOOP || rc == -EXDEV, "%s: a symlink leading out, as a middle component, is refused (%d)", mode, rc);
	rc = ctfs_beneath_open(dir, "lb/inner.txt", O_RDONLY, &fd);
	tap_ok(rc == -ELOOP, "%s: a symlink staying inside, as a middle component, is refused too", mode);
	rc = ctfs_beneath_open(dir, "lf", O_RDONLY, &fd);
	tap_ok(rc == -ELOOP, "%s: a symlink as the last component is not followed", mode);
	tap_ok(ctfs_beneath_lstat(dir, "lf", &st) == 0 && S_ISLNK(st.st_mode),
	       "%s: lstat of a symlink describes the link", mode);
	tap_ok(ctfs_beneath_lstat(dir, "", &st) == 0 && S_ISDIR(st.st_mode), "%s: \"\" is the root", mode);
	rc = ctfs_beneath_open(dir, "../etc/passwd", O_RDONLY, &fd);
	tap_ok(rc == -EXDEV, "%s: .. above the root is refused (%d)", mode, rc);
	rc = ctfs_beneath_open(dir, "b/../b/inner.txt", O_RDONLY, &fd);
	tap_ok(walk ? rc == -EXDEV : rc == 0, "%s: .. inside the root: %s", mode,
	       walk ? "refused by the walk" : "allowed by openat2");
	if (!rc)
		close(fd);
	rc = ctfs_beneath_open(dir, "fifo", O_RDONLY | O_NONBLOCK, &fd);
	tap_ok(rc == 0, "%s: a FIFO opened non-blocking does not hang", mode);
	if (!rc)
		close(fd);
	close(dir);
	ctfs_beneath_force_walk(false);
}

/* --- names ------------------------------------------------------------------ */

static void test_names(void)
{
	char out[NAME_MAX + 1];
	int dir = open(root, O_RDONLY | O_DIRECTORY);

	ctfs_view_shown_name(dir, "m.cryptotensors", out, sizeof(out));
	tap_ok(!strcmp(out, "m.safetensors"), "X.cryptotensors is listed as X.safetensors");
	ctfs_view_shown_name(dir, "both.cryptotensors", out, sizeof(out));
	tap_ok(!strcmp(out, "both.cryptotensors"), "... unless a real X.safetensors is beside it");
	ctfs_view_shown_name(dir, "pkg.tgsp", out, sizeof(out));
	tap_ok(!strcmp(out, "pkg"), "a regular X.tgsp is listed as X");
	ctfs_view_shown_name(dir, "b.tgsp", out, sizeof(out));
	tap_ok(!strcmp(out, "b.tgsp"), "... unless X exists");
	ctfs_view_shown_name(dir, "dir.tgsp", out, sizeof(out));
	tap_ok(!strcmp(out, "dir.tgsp"), "... or X.tgsp is not a regular file");
	ctfs_view_shown_name(dir, ".tgsp", out, sizeof(out));
	tap_ok(!strcmp(out, ".tgsp"), "a bare .tgsp keeps its name");
	ctfs_view_shown_name(dir, "config.json", out, sizeof(out));
	tap_ok(!strcmp(out, "config.json"), "other names are kept");
	close(dir);
}

/* --- registry ------------------------------------------------------------- */

static int drops;

static void count_drop(void *arg, struct ctfs_entry *e)
{
	(void)arg, (void)e;
	drops++;
}

static struct stat ident(ino_t ino, long mtime)
{
	struct stat st = { .st_dev = 7, .st_ino = ino };

	st.st_mtim.tv_sec = mtime;
	return st;
}

static void test_registry(void)
{
	struct ctfs_registry *r;
	struct ctfs_entry *a, *b, *c, *held;
	struct stat s1 = ident(1, 100), s1b = ident(1, 200);
	size_t n, cost, base;
	const size_t budget = 100000, big = 60000;

	tap_ok(ctfs_registry_new(budget, count_drop, NULL, &r) == 0, "registry created");
	ctfs_registry_get(r, CTFS_ENTRY_FILE, &s1, "one", &a);
	ctfs_registry_get(r, CTFS_ENTRY_FILE, &s1, "hardlink-of-one", &b);
	tap_ok(a == b && !strcmp(b->bpath, "one"), "one identity, one entry (hard links share it)");
	ctfs_registry_put(r, b);
	ctfs_registry_get(r, CTFS_ENTRY_FILE, &s1b, "one", &c);
	tap_ok(c != a, "a changed file gets a new entry");
	tap_ok(drops == 0, "the old entry lives while it is held");
	ctfs_registry_put(r, a);
	tap_ok(drops == 1, "... and goes when let go");
	ctfs_registry_put(r, c);
	ctfs_registry_stats(r, &n, &base);
	tap_ok(n == 1 && base > 0 && base < 1000,
	       "an unused entry that loaded nothing still counts its own memory (%zu)", base);
	ctfs_registry_get(r, CTFS_ENTRY_FILE, &s1b, "one", &c);
	ctfs_registry_set_cost(r, c, big);
	ctfs_registry_put(r, c);
	ctfs_registry_stats(r, &n, &cost);
	tap_ok(n == 1 && cost == base + big, "a loaded unused entry is kept within the budget");

	struct stat s2 = ident(2, 1), s3 = ident(3, 1);

	ctfs_registry_get(r, CTFS_ENTRY_FILE, &s2, "two", &held);
	ctfs_registry_set_cost(r, held, 5 * budget);
	ctfs_registry_get(r, CTFS_ENTRY_FILE, &s3, "thr", &b);
	ctfs_registry_set_cost(r, b, big);
	ctfs_registry_put(r, b);
	ctfs_registry_stats(r, &n, &cost);
	tap_ok(drops == 2 && n == 2 && cost == base + big,
	       "over the budget the least recently used goes; a held entry stays whatever it costs");
	ctfs_registry_get(r, CTFS_ENTRY_PKG, &s3, "thr.tgsp", &c);
	tap_ok(drops == 3, "the same identity as another kind replaces the entry");
	ctfs_registry_put(r, c);
	ctfs_registry_put(r, held);
	ctfs_registry_stats(r, &n, &cost);
	tap_ok(cost <= budget, "after release the unused memory is within the budget (%zu)", cost);
	for (int i = 0; i < 10000; i++) {
		struct stat s = ident((ino_t)(100 + i), 1);

		ctfs_registry_get(r, CTFS_ENTRY_FILE, &s, "many", &a);
		ctfs_registry_put(r, a);
	}
	ctfs_registry_stats(r, &n, &cost);
	tap_ok(cost <= budget && n < 10000,
	       "10000 files that loaded nothing through the budget: %zu kept, %zu bytes", n, cost);
	ctfs_registry_free(r);
}

/* --- the view ----------------------------------------------------------- */

struct names {
	char all[4096];
};

static int collect(void *arg, const char *name)
{
	struct names *n = arg;

	strncat(n->all, name, sizeof(n->all) - strlen(n->all) - 2);
	strcat(n->all, " ");
	return 0;
}

static struct ctfs_view *new_view(const char *src, size_t header_cache)
{
	struct ctfs_view_opts o = {
		.source = src, .ring = KEY_SPEC_SESSION_KEYRING, .cache_size = 1u << 20,
		.header_cache = header_cache,
	};
	struct ctfs_view *v = NULL;
	char err[256];

	if (ctfs_view_new(&o, &v, err, sizeof(err))) {
		fprintf(stderr, "view: %s\n", err);
		exit(2);
	}
	return v;
}

static void test_view_ops(const char *vectors)
{
	struct ctfs_view *v;
	struct ctfs_caller me = { getpid(), getuid(), getgid() };
	struct ctfs_handle *h;
	struct names n = { "" };
	struct stat st, real;
	char buf[64], p[PATH_MAX];
	bool keep;
	int rc;

	snprintf(p, sizeof(p), "cp %s/cryptotensors/v2-aes128-unicode.cryptotensors model/w.cryptotensors", vectors);
	sh(p);
	v = new_view(root, CTFS_VIEW_HEADER_CACHE_DEFAULT);
	tap_ok(ctfs_view_readdir(v, "/model", collect, &n) == 0 && strstr(n.all, "w.safetensors ") &&
	       !strstr(n.all, "cryptotensors"), "listing shows the view's names: %s", n.all);
	rc = ctfs_view_getattr(v, "/model/w.safetensors", &st);
	stat("model/w.cryptotensors", &real);
	tap_ok(rc == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size < real.st_size &&
	       !(st.st_mode & 0222), "getattr: the plaintext view's size, read-only (%lld)",
	       (long long)st.st_size);
	rc = ctfs_view_open(v, "/model/w.safetensors", &me, &h, &keep);
	tap_ok(rc == -ENOKEY, "open without the key: ENOKEY (%d)", rc);
	rc = ctfs_view_open(v, "/config.json", &me, &h, &keep);
	tap_ok(rc == 0 && !keep, "a plain file opens, nothing cached before");
	if (!rc) {
		ssize_t r = ctfs_handle_read(h, buf, sizeof(buf), 0);

		tap_ok(r == 8 && !memcmp(buf, "{\"a\":1}\n", 8), "... and reads as it is");
		ctfs_handle_release(h);
	}
	rc = ctfs_view_open(v, "/config.json", &me, &h, &keep);
	tap_ok(rc == 0 && keep, "a second open may keep the page cache");
	if (!rc)
		ctfs_handle_release(h);
	tap_ok(ctfs_view_open(v, "/b", &me, &h, &keep) == -EISDIR, "a directory does not open");
	tap_ok(ctfs_view_getattr(v, "/nothing", &st) == -ENOENT, "a missing name: ENOENT");
	tap_ok(ctfs_view_readlink(v, "/lf", buf, sizeof(buf)) == 0 && !strcmp(buf, "b/inner.txt"),
	       "symlinks are shown as symlinks");
	tap_ok(ctfs_view_getattr(v, "/out/passwd", &st) == -ELOOP,
	       "a path through a symlink of SOURCE is refused");
	tap_ok(ctfs_view_getattr(v, "/fifo", &st) == 0 && S_ISFIFO(st.st_mode), "a FIFO is shown as one");
	tap_ok(ctfs_view_open(v, "/fifo", &me, &h, &keep) == -EACCES,
	       "a FIFO does not open as a file and does not hang");
	ctfs_view_free(v);
}

/* A directory swapped for a symlink after lookup (finding 1), and a package
 * swapped for a symlink to another package (finding 2): the open that
 * follows uses the stale lookup and must not leave SOURCE. */
static void test_swaps(void)
{
	struct ctfs_view *v = new_view(root, CTFS_VIEW_HEADER_CACHE_DEFAULT);
	struct ctfs_caller me = { getpid(), getuid(), getgid() };
	struct ctfs_target t;
	struct ctfs_handle *h;
	bool keep;
	int rc;

	tap_ok(ctfs_view_resolve(v, "/pub/d/f.txt", &t) == 0, "resolved pub/d/f.txt");
	sh("mv pub/d pub/d.real && ln -s ../../secret pub/d");
	rc = ctfs_vfile_open(v, &t, "/pub/d/f.txt", &me, &h, &keep);
	tap_ok(rc == -ELOOP, "directory swapped for a symlink before open: refused (%d)", rc);
	if (!rc)
		ctfs_handle_release(h);

	tap_ok(ctfs_view_resolve(v, "/pkg/x", &t) == 0 && t.kind == CTFS_TARGET_PKG_MEMBER,
	       "resolved a member of pkg.tgsp");
	sh("rm pkg.tgsp && ln -s ../secret/trusted.tgsp pkg.tgsp");
	rc = ctfs_vpkg_open(v, &t, &me, &h, &keep);
	tap_ok(rc == -ELOOP, "package swapped for a symlink before open: refused (%d)", rc);
	if (!rc)
		ctfs_handle_release(h);
	ctfs_view_free(v);
}

/* Finding 6: hard links of one header are one entry; headers nobody uses
 * are evicted within the budget. */
static void test_header_memory(const char *vectors)
{
	struct ctfs_view *v;
	struct stat st;
	size_t n, bytes, one;
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "mkdir links && cp %s/cryptotensors/v2-aes128-unicode.cryptotensors links/0.cryptotensors && for i in 1 2 3 4 5 6 7; do ln links/0.cryptotensors links/$i.cryptotensors; done", vectors);
	sh(p);
	v = new_view(root, CTFS_VIEW_HEADER_CACHE_DEFAULT);
	for (int i = 0; i < 8; i++) {
		snprintf(p, sizeof(p), "/links/%d.safetensors", i);
		ctfs_view_getattr(v, p, &st);
	}
	ctfs_view_registry_stats(v, &n, &one);
	tap_ok(n == 1, "8 hard links of one model: one parsed header (%zu entries)", n);
	ctfs_view_free(v);

	snprintf(p, sizeof(p), "mkdir copies && for i in 0 1 2 3 4 5 6 7; do cp %s/cryptotensors/v2-aes128-unicode.cryptotensors copies/$i.cryptotensors; done", vectors);
	sh(p);
	v = new_view(root, one * 3);
	for (int i = 0; i < 8; i++) {
		snprintf(p, sizeof(p), "/copies/%d.safetensors", i);
		tap_ok(ctfs_view_getattr(v, p, &st) == 0, "copy %d: getattr", i);
	}
	ctfs_view_registry_stats(v, &n, &bytes);
	tap_ok(n <= 3 && bytes <= one * 3, "8 copies through a budget of 3 headers: %zu kept, %zu bytes",
	       n, bytes);
	ctfs_view_free(v);
}

/* Process facts: our own, and those of a process that has exited. */
static void test_facts(void)
{
	struct ctfs_proc_facts f;
	char self[PATH_MAX] = "";
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t child;
	int rc;

	if (n > 0)
		self[n] = 0;
	rc = ctfs_proc_facts_read(getpid(), getuid(), getgid(), &f);
	tap_ok(rc == 0 && !strcmp(f.exe, self) && f.cmdline_len > 0 && strstr(f.comm, "test_view"),
	       "facts of this process: exe %s, comm %s", f.exe, f.comm);
	ctfs_proc_facts_free(&f);
	child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	rc = ctfs_proc_facts_read(child, 0, 0, &f);
	tap_ok(rc == -ESRCH, "a process that has exited is not described (%d)", rc);
}

int main(void)
{
	const char *vectors = tap_vectors_dir();
	char tmpl[] = "/tmp/ctfs-test-view-XXXXXX", cmd[PATH_MAX + 16];

	if (!mkdtemp(tmpl) || ctfs_secmem_init())
		return 2;
	snprintf(root, sizeof(root), "%s/src", tmpl);
	if (mkdir(root, 0700) || chdir(root))
		return 2;
	sh("mkdir -p b model dir.tgsp pub/d ../secret && mkfifo fifo");
	sh("echo root-only > ../secret/f.txt && echo pkg > ../secret/trusted.tgsp");
	sh("ln -s /etc out && ln -s b lb && ln -s b/inner.txt lf");
	put_file("b/inner.txt", "inner\n");
	put_file("config.json", "{\"a\":1}\n");
	put_file("m.cryptotensors", "x");
	put_file("both.cryptotensors", "x");
	put_file("both.safetensors", "x");
	put_file("pkg.tgsp", "not really a package");
	put_file("b.tgsp", "x");
	put_file("pub/d/f.txt", "public\n");

	test_beneath(false);
	test_beneath(true);
	test_names();
	test_registry();
	test_view_ops(vectors);
	test_header_memory(vectors);
	test_swaps();
	test_facts();
	if (chdir("/"))
		return 2;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	if (system(cmd))
		tap_diag("could not remove %s", tmpl);
	return tap_done();
}
