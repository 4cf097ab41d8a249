/* The Prometheus text exposition (format 0.0.4) and the status JSON of the
 * registry. Runs at scrape time only: it may lock the tables and allocate. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "metrics/metrics_internal.h"

struct desc {
	const char *name, *type, *help, *labels; /* labels: NULL or `a="b"` text */
};

/* The slots after the open families, in enum order. */
static const struct desc slot_desc[CTFS_M__N] = {
	[CTFS_M_OPEN_HANDLES] = { "ctfs_open_handles", "gauge", "Files of the mount open now.", NULL },
	[CTFS_M_READS] = { "ctfs_reads_total", "counter", "Read requests served.", NULL },
	[CTFS_M_READ_BYTES] = { "ctfs_read_bytes_total", "counter", "Bytes served by reads.", NULL },
	[CTFS_M_READ_ERRORS] = { "ctfs_read_errors_total", "counter", "Reads that failed.", NULL },
	[CTFS_M_CHUNKS_SERVED] = { "ctfs_chunks_served_total", "counter",
				   "Encrypted chunks (or parts of them) served.", NULL },
	[CTFS_M_CHUNKS_DECRYPTED] = { "ctfs_chunks_decrypted_total", "counter",
				      "Chunks decrypted and authenticated.", NULL },
	[CTFS_M_CACHE_HITS] = { "ctfs_cache_hits_total", "counter",
				"Chunk cache lookups that found the chunk.", NULL },
	[CTFS_M_CACHE_MISSES] = { "ctfs_cache_misses_total", "counter",
				  "Chunk cache lookups that had to decrypt.", NULL },
	[CTFS_M_CACHE_EVICTIONS] = { "ctfs_cache_evictions_total", "counter",
				     "Chunks evicted from the cache.", NULL },
	[CTFS_M_CACHE_BYTES] = { "ctfs_cache_bytes", "gauge",
				 "Locked memory held by the chunk cache.", NULL },
	[CTFS_M_CACHE_BUDGET_BYTES] = { "ctfs_cache_budget_bytes", "gauge",
					"Budget of the chunk cache.", NULL },
	[CTFS_M_RESIDENT_BYTES] = { "ctfs_resident_plaintext_bytes", "gauge",
				    "Locked memory held by resident plaintext copies.", NULL },
	[CTFS_M_TAG_FAILURES] = { "ctfs_tag_failures_total", "counter",
				  "Chunks or tensors that failed authentication.", NULL },
	[CTFS_M_KEY_FOUND] = { "ctfs_key_lookups_total", "counter", "Key lookups by result.",
			       "result=\"found\"" },
	[CTFS_M_KEY_ABSENT] = { "ctfs_key_lookups_total", NULL, NULL, "result=\"absent\"" },
	[CTFS_M_KEY_REJECTED] = { "ctfs_key_lookups_total", NULL, NULL, "result=\"rejected\"" },
	[CTFS_M_KEY_ERROR] = { "ctfs_key_lookups_total", NULL, NULL, "result=\"error\"" },
	[CTFS_M_KEY_DISAPPEARED] = { "ctfs_keys_disappeared_total", "counter",
				     "Keys seen present that later were absent or rejected.", NULL },
	[CTFS_M_KEYSVC_OK] = { "ctfs_key_service_requests_total", "counter",
			       "Key requests to the key service by result.", "result=\"ok\"" },
	[CTFS_M_KEYSVC_FAILED] = { "ctfs_key_service_requests_total", NULL, NULL,
				   "result=\"failed\"" },
	[CTFS_M_POLICY_ALLOW] = { "ctfs_policy_decisions_total", "counter",
				  "Policy evaluations by decision.", "decision=\"allow\"" },
	[CTFS_M_POLICY_DENY] = { "ctfs_policy_decisions_total", NULL, NULL, "decision=\"deny\"" },
	[CTFS_M_POLICY_ERROR] = { "ctfs_policy_decisions_total", NULL, NULL,
				  "decision=\"error\"" },
	[CTFS_M_TGSP_OPENED] = { "ctfs_tgsp_packages_total", "counter",
				 "TGSP packages opened or refused.", "result=\"opened\"" },
	[CTFS_M_TGSP_REFUSED] = { "ctfs_tgsp_packages_total", NULL, NULL, "result=\"refused\"" },
	[CTFS_M_USAGE_RECORDS] = { "ctfs_usage_records_total", "counter",
				   "Usage records appended to the usage file.", NULL },
	[CTFS_M_USAGE_WRITE_ERRORS] = { "ctfs_usage_write_errors_total", "counter",
					"Appends to the usage file that failed.", NULL },
	[CTFS_M_SCRAPES] = { "ctfs_scrapes_total", "counter",
			     "Scrapes of /metrics and /status.", NULL },
};

