/* The FUSE operations: a read-only mirror of SOURCE in which CryptoTensors
 * files appear as the plaintext safetensors they protect. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ctfs_fuse.h"
#include "kernel_io.h"
#include "log.h"

static struct ctfs_mount *mount_state(void)
{
	struct ctfs_mount *mt = fuse_get_context()->private_data;

	ctfs_tune_readahead(mt);
	return mt;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* sizes must follow a backing file that is replaced (its view size
	 * changes): attributes are always asked for, and they are cheap */
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 1.0;
	cfg->negative_timeout = 0;
	/* the page cache is kept or dropped per open (see ctfs_files_open);
	 * with attributes never cached, AUTO_INVAL_DATA would cost a GETATTR
	 * round trip on every read() even from the page cache */
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	conn->want &= ~(unsigned int)FUSE_CAP_AUTO_INVAL_DATA;
	ctfs_kio_init(fuse_get_context()->private_data, conn);
	return fuse_get_context()->private_data;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct ctfs_mount *mt = mount_state();
	char bpath[PATH_MAX];
	uint64_t size;
	int rc;

	(void)fi;
	rc = ctfs_tgspv_getattr(mt, path, st);
	if (rc != CTFS_TGSPV_PASS)
		return rc;
	rc = ctfs_files_resolve(mt, path, bpath, sizeof(bpath), st);
	if (rc)
		return rc;
	st->st_mode &= ~(mode_t)(S_IWUSR | S_IWGRP | S_IWOTH);
	if (!S_ISREG(st->st_mode))
		return 0;
	rc = ctfs_files_view_size(mt, bpath, st, &size);
	if (rc)
		return rc;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	return 0;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	struct ctfs_mount *mt = mount_state();
	ssize_t n;

	if (size == 0)
		return -EINVAL;
	n = ctfs_tgspv_readlink(mt, path, buf, size);
	if (n != CTFS_TGSPV_PASS)
		return (int)n;
	n = readlinkat(mt->src_fd, path[1] ? path + 1 : ".", buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct ctfs_mount *mt = mount_state();
	char bpath[PATH_MAX], shown[NAME_MAX + 1];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd, rc;

	(void)off, (void)fi, (void)flags;
	rc = ctfs_tgspv_readdir(mt, path, buf, fill);
	if (rc != CTFS_TGSPV_PASS)
		return rc;
	rc = ctfs_files_resolve(mt, path, bpath, sizeof(bpath), &st);
	if (rc)
		return rc;
	fd = openat(mt->src_fd, bpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(d))) {
		ctfs_files_view_name(dirfd(d), de->d_name, shown, sizeof(shown));
		ctfs_tgspv_view_name(dirfd(d), de->d_name, shown, sizeof(shown));
		if (fill(buf, shown, NULL, 0, 0))
			break;
	}
	closedir(d);
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct ctfs_mount *mt = mount_state();
	char bpath[PATH_MAX];
	struct ctfs_model *m;
	struct stat st;
	bool keep;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -EROFS;
	rc = ctfs_tgspv_open(mt, path, fi);
	if (rc != CTFS_TGSPV_PASS)
		return rc;
	rc = ctfs_files_resolve(mt, path, bpath, sizeof(bpath), &st);
	if (rc)
		return rc;
	rc = ctfs_files_open(mt, bpath, &m, &keep);
	if (rc)
		return rc;
	fi->fh = (uintptr_t)m;
	fi->keep_cache = keep;
	if (!ctfs_model_is_encrypted(m))
		ctfs_kio_open_plain(mt, m, fi);
	return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct ctfs_model *m = (struct ctfs_model *)(uintptr_t)fi->fh;
	ssize_t n;

	(void)path;
	if (ctfs_tgspv_is_handle(fi->fh))
		return ctfs_tgspv_read(fi->fh, buf, size, off);
	if (off < 0)
		return -EINVAL;
	n = ctfs_model_read(m, mount_state()->cache, (uint8_t *)buf, size, (uint64_t)off);
	if (n > INT_MAX)
		return -EIO;
	return (int)n;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	if (ctfs_tgspv_is_handle(fi->fh)) {
		ctfs_tgspv_release(fi->fh);
		return 0;
	}
	ctfs_kio_release(mount_state(), fi);
	ctfs_model_put((struct ctfs_model *)(uintptr_t)fi->fh);
	return 0;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	if (fstatvfs(mount_state()->src_fd, sv))
		return -errno;
	return 0;
}

const struct fuse_operations ctfs_fuse_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.readdir = op_readdir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
};
