/*
 * TGSP v1.0 packages (FORMATS.md section 3): a signed container whose payload
 * is a gzip-compressed ustar archive, encrypted in 4 MiB frames with a data
 * key (DEK) that is wrapped for each recipient with a hybrid X25519 +
 * ML-KEM-768 key encapsulation, and signed with Ed25519 + ML-DSA-65.
 *
 * Reading a package, in the order the checks run (ctfs_tgsp_open):
 *   1. structure: magic, the five length-prefixed sections exactly filling
 *      the file, each JSON section canonical and well-typed;
 *   2. SHA-256 of manifest and recipients against the header;
 *   3. both signatures over header || manifest || recipients, by a TRUSTED
 *      signer the caller gives (the author_pubkey a package carries about
 *      itself is only used to say who signed an untrusted package);
 *   4. the frame layout: every frame but the last holds exactly 4 MiB;
 *   5. policy_constraints: not_before / not_after against the clock,
 *      target_fleet against the caller's fleet id;
 *   6. the DEK, from the first recipient block that a caller's key opens;
 *   7. the SHA-256 of the payload (one streaming pass, 1 MiB of memory), in a
 *      thread of its own, while one pass decrypts every frame (checking every
 *      tag: nothing unauthenticated is inflated), inflates the archive
 *      (checking the gzip CRCs), indexes the tar members and records access
 *      points for random access (gzindex.h). A hash mismatch is the error
 *      reported when both fail. The archive is bounded (tar_index.h), and
 *      so is its inflated size: at most CTFS_TGSP_MAX_RATIO times the
 *      compressed payload, or CTFS_TGSP_MIN_INFLATE, whichever is larger.
 *      Model weights barely compress (about 1.1:1); a signed package that
 *      inflates 256 times over is a decompression bomb, refused as soon as
 *      the pass crosses the bound.
 * Failures: -EBADMSG for 1-4 and 7 (integrity), -EACCES for 5 (policy),
 * -ENOKEY for 6 and for a missing trusted signer; err says which check.
 *
 * Secrets (DEK, recipient and signing secret keys, shared secrets, KEK) live
 * in ctfs_secure_alloc memory and are wiped when done; ctfs_secmem_init()
 * must have been called.
 */
#ifndef CTFS_TGSP_H
#define CTFS_TGSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <keyutils.h>
#include <sys/types.h>
#include <time.h>

#include "pq/mldsa65.h"
#include "pq/mlkem768.h"
#include "archive/tar_index.h"
#include "util.h"

#define CTFS_TGSP_MAGIC "TGSP\x01\x00"
#define CTFS_TGSP_MAGIC_LEN 6
#define CTFS_TGSP_VERSION "1.0"
#define CTFS_TGSP_AEAD "CHACHA20_POLY1305"
#define CTFS_TGSP_KEM "Hybrid-Kyber-v1"
#define CTFS_TGSP_SIG "Hybrid-Dilithium-v1"

#define CTFS_TGSP_FRAME (4u << 20)	/* plaintext bytes per frame */
#define CTFS_TGSP_TAG 16
#define CTFS_TGSP_MAX_RATIO 256u
#define CTFS_TGSP_MIN_INFLATE (64u << 20)
#define CTFS_TGSP_NONCE 12
#define CTFS_TGSP_DEK 32
/* JSON sections are held in memory: larger ones are refused. */
#define CTFS_TGSP_SECTION_MAX (16u << 20)
#define CTFS_TGSP_MAX_RECIPIENTS 4096
/* Bytes of AAD before be64(i): ascii(manifest_hash_hex || recipients_hash_hex). */
#define CTFS_TGSP_AAD_PREFIX 128

/* --- keys (key files: JSON {"classic":HEX,"pqc":HEX,"alg":...}) ---------- */

struct ctfs_tgsp_sign_pub {
	uint8_t ed25519[32];
	uint8_t mldsa[CTFS_MLDSA65_PK_BYTES];
};

struct ctfs_tgsp_sign_sec {	/* ctfs_secure_alloc memory */
	uint8_t ed25519_seed[32];
	uint8_t mldsa[CTFS_MLDSA65_SK_BYTES];
};

struct ctfs_tgsp_enc_pub {
	uint8_t x25519[32];
	uint8_t mlkem[CTFS_MLKEM768_PK_BYTES];
};

