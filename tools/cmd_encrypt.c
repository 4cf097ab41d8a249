/* ctfs-tool encrypt: a safetensors file, or a whole model directory, to
 * signed CryptoTensors files. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/aead.h"
#include "ct/crypto_entries.h"
#include "ct/writer.h"
#include "keys/keyring.h"
#include "policy/policy.h"
#include "tool.h"

#define MAX_LIST 256

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool encrypt SRC DST (--keys FILE | --keyring K) [OPTIONS]\n"
	      "\n"
	      "Encrypt the safetensors file SRC into the CryptoTensors file DST, signed,\n"
	      "in the layout upstream CryptoTensors reads. Every encrypted tensor gets\n"
	      "its own random data key, wrapped with the master key.\n"
	      "\n"
	      "SRC may be a model directory: every *.safetensors file in it (at any depth)\n"
	      "becomes a CryptoTensors file of the same name, every other file is copied\n"
	      "as it is, and the shard index (*.safetensors.index.json) stays valid as it\n"
	      "is, since the names do not change; ctfs shows the files under these names.\n"
	      "The index is checked first: a shard it names must exist and hold the\n"
	      "tensors mapped to it. DST must not exist unless --force is given.\n"
	      "\n"
	      "Output is written under temporary names, synced and renamed into place\n"
	      "once complete: a failed or interrupted run leaves no DST (or the previous\n"
	      "DST intact) and never changes SRC. A DST file that exists is replaced; a\n"
	      "DST that is a directory receives a file SRC under its own name.\n"
	      "\n"
	      "Options:\n"
	      "  -K, --keys FILE        JWK set with the master key (oct, with k) and the\n"
	      "                         signing key (okp, with d); '-' reads standard input\n"
	      "  -k, --keyring K        take both keys from the kernel keyring instead (the\n"
	      "                         signing key must have been added --with-private)\n"
	      "      --enc-kid KID      master key to use (needed when there are several)\n"
	      "      --sign-kid KID     signing key to use (needed when there are several)\n"
	      "  -v, --version 1|2      1: each tensor is one AEAD message; 2 (default):\n"
	      "                         tensors are sealed in chunks, readable piecewise\n"
	      "  -a, --alg ALG          aes128gcm, aes256gcm or chacha20poly1305\n"
	      "                         (default: the master key's algorithm)\n"
	      "  -c, --chunk-size N     version 2 chunk size in bytes, K/M/G suffixes\n"
	      "                         allowed (default 2097152)\n"
	      "  -t, --tensors LIST     encrypt only the tensors named, or matched by a glob\n"
	      "                         (fnmatch: * ? [...]), in this comma-separated list;\n"
	      "                         repeatable. The others stay in plaintext. A name or\n"
	      "                         pattern that matches no tensor is an error. In a\n"
	      "                         directory, a shard without any match is copied as is.\n"
	      "  -x, --exclude GLOB     leave out files matching GLOB (a glob with '/' is\n"
	      "                         matched against the path below SRC, one without\n"
	      "                         against each file name); repeatable\n"
	      "  -p, --policy FILE      Rego policy for both local and remote use\n"
	      "      --policy-local FILE   the local policy (checked when the file is loaded)\n"
	      "      --policy-remote FILE  the remote policy (for a key release service)\n"
	      "                         (default for both: package model / allow = true)\n"
	      TOOL_TRUST_META_HELP
	      "  -j, --threads N        worker threads (default: one per CPU, at most 16)\n"
	      "  -f, --force            replace an existing DST directory\n"
	      "  -q, --quiet            no progress bar and no report\n"
	      "  -h, --help             this text\n"
	      "\n"
	      "A progress bar is drawn when standard output is a terminal.\n", out);
}

struct encrypt_opts {
	struct tool_opts opt;
	const char *in, *out, *enc_kid, *sign_kid, *alg;
	struct tool_policy_args policy;
	struct tool_trust_meta meta;
	const char *tensor_args[MAX_LIST];
	size_t n_tensor_args;
	int version;
	uint64_t chunk_size;
	bool chunk_given;
};

static int parse(int argc, char **argv, struct encrypt_opts *o)
{
	enum { OPT_ENC_KID = 256, OPT_SIGN_KID };
	/* Short forms mean the same in every ctfs-tool command (-k is
	 * --keyring wherever a keyring is read). */
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'K' },
		{ "keyring", required_argument, NULL, 'k' },
		{ "enc-kid", required_argument, NULL, OPT_ENC_KID },
		{ "sign-kid", required_argument, NULL, OPT_SIGN_KID },
		{ "version", required_argument, NULL, 'v' },
		{ "alg", required_argument, NULL, 'a' },
		{ "chunk-size", required_argument, NULL, 'c' },
		{ "tensors", required_argument, NULL, 't' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "policy", required_argument, NULL, 'p' },
		{ "policy-local", required_argument, NULL, TOOL_OPT_POLICY_LOCAL },
		{ "policy-remote", required_argument, NULL, TOOL_OPT_POLICY_REMOTE },
		{ "threads", required_argument, NULL, 'j' },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		TOOL_TRUST_META_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;

	optind = 0;
	opterr = 0;
	while (!rc && (c = getopt_long(argc, argv, "K:k:v:a:c:t:x:p:j:fqh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ENC_KID:
			o->enc_kid = optarg;
			break;
		case OPT_SIGN_KID:
			o->sign_kid = optarg;
			break;
		case 'v':
			if (strcmp(optarg, "1") && strcmp(optarg, "2"))
				return tool_usage("encrypt", "--version must be 1 or 2");
			o->version = optarg[0] - '0';
			break;
		case 'a':
			o->alg = optarg;
			break;
		case 'c':
			if (tool_parse_size(optarg, &o->chunk_size) || !o->chunk_size)
				return tool_usage("encrypt", "bad --chunk-size '%s'", optarg);
			o->chunk_given = true;
			break;
		case 't':
			if (o->n_tensor_args == MAX_LIST)
				return tool_usage("encrypt", "too many --tensors options");
			o->tensor_args[o->n_tensor_args++] = optarg;
			break;
		default:
			if (!tool_policy_opt(c, optarg, &o->policy) &&
			    !tool_trust_meta_opt(c, optarg, &o->meta))
				rc = tool_common_opt("encrypt", c, argv, &o->opt);
			break;
		}
	}
	if (rc)
		return rc;
	if (argc - optind != 2)
		return tool_usage("encrypt", "expected SRC and DST");
	o->in = argv[optind];
	o->out = argv[optind + 1];
	if (!o->opt.keys.file == !o->opt.keys.keyring)
		return tool_usage("encrypt", "give exactly one of --keys FILE and --keyring K");
	if (o->chunk_given && o->version == 1)
		return tool_usage("encrypt", "--chunk-size applies to version 2 only");
	if (tool_policy_conflict("encrypt", &o->policy))
		return TOOL_USAGE;
	return tool_trust_meta_check("encrypt", &o->meta);
}

