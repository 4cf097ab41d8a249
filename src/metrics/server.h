/* A tiny HTTP/1.0 server for operations: GET /metrics (Prometheus text) on an
 * optional TCP address and on a per-mount Unix socket, GET /status on the
 * Unix socket only (it names keys and files; the socket is 0600 and its
 * peers' credentials are checked, TCP has no such check).
 *
 * One thread, one poll loop. Bounds: CTFS_OPSD_CONNS connections at once
 * (more are closed at accept), requests up to CTFS_OPSD_REQ_MAX bytes, a
 * request must arrive within CTFS_OPSD_TIMEOUT_MS, a response must be taken
 * within the same time. The same thread runs a periodic tick (usage flushes). */
#ifndef CTFS_METRICS_SERVER_H
#define CTFS_METRICS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util.h"

#define CTFS_OPSD_CONNS 16
#define CTFS_OPSD_REQ_MAX 4096
#define CTFS_OPSD_TIMEOUT_MS 5000

struct ctfs_opsd;

enum ctfs_opsd_route { CTFS_ROUTE_METRICS, CTFS_ROUTE_STATUS };

struct ctfs_opsd_config {
	const char *tcp;        /* "HOST:PORT" ("[::1]:PORT" for IPv6), or NULL */
	const char *unix_path;  /* socket to create (replacing a stale one), or NULL */
	/* Fill out with the body of route; 0 or -errno (-> 500). */
	int (*render)(void *arg, enum ctfs_opsd_route route, struct ctfs_buf *out);
	void (*tick)(void *arg);  /* every tick_ms when both are set */
	unsigned tick_ms;
	void *arg;
};

/* Bind and listen; 0 or -errno (one log line says which address failed).
 * The sockets survive fork(): a daemon binds before it detaches (so that a
 * busy port fails the mount), then starts the thread. */
int ctfs_opsd_new(const struct ctfs_opsd_config *cfg, struct ctfs_opsd **out);
int ctfs_opsd_run(struct ctfs_opsd *s);
/* Both at once. */
int ctfs_opsd_start(const struct ctfs_opsd_config *cfg, struct ctfs_opsd **out);
/* The TCP port bound (useful with port 0), or -1. */
int ctfs_opsd_tcp_port(const struct ctfs_opsd *s);
/* Stop the thread, close and unlink the socket. */
void ctfs_opsd_stop(struct ctfs_opsd *s);

/* The status socket of the mount at mountpoint (an absolute path without
 * symlinks) for a daemon running as uid: /run/ctfs/ for root, else
 * $XDG_RUNTIME_DIR/ctfs/ or /tmp/ctfs-UID/, then a hash of the mount point.
 * With create, the directory is made (0700) and checked to be uid's own. */
int ctfs_status_socket_path(const char *mountpoint, uid_t uid, bool create, char *out,
			    size_t cap);

#endif