static const struct desc hist_desc[CTFS_H__N] = {
	[CTFS_H_DECRYPT] = { "ctfs_decrypt_duration_seconds", "histogram",
			     "Time to read and decrypt one chunk.", NULL },
	[CTFS_H_READ] = { "ctfs_read_duration_seconds", "histogram",
			  "Time to serve one read request.", NULL },
	[CTFS_H_POLICY] = { "ctfs_policy_evaluation_duration_seconds", "histogram",
			    "Time of one policy evaluation.", NULL },
	[CTFS_H_KEY_LOOKUP] = { "ctfs_key_lookup_duration_seconds", "histogram",
				"Time of one key lookup.", NULL },
};

static const char *const kind_names[CTFS_OPEN__N] = { "model", "tgsp", "plain" };

int ctfs_metrics_label_escape(struct ctfs_buf *out, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		if (*s == '\\')
			rc = ctfs_buf_puts(out, "\\\\");
		else if (*s == '"')
			rc = ctfs_buf_puts(out, "\\\"");
		else if (*s == '\n')
			rc = ctfs_buf_puts(out, "\\n");
		else
			rc = ctfs_buf_putc(out, *s);
	}
	return rc;
}

int ctfs_metrics_json_string(struct ctfs_buf *out, const char *s)
{
	int rc = ctfs_buf_putc(out, '"');

	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = ctfs_buf_printf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			rc = ctfs_buf_printf(out, "\\u%04x", c);
		else
			rc = ctfs_buf_putc(out, (char)c);
	}
	return rc ? rc : ctfs_buf_putc(out, '"');
}

