/* TGSP keys in the kernel keyring: recipient secret keys and trusted
 * signers' public keys, stored as key-file JSON in user keys. */
#ifndef CTFS_TGSP_KEYRING_H
#define CTFS_TGSP_KEYRING_H

#include <stddef.h>
#include <keyutils.h>

#include "tgsp/keyfiles.h"

#define CTFS_TGSP_KEYRING_RECIPIENT "ctfs:tgsp:"
#define CTFS_TGSP_KEYRING_SIGNER "ctfs:tgsp-signer:"

/* The user key "ctfs:tgsp:<recipient_id>" (a recipient's secret key file)
 * and "ctfs:tgsp-signer:<key_id>" (a trusted signer's public key file),
 * searched from ring. -ENOKEY when absent, -EINVAL (err) when unreadable. */
int ctfs_tgsp_keyring_recipient(key_serial_t ring, const char *recipient_id,
				struct ctfs_tgsp_enc_sec **out, char *err, size_t errlen);
int ctfs_tgsp_keyring_signer(key_serial_t ring, const char *key_id,
			     struct ctfs_tgsp_sign_pub *out, char *err, size_t errlen);

#endif
