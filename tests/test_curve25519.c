/* Ed25519, X25519 and SHA-256 wrappers: Wycheproof vectors, known answers
 * and agreement with OpenSSL. */
#include "crypto/secmem.h"
#include "crypto/curve25519.h"
#include "crypto/sha256.h"
#include "tap.h"
#include "util.h"
#include "vectors.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <sodium.h>

static const char *result_of(const cJSON *t)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(t, "result");

	return cJSON_IsString(r) ? r->valuestring : "?";
}

/* ---- Ed25519 -------------------------------------------------------------- */

/* Valid signatures verify; invalid ones (including malleable S, bad
 * encodings and signatures of the wrong length) do not. */
static void wycheproof_ed25519(void)
{
	int passed = 0, failed = 0, skipped = 0;
	const cJSON *g, *t;
	cJSON *root = vec_load_json("wycheproof/ed25519_test.json");

	if (!root)
		return;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(root, "testGroups")) {
		const cJSON *pk_obj = cJSON_GetObjectItemCaseSensitive(g, "publicKey");
		uint8_t *pk;
		size_t pklen;
		bool pk_ok = !vec_hex(pk_obj, "pk", &pk, &pklen) && pklen == 32;

		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(g, "tests")) {
			const char *res = result_of(t);
			uint8_t *msg = NULL, *sig = NULL;
			size_t mlen = 0, slen = 0;
			bool decoded = !vec_hex(t, "msg", &msg, &mlen) && !vec_hex(t, "sig", &sig, &slen);
			bool valid = !strcmp(res, "valid"), ok;
			int rc = -EBADMSG, tc = vec_int(t, "tcId");

			if (!pk_ok || !decoded || (!valid && strcmp(res, "invalid"))) {
				skipped++;
				tap_ok(0, "ed25519 tcId %d: unusable test case", tc);
				free(msg), free(sig);
				continue;
			}
			/* A signature is 64 bytes: other lengths cannot reach the API. */
			if (slen == 64)
				rc = ctfs_ed25519_verify(pk, msg, mlen, sig);
			ok = valid ? rc == 0 : rc == -EBADMSG;
			tap_ok(ok, "ed25519 tcId %d (%s, %zu-byte sig): %s", tc, res, slen,
			       valid ? "verifies" : "rejected");
			ok ? passed++ : failed++;
			free(msg), free(sig);
		}
		free(pk);
	}
	tap_diag("ed25519_test.json: %d passed, %d failed, %d skipped", passed, failed, skipped);
	tap_ok(passed > 0 && !failed && !skipped, "ed25519_test.json: every vector passes");
	cJSON_Delete(root);
}

/* RFC 8032 §7.1, tests 1 and 3. */
static void test_ed25519_rfc8032(void)
{
	static const struct {
		const char *seed, *pub, *msg, *sig;
	} kat[] = {
		{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
		  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
		{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
		  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
		  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
	};

	for (size_t i = 0; i < CTFS_ARRAY_LEN(kat); i++) {
		uint8_t seed[32], pub[32], want_pub[32], sig[64], want_sig[64], msg[8] = { 0 };
		size_t mlen = strlen(kat[i].msg) / 2;
		bool ok = !vec_unhex_to(seed, 32, kat[i].seed) &&
			  !vec_unhex_to(want_pub, 32, kat[i].pub) &&
			  !vec_unhex_to(want_sig, 64, kat[i].sig) &&
			  !vec_unhex_to(msg, mlen, kat[i].msg);

		tap_ok(ok && !ctfs_ed25519_pub_from_seed(pub, seed) && !memcmp(pub, want_pub, 32),
		       "RFC 8032 test %zu: public key from seed", 2 * i + 1);
		tap_ok(ok && !ctfs_ed25519_sign(sig, mlen ? msg : NULL, mlen, seed) &&
		       !memcmp(sig, want_sig, 64), "RFC 8032 test %zu: signature", 2 * i + 1);
		tap_ok(ok && !ctfs_ed25519_verify(want_pub, mlen ? msg : NULL, mlen, want_sig),
		       "RFC 8032 test %zu: verifies", 2 * i + 1);
		msg[0] ^= 1;
		tap_ok(ctfs_ed25519_verify(want_pub, msg, mlen ? mlen : 1, want_sig) == -EBADMSG,
		       "RFC 8032 test %zu: another message does not verify", 2 * i + 1);
	}
}

/* Signatures from our signer verify under OpenSSL, and the reverse. */
static void test_ed25519_openssl(void)
{
	int bad = 0;

	for (int i = 0; i < 20; i++) {
		uint8_t seed[32], pub[32], sig[64], sig2[64], msg[300];
		size_t mlen = (uint32_t)tap_below(sizeof(msg)), siglen = sizeof(sig2);
		EVP_PKEY *pk;
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		tap_fill(seed, sizeof(seed));
		tap_fill(msg, sizeof(msg));
		pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
		if (!pk || !md || ctfs_ed25519_pub_from_seed(pub, seed) ||
		    ctfs_ed25519_sign(sig, msg, mlen, seed) ||
		    EVP_DigestSignInit(md, NULL, NULL, NULL, pk) != 1 ||
		    EVP_DigestSign(md, sig2, &siglen, msg, mlen) != 1 || siglen != 64 ||
		    memcmp(sig, sig2, 64) || ctfs_ed25519_verify(pub, msg, mlen, sig2))
			bad++;
		EVP_PKEY_free(pk);
		EVP_MD_CTX_free(md);
	}
	tap_ok(!bad, "ed25519: 20 random signatures identical to OpenSSL's and verify");
}

/* ---- X25519 ----------------------------------------------------------------- */

/* valid: the shared secret matches. acceptable: a low-order public key that
 * gives an all-zero secret must be refused (ZeroSharedSecret); every other
 * acceptable case (twist points, non-canonical u) must still compute the
 * RFC 7748 result. */
static void wycheproof_x25519(void)
{
	int passed = 0, failed = 0, skipped = 0, refused = 0;
	const cJSON *g, *t;
	cJSON *root = vec_load_json("wycheproof/x25519_test.json");

	if (!root)
		return;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(root, "testGroups")) {
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(g, "tests")) {
			const char *res = result_of(t);
			uint8_t *pub = NULL, *priv = NULL, *ss = NULL, out[32];
			size_t publen = 0, privlen = 0, sslen = 0;
			bool decoded = !vec_hex(t, "public", &pub, &publen) &&
				       !vec_hex(t, "private", &priv, &privlen) &&
				       !vec_hex(t, "shared", &ss, &sslen);
			bool zero = vec_has_flag(t, "ZeroSharedSecret"), ok;
			int rc, tc = vec_int(t, "tcId");

			if (!decoded || publen != 32 || privlen != 32 ||
			    (strcmp(res, "valid") && strcmp(res, "acceptable"))) {
				skipped++;
				tap_ok(0, "x25519 tcId %d: unusable test case", tc);
				free(pub), free(priv), free(ss);
				continue;
			}
			memset(out, 0xaa, sizeof(out));
			rc = ctfs_x25519(out, priv, pub);
			if (zero) {
				ok = rc == -EINVAL && sodium_is_zero(out, 32);
				refused += ok;
			} else {
				ok = rc == 0 && sslen == 32 && !memcmp(out, ss, 32);
			}
			tap_ok(ok, "x25519 tcId %d (%s%s): %s", tc, res,
			       zero ? ", ZeroSharedSecret" : "",
			       zero ? "refused with -EINVAL" : "shared secret matches");
			ok ? passed++ : failed++;
			free(pub), free(priv), free(ss);
		}
	}
	tap_diag("x25519_test.json: %d passed (%d of them all-zero secrets refused), %d failed, "
		 "%d skipped", passed, refused, failed, skipped);
	tap_ok(passed > 0 && !failed && !skipped, "x25519_test.json: every vector passes");
	cJSON_Delete(root);
}

