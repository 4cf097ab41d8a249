/* The anti-rollback store: ordering, listing, forgetting, damage, sharing by
 * processes, and kill -9 at random points while it is being updated. */
#include "trust/rollback.h"
#include "trust/thumbprint.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/ctfs-rollback-XXXXXX";
static char path[256];
static const uint8_t signer_a[32] = { 1 }, signer_b[32] = { 2 };

static int check(const uint8_t *s, const char *id, uint64_t v, uint64_t *hi)
{
	char err[256];

	return ctfs_rollback_check(path, s, id, v, hi, err, sizeof(err));
}

static void test_order(void)
{
	uint64_t hi = 0;
	char err[256] = "";

	tap_ok(!check(signer_a, "llama", 3, &hi) && hi == 3, "v3 accepted on an empty store");
	tap_ok(ctfs_rollback_check(path, signer_a, "llama", 2, &hi, err, sizeof(err)) ==
	       -EACCES && hi == 3 && strstr(err, "version 2") && strstr(err, "version 3"),
	       "v2 then refused (%s)", err);
	tap_ok(!check(signer_a, "llama", 3, &hi), "v3 again accepted");
	tap_ok(!check(signer_b, "llama", 1, &hi), "another signer's model of that id is apart");
	tap_ok(!check(signer_a, "llama", 7, &hi) && hi == 7, "v7 raises the mark");
	tap_ok(check(signer_a, "llama", 6, &hi) == -EACCES, "v6 now refused");
	tap_ok(check(signer_a, "bad\nid", 1, &hi) == -EINVAL, "an id with a newline is refused");
	tap_ok(check(signer_a, "x", (uint64_t)INT64_MAX + 1, &hi) == -EINVAL,
	       "versions past 2^63-1 are refused");
}

static void test_list_forget(void)
{
	struct ctfs_rollback_entry *e;
	size_t n, dropped;
	char err[256];
	uint64_t hi;

	tap_ok(!ctfs_rollback_list(path, &e, &n, err, sizeof(err)) && n == 2,
	       "two models listed");
	ctfs_rollback_entries_free(e, n);
	tap_ok(!ctfs_rollback_forget(path, signer_a, "llama", &dropped, err, sizeof(err)) &&
	       dropped == 1, "forget one signer's model");
	tap_ok(!check(signer_a, "llama", 1, &hi), "after forget, v1 is accepted again");
	tap_ok(!ctfs_rollback_forget(path, NULL, "llama", &dropped, err, sizeof(err)) &&
	       dropped == 2, "forget a model for every signer");
}

static void test_damaged(void)
{
	char err[256] = "";
	uint64_t hi;
	FILE *f = fopen(path, "w");

	fputs("ctfs-rollback 1\nnot a line\n", f);
	fclose(f);
	tap_ok(ctfs_rollback_check(path, signer_a, "m", 1, &hi, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "damaged"), "a damaged store fails closed");
	unlink(path);
}

/* Children raise versions of one model as fast as they can; each prints the
 * versions the store acknowledged. */
static void writer(int fd, uint64_t start)
{
	for (uint64_t v = start;; v++) {
		uint64_t hi;
		char line[32];
		int n;

		if (check(signer_a, "race", v, &hi) == 0) {
			n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)v);
			if (write(fd, line, (size_t)n) != n)
				_exit(1);
		}
	}
}

static uint64_t read_acked(int fd)
{
	char buf[1 << 16];
	uint64_t last = 0;
	ssize_t n;
	size_t have = 0;

	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *p = buf, *nl;

		have += (size_t)n;
		buf[have] = 0;
		while ((nl = strchr(p, '\n'))) {
			uint64_t v = strtoull(p, NULL, 10);

			if (v > last)
				last = v;
			p = nl + 1;
		}
		have = (size_t)(buf + have - p);
		memmove(buf, p, have);
	}
	return last;
}

static void test_crash(unsigned seed)
{
	uint64_t floor = 0;
	int bad = 0;

	tap_diag("crash test seed %u (replay: CTFS_SEED=%u)", seed, seed);
	srand(seed);
	for (int round = 0; round < 40; round++) {
		int p[2];
		pid_t pid;
		struct timespec ts = { 0, (rand() % 10000 + 50) * 1000L };
		struct ctfs_rollback_entry *e;
		size_t n;
		char err[256];
		uint64_t acked, stored = 0;

		if (pipe(p))
			break;
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			writer(p[1], floor + 1);
		}
		close(p[1]);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		acked = read_acked(p[0]);
		close(p[0]);
		if (ctfs_rollback_list(path, &e, &n, err, sizeof(err))) {
			tap_diag("round %d: store unreadable: %s", round, err);
			bad++;
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if (!strcmp(e[i].model_id, "race"))
				stored = e[i].version;
		ctfs_rollback_entries_free(e, n);
		if (stored < acked || stored < floor) {
			tap_diag("round %d: stored %llu < acknowledged %llu / floor %llu", round,
				 (unsigned long long)stored, (unsigned long long)acked,
				 (unsigned long long)floor);
			bad++;
		}
		floor = stored;
	}
	tap_ok(!bad && floor > 0, "kill -9 during updates never loses the high-water mark "
	       "(40 rounds, final %llu)", (unsigned long long)floor);
}

static void test_versions(void)
{
	static const struct { const char *text; uint64_t want; } good[] = {
		{ "0", 0 }, { "7", 7 }, { "1.0.0", 1ull << 40 }, { "1.2", 1ull << 40 | 2ull << 20 },
		{ "2.10.3", 2ull << 40 | 10ull << 20 | 3 },
	};
	static const char *bad[] = { "", "v1", "1.0.0-rc1", "1..0", "1.0.0.0", "01.0", "1.",
				     "1048576.0.0.0", "1.1048576", "-1", " 1" };
	uint64_t v, a, b;
	int ok = 1;

	for (size_t i = 0; i < CTFS_ARRAY_LEN(good); i++)
		ok &= !ctfs_rollback_version_parse(good[i].text, &v) && v == good[i].want;
	tap_ok(ok, "integers and dotted versions are ordered");
	ok = 1;
	for (size_t i = 0; i < CTFS_ARRAY_LEN(bad); i++)
		ok &= ctfs_rollback_version_parse(bad[i], &v) == -EINVAL;
	tap_ok(ok, "versions that cannot be ordered are refused");
	tap_ok(!ctfs_rollback_version_parse("1.9.9", &a) && !ctfs_rollback_version_parse("1.10.0", &b)
	       && a < b, "1.9.9 < 1.10.0");
}

int main(void)
{
	const char *s = getenv("CTFS_SEED");
	unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
	char cmd[300];

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/rollback.db", dir);
	test_order();
	test_versions();
	test_list_forget();
	test_damaged();
	test_crash(seed);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		tap_diag("cannot remove %s", dir);
	return tap_done();
}
