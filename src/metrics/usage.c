/* The usage accumulator and its JSON-lines file (see usage.h). */
#include "metrics/usage.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics/metrics.h"
#include "util.h"

#define NAME_CAP CTFS_METRICS_NAME_MAX

struct ctfs_usage {
	pthread_mutex_t lock;         /* the table; flushes are serialised by it too */
	int fd;
	char *path, *source, *mountpoint;
	struct ctfs_usage_entry *e;   /* CTFS_USAGE_MAX + 1: the last one is the fold */
	size_t n;
	time_t since;                 /* start of the current interval */
};

int ctfs_usage_open(const char *path, const char *source, const char *mountpoint,
		    struct ctfs_usage **out)
{
	struct ctfs_usage *u = calloc(1, sizeof(*u));
	int rc = -ENOMEM;

	if (!u)
		return rc;
	u->fd = -1;
	u->e = calloc(CTFS_USAGE_MAX + 1, sizeof(*u->e));
	u->path = strdup(path);
	u->source = strdup(source ? source : "");
	u->mountpoint = strdup(mountpoint ? mountpoint : "");
	if (!u->e || !u->path || !u->source || !u->mountpoint ||
	    pthread_mutex_init(&u->lock, NULL))
		goto fail;
	u->e[CTFS_USAGE_MAX].file = strdup("other");
	u->e[CTFS_USAGE_MAX].exe = strdup("other");
	u->e[CTFS_USAGE_MAX].uid = (uid_t)-1;
	if (!u->e[CTFS_USAGE_MAX].file || !u->e[CTFS_USAGE_MAX].exe)
		goto fail_mutex;
	u->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (u->fd < 0) {
		rc = -errno;
		ctfs_err("usage file %s: cannot open: %m", path);
		goto fail_mutex;
	}
	u->since = time(NULL);
	*out = u;
	return 0;
fail_mutex:
	pthread_mutex_destroy(&u->lock);
fail:
	if (u->e) {
		free(u->e[CTFS_USAGE_MAX].file);
		free(u->e[CTFS_USAGE_MAX].exe);
	}
	free(u->e);
	free(u->path);
	free(u->source);
	free(u->mountpoint);
	free(u);
	return rc;
}

static struct ctfs_usage_entry *find_locked(struct ctfs_usage *u, const char *file, uid_t uid,
					    const char *exe)
{
	struct ctfs_usage_entry *e;

	for (size_t i = 0; i < u->n; i++) {
		e = &u->e[i];
		if (e->uid == uid && !strcmp(e->file, file) && !strcmp(e->exe, exe))
			return e;
	}
	if (u->n == CTFS_USAGE_MAX || strlen(file) > NAME_CAP || strlen(exe) > NAME_CAP)
		return &u->e[CTFS_USAGE_MAX];
	e = &u->e[u->n];
	e->file = strdup(file);
	e->exe = strdup(exe);
	if (!e->file || !e->exe) {
		free(e->file);
		free(e->exe);
		e->file = e->exe = NULL;
		return &u->e[CTFS_USAGE_MAX];
	}
	e->uid = uid;
	u->n++;
	return e;
}

struct ctfs_usage_entry *ctfs_usage_opened(struct ctfs_usage *u, const char *file, uid_t uid,
					   const char *exe)
{
	struct ctfs_usage_entry *e;

	if (!u)
		return NULL;
	pthread_mutex_lock(&u->lock);
	e = find_locked(u, file ? file : "", uid, exe ? exe : "unknown");
	pthread_mutex_unlock(&u->lock);
	atomic_fetch_add_explicit(&e->opens, 1, memory_order_relaxed);
	return e;
}

static void utc(time_t t, char *out, size_t cap)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "%lld", (long long)t);
}

struct flush_ctx {
	struct ctfs_buf buf;
	char from[32], to[32];
	bool final;
};

static int record(struct ctfs_usage *u, struct flush_ctx *c, const struct ctfs_usage_entry *e,
		  uint64_t opens, uint64_t bytes)
{
	struct ctfs_buf *b = &c->buf;
	int rc = ctfs_buf_printf(b, "{\"from\":\"%s\",\"to\":\"%s\",\"mountpoint\":", c->from, c->to);

	if (!rc)
		rc = ctfs_metrics_json_string(b, u->mountpoint);
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"source\":");
	if (!rc)
		rc = ctfs_metrics_json_string(b, u->source);
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"file\":");
	if (!rc)
		rc = ctfs_metrics_json_string(b, e->file);
	if (!rc)
		rc = ctfs_buf_printf(b, ",\"uid\":%lld,\"exe\":",
				     e->uid == (uid_t)-1 ? -1LL : (long long)e->uid);
	if (!rc)
		rc = ctfs_metrics_json_string(b, e->exe);
	if (!rc)
		rc = ctfs_buf_printf(b, ",\"opens\":%" PRIu64 ",\"bytes\":%" PRIu64
				     ",\"final\":%s}\n", opens, bytes, c->final ? "true" : "false");
	return rc;
}

