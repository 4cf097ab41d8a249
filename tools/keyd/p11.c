/* PKCS#11 custody for ctfs-keyd: not built yet; --pkcs11-module is refused. */
#include <errno.h>

#include "keyd.h"

int keyd_p11_open(struct keyd *d, char *err, size_t errlen);
int keyd_p11_get(struct keyd *d, const char *kid, struct ctfs_jwk *out, char *err,
		 size_t errlen);
void keyd_p11_close(struct keyd *d);

int keyd_p11_open(struct keyd *d, char *err, size_t errlen)
{
	(void)d;
	ctfs_seterr(err, errlen, "PKCS#11 custody is not available in this build");
	return -ENOTSUP;
}

int keyd_p11_get(struct keyd *d, const char *kid, struct ctfs_jwk *out, char *err,
		 size_t errlen)
{
	(void)d;
	(void)kid;
	(void)out;
	(void)err;
	(void)errlen;
	return -ENOKEY;
}

void keyd_p11_close(struct keyd *d)
{
	(void)d;
}
