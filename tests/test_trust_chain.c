/* Signer certificate chains, against a PKI built by tests/trust_chain.sh
 * with the openssl command line. */
#include "codec/base64.h"
#include "crypto/curve25519.h"
#include "trust/chain.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

static char dir[64] = "/tmp/ctfs-chain-XXXXXX";

static char *path_of(const char *name)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* The leaf's x5c array as strings; n set. */
static char **x5c_of(const char *leaf, size_t *n)
{
	char name[64];
	uint8_t *text;
	size_t len;
	cJSON *arr, *it;
	char **out;

	snprintf(name, sizeof(name), "%s.x5c", leaf);
	if (ctfs_read_file(path_of(name), 1 << 20, &text, &len))
		return NULL;
	arr = cJSON_Parse((char *)text);
	free(text);
	out = calloc(8, sizeof(*out));
	*n = 0;
	cJSON_ArrayForEach(it, arr)
		out[(*n)++] = strdup(it->valuestring);
	cJSON_Delete(arr);
	return out;
}

static int verify(const char *anchors, bool require, const char *leaf,
		  struct ctfs_chain_info *info, char *err, size_t errlen)
{
	struct ctfs_anchors *a;
	size_t n = 0;
	char **x5c = x5c_of(leaf, &n);
	int rc = ctfs_anchors_load(path_of(anchors), require, &a, err, errlen);

	if (!rc) {
		rc = ctfs_chain_verify(a, x5c, n, info, err, errlen);
		ctfs_anchors_free(a);
	}
	ctfs_x5c_free(x5c, n);
	return rc;
}

static void test_good(void)
{
	struct ctfs_chain_info info;
	char err[256] = "";
	uint8_t *seed_text, seed[32], pub[32];
	size_t len, slen = 32;
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = verify("anchors", false, "leaf", &info, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	tap_ok(!rc, "leaf -> intermediate -> root validates with only the root (%s)", err);
	tap_diag("load anchors + validate: %.0f us",
		 (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3);
	tap_ok(info.n == 3 && strstr(info.subject[0], "vendor-a signer") &&
	       strstr(info.subject[2], "ctfs test root"), "chain described leaf to root");
	if (!ctfs_read_file(path_of("leaf.seed"), 64, &seed_text, &len)) {
		ctfs_b64_decode((char *)seed_text, len, seed, &slen);
		free(seed_text);
		ctfs_ed25519_pub_from_seed(pub, seed);
		tap_ok(!memcmp(pub, info.leaf_pub, 32), "leaf key is the signer's Ed25519 key");
	}
	tap_ok(!verify("anchors-crl", true, "leaf", &info, err, sizeof(err)) && info.crl_checked,
	       "with both CRLs and crl=require: valid, CRLs applied (%s)", err);
}

static void test_refused(void)
{
	struct ctfs_chain_info info;
	char err[256] = "";
	char *junk[] = { "AAAA" };
	struct ctfs_anchors *a;

	tap_ok(verify("anchors-other", false, "leaf", &info, err, sizeof(err)) == -EKEYREJECTED,
	       "wrong CA refused (%s)", err);
	tap_ok(verify("anchors", false, "expired", &info, err, sizeof(err)) == -EKEYREJECTED &&
	       strstr(err, "expired"), "expired leaf refused (%s)", err);
	tap_ok(verify("anchors-crl", false, "revoked", &info, err, sizeof(err)) == -EKEYREVOKED,
	       "leaf revoked by the intermediate's CRL (%s)", err);
	tap_ok(!verify("anchors", false, "revoked", &info, err, sizeof(err)),
	       "the same leaf without CRLs validates");
	tap_ok(verify("anchors-partial", true, "leaf", &info, err, sizeof(err)) == -EKEYREJECTED,
	       "crl=require and the root's CRL missing: refused (%s)", err);
	tap_ok(!verify("anchors-partial", false, "leaf", &info, err, sizeof(err)),
	       "without crl=require a missing CRL is let through");
	tap_ok(verify("anchors", false, "tls", &info, err, sizeof(err)) == -EKEYREJECTED &&
	       strstr(err, "Usage"), "a TLS server certificate is no signer (%s)", err);
	if (!ctfs_anchors_load(path_of("anchors"), false, &a, err, sizeof(err))) {
		tap_ok(ctfs_chain_verify(a, junk, 1, &info, err, sizeof(err)) == -EINVAL,
		       "garbage x5c refused");
		tap_ok(ctfs_chain_verify(a, junk, 0, &info, err, sizeof(err)) == -EINVAL,
		       "empty x5c refused");
		ctfs_anchors_free(a);
	}
	tap_ok(ctfs_anchors_load(path_of("leaf.seed"), false, &a, err, sizeof(err)) == -EINVAL,
	       "anchors that are not PEM refused");
	tap_ok(ctfs_anchors_load(path_of("leaf.pem"), false, &a, err, sizeof(err)) == 0,
	       "a PEM file of any certificate loads (it is then an anchor)");
	ctfs_anchors_free(a);
}

/* Cost of one validation with loaded anchors (what each open pays). */
static void bench(void)
{
	struct ctfs_anchors *a;
	struct ctfs_chain_info info;
	struct timespec t0, t1;
	char err[256];
	size_t n = 0;
	char **x5c = x5c_of("leaf", &n);
	const int rounds = 200;
	int ok = 0;

	if (ctfs_anchors_load(path_of("anchors-crl"), true, &a, err, sizeof(err)))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < rounds; i++)
		ok += !ctfs_chain_verify(a, x5c, n, &info, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	tap_ok(ok == rounds, "%d validations", rounds);
	tap_diag("chain validation (3 certificates, 2 CRLs): %.0f us each",
		 ((t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3) / rounds);
	ctfs_anchors_free(a);
	ctfs_x5c_free(x5c, n);
}

int main(void)
{
	char cmd[1024];

	if (system("command -v openssl >/dev/null") != 0) {
		if (getenv("CI"))
			return tap_ok(0, "openssl command missing"), tap_done();
		tap_skip_all("openssl command missing");
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(cmd, sizeof(cmd), "sh '%s/tests/trust_chain.sh' '%s/pki'", SRCDIR, dir);
	if (system(cmd) != 0) {
		tap_ok(0, "building the test PKI");
		return tap_done();
	}
	strcat(dir, "/pki");
	test_good();
	test_refused();
	bench();
	dir[strlen(dir) - 4] = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		tap_diag("cannot remove %s", dir);
	return tap_done();
}
