/* Minimal TAP producer for the C unit tests (run by automake's tap-driver). */
#ifndef CTFS_TAP_H
#define CTFS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static inline __attribute__((format(printf, 2, 3))) int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static inline __attribute__((format(printf, 1, 2))) void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Skip the whole program (e.g. vectors not present outside the source tree). */
static inline void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	fflush(stdout); /* a sanitizer's report at exit must not eat the plan */
	return tap_failed ? 1 : 0;
}

/*
 * Seeded pseudo-random data, so a failure can be replayed: tap_seed() takes
 * the seed from $CTFS_SEED (decimal or 0x hex) or picks one, prints it as a
 * TAP comment, and seeds tap_rand(). Tests draw their "random" inputs (and
 * keys, where the values could matter) from here, never from the OS.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

static uint64_t tap_rng_state;

static inline uint64_t tap_rand(void)	/* splitmix64 */
{
	uint64_t z = (tap_rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void tap_fill(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t r = tap_rand();
		size_t k = len < 8 ? len : 8;

		memcpy(p, &r, k);
		p += k;
		len -= k;
	}
}

/* Uniform enough for tests: [0, n), n > 0. */
static inline uint64_t tap_below(uint64_t n)
{
	return tap_rand() % n;
}

static inline uint64_t tap_seed(void)
{
	const char *e = getenv("CTFS_SEED");
	uint64_t seed;

	if (e && *e) {
		seed = strtoull(e, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
	}
	tap_rng_state = seed;
	printf("# seed %llu (replay with CTFS_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	fflush(stdout);
	return seed;
}

/* Directory of the test vectors: $CTFS_VECTORS, else tests/vectors in the source tree. */
static inline const char *tap_vectors_dir(void)
{
	const char *v = getenv("CTFS_VECTORS");

	return v && *v ? v : SRCDIR "/tests/vectors";
}

#endif
