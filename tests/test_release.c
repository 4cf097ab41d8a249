/* Unit tests of the key-release messages (src/keys/release.c) and of the
 * callout information that carries a mount's settings through
 * request_key(2) (src/keys/keyfetch.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "crypto/sha256.h"
#include "keys/keyfetch.h"
#include "keys/release.h"
#include "tap.h"

static void test_names(void)
{
	static const char *good[] = { "k", "model-1.enc", "a:b@c+d_e", "X9" };
	static const char *bad[] = { "", ".hidden", "a/b", "a b", "é", "a\"b" };
	char long_name[CTFS_RELEASE_MAX_NAME + 2];

	for (size_t i = 0; i < CTFS_ARRAY_LEN(good); i++)
		tap_ok(ctfs_release_name_ok(good[i]), "name '%s' accepted", good[i]);
	for (size_t i = 0; i < CTFS_ARRAY_LEN(bad); i++)
		tap_ok(!ctfs_release_name_ok(bad[i]), "name '%s' refused", bad[i]);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	tap_ok(!ctfs_release_name_ok(long_name), "a name of %u bytes refused",
	       CTFS_RELEASE_MAX_NAME + 1);
	long_name[CTFS_RELEASE_MAX_NAME] = 0;
	tap_ok(ctfs_release_name_ok(long_name), "a name of %u bytes accepted", CTFS_RELEASE_MAX_NAME);
	tap_ok(!ctfs_release_name_ok(NULL), "NULL name refused");
}

static void test_request_roundtrip(void)
{
	uint8_t hdr[64], sha[32];
	struct ctfs_buf b = { 0 };
	struct ctfs_release_req r;
	char err[256];

	for (size_t i = 0; i < sizeof(hdr); i++)
		hdr[i] = (uint8_t)(i * 37);
	tap_ok(!ctfs_release_request_build(hdr, sizeof(hdr), 12345, "k1", "fleet-a", &b),
	       "request built");
	tap_ok(!ctfs_release_request_parse((char *)b.data, b.len, &r, err, sizeof(err)),
	       "request parsed back");
	ctfs_sha256(sha, hdr, sizeof(hdr));
	tap_ok(!strcmp(r.kid, "k1") && !strcmp(r.fleet, "fleet-a") && r.file_size == 12345 &&
	       r.header_len == sizeof(hdr) && !memcmp(r.header, hdr, sizeof(hdr)) &&
	       !memcmp(r.header_sha256, sha, 32), "request fields and header digest kept");
	ctfs_release_request_free(&r);
	ctfs_buf_free(&b);
	tap_ok(ctfs_release_request_build(hdr, sizeof(hdr), 1, "../x", NULL, &b) == -EINVAL,
	       "a kid the API refuses is not sent");
	ctfs_buf_free(&b);
}

static void test_request_refusals(void)
{
	static const char *bad[] = {
		"", "[]", "{", "{\"v\":1}",
		"{\"kid\":\"k\",\"file_size\":100,\"header\":\"AAAAAAAAAAAAAA==\"}",
		"{\"v\":2,\"kid\":\"k\",\"file_size\":100,\"header\":\"AAAAAAAAAAAAAA==\"}",
		"{\"v\":1,\"kid\":\"../k\",\"file_size\":100,\"header\":\"AAAAAAAAAAAAAA==\"}",
		"{\"v\":1,\"kid\":7,\"file_size\":100,\"header\":\"AAAAAAAAAAAAAA==\"}",
		"{\"v\":1,\"kid\":\"k\",\"fleet\":\"a b\",\"file_size\":100,\"header\":\"AAAAAAAAAAAAAA==\"}",
		"{\"v\":1,\"kid\":\"k\",\"file_size\":-1,\"header\":\"AAAAAAAAAAAAAA==\"}",
		"{\"v\":1,\"kid\":\"k\",\"file_size\":10.5,\"header\":\"AAAAAAAAAAAAAA==\"}",
		"{\"v\":1,\"kid\":\"k\",\"file_size\":\"100\",\"header\":\"AAAAAAAAAAAAAA==\"}",
		"{\"v\":1,\"kid\":\"k\",\"file_size\":1e300,\"header\":\"AAAAAAAAAAAAAA==\"}",
		"{\"v\":1,\"kid\":\"k\",\"file_size\":100}",
		"{\"v\":1,\"kid\":\"k\",\"file_size\":100,\"header\":\"!!!!\"}",
		"{\"v\":1,\"kid\":\"k\",\"file_size\":100,\"header\":\"AAAA\"}",
	};
	struct ctfs_release_req r;
	char err[256];

	for (size_t i = 0; i < CTFS_ARRAY_LEN(bad); i++) {
		err[0] = 0;
		tap_ok(ctfs_release_request_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err)) ==
		       -EINVAL && *err, "request %zu refused: %s", i, err);
	}
}

/* A header over the cap is refused before it is decoded. */
static void test_request_cap(void)
{
	size_t n = (CTFS_RELEASE_MAX_HEADER / 3 + 2) * 4;
	const char *pre = "{\"v\":1,\"kid\":\"k\",\"file_size\":100,\"header\":\"";
	size_t pl = strlen(pre);
	char *body = malloc(pl + n + 3), err[256] = "";
	struct ctfs_release_req r;

	if (!body) {
		tap_ok(0, "memory for the cap test");
		return;
	}
	memcpy(body, pre, pl);
	memset(body + pl, 'A', n);
	memcpy(body + pl + n, "\"}", 3);
	tap_ok(ctfs_release_request_parse(body, pl + n + 2, &r, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "limit"), "a header over %u bytes refused: %s", CTFS_RELEASE_MAX_HEADER,
	       err);
	free(body);
}

