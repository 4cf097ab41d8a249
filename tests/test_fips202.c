/* SHA-3 / SHAKE against fixed answers and against OpenSSL's EVP, with
 * absorb and squeeze split into many calls at odd boundaries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "codec/hex.h"
#include "pq/fips202.h"
#include "tap.h"

/* Deterministic so that a failure can be replayed. */
static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng_next() % n) : 0;
}

static void rng_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next();
}

enum alg { SHA3_256, SHA3_512, SHAKE128, SHAKE256 };

static const char *alg_name[] = { "SHA3-256", "SHA3-512", "SHAKE128", "SHAKE256" };

static void alg_init(enum alg a, struct ctfs_keccak *st)
{
	switch (a) {
	case SHA3_256: ctfs_sha3_256_init(st); break;
	case SHA3_512: ctfs_sha3_512_init(st); break;
	case SHAKE128: ctfs_shake128_init(st); break;
	case SHAKE256: ctfs_shake256_init(st); break;
	}
}

static int ossl_hash(enum alg a, uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const EVP_MD *md = EVP_get_digestbyname(alg_name[a]);
	int ok;

	if (!ctx || !md) {
		EVP_MD_CTX_free(ctx);
		return -1;
	}
	ok = EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, in, inlen);
	if (ok && (a == SHAKE128 || a == SHAKE256))
		ok = EVP_DigestFinalXOF(ctx, out, outlen);
	else if (ok)
		ok = EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static void test_known_answers(void)
{
	static const struct {
		enum alg a;
		size_t outlen;
		const char *msg;
		const char *hex;
	} kat[] = {
		{ SHA3_256, 32, "", "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a" },
		{ SHA3_512, 64, "",
		  "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a6"
		  "15b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26" },
		{ SHAKE128, 32, "", "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26" },
		{ SHAKE256, 64, "",
		  "46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762f"
		  "d75dc4ddd8c0f200cb05019d67b592f6fc821c49479ab48640292eacb3b7c4be" },
		{ SHA3_256, 32, "abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532" },
	};
	uint8_t got[64], want[64];

	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		const uint8_t *m = (const uint8_t *)kat[i].msg;
		size_t mlen = strlen(kat[i].msg);

		switch (kat[i].a) {
		case SHA3_256: ctfs_sha3_256(got, m, mlen); break;
		case SHA3_512: ctfs_sha3_512(got, m, mlen); break;
		case SHAKE128: ctfs_shake128(got, kat[i].outlen, m, mlen); break;
		case SHAKE256: ctfs_shake256(got, kat[i].outlen, m, mlen); break;
		}
		tap_ok(ctfs_hex_decode(kat[i].hex, strlen(kat[i].hex), want, kat[i].outlen) == 0 &&
		       memcmp(got, want, kat[i].outlen) == 0,
		       "%s(\"%s\") known answer", alg_name[kat[i].a], kat[i].msg);
	}
}

/* One message absorbed and squeezed in random-sized pieces. */
static int split_matches(enum alg a, const uint8_t *msg, size_t mlen,
			 const uint8_t *want, size_t outlen)
{
	struct ctfs_keccak st;
	uint8_t got[2048];
	size_t off;

	alg_init(a, &st);
	for (off = 0; off < mlen;) {
		size_t n = 1 + rng_below(rng_below(4) ? 7 : 400);

		if (n > mlen - off)
			n = mlen - off;
		ctfs_keccak_absorb(&st, msg + off, n);
		off += n;
	}
	for (off = 0; off < outlen;) {
		size_t n = rng_below(rng_below(4) ? 9 : 500);

		if (n > outlen - off)
			n = outlen - off;
		ctfs_keccak_squeeze(&st, got + off, n);
		off += n;
	}
	ctfs_keccak_wipe(&st);
	return memcmp(got, want, outlen) == 0;
}

/* Lengths cluster around the block boundaries, where padding goes wrong. */
static size_t interesting_len(unsigned int rate, size_t max)
{
	size_t n;

	if (rng_below(2))
		return rng_below(max + 1);
	n = rate * rng_below(4) + rng_below(3) + rate - 1 - rng_below(3);
	return n > max ? max : n;
}

static void test_against_openssl(enum alg a, unsigned int rate, int rounds)
{
	static uint8_t msg[4096];
	uint8_t want[2048], got[2048];
	int oneshot_ok = 0, split_ok = 0, fail_ok = 1;

	for (int i = 0; i < rounds; i++) {
		size_t mlen = interesting_len(rate, sizeof(msg));
		size_t outlen = a == SHA3_256 ? 32 : a == SHA3_512 ? 64 :
				interesting_len(rate, sizeof(want));

		rng_fill(msg, mlen);
		if (ossl_hash(a, want, outlen, msg, mlen)) {
			fail_ok = 0;
			break;
		}
		switch (a) {
		case SHA3_256: ctfs_sha3_256(got, msg, mlen); break;
		case SHA3_512: ctfs_sha3_512(got, msg, mlen); break;
		case SHAKE128: ctfs_shake128(got, outlen, msg, mlen); break;
		case SHAKE256: ctfs_shake256(got, outlen, msg, mlen); break;
		}
		if (memcmp(got, want, outlen) == 0)
			oneshot_ok++;
		else
			tap_diag("%s one-shot mismatch: mlen %zu outlen %zu", alg_name[a], mlen, outlen);
		if (split_matches(a, msg, mlen, want, outlen))
			split_ok++;
		else
			tap_diag("%s split mismatch: mlen %zu outlen %zu", alg_name[a], mlen, outlen);
	}
	tap_ok(fail_ok, "%s available in OpenSSL", alg_name[a]);
	tap_ok(oneshot_ok == rounds, "%s one-shot matches OpenSSL (%d/%d)",
	       alg_name[a], oneshot_ok, rounds);
	tap_ok(split_ok == rounds, "%s split absorb/squeeze matches OpenSSL (%d/%d)",
	       alg_name[a], split_ok, rounds);
}

/* Squeezing one byte at a time over many blocks equals one long squeeze. */
static void test_long_squeeze(void)
{
	enum { LEN = 168 * 40 + 5 };
	static uint8_t a[LEN], b[LEN];
	struct ctfs_keccak st;
	const uint8_t seed[] = "seed";

	ctfs_shake128(a, LEN, seed, 4);
	ctfs_shake128_init(&st);
	ctfs_keccak_absorb(&st, seed, 4);
	for (size_t i = 0; i < LEN; i++)
		ctfs_keccak_squeeze(&st, b + i, 1);
	tap_ok(memcmp(a, b, LEN) == 0, "SHAKE128 byte-wise squeeze over 40 blocks");
	ctfs_keccak_wipe(&st);
	tap_ok(st.s[0] == 0 && st.s[24] == 0 && st.pos == 0, "wipe zeroes the state");
}

int main(void)
{
	test_known_answers();
	test_against_openssl(SHA3_256, CTFS_SHA3_256_RATE, 300);
	test_against_openssl(SHA3_512, CTFS_SHA3_512_RATE, 300);
	test_against_openssl(SHAKE128, CTFS_SHAKE128_RATE, 300);
	test_against_openssl(SHAKE256, CTFS_SHAKE256_RATE, 300);
	test_long_squeeze();
	return tap_done();
}
