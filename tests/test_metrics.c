/* Unit tests of src/metrics: counters under concurrency, histograms, bounded
 * and escaped label sets, the exposition, key states, the usage file and the
 * operations server (real sockets on 127.0.0.1 and in a temp dir). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "metrics/server.h"
#include "metrics/usage.h"
#include "tap.h"

#define THREADS 4
#define ADDS 200000

static struct ctfs_mfile *shared_file;

static void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < ADDS; i++) {
		ctfs_count(CTFS_M_READ_BYTES, 3);
		ctfs_mfile_add(shared_file, CTFS_F_READ_BYTES, 1);
		if (i % 1000 == 0)
			ctfs_observe_ns(CTFS_H_DECRYPT, 2000);
	}
	return NULL;
}

static char *render(void)
{
	struct ctfs_metrics_info in = { "/src", "/mnt", "ro", "0.1.0", 1.5 };
	struct ctfs_buf b = { 0 };

	if (ctfs_metrics_render(&b, &in) || ctfs_buf_putc(&b, 0)) {
		ctfs_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

static void test_concurrent_counts(void)
{
	pthread_t t[THREADS];
	uint64_t b[CTFS_HIST_BUCKETS + 1], count, sum;
	char *text;

	ctfs_metrics_reset();
	ctfs_metrics_init(4);
	shared_file = ctfs_metrics_file("m.safetensors");
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, adder, NULL);
	for (int i = 0; i < 20; i++) { /* scrapes while the adds run */
		text = render();
		tap_ok(text != NULL, "render during updates (%d)", i);
		free(text);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	tap_ok(ctfs_metrics_get(CTFS_M_READ_BYTES) == 3ull * THREADS * ADDS,
	       "sharded counter is exact after %d threads", THREADS);
	tap_ok(atomic_load(&shared_file->v[CTFS_F_READ_BYTES]) == (uint64_t)THREADS * ADDS,
	       "per-file counter is exact");
	ctfs_metrics_hist(CTFS_H_DECRYPT, b, &count, &sum);
	tap_ok(count == THREADS * (ADDS / 1000) && sum == count * 2000 && b[1] == count,
	       "histogram count, sum and bucket (%llu)", (unsigned long long)count);
}

static void test_files_bounded_and_escaped(void)
{
	struct ctfs_mfile *a, *b, *c, *again;
	char *text;

	ctfs_metrics_reset();
	ctfs_metrics_init(2);
	a = ctfs_metrics_file("dir/a \"quoted\".safetensors");
	b = ctfs_metrics_file("b\\c\nd.safetensors");
	c = ctfs_metrics_file("c.safetensors");
	again = ctfs_metrics_file("dir/a \"quoted\".safetensors");
	tap_ok(a != b && again == a, "one series per file");
	tap_ok(!strcmp(c->name, "other"), "the third file folds into \"other\" (cap 2)");
	ctfs_metrics_opened(CTFS_OPEN_MODEL, a, 0);
	ctfs_metrics_opened(CTFS_OPEN_MODEL, c, -ENOKEY);
	ctfs_metrics_opened(CTFS_OPEN_TGSP, NULL, -EACCES);
	ctfs_metrics_read(a, 100, ctfs_metrics_now_ns());
	text = render();
	tap_ok(text && strstr(text, "ctfs_file_read_bytes_total{file=\"dir/a \\\"quoted\\\".safetensors\"} 100\n"),
	       "quote escaped in a label value");
	tap_ok(text && strstr(text, "ctfs_file_opens_total{file=\"b\\\\c\\nd.safetensors\"} 0\n"),
	       "backslash and newline escaped");
	tap_ok(text && strstr(text, "ctfs_file_opens_denied_total{file=\"other\"} 1\n"),
	       "the fold counts the refused open");
	tap_ok(text && strstr(text, "ctfs_opens_denied_total{kind=\"model\",reason=\"no_key\"} 1\n") &&
	       strstr(text, "ctfs_opens_denied_total{kind=\"tgsp\",reason=\"policy\"} 1\n") &&
	       strstr(text, "ctfs_opens_total{kind=\"model\"} 1\n"),
	       "opens by kind, refusals by reason");
	tap_ok(text && strstr(text, "ctfs_open_handles 1\n") &&
	       strstr(text, "ctfs_file_open_handles{file=\"dir/a \\\"quoted\\\".safetensors\"} 1\n"),
	       "open handle gauges");
	ctfs_metrics_closed(a);
	free(text);
	text = render();
	tap_ok(text && strstr(text, "ctfs_open_handles 0\n"), "gauge back to 0 after release");
	tap_ok(text && strstr(text, "ctfs_read_duration_seconds_count 1\n") &&
	       strstr(text, "ctfs_read_duration_seconds_bucket{le=\"+Inf\"} 1\n"),
	       "read histogram");
	free(text);
}

