/* ML-KEM-768 against the Wycheproof and C2SP/CCTV vectors.
 *
 * Wycheproof targets FIPS 203 final. The CCTV intermediate and "unlucky"
 * vectors were made for the initial public draft, whose only difference
 * that matters here is K-PKE.KeyGen hashing G(d) instead of G(d || k):
 * for those the key pair is built from the internal K-PKE entry point;
 * encapsulation and decapsulation are unchanged and use the public API. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "pq/fips202.h"
#include "pq/mlkem768.h"
#include "pq/mlkem_kpke.h"
#include "pq/mlkem_sample.h"
#include "util.h"
#include "tap.h"
#include "vectors.h"

#define PK_BYTES CTFS_MLKEM768_PK_BYTES
#define SK_BYTES CTFS_MLKEM768_SK_BYTES
#define CT_BYTES CTFS_MLKEM768_CT_BYTES
#define P12 MLKEM_POLY_BYTES(12)

struct bytes {
	uint8_t *p;
	size_t len;
};

/* vec_unhex and vec_hex into a struct bytes. */
static int unhex(struct bytes *b, const char *hex)
{
	return vec_unhex(hex, &b->p, &b->len);
}

static int jbytes(struct bytes *b, const cJSON *t, const char *key)
{
	return vec_hex(t, key, &b->p, &b->len);
}

static bool eq(const uint8_t *a, const struct bytes *b, size_t len)
{
	return b->p && b->len == len && memcmp(a, b->p, len) == 0;
}

/* ------------------------------------------------------------------ */
/* Wycheproof                                                          */

static const char *jstr(const cJSON *t, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Expected result "valid" needs acceptance with the right outputs,
 * "invalid" needs a refusal, "acceptable" allows either. */
static bool judge(const char *result, bool accepted, bool outputs_match)
{
	if (!strcmp(result, "valid"))
		return accepted && outputs_match;
	if (!strcmp(result, "invalid"))
		return !accepted;
	if (!strcmp(result, "acceptable"))
		return !accepted || outputs_match;
	return false;
}

static void flags_text(char *buf, size_t len, const cJSON *t)
{
	const cJSON *f;
	size_t off = 0;

	buf[0] = 0;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(t, "flags")) {
		int n;

		if (!cJSON_IsString(f))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? "," : " [", f->valuestring);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	if (off && off + 2 <= len)
		strcat(buf, "]");
}

typedef bool (*vector_fn)(const cJSON *t, const char *result);

/* keygen from seed d || z, compare ek, then decapsulate c. */
static bool run_mlkem_test(const cJSON *t, const char *result)
{
	static uint8_t pk[PK_BYTES], sk[SK_BYTES];
	struct bytes seed = { 0 }, ek = { 0 }, c = { 0 }, k = { 0 };
	uint8_t ss[32];
	bool accepted = false, match = false;

	if (jbytes(&seed, t, "seed") || jbytes(&c, t, "c") || jbytes(&k, t, "K"))
		goto out;
	if (jbytes(&ek, t, "ek") == -EINVAL)
		goto out;
	if (ctfs_mlkem768_keypair_from_seed(pk, sk, seed.p, seed.len) == 0 &&
	    ctfs_mlkem768_decaps_sized(ss, c.p, c.len, sk, sizeof(sk)) == 0) {
		accepted = true;
		match = eq(ss, &k, 32) && (!ek.p || eq(pk, &ek, PK_BYTES));
	}
out:
	free(seed.p);
	free(ek.p);
	free(c.p);
	free(k.p);
	return judge(result, accepted, match);
}

static bool run_keygen_test(const cJSON *t, const char *result)
{
	static uint8_t pk[PK_BYTES], sk[SK_BYTES];
	struct bytes seed = { 0 }, ek = { 0 }, dk = { 0 };
	bool accepted = false, match = false;

	if (jbytes(&seed, t, "seed") || jbytes(&ek, t, "ek") || jbytes(&dk, t, "dk"))
		goto out;
	if (ctfs_mlkem768_keypair_from_seed(pk, sk, seed.p, seed.len) == 0) {
		accepted = true;
		match = eq(pk, &ek, PK_BYTES) && eq(sk, &dk, SK_BYTES);
	}
out:
	free(seed.p);
	free(ek.p);
	free(dk.p);
	return judge(result, accepted, match);
}

