/* The revocation list and the plaintext-digest entry. */
#include "crypto/sha256.h"
#include "codec/base64.h"
#include "safetensors/safetensors.h"
#include "trust/digests.h"
#include "trust/revoked.h"
#include "trust/thumbprint.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char tp_text[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

static int parse(const char *json, struct ctfs_revoked **r)
{
	char err[256];

	return ctfs_revoked_parse(json, strlen(json), r, err, sizeof(err));
}

static void test_revoked(void)
{
	struct ctfs_revoked *r;
	uint8_t tp[32], other[32] = { 9 }, dig[32];
	const char *serials[] = { "00AB12" }, *fine[] = { "ab13" };
	char err[256] = "", json[512];

	ctfs_thumbprint_parse(tp_text, tp);
	memset(dig, 0xcd, sizeof(dig));
	snprintf(json, sizeof(json), "{\"kids\":[\"old-signer\"],\"thumbprints\":[\"%s\"],"
		 "\"serials\":[\"ab12\"],\"header_digests\":[\"%s\"]}", tp_text,
		 "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
	tap_ok(!parse(json, &r), "a list with every kind of entry parses");
	tap_ok(ctfs_revoked_check(r, &(struct ctfs_revoked_query){ .kid = "old-signer" }, err,
				  sizeof(err)) == -EKEYREVOKED && strstr(err, "old-signer"),
	       "revoked kid");
	tap_ok(ctfs_revoked_check(r, &(struct ctfs_revoked_query){ .thumbprint = tp }, err,
				  sizeof(err)) == -EKEYREVOKED, "revoked thumbprint");
	tap_ok(ctfs_revoked_check(r, &(struct ctfs_revoked_query){ .serials = serials,
				  .n_serials = 1 }, err, sizeof(err)) == -EKEYREVOKED,
	       "revoked serial, any case, leading zeros ignored");
	tap_ok(ctfs_revoked_check(r, &(struct ctfs_revoked_query){ .header_digest = dig }, err,
				  sizeof(err)) == -EKEYREVOKED && strstr(err, "withdrawn"),
	       "withdrawn header digest");
	tap_ok(!ctfs_revoked_check(r, &(struct ctfs_revoked_query){ .kid = "new",
				   .thumbprint = other, .serials = fine, .n_serials = 1,
				   .header_digest = other }, err, sizeof(err)),
	       "nothing listed: accepted");
	ctfs_revoked_free(r);
	tap_ok(!parse("{}", &r), "an empty list parses");
	ctfs_revoked_free(r);
	tap_ok(parse("{\"kid\":[]}", &r) == -EINVAL, "unknown member refused");
	tap_ok(parse("{\"serials\":[\"xyz\"]}", &r) == -EINVAL, "non-hex serial refused");
	tap_ok(parse("{\"header_digests\":[\"abcd\"]}", &r) == -EINVAL, "short digest refused");
	tap_ok(parse("{\"thumbprints\":[\"abc\"]}", &r) == -EINVAL, "bad thumbprint refused");
	tap_ok(parse("[1]", &r) == -EINVAL, "not an object refused");
}

static void test_reload(void)
{
	char path[] = "/tmp/ctfs-revoked-XXXXXX", err[256] = "";
	struct ctfs_revocation rv;
	struct ctfs_revoked_query q = { .kid = "k1" };
	int fd = mkstemp(path);
	FILE *f;

	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	fputs("{\"kids\":[]}", f);
	fclose(f);
	tap_ok(!ctfs_revocation_init(&rv, path, err, sizeof(err)) &&
	       !ctfs_revocation_check(&rv, &q, err, sizeof(err)), "k1 not revoked at first");
	f = fopen(path, "w");
	fputs("{\"kids\":[\"k1\"]}", f);
	fclose(f);
	tap_ok(!ctfs_revocation_check(&rv, &q, err, sizeof(err)), "not before a reload");
	tap_ok(!ctfs_revocation_reload(&rv, err, sizeof(err)) &&
	       ctfs_revocation_check(&rv, &q, err, sizeof(err)) == -EKEYREVOKED,
	       "revoked after the reload");
	f = fopen(path, "w");
	fputs("{broken", f);
	fclose(f);
	tap_ok(ctfs_revocation_reload(&rv, err, sizeof(err)) == -EINVAL &&
	       ctfs_revocation_check(&rv, &q, err, sizeof(err)) == -EKEYREVOKED,
	       "a broken file keeps the previous list in force");
	ctfs_revocation_destroy(&rv);
	unlink(path);
}

/* A header with tensors a (plaintext, 10 bytes), b (encrypted), c (empty). */
static struct ctfs_st_header *three(void)
{
	static const char json[] =
		"{\"a\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]},"
		"\"b\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[10,16]},"
		"\"c\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[16,16]}}";
	struct ctfs_st_header *h = NULL;
	char err[256];
	size_t len = sizeof(json) - 1;

	ctfs_st_parse((const uint8_t *)json, len, 8 + len + 16, &h, err, sizeof(err));
	return h;
}

static void test_digests(void)
{
	struct ctfs_st_header *h = three();
	const bool plain[3] = { true, false, true };
	uint8_t data[8 + 512], sums[3 * 32];
	char path[] = "/tmp/ctfs-digests-XXXXXX", err[256] = "", json[1024];
	struct ctfs_buf b64 = { 0 }, text = { 0 };
	struct ctfs_digests *d = NULL;
	int fd = mkstemp(path);

	if (!h || fd < 0) {
		tap_ok(0, "set-up");
		return;
	}
	memset(data, 0, sizeof(data));
	for (int i = 0; i < 16; i++)
		data[h->data_start + i] = (uint8_t)(i + 1);
	if (ctfs_pwrite_full(fd, data, h->data_start + 16, 0))
		tap_ok(0, "write");
	/* chunks of 4: a = [1..4] [5..8] [9,10] */
	for (int c = 0; c < 3; c++)
		ctfs_sha256(sums + c * 32, data + h->data_start + c * 4, c < 2 ? 4 : 2);
	ctfs_b64_encode(sums, sizeof(sums), &b64);
	snprintf(json, sizeof(json), "{\"alg\":\"sha256\",\"chunk_size\":4,"
		 "\"tensors\":{\"a\":\"%s\",\"c\":\"\"}}", (char *)b64.data);
	tap_ok(!ctfs_digests_compute(fd, h, plain, 4, &text) && !strcmp((char *)text.data, json),
	       "computed entry is the documented encoding");
	tap_ok(!ctfs_digests_parse(json, h, plain, &d, err, sizeof(err)) &&
	       ctfs_digests_cover(d, 0) && !ctfs_digests_cover(d, 1) && ctfs_digests_cover(d, 2),
	       "parsed: a and c covered, b (encrypted) not");
	tap_ok(!ctfs_digests_check(d, 0, 1, data + h->data_start + 4, 4), "chunk 1 verifies");
	tap_ok(ctfs_digests_chunk_len(d, 10, 2) == 2, "last chunk is short");
	data[h->data_start + 5] ^= 1;
	tap_ok(ctfs_digests_check(d, 0, 1, data + h->data_start + 4, 4) == -EIO,
	       "a flipped byte fails its chunk");
	tap_ok(!ctfs_digests_check(d, 0, 0, data + h->data_start, 4), "the other chunks still do");
	tap_ok(ctfs_digests_check(d, 0, 3, data, 4) == -EIO, "chunk past the end fails");
	ctfs_digests_free(d);
	d = NULL;
	{
		static const char *bad[] = {
			"{\"alg\":\"md5\",\"chunk_size\":4,\"tensors\":{}}",
			"{\"alg\":\"sha256\",\"chunk_size\":0,\"tensors\":{}}",
			"{\"alg\":\"sha256\",\"chunk_size\":4.5,\"tensors\":{}}",
			"{\"alg\":\"sha256\",\"chunk_size\":4,\"tensors\":{\"c\":\"\"}}",
			"{\"alg\":\"sha256\",\"chunk_size\":4,\"tensors\":{\"a\":\"\",\"c\":\"\"}}",
			"{\"alg\":\"sha256\",\"chunk_size\":4,\"tensors\":{\"b\":\"\",\"c\":\"\"}}",
			"{\"alg\":\"sha256\",\"chunk_size\":4,\"tensors\":{\"zz\":\"\"}}",
			"{\"alg\":\"sha256\",\"chunk_size\":4,\"tensors\":{\"c\":\"\",\"c\":\"\"}}",
			"{\"alg\":\"sha256\",\"chunk_size\":4,\"tensors\":{},\"x\":1}",
			"nonsense",
		};
		int refused = 0;

		for (size_t i = 0; i < CTFS_ARRAY_LEN(bad); i++) {
			if (ctfs_digests_parse(bad[i], h, plain, &d, err, sizeof(err)) == -EBADMSG)
				refused++;
			else
				tap_diag("accepted: %s", bad[i]);
		}
		tap_ok(refused == (int)CTFS_ARRAY_LEN(bad), "%d malformed entries refused", refused);
	}
	ctfs_buf_free(&b64);
	ctfs_buf_free(&text);
	ctfs_st_free(h);
	close(fd);
	unlink(path);
}

int main(void)
{
	test_revoked();
	test_reload();
	test_digests();
	return tap_done();
}