/* ---- tensor selection ---------------------------------------------------------- */

/* The --tensors patterns, split at commas, and which of them matched. */
struct selection {
	char *storage;
	const char **pats;
	bool *matched;
	size_t n;
};

static int split_patterns(const struct encrypt_opts *o, struct selection *s)
{
	size_t total = 0, n = 0;
	char *p;

	for (size_t i = 0; i < o->n_tensor_args; i++) {
		total += strlen(o->tensor_args[i]) + 1;
		n++;
		for (const char *q = o->tensor_args[i]; *q; q++)
			n += *q == ',';
	}
	s->storage = malloc(total ? total : 1);
	s->pats = calloc(n + 1, sizeof(*s->pats));
	s->matched = calloc(n + 1, sizeof(*s->matched));
	if (!s->storage || !s->pats || !s->matched)
		return -ENOMEM;
	p = s->storage;
	for (size_t i = 0; i < o->n_tensor_args; i++) {
		size_t len = strlen(o->tensor_args[i]);

		memcpy(p, o->tensor_args[i], len + 1);
		for (char *start = p;; ) {
			char *comma = strchr(start, ',');

			if (comma)
				*comma = 0;
			if (!*start)
				return -EINVAL;
			s->pats[s->n++] = start;
			if (!comma)
				break;
			start = comma + 1;
		}
		p += len + 1;
	}
	return 0;
}

static void selection_free(struct selection *s)
{
	free(s->storage);
	free(s->pats);
	free(s->matched);
}

