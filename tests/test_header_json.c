/* Canonical header serialisation, and the signatures of the CryptoTensors vectors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "safetensors/header_json.h"
#include "safetensors/safetensors.h"
#include "tap.h"
#include "util.h"
#include "vectors.h"

#define ERRLEN 256

/* ctfs_json_put_string(s, len) produces exactly want (with its quotes). */
static void escape_is(const char *s, size_t len, const char *want, const char *what)
{
	struct ctfs_buf b = { 0 };
	int rc = ctfs_json_put_string(&b, s, len);

	if (!tap_ok(rc == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
		    "escape: %s", what))
		tap_diag("got rc %d: %.*s", rc, (int)b.len, b.data ? (const char *)b.data : "");
	ctfs_buf_free(&b);
}

#define NOTE "line1\nline2 \"q\" \\\\ \x01 \xe6\xa8\xa1\xe5\x9e\x8b /slash"

static void test_escaping(void)
{
	struct ctfs_buf b = { 0 };
	bool all = true;

	escape_is("", 0, "\"\"", "empty string");
	escape_is("\"", 1, "\"\\\"\"", "quote");
	escape_is("\\", 1, "\"\\\\\"", "backslash");
	escape_is("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"", "\\b \\f \\n \\r \\t");
	escape_is("\x01", 1, "\"\\u0001\"", "0x01 as \\u0001");
	escape_is("\x1f", 1, "\"\\u001f\"", "0x1f as \\u001f (lower-case hex)");
	escape_is("\x0b\x1a", 2, "\"\\u000b\\u001a\"", "0x0b and 0x1a (lower-case hex)");
	escape_is("a\0b", 3, "\"a\\u0000b\"", "an embedded NUL (explicit length)");
	escape_is("\x7f", 1, "\"\x7f\"", "DEL raw");
	escape_is("/", 1, "\"/\"", "slash raw");
	escape_is("\xc3\xa9\xe6\xa8\xa1\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe6\xa8\xa1\xf0\x9f\x98\x80\"",
		  "non-ASCII raw (2, 3 and 4-byte UTF-8)");
	escape_is("ab\"cd\\ef\ngh\x02ij", 14, "\"ab\\\"cd\\\\ef\\ngh\\u0002ij\"",
		  "raw runs between escapes");
	escape_is(NOTE, sizeof(NOTE) - 1,
		  "\"line1\\nline2 \\\"q\\\" \\\\\\\\ \\u0001 \xe6\xa8\xa1\xe5\x9e\x8b /slash\"",
		  "the user metadata value of the unicode vector");

	/* Every ASCII byte against the rule as FORMATS.md states it. */
	for (int c = 0; c < 0x80; c++) {
		char in = (char)c, want[16];

		switch (c) {
		case '"': strcpy(want, "\"\\\"\""); break;
		case '\\': strcpy(want, "\"\\\\\""); break;
		case 0x08: strcpy(want, "\"\\b\""); break;
		case 0x0c: strcpy(want, "\"\\f\""); break;
		case 0x0a: strcpy(want, "\"\\n\""); break;
		case 0x0d: strcpy(want, "\"\\r\""); break;
		case 0x09: strcpy(want, "\"\\t\""); break;
		default:
			if (c < 0x20)
				snprintf(want, sizeof(want), "\"\\u00%02x\"", c);
			else
				snprintf(want, sizeof(want), "\"%c\"", c);
		}
		b.len = 0;
		if (ctfs_json_put_string(&b, &in, 1) || b.len != strlen(want) ||
		    memcmp(b.data, want, b.len)) {
			tap_diag("byte 0x%02x wrong", c);
			all = false;
		}
	}
	tap_ok(all, "escape: all 128 ASCII bytes");
	b.len = 0;
	tap_ok(ctfs_json_put_string(&b, "a\xff", 2) == -EINVAL && b.len == 0,
	       "escape: invalid UTF-8 refused, nothing appended");
	tap_ok(ctfs_json_put_string(&b, "\xed\xa0\x80", 3) == -EINVAL && b.len == 0,
	       "escape: an encoded surrogate refused");
	b.len = 0;
	tap_ok(ctfs_json_put_string(&b, "x", 1) == 0 && ctfs_json_put_string(&b, "y", 1) == 0 &&
	       b.len == 6 && memcmp(b.data, "\"x\"\"y\"", 6) == 0, "escape: appends");
	ctfs_buf_free(&b);
}

static struct ctfs_st_header *parse(const char *json, uint64_t data_len)
{
	struct ctfs_st_header *h = NULL;
	char err[ERRLEN] = "";
	size_t n = strlen(json);

	if (ctfs_st_parse((const uint8_t *)json, n, 8 + n + data_len, &h, err, sizeof(err)))
		tap_diag("parse failed: %s", err);
	return h;
}

static void serialized_is(const struct ctfs_st_header *h, const char *const *omit,
			  bool omit_empty, const char *want, const char *what)
{
	struct ctfs_buf b = { 0 };
	int rc = h ? ctfs_st_serialize(h, omit, omit_empty, &b) : -1;

	if (!tap_ok(rc == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
		    "serialise: %s", what))
		tap_diag("rc %d\n#  got: %.*s\n# want: %s", rc, (int)b.len,
			 b.data ? (const char *)b.data : "", want);
	ctfs_buf_free(&b);
}

#define TENSOR(dt, shape, b, e) \
	"{\"dtype\":\"" dt "\",\"shape\":[" shape "],\"data_offsets\":[" #b "," #e "]}"
/* test_serialize's tensors and metadata (less __signature__), serialised. */
#define AB_TENSORS "\"a\":" TENSOR("I32", "", 0, 4) ",\"b\":" TENSOR("F16", "2", 4, 8)
#define META_NO_SIG \
	"\"__metadata__\":{\"Alpha\":\"2\",\"__crypto_keys__\":\"{\\\"a\\\":1}\"," \
	"\"format\":\"pt\",\"zeta\":\"1\",\"\xc3\xa9\":\"3\"}"

static void test_serialize(void)
{
	static const char *const omit_sig[] = { "__signature__", NULL };
	static const char *const omit_all[] = { "zeta", "Alpha", "__crypto_keys__", "format",
						"\xc3\xa9", "__signature__", NULL };
	struct ctfs_st_header *h;

	h = parse(" { \"b\" : {\"shape\":[2],\"junk\":{\"x\":[1.5]},\"dtype\":\"F16\","
		  "\"data_offsets\":[4,8]},\n\"__metadata__\":{\"zeta\":\"1\",\"Alpha\":\"2\","
		  "\"__signature__\":\"sig\",\"\xc3\xa9\":\"3\",\"__crypto_keys__\":\"{\\\"a\\\":1}\","
		  "\"format\":\"pt\"},\"a\":" TENSOR("I32", "", 0, 4) "}   ", 8);
	serialized_is(h, NULL, false,
		      "{\"__metadata__\":{\"Alpha\":\"2\",\"__crypto_keys__\":\"{\\\"a\\\":1}\","
		      "\"__signature__\":\"sig\",\"format\":\"pt\",\"zeta\":\"1\",\"\xc3\xa9\":\"3\"},"
		      AB_TENSORS "}",
		      "metadata first and sorted by bytes, tensors by offset, no whitespace, "
		      "unknown fields dropped");
	serialized_is(h, omit_sig, false, "{" META_NO_SIG "," AB_TENSORS "}",
		      "omitting __signature__");
	serialized_is(h, omit_all, false, "{\"__metadata__\":{}," AB_TENSORS "}",
		      "omitting every key keeps an empty __metadata__");
	serialized_is(h, omit_all, true, "{" AB_TENSORS "}",
		      "omitting every key with omit_empty_metadata drops __metadata__");
	serialized_is(h, omit_sig, true, "{" META_NO_SIG "," AB_TENSORS "}",
		      "omit_empty_metadata keeps a non-empty __metadata__");
	if (h) {
		ctfs_st_meta_remove(h, "zeta");
		ctfs_st_meta_set(h, "Alpha", "new\tvalue");
		ctfs_st_meta_set(h, "B", "b");
	}
	serialized_is(h, omit_sig, false,
		      "{\"__metadata__\":{\"Alpha\":\"new\\tvalue\",\"B\":\"b\",\"__crypto_keys__\":"
		      "\"{\\\"a\\\":1}\",\"format\":\"pt\",\"\xc3\xa9\":\"3\"}," AB_TENSORS "}",
		      "after meta_set / meta_remove");
	ctfs_st_free(h);

	h = parse("{\"__metadata__\":{}}", 0);
	serialized_is(h, NULL, false, "{\"__metadata__\":{}}", "an empty __metadata__ is kept");
	serialized_is(h, NULL, true, "{}", "an empty __metadata__ dropped on request");
	ctfs_st_free(h);
	h = parse("{}", 0);
	serialized_is(h, NULL, false, "{}", "an empty header");
	ctfs_st_free(h);
	h = parse("{\"x\":" TENSOR("U8", "1", 0, 1) "}", 1);
	serialized_is(h, NULL, false, "{\"x\":" TENSOR("U8", "1", 0, 1) "}",
		      "no __metadata__ in the file, none written");
	ctfs_st_free(h);

	h = parse("{\"e2\":" TENSOR("F16", "0", 20, 20) ",\"t\\\\x\":" TENSOR("F32", "5", 0, 20)
		  ",\"big\":" TENSOR("BF16", "1500,1500", 20, 4500020) ",\"e1\":"
		  TENSOR("F16", "0", 20, 20) ",\"q\\\"\\u0001\":" TENSOR("U8", "1", 4500020, 4500021)
		  "}", 4500021);
	serialized_is(h, NULL, false,
		      "{\"t\\\\x\":" TENSOR("F32", "5", 0, 20) ",\"e2\":" TENSOR("F16", "0", 20, 20)
		      ",\"e1\":" TENSOR("F16", "0", 20, 20) ",\"big\":"
		      TENSOR("BF16", "1500,1500", 20, 4500020) ",\"q\\\"\\u0001\":"
		      TENSOR("U8", "1", 4500020, 4500021) "}",
		      "ties keep file order, empty before non-empty, names re-escaped");
	ctfs_st_free(h);

	h = parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,9007199254740993,18446744073709551615],"
		  "\"data_offsets\":[0,0]}}", 0);
	serialized_is(h, NULL, false, "{\"a\":" TENSOR("F32", "0,9007199254740993,18446744073709551615",
						      0, 0) "}", "large integers in plain decimal");
	if (h) {
		struct ctfs_buf b = { 0 };
		size_t *order = h->order;

		h->order = NULL;
		tap_ok(ctfs_st_serialize(h, NULL, false, &b) == -EINVAL,
		       "serialise: a header without order is refused");
		h->order = order;
		ctfs_buf_free(&b);
	}
	ctfs_st_free(h);
}

