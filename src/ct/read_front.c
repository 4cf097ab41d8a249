#include "ct/read_front.h"

#include <fcntl.h>
#include <stdbool.h>

#include "util.h"

/* Two threads serving one reader may see its requests out of order: a read
 * is sequential when it starts where the previous one ended or inside the
 * window already asked for. */
static bool sequential(struct ctfs_read_front *f, uint64_t off, uint64_t end)
{
	uint64_t last = atomic_exchange_explicit(&f->last_end, end, memory_order_relaxed);
	uint64_t ahead = atomic_load_explicit(&f->ahead_end, memory_order_relaxed);

	return (last && off == last) || (off < ahead && ahead - off <= CTFS_FRONT_AHEAD);
}

static void read_ahead(struct ctfs_read_front *f, int fd, uint64_t end)
{
	uint64_t from = atomic_load_explicit(&f->ahead_end, memory_order_relaxed);
	uint64_t want = end + CTFS_FRONT_AHEAD;

	/* once the reader used half the window, not at every request */
	if (from >= end + CTFS_FRONT_AHEAD / 2)
		return;
	if (from < end)
		from = end;
	atomic_store_explicit(&f->ahead_end, want, memory_order_relaxed);
	(void)posix_fadvise(fd, (off_t)from, (off_t)(want - from), POSIX_FADV_WILLNEED);
}

/* Drop the CTFS_FRONT_DROP-aligned stretches that lie wholly more than
 * CTFS_FRONT_DROP behind a read at off: the last one is kept, another thread
 * may still be copying it, and aligned stretches never cut a large folio
 * (which the kernel would then keep whole). A reader that jumped starts
 * anew. */
static void drop_behind(struct ctfs_read_front *f, int fd, uint64_t off)
{
	uint64_t from = atomic_load_explicit(&f->drop_from, memory_order_relaxed);
	uint64_t to = off / CTFS_FRONT_DROP * CTFS_FRONT_DROP;

	to = to >= CTFS_FRONT_DROP ? to - CTFS_FRONT_DROP : 0;

	if (from > off || off - from > 4 * (uint64_t)CTFS_FRONT_AHEAD) {
		atomic_store_explicit(&f->drop_from, to, memory_order_relaxed);
		return;
	}
	if (to < from + CTFS_FRONT_DROP ||
	    !atomic_compare_exchange_strong(&f->drop_from, &from, to))
		return;
	(void)posix_fadvise(fd, (off_t)from, (off_t)(to - from), POSIX_FADV_DONTNEED);
}

int ctfs_front_pread(struct ctfs_read_front *f, int fd, void *buf, size_t len, uint64_t off)
{
	bool seq = sequential(f, off, off + len);
	int rc;

	if (seq)
		read_ahead(f, fd, off + len);
	rc = ctfs_pread_full(fd, buf, len, off);
	/* the bytes are in buf now: the pages behind this read can go */
	if (!rc && seq)
		drop_behind(f, fd, off);
	return rc;
}

void ctfs_front_forget(int fd)
{
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}
