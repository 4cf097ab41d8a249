#include "pq/mlkem_poly.h"

#include <sodium.h>

/* zeta^BitRev7(i) mod q for zeta = 17 (FIPS 203 Appendix A). */
static const uint16_t zetas[128] = {
	1, 1729, 2580, 3289, 2642, 630, 1897, 848, 1062, 1919, 193, 797,
	2786, 3260, 569, 1746, 296, 2447, 1339, 1476, 3046, 56, 2240, 1333,
	1426, 2094, 535, 2882, 2393, 2879, 1974, 821, 289, 331, 3253, 1756,
	1197, 2304, 2277, 2055, 650, 1977, 2513, 632, 2865, 33, 1320, 1915,
	2319, 1435, 807, 452, 1438, 2868, 1534, 2402, 2647, 2617, 1481, 648,
	2474, 3110, 1227, 910, 17, 2761, 583, 2649, 1637, 723, 2288, 1100,
	1409, 2662, 3281, 233, 756, 2156, 3015, 3050, 1703, 1651, 2789, 1789,
	1847, 952, 1461, 2687, 939, 2308, 2437, 2388, 733, 2337, 268, 641,
	1584, 2298, 2037, 3220, 375, 2549, 2090, 1645, 1063, 319, 2773, 757,
	2099, 561, 2466, 2594, 2804, 1092, 403, 1026, 1143, 2150, 2775, 886,
	1722, 1212, 1874, 1029, 2110, 2935, 885, 2154,
};

/* zeta^(2 BitRev7(i) + 1) mod q: the moduli X^2 - gamma of Algorithm 11. */
static const uint16_t gammas[128] = {
	17, 3312, 2761, 568, 583, 2746, 2649, 680, 1637, 1692, 723, 2606,
	2288, 1041, 1100, 2229, 1409, 1920, 2662, 667, 3281, 48, 233, 3096,
	756, 2573, 2156, 1173, 3015, 314, 3050, 279, 1703, 1626, 1651, 1678,
	2789, 540, 1789, 1540, 1847, 1482, 952, 2377, 1461, 1868, 2687, 642,
	939, 2390, 2308, 1021, 2437, 892, 2388, 941, 733, 2596, 2337, 992,
	268, 3061, 641, 2688, 1584, 1745, 2298, 1031, 2037, 1292, 3220, 109,
	375, 2954, 2549, 780, 2090, 1239, 1645, 1684, 1063, 2266, 319, 3010,
	2773, 556, 757, 2572, 2099, 1230, 561, 2768, 2466, 863, 2594, 735,
	2804, 525, 1092, 2237, 403, 2926, 1026, 2303, 1143, 2186, 2150, 1179,
	2775, 554, 886, 2443, 1722, 1607, 1212, 2117, 1874, 1455, 1029, 2300,
	2110, 1219, 2935, 394, 885, 2444, 2154, 1175,
};

#define INV128 3303 /* 128^-1 mod q, the scaling of Algorithm 10 */
#define BARRETT_M 1290167 /* floor(2^32 / q) */

/* x - q if x >= q; for x < 2q. */
static inline uint16_t reduce_once(uint32_t x)
{
	uint32_t t = x - MLKEM_Q;

	return (uint16_t)(t + (MLKEM_Q & mlkem_value_barrier(0u - (t >> 31))));
}

/* Quotient and remainder of n by q for any 32-bit n, without a division
 * instruction (whose timing may depend on n). The estimate from the
 * floor(2^32/q) multiplier is low by at most one, fixed with a mask. */
static inline uint32_t divmod_q(uint32_t n, uint32_t *rem)
{
	uint32_t quot = (uint32_t)(((uint64_t)n * BARRETT_M) >> 32);
	uint32_t r = n - quot * MLKEM_Q;
	uint32_t over = ~mlkem_lt_mask(r, MLKEM_Q);

	*rem = r - (over & MLKEM_Q);
	return quot + (over & 1);
}

static inline uint16_t mod_q(uint32_t n)
{
	uint32_t r;

	divmod_q(n, &r);
	return (uint16_t)r;
}

static inline uint16_t fq_mul(uint32_t a, uint32_t b)
{
	return mod_q(a * b);
}

static inline uint16_t fq_add(uint32_t a, uint32_t b)
{
	return reduce_once(a + b);
}

static inline uint16_t fq_sub(uint32_t a, uint32_t b)
{
	return reduce_once(a + MLKEM_Q - b);
}

void ctfs_mlkem_poly_add(struct mlkem_poly *r, const struct mlkem_poly *a,
			 const struct mlkem_poly *b)
{
	for (int i = 0; i < MLKEM_N; i++)
		r->c[i] = fq_add(a->c[i], b->c[i]);
}

void ctfs_mlkem_poly_sub(struct mlkem_poly *r, const struct mlkem_poly *a,
			 const struct mlkem_poly *b)
{
	for (int i = 0; i < MLKEM_N; i++)
		r->c[i] = fq_sub(a->c[i], b->c[i]);
}

