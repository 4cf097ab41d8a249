/* ctfs-tool status MOUNTPOINT: the live state of a ctfs mount, asked from
 * the mount's status socket (GET /status). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "metrics/server.h"
#include "tool.h"
#include "util.h"

#define REPLY_MAX (16u << 20)

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool status MOUNTPOINT [--json] [--socket PATH]\n"
	      "\n"
	      "Show the live state of the ctfs mount at MOUNTPOINT: its source and\n"
	      "options, files open, keys in use by kid (and whether they are still in\n"
	      "the keyring), the chunk cache, and every counter. The daemon answers on\n"
	      "its status socket (/run/ctfs/ for a root daemon, else\n"
	      "$XDG_RUNTIME_DIR/ctfs/ or /tmp/ctfs-UID/), readable by root and the\n"
	      "daemon's user.\n"
	      "\n"
	      "Options:\n"
	      "  -j, --json         the state as JSON, as the daemon sends it\n"
	      "  -s, --socket PATH  ask this socket instead of the mount's own\n"
	      "  -h, --help         this text\n", out);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* The mount's socket: the caller's own daemon first, then a root daemon's. */
static int connect_mount(const char *mnt, char *used, size_t cap)
{
	uid_t uids[2] = { geteuid(), 0 };
	int fd = -ENOENT;

	for (int i = 0; i < (uids[0] ? 2 : 1); i++) {
		if (ctfs_status_socket_path(mnt, uids[i], false, used, cap))
			continue;
		fd = connect_unix(used);
		if (fd >= 0)
			return fd;
	}
	return fd;
}

/* GET /status; the body (NUL-terminated) in *out. */
static int fetch(int fd, struct ctfs_buf *out)
{
	static const char req[] = "GET /status HTTP/1.0\r\n\r\n";
	char chunk[65536];
	ssize_t n;

	/* a daemon that hangs up early must not kill us with SIGPIPE */
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
		return -EIO;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (out->len + (size_t)n > REPLY_MAX || ctfs_buf_append(out, chunk, (size_t)n))
			return -EFBIG;
	}
	if (n < 0 || ctfs_buf_putc(out, 0))
		return -EIO;
	return strncmp((char *)out->data, "HTTP/1.0 200 ", 13) ? -EPROTO : 0;
}

static const char *human(double v, char *buf, size_t cap)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (v >= 1024 && u < 4)
		v /= 1024, u++;
	snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

static double num(const cJSON *o, const char *k)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, k));
}

static const char *str(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));

	return s ? s : "-";
}

static void print_files(const cJSON *files)
{
	const cJSON *f;
	char b[32];

	cJSON_ArrayForEach(f, files)
		printf("  %s: %.0f open, %.0f opens, %.0f refused, %s read, %.0f chunks\n",
		       str(f, "file"), num(f, "open_handles"), num(f, "opens"), num(f, "denied"),
		       human(num(f, "read_bytes"), b, sizeof(b)), num(f, "chunks_served"));
}

static void print_keys(const cJSON *keys)
{
	const cJSON *k;

	cJSON_ArrayForEach(k, keys) {
		time_t since = (time_t)num(k, "since");
		char when[32] = "-";
		struct tm tm;

		if (since && localtime_r(&since, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("  %s: %s since %s, %.0f lookups%s%s\n", str(k, "kid"), str(k, "state"), when,
		       num(k, "lookups"), cJSON_IsString(cJSON_GetObjectItem(k, "last_error"))
		       ? ", last error: " : "", cJSON_IsString(cJSON_GetObjectItem(k, "last_error"))
		       ? str(k, "last_error") : "");
	}
}

static void print_human(const cJSON *j)
{
	const cJSON *m = cJSON_GetObjectItem(j, "mount"), *c = cJSON_GetObjectItem(j, "cache");
	const cJSON *kv;
	char a[32], b[32];

	printf("mount:    %s\nsource:   %s\ncommand:  %s\npid:      %.0f, up %.0f s, "
	       "resident %s\n", str(m, "mountpoint"), str(m, "source"), str(m, "options"),
	       num(m, "pid"), difftime(time(NULL), (time_t)num(m, "start_time")),
	       human(num(m, "resident_bytes"), a, sizeof(a)));
	printf("files:    %.0f open\n", num(j, "open_handles"));
	print_files(cJSON_GetObjectItem(j, "files"));
	printf("keys:\n");
	print_keys(cJSON_GetObjectItem(j, "keys"));
	printf("cache:    %s of %s, %.0f hits, %.0f misses, %.0f evictions\ncounters:\n",
	       human(num(c, "bytes"), a, sizeof(a)), human(num(c, "budget_bytes"), b, sizeof(b)),
	       num(c, "hits"), num(c, "misses"), num(c, "evictions"));
	cJSON_ArrayForEach(kv, cJSON_GetObjectItem(j, "counters"))
		printf("  %s %.17g\n", kv->string, cJSON_GetNumberValue(kv));
}

static int show(const char *body, bool json)
{
	cJSON *j;

	if (json) {
		fputs(body, stdout);
		return 0;
	}
	j = cJSON_Parse(body);
	if (!j) {
		tool_err("status: the daemon's answer is not JSON");
		return 1;
	}
	print_human(j);
	cJSON_Delete(j);
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *body;
	char mnt[PATH_MAX], used[PATH_MAX];
	struct ctfs_buf reply = { 0 };
	bool json = false;
	int c, fd, rc;

	while ((c = getopt_long(argc, argv, "js:", longs, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 's')
			sock = optarg;
		else
			return tool_usage("status", "unknown option");
	}
	if (optind + 1 != argc)
		return tool_usage("status", "expected one MOUNTPOINT");
	if (!realpath(argv[optind], mnt)) {
		tool_err("status: %s: %s", argv[optind], strerror(errno));
		return 1;
	}
	snprintf(used, sizeof(used), "%s", sock ? sock : "");
	fd = sock ? connect_unix(sock) : connect_mount(mnt, used, sizeof(used));
	if (fd < 0) {
		tool_err("status: %s: no ctfs daemon answers (%s%s%s)", mnt, strerror(-fd),
			 *used ? " at " : "", used);
		return 1;
	}
	rc = fetch(fd, &reply);
	close(fd);
	body = rc ? NULL : strstr((char *)reply.data, "\r\n\r\n");
	if (!body) {
		tool_err("status: %s: bad answer from %s (%s)", mnt, used,
			 strerror(rc ? -rc : EPROTO));
		ctfs_buf_free(&reply);
		return 1;
	}
	rc = show(body + 4, json);
	ctfs_buf_free(&reply);
	return rc;
}

const struct tool_cmd tool_cmd_status = {
	.name = "status",
	.summary = "the live state of a ctfs mount (files, keys, cache, counters)",
	.run = run,
	.help = help,
};
