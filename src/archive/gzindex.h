/*
 * Random access into a gzip stream, in the manner of zlib's zran example:
 * one pass over the whole stream records "access points", each the
 * inflater's whole state at some output offset (its Huffman tables, bit
 * buffer, running CRC-32 and the 32 KiB of output before it, the history
 * the next bytes may refer to) and the input offset from which it goes on.
 * A read then inflates from the nearest point at or before its offset
 * instead of from the start. The inflater is ISA-L's igzip (isal_inflate):
 * 1.4-1.7 times zlib's speed on bf16 weights here, 2.1 on stored data
 * (tests/bench_tgsp); its state is self-contained between
 * calls, which is what lets a point sit anywhere, not only at a deflate
 * block boundary.
 *
 * Memory (documented bound): one point per half `span` of output at most
 * (default span 4 MiB: a point lands on the first end of a source piece, a
 * TGSP frame, after half a span, or after a span and a half), each at most
 * CTFS_GZINDEX_POINT_MAX bytes (about 54 KiB in practice: 21 KiB of state
 * and 32 KiB of history): with TGSP frames of model weights (4 MiB of
 * input, about 5 MiB of output) 1.1% of the uncompressed size, 11 MiB per
 * GiB; 2.6%, 27 MiB per GiB, at worst.
 * Plus, per read stream ("cursor", default 4, allocated when first used):
 * the inflate state (85 KiB), an 8 MiB ring of the output it last produced
 * (so that requests served out of order by parallel threads are copied, not
 * inflated again) and whatever the source keeps per context (the TGSP
 * source: one decrypted 4 MiB frame): 12 MiB each. Idle cursors keep their
 * position so that sequential reads continue without seeking;
 * ctfs_gzindex_trim releases them. A read inflates at most two spans plus a
 * step before the bytes it asks for. Points, states and rings hold
 * plaintext: locked when allowed, not dumped, wiped when freed.
 *
 * Inflating ahead: a sequential reader (each read in the span of the one
 * before or the next) gets the CTFS_GZINDEX_AHEAD spans after its own
 * inflated by up to CTFS_GZINDEX_WORKERS threads (no more than the online
 * CPUs, none on one CPU, and each needs a cursor of its own with two left
 * to the readers), each into a cursor's ring: the ahead cache is the
 * cursors, nothing more is allocated. The reader then copies a span while
 * the workers inflate the next ones on the other cores. Workers go through
 * the same source (the TGSP frames: every tag checked) and the same CRC
 * checks; a worker's failure only drops its cursor, and the read that needs
 * the span inflates it again and reports the error itself.
 *
 * Multi-member gzip streams are supported; every member's CRC-32 and length
 * are checked (in the build pass, and by reads that reach a member's end),
 * and anything after the last member is refused.
 */
#ifndef CTFS_GZINDEX_H
#define CTFS_GZINDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTFS_GZINDEX_SPAN (4u << 20)
/* The bytes of one access point, at most: ISA-L's inflate_state (about 85
 * KiB); only the history in use is kept (about 54 KiB). */
#define CTFS_GZINDEX_POINT_MAX (88u << 10)
/* Spans inflated ahead of a sequential reader, and threads doing it. */
#define CTFS_GZINDEX_AHEAD 2u
#define CTFS_GZINDEX_WORKERS 2u

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

/* Reads from now on fetch from src (the same bytes: src->size must be the
 * build's): a source for the one build pass (the TGSP open pass's frames,
 * in order) is replaced by one for random access. 0, -EINVAL, or -EBUSY
 * while a read is under way. */
int ctfs_gzindex_set_source(struct ctfs_gzindex *ix, const struct ctfs_gz_source *src);

/* Uncompressed length. */
uint64_t ctfs_gzindex_size(const struct ctfs_gzindex *ix);
size_t ctfs_gzindex_points(const struct ctfs_gzindex *ix);
/* Bytes held by the points (windows included). */
size_t ctfs_gzindex_bytes(const struct ctfs_gzindex *ix);

/* Uncompressed bytes [off, off + len): the count read (short only at the
 * end), or -errno (-EIO for a stream that no longer inflates, or the
 * source's fetch error). Thread-safe. */
ssize_t ctfs_gzindex_read(struct ctfs_gzindex *ix, uint8_t *buf, size_t len, uint64_t off);

/* Threads inflating ahead (at most CTFS_GZINDEX_WORKERS, and the cursors
 * less two); 0: reads inflate only what they ask for, on their own thread
 * (workers already started then stay idle until the index is freed). */
void ctfs_gzindex_set_workers(struct ctfs_gzindex *ix, unsigned int workers);

/* Spans the workers inflated ahead so far (tests, logs). */
uint64_t ctfs_gzindex_ahead_spans(struct ctfs_gzindex *ix);

/* Free the state of idle cursors. */
void ctfs_gzindex_trim(struct ctfs_gzindex *ix);
void ctfs_gzindex_free(struct ctfs_gzindex *ix);

#endif
