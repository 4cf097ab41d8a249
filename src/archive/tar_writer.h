/*
 * A deterministic ustar writer, byte for byte what Python's tarfile writes
 * in its default (pax) format for the same members: uid/gid 0, empty user
 * and group names, mtime 0, a pax "path" record for names over 100 bytes or
 * not ASCII, a pax "size" record at 8 GiB and above, and the archive padded
 * to 10240-byte records. Only regular files: the TGSP packager lists files,
 * and parent directories are implied by their paths.
 */
#ifndef CTFS_TAR_WRITER_H
#define CTFS_TAR_WRITER_H

#include <stddef.h>
#include <stdint.h>

#define CTFS_TAR_RECORD 10240

/* Bytes out, in order; 0 or -errno. */
typedef int (*ctfs_tar_out)(void *arg, const uint8_t *data, size_t len);

struct ctfs_tar_writer {
	ctfs_tar_out out;
	void *arg;
	uint64_t written;
};

/* One member: header(s), then size bytes read from fd (from its current
 * offset), then padding. -EIO if fd ends early (the file shrank), -EFBIG if
 * it has more than size bytes (it grew), -ENAMETOOLONG for a path over 4095
 * bytes. */
int ctfs_tar_write_file(struct ctfs_tar_writer *w, const char *path, uint32_t mode, int fd,
			uint64_t size);
/* The end-of-archive marker and the padding of the last record. */
int ctfs_tar_write_end(struct ctfs_tar_writer *w);

#endif
