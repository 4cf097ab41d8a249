/* Where master and verification keys come from: the kernel keyring (the
 * daemon) or a JWK set loaded by ctfs-tool. Keys are found by kid. */
#ifndef CTFS_KEYPROV_H
#define CTFS_KEYPROV_H

#include <keyutils.h>
#include <stddef.h>

#include "keys/jwk.h"
#include "trust/binding.h"

struct ctfs_trust;

struct ctfs_keyprov {
	/* Fill *out (caller clears it with ctfs_jwk_clear); -ENOKEY when absent. */
	int (*get)(const struct ctfs_keyprov *kp, enum ctfs_kty kty, const char *kid,
		   struct ctfs_jwk *out, char *err, size_t errlen);
	key_serial_t ring;             /* keyring provider */
	const struct ctfs_jwk *keys;   /* JWK-set provider */
	size_t n_keys;
	/* Master keys without a signer list: refused unless set to WARN
	 * (mount option unbound_keys=warn). A JWK-set provider binds such a
	 * key to the signing keys of its own set. */
	enum ctfs_unbound unbound;
	/* Certificate anchors, revocation, rollback, digests (trust/trust.h);
	 * NULL: none of them, signers from the key provider only. */
	struct ctfs_trust *trust;
};

void ctfs_keyprov_keyring(struct ctfs_keyprov *kp, key_serial_t ring);
void ctfs_keyprov_jwks(struct ctfs_keyprov *kp, const struct ctfs_jwk *keys, size_t n);

#endif
