/* Crypto entries: every malformed variant is refused with a reason; the
 * vectors of an independent implementation parse. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ct/crypto_entries.h"
#include "crypto/secmem.h"
#include "tap.h"

/* One tensor "t" of 100000 U8 bytes with the given crypto entries. */
static int parse_with(const char *keys, const char *enc, const char *policy, const char *sig,
		      char *err, size_t errlen)
{
	char json[8192];
	struct ctfs_st_header *h;
	struct ctfs_ct_info *ci;
	int n, rc;

	n = snprintf(json, sizeof(json),
		     "{\"__metadata__\":{\"__crypto_keys__\":\"%s\",\"__encryption__\":\"%s\","
		     "\"__policy__\":\"%s\",\"__signature__\":\"%s\"},"
		     "\"t\":{\"dtype\":\"U8\",\"shape\":[100000],\"data_offsets\":[0,100000]}}",
		     keys, enc, policy, sig);
	rc = ctfs_st_parse((const uint8_t *)json, (size_t)n, 8 + (uint64_t)n + 100000, &h, err,
			   errlen);
	if (rc)
		return 1000 + rc;
	rc = ctfs_ct_parse(h, &ci, err, errlen);
	ctfs_ct_free(ci);
	ctfs_st_free(h);
	return rc;
}

#define KEYS(v, extra) "{\\\"version\\\":\\\"" v "\\\"" extra ",\\\"enc\\\":{\\\"kty\\\":\\\"oct\\\"," \
	"\\\"alg\\\":\\\"aes256gcm\\\",\\\"kid\\\":\\\"m\\\"},\\\"sign\\\":{\\\"kty\\\":\\\"okp\\\"," \
	"\\\"alg\\\":\\\"Ed25519\\\",\\\"kid\\\":\\\"s\\\"}}"
#define K32 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define IV "AAAAAAAAAAAAAAAA"
#define TAG "AAAAAAAAAAAAAAAAAAAAAA=="
#define WRAP "\\\"wrapped_key\\\":\\\"" K32 "\\\",\\\"key_iv\\\":\\\"" IV "\\\",\\\"key_tag\\\":\\\"" TAG "\\\""
#define POLICY "{\\\"local\\\":\\\"package model\\\\nallow = true\\\",\\\"remote\\\":\\\"package model\\\\nallow = true\\\"}"
#define POLICY_NO_REMOTE "{\\\"local\\\":\\\"package model\\\\nallow = true\\\"}"
#define POLICY_NULL_LOCAL "{\\\"local\\\":null,\\\"remote\\\":\\\"package model\\\\nallow = true\\\"}"
#define SIG "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
/* two tags for 100000 bytes in 65536-byte chunks */
#define TAGS2 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define V2ENC(iv, tags) "{\\\"t\\\":{" WRAP ",\\\"base_iv\\\":\\\"" iv "\\\",\\\"tags\\\":\\\"" tags "\\\"}}"

