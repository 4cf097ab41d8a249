/* AEAD layer: Wycheproof AES-GCM and ChaCha20-Poly1305 vectors, agreement
 * with libsodium, streaming open and random-access keystream decryption. */
#include "crypto/aead.h"
#include "crypto/secmem.h"
#include "tap.h"
#include "util.h"
#include "vectors.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

static const enum ctfs_alg all_algs[] = {
	CTFS_ALG_AES128GCM, CTFS_ALG_AES256GCM, CTFS_ALG_CHACHA20POLY1305,
};

/* ---- Wycheproof --------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

struct counts {
	int passed, failed, skipped;
};

/* One AEAD test case: valid ones must seal to ct||tag and open back (also
 * in place); invalid ones must not open, and must leave out wiped. */
static bool aead_case(enum ctfs_alg alg, const cJSON *t, int tc, const char *result)
{
	size_t klen, ivlen, alen, mlen, clen, tlen;
	uint8_t *key = NULL, *iv = NULL, *aad = NULL, *msg = NULL, *ct = NULL, *tag = NULL;
	uint8_t *buf = NULL, mytag[CTFS_AEAD_TAG];
	bool valid = !strcmp(result, "valid"), ok = false;
	int rc;

	if (vec_hex(t, "key", &key, &klen) || vec_hex(t, "iv", &iv, &ivlen) ||
	    vec_hex(t, "aad", &aad, &alen) || vec_hex(t, "msg", &msg, &mlen) ||
	    vec_hex(t, "ct", &ct, &clen) || vec_hex(t, "tag", &tag, &tlen) ||
	    clen != mlen || tlen != CTFS_AEAD_TAG)
		goto out;
	buf = malloc(clen + 1);
	if (!buf)
		goto out;
	if (valid) {
		ok = !ctfs_aead_seal(alg, key, iv, aad, alen, msg, mlen, buf, mytag) &&
		     !memcmp(buf, ct, clen) && !memcmp(mytag, tag, CTFS_AEAD_TAG);
		memset(buf, 0xaa, clen);
		ok = ok && !ctfs_aead_open(alg, key, iv, aad, alen, ct, clen, buf, tag) &&
		     !memcmp(buf, msg, mlen);
		memcpy(buf, ct, clen);
		ok = ok && !ctfs_aead_open(alg, key, iv, aad, alen, buf, clen, buf, tag) &&
		     !memcmp(buf, msg, mlen);
	} else {
		memset(buf, 0xaa, clen);
		rc = ctfs_aead_open(alg, key, iv, aad, alen, ct, clen, buf, tag);
		ok = rc == -EBADMSG && all_zero(buf, clen);
	}
	tap_ok(ok, "%s tcId %d (%s): %s", ctfs_alg_name(alg), tc, result,
	       valid ? "seals to ct||tag and opens" : "rejected, output wiped");
out:
	if (!buf)
		tap_ok(0, "%s tcId %d: test case decodes", ctfs_alg_name(alg), tc);
	free(key), free(iv), free(aad), free(msg), free(ct), free(tag), free(buf);
	return ok;
}

static void wycheproof_aead(const char *file, bool chacha)
{
	struct counts c = { 0 };
	const cJSON *g, *t;
	cJSON *root = vec_load_json(file);

	if (!root)
		return;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(root, "testGroups")) {
		int ivbits = vec_int(g, "ivSize"), keybits = vec_int(g, "keySize");
		int tagbits = vec_int(g, "tagSize");
		const cJSON *tests = cJSON_GetObjectItemCaseSensitive(g, "tests");
		enum ctfs_alg alg = chacha ? CTFS_ALG_CHACHA20POLY1305
				   : keybits == 128 ? CTFS_ALG_AES128GCM : CTFS_ALG_AES256GCM;

		if (ivbits != 96 || tagbits != 128 ||
		    (chacha ? keybits != 256 : keybits != 128 && keybits != 256)) {
			c.skipped += cJSON_GetArraySize(tests);
			continue;
		}
		cJSON_ArrayForEach(t, tests) {
			const cJSON *res = cJSON_GetObjectItemCaseSensitive(t, "result");
			int tc = vec_int(t, "tcId");

			if (!cJSON_IsString(res) || !strcmp(res->valuestring, "acceptable")) {
				/* AEAD files have no acceptable cases; count any as skipped. */
				c.skipped++;
				continue;
			}
			if (aead_case(alg, t, tc, res->valuestring))
				c.passed++;
			else
				c.failed++;
		}
	}
	tap_diag("%s: %d passed, %d failed, %d skipped (IV not 96 bits, tag not 128 "
		 "bits or key size not supported)", file, c.passed, c.failed, c.skipped);
	tap_ok(c.passed > 0 && !c.failed, "%s: every applicable vector passes", file);
	cJSON_Delete(root);
}

