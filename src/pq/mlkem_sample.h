/* ML-KEM sampling (FIPS 203 Algorithms 7 and 8). Internal to src/pq. */
#ifndef CTFS_PQ_MLKEM_SAMPLE_H
#define CTFS_PQ_MLKEM_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "pq/mlkem_poly.h"

/* SampleNTT(rho || x || y) by rejection from SHAKE128, drawing as many
 * blocks as it takes. Works on public data only (the matrix seed), so it
 * may branch. Returns the number of XOF bytes consumed, for tests. */
size_t ctfs_mlkem_sample_ntt(struct mlkem_poly *a, const uint8_t rho[32], uint8_t x, uint8_t y);

/* SamplePolyCBD_2(PRF_2(seed, nonce)): the secret and error polynomials
 * of ML-KEM-768 (eta1 = eta2 = 2). Constant time. */
void ctfs_mlkem_sample_cbd2(struct mlkem_poly *f, const uint8_t seed[32], uint8_t nonce);

#endif
