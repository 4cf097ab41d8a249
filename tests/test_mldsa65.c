/* ML-DSA-65 (FIPS 204) against the Wycheproof sign/verify vectors, the CCTV
 * accumulated key generation + signing test, and the rounding functions
 * against their FIPS 204 definitions for every element of Z_q. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "pq/fips202.h"
#include "pq/mldsa65.h"
#include "pq/mldsa_internal.h"
#include "tap.h"
#include "util.h"
#include "vectors.h"

struct counts {
	unsigned int total, passed, valid, invalid;
};

/* A hex field of a vector: present = 0 when missing or JSON null. */
struct hexfield {
	uint8_t *p;
	size_t len;
	int present;
};

/* 0 (present = 0 when the field is missing or JSON null), or -1 when it is
 * not a hex string or memory runs out. */
static int get_hex(const cJSON *obj, const char *name, struct hexfield *out)
{
	int rc = vec_hex(obj, name, &out->p, &out->len);

	out->present = rc == 0;
	return rc && rc != -ENOENT ? -1 : 0;
}

/* The 32 bytes spelt by the 64 hex digits that s starts with. */
static int unhex32(uint8_t out[32], const char *s)
{
	return strnlen(s, 64) == 64 ? ctfs_hex_decode(s, 64, out, 32) : -1;
}

static void free_hex(struct hexfield *h)
{
	free(h->p);
	h->p = NULL;
}

static const char *get_str(const cJSON *obj, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(item) ? item->valuestring : "";
}

/* Wycheproof result: 1 valid, 0 invalid ("acceptable" never occurs for
 * ML-DSA; it is treated as invalid-or-valid by the callers via -1). */
static int expected_valid(const cJSON *test)
{
	const char *r = get_str(test, "result");

	if (!strcmp(r, "valid"))
		return 1;
	if (!strcmp(r, "invalid"))
		return 0;
	return -1;
}

static void tally(struct counts *c, int want, int pass)
{
	c->total++;
	c->passed += pass ? 1 : 0;
	if (want == 1)
		c->valid++;
	else
		c->invalid++;
}

/* Every vector the file announces was run; then the per-file counts. */
static void report_counts(const cJSON *root, const char *file, unsigned int groups,
			  const struct counts *cnt)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "numberOfTests");

	tap_ok(cJSON_IsNumber(n) && cnt->total > 0 && n->valueint == (int)cnt->total,
	       "%s: ran all %u of numberOfTests vectors", file, cnt->total);
	tap_diag("%s: %u groups, %u vectors (%u valid, %u invalid), %u passed", file, groups,
		 cnt->total, cnt->valid, cnt->invalid, cnt->passed);
}

/* --- signing vectors (sign_seed and sign_noseed) ---------------------- */

struct signer {
	uint8_t pk[CTFS_MLDSA65_PK_BYTES], sk[CTFS_MLDSA65_SK_BYTES];
	int have_pk, have_sk;
	const char *why;	/* why there is no usable key */
};

/* The fixed-size API cannot even be handed a key of the wrong length: such
 * groups must be "invalid" and count as rejected by the length check the
 * caller makes. */
static void signer_from_group(struct signer *s, const cJSON *group, int seeded,
			      const char *file)
{
	struct hexfield seed, sk, pk;
	int bad = 0;

	memset(s, 0, sizeof(*s));
	bad |= get_hex(group, "privateSeed", &seed);
	bad |= get_hex(group, "privateKey", &sk);
	bad |= get_hex(group, "publicKey", &pk);
	if (bad) {
		s->why = "bad hex in group";
		goto out;
	}
	if (pk.present && pk.len == CTFS_MLDSA65_PK_BYTES) {
		memcpy(s->pk, pk.p, pk.len);
		s->have_pk = 1;
	}
	if (seeded) {
		if (seed.len != CTFS_MLDSA65_SEED_BYTES) {
			s->why = "seed length";
		} else {
			uint8_t pk2[CTFS_MLDSA65_PK_BYTES];
			int rc = ctfs_mldsa65_keypair_from_seed(pk2, s->sk, seed.p);

			s->have_sk = rc == 0;
			if (s->have_pk)
				tap_ok(rc == 0 && !memcmp(pk2, s->pk, sizeof(pk2)),
				       "%s: KeyGen(privateSeed %02x%02x..) gives the group's publicKey",
				       file, seed.p[0], seed.p[1]);
		}
	} else if (sk.len != CTFS_MLDSA65_SK_BYTES) {
		s->why = "private key length";
	} else {
		memcpy(s->sk, sk.p, sk.len);
		s->have_sk = 1;
	}
out:
	free_hex(&seed);
	free_hex(&sk);
	free_hex(&pk);
}

