/* safetensors header parsing and validation (FORMATS.md section 1). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "safetensors/safetensors.h"
#include "tap.h"
#include "util.h"
#include "vectors.h"

#define ERRLEN 256

/* Parse json as the header of a file whose data region is data_len bytes. */
static int parse_n(const char *json, size_t n, uint64_t data_len, struct ctfs_st_header **h,
		   char *err)
{
	err[0] = 0;
	*h = NULL;
	return ctfs_st_parse((const uint8_t *)json, n, 8 + n + data_len, h, err, ERRLEN);
}

static struct ctfs_st_header *good_n(const char *json, size_t n, uint64_t data_len,
				     const char *what)
{
	struct ctfs_st_header *h;
	char err[ERRLEN];
	int rc = parse_n(json, n, data_len, &h, err);

	if (!tap_ok(rc == 0 && h, "accepts %s", what))
		tap_diag("rc %d: %s", rc, err);
	return rc ? NULL : h;
}

static struct ctfs_st_header *good(const char *json, uint64_t data_len, const char *what)
{
	return good_n(json, strlen(json), data_len, what);
}

static void bad_n(const char *json, size_t n, uint64_t data_len, const char *what)
{
	struct ctfs_st_header *h;
	char err[ERRLEN];
	int rc = parse_n(json, n, data_len, &h, err);

	tap_ok(rc == -EINVAL && !h && err[0] && !strchr(err, '\n'), "rejects %s", what);
	tap_diag("  -> %s", err);
	if (!rc)
		ctfs_st_free(h);
}

static void bad(const char *json, uint64_t data_len, const char *what)
{
	bad_n(json, strlen(json), data_len, what);
}

#define T_U8_1 "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}"
/* A header of one tensor "a" like T_U8_1 but for the field spelt x. */
#define A_DTYPE(x) "{\"a\":{\"dtype\":" x ",\"shape\":[1],\"data_offsets\":[0,1]}}"
#define A_SHAPE(x) "{\"a\":{\"dtype\":\"U8\",\"shape\":" x ",\"data_offsets\":[0,1]}}"
#define A_OFFSETS(x) "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":" x "}}"
/* The same with an extra, unknown field "x" spelt x. */
#define A_EXTRA(x) \
	"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":" x "}}"

static void test_dtypes(void)
{
	static const char *const names[] = {
		"BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
		"F8_E8M0", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64",
		"I64", "U64",
	};
	static const unsigned int bits[] = {
		8, 4, 6, 6, 8, 8, 8, 8, 8, 16, 16, 16, 16, 32, 32, 32, 64, 64, 64, 64,
	};
	static const char *const unknown[] = {
		"", "f32", "F32 ", " F32", "FLOAT", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I4", "C128",
	};
	bool all = true;

	for (size_t i = 0; i < CTFS_ARRAY_LEN(names); i++) {
		enum ctfs_dtype dt = (enum ctfs_dtype)99;

		if (ctfs_dtype_parse(names[i], &dt) || dt != (enum ctfs_dtype)i ||
		    strcmp(ctfs_dtype_name(dt), names[i]) || ctfs_dtype_bits(dt) != bits[i]) {
			tap_diag("dtype %s wrong", names[i]);
			all = false;
		}
	}
	tap_ok(all, "all 20 dtype names parse to the enum in upstream order, with their bit sizes");
	for (size_t i = 0; i < CTFS_ARRAY_LEN(unknown); i++) {
		enum ctfs_dtype dt;

		tap_ok(ctfs_dtype_parse(unknown[i], &dt) == -EINVAL, "dtype \"%s\" is unknown",
		       unknown[i]);
	}
	tap_ok(ctfs_dtype_name((enum ctfs_dtype)20) == NULL && ctfs_dtype_bits((enum ctfs_dtype)20) == 0,
	       "values outside the enum have no name and no size");
}

static void nbytes_is(enum ctfs_dtype dt, const uint64_t *shape, size_t ndim, int want_rc,
		      uint64_t want, const char *what)
{
	uint64_t n = 12345;
	int rc = ctfs_tensor_nbytes(dt, shape, ndim, &n);

	if (!tap_ok(rc == want_rc && (rc || n == want), "nbytes: %s", what))
		tap_diag("rc %d n %" PRIu64, rc, n);
}

