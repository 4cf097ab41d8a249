/* PKCS#11 custody for ctfs-keyd: master keys are secret-key objects of a
 * token (label = kid), read into locked memory at each request and never
 * written to disk. One session, logged in at start, is kept open across
 * requests (PKCS#11 sessions are single-threaded: a mutex serialises their
 * use) and reopened once if the token drops it. The module is loaded with
 * dlopen: any HSM or cloud KMS that ships a PKCS#11 module works, SoftHSM2
 * in the tests. Since the service's job is to release the key, the objects
 * must let it read CKA_VALUE (CKA_SENSITIVE false); `ctfs-keyd --import`
 * creates them so. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>
#include <sodium.h>

#include "crypto/aead.h"
#include "crypto/secmem.h"
#include "keyd.h"
#include "log.h"

#define PIN_MAX 256u

struct keyd_p11 {
	void *lib;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	bool open;
	char *pin;              /* locked memory */
	size_t pin_len;
	pthread_mutex_t lock;
};

int keyd_p11_open(struct keyd *d, char *err, size_t errlen);
int keyd_p11_get(struct keyd *d, const char *kid, enum ctfs_alg alg, struct ctfs_jwk *out,
		 char *err, size_t errlen);
void keyd_p11_close(struct keyd *d);
int keyd_p11_import(struct keyd *d, const struct ctfs_jwk *keys, size_t n, char *err,
		    size_t errlen);

static int read_pin(const char *path, struct keyd_p11 *p, char *err, size_t errlen)
{
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	ssize_t n;

	if (fd < 0) {
		ctfs_seterr(err, errlen, "--pkcs11-pin-file %s: %s", path ? path : "(missing)",
			    path ? strerror(errno) : "required with --pkcs11-module");
		return -EINVAL;
	}
	p->pin = ctfs_secure_alloc(PIN_MAX + 1);
	n = p->pin ? read(fd, p->pin, PIN_MAX + 1) : -1;
	close(fd);
	if (n < 0 || n > (ssize_t)PIN_MAX) {
		ctfs_seterr(err, errlen, "--pkcs11-pin-file %s: unreadable or over %u bytes", path,
			    PIN_MAX);
		return -EINVAL;
	}
	while (n > 0 && (p->pin[n - 1] == '\n' || p->pin[n - 1] == '\r'))
		n--;
	p->pin_len = (size_t)n;
	return 0;
}

/* The slot whose token has this label (blank-padded to 32 in CK_TOKEN_INFO). */
static int find_slot(struct keyd_p11 *p, const char *label, char *err, size_t errlen)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_TOKEN_INFO ti;
	size_t ll = strlen(label);

	if (p->f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK) {
		ctfs_seterr(err, errlen, "PKCS#11: cannot list slots");
		return -EIO;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || ll > sizeof(ti.label))
			continue;
		if (!memcmp(ti.label, label, ll) &&
		    (ll == sizeof(ti.label) || strspn((char *)ti.label + ll, " ") >= sizeof(ti.label) - ll)) {
			p->slot = slots[i];
			return 0;
		}
	}
	ctfs_seterr(err, errlen, "PKCS#11: no token labelled '%s'", label);
	return -ENODEV;
}

static int login(struct keyd_p11 *p, char *err, size_t errlen)
{
	CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
				       &p->session);

	if (rv == CKR_OK) {
		rv = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR *)p->pin, p->pin_len);
		if (rv == CKR_USER_ALREADY_LOGGED_IN)
			rv = CKR_OK;
		if (rv != CKR_OK)
			p->f->C_CloseSession(p->session);
	}
	if (rv != CKR_OK) {
		ctfs_seterr(err, errlen, "PKCS#11: cannot open a logged-in session (CKR 0x%lx)",
			    (unsigned long)rv);
		return rv == CKR_PIN_INCORRECT ? -EACCES : -EIO;
	}
	p->open = true;
	return 0;
}

int keyd_p11_open(struct keyd *d, char *err, size_t errlen)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_RV (*get_list)(CK_FUNCTION_LIST **);
	struct keyd_p11 *p = calloc(1, sizeof(*p));
	int rc;

	if (!p || pthread_mutex_init(&p->lock, NULL)) {
		free(p);
		return -ENOMEM;
	}
	d->p11 = p;
	if (!d->pkcs11_token) {
		ctfs_seterr(err, errlen, "--pkcs11-token LABEL is required with --pkcs11-module");
		return -EINVAL;
	}
	rc = read_pin(d->pkcs11_pin_file, p, err, errlen);
	if (rc)
		return rc;
	p->lib = dlopen(d->pkcs11_module, RTLD_NOW | RTLD_LOCAL);
	get_list = p->lib ? (CK_RV (*)(CK_FUNCTION_LIST **))dlsym(p->lib, "C_GetFunctionList")
			  : NULL;
	if (!get_list || get_list(&p->f) != CKR_OK || p->f->C_Initialize(&args) != CKR_OK) {
		ctfs_seterr(err, errlen, "PKCS#11 module %s: %s", d->pkcs11_module,
			    p->lib ? "cannot initialise" : dlerror());
		p->f = NULL;
		return -EINVAL;
	}
	rc = find_slot(p, d->pkcs11_token, err, errlen);
	return rc ? rc : login(p, err, errlen);
}

void keyd_p11_close(struct keyd *d)
{
	struct keyd_p11 *p = d->p11;

	if (!p)
		return;
	if (p->open) {
		p->f->C_Logout(p->session);
		p->f->C_CloseSession(p->session);
	}
	if (p->f)
		p->f->C_Finalize(NULL);
	if (p->lib)
		dlclose(p->lib);
	ctfs_secure_free(p->pin);
	pthread_mutex_destroy(&p->lock);
	free(p);
	d->p11 = NULL;
}