static void test_grant(void)
{
	struct ctfs_jwk k = { 0 }, got, okp = { 0 };
	struct ctfs_buf b = { 0 };
	unsigned lt = 0;
	char err[256] = "", text[512];
	/* each answer is head + the key's JSON (when with_key) + "}" */
	static const struct {
		const char *head;
		int with_key;
		const char *what;
	} bad[] = {
		{ "{\"kid\":\"other\",\"lifetime\":60,\"jwk\":", 1, "another kid" },
		{ "{\"kid\":\"m1\",\"lifetime\":0,\"jwk\":", 1, "lifetime 0" },
		{ "{\"kid\":\"m1\",\"lifetime\":86401,\"jwk\":", 1, "lifetime over a day" },
		{ "{\"kid\":\"m1\",\"lifetime\":60,\"jwk\":7", 0, "jwk not an object" },
		{ "{\"kid\":\"m1\",\"lifetime\":60", 0, "no jwk" },
	};

	tap_ok(!ctfs_jwk_generate(&k, CTFS_KTY_OCT, "aes256gcm", "m1"), "key generated");
	tap_ok(!ctfs_release_grant_build(&k, 60, &b), "grant built");
	tap_ok(!ctfs_release_grant_parse((char *)b.data, b.len, "m1", &got, &lt, err, sizeof(err)) &&
	       lt == 60 && got.secret_len == 32 && !memcmp(got.secret, k.secret, 32),
	       "grant parsed back: lifetime and key");
	ctfs_jwk_clear(&got);
	for (size_t i = 0; i < CTFS_ARRAY_LEN(bad); i++) {
		struct ctfs_buf j = { 0 };

		ctfs_jwk_to_json(&k, true, &j);
		ctfs_buf_putc(&j, 0);
		snprintf(text, sizeof(text), "%s%s}", bad[i].head, bad[i].with_key ? (char *)j.data : "");
		tap_ok(ctfs_release_grant_parse(text, strlen(text), "m1", &got, &lt, err,
						sizeof(err)) == -EKEYREJECTED && !got.secret,
		       "grant with %s rejected: %s", bad[i].what, err);
		ctfs_buf_free(&j);
	}
	tap_ok(!ctfs_jwk_generate(&okp, CTFS_KTY_OKP, NULL, "m1"), "okp key generated");
	ctfs_buf_free(&b);
	b = (struct ctfs_buf){ 0 };
	ctfs_release_grant_build(&okp, 60, &b);
	tap_ok(ctfs_release_grant_parse((char *)b.data, b.len, "m1", &got, &lt, err, sizeof(err)) ==
	       -EKEYREJECTED, "a signing key is not a master key: %s", err);
	tap_ok(ctfs_release_grant_parse("nope", 4, "m1", &got, &lt, err, sizeof(err)) == -EINVAL,
	       "a grant that is not JSON is malformed");
	ctfs_buf_free(&b);
	ctfs_jwk_clear(&k);
	ctfs_jwk_clear(&okp);
}