static void test_nbytes(void)
{
	const uint64_t s23[] = { 2, 3 }, s3[] = { 3 }, s4[] = { 4 }, s2[] = { 2 }, s0[] = { 0 };
	const uint64_t s1000x257[] = { 1000, 257 }, s5[] = { 5 };
	const uint64_t huge2[] = { 1ULL << 32, 1ULL << 32 };
	const uint64_t bits_over[] = { 1ULL << 62 };
	const uint64_t fold_then_zero[] = { 1ULL << 33, 1ULL << 33, 0 };
	const uint64_t zero_then_big[] = { 0, 1ULL << 33, 1ULL << 33 };

	nbytes_is(CTFS_DT_F32, s23, 2, 0, 24, "F32 [2,3] = 24");
	nbytes_is(CTFS_DT_F64, NULL, 0, 0, 8, "F64 scalar [] = 8");
	nbytes_is(CTFS_DT_BOOL, s3, 1, 0, 3, "BOOL [3] = 3 (one byte each)");
	nbytes_is(CTFS_DT_C64, s2, 1, 0, 16, "C64 [2] = 16");
	nbytes_is(CTFS_DT_BF16, s0, 1, 0, 0, "BF16 [0] = 0");
	nbytes_is(CTFS_DT_F32, s1000x257, 2, 0, 1028000, "F32 [1000,257]");
	nbytes_is(CTFS_DT_F4, s4, 1, 0, 2, "F4 [4] = 2 bytes");
	nbytes_is(CTFS_DT_F4, s2, 1, 0, 1, "F4 [2] = 1 byte");
	nbytes_is(CTFS_DT_F4, s3, 1, -EINVAL, 0, "F4 [3] is 12 bits: not whole bytes");
	nbytes_is(CTFS_DT_F4, NULL, 0, -EINVAL, 0, "F4 scalar is 4 bits: not whole bytes");
	nbytes_is(CTFS_DT_F6_E2M3, s4, 1, 0, 3, "F6_E2M3 [4] = 3 bytes");
	nbytes_is(CTFS_DT_F6_E3M2, s2, 1, -EINVAL, 0, "F6_E3M2 [2] is 12 bits: not whole bytes");
	nbytes_is(CTFS_DT_F6_E3M2, s5, 1, -EINVAL, 0, "F6_E3M2 [5] is 30 bits: not whole bytes");
	nbytes_is(CTFS_DT_F6_E2M3, s0, 1, 0, 0, "F6_E2M3 [0] = 0");
	nbytes_is(CTFS_DT_U8, huge2, 2, -EOVERFLOW, 0, "[2^32,2^32] element count overflows");
	nbytes_is(CTFS_DT_U8, bits_over, 1, -EOVERFLOW, 0,
		  "U8 [2^62] overflows in bits, as upstream counts bits");
	nbytes_is(CTFS_DT_U8, fold_then_zero, 3, -EOVERFLOW, 0,
		  "[2^33,2^33,0] overflows before the 0 (upstream's left fold)");
	nbytes_is(CTFS_DT_U8, zero_then_big, 3, 0, 0, "[0,2^33,2^33] = 0");
	nbytes_is((enum ctfs_dtype)77, s2, 1, -EINVAL, 0, "unknown dtype value");
}

static void test_basic(void)
{
	struct ctfs_st_header *h;
	const char *j = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";

	h = good(j, 24, "a single F32 tensor");
	if (!h)
		return;
	tap_ok(h->n_tensors == 1 && strcmp(h->tensors[0].name, "a") == 0 &&
	       h->tensors[0].dtype == CTFS_DT_F32 && h->tensors[0].ndim == 2 &&
	       h->tensors[0].shape[0] == 2 && h->tensors[0].shape[1] == 3 &&
	       h->tensors[0].begin == 0 && h->tensors[0].end == 24, "tensor fields are parsed");
	tap_ok(h->header_len == strlen(j) && h->data_start == 8 + strlen(j) && h->data_len == 24,
	       "header_len, data_start and data_len");
	tap_ok(!h->has_metadata && h->n_meta == 0 && h->order[0] == 0,
	       "no __metadata__ means has_metadata is false");
	ctfs_st_free(h);
}

