/* Model directories: listing a tree, building its counterpart under a
 * temporary name, and putting that in place in one rename. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/atomic_file.h"
#include "sys/copy_range.h"
#include "tool.h"
#include "util.h"

/* Symlinked directories are followed; this bounds a loop among them. */
#define MAX_DEPTH 32
#define IO_BUF (1u << 20)
#define COPY_PIECE ((uint64_t)64 << 20)

bool tool_has_suffix(const char *name, const char *suffix)
{
	size_t a = strlen(name), b = strlen(suffix);

	return a >= b && !strcmp(name + a - b, suffix);
}

char *tool_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

bool tool_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool tool_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

bool tool_excluded(const char *rel, const char *const *exclude)
{
	const char *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	for (; exclude && *exclude; exclude++) {
		if (strchr(*exclude, '/') ? !fnmatch(*exclude, rel, FNM_PATHNAME) :
		    !fnmatch(*exclude, base, 0))
			return true;
	}
	return false;
}

/* ---- listing ------------------------------------------------------------------- */

struct lister {
	struct tool_tree *t;
	size_t cap;
	const char *root;
	const char *const *exclude;
};

static int add_entry(struct lister *l, const char *rel, const struct stat *st)
{
	struct tool_entry *e;

	if (l->t->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;

		e = reallocarray(l->t->e, cap, sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->t->e = e;
		l->cap = cap;
	}
	e = &l->t->e[l->t->n];
	*e = (struct tool_entry){ .dir = S_ISDIR(st->st_mode), .mode = st->st_mode & 07777 };
	if (!e->dir) {
		e->size = (uint64_t)st->st_size;
		l->t->bytes += e->size;
	}
	e->rel = strdup(rel);
	if (!e->rel)
		return -ENOMEM;
	l->t->n++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted, so listings are reproducible. */
static int read_names(const char *path, char ***names, size_t *n)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			char **p = reallocarray(*names, cap ? cap * 2 : 32, sizeof(*p));

			if (!p)
				break;
			*names = p;
			cap = cap ? cap * 2 : 32;
		}
		if (!((*names)[*n] = strdup(de->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (de || errno) {
		int rc = errno ? -errno : -ENOMEM;

		while (*n)
			free((*names)[--(*n)]);
		free(*names);
		*names = NULL;
		return rc;
	}
	qsort(*names, *n, sizeof(**names), cmp_names);
	return 0;
}

static int list_dir(struct lister *l, const char *rel, int depth);

static int list_one(struct lister *l, const char *rel, int depth)
{
	char *path = tool_join(l->root, rel);
	struct stat st;
	int rc = 0;

	if (!path)
		return -ENOMEM;
	if (stat(path, &st) < 0) {
		rc = -errno;
		tool_err("%s: %s", path, strerror(errno));
	} else if (S_ISDIR(st.st_mode)) {
		rc = add_entry(l, rel, &st);
		if (!rc)
			rc = list_dir(l, rel, depth + 1);
	} else if (S_ISREG(st.st_mode)) {
		rc = add_entry(l, rel, &st);
	} else {
		tool_err("%s: not a regular file or directory (exclude it with --exclude)", path);
		rc = -EINVAL;
	}
	free(path);
	return rc;
}

static int list_dir(struct lister *l, const char *rel, int depth)
{
	char *path = rel ? tool_join(l->root, rel) : strdup(l->root);
	char **names = NULL;
	size_t n = 0;
	int rc;

	if (!path)
		return -ENOMEM;
	if (depth > MAX_DEPTH) {
		tool_err("%s: nested too deep (a symlink loop?)", path);
		free(path);
		return -ELOOP;
	}
	rc = read_names(path, &names, &n);
	if (rc)
		tool_err("%s: %s", path, strerror(-rc));
	for (size_t i = 0; !rc && i < n; i++) {
		char *child = rel ? tool_join(rel, names[i]) : strdup(names[i]);

		if (!child)
			rc = -ENOMEM;
		else if (!tool_excluded(child, l->exclude))
			rc = list_one(l, child, depth);
		free(child);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(path);
	return rc;
}

int tool_tree_list(const char *root, const char *const *exclude, struct tool_tree *t)
{
	struct lister l = { .t = t, .root = root, .exclude = exclude };
	int rc;

	*t = (struct tool_tree){ 0 };
	rc = list_dir(&l, NULL, 0);
	if (rc == -ENOMEM)
		tool_err("out of memory");
	if (rc)
		tool_tree_free(t);
	return rc;
}

void tool_tree_free(struct tool_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].rel);
	free(t->e);
	*t = (struct tool_tree){ 0 };
}

/* ---- the output directory ---------------------------------------------------------- */

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

/* Only ever called on a directory this process created. */
static void remove_tree(const char *path)
{
	if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		tool_err("cannot remove %s completely: %s", path, strerror(errno));
}

int tool_check_not_inside(const char *src, const char *dst)
{
	char *rs = realpath(src, NULL), *d = strdup(dst), *rd = NULL;
	size_t n;
	int rc = 0;

	if (rs && d)
		rd = realpath(dirname(d), NULL);
	if (rs && rd) {
		n = strlen(rs);
		if (!strncmp(rd, rs, n) && (rd[n] == '/' || rd[n] == 0 || !strcmp(rs, "/"))) {
			tool_err("%s: the output must not be inside the input directory", dst);
			rc = -EINVAL;
		}
	}
	free(rs);
	free(d);
	free(rd);
	return rc;
}

int tool_outdir_begin(struct tool_outdir *o, const char *dst, bool force)
{
	char *d = strdup(dst), *b = strdup(dst);
	struct stat st;
	size_t len = strlen(dst) + 32;
	int rc = 0;

	*o = (struct tool_outdir){ 0 };
	o->dst = strdup(dst);
	o->tmp = malloc(len);
	if (!d || !b || !o->dst || !o->tmp) {
		rc = -ENOMEM;
		goto out;
	}
	if (lstat(dst, &st) == 0) {
		if (!force) {
			tool_err("%s exists; give --force to replace it", dst);
			rc = -EEXIST;
			goto out;
		}
		o->replace = true;
	}
	snprintf(o->tmp, len, "%s/.%s.XXXXXX", dirname(d), basename(b));
	if (!mkdtemp(o->tmp)) {
		rc = -errno;
		tool_err("cannot create a directory next to %s: %s", dst, strerror(errno));
	}
out:
	free(d);
	free(b);
	if (rc) {
		free(o->dst);
		free(o->tmp);
		*o = (struct tool_outdir){ 0 };
	}
	return rc;
}

static int sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Files were synced as they were written; directories are synced here,
 * deepest first, so that every entry is durable before the rename. */
static int sync_dirs(const struct tool_outdir *o, const struct tool_tree *t)
{
	int rc = 0;

	for (size_t i = t->n; !rc && i-- > 0;) {
		char *p;

		if (!t->e[i].dir)
			continue;
		p = tool_join(o->tmp, t->e[i].rel);
		rc = p ? sync_path(p) : -ENOMEM;
		free(p);
	}
	return rc ? rc : sync_path(o->tmp);
}

int tool_outdir_commit(struct tool_outdir *o, const struct tool_tree *t)
{
	int rc = sync_dirs(o, t);

	if (rc) {
		tool_err("cannot sync %s: %s", o->tmp, strerror(-rc));
		return rc;
	}
	if (o->replace)
		rc = renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->dst, RENAME_EXCHANGE);
	else
		rc = renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->dst, RENAME_NOREPLACE);
	if (rc < 0) {
		rc = -errno;
		tool_err("cannot move the new directory to %s: %s", o->dst, strerror(errno));
		return rc;
	}
	if (!o->replace) {
		free(o->tmp);
		o->tmp = NULL;
	}
	/* with replace, tmp now names the previous tree, removed by abort */
	rc = ctfs_sync_parent(o->dst);
	if (rc)
		tool_err("cannot sync the directory of %s: %s", o->dst, strerror(-rc));
	tool_outdir_abort(o);
	return rc;
}

