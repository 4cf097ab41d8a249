/* Kernel passthrough of plain files (Linux >= 6.9, libfuse >= 3.17).
 *
 * A plain file's open registers its backing file with the kernel (a
 * "backing id") and says so in the open reply (fi->backing_id, which libfuse
 * turns into FOPEN_PASSTHROUGH); the kernel then serves read, splice and
 * mmap from the backing file directly, at the speed of the file system
 * below. Encrypted files take this path only with -o resident: the backing
 * file is then the memfd holding the file's verified plaintext
 * (ctfs_handle_resident_fd), which the kernel accepts like any regular
 * file (shmem has read_iter, write_iter and mmap, and no stacking depth).
 *
 * Kernel rules this follows:
 * - registering needs CAP_SYS_ADMIN, and the mount must have asked for
 *   passthrough at INIT, which is refused together with writeback caching
 *   (ctfs never asks for that);
 * - one FUSE inode has at most one backing file at a time: a second open
 *   with another backing id fails (EIO). Opens of the same file therefore
 *   share one id, counted, and the id is closed at the last release;
 * - an inode with a backing file cannot also be opened through the page
 *   cache: once a file is passed through, every open of it is;
 * - the backing file must sit at most max_backing_stack_depth stacked file
 *   systems deep (0: SOURCE on overlayfs or another FUSE is refused and
 *   served as before);
 * - the registered file is the view handle's own descriptor, opened
 *   read-only (ctfs_handle_plain_fd), or a resident copy's memfd, shared by
 *   every handle of the file; backing ids are keyed by the registered
 *   file's identity (a memfd has one of its own), so each scheme shares
 *   one id per file;
 * - the kernel opens its own file on the registered one for each open and
 *   maps that for mmap: a reader's mapping of a resident file maps the
 *   memfd's pages (see src/view/resident.c for what that means for wiping).
 *
 * libfuse 3.17's fuse_passthrough_open() and fuse_passthrough_close() take
 * a fuse_req_t, which the path-based (high-level) API that ctfs uses does
 * not hand to its operations. Both are thin wrappers over the
 * FUSE_DEV_IOC_BACKING_OPEN/CLOSE ioctls on the session's /dev/fuse
 * descriptor, which fuse_session_fd() does give us, so those are called
 * here directly; the reply side (backing_id -> FOPEN_PASSTHROUGH) and the
 * INIT negotiation are libfuse's. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "kernel_io.h"
#include "log.h"

#if HAVE_FUSE_PASSTHROUGH
#include <fuse_lowlevel.h>

/* Linux UAPI (include/uapi/linux/fuse.h, 6.9); Debian 12's kernel headers
 * predate it. */
struct kio_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define KIO_DEV_IOC_MAGIC 229
#define KIO_BACKING_OPEN _IOW(KIO_DEV_IOC_MAGIC, 1, struct kio_backing_map)
#define KIO_BACKING_CLOSE _IOW(KIO_DEV_IOC_MAGIC, 2, uint32_t)

/* One backing file registered with the kernel. */
struct pt_file {
	dev_t dev;
	ino_t ino;
	int32_t backing_id;
	unsigned int opens;
	struct pt_file *next;
};

/* One passed-through open: its handle (fi->fh) and file. */
struct pt_open {
	uint64_t fh;
	struct pt_file *file;
	struct pt_open *next;
};

struct ctfs_passthrough {
	pthread_mutex_t lock;
	int dev_fd;                 /* the session's /dev/fuse */
	bool refused_logged;
	bool resident_refused_logged;
	struct pt_file *files;
	struct pt_open *opens;
};

static bool has_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];

	if (syscall(SYS_capget, &hdr, caps))
		return false;
	return caps[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32));
}

/* Called from init: the session exists and its descriptor is open. */
void ctfs_pt_init(struct ctfs_mount *mt, struct fuse_conn_info *conn)
{
	struct ctfs_passthrough *pt;

	if (!(conn->capable & FUSE_CAP_PASSTHROUGH)) {
		ctfs_info("passthrough: the kernel does not offer it; plain files go through the daemon");
		return;
	}
	if (!has_sys_admin()) {
		ctfs_info("passthrough: needs CAP_SYS_ADMIN; plain files go through the daemon");
		return;
	}
	pt = calloc(1, sizeof(*pt));
	if (!pt || pthread_mutex_init(&pt->lock, NULL)) {
		free(pt);
		ctfs_warn("passthrough: out of memory; plain files go through the daemon");
		return;
	}
	pt->dev_fd = fuse_session_fd(fuse_get_session(fuse_get_context()->fuse));
	/* backing files on a plain file system only: an overlayfs SOURCE is
	 * served as before, and stacking over this mount stays possible */
	conn->max_backing_stack_depth = FUSE_BACKING_STACKED_UNDER;
	conn->want |= FUSE_CAP_PASSTHROUGH;
	mt->pt = pt;
	ctfs_info("passthrough: plain files are served by the kernel");
}

