/* Small helpers shared by every part of the library. */
#ifndef CTFS_UTIL_H
#define CTFS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTFS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Error text for the caller: every parser takes (char *err, size_t errlen)
 * and fills it with one line saying what was wrong. err may be NULL. */
void ctfs_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Overflow-checked arithmetic on sizes read from files: true on overflow. */
static inline bool ctfs_add_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}

static inline bool ctfs_mul_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

static inline uint32_t ctfs_load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void ctfs_store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint64_t ctfs_load_be64(const uint8_t *p)
{
	return (uint64_t)ctfs_load_be32(p) << 32 | ctfs_load_be32(p + 4);
}

static inline void ctfs_store_be64(uint8_t *p, uint64_t v)
{
	ctfs_store_be32(p, (uint32_t)(v >> 32));
	ctfs_store_be32(p + 4, (uint32_t)v);
}

static inline uint64_t ctfs_load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline void ctfs_store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* A growable byte buffer for building headers and JSON text. */
struct ctfs_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

int ctfs_buf_reserve(struct ctfs_buf *b, size_t extra);
int ctfs_buf_append(struct ctfs_buf *b, const void *p, size_t n);
int ctfs_buf_putc(struct ctfs_buf *b, char c);
int ctfs_buf_puts(struct ctfs_buf *b, const char *s);
int ctfs_buf_printf(struct ctfs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ctfs_buf_free(struct ctfs_buf *b);

/* pread/write/pwrite that loop over short transfers; 0 or -errno
 * (-EIO when the file ends early). */
int ctfs_pread_full(int fd, void *buf, size_t len, uint64_t off);
int ctfs_write_full(int fd, const void *buf, size_t len);
int ctfs_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* Same file with the same content as far as the kernel tells: device,
 * inode, size, and modification and change times to the nanosecond. */
struct stat;
bool ctfs_same_file(const struct stat *a, const struct stat *b);

/* Read a whole (small) file; 0 or -errno. */
int ctfs_read_file(const char *path, size_t max, uint8_t **out, size_t *outlen);

/* A decimal number in [lo, hi], the whole string; 0 or -EINVAL. */
int ctfs_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);

#endif
