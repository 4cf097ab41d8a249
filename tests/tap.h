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

/* Directory of the test vectors: $CTFS_VECTORS, else tests/vectors in the source tree. */
static inline const char *tap_vectors_dir(void)
{
	const char *v = getenv("CTFS_VECTORS");

	return v && *v ? v : SRCDIR "/tests/vectors";
}

#endif
