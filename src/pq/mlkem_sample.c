#include "pq/mlkem_sample.h"

#include <sodium.h>

#include "pq/fips202.h"

size_t ctfs_mlkem_sample_ntt(struct mlkem_poly *a, const uint8_t rho[32], uint8_t x, uint8_t y)
{
	struct ctfs_keccak xof;
	uint8_t block[CTFS_SHAKE128_RATE]; /* a multiple of 3: no triple spans two blocks */
	const uint8_t idx[2] = { x, y };
	size_t used = 0;
	unsigned int j = 0, pos = sizeof(block);

	ctfs_shake128_init(&xof);
	ctfs_keccak_absorb(&xof, rho, 32);
	ctfs_keccak_absorb(&xof, idx, sizeof(idx));
	while (j < MLKEM_N) {
		const uint8_t *b;
		unsigned int d1, d2;

		if (pos == sizeof(block)) {
			ctfs_keccak_squeeze(&xof, block, sizeof(block));
			pos = 0;
		}
		b = block + pos;
		pos += 3;
		used += 3;
		d1 = b[0] | (unsigned int)(b[1] & 0x0f) << 8;
		d2 = b[1] >> 4 | (unsigned int)b[2] << 4;
		if (d1 < MLKEM_Q)
			a->c[j++] = (uint16_t)d1;
		if (d2 < MLKEM_Q && j < MLKEM_N)
			a->c[j++] = (uint16_t)d2;
	}
	ctfs_keccak_wipe(&xof);
	return used;
}

/* Each coefficient is (b0 + b1) - (b2 + b3) for four consecutive bits. */
void ctfs_mlkem_sample_cbd2(struct mlkem_poly *f, const uint8_t seed[32], uint8_t nonce)
{
	struct ctfs_keccak prf;
	uint8_t buf[64 * 2];

	ctfs_shake256_init(&prf);
	ctfs_keccak_absorb(&prf, seed, 32);
	ctfs_keccak_absorb(&prf, &nonce, 1);
	ctfs_keccak_squeeze(&prf, buf, sizeof(buf));
	ctfs_keccak_wipe(&prf);
	for (int i = 0; i < MLKEM_N; i++) {
		uint32_t bits = buf[i / 2] >> (4 * (i % 2));
		uint32_t pos = (bits & 1) + (bits >> 1 & 1);
		uint32_t neg = (bits >> 2 & 1) + (bits >> 3 & 1);
		uint32_t t = pos + MLKEM_Q - neg; /* in [q - 2, q + 2] */
		uint32_t over = ~mlkem_lt_mask(t, MLKEM_Q);

		f->c[i] = (uint16_t)(t - (over & MLKEM_Q));
	}
	sodium_memzero(buf, sizeof(buf));
}
