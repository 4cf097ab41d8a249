/* ctfs-tool tgsp: TGSP v1.0 packages (FORMATS.md section 3). This file holds
 * the dispatcher, the key file helpers, keygen and build; inspect, verify
 * and open are in cmd_tgsp_read.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/secmem.h"
#include "tgsp_cmds.h"
#include "tool.h"
#include "util.h"

#define PUBFILE_MAX (64u << 10)
#define MAX_RECIPIENTS 256

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool tgsp keygen --type signing|encryption --out DIR [--name NAME]\n"
	      "       ctfs-tool tgsp build DIR --out PKG --signing-key PRIV --signing-pub PUB\n"
	      "                 --recipient [ID=]PUB... [--not-before T] [--not-after T]\n"
	      "                 [--fleet ID] [--model-name N] [--model-version V]\n"
	      "                 [--key-id K] [--author-id A] [--level 1-9] [--force]\n"
	      "       ctfs-tool tgsp inspect PKG [--json]\n"
	      "       ctfs-tool tgsp verify PKG --trust PUB|DIR... [--fleet ID] [--now T]\n"
	      "       ctfs-tool tgsp open PKG --key PRIV --out DIR [--trust PUB|DIR...]\n"
	      "                 [--fleet ID] [--now T] [--require-trust] [--verbose]\n"
	      "\n"
	      "TGSP v1.0 packages: a model directory as a gzip-compressed tar archive,\n"
	      "encrypted for named recipients (X25519 + ML-KEM-768) and signed (Ed25519 +\n"
	      "ML-DSA-65). Key files are the JSON of the reference platform:\n"
	      "{\"classic\":HEX,\"pqc\":HEX,\"alg\":\"Hybrid-Dilithium-v1\"|\"Hybrid-Kyber-v1\"}.\n"
	      "\n"
	      "  keygen   write NAME.pub and NAME.priv (mode 0600) into DIR (created if\n"
	      "           missing); NAME defaults to the type. Existing files are kept.\n"
	      "  build    package the regular files under DIR (sorted, uid/gid 0, mtime 0,\n"
	      "           modes 644/755) into PKG. A recipient's id defaults to the name of\n"
	      "           its key file without \".pub\"; the daemon looks the recipient's\n"
	      "           secret key up as the keyring key \"ctfs:tgsp:<id>\". T is epoch\n"
	      "           seconds or YYYY-MM-DDTHH:MM:SSZ. --key-id (default: the signing\n"
	      "           key file's name without \".pub\") names the signer; the daemon\n"
	      "           also trusts the keyring key \"ctfs:tgsp-signer:<key-id>\".\n"
	      "           --fleet sets target_fleet.\n"
	      "  inspect  header, manifest, recipients, constraints and the hash checks; no\n"
	      "           key needed, signatures not checked.\n"
	      "  verify   structure, hashes and both signatures against the trusted signer\n"
	      "           key(s); prints the policy verdict (for --fleet and now).\n"
	      "  open     verify, check the policy (validity window; target_fleet when\n"
	      "           --fleet is given), unwrap the data key with PRIV and extract the\n"
	      "           archive into DIR. Signers: --trust, else the keyring key\n"
	      "           \"ctfs:tgsp-signer:<key_id>\"; with neither, the signatures are\n"
	      "           checked against the key the package names for itself, with a\n"
	      "           warning (an error with --require-trust).\n"
	      "\n"
	      "Options (a short form means the same in every ctfs-tool command):\n"
	      "  -o, --out DIR|PKG       keygen, open: the directory; build: the package\n"
	      "  -n, --name NAME         keygen: base name of the key files\n"
	      "      --type TYPE         keygen: signing or encryption\n"
	      "      --signing-key PRIV  build: the signer's secret key file\n"
	      "      --signing-pub PUB   build: the signer's public key file\n"
	      "  -r, --recipient [ID=]PUB  build: a recipient's public key file; repeatable\n"
	      "      --not-before T      build: start of the validity window\n"
	      "      --not-after T       build: end of the validity window\n"
	      "      --fleet ID          build: target_fleet; verify, open: this reader's fleet\n"
	      "      --model-name N      build: manifest model_name\n"
	      "      --model-version V   build: manifest model_version\n"
	      "      --key-id K          build: the signature's key_id\n"
	      "      --author-id A       build: manifest author_id\n"
	      "      --level 1-9         build: gzip level (default 6)\n"
	      "  -f, --force             build: replace an existing PKG\n"
	      "  -T, --trust PUB|DIR     verify, open: trusted signer key(s); repeatable\n"
	      "      --key PRIV          open: the recipient's secret key file\n"
	      "      --require-trust     open: refuse a package no trusted signer signed\n"
	      "      --now T             verify, open: judge the validity window at T, not now\n"
	      "      --json              inspect: machine-readable output\n"
	      "      --verbose           open: name each file extracted\n"
	      "  -h, --help              this text\n"
	      "\n"
	      "Exit status: 0 success, 1 failure (a reason is printed), 2 bad command line.\n",
	      out);
}

/* --- helpers shared by the subcommands ------------------------------------- */

