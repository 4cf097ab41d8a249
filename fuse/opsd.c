/* Operations of the daemon: the metrics endpoint (-o metrics=HOST:PORT), the
 * status socket of the mount (ctfs-tool status), and usage accounting
 * (-o usage=FILE). The work is in the library (src/metrics); this file wires
 * it to the daemon's options and life cycle. One mount per process. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctfs_fuse.h"
#include "log.h"
#include "metrics/metrics.h"
#include "metrics/server.h"
#include "metrics/usage.h"

#define USAGE_INTERVAL_DEFAULT 60
#define METRICS_FILES_DEFAULT 64

static struct {
	char *metrics_addr;
	unsigned usage_interval;     /* seconds */
	struct ctfs_usage *usage;
	struct ctfs_opsd *server;
	key_serial_t ring;
	struct ctfs_metrics_info info;
	char mountpoint[PATH_MAX];
	char *options;
	char *source;
} ops;

/* The command line as given, for status ("options"). */
static char *join_args(int argc, char **argv)
{
	size_t len = 1;
	char *s;

	for (int i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	for (int i = 1; s && i < argc; i++) {
		if (i > 1)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

int ctfs_ops_prepare(const struct ctfs_ops_opts *o, struct ctfs_view_opts *vo, int argc,
		     char **argv)
{
	unsigned files = METRICS_FILES_DEFAULT;
	int rc;

	ops.usage_interval = USAGE_INTERVAL_DEFAULT;
	if ((o->usage_interval && ctfs_parse_uint(o->usage_interval, 1, 86400, &ops.usage_interval)) ||
	    (o->metrics_files && ctfs_parse_uint(o->metrics_files, 0, CTFS_METRICS_FILES_MAX, &files))) {
		fprintf(stderr, "ctfs: bad usage_interval (1-86400 s) or metrics_files (0-%d)\n",
			CTFS_METRICS_FILES_MAX);
		return -EINVAL;
	}
	rc = ctfs_metrics_init(files);
	if (rc)
		return rc;
	ops.ring = vo->ring;
	ops.options = join_args(argc, argv);
	ops.source = realpath(vo->source, NULL);
	if (o->metrics && !(ops.metrics_addr = strdup(o->metrics)))
		return -ENOMEM;
	if (o->usage) {
		rc = ctfs_usage_open(o->usage, ops.source ? ops.source : vo->source, NULL,
				     &ops.usage);
		if (rc) {
			fprintf(stderr, "ctfs: cannot open usage file '%s': %s\n", o->usage,
				strerror(-rc));
			return rc;
		}
		vo->usage = ops.usage;
	}
	return 0;
}

static int render(void *arg, enum ctfs_opsd_route route, struct ctfs_buf *out)
{
	(void)arg;
	/* keys removed since the last open show now, not at the next open */
	ctfs_metrics_probe_keys(ctfs_metrics_keyring_probe, &ops.ring);
	if (route == CTFS_ROUTE_METRICS)
		return ctfs_metrics_render(out, &ops.info);
	return ctfs_metrics_status_json(out, &ops.info);
}

static void tick(void *arg)
{
	(void)arg;
	ctfs_usage_flush(ops.usage, false);
}

int ctfs_ops_bind(const char *mountpoint)
{
	struct ctfs_opsd_config cfg = { .tcp = ops.metrics_addr, .render = render };
	char sock[PATH_MAX];
	int rc;

	snprintf(ops.mountpoint, sizeof(ops.mountpoint), "%s", mountpoint);
	ops.info = (struct ctfs_metrics_info){
		.source = ops.source, .mountpoint = ops.mountpoint, .options = ops.options,
		.version = PACKAGE_VERSION, .start_time = (double)time(NULL),
	};
	ctfs_usage_set_mountpoint(ops.usage, ops.mountpoint);
	if (ops.usage) {
		cfg.tick = tick;
		cfg.tick_ms = ops.usage_interval * 1000u;
	}
	rc = ctfs_status_socket_path(mountpoint, geteuid(), true, sock, sizeof(sock));
	if (rc)
		ctfs_warn("no status socket for %s: %s", mountpoint, strerror(-rc));
	else
		cfg.unix_path = sock;
	rc = ctfs_opsd_new(&cfg, &ops.server);
	if (rc)
		fprintf(stderr, "ctfs: cannot serve metrics on '%s': %s\n", ops.metrics_addr,
			strerror(-rc));
	return rc;
}

int ctfs_ops_start(void)
{
	int rc = ctfs_opsd_run(ops.server);

	if (rc)
		ctfs_err("operations thread: %s", strerror(-rc));
	else if (ops.metrics_addr)
		ctfs_info("metrics on http://%s/metrics", ops.metrics_addr);
	return rc;
}

void ctfs_ops_stop(void)
{
	ctfs_opsd_stop(ops.server);
	ops.server = NULL;
}

void ctfs_ops_free(void)
{
	ctfs_usage_close(ops.usage);   /* the final records */
	ops.usage = NULL;
	free(ops.metrics_addr);
	free(ops.options);
	free(ops.source);
	ctfs_metrics_reset();
}
