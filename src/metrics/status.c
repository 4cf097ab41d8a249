/* The live state of a mount as JSON, for `ctfs-tool status`: the mount,
 * files open, keys by kid, the cache, and every counter. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/metrics_internal.h"

static int put_kv_str(struct ctfs_buf *o, const char *k, const char *v, bool comma)
{
	int rc = ctfs_buf_printf(o, "%s\"%s\":", comma ? "," : "", k);

	if (rc)
		return rc;
	return v ? ctfs_metrics_json_string(o, v) : ctfs_buf_puts(o, "null");
}

static int put_mount(struct ctfs_buf *o, const struct ctfs_metrics_info *in)
{
	int rc = ctfs_buf_puts(o, "\"mount\":{");

	if (!rc)
		rc = put_kv_str(o, "source", in->source, false);
	if (!rc)
		rc = put_kv_str(o, "mountpoint", in->mountpoint, true);
	if (!rc)
		rc = put_kv_str(o, "options", in->options, true);
	if (!rc)
		rc = put_kv_str(o, "version", in->version, true);
	if (!rc)
		rc = ctfs_buf_printf(o, ",\"pid\":%ld,\"start_time\":%.3f,\"resident_bytes\":%"
				     PRIu64 "},", (long)getpid(), in->start_time,
				     ctfs_metrics_rss_bytes());
	return rc;
}

static uint64_t fv(const struct ctfs_mfile *f, enum ctfs_fslot s)
{
	return atomic_load_explicit(&f->v[s], memory_order_relaxed);
}

static int put_file(struct ctfs_buf *o, const struct ctfs_mfile *f, bool comma)
{
	int rc = ctfs_buf_puts(o, comma ? ",{" : "{");

	if (!rc)
		rc = put_kv_str(o, "file", f->name, false);
	if (!rc)
		rc = ctfs_buf_printf(o, ",\"open_handles\":%" PRId64 ",\"opens\":%" PRIu64
				     ",\"denied\":%" PRIu64 ",\"read_bytes\":%" PRIu64
				     ",\"chunks_served\":%" PRIu64 "}",
				     (int64_t)fv(f, CTFS_F_HANDLES), fv(f, CTFS_F_OPENS),
				     fv(f, CTFS_F_DENIED), fv(f, CTFS_F_READ_BYTES),
				     fv(f, CTFS_F_CHUNKS));
	return rc;
}

static bool file_used(const struct ctfs_mfile *f)
{
	return fv(f, CTFS_F_OPENS) || fv(f, CTFS_F_DENIED) || fv(f, CTFS_F_HANDLES);
}

static int put_files(struct ctfs_buf *o)
{
	bool comma = false;
	int rc = ctfs_buf_printf(o, "\"open_handles\":%" PRId64 ",\"files\":[",
				 (int64_t)ctfs_metrics_get(CTFS_M_OPEN_HANDLES));

	for (size_t i = 0; i < ctfs_mt.n && !rc; i++, comma = true)
		rc = put_file(o, &ctfs_mt.files[i], comma);
	if (!rc && file_used(&ctfs_mt.other))
		rc = put_file(o, &ctfs_mt.other, comma);
	return rc ? rc : ctfs_buf_puts(o, "],");
}

static int put_kid(struct ctfs_buf *o, const struct ctfs_mkid *k, bool comma)
{
	static const char *const states[] = { "unknown", "absent", "present" };
	int rc = ctfs_buf_puts(o, comma ? ",{" : "{");

	if (!rc)
		rc = put_kv_str(o, "kid", k->kid, false);
	if (!rc)
		rc = put_kv_str(o, "state", states[k->state + 1], true);
	if (!rc)
		rc = put_kv_str(o, "last_error", k->last_err ? strerror(k->last_err) : NULL, true);
	if (!rc)
		rc = ctfs_buf_printf(o, ",\"lookups\":%" PRIu64 ",\"since\":%lld}", k->lookups,
				     (long long)k->changed);
	return rc;
}

static int put_keys(struct ctfs_buf *o)
{
	int rc = ctfs_buf_puts(o, "\"keys\":[");

	for (size_t i = 0; i < ctfs_mt.n_kids && !rc; i++)
		rc = put_kid(o, &ctfs_mt.kids[i], i > 0);
	if (!rc && ctfs_mt.kid_other.lookups)
		rc = put_kid(o, &ctfs_mt.kid_other, ctfs_mt.n_kids > 0);
	return rc ? rc : ctfs_buf_puts(o, "],");
}

static int put_cache(struct ctfs_buf *o)
{
	return ctfs_buf_printf(o, "\"cache\":{\"bytes\":%" PRIu64 ",\"budget_bytes\":%" PRIu64
			       ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
			       ",\"evictions\":%" PRIu64 "},",
			       ctfs_metrics_get(CTFS_M_CACHE_BYTES),
			       ctfs_metrics_get(CTFS_M_CACHE_BUDGET_BYTES),
			       ctfs_metrics_get(CTFS_M_CACHE_HITS),
			       ctfs_metrics_get(CTFS_M_CACHE_MISSES),
			       ctfs_metrics_get(CTFS_M_CACHE_EVICTIONS));
}

/* Every sample line of the exposition (but histogram buckets and per-file
 * and per-kid series, listed above) as "series": value. */
static int put_counters(struct ctfs_buf *o, const struct ctfs_metrics_info *in)
{
	struct ctfs_buf text = { 0 };
	bool comma = false;
	int rc = ctfs_metrics_render(&text, in);
	char *line, *save = NULL;

	if (!rc)
		rc = ctfs_buf_putc(&text, 0);
	if (!rc)
		rc = ctfs_buf_puts(o, "\"counters\":{");
	for (line = rc ? NULL : strtok_r((char *)text.data, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(line, ' ');

		if (line[0] == '#' || !sp || strstr(line, "_bucket{") ||
		    !strncmp(line, "ctfs_file_", 10) || !strncmp(line, "ctfs_key_present{", 17) ||
		    !strncmp(line, "ctfs_key_state_change_", 22) ||
		    !strncmp(line, "ctfs_mount_info{", 16))
			continue;
		*sp = 0;
		rc = ctfs_buf_puts(o, comma ? "," : "");
		if (!rc)
			rc = ctfs_metrics_json_string(o, line);
		if (!rc)
			rc = ctfs_buf_printf(o, ":%s", sp + 1);
		comma = true;
	}
	ctfs_buf_free(&text);
	return rc ? rc : ctfs_buf_puts(o, "}");
}

int ctfs_metrics_status_json(struct ctfs_buf *out, const struct ctfs_metrics_info *info)
{
	int rc = ctfs_buf_putc(out, '{');

	if (!rc)
		rc = put_mount(out, info);
	pthread_mutex_lock(&ctfs_mt.lock);
	if (!rc)
		rc = put_files(out);
	if (!rc)
		rc = put_keys(out);
	pthread_mutex_unlock(&ctfs_mt.lock);
	if (!rc)
		rc = put_cache(out);
	if (!rc)
		rc = put_counters(out, info);
	return rc ? rc : ctfs_buf_puts(out, "}\n");
}