static int load_public(const char *path, char **text, size_t *len)
{
	uint8_t *t;
	int rc = ctfs_read_file(path, PUBFILE_MAX, &t, len);

	if (rc)
		tool_err("%s: %s", path, strerror(-rc));
	else
		*text = (char *)t;
	return rc;
}

int tgsp_load_sign_pub(const char *path, struct ctfs_tgsp_sign_pub *out)
{
	char *text, why[200];
	size_t len;
	int rc = load_public(path, &text, &len);

	if (rc)
		return rc;
	rc = ctfs_tgsp_sign_pub_parse(text, len, out, why, sizeof(why));
	if (rc)
		tool_err("%s: %s", path, why);
	free(text);
	return rc;
}

int tgsp_load_enc_pub(const char *path, struct ctfs_tgsp_enc_pub *out)
{
	char *text, why[200];
	size_t len;
	int rc = load_public(path, &text, &len);

	if (rc)
		return rc;
	rc = ctfs_tgsp_enc_pub_parse(text, len, out, why, sizeof(why));
	if (rc)
		tool_err("%s: %s", path, why);
	free(text);
	return rc;
}

int tgsp_load_sign_sec(const char *path, struct ctfs_tgsp_sign_sec **out)
{
	struct tool_secret s;
	char why[200];
	int rc = tool_secret_read(path, &s);

	if (rc) {
		tool_err("%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = ctfs_tgsp_sign_sec_parse(s.data, s.len, out, why, sizeof(why));
	if (rc)
		tool_err("%s: %s", path, why);
	tool_secret_free(&s);
	return rc;
}

int tgsp_load_enc_sec(const char *path, struct ctfs_tgsp_enc_sec **out)
{
	struct tool_secret s;
	char why[200];
	int rc = tool_secret_read(path, &s);

	if (rc) {
		tool_err("%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = ctfs_tgsp_enc_sec_parse(s.data, s.len, out, why, sizeof(why));
	if (rc)
		tool_err("%s: %s", path, why);
	tool_secret_free(&s);
	return rc;
}

int tgsp_parse_time(const char *s, long long *out)
{
	struct tm tm = { 0 };
	char *end;
	const char *rest;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (!errno && end != s && !*end)
		return 0;
	rest = strptime(s, "%Y-%m-%d", &tm);
	if (rest && (*rest == 'T' || *rest == ' ')) {
		const char *t = strptime(rest + 1, "%H:%M:%S", &tm);

		rest = t ? t : strptime(rest + 1, "%H:%M", &tm);
	}
	if (!rest || (*rest && strcmp(rest, "Z")))
		return -EINVAL;
	*out = (long long)timegm(&tm);
	return 0;
}

/* "dir/name.pub" -> "name" */
static void stem(const char *path, char *out, size_t len)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".pub"))
		n -= 4;
	snprintf(out, len, "%.*s", (int)n, base);
}

/* --- keygen -------------------------------------------------------------------- */

/* Write data to dir/name, created exclusively with mode. */
static int write_new(const char *dir, const char *name, mode_t mode, const void *data,
		     size_t len)
{
	char path[PATH_MAX];
	int fd, rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		tool_err("%s: %s", path, rc == -EEXIST ? "exists already: not overwritten" :
			 strerror(-rc));
		return rc;
	}
	rc = ctfs_write_full(fd, data, len);
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (rc) {
		tool_err("%s: %s", path, strerror(-rc));
		unlink(path);
	}
	return rc;
}