/* ---- names ---------------------------------------------------------------- */

static void test_names(void)
{
	static const struct {
		const char *name;
		int rc;
		enum ctfs_alg alg;
	} cases[] = {
		{ "aes128gcm", 0, CTFS_ALG_AES128GCM },
		{ "AES-128-GCM", 0, CTFS_ALG_AES128GCM },
		{ "aes256gcm", 0, CTFS_ALG_AES256GCM },
		{ "Aes-256-Gcm", 0, CTFS_ALG_AES256GCM },
		{ "chacha20poly1305", 0, CTFS_ALG_CHACHA20POLY1305 },
		{ "ChaCha20-Poly1305", 0, CTFS_ALG_CHACHA20POLY1305 },
		{ "--chacha20--poly1305-", 0, CTFS_ALG_CHACHA20POLY1305 },
		{ "aes_256_gcm", -EINVAL, 0 },
		{ "aes192gcm", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "aes256gcm ", -EINVAL, 0 },
		{ "aes256gcmaes256gcmaes256gcmaes256gcm", -EINVAL, 0 },
	};

	for (size_t i = 0; i < CTFS_ARRAY_LEN(cases); i++) {
		enum ctfs_alg a = CTFS_ALG_AES128GCM;
		int rc = ctfs_alg_parse(cases[i].name, &a);

		tap_ok(rc == cases[i].rc && (rc || a == cases[i].alg),
		       "alg_parse(\"%s\") -> %d", cases[i].name, cases[i].rc);
	}
	tap_ok(ctfs_alg_parse(NULL, &(enum ctfs_alg){ 0 }) == -EINVAL, "alg_parse(NULL) fails");
	tap_ok(!strcmp(ctfs_alg_name(CTFS_ALG_AES128GCM), "aes128gcm") &&
	       !strcmp(ctfs_alg_name(CTFS_ALG_AES256GCM), "aes256gcm") &&
	       !strcmp(ctfs_alg_name(CTFS_ALG_CHACHA20POLY1305), "chacha20poly1305") &&
	       !ctfs_alg_name((enum ctfs_alg)7), "canonical names");
	tap_ok(ctfs_alg_key_len(CTFS_ALG_AES128GCM) == 16 &&
	       ctfs_alg_key_len(CTFS_ALG_AES256GCM) == 32 &&
	       ctfs_alg_key_len(CTFS_ALG_CHACHA20POLY1305) == 32 &&
	       ctfs_alg_key_len((enum ctfs_alg)7) == 0, "key lengths 16/32/32");
}

/* ---- agreement with libsodium ---------------------------------------------- */

