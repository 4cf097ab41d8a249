/* ctfs-tool sign: re-sign CryptoTensors headers with a new signing key (and
 * its certificate chain), data and data keys untouched, in place. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct/rewrap.h"
#include "trust/trust.h"
#include "tool.h"

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool sign [--old-keys OLD | --keyring K] [--trust CA] --keys NEW\n"
	      "                      [--x5c CHAIN.pem] [OPTIONS] FILE|DIR\n"
	      "\n"
	      "Re-sign the header of each CryptoTensors file with the signing key of NEW\n"
	      "(an okp key with its private d), naming it in __crypto_keys__.sign; with\n"
	      "--x5c its certificate chain goes there too (and replaces the old signer's).\n"
	      "Nothing else changes: not a byte of data, not a wrapped key, no master key\n"
	      "is needed. The current signature is checked first, with OLD's (or the\n"
	      "keyring's) verification key, or with the file's own chain when --trust\n"
	      "is given. Each file is replaced atomically (temporary file, sync,\n"
	      "rename). Master keys bound to the old signer (ctfs_signers) must allow\n"
	      "the new one: ctfs-tool key add --signer NEW.\n"
	      "\n"
	      "Options:\n"
	      "      --keys NEW          JWK set with the new signing key (required)\n"
	      "      --sign-kid KID      the new signing key, when NEW has several\n"
	      "      --old-keys OLD      JWK set with the current verification key\n"
	      "  -k, --keyring K         take it from the kernel keyring instead (@u default)\n"
	      "      --trust CA          CA certificates validating the files' own chains\n"
	      TOOL_TRUST_META_HELP
	      "  -x, --exclude GLOB      directories: leave out matching files (repeatable)\n"
	      "  -q, --quiet             no report\n"
	      "  -h, --help              this text\n", out);
}

enum { OPT_SIGN_KID = 256, OPT_TRUST, OPT_NEW, OPT_OLD };

struct sign_opts {
	struct tool_opts opt;        /* opt.keys: the current keys */
	const char *new_keys, *sign_kid, *trust, *target;
	struct tool_trust_meta meta;
	struct ctfs_jwk *set;
	size_t n;
	struct ctfs_trust tr;
	struct ctfs_ct_rewrap_opts r;
	unsigned signed_files;
};

static int parse(int argc, char **argv, struct sign_opts *o)
{
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, OPT_NEW },
		{ "sign-kid", required_argument, NULL, OPT_SIGN_KID },
		{ "old-keys", required_argument, NULL, OPT_OLD },
		{ "keyring", required_argument, NULL, 'k' },
		{ "trust", required_argument, NULL, OPT_TRUST },
		{ "exclude", required_argument, NULL, 'x' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		TOOL_TRUST_META_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	optind = 0;
	opterr = 0;
	/* --keys is the new key here: no -K, which means the current keys elsewhere */
	while ((c = getopt_long(argc, argv, "k:x:qh", longopts, NULL)) != -1) {
		if (c == OPT_NEW) {
			o->new_keys = optarg;
		} else if (c == OPT_OLD) {
			o->opt.keys.file = optarg;
		} else if (c == OPT_SIGN_KID) {
			o->sign_kid = optarg;
		} else if (c == OPT_TRUST) {
			o->trust = optarg;
		} else if (!tool_trust_meta_opt(c, optarg, &o->meta)) {
			rc = tool_common_opt("sign", c, argv, &o->opt);
			if (rc)
				return rc;
		}
	}
	if (argc - optind != 1)
		return tool_usage("sign", "expected one FILE or DIR");
	if (!o->new_keys)
		return tool_usage("sign", "--keys NEW is required");
	o->target = argv[optind];
	rc = tool_keys_either("sign", &o->opt.keys);
	return rc ? rc : tool_trust_meta_check("sign", &o->meta);
}

