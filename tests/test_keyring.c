/* Keys in the kernel keyring. The test joins a fresh anonymous session
 * keyring first, so it never sees or touches the caller's real keys. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <keyutils.h>
#include <sodium.h>

#include "keys/keyring.h"
#include "crypto/secmem.h"
#include "tap.h"

struct seen {
	int count;
	bool oct, okp, okp_secret, unreadable;
};

static int collect(void *arg, const char *kid, const struct ctfs_jwk *k)
{
	struct seen *s = arg;

	s->count++;
	if (!k) {
		s->unreadable = !strcmp(kid, "junk");
		return 0;
	}
	if (k->secret)
		return -EFAULT; /* list must never hand out a secret */
	if (!strcmp(kid, "t-enc"))
		s->oct = k->kty == CTFS_KTY_OCT && k->secret_len == 32;
	if (!strcmp(kid, "t-sign")) {
		s->okp = k->kty == CTFS_KTY_OKP && k->has_pub;
		s->okp_secret = k->secret_len != 0;
	}
	return 0;
}

static int stop_early(void *arg, const char *kid, const struct ctfs_jwk *k)
{
	(void)arg;
	(void)kid;
	(void)k;
	return 42;
}

static void test_resolve(key_serial_t session)
{
	key_serial_t id = 0, named, again = 0, user_key;
	char num[32];

	tap_ok(ctfs_keyring_resolve("@s", &id) == 0 && id == session,
	       "@s resolves to the session keyring's serial");
	tap_ok(ctfs_keyring_resolve("@u", &id) == 0 && id > 0, "@u resolves to a serial");
	tap_ok(ctfs_keyring_resolve(NULL, &again) == 0 && again == id, "NULL means @u");
	tap_ok(ctfs_keyring_resolve("@us", &id) == 0 && id > 0, "@us resolves");
	tap_ok(ctfs_keyring_resolve("@x", &id) == -EINVAL, "unknown @ name is -EINVAL");
	tap_ok(ctfs_keyring_resolve("12ab", &id) == -EINVAL, "malformed serial is -EINVAL");

	named = add_key("keyring", "ctfs-test-ring", NULL, 0, session);
	tap_ok(named > 0, "created a named keyring");
	snprintf(num, sizeof(num), "%d", (int)named);
	tap_ok(ctfs_keyring_resolve(num, &id) == 0 && id == named, "decimal serial resolves");
	tap_ok(ctfs_keyring_resolve("%:ctfs-test-ring", &id) == 0 && id == named,
	       "%%:NAME resolves to the named keyring");
	tap_ok(ctfs_keyring_resolve("ctfs-test-ring", &id) == 0 && id == named,
	       "NAME resolves to the named keyring");
	tap_ok(ctfs_keyring_resolve("ctfs-no-such-ring", &id) == -ENOKEY,
	       "an absent named keyring is -ENOKEY");

	user_key = add_key("user", "not-a-ring", "x", 1, session);
	snprintf(num, sizeof(num), "%d", (int)user_key);
	tap_ok(user_key > 0 && ctfs_keyring_resolve(num, &id) == -ENOTDIR,
	       "a serial that is not a keyring is refused");
}

