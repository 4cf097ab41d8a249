/* The anti-rollback store: a small text file replaced atomically under a lock. */
#include "trust/rollback.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "sys/atomic_file.h"
#include "trust/thumbprint.h"
#include "util.h"

#define MAGIC "ctfs-rollback 1\n"
#define STORE_MAX ((size_t)CTFS_ROLLBACK_MAX_ENTRIES * (CTFS_MODEL_ID_MAX + 80) + 64)

struct store {
	struct ctfs_rollback_entry *e;
	size_t n;
};

int ctfs_model_id_check(const char *id)
{
	size_t len = id ? strlen(id) : 0;

	if (!len || len > CTFS_MODEL_ID_MAX)
		return -EINVAL;
	for (; *id; id++)
		if ((unsigned char)*id < 0x20 || *id == 0x7f)
			return -EINVAL;
	return 0;
}

void ctfs_rollback_entries_free(struct ctfs_rollback_entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++)
		free(e[i].model_id);
	free(e);
}

/* FILE.lock, created 0600 beside the store, flocked. */
static int lock_store(const char *path, int how, char *err, size_t errlen)
{
	char lock[4096];
	int fd, n = snprintf(lock, sizeof(lock), "%s.lock", path);

	if (n < 0 || (size_t)n >= sizeof(lock))
		return -ENAMETOOLONG;
	fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, how) < 0) {
		int rc = -errno;

		ctfs_seterr(err, errlen, "rollback store %s: cannot lock: %s", path, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}

static int parse_line(char *line, struct ctfs_rollback_entry *e)
{
	char *tab1 = strchr(line, '\t'), *tab2, *end;

	if (!tab1)
		return -EINVAL;
	*tab1 = 0;
	tab2 = strchr(tab1 + 1, '\t');
	if (!tab2 || ctfs_thumbprint_parse(line, e->signer))
		return -EINVAL;
	*tab2 = 0;
	errno = 0;
	e->version = strtoull(tab1 + 1, &end, 10);
	if (errno || end != tab2 || end == tab1 + 1 || tab1[1] == '-' ||
	    e->version > CTFS_VERSION_MAX || ctfs_model_id_check(tab2 + 1))
		return -EINVAL;
	e->model_id = strdup(tab2 + 1);
	return e->model_id ? 0 : -ENOMEM;
}

static int parse_store(char *text, size_t len, struct store *s)
{
	size_t cap = 0;
	char *p = text + strlen(MAGIC), *nl;

	if (len < strlen(MAGIC) || memcmp(text, MAGIC, strlen(MAGIC)) || text[len - 1] != '\n')
		return -EINVAL;
	for (; p < text + len; p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = 0;
		if (s->n == cap) {
			struct ctfs_rollback_entry *g;

			if (cap == CTFS_ROLLBACK_MAX_ENTRIES)
				return -EINVAL;
			cap = cap ? cap * 2 : 16;
			g = realloc(s->e, cap * sizeof(*g));
			if (!g)
				return -ENOMEM;
			s->e = g;
		}
		if (parse_line(p, &s->e[s->n]))
			return -EINVAL;
		s->n++;
	}
	return 0;
}

/* The store's entries; a missing file is an empty store. */
static int read_store(const char *path, struct store *s, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;
	int rc = ctfs_read_file(path, STORE_MAX, &text, &len);

	*s = (struct store){ 0 };
	if (rc == -ENOENT)
		return 0;
	if (!rc) {
		rc = memchr(text, 0, len) ? -EINVAL : parse_store((char *)text, len, s);
		free(text);
	}
	if (rc) {
		ctfs_rollback_entries_free(s->e, s->n);
		*s = (struct store){ 0 };
		ctfs_seterr(err, errlen, "rollback store %s: %s", path,
			    rc == -EINVAL ? "not a ctfs rollback store (or damaged)" : strerror(-rc));
	}
	return rc;
}

static int write_store(const char *path, const struct store *s, char *err, size_t errlen)
{
	struct ctfs_buf b = { 0 };
	struct ctfs_afile f;
	int rc = ctfs_buf_puts(&b, MAGIC);

	for (size_t i = 0; !rc && i < s->n; i++) {
		char tp[CTFS_THUMBPRINT_TEXT];

		ctfs_thumbprint_text(s->e[i].signer, tp);
		rc = ctfs_buf_printf(&b, "%s\t%llu\t%s\n", tp,
				     (unsigned long long)s->e[i].version, s->e[i].model_id);
	}
	if (!rc)
		rc = ctfs_afile_create(&f, path, 0600, err, errlen);
	if (!rc) {
		rc = ctfs_write_full(f.fd, b.data, b.len);
		if (!rc)
			rc = ctfs_afile_commit(&f, err, errlen);
		ctfs_afile_abort(&f);
	}
	ctfs_buf_free(&b);
	if (rc)
		ctfs_seterr(err, errlen, "rollback store %s: cannot write: %s", path, strerror(-rc));
	return rc;
}

static struct ctfs_rollback_entry *find(struct store *s, const uint8_t signer[32],
					const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!memcmp(s->e[i].signer, signer, 32) && !strcmp(s->e[i].model_id, id))
			return &s->e[i];
	return NULL;
}