static int write_pair(const char *dir, const char *name, const struct ctfs_buf *pub,
		      const struct ctfs_buf *sec)
{
	char pn[NAME_MAX + 1], sn[NAME_MAX + 1];
	int rc;

	if (snprintf(pn, sizeof(pn), "%s.pub", name) >= (int)sizeof(pn) ||
	    snprintf(sn, sizeof(sn), "%s.priv", name) >= (int)sizeof(sn)) {
		tool_err("key name too long");
		return -ENAMETOOLONG;
	}
	rc = write_new(dir, sn, 0600, sec->data, sec->len);
	if (!rc) {
		rc = write_new(dir, pn, 0644, pub->data, pub->len);
		if (rc) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s/%s", dir, sn);
			unlink(path);
		}
	}
	return rc;
}

static int keygen_write(const char *type, const char *dir, const char *name)
{
	struct ctfs_buf pub = { 0 }, sec = { 0 };
	int rc;

	if (!strcmp(type, "signing")) {
		struct ctfs_tgsp_sign_pub p;
		struct ctfs_tgsp_sign_sec *s;

		rc = ctfs_tgsp_sign_keygen(&p, &s);
		if (!rc) {
			rc = ctfs_tgsp_key_json(&pub, p.ed25519, sizeof(p.ed25519), p.mldsa,
						sizeof(p.mldsa), CTFS_TGSP_SIG);
			if (!rc)
				rc = ctfs_tgsp_key_json(&sec, s->ed25519_seed, sizeof(s->ed25519_seed),
							s->mldsa, sizeof(s->mldsa), CTFS_TGSP_SIG);
			ctfs_secure_free(s);
		}
	} else {
		struct ctfs_tgsp_enc_pub p;
		struct ctfs_tgsp_enc_sec *s;

		rc = ctfs_tgsp_enc_keygen(&p, &s);
		if (!rc) {
			rc = ctfs_tgsp_key_json(&pub, p.x25519, sizeof(p.x25519), p.mlkem,
						sizeof(p.mlkem), CTFS_TGSP_KEM);
			if (!rc)
				rc = ctfs_tgsp_key_json(&sec, s->x25519, sizeof(s->x25519), s->mlkem,
							sizeof(s->mlkem), CTFS_TGSP_KEM);
			ctfs_secure_free(s);
		}
	}
	if (rc)
		tool_err("key generation failed: %s", strerror(-rc));
	else
		rc = write_pair(dir, name, &pub, &sec);
	if (sec.data)
		sodium_memzero(sec.data, sec.cap);
	ctfs_buf_free(&sec);
	ctfs_buf_free(&pub);
	return rc;
}

int tgsp_keygen(int argc, char **argv)
{
	enum { O_TYPE = 256 };	/* -t is --tensors elsewhere */
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, O_TYPE },
		{ "out", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *type = NULL, *dir = NULL, *name = NULL;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:n:", longopts, NULL)) != -1) {
		switch (c) {
		case O_TYPE:
			type = optarg;
			break;
		case 'o':
			dir = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		default:
			return tool_usage("tgsp", "keygen: unknown option or missing argument: %s",
					  argv[optind - 1]);
		}
	}
	if (optind != argc)
		return tool_usage("tgsp", "keygen: unexpected argument '%s'", argv[optind]);
	if (!type || (strcmp(type, "signing") && strcmp(type, "encryption")))
		return tool_usage("tgsp", "keygen: --type signing|encryption is required");
	if (!dir)
		return tool_usage("tgsp", "keygen: --out DIR is required");
	if (name && (!*name || strchr(name, '/')))
		return tool_usage("tgsp", "keygen: --name must be a plain file name");
	if (mkdir(dir, 0700) && errno != EEXIST) {
		tool_err("%s: %s", dir, strerror(errno));
		return TOOL_FAIL;
	}
	if (keygen_write(type, dir, name ? name : type))
		return TOOL_FAIL;
	printf("%s/%s.pub\n%s/%s.priv\n", dir, name ? name : type, dir, name ? name : type);
	return TOOL_OK;
}

