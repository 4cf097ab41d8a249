/*
 * The canonical header text: what upstream CryptoTensors signs and what
 * safetensors writers put in files (FORMATS.md section 2, "what is signed").
 */
#ifndef CTFS_HEADER_JSON_H
#define CTFS_HEADER_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "safetensors/safetensors.h"
#include "util.h"

/*
 * Append s (len bytes of valid UTF-8) to out as a JSON string literal escaped
 * exactly as serde_json does: \" \\ \b \f \n \r \t, other bytes below 0x20 as
 * \u00xx (lowercase hex), everything else raw. -EINVAL if s is not UTF-8.
 */
int ctfs_json_put_string(struct ctfs_buf *out, const char *s, size_t len);
/* The same for a NUL-terminated string of ours (reasons, names, base64):
 * '"' and '\\' escaped, bytes below 0x20 as \u00xx, others raw, no UTF-8
 * check. 0 or -ENOMEM. */
int ctfs_json_put_text(struct ctfs_buf *out, const char *s);

/*
 * Append the header JSON as upstream signs/writes it:
 * {"__metadata__":{entries sorted by key bytes},"T":{"dtype":..,"shape":[..],
 * "data_offsets":[b,e]},...} with no whitespace and the tensors in h->order.
 * Metadata keys listed in omit (NULL-terminated, may be NULL) are left out.
 * "__metadata__" is written iff h->has_metadata, except that with
 * omit_empty_metadata it is also left out when no entry remains.
 * -EINVAL if h has no order, duplicate metadata keys or non-UTF-8 text;
 * on failure out is left as it was.
 */
int ctfs_st_serialize(const struct ctfs_st_header *h, const char *const *omit,
		      bool omit_empty_metadata, struct ctfs_buf *out);

/*
 * Append a complete header: 8-byte little-endian N, then the JSON of
 * ctfs_st_serialize and spaces up to N, chosen so that 8 + N is a multiple
 * of 8 (the data starts 8-aligned), as upstream writers pad.
 */
int ctfs_st_build_header(const struct ctfs_st_header *h, const char *const *omit,
			 bool omit_empty_metadata, struct ctfs_buf *out);

#endif