/* Signs one vector; on success checks the signature, mu and the round trip
 * through verify. Returns whether the outcome matches "result". */
static int check_sign_vector(const struct signer *s, const cJSON *test, int want,
			     char *note, size_t notelen)
{
	struct hexfield msg = { 0 }, ctx = { 0 }, mu = { 0 }, sig = { 0 }, rnd = { 0 };
	uint8_t out[CTFS_MLDSA65_SIG_BYTES], mu2[CTFS_MLDSA65_MU_BYTES];
	int rc, ok = 0;

	if (get_hex(test, "msg", &msg) || get_hex(test, "ctx", &ctx) ||
	    get_hex(test, "mu", &mu) || get_hex(test, "sig", &sig) || get_hex(test, "rnd", &rnd)) {
		snprintf(note, notelen, "bad hex in vector");
		goto out;
	}
	if (rnd.present && rnd.len != CTFS_MLDSA65_RND_BYTES) {
		snprintf(note, notelen, "rnd length %zu", rnd.len);
		goto out;
	}
	if (!s->have_sk) {
		snprintf(note, notelen, "refused: %s", s->why ? s->why : "no key");
		ok = want == 0;
		goto out;
	}
	if (msg.present)
		rc = ctfs_mldsa65_sign(out, msg.p, msg.len, ctx.p, ctx.len, s->sk, rnd.p);
	else if (mu.present && mu.len == CTFS_MLDSA65_MU_BYTES)
		rc = ctfs_mldsa65_sign_mu(out, mu.p, s->sk, rnd.p);
	else
		rc = -EINVAL;
	snprintf(note, notelen, "rc=%d", rc);
	if (want == 0) {
		ok = rc == -EINVAL;
		goto out;
	}
	if (rc || !sig.present || sig.len != sizeof(out) || memcmp(out, sig.p, sizeof(out))) {
		snprintf(note, notelen, "rc=%d, signature %s", rc, rc ? "missing" : "differs");
		goto out;
	}
	if (msg.present && mu.present && s->have_pk) {
		rc = ctfs_mldsa65_compute_mu(mu2, s->pk, msg.p, msg.len, ctx.p, ctx.len);
		if (rc || mu.len != sizeof(mu2) || memcmp(mu2, mu.p, sizeof(mu2))) {
			snprintf(note, notelen, "signature ok but mu differs (rc=%d)", rc);
			goto out;
		}
	}
	if (s->have_pk) {
		rc = msg.present ? ctfs_mldsa65_verify(out, sizeof(out), msg.p, msg.len,
						       ctx.p, ctx.len, s->pk)
				 : ctfs_mldsa65_verify_mu(out, sizeof(out), mu.p, s->pk);
		if (rc) {
			snprintf(note, notelen, "signature matches but verify says %d", rc);
			goto out;
		}
	}
	ok = 1;
out:
	free_hex(&msg);
	free_hex(&ctx);
	free_hex(&mu);
	free_hex(&sig);
	free_hex(&rnd);
	return ok;
}

