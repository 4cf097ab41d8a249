/* ctfs-tool key add|list|remove: JWKs in the kernel keyring, where the ctfs
 * daemon looks them up by kid ("user" keys described "ctfs:<kid>"). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "keys/keyring.h"
#include "trust/binding.h"
#include "trust/thumbprint.h"
#include "tool.h"
#include "util.h"

int tool_key_fetch(int argc, char **argv);

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool key add [--keyring K] [--with-private] [--signer KEYS]... FILE|-\n"
	      "       ctfs-tool key list [--keyring K]\n"
	      "       ctfs-tool key remove [--keyring K] KID\n"
	      "       ctfs-tool key fetch --server URL --cert C --key K --ca CA MODEL\n"
	      "\n"
	      "Manage the keys ctfs reads from the kernel keyring. Each key is a \"user\"\n"
	      "key described \"ctfs:<kid>\" (\"ctfs:default\" for a key without kid)\n"
	      "whose payload is the JWK.\n"
	      "\n"
	      "  add      store every key of a JWK or a JWK set ({\"keys\":[...]}) read from\n"
	      "           FILE, or from standard input with '-'. A master key (oct) is stored\n"
	      "           with its k; a signing key (okp) without its private d, which\n"
	      "           ctfs does not need, unless --with-private is given (for\n"
	      "           encrypting with keys from the keyring). A key with the same kid\n"
	      "           is replaced.\n"
	      "           A master key is stored with the list of signers allowed to sign\n"
	      "           the files it protects (member \"ctfs_signers\": RFC 7638\n"
	      "           thumbprints): the one it already has, else the signing keys of\n"
	      "           the same FILE, plus those of every --signer KEYS file. ctfs\n"
	      "           refuses (EKEYREJECTED) a file signed by any other key, and a\n"
	      "           master key stored without the list.\n"
	      "  list     kid, type, algorithm, whether a secret is stored and the\n"
	      "           thumbprint (okp) or allowed signers (oct), for each ctfs key\n"
	      "           linked in the keyring. Key material is never printed.\n"
	      "  remove   unlink the key KID from the keyring.\n"
	      "  fetch    get the master key of MODEL from a key service (ctfs-keyd);\n"
	      "           'ctfs-tool key fetch --help' for its options.\n"
	      "\n"
	      "Options:\n"
	      "  -k, --keyring K     @u (user keyring, the default), @s, @us, @p, @t,\n"
	      "                      a keyring serial, or %:NAME / NAME for a named keyring\n"
	      "                      reachable from the session keyring\n"
	      "      --with-private  add: also store the d of okp keys\n"
	      "      --signer KEYS   add: also allow the signing keys of the JWK (set) KEYS\n"
	      "                      to sign files of the master keys added (repeatable)\n"
	      "      --signer-subject SUBJECT  add: also allow signers whose certificate\n"
	      "                      (validated to a -o trust= CA) has this subject, in\n"
	      "                      OpenSSL's one-line form, e.g. \"/CN=vendor-a signer\"\n"
	      "                      (member ctfs_signer_subjects; repeatable)\n"
	      "  -h, --help          this text\n", out);
}

#define MAX_SIGNER_FILES 16

struct key_opts {
	const char *keyring;
	bool with_private;
	const char *signers[MAX_SIGNER_FILES];
	size_t n_signers;
	const char *subjects[MAX_SIGNER_FILES];
	size_t n_subjects;
};

/* Options of every key subcommand; returns the index of the first operand. */
static int parse(int argc, char **argv, const char *cmd, struct key_opts *o, bool add)
{
	enum { OPT_WITH_PRIVATE = 256, OPT_SIGNER, OPT_SUBJECT };	/* -p is --policy elsewhere */
	static const struct option longopts[] = {
		{ "keyring", required_argument, NULL, 'k' },
		{ "with-private", no_argument, NULL, OPT_WITH_PRIVATE },
		{ "signer", required_argument, NULL, OPT_SIGNER },
		{ "signer-subject", required_argument, NULL, OPT_SUBJECT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->keyring = optarg;
			break;
		case OPT_WITH_PRIVATE:
			if (!add)
				return -tool_usage(cmd, "--with-private only applies to 'key add'");
			o->with_private = true;
			break;
		case OPT_SUBJECT:
			if (!add)
				return -tool_usage(cmd, "--signer-subject only applies to 'key add'");
			if (o->n_subjects == MAX_SIGNER_FILES)
				return -tool_usage(cmd, "at most %d --signer-subject options",
						   MAX_SIGNER_FILES);
			o->subjects[o->n_subjects++] = optarg;
			break;
		case OPT_SIGNER:
			if (!add)
				return -tool_usage(cmd, "--signer only applies to 'key add'");
			if (o->n_signers == MAX_SIGNER_FILES)
				return -tool_usage(cmd, "at most %d --signer files",
						   MAX_SIGNER_FILES);
			o->signers[o->n_signers++] = optarg;
			break;
		default:
			return -tool_usage(cmd, "unknown option or missing argument: %s",
					   argv[optind - 1]);
		}
	}
	return optind;
}

