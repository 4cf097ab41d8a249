/* Keys in the kernel keyring: a JWK is a "user" key with description
 * "ctfs:<kid>" whose payload is the JWK JSON (FORMATS.md, "Keys"); other
 * key files (TGSP) are read as raw payloads. */
#ifndef CTFS_KEYRING_H
#define CTFS_KEYRING_H

#include <keyutils.h>
#include <stdbool.h>
#include <stddef.h>

#include "keys/jwk.h"

#define CTFS_KEYRING_PREFIX "ctfs:"
#define CTFS_KEYRING_DEFAULT_KID "default"

/* spec: "@u" user (also for NULL or ""), "@s" session, "@us" user-session,
 * "@p" process, "@t" thread, a decimal serial, or "%:NAME" / "NAME" for a
 * keyring of that name reachable from the session keyring. The special
 * keyrings are turned into their real serials, so the result stays valid
 * when the caller later changes session. 0 or -errno. */
int ctfs_keyring_resolve(const char *spec, key_serial_t *out);

/* The key "ctfs:<kid>" (kid NULL -> "ctfs:default") found by searching from
 * ring. Its payload is read straight into locked memory and wiped once
 * parsed. *out is cleared by the caller with ctfs_jwk_clear().
 * -ENOKEY when absent, otherwise -errno as the kernel reports it
 * (-EKEYREVOKED, -EKEYEXPIRED, -EACCES...), -EINVAL for a bad payload. */
int ctfs_keyring_get_jwk(key_serial_t ring, const char *kid, struct ctfs_jwk *out,
			 char *err, size_t errlen);

/* The payload of the user key described desc, searched from ring, read
 * straight into locked memory and NUL-terminated; release it with
 * ctfs_secure_free (which wipes it). -ENOKEY when absent, otherwise -errno
 * as the kernel reports it (-EKEYREVOKED, -EKEYEXPIRED, -EACCES...). */
int ctfs_keyring_get_raw(key_serial_t ring, const char *desc, char **payload, size_t *len);

/* Add (or update) k in ring. Private parts of an okp key are stored only
 * when include_private; the k of an oct key always is (it is the key). */
int ctfs_keyring_add_jwk(key_serial_t ring, const struct ctfs_jwk *k, bool include_private,
			 key_serial_t *id);

/* Unlink every "ctfs:<kid>" key linked directly in ring; -ENOKEY if none. */
int ctfs_keyring_remove(key_serial_t ring, const char *kid);

/* fn is called for every ctfs key linked directly in ring, with its kid and a
 * copy of the key that holds no secret (secret == NULL, secret_len tells
 * whether the stored key has one). A key whose payload cannot be read or
 * parsed is still reported, with pub_only NULL. A non-zero return from fn
 * stops the walk and is returned. */
typedef int (*ctfs_keyring_list_fn)(void *arg, const char *kid, const struct ctfs_jwk *pub_only);
int ctfs_keyring_list(key_serial_t ring, ctfs_keyring_list_fn fn, void *arg);

#endif
