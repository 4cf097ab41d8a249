/* The name rules of the mount: X.cryptotensors is shown as X.safetensors,
 * a package X.tgsp as the directory X/, unless a real entry of that name is
 * beside it (then both keep their own names). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "sys/beneath.h"
#include "view/internal.h"

#define CT_SUFFIX ".cryptotensors"
#define ST_SUFFIX ".safetensors"
#define PKG_SUFFIX ".tgsp"

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && !memcmp(s + len - n, suffix, n);
}

/* Replace the suffix `from` of name (length len) by `to` in out. */
static bool swap_suffix(const char *name, size_t len, const char *from, const char *to, char *out,
			size_t cap)
{
	size_t stem = len - strlen(from);

	if (!ends_with(name, len, from) || stem + strlen(to) >= cap)
		return false;
	memcpy(out, name, stem);
	memcpy(out + stem, to, strlen(to) + 1);
	return true;
}

void ctfs_view_shown_name(int dirfd, const char *name, char *out, size_t cap)
{
	size_t len = strlen(name);
	struct stat st;

	if (swap_suffix(name, len, CT_SUFFIX, ST_SUFFIX, out, cap) &&
	    fstatat(dirfd, out, &st, AT_SYMLINK_NOFOLLOW))
		return;
	if (swap_suffix(name, len, PKG_SUFFIX, "", out, cap) && *out &&
	    fstatat(dirfd, out, &st, AT_SYMLINK_NOFOLLOW) &&
	    !fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode))
		return;
	snprintf(out, cap, "%s", name);
}

/* Is rel below a package? Its first missing component X must have a
 * regular file X.tgsp beside it; every component before it must be a
 * directory. 1 when it is (t filled), 0 when not, or a negative errno. */
static int locate_package(const struct ctfs_view *v, const char *rel, struct ctfs_target *t)
{
	struct stat st;

	for (size_t i = 0;; i++) {
		int rc;

		if (rel[i] && rel[i] != '/')
			continue;
		if (i + strlen(PKG_SUFFIX) >= sizeof(t->bpath))
			return -ENAMETOOLONG;
		memcpy(t->bpath, rel, i);
		t->bpath[i] = 0;
		rc = ctfs_beneath_lstat(v->src_fd, t->bpath, &st);
		if (!rc) {
			if (!S_ISDIR(st.st_mode) || !rel[i])
				return 0;
			continue;
		}
		if (rc != -ENOENT)
			return rc;
		memcpy(t->bpath + i, PKG_SUFFIX, strlen(PKG_SUFFIX) + 1);
		if (ctfs_beneath_lstat(v->src_fd, t->bpath, &t->st) || !S_ISREG(t->st.st_mode))
			return 0;
		t->kind = rel[i] ? CTFS_TARGET_PKG_MEMBER : CTFS_TARGET_PKG_ROOT;
		t->inner = rel[i] ? rel + i + 1 : "";
		return 1;
	}
}

int ctfs_view_resolve(const struct ctfs_view *v, const char *path, struct ctfs_target *t)
{
	const char *rel = path[0] == '/' && path[1] ? path + 1 : ".";
	size_t len = strlen(rel);
	int rc;

	if (len >= sizeof(t->bpath))
		return -ENAMETOOLONG;
	t->kind = CTFS_TARGET_SOURCE;
	t->inner = NULL;
	memcpy(t->bpath, rel, len + 1);
	rc = ctfs_beneath_lstat(v->src_fd, t->bpath, &t->st);
	if (rc != -ENOENT)
		return rc;
	/* X.safetensors is the view of X.cryptotensors */
	if (swap_suffix(rel, len, ST_SUFFIX, CT_SUFFIX, t->bpath, sizeof(t->bpath)) &&
	    !ctfs_beneath_lstat(v->src_fd, t->bpath, &t->st))
		return 0;
	rc = locate_package(v, rel, t);
	return rc == 1 ? 0 : rc ? rc : -ENOENT;
}
