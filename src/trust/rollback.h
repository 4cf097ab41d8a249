/* Anti-rollback store (-o rollback_db=FILE): per signer and model id, the
 * highest version served on this machine; lower versions are refused.
 *
 * The file is text: a line "ctfs-rollback 1", then one line per model
 *   THUMBPRINT <TAB> VERSION <TAB> MODEL_ID
 * (RFC 7638 thumbprint of the signer, decimal version, the id as signed).
 * It is replaced whole (temporary file, fsync, rename, fsync of the
 * directory), so a crash at any point leaves the old or the new content,
 * never less; every access holds an flock on FILE.lock, so several mounts
 * and ctfs-tool share one store safely. Caps: 65536 models, ids of 1..256
 * bytes without control characters, versions 0..2^63-1. */
#ifndef CTFS_ROLLBACK_H
#define CTFS_ROLLBACK_H

#include <stddef.h>
#include <stdint.h>

#define CTFS_ROLLBACK_MAX_ENTRIES 65536u
#define CTFS_MODEL_ID_MAX 256
#define CTFS_VERSION_MAX INT64_MAX

struct ctfs_rollback_entry {
	uint8_t signer[32];
	uint64_t version;
	char *model_id;
};

/* 0 when model_id is acceptable (length, no control characters). */
int ctfs_model_id_check(const char *model_id);

/* Check version against the highest recorded for (signer, model_id) and
 * record it when higher. 0 when accepted (*highest: the high-water mark
 * after the call); -EACCES when lower (err says both versions); -errno
 * when the store cannot be read or written (fail closed). */
int ctfs_rollback_check(const char *path, const uint8_t signer[32], const char *model_id,
			uint64_t version, uint64_t *highest, char *err, size_t errlen);

/* A version text as the store orders it: a decimal integer N, or a dotted
 * A.B or A.B.C (each part decimal; A < 2^23, B and C < 2^20), ordered as
 * (A << 40) | (B << 20) | C. Versions of one model should keep one form.
 * 0, or -EINVAL (not orderable: pre-release tags, letters, ...). */
int ctfs_rollback_version_parse(const char *text, uint64_t *out);

/* Every entry (free with ctfs_rollback_entries_free). A missing store is empty. */
int ctfs_rollback_list(const char *path, struct ctfs_rollback_entry **out, size_t *n,
		       char *err, size_t errlen);
void ctfs_rollback_entries_free(struct ctfs_rollback_entry *e, size_t n);

/* Drop the entries of model_id (of signer, or of every signer when signer is
 * NULL). *dropped counts them. */
int ctfs_rollback_forget(const char *path, const uint8_t *signer, const char *model_id,
			 size_t *dropped, char *err, size_t errlen);

#endif
