/* Logging to stderr or syslog, with repeated similar lines rate-limited
 * (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One slot per kind of line: the text with every run of digits read as one
 * '#' (so "chunk 7 of x failed" and "chunk 8 of x failed" are one kind, and
 * lines naming different files are not); when all slots are taken, a new
 * kind takes over the one whose window started first, which first reports
 * its count. */
#define LOG_SLOTS 64
#define LOG_LINE 1024

struct log_slot {
	uint64_t kind;     /* hash of the line, digits folded; 0: free */
	int prio;
	uint64_t start_ms; /* start of the current window */
	unsigned count;    /* lines of this window, logged or not */
	unsigned suppressed;
	char last[160];    /* the last suppressed line, shortened */
};

static bool log_syslog;
static bool log_debug;
static const char *log_ident = "ctfs";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_slot log_slots[LOG_SLOTS];
static uint64_t (*log_clock)(void);
static void (*log_sink)(int prio, const char *line);

void ctfs_log_init(const char *ident, bool use_syslog, bool debug)
{
	log_ident = ident;
	log_syslog = use_syslog;
	log_debug = debug;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

void ctfs_log_set_clock(uint64_t (*now_ms)(void))
{
	pthread_mutex_lock(&log_lock);
	log_clock = now_ms;
	pthread_mutex_unlock(&log_lock);
}

void ctfs_log_set_sink(void (*sink)(int prio, const char *line))
{
	pthread_mutex_lock(&log_lock);
	log_sink = sink;
	memset(log_slots, 0, sizeof(log_slots));
	pthread_mutex_unlock(&log_lock);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	if (log_clock)
		return log_clock();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Writes one finished line, outside log_lock: syslog may block on a busy
 * log daemon, and must not stall every other thread that logs. */
static void emit(void (*sink)(int, const char *), int prio, const char *line)
{
	if (sink)
		sink(prio, line);
	else if (log_syslog)
		syslog(prio, "%s", line);
	else
		/* one fprintf per line so concurrent threads do not interleave */
		fprintf(stderr, "%s: %s\n", log_ident, line);
}

/* The count line of slot s into report (emptied when none), with its prio. */
static void report_suppressed(struct log_slot *s, char *report, size_t cap, int *prio)
{
	report[0] = 0;
	if (!s->suppressed)
		return;
	snprintf(report, cap, "suppressed %u similar messages (last: %s)", s->suppressed, s->last);
	*prio = s->prio;
	s->suppressed = 0;
}

/* FNV-1a of the line, each run of digits hashed as one '#'; never 0. */
static uint64_t kind_of(const char *line)
{
	uint64_t h = 14695981039346656037ull;

	for (const char *p = line; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c >= '0' && c <= '9') {
			while (p[1] >= '0' && p[1] <= '9')
				p++;
			c = '#';
		}
		h = (h ^ c) * 1099511628211ull;
	}
	return h ? h : 1;
}

static struct log_slot *slot_of(uint64_t kind)
{
	struct log_slot *oldest = &log_slots[0];

	for (size_t i = 0; i < LOG_SLOTS; i++) {
		if (log_slots[i].kind == kind || !log_slots[i].kind)
			return &log_slots[i];
		if (log_slots[i].start_ms < oldest->start_ms)
			oldest = &log_slots[i];
	}
	return oldest;
}

/* Whether this line may be written now (after report, when not empty);
 * counts it otherwise. */
static bool admit(int prio, const char *line, char *report, size_t cap, int *rprio)
{
	uint64_t kind = kind_of(line);
	struct log_slot *s = slot_of(kind);
	uint64_t t = now_ms();

	report[0] = 0;
	if (s->kind != kind || t - s->start_ms >= CTFS_LOG_WINDOW_MS) {
		report_suppressed(s, report, cap, rprio);
		s->kind = kind;
		s->prio = prio;
		s->start_ms = t;
		s->count = 0;
	}
	if (++s->count <= CTFS_LOG_BURST)
		return true;
	s->count = CTFS_LOG_BURST + 1; /* no wrap-around however long the flood */
	s->suppressed++;
	/* shortened on purpose: the count matters, not the whole text */
	size_t n = strnlen(line, sizeof(s->last) - 1);

	memcpy(s->last, line, n);
	s->last[n] = 0;
	return false;
}

void ctfs_log(int prio, const char *fmt, ...)
{
	char line[LOG_LINE], report[LOG_LINE];
	void (*sink)(int, const char *);
	int rprio = prio;
	bool ok;
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	ok = admit(prio, line, report, sizeof(report), &rprio);
	sink = log_sink;
	pthread_mutex_unlock(&log_lock);
	if (report[0])
		emit(sink, rprio, report);
	if (ok)
		emit(sink, prio, line);
}

void ctfs_log_flush(void)
{
	for (size_t i = 0; i < LOG_SLOTS; i++) {
		char report[LOG_LINE];
		void (*sink)(int, const char *);
		int prio = LOG_INFO;

		pthread_mutex_lock(&log_lock);
		report_suppressed(&log_slots[i], report, sizeof(report), &prio);
		sink = log_sink;
		pthread_mutex_unlock(&log_lock);
		if (report[0])
			emit(sink, prio, report);
	}
}
