/* The remote policy (__policy__.remote) as ctfs-keyd decides it. One
 * function, so that moving to the Rego engine (src/policy/rego.h) is one
 * change here. Until then the library's evaluator is used: it allows only
 * the unconditional allow and denies anything else (fail closed). */
#include <errno.h>

#include "keyd.h"
#include "policy/policy.h"

int keyd_policy_decide(const char *rego, const char *input, size_t input_len,
		       const char *data, size_t data_len, char *reason, size_t reasonlen)
{
	(void)input;
	(void)input_len;
	(void)data;
	(void)data_len;
	return ctfs_policy_check(rego, reason, reasonlen);
}