void tool_outdir_abort(struct tool_outdir *o)
{
	if (o->tmp)
		remove_tree(o->tmp);
	free(o->tmp);
	free(o->dst);
	*o = (struct tool_outdir){ 0 };
}

int tool_copy_file(const char *src, const char *dst, mode_t mode, struct tool_progress *p)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
	uint8_t *buf = malloc(IO_BUF);
	struct stat st;
	int rc = in >= 0 && buf ? 0 : in < 0 ? -errno : -ENOMEM;

	if (!rc && fstat(in, &st) < 0)
		rc = -errno;
	if (!rc) {
		out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0)
			rc = -errno;
	}
	for (uint64_t off = 0; !rc && off < (uint64_t)st.st_size; off += COPY_PIECE) {
		uint64_t n = (uint64_t)st.st_size - off;

		rc = ctfs_copy_range(in, off, out, off, n < COPY_PIECE ? n : COPY_PIECE, buf, IO_BUF);
		if (!rc && p)
			rc = tool_progress_cb(p, off + (n < COPY_PIECE ? n : COPY_PIECE), 0);
	}
	if (!rc && fchmod(out, mode) < 0)
		rc = -errno;
	if (!rc && fsync(out) < 0)
		rc = -errno;
	if (out >= 0 && close(out) < 0 && !rc)
		rc = -errno;
	if (in >= 0)
		close(in);
	free(buf);
	return rc;
}
