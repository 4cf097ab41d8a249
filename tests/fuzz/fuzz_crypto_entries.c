/* libFuzzer: the CryptoTensors crypto entries (__crypto_keys__,
 * __encryption__, __policy__, __signature__: JSON inside JSON strings) and
 * the strict inner-JSON check. Input: u64 LE length of the data region,
 * then the header JSON; the seeds are headers of encrypted files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct/crypto_entries.h"
#include "json/json_unique.h"
#include "log.h"
#include "safetensors/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void drop(int prio, const char *line)
{
	(void)prio;
	(void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ctfs_st_header *h = NULL;
	struct ctfs_ct_info *ci = NULL;
	uint64_t data_len = 0;
	char err[256];

	ctfs_log_set_sink(drop);
	if (n < 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		data_len = data_len << 8 | d[i];
	data_len &= (1ull << 48) - 1;
	d += 8;
	n -= 8;
	/* the strict checker on its own, on any text */
	(void)ctfs_json_check_strict((const char *)d, n, err, sizeof(err));
	if (ctfs_st_parse(d, n, 8 + n + data_len, &h, err, sizeof(err)))
		return 0;
	if (ctfs_ct_is_encrypted(h) && !ctfs_ct_parse(h, &ci, err, sizeof(err)))
		ctfs_ct_free(ci);
	ctfs_st_free(h);
	return 0;
}