/* --- build ----------------------------------------------------------------------- */

struct build_args {
	struct ctfs_tgsp_build_opts o;
	const char *out, *sign_key, *sign_pub;
	const char *rcpt_arg[MAX_RECIPIENTS];
	size_t n_rcpt;
	bool force;
};

static int build_parse(int argc, char **argv, struct build_args *a)
{
	enum { O_SKEY = 256, O_SPUB, O_NB, O_NA, O_FLEET, O_NAME, O_VER, O_KID, O_AUTHOR,
	       O_LEVEL };
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "signing-key", required_argument, NULL, O_SKEY },
		{ "signing-pub", required_argument, NULL, O_SPUB },
		{ "recipient", required_argument, NULL, 'r' },
		{ "not-before", required_argument, NULL, O_NB },
		{ "not-after", required_argument, NULL, O_NA },
		{ "fleet", required_argument, NULL, O_FLEET },
		{ "model-name", required_argument, NULL, O_NAME },
		{ "model-version", required_argument, NULL, O_VER },
		{ "key-id", required_argument, NULL, O_KID },
		{ "author-id", required_argument, NULL, O_AUTHOR },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	long long t;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:r:f", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': a->out = optarg; break;
		case O_SKEY: a->sign_key = optarg; break;
		case O_SPUB: a->sign_pub = optarg; break;
		case 'r':
			if (a->n_rcpt == MAX_RECIPIENTS)
				return tool_usage("tgsp", "build: at most %d recipients", MAX_RECIPIENTS);
			a->rcpt_arg[a->n_rcpt++] = optarg;
			break;
		case O_NB:
		case O_NA:
			if (tgsp_parse_time(optarg, &t))
				return tool_usage("tgsp", "build: bad time '%s'", optarg);
			if (c == O_NB) {
				a->o.has_not_before = true;
				a->o.not_before = t;
			} else {
				a->o.has_not_after = true;
				a->o.not_after = t;
			}
			break;
		case O_FLEET: a->o.fleet = optarg; break;
		case O_NAME: a->o.model_name = optarg; break;
		case O_VER: a->o.model_version = optarg; break;
		case O_KID: a->o.key_id = optarg; break;
		case O_AUTHOR: a->o.author_id = optarg; break;
		case O_LEVEL:
			a->o.level = atoi(optarg);
			if (a->o.level < 1 || a->o.level > 9)
				return tool_usage("tgsp", "build: --level is 1 to 9");
			break;
		case 'f': a->force = true; break;
		default:
			return tool_usage("tgsp", "build: unknown option or missing argument: %s",
					  argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return tool_usage("tgsp", "build: exactly one DIR is needed");
	a->o.dir = argv[optind];
	if (!a->out || !a->sign_key || !a->sign_pub || !a->n_rcpt)
		return tool_usage("tgsp", "build: --out, --signing-key, --signing-pub and at least "
				  "one --recipient are required");
	return 0;
}

struct build_keys {
	struct ctfs_tgsp_sign_pub spub;
	struct ctfs_tgsp_sign_sec *ssec;
	struct ctfs_tgsp_enc_pub rpub[MAX_RECIPIENTS];
	char rid_buf[MAX_RECIPIENTS][256];
	const char *rid[MAX_RECIPIENTS];
	char kid[256];
};

