/* Temporary file, sync, rename, sync the directory: after a crash at any
 * point the final path holds either its old content or the complete new
 * file, never a part of it. */
#include "sys/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define TRIES 16

int ctfs_sync_parent(const char *path)
{
	char *dup = strdup(path);
	int fd, rc = 0;

	if (!dup)
		return -ENOMEM;
	fd = open(dirname(dup), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dup);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = -errno;
	close(fd);
	return rc;
}

/* "DIR/.NAME.XXXXXXXX" for path; dirname/basename may modify their
 * argument, so each gets its own copy. */
static int temp_name(const char *path, char **out)
{
	char *d = strdup(path), *b = strdup(path);
	size_t len = strlen(path) + 16;
	int rc = -ENOMEM;

	*out = malloc(len);
	if (d && b && *out) {
		snprintf(*out, len, "%s/.%s.%08x", dirname(d), basename(b), randombytes_random());
		rc = 0;
	}
	free(d);
	free(b);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int ctfs_afile_create(struct ctfs_afile *f, const char *path, mode_t mode,
		      char *err, size_t errlen)
{
	int rc = -EEXIST;

	*f = (struct ctfs_afile){ .fd = -1 };
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	for (int i = 0; i < TRIES && rc == -EEXIST; i++) {
		free(f->tmp);
		rc = temp_name(path, &f->tmp);
		if (rc)
			break;
		f->fd = open(f->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		rc = f->fd >= 0 ? 0 : -errno;
	}
	if (rc) {
		ctfs_seterr(err, errlen, "cannot create a temporary file next to %s: %s", path,
			    strerror(-rc));
		free(f->tmp);
		f->tmp = NULL;
		ctfs_afile_abort(f);
	}
	return rc;
}

int ctfs_afile_reserve(struct ctfs_afile *f, uint64_t len, char *err, size_t errlen)
{
	if (!len || fallocate(f->fd, 0, 0, (off_t)len) == 0)
		return 0;
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		return 0;
	ctfs_seterr(err, errlen, "cannot reserve %llu bytes for %s: %s",
		    (unsigned long long)len, f->path, strerror(errno));
	return -errno;
}

int ctfs_afile_commit(struct ctfs_afile *f, char *err, size_t errlen)
{
	int rc = fsync(f->fd) < 0 ? -errno : 0;

	if (close(f->fd) < 0 && !rc)
		rc = -errno;
	f->fd = -1;
	if (!rc && rename(f->tmp, f->path) < 0)
		rc = -errno;
	if (rc) {
		ctfs_seterr(err, errlen, "cannot complete %s: %s", f->path, strerror(-rc));
		ctfs_afile_abort(f);
		return rc;
	}
	free(f->tmp);
	f->tmp = NULL;
	rc = ctfs_sync_parent(f->path);
	if (rc)
		ctfs_seterr(err, errlen, "cannot sync the directory of %s: %s", f->path,
			    strerror(-rc));
	ctfs_afile_abort(f);
	return rc;
}

void ctfs_afile_abort(struct ctfs_afile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	free(f->path);
	f->tmp = NULL;
	f->path = NULL;
}
