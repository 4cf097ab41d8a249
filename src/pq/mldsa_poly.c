/* ML-DSA-65 arithmetic: Montgomery reduction, the NTT, rounding and hints.
 * No branch and no table index depends on a coefficient value, except in
 * UseHint, which only ever sees public data. */
#include "pq/mldsa_internal.h"

#define QINV 58728449		/* q^-1 mod 2^32 */
#define INVNTT_F 41978		/* 2^64 / 256 mod q: 256^-1, in and out of Montgomery form */
#define TWO_GAMMA2 (2 * MLDSA_GAMMA2)

/* zetas[k] = 1753^BitRev8(k) * 2^32 mod q (FIPS 204 Appendix B), centred.
 * Index 0 is never used. */
static const int32_t zetas[MLDSA_N] = {
	-4186625, 25847, -2608894, -518909, 237124, -777960, -876248, 466468,
	1826347, 2353451, -359251, -2091905, 3119733, -2884855, 3111497, 2680103,
	2725464, 1024112, -1079900, 3585928, -549488, -1119584, 2619752, -2108549,
	-2118186, -3859737, -1399561, -3277672, 1757237, -19422, 4010497, 280005,
	2706023, 95776, 3077325, 3530437, -1661693, -3592148, -2537516, 3915439,
	-3861115, -3043716, 3574422, -2867647, 3539968, -300467, 2348700, -539299,
	-1699267, -1643818, 3505694, -3821735, 3507263, -2140649, -1600420, 3699596,
	811944, 531354, 954230, 3881043, 3900724, -2556880, 2071892, -2797779,
	-3930395, -1528703, -3677745, -3041255, -1452451, 3475950, 2176455, -1585221,
	-1257611, 1939314, -4083598, -1000202, -3190144, -3157330, -3632928, 126922,
	3412210, -983419, 2147896, 2715295, -2967645, -3693493, -411027, -2477047,
	-671102, -1228525, -22981, -1308169, -381987, 1349076, 1852771, -1430430,
	-3343383, 264944, 508951, 3097992, 44288, -1100098, 904516, 3958618,
	-3724342, -8578, 1653064, -3249728, 2389356, -210977, 759969, -1316856,
	189548, -3553272, 3159746, -1851402, -2409325, -177440, 1315589, 1341330,
	1285669, -1584928, -812732, -1439742, -3019102, -3881060, -3628969, 3839961,
	2091667, 3407706, 2316500, 3817976, -3342478, 2244091, -2446433, -3562462,
	266997, 2434439, -1235728, 3513181, -3520352, -3759364, -1197226, -3193378,
	900702, 1859098, 909542, 819034, 495491, -1613174, -43260, -522500,
	-655327, -3122442, 2031748, 3207046, -3556995, -525098, -768622, -3595838,
	342297, 286988, -2437823, 4108315, 3437287, -3342277, 1735879, 203044,
	2842341, 2691481, -2590150, 1265009, 4055324, 1247620, 2486353, 1595974,
	-3767016, 1250494, 2635921, -3548272, -2994039, 1869119, 1903435, -1050970,
	-1333058, 1237275, -3318210, -1430225, -451100, 1312455, 3306115, -1962642,
	-1279661, 1917081, -2546312, -1374803, 1500165, 777191, 2235880, 3406031,
	-542412, -2831860, -1671176, -1846953, -2584293, -3724270, 594136, -3776993,
	-2013608, 2432395, 2454455, -164721, 1957272, 3369112, 185531, -1207385,
	-3183426, 162844, 1616392, 3014001, 810149, 1652634, -3694233, -1799107,
	-3038916, 3523897, 3866901, 269760, 2213111, -975884, 1717735, 472078,
	-426683, 1723600, -1803090, 1910376, -1667432, -1104333, -260646, -3833893,
	-2939036, -2235985, -420899, -2286327, 183443, -976891, 1612842, -3545687,
	-554416, 3919660, -48306, -1362209, 3937738, 1400424, -846154, 1976782,
};

