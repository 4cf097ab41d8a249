/* The registry of backing files the mount has looked at: CryptoTensors
 * files, plain files and TGSP packages alike, keyed by file identity (so
 * hard links share one entry). Each entry has its own load lock, so a slow
 * header parse or package open never blocks lookups of other files. Entries
 * that no caller holds are kept in least-recently-used order within a memory
 * budget and dropped beyond it; a file replaced in SOURCE gets a new entry. */
#ifndef CTFS_VIEW_REGISTRY_H
#define CTFS_VIEW_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

struct ctfs_model;
struct ctfs_pkg;
struct ctfs_rego;
struct ctfs_rcopy;

enum ctfs_entry_kind { CTFS_ENTRY_FILE, CTFS_ENTRY_PKG };

struct ctfs_entry {
	/* fixed at creation */
	enum ctfs_entry_kind kind;
	struct stat id;			/* the identity this entry describes */
	char *bpath;			/* backing path it was first found at (logs) */
	atomic_bool served;		/* content handed to the kernel before */

	/* the loaded object, under load_lock; read-only once set */
	pthread_mutex_t load_lock;
	atomic_bool loaded;		/* set once, after the fields below */
	int err;			/* last load's refusal, or 0 */
	time_t err_at;
	uint64_t view_size;		/* FILE: size of what the mount shows */
	struct ctfs_model *model;	/* FILE: encrypted files only */
	struct ctfs_pkg *pkg;		/* PKG */

	/* FILE: the local policy, compiled at the first open (under the
	 * model's lock), and the SHA-256 hex of its text for audit records */
	struct ctfs_rego *policy;
	char policy_hash[65];

	/* FILE: its resident copy (view/resident.c) and its handles served
	 * lazily although it is wanted resident, under the resident store's
	 * lock */
	struct ctfs_rcopy *resident;
	unsigned int resident_lazy;

	/* registry bookkeeping, under the registry lock */
	unsigned int refs;
	bool hashed;
	size_t cost;			/* estimated memory, counted while unused */
	struct ctfs_entry *hnext, *lru_prev, *lru_next;
};

struct ctfs_registry;

/* drop frees what an entry loaded (not the entry); called without locks. */
typedef void (*ctfs_entry_drop_fn)(void *arg, struct ctfs_entry *e);

int ctfs_registry_new(size_t budget, ctfs_entry_drop_fn drop, void *arg,
		      struct ctfs_registry **out);
void ctfs_registry_free(struct ctfs_registry *r);

/* A reference to the entry of kind for the file identity id, created
 * (empty, not loaded) when there is none or the one there describes an
 * older version of the file. bpath names it in logs. */
int ctfs_registry_get(struct ctfs_registry *r, enum ctfs_entry_kind kind, const struct stat *id,
		      const char *bpath, struct ctfs_entry **out);
/* Another reference to an entry the caller holds. */
void ctfs_registry_hold(struct ctfs_registry *r, struct ctfs_entry *e);
/* Give the reference back; an unused entry joins the LRU list. */
void ctfs_registry_put(struct ctfs_registry *r, struct ctfs_entry *e);
/* Record what a loaded entry costs beyond the entry itself (call with a
 * reference held). */
void ctfs_registry_set_cost(struct ctfs_registry *r, struct ctfs_entry *e, size_t cost);

/* For status and tests: entries in the table, and the memory of the unused. */
void ctfs_registry_stats(struct ctfs_registry *r, size_t *entries, size_t *unused_cost);

#endif