static void test_build_header(void)
{
	const char *j = "{\"a\":" TENSOR("U8", "3", 0, 3) "}";
	struct ctfs_st_header *h = parse(j, 3), *h2 = NULL;
	struct ctfs_buf b = { 0 };
	char err[ERRLEN] = "";
	uint64_t n;

	if (!h)
		return;
	ctfs_buf_putc(&b, 'X');	/* appends after what is there */
	tap_ok(ctfs_st_build_header(h, NULL, false, &b) == 0, "build_header succeeds");
	n = ctfs_load_le64(b.data + 1);
	tap_ok(b.data[0] == 'X' && b.len == 1 + 8 + n && (8 + n) % 8 == 0,
	       "build_header: LE length, data 8-aligned (N = %" PRIu64 ")", n);
	tap_ok(n >= strlen(j) && n - strlen(j) < 8 && memcmp(b.data + 9, j, strlen(j)) == 0 &&
	       strspn((const char *)b.data + 9 + strlen(j), " ") == n - strlen(j),
	       "build_header: the JSON then only spaces");
	tap_ok(ctfs_st_parse(b.data + 9, n, 8 + n + 3, &h2, err, sizeof(err)) == 0 &&
	       h2->n_tensors == 1 && h2->data_start == 8 + n, "build_header output parses back");
	ctfs_st_free(h2);
	ctfs_st_free(h);
	ctfs_buf_free(&b);

	/* A 64-byte JSON needs no padding. */
	j = "{\"abcdefghijkl\":" TENSOR("U8", "3", 0, 3) "}";
	h = parse(j, 3);
	if (!h)
		return;
	tap_ok(strlen(j) % 8 == 0 && ctfs_st_build_header(h, NULL, false, &b) == 0 &&
	       b.len == 8 + strlen(j) && ctfs_load_le64(b.data) == strlen(j),
	       "build_header: no padding when the JSON is already a multiple of 8");
	ctfs_st_free(h);
	ctfs_buf_free(&b);
}

