/* A directory in, a directory out: encrypt, decrypt and rewrap of whole
 * model directories. The output is built under a temporary name and only
 * renamed into place when every file is complete and synced, so a failed or
 * interrupted run leaves no output at all (or the previous one intact). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tool.h"

static int one_entry(struct tool_dirrun *r, const struct tool_outdir *o,
		     const struct tool_entry *e, struct tool_progress *p)
{
	char *src = tool_join(r->src, e->rel), *dst = tool_join(o->tmp, e->rel);
	int rc = src && dst ? 0 : -ENOMEM;

	if (!rc && e->dir) {
		if (mkdir(dst, e->mode | 0700) < 0) {
			rc = -errno;
			tool_err("cannot create %s: %s", dst, strerror(errno));
		}
	} else if (!rc) {
		rc = r->fn(r->arg, src, dst, e, p);
		if (rc == 0) {
			rc = tool_copy_file(src, dst, e->mode, p);
			if (rc) {
				tool_progress_clear(p);
				tool_err("cannot copy %s: %s", src, rc == -EINTR ? "interrupted" :
					 rc == -ENOSPC ? "no space left on the device" :
					 strerror(-rc));
			}
			r->copied_files++;
		} else if (rc == 1) {
			rc = 0;
			r->done_files++;
		}
		tool_progress_advance(p, e->size);
	}
	if (rc == -ENOMEM)
		tool_err("out of memory");
	free(src);
	free(dst);
	return rc;
}

/* Directories were created with owner write permission so they could be
 * filled (the top one by mkdtemp, 0700); now they get their own modes. */
static int restore_modes(const struct tool_outdir *o, const struct tool_tree *t,
			 const char *src)
{
	struct stat st;
	int rc = 0;

	if (stat(src, &st) < 0 || chmod(o->tmp, st.st_mode & 07777) < 0)
		rc = -errno;
	for (size_t i = 0; !rc && i < t->n; i++) {
		char *p;

		if (!t->e[i].dir || (t->e[i].mode & 0700) == 0700)
			continue;
		p = tool_join(o->tmp, t->e[i].rel);
		if (!p)
			rc = -ENOMEM;
		else if (chmod(p, t->e[i].mode) < 0)
			rc = -errno;
		free(p);
	}
	if (rc)
		tool_err("cannot set the modes of %s: %s", o->tmp, strerror(-rc));
	return rc;
}

int tool_dir_run(struct tool_dirrun *r)
{
	struct tool_tree t;
	struct tool_outdir o;
	struct tool_progress p;
	int rc;

	if (tool_check_not_inside(r->src, r->dst))
		return TOOL_FAIL;
	if (tool_tree_list(r->src, r->exclude, &t))
		return TOOL_FAIL;
	rc = tool_check_indexes(r->src, &t);
	if (!rc)
		rc = tool_outdir_begin(&o, r->dst, r->force);
	if (rc) {
		tool_tree_free(&t);
		return TOOL_FAIL;
	}
	tool_progress_init(&p, r->quiet, r->label, t.bytes);
	for (size_t i = 0; !rc && i < t.n; i++)
		rc = one_entry(r, &o, &t.e[i], &p);
	tool_progress_clear(&p);
	if (!rc)
		rc = restore_modes(&o, &t, r->src);
	if (!rc)
		rc = tool_outdir_commit(&o, &t);
	tool_outdir_abort(&o);
	tool_tree_free(&t);
	return rc ? TOOL_FAIL : TOOL_OK;
}
