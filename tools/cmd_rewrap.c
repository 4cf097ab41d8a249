/* ctfs-tool rewrap: key rotation. The data keys of a CryptoTensors file are
 * re-wrapped under a new master key and/or its header re-signed with a new
 * signing key, optionally with a new policy; tensor bytes are copied as they
 * are, never re-encrypted. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct/rewrap.h"
#include "tool.h"

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool rewrap [--keys OLD | --keyring K] --new-keys NEW [OPTIONS]\n"
	      "                        SRC (DST | --in-place)\n"
	      "\n"
	      "Rotate the keys of the CryptoTensors file SRC without re-encrypting it:\n"
	      "every tensor's data key is unwrapped with the old master key and wrapped\n"
	      "again under the new one, and the header is signed again. The data region\n"
	      "of DST is byte for byte that of SRC; only the header changes. Once done,\n"
	      "the old master key no longer opens DST.\n"
	      "\n"
	      "NEW is a JWK set. An oct key in it becomes the master key (it must be for\n"
	      "the file's algorithm, which also encrypts the data); an okp key with its\n"
	      "private d becomes the signing key. With no new signing key the file is\n"
	      "signed again with its current one, whose d must then be in OLD. SRC's\n"
	      "signature and every one of its data keys are checked with OLD first.\n"
	      "\n"
	      "DST is written under a temporary name, checked, synced and renamed into\n"
	      "place. With --in-place SRC itself is replaced the same way: after a crash\n"
	      "it is either the old file or the new one. SRC may be a model directory:\n"
	      "every CryptoTensors file in it is rewrapped and other files are copied\n"
	      "(into DST, which must not exist unless --force), or, with --in-place,\n"
	      "each CryptoTensors file is replaced on its own.\n"
	      "\n"
	      "Options:\n"
	      "  -K, --keys OLD          JWK set with the current keys\n"
	      "  -k, --keyring K         take the current keys from the kernel keyring (@u\n"
	      "                          by default when --keys is not given)\n"
	      "  -N, --new-keys NEW      JWK set with the new key(s) (required)\n"
	      "      --new-enc-kid KID   the new master key, when NEW has several\n"
	      "      --new-sign-kid KID  the new signing key, when NEW has several\n"
	      "      --only master|signer  rotate only that key, even if NEW has both\n"
	      "  -p, --policy FILE       replace both policies with this Rego text\n"
	      "      --policy-local FILE, --policy-remote FILE   replace one of them\n"
	      TOOL_TRUST_META_HELP
	      "  -i, --in-place          replace SRC instead of writing DST\n"
	      "  -x, --exclude GLOB      directories: leave out matching files (repeatable)\n"
	      "  -f, --force             replace an existing DST directory\n"
	      "  -q, --quiet             no progress bar and no report\n"
	      "  -h, --help              this text\n", out);
}

struct rewrap_opts {
	struct tool_opts opt;        /* opt.keys: the current (old) keys */
	const char *new_keys, *new_enc_kid, *new_sign_kid, *only;
	struct tool_policy_args policy;
	struct tool_trust_meta meta;
	const char *src, *dst;
	bool in_place;
	struct ctfs_jwk *set;
	size_t n;
	struct ctfs_ct_rewrap_opts r;
	unsigned rewrapped;
};

static int parse(int argc, char **argv, struct rewrap_opts *o)
{
	enum { OPT_NEW_ENC = 256, OPT_NEW_SIGN, OPT_ONLY };
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'K' },
		{ "keyring", required_argument, NULL, 'k' },
		{ "new-keys", required_argument, NULL, 'N' },
		{ "new-enc-kid", required_argument, NULL, OPT_NEW_ENC },
		{ "new-sign-kid", required_argument, NULL, OPT_NEW_SIGN },
		{ "only", required_argument, NULL, OPT_ONLY },
		{ "policy", required_argument, NULL, 'p' },
		{ "policy-local", required_argument, NULL, TOOL_OPT_POLICY_LOCAL },
		{ "policy-remote", required_argument, NULL, TOOL_OPT_POLICY_REMOTE },
		{ "in-place", no_argument, NULL, 'i' },
		TOOL_TRUST_META_LONGOPTS,
		{ "exclude", required_argument, NULL, 'x' },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "K:k:N:p:ix:fqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'N':
			o->new_keys = optarg;
			break;
		case OPT_NEW_ENC:
			o->new_enc_kid = optarg;
			break;
		case OPT_NEW_SIGN:
			o->new_sign_kid = optarg;
			break;
		case OPT_ONLY:
			if (strcmp(optarg, "master") && strcmp(optarg, "signer"))
				return tool_usage("rewrap", "--only takes master or signer");
			o->only = optarg;
			break;
		case 'i':
			o->in_place = true;
			break;
		default:
			if (tool_policy_opt(c, optarg, &o->policy) ||
			    tool_trust_meta_opt(c, optarg, &o->meta))
				break;
			rc = tool_common_opt("rewrap", c, argv, &o->opt);
			if (rc)
				return rc;
		}
	}
	if (argc - optind != (o->in_place ? 1 : 2))
		return tool_usage("rewrap", o->in_place ? "expected SRC only with --in-place" :
				  "expected SRC and DST (or SRC --in-place)");
	o->src = argv[optind];
	o->dst = o->in_place ? NULL : argv[optind + 1];
	if (!o->new_keys && !tool_policy_given(&o->policy) && !o->meta.model_id)
		return tool_usage("rewrap", "--new-keys NEW is required (or a new policy or "
				  "model version)");
	if (tool_trust_meta_check("rewrap", &o->meta))
		return TOOL_USAGE;
	rc = tool_keys_either("rewrap", &o->opt.keys);
	if (rc)
		return rc;
	if (tool_policy_conflict("rewrap", &o->policy))
		return TOOL_USAGE;
	if (o->only && !o->new_keys)
		return tool_usage("rewrap", "--only needs --new-keys");
	return 0;
}

