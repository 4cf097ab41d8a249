/* The trust steps of opening a CryptoTensors file (CONTROL-PLANE.md steps
 * 3 and 5, and the digests of the read path): where the signer's key comes
 * from, revocation, anti-rollback, and the plaintext-digest entry. Each
 * needs no secret; each returns 0 or the errno of its refusal with err set. */
#ifndef CTFS_MODEL_TRUST_H
#define CTFS_MODEL_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include "ct/model.h"

/* Signed user metadata of anti-rollback. */
#define CTFS_META_MODEL_ID "ctfs.model_id"
#define CTFS_META_VERSION "ctfs.version"

/* The key the header signature must verify with: with trust anchors and an
 * x5c chain in __crypto_keys__.sign, the leaf key of the validated chain
 * (m->chain is set); otherwise the key provider's ctfs:<sign kid>.
 * -EKEYREJECTED / -EKEYREVOKED (chain), -ENOKEY, -EINVAL. */
int ctfs_model_signer_key(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			  uint8_t pub[32], char *err, size_t errlen);

/* Signer kid, signer key, chain serials and header digest against the
 * revocation list (reloaded first when asked): -EKEYREVOKED. */
int ctfs_model_check_revoked(const struct ctfs_model *m, const struct ctfs_keyprov *kp,
			     char *err, size_t errlen);

/* ctfs.model_id / ctfs.version of the header: 0, -ENOENT when the file has
 * no model id, -EBADMSG when one is malformed or the version is missing. */
int ctfs_model_version(const struct ctfs_model *m, const char **id, uint64_t *version,
		       char *err, size_t errlen);

/* Against the rollback store, recording a higher version: -EACCES when
 * older than one already served, -EBADMSG for malformed metadata. */
int ctfs_model_check_rollback(const struct ctfs_model *m, const struct ctfs_keyprov *kp,
			      char *err, size_t errlen);

/* Parse ctfs.plain_sha256 into m->digests (after the signature). A file
 * with plaintext tensors and no entry: -EBADMSG under require_digests,
 * else accepted with one warning per mount. */
int ctfs_model_load_digests(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			    char *err, size_t errlen);

/* Read every plaintext chunk the digests cover and check it (for verify):
 * 0 with *chunks counted, or -EIO with err naming the tensor and chunk. */
int ctfs_model_check_plain_digests(const struct ctfs_model *m, uint64_t *chunks, char *err,
				   size_t errlen);

#endif