static bool run_encaps_test(const cJSON *t, const char *result)
{
	static uint8_t ct[CT_BYTES];
	struct bytes ek = { 0 }, m = { 0 }, c = { 0 }, k = { 0 };
	uint8_t ss[32];
	bool accepted = false, match = false;
	int rc;

	if (jbytes(&ek, t, "ek") || jbytes(&m, t, "m") || jbytes(&c, t, "c") ||
	    jbytes(&k, t, "K") || m.len != 32)
		goto out;
	rc = ctfs_mlkem768_encaps_derand_sized(ct, ss, ek.p, ek.len, m.p);
	if (rc == 0) {
		accepted = true;
		match = eq(ct, &c, CT_BYTES) && eq(ss, &k, 32);
	} else if (rc != -EINVAL) {
		tap_diag("unexpected error %d", rc);
		accepted = true; /* neither acceptance nor a proper refusal */
	}
out:
	free(ek.p);
	free(m.p);
	free(c.p);
	free(k.p);
	return judge(result, accepted, match);
}

static bool run_decaps_test(const cJSON *t, const char *result)
{
	struct bytes dk = { 0 }, c = { 0 }, k = { 0 };
	uint8_t ss[32];
	bool accepted = false, match = false;
	int rc;

	if (jbytes(&dk, t, "dk") || jbytes(&c, t, "c"))
		goto out;
	if (jbytes(&k, t, "K") == -EINVAL)
		goto out;
	rc = ctfs_mlkem768_decaps_sized(ss, c.p, c.len, dk.p, dk.len);
	if (rc == 0) {
		accepted = true;
		match = k.p && eq(ss, &k, 32);
	} else if (rc != -EINVAL) {
		tap_diag("unexpected error %d", rc);
		accepted = true;
	}
out:
	free(dk.p);
	free(c.p);
	free(k.p);
	return judge(result, accepted, match);
}

static void run_wycheproof(const char *file, const char *want_type, vector_fn fn)
{
	char name[256], flags[256];
	const cJSON *g, *t;
	cJSON *root;
	int total = 0, passed = 0;

	snprintf(name, sizeof(name), "wycheproof/%s", file);
	root = vec_load_json(name);
	if (!root)
		return;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(root, "testGroups")) {
		const char *type = jstr(g, "type"), *param = jstr(g, "parameterSet");

		if (!type || strcmp(type, want_type) || !param || strcmp(param, "ML-KEM-768")) {
			tap_ok(0, "%s: unexpected group type %s / %s", file,
			       type ? type : "?", param ? param : "?");
			continue;
		}
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(g, "tests")) {
			const char *result = jstr(t, "result"), *comment = jstr(t, "comment");
			bool ok = result && fn(t, result);

			flags_text(flags, sizeof(flags), t);
			total++;
			passed += ok;
			tap_ok(ok, "%s tcId %d %s%s%s%s", file, vec_int(t, "tcId"),
			       result ? result : "?", flags, comment && *comment ? ": " : "",
			       comment ? comment : "");
		}
	}
	cJSON_Delete(root);
	tap_diag("%s: %d/%d vectors passed", file, passed, total);
	tap_ok(total > 0, "%s has vectors", file);
}

/* ------------------------------------------------------------------ */
/* CCTV text files: "name = value" lines                               */

struct kv {
	char *name, *value, *first;
};

struct kvfile {
	struct kv *items;
	size_t n;
	char *text;
};

/* The name is what precedes the first " = ", the value what follows the
 * last one: "A[0, 0] = {decimal} = hex" gives a polynomial both ways, and
 * "dkPKE = NTT(s) = hex" names one value twice. */
static int kv_parse(struct kvfile *f, char *text)
{
	size_t cap = 0;

	f->text = text;
	f->items = NULL;
	f->n = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *first = strstr(line, " = "), *last = first, *p;

		if (!first)
			continue;
		while ((p = strstr(last + 3, " = ")))
			last = p;
		if (f->n == cap) {
			struct kv *ni = realloc(f->items, (cap = cap ? 2 * cap : 64) * sizeof(*ni));

			if (!ni)
				return -ENOMEM;
			f->items = ni;
		}
		*first = 0;
		f->items[f->n].name = line;
		f->items[f->n].value = last + 3;
		f->items[f->n].first = first + 3;
		f->n++;
	}
	return 0;
}

