/* Usage accounting for billing and audit: opens and bytes served per model
 * file and per process identity (uid, executable), kept in memory and
 * appended to a file as JSON lines, periodically and at unmount. Never the
 * content: only names, identities and counts.
 *
 * Each flush appends one batch with one write(2) to a file opened O_APPEND,
 * so concurrent writers (several mounts sharing one file) never interleave
 * within a batch; a record holds the counts since the previous record of the
 * same identity, so summing records gives totals. The table is bounded
 * (CTFS_USAGE_MAX identities; the rest fold into file "other", exe "other"). */
#ifndef CTFS_USAGE_H
#define CTFS_USAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CTFS_USAGE_MAX 4096
#define CTFS_USAGE_BATCH_MAX (8u << 20)   /* one write; a bigger batch is split */

struct ctfs_usage;

struct ctfs_usage_entry {
	_Atomic uint64_t opens, bytes;
	char *file, *exe;
	uid_t uid;
};

/* Accounting appended to path (created 0640 if absent) for the mount at
 * mountpoint of source. 0 or -errno (the file cannot be opened). */
int ctfs_usage_open(const char *path, const char *source, const char *mountpoint,
		    struct ctfs_usage **out);
/* The mount point records name (known once the mount is made). */
void ctfs_usage_set_mountpoint(struct ctfs_usage *u, const char *mountpoint);
/* Appends what is left (final records) and frees. NULL is a no-op. */
void ctfs_usage_close(struct ctfs_usage *u);

/* The entry of (file, uid, exe), counting one open; never NULL when u is
 * not (the fold when full). Takes a lock: call it at open. */
struct ctfs_usage_entry *ctfs_usage_opened(struct ctfs_usage *u, const char *file, uid_t uid,
					   const char *exe);

/* The read path: one relaxed atomic add. */
static inline void ctfs_usage_bytes(struct ctfs_usage_entry *e, uint64_t n)
{
	if (e)
		atomic_fetch_add_explicit(&e->bytes, n, memory_order_relaxed);
}

/* Append the records of every identity used since the last flush; 0 or
 * -errno (the counts are kept for the next flush then). */
int ctfs_usage_flush(struct ctfs_usage *u, bool final);

/* The executable of pid (readlink /proc/PID/exe) into out; "unknown" when
 * it cannot be read (the process has gone, or another namespace). */
void ctfs_usage_exe_of(pid_t pid, char *out, size_t cap);

#endif
