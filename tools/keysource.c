/* Where a subcommand's keys come from: a JWK set file (--keys) or the
 * kernel keyring (--keyring, the user keyring by default), as a key provider
 * that finds keys by the kids a file names. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "keys/keyring.h"
#include "tool.h"

const struct ctfs_jwk *tool_pick_key(const struct ctfs_jwk *set, size_t n, enum ctfs_kty kty,
				     const char *kid, const char *what, const char *kid_opt,
				     const char *path)
{
	const struct ctfs_jwk *k = ctfs_jwk_find(set, n, kty, kid);
	size_t count = 0;

	if (k)
		return k;
	for (size_t i = 0; i < n; i++)
		count += set[i].kty == kty;
	if (kid)
		tool_err("%s: no %s with kid '%s'", path, what, kid);
	else if (count)
		tool_err("%s: several %ss; choose one with %s", path, what, kid_opt);
	else
		tool_err("%s: no %s", path, what);
	return NULL;
}

int tool_keyring_open(const char *spec, key_serial_t *ring)
{
	int rc;

	if (!spec)
		spec = "@u";
	rc = ctfs_keyring_resolve(spec, ring);
	if (rc)
		tool_err("keyring %s: %s", spec, strerror(-rc));
	return rc;
}

int tool_keys_open(struct tool_keys *k)
{
	key_serial_t ring;
	int rc;

	if (k->file) {
		rc = tool_load_jwks(k->file, &k->set, &k->n);
		if (!rc)
			ctfs_keyprov_jwks(&k->kp, k->set, k->n);
		return rc;
	}
	rc = tool_keyring_open(k->keyring, &ring);
	if (!rc)
		ctfs_keyprov_keyring(&k->kp, ring);
	return rc;
}

void tool_keys_close(struct tool_keys *k)
{
	ctfs_jwk_free_set(k->set, k->n);
	k->set = NULL;
	k->n = 0;
}
