/* Command-line access to the post-quantum primitives, for cross-checks
 * against other implementations (tests/test_pq_noble.py). Test helper
 * only: it prints secret keys.
 *
 *   pq_tool mlkem-keygen               -> pk, sk
 *   pq_tool mlkem-keygen-seed SEED     -> pk, sk   (SEED = d || z)
 *   pq_tool mlkem-encaps PK            -> ct, ss
 *   pq_tool mlkem-encaps-derand PK M   -> ct, ss
 *   pq_tool mlkem-decaps SK CT         -> ss
 *   pq_tool mldsa-keygen               -> pk, sk
 *   pq_tool mldsa-keygen-seed SEED     -> pk, sk   (SEED = xi, 32 bytes)
 *   pq_tool mldsa-sign SK MSG          -> sig      (hedged, empty context)
 *   pq_tool mldsa-sign-det SK MSG      -> sig      (deterministic, empty context)
 *   pq_tool mldsa-verify PK MSG SIG    -> nothing; exit 0 iff the signature is valid
 *
 * Values are hex, one per output line. An argument "-" is read as one line
 * from standard input instead. Exit status: 0 done, 1 the operation refused
 * its input, 2 usage error.
 *
 * To add a subcommand, write a cmd_ function and list it in commands[]. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec/hex.h"
#include "pq/mldsa65.h"
#include "pq/mlkem768.h"

struct arg {
	uint8_t *p;
	size_t len;
};

/* Reads an argument's hex (or a stdin line for "-"); exactly len bytes
 * unless len is 0, which accepts any length. */
static int get_hex(struct arg *a, const char *text, size_t len)
{
	char *line = NULL;
	size_t cap = 0, hexlen;
	int rc = -EINVAL;

	a->p = NULL;
	a->len = 0;
	if (!strcmp(text, "-")) {
		ssize_t n = getline(&line, &cap, stdin);

		if (n < 0) {
			free(line);
			return -EIO;
		}
		line[strcspn(line, "\r\n")] = 0;
		text = line;
	}
	hexlen = strlen(text);
	a->p = malloc(hexlen / 2 + 1);
	if (!a->p) {
		rc = -ENOMEM;
		goto out;
	}
	if (hexlen % 2 || ctfs_hex_decode(text, hexlen, a->p, hexlen / 2) ||
	    (len && hexlen / 2 != len)) {
		free(a->p);
		a->p = NULL;
		goto out;
	}
	a->len = hexlen / 2;
	rc = 0;
out:
	free(line);
	return rc;
}

static void arg_free(struct arg *a)
{
	if (a->p)
		sodium_memzero(a->p, a->len);
	free(a->p);
	a->p = NULL;
}

static int put_hex(const uint8_t *p, size_t len)
{
	char *hex = malloc(2 * len + 1);

	if (!hex)
		return -ENOMEM;
	sodium_bin2hex(hex, 2 * len + 1, p, len);
	puts(hex);
	sodium_memzero(hex, 2 * len + 1);
	free(hex);
	return 0;
}

/* Prints pk and sk unless rc, the key generation's result, is an error;
 * wipes sk either way. */
static int put_keypair(int rc, const uint8_t *pk, size_t pklen, uint8_t *sk, size_t sklen)
{
	if (!rc)
		rc = put_hex(pk, pklen);
	if (!rc)
		rc = put_hex(sk, sklen);
	sodium_memzero(sk, sklen);
	return rc;
}

/* A random key pair, or the one derived from seed when it is not NULL. */
static int mlkem_keygen(const struct arg *seed)
{
	static uint8_t pk[CTFS_MLKEM768_PK_BYTES], sk[CTFS_MLKEM768_SK_BYTES];
	int rc;

	if (seed)
		rc = ctfs_mlkem768_keypair_from_seed(pk, sk, seed->p, seed->len);
	else
		rc = ctfs_mlkem768_keypair(pk, sk);
	return put_keypair(rc, pk, sizeof(pk), sk, sizeof(sk));
}

static int cmd_mlkem_keygen(char **argv)
{
	(void)argv;
	return mlkem_keygen(NULL);
}

static int cmd_mlkem_keygen_seed(char **argv)
{
	struct arg seed;
	int rc;

	rc = get_hex(&seed, argv[0], 0);
	if (!rc)
		rc = mlkem_keygen(&seed);
	arg_free(&seed);
	return rc;
}

/* Encapsulation to pk, with message m when it is not NULL. */
static int mlkem_encaps(const char *pk_text, const struct arg *m)
{
	static uint8_t ct[CTFS_MLKEM768_CT_BYTES];
	uint8_t ss[CTFS_MLKEM768_SS_BYTES];
	struct arg pk;
	int rc;

	rc = get_hex(&pk, pk_text, 0);
	if (!rc && m)
		rc = ctfs_mlkem768_encaps_derand_sized(ct, ss, pk.p, pk.len, m->p);
	else if (!rc)
		rc = ctfs_mlkem768_encaps_sized(ct, ss, pk.p, pk.len);
	if (!rc)
		rc = put_hex(ct, sizeof(ct));
	if (!rc)
		rc = put_hex(ss, sizeof(ss));
	sodium_memzero(ss, sizeof(ss));
	arg_free(&pk);
	return rc;
}

static int cmd_mlkem_encaps(char **argv)
{
	return mlkem_encaps(argv[0], NULL);
}

