/* ctfs-tool verify: everything a CryptoTensors file promises, checked with
 * the keys: the header signature, every wrapped data key, every tag of every
 * chunk. Exit status 0 only when all of it holds. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/hex.h"
#include "ct/model_trust.h"
#include "ct/verify.h"
#include "trust/thumbprint.h"
#include "trust/trust.h"
#include "policy/policy.h"
#include "tool.h"

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool verify [--keys FILE | --keyring K] [OPTIONS] FILE|DIR\n"
	      "\n"
	      "Check a CryptoTensors file as thoroughly as the keys allow: the header\n"
	      "signature, the unwrap of every tensor's data key with the master key, and\n"
	      "the tag of every chunk (v2) or tensor (v1), reading the whole file once\n"
	      "in bounded memory. The first failure is named: which tensor, which chunk.\n"
	      "\n"
	      "For a directory, every file in it is examined (at any depth): each\n"
	      "CryptoTensors file must verify, a plain safetensors file counts as a\n"
	      "failure (it is not protected: the mount would serve it unchecked), other\n"
	      "files (config, tokenizer) are not model files and are skipped, and every\n"
	      "shard index must match its shards.\n"
	      "\n"
	      "The local policy is reported, not enforced: verify checks integrity. The\n"
	      "signer (its thumbprint, and its certificate chain when one was validated),\n"
	      "the revocation status and the header digest (what a revocation list names\n"
	      "to withdraw a file) are printed; plaintext tensors are checked against\n"
	      "their signed digests (ctfs.plain_sha256) when the file has them.\n"
	      "\n"
	      "Options:\n"
	      "  -K, --keys FILE     JWK set holding the verification key (okp) and the\n"
	      "                      master key (oct) named by the file's kids\n"
	      "  -k, --keyring K     take them from the kernel keyring instead: @u (the\n"
	      "                      default when --keys is not given), @s, a serial, a name\n"
	      "      --trust FILE|DIR  CA certificates (and CRLs): a file whose header\n"
	      "                      carries an x5c chain is verified with the chain's\n"
	      "                      leaf key once the chain validates to one of them\n"
	      "      --crl-require   refuse chains whose CAs have no current CRL\n"
	      "      --revoked FILE  the local revocation list the mount's -o revoked= uses\n"
	      "  -j, --threads N     worker threads (default: one per CPU, at most 16)\n"
	      "  -q, --quiet         no progress bar, and only failures are reported\n"
	      "  -h, --help          this text\n"
	      "\n"
	      "Exit status: 0 when everything verifies, 1 otherwise, 2 bad command line.\n",
	      out);
}

struct verify_opts {
	struct tool_opts opt;
	struct ctfs_trust_opts topts;
	struct ctfs_trust trust;
	bool with_trust;
	const char *target;
	unsigned ok, failed, skipped;
};

enum { OPT_TRUST = 256, OPT_CRL, OPT_REVOKED };

static int parse(int argc, char **argv, struct verify_opts *o)
{
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'K' },
		{ "keyring", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "trust", required_argument, NULL, OPT_TRUST },
		{ "crl-require", no_argument, NULL, OPT_CRL },
		{ "revoked", required_argument, NULL, OPT_REVOKED },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "K:k:j:qh", longopts, NULL)) != -1) {
		if (c == OPT_TRUST) {
			o->topts.trust = optarg;
		} else if (c == OPT_CRL) {
			o->topts.crl_require = true;
		} else if (c == OPT_REVOKED) {
			o->topts.revoked = optarg;
		} else {
			rc = tool_common_opt("verify", c, argv, &o->opt);
			if (rc)
				return rc;
		}
	}
	if (o->topts.crl_require && !o->topts.trust)
		return tool_usage("verify", "--crl-require needs --trust");
	if (argc - optind != 1)
		return tool_usage("verify", "expected one FILE or DIR");
	rc = tool_keys_either("verify", &o->opt.keys);
	if (rc)
		return rc;
	o->target = argv[optind];
	return 0;
}

static const char *kid_or(const char *kid)
{
	return kid ? kid : "(none)";
}

/* Who signed: thumbprint, chain, model id/version, header digest. */
static void print_signer(const char *path, const struct ctfs_model *m)
{
	char tp[CTFS_THUMBPRINT_TEXT], err[128];
	struct ctfs_buf hex = { 0 };
	const char *id;
	uint64_t version;

	ctfs_thumbprint_text(m->signer_tp, tp);
	printf("%s: signer %s%s\n", path, tp, m->chain ? " (certificate chain validated)" : "");
	for (size_t i = 0; m->chain && i < m->chain->n; i++)
		printf("%s:   chain[%zu] %s serial %s\n", path, i, m->chain->subject[i],
		       m->chain->serial[i]);
	if (!ctfs_model_version(m, &id, &version, err, sizeof(err)))
		printf("%s: model %s version %llu\n", path, id, (unsigned long long)version);
	if (!ctfs_hex_encode(m->header_digest, sizeof(m->header_digest), &hex))
		printf("%s: header digest %s\n", path, (char *)hex.data);
	ctfs_buf_free(&hex);
}

