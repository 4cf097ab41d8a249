/* RFC 7638 thumbprints, the ctfs_signers JWK member and the binding rule. */
#include "codec/base64.h"
#include "keys/jwk.h"
#include "trust/binding.h"
#include "trust/thumbprint.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <string.h>

/* RFC 8037 appendix A.2/A.3: the Ed25519 key and its RFC 7638 thumbprint. */
static const char rfc_x[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char rfc_tp[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

static void rfc_pub(uint8_t pub[32])
{
	size_t n = 32;

	ctfs_b64_decode(rfc_x, strlen(rfc_x), pub, &n);
}

static void test_thumbprint(void)
{
	uint8_t pub[32], tp[32], back[32];
	char text[CTFS_THUMBPRINT_TEXT];

	rfc_pub(pub);
	ctfs_thumbprint_ed25519(pub, tp);
	ctfs_thumbprint_text(tp, text);
	tap_ok(!strcmp(text, rfc_tp), "RFC 8037 A.3 thumbprint (%s)", text);
	tap_ok(!ctfs_thumbprint_parse(rfc_tp, back) && !memcmp(back, tp, 32),
	       "thumbprint text parses back");
	tap_ok(ctfs_thumbprint_parse("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k=", back) ==
	       -EINVAL, "padded thumbprint refused");
	tap_ok(ctfs_thumbprint_parse("kPrK/qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", back) ==
	       -EINVAL, "standard alphabet refused (the text form is base64url)");
	tap_ok(ctfs_thumbprint_parse("kPrK", back) == -EINVAL, "short thumbprint refused");
	tap_ok(ctfs_thumbprint_parse(NULL, back) == -EINVAL, "NULL refused");
}

static int parse_one(const char *json, struct ctfs_jwk **k, size_t *n)
{
	char err[256];

	return ctfs_jwk_parse_set(json, strlen(json), k, n, err, sizeof(err));
}

#define OCT "{\"kty\":\"oct\",\"kid\":\"m\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAA==\""

static void test_member(void)
{
	struct ctfs_jwk *k;
	struct ctfs_buf out = { 0 };
	uint8_t pub[32], tp[32];
	size_t n;

	rfc_pub(pub);
	ctfs_thumbprint_ed25519(pub, tp);
	tap_ok(!parse_one(OCT ",\"ctfs_signers\":[\"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k\"]}",
			  &k, &n) && k->has_signers && k->n_signers == 1 &&
	       ctfs_jwk_signer_allowed(k, tp), "ctfs_signers parsed");
	tap_ok(!ctfs_jwk_to_json(k, false, &out) &&
	       strstr((char *)out.data, "\"ctfs_signers\":[\"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k\"]"),
	       "ctfs_signers written back");
	ctfs_buf_free(&out);
	ctfs_jwk_free_set(k, n);
	tap_ok(!parse_one(OCT ",\"ctfs_signers\":[]}", &k, &n) && k->has_signers &&
	       !k->n_signers, "empty list: present, allows nobody");
	ctfs_jwk_free_set(k, n);
	tap_ok(!parse_one(OCT "}", &k, &n) && !k->has_signers, "absent list: unbound");
	ctfs_jwk_free_set(k, n);
	tap_ok(parse_one(OCT ",\"ctfs_signers\":\"x\"}", &k, &n) == -EINVAL, "not an array");
	tap_ok(parse_one(OCT ",\"ctfs_signers\":[1]}", &k, &n) == -EINVAL, "not a string");
	tap_ok(parse_one(OCT ",\"ctfs_signers\":[],\"ctfs_signers\":[]}", &k, &n) == -EINVAL,
	       "repeated member");
	tap_ok(!parse_one(OCT ",\"ctfs_signer_subjects\":[\"/CN=a\"]}", &k, &n) &&
	       k->has_signers && k->n_subjects == 1 && ctfs_jwk_subject_allowed(k, "/CN=a") &&
	       !ctfs_jwk_to_json(k, false, &out) &&
	       strstr((char *)out.data, "\"ctfs_signer_subjects\":[\"/CN=a\"]"),
	       "ctfs_signer_subjects parsed and written back");
	ctfs_buf_free(&out);
	ctfs_jwk_free_set(k, n);
	tap_ok(parse_one(OCT ",\"ctfs_signer_subjects\":[\"\"]}", &k, &n) == -EINVAL,
	       "empty subject refused");
}

static void test_too_many(void)
{
	struct ctfs_jwk k = { .kty = CTFS_KTY_OCT };
	uint8_t tp[32] = { 0 };
	int rc = 0;

	for (int i = 0; !rc && i < CTFS_JWK_MAX_SIGNERS; i++) {
		tp[0] = (uint8_t)i;
		rc = ctfs_jwk_allow_signer(&k, tp);
	}
	tap_ok(!rc && k.n_signers == CTFS_JWK_MAX_SIGNERS, "%d signers fit",
	       CTFS_JWK_MAX_SIGNERS);
	tap_ok(!ctfs_jwk_allow_signer(&k, tp), "a duplicate is not added twice");
	tp[1] = 1;
	tap_ok(ctfs_jwk_allow_signer(&k, tp) == -E2BIG, "one more is refused");
	ctfs_jwk_clear(&k);
}

static void test_rule(void)
{
	struct ctfs_jwk set[3];
	uint8_t tp_a[32], tp_b[32];
	char err[256] = "";
	bool warned;

	memset(set, 0, sizeof(set));
	set[0].kty = CTFS_KTY_OCT;
	set[1].kty = CTFS_KTY_OKP;
	set[1].has_pub = true;
	memset(set[1].pub, 0xa1, 32);
	set[2].kty = CTFS_KTY_OKP;	/* no public part: ignored */
	ctfs_thumbprint_ed25519(set[1].pub, tp_a);
	memset(tp_b, 0xbb, 32);

	tap_ok(ctfs_binding_check(&set[0], tp_a, NULL, CTFS_UNBOUND_REFUSE, &warned, err, sizeof(err)) ==
	       -EKEYREJECTED && !warned && strstr(err, "names no allowed signer"),
	       "unbound key refused by default");
	tap_ok(!ctfs_binding_check(&set[0], tp_a, NULL, CTFS_UNBOUND_WARN, &warned, err, sizeof(err)) &&
	       warned, "unbound key accepted with a warning under WARN");
	tap_ok(!ctfs_binding_from_set(&set[0], set, 3) && set[0].n_signers == 1,
	       "a set binds its master key to its signing keys");
	tap_ok(!ctfs_binding_check(&set[0], tp_a, NULL, CTFS_UNBOUND_REFUSE, &warned, err, sizeof(err)),
	       "bound signer accepted");
	tap_ok(ctfs_binding_check(&set[0], tp_b, NULL, CTFS_UNBOUND_WARN, &warned, err, sizeof(err)) ==
	       -EKEYREJECTED && strstr(err, "not allowed"), "other signer refused, even under WARN");
	tap_ok(!ctfs_jwk_allow_subject(&set[0], "/CN=vendor-a signer") &&
	       !ctfs_binding_check(&set[0], tp_b, "/CN=vendor-a signer", CTFS_UNBOUND_REFUSE,
				   &warned, err, sizeof(err)), "allowed certificate subject accepted");
	tap_ok(ctfs_binding_check(&set[0], tp_b, "/CN=vendor-b", CTFS_UNBOUND_REFUSE, &warned, err,
				  sizeof(err)) == -EKEYREJECTED && strstr(err, "vendor-b"),
	       "other subject refused, named");
	ctfs_jwk_clear(&set[0]);
}

int main(void)
{
	test_thumbprint();
	test_member();
	test_too_many();
	test_rule();
	return tap_done();
}
