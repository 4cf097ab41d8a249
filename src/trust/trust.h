/* A mount's (or a tool's) trust settings: certificate anchors, the local
 * revocation list, the anti-rollback store and whether plaintext digests
 * are required. Built once from the options; the revocation list is
 * reloaded when ctfs_trust_request_reload was called (SIGHUP), at the next
 * open, so a revoked file stops opening at once while handles already
 * open keep reading. */
#ifndef CTFS_TRUST_H
#define CTFS_TRUST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "trust/chain.h"
#include "trust/revoked.h"

struct ctfs_trust_opts {
	const char *trust;		/* -o trust=FILE|DIR: CA certificates (and CRLs) */
	bool crl_require;		/* -o crl=require */
	const char *revoked;		/* -o revoked=FILE */
	const char *rollback_db;	/* -o rollback_db=FILE */
	bool require_digests;		/* -o require_digests */
};

struct ctfs_trust {
	struct ctfs_anchors *anchors;	/* NULL: signers only from the keyring */
	struct ctfs_revocation revoked;
	char *rollback_db;		/* NULL: no anti-rollback */
	bool require_digests;
	atomic_bool reload;
};

/* 0, or -errno with err naming the option and the file. */
int ctfs_trust_init(struct ctfs_trust *t, const struct ctfs_trust_opts *o, char *err,
		    size_t errlen);
void ctfs_trust_destroy(struct ctfs_trust *t);

/* Async-signal-safe: ask for a reload at the next open. */
void ctfs_trust_request_reload(struct ctfs_trust *t);
/* Reload the revocation list if asked; 1 when reloaded, 0 when not asked,
 * -errno when the file could not be read (the old list stays, err says why). */
int ctfs_trust_maybe_reload(struct ctfs_trust *t, char *err, size_t errlen);

#endif
