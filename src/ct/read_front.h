/* Reading the backing file for the view, with the page cache managed around
 * a sequential reader.
 *
 * Served plaintext lives in the kernel's page cache of the view (or in the
 * chunk cache); the ciphertext it came from is of no further use. Loading a
 * model from disk would otherwise keep both, twice the memory of loading
 * the plaintext, and read the ciphertext in the device's small readahead
 * steps (128 KiB here) between decryptions. So, while a reader moves
 * forward through the file:
 * - the next CTFS_FRONT_AHEAD bytes are asked for (POSIX_FADV_WILLNEED: the
 *   kernel starts the I/O and returns), so the disk works while the daemon
 *   decrypts;
 * - what lies behind the reads is dropped from the page cache
 *   (POSIX_FADV_DONTNEED), in steps of CTFS_FRONT_DROP: each call drains the
 *   per-CPU page lists of every CPU, too slow to make per chunk.
 * Random reads leave the page cache alone. Both hints change speed and
 * memory only, never which bytes are served. */
#ifndef CTFS_CT_READ_FRONT_H
#define CTFS_CT_READ_FRONT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Ciphertext asked for ahead of a sequential reader, and how much of what
 * lies behind it is dropped at once. Measured on a 1 GiB model loaded after
 * drop_caches: tools/bench/results. */
#define CTFS_FRONT_AHEAD (16u << 20)
#define CTFS_FRONT_DROP (8u << 20)

struct ctfs_read_front {
	_Atomic uint64_t last_end;	/* end of the latest read */
	_Atomic uint64_t ahead_end;	/* readahead was asked for up to here */
	_Atomic uint64_t drop_from;	/* the page cache is kept from here on */
};

/* pread of exactly len bytes of fd at off (-EIO if the file is shorter). */
int ctfs_front_pread(struct ctfs_read_front *f, int fd, void *buf, size_t len, uint64_t off);

/* Drop all of fd's page cache, after a pass that read the whole file (a
 * resident copy's fill, whose threads interleave too much for the drops
 * behind a sequential reader to follow them). */
void ctfs_front_forget(int fd);

#endif
