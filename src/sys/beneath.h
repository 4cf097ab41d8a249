/* Opening paths below a root directory without ever leaving it: no symlink
 * is followed in any component, and ".." cannot climb above the root, even
 * while another user renames directories and symlinks under our feet. */
#ifndef CTFS_BENEATH_H
#define CTFS_BENEATH_H

#include <stdbool.h>
#include <sys/stat.h>

/* Open rel (relative to the directory root; "" or "." is root itself) with
 * open(2) flags. A symlink in a middle component fails with -ELOOP (or
 * -EXDEV when rel escapes root). For the last component, O_PATH|O_NOFOLLOW
 * gives a descriptor of the symlink itself (for lstat semantics); otherwise
 * a symlink there fails with -ELOOP too. 0 with *fd, or a negative errno.
 * Uses openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) and, where the kernel
 * lacks it (Linux < 5.6), a walk of O_NOFOLLOW opens, one component each. */
int ctfs_beneath_open(int root, const char *rel, int flags, int *fd);

/* lstat(2) of rel below root, resolved as ctfs_beneath_open does. */
int ctfs_beneath_lstat(int root, const char *rel, struct stat *st);

/* Tests: force the component walk even where openat2 exists. */
void ctfs_beneath_force_walk(bool on);

#endif
