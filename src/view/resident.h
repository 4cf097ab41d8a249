/* Resident plaintext (-o resident): an encrypted file decrypted and
 * verified whole, once, into locked memory that never reaches disk, shared
 * by every handle of the file and served from there (or handed to the
 * kernel as the file's backing file, see ctfs_handle_resident_fd).
 *
 * The copy is a sealed memfd mapped in the daemon, locked (mlock), kept
 * out of core dumps and forked children. When the last handle closes, the
 * copy lives on for the grace time (an open in that window reuses it); then
 * the store's one janitor thread wipes it through the daemon's mapping and
 * frees it, unless a process still maps it (see resident.c). Not for use
 * outside src/view/. */
#ifndef CTFS_VIEW_RESIDENT_H
#define CTFS_VIEW_RESIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct ctfs_cache;
struct ctfs_entry;
struct ctfs_model;
struct ctfs_registry;
struct ctfs_resident;
struct ctfs_rcopy;

/* patterns: NULL or "" selects every encrypted file, else fnmatch(3)
 * patterns separated by ':' on the path in the mount without its leading
 * '/' ('*' also matches '/'). grace in seconds. */
int ctfs_resident_new(const char *patterns, unsigned grace, struct ctfs_registry *reg,
		      struct ctfs_resident **out);
/* At unmount: every copy is freed (wiped, unless a process maps it). */
void ctfs_resident_free(struct ctfs_resident *r);
/* The mount point, for finding processes that map a copy (see resident.c). */
int ctfs_resident_set_mountpoint(struct ctfs_resident *r, const char *mountpoint);

/* Whether the file shown at path (mount path, "/a/b") is to be resident. */
bool ctfs_resident_wanted(const struct ctfs_resident *r, const char *path);

/* The copy of entry e (model m, unlocked, shown at path), made on first
 * use with the verified read path; held until ctfs_resident_put. -EIO when
 * a check failed (nothing kept, the open must fail). -ENOMEM when the
 * memory cannot be had or locked, -EBUSY when the file is open lazily
 * already: the caller then serves this handle lazily, and it counts as a
 * lazy handle until ctfs_resident_lazy_close. While a lazy handle is open
 * no copy is made: the kernel cannot mix passed-through and cached opens of
 * one file. */
int ctfs_resident_get(struct ctfs_resident *r, struct ctfs_entry *e, struct ctfs_model *m,
		      struct ctfs_cache *cache, const char *path, struct ctfs_rcopy **out);
void ctfs_resident_put(struct ctfs_resident *r, struct ctfs_rcopy *c);
void ctfs_resident_lazy_close(struct ctfs_resident *r, struct ctfs_entry *e);

/* Bytes of the copy (short only at its end). */
ssize_t ctfs_rcopy_read(const struct ctfs_rcopy *c, void *buf, size_t size, uint64_t off);
/* The copy's memfd (read-write, sealed against writes through new
 * descriptors and against size changes) and its identity. The copy is then
 * taken to be mapped by the kernel on behalf of readers. */
void ctfs_rcopy_fd(struct ctfs_rcopy *c, int *fd, struct stat *id);

#endif
