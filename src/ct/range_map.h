/* Mapping a byte range of the plaintext view onto what it is made of: the
 * rewritten header, plaintext tensor bytes, v2 chunks, or v1 tensors. */
#ifndef CTFS_RANGE_MAP_H
#define CTFS_RANGE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "ct/crypto_entries.h"
#include "safetensors/safetensors.h"

enum ctfs_seg_kind {
	CTFS_SEG_HEADER,  /* off: into the view header */
	CTFS_SEG_PLAIN,   /* off: into the backing file */
	CTFS_SEG_CHUNK,   /* tensor, chunk; off: into the chunk */
	CTFS_SEG_STREAM,  /* tensor; off: into the v1 tensor */
};

struct ctfs_seg {
	enum ctfs_seg_kind kind;
	size_t tensor;     /* index into h->tensors */
	uint64_t chunk;
	uint64_t off;
	size_t len;
	size_t buf_off;    /* where the bytes go in the caller's buffer */
};

/* Call fn on each segment of [off, off+len) of the view made of a header of
 * hlen bytes and the data region of h (encrypted as ci says), clamped to
 * the view size (hlen + h->data_len), in order; stops at the first non-zero
 * return and returns it. Needs no key and no file: unit-testable alone. */
int ctfs_range_map_view(const struct ctfs_st_header *h, const struct ctfs_ct_info *ci,
			uint64_t hlen, uint64_t off, size_t len,
			int (*fn)(void *arg, const struct ctfs_seg *seg), void *arg);

#endif
