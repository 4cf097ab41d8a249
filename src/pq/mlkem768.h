/* ML-KEM-768 (FIPS 203): key encapsulation.
 *
 * All functions return 0 or a negative errno. -EINVAL means an input
 * failed the checks of FIPS 203 section 7 (encapsulation key modulus
 * check, decapsulation key hash check, lengths). A ciphertext that does
 * not decrypt consistently is NOT an error: decapsulation then returns 0
 * with the pseudo-random key of implicit rejection. */
#ifndef CTFS_PQ_MLKEM768_H
#define CTFS_PQ_MLKEM768_H

#include <stddef.h>
#include <stdint.h>

#define CTFS_MLKEM768_PK_BYTES 1184
#define CTFS_MLKEM768_SK_BYTES 2400
#define CTFS_MLKEM768_CT_BYTES 1088
#define CTFS_MLKEM768_SS_BYTES 32
/* d || z, the compact form of a decapsulation key */
#define CTFS_MLKEM768_SEED_BYTES 64

/* ML-KEM.KeyGen_internal(d, z) and ML-KEM.KeyGen (libsodium randomness). */
int ctfs_mlkem768_keypair_derand(uint8_t *pk, uint8_t *sk, const uint8_t d[32],
				 const uint8_t z[32]);
int ctfs_mlkem768_keypair(uint8_t *pk, uint8_t *sk);
/* Key pair from a 64-byte seed d || z; -EINVAL for any other length. */
int ctfs_mlkem768_keypair_from_seed(uint8_t *pk, uint8_t *sk, const uint8_t *seed,
				    size_t seedlen);

/* ML-KEM.Encaps_internal(ek, m) and ML-KEM.Encaps. */
int ctfs_mlkem768_encaps_derand(uint8_t *ct, uint8_t *ss, const uint8_t *pk,
				const uint8_t m[32]);
int ctfs_mlkem768_encaps(uint8_t *ct, uint8_t *ss, const uint8_t *pk);

/* ML-KEM.Decaps with implicit rejection. */
int ctfs_mlkem768_decaps(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);

/* The same with explicit input lengths (for keys and ciphertexts read from
 * files or the network): -EINVAL when a length is not the expected one. */
int ctfs_mlkem768_encaps_sized(uint8_t *ct, uint8_t *ss, const uint8_t *pk, size_t pklen);
int ctfs_mlkem768_encaps_derand_sized(uint8_t *ct, uint8_t *ss, const uint8_t *pk,
				      size_t pklen, const uint8_t m[32]);
int ctfs_mlkem768_decaps_sized(uint8_t *ss, const uint8_t *ct, size_t ctlen,
			       const uint8_t *sk, size_t sklen);

#endif