static int cmd_mlkem_encaps_derand(char **argv)
{
	struct arg m;
	int rc;

	rc = get_hex(&m, argv[1], 32);
	if (!rc)
		rc = mlkem_encaps(argv[0], &m);
	arg_free(&m);
	return rc;
}

static int cmd_mlkem_decaps(char **argv)
{
	uint8_t ss[CTFS_MLKEM768_SS_BYTES];
	struct arg sk, ct = { 0 };
	int rc;

	rc = get_hex(&sk, argv[0], 0);
	if (!rc)
		rc = get_hex(&ct, argv[1], 0);
	if (!rc)
		rc = ctfs_mlkem768_decaps_sized(ss, ct.p, ct.len, sk.p, sk.len);
	if (!rc)
		rc = put_hex(ss, sizeof(ss));
	sodium_memzero(ss, sizeof(ss));
	arg_free(&sk);
	arg_free(&ct);
	return rc;
}

/* A random ML-DSA-65 key pair, or the one derived from seed when not NULL. */
static int mldsa_keygen(const struct arg *seed)
{
	static uint8_t pk[CTFS_MLDSA65_PK_BYTES], sk[CTFS_MLDSA65_SK_BYTES];
	int rc;

	if (seed)
		rc = ctfs_mldsa65_keypair_from_seed(pk, sk, seed->p);
	else
		rc = ctfs_mldsa65_keypair(pk, sk);
	return put_keypair(rc, pk, sizeof(pk), sk, sizeof(sk));
}

static int cmd_mldsa_keygen(char **argv)
{
	(void)argv;
	return mldsa_keygen(NULL);
}

static int cmd_mldsa_keygen_seed(char **argv)
{
	struct arg seed;
	int rc;

	rc = get_hex(&seed, argv[0], CTFS_MLDSA65_SEED_BYTES);
	if (!rc)
		rc = mldsa_keygen(&seed);
	arg_free(&seed);
	return rc;
}

/* Signs with the empty context; hedged with fresh randomness unless
 * deterministic. */
static int mldsa_sign(char **argv, int deterministic)
{
	static uint8_t sig[CTFS_MLDSA65_SIG_BYTES];
	uint8_t rnd[CTFS_MLDSA65_RND_BYTES];
	struct arg sk, msg = { 0 };
	int rc;

	randombytes_buf(rnd, sizeof(rnd));
	rc = get_hex(&sk, argv[0], CTFS_MLDSA65_SK_BYTES);
	if (!rc)
		rc = get_hex(&msg, argv[1], 0);
	if (!rc)
		rc = ctfs_mldsa65_sign(sig, msg.p, msg.len, NULL, 0, sk.p,
				       deterministic ? NULL : rnd);
	if (!rc)
		rc = put_hex(sig, sizeof(sig));
	sodium_memzero(rnd, sizeof(rnd));
	arg_free(&sk);
	arg_free(&msg);
	return rc;
}

static int cmd_mldsa_sign(char **argv)
{
	return mldsa_sign(argv, 0);
}

static int cmd_mldsa_sign_det(char **argv)
{
	return mldsa_sign(argv, 1);
}

static int cmd_mldsa_verify(char **argv)
{
	struct arg pk, msg = { 0 }, sig = { 0 };
	int rc;

	rc = get_hex(&pk, argv[0], CTFS_MLDSA65_PK_BYTES);
	if (!rc)
		rc = get_hex(&msg, argv[1], 0);
	if (!rc)
		rc = get_hex(&sig, argv[2], 0);
	if (!rc)
		rc = ctfs_mldsa65_verify(sig.p, sig.len, msg.p, msg.len, NULL, 0, pk.p);
	arg_free(&pk);
	arg_free(&msg);
	arg_free(&sig);
	return rc;
}

static const struct command {
	const char *name;
	int nargs;
	const char *usage;
	int (*run)(char **argv);
} commands[] = {
	{ "mlkem-keygen", 0, "", cmd_mlkem_keygen },
	{ "mlkem-keygen-seed", 1, "SEEDHEX", cmd_mlkem_keygen_seed },
	{ "mlkem-encaps", 1, "PKHEX", cmd_mlkem_encaps },
	{ "mlkem-encaps-derand", 2, "PKHEX MHEX", cmd_mlkem_encaps_derand },
	{ "mlkem-decaps", 2, "SKHEX CTHEX", cmd_mlkem_decaps },
	{ "mldsa-keygen", 0, "", cmd_mldsa_keygen },
	{ "mldsa-keygen-seed", 1, "SEEDHEX", cmd_mldsa_keygen_seed },
	{ "mldsa-sign", 2, "SKHEX MSGHEX", cmd_mldsa_sign },
	{ "mldsa-sign-det", 2, "SKHEX MSGHEX", cmd_mldsa_sign_det },
	{ "mldsa-verify", 3, "PKHEX MSGHEX SIGHEX", cmd_mldsa_verify },
};

static int usage(void)
{
	fprintf(stderr, "usage:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  pq_tool %s %s\n", commands[i].name, commands[i].usage);
	fprintf(stderr, "(hex arguments; \"-\" reads one from a line of stdin)\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "pq_tool: libsodium failed to initialise\n");
		return 1;
	}
	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		int rc;

		if (strcmp(argv[1], commands[i].name))
			continue;
		if (argc - 2 != commands[i].nargs)
			return usage();
		rc = commands[i].run(argv + 2);
		if (rc) {
			fprintf(stderr, "pq_tool %s: %s\n", argv[1], strerror(-rc));
			return 1;
		}
		return fflush(stdout) ? 1 : 0;
	}
	return usage();
}