static void test_metadata(void)
{
	struct ctfs_st_header *h;

	h = good("{\"a\":" T_U8_1 ",\"__metadata__\":{\"z\":\"1\",\"format\":\"pt\","
		 "\"k\\n\":\"v\\u00e9\\\"\"}}", 1, "__metadata__ after a tensor");
	if (h) {
		tap_ok(h->has_metadata && h->n_meta == 3 && strcmp(h->meta[0].key, "z") == 0 &&
		       strcmp(h->meta[1].key, "format") == 0 &&
		       strcmp(h->meta[2].key, "k\n") == 0 &&
		       strcmp(h->meta[2].value, "v\xc3\xa9\"") == 0,
		       "metadata entries decoded, in file order");
		tap_ok(strcmp(ctfs_st_meta_get(h, "format"), "pt") == 0 &&
		       ctfs_st_meta_get(h, "missing") == NULL, "ctfs_st_meta_get");
		tap_ok(ctfs_st_meta_set(h, "format", "np") == 0 && h->n_meta == 3 &&
		       strcmp(ctfs_st_meta_get(h, "format"), "np") == 0,
		       "meta_set replaces in place");
		tap_ok(ctfs_st_meta_set(h, "new", "x") == 0 && h->n_meta == 4 &&
		       strcmp(h->meta[3].key, "new") == 0, "meta_set appends a new key");
		tap_ok(ctfs_st_meta_set(h, "bad\xff", "x") == -EINVAL &&
		       ctfs_st_meta_set(h, "k", "\xc0\xaf") == -EINVAL && h->n_meta == 4,
		       "meta_set refuses non-UTF-8 keys and values");
		tap_ok(ctfs_st_meta_remove(h, "z") == 0 && h->n_meta == 3 &&
		       strcmp(h->meta[0].key, "format") == 0 && strcmp(h->meta[2].key, "new") == 0 &&
		       ctfs_st_meta_get(h, "z") == NULL, "meta_remove keeps the others in order");
		tap_ok(ctfs_st_meta_remove(h, "z") == -ENOENT, "meta_remove of a missing key");
		ctfs_st_free(h);
	}
	h = good("{\"__metadata__\":{}}", 0, "an empty __metadata__ and no tensors");
	if (h) {
		tap_ok(h->has_metadata && h->n_meta == 0 && h->n_tensors == 0 && h->data_len == 0,
		       "empty __metadata__ still sets has_metadata");
		ctfs_st_free(h);
	}
	h = good("{}", 0, "an empty header {}");
	if (h) {
		tap_ok(!h->has_metadata && h->n_tensors == 0, "{} has nothing");
		tap_ok(ctfs_st_meta_set(h, "k", "v") == 0 && h->has_metadata,
		       "meta_set on a header without metadata sets has_metadata");
		ctfs_st_free(h);
	}
}