static int sign_one(struct sign_opts *o, const char *path, bool in_dir)
{
	struct tool_model tm;
	char err[512] = "";
	char *real;
	int rc = tool_model_open(path, &tm);
	enum tool_kind kind = tm.kind;

	tool_model_close(&tm);
	if (rc || kind == TOOL_KIND_INVALID) {
		tool_err("%s: %s", path, tm.why);
		return rc ? rc : -EBADMSG;
	}
	if (kind != TOOL_KIND_CRYPTO) {
		if (!in_dir)
			tool_err("%s: not a CryptoTensors file: nothing to sign", path);
		return in_dir ? 0 : -ENODATA;
	}
	real = realpath(path, NULL);
	rc = real ? ctfs_ct_rewrap_file(real, real, &o->r, err, sizeof(err)) : -errno;
	free(real);
	if (rc) {
		tool_err("%s: %s", path, *err ? err : strerror(-rc));
		return rc;
	}
	if (!o->opt.quiet)
		printf("signed %s with %s%s\n", path, o->r.signer->kid ? o->r.signer->kid : "(no kid)",
		       o->r.n_x5c ? " and its certificate chain" : "");
	o->signed_files++;
	return 1;
}

static int sign_dir(struct sign_opts *o)
{
	struct tool_tree t;
	int rc = 0;

	if (tool_tree_list(o->target, o->opt.exclude, &t))
		return -EINVAL;
	for (size_t i = 0; rc >= 0 && i < t.n; i++) {
		char *path = t.e[i].dir ? NULL : tool_join(o->target, t.e[i].rel);

		if (!t.e[i].dir && !path)
			rc = -ENOMEM;
		else if (path)
			rc = sign_one(o, path, true);
		free(path);
	}
	tool_tree_free(&t);
	return rc < 0 ? rc : 0;
}

static int setup(struct sign_opts *o)
{
	struct ctfs_trust_opts topts = { .trust = o->trust };
	char err[512] = "";

	if (tool_keys_open(&o->opt.keys) || tool_load_jwks(o->new_keys, &o->set, &o->n))
		return -EINVAL;
	o->r.signer = tool_pick_key(o->set, o->n, CTFS_KTY_OKP, o->sign_kid,
				    "signing key (okp)", "--sign-kid", o->new_keys);
	if (!o->r.signer || !o->r.signer->secret) {
		if (o->r.signer)
			tool_err("%s: the signing key has no private part (d)", o->new_keys);
		return -ENOKEY;
	}
	if (tool_trust_meta_load(&o->meta, o->r.signer))
		return -EINVAL;
	if (o->trust) {
		if (ctfs_trust_init(&o->tr, &topts, err, sizeof(err))) {
			tool_err("%s", err);
			return -EINVAL;
		}
		o->opt.keys.kp.trust = &o->tr;
	}
	o->r.old = &o->opt.keys.kp;
	o->r.sign_only = true;
	o->r.x5c = o->meta.x5c;
	o->r.n_x5c = o->meta.n_x5c;
	o->r.model_id = o->meta.model_id;
	o->r.model_version = o->meta.model_version;
	o->r.digests = !o->meta.no_digests;
	return 0;
}

static int run(int argc, char **argv)
{
	struct sign_opts o = { 0 };
	int rc = parse(argc, argv, &o);

	if (rc)
		return rc;
	rc = setup(&o);
	if (!rc) {
		tool_signals_install();
		rc = tool_is_dir(o.target) ? sign_dir(&o) : sign_one(&o, o.target, false);
		if (tool_is_dir(o.target) && !o.opt.quiet)
			printf("signed %u CryptoTensors file%s in %s\n", o.signed_files,
			       o.signed_files == 1 ? "" : "s", o.target);
	}
	if (o.opt.keys.kp.trust)
		ctfs_trust_destroy(&o.tr);
	tool_trust_meta_free(&o.meta);
	ctfs_jwk_free_set(o.set, o.n);
	tool_keys_close(&o.opt.keys);
	return rc < 0 ? TOOL_FAIL : TOOL_OK;
}

const struct tool_cmd tool_cmd_sign = {
	.name = "sign",
	.summary = "re-sign headers with a new signing key (and chain), data untouched",
	.run = run,
	.help = help,
};