static void kv_free(struct kvfile *f)
{
	free(f->items);
	free(f->text);
}

static const struct kv *kv_find(const struct kvfile *f, const char *name, int nth)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->items[i].name, name) && nth-- == 0)
			return &f->items[i];
	return NULL;
}

/* The nth (from 0) value named name, or NULL. */
static const char *kv_get(const struct kvfile *f, const char *name, int nth)
{
	const struct kv *kv = kv_find(f, name, nth);

	return kv ? kv->value : NULL;
}

static bool kv_bytes_eq(const struct kvfile *f, const char *name, int nth,
			const uint8_t *want, size_t len)
{
	const char *hex = kv_get(f, name, nth);
	struct bytes b;
	bool ok;

	if (!hex || unhex(&b, hex))
		return false;
	ok = eq(want, &b, len);
	free(b.p);
	return ok;
}

static int kv_bytes(const struct kvfile *f, const char *name, int nth, struct bytes *b, size_t len)
{
	const char *hex = kv_get(f, name, nth);

	b->p = NULL;
	if (!hex || unhex(b, hex))
		return -EINVAL;
	if (b->len != len) {
		free(b->p);
		b->p = NULL;
		return -EINVAL;
	}
	return 0;
}

/* "{1, 2, 3, ...}" against 256 coefficients */
static bool kv_coeffs_eq(const struct kvfile *f, const char *name, const uint16_t *want)
{
	const struct kv *kv = kv_find(f, name, 0);
	const char *s = kv ? kv->first : NULL;
	char *end;

	if (!s || *s++ != '{')
		return false;
	for (int i = 0; i < MLKEM_N; i++) {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || v != want[i])
			return false;
		s = end;
		if (*s == ',')
			s++;
	}
	return *s == '}';
}

static bool load_kvfile(struct kvfile *f, const char *name)
{
	char path[256];
	uint8_t *text;
	size_t len;

	snprintf(path, sizeof(path), "cctv-mlkem/%s", name);
	if (vec_read(path, &text, &len))
		return false;
	if (kv_parse(f, (char *)text)) {
		free(text);
		tap_ok(0, "%s parses", name);
		return false;
	}
	return true;
}

/* ML-KEM.KeyGen as in the FIPS 203 initial public draft: G(d), no k. */
static void keygen_ipd(uint8_t pk[PK_BYTES], uint8_t sk[SK_BYTES], const uint8_t d[32],
		       const uint8_t z[32])
{
	uint8_t rs[64];

	ctfs_sha3_512(rs, d, 32);
	ctfs_mlkem_kpke_keygen(pk, sk, rs, rs + 32);
	memcpy(sk + KPKE_DK_BYTES, pk, PK_BYTES);
	ctfs_sha3_256(sk + KPKE_DK_BYTES + PK_BYTES, pk, PK_BYTES);
	memcpy(sk + KPKE_DK_BYTES + PK_BYTES + 32, z, 32);
}

static void encode_vec(uint8_t out[KPKE_VEC_BYTES], const struct mlkem_poly v[MLKEM768_K])
{
	for (int i = 0; i < MLKEM768_K; i++)
		ctfs_mlkem_poly_encode12(out + i * P12, &v[i]);
}

static void unpack(uint16_t out[MLKEM_N], const uint8_t *in, unsigned int d)
{
	for (unsigned int i = 0; i < MLKEM_N; i++) {
		uint32_t v = 0;

		for (unsigned int b = 0; b < d; b++) {
			unsigned int bit = i * d + b;

			v |= (uint32_t)(in[bit / 8] >> (bit % 8) & 1) << b;
		}
		out[i] = (uint16_t)v;
	}
}

struct interm {
	struct kvfile f;
	struct bytes d, z, m;
	uint8_t rho_sigma[64], pk[PK_BYTES], sk[SK_BYTES], kr[64], ct[CT_BYTES];
	struct mlkem_poly s[MLKEM768_K], y[MLKEM768_K], u[MLKEM768_K], v;
};