static void test_whitespace_and_extras(void)
{
	struct ctfs_st_header *h;

	h = good("{\"a\":" T_U8_1 "}       ", 1, "space padding after the object");
	ctfs_st_free(h);
	h = good("{\"a\":" T_U8_1 "} \t\r\n", 1, "JSON whitespace after the object (serde allows it)");
	ctfs_st_free(h);
	h = good(" \n{ \"a\" : { \"dtype\" : \"U8\" , \"shape\" : [ 1 ] , \"data_offsets\" : "
		 "[ 0 , 1 ] } }", 1, "whitespace before and inside the object");
	ctfs_st_free(h);
	h = good("{\"a\":{\"data_offsets\":[0,2],\"shape\":[1],\"dtype\":\"F16\"}}", 2,
		 "tensor fields in any order");
	ctfs_st_free(h);
	h = good("{\"a\":{\"x\":{\"y\":[1,2.5e3,-0,-7,1E-400,0.5,null,true,false,\"s\\u0041\",{}]},"
		 "\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"z\":1e308,"
		 "\"big\":123456789012345678901234567890}}", 1,
		 "unknown fields of any JSON type are ignored");
	if (h) {
		tap_ok(h->n_tensors == 1 && h->tensors[0].end == 1, "unknown fields left no trace");
		ctfs_st_free(h);
	}
	h = good("{\"a\":{\"dtype\":\"\\u0046\\u0033\\u0032\",\"shape\":[],\"data_offsets\":[0,4]}}",
		 4, "an escaped dtype string (decoded before matching)");
	if (h) {
		tap_ok(h->tensors[0].dtype == CTFS_DT_F32 && h->tensors[0].ndim == 0,
		       "escaped dtype is F32, scalar shape");
		ctfs_st_free(h);
	}
	h = good("{\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\\b\\f\\r\\t\\u001f\x7f\xe6\x9d\x83\":" T_U8_1 "}",
		 1, "a tensor name with every kind of escape and raw non-ASCII");
	if (h) {
		tap_ok(strcmp(h->tensors[0].name,
			      "\xc3\xa9\xf0\x9f\x98\x80\n\"\\/\b\f\r\t\x1f\x7f\xe6\x9d\x83") == 0,
		       "name decoded to the right UTF-8 bytes");
		ctfs_st_free(h);
	}
	h = good("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,9007199254740993,18446744073709551615],"
		 "\"data_offsets\":[0,0]}}", 0, "integers above 2^53 up to 2^64-1, read exactly");
	if (h) {
		tap_ok(h->tensors[0].shape[1] == 9007199254740993ULL &&
		       h->tensors[0].shape[2] == UINT64_MAX, "big integers are exact");
		ctfs_st_free(h);
	}
	h = good("{\"a\":{\"dtype\":\"F4\",\"shape\":[2,2],\"data_offsets\":[0,2]},"
		 "\"b\":{\"dtype\":\"F6_E3M2\",\"shape\":[4],\"data_offsets\":[2,5]}}", 5,
		 "sub-byte dtypes that fill whole bytes");
	ctfs_st_free(h);
}

static char *nested(size_t depth)
{
	const char *pre = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":";
	size_t n = strlen(pre);
	char *s = malloc(n + 2 * depth + 3);

	if (!s)
		return NULL;
	memcpy(s, pre, n);
	memset(s + n, '[', depth);
	memset(s + n + depth, ']', depth);
	strcpy(s + n + 2 * depth, "}}");
	return s;
}

static void test_depth(void)
{
	/* Top-level object and tensor entry count as 2 of serde_json's 128 levels. */
	char *ok = nested(126), *deep = nested(127);
	struct ctfs_st_header *h;

	if (ok && deep) {
		h = good(ok, 1, "nesting of exactly 128 levels");
		ctfs_st_free(h);
		bad(deep, 1, "nesting of 129 levels (serde_json's recursion limit)");
	}
	free(ok);
	free(deep);
}

static void test_order(void)
{
	struct ctfs_st_header *h;

	h = good("{\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[10,10]},"
		 "\"a\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]},"
		 "\"c\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[10,10]},"
		 "\"d\":{\"dtype\":\"U16\",\"shape\":[5],\"data_offsets\":[10,20]},"
		 "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[20,20]}}", 20,
		 "empty tensors sharing an offset");
	if (h) {
		tap_ok(h->order[0] == 1 && h->order[1] == 0 && h->order[2] == 2 &&
		       h->order[3] == 3 && h->order[4] == 4,
		       "order by offsets, ties in file order (a b c d e)");
		tap_ok(h->data_len == 20, "data_len is the last end");
		ctfs_st_free(h);
	}
	h = good("{\"big\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
		 "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 4,
		 "an empty tensor listed after a non-empty one at the same begin");
	if (h) {
		tap_ok(h->order[0] == 1 && h->order[1] == 0,
		       "same begin: the empty one (smaller end) comes first, as upstream sorts pairs");
		ctfs_st_free(h);
	}
}