static void run_sign_file(const char *file, int seeded)
{
	struct counts cnt = { 0 };
	unsigned int groups = 0;
	const cJSON *group, *test;
	cJSON *root = vec_load_json(file);

	if (!root)
		return;
	cJSON_ArrayForEach(group, cJSON_GetObjectItemCaseSensitive(root, "testGroups")) {
		struct signer s;

		groups++;
		signer_from_group(&s, group, seeded, file);
		cJSON_ArrayForEach(test, cJSON_GetObjectItemCaseSensitive(group, "tests")) {
			int want = expected_valid(test), ok;
			char note[128] = "unknown expected result";

			ok = want >= 0 && check_sign_vector(&s, test, want, note, sizeof(note));
			tally(&cnt, want, ok);
			tap_ok(ok, "%s tcId %d (%s%s%s): expect %s, %s", file,
			       vec_int(test, "tcId"), get_str(test, "comment"),
			       vec_has_flag(test, "Internal") ? ", external mu" : "",
			       vec_has_flag(test, "Randomized") ? ", hedged" : "",
			       get_str(test, "result"), note);
		}
		sodium_memzero(&s, sizeof(s));
	}
	report_counts(root, file, groups, &cnt);
	cJSON_Delete(root);
}

/* --- verification vectors --------------------------------------------- */

static int check_verify_vector(const struct hexfield *pk, const cJSON *test, int want,
			       char *note, size_t notelen)
{
	struct hexfield msg = { 0 }, ctx = { 0 }, sig = { 0 };
	int rc, ok = 0;

	if (get_hex(test, "msg", &msg) || get_hex(test, "ctx", &ctx) || get_hex(test, "sig", &sig)) {
		snprintf(note, notelen, "bad hex in vector");
		goto out;
	}
	if (pk->len != CTFS_MLDSA65_PK_BYTES) {
		snprintf(note, notelen, "refused: public key length %zu", pk->len);
		ok = want == 0;
		goto out;
	}
	rc = ctfs_mldsa65_verify(sig.p, sig.len, msg.p, msg.len, ctx.p, ctx.len, pk->p);
	snprintf(note, notelen, "rc=%d", rc);
	/* The API promises -EINVAL for lengths, -EBADMSG for everything else. */
	if (want)
		ok = rc == 0;
	else if (ctx.len > CTFS_MLDSA65_CTX_MAX || sig.len != CTFS_MLDSA65_SIG_BYTES)
		ok = rc == -EINVAL;
	else
		ok = rc == -EBADMSG;
out:
	free_hex(&msg);
	free_hex(&ctx);
	free_hex(&sig);
	return ok;
}

static void run_verify_file(const char *file)
{
	struct counts cnt = { 0 };
	unsigned int groups = 0;
	const cJSON *group, *test;
	cJSON *root = vec_load_json(file);

	if (!root)
		return;
	cJSON_ArrayForEach(group, cJSON_GetObjectItemCaseSensitive(root, "testGroups")) {
		struct hexfield pk;
		int bad = get_hex(group, "publicKey", &pk);

		groups++;
		cJSON_ArrayForEach(test, cJSON_GetObjectItemCaseSensitive(group, "tests")) {
			int want = expected_valid(test), ok = 0;
			char note[128] = "unknown expected result";

			if (bad)
				snprintf(note, sizeof(note), "bad public key hex");
			else if (want >= 0)
				ok = check_verify_vector(&pk, test, want, note, sizeof(note));
			tally(&cnt, want, ok);
			tap_ok(ok, "%s tcId %d (%s): expect %s, %s", file,
			       vec_int(test, "tcId"), get_str(test, "comment"),
			       get_str(test, "result"), note);
		}
		free_hex(&pk);
	}
	report_counts(root, file, groups, &cnt);
	cJSON_Delete(root);
}

/* --- rounding functions against FIPS 204 for every r in [0, q) ---------- */

/* m mod± a, in (-a/2, a/2] for even a and [-(a-1)/2, (a-1)/2] for odd a. */
static int64_t ref_mod_pm(int64_t m, int64_t a)
{
	int64_t r = ((m % a) + a) % a;

	return r > a / 2 ? r - a : r;
}