static void test_refusal(void)
{
	struct ctfs_buf b = { 0 };
	char code[64], reason[128];

	tap_ok(!ctfs_release_refusal_build("policy", "said \"no\"\n\\ at\tonce", &b) &&
	       !ctfs_buf_putc(&b, 0), "refusal built with quotes and control characters");
	ctfs_release_refusal_parse((char *)b.data, b.len - 1, code, sizeof(code), reason,
				   sizeof(reason));
	tap_ok(!strcmp(code, "policy") && !strcmp(reason, "said \"no\"\n\\ at\tonce"),
	       "refusal parsed back");
	ctfs_release_refusal_parse("garbage", 7, code, sizeof(code), reason, sizeof(reason));
	tap_ok(!*code && !*reason, "a garbage refusal gives empty code and reason");
	ctfs_buf_free(&b);
}

static void test_callout(void)
{
	struct ctfs_keyfetch_cfg c = { .server = "https://keys.example:8443", .cert = "/etc/a b/c.pem",
				       .key = "/k%1.pem", .ca = "/ca.pem", .fleet = "f1",
				       .audit = "/var/log/a.jsonl", .neg_ttl = 30 };
	struct ctfs_keyfetch_cfg d;
	uint8_t sha[32], got[32];
	const char *path;
	char buf[CTFS_KEYFETCH_MAX_CALLOUT], big[5000];
	int has;

	for (int i = 0; i < 32; i++)
		sha[i] = (uint8_t)(i * 9);
	tap_ok(!ctfs_keyfetch_callout_build(&c, "/models/my model.cryptotensors", sha, buf,
					    sizeof(buf)) && !strchr(strchr(buf, ' ') + 1, '\t'),
	       "callout built: %s", buf);
	tap_ok(!strncmp(buf, "ctfs1 ", 6) && !strstr(buf, "a b"), "callout starts ctfs1, spaces escaped");
	tap_ok(!ctfs_keyfetch_callout_parse(buf, &d, &path, got, &has) && has &&
	       !memcmp(got, sha, 32) && !strcmp(path, "/models/my model.cryptotensors") &&
	       !strcmp(d.cert, "/etc/a b/c.pem") && !strcmp(d.key, "/k%1.pem") &&
	       !strcmp(d.server, c.server) && !strcmp(d.fleet, "f1") && d.neg_ttl == 30 &&
	       d.timeout == CTFS_KEYFETCH_TIMEOUT, "callout parsed back");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	tap_ok(ctfs_keyfetch_callout_build(&c, big, sha, buf, sizeof(buf)) == -E2BIG,
	       "a callout over the kernel's page is refused");
	{
		static const char *bad[] = {
			"", "ctfs2 server=https://a cert=/c key=/k ca=/a file=/f",
			"ctfs1 server=https://a cert=/c key=/k ca=/a",
			"ctfs1 server=https://a cert=/c key=/k file=/f",
			"ctfs1 server=https://a cert=/c key=/k ca=/a file=/f%G1",
			"ctfs1 server=https://a cert=/c key=/k ca=/a file=/f%00x",
			"ctfs1 server=https://a cert=/c key=/k ca=/a file=/f =x",
			"ctfs1 server=https://a cert=/c key=/k ca=/a file=/f sha256=abcd",
			"ctfs1 server=https://a cert=/c key=/k ca=/a file=/f timeout=99999",
			"ctfs1 server=https://a cert=/c key=/k ca=/a file=/f neg_ttl=-1",
		};

		for (size_t i = 0; i < CTFS_ARRAY_LEN(bad); i++) {
			snprintf(buf, sizeof(buf), "%s", bad[i]);
			tap_ok(ctfs_keyfetch_callout_parse(buf, &d, &path, got, &has) == -EINVAL,
			       "malformed callout %zu refused", i);
		}
	}
}

int main(void)
{
	if (ctfs_secmem_init())
		tap_skip_all("libsodium does not initialise");
	test_names();
	test_request_roundtrip();
	test_request_refusals();
	test_request_cap();
	test_grant();
	test_refusal();
	test_callout();
	return tap_done();
}
