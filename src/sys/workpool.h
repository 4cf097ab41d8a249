/* Running many independent jobs (sealing or opening AEAD messages, copying
 * ranges) on a few threads, with a progress tick on the calling thread. */
#ifndef CTFS_WORKPOOL_H
#define CTFS_WORKPOOL_H

#include <stddef.h>
#include <stdint.h>

/* More threads than this gain nothing on I/O-bound work and cost buffers. */
#define CTFS_POOL_MAX_THREADS 16u

/* want, or the number of online CPUs when want is 0, capped to
 * [1, CTFS_POOL_MAX_THREADS]. */
unsigned ctfs_pool_threads(unsigned want);

struct ctfs_pool_run {
	uint64_t n_jobs;
	unsigned threads;            /* as ctfs_pool_threads() returned */
	/* job i on worker w (0 <= w < threads); 0 or a negative errno */
	int (*job)(void *arg, uint64_t i, unsigned w);
	void *arg;
	/* Called on the calling thread about every tick_ms while jobs run, and
	 * once when they are done; a non-zero return cancels (jobs not yet
	 * started are not started) and becomes the result. May be NULL. */
	int (*tick)(void *arg);
	void *tick_arg;
	unsigned tick_ms;            /* 0: 200 */
};

/*
 * Run every job, started in increasing index order. The first failure stops
 * further jobs from starting; the ones running finish. Returns 0, or the
 * result of the failed job with the lowest index (stored in *failed, which
 * may be NULL; UINT64_MAX when a tick cancelled the run or no thread could
 * be started). Since jobs start in order, every job below that index ran.
 */
int ctfs_pool_run(const struct ctfs_pool_run *r, uint64_t *failed);

/* Jobs in groups (a tensor's chunks): group g holds counts[g] jobs, and the
 * jobs are numbered group after group. */
struct ctfs_job_map {
	size_t n_groups;
	uint64_t *first;             /* first job of each group */
	uint64_t total;
};

/* 0, -ENOMEM or -EOVERFLOW. Release with ctfs_job_map_free. */
int ctfs_job_map_init(struct ctfs_job_map *m, const uint64_t *counts, size_t n_groups);
/* The group of job i (< total) and its index within the group. */
void ctfs_job_map_find(const struct ctfs_job_map *m, uint64_t i, size_t *group, uint64_t *idx);
void ctfs_job_map_free(struct ctfs_job_map *m);

#endif