static void test_x25519_pub(void)
{
	/* RFC 7748 §6.1 */
	static const char *a_priv = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
	static const char *a_pub = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
	uint8_t priv[32], want[32], pub[32], b[32], bpub[32], s1[32], s2[32];
	uint8_t base[32] = { 9 };
	int bad = 0;

	tap_ok(!vec_unhex_to(priv, 32, a_priv) && !vec_unhex_to(want, 32, a_pub) &&
	       !ctfs_x25519_pub(pub, priv) && !memcmp(pub, want, 32),
	       "x25519_pub: RFC 7748 Alice's public key");
	for (int i = 0; i < 20; i++) {
		tap_fill(priv, 32);
		tap_fill(b, 32);
		if (ctfs_x25519_pub(pub, priv) || ctfs_x25519(s1, priv, base) || memcmp(pub, s1, 32) ||
		    ctfs_x25519_pub(bpub, b) || ctfs_x25519(s1, priv, bpub) ||
		    ctfs_x25519(s2, b, pub) || memcmp(s1, s2, 32))
			bad++;
	}
	tap_ok(!bad, "x25519: pub is priv * 9, and both sides agree (20 random pairs)");
}

/* ---- SHA-256 --------------------------------------------------------------- */

/* The streaming interface, fed in pieces of every size from 1 to 64, gives
 * the one-shot digest; a second final is refused. */
static void test_sha256_stream(const uint8_t *buf, size_t len)
{
	uint8_t got[32], want[32];
	int bad = 0, rc = 0;

	ctfs_sha256(want, buf, len);
	for (size_t piece = 1; piece <= 64 && !rc; piece++) {
		struct ctfs_sha256_ctx *c;

		rc = ctfs_sha256_new(&c);
		for (size_t off = 0; !rc && off < len; off += piece)
			rc = ctfs_sha256_update(c, buf + off, len - off < piece ? len - off : piece);
		if (!rc)
			rc = ctfs_sha256_final(c, got);
		bad += !rc && memcmp(got, want, 32) != 0;
		if (!rc && piece == 64)
			rc = ctfs_sha256_final(c, got) == -EIO ? 0 : -1;
		ctfs_sha256_free(c);
	}
	tap_ok(!rc && !bad, "streaming sha256 in pieces of 1..64 bytes equals one-shot; one final");
}

static void test_sha256(void)
{
	static const struct {
		const char *in, *hex;
	} kat[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	uint8_t got[32], want[32], buf[5000];
	int bad = 0;

	for (size_t i = 0; i < CTFS_ARRAY_LEN(kat); i++) {
		ctfs_sha256(got, kat[i].in, strlen(kat[i].in));
		tap_ok(!vec_unhex_to(want, 32, kat[i].hex) && !memcmp(got, want, 32),
		       "sha256(\"%s\") known answer", kat[i].in);
	}
	tap_fill(buf, sizeof(buf));
	for (size_t len = 0; len < sizeof(buf); len += 1 + len / 3) {
		ctfs_sha256(got, buf, len);
		crypto_hash_sha256(want, buf, len);
		bad += memcmp(got, want, 32) != 0;
	}
	tap_ok(!bad, "sha256 agrees with libsodium on lengths 0..5000");
	test_sha256_stream(buf, sizeof(buf));
}

int main(void)
{
	if (ctfs_secmem_init())
		tap_skip_all("libsodium does not initialise");
	tap_seed();
	wycheproof_ed25519();
	test_ed25519_rfc8032();
	test_ed25519_openssl();
	wycheproof_x25519();
	test_x25519_pub();
	test_sha256();
	return tap_done();
}