static int head(struct ctfs_buf *o, const char *name, const char *type, const char *help)
{
	return ctfs_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static bool is_gauge(enum ctfs_mslot s)
{
	return s == CTFS_M_OPEN_HANDLES || s == CTFS_M_CACHE_BYTES ||
	       s == CTFS_M_CACHE_BUDGET_BYTES || s == CTFS_M_RESIDENT_BYTES;
}

static int put_slot(struct ctfs_buf *o, const struct desc *d, uint64_t v, bool gauge)
{
	if (gauge)
		return ctfs_buf_printf(o, "%s%s%s%s %" PRId64 "\n", d->name, d->labels ? "{" : "",
				       d->labels ? d->labels : "", d->labels ? "}" : "", (int64_t)v);
	return ctfs_buf_printf(o, "%s%s%s%s %" PRIu64 "\n", d->name, d->labels ? "{" : "",
			       d->labels ? d->labels : "", d->labels ? "}" : "", v);
}

static int render_opens(struct ctfs_buf *o)
{
	int rc = head(o, "ctfs_opens_total", "counter", "Opens allowed, by kind of file.");

	for (int k = 0; k < CTFS_OPEN__N && !rc; k++)
		rc = ctfs_buf_printf(o, "ctfs_opens_total{kind=\"%s\"} %" PRIu64 "\n",
				     kind_names[k], ctfs_metrics_get(CTFS_M_OPENS + k));
	if (!rc)
		rc = head(o, "ctfs_opens_denied_total", "counter",
			  "Opens refused, by kind of file and reason.");
	for (int k = 0; k < CTFS_OPEN__N && !rc; k++) {
		for (int r = 0; r < CTFS_DENY__N && !rc; r++)
			rc = ctfs_buf_printf(o, "ctfs_opens_denied_total{kind=\"%s\",reason=\"%s\"} %"
					     PRIu64 "\n", kind_names[k], ctfs_metrics_deny_name(r),
					     ctfs_metrics_get(CTFS_M_DENIED + k * CTFS_DENY__N + r));
	}
	return rc;
}

static int render_slots(struct ctfs_buf *o)
{
	int rc = 0;

	for (int s = CTFS_M_OPEN_HANDLES; s < CTFS_M__N && !rc; s++) {
		const struct desc *d = &slot_desc[s];

		if (d->type)
			rc = head(o, d->name, d->type, d->help);
		if (!rc)
			rc = put_slot(o, d, ctfs_metrics_get(s), is_gauge(s));
	}
	return rc;
}

/* Seconds with enough digits for a bucket bound or a sum of nanoseconds. */
static int put_seconds(struct ctfs_buf *o, uint64_t ns)
{
	return ctfs_buf_printf(o, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

static int render_hist(struct ctfs_buf *o, enum ctfs_mhist h)
{
	const struct desc *d = &hist_desc[h];
	uint64_t b[CTFS_HIST_BUCKETS + 1], count, sum, cum = 0;
	int rc = head(o, d->name, d->type, d->help);

	ctfs_metrics_hist(h, b, &count, &sum);
	for (unsigned i = 0; i < CTFS_HIST_BUCKETS && !rc; i++) {
		cum += b[i];
		rc = ctfs_buf_printf(o, "%s_bucket{le=\"", d->name);
		if (!rc)
			rc = put_seconds(o, ctfs_hist_bounds_ns[i]);
		if (!rc)
			rc = ctfs_buf_printf(o, "\"} %" PRIu64 "\n", cum);
	}
	if (!rc)
		rc = ctfs_buf_printf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum ", d->name,
				     count, d->name);
	if (!rc)
		rc = put_seconds(o, sum);
	if (!rc)
		rc = ctfs_buf_printf(o, "\n%s_count %" PRIu64 "\n", d->name, count);
	return rc;
}

static int file_series(struct ctfs_buf *o, const char *name, const struct ctfs_mfile *f,
		       enum ctfs_fslot s)
{
	int rc = ctfs_buf_printf(o, "%s{file=\"", name);

	if (!rc)
		rc = ctfs_metrics_label_escape(o, f->name);
	if (!rc)
		rc = ctfs_buf_printf(o, "\"} %" PRId64 "\n",
				     (int64_t)atomic_load_explicit(&f->v[s], memory_order_relaxed));
	return rc;
}

static int render_files(struct ctfs_buf *o)
{
	static const struct desc fd[CTFS_F__N] = {
		[CTFS_F_OPENS] = { "ctfs_file_opens_total", "counter", "Opens allowed, per file.", 0 },
		[CTFS_F_DENIED] = { "ctfs_file_opens_denied_total", "counter",
				    "Opens refused, per file.", 0 },
		[CTFS_F_HANDLES] = { "ctfs_file_open_handles", "gauge",
				     "Handles open now, per file.", 0 },
		[CTFS_F_READ_BYTES] = { "ctfs_file_read_bytes_total", "counter",
					"Bytes served, per file.", 0 },
		[CTFS_F_CHUNKS] = { "ctfs_file_chunks_served_total", "counter",
				    "Encrypted chunks served, per file.", 0 },
	};
	int rc = 0;

	pthread_mutex_lock(&ctfs_mt.lock);
	for (int s = 0; s < CTFS_F__N && !rc; s++) {
		rc = head(o, fd[s].name, fd[s].type, fd[s].help);
		for (size_t i = 0; i < ctfs_mt.n && !rc; i++)
			rc = file_series(o, fd[s].name, &ctfs_mt.files[i], s);
		if (!rc)
			rc = file_series(o, fd[s].name, &ctfs_mt.other, s);
	}
	pthread_mutex_unlock(&ctfs_mt.lock);
	return rc;
}

static int kid_series(struct ctfs_buf *o, const char *name, const struct ctfs_mkid *k,
		      long long v)
{
	int rc = ctfs_buf_printf(o, "%s{kid=\"", name);

	if (!rc)
		rc = ctfs_metrics_label_escape(o, k->kid);
	if (!rc)
		rc = ctfs_buf_printf(o, "\"} %lld\n", v);
	return rc;
}

/* Both families per kid: whether the key is there, and since when. */
static int render_kid_family(struct ctfs_buf *o, bool when)
{
	const char *name = when ? "ctfs_key_state_change_timestamp_seconds" : "ctfs_key_present";
	int rc = when ? head(o, name, "gauge", "When ctfs_key_present last changed (Unix time).")
		      : head(o, name, "gauge", "1 while the key of a kid used by the mount is "
					       "in the keyring, else 0.");

	for (size_t i = 0; i <= ctfs_mt.n_kids && !rc; i++) {
		const struct ctfs_mkid *k = i < ctfs_mt.n_kids ? &ctfs_mt.kids[i] : &ctfs_mt.kid_other;

		if (i == ctfs_mt.n_kids && !k->lookups)
			break;
		rc = kid_series(o, name, k, when ? (long long)k->changed : k->state > 0);
	}
	return rc;
}

static int render_kids(struct ctfs_buf *o)
{
	int rc;

	pthread_mutex_lock(&ctfs_mt.lock);
	rc = render_kid_family(o, false);
	if (!rc)
		rc = render_kid_family(o, true);
	pthread_mutex_unlock(&ctfs_mt.lock);
	return rc;
}

static int labelled(struct ctfs_buf *o, const char *label, const char *value, bool last)
{
	int rc = ctfs_buf_printf(o, "%s=\"", label);

	if (!rc)
		rc = ctfs_metrics_label_escape(o, value ? value : "");
	return rc ? rc : ctfs_buf_puts(o, last ? "\"}" : "\",");
}

static int render_info(struct ctfs_buf *o, const struct ctfs_metrics_info *in)
{
	int rc = head(o, "ctfs_mount_info", "gauge", "The mount: source, mount point, version.");

	if (!rc)
		rc = ctfs_buf_puts(o, "ctfs_mount_info{");
	if (!rc)
		rc = labelled(o, "source", in->source, false);
	if (!rc)
		rc = labelled(o, "mountpoint", in->mountpoint, false);
	if (!rc)
		rc = labelled(o, "version", in->version, true);
	if (!rc)
		rc = ctfs_buf_puts(o, " 1\n");
	if (!rc)
		rc = head(o, "ctfs_start_time_seconds", "gauge", "When the mount started (Unix time).");
	if (!rc)
		rc = ctfs_buf_printf(o, "ctfs_start_time_seconds %.3f\n", in->start_time);
	if (!rc)
		rc = head(o, "ctfs_resident_memory_bytes", "gauge", "Resident memory of the daemon.");
	if (!rc)
		rc = ctfs_buf_printf(o, "ctfs_resident_memory_bytes %" PRIu64 "\n",
				     ctfs_metrics_rss_bytes());
	return rc;
}

int ctfs_metrics_render(struct ctfs_buf *out, const struct ctfs_metrics_info *info)
{
	int rc;

	ctfs_count(CTFS_M_SCRAPES, 1);
	rc = render_info(out, info);
	if (!rc)
		rc = render_opens(out);
	if (!rc)
		rc = render_slots(out);
	for (int h = 0; h < CTFS_H__N && !rc; h++)
		rc = render_hist(out, h);
	if (!rc)
		rc = render_files(out);
	if (!rc)
		rc = render_kids(out);
	return rc;
}
