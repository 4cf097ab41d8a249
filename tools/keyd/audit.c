/* The audit trail of ctfs-keyd: one JSON line per decision (release or
 * refusal), written with one write(2) to a file opened O_APPEND, mode 0600,
 * so records from concurrent connections never interleave. Reopened on
 * SIGHUP for log rotation. Never holds key material. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "keyd.h"
#include "log.h"

int keyd_audit_open(struct keyd *d)
{
	struct stat st;
	int fd, old;

	if (!d->audit_path)
		return 0;
	fd = open(d->audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	/* a regular file is made 0600; a pipe or device is left as it is */
	if (fd < 0 || fstat(fd, &st) || (S_ISREG(st.st_mode) && fchmod(fd, 0600))) {
		ctfs_err("--audit %s: %s", d->audit_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EACCES;
	}
	pthread_mutex_lock(&d->audit_lock);
	old = d->audit_fd;
	d->audit_fd = fd;
	pthread_mutex_unlock(&d->audit_lock);
	if (old >= 0)
		close(old);
	return 0;
}

static cJSON *record(const struct keyd_client *c, const struct keyd_decision *dec)
{
	cJSON *o = cJSON_CreateObject(), *cl = cJSON_CreateObject();
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* the mount's audit fields first (src/policy/audit.c), then the service's */
	ok = o && cl && cJSON_AddNumberToObject(o, "time", (double)ts.tv_sec + ts.tv_nsec / 1e9) &&
	     cJSON_AddStringToObject(o, "enc_kid", dec->kid) &&
	     cJSON_AddStringToObject(o, "sign_kid", dec->sign_kid) &&
	     cJSON_AddStringToObject(o, "policy_hash", dec->policy_hash) &&
	     cJSON_AddStringToObject(o, "service", "ctfs-keyd") &&
	     cJSON_AddStringToObject(o, "decision", dec->status == 200 ? "allow" : "deny") &&
	     cJSON_AddStringToObject(o, "code", dec->code ? dec->code : "internal") &&
	     cJSON_AddStringToObject(o, "reason", dec->reason) &&
	     cJSON_AddNumberToObject(o, "status", dec->status) &&
	     cJSON_AddStringToObject(o, "fleet", dec->fleet) &&
	     cJSON_AddStringToObject(o, "header_sha256", dec->header_sha256) &&
	     cJSON_AddNumberToObject(o, "lifetime", dec->lifetime) &&
	     cJSON_AddStringToObject(cl, "subject", c->subject) &&
	     cJSON_AddStringToObject(cl, "issuer", c->issuer) &&
	     cJSON_AddStringToObject(cl, "serial", c->serial) &&
	     cJSON_AddItemToObject(cl, "sans", cJSON_Parse(*c->sans ? c->sans : "[]")) &&
	     cJSON_AddStringToObject(cl, "peer", c->peer) &&
	     cJSON_AddItemToObject(o, "client", cl);
	if (!ok) {
		if (!cJSON_GetObjectItemCaseSensitive(o, "client"))
			cJSON_Delete(cl);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int keyd_audit(struct keyd *d, const struct keyd_client *c, const struct keyd_decision *dec)
{
	cJSON *o;
	char *text;
	size_t len;
	ssize_t w = -1;
	int rc = 0;

	if (!d->audit_path)
		return 0;
	o = record(c, dec);
	text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (text) {
		len = strlen(text);
		text[len] = '\n'; /* replaces the NUL: written by length below */
		pthread_mutex_lock(&d->audit_lock);
		w = write(d->audit_fd, text, len + 1);
		pthread_mutex_unlock(&d->audit_lock);
		text[len] = 0;
	}
	if (w != (ssize_t)(text ? strlen(text) + 1 : 1)) {
		rc = w < 0 ? -errno : -EIO;
		ctfs_err("audit record for kid=%s not written to %s", dec->kid, d->audit_path);
	}
	cJSON_free(text);
	return rc;
}
