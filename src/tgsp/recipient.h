/* TGSP recipient blocks: the data key wrapped for one recipient with the
 * hybrid X25519 + ML-KEM-768 KEM, and finding the block a caller's key
 * opens (step 6 of tgsp.h). */
#ifndef CTFS_TGSP_RECIPIENT_H
#define CTFS_TGSP_RECIPIENT_H

#include <stddef.h>
#include <stdint.h>

#include "pq/mlkem768.h"
#include "tgsp/format.h"
#include "tgsp/keyfiles.h"

struct ctfs_tgsp_recipient {
	char *id;
	uint8_t ek_classic[32];
	uint8_t ct_pqc[CTFS_MLKEM768_CT_BYTES];
	uint8_t nonce[CTFS_TGSP_NONCE];
	uint8_t wrapped[CTFS_TGSP_DEK + CTFS_TGSP_TAG];
};

/* Hybrid KEM: wrap a DEK for a recipient (fills every field but id), and
 * unwrap it (-EKEYREJECTED when the block is not for this key). */
int ctfs_tgsp_recipient_wrap(const struct ctfs_tgsp_enc_pub *pub, const uint8_t *dek,
			     struct ctfs_tgsp_recipient *r);
int ctfs_tgsp_recipient_unwrap(const struct ctfs_tgsp_recipient *r,
			       const struct ctfs_tgsp_enc_sec *sk, uint8_t *dek);

/* A recipient secret key for a block: 0 with *key (ctfs_secure_alloc'ed,
 * freed by the caller of the callback), -ENOKEY when none, other -errno. */
typedef int (*ctfs_tgsp_key_fn)(void *arg, const char *recipient_id,
				struct ctfs_tgsp_enc_sec **key);

/* Step 6: the DEK (dek: 32 bytes of secure memory) from the first block
 * whose key the callback supplies and that it opens. -ENOKEY otherwise. */
int ctfs_tgsp_find_dek(const struct ctfs_tgsp_recipient *rcpt, size_t n_rcpt, ctfs_tgsp_key_fn fn,
		       void *arg, uint8_t *dek, char *err, size_t errlen);

#endif
