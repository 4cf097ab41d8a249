/* ctfs-tool keygen: a JWK set with a fresh master key and a fresh Ed25519
 * signing key, written to a new file only its owner can read. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "tool.h"
#include "util.h"

#define KID_MAX 256

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool keygen [--alg ALG] [--kid PREFIX] [--enc-kid KID]\n"
	      "                        [--sign-kid KID] [--jku URL] --out FILE\n"
	      "\n"
	      "Generate a JWK set ({\"keys\":[...]}) holding one master key (oct) for ALG\n"
	      "and one Ed25519 signing key (okp, with its private d) and write it to\n"
	      "FILE, created with mode 0600. An existing FILE is never overwritten.\n"
	      "\n"
	      "Options:\n"
	      "  -a, --alg ALG        aes128gcm, aes256gcm (default) or chacha20poly1305\n"
	      "      --kid PREFIX     name the keys PREFIX-enc and PREFIX-sign\n"
	      "      --kid-prefix P   the same as --kid\n"
	      "                       (default prefix: ctfs-<8 random hex digits>)\n"
	      "      --enc-kid KID    the master key's kid, exactly\n"
	      "      --sign-kid KID   the signing key's kid, exactly\n"
	      "      --jku URL        the URL of the JWK set that will hold the keys (for\n"
	      "                       example file:///etc/ctfs/keys.json); files encrypted\n"
	      "                       with them name it, as upstream key providers expect\n"
	      "  -o, --out FILE       where to write the key set (required)\n"
	      "  -h, --help           this text\n"
	      "\n"
	      "The file holds secrets: keep it safe. 'ctfs-tool key add FILE' loads it\n"
	      "into the kernel keyring (without the signing key's d).\n", out);
}

struct keygen_opts {
	const char *alg, *prefix, *enc_kid, *sign_kid, *jku, *out;
};

static int parse(int argc, char **argv, struct keygen_opts *o)
{
	/* --kid has no short form: -k is --keyring in every other command */
	enum { OPT_ENC_KID = 256, OPT_SIGN_KID, OPT_JKU, OPT_KID };
	static const struct option longopts[] = {
		{ "alg", required_argument, NULL, 'a' },
		{ "kid", required_argument, NULL, OPT_KID },
		{ "kid-prefix", required_argument, NULL, OPT_KID },
		{ "enc-kid", required_argument, NULL, OPT_ENC_KID },
		{ "sign-kid", required_argument, NULL, OPT_SIGN_KID },
		{ "jku", required_argument, NULL, OPT_JKU },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "a:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o->alg = optarg;
			break;
		case OPT_KID:
			o->prefix = optarg;
			break;
		case OPT_ENC_KID:
			o->enc_kid = optarg;
			break;
		case OPT_SIGN_KID:
			o->sign_kid = optarg;
			break;
		case OPT_JKU:
			if (!*optarg)
				return tool_usage("keygen", "--jku needs a URL");
			o->jku = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		default:
			return tool_usage("keygen", "unknown option or missing argument: %s",
					  argv[optind - 1]);
		}
	}
	if (optind != argc)
		return tool_usage("keygen", "unexpected argument '%s'", argv[optind]);
	if (!o->out)
		return tool_usage("keygen", "--out FILE is required");
	if (!strcmp(o->out, "-"))
		return tool_usage("keygen", "refusing to print secret keys: give --out a file");
	return 0;
}

/* kid of one key: given exactly, or PREFIX-suffix. */
static int make_kid(char *kid, const char *exact, const char *prefix, const char *suffix)
{
	int n = exact ? snprintf(kid, KID_MAX, "%s", exact) :
		snprintf(kid, KID_MAX, "%s-%s", prefix, suffix);

	return n < 0 || n >= KID_MAX || !*kid ? -EINVAL : 0;
}

/* {"keys":[master,signer]}\n. The buffer is sized first so that it never
 * moves (and leaves a copy of a secret behind) while it is filled. */
static int key_set_json(const struct ctfs_jwk *master, const struct ctfs_jwk *signer,
			struct ctfs_buf *b)
{
	int rc = ctfs_buf_reserve(b, 4096);

	if (!rc)
		rc = ctfs_buf_puts(b, "{\"keys\":[");
	if (!rc)
		rc = ctfs_jwk_to_json(master, true, b);
	if (!rc)
		rc = ctfs_buf_putc(b, ',');
	if (!rc)
		rc = ctfs_jwk_to_json(signer, true, b);
	if (!rc)
		rc = ctfs_buf_puts(b, "]}\n");
	return rc;
}

/* Create path exclusively (never through a symlink), 0600, write, sync. */
static int write_new_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return -errno;
	rc = ctfs_write_full(fd, data, len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (rc)
		unlink(path);
	return rc;
}

static int generate(const struct keygen_opts *o, const char *enc_kid, const char *sign_kid)
{
	struct ctfs_jwk master = { 0 }, signer = { 0 };
	struct ctfs_buf json = { 0 };
	int rc;

	rc = ctfs_jwk_generate(&master, CTFS_KTY_OCT, o->alg, enc_kid);
	if (!rc)
		rc = ctfs_jwk_generate(&signer, CTFS_KTY_OKP, "ed25519", sign_kid);
	if (!rc && o->jku && (!(master.jku = strdup(o->jku)) || !(signer.jku = strdup(o->jku))))
		rc = -ENOMEM;
	if (!rc)
		rc = key_set_json(&master, &signer, &json);
	if (rc)
		tool_err("cannot generate keys: %s", strerror(-rc));
	else if ((rc = write_new_file(o->out, json.data, json.len)))
		tool_err("%s: %s", o->out, rc == -EEXIST ? "exists; refusing to overwrite it" :
			 strerror(-rc));
	else
		printf("wrote %s: master key %s (%s), signing key %s (ed25519)\n", o->out,
		       enc_kid, master.alg, sign_kid);
	if (json.data)
		sodium_memzero(json.data, json.cap);
	ctfs_buf_free(&json);
	ctfs_jwk_clear(&master);
	ctfs_jwk_clear(&signer);
	return rc ? TOOL_FAIL : TOOL_OK;
}

static int run(int argc, char **argv)
{
	struct keygen_opts o = { .alg = "aes256gcm" };
	char enc_kid[KID_MAX], sign_kid[KID_MAX], prefix[32];
	enum ctfs_alg alg;
	int rc;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	if (ctfs_alg_parse(o.alg, &alg))
		return tool_usage("keygen", "unknown algorithm '%s'", o.alg);
	o.alg = ctfs_alg_name(alg);
	if (!o.prefix) {
		snprintf(prefix, sizeof(prefix), "ctfs-%08x", randombytes_random());
		o.prefix = prefix;
	}
	if (make_kid(enc_kid, o.enc_kid, o.prefix, "enc") ||
	    make_kid(sign_kid, o.sign_kid, o.prefix, "sign"))
		return tool_usage("keygen", "kids must be 1 to %d bytes", KID_MAX - 1);
	if (!strcmp(enc_kid, sign_kid))
		return tool_usage("keygen", "the two keys need distinct kids");
	return generate(&o, enc_kid, sign_kid);
}

const struct tool_cmd tool_cmd_keygen = {
	.name = "keygen",
	.summary = "generate a master key and a signing key (a JWK set file)",
	.run = run,
	.help = help,
};
