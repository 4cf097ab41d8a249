/* State shared by the FUSE front end of ctfs. */
#ifndef CTFS_FUSE_H
#define CTFS_FUSE_H

#define FUSE_USE_VERSION 312

#include <fuse.h>
#include <keyutils.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "chunk_cache.h"
#include "keyprov.h"
#include "model.h"

struct ctfs_files;

struct ctfs_mount {
	int src_fd;                 /* the SOURCE directory */
	char *source;
	struct ctfs_keyprov keys;
	struct ctfs_cache *cache;
	struct ctfs_files *files;
	size_t readahead;
	const char *mountpoint;
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

#endif