static void ref_decompose(int64_t r, int64_t gamma2, int64_t *r1, int64_t *r0)
{
	int64_t rp = ((r % MLDSA_Q) + MLDSA_Q) % MLDSA_Q;

	*r0 = ref_mod_pm(rp, 2 * gamma2);
	if (rp - *r0 == MLDSA_Q - 1) {
		*r1 = 0;
		*r0 -= 1;
	} else {
		*r1 = (rp - *r0) / (2 * gamma2);
	}
}

static int64_t ref_use_hint(int h, int64_t r, int64_t gamma2)
{
	int64_t m = (MLDSA_Q - 1) / (2 * gamma2), r1, r0;

	ref_decompose(r, gamma2, &r1, &r0);
	if (h && r0 > 0)
		return (r1 + 1) % m;
	if (h)
		return (r1 - 1 + m) % m;
	return r1;
}

static void run_rounding_exhaustive(void)
{
	unsigned long bad_modpm = 0, bad_p2r = 0, bad_dec = 0, bad_hint = 0, bad_modq = 0;
	const int64_t g2 = MLDSA_GAMMA2;

	for (int32_t r = 0; r < MLDSA_Q; r++) {
		int64_t e1, e0;
		int32_t r1, r0;

		bad_modpm += ctfs_mldsa_mod_pm_q(r) != ref_mod_pm(r, MLDSA_Q);
		r1 = ctfs_mldsa_power2round(r, &r0);
		e0 = ref_mod_pm(r, 1 << MLDSA_D);
		bad_p2r += r0 != e0 || r1 != (r - e0) >> MLDSA_D;
		r1 = ctfs_mldsa_decompose(r, &r0);
		ref_decompose(r, g2, &e1, &e0);
		bad_dec += r1 != e1 || r0 != e0;
		bad_hint += ctfs_mldsa_use_hint(0, r) != ref_use_hint(0, r, g2) ||
			    ctfs_mldsa_use_hint(1, r) != ref_use_hint(1, r, g2);
	}
	/* mod_q takes any int32: the ends, and a stride through the middle. */
	for (int64_t a = INT32_MIN; a <= INT32_MAX; a += (a < INT32_MIN + 70000 ||
							   a > INT32_MAX - 70000) ? 1 : 9973) {
		int64_t want = ((a % MLDSA_Q) + MLDSA_Q) % MLDSA_Q;

		bad_modq += ctfs_mldsa_mod_q((int32_t)a) != want ||
			    ctfs_mldsa_mod_pm_q((int32_t)a) != ref_mod_pm(a, MLDSA_Q);
	}
	tap_ok(bad_modpm == 0, "r mod± q matches FIPS 204 for all r in [0, q) (%lu wrong)", bad_modpm);
	tap_ok(bad_p2r == 0, "Power2Round matches FIPS 204 for all r in [0, q) (%lu wrong)", bad_p2r);
	tap_ok(bad_dec == 0, "Decompose (gamma2 = (q-1)/32) matches FIPS 204 for all r (%lu wrong)",
	       bad_dec);
	tap_ok(bad_hint == 0, "UseHint(0|1, r) matches FIPS 204 for all r (%lu wrong)", bad_hint);
	tap_ok(bad_modq == 0, "mod q / mod± q correct across int32 (%lu wrong)", bad_modq);
}

/* --- CCTV accumulated test (ML-DSA-accumulated-README.md) ---------------- */

/* The expected digest for `iters` iterations of ML-DSA-65, read from the
 * README's "### ML-DSA-65" list ("- 100 iterations: `<hex>`"). */
static int accumulated_expect(const char *readme, const char *iters, uint8_t out[32])
{
	const char *sec = strstr(readme, "### ML-DSA-65\n"), *next, *p;
	char key[64];

	if (!sec)
		return -1;
	next = strstr(sec + 1, "### ");
	snprintf(key, sizeof(key), "- %s iterations: `", iters);
	p = strstr(sec, key);
	if (!p || (next && p > next))
		return -1;
	p += strlen(key);
	if (strlen(p) < 65 || p[64] != '`')
		return -1;
	return unhex32(out, p);
}

