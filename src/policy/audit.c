/* Audit records of access decisions (see audit.h). */
#include "policy/audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct ctfs_audit {
	int fd;		/* -1: no audit file */
};

int ctfs_audit_open(const char *path, struct ctfs_audit **out, char *err, size_t errlen)
{
	struct ctfs_audit *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->fd = -1;
	if (path) {
		a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (a->fd < 0) {
			int rc = -errno;

			ctfs_seterr(err, errlen, "cannot open the audit file %s: %s", path,
				    strerror(errno));
			free(a);
			return rc;
		}
	}
	*out = a;
	return 0;
}

void ctfs_audit_close(struct ctfs_audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	free(a);
}

static bool add_str(cJSON *o, const char *k, const char *v)
{
	return v ? cJSON_AddStringToObject(o, k, v) != NULL : cJSON_AddNullToObject(o, k) != NULL;
}

static char *record_json(const struct ctfs_audit_record *r)
{
	const struct ctfs_proc_facts *p = r->proc;
	cJSON *o = cJSON_CreateObject();
	struct timespec ts;
	char *text = NULL;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (o && cJSON_AddNumberToObject(o, "time", (double)ts.tv_sec + ts.tv_nsec / 1e9) &&
	    add_str(o, "file", r->file) && add_str(o, "enc_kid", r->enc_kid) &&
	    add_str(o, "sign_kid", r->sign_kid) && add_str(o, "policy_hash", r->policy_hash) &&
	    add_str(o, "site_policy_hash", r->site_hash) &&
	    add_str(o, "decision", r->allow ? "allow" : "deny") &&
	    add_str(o, "reason", r->reason) &&
	    cJSON_AddNumberToObject(o, "pid", p->pid) && cJSON_AddNumberToObject(o, "uid", p->uid) &&
	    cJSON_AddNumberToObject(o, "gid", p->gid) && add_str(o, "exe", *p->exe ? p->exe : NULL))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

int ctfs_audit_write(struct ctfs_audit *a, const struct ctfs_audit_record *r)
{
	char *text = record_json(r);
	size_t len;
	ssize_t n;
	int rc = 0;

	ctfs_log(r->allow ? LOG_INFO : LOG_NOTICE,
		 "audit: decision=%s file=%s enc_kid=%s pid=%d uid=%u exe=%s reason=\"%s\"",
		 r->allow ? "allow" : "deny", r->file, r->enc_kid ? r->enc_kid : "-",
		 (int)r->proc->pid, (unsigned)r->proc->uid, *r->proc->exe ? r->proc->exe : "-",
		 r->reason);
	if (a->fd < 0)
		goto out;
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	len = strlen(text);
	if (len >= CTFS_AUDIT_RECORD_MAX) {
		rc = -E2BIG;
		goto out;
	}
	text[len] = '\n';	/* replaces the NUL: one write, one line */
	n = write(a->fd, text, len + 1);
	if (n != (ssize_t)(len + 1))
		rc = n < 0 ? -errno : -EIO;
out:
	cJSON_free(text);
	return rc;
}
