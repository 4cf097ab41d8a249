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

/* Raise the kernel readahead of the mount (root only). Must run after the
 * INIT exchange, which would lower it again: ops call it on first use. */
void ctfs_tune_readahead(struct ctfs_mount *mt);

#endif