static void interm_keygen(struct interm *it)
{
	struct mlkem_poly a[MLKEM768_K * MLKEM768_K], e[MLKEM768_K];
	uint8_t buf[MLKEM768_K * MLKEM768_K * P12];
	const uint8_t *rho = it->rho_sigma, *sigma = it->rho_sigma + 32;

	ctfs_sha3_512(it->rho_sigma, it->d.p, 32);
	tap_ok(kv_bytes_eq(&it->f, "ρ", 0, rho, 32) && kv_bytes_eq(&it->f, "σ", 0, sigma, 32),
	       "intermediate: (rho, sigma) = G(d)");
	for (unsigned int i = 0; i < MLKEM768_K; i++)
		for (unsigned int j = 0; j < MLKEM768_K; j++) {
			ctfs_mlkem_matrix_entry(&a[i * MLKEM768_K + j], rho, i, j);
			ctfs_mlkem_poly_encode12(buf + (i * MLKEM768_K + j) * P12,
						 &a[i * MLKEM768_K + j]);
		}
	tap_ok(kv_coeffs_eq(&it->f, "A[0, 0]", a[0].c) && kv_bytes_eq(&it->f, "A[0, 0]", 0, buf, P12),
	       "intermediate: SampleNTT A[0, 0]");
	tap_ok(kv_bytes_eq(&it->f, "A", 0, buf, sizeof(buf)), "intermediate: matrix A");
	for (int i = 0; i < MLKEM768_K; i++) {
		ctfs_mlkem_sample_cbd2(&it->s[i], sigma, (uint8_t)i);
		ctfs_mlkem_sample_cbd2(&e[i], sigma, (uint8_t)(MLKEM768_K + i));
	}
	encode_vec(buf, it->s);
	tap_ok(kv_coeffs_eq(&it->f, "s[0]", it->s[0].c) && kv_bytes_eq(&it->f, "s", 0, buf, KPKE_VEC_BYTES),
	       "intermediate: SamplePolyCBD s");
	encode_vec(buf, e);
	tap_ok(kv_bytes_eq(&it->f, "e", 0, buf, KPKE_VEC_BYTES), "intermediate: SamplePolyCBD e");
	for (int i = 0; i < MLKEM768_K; i++) {
		ctfs_mlkem_ntt(&it->s[i]);
		ctfs_mlkem_ntt(&e[i]);
	}
	encode_vec(buf, it->s);
	tap_ok(kv_coeffs_eq(&it->f, "NTT(s[0])", it->s[0].c) &&
	       kv_bytes_eq(&it->f, "dkPKE", 0, buf, KPKE_VEC_BYTES), "intermediate: NTT(s)");
	encode_vec(buf, e);
	tap_ok(kv_bytes_eq(&it->f, "NTT(e)", 0, buf, KPKE_VEC_BYTES), "intermediate: NTT(e)");

	keygen_ipd(it->pk, it->sk, it->d.p, it->z.p);
	tap_ok(kv_bytes_eq(&it->f, "t", 0, it->pk, KPKE_VEC_BYTES) &&
	       kv_bytes_eq(&it->f, "ek", 0, it->pk, PK_BYTES), "intermediate: t and ek");
	tap_ok(kv_bytes_eq(&it->f, "H(ek)", 0, it->sk + KPKE_DK_BYTES + PK_BYTES, 32) &&
	       kv_bytes_eq(&it->f, "dk", 0, it->sk, SK_BYTES), "intermediate: H(ek) and dk");
}

