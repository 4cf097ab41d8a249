#include "keys/keyprov.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keyring.h"
#include "crypto/secmem.h"
#include "util.h"

static int get_keyring(const struct ctfs_keyprov *kp, enum ctfs_kty kty, const char *kid,
		       struct ctfs_jwk *out, char *err, size_t errlen)
{
	int rc = ctfs_keyring_get_jwk(kp->ring, kid, out, err, errlen);

	if (!rc && out->kty != kty) {
		ctfs_jwk_clear(out);
		ctfs_seterr(err, errlen, "key ctfs:%s in the keyring has the wrong type",
			    kid ? kid : "default");
		return -EKEYREJECTED;
	}
	return rc;
}

static int get_jwks(const struct ctfs_keyprov *kp, enum ctfs_kty kty, const char *kid,
		    struct ctfs_jwk *out, char *err, size_t errlen)
{
	const struct ctfs_jwk *k = ctfs_jwk_find(kp->keys, kp->n_keys, kty, kid);
	int rc;

	if (!k) {
		ctfs_seterr(err, errlen, "no %s key with kid '%s' in the key set",
			    kty == CTFS_KTY_OCT ? "oct" : "okp", kid ? kid : "(none)");
		return -ENOKEY;
	}
	rc = ctfs_jwk_copy(out, k);
	if (!rc && kty == CTFS_KTY_OCT)
		rc = ctfs_binding_from_set(out, kp->keys, kp->n_keys);
	if (rc)
		ctfs_jwk_clear(out);
	return rc;
}

void ctfs_keyprov_keyring(struct ctfs_keyprov *kp, key_serial_t ring)
{
	*kp = (struct ctfs_keyprov){ .get = get_keyring, .ring = ring };
}

void ctfs_keyprov_jwks(struct ctfs_keyprov *kp, const struct ctfs_jwk *keys, size_t n)
{
	*kp = (struct ctfs_keyprov){ .get = get_jwks, .keys = keys, .n_keys = n };
}
