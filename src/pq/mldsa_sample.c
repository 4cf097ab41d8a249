/* ML-DSA-65 samplers: ExpandA, ExpandS, ExpandMask and SampleInBall.
 *
 * The rejection samplers branch on whether a candidate is accepted. That
 * reveals which candidates were thrown away, never the value of one that is
 * kept (accepted candidates are uniform over the accepted set whatever the
 * pattern), which is the leak FIPS 204 accepts for these loops. */
#include "pq/mldsa_internal.h"

#include <sodium.h>
#include <string.h>

#include "pq/fips202.h"

/* RejNTTPoly (Alg. 30): three bytes per candidate, 23 bits, kept if < q. */
static void rej_ntt_poly(struct mldsa_poly *a, const uint8_t seed[MLDSA_SEED_BYTES + 2])
{
	uint8_t buf[CTFS_SHAKE128_RATE];	/* a multiple of 3 */
	struct ctfs_keccak st;
	unsigned int n = 0;

	ctfs_shake128_init(&st);
	ctfs_keccak_absorb(&st, seed, MLDSA_SEED_BYTES + 2);
	while (n < MLDSA_N) {
		ctfs_keccak_squeeze(&st, buf, sizeof(buf));
		for (size_t i = 0; i + 3 <= sizeof(buf) && n < MLDSA_N; i += 3) {
			uint32_t v = buf[i] | (uint32_t)buf[i + 1] << 8 |
				     (uint32_t)(buf[i + 2] & 0x7f) << 16;

			if (v < MLDSA_Q)
				a->c[n++] = (int32_t)v;
		}
	}
}

void ctfs_mldsa_expand_a(struct mldsa_poly a[MLDSA_K][MLDSA_L],
			 const uint8_t rho[MLDSA_SEED_BYTES])
{
	uint8_t seed[MLDSA_SEED_BYTES + 2];

	memcpy(seed, rho, MLDSA_SEED_BYTES);
	for (unsigned int r = 0; r < MLDSA_K; r++) {
		for (unsigned int s = 0; s < MLDSA_L; s++) {
			seed[MLDSA_SEED_BYTES] = (uint8_t)s;
			seed[MLDSA_SEED_BYTES + 1] = (uint8_t)r;
			rej_ntt_poly(&a[r][s], seed);
		}
	}
}

/* RejBoundedPoly (Alg. 31) with CoeffFromHalfByte (Alg. 15) for eta = 4. */
static void rej_bounded_poly(struct mldsa_poly *a, const uint8_t rhop[MLDSA_CRH_BYTES],
			     uint16_t nonce)
{
	uint8_t buf[CTFS_SHAKE256_RATE];
	uint8_t le[2] = { (uint8_t)nonce, (uint8_t)(nonce >> 8) };
	struct ctfs_keccak st;
	unsigned int n = 0;

	ctfs_shake256_init(&st);
	ctfs_keccak_absorb(&st, rhop, MLDSA_CRH_BYTES);
	ctfs_keccak_absorb(&st, le, sizeof(le));
	while (n < MLDSA_N) {
		ctfs_keccak_squeeze(&st, buf, sizeof(buf));
		for (size_t i = 0; i < sizeof(buf) && n < MLDSA_N; i++) {
			int32_t lo = buf[i] & 15, hi = buf[i] >> 4;

			if (lo < 2 * MLDSA_ETA + 1)
				a->c[n++] = MLDSA_ETA - lo;
			if (hi < 2 * MLDSA_ETA + 1 && n < MLDSA_N)
				a->c[n++] = MLDSA_ETA - hi;
		}
	}
	ctfs_keccak_wipe(&st);
	sodium_memzero(buf, sizeof(buf));
}

void ctfs_mldsa_expand_s(struct mldsa_poly s1[MLDSA_L], struct mldsa_poly s2[MLDSA_K],
			 const uint8_t rhop[MLDSA_CRH_BYTES])
{
	for (unsigned int r = 0; r < MLDSA_L; r++)
		rej_bounded_poly(&s1[r], rhop, (uint16_t)r);
	for (unsigned int r = 0; r < MLDSA_K; r++)
		rej_bounded_poly(&s2[r], rhop, (uint16_t)(r + MLDSA_L));
}

void ctfs_mldsa_expand_mask(struct mldsa_poly y[MLDSA_L],
			    const uint8_t rhopp[MLDSA_CRH_BYTES], uint16_t kappa)
{
	uint8_t buf[MLDSA_Z_POLY_BYTES];
	struct ctfs_keccak st;

	for (unsigned int r = 0; r < MLDSA_L; r++) {
		uint16_t nonce = (uint16_t)(kappa + r);
		uint8_t le[2] = { (uint8_t)nonce, (uint8_t)(nonce >> 8) };

		ctfs_shake256_init(&st);
		ctfs_keccak_absorb(&st, rhopp, MLDSA_CRH_BYTES);
		ctfs_keccak_absorb(&st, le, sizeof(le));
		ctfs_keccak_squeeze(&st, buf, sizeof(buf));
		ctfs_mldsa_bitunpack(&y[r], buf, MLDSA_GAMMA1, 20);
	}
	ctfs_keccak_wipe(&st);
	sodium_memzero(buf, sizeof(buf));
}

/* All ones when a == b, else zero; a, b < 2^31. */
static int32_t eq_mask(uint32_t a, uint32_t b)
{
	uint32_t d = a ^ b;

	return -(int32_t)(1 ^ ((d | (0u - d)) >> 31));
}

void ctfs_mldsa_sample_in_ball(struct mldsa_poly *c,
			       const uint8_t ctilde[MLDSA_CTILDE_BYTES])
{
	uint8_t buf[CTFS_SHAKE256_RATE];
	struct ctfs_keccak st;
	uint64_t signs = 0;
	size_t pos;

	ctfs_shake256_init(&st);
	ctfs_keccak_absorb(&st, ctilde, MLDSA_CTILDE_BYTES);
	ctfs_keccak_squeeze(&st, buf, sizeof(buf));
	for (pos = 0; pos < 8; pos++)
		signs |= (uint64_t)buf[pos] << (8 * pos);
	memset(c, 0, sizeof(*c));
	for (unsigned int i = MLDSA_N - MLDSA_TAU; i < MLDSA_N; i++) {
		int32_t sign = 1 - 2 * (int32_t)(signs & 1), cj = 0;
		uint32_t j;

		do {
			if (pos == sizeof(buf)) {
				ctfs_keccak_squeeze(&st, buf, sizeof(buf));
				pos = 0;
			}
			j = buf[pos++];
		} while (j > i);
		signs >>= 1;
		/* c_i <- c_j; c_j <- sign, touching every slot up to i so that
		 * the memory access pattern does not depend on j. */
		for (unsigned int m = 0; m <= i; m++)
			cj |= c->c[m] & eq_mask(m, j);
		c->c[i] = cj;
		for (unsigned int m = 0; m <= i; m++) {
			int32_t hit = eq_mask(m, j);

			c->c[m] = (c->c[m] & ~hit) | (sign & hit);
		}
	}
	ctfs_keccak_wipe(&st);
	sodium_memzero(buf, sizeof(buf));
}