static const char *kty_name(enum ctfs_kty kty)
{
	return kty == CTFS_KTY_OCT ? "oct" : "okp";
}

/* Two keys of one set must not land on the same description. */
static int check_unique_kids(const struct ctfs_jwk *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			const char *a = keys[i].kid ? keys[i].kid : CTFS_KEYRING_DEFAULT_KID;
			const char *b = keys[j].kid ? keys[j].kid : CTFS_KEYRING_DEFAULT_KID;

			if (!strcmp(a, b)) {
				tool_err("two keys would both be stored as ctfs:%s; give them distinct kids",
					 a);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* Every master key of the set gets its signer list: its own, else the
 * set's signing keys; then the signing keys of the --signer files. */
static int bind_signers(struct ctfs_jwk *keys, size_t n, const struct key_opts *o)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++)
		rc = ctfs_binding_from_set(&keys[i], keys, n);
	for (size_t f = 0; !rc && f < o->n_signers; f++) {
		struct ctfs_jwk *extra = NULL;
		size_t n_extra = 0, okp = 0;

		if (tool_load_jwks(o->signers[f], &extra, &n_extra))
			return -EINVAL;
		for (size_t j = 0; !rc && j < n_extra; j++) {
			uint8_t tp[CTFS_THUMBPRINT_LEN];

			if (extra[j].kty != CTFS_KTY_OKP || !extra[j].has_pub)
				continue;
			okp++;
			ctfs_thumbprint_ed25519(extra[j].pub, tp);
			for (size_t i = 0; !rc && i < n; i++)
				if (keys[i].kty == CTFS_KTY_OCT)
					rc = ctfs_jwk_allow_signer(&keys[i], tp);
		}
		ctfs_jwk_free_set(extra, n_extra);
		if (!rc && !okp) {
			tool_err("%s: no signing (okp) key", o->signers[f]);
			rc = -EINVAL;
		}
	}
	for (size_t f = 0; !rc && f < o->n_subjects; f++)
		for (size_t i = 0; !rc && i < n; i++)
			if (keys[i].kty == CTFS_KTY_OCT)
				rc = ctfs_jwk_allow_subject(&keys[i], o->subjects[f]);
	if (rc == -E2BIG)
		tool_err("more than %d signers for one master key", CTFS_JWK_MAX_SIGNERS);
	else if (rc == -EINVAL)
		tool_err("a --signer-subject is empty or longer than %d bytes", CTFS_JWK_SUBJECT_MAX);
	return rc;
}

static void print_added(const struct ctfs_jwk *k, bool priv, key_serial_t id)
{
	const char *kid = k->kid ? k->kid : CTFS_KEYRING_DEFAULT_KID;

	printf("added ctfs:%s (%s%s%s, %s) as key %d\n", kid, kty_name(k->kty),
	       k->alg ? " " : "", k->alg ? k->alg : "",
	       priv && k->secret ? "with secret" : "public only", (int)id);
	if (k->kty == CTFS_KTY_OCT && !k->n_signers && !k->n_subjects)
		fprintf(stderr, "ctfs-tool: warning: master key ctfs:%s allows no signer: ctfs "
			"will refuse every file it protects; add it with its signing key or "
			"--signer\n", kid);
	for (size_t s = 0; k->kty == CTFS_KTY_OCT && s < k->n_signers; s++) {
		char tp[CTFS_THUMBPRINT_TEXT];

		ctfs_thumbprint_text(k->signers[s], tp);
		printf("  allows signer %s\n", tp);
	}
	for (size_t s = 0; k->kty == CTFS_KTY_OCT && s < k->n_subjects; s++)
		printf("  allows signer certificates of subject %s\n", k->subjects[s]);
}