static void test_libsodium_agreement(void)
{
	uint8_t key[32], nonce[12], aad[40], msg[1000], ours[1000], tag[16];
	uint8_t theirs[1000 + 16];
	unsigned long long tlen;
	bool aes_ok = crypto_aead_aes256gcm_is_available();
	int bad_chacha = 0, bad_aes = 0;

	for (int i = 0; i < 50; i++) {
		size_t len = (uint32_t)tap_below(sizeof(msg) + 1);
		size_t alen = (uint32_t)tap_below(sizeof(aad) + 1);

		tap_fill(key, sizeof(key));
		tap_fill(nonce, sizeof(nonce));
		tap_fill(aad, sizeof(aad));
		tap_fill(msg, sizeof(msg));
		if (ctfs_aead_seal(CTFS_ALG_CHACHA20POLY1305, key, nonce, aad, alen, msg, len,
				   ours, tag) ||
		    crypto_aead_chacha20poly1305_ietf_encrypt(theirs, &tlen, msg, len, aad, alen,
							      NULL, nonce, key) ||
		    tlen != len + 16 || memcmp(ours, theirs, len) || memcmp(tag, theirs + len, 16))
			bad_chacha++;
		if (!aes_ok)
			continue;
		if (ctfs_aead_seal(CTFS_ALG_AES256GCM, key, nonce, aad, alen, msg, len, ours, tag) ||
		    crypto_aead_aes256gcm_encrypt(theirs, &tlen, msg, len, aad, alen, NULL, nonce,
						  key) ||
		    tlen != len + 16 || memcmp(ours, theirs, len) || memcmp(tag, theirs + len, 16))
			bad_aes++;
	}
	tap_ok(!bad_chacha, "chacha20poly1305 seal agrees with libsodium (50 random messages)");
	if (aes_ok)
		tap_ok(!bad_aes, "aes256gcm seal agrees with libsodium (50 random messages)");
	else
		tap_diag("libsodium AES-256-GCM unavailable on this CPU: agreement not checked");
}

/* ---- streaming and keystream ------------------------------------------------ */

struct sealed {
	enum ctfs_alg alg;
	uint8_t key[32], nonce[12], tag[16];
	uint8_t *pt, *ct;
	size_t len;
};

static int make_sealed(struct sealed *s, enum ctfs_alg alg, size_t len)
{
	s->alg = alg;
	s->len = len;
	s->pt = malloc(len + 1);
	s->ct = malloc(len + 1);
	if (!s->pt || !s->ct)
		return -ENOMEM;
	tap_fill(s->key, sizeof(s->key));
	tap_fill(s->nonce, sizeof(s->nonce));
	tap_fill(s->pt, len);
	return ctfs_aead_seal(alg, s->key, s->nonce, NULL, 0, s->pt, len, s->ct, s->tag);
}

static void free_sealed(struct sealed *s)
{
	free(s->pt);
	free(s->ct);
}

/* Open in random pieces, some authenticate-only; 0 or the first error. */
static int stream_open(const struct sealed *s, const uint8_t *tag, uint8_t *out,
		       bool sometimes_discard)
{
	struct ctfs_aead_stream *st;
	size_t off = 0;
	int rc = ctfs_aead_stream_open_init(&st, s->alg, s->key, s->nonce);

	if (rc)
		return rc;
	while (!rc && off < s->len) {
		size_t k = 1 + (uint32_t)tap_below(200000);
		bool discard = sometimes_discard && (uint32_t)tap_below(3) == 0;

		if (k > s->len - off)
			k = s->len - off;
		rc = ctfs_aead_stream_update(st, s->ct + off, k, discard ? NULL : out + off);
		if (discard)
			memcpy(out + off, s->pt + off, k);
		off += k;
	}
	if (!rc)
		rc = ctfs_aead_stream_final(st, tag);
	ctfs_aead_stream_free(st);
	return rc;
}