/* The new keys: an oct key (master) and an okp key with d (signer), each
 * optional unless named by kid; at least one. */
static int pick_new_keys(struct rewrap_opts *o)
{
	bool want_master = !o->only || !strcmp(o->only, "master");
	bool want_signer = !o->only || !strcmp(o->only, "signer");
	size_t n_oct = 0, n_okp = 0;

	if (!o->new_keys)
		return 0;
	if (tool_load_jwks(o->new_keys, &o->set, &o->n))
		return -EINVAL;
	for (size_t i = 0; i < o->n; i++) {
		n_oct += o->set[i].kty == CTFS_KTY_OCT;
		n_okp += o->set[i].kty == CTFS_KTY_OKP && o->set[i].secret;
	}
	if (want_master && (n_oct || o->new_enc_kid)) {
		o->r.new_master = tool_pick_key(o->set, o->n, CTFS_KTY_OCT, o->new_enc_kid,
						"master key (oct)", "--new-enc-kid", o->new_keys);
		if (!o->r.new_master)
			return -ENOKEY;
	}
	if (want_signer && (n_okp || o->new_sign_kid)) {
		o->r.signer = tool_pick_key(o->set, o->n, CTFS_KTY_OKP, o->new_sign_kid,
					    "signing key (okp)", "--new-sign-kid", o->new_keys);
		if (!o->r.signer)
			return -ENOKEY;
		if (!o->r.signer->secret) {
			tool_err("%s: signing key %s has no private part (d)", o->new_keys,
				 o->r.signer->kid ? o->r.signer->kid : "(no kid)");
			return -EINVAL;
		}
	}
	if (!o->r.new_master && !o->r.signer) {
		tool_err("%s: no %s", o->new_keys, o->only ? (want_master ? "master key (oct)" :
			 "signing key (okp with d)") : "master key (oct) nor signing key with d");
		return -ENOKEY;
	}
	return 0;
}

static int read_policies(struct rewrap_opts *o)
{
	char *local, *remote;

	if (tool_policy_read(&o->policy, &local, &remote))
		return -EINVAL;
	if (tool_policy_compiles("local", local, o->opt.force) ||
	    tool_policy_compiles("remote", remote, o->opt.force)) {
		free(local);
		free(remote);
		return -EINVAL;
	}
	o->r.policy_local = local;
	o->r.policy_remote = remote;
	return 0;
}

static void describe(const struct rewrap_opts *o, const char *src, const char *dst)
{
	const struct ctfs_jwk *m = o->r.new_master, *s = o->r.signer;

	if (o->opt.quiet)
		return;
	printf("rewrapped %s%s%s:", src, dst ? " -> " : o->in_place ? " in place" : "",
	       dst ? dst : "");
	if (m)
		printf(" master key now %s;", m->kid ? m->kid : "(no kid)");
	if (s)
		printf(" signing key now %s;", s->kid ? s->kid : "(no kid)");
	if (o->r.policy_local || o->r.policy_remote)
		printf(" policy replaced;");
	puts(" tensor data unchanged");
}

/* 1 done, 0 not CryptoTensors (in a directory: copy/leave it), <0 failed. */
static int rewrap_one(struct rewrap_opts *o, const char *src, const char *dst, bool in_dir,
		      struct tool_progress *p)
{
	struct tool_model tm;
	char err[512] = "";
	int rc = tool_model_open(src, &tm);
	enum tool_kind kind = tm.kind;