static void interm_encrypt(struct interm *it)
{
	uint8_t buf[KPKE_VEC_BYTES], at[MLKEM768_K * KPKE_VEC_BYTES], h[32];
	uint8_t *r = it->kr + 32;
	const uint8_t *rho = it->pk + KPKE_VEC_BYTES;
	struct mlkem_poly a, e, t, mu;
	uint16_t coeffs[MLKEM_N];
	struct ctfs_keccak g;

	ctfs_sha3_256(h, it->pk, PK_BYTES);
	ctfs_sha3_512_init(&g);
	ctfs_keccak_absorb(&g, it->m.p, 32);
	ctfs_keccak_absorb(&g, h, 32);
	ctfs_keccak_squeeze(&g, it->kr, 64);
	tap_ok(kv_bytes_eq(&it->f, "K", 0, it->kr, 32) && kv_bytes_eq(&it->f, "r", 0, r, 32),
	       "intermediate: (K, r) = G(m || H(ek))");
	ctfs_mlkem_poly_decompress(&mu, it->m.p, 1);
	ctfs_mlkem_poly_encode12(buf, &mu);
	tap_ok(kv_bytes_eq(&it->f, "μ", 0, buf, P12), "intermediate: mu = Decompress_1(m)");

	for (unsigned int i = 0; i < MLKEM768_K; i++)
		for (unsigned int j = 0; j < MLKEM768_K; j++) {
			ctfs_mlkem_matrix_entry(&a, rho, j, i);
			ctfs_mlkem_poly_encode12(at + (i * MLKEM768_K + j) * P12, &a);
		}
	tap_ok(kv_bytes_eq(&it->f, "A^T", 0, at, sizeof(at)), "intermediate: matrix A^T");

	for (int i = 0; i < MLKEM768_K; i++)
		ctfs_mlkem_sample_cbd2(&it->y[i], r, (uint8_t)i);
	encode_vec(buf, it->y);
	tap_ok(kv_bytes_eq(&it->f, "r", 1, buf, KPKE_VEC_BYTES), "intermediate: y (\"r\") sampled");
	for (int i = 0; i < MLKEM768_K; i++)
		ctfs_mlkem_ntt(&it->y[i]);
	encode_vec(buf, it->y);
	tap_ok(kv_bytes_eq(&it->f, "NTT(r)", 0, buf, KPKE_VEC_BYTES), "intermediate: NTT(y)");

	for (int i = 0; i < MLKEM768_K; i++) {
		memset(&it->u[i], 0, sizeof(it->u[i]));
		for (int j = 0; j < MLKEM768_K; j++) {
			ctfs_mlkem_matrix_entry(&a, rho, (unsigned int)j, (unsigned int)i);
			ctfs_mlkem_poly_mul_acc(&it->u[i], &a, &it->y[j]);
		}
		ctfs_mlkem_invntt(&it->u[i]);
		ctfs_mlkem_sample_cbd2(&e, r, (uint8_t)(MLKEM768_K + i));
		ctfs_mlkem_poly_encode12(buf + i * P12, &e);
		ctfs_mlkem_poly_add(&it->u[i], &it->u[i], &e);
	}
	tap_ok(kv_bytes_eq(&it->f, "e1", 0, buf, KPKE_VEC_BYTES), "intermediate: e1");
	ctfs_mlkem_sample_cbd2(&e, r, 2 * MLKEM768_K);
	ctfs_mlkem_poly_encode12(buf, &e);
	tap_ok(kv_bytes_eq(&it->f, "e2", 0, buf, P12), "intermediate: e2");
	encode_vec(buf, it->u);
	tap_ok(kv_coeffs_eq(&it->f, "u[0]", it->u[0].c) &&
	       kv_bytes_eq(&it->f, "u", 0, buf, KPKE_VEC_BYTES), "intermediate: u");

	memset(&it->v, 0, sizeof(it->v));
	for (int i = 0; i < MLKEM768_K; i++) {
		ctfs_mlkem_poly_decode12(&t, it->pk + i * P12);
		ctfs_mlkem_poly_mul_acc(&it->v, &t, &it->y[i]);
	}
	ctfs_mlkem_invntt(&it->v);
	ctfs_mlkem_poly_add(&it->v, &it->v, &e);
	ctfs_mlkem_poly_add(&it->v, &it->v, &mu);
	ctfs_mlkem_poly_encode12(buf, &it->v);
	tap_ok(kv_coeffs_eq(&it->f, "v", it->v.c) && kv_bytes_eq(&it->f, "v", 0, buf, P12),
	       "intermediate: v");

	for (int i = 0; i < MLKEM768_K; i++)
		ctfs_mlkem_poly_compress(it->ct + i * MLKEM_POLY_BYTES(10), &it->u[i], 10);
	ctfs_mlkem_poly_compress(it->ct + KPKE_U_BYTES, &it->v, 4);
	unpack(coeffs, it->ct, 10);
	tap_ok(kv_coeffs_eq(&it->f, "compress(u[0])", coeffs) &&
	       kv_bytes_eq(&it->f, "c1", 0, it->ct, KPKE_U_BYTES), "intermediate: c1 = Compress_10(u)");
	unpack(coeffs, it->ct + KPKE_U_BYTES, 4);
	tap_ok(kv_coeffs_eq(&it->f, "compress(v)", coeffs) &&
	       kv_bytes_eq(&it->f, "c2", 0, it->ct + KPKE_U_BYTES, CT_BYTES - KPKE_U_BYTES),
	       "intermediate: c2 = Compress_4(v)");
	tap_ok(kv_bytes_eq(&it->f, "c", 0, it->ct, CT_BYTES), "intermediate: c");
}

