/* The cost of an access decision (issue 10: <= 50 us for a typical policy):
 * evaluating a compiled policy with its input, and the whole step an open
 * takes (reading the caller's /proc facts, building the input, evaluating).
 * Prints "decide_us N" and "open_step_us N" (medians of ITER rounds); run
 * by `make bench` (tools/bench/ctfs-bench). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/facts.h"
#include "policy/rego.h"

#define ITER 2001

static const char policy[] =
	"package model\n"
	"import rego.v1\n"
	"default allow := false\n"
	"allow if {\n"
	"\tinput.process.uid in data.uids\n"
	"\tnot startswith(input.process.exe, \"/tmp/\")\n"
	"\ttime.now_ns() < time.parse_rfc3339_ns(\"2100-01-01T00:00:00Z\")\n"
	"\tnot input.process.comm in {\"cat\", \"dd\", \"cp\"}\n"
	"}\n";
static const char data[] = "{\"uids\":[0,1000,1001]}";

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[n / 2];
}

/* One open's step: facts, input, decision. */
static int open_step(const struct ctfs_rego *r, const struct ctfs_host_facts *host, int decide_only,
		     const struct ctfs_buf *fixed)
{
	const struct ctfs_file_facts f = { "/m/model.safetensors", 1 << 30, "cryptotensors", 2,
					   "aes256gcm", "enc-1", "sign-1" };
	struct ctfs_proc_facts p;
	struct ctfs_buf in = { 0 };
	char why[256];
	int rc;

	if (decide_only)
		return ctfs_rego_decide(r, (char *)fixed->data, fixed->len, data, strlen(data), why,
					sizeof(why));
	if (ctfs_proc_facts_read(getpid(), getuid(), getgid(), &p))
		return -1;
	rc = ctfs_policy_input(&p, host, &f, &in);
	if (!rc)
		rc = ctfs_rego_decide(r, (char *)in.data, in.len, data, strlen(data), why, sizeof(why));
	ctfs_buf_free(&in);
	ctfs_proc_facts_free(&p);
	return rc;
}

int main(void)
{
	const char *texts[1] = { policy };
	size_t len = strlen(policy);
	static double t[2][ITER];
	struct ctfs_host_facts host;
	struct ctfs_proc_facts p;
	struct ctfs_buf fixed = { 0 };
	struct ctfs_rego *r;
	const struct ctfs_file_facts f = { "/m/model.safetensors", 1 << 30, "cryptotensors", 2,
					   "aes256gcm", "enc-1", "sign-1" };
	char err[256];

	ctfs_host_facts_read(&host, "fleet-a");
	if (ctfs_rego_compile(texts, &len, 1, NULL, &r, err, sizeof(err)) ||
	    ctfs_proc_facts_read(getpid(), getuid(), getgid(), &p) ||
	    ctfs_policy_input(&p, &host, &f, &fixed)) {
		fprintf(stderr, "bench_policy: setup failed: %s\n", err);
		return 1;
	}
	ctfs_proc_facts_free(&p);
	for (int kind = 0; kind < 2; kind++) {
		for (int i = 0; i < ITER; i++) {
			double t0 = now_us();

			if (open_step(r, &host, kind == 0, &fixed)) {
				fprintf(stderr, "bench_policy: the policy did not allow\n");
				return 1;
			}
			t[kind][i] = now_us() - t0;
		}
	}
	printf("decide_us %.2f\nopen_step_us %.2f\n", median(t[0], ITER), median(t[1], ITER));
	ctfs_buf_free(&fixed);
	ctfs_rego_free(r);
	return 0;
}
