/* ML-KEM (FIPS 203) polynomials in Z_q[X]/(X^256 + 1): field arithmetic,
 * the NTT, compression and byte encoding. Internal to src/pq.
 *
 * Coefficients are always kept fully reduced in [0, q), and every routine
 * that may see secret coefficients runs without secret-dependent branches
 * or memory indices. */
#ifndef CTFS_PQ_MLKEM_POLY_H
#define CTFS_PQ_MLKEM_POLY_H

#include <stddef.h>
#include <stdint.h>

#define MLKEM_N 256
#define MLKEM_Q 3329
/* bytes of ByteEncode_d for one polynomial */
#define MLKEM_POLY_BYTES(d) (32 * (d))

struct mlkem_poly {
	uint16_t c[MLKEM_N];
};

/* Hides a value from the optimiser, so that mask arithmetic on secrets is
 * not turned back into a branch. */
static inline uint32_t mlkem_value_barrier(uint32_t v)
{
	__asm__("" : "+r"(v));
	return v;
}

/* 0xffffffff if a < b, else 0; for a, b < 2^31. */
static inline uint32_t mlkem_lt_mask(uint32_t a, uint32_t b)
{
	return mlkem_value_barrier(0u - ((a - b) >> 31));
}

void ctfs_mlkem_poly_add(struct mlkem_poly *r, const struct mlkem_poly *a,
			 const struct mlkem_poly *b);
void ctfs_mlkem_poly_sub(struct mlkem_poly *r, const struct mlkem_poly *a,
			 const struct mlkem_poly *b);

/* FIPS 203 Algorithms 9 and 10, in place. */
void ctfs_mlkem_ntt(struct mlkem_poly *f);
void ctfs_mlkem_invntt(struct mlkem_poly *f);
/* r += a * b in the NTT domain (Algorithm 11); r may not alias a or b. */
void ctfs_mlkem_poly_mul_acc(struct mlkem_poly *r, const struct mlkem_poly *a,
			     const struct mlkem_poly *b);

/* ByteEncode_12 / ByteDecode_12. decode12 returns 0 when every coefficient
 * was already below q (the encapsulation key modulus check), -1 otherwise;
 * the result is reduced mod q either way. Constant time. */
void ctfs_mlkem_poly_encode12(uint8_t out[MLKEM_POLY_BYTES(12)], const struct mlkem_poly *f);
int ctfs_mlkem_poly_decode12(struct mlkem_poly *f, const uint8_t in[MLKEM_POLY_BYTES(12)]);

/* ByteEncode_d(Compress_d(f)) and Decompress_d(ByteDecode_d(in)), d in
 * {1, 4, 5, 10, 11}; out/in hold MLKEM_POLY_BYTES(d) bytes. */
void ctfs_mlkem_poly_compress(uint8_t *out, const struct mlkem_poly *f, unsigned int d);
void ctfs_mlkem_poly_decompress(struct mlkem_poly *f, const uint8_t *in, unsigned int d);

#endif
