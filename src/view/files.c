/* Regular files of SOURCE in the mount: CryptoTensors files served as
 * their plaintext view, everything else passed through. The registry keeps
 * each file's parsed header (or the verdict "plain") by file identity, so a
 * file replaced in SOURCE is examined and verified afresh. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct/chunk_cache.h"
#include "ct/model.h"
#include "log.h"
#include "policy/rego.h"
#include "sys/beneath.h"
#include "view/internal.h"

/* Estimated memory of an unused entry: a plain verdict is a few hundred
 * bytes; a parsed header costs several times its text (tensor table, crypto
 * entries, the view's header). */
#define PLAIN_COST 256u
#define HEADER_COST_FACTOR 4u

struct model_handle {
	struct ctfs_handle base;
	struct ctfs_view *v;
	struct ctfs_entry *e;		/* encrypted: the entry, held */
	struct ctfs_model *m;
	struct ctfs_rcopy *rc;		/* served from its resident copy, or NULL */
	bool lazy_wanted;		/* wanted resident, served lazily */
};

/* Open bpath for reading: regular files only, without blocking (a FIFO
 * swapped in must not hang the thread). */
static int open_regular(const struct ctfs_view *v, const char *bpath, int *fd, struct stat *st)
{
	int rc = ctfs_beneath_open(v->src_fd, bpath, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, fd);

	if (rc)
		return rc;
	if (fstat(*fd, st) || !S_ISREG(st->st_mode)) {
		rc = S_ISREG(st->st_mode) ? -errno : -EACCES;
		close(*fd);
	}
	return rc;
}

/* Examine the file behind e (fd is its open descriptor, consumed).
 * Called with e->load_lock held. */
static int load(struct ctfs_view *v, struct ctfs_entry *e, int fd)
{
	struct ctfs_model *m;
	char err[512] = "";
	int rc = ctfs_model_load_fd(fd, e->bpath, &m, err, sizeof(err));

	if (rc) {
		ctfs_err("%s: refused: %s", e->bpath, err);
		return rc;
	}
	e->view_size = m->view_size;
	if (ctfs_model_is_encrypted(m)) {
		e->model = m;
		ctfs_registry_set_cost(v->reg, e, m->h->header_len * HEADER_COST_FACTOR);
	} else {
		ctfs_model_put(m); /* plain files are opened afresh at each open */
		ctfs_registry_set_cost(v->reg, e, PLAIN_COST);
	}
	atomic_store(&e->loaded, true);
	return 0;
}

/* The loaded entry for the file open on fd (consumed), held. */
static int entry_for(struct ctfs_view *v, const char *bpath, int fd, const struct stat *st,
		     struct ctfs_entry **out)
{
	struct ctfs_entry *e;
	int rc = ctfs_registry_get(v->reg, CTFS_ENTRY_FILE, st, bpath, &e);

	if (rc) {
		close(fd);
		return rc;
	}
	pthread_mutex_lock(&e->load_lock);
	if (atomic_load(&e->loaded)) {
		close(fd);
	} else {
		rc = load(v, e, fd);
	}
	pthread_mutex_unlock(&e->load_lock);
	if (rc) {
		ctfs_registry_put(v->reg, e);
		return rc;
	}
	*out = e;
	return 0;
}

int ctfs_vfile_size(struct ctfs_view *v, const struct ctfs_target *t, uint64_t *size)
{
	struct ctfs_entry *e;
	struct stat st;
	int fd, rc;

	rc = ctfs_registry_get(v->reg, CTFS_ENTRY_FILE, &t->st, t->bpath, &e);
	if (rc)
		return rc;
	if (atomic_load(&e->loaded)) {
		*size = e->view_size;
		ctfs_registry_put(v->reg, e);
		return 0;
	}
	ctfs_registry_put(v->reg, e);
	rc = open_regular(v, t->bpath, &fd, &st);
	if (!rc)
		rc = entry_for(v, t->bpath, fd, &st, &e);
	if (rc)
		return rc;
	*size = e->view_size;
	ctfs_registry_put(v->reg, e);
	return 0;
}

static ssize_t file_read(struct ctfs_handle *h, uint8_t *buf, size_t size, uint64_t off)
{
	struct model_handle *fh = (struct model_handle *)h;

	if (fh->rc)
		return ctfs_rcopy_read(fh->rc, buf, size, off);
	return ctfs_model_read(fh->m, fh->v->cache, buf, size, off);
}

static void file_release(struct ctfs_handle *h)
{
	struct model_handle *fh = (struct model_handle *)h;

	if (fh->rc)
		ctfs_resident_put(fh->v->resident, fh->rc);
	if (fh->lazy_wanted)
		ctfs_resident_lazy_close(fh->v->resident, fh->e);
	ctfs_model_put(fh->m);
	ctfs_registry_put(fh->v->reg, fh->e);
	free(fh);
}

