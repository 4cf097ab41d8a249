/* Base64/hex codecs, secure memory and JWK keys / key sets. */
#include "crypto/aead.h"
#include "codec/base64.h"
#include "codec/hex.h"
#include "keys/jwk.h"
#include "crypto/secmem.h"
#include "crypto/curve25519.h"
#include "tap.h"
#include "util.h"
#include "vectors.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

/* ---- base64 ------------------------------------------------------------------- */

static bool decodes_to(const char *in, const void *want, size_t wantlen)
{
	uint8_t out[64];
	size_t n = sizeof(out);

	return !ctfs_b64_decode(in, strlen(in), out, &n) && n == wantlen &&
	       !memcmp(out, want, wantlen);
}

static void test_b64_known(void)
{
	/* RFC 4648 §10 */
	static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
				     "Zm9vYmFy" };
	static const char *bare[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	static const uint8_t high[] = { 0xfb, 0xff, 0xbf, 0xfe };

	for (size_t i = 0; i < CTFS_ARRAY_LEN(plain); i++) {
		struct ctfs_buf b = { 0 };
		int rc = ctfs_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), &b);

		tap_ok(!rc && b.len == strlen(enc[i]) && !memcmp(b.data, enc[i], b.len) &&
		       b.data[b.len] == 0, "b64 encode \"%s\" -> \"%s\"", plain[i], enc[i]);
		ctfs_buf_free(&b);
		tap_ok(decodes_to(enc[i], plain[i], strlen(plain[i])), "b64 decode padded \"%s\"",
		       enc[i]);
		tap_ok(decodes_to(bare[i], plain[i], strlen(plain[i])),
		       "b64 decode unpadded \"%s\"", bare[i]);
	}
	tap_ok(decodes_to("+/+//g==", high, 4), "b64 decode standard alphabet \"+/+//g==\"");
	tap_ok(decodes_to("-_-__g==", high, 4), "b64 decode URL-safe padded \"-_-__g==\"");
	tap_ok(decodes_to("-_-__g", high, 4), "b64 decode URL-safe unpadded \"-_-__g\"");
}

static void test_b64_garbage(void)
{
	static const char *bad[] = {
		"Z", "Zm9vY", "Zg=", "Zg===", "Z===", "====", "=", "Zm8==", "=Zg=", "Zm=8",
		"Zm9v=", "Zg==Zg==", "Zm9v!", "Zm 9v", "Zm9v\n", " Zm9v", "Zm9v\t", "Zm.v",
		"+_8=", "-/8=", "Zh==", "Zm9=", "Zm9vYh", "\xc3\xa9\xc3\xa9",
	};
	uint8_t out[16];
	size_t n;

	for (size_t i = 0; i < CTFS_ARRAY_LEN(bad); i++) {
		n = sizeof(out);
		tap_ok(ctfs_b64_decode(bad[i], strlen(bad[i]), out, &n) == -EINVAL,
		       "b64 rejects garbage #%zu", i);
	}
	n = sizeof(out);
	tap_ok(ctfs_b64_decode("Zm9v\0Zm9v", 9, out, &n) == -EINVAL, "b64 rejects an inner NUL");
	n = 2;
	tap_ok(ctfs_b64_decode("Zm9v", 4, out, &n) == -EINVAL, "b64 rejects a too-small output");
	n = 3;
	tap_ok(!ctfs_b64_decode("Zm9v", 4, out, &n) && n == 3, "b64 fills an exact-size output");
}

static void test_b64_roundtrip(void)
{
	uint8_t in[200], out[200];
	int bad = 0;

	for (size_t len = 0; len <= sizeof(in); len++) {
		struct ctfs_buf b = { 0 };
		size_t n = sizeof(out);

		tap_fill(in, len);
		if (ctfs_b64_encode(in, len, &b) || b.len != ctfs_b64_encoded_len(len) ||
		    ctfs_b64_decoded_max(b.len) < len ||
		    ctfs_b64_decode((const char *)b.data, b.len, out, &n) || n != len ||
		    memcmp(in, out, len))
			bad++;
		ctfs_buf_free(&b);
	}
	tap_ok(!bad, "b64 encode/decode round trip, lengths 0..200");
}

