/* State shared by the FUSE front end of ctfs: a translation layer over the
 * library's mount view (src/view/view.h). */
#ifndef CTFS_FUSE_H
#define CTFS_FUSE_H

#define FUSE_USE_VERSION 312

#include <fuse.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "trust/trust.h"
#include "view/view.h"

struct ctfs_passthrough;

struct ctfs_mount {
	struct ctfs_view *view;
	struct ctfs_trust trust;	/* -o trust=, revoked=, rollback_db=, ... */
	bool trust_on;			/* trust is initialised */
	size_t readahead;
	const char *mountpoint;
	atomic_bool readahead_tuned;
	struct ctfs_passthrough *pt;	/* passthrough.c; NULL when off */
};

extern const struct fuse_operations ctfs_fuse_ops;

/* opsd.c: metrics endpoint, status socket, usage accounting. prepare runs
 * before the view is made (it may set vo->usage), bind once mounted (a busy
 * port fails the mount before it detaches), start once daemonised,
 * stop when the loop ends, free after the view is freed (final usage). */
struct ctfs_ops_opts {
	const char *metrics, *usage, *usage_interval, *metrics_files;
};
int ctfs_ops_prepare(const struct ctfs_ops_opts *o, struct ctfs_view_opts *vo, int argc,
		     char **argv);
int ctfs_ops_bind(const char *mountpoint);
int ctfs_ops_start(void);
void ctfs_ops_stop(void);
void ctfs_ops_free(void);

/* Raise the kernel readahead of the mount (root only). Must run after the
 * INIT exchange, which would lower it again: ops call it on first use. */
void ctfs_tune_readahead(struct ctfs_mount *mt);

/* -o resident: let shmem (the copies) use transparent huge pages. */
void ctfs_allow_shmem_hugepages(void);

#endif
