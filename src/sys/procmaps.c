/* Scanning /proc/PID/maps for a path. The kernel prints, per mapping,
 * "start-end perms offset dev inode" and, after padding, the path of the
 * mapped file (for a file seen through a stacking file system, such as a
 * FUSE passthrough file, the device, inode and path of the file the user
 * opened). */
#include "sys/procmaps.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* path as maps shows it: '\n' escaped as \012. NULL on allocation failure. */
static char *shown_path(const char *path)
{
	size_t n = strlen(path), extra = 0;
	char *out, *o;

	for (const char *p = path; *p; p++)
		extra += *p == '\n' ? 3 : 0;
	out = malloc(n + extra + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = path; *p; p++) {
		if (*p == '\n') {
			memcpy(o, "\\012", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
	return out;
}

/* Whether one maps line (newline removed) shows the file: the five fields
 * "start-end perms offset major:minor inode", padding, then the path. */
static bool line_matches(char *line, const struct ctfs_procmaps_query *q, const char *want)
{
	unsigned maj, min;
	unsigned long ino;
	size_t n = strlen(line);
	int at = -1;

	if (n && line[n - 1] == '\n')
		line[n - 1] = 0;
	if (sscanf(line, "%*s %*s %*s %x:%x %lu %n", &maj, &min, &ino, &at) < 3 || at < 0)
		return false;
	if (q->by_id && ino && ino == (unsigned long)q->ino && makedev(maj, min) == q->dev)
		return true;
	return !strcmp(line + at, want);
}

/* 1 when the maps of process pid show the file, 0 when not or when the
 * process is gone, -EACCES when they cannot be read. */
static int maps_show(const char *pid, const struct ctfs_procmaps_query *q, const char *want)
{
	char name[300], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	snprintf(name, sizeof(name), "/proc/%s/maps", pid);
	f = fopen(name, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? 0 : -EACCES;
	/* a process that is not ours to see may open but fail to read */
	while (!found && getline(&line, &cap, f) >= 0)
		found = line_matches(line, q, want);
	if (!found && ferror(f) && errno != ESRCH && errno != ENOENT) {
		free(line);
		fclose(f);
		return -EACCES;
	}
	free(line);
	fclose(f);
	return found;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
	}
	return true;
}

int ctfs_procmaps_find(const struct ctfs_procmaps_query *q, pid_t *pid, unsigned *unreadable)
{
	char *want = shown_path(q->path);
	pid_t self = getpid();
	struct dirent *de;
	int rc = 0;
	DIR *d;

	*unreadable = 0;
	if (!want)
		return -ENOMEM;
	d = opendir("/proc");
	if (!d) {
		rc = -errno;
		free(want);
		return rc;
	}
	while (rc != 1 && (de = readdir(d))) {
		if (!all_digits(de->d_name) || atol(de->d_name) == (long)self)
			continue;
		rc = maps_show(de->d_name, q, want);
		if (rc < 0)
			(*unreadable)++;
		if (rc == 1)
			*pid = (pid_t)atol(de->d_name);
	}
	closedir(d);
	free(want);
	return rc == 1;
}
