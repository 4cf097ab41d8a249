/* TGSP packages in the mount: SOURCE/.../X.tgsp is shown as the directory
 * X/ holding the packaged tree, read-only, decrypted on demand.
 *
 * A package is opened (every check of tgsp/tgsp.h, then the index pass) on
 * the first access below X/, and kept in the registry while its file keeps
 * its identity. A refused package still shows X/ in its parent, but
 * everything below it fails with the error of the failed check (EBADMSG
 * integrity, EACCES policy, ENOKEY keys), logged with the package and the
 * check. Integrity failures stick to that file identity; policy and key
 * failures are retried after RETRY_SECONDS, so keys provisioned later are
 * picked up.
 *
 * Keys: recipient secret keys are the keyring keys "ctfs:tgsp:<recipient_id>";
 * trusted signers come from -o tgsp_trust=FILE|DIR and from the keyring keys
 * "ctfs:tgsp-signer:<key_id>". */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sys/beneath.h"
#include "trust/tgsp_rollback.h"
#include "view/internal.h"

#define RETRY_SECONDS 2
/* registry cost of a package beyond its index: container and frame state */
#define PKG_BASE_COST (64u << 10)

struct ctfs_pkg {
	struct ctfs_tgsp *t;
	atomic_int open_files;
};

struct member_handle {
	struct ctfs_handle base;
	struct ctfs_view *v;
	struct ctfs_entry *e;		/* the package's entry, held */
	const struct ctfs_tar_entry *te;
};

/* --- opening packages ------------------------------------------------------ */

static int recipient_key(void *arg, const char *recipient_id, struct ctfs_tgsp_enc_sec **key)
{
	const struct ctfs_view *v = arg;
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
	const struct ctfs_view *v = arg;
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

static void log_opened(const struct ctfs_entry *e, struct ctfs_tgsp *t)
{
	const struct ctfs_tgsp_container *c = ctfs_tgsp_container(t);
	const struct ctfs_tar_index *ix = ctfs_tgsp_index(t);

	ctfs_info("tgsp %s: opened: %zu entries, %" PRIu64 " frame(s), signer %s, index %zu KiB",
		  e->bpath, ctfs_tar_count(ix) - 1, c->n_frames, c->signer_origin,
		  ctfs_tgsp_index_bytes(t) >> 10);
	if (ctfs_tar_skipped(ix))
		ctfs_warn("tgsp %s: %zu special member(s) (devices, FIFOs...) not shown", e->bpath,
			  ctfs_tar_skipped(ix));
}

/* Open the package of e; called with e->load_lock held. -ESTALE when the
 * file in SOURCE is no longer the one e describes. */
static int open_pkg(struct ctfs_view *v, struct ctfs_entry *e)
{
	struct ctfs_tgsp_open_opts o = {
		.trust = &v->trust, .fleet = v->fleet, .now = time(NULL),
		.recipient_key = recipient_key, .signer_key = signer_key, .arg = v,
	};
	struct ctfs_pkg *p = calloc(1, sizeof(*p));
	char err[512] = "";
	struct stat st;
	int fd, rc;

	if (!p)
		return -ENOMEM;
	rc = ctfs_beneath_open(v->src_fd, e->bpath, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, &fd);
	if (!rc) {
		rc = fstat(fd, &st) ? -errno : ctfs_same_file(&st, &e->id) ? 0 : -ESTALE;
		if (!rc)
			rc = ctfs_tgsp_open(fd, e->bpath, &o, &p->t, err, sizeof(err));
		close(fd);
	}
	if (rc) {
		if (rc != -ESTALE)
			ctfs_err("tgsp %s: refused (%s): %s", e->bpath, errname(rc),
				 *err ? err : strerror(-rc));
		free(p);
		return rc;
	}
	atomic_init(&p->open_files, 0);
	e->pkg = p;
	ctfs_registry_set_cost(v->reg, e, PKG_BASE_COST + ctfs_tgsp_index_bytes(p->t));
	log_opened(e, p->t);
	return 0;
}

/* The entry of the package at t, held and opened. */
static int get_pkg(struct ctfs_view *v, const struct ctfs_target *t, struct ctfs_entry **out)
{
	time_t now = time(NULL);
	struct ctfs_entry *e;
	int rc = ctfs_registry_get(v->reg, CTFS_ENTRY_PKG, &t->st, t->bpath, &e);

	if (rc)
		return rc;
	pthread_mutex_lock(&e->load_lock);
	if (e->pkg) {
		rc = 0;
	} else if (e->err && (e->err == -EBADMSG || now - e->err_at < RETRY_SECONDS)) {
		rc = e->err;
	} else {
		rc = open_pkg(v, e);
		e->err = rc == -ESTALE ? 0 : rc;
		e->err_at = now;
	}
	pthread_mutex_unlock(&e->load_lock);
	if (rc) {
		ctfs_registry_put(v->reg, e);
		return rc;
	}
	*out = e;
	return 0;
}

void ctfs_vpkg_drop(struct ctfs_view *v, struct ctfs_entry *e)
{
	(void)v;
	if (!e->pkg)
		return;
	ctfs_tgsp_close(e->pkg->t);
	free(e->pkg);
}

/* --- operations ------------------------------------------------------------ */

/* The member at t, with its package's entry held. */
static int lookup(struct ctfs_view *v, const struct ctfs_target *t, struct ctfs_entry **e,
		  const struct ctfs_tar_entry **te)
{
	int rc = get_pkg(v, t, e);

	if (rc)
		return rc;
	*te = ctfs_tar_lookup(ctfs_tgsp_index((*e)->pkg->t), t->inner);
	if (!*te) {
		ctfs_registry_put(v->reg, *e);
		return -ENOENT;
	}
	return 0;
}

static void fill_stat(struct stat *st, const struct stat *pkg_st, const struct ctfs_tar_entry *te)
{
	*st = *pkg_st;
	st->st_nlink = 1;
	st->st_size = 0;
	switch (te->type) {
	case CTFS_TAR_DIR:
		st->st_mode = S_IFDIR | (te->mode & 0555);
		st->st_nlink = 2;
		break;
	case CTFS_TAR_SYMLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)strlen(te->link);
		break;
	case CTFS_TAR_FILE:
		st->st_mode = S_IFREG | (te->mode & 0555);
		st->st_size = (off_t)te->size;
		break;
	}
	st->st_blocks = (blkcnt_t)(((uint64_t)st->st_size + 511) / 512);
}

