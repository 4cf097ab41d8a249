/* What a file is, as every subcommand that reads models needs to know:
 * CryptoTensors (recognised by content, as the mount does), plain
 * safetensors, or something else; and policy files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "codec/utf8.h"
#include "util.h"

#define POLICY_MAX (1u << 20)

int tool_model_open(const char *path, struct tool_model *tm)
{
	char *real = realpath(path, NULL);
	int rc;

	*tm = (struct tool_model){ .kind = TOOL_KIND_OTHER };
	if (!real) {
		rc = -errno;
		snprintf(tm->why, sizeof(tm->why), "%s", strerror(-rc));
		return rc;
	}
	/* the daemon's loader refuses symlinks; here they were resolved */
	rc = ctfs_model_load(AT_FDCWD, real, path, &tm->m, tm->why, sizeof(tm->why));
	free(real);
	if (rc == -EBADMSG) {
		tm->kind = TOOL_KIND_INVALID;
		return 0;
	}
	if (rc) {
		if (!*tm->why)
			snprintf(tm->why, sizeof(tm->why), "%s", strerror(-rc));
		return rc;
	}
	if (ctfs_model_is_encrypted(tm->m)) {
		tm->kind = TOOL_KIND_CRYPTO;
		return 0;
	}
	if (!S_ISREG(tm->m->id.st_mode)) {
		snprintf(tm->why, sizeof(tm->why), "not a regular file");
		return 0;
	}
	rc = ctfs_st_read(tm->m->fd, (uint64_t)tm->m->id.st_size, &tm->plain, tm->why,
			  sizeof(tm->why));
	if (rc == -ENOMEM)
		return rc;
	if (!rc)
		tm->kind = TOOL_KIND_PLAIN;
	return 0;
}

void tool_model_close(struct tool_model *tm)
{
	ctfs_st_free(tm->plain);
	ctfs_model_put(tm->m);
	tm->plain = NULL;
	tm->m = NULL;
}

bool tool_policy_opt(int c, const char *arg, struct tool_policy_args *p)
{
	switch (c) {
	case 'p':
		p->both = arg;
		return true;
	case TOOL_OPT_POLICY_LOCAL:
		p->local = arg;
		return true;
	case TOOL_OPT_POLICY_REMOTE:
		p->remote = arg;
		return true;
	}
	return false;
}

bool tool_policy_given(const struct tool_policy_args *p)
{
	return p->both || p->local || p->remote;
}

int tool_policy_conflict(const char *cmd, const struct tool_policy_args *p)
{
	if (p->both && (p->local || p->remote))
		return tool_usage(cmd, "--policy sets both policies: do not combine it "
				  "with --policy-local/--policy-remote");
	return 0;
}

int tool_policy_read(const struct tool_policy_args *p, char **local, char **remote)
{
	const char *lp = p->both ? p->both : p->local;
	const char *rp = p->both ? p->both : p->remote;

	*local = *remote = NULL;
	if ((lp && tool_read_policy(lp, local)) || (rp && tool_read_policy(rp, remote))) {
		free(*local);
		*local = NULL;
		return -EINVAL;
	}
	return 0;
}

int tool_read_policy(const char *path, char **out)
{
	uint8_t *text;
	size_t len;
	int rc = ctfs_read_file(path, POLICY_MAX, &text, &len);

	*out = NULL;
	if (rc) {
		tool_err("policy %s: %s", path, rc == -EFBIG ? "too large" : strerror(-rc));
		return rc;
	}
	if (!ctfs_utf8_valid(text, len, NULL) || memchr(text, 0, len)) {
		tool_err("policy %s: not UTF-8 text", path);
		free(text);
		return -EINVAL;
	}
	/* Rego text is stored as it is, but a final newline is an editor's */
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = 0;
	if (!len) {
		tool_err("policy %s: empty", path);
		free(text);
		return -EINVAL;
	}
	*out = (char *)text;
	return 0;
}