static void test_find(void)
{
	struct ctfs_st_header *h;
	bool all = true;

	h = good("{\"m\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]},"
		 "\"z\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
		 "\"\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
		 "\"A\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[3,4]}}", 4, "four tensors");
	if (!h)
		return;
	for (size_t i = 0; i < h->n_tensors; i++)
		all &= ctfs_st_find(h, h->tensors[i].name) == &h->tensors[i];
	tap_ok(all, "ctfs_st_find finds every tensor");
	tap_ok(!ctfs_st_find(h, "") && !ctfs_st_find(h, "a") && !ctfs_st_find(h, "zz"),
	       "ctfs_st_find: absent names");
	free(h->by_name);
	h->by_name = NULL;
	tap_ok(ctfs_st_find(h, "A") == &h->tensors[3] && !ctfs_st_find(h, "q"),
	       "ctfs_st_find without the name index");
	ctfs_st_free(h);
}

static void test_bad_json(void)
{
	bad("", 0, "an empty header");
	bad("        ", 0, "a header of spaces only");
	bad("[]", 0, "a top-level array");
	bad("\"x\"", 0, "a top-level string");
	bad("1", 0, "a top-level number");
	bad("null", 0, "a top-level null");
	bad("{\"a\":", 0, "truncated JSON");
	bad("{\"a\":" T_U8_1, 1, "an unclosed object");
	bad("{\"a\":" T_U8_1 ",}", 1, "a trailing comma");
	bad("{\"a\":" T_U8_1 ",,\"b\":" T_U8_1 "}", 1, "a double comma");
	bad("{'a':" T_U8_1 "}", 1, "single quotes");
	bad("{\"a\"" T_U8_1 "}", 1, "a missing colon");
	bad("{\"a\":" T_U8_1 " \"b\":" T_U8_1 "}", 1, "a missing comma");
	bad("{a:" T_U8_1 "}", 1, "an unquoted key");
	bad("{\"a\":" T_U8_1 "}x", 1, "garbage after the object");
	bad("{\"a\":" T_U8_1 "}}", 1, "a second closing brace");
	bad("{\"a\":" T_U8_1 "}{}", 1, "two objects");
	bad_n("{\"a\":" T_U8_1 "}\0\0", strlen("{\"a\":" T_U8_1 "}") + 2, 1, "NUL padding");
	bad(A_EXTRA("tru"), 1, "a misspelt literal in an unknown field");
	bad(A_EXTRA("NaN"), 1, "NaN in an unknown field");
	bad(A_EXTRA("+1"), 1, "+1 in an unknown field");
	bad(A_EXTRA(".5"), 1, ".5 in an unknown field");
	bad(A_EXTRA("1."), 1, "1. in an unknown field");
	bad(A_EXTRA("1e"), 1, "1e in an unknown field");
	bad(A_EXTRA("01"), 1, "a leading zero in an unknown field");
	bad(A_EXTRA("1e400"), 1, "1e400 (beyond f64, serde_json refuses it)");
	bad(A_EXTRA("[-2e308]"), 1, "-2e308 (beyond f64)");
	bad(A_EXTRA("[\"\\u0000\"]"), 1, "\\u0000 in an unknown field");
}