/* ---- the vector files ---- */

struct vfile {
	char *name;
	struct ctfs_st_header *h;
	uint8_t *raw;	/* the first 8 + N bytes of the file */
	size_t raw_len;
};

static int join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int load_vector(const char *dir, const char *name, struct vfile *v)
{
	char path[4096], err[ERRLEN] = "";
	struct stat st;
	int fd, rc;

	memset(v, 0, sizeof(*v));
	if (join(path, sizeof(path), dir, name))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	rc = ctfs_st_read(fd, (uint64_t)st.st_size, &v->h, err, sizeof(err));
	if (rc) {
		tap_diag("%s: %s", name, err);
	} else {
		v->raw_len = (size_t)v->h->data_start;
		v->raw = calloc(1, v->raw_len + 1);	/* NUL-terminated for strspn */
		rc = v->raw ? ctfs_pread_full(fd, v->raw, v->raw_len, 0) : -ENOMEM;
	}
	close(fd);
	v->name = strdup(name);
	return rc ? rc : v->name ? 0 : -ENOMEM;
}

/* The Ed25519 public key "x" of the okp key with this kid in any keys-*.json. */
static int find_public_key(const char *dir, const char *kid, uint8_t pk[32])
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = -ENOENT;

	if (!d)
		return -errno;
	while (found && (de = readdir(d))) {
		char path[4096];
		uint8_t *text;
		size_t len, pklen = 0;
		cJSON *doc, *k;

		if (strncmp(de->d_name, "keys-", 5) || !strstr(de->d_name, ".json") ||
		    join(path, sizeof(path), dir, de->d_name) ||
		    ctfs_read_file(path, 1 << 20, &text, &len))
			continue;
		doc = cJSON_ParseWithLength((const char *)text, len);
		free(text);
		cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(doc, "keys")) {
			const char *kty = cJSON_GetStringValue(cJSON_GetObjectItem(k, "kty"));
			const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(k, "kid"));
			const char *x = cJSON_GetStringValue(cJSON_GetObjectItem(k, "x"));

			if (kty && strcmp(kty, "okp") == 0 && id && strcmp(id, kid) == 0 && x &&
			    sodium_base642bin(pk, 32, x, strlen(x), NULL, &pklen, NULL,
					      sodium_base64_VARIANT_ORIGINAL) == 0 && pklen == 32)
				found = 0;
		}
		cJSON_Delete(doc);
	}
	closedir(d);
	return found;
}