struct ctfs_tgsp_enc_sec {	/* ctfs_secure_alloc memory */
	uint8_t x25519[32];
	uint8_t mlkem[CTFS_MLKEM768_SK_BYTES];
};

/* Parse key files: alg must name the right scheme, hex lengths must be
 * exact, and an ML-KEM secret key must pass the FIPS 203 hash check. Secret
 * keys are allocated with ctfs_secure_alloc (free with ctfs_secure_free);
 * the text is not modified, the caller wipes it. 0, -EINVAL with err,
 * -ENOMEM. */
int ctfs_tgsp_sign_pub_parse(const char *text, size_t len, struct ctfs_tgsp_sign_pub *out,
			     char *err, size_t errlen);
int ctfs_tgsp_sign_sec_parse(const char *text, size_t len, struct ctfs_tgsp_sign_sec **out,
			     char *err, size_t errlen);
int ctfs_tgsp_enc_pub_parse(const char *text, size_t len, struct ctfs_tgsp_enc_pub *out,
			    char *err, size_t errlen);
int ctfs_tgsp_enc_sec_parse(const char *text, size_t len, struct ctfs_tgsp_enc_sec **out,
			    char *err, size_t errlen);

/* Does sec belong to pub? (Ed25519 public key from the seed; ML-DSA tr =
 * H(pk) inside the secret key.) 0 or -EKEYREJECTED. */
int ctfs_tgsp_sign_pair_check(const struct ctfs_tgsp_sign_pub *pub,
			      const struct ctfs_tgsp_sign_sec *sec);
int ctfs_tgsp_enc_pair_check(const struct ctfs_tgsp_enc_pub *pub,
			     const struct ctfs_tgsp_enc_sec *sec);

/* Fresh key pairs (libsodium randomness). 0, -ENOMEM or -EIO. */
int ctfs_tgsp_sign_keygen(struct ctfs_tgsp_sign_pub *pub, struct ctfs_tgsp_sign_sec **sec);
int ctfs_tgsp_enc_keygen(struct ctfs_tgsp_enc_pub *pub, struct ctfs_tgsp_enc_sec **sec);

/* Append a key file: {"classic":HEX,"pqc":HEX,"alg":ALG}, the layout of the
 * reference platform. For a secret key out holds the secret: the caller
 * wipes out->data over out->cap before freeing (the buffer is grown before
 * any secret is written, so realloc leaves no copy). */
int ctfs_tgsp_key_json(struct ctfs_buf *out, const uint8_t *classic, size_t classic_len,
		       const uint8_t *pqc, size_t pqc_len, const char *alg);

/* --- keys in the kernel keyring ---------------------------------------------- */

#define CTFS_TGSP_KEYRING_RECIPIENT "ctfs:tgsp:"
#define CTFS_TGSP_KEYRING_SIGNER "ctfs:tgsp-signer:"

/* The user key "ctfs:tgsp:<recipient_id>" (a recipient's secret key file)
 * and "ctfs:tgsp-signer:<key_id>" (a trusted signer's public key file),
 * searched from ring. -ENOKEY when absent, -EINVAL (err) when unreadable. */
int ctfs_tgsp_keyring_recipient(key_serial_t ring, const char *recipient_id,
				struct ctfs_tgsp_enc_sec **out, char *err, size_t errlen);
int ctfs_tgsp_keyring_signer(key_serial_t ring, const char *key_id,
			     struct ctfs_tgsp_sign_pub *out, char *err, size_t errlen);

/* --- trusted signers -------------------------------------------------------- */

struct ctfs_tgsp_signer {
	char *key_id;		/* NULL: trusted whatever key_id a package names */
	char *origin;		/* where it came from, for messages */
	struct ctfs_tgsp_sign_pub pub;
};

struct ctfs_tgsp_trust {
	struct ctfs_tgsp_signer *v;
	size_t n;
};

int ctfs_tgsp_trust_add(struct ctfs_tgsp_trust *t, const struct ctfs_tgsp_sign_pub *pub,
			const char *key_id, const char *origin);
/* A signer public key file, or every "*.pub" / "*.json" file of a directory
 * (at least one; any that fails to parse fails the whole load). */
int ctfs_tgsp_trust_load(struct ctfs_tgsp_trust *t, const char *path, char *err, size_t errlen);
void ctfs_tgsp_trust_free(struct ctfs_tgsp_trust *t);

/* --- the container (no key needed) ----------------------------------------- */

