/* A bounded cache of decrypted, verified chunks.
 *
 * Buffers are locked in memory, kept out of core dumps and wiped when they are
 * evicted or freed. The budget covers every buffer the cache holds; it is
 * exceeded only by entries that readers have pinned at that moment (at most
 * one per reading thread). */
#ifndef CTFS_CHUNK_CACHE_H
#define CTFS_CHUNK_CACHE_H

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

/* A pinned, unpublished buffer of len bytes to decrypt into. */
int ctfs_cache_alloc(struct ctfs_cache *c, size_t len, struct ctfs_cache_entry **out);

/* Make a filled buffer visible under key. Returns the pinned entry to use:
 * e, or the one another thread published first (e is then released). */
struct ctfs_cache_entry *ctfs_cache_publish(struct ctfs_cache *c, const struct ctfs_cache_key *k,
					    struct ctfs_cache_entry *e);

/* Unpin; an unpublished entry is wiped and recycled. */
void ctfs_cache_put(struct ctfs_cache *c, struct ctfs_cache_entry *e);

uint8_t *ctfs_cache_data(struct ctfs_cache_entry *e);

/* Forget every chunk of one load (its file changed or was closed for good). */
void ctfs_cache_drop_uid(struct ctfs_cache *c, uint64_t uid);

#endif
