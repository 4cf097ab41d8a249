/* Key rotation for CryptoTensors files: every data key re-wrapped under a
 * new master key and/or the header re-signed under a new signing key (and
 * optionally a new policy), without touching a byte of tensor data. */
#ifndef CTFS_CT_REWRAP_H
#define CTFS_CT_REWRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys/jwk.h"
#include "keys/keyprov.h"

struct ctfs_ct_rewrap_opts {
	/* Opens the source: its verification key and its master key. */
	const struct ctfs_keyprov *old;
	/* oct key with k: every data key is re-wrapped under it and the file
	 * names it (kid, jku). It must be for the file's algorithm, which
	 * also encrypts the data. NULL: the wrapped keys stay as they are. */
	const struct ctfs_jwk *new_master;
	/* okp Ed25519 key with d that signs the result, named in the file.
	 * NULL: the source's signing key, whose d must then come from old. */
	const struct ctfs_jwk *signer;
	const char *policy_local;    /* Rego text replacing the policy; NULL: keep */
	const char *policy_remote;
	/* Trust metadata, as in ct/writer.h: model_id / model_version set the
	 * signed ctfs.model_id / ctfs.version (NULL: keep); with a new signer
	 * the x5c of __crypto_keys__.sign is replaced by x5c (n_x5c may be 0:
	 * removed); digests recomputes ctfs.plain_sha256 from the source. */
	const char *model_id;
	const char *model_version;
	char *const *x5c;
	size_t n_x5c;
	bool digests;
	/* Re-sign only: the source's signature is checked, its data keys are
	 * not unwrapped (no master key needed); new_master must be NULL. */
	bool sign_only;
	/* Bytes of the data region copied so far; non-zero cancels. May be NULL. */
	int (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};

/*
 * Rewrite the CryptoTensors file src as dst (dst may be src: the file is
 * then replaced in one rename). The source's signature and every one of
 * its data keys are checked with o->old first. dst gets a new header and a
 * data region byte-identical to src's; it is written under a temporary name,
 * checked (parsed again, signature verified, keys unwrapped with the new
 * master key), synced and renamed, so dst is either untouched or complete.
 * -ENODATA when src is not a CryptoTensors file, -EINVAL for unusable keys,
 * -EBADMSG/-ENOKEY/-EKEYREJECTED as ctfs_model_unlock, -EAGAIN when src
 * changed while it was copied; err says which.
 */
int ctfs_ct_rewrap_file(const char *src, const char *dst, const struct ctfs_ct_rewrap_opts *o,
			char *err, size_t errlen);

#endif
