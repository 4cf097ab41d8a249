/* TGSP packages in the mount: SOURCE/.../X.tgsp is shown as the directory
 * X/ holding the packaged tree, read-only, decrypted on demand.
 *
 * A package is opened (every check of src/tgsp.h, then the index pass) on
 * the first access below X/, and kept while its backing file keeps its
 * identity. A refused package still shows X/ in its parent, but everything
 * below it fails with the error of the failed check (EBADMSG integrity,
 * EACCES policy, ENOKEY keys), logged once with the package and the check.
 * Integrity failures stick to that file identity; policy and key failures
 * are retried after RETRY_SECONDS, so keys provisioned later are picked up.
 *
 * Keys: recipient secret keys are the keyring keys "ctfs:tgsp:<recipient_id>";
 * trusted signers come from -o tgsp_trust=FILE|DIR and from the keyring keys
 * "ctfs:tgsp-signer:<key_id>". */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctfs_fuse.h"
#include "log.h"
#include "tgsp/tgsp.h"

#define SUFFIX ".tgsp"
#define RETRY_SECONDS 2
/* fi->fh of an open package member has its low bit set (pointers to the
 * daemon's own structures are at least 8-byte aligned) */
#define HANDLE_TAG 1u

struct pkg {
	atomic_int refs;
	atomic_int open_files;
	struct ctfs_tgsp *t;
	char *bpath;
	atomic_bool served;		/* content handed to the kernel before */
};

struct slot {
	char *bpath;
	struct stat id;			/* identity the slot describes */
	pthread_mutex_t lock;		/* held while the package opens */
	struct pkg *pkg;
	int err;			/* the cached refusal, or 0 */
	time_t err_at;
	struct slot *next;
};

struct ctfs_tgsp_view {
	pthread_mutex_t lock;
	struct slot *head;
	struct ctfs_tgsp_trust trust;
	char *fleet;
	key_serial_t ring;
};

struct handle {
	struct pkg *pkg;
	const struct ctfs_tar_entry *e;
};

static void pkg_put(struct pkg *p)
{
	if (p && atomic_fetch_sub(&p->refs, 1) == 1) {
		ctfs_tgsp_close(p->t);
		free(p->bpath);
		free(p);
	}
}

/* --- setup -------------------------------------------------------------- */

int ctfs_tgspv_new(const char *trust, const char *fleet, key_serial_t ring,
		   struct ctfs_tgsp_view **out)
{
	struct ctfs_tgsp_view *v = calloc(1, sizeof(*v));
	char err[512] = "";
	int rc;

	if (!v || pthread_mutex_init(&v->lock, NULL)) {
		free(v);
		return -ENOMEM;
	}
	v->ring = ring;
	if (fleet && !(v->fleet = strdup(fleet))) {
		ctfs_tgspv_free(v);
		return -ENOMEM;
	}
	if (trust) {
		rc = ctfs_tgsp_trust_load(&v->trust, trust, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "ctfs: tgsp_trust: %s\n", err);
			ctfs_tgspv_free(v);
			return rc;
		}
	}
	*out = v;
	return 0;
}

