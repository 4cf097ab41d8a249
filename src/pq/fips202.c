#include "pq/fips202.h"

#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "util.h"

/* iota constants: rc(7 * round + j) of FIPS 202 Algorithm 5 packed into lanes. */
static const uint64_t round_consts[24] = {
	0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL,
	0x8000000080008000ULL, 0x000000000000808bULL, 0x0000000080000001ULL,
	0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL,
	0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
	0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
	0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
	0x000000000000800aULL, 0x800000008000000aULL, 0x8000000080008081ULL,
	0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* rho offsets (FIPS 202 Table 2), indexed by lane x + 5y. */
static const unsigned int rho_offsets[25] = {
	0,  1,  62, 28, 27,
	36, 44, 6,  55, 20,
	3,  10, 43, 25, 39,
	41, 45, 15, 21, 8,
	18, 2,  61, 56, 14,
};

static inline uint64_t rotl64(uint64_t v, unsigned int n)
{
	return v << n | v >> ((64 - n) & 63);
}

/* The step mappings are written as loops over the lane coordinates, as
 * in FIPS 202 3.2; fully unrolled, all indices become constants, which is
 * worth a factor of five in speed. */
static void theta(uint64_t a[25])
{
	uint64_t c[5], d;

#pragma GCC unroll 5
	for (int x = 0; x < 5; x++)
		c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
#pragma GCC unroll 5
	for (int x = 0; x < 5; x++) {
		d = c[(x + 4) % 5] ^ rotl64(c[(x + 1) % 5], 1);
#pragma GCC unroll 5
		for (int y = 0; y < 25; y += 5)
			a[x + y] ^= d;
	}
}

/* rho then pi: lane (x, y) moves to (y, 2x + 3y). */
static void rho_pi(uint64_t b[25], const uint64_t a[25])
{
#pragma GCC unroll 5
	for (int x = 0; x < 5; x++)
#pragma GCC unroll 5
		for (int y = 0; y < 5; y++)
			b[y + 5 * ((2 * x + 3 * y) % 5)] =
				rotl64(a[x + 5 * y], rho_offsets[x + 5 * y]);
}

static void chi(uint64_t a[25], const uint64_t b[25])
{
#pragma GCC unroll 5
	for (int y = 0; y < 25; y += 5)
#pragma GCC unroll 5
		for (int x = 0; x < 5; x++)
			a[x + y] = b[x + y] ^ (~b[(x + 1) % 5 + y] & b[(x + 2) % 5 + y]);
}

void ctfs_keccak_f1600(uint64_t s[25])
{
	uint64_t b[25];

	for (int r = 0; r < 24; r++) {
		theta(s);
		rho_pi(b, s);
		chi(s, b);
		s[0] ^= round_consts[r];
	}
	sodium_memzero(b, sizeof(b));
}

void ctfs_keccak_init(struct ctfs_keccak *st, unsigned int rate, uint8_t dsbyte)
{
	assert(rate > 0 && rate < 200 && rate % 8 == 0);
	memset(st->s, 0, sizeof(st->s));
	st->pos = 0;
	st->rate = rate;
	st->dsbyte = dsbyte;
	st->squeezing = 0;
}

void ctfs_shake128_init(struct ctfs_keccak *st)
{
	ctfs_keccak_init(st, CTFS_SHAKE128_RATE, CTFS_KECCAK_DS_SHAKE);
}

void ctfs_shake256_init(struct ctfs_keccak *st)
{
	ctfs_keccak_init(st, CTFS_SHAKE256_RATE, CTFS_KECCAK_DS_SHAKE);
}

void ctfs_sha3_256_init(struct ctfs_keccak *st)
{
	ctfs_keccak_init(st, CTFS_SHA3_256_RATE, CTFS_KECCAK_DS_SHA3);
}

void ctfs_sha3_512_init(struct ctfs_keccak *st)
{
	ctfs_keccak_init(st, CTFS_SHA3_512_RATE, CTFS_KECCAK_DS_SHA3);
}

static inline void xor_byte(uint64_t s[25], unsigned int pos, uint8_t b)
{
	s[pos / 8] ^= (uint64_t)b << (8 * (pos % 8));
}

static inline uint8_t get_byte(const uint64_t s[25], unsigned int pos)
{
	return (uint8_t)(s[pos / 8] >> (8 * (pos % 8)));
}

void ctfs_keccak_absorb(struct ctfs_keccak *st, const uint8_t *in, size_t len)
{
	assert(!st->squeezing);
	while (len) {
		if (st->pos == 0 && len >= st->rate) {
			/* whole blocks: lane at a time */
			for (unsigned int i = 0; i < st->rate / 8; i++)
				st->s[i] ^= ctfs_load_le64(in + 8 * i);
			in += st->rate;
			len -= st->rate;
			ctfs_keccak_f1600(st->s);
			continue;
		}
		xor_byte(st->s, st->pos++, *in++);
		len--;
		if (st->pos == st->rate) {
			ctfs_keccak_f1600(st->s);
			st->pos = 0;
		}
	}
}

/* pad10*1 with the domain bits; pos < rate always holds here, so the
 * first and last padding bytes may coincide, which XOR handles. */
static void finalize(struct ctfs_keccak *st)
{
	xor_byte(st->s, st->pos, st->dsbyte);
	xor_byte(st->s, st->rate - 1, 0x80);
	ctfs_keccak_f1600(st->s);
	st->pos = 0;
	st->squeezing = 1;
}

void ctfs_keccak_squeeze(struct ctfs_keccak *st, uint8_t *out, size_t len)
{
	if (!st->squeezing)
		finalize(st);
	while (len) {
		if (st->pos == st->rate) {
			ctfs_keccak_f1600(st->s);
			st->pos = 0;
		}
		if (st->pos == 0 && len >= st->rate) {
			for (unsigned int i = 0; i < st->rate / 8; i++)
				ctfs_store_le64(out + 8 * i, st->s[i]);
			out += st->rate;
			len -= st->rate;
			st->pos = st->rate;
			continue;
		}
		*out++ = get_byte(st->s, st->pos++);
		len--;
	}
}

void ctfs_keccak_wipe(struct ctfs_keccak *st)
{
	sodium_memzero(st, sizeof(*st));
}

static void oneshot(struct ctfs_keccak *st, uint8_t *out, size_t outlen,
		    const uint8_t *in, size_t inlen)
{
	ctfs_keccak_absorb(st, in, inlen);
	ctfs_keccak_squeeze(st, out, outlen);
	ctfs_keccak_wipe(st);
}

void ctfs_sha3_256(uint8_t out[32], const uint8_t *in, size_t len)
{
	struct ctfs_keccak st;

	ctfs_sha3_256_init(&st);
	oneshot(&st, out, 32, in, len);
}

void ctfs_sha3_512(uint8_t out[64], const uint8_t *in, size_t len)
{
	struct ctfs_keccak st;

	ctfs_sha3_512_init(&st);
	oneshot(&st, out, 64, in, len);
}

void ctfs_shake128(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen)
{
	struct ctfs_keccak st;

	ctfs_shake128_init(&st);
	oneshot(&st, out, outlen, in, inlen);
}

void ctfs_shake256(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen)
{
	struct ctfs_keccak st;

	ctfs_shake256_init(&st);
	oneshot(&st, out, outlen, in, inlen);
}