/* Seeds from one SHAKE128 stream; public keys and deterministic signatures
 * of the empty message into another; 32 bytes of the latter at the end. */
static void run_accumulated(unsigned long iters, const char *readme, const char *label)
{
	static uint8_t pk[CTFS_MLDSA65_PK_BYTES], sk[CTFS_MLDSA65_SK_BYTES];
	static uint8_t sig[CTFS_MLDSA65_SIG_BYTES];
	struct ctfs_keccak seeds, acc;
	uint8_t seed[32], got[32], want[32];
	unsigned long i, bad = 0;

	if (!tap_ok(accumulated_expect(readme, label, want) == 0,
		    "accumulated README lists the ML-DSA-65 digest for %s iterations", label))
		return;
	ctfs_shake128_init(&seeds);
	ctfs_shake128_init(&acc);
	for (i = 0; i < iters; i++) {
		ctfs_keccak_squeeze(&seeds, seed, sizeof(seed));
		if (ctfs_mldsa65_keypair_from_seed(pk, sk, seed))
			bad++;
		ctfs_keccak_absorb(&acc, pk, sizeof(pk));
		if (ctfs_mldsa65_sign(sig, NULL, 0, NULL, 0, sk, NULL))
			bad++;
		ctfs_keccak_absorb(&acc, sig, sizeof(sig));
		if (ctfs_mldsa65_verify(sig, sizeof(sig), NULL, 0, NULL, 0, pk))
			bad++;
	}
	ctfs_keccak_squeeze(&acc, got, sizeof(got));
	tap_ok(bad == 0, "accumulated %lu: every keygen/sign/verify succeeded (%lu failures)",
	       iters, bad);
	tap_ok(!memcmp(got, want, sizeof(got)),
	       "accumulated %lu: SHAKE128 over all keys and signatures matches the README",
	       iters);
}

/* Decimal and a newline, as the accumulated field test hashes them. */
static char *put_line(char *p, int64_t v)
{
	char tmp[24];
	int n = 0;

	if (v < 0) {
		*p++ = '-';
		v = -v;
	}
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	*p++ = '\n';
	return p;
}

/* The README's "Field operation tests": 12 lines per r in [0, q) into
 * SHAKE128. Lines 5-8 are for ML-DSA-44's gamma2, which this library does not
 * implement, so they come from the FIPS 204 reference above; lines 1-4 and
 * 9-12 come from the library. */
static void run_field_accumulated(const char *readme)
{
	static char buf[1 << 16];
	const int64_t g44 = (MLDSA_Q - 1) / 88;
	const char *p = strstr(readme, "## Field operation tests");
	struct ctfs_keccak st;
	uint8_t got[32], want[32];
	char *w = buf;

	if (p)
		p = strstr(p, "```\n");
	if (!tap_ok(p && unhex32(want, p + 4) == 0, "accumulated README lists the field digest"))
		return;
	ctfs_shake128_init(&st);
	for (int32_t r = 0; r < MLDSA_Q; r++) {
		int32_t r1, r0, v = ctfs_mldsa_mod_pm_q(r);
		int64_t e1, e0;

		w = put_line(w, v);
		w = put_line(w, v < 0 ? -v : v);
		r1 = ctfs_mldsa_power2round(r, &r0);
		w = put_line(w, r1);
		w = put_line(w, ctfs_mldsa_mod_q(r0));
		ref_decompose(r, g44, &e1, &e0);
		w = put_line(w, e1);
		w = put_line(w, ref_use_hint(1, r, g44));
		w = put_line(w, e0);
		w = put_line(w, e0 < 0 ? -e0 : e0);
		r1 = ctfs_mldsa_decompose(r, &r0);
		w = put_line(w, r1);
		w = put_line(w, ctfs_mldsa_use_hint(1, r));
		w = put_line(w, r0);
		w = put_line(w, r0 < 0 ? -r0 : r0);
		if (w - buf > (long)sizeof(buf) - 512) {
			ctfs_keccak_absorb(&st, (const uint8_t *)buf, (size_t)(w - buf));
			w = buf;
		}
	}
	ctfs_keccak_absorb(&st, (const uint8_t *)buf, (size_t)(w - buf));
	ctfs_keccak_squeeze(&st, got, sizeof(got));
	tap_ok(!memcmp(got, want, sizeof(got)),
	       "accumulated field test (mod± q, Power2Round, Decompose, UseHint for all r)");
}

