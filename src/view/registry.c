/* The backing-file registry: a hash table by (device, inode) and an LRU
 * list of the entries nobody holds (see registry.h). */
#include "view/registry.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MIN_BUCKETS 64

struct ctfs_registry {
	pthread_mutex_t lock;
	struct ctfs_entry **buckets;
	size_t n_buckets, count;
	struct ctfs_entry *lru_head, *lru_tail;	/* head: least recently used */
	size_t unused_cost, budget;
	ctfs_entry_drop_fn drop;
	void *drop_arg;
};

static size_t bucket_in(size_t n_buckets, const struct stat *id)
{
	uint64_t h = (uint64_t)id->st_ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)id->st_dev;

	return (size_t)(h ^ h >> 29) & (n_buckets - 1);
}

static size_t bucket_of(const struct ctfs_registry *r, const struct stat *id)
{
	return bucket_in(r->n_buckets, id);
}

int ctfs_registry_new(size_t budget, ctfs_entry_drop_fn drop, void *arg,
		      struct ctfs_registry **out)
{
	struct ctfs_registry *r = calloc(1, sizeof(*r));

	if (!r || !(r->buckets = calloc(MIN_BUCKETS, sizeof(*r->buckets))) ||
	    pthread_mutex_init(&r->lock, NULL)) {
		if (r)
			free(r->buckets);
		free(r);
		return -ENOMEM;
	}
	r->n_buckets = MIN_BUCKETS;
	r->budget = budget;
	r->drop = drop;
	r->drop_arg = arg;
	*out = r;
	return 0;
}

static void entry_free(struct ctfs_registry *r, struct ctfs_entry *e)
{
	r->drop(r->drop_arg, e);
	pthread_mutex_destroy(&e->load_lock);
	free(e->bpath);
	free(e);
}

