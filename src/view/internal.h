/* What the parts of the mount view share (not for use outside src/view/). */
#ifndef CTFS_VIEW_INTERNAL_H
#define CTFS_VIEW_INTERNAL_H

#include <limits.h>

#include "keys/keyfetch.h"
#include "keys/keyprov.h"
#include "policy/audit.h"
#include "policy/facts.h"
#include "tgsp/tgsp.h"
#include "view/registry.h"
#include "view/resident.h"
#include "view/view.h"

struct ctfs_view {
	int src_fd;
	char *source;
	key_serial_t ring;
	struct ctfs_keyprov keys;
	struct ctfs_cache *cache;
	struct ctfs_registry *reg;
	struct ctfs_tgsp_trust trust;
	char *fleet;
	struct ctfs_usage *usage;	/* -o usage=: owned by the front end, or NULL */
	/* access decisions (access.c) */
	struct ctfs_rego *site;		/* -o policy=, or NULL */
	char site_hash[65];
	char *data;			/* -o policy_data= text, or NULL */
	size_t data_len;
	struct ctfs_audit *audit;
	bool audit_fail_allow;
	struct ctfs_host_facts host;
	struct ctfs_keyfetch_cfg *keyserver;	/* key release service, or NULL */
	struct ctfs_resident *resident;		/* -o resident, or NULL */
};

/* An open file: each kind brings its own read and release. */
struct ctfs_handle_ops {
	ssize_t (*read)(struct ctfs_handle *h, uint8_t *buf, size_t size, uint64_t off);
	void (*release)(struct ctfs_handle *h);
};

struct ctfs_handle {
	const struct ctfs_handle_ops *ops;
	bool plain;				/* a pass-through file (set by its kind) */
	struct ctfs_mfile *mfile;		/* metrics series (account.c sets it) */
	struct ctfs_usage_entry *usage;		/* usage accounting (account.c) */
};

/* account.c: metrics and usage of opens and reads (src/metrics). */
void ctfs_view_account_open(struct ctfs_view *v, const char *path, bool pkg,
			    const struct ctfs_caller *who, int rc, struct ctfs_handle *h);
void ctfs_view_account_read(struct ctfs_handle *h, ssize_t n, uint64_t t0);
void ctfs_view_account_release(struct ctfs_handle *h);

/* names.c: where a mount path leads in SOURCE. */
enum ctfs_target_kind {
	CTFS_TARGET_SOURCE,	/* an entry of SOURCE (file, directory, symlink...) */
	CTFS_TARGET_PKG_ROOT,	/* X/ of a package X.tgsp */
	CTFS_TARGET_PKG_MEMBER,	/* a path below X/ */
};

struct ctfs_target {
	enum ctfs_target_kind kind;
	char bpath[PATH_MAX];	/* relative to SOURCE ("." for the root) */
	const char *inner;	/* PKG_MEMBER: the path inside the package */
	struct stat st;		/* lstat of bpath */
};

int ctfs_view_resolve(const struct ctfs_view *v, const char *path, struct ctfs_target *t);
/* The name a SOURCE directory entry is listed under in the mount. */
void ctfs_view_shown_name(int dirfd, const char *name, char *out, size_t cap);

/* files.c: regular files of SOURCE, CryptoTensors or plain. */
int ctfs_vfile_size(struct ctfs_view *v, const struct ctfs_target *t, uint64_t *size);
int ctfs_vfile_open(struct ctfs_view *v, const struct ctfs_target *t, const char *path,
		    const struct ctfs_caller *who, struct ctfs_handle **h, bool *keep_cache);

/* packages.c: TGSP packages and their members. */
int ctfs_vpkg_getattr(struct ctfs_view *v, const struct ctfs_target *t, struct stat *st);
int ctfs_vpkg_readdir(struct ctfs_view *v, const struct ctfs_target *t, ctfs_view_fill_fn fill,
		      void *arg);
int ctfs_vpkg_readlink(struct ctfs_view *v, const struct ctfs_target *t, char *buf, size_t size);
int ctfs_vpkg_open(struct ctfs_view *v, const struct ctfs_target *t,
		   const struct ctfs_caller *who, struct ctfs_handle **h, bool *keep_cache);

/* access.c: who may open what (CONTROL-PLANE.md step 6) and its audit. */
int ctfs_view_access_init(struct ctfs_view *v, const struct ctfs_view_opts *o, char *err,
			  size_t errlen);
void ctfs_view_access_free(struct ctfs_view *v);
/* Run the checks of an open of the encrypted file e (shown at path) for
 * who, up to the keys, and record the decision. 0 or the refusal's errno. */
int ctfs_view_admit(struct ctfs_view *v, struct ctfs_entry *e, const char *path,
		    const struct ctfs_caller *who);
/* keyrelease.c: the master key from the key service when absent. */
struct ctfs_gate;
int ctfs_vkeys_init(struct ctfs_view *v, const struct ctfs_keyfetch_cfg *cfg,
		    char *err, size_t errlen);
void ctfs_vkeys_free(struct ctfs_view *v);
/* ctfs_model_unlock, fetching the master key once if it is missing. */
int ctfs_vkeys_unlock(struct ctfs_view *v, const char *bpath, struct ctfs_model *m,
		      const struct ctfs_gate *gate, char *err, size_t errlen);

/* What an entry of either kind frees when the registry drops it. */
void ctfs_vfile_drop(struct ctfs_view *v, struct ctfs_entry *e);
void ctfs_vpkg_drop(struct ctfs_view *v, struct ctfs_entry *e);

#endif
