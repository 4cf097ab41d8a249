/* K-PKE, the CPA-secure encryption inside ML-KEM-768 (FIPS 203 section 5).
 * Internal to src/pq; the public interface is mlkem768.h. */
#ifndef CTFS_PQ_MLKEM_KPKE_H
#define CTFS_PQ_MLKEM_KPKE_H

#include <stdint.h>

#include "pq/mlkem_poly.h"

#define MLKEM768_K 3
#define MLKEM768_DU 10
#define MLKEM768_DV 4

#define KPKE_VEC_BYTES (MLKEM768_K * MLKEM_POLY_BYTES(12))
#define KPKE_EK_BYTES (KPKE_VEC_BYTES + 32)
#define KPKE_DK_BYTES KPKE_VEC_BYTES
#define KPKE_U_BYTES (MLKEM768_K * MLKEM_POLY_BYTES(MLKEM768_DU))
#define KPKE_CT_BYTES (KPKE_U_BYTES + MLKEM_POLY_BYTES(MLKEM768_DV))

/* Algorithm 13 from step 2 on: the caller supplies (rho, sigma) = G(d || k)
 * (the initial public draft hashed d alone; the CCTV vectors need that). */
void ctfs_mlkem_kpke_keygen(uint8_t ek[KPKE_EK_BYTES], uint8_t dk[KPKE_DK_BYTES],
			    const uint8_t rho[32], const uint8_t sigma[32]);

/* Algorithm 14. ek is not checked here: ByteDecode_12 reduces mod q. */
void ctfs_mlkem_kpke_encrypt(uint8_t ct[KPKE_CT_BYTES], const uint8_t ek[KPKE_EK_BYTES],
			     const uint8_t m[32], const uint8_t r[32]);

/* Algorithm 15. */
void ctfs_mlkem_kpke_decrypt(uint8_t m[32], const uint8_t dk[KPKE_DK_BYTES],
			     const uint8_t ct[KPKE_CT_BYTES]);

/* Matrix entry A_hat[row, col] = SampleNTT(rho || col || row). */
void ctfs_mlkem_matrix_entry(struct mlkem_poly *a, const uint8_t rho[32],
			     unsigned int row, unsigned int col);

#endif