static void test_bad_strings(void)
{
	bad("{\"a\xff\":" T_U8_1 "}", 1, "invalid UTF-8 (0xff) in a name");
	bad("{\"a\xc0\xaf\":" T_U8_1 "}", 1, "overlong UTF-8 in a name");
	bad("{\"a\xed\xa0\x80\":" T_U8_1 "}", 1, "an encoded surrogate in a name");
	bad("{\"a\xf4\x90\x80\x80\":" T_U8_1 "}", 1, "UTF-8 above U+10FFFF in a name");
	bad("{\"a\xe6\x9d\":" T_U8_1 "}", 1, "truncated UTF-8 in a name");
	bad("{\"a\":" T_U8_1 "}  \x80", 1, "invalid UTF-8 in the padding");
	bad("{\"__metadata__\":{\"k\":\"\xf8\x88\x80\x80\x80\"},\"a\":" T_U8_1 "}", 1,
	    "a 5-byte sequence in a metadata value");
	bad("{\"a\tb\":" T_U8_1 "}", 1, "a raw tab in a string");
	bad("{\"a\x01\":" T_U8_1 "}", 1, "a raw control character in a string");
	bad("{\"a\\x\":" T_U8_1 "}", 1, "the escape \\x");
	bad("{\"a\\U0041\":" T_U8_1 "}", 1, "the escape \\U");
	bad("{\"a\\u12G4\":" T_U8_1 "}", 1, "a bad hex digit in \\u");
	bad("{\"a\\u12\":" T_U8_1 "}", 1, "a short \\u escape");
	bad("{\"a\\ud800\":" T_U8_1 "}", 1, "a lone leading surrogate");
	bad("{\"a\\udc00\":" T_U8_1 "}", 1, "a lone trailing surrogate");
	bad("{\"a\\ud800\\u0041\":" T_U8_1 "}", 1, "a leading surrogate before a non-surrogate");
	bad("{\"a\\u0000\":" T_U8_1 "}", 1, "\\u0000 in a tensor name");
	bad("{\"__metadata__\":{\"k\\u0000\":\"v\"}}", 0, "\\u0000 in a metadata key");
	bad("{\"__metadata__\":{\"k\":\"v\\u0000\"}}", 0, "\\u0000 in a metadata value");
	bad(A_DTYPE("\"U8\\u0000\""), 1, "\\u0000 in a dtype");
	bad("{\"a\":" T_U8_1 ",\"unterminated}", 1, "an unterminated string");
}

static void test_duplicates(void)
{
	bad("{\"a\":" T_U8_1 ",\"a\":" T_U8_1 "}", 1, "a duplicate tensor name");
	bad("{\"a\":" T_U8_1 ",\"\\u0061\":" T_U8_1 "}", 1,
	    "a duplicate tensor name spelt with an escape");
	bad("{\"__metadata__\":{},\"a\":" T_U8_1 ",\"__metadata__\":{}}", 1,
	    "a duplicate __metadata__");
	bad("{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"1\"}}", 0,
	    "a duplicate metadata key");
	bad("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
	    "a duplicate dtype field");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
	    "a duplicate shape field");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"data_offsets\":[0,1]}}",
	    1, "a duplicate data_offsets field");
	bad("{\"a\":{\"x\":1,\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":2}}", 1,
	    "a duplicate unknown field");
}

static void test_bad_entries(void)
{
	bad("{\"a\":[\"U8\",[1],[0,1]]}", 1, "a tensor entry that is an array");
	bad("{\"a\":\"U8\"}", 1, "a tensor entry that is a string");
	bad("{\"a\":null}", 0, "a tensor entry that is null");
	bad("{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "a missing dtype");
	bad(A_DTYPE("8"), 1, "a numeric dtype");
	bad(A_DTYPE("null"), 1, "a null dtype");
	bad(A_DTYPE("{\"U8\":null}"), 1, "a dtype written as an object");
	bad("{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16,
	    "an unknown dtype");
	bad(A_DTYPE("\"u8\""), 1, "a lower-case dtype");
	bad(A_DTYPE("\"F8_E4M3FNUZ\""), 1, "F8_E4M3FNUZ (not a CryptoTensors dtype)");
	bad("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, "a missing shape");
	bad(A_SHAPE("1"), 1, "a numeric shape");
	bad(A_SHAPE("{}"), 1, "an object shape");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":null,\"data_offsets\":[0,0]}}", 0, "a null shape");
	bad(A_SHAPE("[-1]"), 1, "a negative dimension");
	bad(A_SHAPE("[-0]"), 1, "-0 as a dimension (a float for serde_json)");
	bad(A_SHAPE("[1.0]"), 1, "1.0 as a dimension");
	bad(A_SHAPE("[1e0]"), 1, "1e0 as a dimension");
	bad(A_SHAPE("[01]"), 1, "a leading zero in a dimension");
	bad(A_SHAPE("[\"1\"]"), 1, "a string dimension");
	bad(A_SHAPE("[null]"), 1, "a null dimension");
	bad(A_SHAPE("[[1]]"), 1, "a nested array dimension");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[0,18446744073709551616],\"data_offsets\":[0,0]}}", 0,
	    "a dimension of 2^64");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "missing data_offsets");
	bad(A_OFFSETS("[1]"), 1, "data_offsets with one entry");
	bad(A_OFFSETS("[]"), 1, "empty data_offsets");
	bad(A_OFFSETS("[0,1,2]"), 1, "data_offsets with three entries");
	bad(A_OFFSETS("{\"0\":1}"), 1, "data_offsets as an object");
	bad(A_OFFSETS("\"0,1\""), 1, "data_offsets as a string");
	bad(A_OFFSETS("[-1,0]"), 1, "a negative offset");
	bad(A_OFFSETS("[0,1.0]"), 1, "a float offset");
	bad(A_OFFSETS("[0,18446744073709551616]"), 1, "an offset of 2^64");
}