static struct pt_file *find_file(struct ctfs_passthrough *pt, const struct stat *id)
{
	for (struct pt_file *f = pt->files; f; f = f->next) {
		if (f->dev == id->st_dev && f->ino == id->st_ino)
			return f;
	}
	return NULL;
}

/* The registered backing file open on fd with identity st, registering it
 * first; lock held. */
static struct pt_file *get_file(struct ctfs_passthrough *pt, int fd, const struct stat *st,
				const char *path, bool resident)
{
	bool *logged = resident ? &pt->resident_refused_logged : &pt->refused_logged;
	struct kio_backing_map map = { .fd = fd };
	struct pt_file *f = find_file(pt, st);
	int id;

	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	id = ioctl(pt->dev_fd, KIO_BACKING_OPEN, &map);
	if (id <= 0) {
		/* once per mount and kind: the cause (EPERM, stacking, ...) is
		 * the same for every file of SOURCE, or every memfd */
		if (!*logged)
			ctfs_warn("passthrough: %s%s refused (%s); served by the daemon",
				  resident ? "the resident copy of " : "", path,
				  id < 0 ? strerror(errno) : "no id");
		*logged = true;
		free(f);
		return NULL;
	}
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->backing_id = id;
	f->next = pt->files;
	pt->files = f;
	ctfs_debug("passthrough: %s%s is backing id %d", resident ? "the resident copy of " : "",
		   path, id);
	return f;
}

static void put_file(struct ctfs_passthrough *pt, struct pt_file *f)
{
	uint32_t id = (uint32_t)f->backing_id;

	if (--f->opens)
		return;
	for (struct pt_file **pp = &pt->files; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	/* the kernel keeps the file while a FUSE file still uses it */
	if (ioctl(pt->dev_fd, KIO_BACKING_CLOSE, &id))
		ctfs_warn("passthrough: closing backing id %u: %m", id);
	free(f);
}

void ctfs_kio_open(struct ctfs_mount *mt, const struct ctfs_handle *h, struct fuse_file_info *fi)
{
	struct ctfs_passthrough *pt = mt->pt;
	const char *path;
	struct pt_open *o;
	struct pt_file *f;
	struct stat st;
	bool resident = false;
	int fd;

	/* only files the view serves byte for byte: a plain file, or the
	 * verified plaintext of a resident file; never lazily decrypted views */
	if (!pt)
		return;
	if (ctfs_handle_plain_fd(h, &fd, &st, &path)) {
		if (ctfs_handle_resident_fd(h, &fd, &st, &path))
			return;
		resident = true;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return;
	pthread_mutex_lock(&pt->lock);
	f = get_file(pt, fd, &st, path, resident);
	if (f) {
		f->opens++;
		o->fh = fi->fh;
		o->file = f;
		o->next = pt->opens;
		pt->opens = o;
		fi->backing_id = f->backing_id;
		/* the FUSE page cache is not used for this file: nothing to keep */
		fi->keep_cache = 0;
	}
	pthread_mutex_unlock(&pt->lock);
	if (!f)
		free(o);
}

void ctfs_kio_release(struct ctfs_mount *mt, const struct fuse_file_info *fi)
{
	struct ctfs_passthrough *pt = mt->pt;
	struct pt_open *o = NULL;

	if (!pt)
		return;
	pthread_mutex_lock(&pt->lock);
	for (struct pt_open **pp = &pt->opens; *pp; pp = &(*pp)->next) {
		if ((*pp)->fh == fi->fh) {
			o = *pp;
			*pp = o->next;
			break;
		}
	}
	if (o)
		put_file(pt, o->file);
	pthread_mutex_unlock(&pt->lock);
	free(o);
}

void ctfs_kio_free(struct ctfs_mount *mt)
{
	struct ctfs_passthrough *pt = mt->pt;

	if (!pt)
		return;
	/* the session is gone: the kernel dropped every backing id with it */
	while (pt->opens) {
		struct pt_open *o = pt->opens;

		pt->opens = o->next;
		free(o);
	}
	while (pt->files) {
		struct pt_file *f = pt->files;

		pt->files = f->next;
		free(f);
	}
	pthread_mutex_destroy(&pt->lock);
	free(pt);
	mt->pt = NULL;
}

#else /* libfuse < 3.17: no passthrough */

void ctfs_pt_init(struct ctfs_mount *mt, struct fuse_conn_info *conn)
{
	(void)mt, (void)conn;
}

void ctfs_kio_open(struct ctfs_mount *mt, const struct ctfs_handle *h, struct fuse_file_info *fi)
{
	(void)mt, (void)h, (void)fi;
}

void ctfs_kio_release(struct ctfs_mount *mt, const struct fuse_file_info *fi)
{
	(void)mt, (void)fi;
}

void ctfs_kio_free(struct ctfs_mount *mt)
{
	(void)mt;
}

#endif
