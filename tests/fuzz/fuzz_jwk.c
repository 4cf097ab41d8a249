/* libFuzzer: JWKs and JWK sets, and the TGSP key files (hex JSON). A key set
 * that parses must write out and parse back to the same keys. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "keys/jwk.h"
#include "log.h"
#include "tgsp/tgsp.h"

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

static bool same_key(const struct ctfs_jwk *a, const struct ctfs_jwk *b)
{
	return a->kty == b->kty && a->secret_len == b->secret_len &&
	       (!a->secret || !memcmp(a->secret, b->secret, a->secret_len)) &&
	       a->has_pub == b->has_pub && (!a->has_pub || !memcmp(a->pub, b->pub, 32)) &&
	       !a->kid == !b->kid && (!a->kid || !strcmp(a->kid, b->kid));
}

static void round_trip(const struct ctfs_jwk *k)
{
	struct ctfs_buf out = { 0 };
	struct ctfs_jwk *back = NULL;
	size_t nb = 0;
	char err[256];

	if (ctfs_jwk_to_json(k, true, &out))
		return;	/* e.g. a kid that is not UTF-8 cannot be written */
	if (ctfs_jwk_parse_set((const char *)out.data, out.len, &back, &nb, err, sizeof(err)) ||
	    nb != 1 || !same_key(k, &back[0]))
		abort();
	ctfs_jwk_free_set(back, nb);
	if (out.data)
		memset(out.data, 0, out.cap);
	ctfs_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ctfs_jwk *keys = NULL;
	size_t nk = 0;
	char err[256];

	if (!ctfs_jwk_parse_set((const char *)d, n, &keys, &nk, err, sizeof(err))) {
		for (size_t i = 0; i < nk; i++) {
			(void)ctfs_jwk_find(keys, nk, keys[i].kty, keys[i].kid);
			round_trip(&keys[i]);
		}
		ctfs_jwk_free_set(keys, nk);
	}
	/* the same text as a TGSP key file of each kind */
	{
		struct ctfs_tgsp_sign_pub sp;
		struct ctfs_tgsp_enc_pub ep;
		struct ctfs_tgsp_sign_sec *ss = NULL;
		struct ctfs_tgsp_enc_sec *es = NULL;

		(void)ctfs_tgsp_sign_pub_parse((const char *)d, n, &sp, err, sizeof(err));
		(void)ctfs_tgsp_enc_pub_parse((const char *)d, n, &ep, err, sizeof(err));
		if (!ctfs_tgsp_sign_sec_parse((const char *)d, n, &ss, err, sizeof(err)))
			ctfs_secure_free(ss);
		if (!ctfs_tgsp_enc_sec_parse((const char *)d, n, &es, err, sizeof(err)))
			ctfs_secure_free(es);
	}
	return 0;
}