static void malformed(void)
{
	static const struct {
		const char *what, *keys, *enc, *policy, *sig;
	} cases[] = {
		{ "version 3", KEYS("3", ",\\\"chunk_size\\\":65536"), V2ENC(IV, TAGS2), POLICY, SIG },
		{ "chunk_size 0", KEYS("2", ",\\\"chunk_size\\\":0"), V2ENC(IV, TAGS2), POLICY, SIG },
		{ "chunk_size 1.5", KEYS("2", ",\\\"chunk_size\\\":1.5"), V2ENC(IV, TAGS2), POLICY, SIG },
		{ "chunk_size string", KEYS("2", ",\\\"chunk_size\\\":\\\"65536\\\""), V2ENC(IV, TAGS2), POLICY, SIG },
		{ "one tag too few", KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC(IV, TAG), POLICY, SIG },
		{ "tags for another chunk_size", KEYS("2", ",\\\"chunk_size\\\":32768"), V2ENC(IV, TAGS2), POLICY, SIG },
		{ "counter overflow", KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC("AAAAAAAAAAD/////", TAGS2), POLICY, SIG },
		{ "base64 garbage", KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC("!!!!AAAAAAAAAAAA", TAGS2), POLICY, SIG },
		{ "short base_iv", KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC("AAAAAAAA", TAGS2), POLICY, SIG },
		{ "unknown tensor", KEYS("2", ",\\\"chunk_size\\\":65536"), "{\\\"zz\\\":{" WRAP "}}", POLICY, SIG },
		{ "enc not JSON", KEYS("2", ",\\\"chunk_size\\\":65536"), "{nope", POLICY, SIG },
		{ "keys not JSON", "[1,2]", V2ENC(IV, TAGS2), POLICY, SIG },
		{ "short signature", KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC(IV, TAGS2), POLICY, "AAAA" },
		{ "policy not object", KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC(IV, TAGS2), "\\\"x\\\"", SIG },
		{ "policy without remote", KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC(IV, TAGS2), POLICY_NO_REMOTE, SIG },
		{ "policy with null local", KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC(IV, TAGS2), POLICY_NULL_LOCAL, SIG },
		{ "v1 without tag", KEYS("1", ""), "{\\\"t\\\":{" WRAP ",\\\"iv\\\":\\\"" IV "\\\"}}", POLICY, SIG },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		err[0] = 0;
		rc = parse_with(cases[i].keys, cases[i].enc, cases[i].policy, cases[i].sig, err,
				sizeof(err));
		tap_ok(rc == -EINVAL && err[0], "refuses %s (%d: %s)", cases[i].what, rc, err);
	}
	tap_ok(parse_with(KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC(IV, TAGS2), POLICY, SIG,
			  err, sizeof(err)) == 0, "accepts the well-formed variant: %s", err);
	tap_ok(parse_with(KEYS("2", ",\\\"chunk_size\\\":65536"), V2ENC("AAAAAAAAAAD/////", TAG),
			  POLICY, SIG, err, sizeof(err)) == -EINVAL,
	       "refuses a counter that overflows on the second chunk");
}

static void nonces(void)
{
	uint8_t base[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0xff, 0xfe }, n[12];

	tap_ok(ctfs_ct_chunk_nonce(base, 1, n) == 0 && n[10] == 0xff && n[11] == 0xff,
	       "chunk 1 adds one to the big-endian counter");
	tap_ok(ctfs_ct_chunk_nonce(base, 2, n) == 0 && n[9] == 1 && n[10] == 0 && n[11] == 0,
	       "the counter carries");
	memset(base + 8, 0xff, 4);
	tap_ok(ctfs_ct_chunk_nonce(base, 1, n) == -EOVERFLOW, "no wrap past 2^32");
	tap_ok(ctfs_ct_chunk_count(0, 10) == 1 && ctfs_ct_chunk_count(10, 10) == 1 &&
	       ctfs_ct_chunk_count(11, 10) == 2, "chunk counts");
}

static void vectors(void)
{
	static const char *const files[] = { "v1-chacha.cryptotensors",
		"v2-aes128-unicode.cryptotensors", "v2-aes256-partial.safetensors" };
	char path[4096], err[256];

	for (size_t i = 0; i < 3; i++) {
		struct ctfs_st_header *h = NULL;
		struct ctfs_ct_info *ci = NULL;
		struct stat st;
		int fd, rc = -1;

		snprintf(path, sizeof(path), "%s/cryptotensors/%s", tap_vectors_dir(), files[i]);
		fd = open(path, O_RDONLY);
		if (fd >= 0 && !fstat(fd, &st) &&
		    !ctfs_st_read(fd, (uint64_t)st.st_size, &h, err, sizeof(err)))
			rc = ctfs_ct_parse(h, &ci, err, sizeof(err));
		tap_ok(rc == 0, "parses %s %s", files[i], rc ? err : "");
		if (ci && i == 2) {
			const struct ctfs_tensor *p = ctfs_st_find(h, "p");

			tap_ok(ci->version == 2 && ci->chunk_size == 65536 &&
			       !ci->tensors[p - h->tensors].encrypted, "partial: p is plaintext");
		}
		ctfs_ct_free(ci);
		ctfs_st_free(h);
		if (fd >= 0)
			close(fd);
	}
}

int main(void)
{
	ctfs_secmem_init();
	malformed();
	nonces();
	vectors();
	return tap_done();
}