static void interm_decrypt(struct interm *it)
{
	uint8_t buf[KPKE_VEC_BYTES], ct[CT_BYTES], ss[32], kbar[32], zc[32 + CT_BYTES];
	struct mlkem_poly ud[MLKEM768_K], vd, w;

	for (int i = 0; i < MLKEM768_K; i++)
		ctfs_mlkem_poly_decompress(&ud[i], it->ct + i * MLKEM_POLY_BYTES(10), 10);
	encode_vec(buf, ud);
	tap_ok(kv_bytes_eq(&it->f, "uᵈ", 0, buf, KPKE_VEC_BYTES), "intermediate: Decompress_10(c1)");
	memset(&w, 0, sizeof(w));
	for (int i = 0; i < MLKEM768_K; i++) {
		ctfs_mlkem_ntt(&ud[i]);
		ctfs_mlkem_poly_mul_acc(&w, &it->s[i], &ud[i]);
	}
	encode_vec(buf, ud);
	tap_ok(kv_bytes_eq(&it->f, "NTT(uᵈ)", 0, buf, KPKE_VEC_BYTES), "intermediate: NTT(u')");
	ctfs_mlkem_poly_decompress(&vd, it->ct + KPKE_U_BYTES, 4);
	ctfs_mlkem_poly_encode12(buf, &vd);
	tap_ok(kv_bytes_eq(&it->f, "vᵈ", 0, buf, P12), "intermediate: Decompress_4(c2)");
	ctfs_mlkem_invntt(&w);
	ctfs_mlkem_poly_sub(&w, &vd, &w);
	ctfs_mlkem_poly_encode12(buf, &w);
	tap_ok(kv_bytes_eq(&it->f, "w", 0, buf, P12), "intermediate: w");

	memcpy(zc, it->z.p, 32);
	memcpy(zc + 32, it->ct, CT_BYTES);
	ctfs_shake256(kbar, 32, zc, sizeof(zc));
	tap_ok(kv_bytes_eq(&it->f, "KBar", 0, kbar, 32), "intermediate: KBar = J(z || c)");

	tap_ok(ctfs_mlkem768_encaps_derand(ct, ss, it->pk, it->m.p) == 0 &&
	       memcmp(ct, it->ct, CT_BYTES) == 0 && memcmp(ss, it->kr, 32) == 0,
	       "intermediate: ML-KEM.Encaps gives c and K");
	tap_ok(ctfs_mlkem768_decaps(ss, ct, it->sk) == 0 && memcmp(ss, it->kr, 32) == 0,
	       "intermediate: ML-KEM.Decaps gives K");
	/* a ciphertext one bit off must come back as J(z || c') */
	zc[32 + 100] ^= 0x10;
	ctfs_shake256(kbar, 32, zc, sizeof(zc));
	tap_ok(ctfs_mlkem768_decaps(ss, zc + 32, it->sk) == 0 && memcmp(ss, kbar, 32) == 0,
	       "intermediate: implicit rejection of a modified c");
}

