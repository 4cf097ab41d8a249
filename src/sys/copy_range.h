/* Copying a byte range between files without passing it through user space
 * when the kernel can (copy_file_range: in-kernel copy or reflink). */
#ifndef CTFS_COPY_RANGE_H
#define CTFS_COPY_RANGE_H

#include <stddef.h>
#include <stdint.h>

/* Copy len bytes from in_fd at in_off to out_fd at out_off. buf (buflen
 * bytes) is used only when the kernel cannot copy between these files.
 * 0 or -errno; -EIO when the input ends early. */
int ctfs_copy_range(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t len,
		    uint8_t *buf, size_t buflen);

#endif
