/* libFuzzer: the streaming tar index. Input: one byte choosing how the
 * stream is cut into feeds, then the archive. The index must not depend on
 * the cut, and every entry it gives must be consistent (inside the stream,
 * linked to a directory parent, found again by its path). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive/tar_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static int parse(const uint8_t *d, size_t n, size_t chunk, struct ctfs_tar_index **ix)
{
	struct ctfs_tar_parser *p;
	char err[256];
	int rc = ctfs_tar_parser_new(&p);

	for (size_t o = 0; !rc && o < n; o += chunk)
		rc = ctfs_tar_parser_feed(p, d + o, n - o < chunk ? n - o : chunk, err, sizeof(err));
	if (!rc)
		rc = ctfs_tar_parser_finish(p, ix, err, sizeof(err));
	ctfs_tar_parser_free(p);
	return rc;
}

static void check(const struct ctfs_tar_index *ix, size_t n)
{
	for (size_t i = 0; i < ctfs_tar_count(ix); i++) {
		const struct ctfs_tar_entry *e = ctfs_tar_at(ix, i);

		if (ctfs_tar_lookup(ix, e->path) != e)
			abort();
		if (i && (e->parent >= i || ctfs_tar_at(ix, e->parent)->type != CTFS_TAR_DIR))
			abort();
		if (e->type == CTFS_TAR_FILE && (e->offset > n || e->size > n - e->offset))
			abort();
		if ((e->type == CTFS_TAR_SYMLINK) != (e->link != NULL))
			abort();
		if (strlen(e->path) > CTFS_TAR_MAX_PATH || (e->link && strlen(e->link) > CTFS_TAR_MAX_PATH))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ctfs_tar_index *a = NULL, *b = NULL;
	size_t chunk;
	int ra, rb;

	if (n < 1)
		return 0;
	chunk = (size_t)d[0] + 1;
	d++;
	n--;
	ra = parse(d, n, n ? n : 1, &a);
	rb = parse(d, n, chunk, &b);
	if (ra != rb)
		abort();	/* the verdict does not depend on how bytes arrive */
	if (!ra) {
		check(a, n);
		if (ctfs_tar_count(a) != ctfs_tar_count(b))
			abort();
		for (size_t i = 0; i < ctfs_tar_count(a); i++) {
			const struct ctfs_tar_entry *x = ctfs_tar_at(a, i), *y = ctfs_tar_at(b, i);

			if (strcmp(x->path, y->path) || x->type != y->type || x->offset != y->offset ||
			    x->size != y->size || x->mode != y->mode)
				abort();
		}
	}
	ctfs_tar_index_free(a);
	ctfs_tar_index_free(b);
	return 0;
}
