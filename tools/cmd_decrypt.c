/* ctfs-tool decrypt: the explicit export of a CryptoTensors file (or model
 * directory) to plain safetensors on disk, for the owner of the keys. The
 * output is the very file the mount shows, and is written only after every
 * check the mount makes (signature, policy, keys, every tag) has passed. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ct/export.h"
#include "tool.h"

/* Plaintext weights are what the format protects: owner-only by default. */
#define PLAIN_MODE 0600

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool decrypt [--keys FILE | --keyring K] [OPTIONS] SRC DST\n"
	      "\n"
	      "Write the plaintext safetensors file that the CryptoTensors file SRC\n"
	      "protects to DST: the same bytes the ctfs mount serves. This puts the\n"
	      "decrypted weights on disk, which is what ctfs exists to avoid: use it\n"
	      "for an explicit export, as the owner of the keys. A warning is printed.\n"
	      "\n"
	      "SRC is checked as the mount checks it (signature, local policy, every\n"
	      "data key and every tag) and DST is written under a temporary name, synced\n"
	      "and renamed into place only then, with mode 0600. SRC may be a model\n"
	      "directory: its CryptoTensors files are decrypted, every other file is\n"
	      "copied, under the same names; DST must then not exist unless --force.\n"
	      "\n"
	      "Options:\n"
	      "  -K, --keys FILE     JWK set with the verification and master keys\n"
	      "  -k, --keyring K     take them from the kernel keyring instead (@u by\n"
	      "                      default when --keys is not given)\n"
	      "  -x, --exclude GLOB  directories: leave out matching files (repeatable)\n"
	      "  -j, --threads N     worker threads (default: one per CPU, at most 16)\n"
	      "  -f, --force         replace an existing DST directory\n"
	      "  -q, --quiet         no progress bar and no report (the warning stays)\n"
	      "  -h, --help          this text\n", out);
}

struct decrypt_opts {
	struct tool_opts opt;
	const char *src, *dst;
	unsigned decrypted;
};

static int parse(int argc, char **argv, struct decrypt_opts *o)
{
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'K' },
		{ "keyring", required_argument, NULL, 'k' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "threads", required_argument, NULL, 'j' },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "K:k:x:j:fqh", longopts, NULL)) != -1) {
		rc = tool_common_opt("decrypt", c, argv, &o->opt);
		if (rc)
			return rc;
	}
	if (argc - optind != 2)
		return tool_usage("decrypt", "expected SRC and DST");
	rc = tool_keys_either("decrypt", &o->opt.keys);
	if (rc)
		return rc;
	o->src = argv[optind];
	o->dst = argv[optind + 1];
	return 0;
}

/* 1 when decrypted, 0 when src is not CryptoTensors (in a directory: copy
 * it), <0 on failure (reason printed). */
static int decrypt_one(struct decrypt_opts *o, const char *src, const char *dst, bool in_dir,
		       struct tool_progress *p)
{
	struct ctfs_ct_check c = {
		.out_fd = -1, .threads = o->opt.threads,
		.progress = tool_progress_cb, .progress_arg = p,
	};
	struct tool_model tm;
	char err[512] = "";
	int rc = tool_model_open(src, &tm);

	if (rc) {
		tool_err("%s: %s", src, tm.why);
	} else if (tm.kind == TOOL_KIND_INVALID) {
		tool_err("%s: invalid CryptoTensors file: %s", src, tm.why);
		rc = -EBADMSG;
	} else if (tm.kind != TOOL_KIND_CRYPTO) {
		if (!in_dir) {
			tool_err("%s: not a CryptoTensors file (%s): nothing to decrypt", src,
				 tm.kind == TOOL_KIND_PLAIN ? "plain safetensors" : "not safetensors");
			rc = -ENODATA;
		}
	} else {
		rc = ctfs_model_unlock(tm.m, &o->opt.keys.kp, NULL, err, sizeof(err));
		if (!rc)
			rc = ctfs_model_export(tm.m, dst, PLAIN_MODE, &c, err, sizeof(err));
		tool_progress_clear(p);
		if (rc)
			tool_err("%s: %s", src, *err ? err : strerror(-rc));
		else
			rc = 1;
	}
	tool_model_close(&tm);
	if (rc == 1 && !o->opt.quiet && in_dir)
		printf("decrypted %s\n", src);
	return rc;
}

static int dir_file(void *arg, const char *src, const char *dst, const struct tool_entry *e,
		    struct tool_progress *p)
{
	struct decrypt_opts *o = arg;
	int rc;

	(void)e;
	rc = decrypt_one(o, src, dst, true, p);
	o->decrypted += rc == 1;
	return rc;
}

static void warn(const char *dst)
{
	tool_err("warning: writing decrypted plaintext weights to disk: %s", dst);
}

static int decrypt_dir(struct decrypt_opts *o)
{
	struct tool_dirrun d = {
		.src = o->src, .dst = o->dst, .force = o->opt.force, .quiet = o->opt.quiet,
		.exclude = o->opt.exclude, .label = "decrypting", .fn = dir_file, .arg = o,
	};
	int rc;

	warn(o->dst);
	rc = tool_dir_run(&d);
	if (!rc && !o->opt.quiet)
		printf("decrypted %s -> %s: %u file%s decrypted, %u copied\n", o->src, o->dst,
		       o->decrypted, o->decrypted == 1 ? "" : "s", d.copied_files);
	return rc;
}

static int decrypt_file(struct decrypt_opts *o)
{
	struct tool_progress p;
	char *base = NULL, *out = NULL;
	const char *dst = o->dst;
	int rc;

	if (tool_is_dir(o->dst)) {
		base = strdup(o->src);
		out = base ? tool_join(o->dst, basename(base)) : NULL;
		if (!out) {
			free(base);
			tool_err("out of memory");
			return TOOL_FAIL;
		}
		dst = out;
	}
	if (tool_same_file(o->src, dst)) {
		tool_err("%s: DST is SRC; decrypt to another file", o->src);
		rc = -EINVAL;
	} else {
		warn(dst);
		tool_progress_init(&p, o->opt.quiet, "decrypting", 0);
		rc = decrypt_one(o, o->src, dst, false, &p);
	}
	if (rc == 1 && !o->opt.quiet)
		printf("decrypted %s -> %s (plain safetensors)\n", o->src, dst);
	free(out);
	free(base);
	return rc == 1 ? TOOL_OK : TOOL_FAIL;
}

static int run(int argc, char **argv)
{
	struct decrypt_opts o = { 0 };
	int rc;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	if (tool_keys_open(&o.opt.keys))
		return TOOL_FAIL;
	tool_signals_install();
	rc = tool_is_dir(o.src) ? decrypt_dir(&o) : decrypt_file(&o);
	tool_keys_close(&o.opt.keys);
	return rc;
}

const struct tool_cmd tool_cmd_decrypt = {
	.name = "decrypt",
	.summary = "export a CryptoTensors file or directory to plain safetensors",
	.run = run,
	.help = help,
};
