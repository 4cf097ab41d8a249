/* The metrics registry: sharded slots, per-file series, key states. */
#include "metrics/metrics.h"
#include "metrics/metrics_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct ctfs_mshard ctfs_mshards[CTFS_METRICS_SHARDS];
_Thread_local unsigned ctfs_mshard_tls;
_Thread_local uint64_t ctfs_mtls_chunks;
static _Atomic unsigned next_shard;

const uint64_t ctfs_hist_bounds_ns[CTFS_HIST_BUCKETS] = {
	1000, 5000, 10000, 50000, 100000, 500000, 1000000, 5000000, 10000000, 50000000,
	100000000, 500000000, 1000000000, 5000000000,
};

struct ctfs_mtables ctfs_mt = { .lock = PTHREAD_MUTEX_INITIALIZER,
				.other = { .name = "other" },
				.kid_other = { .kid = "other" } };

unsigned ctfs_metrics_shard_slow(void)
{
	unsigned s = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed);

	ctfs_mshard_tls = s % CTFS_METRICS_SHARDS + 1;
	return ctfs_mshard_tls;
}

uint64_t ctfs_metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ctfs_observe_ns(enum ctfs_mhist h, uint64_t ns)
{
	struct ctfs_mshard *s = ctfs_mshard_self();
	unsigned b = 0;

	while (b < CTFS_HIST_BUCKETS && ns > ctfs_hist_bounds_ns[b])
		b++;
	atomic_fetch_add_explicit(&s->hist[h][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->hist[h][CTFS_HIST_SUM], ns, memory_order_relaxed);
}

uint64_t ctfs_metrics_get(enum ctfs_mslot slot)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < CTFS_METRICS_SHARDS; i++)
		v += atomic_load_explicit(&ctfs_mshards[i].slot[slot], memory_order_relaxed);
	return v;
}

void ctfs_metrics_hist(enum ctfs_mhist h, uint64_t buckets[CTFS_HIST_BUCKETS + 1],
		       uint64_t *count, uint64_t *sum_ns)
{
	uint64_t sum = 0, n = 0;

	/* the sum is read before the buckets: a scrape racing an observation
	 * may show a count one ahead of its sum, never a sum without count */
	for (unsigned i = 0; i < CTFS_METRICS_SHARDS; i++)
		sum += atomic_load_explicit(&ctfs_mshards[i].hist[h][CTFS_HIST_SUM],
					    memory_order_relaxed);
	for (unsigned b = 0; b <= CTFS_HIST_BUCKETS; b++) {
		buckets[b] = 0;
		for (unsigned i = 0; i < CTFS_METRICS_SHARDS; i++)
			buckets[b] += atomic_load_explicit(&ctfs_mshards[i].hist[h][b],
							   memory_order_relaxed);
		n += buckets[b];
	}
	*count = n;
	*sum_ns = sum;
}

int ctfs_metrics_init(size_t max_files)
{
	struct ctfs_mfile *files = NULL;

	if (max_files > CTFS_METRICS_FILES_MAX)
		return -EINVAL;
	if (max_files && !(files = calloc(max_files, sizeof(*files))))
		return -ENOMEM;
	pthread_mutex_lock(&ctfs_mt.lock);
	free(ctfs_mt.files);
	ctfs_mt.files = files;
	ctfs_mt.cap = max_files;
	ctfs_mt.n = 0;
	pthread_mutex_unlock(&ctfs_mt.lock);
	return 0;
}

void ctfs_metrics_reset(void)
{
	pthread_mutex_lock(&ctfs_mt.lock);
	for (size_t i = 0; i < ctfs_mt.n; i++)
		free((char *)ctfs_mt.files[i].name);
	free(ctfs_mt.files);
	ctfs_mt.files = NULL;
	ctfs_mt.cap = ctfs_mt.n = 0;
	for (size_t i = 0; i < ctfs_mt.n_kids; i++)
		free(ctfs_mt.kids[i].kid);
	memset(ctfs_mt.kids, 0, sizeof(ctfs_mt.kids));
	ctfs_mt.n_kids = 0;
	memset(ctfs_mt.other.v, 0, sizeof(ctfs_mt.other.v));
	ctfs_mt.kid_other.state = 0;
	ctfs_mt.kid_other.lookups = 0;
	memset(ctfs_mshards, 0, sizeof(ctfs_mshards));
	pthread_mutex_unlock(&ctfs_mt.lock);
}