static int verify_crypto(struct verify_opts *o, const char *path, struct ctfs_model *m,
			 struct tool_progress *p)
{
	struct ctfs_ct_check c = {
		.out_fd = -1, .threads = o->opt.threads,
		.progress = tool_progress_cb, .progress_arg = p,
	};
	char err[512] = "", why[256];
	size_t keys = 0, plain = 0;
	uint64_t plain_bytes = 0;
	int rc;

	uint64_t digest_chunks = 0;

	rc = ctfs_model_check_signature(m, &o->opt.keys.kp, err, sizeof(err));
	if (!rc && !o->opt.quiet)
		print_signer(path, m);
	if (!rc)
		rc = ctfs_model_check_revoked(m, &o->opt.keys.kp, err, sizeof(err));
	if (!rc && !o->opt.quiet && o->with_trust)
		printf("%s: revocation: not revoked (%s%s%s)\n", path,
		       o->topts.revoked ? "revocation list checked" : "no revocation list",
		       m->chain ? (m->chain->crl_checked ? ", CRLs applied" : ", no CRL") : "",
		       o->topts.crl_require ? ", CRLs required" : "");
	if (!rc)
		rc = ctfs_model_load_digests(m, &o->opt.keys.kp, err, sizeof(err));
	if (!rc)
		rc = ctfs_model_unwrap_keys(m, &o->opt.keys.kp, err, sizeof(err));
	if (!rc)
		rc = ctfs_model_check_data(m, &c, err, sizeof(err));
	if (!rc)
		rc = ctfs_model_check_plain_digests(m, &digest_chunks, err, sizeof(err));
	tool_progress_clear(p);
	if (rc) {
		tool_err("%s: FAILED: %s", path, *err ? err : strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < m->ci->n_tensors; i++) {
		keys += m->ci->tensors[i].encrypted;
		if (!m->ci->tensors[i].encrypted) {
			plain++;
			plain_bytes += m->h->tensors[i].end - m->h->tensors[i].begin;
		}
	}
	if (o->opt.quiet)
		return 0;
	printf("%s: OK: signature (kid %s), %zu tensor key%s (kid %s, %s), %llu %s, "
	       "%llu bytes authenticated\n", path, kid_or(m->ci->sign_kid), keys,
	       keys == 1 ? "" : "s", kid_or(m->ci->enc_kid), ctfs_alg_name(m->ci->alg),
	       (unsigned long long)c.messages,
	       m->ci->version == 2 ? (c.messages == 1 ? "chunk" : "chunks") :
	       (c.messages == 1 ? "tensor" : "tensors"), (unsigned long long)c.bytes);
	if (plain && m->digests)
		printf("%s: %zu plaintext tensor%s (%llu bytes): %llu chunk%s match their signed "
		       "digests\n", path, plain, plain == 1 ? "" : "s",
		       (unsigned long long)plain_bytes, (unsigned long long)digest_chunks,
		       digest_chunks == 1 ? "" : "s");
	else if (plain)
		printf("%s: note: %zu plaintext tensor%s (%llu bytes): names, shapes and offsets "
		       "are signed, the bytes are not protected by the format\n", path, plain,
		       plain == 1 ? "" : "s", (unsigned long long)plain_bytes);
	if (ctfs_policy_check(m->ci->policy_local, why, sizeof(why)))
		printf("%s: note: its local policy is not the unconditional 'allow = true', the "
		       "only one the ctfs mount evaluates so far: the mount will refuse it\n", path);
	return 0;
}

/* 0 verified, 1 skipped (not a model file in a directory), <0 failed. */
static int verify_one(struct verify_opts *o, const char *path, bool in_dir,
		      struct tool_progress *p)
{
	struct tool_model tm;
	int rc = tool_model_open(path, &tm);

