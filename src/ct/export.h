/* Exporting a CryptoTensors file to the plaintext safetensors file it
 * protects: the same bytes the mount serves, written to disk. */
#ifndef CTFS_CT_EXPORT_H
#define CTFS_CT_EXPORT_H

#include <stddef.h>
#include <sys/types.h>

#include "ct/verify.h"

/*
 * Write the plaintext view of m (unlocked: signature, policy and keys
 * checked by ctfs_model_unlock) to out_path, created with mode (less the
 * umask) under a temporary name and renamed into place only once every tag
 * has verified; on any failure out_path is untouched and nothing is left
 * behind. c carries the threads and progress options and, on return, what
 * ctfs_model_check_data reports (out_fd/out_off are set here).
 */
int ctfs_model_export(struct ctfs_model *m, const char *out_path, mode_t mode,
		      struct ctfs_ct_check *c, char *err, size_t errlen);

#endif