struct ctfs_tgsp_recipient {
	char *id;
	uint8_t ek_classic[32];
	uint8_t ct_pqc[CTFS_MLKEM768_CT_BYTES];
	uint8_t nonce[CTFS_TGSP_NONCE];
	uint8_t wrapped[CTFS_TGSP_DEK + CTFS_TGSP_TAG];
};

struct ctfs_tgsp_policy {
	bool has_not_before, has_not_after;
	double not_before, not_after;	/* epoch seconds */
	char *target_fleet;		/* NULL: any fleet */
	/* Why the constraints cannot be honoured (a constraint this reader
	 * does not know, a value of the wrong type): the package is refused. */
	char *problem;
};

enum ctfs_tgsp_section { TGSP_HEADER, TGSP_MANIFEST, TGSP_RECIPIENTS, TGSP_PAYLOAD,
			 TGSP_SIGNATURE, TGSP_N_SECTIONS };

struct ctfs_tgsp_container {
	int fd;				/* owned (a dup of the caller's) */
	char *name;
	uint64_t file_size;
	uint64_t off[TGSP_N_SECTIONS];	/* where each section's bytes start */
	uint64_t len[TGSP_N_SECTIONS];
	/* header, manifest, recipients and signature bytes as stored */
	uint8_t *text[TGSP_N_SECTIONS];
	uint8_t nonce_base[CTFS_TGSP_NONCE];
	char hash_hex[3][65];		/* manifest, recipients, payload (header values) */
	struct ctfs_tgsp_recipient *rcpt;
	size_t n_rcpt;
	char *key_id;			/* signature key_id */
	uint8_t sig_ed25519[64];
	uint8_t sig_mldsa[CTFS_MLDSA65_SIG_BYTES];
	struct ctfs_tgsp_sign_pub author;	/* self-asserted, for messages only */
	bool has_author;
	struct ctfs_tgsp_policy policy;
	/* after ctfs_tgsp_container_check_payload */
	bool payload_checked;
	uint64_t n_frames;
	uint64_t plain_len;		/* compressed archive length */
	/* after ctfs_tgsp_container_verify */
	char *signer_origin;
};

/* Steps 1-2: structure, JSON sections, manifest and recipients hashes.
 * fd is duplicated; the container keeps its own. */
int ctfs_tgsp_container_read(int fd, const char *name, struct ctfs_tgsp_container **out,
			     char *err, size_t errlen);
/* Step 3: -EBADMSG (no trusted signer's keys verify both signatures),
 * -ENOKEY (trust is empty). */
int ctfs_tgsp_container_verify(struct ctfs_tgsp_container *c, const struct ctfs_tgsp_trust *trust,
			       char *err, size_t errlen);
/* Step 4: the frame layout, then the payload hash. */
int ctfs_tgsp_container_check_payload(struct ctfs_tgsp_container *c, char *err, size_t errlen);
/* Its two halves: the layout (sets n_frames, plain_len), and the hash,
 * which only reads the file and may run in a thread of its own. */
int ctfs_tgsp_container_frames(struct ctfs_tgsp_container *c, char *err, size_t errlen);
int ctfs_tgsp_container_payload_hash(const struct ctfs_tgsp_container *c, char *err,
				     size_t errlen);
/* Step 5: fleet NULL means the reader belongs to no fleet. */
int ctfs_tgsp_policy_check(const struct ctfs_tgsp_policy *p, const char *fleet, time_t now,
			   char *err, size_t errlen);
void ctfs_tgsp_container_free(struct ctfs_tgsp_container *c);

/* A recipient secret key for a block: 0 with *key (ctfs_secure_alloc'ed,
 * freed by the caller of the callback), -ENOKEY when none, other -errno. */
typedef int (*ctfs_tgsp_key_fn)(void *arg, const char *recipient_id,
				struct ctfs_tgsp_enc_sec **key);

/* Step 6: the DEK (dek: 32 bytes of secure memory) from the first block
 * whose key the callback supplies and that it opens. -ENOKEY otherwise. */
int ctfs_tgsp_find_dek(const struct ctfs_tgsp_container *c, ctfs_tgsp_key_fn fn, void *arg,
		       uint8_t *dek, char *err, size_t errlen);

/* Hybrid KEM: wrap a DEK for a recipient (fills every field but id), and
 * unwrap it (-EKEYREJECTED when the block is not for this key). */
int ctfs_tgsp_recipient_wrap(const struct ctfs_tgsp_enc_pub *pub, const uint8_t *dek,
			     struct ctfs_tgsp_recipient *r);