static void test_bad_layout(void)
{
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 0,
	    "END < BEGIN");
	bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
	    "END-BEGIN smaller than the shape's size");
	bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12,
	    "END-BEGIN larger than the shape's size");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
	    "a shape whose size overflows");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[8589934592,8589934592,0],\"data_offsets\":[0,0]}}", 0,
	    "a shape that overflows before a zero dimension (as upstream)");
	bad("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
	    "F4 with an odd element count");
	bad("{\"a\":{\"dtype\":\"F6_E2M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
	    "F6 that does not fill whole bytes");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
	    "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}", 12, "a gap");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
	    "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8, "an overlap");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
	    "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
	    "two tensors on the same bytes");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8,
	    "a first tensor not at offset 0");
	bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}", 4,
	    "a lone empty tensor not at offset 0");
	bad("{\"a\":" T_U8_1 "}", 2, "a file longer than the data");
	bad("{\"a\":" T_U8_1 "}", 0, "a file shorter than the data");
	bad("{}", 1, "an empty header with data after it");
	bad("{\"__metadata__\":\"x\"}", 0, "__metadata__ as a string");
	bad("{\"__metadata__\":null}", 0, "__metadata__ as null");
	bad("{\"__metadata__\":[]}", 0, "__metadata__ as an array");
	bad("{\"__metadata__\":1}", 0, "__metadata__ as a number");
	bad("{\"__metadata__\":{\"k\":1}}", 0, "a numeric metadata value");
	bad("{\"__metadata__\":{\"k\":null}}", 0, "a null metadata value");
	bad("{\"__metadata__\":{\"k\":{}}}", 0, "an object metadata value");
	bad("{\"__metadata__\":{\"k\":[\"v\"]}}", 0, "an array metadata value");
	bad("{\"__metadata__\":{\"k\":true}}", 0, "a boolean metadata value");
}

/* The limit on N, through ctfs_st_parse and through ctfs_st_read. */
static void test_header_len(void)
{
	const size_t max = 100000000;
	struct ctfs_st_header *h = NULL;
	char err[ERRLEN];
	uint8_t *big = malloc(max + 1);
	int rc;

	if (big) {
		memcpy(big, "{}", 2);
		memset(big + 2, ' ', max - 1);
		rc = ctfs_st_parse(big, max, 8 + max, &h, err, sizeof(err));
		tap_ok(rc == 0, "N == 100000000 is accepted");
		ctfs_st_free(h);
		h = NULL;
		rc = ctfs_st_parse(big, max + 1, 8 + max + 1, &h, err, sizeof(err));
		tap_ok(rc == -EINVAL && !h, "N == 100000001 is rejected (%s)", err);
		free(big);
	}
	rc = ctfs_st_parse((const uint8_t *)"{}", 2, 9, &h, err, sizeof(err));
	tap_ok(rc == -EINVAL, "8 + N greater than the file size (%s)", err);
	rc = ctfs_st_parse((const uint8_t *)"{}", 2, 5, &h, err, sizeof(err));
	tap_ok(rc == -EINVAL, "file size below 8 (%s)", err);
}

