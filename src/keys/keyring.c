/* Keys stored as "user" keys in the kernel keyring: JWKs, and the raw
 * payloads of other key files (TGSP). Payloads hold secrets: they are read
 * into locked memory only (keyctl_read_alloc would put them in ordinary heap
 * memory), by one reader, and wiped as soon as they are parsed. */
#include "keys/keyring.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "util.h"

/* The kernel caps user key payloads at 32767 bytes. */
#define PAYLOAD_MAX 32767

static int make_desc(const char *kid, char *desc, size_t len)
{
	int n = snprintf(desc, len, CTFS_KEYRING_PREFIX "%s",
			 kid ? kid : CTFS_KEYRING_DEFAULT_KID);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int special_ring(const char *spec, key_serial_t *out)
{
	static const struct {
		const char *name;
		key_serial_t id;
	} names[] = {
		{ "@u", KEY_SPEC_USER_KEYRING },
		{ "@s", KEY_SPEC_SESSION_KEYRING },
		{ "@us", KEY_SPEC_USER_SESSION_KEYRING },
		{ "@p", KEY_SPEC_PROCESS_KEYRING },
		{ "@t", KEY_SPEC_THREAD_KEYRING },
	};

	for (size_t i = 0; i < CTFS_ARRAY_LEN(names); i++) {
		if (!strcmp(spec, names[i].name)) {
			key_serial_t id = keyctl_get_keyring_ID(names[i].id, 1);

			if (id < 0)
				return -errno;
			*out = id;
			return 0;
		}
	}
	return -EINVAL;
}

/* "type;uid;gid;perm;description": split off type and description. */
static int describe(key_serial_t id, char **buf, const char **type, const char **desc)
{
	char *p;
	int i;

	if (keyctl_describe_alloc(id, buf) < 0)
		return -errno;
	*type = *buf;
	p = *buf;
	for (i = 0; i < 4 && (p = strchr(p, ';')); i++)
		*p++ = 0;
	if (i < 4) {
		free(*buf);
		*buf = NULL;
		return -EINVAL;
	}
	*desc = p;
	return 0;
}

static int serial_ring(const char *spec, key_serial_t *out)
{
	const char *type, *desc;
	char *end, *buf = NULL;
	long v;
	int rc;

	errno = 0;
	v = strtol(spec, &end, 10);
	if (errno || *end || v <= 0 || v > INT32_MAX)
		return -EINVAL;
	rc = describe((key_serial_t)v, &buf, &type, &desc);
	if (rc)
		return rc;
	rc = strcmp(type, "keyring") ? -ENOTDIR : 0;
	free(buf);
	if (!rc)
		*out = (key_serial_t)v;
	return rc;
}

int ctfs_keyring_resolve(const char *spec, key_serial_t *out)
{
	key_serial_t id;

	if (!spec || !*spec)
		spec = "@u";
	if (spec[0] == '@')
		return special_ring(spec, out);
	if (spec[0] >= '0' && spec[0] <= '9')
		return serial_ring(spec, out);
	if (!strncmp(spec, "%:", 2))
		spec += 2;
	if (!*spec)
		return -EINVAL;
	id = keyctl_search(KEY_SPEC_SESSION_KEYRING, "keyring", spec, 0);
	if (id < 0)
		return -errno;
	*out = id;
	return 0;
}

/* The payload, NUL-terminated, in locked memory (ctfs_secure_free wipes it). */
static int read_payload(key_serial_t id, char **out, size_t *len)
{
	/* The payload may grow between sizing and reading: retry a few times. */
	for (int tries = 0; tries < 4; tries++) {
		long want = keyctl_read(id, NULL, 0);
		long got;
		char *buf;

		if (want < 0)
			return -errno;
		if (want > PAYLOAD_MAX)
			return -EFBIG;
		buf = ctfs_secure_alloc((size_t)want + 1);
		if (!buf)
			return -ENOMEM;
		got = keyctl_read(id, buf, (size_t)want);
		if (got < 0) {
			int rc = -errno;

			ctfs_secure_free(buf);
			return rc;
		}
		if (got <= want) {
			buf[got] = 0;
			*out = buf;
			*len = (size_t)got;
			return 0;
		}
		ctfs_secure_free(buf);
	}
	return -EAGAIN;
}

int ctfs_keyring_get_raw(key_serial_t ring, const char *desc, char **payload, size_t *len)
{
	key_serial_t id = keyctl_search(ring, "user", desc, 0);

	if (id < 0)
		return -errno;
	return read_payload(id, payload, len);
}

/* Parse one JWK out of a payload; the payload is left for the caller to wipe. */
static int parse_one(const char *text, size_t len, struct ctfs_jwk *out, char *err, size_t errlen)
{
	struct ctfs_jwk *keys = NULL;
	size_t n = 0;
	int rc;

	rc = ctfs_jwk_parse_set(text, len, &keys, &n, err, errlen);
	if (rc)
		return rc;
	if (n != 1) {
		ctfs_jwk_free_set(keys, n);
		ctfs_seterr(err, errlen, "payload holds %zu keys, expected one JWK", n);
		return -EINVAL;
	}
	*out = keys[0];
	memset(&keys[0], 0, sizeof(keys[0]));
	ctfs_jwk_free_set(keys, n);
	return 0;
}

static int get_by_id(key_serial_t id, struct ctfs_jwk *out, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = NULL;
	int rc;

	rc = read_payload(id, &text, &len);
	if (rc)
		return rc;
	rc = parse_one(text, len, out, err, errlen);
	ctfs_secure_free(text);
	return rc;
}

int ctfs_keyring_get_jwk(key_serial_t ring, const char *kid, struct ctfs_jwk *out,
			 char *err, size_t errlen)
{
	char desc[4096];
	key_serial_t id;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = make_desc(kid, desc, sizeof(desc));
	if (rc) {
		ctfs_seterr(err, errlen, "kid too long");
		return rc;
	}
	id = keyctl_search(ring, "user", desc, 0);
	if (id < 0) {
		rc = -errno;
		ctfs_seterr(err, errlen, "key %s: %s", desc, strerror(-rc));
		return rc;
	}
	rc = get_by_id(id, out, err, errlen);
	if (rc == -EINVAL)
		return rc; /* the parser said what was wrong */
	if (rc)
		ctfs_seterr(err, errlen, "key %s: %s", desc, strerror(-rc));
	return rc;
}

int ctfs_keyring_add_jwk(key_serial_t ring, const struct ctfs_jwk *k, bool include_private,
			 key_serial_t *id)
{
	struct ctfs_buf json = { 0 };
	char desc[4096];
	key_serial_t got;
	int rc;

	rc = make_desc(k->kid, desc, sizeof(desc));
	if (rc)
		return rc;
	rc = ctfs_jwk_to_json(k, include_private || k->kty == CTFS_KTY_OCT, &json);
	if (!rc && json.len > PAYLOAD_MAX)
		rc = -EFBIG;
	if (!rc) {
		got = add_key("user", desc, json.data, json.len, ring);
		if (got < 0)
			rc = -errno;
		else if (id)
			*id = got;
	}
	sodium_memzero(json.data, json.cap);
	ctfs_buf_free(&json);
	return rc;
}

/* Calls fn(arg, id, kid) for each "ctfs:" user key linked directly in ring. */
static int walk(key_serial_t ring, int (*fn)(void *arg, key_serial_t id, const char *kid),
		void *arg)
{
	key_serial_t *ids = NULL;
	long n;
	int rc = 0;

	n = keyctl_read_alloc(ring, (void **)&ids);
	if (n < 0)
		return -errno;
	for (size_t i = 0; !rc && i < (size_t)n / sizeof(*ids); i++) {
		const char *type, *desc;
		char *buf;

		/* A key that vanished or that we may not view is none of ours. */
		if (describe(ids[i], &buf, &type, &desc))
			continue;
		if (!strcmp(type, "user") &&
		    !strncmp(desc, CTFS_KEYRING_PREFIX, strlen(CTFS_KEYRING_PREFIX)))
			rc = fn(arg, ids[i], desc + strlen(CTFS_KEYRING_PREFIX));
		free(buf);
	}
	free(ids);
	return rc;
}

struct remove_ctx {
	key_serial_t ring;
	const char *kid;
	int removed;
};

static int remove_one(void *arg, key_serial_t id, const char *kid)
{
	struct remove_ctx *c = arg;

	if (strcmp(kid, c->kid))
		return 0;
	if (keyctl_unlink(id, c->ring) < 0)
		return -errno;
	c->removed++;
	return 0;
}

int ctfs_keyring_remove(key_serial_t ring, const char *kid)
{
	struct remove_ctx c = { ring, kid ? kid : CTFS_KEYRING_DEFAULT_KID, 0 };
	int rc = walk(ring, remove_one, &c);

	if (rc)
		return rc;
	return c.removed ? 0 : -ENOKEY;
}

struct list_ctx {
	ctfs_keyring_list_fn fn;
	void *arg;
};

static int list_one(void *arg, key_serial_t id, const char *kid)
{
	struct list_ctx *c = arg;
	struct ctfs_jwk full = { 0 }, pub;
	int rc;

	/* Unreadable or malformed payloads are still listed, as unknown. */
	if (get_by_id(id, &full, NULL, 0))
		return c->fn(c->arg, kid, NULL);
	pub = full;
	pub.secret = NULL;
	rc = c->fn(c->arg, kid, &pub);
	ctfs_jwk_clear(&full);
	return rc;
}

int ctfs_keyring_list(key_serial_t ring, ctfs_keyring_list_fn fn, void *arg)
{
	struct list_ctx c = { fn, arg };

	return walk(ring, list_one, &c);
}
