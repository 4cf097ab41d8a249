/* Logging: stderr in the foreground, syslog once daemonised.
 * Never pass key material to these functions. */
#ifndef CTFS_LOG_H
#define CTFS_LOG_H

#include <stdbool.h>
#include <syslog.h>

void ctfs_log_init(const char *ident, bool use_syslog, bool debug);
void ctfs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ctfs_err(...) ctfs_log(LOG_ERR, __VA_ARGS__)
#define ctfs_warn(...) ctfs_log(LOG_WARNING, __VA_ARGS__)
#define ctfs_info(...) ctfs_log(LOG_INFO, __VA_ARGS__)
#define ctfs_debug(...) ctfs_log(LOG_DEBUG, __VA_ARGS__)

#endif
