/* The access policy embedded in a CryptoTensors file (__policy__.local). */
#ifndef CTFS_POLICY_H
#define CTFS_POLICY_H

#include <stddef.h>

/* 0 when the Rego text allows loading; -EACCES with a reason otherwise.
 * Only the unconditional allow (`package model` + `allow = true` in its
 * `=`, `:=`, `if`, body and `default` spellings) is evaluated for now: any
 * other policy is denied rather than guessed at (fail closed). */
int ctfs_policy_check(const char *rego, char *err, size_t errlen);

#endif
