/* The embedded policy, decided by the Rego engine as upstream decides it. */
#include <errno.h>

#include "policy/policy.h"
#include "tap.h"

static const char *const allowed[] = {
	"package model\nallow = true",
	"package model\nallow := true",
	"package model\n\nallow if true\n",
	"package model\nallow if { true }",
	"package model\ndefault allow = true",
	"package model\nimport rego.v1\nallow if { true }",
	"# provider policy\npackage model\n  allow = true  # always\n",
	/* several definitions with the same value are no conflict */
	"package model\nallow = true\nallow = true\nallow = true\nallow = true\nallow = true",
	"package model\nallow = true\ndeny = true",
	"package model\nallow if input.time < 5 with input as {\"time\": 1}",
	"package model\nimport rego.v1\nallow if { count([1, 2]) == 2; startswith(\"ab\", \"a\") }",
};

static const char *const denied[] = {
	"package model\nallow = false",
	"package model\ndefault allow = false",
	"package model\ndefault allow = false\nallow { input.user == \"x\" }",
	"package model\nallow { true }", /* v0 syntax: refused like upstream */
	"package model\nallow := 1",      /* not a boolean */
	"package model\nallow := true\nallow := false", /* conflict */
	"package model\nallow if { x := [1][5] }",
	"package other\nallow = true",
	"package model",
	"allow = true",
	"",
	"package model\nallow if { input.time < 5 }",
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
