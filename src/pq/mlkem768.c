#include "pq/mlkem768.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "pq/fips202.h"
#include "pq/mlkem_kpke.h"

_Static_assert(KPKE_EK_BYTES == CTFS_MLKEM768_PK_BYTES, "ek size");
_Static_assert(KPKE_CT_BYTES == CTFS_MLKEM768_CT_BYTES, "ct size");
_Static_assert(KPKE_DK_BYTES + KPKE_EK_BYTES + 64 == CTFS_MLKEM768_SK_BYTES, "dk size");

/* dk = dk_PKE || ek || H(ek) || z */
#define DK_EK_OFF KPKE_DK_BYTES
#define DK_H_OFF (DK_EK_OFF + KPKE_EK_BYTES)
#define DK_Z_OFF (DK_H_OFF + 32)

/* G(a || b) = SHA3-512, split into two 32-byte halves. */
static void hash_g(uint8_t out[64], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct ctfs_keccak st;

	ctfs_sha3_512_init(&st);
	ctfs_keccak_absorb(&st, a, alen);
	ctfs_keccak_absorb(&st, b, blen);
	ctfs_keccak_squeeze(&st, out, 64);
	ctfs_keccak_wipe(&st);
}

/* J(z || c) = SHAKE256(z || c, 32), the implicit-rejection key. */
static void hash_j(uint8_t out[32], const uint8_t z[32], const uint8_t *ct)
{
	struct ctfs_keccak st;

	ctfs_shake256_init(&st);
	ctfs_keccak_absorb(&st, z, 32);
	ctfs_keccak_absorb(&st, ct, CTFS_MLKEM768_CT_BYTES);
	ctfs_keccak_squeeze(&st, out, 32);
	ctfs_keccak_wipe(&st);
}

int ctfs_mlkem768_keypair_derand(uint8_t *pk, uint8_t *sk, const uint8_t d[32],
				 const uint8_t z[32])
{
	const uint8_t k = MLKEM768_K; /* FIPS 203 domain-separates G by k */
	uint8_t rho_sigma[64];

	hash_g(rho_sigma, d, 32, &k, 1);
	ctfs_mlkem_kpke_keygen(pk, sk, rho_sigma, rho_sigma + 32);
	memcpy(sk + DK_EK_OFF, pk, KPKE_EK_BYTES);
	ctfs_sha3_256(sk + DK_H_OFF, pk, KPKE_EK_BYTES);
	memcpy(sk + DK_Z_OFF, z, 32);
	sodium_memzero(rho_sigma, sizeof(rho_sigma));
	return 0;
}

int ctfs_mlkem768_keypair(uint8_t *pk, uint8_t *sk)
{
	uint8_t dz[64];
	int rc;

	if (sodium_init() < 0)
		return -EIO;
	randombytes_buf(dz, sizeof(dz));
	rc = ctfs_mlkem768_keypair_derand(pk, sk, dz, dz + 32);
	sodium_memzero(dz, sizeof(dz));
	return rc;
}

int ctfs_mlkem768_keypair_from_seed(uint8_t *pk, uint8_t *sk, const uint8_t *seed,
				    size_t seedlen)
{
	if (seedlen != CTFS_MLKEM768_SEED_BYTES)
		return -EINVAL;
	return ctfs_mlkem768_keypair_derand(pk, sk, seed, seed + 32);
}

/* Modulus check (FIPS 203 7.2): every encoded coefficient of t_hat < q. */
static int ek_check(const uint8_t *pk)
{
	struct mlkem_poly t;
	int bad = 0;

	for (int i = 0; i < MLKEM768_K; i++)
		bad |= ctfs_mlkem_poly_decode12(&t, pk + i * MLKEM_POLY_BYTES(12));
	return bad ? -EINVAL : 0;
}