int32_t ctfs_mldsa_montgomery_reduce(int64_t a)
{
	int32_t m = (int32_t)((uint32_t)a * (uint32_t)QINV);

	/* a - m*q is divisible by 2^32 by the choice of m. */
	return (int32_t)((a - (int64_t)m * MLDSA_Q) >> 32);
}

static int32_t montmul(int32_t a, int32_t b)
{
	return ctfs_mldsa_montgomery_reduce((int64_t)a * b);
}

int32_t ctfs_mldsa_mod_q(int32_t a)
{
	/* q = 2^23 - 2^13 + 1, so subtracting round(a / 2^23) * q leaves
	 * |r| < 2^22 + 2^21, then one conditional add of q. */
	int32_t t = (int32_t)(((int64_t)a + (1 << 22)) >> 23);
	int32_t r = (int32_t)((int64_t)a - (int64_t)t * MLDSA_Q);

	return r + (MLDSA_Q & -(int32_t)((uint32_t)r >> 31));
}

int32_t ctfs_mldsa_mod_pm_q(int32_t a)
{
	int32_t r = ctfs_mldsa_mod_q(a);

	return r - (MLDSA_Q & -(int32_t)((uint32_t)((MLDSA_Q - 1) / 2 - r) >> 31));
}

int32_t ctfs_mldsa_power2round(int32_t r, int32_t *r0)
{
	int32_t r1 = (r + (1 << (MLDSA_D - 1)) - 1) >> MLDSA_D;

	*r0 = r - (r1 << MLDSA_D);
	return r1;
}

int32_t ctfs_mldsa_decompose(int32_t r, int32_t *r0)
{
	/* r1 = floor((r + gamma2 - 1) / (2 gamma2)) puts r0 in (-gamma2, gamma2].
	 * 2 gamma2 = 512 * 1023, and for x < 2^15, floor(x / 1023) equals
	 * x * ceil(2^32 / 1023) >> 32 (checked for every r by the tests). */
	uint32_t x = ((uint32_t)r + MLDSA_GAMMA2 - 1) >> 9;
	int32_t r1 = (int32_t)(((uint64_t)x * 4198405u) >> 32);
	int32_t wrap;

	*r0 = r - r1 * TWO_GAMMA2;
	/* r1 = 16 means r - r0 = q - 1: FIPS 204 maps it to r1 = 0, r0 - 1. */
	wrap = -(r1 >> 4);
	*r0 -= wrap & 1;
	return r1 & 15;
}

int32_t ctfs_mldsa_use_hint(int32_t h, int32_t r)
{
	int32_t r0, r1 = ctfs_mldsa_decompose(r, &r0);

	if (!h)
		return r1;
	return (r0 > 0 ? r1 + 1 : r1 - 1) & 15;
}

void ctfs_mldsa_ntt(struct mldsa_poly *p)
{
	unsigned int len, start, j, m = 0;

	for (len = 128; len >= 1; len >>= 1) {
		for (start = 0; start < MLDSA_N; start += 2 * len) {
			int32_t z = zetas[++m];

			for (j = start; j < start + len; j++) {
				int32_t t = montmul(z, p->c[j + len]);

				p->c[j + len] = p->c[j] - t;
				p->c[j] = p->c[j] + t;
			}
		}
	}
}

void ctfs_mldsa_invntt_mont(struct mldsa_poly *p)
{
	unsigned int len, start, j, m = MLDSA_N;

	for (j = 0; j < MLDSA_N; j++)
		p->c[j] = ctfs_mldsa_mod_q(p->c[j]);
	for (len = 1; len < MLDSA_N; len <<= 1) {
		for (start = 0; start < MLDSA_N; start += 2 * len) {
			int32_t z = -zetas[--m];

			for (j = start; j < start + len; j++) {
				int32_t t = p->c[j];

				/* Reduce the sums so they cannot double 8 times. */
				p->c[j] = ctfs_mldsa_mod_q(t + p->c[j + len]);
				p->c[j + len] = montmul(z, t - p->c[j + len]);
			}
		}
	}
	for (j = 0; j < MLDSA_N; j++)
		p->c[j] = montmul(INVNTT_F, p->c[j]);
}

