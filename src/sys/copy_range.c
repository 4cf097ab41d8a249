#include "sys/copy_range.h"

#include <errno.h>
#include <unistd.h>

#include "util.h"

/* Errors that mean "this kernel or file system pair cannot do it": fall
 * back to copying through the buffer. */
static int unsupported(int e)
{
	return e == EXDEV || e == EINVAL || e == ENOSYS || e == EOPNOTSUPP || e == EBADF ||
	       e == ETXTBSY;
}

static int copy_buffered(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off,
			 uint64_t len, uint8_t *buf, size_t buflen)
{
	while (len) {
		size_t n = len < buflen ? (size_t)len : buflen;
		int rc = ctfs_pread_full(in_fd, buf, n, in_off);

		if (!rc)
			rc = ctfs_pwrite_full(out_fd, buf, n, out_off);
		if (rc)
			return rc;
		in_off += n;
		out_off += n;
		len -= n;
	}
	return 0;
}

int ctfs_copy_range(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t len,
		    uint8_t *buf, size_t buflen)
{
	while (len) {
		off_t i = (off_t)in_off, o = (off_t)out_off;
		size_t want = len < (1u << 30) ? (size_t)len : (1u << 30);
		ssize_t n = copy_file_range(in_fd, &i, out_fd, &o, want, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && unsupported(errno))
			return copy_buffered(in_fd, in_off, out_fd, out_off, len, buf, buflen);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		in_off += (uint64_t)n;
		out_off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}
