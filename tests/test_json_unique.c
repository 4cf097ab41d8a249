/* Strict inner JSON (issue 9, finding 9): a duplicate key anywhere inside
 * __policy__, __encryption__ or __crypto_keys__ makes the file refused,
 * with the key named; the same texts without the duplicate parse. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ct/crypto_entries.h"
#include "json/json_unique.h"
#include "tap.h"

static int check(const char *text, char *err, size_t errlen)
{
	return ctfs_json_check_strict(text, strlen(text), err, errlen);
}

static void checker(void)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "{\"a\":1,\"a\":2}", "duplicate key \"a\"" },
		{ "{\"a\":1,\"b\":{\"x\":1,\"y\":2,\"x\":3}}", "duplicate key \"x\"" },
		{ "[{\"k\":1},{\"k\":1,\"k\":1}]", "duplicate key \"k\"" },
		/* equal after unescaping: the key readers see, not its spelling */
		{ "{\"local\":1,\"loc\\u0061l\":2}", "duplicate key \"local\"" },
		{ "{\"a\":1,}", "" },
		{ "{\"a\":1} x", "trailing" },
	};
	static const char *const good[] = {
		"{\"a\":1,\"b\":2,\"ab\":3,\"a\\u0000\":4}", "{\"a\":{\"a\":{\"a\":1}}}",
		"[{\"k\":1},{\"k\":2}]", "{}", "\"text\"",
	};
	char err[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = check(bad[i].text, err, sizeof(err));

		tap_ok(rc == -EBADMSG && strstr(err, bad[i].why), "refused: %s (%s)", bad[i].text,
		       err);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int rc = check(good[i], err, sizeof(err));

		/* "a\u0000" is refused as a string with U+0000, not as a duplicate */
		if (i == 0)
			tap_ok(rc == -EBADMSG && !strstr(err, "duplicate"),
			       "U+0000 in a key is a syntax error, not a duplicate (%s)", err);
		else
			tap_ok(rc == 0, "accepted: %s", good[i]);
	}
}

/* The header of one encrypted tensor "t", its crypto entries given. */
static int parse_with(const char *keys, const char *enc, const char *policy, char *err,
		      size_t errlen)
{
	char json[8192];
	struct ctfs_st_header *h;
	struct ctfs_ct_info *ci = NULL;
	int n, rc;

	n = snprintf(json, sizeof(json),
		     "{\"__metadata__\":{\"__crypto_keys__\":\"%s\",\"__encryption__\":\"%s\","
		     "\"__policy__\":\"%s\",\"__signature__\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"},"
		     "\"t\":{\"dtype\":\"U8\",\"shape\":[100],\"data_offsets\":[0,100]}}",
		     keys, enc, policy);
	rc = ctfs_st_parse((const uint8_t *)json, (size_t)n, 8 + (uint64_t)n + 100, &h, err, errlen);
	if (rc)
		return 1000 + rc;
	rc = ctfs_ct_parse(h, &ci, err, errlen);
	ctfs_ct_free(ci);
	ctfs_st_free(h);
	return rc;
}

#define Q "\\\""
#define KEYS(extra) "{" Q "version" Q ":" Q "1" Q "," Q "enc" Q ":{" Q "kty" Q ":" Q "oct" Q "," \
	Q "alg" Q ":" Q "aes256gcm" Q "," Q "kid" Q ":" Q "m" Q extra "}," Q "sign" Q ":{" Q "kty" Q \
	":" Q "okp" Q "," Q "alg" Q ":" Q "Ed25519" Q "," Q "kid" Q ":" Q "s" Q "}}"
#define ENTRY Q "wrapped_key" Q ":" Q "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" Q "," \
	Q "key_iv" Q ":" Q "AAAAAAAAAAAAAAAA" Q "," Q "key_tag" Q ":" Q "AAAAAAAAAAAAAAAAAAAAAA==" Q \
	"," Q "iv" Q ":" Q "AAAAAAAAAAAAAAAA" Q "," Q "tag" Q ":" Q "AAAAAAAAAAAAAAAAAAAAAA==" Q
#define ENC(extra) "{" Q "t" Q ":{" ENTRY extra "}}"
#define ALLOW "package model\\\\nallow = true"
#define DENY "package model\\\\nallow = false"
#define POLICY(extra) "{" Q "local" Q ":" Q DENY Q "," Q "remote" Q ":" Q ALLOW Q extra "}"

static void headers(void)
{
	static const struct {
		const char *what, *keys, *enc, *policy, *why;
	} cases[] = {
		{ "two local policies (first denies, second allows)", KEYS(""), ENC(""),
		  POLICY("," Q "local" Q ":" Q ALLOW Q), "__policy__ is not strict JSON: duplicate key \"local\"" },
		{ "two kids in __crypto_keys__.enc", KEYS("," Q "kid" Q ":" Q "other" Q), ENC(""), POLICY(""),
		  "__crypto_keys__ is not strict JSON: duplicate key \"kid\"" },
		{ "two ivs in an __encryption__ entry", KEYS(""), ENC("," Q "iv" Q ":" Q "BBBBBBBBBBBBBBBB" Q),
		  POLICY(""), "__encryption__ is not strict JSON: duplicate key \"iv\"" },
		{ "a tensor listed twice in __encryption__", KEYS(""),
		  "{" Q "t" Q ":{" ENTRY "}," Q "t" Q ":{" ENTRY "}}", POLICY(""),
		  "__encryption__ is not strict JSON: duplicate key \"t\"" },
	};
	char err[256];
	int rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = 0;
		rc = parse_with(cases[i].keys, cases[i].enc, cases[i].policy, err, sizeof(err));
		tap_ok(rc < 0 && strstr(err, cases[i].why), "header refused: %s (%d: %s)",
		       cases[i].what, rc, err);
	}
	err[0] = 0;
	rc = parse_with(KEYS(""), ENC(""), POLICY(""), err, sizeof(err));
	tap_ok(rc == 0, "the same header without duplicates parses (%s)", err);
}

int main(void)
{
	checker();
	headers();
	return tap_done();
}
