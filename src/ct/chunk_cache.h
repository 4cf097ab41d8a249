/* A bounded cache of decrypted, verified chunks.
 *
 * Buffers are locked in memory, kept out of core dumps and wiped when they are
 * evicted or freed. The budget covers every buffer the cache holds; it is
 * exceeded only by entries that readers have pinned at that moment (at most
 * one per reading thread). */
#ifndef CTFS_CHUNK_CACHE_H
#define CTFS_CHUNK_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctfs_cache;
struct ctfs_cache_entry;

struct ctfs_cache_key {
	uint64_t uid;      /* one load of one backing file */
	uint64_t tensor;
	uint64_t chunk;
};

int ctfs_cache_new(size_t budget, struct ctfs_cache **out);
void ctfs_cache_free(struct ctfs_cache *c);

/* A pinned entry for key, or NULL. */
struct ctfs_cache_entry *ctfs_cache_get(struct ctfs_cache *c, const struct ctfs_cache_key *k);

/* A pinned entry of len bytes for key. When another thread is filling it,
 * wait for that. *fill is true when the caller must fill it and then call
 * ctfs_cache_filled(); readers of the same chunk meanwhile wait instead of
 * decrypting it a second time. -EIO when the filler failed. */
int ctfs_cache_lookup(struct ctfs_cache *c, const struct ctfs_cache_key *k, size_t len,
		      struct ctfs_cache_entry **out, bool *fill);

/* End of filling: ok publishes the bytes, !ok wipes them and wakes the
 * waiters with -EIO. Either way the caller still holds its pin. */
void ctfs_cache_filled(struct ctfs_cache *c, struct ctfs_cache_entry *e, bool ok);

/* Unpin; an entry that is no longer in the cache is wiped and recycled. */
void ctfs_cache_put(struct ctfs_cache *c, struct ctfs_cache_entry *e);

uint8_t *ctfs_cache_data(struct ctfs_cache_entry *e);

/* Forget every chunk of one load (its file changed or was closed for good). */
void ctfs_cache_drop_uid(struct ctfs_cache *c, uint64_t uid);

#endif
