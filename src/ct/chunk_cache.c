#include "ct/chunk_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "metrics/metrics.h"

#define N_BUCKETS 4096

struct ctfs_cache_entry {
	struct ctfs_cache_key key;
	uint8_t *data;
	size_t cap;
	int pins;
	bool published;                           /* in the hash table */
	bool filling;                             /* bytes not ready yet */
	struct ctfs_cache_entry *hnext;           /* hash chain */
	struct ctfs_cache_entry *prev, *next;     /* LRU (published) or free list */
};

struct ctfs_cache {
	pthread_mutex_t lock;
	pthread_cond_t filled;            /* some entry finished filling */
	size_t budget;
	size_t total;                     /* bytes of every buffer mapped */
	struct ctfs_cache_entry *buckets[N_BUCKETS];
	struct ctfs_cache_entry lru;      /* sentinel: next = most recent */
	struct ctfs_cache_entry *free;    /* wiped buffers ready for reuse */
};

static void list_del(struct ctfs_cache_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push(struct ctfs_cache *c, struct ctfs_cache_entry *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	c->lru.next->prev = e;
	c->lru.next = e;
}

static size_t bucket(const struct ctfs_cache_key *k)
{
	uint64_t h = k->uid * 0x9e3779b97f4a7c15ull ^ k->tensor * 0xc2b2ae3d27d4eb4full ^ k->chunk;

	h ^= h >> 29;
	return (size_t)(h % N_BUCKETS);
}

static bool key_eq(const struct ctfs_cache_key *a, const struct ctfs_cache_key *b)
{
	return a->uid == b->uid && a->tensor == b->tensor && a->chunk == b->chunk;
}

/* Locked, not dumpable, not inherited by children. */
static uint8_t *map_locked(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mlock(p, len) || madvise(p, len, MADV_DONTDUMP) || madvise(p, len, MADV_DONTFORK)) {
		ctfs_err("cannot lock %zu bytes of cache memory: %m", len);
		munmap(p, len);
		return NULL;
	}
	return p;
}

static void release(struct ctfs_cache *c, struct ctfs_cache_entry *e)
{
	explicit_bzero(e->data, e->cap);
	munmap(e->data, e->cap);
	ctfs_gauge_sub(CTFS_M_CACHE_BYTES, e->cap);
	c->total -= e->cap;
	free(e);
}

