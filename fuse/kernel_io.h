/* Kernel FUSE features that libfuse >= 3.17 lets a daemon ask for, kept
 * apart from the operations so that they hook in with one call each:
 *
 * - passthrough (passthrough.c): an open of a plain file (config,
 *   tokenizer, plain .safetensors) is handed to the kernel, which then reads
 *   and maps the backing file itself; the daemon never sees those READs.
 * - large requests (request_size.c): READs of CTFS_REQUEST_SIZE instead of
 *   libfuse 3.14's fixed 1 MiB, so that a request covers a whole v2 chunk.
 *
 * Built against an older libfuse every function is a no-op and the mount
 * behaves exactly as before. */
#ifndef CTFS_KERNEL_IO_H
#define CTFS_KERNEL_IO_H

#include "ctfs_fuse.h"

/* One READ request: the default v2 chunk (2 MiB). Overridable at build
 * time (CPPFLAGS=-DCTFS_REQUEST_SIZE=...) to measure other sizes. */
#ifndef CTFS_REQUEST_SIZE
#define CTFS_REQUEST_SIZE (2u << 20)
#endif

/* Before fuse_mount(): let the kernel accept CTFS_REQUEST_SIZE requests
 * (raise fs.fuse.max_pages_limit when we may; root only). */
void ctfs_kio_before_mount(void);

/* From the init operation: ask for passthrough (when the kernel offers it
 * and we hold CAP_SYS_ADMIN) and for large requests. */
void ctfs_kio_init(struct ctfs_mount *mt, struct fuse_conn_info *conn);

/* From the open operation, once the view opened handle h (fi->fh set):
 * for a plain file or a resident copy, sets fi->backing_id when the kernel
 * takes the file over. Otherwise, or failing that, the open goes on as
 * before (a resident copy is then served by the daemon with memcpy). */
void ctfs_kio_open(struct ctfs_mount *mt, const struct ctfs_handle *h, struct fuse_file_info *fi);

/* From the release operation, for every handle: drops what
 * ctfs_kio_open_plain set up for fi->fh, if anything. */
void ctfs_kio_release(struct ctfs_mount *mt, const struct fuse_file_info *fi);

/* At unmount: backing files still registered (none after clean releases). */
void ctfs_kio_free(struct ctfs_mount *mt);

/* passthrough.c's part of ctfs_kio_init. */
void ctfs_pt_init(struct ctfs_mount *mt, struct fuse_conn_info *conn);

/* "passthrough, 2 MiB requests", or "none": for --version. */
const char *ctfs_kio_features(void);

#endif
