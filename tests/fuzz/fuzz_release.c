/* libFuzzer: the key service's request parser (what ctfs-keyd reads from a
 * client before anything else), and the header parser it runs next. A
 * request that parses must name a valid kid and fleet and carry a header no
 * larger than the bound; building a request from its parts must parse back
 * to the same parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "keys/release.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void drop(int prio, const char *line)
{
	(void)prio;
	(void)line;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ctfs_log_set_sink(drop);
	return ctfs_secmem_init() ? 1 : 0;
}

static void round_trip(const struct ctfs_release_req *r)
{
	struct ctfs_release_req back = { 0 };
	struct ctfs_buf body = { 0 };
	char err[256];

	if (ctfs_release_request_build(r->header, r->header_len, r->file_size, r->kid, r->fleet,
				       &body))
		return;	/* out of memory only */
	if (ctfs_release_request_parse((const char *)body.data, body.len, &back, err, sizeof(err)) ||
	    strcmp(back.kid, r->kid) || strcmp(back.fleet, r->fleet) ||
	    back.header_len != r->header_len || back.file_size != r->file_size ||
	    memcmp(back.header, r->header, r->header_len))
		abort();
	ctfs_release_request_free(&back);
	ctfs_buf_free(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ctfs_release_req r = { 0 };
	struct ctfs_release_hdr rh;
	char err[256];

	if (ctfs_release_request_parse((const char *)d, n, &r, err, sizeof(err)))
		return 0;
	if (!ctfs_release_name_ok(r.kid) || (*r.fleet && !ctfs_release_name_ok(r.fleet)) ||
	    r.header_len > CTFS_RELEASE_MAX_HEADER)
		abort();
	round_trip(&r);
	if (!ctfs_release_hdr_parse(r.header, r.header_len, r.file_size, &rh, err, sizeof(err)))
		ctfs_release_hdr_free(&rh);
	ctfs_release_request_free(&r);
	return 0;
}
