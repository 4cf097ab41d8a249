/* SHA-256. */
#ifndef CTFS_SHA256_H
#define CTFS_SHA256_H

#include <stddef.h>
#include <stdint.h>

void ctfs_sha256(uint8_t out[32], const void *in, size_t len);
/* The same for secret input (key fingerprints): no copy of the input or of
 * the message schedule is left on the stack. Slower; for short inputs. */
void ctfs_sha256_secret(uint8_t out[32], const void *in, size_t len);

#endif
