/* The input document of access policies (see facts.h). */
#include "policy/facts.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read a small file relative to dir into buf (NUL-terminated); bytes read
 * or -errno. /proc reports a vanished process as ESRCH or ENOENT. */
static ssize_t read_at(int dir, const char *name, char *buf, size_t cap)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, cap - 1);
	if (n < 0)
		n = errno == ENOENT ? -ESRCH : -errno;
	else
		buf[n] = 0;
	close(fd);
	return n;
}

static void chomp(char *s)
{
	s[strcspn(s, "\n")] = 0;
}

static int read_cgroup(int dir, struct ctfs_proc_facts *f)
{
	char buf[PATH_MAX + 64], *p;
	ssize_t n = read_at(dir, "cgroup", buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	/* cgroup v2 is the line "0::PATH" */
	p = strstr(buf, "0::");
	snprintf(f->cgroup, sizeof(f->cgroup), "%s", p ? p + 3 : "");
	chomp(f->cgroup);
	return 0;
}

static int read_all(int dir, struct ctfs_proc_facts *f)
{
	ssize_t n = readlinkat(dir, "exe", f->exe, sizeof(f->exe) - 1);

	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	f->exe[n] = 0;
	n = read_at(dir, "comm", f->comm, sizeof(f->comm));
	if (n < 0)
		return (int)n;
	chomp(f->comm);
	f->cmdline = malloc(CTFS_FACTS_CMDLINE_MAX + 1);
	if (!f->cmdline)
		return -ENOMEM;
	n = read_at(dir, "cmdline", f->cmdline, CTFS_FACTS_CMDLINE_MAX + 1);
	if (n < 0)
		return (int)n;
	f->cmdline_len = (size_t)n;
	return read_cgroup(dir, f);
}

int ctfs_proc_facts_read(pid_t pid, uid_t uid, gid_t gid, struct ctfs_proc_facts *f)
{
	char path[64], probe[8];
	int dir, rc;

	memset(f, 0, sizeof(*f));
	f->pid = pid;
	f->uid = uid;
	f->gid = gid;
	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	/* every fact through this one directory: if the pid is reused
	 * meanwhile, reads through it fail rather than describe the newcomer */
	dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	rc = read_all(dir, f);
	if (!rc && read_at(dir, "stat", probe, sizeof(probe)) < 0)
		rc = -ESRCH;	/* gone while we read */
	close(dir);
	if (rc)
		ctfs_proc_facts_free(f);
	return rc;
}

void ctfs_proc_facts_free(struct ctfs_proc_facts *f)
{
	free(f->cmdline);
	f->cmdline = NULL;
	f->cmdline_len = 0;
}

void ctfs_host_facts_read(struct ctfs_host_facts *h, const char *fleet)
{
	int fd;
	ssize_t n;

	memset(h, 0, sizeof(*h));
	h->fleet = fleet;
	if (gethostname(h->hostname, sizeof(h->hostname) - 1))
		h->hostname[0] = 0;
	fd = open("/etc/machine-id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, h->machine_id, sizeof(h->machine_id) - 1);
		h->machine_id[n > 0 ? n : 0] = 0;
		chomp(h->machine_id);
		close(fd);
	}
}

static cJSON *cmdline_array(const struct ctfs_proc_facts *p)
{
	cJSON *a = cJSON_CreateArray();
	size_t off = 0, n = 0;

	while (a && off < p->cmdline_len && n++ < CTFS_FACTS_ARGS_MAX) {
		size_t len = strnlen(p->cmdline + off, p->cmdline_len - off);
		char *arg = strndup(p->cmdline + off, len);
		cJSON *s = arg ? cJSON_CreateString(arg) : NULL;

		free(arg);
		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			cJSON_Delete(a);
			return NULL;
		}
		off += len + 1;
	}
	return a;
}

/* Add child to parent, or free it: false when either is missing or full. */
static bool add_owned(cJSON *parent, const char *name, cJSON *child)
{
	if (parent && child && cJSON_AddItemToObject(parent, name, child))
		return true;
	cJSON_Delete(child);
	return false;
}

static cJSON *process_obj(const struct ctfs_proc_facts *p)
{
	cJSON *o = cJSON_CreateObject();

	if (!add_owned(o, "cmdline", cmdline_array(p)) ||
	    !cJSON_AddNumberToObject(o, "pid", p->pid) ||
	    !cJSON_AddNumberToObject(o, "uid", p->uid) || !cJSON_AddNumberToObject(o, "gid", p->gid) ||
	    !cJSON_AddStringToObject(o, "exe", p->exe) || !cJSON_AddStringToObject(o, "comm", p->comm) ||
	    !cJSON_AddStringToObject(o, "cgroup", p->cgroup)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *host_obj(const struct ctfs_host_facts *h)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "hostname", h->hostname) ||
	    !cJSON_AddStringToObject(o, "machine_id", h->machine_id) ||
	    !(h->fleet ? cJSON_AddStringToObject(o, "fleet", h->fleet)
		       : cJSON_AddNullToObject(o, "fleet"))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *file_obj(const struct ctfs_file_facts *f)
{
	cJSON *o = cJSON_CreateObject(), *kids = cJSON_CreateObject();

	if (!add_owned(o, "kids", kids) ||
	    !cJSON_AddStringToObject(kids, "enc", f->enc_kid ? f->enc_kid : "") ||
	    !cJSON_AddStringToObject(kids, "sign", f->sign_kid ? f->sign_kid : "") ||
	    !cJSON_AddStringToObject(o, "path", f->path) ||
	    !cJSON_AddNumberToObject(o, "size", (double)f->size) ||
	    !cJSON_AddStringToObject(o, "format", f->format) ||
	    !cJSON_AddNumberToObject(o, "version", f->version) ||
	    !cJSON_AddStringToObject(o, "algorithm", f->algorithm)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int ctfs_policy_input(const struct ctfs_proc_facts *p, const struct ctfs_host_facts *h,
		      const struct ctfs_file_facts *f, struct ctfs_buf *out)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;
	int rc = -ENOMEM;

	if (add_owned(root, "process", process_obj(p)) && add_owned(root, "host", host_obj(h)) &&
	    add_owned(root, "file", file_obj(f)))
		text = cJSON_PrintUnformatted(root);
	if (text)
		rc = ctfs_buf_puts(out, text);
	cJSON_free(text);
	cJSON_Delete(root);
	return rc;
}