static const struct ctfs_handle_ops file_ops = { file_read, file_release };

int ctfs_handle_plain_fd(const struct ctfs_handle *h, int *fd, struct stat *id,
			 const char **name)
{
	const struct model_handle *fh = (const struct model_handle *)h;

	/* plain handles hold no entry (see open_plain); package members have
	 * other ops */
	if (h->ops != &file_ops || fh->e || ctfs_model_is_encrypted(fh->m) || fh->m->fd < 0)
		return -ENOENT;
	*fd = fh->m->fd;
	*id = fh->m->id;
	*name = fh->m->name;
	return 0;
}

int ctfs_handle_resident_fd(const struct ctfs_handle *h, int *fd, struct stat *id,
			    const char **name)
{
	const struct model_handle *fh = (const struct model_handle *)h;

	if (h->ops != &file_ops || !fh->rc)
		return -ENOENT;
	ctfs_rcopy_fd(fh->rc, fd, id);
	*name = fh->e->bpath;
	return 0;
}

static int new_handle(struct ctfs_view *v, struct ctfs_entry *e, struct ctfs_model *m,
		      struct ctfs_handle **h)
{
	struct model_handle *fh = calloc(1, sizeof(*fh));

	if (!fh)
		return -ENOMEM;
	fh->base = (struct ctfs_handle){ .ops = &file_ops, .plain = !e };
	fh->v = v;
	fh->e = e;
	fh->m = m;
	*h = &fh->base;
	return 0;
}

/* A handle of a file wanted resident: served from the copy, or lazily
 * when the copy cannot be had; -EIO when the copy failed verification. */
static int attach_resident(struct ctfs_view *v, struct ctfs_entry *e, const char *path,
			   struct model_handle *fh)
{
	int rc = ctfs_resident_get(v->resident, e, e->model, v->cache, path, &fh->rc);

	if (rc == -EIO)
		return rc;
	if (rc == -EBUSY)
		ctfs_debug("%s: open lazily already: this open is served lazily too", path);
	else if (rc)
		ctfs_warn("%s: not made resident (%s): served lazily", path, strerror(-rc));
	fh->lazy_wanted = rc != 0;
	return 0;
}

/* An encrypted file: the entry's model, once the checks allow it (every
 * open, resident or not). */
static int open_encrypted(struct ctfs_view *v, struct ctfs_entry *e, const char *path,
			  const struct ctfs_caller *who, struct ctfs_handle **h)
{
	int rc = ctfs_view_admit(v, e, path, who);

	if (rc)
		return rc;
	rc = new_handle(v, e, ctfs_model_get(e->model), h);
	if (rc) {
		ctfs_model_put(e->model);
		return rc;
	}
	if (v->resident && ctfs_resident_wanted(v->resident, path)) {
		rc = attach_resident(v, e, path, (struct model_handle *)*h);
		if (rc) {
			ctfs_model_put(e->model);
			free(*h);
		}
	}
	return rc;
}

/* A plain file: a fresh pass-through of the file open on fd (consumed). */
static int open_plain(struct ctfs_view *v, const char *bpath, int fd, struct ctfs_handle **h)
{
	struct ctfs_model *m;
	char err[512] = "";
	int rc = ctfs_model_load_fd(fd, bpath, &m, err, sizeof(err));

	if (rc) {
		ctfs_err("%s: refused: %s", bpath, err);
		return rc;
	}
	rc = new_handle(v, NULL, m, h);
	if (rc)
		ctfs_model_put(m);
	return rc;
}

int ctfs_vfile_open(struct ctfs_view *v, const struct ctfs_target *t, const char *path,
		    const struct ctfs_caller *who, struct ctfs_handle **h, bool *keep_cache)
{
	struct ctfs_entry *e;
	struct stat st;
	int fd, dfd, rc = open_regular(v, t->bpath, &fd, &st);

	if (rc)
		return rc;
	/* the entry is built from a duplicate; a plain file is served from fd */
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	rc = dfd < 0 ? -errno : entry_for(v, t->bpath, dfd, &st, &e);
	if (rc) {
		close(fd);
		return rc;
	}
	if (e->model) {
		close(fd);
		rc = open_encrypted(v, e, path, who, h);
	} else {
		rc = open_plain(v, t->bpath, fd, h);
	}
	if (!rc)
		*keep_cache = atomic_exchange(&e->served, true);
	/* an encrypted file's handle keeps the entry (and its header) in use */
	if (rc || !e->model)
		ctfs_registry_put(v->reg, e);
	return rc;
}

void ctfs_vfile_drop(struct ctfs_view *v, struct ctfs_entry *e)
{
	ctfs_rego_free(e->policy);
	if (!e->model)
		return;
	ctfs_cache_drop_uid(v->cache, e->model->uid);
	ctfs_model_put(e->model);
}
