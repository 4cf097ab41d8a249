/* No key material is left on a thread's stack by unlocking a model or by
 * the re-check at every later open (issue 9, finding 8). The work runs in a
 * thread whose stack is a buffer of ours, which is searched afterwards. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/base64.h"
#include "crypto/secmem.h"
#include "ct/model.h"
#include "keys/jwk.h"
#include "keys/keyprov.h"
#include "keys/keyring.h"
#include "trust/binding.h"
#include <keyutils.h>
#include "tap.h"

#define STACK_SIZE (1u << 20)

struct job {
	struct ctfs_model *m;
	struct ctfs_keyprov kp;
	const uint8_t *key;
	size_t key_len;
	char key_b64[64];		/* as it appears in the JWK's "k" */
	int rc[2];
};

static void *unlock_twice(void *arg)
{
	struct job *j = arg;
	char err[256];

	j->rc[0] = ctfs_model_unlock(j->m, &j->kp, NULL, err, sizeof(err));
	j->rc[1] = ctfs_model_unlock(j->m, &j->kp, NULL, err, sizeof(err)); /* the re-check */
	return NULL;
}

/* The control: a careless function that leaves the key in a local. */
static void *careless(void *arg)
{
	const struct job *j = arg;
	volatile uint8_t copy[64];

	for (size_t i = 0; i < j->key_len; i++)
		copy[i] = j->key[i];
	copy[j->key_len] = 0;
	return (void *)(uintptr_t)copy[0];
}

static bool left_on_stack(void *(*fn)(void *), struct job *j)
{
	uint8_t *stack = aligned_alloc(4096, STACK_SIZE);
	pthread_attr_t attr;
	pthread_t t;
	bool found;

	if (!stack)
		exit(2);
	memset(stack, 0, STACK_SIZE);
	if (pthread_attr_init(&attr) || pthread_attr_setstack(&attr, stack, STACK_SIZE) ||
	    pthread_create(&t, &attr, fn, j) || pthread_join(t, NULL))
		exit(2);
	pthread_attr_destroy(&attr);
	found = memmem(stack, STACK_SIZE, j->key, j->key_len) != NULL ||
		memmem(stack, STACK_SIZE, j->key_b64, strlen(j->key_b64)) != NULL;
	free(stack);
	return found;
}

/* The same with the keys in the kernel keyring, as the daemon reads them. */
static void with_keyring(struct job *j, const struct ctfs_jwk *keys, size_t n, const char *path)
{
	key_serial_t ring;
	char err[256];

	if (keyctl_join_session_keyring(NULL) < 0 ||
	    (ring = add_key("keyring", "ctfs-test-secrets", NULL, 0, KEY_SPEC_SESSION_KEYRING)) < 0) {
		tap_diag("no kernel keyring here: keyring case not run");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct ctfs_buf json = { 0 };
		char desc[300];

		/* as ctfs-tool key add stores it: bound to the set's signer */
		if (keys[i].kty == CTFS_KTY_OCT && ctfs_binding_from_set((struct ctfs_jwk *)&keys[i], keys, n))
			exit(2);

		snprintf(desc, sizeof(desc), "ctfs:%s", keys[i].kid);
		if (ctfs_jwk_to_json(&keys[i], true, &json) ||
		    add_key("user", desc, json.data, json.len, ring) < 0)
			exit(2);
		ctfs_buf_free(&json);
	}
	ctfs_keyprov_keyring(&j->kp, ring);
	tap_ok(ctfs_model_load(AT_FDCWD, path, path, &j->m, err, sizeof(err)) == 0, "model reloaded");
	tap_ok(!left_on_stack(unlock_twice, j),
	       "keyring: unlock and re-check leave no copy of the master key");
	tap_ok(j->rc[0] == 0 && j->rc[1] == 0, "keyring: both opens were allowed");
	ctfs_model_put(j->m);
	keyctl_clear(ring);
}

int main(void)
{
	char path[4096], err[256];
	struct ctfs_jwk *keys;
	struct job j = { 0 };
	uint8_t *text;
	size_t len, n;

#ifdef __SANITIZE_ADDRESS__
	/* ASan moves locals to a fake stack on the heap: the scan would miss */
	tap_skip_all("AddressSanitizer keeps locals off the thread's stack");
#endif
	if (ctfs_secmem_init())
		return 2;
	snprintf(path, sizeof(path), "%s/cryptotensors/keys-aes128.json", tap_vectors_dir());
	if (ctfs_read_file(path, 1 << 20, &text, &len) ||
	    ctfs_jwk_parse_set((char *)text, len, &keys, &n, err, sizeof(err)))
		tap_skip_all("vector keys not found");
	free(text);
	for (size_t i = 0; i < n; i++) {
		if (keys[i].kty == CTFS_KTY_OCT) {
			j.key = keys[i].secret;
			j.key_len = keys[i].secret_len;
		}
	}
	{
		struct ctfs_buf b = { 0 };

		if (!j.key || ctfs_b64_encode(j.key, j.key_len, &b))
			exit(2);
		snprintf(j.key_b64, sizeof(j.key_b64), "%.*s", (int)b.len - 2, (char *)b.data);
		ctfs_buf_free(&b);
	}
	ctfs_keyprov_jwks(&j.kp, keys, n);
	snprintf(path, sizeof(path), "%s/cryptotensors/v2-aes128-unicode.cryptotensors",
		 tap_vectors_dir());
	tap_ok(j.key && ctfs_model_load(AT_FDCWD, path, path, &j.m, err, sizeof(err)) == 0,
	       "model and master key loaded");
	tap_ok(left_on_stack(careless, &j), "control: a key copied to a local is found on the stack");
	tap_ok(!left_on_stack(unlock_twice, &j), "unlock and re-check leave no copy of the master key");
	tap_ok(j.rc[0] == 0 && j.rc[1] == 0, "both opens were allowed");
	ctfs_model_put(j.m);
	with_keyring(&j, keys, n, path);
	ctfs_jwk_free_set(keys, n);
	return tap_done();
}