/* An exact name always counts, so names with glob characters need no escaping. */
static bool pattern_matches(const char *pat, const char *name)
{
	return !strcmp(pat, name) || !fnmatch(pat, name, 0);
}

static bool is_glob(const char *pat)
{
	return strpbrk(pat, "*?[") != NULL;
}

/* NULL-terminated names of h's tensors that the selection picks (NULL
 * itself when there is no selection: every tensor). */
static int select_names(struct selection *s, const struct ctfs_st_header *h, const char ***out,
			size_t *count)
{
	*out = NULL;
	*count = h->n_tensors;
	if (!s->n)
		return 0;
	*out = calloc(h->n_tensors + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*count = 0;
	for (size_t i = 0; i < h->n_tensors; i++) {
		bool any = false;

		for (size_t k = 0; k < s->n; k++) {
			if (pattern_matches(s->pats[k], h->tensors[i].name)) {
				s->matched[k] = true;
				any = true;
			}
		}
		if (any)
			(*out)[(*count)++] = h->tensors[i].name;
	}
	return 0;
}

/* Every name and pattern must have picked something somewhere. */
static int check_all_matched(const struct selection *s, const char *where)
{
	for (size_t k = 0; k < s->n; k++) {
		if (s->matched[k])
			continue;
		if (is_glob(s->pats[k]))
			tool_err("%s: no tensor matches '%s'", where, s->pats[k]);
		else
			tool_err("%s: no tensor named '%s'", where, s->pats[k]);
		return -ENOENT;
	}
	return 0;
}

/* ---- keys ------------------------------------------------------------------------ */

struct key_pair {
	struct ctfs_jwk *set;
	size_t n;
	struct ctfs_jwk master, signer;  /* used when reading the keyring */
	const struct ctfs_jwk *m, *s;
};

static int keys_from_file(const struct encrypt_opts *o, struct key_pair *kp)
{
	if (tool_load_jwks(o->opt.keys.file, &kp->set, &kp->n))
		return -EINVAL;
	kp->m = tool_pick_key(kp->set, kp->n, CTFS_KTY_OCT, o->enc_kid, "master key (oct)",
			      "--enc-kid", o->opt.keys.file);
	kp->s = tool_pick_key(kp->set, kp->n, CTFS_KTY_OKP, o->sign_kid, "signing key (okp)",
			      "--sign-kid", o->opt.keys.file);
	return kp->m && kp->s ? 0 : -ENOKEY;
}

static int keys_from_keyring(const struct encrypt_opts *o, struct key_pair *kp)
{
	char err[256] = "";
	key_serial_t ring;
	int rc = tool_keyring_open(o->opt.keys.keyring, &ring);

	if (rc)
		return rc;
	rc = ctfs_keyring_get_jwk(ring, o->enc_kid, &kp->master, err, sizeof(err));
	if (!rc)
		rc = ctfs_keyring_get_jwk(ring, o->sign_kid, &kp->signer, err, sizeof(err));
	if (rc) {
		tool_err("%s", err);
		return rc;
	}
	kp->m = &kp->master;
	kp->s = &kp->signer;
	return 0;
}

static void keys_free(struct key_pair *kp)
{
	ctfs_jwk_free_set(kp->set, kp->n);
	ctfs_jwk_clear(&kp->master);
	ctfs_jwk_clear(&kp->signer);
}

/* --alg, else the master key's alg, else what its length implies. */
static int choose_alg(const struct encrypt_opts *o, const struct ctfs_jwk *m, enum ctfs_alg *alg)
{
	if (o->alg) {
		if (ctfs_alg_parse(o->alg, alg))
			return tool_usage("encrypt", "unknown algorithm '%s'", o->alg);
		return 0;
	}
	if (m->alg && !ctfs_alg_parse(m->alg, alg))
		return 0;
	if (m->secret_len == 16 || m->secret_len == 32) {
		*alg = m->secret_len == 16 ? CTFS_ALG_AES128GCM : CTFS_ALG_AES256GCM;
		return 0;
	}
	tool_err("cannot tell the algorithm of the master key: give --alg");
	return TOOL_FAIL;
}

/* ---- policies ---------------------------------------------------------------------- */

struct policies {
	char *local, *remote;
};

static int read_policies(const struct encrypt_opts *o, struct policies *p)
{
	char why[256];

	if (tool_policy_read(&o->policy, &p->local, &p->remote))
		return -EINVAL;
	if (tool_policy_compiles("local", p->local, o->opt.force) ||
	    tool_policy_compiles("remote", p->remote, o->opt.force))
		return -EINVAL;
	if (p->local && ctfs_policy_check(p->local, why, sizeof(why)))
		tool_err("warning: the ctfs mount will refuse these files: %s", why);
	return 0;
}

/* ---- encrypting ---------------------------------------------------------------------- */

struct run {
	const struct encrypt_opts *o;
	struct ctfs_ct_write_opts w;
	struct selection sel;
	unsigned shards;
};

static int read_header(const char *path, struct ctfs_st_header **h)
{
	struct tool_model tm;
	int rc = tool_model_open(path, &tm);

	*h = NULL;
	if (rc) {
		tool_err("%s: %s", path, tm.why);
	} else if (tm.kind == TOOL_KIND_CRYPTO) {
		tool_err("%s: already a CryptoTensors file", path);
		rc = -EALREADY;
	} else if (tm.kind != TOOL_KIND_PLAIN) {
		tool_err("%s: not a safetensors file: %s", path, tm.why);
		rc = -EINVAL;
	} else {
		*h = tm.plain;
		tm.plain = NULL;
	}
	tool_model_close(&tm);
	return rc;
}

/* Encrypt one file; 1 when done, 0 when nothing in it is selected. */
static int encrypt_one(struct run *r, const char *in, const char *out, struct tool_progress *p,
		       bool in_dir)
{
	struct ctfs_st_header *h;
	const char **names = NULL;
	char err[512] = "";
	size_t count;
	int rc = read_header(in, &h);

	if (rc)
		return rc;
	rc = select_names(&r->sel, h, &names, &count);
	if (!rc && !in_dir)
		rc = check_all_matched(&r->sel, in);
	if (!rc && count == 0 && in_dir) {
		ctfs_st_free(h);
		free(names);
		return 0;
	}
	r->w.tensors = names;
	r->w.progress = tool_progress_cb;
	r->w.progress_arg = p;
	if (!rc) {
		rc = ctfs_ct_encrypt_file(in, out, &r->w, err, sizeof(err));
		tool_progress_clear(p);
		if (rc)
			tool_err("%s: %s", in, *err ? err : strerror(-rc));
	}
	if (!rc && !r->o->opt.quiet && in_dir)
		printf("encrypted %s (%zu of %zu tensors)\n", in, count, h->n_tensors);
	r->w.tensors = NULL;
	ctfs_st_free(h);
	free(names);
	return rc ? rc : 1;
}

static int dir_file(void *arg, const char *src, const char *dst, const struct tool_entry *e,
		    struct tool_progress *p)
{
	struct run *r = arg;
	int rc;

	(void)e;
	if (!tool_has_suffix(src, ".safetensors"))
		return 0;
	rc = encrypt_one(r, src, dst, p, true);
	r->shards += rc == 1;
	if (rc == 0 && !r->o->opt.quiet)
		printf("copied %s as it is: none of its tensors is selected\n", src);
	return rc;
}

/* Before anything is written: every pattern matches in some shard. */
static int check_patterns_in_dir(struct run *r)
{
	struct tool_tree t;
	int rc;

	if (!r->sel.n)
		return 0;
	if (tool_tree_list(r->o->in, r->o->opt.exclude, &t))
		return -EINVAL;
	rc = 0;
	for (size_t i = 0; !rc && i < t.n; i++) {
		struct ctfs_st_header *h;
		const char **names;
		size_t count;
		char *path;

		if (t.e[i].dir || !tool_has_suffix(t.e[i].rel, ".safetensors"))
			continue;
		path = tool_join(r->o->in, t.e[i].rel);
		rc = path ? read_header(path, &h) : -ENOMEM;
		if (!rc) {
			rc = select_names(&r->sel, h, &names, &count);
			free(names);
			ctfs_st_free(h);
		}
		free(path);
	}
	tool_tree_free(&t);
	return rc ? rc : check_all_matched(&r->sel, r->o->in);
}

static int encrypt_dir(struct run *r)
{
	struct tool_dirrun d = {
		.src = r->o->in, .dst = r->o->out,
		.force = r->o->opt.force, .quiet = r->o->opt.quiet, .exclude = r->o->opt.exclude,
		.label = "encrypting", .fn = dir_file, .arg = r,
	};
	int rc;

	if (check_patterns_in_dir(r))
		return TOOL_FAIL;
	rc = tool_dir_run(&d);
	if (!rc && !r->o->opt.quiet)
		printf("encrypted %s -> %s: %u shard%s encrypted (CryptoTensors v%d, %s), "
		       "%u file%s copied\n", r->o->in, r->o->out, r->shards,
		       r->shards == 1 ? "" : "s", r->o->version ? r->o->version : 2,
		       ctfs_alg_name(r->w.alg), d.copied_files, d.copied_files == 1 ? "" : "s");
	return rc;
}

static int encrypt_file(struct run *r)
{
	const struct encrypt_opts *o = r->o;
	struct tool_progress p;
	char *out = NULL, *base = NULL;
	int rc;

	if (tool_is_dir(o->out)) {
		base = strdup(o->in);
		out = base ? tool_join(o->out, basename(base)) : NULL;
		if (!out) {
			free(base);
			tool_err("out of memory");
			return TOOL_FAIL;
		}
	}
	if (tool_same_file(o->in, out ? out : o->out)) {
		tool_err("%s: DST is SRC; encrypt to another file", o->in);
		rc = -EINVAL;
	} else {
		tool_progress_init(&p, o->opt.quiet, "encrypting", 0);
		rc = encrypt_one(r, o->in, out ? out : o->out, &p, false);
	}
	if (rc == 1 && !o->opt.quiet)
		printf("encrypted %s -> %s (CryptoTensors v%d, %s%s)\n", o->in, out ? out : o->out,
		       o->version ? o->version : 2, ctfs_alg_name(r->w.alg),
		       r->sel.n ? ", selected tensors" : ", all tensors");
	free(out);
	free(base);
	return rc == 1 ? TOOL_OK : TOOL_FAIL;
}

static int encrypt(struct encrypt_opts *o, const struct key_pair *kp)
{
	struct run r = {
		.o = o,
		.w = {
			.version = o->version,
			.chunk_size = o->chunk_size,
			.master = kp->m,
			.signer = kp->s,
			.threads = o->opt.threads,
			.model_id = o->meta.model_id,
			.model_version = o->meta.model_version,
			.no_digests = o->meta.no_digests,
		},
	};
	struct policies pol = { 0 };
	int rc = choose_alg(o, kp->m, &r.w.alg);

	if (rc)
		return rc;
	if (tool_trust_meta_load(&o->meta, kp->s))
		return TOOL_FAIL;
	r.w.x5c = o->meta.x5c;
	r.w.n_x5c = o->meta.n_x5c;
	rc = split_patterns(o, &r.sel);
	if (rc) {
		selection_free(&r.sel);
		if (rc == -EINVAL)
			return tool_usage("encrypt", "empty name in --tensors");
		tool_err("out of memory");
		return TOOL_FAIL;
	}
	rc = read_policies(o, &pol) ? TOOL_FAIL : 0;
	r.w.policy_local = pol.local;
	r.w.policy_remote = pol.remote;
	if (!rc) {
		tool_signals_install();
		rc = tool_is_dir(o->in) ? encrypt_dir(&r) : encrypt_file(&r);
	}
	free(pol.local);
	free(pol.remote);
	selection_free(&r.sel);
	return rc;
}

static int run(int argc, char **argv)
{
	struct encrypt_opts o = { 0 };
	struct key_pair kp = { 0 };
	int rc;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	rc = o.opt.keys.file ? keys_from_file(&o, &kp) : keys_from_keyring(&o, &kp);
	rc = rc ? TOOL_FAIL : encrypt(&o, &kp);
	tool_trust_meta_free(&o.meta);
	keys_free(&kp);
	return rc;
}

const struct tool_cmd tool_cmd_encrypt = {
	.name = "encrypt",
	.summary = "encrypt and sign a safetensors file or model directory",
	.run = run,
	.help = help,
};
