/* ctfs-tool encrypt: a safetensors file to a signed CryptoTensors file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"
#include "cryptotensors.h"
#include "ct_writer.h"
#include "keyring.h"
#include "tool.h"

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool encrypt IN OUT (--keys FILE | --keyring K)\n"
	      "                         [--enc-kid KID] [--sign-kid KID] [--version 1|2]\n"
	      "                         [--alg ALG] [--chunk-size N] [--tensors A,B,...]\n"
	      "\n"
	      "Encrypt the safetensors file IN into the CryptoTensors file OUT, signed,\n"
	      "in the layout upstream CryptoTensors reads. Every encrypted tensor gets\n"
	      "its own random data key, wrapped with the master key. OUT is written to a\n"
	      "temporary file next to it and renamed into place once complete.\n"
	      "\n"
	      "Options:\n"
	      "  -K, --keys FILE       JWK set with the master key (oct, with k) and the\n"
	      "                        signing key (okp, with d); '-' reads standard input\n"
	      "      --keyring K       take both keys from the kernel keyring instead (the\n"
	      "                        signing key must have been added --with-private)\n"
	      "      --enc-kid KID     master key to use (needed when there are several)\n"
	      "      --sign-kid KID    signing key to use (needed when there are several)\n"
	      "  -v, --version 1|2     1: each tensor is one AEAD message; 2 (default):\n"
	      "                        tensors are sealed in chunks, readable piecewise\n"
	      "  -a, --alg ALG         aes128gcm, aes256gcm or chacha20poly1305\n"
	      "                        (default: the master key's algorithm)\n"
	      "  -c, --chunk-size N    version 2 chunk size in bytes, K/M/G suffixes\n"
	      "                        allowed (default 2097152)\n"
	      "  -t, --tensors LIST    encrypt only these tensors (comma-separated names);\n"
	      "                        the others stay in plaintext\n"
	      "  -h, --help            this text\n", out);
}

struct encrypt_opts {
	const char *in, *out, *keys, *keyring, *enc_kid, *sign_kid, *alg, *tensors;
	int version;
	uint64_t chunk_size;
	bool chunk_given;
};

static int parse(int argc, char **argv, struct encrypt_opts *o)
{
	enum { OPT_KEYRING = 256, OPT_ENC_KID, OPT_SIGN_KID };
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'K' },
		{ "keyring", required_argument, NULL, OPT_KEYRING },
		{ "enc-kid", required_argument, NULL, OPT_ENC_KID },
		{ "sign-kid", required_argument, NULL, OPT_SIGN_KID },
		{ "version", required_argument, NULL, 'v' },
		{ "alg", required_argument, NULL, 'a' },
		{ "chunk-size", required_argument, NULL, 'c' },
		{ "tensors", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "K:v:a:c:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'K':
			o->keys = optarg;
			break;
		case OPT_KEYRING:
			o->keyring = optarg;
			break;
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
			o->tensors = optarg;
			break;
		default:
			return tool_usage("encrypt", "unknown option or missing argument: %s",
					  argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return tool_usage("encrypt", "expected IN and OUT");
	o->in = argv[optind];
	o->out = argv[optind + 1];
	if (!o->keys == !o->keyring)
		return tool_usage("encrypt", "give exactly one of --keys FILE and --keyring K");
	if (o->chunk_given && o->version == 1)
		return tool_usage("encrypt", "--chunk-size applies to version 2 only");
	return 0;
}

/* "a,b,c" -> NULL-terminated array of names (pointing into *storage). */
static int split_names(const char *list, char **storage, const char ***names)
{
	size_t n = 1;
	char *p;

	for (const char *s = list; *s; s++)
		n += *s == ',';
	*storage = strdup(list);
	*names = calloc(n + 1, sizeof(**names));
	if (!*storage || !*names)
		return -ENOMEM;
	n = 0;
	for (p = *storage;; p++) {
		char *comma = strchr(p, ',');

		if (comma)
			*comma = 0;
		if (!*p)
			return -EINVAL;
		(*names)[n++] = p;
		if (!comma)
			break;
		p = comma;
	}
	return 0;
}

