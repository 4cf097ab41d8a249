/* Strict JSON for signed documents: well-formed as json_reader.h reads it,
 * and no object anywhere with the same key twice. cJSON (and many readers)
 * silently keep the first or the last of two equal keys, so a signed text
 * with duplicates means different things to different readers. */
#ifndef CTFS_JSON_UNIQUE_H
#define CTFS_JSON_UNIQUE_H

#include <stddef.h>

/* 0, or -EBADMSG with err naming the duplicate key (or the syntax error). */
int ctfs_json_check_strict(const char *text, size_t len, char *err, size_t errlen);

#endif
