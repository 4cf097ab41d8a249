#include "keys/keyprov.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keyring.h"
#include "metrics/metrics.h"
#include "crypto/secmem.h"
#include "util.h"

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* Deep copy whose secret lives in locked memory like the original's. */
static int jwk_copy(struct ctfs_jwk *dst, const struct ctfs_jwk *src)
{
	*dst = (struct ctfs_jwk){ .kty = src->kty, .has_pub = src->has_pub };
	memcpy(dst->pub, src->pub, sizeof(dst->pub));
	if (dup_str(&dst->kid, src->kid) || dup_str(&dst->jku, src->jku) ||
	    dup_str(&dst->alg, src->alg))
		goto nomem;
	if (src->secret) {
		dst->secret = ctfs_secure_alloc(src->secret_len);
		if (!dst->secret)
			goto nomem;
		memcpy(dst->secret, src->secret, src->secret_len);
		dst->secret_len = src->secret_len;
	}
	return 0;
nomem:
	ctfs_jwk_clear(dst);
	return -ENOMEM;
}

static int get_keyring(const struct ctfs_keyprov *kp, enum ctfs_kty kty, const char *kid,
		       struct ctfs_jwk *out, char *err, size_t errlen)
{
	uint64_t t0 = ctfs_metrics_now_ns();
	int rc = ctfs_keyring_get_jwk(kp->ring, kid, out, err, errlen);

	ctfs_observe_since(CTFS_H_KEY_LOOKUP, t0);
	ctfs_metrics_key_lookup(kid, rc);
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

	if (!k) {
		ctfs_seterr(err, errlen, "no %s key with kid '%s' in the key set",
			    kty == CTFS_KTY_OCT ? "oct" : "okp", kid ? kid : "(none)");
		return -ENOKEY;
	}
	return jwk_copy(out, k);
}

void ctfs_keyprov_keyring(struct ctfs_keyprov *kp, key_serial_t ring)
{
	*kp = (struct ctfs_keyprov){ .get = get_keyring, .ring = ring };
}

void ctfs_keyprov_jwks(struct ctfs_keyprov *kp, const struct ctfs_jwk *keys, size_t n)
{
	*kp = (struct ctfs_keyprov){ .get = get_jwks, .keys = keys, .n_keys = n };
}
