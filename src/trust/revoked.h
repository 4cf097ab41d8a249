/* The local revocation list (-o revoked=FILE): signers, certificates and
 * model files an operator has withdrawn. JSON, every member optional:
 *   {"kids":["KID",...], "thumbprints":["RFC 7638",...],
 *    "serials":["HEX",...], "header_digests":["HEX SHA-256",...]}
 * kids and thumbprints name signing keys; serials name certificates of a
 * signer's chain (hex, any case, leading zeros ignored, any issuer);
 * header_digests name model files by the SHA-256 of their signed header
 * text (what `ctfs-tool verify` prints). At most 4 MiB and 65536 entries.
 * A list is immutable once loaded: a reload builds a new one. */
#ifndef CTFS_REVOKED_H
#define CTFS_REVOKED_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTFS_REVOKED_MAX_BYTES (4u << 20)
#define CTFS_REVOKED_MAX_ENTRIES 65536u
#define CTFS_SERIAL_MAX 41	/* 20 bytes of hex and the NUL (RFC 5280 §4.1.2.2) */

struct ctfs_revoked;

/* Parse a list from text; 0, -EINVAL (err says where) or -ENOMEM. */
int ctfs_revoked_parse(const char *text, size_t len, struct ctfs_revoked **out,
		       char *err, size_t errlen);
/* Read and parse path (regular file, bounded). */
int ctfs_revoked_load(const char *path, struct ctfs_revoked **out, char *err, size_t errlen);
void ctfs_revoked_free(struct ctfs_revoked *r);

/* What a file is checked against; any field may be NULL / 0. */
struct ctfs_revoked_query {
	const char *kid;			/* the signing kid the header names */
	const uint8_t *thumbprint;		/* 32 bytes: the key that verified */
	const char *const *serials;		/* hex serials of the chain */
	size_t n_serials;
	const uint8_t *header_digest;		/* 32 bytes */
};

/* 0 when nothing of q is listed, else -EKEYREVOKED with err naming what. */
int ctfs_revoked_check(const struct ctfs_revoked *r, const struct ctfs_revoked_query *q,
		       char *err, size_t errlen);

/* A serial in the canonical form the list uses (lowercase hex without
 * leading zeros, "0" for zero) from hex text; 0 or -EINVAL. */
int ctfs_serial_canon(const char *hex, char out[CTFS_SERIAL_MAX]);

/* The list a mount uses, swapped whole on reload (SIGHUP): readers take a
 * reference, so a reload never waits for an open and an open never sees
 * half a list. */
struct ctfs_revocation {
	pthread_mutex_t lock;
	char *path;
	struct ctfs_revoked *cur;	/* NULL when no list is configured */
};

int ctfs_revocation_init(struct ctfs_revocation *rv, const char *path, char *err,
			 size_t errlen);
/* Load the file again; on failure the previous list stays in force. */
int ctfs_revocation_reload(struct ctfs_revocation *rv, char *err, size_t errlen);
/* ctfs_revoked_check against the current list (0 when none is configured). */
int ctfs_revocation_check(struct ctfs_revocation *rv, const struct ctfs_revoked_query *q,
			  char *err, size_t errlen);
void ctfs_revocation_destroy(struct ctfs_revocation *rv);

#endif
