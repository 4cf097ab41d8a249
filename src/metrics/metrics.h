/* The metrics registry of a mount: counters, gauges and latency histograms,
 * per mount and per model file, exposed in the Prometheus text format.
 *
 * One mount is one daemon process, so the registry is process-wide: a hook is
 * one call with no pointer to carry (ctfs_count(CTFS_M_CACHE_HITS, 1)). The
 * hot-path updates are relaxed atomic adds on per-thread shards of the slots
 * (no lock, no allocation, no shared cache line between reading threads);
 * a scrape sums the shards. Label sets are bounded: at most
 * CTFS_METRICS_FILES_MAX per-file series (the rest are folded into the series
 * file="other") and CTFS_METRICS_KIDS_MAX key ids (the rest into kid="other"). */
#ifndef CTFS_METRICS_H
#define CTFS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CTFS_METRICS_SHARDS 16
#define CTFS_METRICS_FILES_MAX 256   /* cap of per-file series (ctfs_metrics_init) */
#define CTFS_METRICS_KIDS_MAX 64     /* key ids tracked one by one */
#define CTFS_METRICS_NAME_MAX 1024   /* longer label values are cut (and marked) */

/* What an open was of. */
enum ctfs_open_kind { CTFS_OPEN_MODEL, CTFS_OPEN_TGSP, CTFS_OPEN_PLAIN, CTFS_OPEN__N };

/* Why an open was refused, from its errno (ctfs_metrics_deny_reason). */
enum ctfs_deny_reason {
	CTFS_DENY_POLICY,       /* EACCES, EPERM: a policy or constraint said no */
	CTFS_DENY_NO_KEY,       /* ENOKEY: the key is not in the keyring */
	CTFS_DENY_KEY_REJECTED, /* EKEYREVOKED, EKEYEXPIRED, EKEYREJECTED */
	CTFS_DENY_INTEGRITY,    /* EBADMSG, EIO: signature, tag or format */
	CTFS_DENY_TOO_BIG,      /* EFBIG, E2BIG, EOVERFLOW: over a documented cap */
	CTFS_DENY_NOT_FOUND,    /* ENOENT, ENOTDIR, ELOOP (a symlink) */
	CTFS_DENY_OTHER,
	CTFS_DENY__N
};

/* Scalar slots: counters (only grow) and gauges (up and down). Histograms
 * have slots of their own. The order here is the exposition order: slots of
 * one family are contiguous. */
enum ctfs_mslot {
	CTFS_M_OPENS,                                  /* + open kind */
	CTFS_M_DENIED = CTFS_M_OPENS + CTFS_OPEN__N,   /* + kind * CTFS_DENY__N + reason */
	CTFS_M_OPEN_HANDLES = CTFS_M_DENIED + CTFS_OPEN__N * CTFS_DENY__N, /* gauge */
	CTFS_M_READS,
	CTFS_M_READ_BYTES,
	CTFS_M_READ_ERRORS,
	CTFS_M_CHUNKS_SERVED,
	CTFS_M_CHUNKS_DECRYPTED,
	CTFS_M_CACHE_HITS,
	CTFS_M_CACHE_MISSES,
	CTFS_M_CACHE_EVICTIONS,
	CTFS_M_CACHE_BYTES,                            /* gauge */
	CTFS_M_CACHE_BUDGET_BYTES,                     /* gauge */
	CTFS_M_RESIDENT_BYTES,                         /* gauge */
	CTFS_M_TAG_FAILURES,
	CTFS_M_KEY_FOUND,
	CTFS_M_KEY_ABSENT,
	CTFS_M_KEY_REJECTED,
	CTFS_M_KEY_ERROR,
	CTFS_M_KEY_DISAPPEARED,
	CTFS_M_KEYSVC_OK,
	CTFS_M_KEYSVC_FAILED,
	CTFS_M_POLICY_ALLOW,
	CTFS_M_POLICY_DENY,
	CTFS_M_POLICY_ERROR,
	CTFS_M_TGSP_OPENED,
	CTFS_M_TGSP_REFUSED,
	CTFS_M_USAGE_RECORDS,
	CTFS_M_USAGE_WRITE_ERRORS,
	CTFS_M_SCRAPES,
	CTFS_M__N
};

enum ctfs_mhist {
	CTFS_H_DECRYPT,     /* one chunk: pread + AEAD open */
	CTFS_H_READ,        /* one read request of the view */
	CTFS_H_POLICY,      /* one policy evaluation */
	CTFS_H_KEY_LOOKUP,  /* one key lookup (keyring or key service) */
	CTFS_H__N
};

#define CTFS_HIST_BUCKETS 14  /* upper bounds 1 us .. 5 s (1-5 steps), then +Inf */
#define CTFS_HIST_SUM (CTFS_HIST_BUCKETS + 1)

struct ctfs_mshard {
	_Atomic uint64_t slot[CTFS_M__N];
	_Atomic uint64_t hist[CTFS_H__N][CTFS_HIST_SUM + 1]; /* buckets, +Inf, sum (ns) */
} __attribute__((aligned(64)));

extern struct ctfs_mshard ctfs_mshards[CTFS_METRICS_SHARDS];

/* This thread's shard (assigned round robin at its first update). */
unsigned ctfs_metrics_shard_slow(void);
extern _Thread_local unsigned ctfs_mshard_tls;

static inline struct ctfs_mshard *ctfs_mshard_self(void)
{
	unsigned s = ctfs_mshard_tls;

	if (__builtin_expect(s == 0, 0))
		s = ctfs_metrics_shard_slow();
	return &ctfs_mshards[s - 1];
}