void ctfs_tgspv_free(struct ctfs_tgsp_view *v)
{
	if (!v)
		return;
	while (v->head) {
		struct slot *s = v->head;

		v->head = s->next;
		pkg_put(s->pkg);
		pthread_mutex_destroy(&s->lock);
		free(s->bpath);
		free(s);
	}
	ctfs_tgsp_trust_free(&v->trust);
	free(v->fleet);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/* --- names ----------------------------------------------------------------- */

void ctfs_tgspv_view_name(int dirfd, const char *name, char *out, size_t cap)
{
	size_t len = strlen(name), n = strlen(SUFFIX);
	struct stat st;
	char stem[NAME_MAX + 1];

	if (len <= n || strcmp(name + len - n, SUFFIX) || len - n >= sizeof(stem) ||
	    strcmp(out, name))
		return;
	memcpy(stem, name, len - n);
	stem[len - n] = 0;
	/* a real X beside X.tgsp keeps its name, and the package shows as a file */
	if (fstatat(dirfd, stem, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode) ||
	    len - n >= cap)
		return;
	memcpy(out, stem, len - n + 1);
}

/* Is the mount path inside a package? 1 with bpath ("dir/X.tgsp") and
 * *inner ("" for X/ itself, else "a/b"); 0 when the path is not. Only a
 * path that does not exist in SOURCE can be: its first missing component
 * must be X with a regular X.tgsp beside it. */
static int locate(struct ctfs_mount *mt, const char *path, char *bpath, size_t cap,
		  const char **inner, struct stat *pst)
{
	const char *rel = path[1] ? path + 1 : NULL;
	struct stat st;

	if (!rel || !fstatat(mt->src_fd, rel, &st, AT_SYMLINK_NOFOLLOW))
		return 0;
	if (errno != ENOENT)
		return 0;
	for (size_t i = 0;; i++) {
		if (rel[i] && rel[i] != '/')
			continue;
		if (i + strlen(SUFFIX) >= cap)
			return 0;
		memcpy(bpath, rel, i);
		bpath[i] = 0;
		if (!fstatat(mt->src_fd, bpath, &st, AT_SYMLINK_NOFOLLOW)) {
			if (!S_ISDIR(st.st_mode) || !rel[i])
				return 0;
			continue;
		}
		memcpy(bpath + i, SUFFIX, strlen(SUFFIX) + 1);
		if (fstatat(mt->src_fd, bpath, pst, AT_SYMLINK_NOFOLLOW) || !S_ISREG(pst->st_mode))
			return 0;
		*inner = rel[i] ? rel + i + 1 : rel + i;
		return 1;
	}
}

/* --- opening packages -------------------------------------------------------- */

static int recipient_key(void *arg, const char *recipient_id, struct ctfs_tgsp_enc_sec **key)
{
	const struct ctfs_tgsp_view *v = arg;
	char why[256] = "";
	int rc = ctfs_tgsp_keyring_recipient(v->ring, recipient_id, key, why, sizeof(why));

	if (rc && rc != -ENOKEY)
		ctfs_warn("keyring key " CTFS_TGSP_KEYRING_RECIPIENT "%s cannot be used: %s",
			  recipient_id, *why ? why : strerror(-rc));
	return rc;
}

static int signer_key(void *arg, const char *key_id, struct ctfs_tgsp_sign_pub *pub,
		      char *origin, size_t originlen)
{
	const struct ctfs_tgsp_view *v = arg;
	char why[256] = "";
	int rc = ctfs_tgsp_keyring_signer(v->ring, key_id, pub, why, sizeof(why));

	if (!rc)
		snprintf(origin, originlen, "keyring key " CTFS_TGSP_KEYRING_SIGNER "%s", key_id);
	else if (rc != -ENOKEY)
		ctfs_warn("keyring key " CTFS_TGSP_KEYRING_SIGNER "%s cannot be used: %s", key_id,
			  *why ? why : strerror(-rc));
	return rc;
}

static const char *errname(int rc)
{
	switch (rc) {
	case -EBADMSG: return "EBADMSG";
	case -EACCES: return "EACCES";
	case -ENOKEY: return "ENOKEY";
	default: return "error";
	}
}

/* Open bpath; called with the slot locked. */
static int open_pkg(struct ctfs_mount *mt, struct slot *s)
{
	struct ctfs_tgsp_view *v = mt->tgsp;
	struct ctfs_tgsp_open_opts o = {
		.trust = &v->trust, .fleet = v->fleet, .now = time(NULL),
		.recipient_key = recipient_key, .signer_key = signer_key, .arg = v,
	};
	const struct ctfs_tgsp_container *c;
	struct ctfs_tgsp *t;
	struct pkg *p;
	char err[512] = "";
	int fd = openat(mt->src_fd, s->bpath, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = ctfs_tgsp_open(fd, s->bpath, &o, &t, err, sizeof(err));
	close(fd);
	if (rc) {
		ctfs_err("tgsp %s: refused (%s): %s", s->bpath, errname(rc), err);
		return rc;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->bpath = strdup(s->bpath))) {
		free(p);
		ctfs_tgsp_close(t);
		return -ENOMEM;
	}
	atomic_init(&p->refs, 1);
	p->t = t;
	s->pkg = p;
	c = ctfs_tgsp_container(t);
	ctfs_info("tgsp %s: opened: %zu entries, %" PRIu64 " frame(s), signer %s, index %zu KiB",
		  s->bpath, ctfs_tar_count(ctfs_tgsp_index(t)) - 1, c->n_frames, c->signer_origin,
		  ctfs_tgsp_index_bytes(t) >> 10);
	if (ctfs_tar_skipped(ctfs_tgsp_index(t)))
		ctfs_warn("tgsp %s: %zu special member(s) (devices, FIFOs...) not shown", s->bpath,
			  ctfs_tar_skipped(ctfs_tgsp_index(t)));
	return 0;
}

static struct slot *find_slot(struct ctfs_tgsp_view *v, const char *bpath)
{
	struct slot *s;

	pthread_mutex_lock(&v->lock);
	for (s = v->head; s && strcmp(s->bpath, bpath); s = s->next)
		;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		s->bpath = strdup(bpath);
		if (!s->bpath || pthread_mutex_init(&s->lock, NULL)) {
			free(s->bpath);
			free(s);
			s = NULL;
		} else {
			s->next = v->head;
			v->head = s;
		}
	}
	pthread_mutex_unlock(&v->lock);
	return s;
}