int ctfs_vpkg_getattr(struct ctfs_view *v, const struct ctfs_target *t, struct stat *st)
{
	const struct ctfs_tar_entry *te;
	struct ctfs_entry *e;
	int rc;

	if (t->kind == CTFS_TARGET_PKG_ROOT) {
		/* the package's own directory, shown without opening it */
		*st = t->st;
		st->st_mode = S_IFDIR | (t->st.st_mode & 0444) | ((t->st.st_mode & 0444) >> 2);
		st->st_nlink = 2;
		st->st_size = 0;
		st->st_blocks = 0;
		return 0;
	}
	rc = lookup(v, t, &e, &te);
	if (rc)
		return rc;
	fill_stat(st, &t->st, te);
	ctfs_registry_put(v->reg, e);
	return 0;
}

int ctfs_vpkg_readdir(struct ctfs_view *v, const struct ctfs_target *t, ctfs_view_fill_fn fill,
		      void *arg)
{
	const struct ctfs_tar_entry *te;
	const struct ctfs_tar_index *ix;
	struct ctfs_entry *e;
	int rc = lookup(v, t, &e, &te);

	if (rc)
		return rc;
	if (te->type != CTFS_TAR_DIR) {
		ctfs_registry_put(v->reg, e);
		return -ENOTDIR;
	}
	ix = ctfs_tgsp_index(e->pkg->t);
	if (!fill(arg, ".") && !fill(arg, "..")) {
		for (size_t i = te->first_child; i != CTFS_TAR_NONE; i = ctfs_tar_at(ix, i)->next_sibling) {
			if (fill(arg, ctfs_tar_at(ix, i)->name))
				break;
		}
	}
	ctfs_registry_put(v->reg, e);
	return 0;
}

int ctfs_vpkg_readlink(struct ctfs_view *v, const struct ctfs_target *t, char *buf, size_t size)
{
	const struct ctfs_tar_entry *te;
	struct ctfs_entry *e;
	int rc = lookup(v, t, &e, &te);

	if (rc)
		return rc;
	if (te->type != CTFS_TAR_SYMLINK)
		rc = -EINVAL;
	else
		snprintf(buf, size, "%s", te->link);
	ctfs_registry_put(v->reg, e);
	return rc;
}

static ssize_t member_read(struct ctfs_handle *h, uint8_t *buf, size_t size, uint64_t off)
{
	struct member_handle *mh = (struct member_handle *)h;
	ssize_t n = ctfs_tgsp_read(mh->e->pkg->t, mh->te, buf, size, off);

	return n < 0 ? -EIO : n;
}

static void member_release(struct ctfs_handle *h)
{
	struct member_handle *mh = (struct member_handle *)h;

	/* the last reader gone: read streams give back their frame buffers */
	if (atomic_fetch_sub(&mh->e->pkg->open_files, 1) == 1)
		ctfs_tgsp_trim(mh->e->pkg->t);
	ctfs_registry_put(mh->v->reg, mh->e);
	free(mh);
}

static const struct ctfs_handle_ops member_ops = { member_read, member_release };

int ctfs_vpkg_open(struct ctfs_view *v, const struct ctfs_target *t,
		   const struct ctfs_caller *who, struct ctfs_handle **h, bool *keep_cache)
{
	const struct ctfs_tar_entry *te;
	struct member_handle *mh;
	struct ctfs_entry *e;
	char err[256];
	int rc;

	(void)who;
	if (t->kind == CTFS_TARGET_PKG_ROOT)
		return -EISDIR;
	rc = lookup(v, t, &e, &te);
	if (rc)
		return rc;
	if (te->type != CTFS_TAR_FILE) {
		rc = te->type == CTFS_TAR_DIR ? -EISDIR : -ELOOP;
		goto fail;
	}
	/* the validity window and anti-rollback are checked again at every open */
	rc = ctfs_tgsp_policy_check(&ctfs_tgsp_container(e->pkg->t)->policy, v->fleet, time(NULL),
				    err, sizeof(err));
	if (!rc)
		rc = ctfs_trust_tgsp_rollback(v->keys.trust, ctfs_tgsp_container(e->pkg->t), err,
					      sizeof(err));
	if (rc) {
		ctfs_err("tgsp %s: refused (%s): %s", e->bpath, errname(rc), err);
		goto fail;
	}
	mh = malloc(sizeof(*mh));
	if (!mh) {
		rc = -ENOMEM;
		goto fail;
	}
	mh->base.ops = &member_ops;
	mh->v = v;
	mh->e = e;
	mh->te = te;
	atomic_fetch_add(&e->pkg->open_files, 1);
	*keep_cache = atomic_exchange(&e->served, true);
	*h = &mh->base;
	return 0;
fail:
	ctfs_registry_put(v->reg, e);
	return rc;
}
