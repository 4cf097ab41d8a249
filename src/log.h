/* Logging: stderr in the foreground, syslog once daemonised, with repeated
 * lines rate-limited so that a client cannot flood the log.
 * Never pass key material to these functions. */
#ifndef CTFS_LOG_H
#define CTFS_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Rate limit: similar lines (equal but for their numbers: offsets, chunk
 * indices) are logged at most CTFS_LOG_BURST times per CTFS_LOG_WINDOW_MS;
 * the rest are counted, and the next such line after the window logs
 * "suppressed K similar messages" first. Lines that differ otherwise (other
 * files, other checks) are never suppressed by one another. */
#define CTFS_LOG_BURST 10
#define CTFS_LOG_WINDOW_MS 10000u

void ctfs_log_init(const char *ident, bool use_syslog, bool debug);
void ctfs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs the counts of lines still suppressed (e.g. before exit). */
void ctfs_log_flush(void);

/* Test hooks: a clock in milliseconds (NULL: CLOCK_MONOTONIC) and a sink
 * that receives each formatted line instead of stderr/syslog (NULL: back). */
void ctfs_log_set_clock(uint64_t (*now_ms)(void));
void ctfs_log_set_sink(void (*sink)(int prio, const char *line));

#define ctfs_err(...) ctfs_log(LOG_ERR, __VA_ARGS__)
#define ctfs_warn(...) ctfs_log(LOG_WARNING, __VA_ARGS__)
#define ctfs_info(...) ctfs_log(LOG_INFO, __VA_ARGS__)
#define ctfs_debug(...) ctfs_log(LOG_DEBUG, __VA_ARGS__)

#endif
