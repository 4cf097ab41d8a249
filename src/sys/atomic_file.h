/* Output files that appear complete or not at all: written under a
 * temporary name next to their final path, synced, then renamed. */
#ifndef CTFS_ATOMIC_FILE_H
#define CTFS_ATOMIC_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ctfs_afile {
	int fd;         /* the temporary file, open for writing; -1 when none */
	char *path;     /* final path */
	char *tmp;      /* "DIR/.NAME.XXXXXXXX" while it exists */
};

/* Create the temporary file for path, exclusively, with mode (less the
 * umask). 0 or -errno, err saying what failed. */
int ctfs_afile_create(struct ctfs_afile *f, const char *path, mode_t mode,
		      char *err, size_t errlen);

/* Reserve len bytes, so that a full disk fails before any work is done
 * (file systems without fallocate are let through). 0 or -errno. */
int ctfs_afile_reserve(struct ctfs_afile *f, uint64_t len, char *err, size_t errlen);

/* Sync the file, rename it over path, sync the directory. On failure the
 * temporary file is removed and path is as it was. 0 or -errno. */
int ctfs_afile_commit(struct ctfs_afile *f, char *err, size_t errlen);

/* Remove the temporary file if it still exists and release f; safe after
 * commit and on a zeroed f with fd -1. */
void ctfs_afile_abort(struct ctfs_afile *f);

/* Sync the directory that holds path (0 or -errno). */
int ctfs_sync_parent(const char *path);

#endif
