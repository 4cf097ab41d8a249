/* The operations server: one thread polling the listening sockets, a few
 * bounded connections, and a tick (see server.h). */
#include "metrics/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "crypto/sha256.h"
#include "log.h"
#include "metrics/metrics.h"

struct conn {
	int fd;            /* -1: slot free */
	bool is_unix;
	uint64_t deadline; /* ms, monotonic */
	size_t len;
	char req[CTFS_OPSD_REQ_MAX + 1];
};

struct ctfs_opsd {
	struct ctfs_opsd_config cfg;
	int wake, tcp, unx, tcp_port;
	char *unix_path;
	pthread_t thread;
	bool running;
	struct conn conns[CTFS_OPSD_CONNS];
};

static uint64_t now_ms(void)
{
	return ctfs_metrics_now_ns() / 1000000u;
}

/* "HOST:PORT" or "[V6]:PORT" into host and port strings. */
static int split_addr(const char *spec, char *host, size_t hcap, const char **port)
{
	const char *colon, *h = spec;
	size_t hl;

	if (*spec == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		h = spec + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - spec);
	}
	if (hl == 0 || hl >= hcap || !colon[1])
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = colon + 1;
	return 0;
}

static int listen_tcp(const char *spec, int *port_out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *port;
	char host[256];
	int fd, one = 1, rc;

	if (split_addr(spec, host, sizeof(host), &port)) {
		ctfs_err("metrics address '%s': expected HOST:PORT", spec);
		return -EINVAL;
	}
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		ctfs_err("metrics address '%s': %s", spec, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
			bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16) ||
			getsockname(fd, (struct sockaddr *)&ss, &sl))) {
		close(fd);
		fd = -1;
	}
	rc = -errno;
	freeaddrinfo(ai);
	if (fd < 0) {
		ctfs_err("metrics address '%s': cannot listen: %s", spec, strerror(-rc));
		return rc;
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a socket left by a daemon that was killed */
	old = umask(077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16) ? -errno : 0;
	umask(old);
	if (rc) {
		ctfs_err("status socket %s: cannot listen: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	return fd;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Only root and the daemon's own user may read the status socket. */
static bool peer_allowed(int fd)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l))
		return false;
	return cr.uid == 0 || cr.uid == geteuid();
}

static void accept_one(struct ctfs_opsd *s, int lfd, bool is_unix)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (is_unix && !peer_allowed(fd)) {
		close(fd);
		return;
	}
	for (int i = 0; i < CTFS_OPSD_CONNS; i++) {
		struct conn *c = &s->conns[i];

		if (c->fd < 0) {
			*c = (struct conn){ .fd = fd, .is_unix = is_unix,
					    .deadline = now_ms() + CTFS_OPSD_TIMEOUT_MS };
			return;
		}
	}
	close(fd); /* every slot busy: refuse rather than queue without bound */
}

/* Send all of it within the timeout, or give up. */
static void send_all(int fd, const void *p, size_t len)
{
	struct timeval tv = { CTFS_OPSD_TIMEOUT_MS / 1000, 0 };
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p = (const char *)p + n;
		len -= (size_t)n;
	}
}

static void reply(int fd, int code, const char *reason, const char *ctype, const void *body,
		  size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", code, reason, ctype, len);

	send_all(fd, head, (size_t)n);
	if (len)
		send_all(fd, body, len);
}

static void reply_text(int fd, int code, const char *reason)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason);

	reply(fd, code, reason, "text/plain; charset=utf-8", body, (size_t)n);
}

/* Which route the request line asks for: 0, or the HTTP error code. */
static int parse_request(const char *req, bool is_unix, enum ctfs_opsd_route *route)
{
	const char *target, *end;
	size_t tl;

	if (strncmp(req, "GET ", 4))
		return 405;
	target = req + 4;
	end = target + strcspn(target, " ?\r\n");
	tl = (size_t)(end - target);
	if (tl == 8 && !memcmp(target, "/metrics", 8)) {
		*route = CTFS_ROUTE_METRICS;
		return 0;
	}
	if (tl == 7 && !memcmp(target, "/status", 7)) {
		*route = CTFS_ROUTE_STATUS;
		return is_unix ? 0 : 403;
	}
	return 404;
}