static void test_stream(enum ctfs_alg alg)
{
	const char *name = ctfs_alg_name(alg);
	struct sealed s = { 0 };
	uint8_t *out = NULL, badtag[16];
	struct ctfs_aead_stream *st;
	int rc;

	rc = make_sealed(&s, alg, 1000003);
	out = malloc(s.len);
	if (!tap_ok(!rc && out, "%s: seal a 1000003-byte message", name))
		goto out;
	tap_ok(!ctfs_aead_open(alg, s.key, s.nonce, NULL, 0, s.ct, s.len, out, s.tag) &&
	       !memcmp(out, s.pt, s.len), "%s: one-shot open restores the message", name);
	memset(out, 0, s.len);
	tap_ok(!stream_open(&s, s.tag, out, false) && !memcmp(out, s.pt, s.len),
	       "%s: streaming open in random pieces matches", name);
	tap_ok(!stream_open(&s, s.tag, out, true) && !memcmp(out, s.pt, s.len),
	       "%s: streaming open with authenticate-only pieces verifies", name);
	memcpy(badtag, s.tag, 16);
	badtag[15] ^= 1;
	tap_ok(stream_open(&s, badtag, out, true) == -EBADMSG,
	       "%s: streaming open rejects a modified tag", name);
	s.ct[s.len / 2] ^= 0x40;
	tap_ok(stream_open(&s, s.tag, out, true) == -EBADMSG,
	       "%s: streaming open rejects a modified ciphertext byte", name);
	tap_ok(ctfs_aead_open(alg, s.key, s.nonce, NULL, 0, s.ct, s.len, out, s.tag) ==
	       -EBADMSG && all_zero(out, s.len),
	       "%s: one-shot open rejects it and wipes the output", name);
	s.ct[s.len / 2] ^= 0x40;

	rc = ctfs_aead_stream_open_init(&st, alg, s.key, s.nonce);
	if (!rc) {
		tap_ok(ctfs_aead_stream_final(st, s.tag) == -EBADMSG,
		       "%s: a stream that skipped the data does not verify", name);
		tap_ok(ctfs_aead_stream_final(st, s.tag) == -EINVAL,
		       "%s: a second final is refused", name);
		ctfs_aead_stream_free(st);
	} else {
		tap_ok(0, "%s: stream init", name);
	}
out:
	free(out);
	free_sealed(&s);
}

/* The sealing stream, fed in uneven pieces, gives the one-shot ciphertext
 * and tag; the same sealer, re-keyed, seals a second message. */
static int sealer_run(struct ctfs_aead_sealer *sl, const struct sealed *s, uint8_t *out,
		      uint8_t *tag)
{
	static const size_t pieces[] = { 1, 4095, 65536, 3, 1 << 20 };
	size_t off = 0;
	int rc = ctfs_aead_sealer_begin(sl, s->key, s->nonce);

	for (size_t i = 0; !rc && off < s->len; i = (i + 1) % CTFS_ARRAY_LEN(pieces)) {
		size_t n = s->len - off < pieces[i] ? s->len - off : pieces[i];

		memcpy(out + off, s->pt + off, n);
		rc = ctfs_aead_sealer_update(sl, out + off, n, out + off); /* in place */
		off += n;
	}
	return rc ? rc : ctfs_aead_sealer_end(sl, tag);
}

static void test_sealer(enum ctfs_alg alg)
{
	const char *name = ctfs_alg_name(alg);
	struct sealed a = { 0 }, b = { 0 };
	struct ctfs_aead_sealer *sl = NULL;
	uint8_t *out = NULL, tag[16];
	int rc;

	rc = make_sealed(&a, alg, 1000003);
	if (!rc)
		rc = make_sealed(&b, alg, 777);
	out = malloc(1000003);
	if (!tap_ok(!rc && out && !ctfs_aead_sealer_new(&sl, alg), "%s: sealer set up", name))
		goto out;
	tap_ok(!sealer_run(sl, &a, out, tag) && !memcmp(out, a.ct, a.len) &&
	       !memcmp(tag, a.tag, 16), "%s: streaming seal in pieces equals one-shot seal", name);
	tap_ok(!sealer_run(sl, &b, out, tag) && !memcmp(out, b.ct, b.len) &&
	       !memcmp(tag, b.tag, 16), "%s: the sealer re-keyed seals a second message", name);
	tap_ok(ctfs_aead_sealer_update(sl, out, 1, out) == -EINVAL &&
	       ctfs_aead_sealer_end(sl, tag) == -EINVAL,
	       "%s: update and end after end are refused", name);
out:
	ctfs_aead_sealer_free(sl);
	free(out);
	free_sealed(&a);
	free_sealed(&b);
}

