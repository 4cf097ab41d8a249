/* Reading the shared test vectors (tap_vectors_dir()) and decoding their hex,
 * for the TAP test programs. */
#ifndef CTFS_TEST_VECTORS_H
#define CTFS_TEST_VECTORS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codec/hex.h"
#include "tap.h"
#include "util.h"

/* A guard only: the largest Wycheproof file is a few MB. */
#define VEC_MAX_BYTES (64u << 20)

/* Vectors that cannot be read fail under CI (CI set at all), so that a
 * broken checkout cannot pass there; elsewhere they are a visible skip. */
static inline void vec_missing(const char *path, int rc)
{
	if (getenv("CI"))
		tap_ok(0, "vectors at %s readable (%s)", path, strerror(-rc));
	else
		tap_ok(1, "vectors at %s # SKIP not readable (%s)", path, strerror(-rc));
}

/* The file rel (relative to the vectors directory), NUL-terminated; 0, or
 * -errno once vec_missing has reported it. */
static inline int vec_read(const char *rel, uint8_t **text, size_t *len)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/%s", tap_vectors_dir(), rel);
	int rc;

	if (n < 0 || (size_t)n >= sizeof(path))
		rc = -ENAMETOOLONG;
	else
		rc = ctfs_read_file(path, VEC_MAX_BYTES, text, len);
	if (rc)
		vec_missing(rc == -ENAMETOOLONG ? rel : path, rc);
	return rc;
}

/* The JSON file rel, parsed; NULL after a failed (or skipped) test point. */
static inline cJSON *vec_load_json(const char *rel)
{
	uint8_t *text;
	size_t len;
	cJSON *root;

	if (vec_read(rel, &text, &len))
		return NULL;
	root = cJSON_ParseWithLength((const char *)text, len);
	free(text);
	tap_ok(root != NULL, "%s parses as JSON", rel);
	return root;
}

/* The bytes the whole string hex spells, in a fresh buffer that is not NULL
 * on success even when empty; 0, -EINVAL or -ENOMEM (*out NULL). */
static inline int vec_unhex(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex);

	*out = NULL;
	*len = 0;
	if (n % 2)
		return -EINVAL;
	*out = malloc(n / 2 + 1);
	if (!*out)
		return -ENOMEM;
	if (ctfs_hex_decode(hex, n, *out, n / 2)) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	*len = n / 2;
	return 0;
}

/* vec_unhex of the member name of obj; -ENOENT when it is absent or null,
 * -EINVAL when it is anything else but a string. */
static inline int vec_hex(const cJSON *obj, const char *name, uint8_t **out, size_t *len)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = NULL;
	*len = 0;
	if (!it || cJSON_IsNull(it))
		return -ENOENT;
	if (!cJSON_IsString(it))
		return -EINVAL;
	return vec_unhex(it->valuestring, out, len);
}

/* Exactly len bytes from the whole string hex; 0 or -EINVAL. */
static inline int vec_unhex_to(uint8_t *out, size_t len, const char *hex)
{
	return ctfs_hex_decode(hex, strlen(hex), out, len);
}

/* An integer member such as "tcId", or -1. */
static inline int vec_int(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsNumber(it) ? it->valueint : -1;
}

/* Whether a Wycheproof test case lists flag among its "flags". */
static inline bool vec_has_flag(const cJSON *t, const char *flag)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(t, "flags")) {
		if (cJSON_IsString(f) && !strcmp(f->valuestring, flag))
			return true;
	}
	return false;
}

#endif