int ctfs_mlkem768_encaps_derand(uint8_t *ct, uint8_t *ss, const uint8_t *pk,
				const uint8_t m[32])
{
	uint8_t h[32], kr[64];

	if (ek_check(pk))
		return -EINVAL;
	ctfs_sha3_256(h, pk, CTFS_MLKEM768_PK_BYTES);
	hash_g(kr, m, 32, h, 32);
	ctfs_mlkem_kpke_encrypt(ct, pk, m, kr + 32);
	memcpy(ss, kr, 32);
	sodium_memzero(kr, sizeof(kr));
	return 0;
}

int ctfs_mlkem768_encaps(uint8_t *ct, uint8_t *ss, const uint8_t *pk)
{
	uint8_t m[32];
	int rc;

	if (sodium_init() < 0)
		return -EIO;
	randombytes_buf(m, sizeof(m));
	rc = ctfs_mlkem768_encaps_derand(ct, ss, pk, m);
	sodium_memzero(m, sizeof(m));
	return rc;
}

/* All-ones when a == b, else zero, without branching on the contents. */
static uint8_t ct_eq_mask(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint32_t diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= (uint32_t)(a[i] ^ b[i]);
	/* diff - 1 borrows into bit 31 only when diff == 0 */
	return (uint8_t)mlkem_value_barrier(0u - ((diff - 1) >> 31));
}

/* Hash check (FIPS 203 7.3): H(ek) stored in dk matches the stored ek. */
static int dk_check(const uint8_t *sk)
{
	uint8_t h[32];

	ctfs_sha3_256(h, sk + DK_EK_OFF, KPKE_EK_BYTES);
	return sodium_memcmp(h, sk + DK_H_OFF, 32) ? -EINVAL : 0;
}

int ctfs_mlkem768_decaps(uint8_t *ss, const uint8_t *ct, const uint8_t *sk)
{
	uint8_t m[32], kr[64], kbar[32], ct2[CTFS_MLKEM768_CT_BYTES], keep;

	if (dk_check(sk))
		return -EINVAL;
	ctfs_mlkem_kpke_decrypt(m, sk, ct);
	hash_g(kr, m, 32, sk + DK_H_OFF, 32);
	hash_j(kbar, sk + DK_Z_OFF, ct);
	ctfs_mlkem_kpke_encrypt(ct2, sk + DK_EK_OFF, m, kr + 32);
	keep = ct_eq_mask(ct, ct2, sizeof(ct2));
	for (int i = 0; i < 32; i++)
		ss[i] = (uint8_t)((kr[i] & keep) | (kbar[i] & ~keep));
	sodium_memzero(m, sizeof(m));
	sodium_memzero(kr, sizeof(kr));
	sodium_memzero(kbar, sizeof(kbar));
	sodium_memzero(ct2, sizeof(ct2));
	sodium_memzero(&keep, sizeof(keep));
	return 0;
}

int ctfs_mlkem768_encaps_sized(uint8_t *ct, uint8_t *ss, const uint8_t *pk, size_t pklen)
{
	if (pklen != CTFS_MLKEM768_PK_BYTES)
		return -EINVAL;
	return ctfs_mlkem768_encaps(ct, ss, pk);
}

int ctfs_mlkem768_encaps_derand_sized(uint8_t *ct, uint8_t *ss, const uint8_t *pk,
				      size_t pklen, const uint8_t m[32])
{
	if (pklen != CTFS_MLKEM768_PK_BYTES)
		return -EINVAL;
	return ctfs_mlkem768_encaps_derand(ct, ss, pk, m);
}

int ctfs_mlkem768_decaps_sized(uint8_t *ss, const uint8_t *ct, size_t ctlen,
			       const uint8_t *sk, size_t sklen)
{
	if (ctlen != CTFS_MLKEM768_CT_BYTES || sklen != CTFS_MLKEM768_SK_BYTES)
		return -EINVAL;
	return ctfs_mlkem768_decaps(ss, ct, sk);
}