static void test_empty_stream(enum ctfs_alg alg)
{
	struct sealed s = { 0 };
	struct ctfs_aead_stream *st = NULL;
	int rc = make_sealed(&s, alg, 0);

	if (!rc)
		rc = ctfs_aead_stream_open_init(&st, alg, s.key, s.nonce);
	if (!rc)
		rc = ctfs_aead_stream_update(st, NULL, 0, NULL);
	if (!rc)
		rc = ctfs_aead_stream_final(st, s.tag);
	tap_ok(!rc, "%s: the empty message seals and stream-opens", ctfs_alg_name(alg));
	ctfs_aead_stream_free(st);
	free_sealed(&s);
}

static void test_keystream(enum ctfs_alg alg)
{
	const char *name = ctfs_alg_name(alg);
	struct sealed s = { 0 };
	uint8_t *out = malloc(300000);
	int bad = 0, n = 0;
	uint64_t max = ctfs_alg_max_len(alg);

	if (!tap_ok(out && !make_sealed(&s, alg, 300000), "%s: seal a 300000-byte message",
		    name))
		goto out;
	/* Fixed edge cases, then random offsets and lengths. */
	static const size_t edges[][2] = {
		{ 0, 300000 }, { 0, 1 }, { 1, 1 }, { 15, 2 }, { 16, 16 }, { 63, 2 }, { 64, 64 },
		{ 65, 127 }, { 299999, 1 }, { 299000, 1000 }, { 12345, 0 },
	};
	for (int i = 0; i < 400; i++) {
		size_t off, len;

		if (i < (int)CTFS_ARRAY_LEN(edges)) {
			off = edges[i][0];
			len = edges[i][1];
		} else {
			off = (uint32_t)tap_below(300000);
			len = (uint32_t)tap_below((uint32_t)(300000 - off + 1));
			if (i % 2)
				len %= 300;
		}
		n++;
		if (i % 3 == 0) {	/* in place */
			memcpy(out, s.ct + off, len);
			if (ctfs_aead_keystream_xor(alg, s.key, s.nonce, off, out, len, out) ||
			    memcmp(out, s.pt + off, len))
				bad++;
		} else if (ctfs_aead_keystream_xor(alg, s.key, s.nonce, off, s.ct + off, len,
						   out) || memcmp(out, s.pt + off, len)) {
			bad++;
		}
	}
	tap_ok(!bad, "%s: keystream_xor equals the decrypted slice at %d offsets/lengths "
	       "(%d mismatches)", name, n, bad);
	tap_ok(ctfs_aead_keystream_xor(alg, s.key, s.nonce, max - 10, s.ct, 10, out) == 0,
	       "%s: keystream at the very end of the longest message", name);
	tap_ok(ctfs_aead_keystream_xor(alg, s.key, s.nonce, max - 10, s.ct, 11, out) == -EMSGSIZE,
	       "%s: keystream past the longest message is refused", name);
	tap_ok(ctfs_aead_keystream_xor(alg, s.key, s.nonce, UINT64_MAX, s.ct, 2, out) == -EMSGSIZE,
	       "%s: keystream offset overflow is refused", name);
out:
	free(out);
	free_sealed(&s);
}

/* Cross-check the counter layout with libsodium's own ChaCha20 (IETF) at a
 * high block counter, where a wrong byte order would show. */
static void test_chacha_counter(void)
{
	uint8_t key[32], nonce[12], a[1000], b[1000], zero[1000] = { 0 };
	uint64_t off = (uint64_t)0x12345678 * 64 + 17;
	uint32_t ic = (uint32_t)(1 + off / 64);

	tap_fill(key, sizeof(key));
	tap_fill(nonce, sizeof(nonce));
	crypto_stream_chacha20_ietf_xor_ic(b, zero, sizeof(zero), nonce, ic, key);
	tap_ok(!ctfs_aead_keystream_xor(CTFS_ALG_CHACHA20POLY1305, key, nonce, off, zero,
					sizeof(a) - 17, a) &&
	       !memcmp(a, b + 17, sizeof(a) - 17),
	       "chacha20poly1305: keystream at block 0x12345679 matches libsodium");
}

