#include "codec/hex.h"

#include <errno.h>
#include <string.h>

int ctfs_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ctfs_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen)
{
	if (inlen / 2 != outlen || inlen % 2)
		return -EINVAL;
	for (size_t i = 0; i < outlen; i++) {
		int hi = ctfs_hex_digit(in[2 * i]), lo = ctfs_hex_digit(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int ctfs_hex_encode(const uint8_t *in, size_t len, struct ctfs_buf *out)
{
	static const char digits[] = "0123456789abcdef";
	char *p;
	int rc;

	if (len > (SIZE_MAX - 1) / 2)
		return -ENOMEM;
	rc = ctfs_buf_reserve(out, 2 * len + 1);
	if (rc)
		return rc;
	p = (char *)out->data + out->len;
	for (size_t i = 0; i < len; i++) {
		*p++ = digits[in[i] >> 4];
		*p++ = digits[in[i] & 15];
	}
	*p = 0;
	out->len += 2 * len;
	return 0;
}