/* Every line is a comment (# HELP / # TYPE once per family, before its
 * samples) or `name{labels} value` with a family announced by TYPE. */
static void test_format_shape(void)
{
	char *text = render(), *save = NULL, family[256] = "";
	int bad = 0, lines = 0;

	for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save), lines++) {
		if (!strncmp(l, "# TYPE ", 7)) {
			sscanf(l + 7, "%255s", family);
			continue;
		}
		if (l[0] == '#')
			continue;
		if (strncmp(l, family, strlen(family)) || !strchr(l, ' '))
			bad++, tap_diag("out of family %s: %s", family, l);
	}
	tap_ok(text && lines > 100 && !bad, "every sample follows its TYPE line (%d lines)", lines);
	free(text);
}

static int fake_present(void *arg, const char *kid)
{
	(void)arg;
	return strcmp(kid, "k1") ? 1 : 0; /* k1 was removed */
}

static void test_keys(void)
{
	struct ctfs_metrics_info in = { "/src", "/mnt", "ro", "0.1.0", 1.5 };
	struct ctfs_buf b = { 0 };
	cJSON *j;
	char *text;

	ctfs_metrics_reset();
	ctfs_metrics_key_lookup("k1", 0);
	ctfs_metrics_key_lookup("k2", 0);
	text = render();
	tap_ok(text && strstr(text, "ctfs_key_present{kid=\"k1\"} 1\n"), "key present after lookup");
	free(text);
	ctfs_metrics_probe_keys(fake_present, NULL);
	text = render();
	tap_ok(text && strstr(text, "ctfs_key_present{kid=\"k1\"} 0\n") &&
	       strstr(text, "ctfs_key_present{kid=\"k2\"} 1\n") &&
	       strstr(text, "ctfs_keys_disappeared_total 1\n"),
	       "a removed key shows at the next probe");
	free(text);
	ctfs_metrics_key_lookup("k1", -ENOKEY);
	text = render();
	tap_ok(text && strstr(text, "ctfs_keys_disappeared_total 1\n") &&
	       strstr(text, "ctfs_key_lookups_total{result=\"absent\"} 1\n"),
	       "counted once, the failed lookup by result");
	free(text);
	tap_ok(!ctfs_metrics_status_json(&b, &in) && !ctfs_buf_putc(&b, 0), "status json");
	j = cJSON_Parse((char *)b.data);
	tap_ok(j && cJSON_IsArray(cJSON_GetObjectItem(j, "keys")) &&
	       !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetArrayItem(cJSON_GetObjectItem(j, "keys"), 0), "state")), "absent"),
	       "status parses as JSON; k1 absent");
	tap_ok(j && cJSON_GetObjectItem(cJSON_GetObjectItem(j, "counters"),
					"ctfs_key_lookups_total{result=\"found\"}") != NULL,
	       "status carries the counters");
	cJSON_Delete(j);
	ctfs_buf_free(&b);
}

static void test_deny_reasons(void)
{
	tap_ok(ctfs_metrics_deny_reason(-EACCES) == CTFS_DENY_POLICY &&
	       ctfs_metrics_deny_reason(-ENOKEY) == CTFS_DENY_NO_KEY &&
	       ctfs_metrics_deny_reason(-EKEYREVOKED) == CTFS_DENY_KEY_REJECTED &&
	       ctfs_metrics_deny_reason(-EBADMSG) == CTFS_DENY_INTEGRITY &&
	       ctfs_metrics_deny_reason(-EFBIG) == CTFS_DENY_TOO_BIG &&
	       ctfs_metrics_deny_reason(-ENOMEM) == CTFS_DENY_OTHER, "errno to reason");
}