static void test_hex(void)
{
	static const uint8_t bytes[] = { 0x00, 0x1f, 0xa0, 0xff };
	static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
	struct ctfs_buf b = { 0 };
	uint8_t out[4];
	int bad = 0;

	/* Every char value, signed or unsigned, and EOF. */
	for (int c = -128; c < 256; c++) {
		int want = -1;

		for (int v = 0; v < 16; v++) {
			if (c == lower[v] || c == upper[v])
				want = v;
		}
		bad += ctfs_hex_digit(c) != want;
	}
	tap_ok(!bad, "hex digit: 0-9, a-f and A-F have their values, every other char -1");
	tap_ok(!ctfs_buf_puts(&b, "x=") && !ctfs_hex_encode(bytes, 4, &b) &&
	       !strcmp((char *)b.data, "x=001fa0ff"), "hex encode appends lowercase");
	ctfs_buf_free(&b);
	tap_ok(!ctfs_hex_decode("001fa0ff", 8, out, 4) && !memcmp(out, bytes, 4),
	       "hex decode lowercase");
	tap_ok(!ctfs_hex_decode("001FA0FF", 8, out, 4) && !memcmp(out, bytes, 4),
	       "hex decode uppercase");
	tap_ok(!ctfs_hex_decode("", 0, out, 0), "hex decode empty");
	tap_ok(ctfs_hex_decode("001fa0f", 7, out, 4) == -EINVAL, "hex rejects odd length");
	tap_ok(ctfs_hex_decode("001fa0ff00", 10, out, 4) == -EINVAL, "hex rejects wrong length");
	tap_ok(ctfs_hex_decode("001fa0fg", 8, out, 4) == -EINVAL, "hex rejects a non-digit");
	tap_ok(ctfs_hex_decode("001fa0 f", 8, out, 4) == -EINVAL, "hex rejects a space");
}

/* ---- secure memory ----------------------------------------------------------- */

static void test_secmem(void)
{
	uint8_t *p = ctfs_secure_alloc(100);
	cJSON *j;
	char *s;

	tap_ok(ctfs_secmem_init() == 0, "secmem_init is idempotent");
	tap_ok(p != NULL, "secure_alloc");
	if (p) {
		memset(p, 0x5a, 100);
		ctfs_secure_free(p);
	}
	ctfs_secure_free(NULL);
	/* The wiping cJSON allocator must behave like a plain one. */
	j = cJSON_Parse("{\"k\":\"c2VjcmV0\",\"a\":[1,2,{\"b\":null}]}");
	s = j ? cJSON_PrintUnformatted(j) : NULL;
	tap_ok(s && !strcmp(s, "{\"k\":\"c2VjcmV0\",\"a\":[1,2,{\"b\":null}]}"),
	       "cJSON parses and prints through the wiping allocator");
	cJSON_free(s);
	cJSON_Delete(j);
}

/* ---- JWK ------------------------------------------------------------------------ */

static int parse(const char *text, struct ctfs_jwk **keys, size_t *n, char *err, size_t errlen)
{
	return ctfs_jwk_parse_set(text, strlen(text), keys, n, err, errlen);
}

static void test_vector_keys(const char *file, enum ctfs_alg alg, const char *enc_kid,
			     const char *sign_kid)
{
	char err[200] = "";
	struct ctfs_jwk *keys = NULL;
	const struct ctfs_jwk *oct, *okp;
	uint8_t *text, sig[64];
	size_t len, n = 0;
	int rc;

	if (vec_read(file, &text, &len))
		return;
	rc = ctfs_jwk_parse_set((const char *)text, len, &keys, &n, err, sizeof(err));
	free(text);
	if (!tap_ok(!rc && n == 2, "%s: parses, 2 keys (%s)", file, err))
		return;
	oct = ctfs_jwk_find(keys, n, CTFS_KTY_OCT, enc_kid);
	okp = ctfs_jwk_find(keys, n, CTFS_KTY_OKP, sign_kid);
	tap_ok(oct && oct->secret && oct->secret_len == ctfs_alg_key_len(alg) &&
	       oct->alg && !strcmp(oct->alg, ctfs_alg_name(alg)) && !oct->jku,
	       "%s: oct key \"%s\", %zu bytes, alg %s", file, enc_kid, ctfs_alg_key_len(alg),
	       ctfs_alg_name(alg));
	/* The parser checks x against the x derived from d: parsing at all
	 * means our Ed25519 agrees with the writer's. */
	tap_ok(okp && okp->has_pub && okp->secret && okp->secret_len == 32 &&
	       !strcmp(okp->alg, "ed25519"), "%s: okp key \"%s\" with x and d", file, sign_kid);
	tap_ok(oct == ctfs_jwk_find(keys, n, CTFS_KTY_OCT, NULL) &&
	       okp == ctfs_jwk_find(keys, n, CTFS_KTY_OKP, NULL),
	       "%s: find without kid returns the only key of each type", file);
	tap_ok(!ctfs_jwk_find(keys, n, CTFS_KTY_OCT, sign_kid) &&
	       !ctfs_jwk_find(keys, n, CTFS_KTY_OKP, "nope"), "%s: find misses", file);
	tap_ok(okp && !ctfs_ed25519_sign(sig, (const uint8_t *)"m", 1, okp->secret) &&
	       !ctfs_ed25519_verify(okp->pub, (const uint8_t *)"m", 1, sig),
	       "%s: the okp key signs and verifies", file);
	ctfs_jwk_free_set(keys, n);
}