/* The keys, copied out of a JWK set or the keyring into *master / *signer. */
struct key_pair {
	struct ctfs_jwk *set;
	size_t n;
	struct ctfs_jwk master, signer;  /* used when reading the keyring */
	const struct ctfs_jwk *m, *s;
};

static const struct ctfs_jwk *pick(const struct key_pair *kp, enum ctfs_kty kty, const char *kid,
				   const char *what, const char *path)
{
	const struct ctfs_jwk *k = ctfs_jwk_find(kp->set, kp->n, kty, kid);
	size_t count = 0;

	if (k)
		return k;
	for (size_t i = 0; i < kp->n; i++)
		count += kp->set[i].kty == kty;
	if (kid)
		tool_err("%s: no %s with kid '%s'", path, what, kid);
	else if (count)
		tool_err("%s: several %ss; choose one with --%s-kid", path, what,
			 kty == CTFS_KTY_OCT ? "enc" : "sign");
	else
		tool_err("%s: no %s", path, what);
	return NULL;
}

static int keys_from_file(const struct encrypt_opts *o, struct key_pair *kp)
{
	if (tool_load_jwks(o->keys, &kp->set, &kp->n))
		return -EINVAL;
	kp->m = pick(kp, CTFS_KTY_OCT, o->enc_kid, "master key (oct)", o->keys);
	kp->s = pick(kp, CTFS_KTY_OKP, o->sign_kid, "signing key (okp)", o->keys);
	return kp->m && kp->s ? 0 : -ENOKEY;
}

static int keys_from_keyring(const struct encrypt_opts *o, struct key_pair *kp)
{
	char err[256] = "";
	key_serial_t ring;
	int rc = ctfs_keyring_resolve(o->keyring, &ring);

	if (rc) {
		tool_err("keyring %s: %s", o->keyring, strerror(-rc));
		return rc;
	}
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

static int encrypt(const struct encrypt_opts *o, const struct key_pair *kp)
{
	struct ctfs_ct_write_opts w = {
		.version = o->version,
		.chunk_size = o->chunk_size,
		.master = kp->m,
		.signer = kp->s,
	};
	const char **names = NULL;
	char *storage = NULL, err[512] = "";
	int rc = choose_alg(o, kp->m, &w.alg);

	if (rc)
		return rc;
	if (o->tensors) {
		rc = split_names(o->tensors, &storage, &names);
		if (rc) {
			free(storage);
			free(names);
			return rc == -EINVAL ? tool_usage("encrypt", "empty name in --tensors") :
			       (tool_err("out of memory"), TOOL_FAIL);
		}
		w.tensors = names;
	}
	rc = ctfs_ct_encrypt_file(o->in, o->out, &w, err, sizeof(err));
	if (rc)
		tool_err("%s: %s", o->in, *err ? err : strerror(-rc));
	else
		printf("encrypted %s -> %s (CryptoTensors v%d, %s%s)\n", o->in, o->out,
		       o->version ? o->version : 2, ctfs_alg_name(w.alg),
		       o->tensors ? ", selected tensors" : ", all tensors");
	free(storage);
	free(names);
	return rc ? TOOL_FAIL : TOOL_OK;
}

static int run(int argc, char **argv)
{
	struct encrypt_opts o = { 0 };
	struct key_pair kp = { 0 };
	int rc;

	if (tool_wants_help(argc, argv)) {
		help(stdout);
		return TOOL_OK;
	}
	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	rc = o.keys ? keys_from_file(&o, &kp) : keys_from_keyring(&o, &kp);
	rc = rc ? TOOL_FAIL : encrypt(&o, &kp);
	keys_free(&kp);
	return rc;
}

const struct tool_cmd tool_cmd_encrypt = {
	.name = "encrypt",
	.summary = "encrypt and sign a safetensors file (CryptoTensors v1/v2)",
	.run = run,
	.help = help,
};
