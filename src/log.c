/* Logging to stderr or syslog, with a rate limit on identical lines (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One slot per distinct line, numbers aside (a failed read at another
 * offset is the same line); when all are taken, a new line takes over one
 * chosen by hash, which first reports its count. Lines that differ in words
 * (another file, another key, another check) are never held back. */
#define LOG_SLOTS 64
#define LOG_LINE 1024

struct log_slot {
	uint64_t key;      /* hash of the line; 0: free */
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

/* Writes one finished line; called with log_lock held. */
static void emit(int prio, const char *line)
{
	if (log_sink)
		log_sink(prio, line);
	else if (log_syslog)
		syslog(prio, "%s", line);
	else
		/* one fprintf per line so concurrent threads do not interleave */
		fprintf(stderr, "%s: %s\n", log_ident, line);
}

static void report_suppressed(struct log_slot *s)
{
	char line[LOG_LINE];

	if (!s->suppressed)
		return;
	snprintf(line, sizeof(line), "suppressed %u similar messages (last: %s)",
		 s->suppressed, s->last);
	emit(s->prio, line);
	s->suppressed = 0;
}

/* FNV-1a of the line with each run of digits read as one '#'; never 0
 * (0 marks a free slot). */
static uint64_t line_key(const char *line)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *line; line++) {
		unsigned char c = (unsigned char)*line;

		if (c >= '0' && c <= '9') {
			while (line[1] >= '0' && line[1] <= '9')
				line++;
			c = '#';
		}
		h = (h ^ c) * 0x100000001b3ull;
	}
	return h ? h : 1;
}

static struct log_slot *slot_of(uint64_t key)
{
	struct log_slot *free_slot = NULL;

	for (size_t i = 0; i < LOG_SLOTS; i++) {
		if (log_slots[i].key == key)
			return &log_slots[i];
		if (!log_slots[i].key && !free_slot)
			free_slot = &log_slots[i];
	}
	return free_slot ? free_slot : &log_slots[key % LOG_SLOTS];
}

/* Whether this line may be written now; counts it otherwise. */
static bool admit(int prio, const char *line)
{
	uint64_t key = line_key(line), t = now_ms();
	struct log_slot *s = slot_of(key);

	if (s->key != key || t - s->start_ms >= CTFS_LOG_WINDOW_MS) {
		report_suppressed(s);
		s->key = key;
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
	char line[LOG_LINE];
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	if (admit(prio, line))
		emit(prio, line);
	pthread_mutex_unlock(&log_lock);
}

void ctfs_log_flush(void)
{
	pthread_mutex_lock(&log_lock);
	for (size_t i = 0; i < LOG_SLOTS; i++)
		report_suppressed(&log_slots[i]);
	pthread_mutex_unlock(&log_lock);
}