static bool same_key(const struct ctfs_jwk *a, const struct ctfs_jwk *b, bool secret)
{
	if (a->kty != b->kty || a->has_pub != b->has_pub || (a->has_pub && memcmp(a->pub, b->pub, 32)))
		return false;
	if (!!a->kid != !!b->kid || (a->kid && strcmp(a->kid, b->kid)) ||
	    !!a->jku != !!b->jku || (a->jku && strcmp(a->jku, b->jku)) ||
	    !!a->alg != !!b->alg || (a->alg && strcmp(a->alg, b->alg)))
		return false;
	if (!secret || !a->secret)
		return !b->secret;
	return b->secret && a->secret_len == b->secret_len &&
	       !memcmp(a->secret, b->secret, a->secret_len);
}

static void roundtrip(const struct ctfs_jwk *k, const char *what)
{
	for (int priv = 1; priv >= 0; priv--) {
		struct ctfs_buf b = { 0 };
		struct ctfs_jwk *back = NULL;
		size_t n = 0;
		char err[200] = "";
		bool ok = !ctfs_jwk_to_json(k, priv, &b);

		ok = ok && !ctfs_jwk_parse_set((const char *)b.data, b.len, &back, &n, err,
					       sizeof(err)) && n == 1 && same_key(k, back, priv);
		if (ok && !priv)
			ok = !strstr((char *)b.data, "\"k\"") && !strstr((char *)b.data, "\"d\"");
		tap_ok(ok, "%s: to_json(%s) parses back to the same key %s", what,
		       priv ? "private" : "public", err);
		ctfs_jwk_free_set(back, n);
		if (b.data)
			sodium_memzero(b.data, b.cap);
		ctfs_buf_free(&b);
	}
}

static void test_generate(void)
{
	static const char *algs[] = { "aes128gcm", "AES-256-GCM", "chacha20-poly1305" };
	static const size_t lens[] = { 16, 32, 32 };
	struct ctfs_jwk k;
	uint8_t sig[64];

	for (size_t i = 0; i < CTFS_ARRAY_LEN(algs); i++) {
		int rc = ctfs_jwk_generate(&k, CTFS_KTY_OCT, algs[i], "enc \"1\"\n");

		tap_ok(!rc && k.kty == CTFS_KTY_OCT && k.secret_len == lens[i] &&
		       !sodium_is_zero(k.secret, k.secret_len) && !strcmp(k.kid, "enc \"1\"\n"),
		       "generate oct %s: %zu random bytes", algs[i], lens[i]);
		if (!rc)
			roundtrip(&k, algs[i]);
		ctfs_jwk_clear(&k);
	}
	tap_ok(!ctfs_jwk_generate(&k, CTFS_KTY_OKP, NULL, NULL) && k.has_pub && !k.kid &&
	       k.secret_len == 32 && !ctfs_ed25519_sign(sig, NULL, 0, k.secret) &&
	       !ctfs_ed25519_verify(k.pub, NULL, 0, sig), "generate okp: a working Ed25519 key");
	roundtrip(&k, "okp");
	ctfs_jwk_clear(&k);
	tap_ok(ctfs_jwk_generate(&k, CTFS_KTY_OCT, "aes192gcm", NULL) == -EINVAL,
	       "generate refuses an unknown oct alg");
	tap_ok(ctfs_jwk_generate(&k, CTFS_KTY_OCT, NULL, NULL) == -EINVAL,
	       "generate refuses an oct key without alg");
	tap_ok(ctfs_jwk_generate(&k, CTFS_KTY_OKP, "x25519", NULL) == -EINVAL,
	       "generate refuses an okp alg other than ed25519");
}

