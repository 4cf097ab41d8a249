/* The embedded policy: what is allowed today, and that everything else is
 * denied rather than guessed at. */
#include <errno.h>

#include "policy/policy.h"
#include "tap.h"

static const char *const allowed[] = {
	"package model\nallow = true",
	"package model\nallow := true",
	"package model\n\nallow if true\n",
	"package model\nallow { true }",
	"package model\nallow if { true }",
	"package model\ndefault allow = true",
	"package model\nimport rego.v1\nallow if { true }",
	"# provider policy\npackage model\n  allow = true  # always\n",
};

static const char *const denied[] = {
	"package model\nallow = false",
	"package model\ndefault allow = false",
	"package model\ndefault allow = false\nallow { input.user == \"x\" }",
	"package model\nallow = true\ndeny = true",
	"package other\nallow = true",
	"package model",
	"allow = true",
	"",
	"package model\nallow if { input.time < 5 }",
	"package model\nallow = true\nallow = true\nallow = true\nallow = true\nallow = true",
};

int main(void)
{
	char err[256];

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		tap_ok(ctfs_policy_check(allowed[i], err, sizeof(err)) == 0, "allows policy %zu", i);
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		err[0] = 0;
		tap_ok(ctfs_policy_check(denied[i], err, sizeof(err)) == -EACCES && err[0],
		       "denies policy %zu with a reason", i);
	}
	tap_ok(ctfs_policy_check(NULL, err, sizeof(err)) == -EACCES, "denies a missing policy");
	return tap_done();
}
