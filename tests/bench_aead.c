/* Single-core throughput of the AEAD layer on 2 MiB messages (the default
 * CryptoTensors v2 chunk). Not a test: `tests/bench_aead [seconds]`. */
#include "crypto/aead.h"
#include "crypto/secmem.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#define MSG_LEN ((size_t)2 << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum op { OP_OPEN, OP_SEAL, OP_STREAM_VERIFY, OP_KEYSTREAM, OP_OPEN_SMALL };

static const char *op_names[] = { "open", "seal", "stream verify-only", "keystream_xor",
				  "open 32 B (per-call cost)" };

static int run_once(enum op op, enum ctfs_alg alg, const uint8_t *key, const uint8_t *nonce,
		    uint8_t *ct, uint8_t *out, uint8_t *tag, size_t len)
{
	struct ctfs_aead_stream *s;
	int rc;

	switch (op) {
	case OP_OPEN:
	case OP_OPEN_SMALL:
		return ctfs_aead_open(alg, key, nonce, NULL, 0, ct, len, out, tag);
	case OP_SEAL:
		return ctfs_aead_seal(alg, key, nonce, NULL, 0, out, len, ct, tag);
	case OP_STREAM_VERIFY:
		rc = ctfs_aead_stream_open_init(&s, alg, key, nonce);
		if (rc)
			return rc;
		rc = ctfs_aead_stream_update(s, ct, len, NULL);
		if (!rc)
			rc = ctfs_aead_stream_final(s, tag);
		ctfs_aead_stream_free(s);
		return rc;
	case OP_KEYSTREAM:
		return ctfs_aead_keystream_xor(alg, key, nonce, 4096, ct, len, out);
	}
	return -1;
}

static int bench(enum op op, enum ctfs_alg alg, double seconds)
{
	static const enum op seal_first[] = { OP_OPEN, OP_STREAM_VERIFY, OP_OPEN_SMALL };
	size_t len = op == OP_OPEN_SMALL ? 32 : MSG_LEN;
	uint8_t key[32], nonce[12], tag[16];
	uint8_t *ct = malloc(MSG_LEN), *out = malloc(MSG_LEN);
	double t0, t;
	long iters = 0;
	int rc = 0;

	if (!ct || !out) {
		free(ct);
		free(out);
		return -1;
	}
	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(out, MSG_LEN);
	for (size_t i = 0; i < CTFS_ARRAY_LEN(seal_first); i++) {
		if (op == seal_first[i])
			rc = ctfs_aead_seal(alg, key, nonce, NULL, 0, out, len, ct, tag);
	}
	/* Warm up, then time whole calls until the budget is spent. */
	for (int i = 0; i < 3 && !rc; i++)
		rc = run_once(op, alg, key, nonce, ct, out, tag, len);
	t0 = now();
	do {
		for (int i = 0; i < 16 && !rc; i++, iters++)
			rc = run_once(op, alg, key, nonce, ct, out, tag, len);
		t = now() - t0;
	} while (!rc && t < seconds);
	if (rc)
		printf("%-17s %-26s FAILED (%d)\n", ctfs_alg_name(alg), op_names[op], rc);
	else if (op == OP_OPEN_SMALL)
		printf("%-17s %-26s %8.0f ns/call\n", ctfs_alg_name(alg), op_names[op],
		       t / (double)iters * 1e9);
	else
		printf("%-17s %-26s %6.2f GB/s  (%ld x 2 MiB in %.2f s)\n", ctfs_alg_name(alg),
		       op_names[op], (double)iters * (double)len / t / 1e9, iters, t);
	free(ct);
	free(out);
	return rc;
}

int main(int argc, char **argv)
{
	static const enum ctfs_alg algs[] = {
		CTFS_ALG_AES128GCM, CTFS_ALG_AES256GCM, CTFS_ALG_CHACHA20POLY1305,
	};
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	int rc = 0;

	if (ctfs_secmem_init())
		return 1;
	for (int op = OP_OPEN; op <= OP_OPEN_SMALL; op++) {
		for (size_t i = 0; i < CTFS_ARRAY_LEN(algs); i++)
			rc |= bench((enum op)op, algs[i], seconds);
	}
	return rc ? 1 : 0;
}
