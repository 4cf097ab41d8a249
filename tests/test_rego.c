/* The Rego engine: constructs, builtins, errors and limits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rego.h"
#include "tap.h"

int main(void)
{
	return tap_done();
}