void ctfs_mldsa_pointwise_mont(struct mldsa_poly *r, const struct mldsa_poly *a,
			       const struct mldsa_poly *b)
{
	for (unsigned int i = 0; i < MLDSA_N; i++)
		r->c[i] = montmul(a->c[i], b->c[i]);
}

void ctfs_mldsa_pointwise_acc_mont(struct mldsa_poly *r, const struct mldsa_poly *a,
				   const struct mldsa_poly *b)
{
	for (unsigned int i = 0; i < MLDSA_N; i++)
		r->c[i] += montmul(a->c[i], b->c[i]);
}

void ctfs_mldsa_poly_add(struct mldsa_poly *r, const struct mldsa_poly *a,
			 const struct mldsa_poly *b)
{
	for (unsigned int i = 0; i < MLDSA_N; i++)
		r->c[i] = a->c[i] + b->c[i];
}

void ctfs_mldsa_poly_sub(struct mldsa_poly *r, const struct mldsa_poly *a,
			 const struct mldsa_poly *b)
{
	for (unsigned int i = 0; i < MLDSA_N; i++)
		r->c[i] = a->c[i] - b->c[i];
}

void ctfs_mldsa_poly_mod_q(struct mldsa_poly *p)
{
	for (unsigned int i = 0; i < MLDSA_N; i++)
		p->c[i] = ctfs_mldsa_mod_q(p->c[i]);
}

void ctfs_mldsa_poly_mod_pm_q(struct mldsa_poly *p)
{
	for (unsigned int i = 0; i < MLDSA_N; i++)
		p->c[i] = ctfs_mldsa_mod_pm_q(p->c[i]);
}

int ctfs_mldsa_poly_exceeds(const struct mldsa_poly *p, int32_t bound)
{
	uint32_t over = 0;

	for (unsigned int i = 0; i < MLDSA_N; i++) {
		int32_t sign = -(int32_t)((uint32_t)p->c[i] >> 31);
		int32_t abs = (p->c[i] ^ sign) - sign;

		over |= (uint32_t)(bound - 1 - abs) >> 31;
	}
	return (int)over;
}

void ctfs_mldsa_poly_power2round(struct mldsa_poly *t1, struct mldsa_poly *t0,
				 const struct mldsa_poly *t)
{
	for (unsigned int i = 0; i < MLDSA_N; i++)
		t1->c[i] = ctfs_mldsa_power2round(t->c[i], &t0->c[i]);
}

void ctfs_mldsa_poly_highbits(struct mldsa_poly *r1, const struct mldsa_poly *r)
{
	int32_t r0;

	for (unsigned int i = 0; i < MLDSA_N; i++)
		r1->c[i] = ctfs_mldsa_decompose(r->c[i], &r0);
}

void ctfs_mldsa_poly_lowbits(struct mldsa_poly *r0, const struct mldsa_poly *r)
{
	for (unsigned int i = 0; i < MLDSA_N; i++)
		(void)ctfs_mldsa_decompose(r->c[i], &r0->c[i]);
}

unsigned int ctfs_mldsa_poly_make_hint(struct mldsa_poly *h, const struct mldsa_poly *a,
				       const struct mldsa_poly *b)
{
	unsigned int ones = 0;
	int32_t r0;

	for (unsigned int i = 0; i < MLDSA_N; i++) {
		uint32_t diff = (uint32_t)(ctfs_mldsa_decompose(a->c[i], &r0) ^
					   ctfs_mldsa_decompose(b->c[i], &r0));

		h->c[i] = (int32_t)((diff | (0u - diff)) >> 31);
		ones += (unsigned int)h->c[i];
	}
	return ones;
}

void ctfs_mldsa_poly_use_hint(struct mldsa_poly *r1, const struct mldsa_poly *h,
			      const struct mldsa_poly *r)
{
	for (unsigned int i = 0; i < MLDSA_N; i++)
		r1->c[i] = ctfs_mldsa_use_hint(h->c[i], r->c[i]);
}