void ctfs_mlkem_ntt(struct mlkem_poly *f)
{
	unsigned int k = 1;

	for (unsigned int len = 128; len >= 2; len >>= 1) {
		for (unsigned int start = 0; start < MLKEM_N; start += 2 * len) {
			uint32_t zeta = zetas[k++];

			for (unsigned int j = start; j < start + len; j++) {
				uint16_t t = fq_mul(zeta, f->c[j + len]);

				f->c[j + len] = fq_sub(f->c[j], t);
				f->c[j] = fq_add(f->c[j], t);
			}
		}
	}
}

void ctfs_mlkem_invntt(struct mlkem_poly *f)
{
	unsigned int k = 127;

	for (unsigned int len = 2; len <= 128; len <<= 1) {
		for (unsigned int start = 0; start < MLKEM_N; start += 2 * len) {
			uint32_t zeta = zetas[k--];

			for (unsigned int j = start; j < start + len; j++) {
				uint16_t t = f->c[j];

				f->c[j] = fq_add(t, f->c[j + len]);
				f->c[j + len] = fq_mul(zeta, fq_sub(f->c[j + len], t));
			}
		}
	}
	for (int i = 0; i < MLKEM_N; i++)
		f->c[i] = fq_mul(f->c[i], INV128);
}

/* Each pair of coefficients is a degree-1 polynomial mod X^2 - gamma; all
 * products are summed before one reduction (the sums stay below 2^32). */
void ctfs_mlkem_poly_mul_acc(struct mlkem_poly *r, const struct mlkem_poly *a,
			     const struct mlkem_poly *b)
{
	for (int i = 0; i < MLKEM_N / 2; i++) {
		uint32_t a0 = a->c[2 * i], a1 = a->c[2 * i + 1];
		uint32_t b0 = b->c[2 * i], b1 = b->c[2 * i + 1];
		uint32_t a1b1 = fq_mul(a1, b1);

		r->c[2 * i] = mod_q(r->c[2 * i] + a0 * b0 + a1b1 * gammas[i]);
		r->c[2 * i + 1] = mod_q(r->c[2 * i + 1] + a0 * b1 + a1 * b0);
	}
}

/* Little-endian bit packing of 256 d-bit values (FIPS 203 Algorithm 5);
 * the loop shape depends on d only. */
static void pack_bits(uint8_t *out, const uint16_t v[MLKEM_N], unsigned int d)
{
	uint32_t acc = 0;
	unsigned int bits = 0;

	for (int i = 0; i < MLKEM_N; i++) {
		acc |= (uint32_t)v[i] << bits;
		bits += d;
		while (bits >= 8) {
			*out++ = (uint8_t)acc;
			acc >>= 8;
			bits -= 8;
		}
	}
}

static void unpack_bits(uint16_t v[MLKEM_N], const uint8_t *in, unsigned int d)
{
	uint32_t acc = 0;
	unsigned int bits = 0;

	for (int i = 0; i < MLKEM_N; i++) {
		while (bits < d) {
			acc |= (uint32_t)*in++ << bits;
			bits += 8;
		}
		v[i] = (uint16_t)(acc & ((1u << d) - 1));
		acc >>= d;
		bits -= d;
	}
}

void ctfs_mlkem_poly_encode12(uint8_t out[MLKEM_POLY_BYTES(12)], const struct mlkem_poly *f)
{
	pack_bits(out, f->c, 12);
}

int ctfs_mlkem_poly_decode12(struct mlkem_poly *f, const uint8_t in[MLKEM_POLY_BYTES(12)])
{
	uint32_t bad = 0;

	unpack_bits(f->c, in, 12);
	for (int i = 0; i < MLKEM_N; i++) {
		bad |= ~mlkem_lt_mask(f->c[i], MLKEM_Q);
		f->c[i] = reduce_once(f->c[i]);
	}
	return -(int)(bad & 1);
}

/* round(2^d x / q) mod 2^d. As q is odd the exact half never occurs, so
 * adding floor(q/2) before the floor division rounds correctly. */
static inline uint16_t compress(uint32_t x, unsigned int d)
{
	uint32_t r;

	return (uint16_t)(divmod_q((x << d) + MLKEM_Q / 2, &r) & ((1u << d) - 1));
}

/* round(q y / 2^d) */
static inline uint16_t decompress(uint32_t y, unsigned int d)
{
	return (uint16_t)((y * MLKEM_Q + (1u << (d - 1))) >> d);
}

void ctfs_mlkem_poly_compress(uint8_t *out, const struct mlkem_poly *f, unsigned int d)
{
	uint16_t v[MLKEM_N];

	for (int i = 0; i < MLKEM_N; i++)
		v[i] = compress(f->c[i], d);
	pack_bits(out, v, d);
	sodium_memzero(v, sizeof(v));
}

void ctfs_mlkem_poly_decompress(struct mlkem_poly *f, const uint8_t *in, unsigned int d)
{
	unpack_bits(f->c, in, d);
	for (int i = 0; i < MLKEM_N; i++)
		f->c[i] = decompress(f->c[i], d);
}
