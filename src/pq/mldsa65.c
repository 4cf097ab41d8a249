/* ML-DSA-65 key generation, signing and verification (FIPS 204 Alg. 1-3,
 * 6-8). The matrix and vectors live in one heap work area per call (about
 * 80 KiB, too much for the stack of a FUSE worker thread); the signing and
 * key generation areas are wiped before they are freed. */
#include "pq/mldsa65.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pq/fips202.h"
#include "pq/mldsa_internal.h"

/* IntegerToBytes(kappa + r, 2) must not wrap; reaching this takes about
 * 13000 rejections, which a key made by KeyGen never needs. */
#define MAX_KAPPA (UINT16_MAX + 1 - MLDSA_L)

struct keygen_area {
	struct mldsa_poly a[MLDSA_K][MLDSA_L];
	struct mldsa_poly s1[MLDSA_L], s1hat[MLDSA_L], s2[MLDSA_K];
	struct mldsa_poly t[MLDSA_K], t1[MLDSA_K], t0[MLDSA_K];
	uint8_t seeds[2 * MLDSA_SEED_BYTES + MLDSA_CRH_BYTES];	/* rho, rho', K */
	uint8_t tr[MLDSA_CRH_BYTES];
};

struct sign_area {
	struct mldsa_poly a[MLDSA_K][MLDSA_L];
	struct mldsa_poly s1[MLDSA_L], s2[MLDSA_K], t0[MLDSA_K];	/* NTT domain */
	struct mldsa_poly y[MLDSA_L], yhat[MLDSA_L], z[MLDSA_L];
	struct mldsa_poly w[MLDSA_K], w1[MLDSA_K], r[MLDSA_K], h[MLDSA_K];
	struct mldsa_poly c, tmp;
	uint8_t rho[MLDSA_SEED_BYTES], key[MLDSA_SEED_BYTES];
	uint8_t tr[MLDSA_CRH_BYTES], mu[MLDSA_CRH_BYTES], rhopp[MLDSA_CRH_BYTES];
	uint8_t ctilde[MLDSA_CTILDE_BYTES], w1buf[MLDSA_W1_BYTES];
};

struct verify_area {
	struct mldsa_poly a[MLDSA_K][MLDSA_L];
	struct mldsa_poly t1[MLDSA_K], z[MLDSA_L], h[MLDSA_K], w[MLDSA_K];
	struct mldsa_poly c, tmp;
	uint8_t rho[MLDSA_SEED_BYTES], tr[MLDSA_CRH_BYTES], mu[MLDSA_CRH_BYTES];
	uint8_t ctilde[MLDSA_CTILDE_BYTES], ctilde2[MLDSA_CTILDE_BYTES];
	uint8_t w1buf[MLDSA_W1_BYTES];
};

static void absorb(struct ctfs_keccak *st, const uint8_t *p, size_t len)
{
	if (len)
		ctfs_keccak_absorb(st, p, len);
}

/* mu = H(tr || M', 64) with M' = 0 || ctxlen || ctx || msg (Alg. 2, 7). */
static int hash_mu(uint8_t mu[MLDSA_CRH_BYTES], const uint8_t tr[MLDSA_CRH_BYTES],
		   const uint8_t *msg, size_t msglen, const uint8_t *ctx, size_t ctxlen)
{
	uint8_t prefix[2] = { 0, (uint8_t)ctxlen };
	struct ctfs_keccak st;

	if (ctxlen > CTFS_MLDSA65_CTX_MAX || (ctxlen && !ctx) || (msglen && !msg))
		return -EINVAL;
	ctfs_shake256_init(&st);
	absorb(&st, tr, MLDSA_CRH_BYTES);
	absorb(&st, prefix, sizeof(prefix));
	absorb(&st, ctx, ctxlen);
	absorb(&st, msg, msglen);
	ctfs_keccak_squeeze(&st, mu, MLDSA_CRH_BYTES);
	ctfs_keccak_wipe(&st);
	return 0;
}

/* r = A * v for v in the NTT domain; r comes out in [0, q). */
static void matrix_mul(struct mldsa_poly r[MLDSA_K], struct mldsa_poly a[MLDSA_K][MLDSA_L],
		       const struct mldsa_poly v[MLDSA_L])
{
	for (unsigned int i = 0; i < MLDSA_K; i++) {
		ctfs_mldsa_pointwise_mont(&r[i], &a[i][0], &v[0]);
		for (unsigned int j = 1; j < MLDSA_L; j++)
			ctfs_mldsa_pointwise_acc_mont(&r[i], &a[i][j], &v[j]);
		ctfs_mldsa_invntt_mont(&r[i]);
		ctfs_mldsa_poly_mod_q(&r[i]);
	}
}

