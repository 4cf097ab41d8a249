/* The remote policy (__policy__.remote) as ctfs-keyd decides it, with the
 * Rego v1 engine (src/policy/rego.h): compiled from the signed header at
 * each request (a header is small and its policy may differ per file),
 * data.model.allow evaluated with the request's input and the service's
 * data, under the engine's default caps. True releases; false, undefined,
 * a non-boolean, a compile or evaluation error, or a cap reached refuses. */
#include <errno.h>
#include <string.h>

#include "keyd.h"
#include "policy/rego.h"

int keyd_policy_decide(const char *rego, const char *input, size_t input_len,
		       const char *data, size_t data_len, char *reason, size_t reasonlen)
{
	struct ctfs_rego *r = NULL;
	size_t len = rego ? strlen(rego) : 0;
	char why[256] = "";
	int rc;

	if (!rego) {
		ctfs_seterr(reason, reasonlen, "no remote policy");
		return -EACCES;
	}
	rc = ctfs_rego_compile(&rego, &len, 1, NULL, &r, why, sizeof(why));
	if (rc) {
		ctfs_seterr(reason, reasonlen, "does not compile: %s", why);
		return rc == -ENOMEM ? rc : -EACCES;
	}
	rc = ctfs_rego_decide(r, input, input_len, data, data_len, reason, reasonlen);
	ctfs_rego_free(r);
	return rc == -ENOMEM ? rc : rc ? -EACCES : 0;
}
