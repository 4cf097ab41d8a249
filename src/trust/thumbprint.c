/* RFC 7638 thumbprints of Ed25519 keys, and their base64url text. */
#include "trust/thumbprint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec/base64.h"
#include "crypto/sha256.h"

static const char url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; out holds 4 * ceil(len / 3) + 1 bytes. */
static void b64url(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;

		if (n > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (n > 2)
			v |= in[i + 2];
		out[o++] = url_alphabet[(v >> 18) & 63];
		out[o++] = url_alphabet[(v >> 12) & 63];
		if (n > 1)
			out[o++] = url_alphabet[(v >> 6) & 63];
		if (n > 2)
			out[o++] = url_alphabet[v & 63];
	}
	out[o] = 0;
}

void ctfs_thumbprint_ed25519(const uint8_t pub[32], uint8_t out[CTFS_THUMBPRINT_LEN])
{
	char x[44], json[96];
	int n;

	b64url(pub, 32, x);
	n = snprintf(json, sizeof(json), "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
	ctfs_sha256(out, json, (size_t)n);
}

void ctfs_thumbprint_text(const uint8_t tp[CTFS_THUMBPRINT_LEN], char out[CTFS_THUMBPRINT_TEXT])
{
	b64url(tp, CTFS_THUMBPRINT_LEN, out);
}

int ctfs_thumbprint_parse(const char *text, uint8_t out[CTFS_THUMBPRINT_LEN])
{
	size_t len = CTFS_THUMBPRINT_LEN;

	if (!text || strlen(text) != CTFS_THUMBPRINT_TEXT - 1 || strpbrk(text, "+/="))
		return -EINVAL;
	if (ctfs_b64_decode(text, CTFS_THUMBPRINT_TEXT - 1, out, &len) ||
	    len != CTFS_THUMBPRINT_LEN)
		return -EINVAL;
	return 0;
}
