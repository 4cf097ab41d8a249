/* TGSP keys in the kernel keyring: a recipient's secret key is the user key
 * "ctfs:tgsp:<recipient_id>", a trusted signer's public key the user key
 * "ctfs:tgsp-signer:<key_id>"; payloads are the key files' JSON. */
#include <errno.h>
#include <stdio.h>

#include "keys/keyring.h"
#include "crypto/secmem.h"
#include "tgsp/keyring.h"

static int get(key_serial_t ring, const char *prefix, const char *id, char **text, size_t *len)
{
	char desc[512];
	int n = snprintf(desc, sizeof(desc), "%s%s", prefix, id);

	if (n < 0 || (size_t)n >= sizeof(desc))
		return -ENAMETOOLONG;
	return ctfs_keyring_get_raw(ring, desc, text, len);
}

int ctfs_tgsp_keyring_recipient(key_serial_t ring, const char *recipient_id,
				struct ctfs_tgsp_enc_sec **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc = get(ring, CTFS_TGSP_KEYRING_RECIPIENT, recipient_id, &text, &len);

	if (rc)
		return rc;
	rc = ctfs_tgsp_enc_sec_parse(text, len, out, err, errlen);
	ctfs_secure_free(text);
	return rc;
}

int ctfs_tgsp_keyring_signer(key_serial_t ring, const char *key_id,
			     struct ctfs_tgsp_sign_pub *out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc = get(ring, CTFS_TGSP_KEYRING_SIGNER, key_id, &text, &len);

	if (rc)
		return rc;
	rc = ctfs_tgsp_sign_pub_parse(text, len, out, err, errlen);
	ctfs_secure_free(text);
	return rc;
}