static int key_add(int argc, char **argv)
{
	struct key_opts o = { 0 };
	struct ctfs_jwk *keys = NULL;
	key_serial_t ring, id;
	size_t n = 0;
	int first = parse(argc, argv, "key add", &o, true), rc;

	if (first < 0)
		return -first;
	if (argc - first != 1)
		return tool_usage("key add", "expected one FILE (or '-' for standard input)");
	if (tool_keyring_open(o.keyring, &ring))
		return TOOL_FAIL;
	if (tool_load_jwks(argv[first], &keys, &n))
		return TOOL_FAIL;
	rc = n ? check_unique_kids(keys, n) : (tool_err("%s: no key", argv[first]), -EINVAL);
	if (!rc)
		rc = bind_signers(keys, n, &o);
	for (size_t i = 0; !rc && i < n; i++) {
		const struct ctfs_jwk *k = &keys[i];
		const char *kid = k->kid ? k->kid : CTFS_KEYRING_DEFAULT_KID;

		rc = ctfs_keyring_add_jwk(ring, k, o.with_private, &id);
		if (rc) {
			tool_err("cannot add ctfs:%s: %s", kid, strerror(-rc));
			break;
		}
		print_added(k, o.with_private || k->kty == CTFS_KTY_OCT, id);
	}
	ctfs_jwk_free_set(keys, n);
	return rc ? TOOL_FAIL : TOOL_OK;
}

static int print_key(void *arg, const char *kid, const struct ctfs_jwk *k)
{
	(void)arg;
	if (!k) {
		printf("%s\t?\t?\tunreadable\n", kid);
		return 0;
	}
	char tp[CTFS_THUMBPRINT_TEXT];

	printf("%s\t%s\t%s\t%s", kid, kty_name(k->kty), k->alg ? k->alg : "-",
	       k->secret_len ? "secret" : "public");
	if (k->kty == CTFS_KTY_OKP && k->has_pub) {
		uint8_t raw[CTFS_THUMBPRINT_LEN];

		ctfs_thumbprint_ed25519(k->pub, raw);
		ctfs_thumbprint_text(raw, tp);
		printf("\tthumbprint=%s", tp);
	} else if (k->kty == CTFS_KTY_OCT) {
		printf("\tsigners=");
		if (!k->has_signers)
			printf("(none: refused)");
		for (size_t s = 0; s < k->n_signers; s++) {
			ctfs_thumbprint_text(k->signers[s], tp);
			printf("%s%s", s ? "," : "", tp);
		}
		for (size_t s = 0; s < k->n_subjects; s++)
			printf("%s%s", s || k->n_signers ? "," : "", k->subjects[s]);
	}
	putchar('\n');
	return 0;
}

static int key_list(int argc, char **argv)
{
	struct key_opts o = { 0 };
	key_serial_t ring;
	int first = parse(argc, argv, "key list", &o, false), rc;

	if (first < 0)
		return -first;
	if (argc != first)
		return tool_usage("key list", "unexpected argument '%s'", argv[first]);
	if (tool_keyring_open(o.keyring, &ring))
		return TOOL_FAIL;
	rc = ctfs_keyring_list(ring, print_key, NULL);
	if (rc) {
		tool_err("cannot list keyring: %s", strerror(-rc));
		return TOOL_FAIL;
	}
	return TOOL_OK;
}

static int key_remove(int argc, char **argv)
{
	struct key_opts o = { 0 };
	key_serial_t ring;
	int first = parse(argc, argv, "key remove", &o, false), rc;

	if (first < 0)
		return -first;
	if (argc - first != 1)
		return tool_usage("key remove", "expected one KID");
	if (tool_keyring_open(o.keyring, &ring))
		return TOOL_FAIL;
	rc = ctfs_keyring_remove(ring, argv[first]);
	if (rc) {
		tool_err("cannot remove ctfs:%s: %s", argv[first],
			 rc == -ENOKEY ? "no such key in this keyring" : strerror(-rc));
		return TOOL_FAIL;
	}
	printf("removed ctfs:%s\n", argv[first]);
	return TOOL_OK;
}

static int run(int argc, char **argv)
{
	static const struct tool_sub subs[] = {
		{ "add", key_add },
		{ "list", key_list },
		{ "remove", key_remove },
		{ "fetch", tool_key_fetch },
	};

	return tool_run_sub("key", subs, CTFS_ARRAY_LEN(subs), " (add, list, remove, fetch)", help,
			    argc, argv);
}

const struct tool_cmd tool_cmd_key = {
	.name = "key",
	.summary = "add, list or remove keys in the kernel keyring",
	.run = run,
	.help = help,
};
