/* What an access policy sees (the `input` document, a ctfs extension):
 * the process that opens, the host, and the file. Process facts are read
 * from /proc/<pid> of the caller at the moment of the open; a process that
 * is gone by then is not described (-ESRCH), so it cannot be mistaken for
 * another that reuses its pid. */
#ifndef CTFS_POLICY_FACTS_H
#define CTFS_POLICY_FACTS_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* Bounds on what is copied from /proc (a process chooses its own argv). */
#define CTFS_FACTS_CMDLINE_MAX (16u << 10)
#define CTFS_FACTS_ARGS_MAX 256u

struct ctfs_proc_facts {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char exe[PATH_MAX];		/* resolved path of the executable */
	char comm[32];
	char cgroup[PATH_MAX];		/* the cgroup v2 path ("0::PATH") */
	char *cmdline;			/* NUL-separated arguments */
	size_t cmdline_len;
};

struct ctfs_host_facts {
	char hostname[256];
	char machine_id[64];
	const char *fleet;		/* -o fleet=, or NULL */
};

struct ctfs_file_facts {
	const char *path;		/* in the mount */
	uint64_t size;			/* of the view */
	const char *format;		/* "cryptotensors" */
	int version;
	const char *algorithm;
	const char *enc_kid, *sign_kid;
};

/* Read the facts of pid (uid and gid as the file system request gives them).
 * 0, -ESRCH when the process is gone, -EACCES when /proc denies it. */
int ctfs_proc_facts_read(pid_t pid, uid_t uid, gid_t gid, struct ctfs_proc_facts *f);
void ctfs_proc_facts_free(struct ctfs_proc_facts *f);

void ctfs_host_facts_read(struct ctfs_host_facts *h, const char *fleet);

/* {"process":{...},"host":{...},"file":{...}} as JSON text. 0 or -ENOMEM. */
int ctfs_policy_input(const struct ctfs_proc_facts *p, const struct ctfs_host_facts *h,
		      const struct ctfs_file_facts *f, struct ctfs_buf *out);

#endif
