/* A run of jobs on a fixed set of threads. Jobs are claimed from one atomic
 * counter, so they start in index order whatever the number of threads;
 * that is what lets a failure be reported as "the first failing job". */
#include "sys/workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define DEFAULT_TICK_MS 200u

struct pool {
	const struct ctfs_pool_run *r;
	atomic_uint_fast64_t next;
	atomic_bool stop;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned running;
	uint64_t bad;                /* lowest failed job, UINT64_MAX: none */
	int bad_rc;
	int cancel_rc;
};

struct worker {
	struct pool *p;
	unsigned w;
	pthread_t thread;
};

unsigned ctfs_pool_threads(unsigned want)
{
	long n = want ? (long)want : sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	if (n > (long)CTFS_POOL_MAX_THREADS)
		n = CTFS_POOL_MAX_THREADS;
	return (unsigned)n;
}

static void record_failure(struct pool *p, uint64_t i, int rc)
{
	pthread_mutex_lock(&p->lock);
	if (i < p->bad) {
		p->bad = i;
		p->bad_rc = rc;
	}
	pthread_mutex_unlock(&p->lock);
	atomic_store(&p->stop, true);
}

/* Claim and run jobs until none is left or the run stops. */
static void work(struct pool *p, unsigned w)
{
	while (!atomic_load(&p->stop)) {
		uint64_t i = atomic_fetch_add(&p->next, 1);
		int rc;

		if (i >= p->r->n_jobs)
			break;
		rc = p->r->job(p->r->arg, i, w);
		if (rc)
			record_failure(p, i, rc);
	}
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;

	work(wk->p, wk->w);
	pthread_mutex_lock(&wk->p->lock);
	wk->p->running--;
	pthread_cond_signal(&wk->p->idle);
	pthread_mutex_unlock(&wk->p->lock);
	return NULL;
}

static void tick(struct pool *p)
{
	int rc = p->r->tick ? p->r->tick(p->r->tick_arg) : 0;

	if (rc && !p->cancel_rc) {
		p->cancel_rc = rc;
		atomic_store(&p->stop, true);
	}
}

static void deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The calling thread ticks until every worker has finished. */
static void wait_workers(struct pool *p)
{
	unsigned ms = p->r->tick_ms ? p->r->tick_ms : DEFAULT_TICK_MS;
	struct timespec ts;

	pthread_mutex_lock(&p->lock);
	deadline(&ts, ms);
	while (p->running) {
		if (pthread_cond_timedwait(&p->idle, &p->lock, &ts) != ETIMEDOUT)
			continue;
		pthread_mutex_unlock(&p->lock);
		tick(p);
		pthread_mutex_lock(&p->lock);
		deadline(&ts, ms);
	}
	pthread_mutex_unlock(&p->lock);
}

static int init_sync(struct pool *p)
{
	pthread_condattr_t ca;
	int rc;

	if (pthread_condattr_init(&ca))
		return -ENOMEM;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ? -EINVAL : 0;
	if (!rc && pthread_cond_init(&p->idle, &ca))
		rc = -ENOMEM;
	pthread_condattr_destroy(&ca);
	if (!rc && pthread_mutex_init(&p->lock, NULL)) {
		pthread_cond_destroy(&p->idle);
		rc = -ENOMEM;
	}
	return rc;
}

/* Start the workers; with none started, the calling thread does the work. */
static void run_workers(struct pool *p, struct worker *wk, unsigned n)
{
	unsigned started = 0;

	pthread_mutex_lock(&p->lock);
	for (unsigned w = 0; w < n; w++) {
		wk[started] = (struct worker){ .p = p, .w = started };
		if (pthread_create(&wk[started].thread, NULL, worker_main, &wk[started]))
			break;
		started++;
		p->running++;
	}
	pthread_mutex_unlock(&p->lock);
	if (started) {
		wait_workers(p);
		for (unsigned w = 0; w < started; w++)
			pthread_join(wk[w].thread, NULL);
	} else {
		work(p, 0);
	}
	tick(p);
}

int ctfs_pool_run(const struct ctfs_pool_run *r, uint64_t *failed)
{
	struct pool p = { .r = r, .bad = UINT64_MAX };
	unsigned n = r->threads ? r->threads : 1;
	struct worker *wk;
	int rc;

	if (failed)
		*failed = UINT64_MAX;
	if (n > CTFS_POOL_MAX_THREADS)
		return -EINVAL;
	if (!r->n_jobs) {
		tick(&p);
		return 0;
	}
	wk = calloc(n, sizeof(*wk));
	if (!wk)
		return -ENOMEM;
	atomic_init(&p.next, 0);
	atomic_init(&p.stop, false);
	rc = init_sync(&p);
	if (rc) {
		free(wk);
		return rc;
	}
	run_workers(&p, wk, n);
	pthread_cond_destroy(&p.idle);
	pthread_mutex_destroy(&p.lock);
	free(wk);
	if (p.bad != UINT64_MAX) {
		if (failed)
			*failed = p.bad;
		return p.bad_rc;
	}
	return p.cancel_rc;
}

int ctfs_job_map_init(struct ctfs_job_map *m, const uint64_t *counts, size_t n_groups)
{
	uint64_t total = 0;

	*m = (struct ctfs_job_map){ .n_groups = n_groups };
	m->first = calloc(n_groups ? n_groups : 1, sizeof(*m->first));
	if (!m->first)
		return -ENOMEM;
	for (size_t g = 0; g < n_groups; g++) {
		m->first[g] = total;
		if (ctfs_add_overflow(total, counts[g], &total)) {
			ctfs_job_map_free(m);
			return -EOVERFLOW;
		}
	}
	m->total = total;
	return 0;
}

void ctfs_job_map_find(const struct ctfs_job_map *m, uint64_t i, size_t *group, uint64_t *idx)
{
	size_t lo = 0, hi = m->n_groups;

	/* the last group whose first job is <= i (empty groups share a first
	 * job with their successor and are skipped) */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->first[mid] <= i)
			lo = mid;
		else
			hi = mid;
	}
	*group = lo;
	*idx = i - m->first[lo];
}

void ctfs_job_map_free(struct ctfs_job_map *m)
{
	free(m->first);
	m->first = NULL;
	m->n_groups = 0;
	m->total = 0;
}