/* out = NTT^-1(c * v), centred; c and v in the NTT domain. */
static void mul_centred(struct mldsa_poly *out, const struct mldsa_poly *c,
			const struct mldsa_poly *v)
{
	ctfs_mldsa_pointwise_mont(out, c, v);
	ctfs_mldsa_invntt_mont(out);
	ctfs_mldsa_poly_mod_pm_q(out);
}

static void keygen(struct keygen_area *ka, uint8_t *pk, uint8_t *sk,
		   const uint8_t seed[MLDSA_SEED_BYTES])
{
	const uint8_t *rho = ka->seeds, *rhop = rho + MLDSA_SEED_BYTES;
	const uint8_t *key = rhop + MLDSA_CRH_BYTES;
	uint8_t dims[2] = { MLDSA_K, MLDSA_L };
	struct ctfs_keccak st;

	ctfs_shake256_init(&st);
	ctfs_keccak_absorb(&st, seed, MLDSA_SEED_BYTES);
	ctfs_keccak_absorb(&st, dims, sizeof(dims));
	ctfs_keccak_squeeze(&st, ka->seeds, sizeof(ka->seeds));
	ctfs_keccak_wipe(&st);

	ctfs_mldsa_expand_a(ka->a, rho);
	ctfs_mldsa_expand_s(ka->s1, ka->s2, rhop);
	for (unsigned int i = 0; i < MLDSA_L; i++) {
		ka->s1hat[i] = ka->s1[i];
		ctfs_mldsa_ntt(&ka->s1hat[i]);
	}
	matrix_mul(ka->t, ka->a, ka->s1hat);
	for (unsigned int i = 0; i < MLDSA_K; i++) {
		ctfs_mldsa_poly_add(&ka->t[i], &ka->t[i], &ka->s2[i]);
		ctfs_mldsa_poly_mod_q(&ka->t[i]);
		ctfs_mldsa_poly_power2round(&ka->t1[i], &ka->t0[i], &ka->t[i]);
	}
	ctfs_mldsa_pk_encode(pk, rho, ka->t1);
	ctfs_shake256(ka->tr, sizeof(ka->tr), pk, CTFS_MLDSA65_PK_BYTES);
	ctfs_mldsa_sk_encode(sk, rho, key, ka->tr, ka->s1, ka->s2, ka->t0);
}

int ctfs_mldsa65_keypair_from_seed(uint8_t *pk, uint8_t *sk, const uint8_t seed[32])
{
	struct keygen_area *ka;

	if (!pk || !sk || !seed)
		return -EINVAL;
	ka = malloc(sizeof(*ka));
	if (!ka)
		return -ENOMEM;
	keygen(ka, pk, sk, seed);
	sodium_memzero(ka, sizeof(*ka));
	free(ka);
	return 0;
}