	tool_model_close(&tm);
	if (rc) {
		tool_err("%s: %s", src, tm.why);
		return rc;
	}
	if (kind == TOOL_KIND_INVALID) {
		tool_err("%s: invalid CryptoTensors file: %s", src, tm.why);
		return -EBADMSG;
	}
	if (kind != TOOL_KIND_CRYPTO) {
		if (in_dir)
			return 0;
		tool_err("%s: not a CryptoTensors file (%s): nothing to rewrap", src,
			 kind == TOOL_KIND_PLAIN ? "plain safetensors" : "not safetensors");
		return -ENODATA;
	}
	o->r.progress = tool_progress_cb;
	o->r.progress_arg = p;
	if (o->in_place) {
		/* replace the file a symlink points to, not the symlink */
		char *real = realpath(src, NULL);

		rc = real ? ctfs_ct_rewrap_file(real, real, &o->r, err, sizeof(err)) : -errno;
		free(real);
	} else {
		rc = ctfs_ct_rewrap_file(src, dst, &o->r, err, sizeof(err));
	}
	tool_progress_clear(p);
	if (rc) {
		tool_err("%s: %s", src, *err ? err : strerror(-rc));
		return rc;
	}
	describe(o, src, o->in_place || in_dir ? NULL : dst);
	return 1;
}

static int dir_file(void *arg, const char *src, const char *dst, const struct tool_entry *e,
		    struct tool_progress *p)
{
	struct rewrap_opts *o = arg;
	int rc;

	(void)e;
	rc = rewrap_one(o, src, dst, true, p);
	o->rewrapped += rc == 1;
	return rc;
}

/* Each file is replaced on its own: the directory is never half-written,
 * but after a failure some files may have their new keys and some not. */
static int in_place_dir(struct rewrap_opts *o)
{
	struct tool_tree t;
	struct tool_progress p;
	int rc = 0;

	if (tool_tree_list(o->src, o->opt.exclude, &t))
		return TOOL_FAIL;
	if (tool_check_indexes(o->src, &t)) {
		tool_tree_free(&t);
		return TOOL_FAIL;
	}
	tool_progress_init(&p, o->opt.quiet, "rewrapping", t.bytes);
	for (size_t i = 0; rc >= 0 && i < t.n; i++) {
		char *path = t.e[i].dir ? NULL : tool_join(o->src, t.e[i].rel);

		if (!t.e[i].dir && !path)
			rc = -ENOMEM;
		else if (path)
			rc = rewrap_one(o, path, path, true, &p);
		o->rewrapped += rc == 1;
		tool_progress_advance(&p, t.e[i].size);
		free(path);
	}
	tool_progress_clear(&p);
	tool_tree_free(&t);
	if (rc < 0 && o->rewrapped)
		tool_err("%s: stopped after %u file%s had been rewrapped; they open with the new "
			 "keys, the others still with the old ones", o->src, o->rewrapped,
			 o->rewrapped == 1 ? "" : "s");
	return rc < 0 ? TOOL_FAIL : TOOL_OK;
}

static int rewrap(struct rewrap_opts *o)
{
	struct tool_progress p;
	int rc;

	if (tool_is_dir(o->src)) {
		struct tool_dirrun d = {
			.src = o->src, .dst = o->dst, .force = o->opt.force, .quiet = o->opt.quiet,
			.exclude = o->opt.exclude, .label = "rewrapping", .fn = dir_file, .arg = o,
		};

		rc = o->in_place ? in_place_dir(o) : tool_dir_run(&d);
		if (!rc && !o->opt.quiet)
			printf("rewrapped %u CryptoTensors file%s in %s\n", o->rewrapped,
			       o->rewrapped == 1 ? "" : "s", o->src);
		return rc;
	}
	if (!o->in_place && tool_same_file(o->src, o->dst)) {
		tool_err("%s: DST is SRC; use --in-place to replace it", o->src);
		return TOOL_FAIL;
	}
	tool_progress_init(&p, o->opt.quiet, "rewrapping", 0);
	rc = rewrap_one(o, o->src, o->in_place ? o->src : o->dst, false, &p);
	return rc == 1 ? TOOL_OK : TOOL_FAIL;
}

static int run(int argc, char **argv)
{
	struct rewrap_opts o = { 0 };
	int rc;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	o.r.old = &o.opt.keys.kp;
	rc = tool_keys_open(&o.opt.keys) ? TOOL_FAIL : 0;
	if (!rc && (pick_new_keys(&o) || read_policies(&o)))
		rc = TOOL_FAIL;
	if (!rc && o.meta.x5c_path && !o.r.signer) {
		tool_err("--x5c goes with a new signing key in --new-keys");
		rc = TOOL_FAIL;
	}
	if (!rc && tool_trust_meta_load(&o.meta, o.r.signer))
		rc = TOOL_FAIL;
	o.r.model_id = o.meta.model_id;
	o.r.model_version = o.meta.model_version;
	o.r.x5c = o.meta.x5c;
	o.r.n_x5c = o.meta.n_x5c;
	o.r.digests = !o.meta.no_digests;
	if (!rc) {
		tool_signals_install();
		rc = rewrap(&o);
	}
	tool_trust_meta_free(&o.meta);
	free((char *)o.r.policy_local);
	free((char *)o.r.policy_remote);
	ctfs_jwk_free_set(o.set, o.n);
	tool_keys_close(&o.opt.keys);
	return rc;
}

const struct tool_cmd tool_cmd_rewrap = {
	.name = "rewrap",
	.summary = "rotate keys: re-wrap data keys and re-sign, data untouched",
	.run = run,
	.help = help,
};
