/* libFuzzer: the safetensors header parser. Input: u64 LE length of the data
 * region, then the header JSON. A header that parses must serialise, and
 * its serialisation must parse again to the same serialisation (what is
 * signed is this serialisation: it must be a fixed point). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "safetensors/header_json.h"
#include "safetensors/safetensors.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void drop(int prio, const char *line)
{
	(void)prio;
	(void)line;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ctfs_st_header *h = NULL, *h2 = NULL;
	struct ctfs_buf a = { 0 }, b = { 0 };
	uint64_t data_len, size;
	char err[256];

	ctfs_log_set_sink(drop);
	if (n < 8)
		return 0;
	data_len = le64(d) & ((1ull << 48) - 1);
	d += 8;
	n -= 8;
	size = 8 + n + data_len;
	if (ctfs_st_parse(d, n, size, &h, err, sizeof(err)))
		return 0;
	for (size_t i = 0; i < h->n_tensors; i++) {
		if (ctfs_st_find(h, h->tensors[i].name) == NULL)
			abort();	/* every tensor is found by its name */
	}
	if (ctfs_st_serialize(h, NULL, false, &a))
		abort();	/* a parsed header always serialises */
	if (ctfs_st_parse(a.data, a.len, 8 + a.len + data_len, &h2, err, sizeof(err)))
		abort();	/* ... and its serialisation parses */
	if (ctfs_st_serialize(h2, NULL, false, &b) || a.len != b.len || memcmp(a.data, b.data, a.len))
		abort();	/* ... to the same text */
	ctfs_buf_free(&a);
	ctfs_buf_free(&b);
	ctfs_st_free(h);
	ctfs_st_free(h2);
	return 0;
}
