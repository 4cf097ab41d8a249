/* Path resolution confined to a root directory (see beneath.h). */
#include "sys/beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_bool force_walk;
static atomic_bool no_openat2;	/* the kernel said ENOSYS once */

void ctfs_beneath_force_walk(bool on)
{
	atomic_store(&force_walk, on);
}

static int via_openat2(int root, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
}

/* One component at a time: every directory on the way is opened with
 * O_NOFOLLOW relative to the previous one, so a component swapped for a
 * symlink fails instead of being followed. ".." is refused outright (FUSE
 * never sends it; nothing legitimate needs it). */
static int via_walk(int root, const char *rel, int flags)
{
	char part[NAME_MAX + 1];
	int dir = root, fd;

	for (;;) {
		size_t n = strcspn(rel, "/");
		bool last = rel[n] == 0;

		if (n > NAME_MAX) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		memcpy(part, rel, n);
		part[n] = 0;
		if (!strcmp(part, "..")) {
			errno = EXDEV;
			goto fail;
		}
		if (last) {
			fd = openat(dir, n ? part : ".", flags | O_NOFOLLOW | O_CLOEXEC);
		} else if (n == 0 || !strcmp(part, ".")) {
			rel += n + 1;
			continue;
		} else {
			fd = openat(dir, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			/* a symlink met as a directory gives ENOTDIR; say ELOOP */
			if (errno == ENOTDIR && !last) {
				struct stat st;

				if (!fstatat(dir, part, &st, AT_SYMLINK_NOFOLLOW) && S_ISLNK(st.st_mode))
					errno = ELOOP;
			}
			goto fail;
		}
		if (dir != root)
			close(dir);
		if (last)
			return fd;
		dir = fd;
		rel += n + 1;
	}
fail:
	if (dir != root) {
		int e = errno;

		close(dir);
		errno = e;
	}
	return -1;
}

int ctfs_beneath_open(int root, const char *rel, int flags, int *fd)
{
	int r = -1;

	if (!*rel)
		rel = ".";
	if (!atomic_load(&force_walk) && !atomic_load(&no_openat2)) {
		r = via_openat2(root, rel, flags);
		if (r >= 0 || errno != ENOSYS)
			goto out;
		atomic_store(&no_openat2, true);
	}
	r = via_walk(root, rel, flags);
out:
	if (r < 0)
		return -errno;
	*fd = r;
	return 0;
}

int ctfs_beneath_lstat(int root, const char *rel, struct stat *st)
{
	int fd, rc = ctfs_beneath_open(root, rel, O_PATH | O_NOFOLLOW, &fd);

	if (rc)
		return rc;
	rc = fstat(fd, st) ? -errno : 0;
	close(fd);
	return rc;
}
