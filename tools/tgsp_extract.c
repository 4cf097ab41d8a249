/* Extraction of an open TGSP package. Member paths were normalised by the
 * index (no "..", nothing absolute); here every member is created relative
 * to a directory fd opened beneath the output directory, each directory on
 * the way with O_NOFOLLOW (a link is never followed while walking), files
 * with O_EXCL, and symbolic links last and only when their target, resolved
 * through every other link, stays inside the tree; so nothing is ever
 * written outside the output directory or over an existing file, and no
 * extracted link leads out of it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/beneath.h"
#include "tgsp_cmds.h"
#include "tool.h"
#include "util.h"

#define COPY_CHUNK (1u << 20)

/* The directory that holds path (relative to root), opened beneath root
 * without following any link (sys/beneath.h), and its last component.
 * -1 with errno on failure. */
static int open_parent(int root, const char *path, const char **leaf)
{
	const char *slash = strrchr(path, '/');
	char dir[CTFS_TAR_MAX_PATH + 1];
	size_t n = slash ? (size_t)(slash - path) : 0;
	int fd, rc;

	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = 0;
	rc = ctfs_beneath_open(root, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, &fd);
	if (rc) {
		errno = -rc;
		return -1;
	}
	*leaf = slash ? slash + 1 : path;
	return fd;
}

static int copy_out(struct ctfs_tgsp *p, const struct ctfs_tar_entry *e, int fd, uint8_t *buf)
{
	uint64_t off = 0;

	while (off < e->size) {
		ssize_t n = ctfs_tgsp_read(p, e, buf, COPY_CHUNK, off);
		int rc;

		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		rc = ctfs_write_full(fd, buf, (size_t)n);
		if (rc)
			return rc;
		off += (uint64_t)n;
	}
	return 0;
}

static int make_file(struct ctfs_tgsp *p, int root, const struct ctfs_tar_entry *e, uint8_t *buf)
{
	const char *leaf;
	int dir = open_parent(root, e->path, &leaf), fd, rc;

	if (dir < 0)
		return -errno;
	fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	rc = fd < 0 ? -errno : copy_out(p, e, fd, buf);
	if (!rc && fchmod(fd, e->mode & 0777))
		rc = -errno;
	if (fd >= 0 && close(fd) && !rc)
		rc = -errno;
	close(dir);
	return rc;
}

static int make_dir(int root, const struct ctfs_tar_entry *e)
{
	const char *leaf;
	struct stat st;
	int dir = open_parent(root, e->path, &leaf), rc = 0;

	if (dir < 0)
		return -errno;
	/* writable for now; the archive's mode is set once it is filled */
	if (mkdirat(dir, leaf, 0700)) {
		rc = -errno;
		if (rc == -EEXIST && !fstatat(dir, leaf, &st, AT_SYMLINK_NOFOLLOW) &&
		    S_ISDIR(st.st_mode))
			rc = 0;
	}
	close(dir);
	return rc;
}

/* --- where a link leads ------------------------------------------------------
 * A link's text can stay inside the tree while its path goes through another
 * link (h/s -> .., h/t -> s/../../etc/passwd): the target is resolved the way
 * the kernel will, component by component, against every link the archive
 * holds (all exist once extraction ends, whatever the order) and anything
 * already in the output directory, and refused when it would leave the tree. */

#define MAX_HOPS 40	/* the kernel's own limit on links in one lookup */

struct walk {
	int root;
	const struct ctfs_tar_index *ix;
	char cur[CTFS_TAR_MAX_PATH + 1];	/* resolved so far, "" = root */
	size_t len;
	int hops;
};

/* The target of cur when it is a link (in the archive or on disk), else NULL;
 * *owned says the result was allocated. */
static const char *link_at(struct walk *w, bool *owned)
{
	const struct ctfs_tar_entry *e = ctfs_tar_lookup(w->ix, w->cur);
	const char *leaf;
	char *buf;
	ssize_t n;
	int dir;

	*owned = false;
	if (e)
		return e->type == CTFS_TAR_SYMLINK ? e->link : NULL;
	dir = open_parent(w->root, w->cur, &leaf);
	if (dir < 0)
		return NULL;	/* a parent is not a directory: the kernel stops there too */
	buf = malloc(CTFS_TAR_MAX_PATH + 1);
	if (!buf) {
		close(dir);
		return "/";	/* cannot tell: fail closed, as if it led outside */
	}
	n = readlinkat(dir, leaf, buf, CTFS_TAR_MAX_PATH + 1);
	close(dir);
	if (n < 0 || n > CTFS_TAR_MAX_PATH) {
		free(buf);
		return n > CTFS_TAR_MAX_PATH ? "/" : NULL;	/* too long: treat as outside */
	}
	buf[n] = 0;
	*owned = true;
	return buf;
}

static bool walk_push(struct walk *w, const char *c, size_t n)
{
	if (w->len + (w->len ? 1 : 0) + n > CTFS_TAR_MAX_PATH)
		return false;
	if (w->len)
		w->cur[w->len++] = '/';
	memcpy(w->cur + w->len, c, n);
	w->len += n;
	w->cur[w->len] = 0;
	return true;
}

