/* State shared by the FUSE front end of ctfs. */
#ifndef CTFS_FUSE_H
#define CTFS_FUSE_H

#define FUSE_USE_VERSION 312

#include <fuse.h>
#include <keyutils.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "chunk_cache.h"
#include "keyprov.h"
#include "model.h"

struct ctfs_files;
struct ctfs_tgsp_view;
struct ctfs_passthrough;

struct ctfs_mount {
	int src_fd;                 /* the SOURCE directory */
	char *source;
	struct ctfs_keyprov keys;
	struct ctfs_cache *cache;
	struct ctfs_files *files;
	struct ctfs_tgsp_view *tgsp;	/* TGSP packages (tgsp_view.c) */
	size_t readahead;
	const char *mountpoint;
	atomic_bool readahead_tuned;
	struct ctfs_passthrough *pt;	/* passthrough.c; NULL when off */
};

extern const struct fuse_operations ctfs_fuse_ops;

/* Raise the kernel readahead of the mount (root only). Must run after the
 * INIT exchange, which would lower it again: ops call it on first use. */
void ctfs_tune_readahead(struct ctfs_mount *mt);

/* files.c: mount paths to backing files, and the models behind them. */

/* A mount path ("/a/X.safetensors") as a path relative to SOURCE, following
 * the X.safetensors -> X.cryptotensors naming, with its lstat. */
int ctfs_files_resolve(struct ctfs_mount *mt, const char *path, char *bpath, size_t cap,
		       struct stat *st);

/* The name a backing directory entry is shown under ("" to hide it). */
void ctfs_files_view_name(int dirfd, const char *name, char *out, size_t cap);

/* Size of the view of a regular backing file (cached by file identity). */
int ctfs_files_view_size(struct ctfs_mount *mt, const char *bpath, const struct stat *st,
			 uint64_t *size);

/* The model to serve for an open of bpath. *keep_cache is true when the same
 * verified content was served before, so the kernel may keep its pages. */
int ctfs_files_open(struct ctfs_mount *mt, const char *bpath, struct ctfs_model **m,
		    bool *keep_cache);

int ctfs_files_new(struct ctfs_files **out);
void ctfs_files_free(struct ctfs_mount *mt, struct ctfs_files *t);

/* tgsp_view.c: SOURCE/.../X.tgsp shown as the directory X/. The path hooks
 * return CTFS_TGSPV_PASS for a path that is not inside a package (the
 * caller goes on as usual), else the operation's result. */
#define CTFS_TGSPV_PASS 1

int ctfs_tgspv_new(const char *trust, const char *fleet, key_serial_t ring,
		   struct ctfs_tgsp_view **out);
void ctfs_tgspv_free(struct ctfs_tgsp_view *v);
/* In a listing: X.tgsp (a regular file with no X beside it) is shown as X. */
void ctfs_tgspv_view_name(int dirfd, const char *name, char *out, size_t cap);
int ctfs_tgspv_getattr(struct ctfs_mount *mt, const char *path, struct stat *st);
int ctfs_tgspv_readdir(struct ctfs_mount *mt, const char *path, void *buf, fuse_fill_dir_t fill);
int ctfs_tgspv_readlink(struct ctfs_mount *mt, const char *path, char *buf, size_t size);
int ctfs_tgspv_open(struct ctfs_mount *mt, const char *path, struct fuse_file_info *fi);
/* fi->fh values that ctfs_tgspv_open made, and their read / release. */
bool ctfs_tgspv_is_handle(uint64_t fh);
int ctfs_tgspv_read(uint64_t fh, char *buf, size_t size, off_t off);
void ctfs_tgspv_release(uint64_t fh);

#endif