static int verify(const struct ctfs_buf *msg, const uint8_t sig[64], const uint8_t pk[32])
{
	return crypto_sign_verify_detached(sig, msg->data, msg->len, pk);
}

static void check_signature(const char *dir, const struct vfile *v)
{
	static const char *const omit_sig[] = { "__signature__", NULL };
	const char *sig64 = ctfs_st_meta_get(v->h, "__signature__");
	const char *keys = ctfs_st_meta_get(v->h, "__crypto_keys__");
	const char *kid = NULL;
	struct ctfs_buf msg = { 0 };
	uint8_t sig[64], pk[32];
	size_t siglen = 0;
	cJSON *ck = keys ? cJSON_Parse(keys) : NULL;
	bool flips_fail = true;

	kid = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(ck, "sign"), "kid"));
	if (!tap_ok(sig64 && kid && find_public_key(dir, kid, pk) == 0,
		    "%s: signature, sign kid and its public key found", v->name))
		goto out;
	tap_ok(sodium_base642bin(sig, sizeof(sig), sig64, strlen(sig64), NULL, &siglen, NULL,
				 sodium_base64_VARIANT_ORIGINAL) == 0 && siglen == 64,
	       "%s: the signature is 64 bytes of standard base64", v->name);
	tap_ok(ctfs_st_serialize(v->h, omit_sig, false, &msg) == 0, "%s: serialises", v->name);
	if (!tap_ok(verify(&msg, sig, pk) == 0, "%s: Ed25519 signature verifies over the "
		    "re-serialised header", v->name))
		tap_diag("signed text: %.*s", (int)msg.len, msg.data);
	for (size_t pos = 0; pos < msg.len; pos += msg.len / 7 + 1) {
		msg.data[pos] ^= 0x01;
		flips_fail &= verify(&msg, sig, pk) != 0;
		msg.data[pos] ^= 0x01;
	}
	msg.data[msg.len - 1] ^= 0x20;
	flips_fail &= verify(&msg, sig, pk) != 0;
	msg.data[msg.len - 1] ^= 0x20;
	tap_ok(flips_fail, "%s: flipping one bit anywhere in the text breaks the signature", v->name);
	msg.len--;
	tap_ok(verify(&msg, sig, pk) != 0, "%s: a truncated text does not verify", v->name);