/* The field test hashes about 670 MB: about a second at -O2, twenty under
 * ASan or -O0, where it runs only when CTFS_MLDSA_ACCUMULATED is set.
 * CTFS_MLDSA_ACCUMULATED=10000 adds the CI-sized key generation run. */
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
#define FIELD_TEST_BY_DEFAULT 1
#else
#define FIELD_TEST_BY_DEFAULT 0
#endif

static void run_accumulated_tests(void)
{
	const char *more = getenv("CTFS_MLDSA_ACCUMULATED");
	uint8_t *readme;
	size_t len;

	if (vec_read("cctv-mlkem/ML-DSA-accumulated-README.md", &readme, &len))
		return;
	run_accumulated(100, (const char *)readme, "100");
	if (FIELD_TEST_BY_DEFAULT || (more && *more))
		run_field_accumulated((const char *)readme);
	else
		tap_ok(1, "accumulated field test # SKIP slow in this build, "
		       "set CTFS_MLDSA_ACCUMULATED=1 to run it");
	if (more && !strcmp(more, "10000"))
		run_accumulated(10000, (const char *)readme, "10 000");
	free(readme);
}

/* --- NTT against schoolbook multiplication in Z_q[X]/(X^256 + 1) ------- */

static void run_ntt_check(void)
{
	static struct mldsa_poly a, b, ahat, bhat, prod;
	int64_t want[MLDSA_N] = { 0 };
	uint32_t x = 12345;
	unsigned int bad = 0;

	for (int i = 0; i < MLDSA_N; i++) {
		x = x * 1103515245u + 12345u;
		a.c[i] = (int32_t)(x % MLDSA_Q) - (MLDSA_Q - 1) / 2;
		x = x * 1103515245u + 12345u;
		b.c[i] = (int32_t)(x % (2 * MLDSA_GAMMA1)) - MLDSA_GAMMA1 + 1;
	}
	for (int i = 0; i < MLDSA_N; i++) {
		for (int j = 0; j < MLDSA_N; j++) {
			int64_t p = (int64_t)a.c[i] * b.c[j] % MLDSA_Q;

			if (i + j < MLDSA_N)
				want[i + j] = (want[i + j] + p) % MLDSA_Q;
			else
				want[i + j - MLDSA_N] = (want[i + j - MLDSA_N] - p) % MLDSA_Q;
		}
	}
	ahat = a;
	bhat = b;
	ctfs_mldsa_ntt(&ahat);
	ctfs_mldsa_ntt(&bhat);
	ctfs_mldsa_pointwise_mont(&prod, &ahat, &bhat);
	ctfs_mldsa_invntt_mont(&prod);
	for (int i = 0; i < MLDSA_N; i++)
		bad += ctfs_mldsa_mod_q(prod.c[i]) != ((want[i] % MLDSA_Q) + MLDSA_Q) % MLDSA_Q;
	tap_ok(bad == 0, "NTT product equals the schoolbook negacyclic product (%u wrong)", bad);
}

/* --- API edges the vectors do not reach --------------------------------- */

