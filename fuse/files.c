/* The table of backing files the mount has looked at. Entries are keyed by
 * backing path and remember the file identity they were built from: a file
 * replaced or rewritten in SOURCE gets a fresh entry, verified again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctfs_fuse.h"
#include "log.h"

#define CT_SUFFIX ".cryptotensors"
#define ST_SUFFIX ".safetensors"

struct entry {
	char *path;
	struct stat st;             /* identity the entry describes */
	uint64_t view_size;
	struct ctfs_model *model;   /* encrypted files only */
	bool served;                /* content handed to the kernel before */
	struct entry *next;
};

struct ctfs_files {
	pthread_mutex_t lock;
	struct entry *head;
};

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && !memcmp(s + len - n, suffix, n);
}

int ctfs_files_resolve(struct ctfs_mount *mt, const char *path, char *bpath, size_t cap,
		       struct stat *st)
{
	const char *rel = path[1] ? path + 1 : ".";
	size_t len = strlen(rel);

	if (len >= cap)
		return -ENAMETOOLONG;
	memcpy(bpath, rel, len + 1);
	if (!fstatat(mt->src_fd, bpath, st, AT_SYMLINK_NOFOLLOW))
		return 0;
	if (errno != ENOENT || !ends_with(rel, len, ST_SUFFIX))
		return -errno;
	/* X.safetensors is the view of X.cryptotensors */
	len -= strlen(ST_SUFFIX);
	if (len + strlen(CT_SUFFIX) >= cap)
		return -ENAMETOOLONG;
	memcpy(bpath + len, CT_SUFFIX, strlen(CT_SUFFIX) + 1);
	if (fstatat(mt->src_fd, bpath, st, AT_SYMLINK_NOFOLLOW))
		return -ENOENT;
	return 0;
}

void ctfs_files_view_name(int dirfd, const char *name, char *out, size_t cap)
{
	size_t len = strlen(name);
	struct stat st;

	snprintf(out, cap, "%s", name);
	if (!ends_with(name, len, CT_SUFFIX) || len - strlen(CT_SUFFIX) + strlen(ST_SUFFIX) >= cap)
		return;
	snprintf(out, cap, "%.*s%s", (int)(len - strlen(CT_SUFFIX)), name, ST_SUFFIX);
	/* a real X.safetensors beside it keeps its name; then show ours as is */
	if (!fstatat(dirfd, out, &st, AT_SYMLINK_NOFOLLOW))
		snprintf(out, cap, "%s", name);
}

static struct entry *find(struct ctfs_files *t, const char *bpath)
{
	for (struct entry *e = t->head; e; e = e->next) {
		if (!strcmp(e->path, bpath))
			return e;
	}
	return NULL;
}

static void drop(struct ctfs_mount *mt, struct ctfs_files *t, struct entry *e)
{
	for (struct entry **pp = &t->head; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	if (e->model) {
		ctfs_cache_drop_uid(mt->cache, e->model->uid);
		ctfs_model_put(e->model);
	}
	free(e->path);
	free(e);
}

/* Load bpath and describe it; called with the table locked. */
static int load_entry(struct ctfs_mount *mt, struct ctfs_files *t, const char *bpath,
		      struct entry **out)
{
	struct entry *e = calloc(1, sizeof(*e));
	struct ctfs_model *m = NULL;
	char err[512] = "";
	int rc;

	if (!e || !(e->path = strdup(bpath))) {
		free(e);
		return -ENOMEM;
	}
	rc = ctfs_model_load(mt->src_fd, bpath, bpath, &m, err, sizeof(err));
	if (rc) {
		ctfs_err("%s: refused: %s", bpath, err);
		free(e->path);
		free(e);
		return rc;
	}
	e->st = m->id;
	e->view_size = m->view_size;
	if (ctfs_model_is_encrypted(m))
		e->model = m;
	else
		ctfs_model_put(m); /* plain files are opened afresh for each open */
	e->next = t->head;
	t->head = e;
	*out = e;
	return 0;
}

/* The current entry for bpath, rebuilt if the file is not the one it describes. */
static int current(struct ctfs_mount *mt, const char *bpath, const struct stat *st,
		   struct entry **out)
{
	struct ctfs_files *t = mt->files;
	struct entry *e = find(t, bpath);

	if (e && ctfs_same_file(&e->st, st)) {
		*out = e;
		return 0;
	}
	if (e)
		drop(mt, t, e);
	return load_entry(mt, t, bpath, out);
}

int ctfs_files_view_size(struct ctfs_mount *mt, const char *bpath, const struct stat *st,
			 uint64_t *size)
{
	struct entry *e;
	int rc;

	pthread_mutex_lock(&mt->files->lock);
	rc = current(mt, bpath, st, &e);
	if (!rc)
		*size = e->view_size;
	pthread_mutex_unlock(&mt->files->lock);
	return rc;
}

int ctfs_files_open(struct ctfs_mount *mt, const char *bpath, struct ctfs_model **m,
		    bool *keep_cache)
{
	struct entry *e;
	struct stat st;
	char err[512] = "";
	int rc;

	if (fstatat(mt->src_fd, bpath, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	pthread_mutex_lock(&mt->files->lock);
	rc = current(mt, bpath, &st, &e);
	if (!rc) {
		*keep_cache = e->served;
		e->served = true;
		*m = e->model ? ctfs_model_get(e->model) : NULL;
	}
	pthread_mutex_unlock(&mt->files->lock);
	if (rc)
		return rc;
	if (!*m) /* plain: a fresh pass-through of whatever the file is now */
		return ctfs_model_load(mt->src_fd, bpath, bpath, m, err, sizeof(err));
	rc = ctfs_model_unlock(*m, &mt->keys, err, sizeof(err));
	if (rc) {
		ctfs_err("%s: refused: %s", bpath, err);
		ctfs_model_put(*m);
		*m = NULL;
	}
	return rc;
}

int ctfs_files_new(struct ctfs_files **out)
{
	struct ctfs_files *t = calloc(1, sizeof(*t));

	if (!t || pthread_mutex_init(&t->lock, NULL)) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void ctfs_files_free(struct ctfs_mount *mt, struct ctfs_files *t)
{
	if (!t)
		return;
	while (t->head)
		drop(mt, t, t->head);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
