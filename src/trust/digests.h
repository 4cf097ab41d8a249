/* Integrity of plaintext tensors: a signed metadata entry holding the
 * SHA-256 of every chunk of every tensor stored in plaintext, checked on the
 * read path as tags are for encrypted chunks.
 *
 * Entry "ctfs.plain_sha256" (ordinary user metadata: upstream loaders keep
 * it as a string, the signature covers it) is the JSON text
 *   {"alg":"sha256","chunk_size":N,"tensors":{"NAME":"BASE64",...}}
 * with names in byte order; BASE64 is the concatenated 32-byte digests of
 * the tensor's chunks of N bytes (the last may be shorter), chunk 0 first,
 * standard padded base64; an empty tensor has "" (no chunk). Every
 * non-encrypted tensor is listed, and only those. 1 <= N <= 16 MiB: a
 * chunk is read whole to be checked. Size: 44 bytes of text per chunk,
 * about 22 KiB per GiB of plaintext tensors at the 2 MiB default. */
#ifndef CTFS_DIGESTS_H
#define CTFS_DIGESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safetensors/safetensors.h"
#include "util.h"

#define CTFS_META_DIGESTS "ctfs.plain_sha256"
#define CTFS_DIGEST_LEN 32
#define CTFS_DIGESTS_MAX_CHUNK (16u << 20)

struct ctfs_digests {
	uint64_t chunk_size;
	size_t n_tensors;	/* == h->n_tensors */
	uint8_t **sums;		/* per tensor: n_chunks[t] * 32 bytes; NULL when encrypted */
	uint64_t *n_chunks;
};

/* Parse the entry's text for header h, where plain[t] tells whether tensor
 * t is stored in plaintext. 0, -EBADMSG (err says what is wrong) or -ENOMEM. */
int ctfs_digests_parse(const char *text, const struct ctfs_st_header *h, const bool *plain,
		       struct ctfs_digests **out, char *err, size_t errlen);
void ctfs_digests_free(struct ctfs_digests *d);

/* True when tensor t's chunks have digests. */
bool ctfs_digests_cover(const struct ctfs_digests *d, size_t t);

/* 0 when data (len bytes, all of chunk `chunk` of tensor t) has its digest;
 * -EIO otherwise, or when chunk/len do not fit the tensor. */
int ctfs_digests_check(const struct ctfs_digests *d, size_t t, uint64_t chunk,
		       const uint8_t *data, size_t len);

/* Bytes of chunk `chunk` of a tensor of tlen bytes. */
size_t ctfs_digests_chunk_len(const struct ctfs_digests *d, uint64_t tlen, uint64_t chunk);

/* Build the entry's text for the plaintext tensors of h, reading their
 * bytes from fd (a file laid out as h says). 0, -errno or -EINVAL. */
int ctfs_digests_compute(int fd, const struct ctfs_st_header *h, const bool *plain,
			 uint64_t chunk_size, struct ctfs_buf *out);

#endif
