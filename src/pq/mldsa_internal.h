/* ML-DSA-65 internals shared by src/pq/mldsa_*.c and the unit test.
 * Names follow FIPS 204. Every function here is constant-time in the
 * coefficient values, except UseHint and signature decoding (public data
 * only) and the rejection samplers, whose accept/reject branches reveal only
 * which candidates were discarded (see mldsa_sample.c). */
#ifndef CTFS_PQ_MLDSA_INTERNAL_H
#define CTFS_PQ_MLDSA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* FIPS 204 Table 1, ML-DSA-65. */
#define MLDSA_N 256
#define MLDSA_Q 8380417
#define MLDSA_D 13
#define MLDSA_K 6
#define MLDSA_L 5
#define MLDSA_ETA 4
#define MLDSA_TAU 49
#define MLDSA_BETA (MLDSA_TAU * MLDSA_ETA)
#define MLDSA_GAMMA1 (1 << 19)
#define MLDSA_GAMMA2 ((MLDSA_Q - 1) / 32)
#define MLDSA_OMEGA 55

#define MLDSA_SEED_BYTES 32
#define MLDSA_CRH_BYTES 64	/* tr, mu, rho' and rho'' */
#define MLDSA_CTILDE_BYTES 48	/* lambda / 4 */

/* Packed sizes of one polynomial: bitlen of the coefficient range * 32. */
#define MLDSA_T1_POLY_BYTES 320	/* 10 bits */
#define MLDSA_T0_POLY_BYTES 416	/* 13 bits */
#define MLDSA_ETA_POLY_BYTES 128	/* 4 bits */
#define MLDSA_Z_POLY_BYTES 640	/* 20 bits */
#define MLDSA_W1_POLY_BYTES 128	/* 4 bits */
#define MLDSA_W1_BYTES (MLDSA_K * MLDSA_W1_POLY_BYTES)

struct mldsa_poly {
	int32_t c[MLDSA_N];
};

/* --- mldsa_poly.c: arithmetic in Z_q[X]/(X^256 + 1) ------------------ */

/* a * 2^-32 mod q, in (-q, q), for |a| < 2^31 * q. */
int32_t ctfs_mldsa_montgomery_reduce(int64_t a);
/* A representative of a mod q in [0, q), for any int32 a. */
int32_t ctfs_mldsa_mod_q(int32_t a);
/* a mod± q, in [-(q-1)/2, (q-1)/2], for any int32 a. */
int32_t ctfs_mldsa_mod_pm_q(int32_t a);
/* Power2Round (Alg. 35) for r in [0, q): returns r1, stores r0. */
int32_t ctfs_mldsa_power2round(int32_t r, int32_t *r0);
/* Decompose (Alg. 36) for r in [0, q): returns r1 = HighBits, stores
 * r0 = LowBits. */
int32_t ctfs_mldsa_decompose(int32_t r, int32_t *r0);
/* UseHint (Alg. 40) for h in {0, 1}, r in [0, q). */
int32_t ctfs_mldsa_use_hint(int32_t h, int32_t r);

/* NTT (Alg. 41) in place: input |c| < q, output |c| < 9q. */
void ctfs_mldsa_ntt(struct mldsa_poly *p);
/* NTT^-1 (Alg. 42) times 2^32, in place: undoes the 2^-32 that
 * pointwise_mont leaves. Any int32 input; output in (-q, q). */
void ctfs_mldsa_invntt_mont(struct mldsa_poly *p);
/* r = a * b * 2^-32 coefficient-wise (NTT domain), inputs |c| < 9q. */
void ctfs_mldsa_pointwise_mont(struct mldsa_poly *r, const struct mldsa_poly *a,
			       const struct mldsa_poly *b);
/* r += a * b * 2^-32; r must start in (-q, q) and gets at most
 * MLDSA_L + 1 terms so that it stays well inside int32. */
void ctfs_mldsa_pointwise_acc_mont(struct mldsa_poly *r, const struct mldsa_poly *a,
				   const struct mldsa_poly *b);
void ctfs_mldsa_poly_add(struct mldsa_poly *r, const struct mldsa_poly *a,
			 const struct mldsa_poly *b);
void ctfs_mldsa_poly_sub(struct mldsa_poly *r, const struct mldsa_poly *a,
			 const struct mldsa_poly *b);
void ctfs_mldsa_poly_mod_q(struct mldsa_poly *p);
void ctfs_mldsa_poly_mod_pm_q(struct mldsa_poly *p);
/* Nonzero iff some |c| >= bound; coefficients must be centred (|c| < 2^30). */
int ctfs_mldsa_poly_exceeds(const struct mldsa_poly *p, int32_t bound);
/* t in [0, q) -> t1, t0 coefficient-wise. */
void ctfs_mldsa_poly_power2round(struct mldsa_poly *t1, struct mldsa_poly *t0,
				 const struct mldsa_poly *t);