static void test_intermediate(void)
{
	static struct interm it;
	int before = tap_n, failed = tap_failed;

	if (!load_kvfile(&it.f, "intermediate-ML-KEM-768.txt"))
		return;
	if (kv_bytes(&it.f, "d", 0, &it.d, 32) || kv_bytes(&it.f, "z", 0, &it.z, 32) ||
	    kv_bytes(&it.f, "m", 0, &it.m, 32)) {
		tap_ok(0, "intermediate: d, z, m present");
	} else {
		interm_keygen(&it);
		interm_encrypt(&it);
		interm_decrypt(&it);
	}
	tap_diag("intermediate-ML-KEM-768.txt: %d/%d checks of 1 vector passed",
		 (tap_n - before) - (tap_failed - failed), tap_n - before);
	free(it.d.p);
	free(it.z.p);
	free(it.m.p);
	kv_free(&it.f);
}

static void test_strcmp(void)
{
	struct kvfile f;
	struct bytes dk = { 0 }, c = { 0 };
	uint8_t ss[32];
	bool ok;

	if (!load_kvfile(&f, "strcmp-ML-KEM-768.txt"))
		return;
	ok = !kv_bytes(&f, "dk", 0, &dk, SK_BYTES) && !kv_bytes(&f, "c", 0, &c, CT_BYTES) &&
	     ctfs_mlkem768_decaps(ss, c.p, dk.p) == 0 && kv_bytes_eq(&f, "K", 0, ss, 32);
	tap_ok(ok, "strcmp-ML-KEM-768.txt: decapsulation takes implicit rejection");
	tap_diag("strcmp-ML-KEM-768.txt: %d/1 vectors passed", ok);
	free(dk.p);
	free(c.p);
	kv_free(&f);
}

/* The most XOF bytes any matrix entry needs for this rho. */
static size_t max_sample_bytes(const uint8_t rho[32])
{
	struct mlkem_poly a;
	size_t most = 0;

	for (unsigned int i = 0; i < MLKEM768_K; i++)
		for (unsigned int j = 0; j < MLKEM768_K; j++) {
			size_t n = ctfs_mlkem_sample_ntt(&a, rho, (uint8_t)j, (uint8_t)i);

			most = n > most ? n : most;
		}
	return most;
}

static void test_unlucky(void)
{
	static uint8_t pk[PK_BYTES], sk[SK_BYTES], ct[CT_BYTES];
	struct kvfile f;
	struct bytes d = { 0 }, z = { 0 }, m = { 0 };
	uint8_t ss[32];
	size_t most = 0;
	bool ok;

	if (!load_kvfile(&f, "unluckysample-ML-KEM-768.txt"))
		return;
	ok = !kv_bytes(&f, "d", 0, &d, 32) && !kv_bytes(&f, "z", 0, &z, 32) &&
	     !kv_bytes(&f, "m", 0, &m, 32);
	if (ok) {
		keygen_ipd(pk, sk, d.p, z.p);
		most = max_sample_bytes(pk + KPKE_VEC_BYTES);
		ok = kv_bytes_eq(&f, "ek", 0, pk, PK_BYTES) && kv_bytes_eq(&f, "dk", 0, sk, SK_BYTES);
		tap_ok(ok, "unluckysample: key pair (draft KeyGen)");
		tap_ok(most > 575, "unluckysample: SampleNTT needed %zu XOF bytes (> 575)", most);
		ok = ok && most > 575;
		ok &= tap_ok(ctfs_mlkem768_encaps_derand(ct, ss, pk, m.p) == 0 &&
			     kv_bytes_eq(&f, "c", 0, ct, CT_BYTES) && kv_bytes_eq(&f, "K", 0, ss, 32),
			     "unluckysample: encapsulation");
		ok &= tap_ok(ctfs_mlkem768_decaps(ss, ct, sk) == 0 && kv_bytes_eq(&f, "K", 0, ss, 32),
			     "unluckysample: decapsulation");
	} else {
		tap_ok(0, "unluckysample: d, z, m present");
	}
	tap_diag("unluckysample-ML-KEM-768.txt: %d/1 vectors passed", ok);
	free(d.p);
	free(z.p);
	free(m.p);
	kv_free(&f);
}

/* ------------------------------------------------------------------ */
/* CCTV accumulated pq-crystals test: inputs from one SHAKE128 stream,
 * every output into another, compare the final digest. */

