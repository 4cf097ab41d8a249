/* The TGSP payload: frame sealing and opening (per-frame nonce and AAD),
 * and the payload as a source of compressed bytes for gzindex.h: frames
 * are read, authenticated and decrypted one at a time, on demand. */
#ifndef CTFS_TGSP_PAYLOAD_H
#define CTFS_TGSP_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/gzindex.h"
#include "tgsp/container.h"
#include "tgsp/format.h"

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

struct ctfs_tgsp_frames {
	int fd;
	const char *name;		/* for log lines */
	uint64_t payload_off;
	uint64_t n_frames;
	uint64_t plain_len;
	struct ctfs_tgsp_frame_key key;
	bool log_failures;		/* once open: failures are logged */
	char why[200];			/* the last failure, while opening */
};

/* Fill f from a container whose payload was checked; dek stays the
 * caller's (secure memory) and must outlive f. */
void ctfs_tgsp_frames_init(struct ctfs_tgsp_frames *f, const struct ctfs_tgsp_container *c,
			   const uint8_t *dek);
void ctfs_tgsp_frames_source(struct ctfs_tgsp_frames *f, struct ctfs_gz_source *src);

/* The open pass reads the payload once, in order: a thread reads each
 * frame, adds its stored bytes to the payload hash, authenticates and
 * decrypts it, and hands it over to the index pass (the source below), at
 * most CTFS_TGSP_OPEN_AHEAD frames ahead (one being read, one decrypted in
 * advance: 8 MiB of locked plaintext, wiped when finished). The index pass
 * then only inflates, on the other core. A frame that fails its checks is
 * handed over as a failure (no byte of it), and the thread goes on hashing
 * the rest. */
#define CTFS_TGSP_OPEN_AHEAD 2u

struct ctfs_tgsp_stream;

/* f must be the frames of a payload whose layout was checked. 0, -ENOMEM,
 * or -EAGAIN (no thread). */
int ctfs_tgsp_stream_start(struct ctfs_tgsp_frames *f, struct ctfs_tgsp_stream **out);
/* The frames, in order, as a gzindex source for the one build pass. */
void ctfs_tgsp_stream_source(struct ctfs_tgsp_stream *s, struct ctfs_gz_source *src);
/* Stop handing frames over, let the hash finish and free s: 0 with the
 * SHA-256 of the whole payload section in digest, or -errno. */
int ctfs_tgsp_stream_finish(struct ctfs_tgsp_stream *s, uint8_t digest[32]);

#endif
