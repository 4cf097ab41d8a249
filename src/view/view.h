/* The mount view: SOURCE as the mount shows it, independent of FUSE.
 *
 * CryptoTensors files X.cryptotensors appear as X.safetensors (plaintext
 * views decrypted on demand), TGSP packages X.tgsp as directories X/, and
 * everything else as it is, read-only. Every path is resolved beneath
 * SOURCE without following a symlink (symlinks are shown as symlinks: the
 * kernel resolves them in the reader's context). Each operation of a file
 * system front end maps to one function here; open is where the checks on
 * a file (signature, policy, keys) run, in the order of CONTROL-PLANE.md.
 *
 * Paths are mount paths: "/" or "/a/b". Functions return 0 (or a count) or
 * a negative errno, and are safe to call from many threads at once. */
#ifndef CTFS_VIEW_H
#define CTFS_VIEW_H

#include <keyutils.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "trust/binding.h"

struct ctfs_trust;

struct ctfs_view;
struct ctfs_keyfetch_cfg;
struct ctfs_handle;
struct ctfs_usage;

struct ctfs_view_opts {
	const char *source;		/* the SOURCE directory */
	key_serial_t ring;		/* keyring holding ctfs:<kid> keys */
	size_t cache_size;		/* decrypted chunk cache (locked memory) */
	size_t header_cache;		/* parsed headers/packages nobody uses */
	const char *tgsp_trust;		/* trusted TGSP signers (file or dir), or NULL */
	const char *fleet;		/* fleet id for TGSP target_fleet, or NULL */
	struct ctfs_usage *usage;	/* usage accounting (metrics/usage.h), or NULL */
	enum ctfs_unbound unbound;	/* master keys without a signer list */
	const char *site_policy;	/* the operator's Rego policy file, or NULL */
	const char *policy_data;	/* JSON file given to policies as data, or NULL */
	const char *audit;		/* audit file (JSON lines), or NULL */
	bool audit_fail_allow;		/* when the audit file cannot be written */
	struct ctfs_trust *trust;	/* chains, revocation, rollback, digests, or NULL */
	/* key release service for master keys missing from ring, or NULL
	 * (keyfetch.h; its fleet defaults to the one above) */
	const struct ctfs_keyfetch_cfg *keyserver;
	/* resident plaintext (view/resident.h): off unless set; "" makes every
	 * encrypted file resident, else fnmatch patterns separated by ':' on
	 * the path in the mount (no leading '/') */
	const char *resident;
	unsigned resident_grace;	/* seconds a copy outlives its last handle */
};

#define CTFS_VIEW_HEADER_CACHE_DEFAULT (64u << 20)
#define CTFS_VIEW_RESIDENT_GRACE_DEFAULT 30u

/* Who is opening: the process a front end reports for the request. */
struct ctfs_caller {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

int ctfs_view_new(const struct ctfs_view_opts *o, struct ctfs_view **out, char *err,
		  size_t errlen);
void ctfs_view_free(struct ctfs_view *v);
/* The resolved SOURCE path. */
const char *ctfs_view_source(const struct ctfs_view *v);

int ctfs_view_getattr(struct ctfs_view *v, const char *path, struct stat *st);
/* NUL-terminated link text, truncated to size. */
int ctfs_view_readlink(struct ctfs_view *v, const char *path, char *buf, size_t size);
/* fill returns non-zero to stop the listing. */
typedef int (*ctfs_view_fill_fn)(void *arg, const char *name);
int ctfs_view_readdir(struct ctfs_view *v, const char *path, ctfs_view_fill_fn fill, void *arg);
int ctfs_view_statfs(struct ctfs_view *v, struct statvfs *sv);

/* Open a file for reading. *keep_cache says the same verified content was
 * served before, so the page cache of an earlier open may be kept. */
int ctfs_view_open(struct ctfs_view *v, const char *path, const struct ctfs_caller *who,
		   struct ctfs_handle **h, bool *keep_cache);
/* Bytes read (short only at end of file) or -errno (-EIO: integrity). */
ssize_t ctfs_handle_read(struct ctfs_handle *h, void *buf, size_t size, uint64_t off);
void ctfs_handle_release(struct ctfs_handle *h);
/* For a front end that can let the kernel serve a file itself (FUSE
 * passthrough): a handle on a SOURCE file served byte for byte (a plain
 * file) gives its read-only descriptor (still the handle's), the file's
 * identity and its SOURCE path; -ENOENT for handles whose bytes the view
 * makes (decrypted views, TGSP package members). */
int ctfs_handle_plain_fd(const struct ctfs_handle *h, int *fd, struct stat *id,
			 const char **name);

/* For a front end that can let the kernel serve a file itself: a handle
 * served from a resident copy gives that copy's memfd (still the view's;
 * sealed against writes and size changes), its identity and the SOURCE
 * path of the file; -ENOENT for every other handle. The copy is from then
 * on taken to be mapped by readers (it is wiped only once nobody maps it). */
int ctfs_handle_resident_fd(const struct ctfs_handle *h, int *fd, struct stat *id,
			    const char **name);
/* Where the mount is shown (absolute path), for resident copies: call
 * before the mount is made. 0 or -ENOMEM. */
int ctfs_view_set_mountpoint(struct ctfs_view *v, const char *mountpoint);

/* For status and tests: entries in the registry and the estimated memory
 * of those no handle uses (bounded by header_cache). */
void ctfs_view_registry_stats(struct ctfs_view *v, size_t *entries, size_t *unused_bytes);

#endif
