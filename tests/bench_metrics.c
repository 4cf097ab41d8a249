/* Cost of the metrics hot path and of one scrape: ns per counter update
 * (one thread, then two at once on the same counter), per histogram
 * observation, and the time to render the exposition with 64 files and 16
 * kids. Built by make check, run by hand: tests/bench_metrics */
#include <pthread.h>
#include <stdio.h>

#include "metrics/metrics.h"

#define N 20000000

static void *adds(void *arg)
{
	(void)arg;
	for (int i = 0; i < N; i++)
		ctfs_count(CTFS_M_READ_BYTES, 4096);
	return NULL;
}

static double per_op(uint64_t t0, uint64_t n)
{
	return (double)(ctfs_metrics_now_ns() - t0) / (double)n;
}

int main(void)
{
	struct ctfs_metrics_info in = { "/srv/models/x", "/mnt/x", "-o keyring=@u", "0.1.0", 0 };
	pthread_t t[2];
	uint64_t t0;
	char name[64];

	ctfs_metrics_init(64);
	t0 = ctfs_metrics_now_ns();
	adds(NULL);
	printf("counter add, 1 thread:        %.2f ns\n", per_op(t0, N));
	t0 = ctfs_metrics_now_ns();
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, adds, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("counter add, 2 threads:       %.2f ns (wall per add per thread)\n", per_op(t0, N));
	t0 = ctfs_metrics_now_ns();
	for (int i = 0; i < N / 10; i++)
		ctfs_observe_ns(CTFS_H_DECRYPT, (uint64_t)i & 0xfffff);
	printf("histogram observation:        %.2f ns\n", per_op(t0, N / 10));
	t0 = ctfs_metrics_now_ns();
	for (int i = 0; i < N / 10; i++)
		ctfs_observe_since(CTFS_H_READ, ctfs_metrics_now_ns());
	printf("two clock reads + observation: %.2f ns\n", per_op(t0, N / 10));
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "models/shard-%05d-of-00064.safetensors", i);
		ctfs_metrics_opened(CTFS_OPEN_MODEL, ctfs_metrics_file(name), 0);
	}
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "kid-%d", i);
		ctfs_metrics_key_lookup(name, 0);
	}
	{
		struct ctfs_buf b = { 0 };
		size_t len = 0;
		int rounds = 2000;

		t0 = ctfs_metrics_now_ns();
		for (int i = 0; i < rounds; i++) {
			b.len = 0;
			if (ctfs_metrics_render(&b, &in))
				return 1;
			len = b.len;
		}
		printf("render /metrics (64 files, 16 kids): %.1f us, %zu bytes\n",
		       per_op(t0, (uint64_t)rounds) / 1000, len);
		t0 = ctfs_metrics_now_ns();
		for (int i = 0; i < rounds; i++) {
			b.len = 0;
			if (ctfs_metrics_status_json(&b, &in))
				return 1;
			len = b.len;
		}
		printf("render /status (64 files, 16 kids):  %.1f us, %zu bytes\n",
		       per_op(t0, (uint64_t)rounds) / 1000, len);
		ctfs_buf_free(&b);
	}
	ctfs_metrics_reset();
	return 0;
}
