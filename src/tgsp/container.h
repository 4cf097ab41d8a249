/* The TGSP container, read without any key: the five sections, the JSON
 * ones parsed, hashes, signatures, frame layout, payload hash and the
 * policy constraints (steps 1-5 of tgsp.h). */
#ifndef CTFS_TGSP_CONTAINER_H
#define CTFS_TGSP_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pq/mldsa65.h"
#include "tgsp/format.h"
#include "tgsp/keyfiles.h"
#include "tgsp/recipient.h"

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
	uint8_t signer_ed25519[32];	/* the trusted signer's key that verified */
	bool signer_trusted;
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
/* A SHA-256 of the payload section computed elsewhere (the open pass reads
 * the payload once) against the header: 0 or -EBADMSG with err. */
int ctfs_tgsp_container_check_digest(const struct ctfs_tgsp_container *c, const uint8_t d[32],
				     char *err, size_t errlen);
int ctfs_tgsp_container_payload_hash(const struct ctfs_tgsp_container *c, char *err,
				     size_t errlen);
/* Step 5: fleet NULL means the reader belongs to no fleet. */
int ctfs_tgsp_policy_check(const struct ctfs_tgsp_policy *p, const char *fleet, time_t now,
			   char *err, size_t errlen);
void ctfs_tgsp_container_free(struct ctfs_tgsp_container *c);

#endif
