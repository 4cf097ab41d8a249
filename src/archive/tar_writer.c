#include "archive/tar_writer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/tar_index.h"
#include "util.h"

#define COPY_CHUNK (1u << 20)
#define OCTAL11_MAX 077777777777ull

static int emit(struct ctfs_tar_writer *w, const void *p, size_t n)
{
	int rc = w->out(w->arg, p, n);

	if (!rc)
		w->written += n;
	return rc;
}

static int pad(struct ctfs_tar_writer *w, uint64_t to)
{
	static const uint8_t zeros[CTFS_TAR_BLOCK];
	uint64_t n = (to - w->written % to) % to;
	int rc = 0;

	while (n && !rc) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);

		rc = emit(w, zeros, k);
		n -= k;
	}
	return rc;
}

/* "%0*o" then NUL, filling a field of len bytes, as tarfile's itn(). */
static void octal(uint8_t *f, size_t len, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%0*llo", (int)(len - 1), (unsigned long long)v);
	memcpy(f, tmp, len - 1);
	f[len - 1] = 0;
}

/* A ustar header; name is written as given (at most 100 bytes). */
static void header(uint8_t *h, const char *name, size_t nlen, uint32_t mode, uint64_t size,
		   char type)
{
	unsigned int sum = 0;
	char chk[8];

	memset(h, 0, CTFS_TAR_BLOCK);
	memcpy(h, name, nlen);
	octal(h + 100, 8, mode);
	octal(h + 108, 8, 0);		/* uid */
	octal(h + 116, 8, 0);		/* gid */
	octal(h + 124, 12, size);
	octal(h + 136, 12, 0);		/* mtime */
	memset(h + 148, ' ', 8);
	h[156] = (uint8_t)type;
	memcpy(h + 257, "ustar\0" "00", 8);
	octal(h + 329, 8, 0);		/* devmajor */
	octal(h + 337, 8, 0);		/* devminor */
	for (size_t i = 0; i < CTFS_TAR_BLOCK; i++)
		sum += h[i];
	snprintf(chk, sizeof(chk), "%06o", sum);
	memcpy(h + 148, chk, 7);	/* six digits and NUL; the space stays */
}

/* One "LEN key=value\n" record, LEN counting itself. */
static int pax_record(struct ctfs_buf *b, const char *key, const char *val, size_t vlen)
{
	size_t base = strlen(key) + vlen + 3, n = base, digits;
	int rc;

	do {
		digits = (size_t)snprintf(NULL, 0, "%zu", n);
		n = base + digits;
	} while ((size_t)snprintf(NULL, 0, "%zu", n) != digits);
	rc = ctfs_buf_printf(b, "%zu %s=", n, key);
	if (!rc)
		rc = ctfs_buf_append(b, val, vlen);
	if (!rc)
		rc = ctfs_buf_putc(b, '\n');
	return rc;
}

static bool ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return false;
	}
	return true;
}

static int write_pax(struct ctfs_tar_writer *w, const char *path, size_t plen, bool long_name,
		     uint64_t size)
{
	static const char pax_name[] = "././@PaxHeader";
	struct ctfs_buf rec = { 0 };
	uint8_t h[CTFS_TAR_BLOCK];
	char num[24];
	int rc = 0;

	if (long_name)
		rc = pax_record(&rec, "path", path, plen);
	if (!rc && size > OCTAL11_MAX) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
		rc = pax_record(&rec, "size", num, strlen(num));
	}
	if (!rc) {
		header(h, pax_name, sizeof(pax_name) - 1, 0, rec.len, 'x');
		rc = emit(w, h, sizeof(h));
	}
	if (!rc)
		rc = emit(w, rec.data, rec.len);
	if (!rc)
		rc = pad(w, CTFS_TAR_BLOCK);
	ctfs_buf_free(&rec);
	return rc;
}

static int copy_data(struct ctfs_tar_writer *w, int fd, uint64_t size)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	uint64_t left = size;
	int rc = buf ? 0 : -ENOMEM;

	while (!rc && left) {
		size_t want = left < COPY_CHUNK ? (size_t)left : COPY_CHUNK;
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (n == 0)
			rc = -EIO;	/* the file shrank */
		else
			rc = emit(w, buf, (size_t)n);
		left -= n > 0 ? (uint64_t)n : 0;
	}
	if (!rc && read(fd, buf, 1) > 0)
		rc = -EFBIG;		/* the file grew */
	if (buf)
		explicit_bzero(buf, COPY_CHUNK);
	free(buf);
	return rc;
}

int ctfs_tar_write_file(struct ctfs_tar_writer *w, const char *path, uint32_t mode, int fd,
			uint64_t size)
{
	size_t plen = strlen(path), nlen = 0;
	bool long_name = plen > 100 || !ascii(path, plen);
	uint8_t h[CTFS_TAR_BLOCK];
	char name[100];
	int rc = 0;

	if (plen > CTFS_TAR_MAX_PATH)
		return -ENAMETOOLONG;
	/* the header keeps what fits, in ASCII with one '?' per other character */
	for (size_t i = 0; i < plen && nlen < sizeof(name); i++) {
		unsigned char ch = (unsigned char)path[i];

		if (ch < 0x80)
			name[nlen++] = (char)ch;
		else if (ch >= 0xc0)
			name[nlen++] = '?';
	}
	if (long_name || size > OCTAL11_MAX)
		rc = write_pax(w, path, plen, long_name, size);
	if (rc)
		return rc;
	header(h, name, nlen, mode, size > OCTAL11_MAX ? 0 : size, '0');
	rc = emit(w, h, sizeof(h));
	if (!rc)
		rc = copy_data(w, fd, size);
	if (!rc)
		rc = pad(w, CTFS_TAR_BLOCK);
	return rc;
}

int ctfs_tar_write_end(struct ctfs_tar_writer *w)
{
	static const uint8_t zeros[2 * CTFS_TAR_BLOCK];
	int rc = emit(w, zeros, sizeof(zeros));

	return rc ? rc : pad(w, CTFS_TAR_RECORD);
}