static int record(const char *path, struct store *s, const uint8_t signer[32],
		  const char *id, uint64_t version, char *err, size_t errlen)
{
	struct ctfs_rollback_entry *g, *e = find(s, signer, id);

	if (e) {
		e->version = version;
		return write_store(path, s, err, errlen);
	}
	if (s->n >= CTFS_ROLLBACK_MAX_ENTRIES) {
		ctfs_seterr(err, errlen, "rollback store %s: full (%u models)", path,
			    CTFS_ROLLBACK_MAX_ENTRIES);
		return -ENOSPC;
	}
	g = realloc(s->e, (s->n + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	s->e = g;
	e = &s->e[s->n];
	memcpy(e->signer, signer, 32);
	e->version = version;
	e->model_id = strdup(id);
	if (!e->model_id)
		return -ENOMEM;
	s->n++;
	return write_store(path, s, err, errlen);
}

int ctfs_rollback_check(const char *path, const uint8_t signer[32], const char *model_id,
			uint64_t version, uint64_t *highest, char *err, size_t errlen)
{
	struct store s;
	struct ctfs_rollback_entry *e;
	int lock, rc;

	if (ctfs_model_id_check(model_id) || version > CTFS_VERSION_MAX)
		return -EINVAL;
	lock = lock_store(path, LOCK_EX, err, errlen);
	if (lock < 0)
		return lock;
	rc = read_store(path, &s, err, errlen);
	e = rc ? NULL : find(&s, signer, model_id);
	if (!rc && e && e->version > version) {
		ctfs_seterr(err, errlen, "model '%s' version %llu is older than version %llu "
			    "already served (rollback refused)", model_id,
			    (unsigned long long)version, (unsigned long long)e->version);
		*highest = e->version;
		rc = -EACCES;
	} else if (!rc && (!e || e->version < version)) {
		rc = record(path, &s, signer, model_id, version, err, errlen);
	}
	if (!rc)
		*highest = version;
	ctfs_rollback_entries_free(s.e, s.n);
	close(lock);
	return rc;
}

/* One decimal part of at most max; *p advanced past it. */
static int version_part(const char **p, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*p = s;
	*out = v;
	return 0;
}

int ctfs_rollback_version_parse(const char *text, uint64_t *out)
{
	const uint64_t limit[3] = { (1ull << 23) - 1, (1ull << 20) - 1, (1ull << 20) - 1 };
	uint64_t part[3] = { 0 }, v;
	const char *p = text;
	size_t n = 0;

	if (!p)
		return -EINVAL;
	if (!strchr(p, '.')) {
		if (version_part(&p, CTFS_VERSION_MAX, &v) || *p)
			return -EINVAL;
		*out = v;
		return 0;
	}
	for (;;) {
		if (n == 3 || version_part(&p, limit[n], &part[n]))
			return -EINVAL;
		n++;
		if (!*p)
			break;
		if (*p++ != '.')
			return -EINVAL;
	}
	*out = part[0] << 40 | part[1] << 20 | part[2];
	return 0;
}

int ctfs_rollback_list(const char *path, struct ctfs_rollback_entry **out, size_t *n,
		       char *err, size_t errlen)
{
	struct store s;
	int lock = lock_store(path, LOCK_SH, err, errlen), rc;

	if (lock < 0)
		return lock;
	rc = read_store(path, &s, err, errlen);
	close(lock);
	*out = s.e;
	*n = s.n;
	return rc;
}

int ctfs_rollback_forget(const char *path, const uint8_t *signer, const char *model_id,
			 size_t *dropped, char *err, size_t errlen)
{
	struct store s;
	size_t kept = 0;
	int lock = lock_store(path, LOCK_EX, err, errlen), rc;

	*dropped = 0;
	if (lock < 0)
		return lock;
	rc = read_store(path, &s, err, errlen);
	for (size_t i = 0; !rc && i < s.n; i++) {
		if (!strcmp(s.e[i].model_id, model_id) &&
		    (!signer || !memcmp(s.e[i].signer, signer, 32))) {
			free(s.e[i].model_id);
			(*dropped)++;
		} else {
			s.e[kept++] = s.e[i];
		}
	}
	if (!rc) {
		s.n = kept;
		if (*dropped)
			rc = write_store(path, &s, err, errlen);
	}
	ctfs_rollback_entries_free(s.e, s.n);
	close(lock);
	return rc;
}
