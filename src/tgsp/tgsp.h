/*
 * TGSP v1.0 packages (FORMATS.md section 3): a signed container whose payload
 * is a gzip-compressed ustar archive, encrypted in 4 MiB frames with a data
 * key (DEK) that is wrapped for each recipient with a hybrid X25519 +
 * ML-KEM-768 key encapsulation, and signed with Ed25519 + ML-DSA-65.
 *
 * Reading a package, in the order the checks run (ctfs_tgsp_open):
 *   1. structure: magic, the five length-prefixed sections exactly filling
 *      the file, each JSON section canonical and well-typed;
 *   2. SHA-256 of manifest and recipients against the header;
 *   3. both signatures over header || manifest || recipients, by a TRUSTED
 *      signer the caller gives (the author_pubkey a package carries about
 *      itself is only used to say who signed an untrusted package);
 *   4. the frame layout: every frame but the last holds exactly 4 MiB;
 *   5. policy_constraints: not_before / not_after against the clock,
 *      target_fleet against the caller's fleet id;
 *   6. the DEK, from the first recipient block that a caller's key opens;
 *   7. one pass over the payload, read once (tgsp/payload.h): a thread reads
 *      each frame, adds it to the SHA-256 of the payload, checks its tag
 *      and decrypts it, at most two frames ahead of the other, which
 *      inflates the archive (nothing unauthenticated is inflated)
 *      (checking the gzip CRCs), indexes the tar members and records access
 *      points for random access (gzindex.h). A hash mismatch is the error
 *      reported when both fail. The archive is bounded (tar_index.h), and
 *      so is its inflated size: at most CTFS_TGSP_MAX_RATIO times the
 *      compressed payload, or CTFS_TGSP_MIN_INFLATE, whichever is larger.
 *      Model weights barely compress (about 1.1:1); a signed package that
 *      inflates 256 times over is a decompression bomb, refused as soon as
 *      the pass crosses the bound.
 * Failures: -EBADMSG for 1-4 and 7 (integrity), -EACCES for 5 (policy),
 * -ENOKEY for 6 and for a missing trusted signer; err says which check.
 *
 * Secrets (DEK, recipient and signing secret keys, shared secrets, KEK) live
 * in ctfs_secure_alloc memory and are wiped when done; ctfs_secmem_init()
 * must have been called.
 */
#ifndef CTFS_TGSP_H
#define CTFS_TGSP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "archive/tar_index.h"
#include "tgsp/container.h"
#include "tgsp/keyfiles.h"
#include "tgsp/keyring.h"	/* callers look keys up there */
#include "tgsp/recipient.h"

struct ctfs_tgsp;

struct ctfs_tgsp_open_opts {
	const struct ctfs_tgsp_trust *trust;
	const char *fleet;		/* NULL: no fleet identity */
	time_t now;
	ctfs_tgsp_key_fn recipient_key;
	void *arg;
	/* Optional: a trusted signer looked up by the key_id the package
	 * names (the daemon's keyring), tried after trust. 0 with *pub
	 * filled, -ENOKEY when there is none. */
	int (*signer_key)(void *arg, const char *key_id, struct ctfs_tgsp_sign_pub *pub,
			  char *origin, size_t originlen);
	unsigned int cursors;		/* concurrent read streams; 0: 4 */
};

int ctfs_tgsp_open(int fd, const char *name, const struct ctfs_tgsp_open_opts *o,
		   struct ctfs_tgsp **out, char *err, size_t errlen);
void ctfs_tgsp_close(struct ctfs_tgsp *p);

const struct ctfs_tgsp_container *ctfs_tgsp_container(const struct ctfs_tgsp *p);
const struct ctfs_tar_index *ctfs_tgsp_index(const struct ctfs_tgsp *p);

/* Bytes [off, off + len) of a regular member; short only at its end.
 * Thread-safe. -EIO when the backing file no longer holds what was
 * verified (the failure is logged with the package name). */
ssize_t ctfs_tgsp_read(struct ctfs_tgsp *p, const struct ctfs_tar_entry *e, uint8_t *buf,
		       size_t len, uint64_t off);

/* Threads inflating ahead of sequential reads (gzindex.h); by default as
 * many as CTFS_GZINDEX_WORKERS and the CPUs allow. */
void ctfs_tgsp_set_workers(struct ctfs_tgsp *p, unsigned int workers);

/* Release the buffers of idle read streams (kept otherwise for reuse). */
void ctfs_tgsp_trim(struct ctfs_tgsp *p);

/* Memory the open package holds for its index (access points and their
 * windows, member table), for logs and tests. */
size_t ctfs_tgsp_index_bytes(const struct ctfs_tgsp *p);

#endif
