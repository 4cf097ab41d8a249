/* The access policy embedded in a CryptoTensors file, decided by the Rego
 * engine exactly as upstream does (data.model.allow, no input). */
#include "policy/policy.h"

#include <errno.h>
#include <string.h>

#include "policy/rego.h"
#include "util.h"

int ctfs_policy_check(const char *rego, char *err, size_t errlen)
{
	struct ctfs_rego *r = NULL;
	size_t len;
	char why[256] = "";
	int rc;

	if (!rego) {
		ctfs_seterr(err, errlen, "policy denied: no policy");
		return -EACCES;
	}
	len = strlen(rego);
	rc = ctfs_rego_compile(&rego, &len, 1, NULL, &r, why, sizeof(why));
	if (rc) {
		ctfs_seterr(err, errlen, "policy denied: %s: %s",
			    rc == -E2BIG ? "limit exceeded" : "parse error", why);
		return -EACCES;
	}
	rc = ctfs_rego_decide(r, NULL, 0, NULL, 0, err, errlen);
	ctfs_rego_free(r);
	return rc;
}