static void test_good_jwks(void)
{
	/* The Wycheproof ed25519 key: RFC 8037 style, URL-safe without padding. */
	static const char *rfc8037 =
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"none\","
		"\"x\":\"fU0Of2FTpptiQrUiq77mhf2kQg-INLEIw72uNp71Sfo\"}";
	static const uint8_t rfc8037_x[8] = { 0x7d, 0x4d, 0x0e, 0x7f, 0x61, 0x53, 0xa6, 0x9b };
	struct ctfs_jwk *keys = NULL, *k2 = NULL;
	char err[200] = "";
	size_t n = 0, n2 = 0;
	int rc;

	rc = parse(rfc8037, &keys, &n, err, sizeof(err));
	tap_ok(!rc && n == 1 && keys[0].kty == CTFS_KTY_OKP && keys[0].has_pub &&
	       !memcmp(keys[0].pub, rfc8037_x, 8) && !keys[0].secret && !keys[0].alg,
	       "a single RFC 8037 public OKP key (URL-safe, unpadded) %s", err);
	if (!rc)
		roundtrip(&keys[0], "public okp");
	ctfs_jwk_free_set(keys, n);

	/* d only: x is derived and matches the vector file's x. */
	rc = parse("{\"keys\":[{\"kty\":\"okp\",\"alg\":\"ed25519\",\"kid\":\"s\","
		   "\"d\":\"Uy2QsQFPyXSMkrB-qRFDv7qmNp5WgjZjktzNs7Q1lQA\"}]}",
		   &keys, &n, err, sizeof(err));
	tap_ok(!rc && n == 1, "okp with d only parses %s", err);
	rc = parse("{\"kty\":\"okp\",\"x\":\"hwLSHZEhBAZ4FHucfBNjfeCs82z4V2NwVsNtNR6tbf8=\"}",
		   &k2, &n2, err, sizeof(err));
	tap_ok(!rc && n == 1 && n2 == 1 && keys[0].has_pub && !memcmp(keys[0].pub, k2[0].pub, 32),
	       "okp x derived from d equals the published x");
	ctfs_jwk_free_set(keys, n);
	ctfs_jwk_free_set(k2, n2);

	rc = parse("  {\"keys\":[{\"kty\":\"oct\",\"alg\":\"aes256gcm\",\"kid\":\"e\","
		   "\"jku\":\"file:///etc/ctfs/keys.json\"},"
		   "{\"kty\":\"oct\",\"kid\":\"f\",\"use\":\"enc\",\"k\":\"AAECAwQFBgcICQoLDA0ODw\"},"
		   "{\"kty\":\"oct\",\"kid\":\"g\",\"k\":\"AAECAwQFBgcICQoLDA0ODw==\"}]}\n",
		   &keys, &n, err, sizeof(err));
	tap_ok(!rc && n == 3 && !keys[0].secret && !strcmp(keys[0].jku, "file:///etc/ctfs/keys.json") &&
	       keys[1].secret_len == 16 && keys[1].secret[15] == 15 && !keys[1].alg,
	       "oct keys: without k, with jku, URL-safe and padded k, unknown members %s", err);
	tap_ok(!ctfs_jwk_find(keys, n, CTFS_KTY_OCT, NULL) &&
	       ctfs_jwk_find(keys, n, CTFS_KTY_OCT, "g") == &keys[2],
	       "find without kid refuses to choose among several keys");
	if (!rc)
		roundtrip(&keys[0], "oct without k");
	ctfs_jwk_free_set(keys, n);

	rc = parse("{\"keys\":[]}", &keys, &n, err, sizeof(err));
	tap_ok(!rc && n == 0 && !keys, "an empty key set");
}

