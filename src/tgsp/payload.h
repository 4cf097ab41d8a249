/* The TGSP payload as a source of compressed bytes for gzindex.h: frames
 * are read, authenticated and decrypted one at a time, on demand. */
#ifndef CTFS_TGSP_PAYLOAD_H
#define CTFS_TGSP_PAYLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "archive/gzindex.h"
#include "tgsp/tgsp.h"

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

#endif
