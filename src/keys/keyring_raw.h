/* The raw payload of a "user" key in the kernel keyring, for keys whose
 * payload is not a JWK (TGSP key files). */
#ifndef CTFS_KEYRING_RAW_H
#define CTFS_KEYRING_RAW_H

#include <keyutils.h>
#include <stddef.h>

/* The payload of the user key described desc, searched from ring, read
 * straight into locked memory and NUL-terminated; release it with
 * ctfs_secure_free (which wipes it). -ENOKEY when absent, otherwise -errno
 * as the kernel reports it (-EKEYREVOKED, -EKEYEXPIRED, -EACCES...). */
int ctfs_keyring_get_raw(key_serial_t ring, const char *desc, char **payload, size_t *len);

#endif
