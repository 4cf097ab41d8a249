/*
 * safetensors headers: parsing, the validation every upstream loader does,
 * and metadata editing. The on-disk layout is in FORMATS.md section 1.
 */
#ifndef CTFS_SAFETENSORS_H
#define CTFS_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safetensors/dtype.h"

#define CTFS_ST_MAX_HEADER 100000000ULL

struct ctfs_tensor {
	char *name;		/* UTF-8, NUL-terminated; names containing NUL are rejected */
	enum ctfs_dtype dtype;
	size_t ndim;
	uint64_t *shape;
	uint64_t begin, end;	/* data_offsets, relative to the data region */
};

struct ctfs_meta_entry {
	char *key;
	char *value;
};

struct ctfs_st_header {
	uint64_t header_len;	/* N */
	uint64_t data_start;	/* 8 + N */
	uint64_t data_len;	/* end of the last tensor == file size - data_start */
	size_t n_tensors;
	struct ctfs_tensor *tensors;	/* in the order they appear in the file */
	/* Tensor indices by ascending data_offsets (begin, then end, as upstream
	 * compares the pair); full ties keep file order. In a valid header the
	 * ends are non-decreasing along this order too. */
	size_t *order;
	bool has_metadata;	/* the file has a "__metadata__" object (possibly empty) */
	size_t n_meta;
	struct ctfs_meta_entry *meta;	/* in file order; set appends */
	/* Tensor indices sorted by name (byte order), for ctfs_st_find; when
	 * NULL (a header built by hand) ctfs_st_find searches linearly. */
	size_t *by_name;
};

/*
 * Parse and validate the len JSON bytes of a header (without the 8-byte
 * prefix) of a file of file_size bytes. 0, -EINVAL (err says what is wrong)
 * or -ENOMEM. *out is only set on success; free it with ctfs_st_free.
 */
int ctfs_st_parse(const uint8_t *json, size_t len, uint64_t file_size,
		  struct ctfs_st_header **out, char *err, size_t errlen);
/*
 * Read the 8-byte length and the header at the start of fd (a file of
 * file_size bytes), checking the length before allocating, then
 * ctfs_st_parse. Also -EIO (or -errno) if reading fails.
 */
int ctfs_st_read(int fd, uint64_t file_size, struct ctfs_st_header **out,
		 char *err, size_t errlen);
void ctfs_st_free(struct ctfs_st_header *h);

/* The value for key, or NULL. */
const char *ctfs_st_meta_get(const struct ctfs_st_header *h, const char *key);
/* Replace the value of key, or append the entry; sets has_metadata.
 * -EINVAL if key or value is not valid UTF-8, -ENOMEM. */
int ctfs_st_meta_set(struct ctfs_st_header *h, const char *key, const char *value);
/* Remove key, keeping the order of the others; -ENOENT if absent. */
int ctfs_st_meta_remove(struct ctfs_st_header *h, const char *key);
/* The tensor called name, or NULL. */
const struct ctfs_tensor *ctfs_st_find(const struct ctfs_st_header *h, const char *name);

#endif