int ctfs_tgsp_recipient_unwrap(const struct ctfs_tgsp_recipient *r,
			       const struct ctfs_tgsp_enc_sec *sk, uint8_t *dek);

/* --- frames ------------------------------------------------------------------- */

struct ctfs_tgsp_frame_key {
	const uint8_t *dek;
	uint8_t nonce_base[CTFS_TGSP_NONCE];
	uint8_t aad_prefix[CTFS_TGSP_AAD_PREFIX];
};

/* nonce = SHA-256(nonce_base || be64(i))[0..12] */
void ctfs_tgsp_frame_nonce(const uint8_t *nonce_base, uint64_t i, uint8_t *nonce);
int ctfs_tgsp_frame_seal(const struct ctfs_tgsp_frame_key *k, uint64_t i, const uint8_t *in,
			 size_t len, uint8_t *out, uint8_t *tag);
/* -EBADMSG (out wiped) when the tag does not verify; in == out allowed. */
int ctfs_tgsp_frame_open(const struct ctfs_tgsp_frame_key *k, uint64_t i, const uint8_t *in,
			 size_t len, uint8_t *out, const uint8_t *tag);

/* --- writing packages ------------------------------------------------------- */

struct ctfs_tgsp_build_opts {
	const char *dir;			/* the tree to package */
	const struct ctfs_tgsp_sign_pub *signer_pub;
	const struct ctfs_tgsp_sign_sec *signer_sec;
	const char *key_id;			/* signature key_id */
	const struct ctfs_tgsp_enc_pub *recipients;
	const char *const *recipient_ids;
	size_t n_recipients;
	const char *model_name, *model_version, *author_id;
	const char *fleet;			/* policy target_fleet, or NULL */
	bool has_not_before, has_not_after;
	int64_t not_before, not_after;		/* epoch seconds */
	double created_at;			/* epoch seconds */
	int level;				/* gzip level 1-9; 0: 6 */
};

/*
 * Package o->dir into out_fd (a seekable, empty file; written with pwrite).
 * The archive lists the regular files under dir sorted by path (bytes),
 * mode 0755 if the owner may execute them and 0644 otherwise, uid/gid 0,
 * mtime 0 (tar_writer.h); symbolic links and special files are refused;
 * empty directories are not kept. The manifest has the fields the reference
 * platform writes. 0, or -errno with err.
 */
int ctfs_tgsp_build(int out_fd, const struct ctfs_tgsp_build_opts *o, char *err, size_t errlen);

/* --- an open package ------------------------------------------------------- */

struct ctfs_tgsp;

struct ctfs_tgsp_open_opts {
	const struct ctfs_tgsp_trust *trust;
	const char *fleet;		/* NULL: no fleet identity */
	time_t now;
	ctfs_tgsp_key_fn recipient_key;
	void *arg;
	/* Optional: a trusted signer looked up by the key_id the package
	 * names (the daemon's keyring), tried after trust. 0 with *pub
	 * filled, -ENOKEY when there is none. */
	int (*signer_key)(void *arg, const char *key_id, struct ctfs_tgsp_sign_pub *pub,
			  char *origin, size_t originlen);
	unsigned int cursors;		/* concurrent read streams; 0: 4 */
};

int ctfs_tgsp_open(int fd, const char *name, const struct ctfs_tgsp_open_opts *o,
		   struct ctfs_tgsp **out, char *err, size_t errlen);
void ctfs_tgsp_close(struct ctfs_tgsp *p);

const struct ctfs_tgsp_container *ctfs_tgsp_container(const struct ctfs_tgsp *p);
const struct ctfs_tar_index *ctfs_tgsp_index(const struct ctfs_tgsp *p);

/* Bytes [off, off + len) of a regular member; short only at its end.
 * Thread-safe. -EIO when the backing file no longer holds what was
 * verified (the failure is logged with the package name). */
ssize_t ctfs_tgsp_read(struct ctfs_tgsp *p, const struct ctfs_tar_entry *e, uint8_t *buf,
		       size_t len, uint64_t off);

/* Release the buffers of idle read streams (kept otherwise for reuse). */
void ctfs_tgsp_trim(struct ctfs_tgsp *p);

/* Memory the open package holds for its index (access points and their
 * windows, member table), for logs and tests. */
size_t ctfs_tgsp_index_bytes(const struct ctfs_tgsp *p);

#endif