static void serve(struct ctfs_opsd *s, struct conn *c)
{
	static const char *const ctypes[] = {
		[CTFS_ROUTE_METRICS] = "text/plain; version=0.0.4; charset=utf-8",
		[CTFS_ROUTE_STATUS] = "application/json",
	};
	struct ctfs_buf body = { 0 };
	enum ctfs_opsd_route route;
	int code = parse_request(c->req, c->is_unix, &route);

	if (code == 405)
		reply_text(c->fd, 405, "Method Not Allowed");
	else if (code == 404)
		reply_text(c->fd, 404, "Not Found");
	else if (code == 403)
		reply_text(c->fd, 403, "Forbidden (only on the status socket)");
	else if (s->cfg.render(s->cfg.arg, route, &body))
		reply_text(c->fd, 500, "Internal Server Error");
	else
		reply(c->fd, 200, "OK", ctypes[route], body.data, body.len);
	ctfs_buf_free(&body);
	conn_close(c);
}

static void on_readable(struct ctfs_opsd *s, struct conn *c)
{
	ssize_t n = recv(c->fd, c->req + c->len, CTFS_OPSD_REQ_MAX - c->len, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = 0;
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		serve(s, c);
	else if (c->len == CTFS_OPSD_REQ_MAX) {
		reply_text(c->fd, 431, "Request Header Fields Too Large");
		conn_close(c);
	}
}

static int poll_timeout(const struct ctfs_opsd *s, uint64_t now, uint64_t next_tick)
{
	uint64_t until = next_tick;

	for (int i = 0; i < CTFS_OPSD_CONNS; i++) {
		if (s->conns[i].fd >= 0 && s->conns[i].deadline < until)
			until = s->conns[i].deadline;
	}
	return until <= now ? 0 : until - now > 60000 ? 60000 : (int)(until - now);
}

static void expire(struct ctfs_opsd *s, uint64_t now)
{
	for (int i = 0; i < CTFS_OPSD_CONNS; i++) {
		if (s->conns[i].fd >= 0 && s->conns[i].deadline <= now)
			conn_close(&s->conns[i]);
	}
}

static void *loop(void *arg)
{
	struct ctfs_opsd *s = arg;
	bool ticking = s->cfg.tick && s->cfg.tick_ms;
	uint64_t next_tick = ticking ? now_ms() + s->cfg.tick_ms : UINT64_MAX;

	for (;;) {
		struct pollfd p[3 + CTFS_OPSD_CONNS];
		int map[3 + CTFS_OPSD_CONNS], np = 0;
		uint64_t now = now_ms();

		p[np] = (struct pollfd){ s->wake, POLLIN, 0 }, map[np++] = -1;
		if (s->tcp >= 0)
			p[np] = (struct pollfd){ s->tcp, POLLIN, 0 }, map[np++] = -2;
		if (s->unx >= 0)
			p[np] = (struct pollfd){ s->unx, POLLIN, 0 }, map[np++] = -3;
		for (int i = 0; i < CTFS_OPSD_CONNS; i++) {
			if (s->conns[i].fd >= 0)
				p[np] = (struct pollfd){ s->conns[i].fd, POLLIN, 0 }, map[np++] = i;
		}
		if (poll(p, (nfds_t)np, poll_timeout(s, now, next_tick)) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		/* connections first: a client that left frees its slot before
		 * the next one is accepted */
		for (int i = 1; i < np; i++) {
			if (p[i].revents && map[i] >= 0 && s->conns[map[i]].fd >= 0)
				on_readable(s, &s->conns[map[i]]);
		}
		for (int i = 1; i < np; i++) {
			if (p[i].revents && (map[i] == -2 || map[i] == -3))
				accept_one(s, p[i].fd, map[i] == -3);
		}
		now = now_ms();
		expire(s, now);
		if (now >= next_tick) {
			s->cfg.tick(s->cfg.arg);
			next_tick = now + s->cfg.tick_ms;
		}
	}
	return NULL;
}

static void close_all(struct ctfs_opsd *s)
{
	for (int i = 0; i < CTFS_OPSD_CONNS; i++) {
		if (s->conns[i].fd >= 0)
			conn_close(&s->conns[i]);
	}
	if (s->tcp >= 0)
		close(s->tcp);
	if (s->unx >= 0) {
		close(s->unx);
		unlink(s->unix_path);
	}
	if (s->wake >= 0)
		close(s->wake);
	free(s->unix_path);
	free(s);
}

/* The thread takes no signals: they belong to the FUSE session. */
static int spawn(struct ctfs_opsd *s)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->thread, NULL, loop, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}

int ctfs_opsd_new(const struct ctfs_opsd_config *cfg, struct ctfs_opsd **out)
{
	struct ctfs_opsd *s = calloc(1, sizeof(*s));
	int rc = 0;

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->tcp = s->unx = s->tcp_port = -1;
	for (int i = 0; i < CTFS_OPSD_CONNS; i++)
		s->conns[i].fd = -1;
	s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake < 0)
		rc = -errno;
	if (!rc && cfg->tcp && (s->tcp = listen_tcp(cfg->tcp, &s->tcp_port)) < 0)
		rc = s->tcp;
	if (!rc && cfg->unix_path && !(s->unix_path = strdup(cfg->unix_path)))
		rc = -ENOMEM;
	if (!rc && cfg->unix_path && (s->unx = listen_unix(cfg->unix_path)) < 0)
		rc = s->unx;
	if (rc) {
		close_all(s);
		return rc;
	}
	*out = s;
	return 0;
}