/* A copy of s cut to CTFS_METRICS_NAME_MAX bytes (marked with "..."). */
static char *bounded_dup(const char *s)
{
	size_t n = strnlen(s, CTFS_METRICS_NAME_MAX + 1);
	char *d;

	if (n <= CTFS_METRICS_NAME_MAX)
		return strdup(s);
	d = malloc(CTFS_METRICS_NAME_MAX + 1);
	if (!d)
		return NULL;
	memcpy(d, s, CTFS_METRICS_NAME_MAX - 3);
	memcpy(d + CTFS_METRICS_NAME_MAX - 3, "...", 4);
	return d;
}

struct ctfs_mfile *ctfs_metrics_file(const char *path)
{
	struct ctfs_mfile *f = &ctfs_mt.other;
	char *name;

	if (!path)
		return f;
	pthread_mutex_lock(&ctfs_mt.lock);
	for (size_t i = 0; i < ctfs_mt.n; i++) {
		if (!strncmp(ctfs_mt.files[i].name, path, CTFS_METRICS_NAME_MAX - 3)) {
			f = &ctfs_mt.files[i];
			goto out;
		}
	}
	if (ctfs_mt.n < ctfs_mt.cap && (name = bounded_dup(path))) {
		f = &ctfs_mt.files[ctfs_mt.n++];
		f->name = name;
	}
out:
	pthread_mutex_unlock(&ctfs_mt.lock);
	return f;
}

enum ctfs_deny_reason ctfs_metrics_deny_reason(int err)
{
	switch (err < 0 ? -err : err) {
	case EACCES: case EPERM:
		return CTFS_DENY_POLICY;
	case ENOKEY:
		return CTFS_DENY_NO_KEY;
	case EKEYREVOKED: case EKEYEXPIRED: case EKEYREJECTED:
		return CTFS_DENY_KEY_REJECTED;
	case EBADMSG: case EIO: case EILSEQ:
		return CTFS_DENY_INTEGRITY;
	case EFBIG: case E2BIG: case EOVERFLOW:
		return CTFS_DENY_TOO_BIG;
	case ENOENT: case ENOTDIR: case ELOOP:
		return CTFS_DENY_NOT_FOUND;
	}
	return CTFS_DENY_OTHER;
}

const char *ctfs_metrics_deny_name(enum ctfs_deny_reason r)
{
	static const char *const names[CTFS_DENY__N] = {
		"policy", "no_key", "key_rejected", "integrity", "too_big", "not_found", "other",
	};

	return r < CTFS_DENY__N ? names[r] : "other";
}

void ctfs_metrics_opened(enum ctfs_open_kind kind, struct ctfs_mfile *f, int rc)
{
	if (kind >= CTFS_OPEN__N)
		kind = CTFS_OPEN_PLAIN;
	if (rc == 0) {
		ctfs_count(CTFS_M_OPENS + kind, 1);
		ctfs_count(CTFS_M_OPEN_HANDLES, 1);
		ctfs_mfile_add(f, CTFS_F_OPENS, 1);
		ctfs_mfile_add(f, CTFS_F_HANDLES, 1);
		return;
	}
	ctfs_count(CTFS_M_DENIED + kind * CTFS_DENY__N + ctfs_metrics_deny_reason(rc), 1);
	ctfs_mfile_add(f, CTFS_F_DENIED, 1);
}

void ctfs_metrics_closed(struct ctfs_mfile *f)
{
	ctfs_gauge_sub(CTFS_M_OPEN_HANDLES, 1);
	if (f)
		atomic_fetch_sub_explicit(&f->v[CTFS_F_HANDLES], 1, memory_order_relaxed);
}

void ctfs_metrics_read(struct ctfs_mfile *f, long long n, uint64_t t0)
{
	ctfs_count(CTFS_M_READS, 1);
	if (n < 0) {
		ctfs_count(CTFS_M_READ_ERRORS, 1);
	} else {
		ctfs_count(CTFS_M_READ_BYTES, (uint64_t)n);
		ctfs_mfile_add(f, CTFS_F_READ_BYTES, (uint64_t)n);
	}
	if (t0)
		ctfs_observe_since(CTFS_H_READ, t0);
}

uint64_t ctfs_metrics_rss_bytes(void)
{
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "re");
	int got;

	if (!f)
		return 0;
	got = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	return got == 2 && page > 0 ? resident * (uint64_t)page : 0;
}

int ctfs_metrics_policy(int rc, uint64_t t0)
{
	ctfs_observe_since(CTFS_H_POLICY, t0);
	ctfs_count(rc == 0 ? CTFS_M_POLICY_ALLOW : rc == -EACCES || rc == -EPERM
		   ? CTFS_M_POLICY_DENY : CTFS_M_POLICY_ERROR, 1);
	return rc;
}
