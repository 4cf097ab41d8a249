/* The FUSE operations: each translates one request into one call of the
 * library's mount view (src/view/view.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>

#include "ctfs_fuse.h"
#include "kernel_io.h"

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
	/* the page cache is kept or dropped per open (keep_cache from the
	 * view); with attributes never cached, AUTO_INVAL_DATA would cost a
	 * GETATTR round trip on every read() even from the page cache */
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	conn->want &= ~(unsigned int)FUSE_CAP_AUTO_INVAL_DATA;
	ctfs_kio_init(fuse_get_context()->private_data, conn);
	return fuse_get_context()->private_data;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	return ctfs_view_getattr(mount_state()->view, path, st);
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	return ctfs_view_readlink(mount_state()->view, path, buf, size);
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t fill;
};

static int fill_one(void *arg, const char *name)
{
	struct fill_ctx *c = arg;

	return c->fill(c->buf, name, NULL, 0, 0);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fill_ctx c = { buf, fill };

	(void)off, (void)fi, (void)flags;
	return ctfs_view_readdir(mount_state()->view, path, fill_one, &c);
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	const struct fuse_context *fc = fuse_get_context();
	struct ctfs_caller who = { fc->pid, fc->uid, fc->gid };
	struct ctfs_handle *h;
	bool keep;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -EROFS;
	rc = ctfs_view_open(mount_state()->view, path, &who, &h, &keep);
	if (rc)
		return rc;
	fi->fh = (uintptr_t)h;
	fi->keep_cache = keep;
	ctfs_kio_open(mount_state(), h, fi);
	return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	ssize_t n;

	(void)path;
	if (off < 0)
		return -EINVAL;
	n = ctfs_handle_read((struct ctfs_handle *)(uintptr_t)fi->fh, buf, size, (uint64_t)off);
	return n > INT_MAX ? -EIO : (int)n;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	ctfs_kio_release(mount_state(), fi);
	ctfs_handle_release((struct ctfs_handle *)(uintptr_t)fi->fh);
	return 0;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return ctfs_view_statfs(mount_state()->view, sv);
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
