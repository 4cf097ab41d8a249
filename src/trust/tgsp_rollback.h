/* Anti-rollback for TGSP packages: the signed manifest's model_name and
 * model_version (where present and orderable, see
 * ctfs_rollback_version_parse) against the same store as CryptoTensors
 * files, keyed by the thumbprint of the trusted signer's Ed25519 key. */
#ifndef CTFS_TGSP_ROLLBACK_H
#define CTFS_TGSP_ROLLBACK_H

#include <stddef.h>

#include "tgsp/container.h"
#include "trust/trust.h"

/* 0 (accepted, not ordered, or no rollback_db), -EACCES (older than a
 * version already served; err says both), -errno (store trouble). */
int ctfs_trust_tgsp_rollback(const struct ctfs_trust *t, const struct ctfs_tgsp_container *c,
			     char *err, size_t errlen);

#endif
