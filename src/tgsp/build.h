/* Writing TGSP packages from a directory tree. */
#ifndef CTFS_TGSP_BUILD_H
#define CTFS_TGSP_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tgsp/keyfiles.h"

struct ctfs_tgsp_build_opts {
	const char *dir;			/* the tree to package */
	const struct ctfs_tgsp_sign_pub *signer_pub;
	const struct ctfs_tgsp_sign_sec *signer_sec;
	const char *key_id;			/* signature key_id */
	const struct ctfs_tgsp_enc_pub *recipients;
	const char *const *recipient_ids;
	size_t n_recipients;
	const char *model_name, *model_version, *author_id;
	const char *fleet;			/* policy target_fleet, or NULL */
	bool has_not_before, has_not_after;
	int64_t not_before, not_after;		/* epoch seconds */
	double created_at;			/* epoch seconds */
	int level;				/* gzip level 1-9; 0: 6 */
};

/*
 * Package o->dir into out_fd (a seekable, empty file; written with pwrite).
 * The archive lists the regular files under dir sorted by path (bytes),
 * mode 0755 if the owner may execute them and 0644 otherwise, uid/gid 0,
 * mtime 0 (tar_writer.h); symbolic links and special files are refused;
 * empty directories are not kept. The manifest has the fields the reference
 * platform writes. 0, or -errno with err.
 */
int ctfs_tgsp_build(int out_fd, const struct ctfs_tgsp_build_opts *o, char *err, size_t errlen);

#endif