static void test_accumulated(int iterations, const char *want_hex, bool draft)
{
	static uint8_t pk[PK_BYTES], sk[SK_BYTES], ct[CT_BYTES], bad_ct[CT_BYTES];
	struct ctfs_keccak in, out;
	uint8_t d[32], z[32], m[32], ss[32], ss2[32], digest[32];
	struct bytes want = { 0 };
	bool roundtrip = true;

	ctfs_shake128_init(&in);
	ctfs_shake128_init(&out);
	for (int i = 0; i < iterations; i++) {
		ctfs_keccak_squeeze(&in, d, 32);
		ctfs_keccak_squeeze(&in, z, 32);
		ctfs_keccak_squeeze(&in, m, 32);
		ctfs_keccak_squeeze(&in, bad_ct, CT_BYTES);
		if (draft)
			keygen_ipd(pk, sk, d, z);
		else
			ctfs_mlkem768_keypair_derand(pk, sk, d, z);
		ctfs_keccak_absorb(&out, pk, PK_BYTES);
		ctfs_keccak_absorb(&out, sk, SK_BYTES);
		roundtrip &= ctfs_mlkem768_encaps_derand(ct, ss, pk, m) == 0;
		ctfs_keccak_absorb(&out, ct, CT_BYTES);
		ctfs_keccak_absorb(&out, ss, 32);
		roundtrip &= ctfs_mlkem768_decaps(ss2, ct, sk) == 0 && !memcmp(ss, ss2, 32);
		roundtrip &= ctfs_mlkem768_decaps(ss2, bad_ct, sk) == 0;
		ctfs_keccak_absorb(&out, ss2, 32);
	}
	ctfs_keccak_squeeze(&out, digest, 32);
	tap_ok(roundtrip, "accumulated: %d encaps/decaps round trips", iterations);
	tap_ok(!unhex(&want, want_hex) && eq(digest, &want, 32),
	       "accumulated: %d pq-crystals tests (%s KeyGen) hash to %.16s...", iterations,
	       draft ? "draft" : "final", want_hex);
	free(want.p);
}

/* ------------------------------------------------------------------ */

static void test_api_checks(void)
{
	static uint8_t pk[PK_BYTES], sk[SK_BYTES], ct[CT_BYTES];
	uint8_t ss[32], ss2[32];

	tap_ok(ctfs_mlkem768_keypair(pk, sk) == 0, "random keypair");
	tap_ok(ctfs_mlkem768_encaps(ct, ss, pk) == 0 && ctfs_mlkem768_decaps(ss2, ct, sk) == 0 &&
	       memcmp(ss, ss2, 32) == 0, "random encaps/decaps agree");
	tap_ok(ctfs_mlkem768_encaps_sized(ct, ss, pk, PK_BYTES - 1) == -EINVAL &&
	       ctfs_mlkem768_decaps_sized(ss, ct, CT_BYTES + 1, sk, SK_BYTES) == -EINVAL &&
	       ctfs_mlkem768_decaps_sized(ss, ct, CT_BYTES, sk, SK_BYTES - 1) == -EINVAL &&
	       ctfs_mlkem768_keypair_from_seed(pk, sk, sk, 63) == -EINVAL,
	       "wrong lengths are refused with -EINVAL");
	pk[0] = 0xff;
	pk[1] |= 0x0f; /* first coefficient 4095 >= q */
	tap_ok(ctfs_mlkem768_encaps(ct, ss, pk) == -EINVAL, "unreduced ek refused");
	sk[KPKE_DK_BYTES + 5] ^= 1;
	tap_ok(ctfs_mlkem768_decaps(ss, ct, sk) == -EINVAL, "dk with a stale H(ek) refused");
}

int main(void)
{
	test_api_checks();
	run_wycheproof("mlkem_768_test.json", "MLKEMTest", run_mlkem_test);
	run_wycheproof("mlkem_768_keygen_seed_test.json", "MLKEMKeyGen", run_keygen_test);
	run_wycheproof("mlkem_768_encaps_test.json", "MLKEMEncapsTest", run_encaps_test);
	run_wycheproof("mlkem_768_semi_expanded_decaps_test.json", "MLKEMDecapsValidationTest",
		       run_decaps_test);
	test_intermediate();
	test_strcmp();
	test_unlucky();
	test_accumulated(10000, "f7db260e1137a742e05fe0db9525012812b004d29040a5b606aad3d134b548d3", true);
	return tap_done();
}
