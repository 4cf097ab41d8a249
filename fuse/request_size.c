/* READ requests of CTFS_REQUEST_SIZE (libfuse >= 3.17).
 *
 * The kernel splits page-cache reads into requests of at most max_pages
 * pages, which the daemon names at INIT and the kernel caps at
 * fs.fuse.max_pages_limit (256 pages, 1 MiB, unless raised). libfuse 3.14
 * derives max_pages from a receive buffer fixed at 1 MiB; 3.17 grows its
 * buffers to conn->max_write, so asking for 2 MiB writes gets 2 MiB pages
 * per request, reads included: one request then covers a default v2 chunk,
 * decrypted and tag-checked once instead of being fetched twice, and half
 * as many round trips through /dev/fuse. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "kernel_io.h"
#include "log.h"

#ifndef HAVE_FUSE_PASSTHROUGH
#define HAVE_FUSE_PASSTHROUGH 0
#endif
#ifndef HAVE_FUSE_LARGE_REQUESTS
#define HAVE_FUSE_LARGE_REQUESTS 0
#endif

#define MAX_PAGES_LIMIT "/proc/sys/fs/fuse/max_pages_limit"

#if HAVE_FUSE_LARGE_REQUESTS

/* Raise the kernel's cap when it is below what we ask for. The cap is read
 * when the mount is made, so this comes before fuse_mount(); it only lets
 * FUSE daemons ask for more, each still bounded by its own max_pages. */
void ctfs_kio_before_mount(void)
{
	unsigned long want = CTFS_REQUEST_SIZE / (unsigned long)sysconf(_SC_PAGESIZE), have = 0;
	FILE *f = fopen(MAX_PAGES_LIMIT, "re");
	int ok;

	if (!f)
		return; /* kernel before 6.13: its fixed cap applies */
	ok = fscanf(f, "%lu", &have) == 1;
	fclose(f);
	if (!ok || have >= want)
		return;
	f = fopen(MAX_PAGES_LIMIT, "we");
	ok = f && fprintf(f, "%lu\n", want) > 0;
	if (f && fclose(f))
		ok = 0;
	if (ok)
		ctfs_info("fs.fuse.max_pages_limit raised from %lu to %lu", have, want);
	else /* not root: requests stay at the kernel's cap */
		ctfs_debug("cannot raise fs.fuse.max_pages_limit: %m");
}

void ctfs_kio_init(struct ctfs_mount *mt, struct fuse_conn_info *conn)
{
	if (conn->max_write < CTFS_REQUEST_SIZE)
		conn->max_write = CTFS_REQUEST_SIZE;
	ctfs_pt_init(mt, conn);
}

#else /* libfuse < 3.17: 1 MiB requests */

void ctfs_kio_before_mount(void)
{
}

void ctfs_kio_init(struct ctfs_mount *mt, struct fuse_conn_info *conn)
{
	ctfs_pt_init(mt, conn);
}

#endif

/* Called once, from --version: a static buffer is enough. */
const char *ctfs_kio_features(void)
{
	static char text[64];
	const char *pt = HAVE_FUSE_PASSTHROUGH ? "passthrough" : "";

	if (!HAVE_FUSE_LARGE_REQUESTS)
		return *pt ? pt : "none";
	if (CTFS_REQUEST_SIZE % (1u << 20) == 0)
		snprintf(text, sizeof(text), "%s%s%u MiB requests", pt, *pt ? ", " : "",
			 (unsigned int)(CTFS_REQUEST_SIZE >> 20));
	else
		snprintf(text, sizeof(text), "%s%s%u KiB requests", pt, *pt ? ", " : "",
			 (unsigned int)(CTFS_REQUEST_SIZE >> 10));
	return text;
}
