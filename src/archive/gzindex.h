/*
 * Random access into a gzip stream, the way zlib's zran example does it:
 * one pass over the whole stream records "access points" at deflate block
 * boundaries, each with the 32 KiB of output before it (the history the
 * next blocks may refer to) and its exact bit position in the input. A read
 * then inflates from the nearest point at or before its offset instead of
 * from the start.
 *
 * Memory (documented bound): one point per `span` bytes of output (default
 * 4 MiB), each 32 KiB of window + 32 bytes: 0.8% of the uncompressed size,
 * 8 MiB per GiB. Plus, per read stream ("cursor", default 4, allocated when
 * first used): the inflate state (~40 KiB), an 8 MiB ring of the output it
 * last produced (so that requests served out of order by parallel threads
 * are copied, not inflated again) and whatever the source keeps per context
 * (the TGSP source: one decrypted 4 MiB frame): 12 MiB each. Idle cursors
 * keep their position so that sequential reads continue without seeking;
 * ctfs_gzindex_trim releases them. A read inflates at most two spans plus a
 * deflate block before the bytes it asks for. Windows and rings hold
 * plaintext: they are not dumped and are wiped when freed.
 *
 * Multi-member gzip streams are supported; the build pass checks every
 * member's CRC-32 and length, and refuses anything after the last member.
 */
#ifndef CTFS_GZINDEX_H
#define CTFS_GZINDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTFS_GZINDEX_SPAN (4u << 20)
#define CTFS_GZINDEX_WINDOW 32768u

/* The compressed bytes. fetch returns in *p / *n the bytes from off up to
 * some boundary of the source's choosing (at least one byte, off < size);
 * they stay valid until the next fetch with the same ctx. Contexts are made
 * per cursor, lazily. */
struct ctfs_gz_source {
	void *arg;
	uint64_t size;
	void *(*ctx_new)(void *arg);
	void (*ctx_free)(void *arg, void *ctx);
	int (*fetch)(void *arg, void *ctx, uint64_t off, const uint8_t **p, size_t *n);
};

/* Receives the whole uncompressed stream, in order, during the build. */
typedef int (*ctfs_gz_sink)(void *arg, const uint8_t *data, size_t len, char *err,
			    size_t errlen);

struct ctfs_gzindex;

/* One pass over src. span 0: CTFS_GZINDEX_SPAN; cursors 0: 4. src is
 * copied; src->arg must outlive the index. 0, -EBADMSG with err (not gzip,
 * corrupt, truncated, trailing data, or the sink's error), -ENOMEM, or a
 * fetch error. */
int ctfs_gzindex_build(const struct ctfs_gz_source *src, uint64_t span, unsigned int cursors,
		       ctfs_gz_sink sink, void *sink_arg, struct ctfs_gzindex **out,
		       char *err, size_t errlen);

/* Uncompressed length. */
uint64_t ctfs_gzindex_size(const struct ctfs_gzindex *ix);
size_t ctfs_gzindex_points(const struct ctfs_gzindex *ix);
/* Bytes held by the points (windows included). */
size_t ctfs_gzindex_bytes(const struct ctfs_gzindex *ix);

/* Uncompressed bytes [off, off + len): the count read (short only at the
 * end), or -errno (-EIO for a stream that no longer inflates, or the
 * source's fetch error). Thread-safe. */
ssize_t ctfs_gzindex_read(struct ctfs_gzindex *ix, uint8_t *buf, size_t len, uint64_t off);

/* Free the state of idle cursors. */
void ctfs_gzindex_trim(struct ctfs_gzindex *ix);
void ctfs_gzindex_free(struct ctfs_gzindex *ix);

#endif
