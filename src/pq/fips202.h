/* SHA-3 and SHAKE (FIPS 202) on Keccak-f[1600], with incremental
 * absorb and squeeze (OpenSSL 3.0 can only squeeze an XOF once). */
#ifndef CTFS_PQ_FIPS202_H
#define CTFS_PQ_FIPS202_H

#include <stddef.h>
#include <stdint.h>

#define CTFS_SHAKE128_RATE 168
#define CTFS_SHAKE256_RATE 136
#define CTFS_SHA3_256_RATE 136
#define CTFS_SHA3_512_RATE 72

/* Domain separation plus the first bit of pad10*1, per FIPS 202 6.1/6.2. */
#define CTFS_KECCAK_DS_SHA3 0x06
#define CTFS_KECCAK_DS_SHAKE 0x1f

/* A sponge: pos is the byte offset inside the current block, for absorbing
 * and squeezing alike; squeezing is set once the padding has been applied. */
struct ctfs_keccak {
	uint64_t s[25];
	unsigned int pos;
	unsigned int rate;
	uint8_t dsbyte;
	int squeezing;
};

/* rate in bytes (0 < rate < 200, multiple of 8), dsbyte as above. */
void ctfs_keccak_init(struct ctfs_keccak *st, unsigned int rate, uint8_t dsbyte);
void ctfs_shake128_init(struct ctfs_keccak *st);
void ctfs_shake256_init(struct ctfs_keccak *st);
/* For SHA3-256/512 through the sponge API: squeeze exactly 32/64 bytes. */
void ctfs_sha3_256_init(struct ctfs_keccak *st);
void ctfs_sha3_512_init(struct ctfs_keccak *st);

/* Any number of calls, all before the first squeeze. */
void ctfs_keccak_absorb(struct ctfs_keccak *st, const uint8_t *in, size_t len);
/* Any number of calls; the first one pads and finalizes the input. */
void ctfs_keccak_squeeze(struct ctfs_keccak *st, uint8_t *out, size_t len);
/* Zeroes the whole state (it holds secrets when the input did). */
void ctfs_keccak_wipe(struct ctfs_keccak *st);

/* The permutation itself, exposed for tests and special uses. */
void ctfs_keccak_f1600(uint64_t s[25]);

void ctfs_sha3_256(uint8_t out[32], const uint8_t *in, size_t len);
void ctfs_sha3_512(uint8_t out[64], const uint8_t *in, size_t len);
void ctfs_shake128(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen);
void ctfs_shake256(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen);

#endif