void ctfs_mldsa_poly_highbits(struct mldsa_poly *r1, const struct mldsa_poly *r);
void ctfs_mldsa_poly_lowbits(struct mldsa_poly *r0, const struct mldsa_poly *r);
/* h_i = [HighBits(a_i) != HighBits(b_i)], a and b in [0, q); returns the
 * number of ones (this is MakeHint(b - a, a) of Alg. 39). */
unsigned int ctfs_mldsa_poly_make_hint(struct mldsa_poly *h, const struct mldsa_poly *a,
				       const struct mldsa_poly *b);
/* r1_i = UseHint(h_i, r_i), r in [0, q). Not constant-time (public data). */
void ctfs_mldsa_poly_use_hint(struct mldsa_poly *r1, const struct mldsa_poly *h,
			      const struct mldsa_poly *r);

/* --- mldsa_sample.c: the SHAKE-based samplers (Section 7.3) ---------- */

/* ExpandA (Alg. 32): a[r][s] = RejNTTPoly(rho || s || r), in [0, q). */
void ctfs_mldsa_expand_a(struct mldsa_poly a[MLDSA_K][MLDSA_L],
			 const uint8_t rho[MLDSA_SEED_BYTES]);
/* ExpandS (Alg. 33). */
void ctfs_mldsa_expand_s(struct mldsa_poly s1[MLDSA_L], struct mldsa_poly s2[MLDSA_K],
			 const uint8_t rhop[MLDSA_CRH_BYTES]);
/* ExpandMask (Alg. 34) with kappa = the first nonce. */
void ctfs_mldsa_expand_mask(struct mldsa_poly y[MLDSA_L],
			    const uint8_t rhopp[MLDSA_CRH_BYTES], uint16_t kappa);
/* SampleInBall (Alg. 29). */
void ctfs_mldsa_sample_in_ball(struct mldsa_poly *c,
			       const uint8_t ctilde[MLDSA_CTILDE_BYTES]);

/* --- mldsa_pack.c: encodings (Section 7.1 and 7.2) -------------------- */

/* BitPack(w, a, b) (Alg. 17): stores b - c_i in `bits` bits each, little
 * endian, 32 * bits bytes in all. */
void ctfs_mldsa_bitpack(uint8_t *out, const struct mldsa_poly *p, int32_t b,
			unsigned int bits);
/* BitUnpack (Alg. 19): c_i = b - (the i-th `bits`-wide field). */
void ctfs_mldsa_bitunpack(struct mldsa_poly *p, const uint8_t *in, int32_t b,
			  unsigned int bits);
/* SimpleBitPack / SimpleBitUnpack (Alg. 16, 18). */
void ctfs_mldsa_simple_bitpack(uint8_t *out, const struct mldsa_poly *p, unsigned int bits);
void ctfs_mldsa_simple_bitunpack(struct mldsa_poly *p, const uint8_t *in, unsigned int bits);

void ctfs_mldsa_pk_encode(uint8_t *pk, const uint8_t rho[MLDSA_SEED_BYTES],
			  const struct mldsa_poly t1[MLDSA_K]);
void ctfs_mldsa_pk_decode(uint8_t rho[MLDSA_SEED_BYTES], struct mldsa_poly t1[MLDSA_K],
			  const uint8_t *pk);
void ctfs_mldsa_sk_encode(uint8_t *sk, const uint8_t rho[MLDSA_SEED_BYTES],
			  const uint8_t key[MLDSA_SEED_BYTES],
			  const uint8_t tr[MLDSA_CRH_BYTES],
			  const struct mldsa_poly s1[MLDSA_L],
			  const struct mldsa_poly s2[MLDSA_K],
			  const struct mldsa_poly t0[MLDSA_K]);
/* -EINVAL when an s1/s2 coefficient is outside [-eta, eta] (everything is
 * decoded anyway, and the check does not branch on the key). */
int ctfs_mldsa_sk_decode(uint8_t rho[MLDSA_SEED_BYTES], uint8_t key[MLDSA_SEED_BYTES],
			 uint8_t tr[MLDSA_CRH_BYTES], struct mldsa_poly s1[MLDSA_L],
			 struct mldsa_poly s2[MLDSA_K], struct mldsa_poly t0[MLDSA_K],
			 const uint8_t *sk);
/* z centred in (-gamma1, gamma1]; h holds 0/1 with at most omega ones. */
void ctfs_mldsa_sig_encode(uint8_t *sig, const uint8_t ctilde[MLDSA_CTILDE_BYTES],
			   const struct mldsa_poly z[MLDSA_L],
			   const struct mldsa_poly h[MLDSA_K]);
/* -EBADMSG when the hint encoding is malformed (HintBitUnpack returns ⊥).
 * Branches on the signature, which is public. */
int ctfs_mldsa_sig_decode(uint8_t ctilde[MLDSA_CTILDE_BYTES], struct mldsa_poly z[MLDSA_L],
			  struct mldsa_poly h[MLDSA_K], const uint8_t *sig);
/* w1Encode (Alg. 28). */
void ctfs_mldsa_w1_encode(uint8_t out[MLDSA_W1_BYTES], const struct mldsa_poly w1[MLDSA_K]);

#endif