/* The single secret-key object labelled kid: CKR_OK with *n 0 or 1. */
static CK_RV find_key(struct keyd_p11 *p, const char *kid, CK_OBJECT_HANDLE *obj, CK_ULONG *n)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)kid, strlen(kid) },
	};
	CK_OBJECT_HANDLE found[2];
	CK_RV rv = p->f->C_FindObjectsInit(p->session, t, 2);

	if (rv != CKR_OK)
		return rv;
	rv = p->f->C_FindObjects(p->session, found, 2, n);
	p->f->C_FindObjectsFinal(p->session);
	if (rv == CKR_OK && *n == 2)
		rv = CKR_GENERAL_ERROR; /* two keys under one kid: refuse to guess */
	*obj = found[0];
	return rv;
}

static CK_RV read_value(struct keyd_p11 *p, CK_OBJECT_HANDLE obj, uint8_t *buf, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { CKA_VALUE, NULL, 0 };
	CK_RV rv = p->f->C_GetAttributeValue(p->session, obj, &a, 1);

	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > *len)
		return CKR_ATTRIBUTE_SENSITIVE;
	a.pValue = buf;
	rv = p->f->C_GetAttributeValue(p->session, obj, &a, 1);
	*len = a.ulValueLen;
	return rv;
}

static bool session_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	       rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_DEVICE_REMOVED ||
	       rv == CKR_TOKEN_NOT_PRESENT;
}

static CK_RV get_locked(struct keyd_p11 *p, const char *kid, uint8_t *buf, CK_ULONG *len)
{
	CK_OBJECT_HANDLE obj;
	CK_ULONG n = 0;
	CK_RV rv = find_key(p, kid, &obj, &n);

	if (rv == CKR_OK && !n)
		return CKR_KEY_HANDLE_INVALID;
	return rv == CKR_OK ? read_value(p, obj, buf, len) : rv;
}

static int to_jwk(const char *kid, enum ctfs_alg alg, uint8_t *secret, size_t len,
		  struct ctfs_jwk *out)
{
	*out = (struct ctfs_jwk){ .kty = CTFS_KTY_OCT, .secret = secret, .secret_len = len };
	out->kid = strdup(kid);
	out->alg = strdup(ctfs_alg_name(alg));
	if (!out->kid || !out->alg) {
		ctfs_jwk_clear(out);
		return -ENOMEM;
	}
	return 0;
}

int keyd_p11_get(struct keyd *d, const char *kid, enum ctfs_alg alg, struct ctfs_jwk *out,
		 char *err, size_t errlen)
{
	struct keyd_p11 *p = d->p11;
	uint8_t *buf = ctfs_secure_alloc(64);
	CK_ULONG len = 64;
	CK_RV rv;

	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&p->lock);
	rv = p->open ? get_locked(p, kid, buf, &len) : CKR_SESSION_CLOSED;
	if (session_lost(rv)) {
		char why[200];

		ctfs_warn("PKCS#11 session lost (CKR 0x%lx): reopening", (unsigned long)rv);
		p->open = false;
		len = 64;
		rv = login(p, why, sizeof(why)) ? rv : get_locked(p, kid, buf, &len);
	}
	pthread_mutex_unlock(&p->lock);
	if (rv == CKR_KEY_HANDLE_INVALID) {
		ctfs_secure_free(buf);
		return -ENOKEY;
	}
	if (rv != CKR_OK || len != ctfs_alg_key_len(alg)) {
		ctfs_secure_free(buf);
		if (rv != CKR_OK)
			ctfs_seterr(err, errlen, "PKCS#11: cannot read key kid=%s (CKR 0x%lx)", kid,
				    (unsigned long)rv);
		else
			ctfs_seterr(err, errlen, "PKCS#11: key kid=%s is not a %s key", kid,
				    ctfs_alg_name(alg));
		return -EIO;
	}
	return to_jwk(kid, alg, buf, len, out);
}

/* --import: each oct key of a set becomes a token object labelled kid. */
int keyd_p11_import(struct keyd *d, const struct ctfs_jwk *keys, size_t n, char *err,
		    size_t errlen)
{
	struct keyd_p11 *p = d->p11;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned done = 0;

	for (size_t i = 0; i < n; i++) {
		CK_OBJECT_HANDLE obj;
		CK_ULONG found = 0;
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_TOKEN, &yes, sizeof(yes) }, { CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SENSITIVE, &no, sizeof(no) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) },
			{ CKA_MODIFIABLE, &no, sizeof(no) },
			{ CKA_LABEL, keys[i].kid, keys[i].kid ? strlen(keys[i].kid) : 0 },
			{ CKA_VALUE, keys[i].secret, keys[i].secret_len },
		};

		if (keys[i].kty != CTFS_KTY_OCT || !keys[i].secret)
			continue;
		if (!keys[i].kid || !ctfs_release_name_ok(keys[i].kid)) {
			ctfs_seterr(err, errlen, "key %zu: a kid the API accepts is needed", i);
			return -EINVAL;
		}
		if (find_key(p, keys[i].kid, &obj, &found) != CKR_OK || found) {
			ctfs_seterr(err, errlen, "kid=%s is already in the token", keys[i].kid);
			return -EEXIST;
		}
		if (p->f->C_CreateObject(p->session, t, CTFS_ARRAY_LEN(t), &obj) != CKR_OK) {
			ctfs_seterr(err, errlen, "PKCS#11: cannot create kid=%s", keys[i].kid);
			return -EIO;
		}
		printf("imported kid=%s\n", keys[i].kid);
		done++;
	}
	if (!done) {
		ctfs_seterr(err, errlen, "no master key (oct, with k) in the set");
		return -ENOKEY;
	}
	return 0;
}
