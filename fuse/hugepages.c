/* Huge pages for resident copies. A resident copy is shmem (a memfd) and
 * asks for transparent huge pages with MADV_HUGEPAGE, which shmem honours
 * only when transparent_hugepage/shmem_enabled is not "never", the default
 * of many distributions. In 4 KiB pages the copy reads at tmpfs speed, half
 * of ext4's large folios here; in 2 MiB pages at ext4 speed. "advise" gives
 * huge pages to shmem mappings that ask for them and changes nothing for
 * any other, so a root daemon with -o resident switches "never" to it, as
 * it raises fs.fuse.max_pages_limit; other settings are the admin's. */
#include <stdio.h>
#include <string.h>

#include "ctfs_fuse.h"
#include "log.h"

#define SHMEM_ENABLED "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

void ctfs_allow_shmem_hugepages(void)
{
	char line[256];
	FILE *f = fopen(SHMEM_ENABLED, "re");
	bool never;
	int ok;

	if (!f)
		return; /* no THP in this kernel: 4 KiB pages */
	never = fgets(line, sizeof(line), f) && strstr(line, "[never]");
	fclose(f);
	if (!never)
		return;
	f = fopen(SHMEM_ENABLED, "we");
	ok = f && fputs("advise\n", f) >= 0;
	if (f && fclose(f))
		ok = 0;
	if (ok)
		ctfs_info("transparent huge pages for shmem: never -> advise, for resident copies");
	else /* not root: the copies are made of 4 KiB pages */
		ctfs_info("resident copies get 4 KiB pages: cannot set %s to advise: %m",
			  SHMEM_ENABLED);
}