/* Add v to a slot (a gauge goes down with (uint64_t)-n). */
static inline void ctfs_count(enum ctfs_mslot s, uint64_t v)
{
	atomic_fetch_add_explicit(&ctfs_mshard_self()->slot[s], v, memory_order_relaxed);
}

static inline void ctfs_gauge_sub(enum ctfs_mslot s, uint64_t v)
{
	atomic_fetch_sub_explicit(&ctfs_mshard_self()->slot[s], v, memory_order_relaxed);
}

/* Chunks served by the read running in this thread (the view moves them
 * to the file's series when the read ends). */
extern _Thread_local uint64_t ctfs_mtls_chunks;

static inline void ctfs_count_chunk(void)
{
	ctfs_count(CTFS_M_CHUNKS_SERVED, 1);
	ctfs_mtls_chunks++;
}

/* Monotonic nanoseconds, for the latency histograms. */
uint64_t ctfs_metrics_now_ns(void);
void ctfs_observe_ns(enum ctfs_mhist h, uint64_t ns);

/* Observe the time since t0 (from ctfs_metrics_now_ns). */
static inline void ctfs_observe_since(enum ctfs_mhist h, uint64_t t0)
{
	ctfs_observe_ns(h, ctfs_metrics_now_ns() - t0);
}

/* The sum of a slot over every shard (a gauge: read as int64_t). */
uint64_t ctfs_metrics_get(enum ctfs_mslot s);
/* Bucket counts (not cumulative), count and sum of a histogram. */
void ctfs_metrics_hist(enum ctfs_mhist h, uint64_t buckets[CTFS_HIST_BUCKETS + 1],
		       uint64_t *count, uint64_t *sum_ns);

/* --- per-file series ---------------------------------------------------- */

enum ctfs_fslot {
	CTFS_F_OPENS, CTFS_F_DENIED, CTFS_F_HANDLES, CTFS_F_READ_BYTES, CTFS_F_CHUNKS,
	CTFS_F__N
};

struct ctfs_mfile {
	_Atomic uint64_t v[CTFS_F__N];
	const char *name;        /* relative path in the mount; "other" for the fold */
};

/* Size the per-file table (at most CTFS_METRICS_FILES_MAX; 0 keeps every
 * file in "other"). Call once before the mount serves; 0 or -errno. */
int ctfs_metrics_init(size_t max_files);
/* Free the tables and zero every value (the end of a mount, or a test). */
void ctfs_metrics_reset(void);

/* The series of the file at path (relative to the mount), created on first
 * use; never NULL (the "other" series when the table is full or on ENOMEM).
 * Takes a lock: call it at open, keep the pointer in the handle. */
struct ctfs_mfile *ctfs_metrics_file(const char *path);

static inline void ctfs_mfile_add(struct ctfs_mfile *f, enum ctfs_fslot s, uint64_t v)
{
	if (f)
		atomic_fetch_add_explicit(&f->v[s], v, memory_order_relaxed);
}

/* --- opens ---------------------------------------------------------------- */

enum ctfs_deny_reason ctfs_metrics_deny_reason(int err);
const char *ctfs_metrics_deny_name(enum ctfs_deny_reason r);

/* Count an open of kind for file f (may be NULL): rc 0 is allowed (a handle
 * is now open: call ctfs_metrics_closed at release), else the -errno that
 * refused it. */
void ctfs_metrics_opened(enum ctfs_open_kind kind, struct ctfs_mfile *f, int rc);
void ctfs_metrics_closed(struct ctfs_mfile *f);

/* One read served: n bytes (or the -errno it failed with), since t0. */
void ctfs_metrics_read(struct ctfs_mfile *f, long long n, uint64_t t0);

/* --- keys ------------------------------------------------------------------ */

/* One lookup of key kid (NULL = "default") ended with rc (0 found, -ENOKEY
 * absent, -EKEY* rejected). A key seen before that is now absent or rejected
 * counts as disappeared (revocation while mounted), and is logged once. */
void ctfs_metrics_key_lookup(const char *kid, int rc);

/* Probe of every tracked kid: present(arg, kid) returns 1, 0, or -errno;
 * used at scrape and status time so that a removed key shows before an open
 * fails. */
void ctfs_metrics_probe_keys(int (*present)(void *arg, const char *kid), void *arg);

/* A policy evaluation that started at t0 ended with rc (0 allow, -EACCES
 * deny, else error); returns rc. */
int ctfs_metrics_policy(int rc, uint64_t t0);

/* Probe for ctfs_metrics_probe_keys: is "ctfs:<kid>" in the keyring whose
 * serial *(key_serial_t *)ring is? 1, 0, or -errno. */
int ctfs_metrics_keyring_probe(void *ring, const char *kid);

/* --- exposition ------------------------------------------------------------ */

/* Values the registry does not hold, read by the caller at scrape time. */
struct ctfs_metrics_info {
	const char *source, *mountpoint, *options, *version;
	double start_time;    /* Unix seconds */
};

/* The Prometheus text format (version 0.0.4) of every metric. */
int ctfs_metrics_render(struct ctfs_buf *out, const struct ctfs_metrics_info *info);

/* The live state as one JSON object: mount, files, keys, cache, counters. */
int ctfs_metrics_status_json(struct ctfs_buf *out, const struct ctfs_metrics_info *info);

/* Append s as a label value (escaping \ " and newline) / a JSON string. */
int ctfs_metrics_label_escape(struct ctfs_buf *out, const char *s);
int ctfs_metrics_json_string(struct ctfs_buf *out, const char *s);

/* Resident set size of this process, from /proc/self/statm; 0 when unknown. */
uint64_t ctfs_metrics_rss_bytes(void);

#endif
