/* The access policy embedded in a CryptoTensors file (__policy__.local). */
#ifndef CTFS_POLICY_H
#define CTFS_POLICY_H

#include <stddef.h>

/* 0 when the Rego text allows loading; -EACCES with a reason otherwise.
 * The policy is compiled by the Rego v1 engine (src/policy/rego.h) and
 * data.model.allow is evaluated with no input, as upstream does: true
 * allows; false, undefined, a non-boolean, a parse error (v0 syntax
 * included), an evaluation error or an exceeded limit deny. */
int ctfs_policy_check(const char *rego, char *err, size_t errlen);

#endif
