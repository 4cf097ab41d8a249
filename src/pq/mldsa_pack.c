/* ML-DSA-65 byte encodings: keys, signatures and w1 (FIPS 204 7.1, 7.2).
 * Packing is branch-free; only the hint decoder, which reads a public
 * signature, branches on its input. */
#include "pq/mldsa_internal.h"

#include <errno.h>
#include <string.h>

/* Fields are laid out little endian, coefficient 0 first. */
static void pack(uint8_t *out, const struct mldsa_poly *p, int32_t b, int32_t sign,
		 unsigned int bits)
{
	uint32_t mask = (1u << bits) - 1;
	uint64_t acc = 0;
	unsigned int n = 0;

	for (unsigned int i = 0; i < MLDSA_N; i++) {
		acc |= (uint64_t)((uint32_t)(b + sign * p->c[i]) & mask) << n;
		for (n += bits; n >= 8; n -= 8) {
			*out++ = (uint8_t)acc;
			acc >>= 8;
		}
	}
}

static void unpack(struct mldsa_poly *p, const uint8_t *in, int32_t b, int32_t sign,
		   unsigned int bits)
{
	uint32_t mask = (1u << bits) - 1;
	uint64_t acc = 0;
	unsigned int n = 0;

	for (unsigned int i = 0; i < MLDSA_N; i++) {
		for (; n < bits; n += 8)
			acc |= (uint64_t)*in++ << n;
		p->c[i] = b + sign * (int32_t)(acc & mask);
		acc >>= bits;
		n -= bits;
	}
}

void ctfs_mldsa_bitpack(uint8_t *out, const struct mldsa_poly *p, int32_t b,
			unsigned int bits)
{
	pack(out, p, b, -1, bits);
}

void ctfs_mldsa_bitunpack(struct mldsa_poly *p, const uint8_t *in, int32_t b,
			  unsigned int bits)
{
	unpack(p, in, b, -1, bits);
}

void ctfs_mldsa_simple_bitpack(uint8_t *out, const struct mldsa_poly *p, unsigned int bits)
{
	pack(out, p, 0, 1, bits);
}

void ctfs_mldsa_simple_bitunpack(struct mldsa_poly *p, const uint8_t *in, unsigned int bits)
{
	unpack(p, in, 0, 1, bits);
}

void ctfs_mldsa_pk_encode(uint8_t *pk, const uint8_t rho[MLDSA_SEED_BYTES],
			  const struct mldsa_poly t1[MLDSA_K])
{
	memcpy(pk, rho, MLDSA_SEED_BYTES);
	pk += MLDSA_SEED_BYTES;
	for (unsigned int i = 0; i < MLDSA_K; i++)
		ctfs_mldsa_simple_bitpack(pk + i * MLDSA_T1_POLY_BYTES, &t1[i], 10);
}

void ctfs_mldsa_pk_decode(uint8_t rho[MLDSA_SEED_BYTES], struct mldsa_poly t1[MLDSA_K],
			  const uint8_t *pk)
{
	memcpy(rho, pk, MLDSA_SEED_BYTES);
	pk += MLDSA_SEED_BYTES;
	for (unsigned int i = 0; i < MLDSA_K; i++)
		ctfs_mldsa_simple_bitunpack(&t1[i], pk + i * MLDSA_T1_POLY_BYTES, 10);
}

void ctfs_mldsa_sk_encode(uint8_t *sk, const uint8_t rho[MLDSA_SEED_BYTES],
			  const uint8_t key[MLDSA_SEED_BYTES],
			  const uint8_t tr[MLDSA_CRH_BYTES],
			  const struct mldsa_poly s1[MLDSA_L],
			  const struct mldsa_poly s2[MLDSA_K],
			  const struct mldsa_poly t0[MLDSA_K])
{
	memcpy(sk, rho, MLDSA_SEED_BYTES);
	sk += MLDSA_SEED_BYTES;
	memcpy(sk, key, MLDSA_SEED_BYTES);
	sk += MLDSA_SEED_BYTES;
	memcpy(sk, tr, MLDSA_CRH_BYTES);
	sk += MLDSA_CRH_BYTES;
	for (unsigned int i = 0; i < MLDSA_L; i++, sk += MLDSA_ETA_POLY_BYTES)
		ctfs_mldsa_bitpack(sk, &s1[i], MLDSA_ETA, 4);
	for (unsigned int i = 0; i < MLDSA_K; i++, sk += MLDSA_ETA_POLY_BYTES)
		ctfs_mldsa_bitpack(sk, &s2[i], MLDSA_ETA, 4);
	for (unsigned int i = 0; i < MLDSA_K; i++, sk += MLDSA_T0_POLY_BYTES)
		ctfs_mldsa_bitpack(sk, &t0[i], 1 << (MLDSA_D - 1), MLDSA_D);
}