static void test_bad_jwks(void)
{
	static const struct {
		const char *why, *text;
	} bad[] = {
		{ "not JSON", "{\"kty\":\"oct\"" },
		{ "trailing garbage", "{\"kty\":\"oct\"} x" },
		{ "two documents", "{\"kty\":\"oct\"}{}" },
		{ "not an object", "[{\"kty\":\"oct\"}]" },
		{ "no kty", "{\"k\":\"AAECAwQFBgcICQoLDA0ODw\"}" },
		{ "kty RSA", "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}" },
		{ "kty not a string", "{\"kty\":1}" },
		{ "keys not an array", "{\"keys\":{\"kty\":\"oct\"}}" },
		{ "a key that is not an object", "{\"keys\":[{\"kty\":\"oct\"},\"oct\"]}" },
		{ "oct k of 20 bytes", "{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhM=\"}" },
		{ "oct empty k", "{\"kty\":\"oct\",\"k\":\"\"}" },
		{ "oct 32-byte k for aes128gcm",
		  "{\"kty\":\"oct\",\"alg\":\"aes128gcm\",\"k\":\"XIqHl17ngxAloIgcEvp7iVLYEebeBnOvFO9SMKemTMc=\"}" },
		{ "oct 16-byte k for chacha20poly1305",
		  "{\"kty\":\"oct\",\"alg\":\"chacha20poly1305\",\"k\":\"AAECAwQFBgcICQoLDA0ODw\"}" },
		{ "oct unknown alg", "{\"kty\":\"oct\",\"alg\":\"A256KW\",\"k\":\"AAECAwQFBgcICQoLDA0ODw\"}" },
		{ "oct k not base64", "{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0OD!==\"}" },
		{ "oct k not a string", "{\"kty\":\"oct\",\"k\":12}" },
		{ "oct k twice",
		  "{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODw\",\"k\":\"AAECAwQFBgcICQoLDA0ODw\"}" },
		{ "kid not a string", "{\"kty\":\"oct\",\"kid\":5}" },
		{ "oct k far too long",
		  "{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODwAAECAwQFBgcICQoLDA0ODwAAECAwQFBgcICQoLDA0ODwAAECAwQFBgcICQoLDA0ODw\"}" },
		{ "okp without x or d", "{\"kty\":\"okp\",\"alg\":\"ed25519\"}" },
		{ "okp x of 31 bytes",
		  "{\"kty\":\"okp\",\"x\":\"hwLSHZEhBAZ4FHucfBNjfeCs82z4V2NwVsNtNR6tbQ==\"}" },
		{ "okp d of 33 bytes",
		  "{\"kty\":\"okp\",\"d\":\"Uy2QsQFPyXSMkrB+qRFDv7qmNp5WgjZjktzNs7Q1lQAA\"}" },
		{ "okp x that does not belong to d",
		  "{\"kty\":\"okp\",\"x\":\"vYPhfjOnXrZhhlLjKdyQbpU0vNCAWwOFNboDBxy1wTc=\","
		  "\"d\":\"Uy2QsQFPyXSMkrB+qRFDv7qmNp5WgjZjktzNs7Q1lQA=\"}" },
		{ "okp curve X25519",
		  "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"hwLSHZEhBAZ4FHucfBNjfeCs82z4V2NwVsNtNR6tbf8\"}" },
		{ "okp alg ES256",
		  "{\"kty\":\"okp\",\"alg\":\"ES256\",\"x\":\"hwLSHZEhBAZ4FHucfBNjfeCs82z4V2NwVsNtNR6tbf8\"}" },
		{ "a bad key after a good one",
		  "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODw\"},{\"kty\":\"okp\"}]}" },
	};
	struct ctfs_jwk *keys;
	size_t n;

	for (size_t i = 0; i < CTFS_ARRAY_LEN(bad); i++) {
		char err[200] = "";
		int rc;

		keys = (struct ctfs_jwk *)1;
		n = 7;
		rc = parse(bad[i].text, &keys, &n, err, sizeof(err));
		tap_ok(rc == -EINVAL && err[0] && !keys && !n, "bad JWK refused: %s (%s)", bad[i].why,
		       err);
	}
	keys = (struct ctfs_jwk *)1;
	tap_ok(ctfs_jwk_parse_set("{\"kty\":\"oct\"}", 5, &keys, &n, NULL, 0) == -EINVAL && !keys,
	       "a truncated length is honoured, and err may be NULL");
}

int main(void)
{
	if (ctfs_secmem_init())
		tap_skip_all("libsodium does not initialise");
	tap_seed();
	test_b64_known();
	test_b64_garbage();
	test_b64_roundtrip();
	test_hex();
	test_secmem();
	test_vector_keys("cryptotensors/keys-aes128.json", CTFS_ALG_AES128GCM, "enc-1-b", "sign-1-b");
	test_vector_keys("cryptotensors/keys-aes256.json", CTFS_ALG_AES256GCM, "enc-1-a", "sign-1");
	test_vector_keys("cryptotensors/keys-chacha.json", CTFS_ALG_CHACHA20POLY1305, "enc-1-c",
			 "sign-1-c");
	test_generate();
	test_good_jwks();
	test_bad_jwks();
	return tap_done();
}
