/* A model file as the mount presents it: either a plain file passed through,
 * or a CryptoTensors file seen as the plaintext safetensors it protects.
 *
 * Life cycle: ctfs_model_load() reads and checks the header (no key needed:
 * enough for stat), ctfs_model_unlock() verifies the signature and the policy
 * and unwraps the tensor keys; only then does ctfs_model_read() serve bytes. */
#ifndef CTFS_MODEL_H
#define CTFS_MODEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ct/crypto_entries.h"
#include "ct/read_front.h"
#include "keys/keyprov.h"
#include "safetensors/safetensors.h"
#include "util.h"

struct ctfs_cache;
struct ctfs_chain_info;
struct ctfs_model;

/* The access decision of an open (CONTROL-PLANE.md step 6), made after the
 * signature and trust checks, before any key is touched, at every unlock.
 * check returns 0 to allow, or -EACCES with err saying why. Without a gate
 * the file's local policy decides as upstream does (no input), and only at
 * the first unlock. */
struct ctfs_gate {
	int (*check)(void *arg, const struct ctfs_model *m, char *err, size_t errlen);
	void *arg;
};
struct ctfs_digests;
struct ctfs_stream_state;

struct ctfs_model {
	atomic_int refs;
	int fd;
	char *name;                   /* for log lines */
	struct stat id;               /* backing file identity when loaded */
	uint64_t uid;                 /* distinguishes this load in the chunk cache */
	struct ctfs_st_header *h;     /* NULL: not a CryptoTensors file, passed through */
	struct ctfs_ct_info *ci;
	struct ctfs_buf view_hdr;     /* the plaintext view's header bytes */
	uint64_t view_size;
	uint8_t *deks;                /* locked: n_tensors * 32 bytes, after unlock */
	bool unlocked;
	uint8_t master_fpr[32];       /* SHA-256 of the master key the DEKs came from */
	uint8_t signer_tp[32];        /* RFC 7638 thumbprint of the key the signature verified with */
	bool signer_ok;               /* signer_tp is set */
	uint8_t header_digest[32];    /* SHA-256 of the signed header text */
	struct ctfs_chain_info *chain; /* the signer's validated certificate chain, or NULL */
	struct ctfs_digests *digests; /* plaintext chunk digests (ctfs.plain_sha256), or NULL */
	pthread_mutex_t lock;         /* serialises unlocking */
	pthread_mutex_t stream_lock;  /* serialises first checks of v1 tensors (long) */
	struct ctfs_stream_state **streams; /* per tensor, v1 only, built lazily */
	struct ctfs_read_front front; /* the backing file around sequential readers */
};

/* Open and examine the backing file at path (relative to dirfd).
 * A plain file gives a pass-through model; -EBADMSG/-EINVAL with err set
 * when a CryptoTensors header is malformed. */
int ctfs_model_load(int dirfd, const char *path, const char *name,
		    struct ctfs_model **out, char *err, size_t errlen);
/* The same for a file already open for reading; the model owns fd from
 * here on (closed on failure too). name is used in log lines and decides,
 * by its .cryptotensors suffix, that the file must be encrypted. */
int ctfs_model_load_fd(int fd, const char *name, struct ctfs_model **out, char *err,
		       size_t errlen);

static inline bool ctfs_model_is_encrypted(const struct ctfs_model *m)
{
	return m->ci != NULL;
}

/* Verify signature, signer binding, policy and keys; once unlocked, check at
 * every call that the master key is still the one in the key provider and
 * still accepts the file's signer. 0, or -EBADMSG (signature), -EACCES
 * (policy), -ENOKEY (key missing), -EKEYREJECTED (wrong key, or a master key
 * that does not allow the file's signer), -EFBIG (chunks too large). */
int ctfs_model_unlock(struct ctfs_model *m, const struct ctfs_keyprov *kp,
		      const struct ctfs_gate *gate, char *err, size_t errlen);

/* The two key steps of ctfs_model_unlock on their own, for tools that check
 * a file rather than serve it (no policy, no locking: the caller owns m).
 * check_signature: 0, -EBADMSG or -ENOKEY. unwrap_keys (after
 * check_signature) refuses a master key that does not allow the signer
 * (-EKEYREJECTED), then fills the keys that ctfs_model_dek returns,
 * stopping at the first tensor whose key does not unwrap (-EKEYREJECTED,
 * err names it) or -ENOKEY. */
int ctfs_model_check_signature(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			       char *err, size_t errlen);
int ctfs_model_unwrap_keys(struct ctfs_model *m, const struct ctfs_keyprov *kp,
			   char *err, size_t errlen);

/* The unwrapped data key of an encrypted tensor (after unlock). */
const uint8_t *ctfs_model_dek(const struct ctfs_model *m, size_t tensor);

/* Copy view bytes [off, off+len) into buf. Returns bytes read (short only
 * at end of file) or -errno: -EIO when ciphertext fails its tag or the
 * backing file changed since it was verified. */
ssize_t ctfs_model_read(struct ctfs_model *m, struct ctfs_cache *cache,
			uint8_t *buf, size_t len, uint64_t off);

/* True when the backing file still has the identity it was loaded with. */
bool ctfs_model_same_file(const struct ctfs_model *m, const struct stat *st);

struct ctfs_model *ctfs_model_get(struct ctfs_model *m);
void ctfs_model_put(struct ctfs_model *m);

#endif
