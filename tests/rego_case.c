/* Runs one Rego query for the conformance and differential tests: reads a
 * JSON case {"modules":[..], "query":"..", "input":.., "data":.., "strict":b}
 * on stdin and prints {"results":[..]} or {"error":"..","parse":b}. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rego.h"
#include "policy/rego_query.h"

static char *slurp(FILE *f, size_t *n)
{
	size_t cap = 65536, len = 0;
	char *b = malloc(cap);

	while (b) {
		size_t r = fread(b + len, 1, cap - len - 1, f);

		len += r;
		if (r == 0)
			break;
		if (len + 1 == cap) {
			char *nb = realloc(b, cap * 2);

			if (!nb) {
				free(b);
				return NULL;
			}
			b = nb;
			cap *= 2;
		}
	}
	if (b) {
		b[len] = 0;
		*n = len;
	}
	return b;
}

static void print_error(const char *kind, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "error", msg);
	cJSON_AddStringToObject(o, "kind", kind);
	s = cJSON_PrintUnformatted(o);
	if (s)
		puts(s);
	free(s);
	cJSON_Delete(o);
}

int main(void)
{
	size_t n, nmods;
	char *text = slurp(stdin, &n), *in = NULL, *data = NULL, *res = NULL, err[512] = "";
	cJSON *c = text ? cJSON_Parse(text) : NULL, *mods, *q, *jin, *jdata, *strict;
	const char **texts;
	size_t *lens;
	struct ctfs_rego *r = NULL;
	int rc;

	if (!c) {
		fprintf(stderr, "rego_case: bad case JSON\n");
		return 2;
	}
	mods = cJSON_GetObjectItem(c, "modules");
	q = cJSON_GetObjectItem(c, "query");
	jin = cJSON_GetObjectItem(c, "input");
	jdata = cJSON_GetObjectItem(c, "data");
	strict = cJSON_GetObjectItem(c, "strict");
	nmods = cJSON_IsArray(mods) ? (size_t)cJSON_GetArraySize(mods) : 0;
	texts = calloc(nmods + 1, sizeof(*texts));
	lens = calloc(nmods + 1, sizeof(*lens));
	if (!cJSON_IsString(q) || !texts || !lens)
		return 2;
	for (size_t i = 0; i < nmods; i++) {
		texts[i] = cJSON_GetArrayItem(mods, (int)i)->valuestring;
		lens[i] = texts[i] ? strlen(texts[i]) : 0;
	}
	if (nmods)
		rc = ctfs_rego_compile(texts, lens, nmods, NULL, &r, err, sizeof(err));
	else
		rc = ctfs_rego_compile((const char *[]){ "package __empty__" },
				       (size_t[]){ 17 }, 1, NULL, &r, err, sizeof(err));
	if (rc) {
		print_error("compile", err);
		return 0;
	}
	in = jin ? cJSON_PrintUnformatted(jin) : NULL;
	data = jdata ? cJSON_PrintUnformatted(jdata) : NULL;
	rc = ctfs_rego_query(r, q->valuestring, in, in ? strlen(in) : 0, data, data ? strlen(data) : 0,
			     cJSON_IsTrue(strict), &res, err, sizeof(err));
	if (rc)
		print_error(rc == -EINVAL ? "query" : "eval", err);
	else
		printf("{\"results\":%s}\n", res);
	free(res);
	free(in);
	free(data);
	free(texts);
	free(lens);
	ctfs_rego_free(r);
	cJSON_Delete(c);
	free(text);
	return 0;
}
