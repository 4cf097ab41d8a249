/* ML-DSA-65 signatures (FIPS 204), pure mode with a context string. */
#ifndef CTFS_PQ_MLDSA65_H
#define CTFS_PQ_MLDSA65_H

#include <stddef.h>
#include <stdint.h>

#define CTFS_MLDSA65_PK_BYTES 1952
#define CTFS_MLDSA65_SK_BYTES 4032
#define CTFS_MLDSA65_SIG_BYTES 3309
#define CTFS_MLDSA65_SEED_BYTES 32
#define CTFS_MLDSA65_RND_BYTES 32
#define CTFS_MLDSA65_MU_BYTES 64
#define CTFS_MLDSA65_CTX_MAX 255

/*
 * All functions return 0 on success or a negative errno:
 *   -EINVAL   a length is out of range (ctxlen > 255, siglen wrong), or the
 *             secret key holds coefficients FIPS 204 cannot produce;
 *   -EBADMSG  the signature does not verify;
 *   -ENOMEM   the work area could not be allocated.
 * Keys and signatures are the byte strings of FIPS 204 (pkEncode, skEncode,
 * sigEncode); pk, sk and sig point to buffers of the sizes above.
 */

/* KeyGen_internal (FIPS 204 Alg. 6): the key pair is a function of the seed. */
int ctfs_mldsa65_keypair_from_seed(uint8_t *pk, uint8_t *sk, const uint8_t seed[32]);
/* ML-DSA.KeyGen (Alg. 1), seed from libsodium's randombytes_buf. */
int ctfs_mldsa65_keypair(uint8_t *pk, uint8_t *sk);

/* ML-DSA.Sign (Alg. 2). rnd: 32 bytes of fresh randomness for the hedged
 * variant, or NULL for the deterministic variant (rnd all zero).
 * ctx may be NULL when ctxlen is 0. */
int ctfs_mldsa65_sign(uint8_t *sig, const uint8_t *msg, size_t msglen,
		      const uint8_t *ctx, size_t ctxlen, const uint8_t *sk,
		      const uint8_t *rnd);
/* ML-DSA.Verify (Alg. 3). */
int ctfs_mldsa65_verify(const uint8_t *sig, size_t siglen, const uint8_t *msg,
			size_t msglen, const uint8_t *ctx, size_t ctxlen,
			const uint8_t *pk);

/*
 * "External mu" entry points, for test vectors that give mu and for callers
 * that hash the message elsewhere. mu = H(H(pk, 64) || M', 64) with
 * M' = 0 || ctxlen || ctx || msg for the pure variant, as computed by
 * ctfs_mldsa65_compute_mu. sign_mu is Sign_internal (Alg. 7) from step 7 on,
 * verify_mu is Verify_internal (Alg. 8) from step 8 on.
 */
int ctfs_mldsa65_compute_mu(uint8_t mu[64], const uint8_t *pk,
			    const uint8_t *msg, size_t msglen,
			    const uint8_t *ctx, size_t ctxlen);
int ctfs_mldsa65_sign_mu(uint8_t *sig, const uint8_t mu[64], const uint8_t *sk,
			 const uint8_t *rnd);
int ctfs_mldsa65_verify_mu(const uint8_t *sig, size_t siglen,
			   const uint8_t mu[64], const uint8_t *pk);

#endif
