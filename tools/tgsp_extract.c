/* Extraction of an open TGSP package. Member paths were normalised by the
 * index (no "..", nothing absolute); here every directory on the way is
 * opened with O_NOFOLLOW, files are created with O_EXCL, and symbolic links
 * are made last and only when they point inside the tree, so nothing is
 * ever written outside the output directory or over an existing file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tgsp_cmds.h"
#include "tool.h"
#include "util.h"

#define COPY_CHUNK (1u << 20)

/* The directory that holds path (relative to root), and its last component. */
static int open_parent(int root, const char *path, const char **leaf)
{
	const char *p = path, *slash;
	int cur = fcntl(root, F_DUPFD_CLOEXEC, 0);

	while (cur >= 0 && (slash = strchr(p, '/'))) {
		char comp[256];
		size_t n = (size_t)(slash - p);
		int next;

		if (n >= sizeof(comp)) {
			close(cur);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = 0;
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(cur);
		cur = next;
		p = slash + 1;
	}
	*leaf = p;
	return cur;
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

/* A relative target that stays inside the tree from where the link is. */
static bool link_inside(const struct ctfs_tar_entry *e)
{
	long depth = 0;
	const char *p;

	for (p = e->path; (p = strchr(p, '/')); p++)
		depth++;
	if (e->link[0] == '/')
		return false;
	for (p = e->link; *p;) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			depth--;
		else if (n && !(n == 1 && p[0] == '.'))
			depth++;
		if (depth < 0)
			return false;
		p += n;
		p += *p == '/';
	}
	return true;
}

static int make_link(int root, const struct ctfs_tar_entry *e)
{
	const char *leaf;
	int dir, rc = 0;

	if (!link_inside(e)) {
		fprintf(stderr, "ctfs-tool: skipped %s: its link target '%s' leaves the tree\n",
			e->path, e->link);
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
	uint64_t files = 0, bytes = 0;
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
				rc = make_link(root, e);
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
	explicit_bzero(buf, COPY_CHUNK);
	free(buf);
	close(root);
	return rc;
}