/* A reference to the open package of bpath (whose stat is st). */
static int get_pkg(struct ctfs_mount *mt, const char *bpath, const struct stat *st,
		   struct pkg **out)
{
	struct slot *s = find_slot(mt->tgsp, bpath);
	time_t now = time(NULL);
	int rc;

	if (!s)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	if (!ctfs_same_file(&s->id, st)) {
		pkg_put(s->pkg);	/* open files keep their own reference */
		s->pkg = NULL;
		s->err = 0;
		s->id = *st;
	}
	if (!s->pkg && s->err && (s->err == -EBADMSG || now - s->err_at < RETRY_SECONDS)) {
		rc = s->err;
	} else if (!s->pkg) {
		rc = open_pkg(mt, s);
		s->err = rc;
		s->err_at = now;
	} else {
		rc = 0;
	}
	if (!rc) {
		atomic_fetch_add(&s->pkg->refs, 1);
		*out = s->pkg;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* --- operations ---------------------------------------------------------------- */

static void fill_stat(struct stat *st, const struct stat *pkg_st, const struct ctfs_tar_entry *e)
{
	*st = *pkg_st;
	st->st_nlink = 1;
	st->st_size = 0;
	switch (e->type) {
	case CTFS_TAR_DIR:
		st->st_mode = S_IFDIR | (e->mode & 0555);
		st->st_nlink = 2;
		break;
	case CTFS_TAR_SYMLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)strlen(e->link);
		break;
	case CTFS_TAR_FILE:
		st->st_mode = S_IFREG | (e->mode & 0555);
		st->st_size = (off_t)e->size;
		break;
	}
	st->st_blocks = (blkcnt_t)(((uint64_t)st->st_size + 511) / 512);
}

/* The entry for the path below a package, with a package reference. */
static int lookup(struct ctfs_mount *mt, const char *path, struct pkg **p,
		  const struct ctfs_tar_entry **e, struct stat *pst)
{
	char bpath[PATH_MAX];
	const char *inner;
	int rc = locate(mt, path, bpath, sizeof(bpath), &inner, pst);

	if (rc <= 0)
		return CTFS_TGSPV_PASS;
	rc = get_pkg(mt, bpath, pst, p);
	if (rc)
		return rc;
	*e = ctfs_tar_lookup(ctfs_tgsp_index((*p)->t), inner);
	if (!*e) {
		pkg_put(*p);
		return -ENOENT;
	}
	return 0;
}

int ctfs_tgspv_getattr(struct ctfs_mount *mt, const char *path, struct stat *st)
{
	char bpath[PATH_MAX];
	const struct ctfs_tar_entry *e;
	const char *inner;
	struct stat pst;
	struct pkg *p;
	int rc;

	if (locate(mt, path, bpath, sizeof(bpath), &inner, &pst) <= 0)
		return CTFS_TGSPV_PASS;
	if (!*inner) {
		/* the package's own directory, shown without opening it */
		*st = pst;
		st->st_mode = S_IFDIR | (pst.st_mode & 0444) | ((pst.st_mode & 0444) >> 2);
		st->st_nlink = 2;
		st->st_size = 0;
		st->st_blocks = 0;
		return 0;
	}
	rc = lookup(mt, path, &p, &e, &pst);
	if (rc)
		return rc;
	fill_stat(st, &pst, e);
	pkg_put(p);
	return 0;
}

int ctfs_tgspv_readdir(struct ctfs_mount *mt, const char *path, void *buf, fuse_fill_dir_t fill)
{
	const struct ctfs_tar_index *ix;
	const struct ctfs_tar_entry *e;
	struct stat pst;
	struct pkg *p;
	int rc = lookup(mt, path, &p, &e, &pst);

	if (rc)
		return rc;
	if (e->type != CTFS_TAR_DIR) {
		pkg_put(p);
		return -ENOTDIR;
	}
	ix = ctfs_tgsp_index(p->t);
	if (!fill(buf, ".", NULL, 0, 0) && !fill(buf, "..", NULL, 0, 0)) {
		for (size_t i = e->first_child; i != CTFS_TAR_NONE; i = ctfs_tar_at(ix, i)->next_sibling) {
			if (fill(buf, ctfs_tar_at(ix, i)->name, NULL, 0, 0))
				break;
		}
	}
	pkg_put(p);
	return 0;
}

int ctfs_tgspv_readlink(struct ctfs_mount *mt, const char *path, char *buf, size_t size)
{
	const struct ctfs_tar_entry *e;
	struct stat pst;
	struct pkg *p;
	int rc = lookup(mt, path, &p, &e, &pst);

	if (rc)
		return rc;
	if (e->type != CTFS_TAR_SYMLINK)
		rc = -EINVAL;
	else
		snprintf(buf, size, "%s", e->link);
	pkg_put(p);
	return rc;
}

int ctfs_tgspv_open(struct ctfs_mount *mt, const char *path, struct fuse_file_info *fi)
{
	const struct ctfs_tar_entry *e;
	struct handle *h;
	struct stat pst;
	struct pkg *p;
	char err[256];
	int rc = lookup(mt, path, &p, &e, &pst);

	if (rc)
		return rc;
	if (e->type != CTFS_TAR_FILE) {
		pkg_put(p);
		return e->type == CTFS_TAR_DIR ? -EISDIR : -ELOOP;
	}
	/* the validity window is checked again at every open */
	rc = ctfs_tgsp_policy_check(&ctfs_tgsp_container(p->t)->policy, mt->tgsp->fleet,
				    time(NULL), err, sizeof(err));
	if (rc) {
		ctfs_err("tgsp %s: refused (%s): %s", p->bpath, errname(rc), err);
		pkg_put(p);
		return rc;
	}
	h = malloc(sizeof(*h));
	if (!h) {
		pkg_put(p);
		return -ENOMEM;
	}
	h->pkg = p;
	h->e = e;
	atomic_fetch_add(&p->open_files, 1);
	fi->keep_cache = atomic_exchange(&p->served, true);
	fi->fh = (uintptr_t)h | HANDLE_TAG;
	return 0;
}

bool ctfs_tgspv_is_handle(uint64_t fh)
{
	return (fh & HANDLE_TAG) != 0;
}

int ctfs_tgspv_read(uint64_t fh, char *buf, size_t size, off_t off)
{
	struct handle *h = (struct handle *)(uintptr_t)(fh & ~(uint64_t)HANDLE_TAG);
	ssize_t n;

	if (off < 0)
		return -EINVAL;
	n = ctfs_tgsp_read(h->pkg->t, h->e, (uint8_t *)buf, size, (uint64_t)off);
	if (n < 0)
		return -EIO;
	return n > INT_MAX ? -EIO : (int)n;
}

void ctfs_tgspv_release(uint64_t fh)
{
	struct handle *h = (struct handle *)(uintptr_t)(fh & ~(uint64_t)HANDLE_TAG);

	/* the last reader gone: read streams give back their frame buffers */
	if (atomic_fetch_sub(&h->pkg->open_files, 1) == 1)
		ctfs_tgsp_trim(h->pkg->t);
	pkg_put(h->pkg);
	free(h);
}
