/*
 * The member table of a tar archive read as a stream (the archive inside a
 * TGSP payload is only ever seen through a decompressor): feed the bytes in
 * order, get the path, type, mode, size and data offset of every member.
 *
 * Formats: POSIX ustar (name + prefix), pax extended headers ("x": path,
 * linkpath, size; "g" ignored) and GNU long names ("L", "K"). Regular files,
 * directories, symbolic links and hard links (to an earlier regular member)
 * are kept; devices, FIFOs and other special members are skipped (counted in
 * ctfs_tar_skipped). Parent directories that the archive does not list are
 * made up (mode 0755). The archive must end with its end-of-archive marker
 * (two zero blocks) followed by nothing but zeros, CTFS_TAR_MAX_TRAILER
 * bytes at most from the marker's start (tar writers pad to a 10 KiB
 * record; more is only there to make a reader inflate for nothing).
 *
 * Bounds on untrusted archives (the index's memory, the work of one pass):
 * CTFS_TAR_MAX_MEMBERS members, paths and link targets of CTFS_TAR_MAX_PATH
 * bytes, CTFS_TAR_MAX_NAMES bytes of paths and targets together, and
 * CTFS_TAR_MAX_AUX bytes of data for a member that is not a regular file
 * (directories, links and skipped special members carry none normally).
 *
 * Refused as corrupt: bad header checksum, unknown magic, bad numbers, a
 * stream that ends inside a member, paths that are absolute or have "..",
 * "." or empty components, components over 255 bytes, duplicate paths, a
 * path below a non-directory, a hard link to no earlier regular file,
 * and archives beyond the bounds above.
 */
#ifndef CTFS_TAR_INDEX_H
#define CTFS_TAR_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CTFS_TAR_BLOCK 512
#define CTFS_TAR_MAX_MEMBERS (1u << 20)
#define CTFS_TAR_MAX_PATH 4095
#define CTFS_TAR_MAX_NAMES (64u << 20)
#define CTFS_TAR_MAX_TRAILER (64u << 10)
#define CTFS_TAR_MAX_AUX (1u << 20)
#define CTFS_TAR_NONE SIZE_MAX

enum ctfs_tar_type { CTFS_TAR_FILE, CTFS_TAR_DIR, CTFS_TAR_SYMLINK };

struct ctfs_tar_entry {
	char *path;		/* "" for the root; no leading or trailing '/' */
	const char *name;	/* last component of path */
	char *link;		/* symlink target, else NULL */
	uint64_t offset;	/* regular files: data offset in the stream */
	uint64_t size;		/* regular files: data length */
	uint32_t mode;		/* permission bits (07777) from the archive */
	enum ctfs_tar_type type;
	size_t parent;		/* index of the parent directory (root: NONE) */
	size_t first_child;	/* directories: first child, or NONE */
	size_t next_sibling;	/* NONE at the end */
};

struct ctfs_tar_parser;
struct ctfs_tar_index;

int ctfs_tar_parser_new(struct ctfs_tar_parser **out);
/* The next len bytes of the archive. 0 or -EBADMSG with err. */
int ctfs_tar_parser_feed(struct ctfs_tar_parser *p, const uint8_t *data, size_t len,
			 char *err, size_t errlen);
/* The stream is complete: check it ended well and build the index.
 * 0, -EBADMSG with err, -ENOMEM. The parser is left for the caller to free. */
int ctfs_tar_parser_finish(struct ctfs_tar_parser *p, struct ctfs_tar_index **out,
			   char *err, size_t errlen);
void ctfs_tar_parser_free(struct ctfs_tar_parser *p);

/* Entries sorted by path; entry 0 is the root directory. */
size_t ctfs_tar_count(const struct ctfs_tar_index *ix);
const struct ctfs_tar_entry *ctfs_tar_at(const struct ctfs_tar_index *ix, size_t i);
/* path relative to the root, without leading '/' ("" for the root). */
const struct ctfs_tar_entry *ctfs_tar_lookup(const struct ctfs_tar_index *ix, const char *path);
/* Special members that were skipped. */
size_t ctfs_tar_skipped(const struct ctfs_tar_index *ix);
/* Bytes of memory the index holds. */
size_t ctfs_tar_bytes(const struct ctfs_tar_index *ix);
void ctfs_tar_index_free(struct ctfs_tar_index *ix);

/* Normalise a member path: drop one leading "./" and trailing '/'; refuse
 * (return false) absolute paths, "." / ".." / empty components, components
 * over 255 bytes, NUL bytes, paths over CTFS_TAR_MAX_PATH. "" or "." alone
 * becomes "" (the root). On success out (cap >= len + 1) holds the result. */
bool ctfs_tar_path_normalize(const char *in, size_t len, char *out, size_t cap);

#endif