static int temp_file(const uint8_t *data, size_t len, uint64_t size)
{
	char path[] = "/tmp/ctfs-test-st-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (ctfs_write_full(fd, data, len) || ftruncate(fd, (off_t)size)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void read_case(const uint8_t *data, size_t len, uint64_t size, int want, const char *what)
{
	struct ctfs_st_header *h = NULL;
	char err[ERRLEN] = "";
	int fd = temp_file(data, len, size), rc;

	if (fd < 0) {
		tap_ok(0, "temp file for %s", what);
		return;
	}
	rc = ctfs_st_read(fd, size, &h, err, sizeof(err));
	tap_ok(rc == want && (rc || h), "ctfs_st_read: %s (%s)", what, err);
	ctfs_st_free(h);
	close(fd);
}

static void test_read(void)
{
	uint8_t f[64];
	const char *j = "{\"a\":" T_U8_1 "}";
	size_t n = strlen(j);

	ctfs_store_le64(f, n);
	memcpy(f + 8, j, n);
	f[8 + n] = 7;
	read_case(f, 9 + n, 9 + n, 0, "a small valid file");
	read_case(f, 5, 5, -EINVAL, "a 5-byte file");
	read_case(f, 8 + n, 8 + n, -EINVAL, "the data byte missing");
	ctfs_store_le64(f, 100000001);
	read_case(f, 9 + n, 9 + n, -EINVAL, "N = 100000001 in a small file");
	read_case(f, 9 + n, 200000000, -EINVAL, "N = 100000001 in a (sparse) 200 MB file");
	ctfs_store_le64(f, UINT64_MAX);
	read_case(f, 9 + n, 9 + n, -EINVAL, "N = 2^64-1");
	ctfs_store_le64(f, n + 2);
	read_case(f, 9 + n, 9 + n, -EINVAL, "N beyond the end of the file");
}

/* Every vector file parses, with the tensors that expected.json lists. */
static void test_vectors(void)
{
	char path[4096], err[ERRLEN];
	cJSON *exp = vec_load_json("cryptotensors/expected.json"), *file;
	int rc;

	if (!exp)
		return;
	cJSON_ArrayForEach(file, exp) {
		struct ctfs_st_header *h = NULL;
		struct stat st;
		const cJSON *t;
		bool same = true;
		int fd;

		snprintf(path, sizeof(path), "%s/cryptotensors/%s", tap_vectors_dir(), file->string);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			tap_ok(0, "open %s", path);
			if (fd >= 0)
				close(fd);
			continue;
		}
		rc = ctfs_st_read(fd, (uint64_t)st.st_size, &h, err, sizeof(err));
		close(fd);
		if (!tap_ok(rc == 0, "%s parses", file->string)) {
			tap_diag("%s", err);
			continue;
		}
		same = (size_t)cJSON_GetArraySize(file) == h->n_tensors;
		cJSON_ArrayForEach(t, file) {
			const struct ctfs_tensor *ten = ctfs_st_find(h, t->string);
			const cJSON *shape = cJSON_GetArrayItem(t, 1), *d;
			size_t k = 0;

			if (!ten || strcmp(ctfs_dtype_name(ten->dtype),
					   cJSON_GetArrayItem(t, 0)->valuestring) ||
			    (size_t)cJSON_GetArraySize(shape) != ten->ndim) {
				same = false;
				continue;
			}
			cJSON_ArrayForEach(d, shape)
				same &= (double)ten->shape[k++] == d->valuedouble;
		}
		tap_ok(same, "%s: names, dtypes and shapes as in expected.json", file->string);
		tap_ok(h->data_start + h->data_len == (uint64_t)st.st_size && h->data_start % 8 == 0,
		       "%s: data region ends the file and starts 8-aligned", file->string);
		ctfs_st_free(h);
	}
	cJSON_Delete(exp);
}

int main(void)
{
	test_dtypes();
	test_nbytes();
	test_basic();
	test_metadata();
	test_whitespace_and_extras();
	test_depth();
	test_order();
	test_find();
	test_bad_json();
	test_bad_strings();
	test_duplicates();
	test_bad_entries();
	test_bad_layout();
	test_header_len();
	test_read();
	test_vectors();
	return tap_done();
}
