/* The mount view's operations: each resolves the mount path (names.c) and
 * hands the target to the files or packages part. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct/chunk_cache.h"
#include "metrics/metrics.h"
#include "sys/beneath.h"
#include "util.h"
#include "view/internal.h"

static void drop_entry(void *arg, struct ctfs_entry *e)
{
	if (e->kind == CTFS_ENTRY_PKG)
		ctfs_vpkg_drop(arg, e);
	else
		ctfs_vfile_drop(arg, e);
}

int ctfs_view_new(const struct ctfs_view_opts *o, struct ctfs_view **out, char *err,
		  size_t errlen)
{
	struct ctfs_view *v = calloc(1, sizeof(*v));
	int rc = -ENOMEM;

	if (!v)
		return -ENOMEM;
	v->src_fd = -1;
	v->ring = o->ring;
	v->usage = o->usage;
	ctfs_keyprov_keyring(&v->keys, o->ring);
	v->keys.unbound = o->unbound;
	v->keys.trust = o->trust;
	if (!(v->source = realpath(o->source, NULL)) ||
	    (v->src_fd = open(v->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		ctfs_seterr(err, errlen, "cannot open source directory '%s': %s", o->source,
			    strerror(errno));
		goto fail;
	}
	if ((o->fleet && !(v->fleet = strdup(o->fleet))) ||
	    ctfs_cache_new(o->cache_size, &v->cache) ||
	    ctfs_registry_new(o->header_cache, drop_entry, v, &v->reg)) {
		rc = -ENOMEM;
		ctfs_seterr(err, errlen, "out of memory");
		goto fail;
	}
	rc = ctfs_view_access_init(v, o, err, errlen);
	if (rc)
		goto fail;
	rc = ctfs_vkeys_init(v, o->keyserver, err, errlen);
	if (rc) {
		if (rc == -ENOMEM)
			ctfs_seterr(err, errlen, "out of memory");
		goto fail;
	}
	if (o->resident && ctfs_resident_new(o->resident, o->resident_grace, v->reg,
					     &v->resident)) {
		rc = -ENOMEM;
		ctfs_seterr(err, errlen, "out of memory");
		goto fail;
	}
	if (o->tgsp_trust) {
		char why[512] = "";

		rc = ctfs_tgsp_trust_load(&v->trust, o->tgsp_trust, why, sizeof(why));
		if (rc) {
			ctfs_seterr(err, errlen, "tgsp_trust: %s", why);
			goto fail;
		}
	}
	*out = v;
	return 0;
fail:
	ctfs_view_free(v);
	return rc;
}

void ctfs_view_free(struct ctfs_view *v)
{
	if (!v)
		return;
	ctfs_resident_free(v->resident);	/* gives its entries back */
	ctfs_registry_free(v->reg);	/* before the cache its entries drop from */
	ctfs_view_access_free(v);
	ctfs_cache_free(v->cache);
	ctfs_tgsp_trust_free(&v->trust);
	ctfs_vkeys_free(v);
	free(v->fleet);
	if (v->src_fd >= 0)
		close(v->src_fd);
	free(v->source);
	free(v);
}

const char *ctfs_view_source(const struct ctfs_view *v)
{
	return v->source;
}

int ctfs_view_set_mountpoint(struct ctfs_view *v, const char *mountpoint)
{
	return v->resident ? ctfs_resident_set_mountpoint(v->resident, mountpoint) : 0;
}

int ctfs_view_getattr(struct ctfs_view *v, const char *path, struct stat *st)
{
	struct ctfs_target t;
	uint64_t size;
	int rc = ctfs_view_resolve(v, path, &t);

	if (rc)
		return rc;
	if (t.kind != CTFS_TARGET_SOURCE)
		return ctfs_vpkg_getattr(v, &t, st);
	*st = t.st;
	st->st_mode &= ~(mode_t)(S_IWUSR | S_IWGRP | S_IWOTH);
	if (!S_ISREG(st->st_mode))
		return 0;
	rc = ctfs_vfile_size(v, &t, &size);
	if (rc)
		return rc;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	return 0;
}

int ctfs_view_readlink(struct ctfs_view *v, const char *path, char *buf, size_t size)
{
	struct ctfs_target t;
	ssize_t n;
	int fd, rc;

	if (size == 0)
		return -EINVAL;
	rc = ctfs_view_resolve(v, path, &t);
	if (rc)
		return rc;
	if (t.kind != CTFS_TARGET_SOURCE)
		return ctfs_vpkg_readlink(v, &t, buf, size);
	rc = ctfs_beneath_open(v->src_fd, t.bpath, O_PATH | O_NOFOLLOW, &fd);
	if (rc)
		return rc;
	n = readlinkat(fd, "", buf, size - 1);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (!rc)
		buf[n] = 0;
	return rc;
}

int ctfs_view_readdir(struct ctfs_view *v, const char *path, ctfs_view_fill_fn fill, void *arg)
{
	char shown[NAME_MAX + 1];
	struct ctfs_target t;
	struct dirent *de;
	DIR *d;
	int fd, rc = ctfs_view_resolve(v, path, &t);

	if (rc)
		return rc;
	if (t.kind != CTFS_TARGET_SOURCE)
		return ctfs_vpkg_readdir(v, &t, fill, arg);
	rc = ctfs_beneath_open(v->src_fd, t.bpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, &fd);
	if (rc)
		return rc;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(d))) {
		ctfs_view_shown_name(dirfd(d), de->d_name, shown, sizeof(shown));
		if (fill(arg, shown))
			break;
	}
	closedir(d);
	return 0;
}

int ctfs_view_statfs(struct ctfs_view *v, struct statvfs *sv)
{
	return fstatvfs(v->src_fd, sv) ? -errno : 0;
}

int ctfs_view_open(struct ctfs_view *v, const char *path, const struct ctfs_caller *who,
		   struct ctfs_handle **h, bool *keep_cache)
{
	struct ctfs_target t;
	int rc = ctfs_view_resolve(v, path, &t);

	if (rc)
		return rc;
	if (t.kind != CTFS_TARGET_SOURCE)
		rc = ctfs_vpkg_open(v, &t, who, h, keep_cache);
	else if (S_ISDIR(t.st.st_mode))
		return -EISDIR;
	else
		rc = ctfs_vfile_open(v, &t, path, who, h, keep_cache);
	ctfs_view_account_open(v, path, t.kind != CTFS_TARGET_SOURCE, who, rc, rc ? NULL : *h);
	return rc;
}

ssize_t ctfs_handle_read(struct ctfs_handle *h, void *buf, size_t size, uint64_t off)
{
	uint64_t t0 = ctfs_metrics_now_ns();
	ssize_t n = h->ops->read(h, buf, size, off);

	ctfs_view_account_read(h, n, t0);
	return n;
}

void ctfs_handle_release(struct ctfs_handle *h)
{
	ctfs_view_account_release(h);
	h->ops->release(h);
}

void ctfs_view_registry_stats(struct ctfs_view *v, size_t *entries, size_t *unused_bytes)
{
	ctfs_registry_stats(v->reg, entries, unused_bytes);
}