static int count_lines(const char *path, uint64_t *bytes, int *finals)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int n = 0;

	*bytes = 0;
	*finals = 0;
	while (f && fgets(line, sizeof(line), f)) {
		cJSON *j = cJSON_Parse(line);

		if (!j)
			return -1;
		*bytes += (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "bytes"));
		*finals += cJSON_IsTrue(cJSON_GetObjectItem(j, "final"));
		cJSON_Delete(j);
		n++;
	}
	if (f)
		fclose(f);
	return n;
}

static void test_usage(const char *dir)
{
	char path[512];
	struct ctfs_usage *u;
	struct ctfs_usage_entry *e1, *e2, *e3;
	uint64_t bytes;
	int finals, n;

	snprintf(path, sizeof(path), "%s/usage.jsonl", dir);
	tap_ok(ctfs_usage_open(path, "/src \"x\"", "/mnt", &u) == 0, "usage file opened");
	e1 = ctfs_usage_opened(u, "a.safetensors", 1000, "/usr/bin/python3");
	e2 = ctfs_usage_opened(u, "a.safetensors", 1001, "/usr/bin/python3");
	e3 = ctfs_usage_opened(u, "a.safetensors", 1000, "/usr/bin/python3");
	tap_ok(e1 == e3 && e1 != e2, "one entry per (file, uid, exe)");
	ctfs_usage_bytes(e1, 10);
	ctfs_usage_bytes(e2, 5);
	tap_ok(ctfs_usage_flush(u, false) == 0, "periodic flush");
	tap_ok(ctfs_usage_flush(u, false) == 0, "a flush with nothing new writes nothing");
	ctfs_usage_bytes(e1, 7);
	ctfs_usage_close(u);
	n = count_lines(path, &bytes, &finals);
	tap_ok(n == 3 && bytes == 22 && finals == 1,
	       "3 JSON lines, 22 bytes in all, one final record (%d lines)", n);
}

/* A full disk: the append fails, is counted, and the counts wait for the
 * next flush instead of being lost. */
static void test_usage_full_disk(void)
{
	struct ctfs_usage *u;
	struct ctfs_usage_entry *e;
	uint64_t errs = ctfs_metrics_get(CTFS_M_USAGE_WRITE_ERRORS);

	if (ctfs_usage_open("/dev/full", "/src", "/mnt", &u)) {
		tap_ok(0, "open /dev/full");
		return;
	}
	e = ctfs_usage_opened(u, "a.safetensors", 0, "/bin/cat");
	ctfs_usage_bytes(e, 1234);
	tap_ok(ctfs_usage_flush(u, false) == -ENOSPC, "append to a full disk fails with ENOSPC");
	tap_ok(atomic_load(&e->bytes) == 1234 && atomic_load(&e->opens) == 1,
	       "the counts are kept for the next flush");
	tap_ok(ctfs_metrics_get(CTFS_M_USAGE_WRITE_ERRORS) == errs + 1, "the failure is counted");
	ctfs_usage_close(u);
}

