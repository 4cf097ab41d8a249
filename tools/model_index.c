/* The shard index of a sharded model ("*.safetensors.index.json"): loaders
 * find each tensor through its weight_map, so a directory whose index names
 * a missing shard, or a tensor that its shard lacks, cannot be loaded. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors/safetensors.h"
#include "tool.h"
#include "util.h"

#define INDEX_SUFFIX ".safetensors.index.json"
#define INDEX_MAX (64u << 20)

static const struct tool_entry *find_entry(const struct tool_tree *t, const char *rel)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].rel, rel))
			return &t->e[i];
	return NULL;
}

static int read_header(const char *path, struct ctfs_st_header **h, char *why, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc;

	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		ctfs_seterr(why, len, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rc = ctfs_st_read(fd, (uint64_t)st.st_size, h, why, len);
	close(fd);
	return rc;
}

/* "DIR/shard" relative to the tree root, for an index at DIR/NAME. */
static char *shard_rel(const char *index_rel, const char *shard)
{
	char *d = strdup(index_rel), *dir, *out;

	if (!d)
		return NULL;
	dir = dirname(d);
	out = strcmp(dir, ".") ? tool_join(dir, shard) : strdup(shard);
	free(d);
	return out;
}

/* Every entry of the weight_map that points at shard is in its header. */
static int check_shard(const char *root, const char *index_rel, const char *shown,
		       const cJSON *map, const char *shard)
{
	char *rel = shard_rel(index_rel, shard), *path = NULL, why[256] = "";
	struct ctfs_st_header *h = NULL;
	const cJSON *e;
	int rc = rel ? 0 : -ENOMEM;

	if (!rc && !(path = tool_join(root, rel)))
		rc = -ENOMEM;
	if (!rc && (rc = read_header(path, &h, why, sizeof(why))))
		tool_err("%s: shard %s: %s", shown, shard, why);
	cJSON_ArrayForEach(e, map) {
		if (rc)
			break;
		if (strcmp(e->valuestring, shard))
			continue;
		if (!ctfs_st_find(h, e->string)) {
			tool_err("%s: tensor '%s' is mapped to %s, which does not hold it",
				 shown, e->string, shard);
			rc = -EINVAL;
		}
	}
	ctfs_st_free(h);
	free(path);
	free(rel);
	return rc;
}

/* Each shard is checked once, when the map first names it. */
static bool first_mention(const cJSON *map, const cJSON *e)
{
	for (const cJSON *p = map->child; p != e; p = p->next)
		if (!strcmp(p->valuestring, e->valuestring))
			return false;
	return true;
}

static int check_map(const char *root, const struct tool_tree *t, const char *index_rel,
		     const char *shown, const cJSON *map)
{
	const cJSON *e;
	int rc = 0;

	cJSON_ArrayForEach(e, map) {
		if (!cJSON_IsString(e) || !*e->valuestring) {
			tool_err("%s: weight_map entry '%s' is not a file name", shown, e->string);
			return -EINVAL;
		}
	}
	cJSON_ArrayForEach(e, map) {
		char *rel;
		const struct tool_entry *te;

		if (!first_mention(map, e))
			continue;
		rel = shard_rel(index_rel, e->valuestring);
		if (!rel)
			return -ENOMEM;
		te = find_entry(t, rel);
		free(rel);
		if (!te || te->dir) {
			tool_err("%s: tensor '%s' is mapped to %s, which is %s", shown, e->string,
				 e->valuestring, te ? "a directory" : "missing (or excluded)");
			return -EINVAL;
		}
		rc = check_shard(root, index_rel, shown, map, e->valuestring);
		if (rc)
			return rc;
	}
	return 0;
}

static int check_index(const char *root, const struct tool_tree *t, const char *rel)
{
	char *path = tool_join(root, rel);
	uint8_t *text = NULL;
	size_t len;
	cJSON *doc = NULL;
	const cJSON *map;
	int rc = path ? ctfs_read_file(path, INDEX_MAX, &text, &len) : -ENOMEM;

	if (rc) {
		tool_err("%s: %s", path ? path : rel, strerror(-rc));
	} else if (!(doc = cJSON_ParseWithLength((const char *)text, len))) {
		tool_err("%s: broken shard index: not valid JSON", path);
		rc = -EINVAL;
	} else if (!cJSON_IsObject(map = cJSON_GetObjectItemCaseSensitive(doc, "weight_map"))) {
		tool_err("%s: broken shard index: no weight_map object", path);
		rc = -EINVAL;
	} else {
		rc = check_map(root, t, rel, path, map);
	}
	cJSON_Delete(doc);
	free(text);
	free(path);
	return rc;
}

int tool_check_indexes(const char *root, const struct tool_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		int rc;

		if (t->e[i].dir || !tool_has_suffix(t->e[i].rel, INDEX_SUFFIX))
			continue;
		rc = check_index(root, t, t->e[i].rel);
		if (rc)
			return rc;
	}
	return 0;
}
