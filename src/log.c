#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static bool log_syslog;
static bool log_debug;
static const char *log_ident = "ctfs";

void ctfs_log_init(const char *ident, bool use_syslog, bool debug)
{
	log_ident = ident;
	log_syslog = use_syslog;
	log_debug = debug;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

void ctfs_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		/* one fprintf per line so concurrent threads do not interleave */
		char line[1024];

		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "%s: %s\n", log_ident, line);
	}
	va_end(ap);
}
