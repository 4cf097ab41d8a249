/* The registry's tables, shared by its files (not for hooks). */
#ifndef CTFS_METRICS_INTERNAL_H
#define CTFS_METRICS_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include "metrics/metrics.h"

/* What is known of one key id: from lookups at open and probes at scrape. */
struct ctfs_mkid {
	char *kid;
	int state;          /* 1 present, 0 absent or rejected, -1 never looked up */
	int last_err;       /* errno of the last failed lookup or probe */
	uint64_t lookups;
	time_t changed;     /* when state last changed (Unix seconds) */
};

struct ctfs_mtables {
	pthread_mutex_t lock;         /* files and kids (not the values) */
	struct ctfs_mfile *files;
	size_t n, cap;
	struct ctfs_mfile other;      /* files past the cap */
	struct ctfs_mkid kids[CTFS_METRICS_KIDS_MAX];
	size_t n_kids;
	struct ctfs_mkid kid_other;   /* kids past the cap */
};

extern struct ctfs_mtables ctfs_mt;
extern const uint64_t ctfs_hist_bounds_ns[CTFS_HIST_BUCKETS];

#endif
