/* libFuzzer harness of the Rego engine: the input is policy text; it is
 * compiled and, when it compiles, data.model.allow and data.model are
 * evaluated against a small input, under tight caps. By hand, from the
 * source tree (after configure in build/dev, for config.h):
 *   clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -Isrc -Ibuild/dev tests/fuzz/fuzz_rego.c src/policy/[a-z]*.c src/util.c \
 *     -o fuzz_rego $(pkg-config --cflags --libs libpcre2-8 libsodium libcrypto)
 *   ./fuzz_rego -max_total_time=300 -max_len=2048 CORPUS tests/fuzz/corpus/rego */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "policy/rego.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

static const char input[] = "{\"user\":\"alice\",\"roles\":[\"admin\",\"dev\"],\"n\":3,"
			    "\"ip\":\"10.1.2.3\",\"time\":\"2026-01-01T00:00:00Z\"}";
static const char data[] = "{\"allow_users\":[\"alice\",\"bob\"],\"limits\":{\"n\":5}}";

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	const struct ctfs_rego_limits lim = {
		.max_text = 16384, .max_depth = 32, .max_steps = 20000,
		.max_time_ns = 50000000, .max_mem = 8u << 20,
	};
	const char *text = (const char *)buf;
	struct ctfs_rego *r = NULL;
	char err[256], *res = NULL;

	if (ctfs_rego_compile(&text, &len, 1, &lim, &r, err, sizeof(err)))
		return 0;
	ctfs_rego_decide(r, input, sizeof(input) - 1, data, sizeof(data) - 1, err, sizeof(err));
	if (!ctfs_rego_eval(r, "data.model", input, sizeof(input) - 1, NULL, 0, &res, err, sizeof(err)))
		free(res);
	ctfs_rego_free(r);
	return 0;
}
