#include "pq/mlkem_kpke.h"

#include <string.h>

#include <sodium.h>

#include "pq/mlkem_sample.h"

void ctfs_mlkem_matrix_entry(struct mlkem_poly *a, const uint8_t rho[32],
			     unsigned int row, unsigned int col)
{
	ctfs_mlkem_sample_ntt(a, rho, (uint8_t)col, (uint8_t)row);
}

/* The matrix is public and cheap next to the hashing, so its entries are
 * sampled when needed instead of being kept (4.5 KiB less stack). */
void ctfs_mlkem_kpke_keygen(uint8_t ek[KPKE_EK_BYTES], uint8_t dk[KPKE_DK_BYTES],
			    const uint8_t rho[32], const uint8_t sigma[32])
{
	struct mlkem_poly s[MLKEM768_K], t, a;
	uint8_t nonce = 0;

	for (int i = 0; i < MLKEM768_K; i++) {
		ctfs_mlkem_sample_cbd2(&s[i], sigma, nonce++);
		ctfs_mlkem_ntt(&s[i]);
	}
	for (int i = 0; i < MLKEM768_K; i++) {
		/* t_hat[i] = e_hat[i] + sum_j A_hat[i, j] * s_hat[j] */
		ctfs_mlkem_sample_cbd2(&t, sigma, nonce++);
		ctfs_mlkem_ntt(&t);
		for (int j = 0; j < MLKEM768_K; j++) {
			ctfs_mlkem_matrix_entry(&a, rho, (unsigned int)i, (unsigned int)j);
			ctfs_mlkem_poly_mul_acc(&t, &a, &s[j]);
		}
		ctfs_mlkem_poly_encode12(ek + i * MLKEM_POLY_BYTES(12), &t);
		ctfs_mlkem_poly_encode12(dk + i * MLKEM_POLY_BYTES(12), &s[i]);
	}
	memcpy(ek + KPKE_VEC_BYTES, rho, 32);
	sodium_memzero(s, sizeof(s));
	sodium_memzero(&t, sizeof(t));
}

/* u[i] = NTT^-1(sum_j A_hat[j, i] * y_hat[j]) + e1[i], compressed into ct. */
static void encrypt_u(uint8_t *ct, const uint8_t rho[32], const struct mlkem_poly y[MLKEM768_K],
		      const uint8_t r[32])
{
	struct mlkem_poly u, a, e1;

	for (int i = 0; i < MLKEM768_K; i++) {
		memset(&u, 0, sizeof(u));
		for (int j = 0; j < MLKEM768_K; j++) {
			ctfs_mlkem_matrix_entry(&a, rho, (unsigned int)j, (unsigned int)i);
			ctfs_mlkem_poly_mul_acc(&u, &a, &y[j]);
		}
		ctfs_mlkem_invntt(&u);
		ctfs_mlkem_sample_cbd2(&e1, r, (uint8_t)(MLKEM768_K + i));
		ctfs_mlkem_poly_add(&u, &u, &e1);
		ctfs_mlkem_poly_compress(ct + i * MLKEM_POLY_BYTES(MLKEM768_DU), &u, MLKEM768_DU);
	}
	sodium_memzero(&u, sizeof(u));
	sodium_memzero(&e1, sizeof(e1));
}

/* v = NTT^-1(t_hat . y_hat) + e2 + Decompress_1(m), compressed into ct. */
static void encrypt_v(uint8_t *ct, const uint8_t *t_bytes, const struct mlkem_poly y[MLKEM768_K],
		      const uint8_t m[32], const uint8_t r[32])
{
	struct mlkem_poly v, t, e;

	memset(&v, 0, sizeof(v));
	for (int i = 0; i < MLKEM768_K; i++) {
		ctfs_mlkem_poly_decode12(&t, t_bytes + i * MLKEM_POLY_BYTES(12));
		ctfs_mlkem_poly_mul_acc(&v, &t, &y[i]);
	}
	ctfs_mlkem_invntt(&v);
	ctfs_mlkem_sample_cbd2(&e, r, 2 * MLKEM768_K);
	ctfs_mlkem_poly_add(&v, &v, &e);
	ctfs_mlkem_poly_decompress(&e, m, 1);
	ctfs_mlkem_poly_add(&v, &v, &e);
	ctfs_mlkem_poly_compress(ct, &v, MLKEM768_DV);
	sodium_memzero(&v, sizeof(v));
	sodium_memzero(&e, sizeof(e));
}

void ctfs_mlkem_kpke_encrypt(uint8_t ct[KPKE_CT_BYTES], const uint8_t ek[KPKE_EK_BYTES],
			     const uint8_t m[32], const uint8_t r[32])
{
	struct mlkem_poly y[MLKEM768_K];

	for (int i = 0; i < MLKEM768_K; i++) {
		ctfs_mlkem_sample_cbd2(&y[i], r, (uint8_t)i);
		ctfs_mlkem_ntt(&y[i]);
	}
	encrypt_u(ct, ek + KPKE_VEC_BYTES, y, r);
	encrypt_v(ct + KPKE_U_BYTES, ek, y, m, r);
	sodium_memzero(y, sizeof(y));
}

void ctfs_mlkem_kpke_decrypt(uint8_t m[32], const uint8_t dk[KPKE_DK_BYTES],
			     const uint8_t ct[KPKE_CT_BYTES])
{
	struct mlkem_poly w, u, s;

	/* w = v - NTT^-1(s_hat . NTT(u)) */
	memset(&w, 0, sizeof(w));
	for (int i = 0; i < MLKEM768_K; i++) {
		ctfs_mlkem_poly_decompress(&u, ct + i * MLKEM_POLY_BYTES(MLKEM768_DU), MLKEM768_DU);
		ctfs_mlkem_ntt(&u);
		ctfs_mlkem_poly_decode12(&s, dk + i * MLKEM_POLY_BYTES(12));
		ctfs_mlkem_poly_mul_acc(&w, &s, &u);
	}
	ctfs_mlkem_invntt(&w);
	ctfs_mlkem_poly_decompress(&u, ct + KPKE_U_BYTES, MLKEM768_DV);
	ctfs_mlkem_poly_sub(&w, &u, &w);
	ctfs_mlkem_poly_compress(m, &w, 1);
	sodium_memzero(&w, sizeof(w));
	sodium_memzero(&s, sizeof(s));
}