static void walk_pop(struct walk *w)
{
	char *slash = memrchr(w->cur, '/', w->len);

	w->len = slash ? (size_t)(slash - w->cur) : 0;
	w->cur[w->len] = 0;
}

/* Follows path from w->cur; false when it leaves the tree (or is absolute,
 * too long, or has too many links). */
static bool walk_path(struct walk *w, const char *path)
{
	if (path[0] == '/')
		return false;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		const char *target;
		bool owned, ok;

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (!w->len)
				return false;
			walk_pop(w);
		} else if (n && !(n == 1 && p[0] == '.')) {
			if (!walk_push(w, p, n))
				return false;
			target = link_at(w, &owned);
			if (target) {
				walk_pop(w);	/* a link resolves from its own directory */
				ok = ++w->hops <= MAX_HOPS && walk_path(w, target);
				if (owned)
					free((char *)target);
				if (!ok)
					return false;
			}
		}
		p += n;
		p += *p == '/';
	}
	return true;
}

/* Whether e's target, followed the way the kernel will, stays in the tree. */
static bool link_inside(int root, const struct ctfs_tgsp *p, const struct ctfs_tar_entry *e)
{
	struct walk *w = calloc(1, sizeof(*w));
	const char *slash = strrchr(e->path, '/');
	bool ok;

	if (!w)
		return false;
	w->root = root;
	w->ix = ctfs_tgsp_index(p);
	if (slash)
		walk_push(w, e->path, (size_t)(slash - e->path));
	ok = walk_path(w, e->link);
	free(w);
	return ok;
}

/* Creates a link that stays inside; one that leads out is not created
 * (*refused counts it) and the extraction goes on. */
static int make_link(struct ctfs_tgsp *p, int root, const struct ctfs_tar_entry *e,
		     uint64_t *refused)
{
	const char *leaf;
	int dir, rc = 0;

	if (!link_inside(root, p, e)) {
		fprintf(stderr, "ctfs-tool: refused symbolic link %s -> '%.200s': it resolves "
			"outside the output directory\n", e->path, e->link);
		++*refused;
		return 0;
	}
	dir = open_parent(root, e->path, &leaf);
	if (dir < 0)
		return -errno;
	if (symlinkat(e->link, dir, leaf))
		rc = -errno;
	close(dir);
	return rc;
}

static int set_dir_modes(int root, const struct ctfs_tar_index *ix)
{
	for (size_t i = ctfs_tar_count(ix); i-- > 1;) {
		const struct ctfs_tar_entry *e = ctfs_tar_at(ix, i);
		const char *leaf;
		int dir, rc = 0;

		if (e->type != CTFS_TAR_DIR)
			continue;
		dir = open_parent(root, e->path, &leaf);
		if (dir < 0)
			return -errno;
		if (fchmodat(dir, leaf, e->mode & 0777, 0))
			rc = -errno;
		close(dir);
		if (rc)
			return rc;
	}
	return 0;
}

int tgsp_extract(struct ctfs_tgsp *p, const char *out_dir, bool verbose)
{
	const struct ctfs_tar_index *ix = ctfs_tgsp_index(p);
	uint8_t *buf = malloc(COPY_CHUNK);
	uint64_t files = 0, bytes = 0, refused = 0;
	int root, rc = 0;

	if (!buf)
		return -ENOMEM;
	if (mkdir(out_dir, 0755) && errno != EEXIST) {
		rc = -errno;
		tool_err("%s: %s", out_dir, strerror(-rc));
		free(buf);
		return rc;
	}
	root = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		rc = -errno;
		tool_err("%s: %s", out_dir, strerror(-rc));
		free(buf);
		return rc;
	}
	for (int pass = 0; pass < 2 && !rc; pass++) {
		for (size_t i = 1; i < ctfs_tar_count(ix) && !rc; i++) {
			const struct ctfs_tar_entry *e = ctfs_tar_at(ix, i);

			if (pass == 0 && e->type == CTFS_TAR_DIR)
				rc = make_dir(root, e);
			else if (pass == 0 && e->type == CTFS_TAR_FILE)
				rc = make_file(p, root, e, buf);
			else if (pass == 1 && e->type == CTFS_TAR_SYMLINK)
				rc = make_link(p, root, e, &refused);
			else
				continue;
			if (rc)
				tool_err("%s/%s: %s", out_dir, e->path,
					 rc == -EEXIST ? "exists already: not overwritten" : strerror(-rc));
			if (!rc && verbose)
				printf("%s\n", e->path);
			if (!rc && e->type == CTFS_TAR_FILE) {
				files++;
				bytes += e->size;
			}
		}
	}
	if (!rc && (rc = set_dir_modes(root, ix)))
		tool_err("%s: %s", out_dir, strerror(-rc));
	if (!rc)
		printf("%s: %" PRIu64 " file(s), %" PRIu64 " bytes\n", out_dir, files, bytes);
	if (!rc && refused)
		fprintf(stderr, "ctfs-tool: %s: %" PRIu64 " symbolic link(s) refused\n", out_dir,
			refused);
	explicit_bzero(buf, COPY_CHUNK);
	free(buf);
	close(root);
	return rc;
}
