/* The chunk cache: hits, the byte budget, pinning, one filler per chunk,
 * and forgetting a whole load. */
#include <pthread.h>
#include <string.h>

#include "ct/chunk_cache.h"
#include "tap.h"

static struct ctfs_cache_entry *put_chunk(struct ctfs_cache *c, uint64_t uid, uint64_t chunk,
					  size_t len, uint8_t fill)
{
	struct ctfs_cache_key k = { uid, 0, chunk };
	struct ctfs_cache_entry *e;
	bool mine;

	if (ctfs_cache_lookup(c, &k, len, &e, &mine))
		return NULL;
	if (mine) {
		memset(ctfs_cache_data(e), fill, len);
		ctfs_cache_filled(c, e, true);
	}
	return e;
}

static int cached(struct ctfs_cache *c, uint64_t uid, uint64_t chunk, uint8_t *fill)
{
	struct ctfs_cache_key k = { uid, 0, chunk };
	struct ctfs_cache_entry *e = ctfs_cache_get(c, &k);

	if (!e)
		return 0;
	if (fill)
		*fill = ctfs_cache_data(e)[0];
	ctfs_cache_put(c, e);
	return 1;
}

static void budget_and_lru(void)
{
	struct ctfs_cache *c;
	uint8_t f = 0;

	tap_ok(ctfs_cache_new(4 * 65536, &c) == 0, "cache of four 64 KiB chunks");
	for (uint64_t i = 0; i < 4; i++)
		ctfs_cache_put(c, put_chunk(c, 1, i, 65536, (uint8_t)i));
	tap_ok(cached(c, 1, 0, &f) && f == 0, "chunk 0 is a hit with its bytes");
	ctfs_cache_put(c, put_chunk(c, 1, 4, 65536, 4));   /* evicts the LRU: chunk 1 */
	tap_ok(!cached(c, 1, 1, NULL), "least recently used chunk was evicted");
	tap_ok(cached(c, 1, 0, NULL) && cached(c, 1, 4, NULL), "recent chunks stay");
	ctfs_cache_drop_uid(c, 1);
	tap_ok(!cached(c, 1, 0, NULL) && !cached(c, 1, 4, NULL), "drop_uid forgets a load");
	ctfs_cache_free(c);
}

static void pinned_entries_survive(void)
{
	struct ctfs_cache *c;
	struct ctfs_cache_entry *pinned, *e;
	struct ctfs_cache_key k = { 2, 0, 0 };

	ctfs_cache_new(2 * 65536, &c);
	pinned = put_chunk(c, 2, 0, 65536, 0xaa);          /* kept pinned */
	for (uint64_t i = 1; i < 6; i++)
		ctfs_cache_put(c, put_chunk(c, 2, i, 65536, 1));
	tap_ok(ctfs_cache_data(pinned)[65535] == 0xaa, "a pinned chunk is never evicted under a reader");
	ctfs_cache_drop_uid(c, 2);
	tap_ok(ctfs_cache_data(pinned)[0] == 0xaa, "nor wiped by drop_uid while pinned");
	ctfs_cache_put(c, pinned);
	tap_ok(ctfs_cache_get(c, &k) == NULL, "and gone once released");
	/* a chunk is filled once: a second lookup gets the first bytes */
	e = put_chunk(c, 3, 7, 100, 1);
	ctfs_cache_put(c, e);
	e = put_chunk(c, 3, 7, 100, 2);
	tap_ok(ctfs_cache_data(e)[0] == 1, "a second lookup reuses the filled entry");
	ctfs_cache_put(c, e);
	ctfs_cache_free(c);
}

/* A failed fill is not cached: waiters get -EIO, the next reader refills. */
static void failed_fill(void)
{
	struct ctfs_cache_key k = { 4, 0, 0 };
	struct ctfs_cache_entry *e, *again;
	struct ctfs_cache *c;
	bool mine;

	ctfs_cache_new(65536, &c);
	tap_ok(ctfs_cache_lookup(c, &k, 100, &e, &mine) == 0 && mine, "first reader fills");
	ctfs_cache_filled(c, e, false);
	ctfs_cache_put(c, e);
	tap_ok(ctfs_cache_get(c, &k) == NULL, "a failed fill leaves nothing cached");
	tap_ok(ctfs_cache_lookup(c, &k, 100, &again, &mine) == 0 && mine,
	       "the next reader fills again");
	ctfs_cache_filled(c, again, true);
	ctfs_cache_put(c, again);
	ctfs_cache_free(c);
}

struct hammer {
	struct ctfs_cache *c;
	int bad;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;

	for (uint64_t i = 0; i < 20000; i++) {
		uint64_t chunk = (i * 2654435761u) % 64;
		struct ctfs_cache_key k = { 9, 0, chunk };
		struct ctfs_cache_entry *e = ctfs_cache_get(h->c, &k);

		if (!e)
			e = put_chunk(h->c, 9, chunk, 4096, (uint8_t)chunk);
		if (!e || ctfs_cache_data(e)[4095] != (uint8_t)chunk)
			__atomic_add_fetch(&h->bad, 1, __ATOMIC_RELAXED);
		if (e)
			ctfs_cache_put(h->c, e);
	}
	return NULL;
}

static void concurrent(void)
{
	struct hammer h = { 0 };
	pthread_t t[4];

	ctfs_cache_new(16 * 4096, &h.c);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer_thread, &h);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	tap_ok(h.bad == 0, "4 threads hitting and evicting always see their own chunk's bytes");
	ctfs_cache_free(h.c);
}

int main(void)
{
	budget_and_lru();
	pinned_entries_survive();
	failed_fill();
	concurrent();
	return tap_done();
}
