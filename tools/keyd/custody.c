/* Where ctfs-keyd keeps master keys: a directory of JWK files (<kid>.jwk,
 * readable only by the service user: a file group- or world-accessible is
 * refused, not served), read at each request so keys can be added without
 * a restart; or a PKCS#11 token (p11.c), where the algorithm comes from the
 * header (a token object is only bytes). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "keyd.h"
#include "log.h"

#define JWK_FILE_MAX (64u << 10)

int keyd_p11_open(struct keyd *d, char *err, size_t errlen);
int keyd_p11_get(struct keyd *d, const char *kid, enum ctfs_alg alg, struct ctfs_jwk *out,
		 char *err, size_t errlen);
void keyd_p11_close(struct keyd *d);

int keyd_custody_open(struct keyd *d, char *err, size_t errlen)
{
	if (d->pkcs11_module)
		return keyd_p11_open(d, err, errlen);
	d->keys_dirfd = open(d->keys_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->keys_dirfd < 0) {
		ctfs_seterr(err, errlen, "--keys %s: %s", d->keys_dir, strerror(errno));
		return -errno;
	}
	return 0;
}

void keyd_custody_close(struct keyd *d)
{
	if (d->p11)
		keyd_p11_close(d);
	if (d->keys_dirfd >= 0)
		close(d->keys_dirfd);
}

static int read_jwk_file(int fd, const char *kid, struct ctfs_jwk *out, char *err, size_t errlen)
{
	struct ctfs_jwk *set = NULL;
	const struct ctfs_jwk *k;
	struct stat st;
	char *text, perr[200] = "";
	size_t n = 0;
	int rc;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > JWK_FILE_MAX) {
		ctfs_seterr(err, errlen, "key file of kid=%s is not a regular file of at most %u "
			    "bytes", kid, JWK_FILE_MAX);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		ctfs_seterr(err, errlen, "key file of kid=%s is accessible to group or others "
			    "(mode %03o): refused", kid, st.st_mode & 0777);
		return -EACCES;
	}
	text = ctfs_secure_alloc((size_t)st.st_size + 1);
	if (!text)
		return -ENOMEM;
	rc = ctfs_pread_full(fd, text, (size_t)st.st_size, 0) ? -EIO : 0;
	if (!rc)
		rc = ctfs_jwk_parse_set(text, (size_t)st.st_size, &set, &n, perr, sizeof(perr));
	ctfs_secure_free(text);
	if (rc) {
		ctfs_seterr(err, errlen, "key file of kid=%s: %s", kid, *perr ? perr : strerror(-rc));
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	k = ctfs_jwk_find(set, n, CTFS_KTY_OCT, kid);
	if (k) {
		*out = *k;
		memset((struct ctfs_jwk *)k, 0, sizeof(*k)); /* ownership moved to out */
	}
	ctfs_jwk_free_set(set, n);
	return k ? 0 : -ENOKEY;
}

int keyd_custody_get(struct keyd *d, const char *kid, enum ctfs_alg alg, struct ctfs_jwk *out,
		     char *err, size_t errlen)
{
	char name[CTFS_RELEASE_NAME_BUF + 8];
	int fd, rc;

	memset(out, 0, sizeof(*out));
	if (d->p11)
		return keyd_p11_get(d, kid, alg, out, err, errlen);
	if (!ctfs_release_name_ok(kid))
		return -ENOKEY;
	snprintf(name, sizeof(name), "%s.jwk", kid);
	fd = openat(d->keys_dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return -ENOKEY;
		ctfs_seterr(err, errlen, "key file of kid=%s: %s", kid, strerror(-rc));
		return rc;
	}
	rc = read_jwk_file(fd, kid, out, err, errlen);
	close(fd);
	return rc;
}
