/* Who maps a file: a scan of every process's /proc/PID/maps, for memory
 * that must not be wiped while another process still maps it. */
#ifndef CTFS_PROCMAPS_H
#define CTFS_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A file as /proc/PID/maps shows it: by device and inode (when by_id), or
 * by path (a newline in it is shown as \012, as the kernel writes it). A
 * mapping matches when either does. */
struct ctfs_procmaps_query {
	const char *path;
	bool by_id;
	dev_t dev;
	ino_t ino;
};

/* Whether a process other than this one maps the file: 1 with *pid set,
 * or 0. *unreadable counts the processes whose map list could not be read
 * (not ours to see: EACCES), which may map it unseen; processes that end
 * during the scan are skipped. -errno when /proc cannot be listed. */
int ctfs_procmaps_find(const struct ctfs_procmaps_query *q, pid_t *pid, unsigned *unreadable);

#endif