int ctfs_opsd_run(struct ctfs_opsd *s)
{
	int rc = spawn(s);

	s->running = rc == 0;
	return rc;
}

int ctfs_opsd_start(const struct ctfs_opsd_config *cfg, struct ctfs_opsd **out)
{
	int rc = ctfs_opsd_new(cfg, out);

	if (!rc && (rc = ctfs_opsd_run(*out))) {
		ctfs_opsd_stop(*out);
		*out = NULL;
	}
	return rc;
}

int ctfs_opsd_tcp_port(const struct ctfs_opsd *s)
{
	return s ? s->tcp_port : -1;
}

void ctfs_opsd_stop(struct ctfs_opsd *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (s->running) {
		if (write(s->wake, &one, sizeof(one)) != sizeof(one))
			ctfs_warn("operations server: cannot wake its thread: %m");
		pthread_join(s->thread, NULL);
	}
	close_all(s);
}

/* Make dir (0700) if absent and check it is uid's own and closed to others. */
static int own_dir(const char *dir, uid_t uid)
{
	struct stat st;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 077)) {
		ctfs_err("status socket directory %s is not a private directory of uid %u",
			 dir, (unsigned)uid);
		return -EPERM;
	}
	return 0;
}

int ctfs_status_socket_path(const char *mountpoint, uid_t uid, bool create, char *out,
			    size_t cap)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	uint8_t h[32];
	char dir[256];
	int n, rc;

	if (uid == 0)
		snprintf(dir, sizeof(dir), "/run/ctfs");
	else if (xdg && *xdg == '/' && strlen(xdg) < 200)
		snprintf(dir, sizeof(dir), "%s/ctfs", xdg);
	else
		snprintf(dir, sizeof(dir), "/tmp/ctfs-%u", (unsigned)uid);
	if (create && (rc = own_dir(dir, uid)))
		return rc;
	ctfs_sha256(h, mountpoint, strlen(mountpoint));
	n = snprintf(out, cap, "%s/%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x.sock", dir, h[0], h[1],
		     h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}
