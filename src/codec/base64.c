#include "codec/base64.h"

#include <errno.h>
#include <string.h>

static const char b64_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum { ALPHA_ANY, ALPHA_STD, ALPHA_URL };

/* The 6-bit value of c, or -1; pins the string to one alphabet on first use
 * of a character that only one of them has. */
static int b64_value(char c, int *alphabet)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '/') {
		if (*alphabet == ALPHA_URL)
			return -1;
		*alphabet = ALPHA_STD;
		return c == '+' ? 62 : 63;
	}
	if (c == '-' || c == '_') {
		if (*alphabet == ALPHA_STD)
			return -1;
		*alphabet = ALPHA_URL;
		return c == '-' ? 62 : 63;
	}
	return -1;
}

size_t ctfs_b64_decoded_max(size_t inlen)
{
	return inlen / 4 * 3 + (inlen % 4 ? 2 : 0);
}

int ctfs_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	int alphabet = ALPHA_ANY;
	uint32_t acc = 0;
	size_t n = 0, pad = 0, data, rem;
	unsigned bits = 0;

	/* Padding, if any, is one or two '=' that complete a 4-character group. */
	while (pad < inlen && pad < 2 && in[inlen - 1 - pad] == '=')
		pad++;
	if (pad && inlen % 4)
		return -EINVAL;
	data = inlen - pad;
	rem = data % 4;
	if (rem == 1 || (pad && pad != 4 - rem))
		return -EINVAL;
	if (data / 4 * 3 + (rem ? rem - 1 : 0) > *outlen)
		return -EINVAL;
	for (size_t i = 0; i < data; i++) {
		int v = b64_value(in[i], &alphabet);

		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero: no second spelling of the same bytes. */
	if (acc & ((1u << bits) - 1))
		return -EINVAL;
	*outlen = n;
	return 0;
}

size_t ctfs_b64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

int ctfs_b64_encode(const uint8_t *in, size_t len, struct ctfs_buf *out)
{
	char *p;
	size_t i;
	int rc;

	if (len > (SIZE_MAX - 3) / 4 * 3)
		return -ENOMEM;
	rc = ctfs_buf_reserve(out, ctfs_b64_encoded_len(len) + 1);
	if (rc)
		return rc;
	p = (char *)out->data + out->len;
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*p++ = b64_std[v >> 18];
		*p++ = b64_std[v >> 12 & 63];
		*p++ = b64_std[v >> 6 & 63];
		*p++ = b64_std[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		*p++ = b64_std[v >> 18];
		*p++ = b64_std[v >> 12 & 63];
		*p++ = i + 1 < len ? b64_std[v >> 6 & 63] : '=';
		*p++ = '=';
	}
	*p = 0;
	out->len = (size_t)((uint8_t *)p - out->data);
	return 0;
}