	if (rc) {
		tool_err("%s: FAILED: %s", path, tm.why);
	} else if (tm.kind == TOOL_KIND_CRYPTO) {
		rc = verify_crypto(o, path, tm.m, p);
	} else if (tm.kind == TOOL_KIND_INVALID) {
		tool_err("%s: FAILED: invalid CryptoTensors file: %s", path, tm.why);
		rc = -EBADMSG;
	} else if (tm.kind == TOOL_KIND_PLAIN) {
		tool_err("%s: FAILED: plain safetensors, not encrypted or signed: nothing to "
			 "verify", path);
		rc = -ENODATA;
	} else if (in_dir) {
		rc = 1;
	} else {
		tool_err("%s: FAILED: not a model file (not safetensors: %s)", path, tm.why);
		rc = -EINVAL;
	}
	tool_model_close(&tm);
	return rc;
}

static void count(struct verify_opts *o, int rc)
{
	if (rc == 0)
		o->ok++;
	else if (rc == 1)
		o->skipped++;
	else
		o->failed++;
}

static int verify_dir(struct verify_opts *o)
{
	struct tool_tree t;
	struct tool_progress p;
	bool index_ok;

	if (tool_tree_list(o->target, NULL, &t))
		return TOOL_FAIL;
	index_ok = !tool_check_indexes(o->target, &t);
	tool_progress_init(&p, o->opt.quiet, "verifying", t.bytes);
	for (size_t i = 0; i < t.n && !tool_interrupted(); i++) {
		char *path;

		if (t.e[i].dir)
			continue;
		path = tool_join(o->target, t.e[i].rel);
		if (!path) {
			tool_err("out of memory");
			o->failed++;
			break;
		}
		count(o, verify_one(o, path, true, &p));
		tool_progress_advance(&p, t.e[i].size);
		free(path);
	}
	tool_progress_clear(&p);
	tool_tree_free(&t);
	if (tool_interrupted()) {
		tool_err("%s: interrupted", o->target);
		return TOOL_FAIL;
	}
	if (!o->opt.quiet || o->failed || !index_ok)
		printf("%s: %s: %u CryptoTensors file%s verified, %u failed, %u other file%s "
		       "skipped, shard index%s\n", o->target,
		       o->failed || !index_ok ? "FAILED" : "OK", o->ok, o->ok == 1 ? "" : "s",
		       o->failed, o->skipped, o->skipped == 1 ? "" : "s",
		       index_ok ? "es consistent" : " broken");
	return o->failed || !index_ok ? TOOL_FAIL : TOOL_OK;
}

static int run(int argc, char **argv)
{
	struct verify_opts o = { 0 };
	struct tool_progress p;
	int rc;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	if (tool_keys_open(&o.opt.keys))
		return TOOL_FAIL;
	o.with_trust = o.topts.trust || o.topts.revoked;
	if (o.with_trust) {
		char err[512] = "";

		if (ctfs_trust_init(&o.trust, &o.topts, err, sizeof(err))) {
			tool_err("%s", err);
			tool_keys_close(&o.opt.keys);
			return TOOL_FAIL;
		}
		o.opt.keys.kp.trust = &o.trust;
	}
	tool_signals_install();
	if (tool_is_dir(o.target)) {
		rc = verify_dir(&o);
	} else {
		tool_progress_init(&p, o.opt.quiet, "verifying", 0);
		rc = verify_one(&o, o.target, false, &p) ? TOOL_FAIL : TOOL_OK;
	}
	if (o.with_trust)
		ctfs_trust_destroy(&o.trust);
	tool_keys_close(&o.opt.keys);
	return rc;
}

const struct tool_cmd tool_cmd_verify = {
	.name = "verify",
	.summary = "check signature, keys and every chunk tag of a model",
	.run = run,
	.help = help,
};