int ctfs_mldsa65_keypair(uint8_t *pk, uint8_t *sk)
{
	uint8_t seed[MLDSA_SEED_BYTES];
	int rc;

	if (sodium_init() < 0)
		return -EIO;
	randombytes_buf(seed, sizeof(seed));
	rc = ctfs_mldsa65_keypair_from_seed(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

/*
 * One pass of the rejection loop of Alg. 7 (steps 11-31). Every check is
 * computed before the single branch on their union, so timing tells the
 * number of passes and nothing about which bound failed.
 */
static int sign_attempt(struct sign_area *sa, uint16_t kappa)
{
	unsigned int ones = 0;
	uint32_t reject = 0;
	struct ctfs_keccak st;

	ctfs_mldsa_expand_mask(sa->y, sa->rhopp, kappa);
	for (unsigned int i = 0; i < MLDSA_L; i++) {
		sa->yhat[i] = sa->y[i];
		ctfs_mldsa_ntt(&sa->yhat[i]);
	}
	matrix_mul(sa->w, sa->a, sa->yhat);
	for (unsigned int i = 0; i < MLDSA_K; i++)
		ctfs_mldsa_poly_highbits(&sa->w1[i], &sa->w[i]);
	ctfs_mldsa_w1_encode(sa->w1buf, sa->w1);
	ctfs_shake256_init(&st);
	ctfs_keccak_absorb(&st, sa->mu, sizeof(sa->mu));
	ctfs_keccak_absorb(&st, sa->w1buf, sizeof(sa->w1buf));
	ctfs_keccak_squeeze(&st, sa->ctilde, sizeof(sa->ctilde));
	ctfs_keccak_wipe(&st);
	ctfs_mldsa_sample_in_ball(&sa->c, sa->ctilde);
	ctfs_mldsa_ntt(&sa->c);

	for (unsigned int i = 0; i < MLDSA_L; i++) {
		mul_centred(&sa->tmp, &sa->c, &sa->s1[i]);
		ctfs_mldsa_poly_add(&sa->z[i], &sa->y[i], &sa->tmp);
		reject |= (uint32_t)ctfs_mldsa_poly_exceeds(&sa->z[i], MLDSA_GAMMA1 - MLDSA_BETA);
	}
	for (unsigned int i = 0; i < MLDSA_K; i++) {
		/* r = w - c s2, then its low bits must stay clear of the edge. */
		mul_centred(&sa->tmp, &sa->c, &sa->s2[i]);
		ctfs_mldsa_poly_sub(&sa->r[i], &sa->w[i], &sa->tmp);
		ctfs_mldsa_poly_mod_q(&sa->r[i]);
		ctfs_mldsa_poly_lowbits(&sa->tmp, &sa->r[i]);
		reject |= (uint32_t)ctfs_mldsa_poly_exceeds(&sa->tmp, MLDSA_GAMMA2 - MLDSA_BETA);
		/* h = MakeHint(-c t0, r + c t0). */
		mul_centred(&sa->tmp, &sa->c, &sa->t0[i]);
		reject |= (uint32_t)ctfs_mldsa_poly_exceeds(&sa->tmp, MLDSA_GAMMA2);
		ctfs_mldsa_poly_add(&sa->w[i], &sa->r[i], &sa->tmp);
		ctfs_mldsa_poly_mod_q(&sa->w[i]);
		ones += ctfs_mldsa_poly_make_hint(&sa->h[i], &sa->w[i], &sa->r[i]);
	}
	reject |= (uint32_t)(MLDSA_OMEGA - (int32_t)ones) >> 31;
	return reject ? -EAGAIN : 0;
}

/* Alg. 7 from step 7 on; sk is decoded and mu set. */
static int sign_core(struct sign_area *sa, uint8_t *sig, const uint8_t *rnd)
{
	static const uint8_t zero_rnd[CTFS_MLDSA65_RND_BYTES];
	struct ctfs_keccak st;
	uint32_t kappa;

	ctfs_shake256_init(&st);
	ctfs_keccak_absorb(&st, sa->key, sizeof(sa->key));
	ctfs_keccak_absorb(&st, rnd ? rnd : zero_rnd, CTFS_MLDSA65_RND_BYTES);
	ctfs_keccak_absorb(&st, sa->mu, sizeof(sa->mu));
	ctfs_keccak_squeeze(&st, sa->rhopp, sizeof(sa->rhopp));
	ctfs_keccak_wipe(&st);

	for (unsigned int i = 0; i < MLDSA_L; i++)
		ctfs_mldsa_ntt(&sa->s1[i]);
	for (unsigned int i = 0; i < MLDSA_K; i++) {
		ctfs_mldsa_ntt(&sa->s2[i]);
		ctfs_mldsa_ntt(&sa->t0[i]);
	}
	ctfs_mldsa_expand_a(sa->a, sa->rho);
	for (kappa = 0; kappa <= MAX_KAPPA; kappa += MLDSA_L) {
		if (sign_attempt(sa, (uint16_t)kappa) == 0) {
			ctfs_mldsa_sig_encode(sig, sa->ctilde, sa->z, sa->h);
			return 0;
		}
	}
	return -EINVAL;
}

/* Decodes sk into a fresh area; mu is left for the caller. */
static int sign_area_new(struct sign_area **out, const uint8_t *sk)
{
	struct sign_area *sa;
	int rc;

	sa = malloc(sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	rc = ctfs_mldsa_sk_decode(sa->rho, sa->key, sa->tr, sa->s1, sa->s2, sa->t0, sk);
	if (rc) {
		sodium_memzero(sa, sizeof(*sa));
		free(sa);
		return rc;
	}
	*out = sa;
	return 0;
}

static void sign_area_free(struct sign_area *sa)
{
	sodium_memzero(sa, sizeof(*sa));
	free(sa);
}

int ctfs_mldsa65_sign(uint8_t *sig, const uint8_t *msg, size_t msglen,
		      const uint8_t *ctx, size_t ctxlen, const uint8_t *sk,
		      const uint8_t *rnd)
{
	struct sign_area *sa;
	int rc;

	if (!sig || !sk || ctxlen > CTFS_MLDSA65_CTX_MAX)
		return -EINVAL;
	rc = sign_area_new(&sa, sk);
	if (rc)
		return rc;
	rc = hash_mu(sa->mu, sa->tr, msg, msglen, ctx, ctxlen);
	if (!rc)
		rc = sign_core(sa, sig, rnd);
	sign_area_free(sa);
	return rc;
}

int ctfs_mldsa65_sign_mu(uint8_t *sig, const uint8_t mu[64], const uint8_t *sk,
			 const uint8_t *rnd)
{
	struct sign_area *sa;
	int rc;

	if (!sig || !mu || !sk)
		return -EINVAL;
	rc = sign_area_new(&sa, sk);
	if (rc)
		return rc;
	memcpy(sa->mu, mu, sizeof(sa->mu));
	rc = sign_core(sa, sig, rnd);
	sign_area_free(sa);
	return rc;
}

int ctfs_mldsa65_compute_mu(uint8_t mu[64], const uint8_t *pk,
			    const uint8_t *msg, size_t msglen,
			    const uint8_t *ctx, size_t ctxlen)
{
	uint8_t tr[MLDSA_CRH_BYTES];

	if (!mu || !pk)
		return -EINVAL;
	ctfs_shake256(tr, sizeof(tr), pk, CTFS_MLDSA65_PK_BYTES);
	return hash_mu(mu, tr, msg, msglen, ctx, ctxlen);
}

/* Alg. 8 from step 5 on, with va->mu set; everything here is public. */
static int verify_core(struct verify_area *va, const uint8_t *sig, const uint8_t *pk)
{
	struct ctfs_keccak st;
	int rc;

	rc = ctfs_mldsa_sig_decode(va->ctilde, va->z, va->h, sig);
	if (rc)
		return rc;
	for (unsigned int i = 0; i < MLDSA_L; i++) {
		if (ctfs_mldsa_poly_exceeds(&va->z[i], MLDSA_GAMMA1 - MLDSA_BETA))
			return -EBADMSG;
	}
	ctfs_mldsa_pk_decode(va->rho, va->t1, pk);
	ctfs_mldsa_expand_a(va->a, va->rho);
	ctfs_mldsa_sample_in_ball(&va->c, va->ctilde);
	ctfs_mldsa_ntt(&va->c);
	for (unsigned int i = 0; i < MLDSA_L; i++)
		ctfs_mldsa_ntt(&va->z[i]);
	/* w'_approx = A z - c t1 2^d, all products taken in the NTT domain. */
	for (unsigned int i = 0; i < MLDSA_K; i++) {
		for (unsigned int j = 0; j < MLDSA_N; j++)
			va->t1[i].c[j] <<= MLDSA_D;
		ctfs_mldsa_ntt(&va->t1[i]);
		ctfs_mldsa_pointwise_mont(&va->w[i], &va->a[i][0], &va->z[0]);
		for (unsigned int j = 1; j < MLDSA_L; j++)
			ctfs_mldsa_pointwise_acc_mont(&va->w[i], &va->a[i][j], &va->z[j]);
		ctfs_mldsa_pointwise_mont(&va->tmp, &va->c, &va->t1[i]);
		ctfs_mldsa_poly_sub(&va->w[i], &va->w[i], &va->tmp);
		ctfs_mldsa_invntt_mont(&va->w[i]);
		ctfs_mldsa_poly_mod_q(&va->w[i]);
		/* w1' = UseHint(h, w'_approx), kept in t1, no longer needed. */
		ctfs_mldsa_poly_use_hint(&va->t1[i], &va->h[i], &va->w[i]);
	}
	ctfs_mldsa_w1_encode(va->w1buf, va->t1);
	ctfs_shake256_init(&st);
	ctfs_keccak_absorb(&st, va->mu, sizeof(va->mu));
	ctfs_keccak_absorb(&st, va->w1buf, sizeof(va->w1buf));
	ctfs_keccak_squeeze(&st, va->ctilde2, sizeof(va->ctilde2));
	if (sodium_memcmp(va->ctilde, va->ctilde2, MLDSA_CTILDE_BYTES) != 0)
		return -EBADMSG;
	return 0;
}

int ctfs_mldsa65_verify(const uint8_t *sig, size_t siglen, const uint8_t *msg,
			size_t msglen, const uint8_t *ctx, size_t ctxlen,
			const uint8_t *pk)
{
	struct verify_area *va;
	int rc;

	if (!sig || !pk || siglen != CTFS_MLDSA65_SIG_BYTES || ctxlen > CTFS_MLDSA65_CTX_MAX)
		return -EINVAL;
	va = malloc(sizeof(*va));
	if (!va)
		return -ENOMEM;
	ctfs_shake256(va->tr, sizeof(va->tr), pk, CTFS_MLDSA65_PK_BYTES);
	rc = hash_mu(va->mu, va->tr, msg, msglen, ctx, ctxlen);
	if (!rc)
		rc = verify_core(va, sig, pk);
	free(va);
	return rc;
}

int ctfs_mldsa65_verify_mu(const uint8_t *sig, size_t siglen,
			   const uint8_t mu[64], const uint8_t *pk)
{
	struct verify_area *va;
	int rc;

	if (!sig || !mu || !pk || siglen != CTFS_MLDSA65_SIG_BYTES)
		return -EINVAL;
	va = malloc(sizeof(*va));
	if (!va)
		return -ENOMEM;
	memcpy(va->mu, mu, sizeof(va->mu));
	rc = verify_core(va, sig, pk);
	free(va);
	return rc;
}