static void unhash(struct ctfs_cache *c, struct ctfs_cache_entry *e)
{
	struct ctfs_cache_entry **pp = &c->buckets[bucket(&e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_del(e);
	e->published = false;
}

/* Wipe an unused entry and keep its buffer for the next allocation. */
static void recycle(struct ctfs_cache *c, struct ctfs_cache_entry *e)
{
	explicit_bzero(e->data, e->cap);
	e->next = c->free;
	c->free = e;
}

/* The least recently used unpinned entry, taken out of the cache (not yet
 * wiped), or NULL when every entry is pinned. */
static struct ctfs_cache_entry *evict_one(struct ctfs_cache *c)
{
	for (struct ctfs_cache_entry *e = c->lru.prev; e != &c->lru; e = e->prev) {
		if (!e->pins) {
			ctfs_count(CTFS_M_CACHE_EVICTIONS, 1);
			unhash(c, e);
			return e;
		}
	}
	return NULL;
}

static bool fits(const struct ctfs_cache_entry *e, size_t len)
{
	return e->cap >= len && e->cap / 2 <= len;
}

static struct ctfs_cache_entry *take_free(struct ctfs_cache *c, size_t len)
{
	for (struct ctfs_cache_entry **pp = &c->free; *pp; pp = &(*pp)->next) {
		struct ctfs_cache_entry *e = *pp;

		if (fits(e, len)) {
			*pp = e->next;
			return e;
		}
	}
	return NULL;
}

/* Unmap free buffers until len more bytes fit the budget. */
static bool shrink_free(struct ctfs_cache *c, size_t len)
{
	while (c->total + len > c->budget && c->free) {
		struct ctfs_cache_entry *e = c->free;

		c->free = e->next;
		release(c, e);
	}
	return c->total + len <= c->budget;
}

static struct ctfs_cache_entry *new_entry(struct ctfs_cache *c, size_t len)
{
	struct ctfs_cache_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->data = map_locked(len);
	if (!e->data) {
		free(e);
		return NULL;
	}
	e->cap = len;
	ctfs_count(CTFS_M_CACHE_BYTES, len);
	c->total += len;
	return e;
}

int ctfs_cache_new(size_t budget, struct ctfs_cache **out)
{
	struct ctfs_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	if (pthread_mutex_init(&c->lock, NULL)) {
		free(c);
		return -ENOMEM;
	}
	if (pthread_cond_init(&c->filled, NULL)) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return -ENOMEM;
	}
	c->budget = budget;
	ctfs_count(CTFS_M_CACHE_BUDGET_BYTES, budget);
	c->lru.next = c->lru.prev = &c->lru;
	*out = c;
	return 0;
}

void ctfs_cache_free(struct ctfs_cache *c)
{
	if (!c)
		return;
	while (c->lru.next != &c->lru) {
		struct ctfs_cache_entry *e = c->lru.next;

		unhash(c, e);
		release(c, e);
	}
	while (c->free) {
		struct ctfs_cache_entry *e = c->free;

		c->free = e->next;
		release(c, e);
	}
	pthread_cond_destroy(&c->filled);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* A free buffer of len bytes, evicting as needed; called locked. */
static struct ctfs_cache_entry *alloc_locked(struct ctfs_cache *c, size_t len)
{
	struct ctfs_cache_entry *e = take_free(c, len), *victim;

	while (!e && !shrink_free(c, len) && (victim = evict_one(c))) {
		/* a victim of the right size is reused without a full wipe: the
		 * caller overwrites its first len bytes with ciphertext at once,
		 * and an entry whose fill fails is wiped when released */
		if (fits(victim, len)) {
			explicit_bzero(victim->data + len, victim->cap - len);
			return victim;
		}
		recycle(c, victim);
		e = take_free(c, len);
	}
	return e ? e : new_entry(c, len);
}

static struct ctfs_cache_entry *find_locked(struct ctfs_cache *c, const struct ctfs_cache_key *k)
{
	struct ctfs_cache_entry *e;

	for (e = c->buckets[bucket(k)]; e; e = e->hnext) {
		if (key_eq(&e->key, k))
			break;
	}
	return e;
}

static void pin_locked(struct ctfs_cache *c, struct ctfs_cache_entry *e)
{
	e->pins++;
	list_del(e);
	lru_push(c, e);
}

struct ctfs_cache_entry *ctfs_cache_get(struct ctfs_cache *c, const struct ctfs_cache_key *k)
{
	struct ctfs_cache_entry *e;

	pthread_mutex_lock(&c->lock);
	e = find_locked(c, k);
	if (e && !e->filling)
		pin_locked(c, e);
	else
		e = NULL;
	pthread_mutex_unlock(&c->lock);
	return e;
}

static void insert_locked(struct ctfs_cache *c, const struct ctfs_cache_key *k,
			  struct ctfs_cache_entry *e)
{
	e->key = *k;
	e->pins = 1;
	e->published = true;
	e->filling = true;
	e->hnext = c->buckets[bucket(k)];
	c->buckets[bucket(k)] = e;
	lru_push(c, e);
}

int ctfs_cache_lookup(struct ctfs_cache *c, const struct ctfs_cache_key *k, size_t len,
		      struct ctfs_cache_entry **out, bool *fill)
{
	struct ctfs_cache_entry *e;
	int rc = 0;

	*fill = false;
	pthread_mutex_lock(&c->lock);
	e = find_locked(c, k);
	ctfs_count(e ? CTFS_M_CACHE_HITS : CTFS_M_CACHE_MISSES, 1);
	if (e) {
		pin_locked(c, e);
		while (e->filling)
			pthread_cond_wait(&c->filled, &c->lock);
		if (!e->published) { /* the filler failed */
			if (--e->pins == 0)
				recycle(c, e);
			e = NULL;
			rc = -EIO;
		}
	} else {
		e = alloc_locked(c, len ? len : 1);
		if (e) {
			insert_locked(c, k, e);
			*fill = true;
		} else {
			rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&c->lock);
	*out = e;
	return rc;
}

void ctfs_cache_filled(struct ctfs_cache *c, struct ctfs_cache_entry *e, bool ok)
{
	pthread_mutex_lock(&c->lock);
	e->filling = false;
	if (!ok && e->published)
		unhash(c, e);
	pthread_cond_broadcast(&c->filled);
	pthread_mutex_unlock(&c->lock);
}

void ctfs_cache_put(struct ctfs_cache *c, struct ctfs_cache_entry *e)
{
	pthread_mutex_lock(&c->lock);
	if (--e->pins == 0 && !e->published)
		recycle(c, e);
	pthread_mutex_unlock(&c->lock);
}

uint8_t *ctfs_cache_data(struct ctfs_cache_entry *e)
{
	return e->data;
}

void ctfs_cache_drop_uid(struct ctfs_cache *c, uint64_t uid)
{
	pthread_mutex_lock(&c->lock);
	for (struct ctfs_cache_entry *e = c->lru.next, *next; e != &c->lru; e = next) {
		next = e->next;
		if (e->key.uid != uid)
			continue;
		unhash(c, e);
		if (e->pins == 0)
			recycle(c, e);
	}
	pthread_mutex_unlock(&c->lock);
}