out:
	cJSON_Delete(ck);
	ctfs_buf_free(&msg);
}

/* Upstream writes the signed serialisation with __signature__ in place, then pads. */
static void check_header_bytes(const struct vfile *v)
{
	struct ctfs_buf json = { 0 }, hdr = { 0 };
	const uint8_t *file_json = v->raw + 8;
	size_t n = v->raw_len - 8;
	bool same;

	tap_ok(ctfs_st_serialize(v->h, NULL, false, &json) == 0, "%s: serialises with every key",
	       v->name);
	same = json.len <= n && memcmp(json.data, file_json, json.len) == 0 &&
	       strspn((const char *)file_json + json.len, " ") == n - json.len;
	if (!tap_ok(same, "%s: the file's header is exactly our serialisation plus spaces",
		    v->name)) {
		tap_diag("ours: %.*s", (int)json.len, json.data);
		tap_diag("file: %.*s", (int)n, file_json);
	}
	tap_ok(ctfs_st_build_header(v->h, NULL, false, &hdr) == 0 && hdr.len == v->raw_len &&
	       memcmp(hdr.data, v->raw, hdr.len) == 0,
	       "%s: build_header reproduces the first 8 + N bytes of the file", v->name);
	ctfs_buf_free(&json);
	ctfs_buf_free(&hdr);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_vectors(void)
{
	static const char *const expected_encrypted[] = {
		"v1-chacha.cryptotensors", "v2-aes128-unicode.cryptotensors",
		"v2-aes256-partial.safetensors",
	};
	char dir[4096], *names[64];
	size_t n = 0, n_enc = 0;
	bool plain_seen = false, listed = true;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/cryptotensors", tap_vectors_dir());
	d = opendir(dir);
	if (!d) {
		vec_missing(dir, -errno);
		return;
	}
	while ((de = readdir(d)) && n < CTFS_ARRAY_LEN(names)) {
		size_t l = strlen(de->d_name);

		if ((l > 12 && strcmp(de->d_name + l - 12, ".safetensors") == 0) ||
		    (l > 14 && strcmp(de->d_name + l - 14, ".cryptotensors") == 0))
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct vfile v;
		int rc = names[i] ? load_vector(dir, names[i], &v) : -ENOMEM;

		if (!tap_ok(rc == 0, "%s: parses", names[i] ? names[i] : "?")) {
			free(v.raw);
			free(v.name);
			ctfs_st_free(v.h);
			continue;
		}
		check_header_bytes(&v);
		if (ctfs_st_meta_get(v.h, "__encryption__")) {
			n_enc++;
			check_signature(dir, &v);
		} else {
			plain_seen |= strcmp(v.name, "plain.safetensors") == 0;
		}
		free(v.raw);
		free(v.name);
		ctfs_st_free(v.h);
	}
	for (size_t i = 0; i < CTFS_ARRAY_LEN(expected_encrypted); i++) {
		bool found = false;

		for (size_t k = 0; k < n; k++)
			found |= names[k] && strcmp(names[k], expected_encrypted[i]) == 0;
		listed &= found;
	}
	tap_ok(listed && n_enc == 3, "all three encrypted vectors were checked (%zu)", n_enc);
	tap_ok(plain_seen, "plain.safetensors was checked");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

int main(void)
{
	if (sodium_init() < 0) {
		tap_ok(0, "sodium_init");
		return tap_done();
	}
	test_escaping();
	test_serialize();
	test_build_header();
	test_vectors();
	return tap_done();
}