static void unhash(struct ctfs_registry *r, struct ctfs_entry *e)
{
	struct ctfs_entry **pp = &r->buckets[bucket_of(r, &e->id)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	e->hashed = false;
	r->count--;
}

static void lru_unlink(struct ctfs_registry *r, struct ctfs_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		r->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		r->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
	r->unused_cost -= e->cost;
}

/* Unused entries beyond the budget, unlinked and chained on hnext for the
 * caller to free once the lock is dropped. */
static struct ctfs_entry *over_budget(struct ctfs_registry *r)
{
	struct ctfs_entry *victims = NULL;

	while (r->lru_head && r->unused_cost > r->budget) {
		struct ctfs_entry *e = r->lru_head;

		lru_unlink(r, e);
		unhash(r, e);
		e->hnext = victims;
		victims = e;
	}
	return victims;
}

static void free_chain(struct ctfs_registry *r, struct ctfs_entry *e)
{
	while (e) {
		struct ctfs_entry *next = e->hnext;

		entry_free(r, e);
		e = next;
	}
}

/* Double the table when chains grow long; a failed allocation only costs speed. */
static void maybe_grow(struct ctfs_registry *r)
{
	size_t n = r->n_buckets * 2;
	struct ctfs_entry **b;

	if (r->count <= r->n_buckets * 2 || n > SIZE_MAX / sizeof(*b) || !(b = calloc(n, sizeof(*b))))
		return;
	for (size_t i = 0; i < r->n_buckets; i++) {
		while (r->buckets[i]) {
			struct ctfs_entry *e = r->buckets[i];
			size_t j = bucket_in(n, &e->id);

			r->buckets[i] = e->hnext;
			e->hnext = b[j];
			b[j] = e;
		}
	}
	free(r->buckets);
	r->buckets = b;
	r->n_buckets = n;
}

/* What an entry costs before anything is loaded into it: even entries
 * whose load failed count, so they cannot pile up outside the budget. */
static size_t own_cost(const struct ctfs_entry *e)
{
	return sizeof(*e) + strlen(e->bpath) + 1;
}

static struct ctfs_entry *entry_new(enum ctfs_entry_kind kind, const struct stat *id,
				    const char *bpath)
{
	struct ctfs_entry *e = calloc(1, sizeof(*e));

	if (!e || !(e->bpath = strdup(bpath)) || pthread_mutex_init(&e->load_lock, NULL)) {
		if (e)
			free(e->bpath);
		free(e);
		return NULL;
	}
	e->kind = kind;
	e->id = *id;
	e->cost = own_cost(e);
	atomic_init(&e->served, false);
	return e;
}

/* The hashed entry for id, or NULL; an older version of the file is
 * unhashed (it lives on while referenced) and chained on *stale. */
static struct ctfs_entry *find(struct ctfs_registry *r, enum ctfs_entry_kind kind,
			       const struct stat *id, struct ctfs_entry **stale)
{
	for (struct ctfs_entry *e = r->buckets[bucket_of(r, id)]; e; e = e->hnext) {
		if (e->id.st_ino != id->st_ino || e->id.st_dev != id->st_dev)
			continue;
		if (e->kind == kind && ctfs_same_file(&e->id, id))
			return e;
		unhash(r, e);
		if (!e->refs) {
			lru_unlink(r, e);
			e->hnext = *stale;
			*stale = e;
		}
		return NULL;
	}
	return NULL;
}

int ctfs_registry_get(struct ctfs_registry *r, enum ctfs_entry_kind kind, const struct stat *id,
		      const char *bpath, struct ctfs_entry **out)
{
	struct ctfs_entry *stale = NULL, *e;

	pthread_mutex_lock(&r->lock);
	e = find(r, kind, id, &stale);
	if (!e && (e = entry_new(kind, id, bpath))) {
		size_t b = bucket_of(r, id);

		e->hnext = r->buckets[b];
		r->buckets[b] = e;
		e->hashed = true;
		r->count++;
		maybe_grow(r);
	}
	if (e) {
		if (!e->refs++ && (e->lru_prev || r->lru_head == e))
			lru_unlink(r, e);
		*out = e;
	}
	pthread_mutex_unlock(&r->lock);
	free_chain(r, stale);
	return e ? 0 : -ENOMEM;
}

void ctfs_registry_hold(struct ctfs_registry *r, struct ctfs_entry *e)
{
	pthread_mutex_lock(&r->lock);
	e->refs++;	/* held already: not on the LRU list */
	pthread_mutex_unlock(&r->lock);
}

void ctfs_registry_put(struct ctfs_registry *r, struct ctfs_entry *e)
{
	struct ctfs_entry *victims = NULL;

	if (!e)
		return;
	pthread_mutex_lock(&r->lock);
	if (--e->refs == 0) {
		if (!e->hashed) {
			e->hnext = victims;
			victims = e;
		} else {
			e->lru_prev = r->lru_tail;
			if (r->lru_tail)
				r->lru_tail->lru_next = e;
			else
				r->lru_head = e;
			r->lru_tail = e;
			r->unused_cost += e->cost;
			victims = over_budget(r);
		}
	}
	pthread_mutex_unlock(&r->lock);
	free_chain(r, victims);
}

void ctfs_registry_set_cost(struct ctfs_registry *r, struct ctfs_entry *e, size_t cost)
{
	pthread_mutex_lock(&r->lock);
	e->cost = own_cost(e) + cost;	/* held: not on the LRU list, nothing to adjust */
	pthread_mutex_unlock(&r->lock);
}

void ctfs_registry_stats(struct ctfs_registry *r, size_t *entries, size_t *unused_cost)
{
	pthread_mutex_lock(&r->lock);
	*entries = r->count;
	*unused_cost = r->unused_cost;
	pthread_mutex_unlock(&r->lock);
}

void ctfs_registry_free(struct ctfs_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_buckets; i++)
		free_chain(r, r->buckets[i]);
	pthread_mutex_destroy(&r->lock);
	free(r->buckets);
	free(r);
}