static int build_keys(struct build_args *a, struct build_keys *k)
{
	int rc = tgsp_load_sign_pub(a->sign_pub, &k->spub);

	if (!rc)
		rc = tgsp_load_sign_sec(a->sign_key, &k->ssec);
	if (!rc && ctfs_tgsp_sign_pair_check(&k->spub, k->ssec)) {
		tool_err("%s and %s are not one key pair", a->sign_key, a->sign_pub);
		rc = -EKEYREJECTED;
	}
	for (size_t i = 0; i < a->n_rcpt && !rc; i++) {
		const char *arg = a->rcpt_arg[i], *eq = strchr(arg, '=');
		const char *file = eq ? eq + 1 : arg;

		if (eq)
			snprintf(k->rid_buf[i], sizeof(k->rid_buf[i]), "%.*s", (int)(eq - arg), arg);
		else
			stem(file, k->rid_buf[i], sizeof(k->rid_buf[i]));
		if (!k->rid_buf[i][0]) {
			tool_err("--recipient %s: empty recipient id", arg);
			return -EINVAL;
		}
		k->rid[i] = k->rid_buf[i];
		rc = tgsp_load_enc_pub(file, &k->rpub[i]);
	}
	if (!rc && !a->o.key_id) {
		stem(a->sign_pub, k->kid, sizeof(k->kid));
		a->o.key_id = k->kid;
	}
	return rc;
}

static double now_with_millis(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	struct timespec ts;

	if (sde && *sde)
		return (double)strtoll(sde, NULL, 10);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

/* Build into a temporary file beside PKG, then rename it into place. */
static int build_to(struct build_args *a)
{
	char tmp[PATH_MAX], err[512] = "";
	int fd, rc;

	if (!a->force && !access(a->out, F_OK)) {
		tool_err("%s exists already (use --force to replace it)", a->out);
		return -EEXIST;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", a->out) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		tool_err("%s: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = ctfs_tgsp_build(fd, &a->o, err, sizeof(err));
	if (rc)
		tool_err("%s: %s", a->out, err);
	if (!rc && (fchmod(fd, 0644) || fsync(fd)))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, a->out))
		rc = -errno;
	if (rc) {
		if (!*err)
			tool_err("%s: %s", a->out, strerror(-rc));
		unlink(tmp);
	}
	return rc;
}

int tgsp_build(int argc, char **argv)
{
	struct build_args a = { 0 };
	struct build_keys *k = calloc(1, sizeof(*k));
	char name[256];
	int rc;

	if (!k)
		return TOOL_FAIL;
	rc = build_parse(argc, argv, &a);
	if (rc) {
		free(k);
		return rc;
	}
	rc = build_keys(&a, k) ? TOOL_FAIL : 0;
	if (!rc) {
		stem(a.o.dir, name, sizeof(name));
		if (!strcmp(name, ".") || !*name) {
			char *real = realpath(a.o.dir, NULL);

			stem(real ? real : "model", name, sizeof(name));
			free(real);
		}
		a.o.signer_pub = &k->spub;
		a.o.signer_sec = k->ssec;
		a.o.recipients = k->rpub;
		a.o.recipient_ids = k->rid;
		a.o.n_recipients = a.n_rcpt;
		a.o.model_name = a.o.model_name ? a.o.model_name : name;
		a.o.model_version = a.o.model_version ? a.o.model_version : "1.0.0";
		a.o.author_id = a.o.author_id ? a.o.author_id : "ctfs-tool";
		a.o.created_at = now_with_millis();
		rc = build_to(&a) ? TOOL_FAIL : TOOL_OK;
	}
	if (!rc)
		printf("%s\n", a.out);
	ctfs_secure_free(k->ssec);
	free(k);
	return rc;
}

/* --- dispatch ------------------------------------------------------------------------ */

static int run(int argc, char **argv)
{
	static const struct tool_sub sub[] = {
		{ "keygen", tgsp_keygen }, { "build", tgsp_build }, { "inspect", tgsp_inspect },
		{ "verify", tgsp_verify }, { "open", tgsp_open },
	};

	return tool_run_sub("tgsp", sub, CTFS_ARRAY_LEN(sub), "", help, argc, argv);
}

const struct tool_cmd tool_cmd_tgsp = {
	.name = "tgsp",
	.summary = "build, inspect, verify and open TGSP packages",
	.run = run,
	.help = help,
};
