/* What the view tells the metrics registry and the usage accounting about
 * opens and reads (src/metrics): the hooks of view.c in one place. A read
 * costs a few relaxed atomic adds here, no lock and no allocation. */
#include <limits.h>

#include "metrics/metrics.h"
#include "metrics/usage.h"
#include "view/internal.h"

void ctfs_view_account_open(struct ctfs_view *v, const char *path, bool pkg,
			    const struct ctfs_caller *who, int rc, struct ctfs_handle *h)
{
	const char *rel = path[0] == '/' ? path + 1 : path;
	enum ctfs_open_kind kind = pkg ? CTFS_OPEN_TGSP : CTFS_OPEN_MODEL;
	struct ctfs_mfile *f = NULL;
	char exe[PATH_MAX];

	/* plain files (config, tokenizer) count per mount only: per-file series
	 * and usage records are kept for protected content */
	if (h && h->plain)
		kind = CTFS_OPEN_PLAIN;
	else
		f = ctfs_metrics_file(rel);
	ctfs_metrics_opened(kind, f, rc);
	if (!h)
		return;
	h->mfile = f;
	if (f && v->usage) {
		ctfs_usage_exe_of(who ? who->pid : 0, exe, sizeof(exe));
		h->usage = ctfs_usage_opened(v->usage, rel, who ? who->uid : (uid_t)-1, exe);
	}
}

void ctfs_view_account_read(struct ctfs_handle *h, ssize_t n, uint64_t t0)
{
	uint64_t chunks = ctfs_mtls_chunks;

	ctfs_mtls_chunks = 0;
	ctfs_metrics_read(h->mfile, n, t0);
	ctfs_mfile_add(h->mfile, CTFS_F_CHUNKS, chunks);
	if (n > 0)
		ctfs_usage_bytes(h->usage, (uint64_t)n);
}

void ctfs_view_account_release(struct ctfs_handle *h)
{
	ctfs_metrics_closed(h->mfile);
}
