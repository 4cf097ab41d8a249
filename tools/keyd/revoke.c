/* The revocation list and the policy data of ctfs-keyd, loaded at start and
 * on SIGHUP. A reload builds the new state aside and swaps it in under the
 * write lock: requests in flight finish with the old one, connections stay. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "keyd.h"
#include "log.h"

#define FILE_MAX (16u << 20)

static int read_file(const char *path, char **out, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > FILE_MAX)
		rc = -EFBIG;
	else if (!(*out = malloc((size_t)st.st_size + 1)))
		rc = -ENOMEM;
	else if (ctfs_pread_full(fd, *out, (size_t)st.st_size, 0))
		rc = -EIO;
	close(fd);
	if (rc) {
		free(*out);
		*out = NULL;
		return rc;
	}
	(*out)[st.st_size] = 0;
	*len = (size_t)st.st_size;
	return 0;
}

/* Serials compare as hex numbers: no colons, no leading zeros, one case. */
static void norm_serial(char *s)
{
	char *w = s, *r = s;

	for (; *r; r++)
		if (*r != ':')
			*w++ = (char)toupper((unsigned char)*r);
	*w = 0;
	r = s + strspn(s, "0");
	if (!*r && r != s)
		r--;
	memmove(s, r, strlen(r) + 1);
}

static void free_list(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

static int load_list(const cJSON *o, const char *group, const char *name, bool serial,
		     char ***out, char *err, size_t errlen)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, group);
	const cJSON *a = g ? cJSON_GetObjectItemCaseSensitive(g, name) : NULL, *it;
	size_t n = 0;

	if ((g && !cJSON_IsObject(g)) || (a && !cJSON_IsArray(a))) {
		ctfs_seterr(err, errlen, "%s.%s must be an array of strings", group, name);
		return -EINVAL;
	}
	*out = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(char *));
	if (!*out)
		return -ENOMEM;
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsString(it)) {
			ctfs_seterr(err, errlen, "%s.%s must be an array of strings", group, name);
			return -EINVAL;
		}
		if (!((*out)[n] = strdup(it->valuestring)))
			return -ENOMEM;
		if (serial)
			norm_serial((*out)[n]);
		n++;
	}
	return 0;
}

void keyd_revoked_free(struct keyd_revoked *r)
{
	if (!r)
		return;
	free_list(r->serials);
	free_list(r->subjects);
	free_list(r->kids);
	free_list(r->digests);
	free(r);
}

int keyd_revoked_load(const char *path, struct keyd_revoked **out, char *err, size_t errlen)
{
	struct keyd_revoked *r = calloc(1, sizeof(*r));
	char *text = NULL;
	size_t len = 0;
	cJSON *o = NULL;
	int rc = r ? 0 : -ENOMEM;

	if (!rc && path && (rc = read_file(path, &text, &len)))
		ctfs_seterr(err, errlen, "%s", strerror(-rc));
	if (!rc && path && !cJSON_IsObject(o = cJSON_ParseWithLength(text, len))) {
		ctfs_seterr(err, errlen, "not a JSON object");
		rc = -EINVAL;
	}
	if (!rc)
		rc = load_list(o, "machines", "serials", true, &r->serials, err, errlen);
	if (!rc)
		rc = load_list(o, "machines", "subjects", false, &r->subjects, err, errlen);
	if (!rc)
		rc = load_list(o, "models", "kids", false, &r->kids, err, errlen);
	if (!rc)
		rc = load_list(o, "models", "header_sha256", false, &r->digests, err, errlen);
	cJSON_Delete(o);
	free(text);
	if (rc) {
		keyd_revoked_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static const char *find(char **l, const char *s, bool icase)
{
	for (size_t i = 0; l && l[i]; i++)
		if (icase ? !strcasecmp(l[i], s) : !strcmp(l[i], s))
			return l[i];
	return NULL;
}

const char *keyd_revoked_machine(const struct keyd_revoked *r, const struct keyd_client *c)
{
	char serial[sizeof(c->serial)];

	snprintf(serial, sizeof(serial), "%s", c->serial);
	norm_serial(serial);
	if (*serial && find(r->serials, serial, true))
		return "serial";
	if (*c->subject && find(r->subjects, c->subject, false))
		return "subject";
	return NULL;
}

const char *keyd_revoked_model(const struct keyd_revoked *r, const char *kid, const char *sha)
{
	if (find(r->kids, kid, false))
		return "kid";
	if (find(r->digests, sha, true))
		return "header digest";
	return NULL;
}

static int load_data(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	cJSON *o;
	int rc;

	if (!path) {
		*out = strdup("{}");
		*len = 2;
		return *out ? 0 : -ENOMEM;
	}
	rc = read_file(path, out, len);
	if (rc) {
		ctfs_seterr(err, errlen, "%s", strerror(-rc));
		return rc;
	}
	o = cJSON_ParseWithLength(*out, *len);
	rc = cJSON_IsObject(o) ? 0 : -EINVAL;
	cJSON_Delete(o);
	if (rc) {
		ctfs_seterr(err, errlen, "not a JSON object");
		free(*out);
		*out = NULL;
	}
	return rc;
}

int keyd_reload(struct keyd *d)
{
	struct keyd_reloadable next = { 0 }, old;
	char err[256] = "";
	int rc = keyd_revoked_load(d->revoked_path, &next.rev, err, sizeof(err));

	if (rc) {
		ctfs_err("--revoked %s: %s", d->revoked_path, err);
		return rc;
	}
	rc = load_data(d->data_path, &next.data, &next.data_len, err, sizeof(err));
	if (rc) {
		ctfs_err("--data %s: %s", d->data_path, err);
		keyd_revoked_free(next.rev);
		return rc;
	}
	pthread_rwlock_wrlock(&d->lock);
	old = d->cur;
	d->cur = next;
	pthread_rwlock_unlock(&d->lock);
	keyd_revoked_free(old.rev);
	free(old.data);
	return 0;
}