int ctfs_mldsa_sk_decode(uint8_t rho[MLDSA_SEED_BYTES], uint8_t key[MLDSA_SEED_BYTES],
			 uint8_t tr[MLDSA_CRH_BYTES], struct mldsa_poly s1[MLDSA_L],
			 struct mldsa_poly s2[MLDSA_K], struct mldsa_poly t0[MLDSA_K],
			 const uint8_t *sk)
{
	int bad = 0;

	memcpy(rho, sk, MLDSA_SEED_BYTES);
	sk += MLDSA_SEED_BYTES;
	memcpy(key, sk, MLDSA_SEED_BYTES);
	sk += MLDSA_SEED_BYTES;
	memcpy(tr, sk, MLDSA_CRH_BYTES);
	sk += MLDSA_CRH_BYTES;
	/* Four bits decode to [-11, 4]; a key from KeyGen stays in [-4, 4]. */
	for (unsigned int i = 0; i < MLDSA_L; i++, sk += MLDSA_ETA_POLY_BYTES) {
		ctfs_mldsa_bitunpack(&s1[i], sk, MLDSA_ETA, 4);
		bad |= ctfs_mldsa_poly_exceeds(&s1[i], MLDSA_ETA + 1);
	}
	for (unsigned int i = 0; i < MLDSA_K; i++, sk += MLDSA_ETA_POLY_BYTES) {
		ctfs_mldsa_bitunpack(&s2[i], sk, MLDSA_ETA, 4);
		bad |= ctfs_mldsa_poly_exceeds(&s2[i], MLDSA_ETA + 1);
	}
	/* Every 13-bit value is a possible t0, in [-2^12 + 1, 2^12]. */
	for (unsigned int i = 0; i < MLDSA_K; i++, sk += MLDSA_T0_POLY_BYTES)
		ctfs_mldsa_bitunpack(&t0[i], sk, 1 << (MLDSA_D - 1), MLDSA_D);
	return bad ? -EINVAL : 0;
}

/* HintBitPack (Alg. 20): the positions of the ones, then the running count
 * after each polynomial. The hint is part of the output, hence public. */
static void hint_pack(uint8_t out[MLDSA_OMEGA + MLDSA_K], const struct mldsa_poly h[MLDSA_K])
{
	unsigned int idx = 0;

	memset(out, 0, MLDSA_OMEGA + MLDSA_K);
	for (unsigned int i = 0; i < MLDSA_K; i++) {
		for (unsigned int j = 0; j < MLDSA_N; j++) {
			if (h[i].c[j] && idx < MLDSA_OMEGA)
				out[idx++] = (uint8_t)j;
		}
		out[MLDSA_OMEGA + i] = (uint8_t)idx;
	}
}

/* HintBitUnpack (Alg. 21), with every check that makes the encoding unique:
 * counts within [previous count, omega], positions strictly increasing inside
 * a polynomial, unused slots zero. */
static int hint_unpack(struct mldsa_poly h[MLDSA_K], const uint8_t in[MLDSA_OMEGA + MLDSA_K])
{
	unsigned int idx = 0;

	memset(h, 0, MLDSA_K * sizeof(*h));
	for (unsigned int i = 0; i < MLDSA_K; i++) {
		unsigned int end = in[MLDSA_OMEGA + i], first = idx;

		if (end < idx || end > MLDSA_OMEGA)
			return -EBADMSG;
		for (; idx < end; idx++) {
			if (idx > first && in[idx - 1] >= in[idx])
				return -EBADMSG;
			h[i].c[in[idx]] = 1;
		}
	}
	for (; idx < MLDSA_OMEGA; idx++) {
		if (in[idx])
			return -EBADMSG;
	}
	return 0;
}

void ctfs_mldsa_sig_encode(uint8_t *sig, const uint8_t ctilde[MLDSA_CTILDE_BYTES],
			   const struct mldsa_poly z[MLDSA_L],
			   const struct mldsa_poly h[MLDSA_K])
{
	memcpy(sig, ctilde, MLDSA_CTILDE_BYTES);
	sig += MLDSA_CTILDE_BYTES;
	for (unsigned int i = 0; i < MLDSA_L; i++, sig += MLDSA_Z_POLY_BYTES)
		ctfs_mldsa_bitpack(sig, &z[i], MLDSA_GAMMA1, 20);
	hint_pack(sig, h);
}

int ctfs_mldsa_sig_decode(uint8_t ctilde[MLDSA_CTILDE_BYTES], struct mldsa_poly z[MLDSA_L],
			  struct mldsa_poly h[MLDSA_K], const uint8_t *sig)
{
	memcpy(ctilde, sig, MLDSA_CTILDE_BYTES);
	sig += MLDSA_CTILDE_BYTES;
	for (unsigned int i = 0; i < MLDSA_L; i++, sig += MLDSA_Z_POLY_BYTES)
		ctfs_mldsa_bitunpack(&z[i], sig, MLDSA_GAMMA1, 20);
	return hint_unpack(h, sig);
}

void ctfs_mldsa_w1_encode(uint8_t out[MLDSA_W1_BYTES], const struct mldsa_poly w1[MLDSA_K])
{
	for (unsigned int i = 0; i < MLDSA_K; i++)
		ctfs_mldsa_simple_bitpack(out + i * MLDSA_W1_POLY_BYTES, &w1[i], 4);
}
