/* Signer binding: a master key names the signing keys allowed to sign the
 * files it protects, so that a file re-signed by another trusted signer
 * (with, say, a more permissive policy) cannot use it (issue 9, finding 4). */
#ifndef CTFS_BINDING_H
#define CTFS_BINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys/jwk.h"

/* What to do with a master key that has no "ctfs_signers" member. */
enum ctfs_unbound {
	CTFS_UNBOUND_REFUSE,	/* fail closed (the default) */
	CTFS_UNBOUND_WARN,	/* transitional: accept, log a warning per file */
};

/* 0 when the signer whose thumbprint is tp, or whose certificate subject
 * is subject (non-NULL only for a chain validated to a trusted CA), may
 * sign files that master protects; -EKEYREJECTED (err names the master kid and the signer) when it
 * may not, or when master has no signer list and policy is REFUSE. *warned
 * is set when a key without a list was accepted under WARN (the caller
 * logs it). */
int ctfs_binding_check(const struct ctfs_jwk *master, const uint8_t tp[32],
		       const char *subject, enum ctfs_unbound policy, bool *warned, char *err, size_t errlen);

/* For a key set used as a whole (a keys.json file): a master key without a
 * signer list is bound to the signing keys of its own set. 0 or -ENOMEM/-E2BIG. */
int ctfs_binding_from_set(struct ctfs_jwk *master, const struct ctfs_jwk *keys, size_t n);

#endif