/* Put counts taken for a batch that could not be written back. */
static void give_back(struct ctfs_usage_entry *e, uint64_t opens, uint64_t bytes)
{
	atomic_fetch_add_explicit(&e->opens, opens, memory_order_relaxed);
	atomic_fetch_add_explicit(&e->bytes, bytes, memory_order_relaxed);
}

static int write_batch(struct ctfs_usage *u, struct flush_ctx *c)
{
	ssize_t n;

	if (!c->buf.len)
		return 0;
	n = write(u->fd, c->buf.data, c->buf.len);
	if (n == (ssize_t)c->buf.len)
		return 0;
	/* a short append (disk full) leaves a partial line: end it so the next
	 * batch starts on a line of its own; readers skip lines that do not parse */
	if (n > 0 && write(u->fd, "\n", 1) != 1)
		n = -1;
	ctfs_err("usage file %s: append failed: %s", u->path,
		 n < 0 ? strerror(errno) : "short write");
	ctfs_count(CTFS_M_USAGE_WRITE_ERRORS, 1);
	return n < 0 ? -errno : -ENOSPC;
}

int ctfs_usage_flush(struct ctfs_usage *u, bool final)
{
	struct flush_ctx c = { .final = final };
	time_t now = time(NULL);
	uint64_t (*taken)[2];
	size_t n, nrec = 0, done = 0;  /* entries [0, done) are written */
	int rc = 0;

	if (!u)
		return 0;
	pthread_mutex_lock(&u->lock);
	n = u->n;
	taken = calloc(n + 1, sizeof(*taken));
	if (!taken) {
		pthread_mutex_unlock(&u->lock);
		return -ENOMEM;
	}
	utc(u->since, c.from, sizeof(c.from));
	utc(now, c.to, sizeof(c.to));
	for (size_t i = 0; i <= n && !rc; i++) {
		struct ctfs_usage_entry *e = &u->e[i == n ? CTFS_USAGE_MAX : i];

		taken[i][0] = atomic_exchange_explicit(&e->opens, 0, memory_order_relaxed);
		taken[i][1] = atomic_exchange_explicit(&e->bytes, 0, memory_order_relaxed);
		if (taken[i][0] || taken[i][1]) {
			rc = record(u, &c, e, taken[i][0], taken[i][1]);
			nrec++;
		}
		if (!rc && (c.buf.len > CTFS_USAGE_BATCH_MAX || i == n)) {
			rc = write_batch(u, &c);
			c.buf.len = 0;
			if (!rc)
				done = i + 1;
		}
	}
	/* records not known to be written are counted again next time */
	for (size_t i = done; i <= n; i++)
		give_back(&u->e[i == n ? CTFS_USAGE_MAX : i], taken[i][0], taken[i][1]);
	if (!rc) {
		ctfs_count(CTFS_M_USAGE_RECORDS, nrec);
		u->since = now;
	}
	pthread_mutex_unlock(&u->lock);
	free(taken);
	ctfs_buf_free(&c.buf);
	return rc;
}

void ctfs_usage_set_mountpoint(struct ctfs_usage *u, const char *mountpoint)
{
	char *m;

	if (!u || !(m = strdup(mountpoint)))
		return;
	pthread_mutex_lock(&u->lock);
	free(u->mountpoint);
	u->mountpoint = m;
	pthread_mutex_unlock(&u->lock);
}

void ctfs_usage_close(struct ctfs_usage *u)
{
	if (!u)
		return;
	ctfs_usage_flush(u, true);
	close(u->fd);
	for (size_t i = 0; i < u->n; i++) {
		free(u->e[i].file);
		free(u->e[i].exe);
	}
	free(u->e[CTFS_USAGE_MAX].file);
	free(u->e[CTFS_USAGE_MAX].exe);
	free(u->e);
	pthread_mutex_destroy(&u->lock);
	free(u->path);
	free(u->source);
	free(u->mountpoint);
	free(u);
}

void ctfs_usage_exe_of(pid_t pid, char *out, size_t cap)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%ld/exe", (long)pid);
	n = cap > 1 ? readlink(link, out, cap - 1) : -1;
	if (n < 0) {
		snprintf(out, cap, "unknown");
		return;
	}
	out[n] = 0;
}