static void test_keys(key_serial_t ring)
{
	struct ctfs_jwk enc = { 0 }, sign = { 0 }, got = { 0 }, nokid = { 0 };
	struct seen seen = { 0 };
	key_serial_t id = 0;
	char err[256];

	tap_ok(ctfs_jwk_generate(&enc, CTFS_KTY_OCT, "aes256gcm", "t-enc") == 0,
	       "generated an oct key");
	tap_ok(ctfs_jwk_generate(&sign, CTFS_KTY_OKP, "ed25519", "t-sign") == 0,
	       "generated an okp key");

	tap_ok(ctfs_keyring_get_jwk(ring, "t-enc", &got, err, sizeof(err)) == -ENOKEY,
	       "missing key is -ENOKEY");
	tap_ok(strstr(err, "ctfs:t-enc") != NULL, "the error names the key: %s", err);

	tap_ok(ctfs_keyring_add_jwk(ring, &enc, false, &id) == 0 && id > 0,
	       "added the oct key (include_private=false)");
	tap_ok(ctfs_keyring_get_jwk(ring, "t-enc", &got, err, sizeof(err)) == 0,
	       "got the oct key back");
	tap_ok(got.kty == CTFS_KTY_OCT && got.secret && got.secret_len == 32 &&
	       !sodium_memcmp(got.secret, enc.secret, 32),
	       "an oct key is stored with its k even without include_private");
	tap_ok(got.kid && !strcmp(got.kid, "t-enc") && got.alg && !strcmp(got.alg, "aes256gcm"),
	       "kid and alg survive the round trip");
	ctfs_jwk_clear(&got);

	tap_ok(ctfs_keyring_add_jwk(ring, &sign, false, NULL) == 0, "added the okp key");
	tap_ok(ctfs_keyring_get_jwk(ring, "t-sign", &got, err, sizeof(err)) == 0,
	       "got the okp key back");
	tap_ok(got.kty == CTFS_KTY_OKP && !got.secret && got.has_pub &&
	       !memcmp(got.pub, sign.pub, 32), "okp key stored without d, with x");
	ctfs_jwk_clear(&got);

	tap_ok(ctfs_keyring_add_jwk(ring, &sign, true, NULL) == 0,
	       "re-added the okp key with its private part");
	tap_ok(ctfs_keyring_get_jwk(ring, "t-sign", &got, err, sizeof(err)) == 0 && got.secret &&
	       got.secret_len == 32 && !sodium_memcmp(got.secret, sign.secret, 32),
	       "adding again replaces the key: now with d");
	ctfs_jwk_clear(&got);

	tap_ok(add_key("user", "ctfs:junk", "not json", 8, ring) > 0, "added a malformed payload");
	tap_ok(ctfs_keyring_get_jwk(ring, "junk", &got, err, sizeof(err)) == -EINVAL,
	       "a malformed payload is -EINVAL");
	tap_ok(add_key("user", "other:thing", "x", 1, ring) > 0, "added a key that is not ours");

	tap_ok(ctfs_keyring_list(ring, collect, &seen) == 0, "listed the keyring");
	tap_ok(seen.count == 3, "list reports the three ctfs keys only (%d)", seen.count);
	tap_ok(seen.oct && seen.okp && seen.okp_secret && seen.unreadable,
	       "list shows types, stored secrets and unreadable keys without secrets");
	tap_ok(ctfs_keyring_list(ring, stop_early, NULL) == 42, "a callback can stop the walk");

	tap_ok(ctfs_keyring_remove(ring, "t-sign") == 0, "removed t-sign");
	tap_ok(ctfs_keyring_get_jwk(ring, "t-sign", &got, err, sizeof(err)) == -ENOKEY,
	       "a removed key is gone");
	tap_ok(ctfs_keyring_remove(ring, "t-sign") == -ENOKEY, "removing it again is -ENOKEY");

	tap_ok(ctfs_jwk_generate(&nokid, CTFS_KTY_OCT, "aes128gcm", NULL) == 0 &&
	       ctfs_keyring_add_jwk(ring, &nokid, false, NULL) == 0,
	       "a key without kid is added");
	tap_ok(ctfs_keyring_get_jwk(ring, NULL, &got, err, sizeof(err)) == 0 &&
	       got.secret_len == 16, "and found as ctfs:default");
	ctfs_jwk_clear(&got);
	tap_ok(ctfs_keyring_remove(ring, NULL) == 0, "and removed as ctfs:default");

	id = keyctl_search(ring, "user", "ctfs:t-enc", 0);
	tap_ok(id > 0 && keyctl_revoke(id) == 0, "revoked t-enc");
	tap_ok(ctfs_keyring_get_jwk(ring, "t-enc", &got, err, sizeof(err)) == -EKEYREVOKED,
	       "a revoked key is -EKEYREVOKED");

	ctfs_jwk_clear(&nokid);
	ctfs_jwk_clear(&enc);
	ctfs_jwk_clear(&sign);
}

int main(void)
{
	key_serial_t session, ring;

	if (ctfs_secmem_init())
		tap_skip_all("cannot initialise secure memory");
	session = keyctl_join_session_keyring(NULL);
	if (session < 0)
		tap_skip_all("no kernel keyring available (keyctl_join_session_keyring failed)");
	test_resolve(session);
	ring = add_key("keyring", "ctfs-test-keys", NULL, 0, session);
	if (!tap_ok(ring > 0, "created a keyring for the keys"))
		return tap_done();
	test_keys(ring);
	return tap_done();
}