/* ---- threads ------------------------------------------------------------------ */

static void *thread_main(void *arg)
{
	uintptr_t bad = 0;

	(void)arg;
	for (int i = 0; i < 20; i++) {
		for (size_t a = 0; a < CTFS_ARRAY_LEN(all_algs); a++) {
			struct sealed s = { 0 };
			uint8_t *out = malloc(70000);

			if (!out || make_sealed(&s, all_algs[a], 70000) ||
			    ctfs_aead_open(s.alg, s.key, s.nonce, NULL, 0, s.ct, s.len, out, s.tag) ||
			    memcmp(out, s.pt, s.len) ||
			    ctfs_aead_keystream_xor(s.alg, s.key, s.nonce, 333, s.ct + 333, 1000,
						    out) || memcmp(out, s.pt + 333, 1000))
				bad++;
			free(out);
			free_sealed(&s);
		}
	}
	return (void *)bad;
}

static void test_threads(void)
{
	pthread_t th[4];
	int bad = 0, started = 0;

	for (int i = 0; i < 4; i++) {
		if (pthread_create(&th[i], NULL, thread_main, NULL))
			bad++;
		else
			started++;
	}
	for (int i = 0; i < started; i++) {
		void *r;

		if (pthread_join(th[i], &r) || r)
			bad++;
	}
	tap_ok(!bad && started == 4, "4 threads seal/open/keystream concurrently");
}

/* Lengths above INT_MAX go to EVP in pieces; 2 GiB of memory, so opt-in. */
static void test_large(void)
{
	size_t len = (size_t)INT_MAX + 4097;
	uint8_t key[32], nonce[12], tag[16], head[64], tail[64], part[64];
	uint8_t *buf;

	if (!getenv("CTFS_TEST_LARGE")) {
		tap_diag("set CTFS_TEST_LARGE=1 to run the > INT_MAX message test");
		return;
	}
	buf = calloc(1, len);
	if (!tap_ok(buf != NULL, "allocate a %zu-byte message", len))
		return;
	tap_fill(key, sizeof(key));
	tap_fill(nonce, sizeof(nonce));
	for (size_t i = 0; i < CTFS_ARRAY_LEN(all_algs); i++) {
		enum ctfs_alg alg = all_algs[i];
		bool ok = !ctfs_aead_seal(alg, key, nonce, NULL, 0, buf, len, buf, tag);

		memcpy(head, buf, 64);
		memcpy(tail, buf + len - 64, 64);
		ok = ok && !ctfs_aead_keystream_xor(alg, key, nonce, len - 64, tail, 64, part) &&
		     all_zero(part, 64);
		ok = ok && !ctfs_aead_open(alg, key, nonce, NULL, 0, buf, len, buf, tag) &&
		     all_zero(buf, 64) && all_zero(buf + len - 64, 64);
		tap_ok(ok, "%s: %zu-byte message seals and opens in place", ctfs_alg_name(alg), len);
	}
	free(buf);
}

int main(void)
{
	if (ctfs_secmem_init())
		tap_skip_all("libsodium does not initialise");
	tap_seed();
	test_names();
	wycheproof_aead("wycheproof/aes_gcm_test.json", false);
	wycheproof_aead("wycheproof/chacha20_poly1305_test.json", true);
	test_libsodium_agreement();
	for (size_t i = 0; i < CTFS_ARRAY_LEN(all_algs); i++) {
		test_stream(all_algs[i]);
		test_empty_stream(all_algs[i]);
		test_sealer(all_algs[i]);
		test_keystream(all_algs[i]);
	}
	test_chacha_counter();
	test_threads();
	test_large();
	return tap_done();
}