/* One HTTP exchange; the whole answer (headers and body) in out. */
static int http(const struct sockaddr *sa, socklen_t sl, const char *req, char *out, size_t cap)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t len = 0;
	ssize_t n;

	if (fd < 0 || connect(fd, sa, sl) || write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (len + 1 < cap && (n = read(fd, out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = 0;
	close(fd);
	return (int)len;
}

static int render_cb(void *arg, enum ctfs_opsd_route route, struct ctfs_buf *out)
{
	struct ctfs_metrics_info in = { "/src", "/mnt", "ro", "0.1.0", 1.5 };

	(*(int *)arg)++;
	return route == CTFS_ROUTE_METRICS ? ctfs_metrics_render(out, &in)
					   : ctfs_metrics_status_json(out, &in);
}

static int ticks;
static void tick_cb(void *arg)
{
	(void)arg;
	ticks++;
}

static void test_server(const char *dir)
{
	static char buf[1 << 20];
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct ctfs_opsd_config cfg = { .tcp = "127.0.0.1:0", .render = render_cb,
					.tick = tick_cb, .tick_ms = 100 };
	struct ctfs_opsd *s;
	char upath[100], big[CTFS_OPSD_REQ_MAX + 100];
	int calls = 0, idle[CTFS_OPSD_CONNS], busy_ok;

	snprintf(upath, sizeof(upath), "%s/status.sock", dir);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", upath);
	cfg.unix_path = upath;
	cfg.arg = &calls;
	tap_ok(ctfs_opsd_start(&cfg, &s) == 0 && ctfs_opsd_tcp_port(s) > 0, "server started");
	in4.sin_port = htons((uint16_t)ctfs_opsd_tcp_port(s));
	http((struct sockaddr *)&in4, sizeof(in4), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", buf,
	     sizeof(buf));
	tap_ok(!strncmp(buf, "HTTP/1.0 200 OK\r\n", 17) &&
	       strstr(buf, "Content-Type: text/plain; version=0.0.4") &&
	       strstr(buf, "\r\n\r\n# HELP ctfs_mount_info"), "GET /metrics over TCP");
	http((struct sockaddr *)&in4, sizeof(in4), "GET /status HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	tap_ok(!strncmp(buf, "HTTP/1.0 403", 12), "no /status over TCP");
	http((struct sockaddr *)&un, sizeof(un), "GET /status HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	tap_ok(!strncmp(buf, "HTTP/1.0 200", 12) && strstr(buf, "application/json") &&
	       strstr(buf, "\"mount\":{"), "GET /status on the Unix socket");
	http((struct sockaddr *)&un, sizeof(un), "POST /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	tap_ok(!strncmp(buf, "HTTP/1.0 405", 12), "POST refused");
	http((struct sockaddr *)&un, sizeof(un), "GET /etc/passwd HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	tap_ok(!strncmp(buf, "HTTP/1.0 404", 12), "other paths: 404");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "GET /metrics HTTP/1.0\r\nX: ", 26);
	http((struct sockaddr *)&un, sizeof(un), big, buf, sizeof(buf));
	tap_ok(!strncmp(buf, "HTTP/1.0 431", 12), "oversized request: 431");
	/* fill every slot with idle clients: one more is turned away, and
	 * serving resumes when they go */
	for (int i = 0; i < CTFS_OPSD_CONNS; i++) {
		idle[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		connect(idle[i], (struct sockaddr *)&un, sizeof(un));
	}
	usleep(200000);
	busy_ok = http((struct sockaddr *)&un, sizeof(un), "GET /metrics HTTP/1.0\r\n\r\n", buf,
		       sizeof(buf));
	tap_ok(busy_ok <= 0, "connection over the limit closed unanswered");
	for (int i = 0; i < CTFS_OPSD_CONNS; i++)
		close(idle[i]);
	usleep(200000);
	http((struct sockaddr *)&un, sizeof(un), "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	tap_ok(!strncmp(buf, "HTTP/1.0 200", 12), "served again once they left");
	/* an idle client is dropped after the timeout */
	idle[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	connect(idle[0], (struct sockaddr *)&un, sizeof(un));
	{
		struct timeval tv = { CTFS_OPSD_TIMEOUT_MS / 1000 + 3, 0 };
		char c;

		setsockopt(idle[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		tap_ok(read(idle[0], &c, 1) == 0, "idle client closed by the server's timeout");
	}
	close(idle[0]);
	tap_ok(ticks > 10, "tick ran (%d)", ticks);
	ctfs_opsd_stop(s);
	tap_ok(access(upath, F_OK) != 0, "socket removed at stop");
	tap_ok(ctfs_opsd_start(&(struct ctfs_opsd_config){ .tcp = "nonsense", .render = render_cb },
			       &s) == -EINVAL, "bad address refused");
}

static void test_socket_path(void)
{
	char a[256], b[256], c[256];

	tap_ok(!ctfs_status_socket_path("/mnt/a", 0, false, a, sizeof(a)) &&
	       !ctfs_status_socket_path("/mnt/b", 0, false, b, sizeof(b)) &&
	       !ctfs_status_socket_path("/mnt/a", 0, false, c, sizeof(c)) &&
	       strcmp(a, b) && !strcmp(a, c) && !strncmp(a, "/run/ctfs/", 10),
	       "socket path: one per mount point, under /run/ctfs for root");
}

int main(void)
{
	char dir[] = "/tmp/ctfs-test-metrics-XXXXXX";

	/* the server closes connections it refuses while the client writes */
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	test_concurrent_counts();
	test_files_bounded_and_escaped();
	test_format_shape();
	test_keys();
	test_deny_reasons();
	test_usage(dir);
	test_usage_full_disk();
	test_server(dir);
	test_socket_path();
	ctfs_metrics_reset();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			tap_diag("cannot remove %s", dir);
	}
	return tap_done();
}