static void run_api_checks(void)
{
	static uint8_t pk[CTFS_MLDSA65_PK_BYTES], sk[CTFS_MLDSA65_SK_BYTES];
	static uint8_t sig[CTFS_MLDSA65_SIG_BYTES], sig2[CTFS_MLDSA65_SIG_BYTES];
	static const uint8_t msg[] = "ctfs model manifest", ctx[] = "ctfs";
	static uint8_t longctx[256];
	uint8_t rnd[32], seed[32] = { 1, 2, 3 };
	int rc;

	tap_ok(ctfs_mldsa65_keypair(pk, sk) == 0, "random keypair");
	rc = ctfs_mldsa65_sign(sig, msg, sizeof(msg), ctx, sizeof(ctx), sk, NULL);
	tap_ok(rc == 0 && ctfs_mldsa65_verify(sig, sizeof(sig), msg, sizeof(msg), ctx,
					      sizeof(ctx), pk) == 0,
	       "deterministic signature with a context verifies");
	tap_ok(ctfs_mldsa65_verify(sig, sizeof(sig), msg, sizeof(msg), NULL, 0, pk) == -EBADMSG,
	       "same signature under the empty context is -EBADMSG");
	tap_fill(rnd, sizeof(rnd));
	rc = ctfs_mldsa65_sign(sig2, msg, sizeof(msg), ctx, sizeof(ctx), sk, rnd);
	tap_ok(rc == 0 && memcmp(sig, sig2, sizeof(sig)) &&
	       ctfs_mldsa65_verify(sig2, sizeof(sig2), msg, sizeof(msg), ctx, sizeof(ctx), pk) == 0,
	       "hedged signature differs from the deterministic one and verifies");
	sig2[100] ^= 0x10;
	tap_ok(ctfs_mldsa65_verify(sig2, sizeof(sig2), msg, sizeof(msg), ctx, sizeof(ctx), pk) ==
	       -EBADMSG, "flipped bit in z is -EBADMSG");
	tap_ok(ctfs_mldsa65_sign(sig2, msg, sizeof(msg), longctx, 256, sk, NULL) == -EINVAL,
	       "sign with a 256-byte context is -EINVAL");
	tap_ok(ctfs_mldsa65_verify(sig, sizeof(sig), msg, sizeof(msg), longctx, 256, pk) == -EINVAL,
	       "verify with a 256-byte context is -EINVAL");
	tap_ok(ctfs_mldsa65_verify(sig, sizeof(sig) - 1, msg, sizeof(msg), ctx, sizeof(ctx), pk) ==
	       -EINVAL, "verify with a short signature length is -EINVAL");
	tap_ok(ctfs_mldsa65_sign(sig2, msg, sizeof(msg), longctx, 255, sk, NULL) == 0 &&
	       ctfs_mldsa65_verify(sig2, sizeof(sig2), msg, sizeof(msg), longctx, 255, pk) == 0,
	       "255-byte context signs and verifies");
	tap_ok(ctfs_mldsa65_keypair_from_seed(pk, sk, seed) == 0 &&
	       ctfs_mldsa65_sign(sig, NULL, 0, NULL, 0, sk, NULL) == 0 &&
	       ctfs_mldsa65_verify(sig, sizeof(sig), NULL, 0, NULL, 0, pk) == 0,
	       "empty message, NULL pointers with zero lengths");
	/* An s2 coefficient of 4 - 15 = -11 (a nibble KeyGen never writes). */
	sk[128 + MLDSA_L * MLDSA_ETA_POLY_BYTES] |= 0x0f;
	tap_ok(ctfs_mldsa65_sign(sig, msg, sizeof(msg), NULL, 0, sk, NULL) == -EINVAL,
	       "secret key with s2 out of [-eta, eta] is -EINVAL");
	sodium_memzero(sk, sizeof(sk));
}

int main(void)
{
	tap_seed();
	if (sodium_init() < 0) {
		tap_ok(0, "sodium_init");
		return tap_done();
	}
	run_rounding_exhaustive();
	run_ntt_check();
	run_api_checks();
	run_sign_file("wycheproof/mldsa_65_sign_seed_test.json", 1);
	run_sign_file("wycheproof/mldsa_65_sign_noseed_test.json", 0);
	run_verify_file("wycheproof/mldsa_65_verify_test.json");
	run_accumulated_tests();
	return tap_done();
}
