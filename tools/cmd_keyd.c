/* ctfs-tool keyd ca|issue: a CA and certificates for a test fleet of
 * ctfs-keyd (P-256 keys, SHA-256 signatures): the service's certificate
 * (--server, with the address or name clients use) and one client
 * certificate per machine. Keys are written 0600 and never overwritten. A
 * production fleet uses the provider's own PKI; ctfs-keyd(8) also gives the
 * equivalent openssl commands. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "keys/release.h"
#include "tool.h"

#define MAX_SANS 16
#define SAN_TEXT 2048

struct keyd_opts {
	const char *out, *ca_dir, *cn, *org;
	const char *sans[MAX_SANS];
	size_t n_sans;
	unsigned days;
	bool server;
};

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool keyd ca --out DIR [--cn NAME] [--org ORG] [--days N]\n"
	      "       ctfs-tool keyd issue --ca DIR --cn NAME --out DIR [--org ORG]\n"
	      "                            [--dns NAME]... [--ip ADDR]... [--days N] [--server]\n"
	      "\n"
	      "Certificates for a test fleet of ctfs-keyd (see ctfs-keyd(8)).\n"
	      "  ca       a CA: DIR/ca.pem and DIR/ca.key (0600)\n"
	      "  issue    a certificate signed by the CA in --ca DIR: DIR/NAME.pem and\n"
	      "           DIR/NAME.key (0600). A client certificate by default (the\n"
	      "           machine's identity: subject O=ORG, CN=NAME, and its SANs);\n"
	      "           --server for the service's, whose SANs (--dns, --ip) must\n"
	      "           name the host in the clients' keyserver URL.\n"
	      "Options:\n"
	      "      --out DIR      where the files go\n"
	      "      --ca DIR       issue: the CA's directory (ca.pem, ca.key)\n"
	      "      --cn NAME      subject common name (and file name for issue)\n"
	      "      --org ORG      subject organisation\n"
	      "      --dns NAME     issue: a DNS subject alternative name (repeatable)\n"
	      "      --ip ADDR      issue: an IP subject alternative name (repeatable)\n"
	      "      --days N       validity (default 365 for a CA, 90 otherwise)\n"
	      "      --server       issue: the service's certificate (serverAuth)\n"
	      "Existing files are never overwritten.\n", out);
}

static void ssl_err(const char *what)
{
	char buf[256] = "";
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	tool_err("%s%s%s", what, *buf ? ": " : "", buf);
}

/* Create dir/name exclusively, mode mode. */
static FILE *create(const char *dir, const char *name, const char *ext, mode_t mode)
{
	char path[4096];
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		tool_err("%s: %s", path, strerror(errno));
		return NULL;
	}
	f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

static int write_pair(const char *dir, const char *name, X509 *x, EVP_PKEY *k)
{
	FILE *kf = create(dir, name, ".key", 0600), *cf;
	int ok;

	if (!kf)
		return -EEXIST;
	ok = PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL) == 1;
	ok = !fclose(kf) && ok;
	cf = ok ? create(dir, name, ".pem", 0644) : NULL;
	if (!cf) {
		char path[4096];

		/* no key without its certificate */
		snprintf(path, sizeof(path), "%s/%s.key", dir, name);
		unlink(path);
		return -EIO;
	}
	ok = PEM_write_X509(cf, x) == 1;
	ok = !fclose(cf) && ok;
	if (!ok)
		ssl_err("cannot write the certificate");
	return ok ? 0 : -EIO;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = e && X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok ? 0 : -EINVAL;
}

/* A random positive 127-bit serial. */
static int set_serial(X509 *x)
{
	unsigned char r[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -EIO;
	r[0] &= 0x7f;
	r[0] |= 0x40;
	bn = BN_bin2bn(r, sizeof(r), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	return ok ? 0 : -EIO;
}

static int set_names(X509 *x, const struct keyd_opts *o, X509 *issuer)
{
	X509_NAME *n = X509_get_subject_name(x);

	if ((o->org && !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
						   (const unsigned char *)o->org, -1, -1, 0)) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)o->cn, -1,
					-1, 0))
		return -EINVAL;
	return X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)) ? 0 : -EINVAL;
}

static int extensions(X509 *x, X509 *issuer, const struct keyd_opts *o, bool ca)
{
	char san[SAN_TEXT] = "";
	int rc;

	for (size_t i = 0; i < o->n_sans; i++)
		snprintf(san + strlen(san), sizeof(san) - strlen(san), "%s%s", i ? "," : "",
			 o->sans[i]);
	rc = add_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" :
		     "critical,CA:FALSE");
	if (!rc)
		rc = add_ext(x, issuer, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" :
			     "critical,digitalSignature");
	if (!rc && !ca)
		rc = add_ext(x, issuer, NID_ext_key_usage, o->server ? "serverAuth" : "clientAuth");
	if (!rc)
		rc = add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (!rc && !ca)
		rc = add_ext(x, issuer, NID_authority_key_identifier, "keyid");
	if (!rc && *san)
		rc = add_ext(x, issuer, NID_subject_alt_name, san);
	return rc;
}

/* A certificate for a fresh P-256 key, signed by (ca_cert, ca_key), or
 * self-signed when ca_cert is NULL. */
static int make_cert(const struct keyd_opts *o, X509 *ca_cert, EVP_PKEY *ca_key,
		     const char *name)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	int rc = k && x ? 0 : -ENOMEM;

	if (!rc && (!X509_set_version(x, 2) || set_serial(x) ||
		    !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
		    !X509_gmtime_adj(X509_getm_notAfter(x), (long)o->days * 86400) ||
		    !X509_set_pubkey(x, k) || set_names(x, o, ca_cert)))
		rc = -EINVAL;
	if (!rc)
		rc = extensions(x, ca_cert ? ca_cert : x, o, !ca_cert);
	if (!rc && !X509_sign(x, ca_key ? ca_key : k, EVP_sha256()))
		rc = -EINVAL;
	if (rc)
		ssl_err("cannot build the certificate");
	else
		rc = write_pair(o->out, name, x, k);
	if (!rc)
		printf("wrote %s/%s.pem and %s/%s.key (subject %s%s%sCN=%s, %u days)\n", o->out,
		       name, o->out, name, o->org ? "O=" : "", o->org ? o->org : "",
		       o->org ? "," : "", o->cn, o->days);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static int add_san(struct keyd_opts *o, const char *kind, const char *v)
{
	static char buf[MAX_SANS][300];
	unsigned char a[16];

	if (o->n_sans == MAX_SANS || strlen(v) > 250 || strchr(v, ','))
		return tool_usage("keyd issue", "at most %d SANs of at most 250 characters, no ','",
				  MAX_SANS);
	if (!strcmp(kind, "IP") && inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1)
		return tool_usage("keyd issue", "--ip %s: not an IPv4 or IPv6 address", v);
	snprintf(buf[o->n_sans], sizeof(buf[0]), "%s:%s", kind, v);
	o->sans[o->n_sans] = buf[o->n_sans];
	o->n_sans++;
	return 0;
}

static int parse(int argc, char **argv, const char *cmd, struct keyd_opts *o)
{
	static const struct option lo[] = {
		{ "out", 1, NULL, 'o' }, { "ca", 1, NULL, 'c' }, { "cn", 1, NULL, 'n' },
		{ "org", 1, NULL, 'g' }, { "dns", 1, NULL, 'D' }, { "ip", 1, NULL, 'I' },
		{ "days", 1, NULL, 'd' }, { "server", 0, NULL, 's' }, { NULL, 0, NULL, 0 },
	};
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case 'o': o->out = optarg; break;
		case 'c': o->ca_dir = optarg; break;
		case 'n': o->cn = optarg; break;
		case 'g': o->org = optarg; break;
		case 'D': rc = add_san(o, "DNS", optarg); break;
		case 'I': rc = add_san(o, "IP", optarg); break;
		case 's': o->server = true; break;
		case 'd':
			o->days = (unsigned)atoi(optarg);
			if (o->days < 1 || o->days > 3650)
				return tool_usage(cmd, "--days: 1 to 3650");
			break;
		default:
			return tool_usage(cmd, "unknown option or missing argument: %s",
					  argv[optind - 1]);
		}
		if (rc)
			return rc;
	}
	if (optind != argc || !o->out)
		return tool_usage(cmd, "--out DIR is required, and no operand is taken");
	return 0;
}

static int keyd_ca(int argc, char **argv)
{
	struct keyd_opts o = { .cn = "ctfs fleet CA", .days = 365 };
	int rc = parse(argc, argv, "keyd ca", &o);

	if (rc)
		return rc;
	if (o.ca_dir || o.n_sans || o.server)
		return tool_usage("keyd ca", "--ca, --dns, --ip and --server are for 'keyd issue'");
	return make_cert(&o, NULL, NULL, "ca") ? TOOL_FAIL : TOOL_OK;
}

static int load_ca(const char *dir, X509 **cert, EVP_PKEY **key)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	f = fopen(path, "re");
	*cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	f = *cert ? fopen(path, "re") : NULL;
	*key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (*key && X509_check_private_key(*cert, *key) == 1)
		return 0;
	ssl_err("cannot load a matching ca.pem and ca.key from --ca");
	return -EINVAL;
}

static int keyd_issue(int argc, char **argv)
{
	struct keyd_opts o = { .days = 90 };
	X509 *ca = NULL;
	EVP_PKEY *ca_key = NULL;
	int rc = parse(argc, argv, "keyd issue", &o);

	if (rc)
		return rc;
	if (!o.ca_dir || !o.cn)
		return tool_usage("keyd issue", "--ca DIR and --cn NAME are required");
	if (!ctfs_release_name_ok(o.cn))
		return tool_usage("keyd issue", "--cn names the files: 1 to 128 of [A-Za-z0-9._:@+-]");
	if (load_ca(o.ca_dir, &ca, &ca_key)) {
		rc = TOOL_FAIL;
	} else {
		rc = make_cert(&o, ca, ca_key, o.cn) ? TOOL_FAIL : TOOL_OK;
	}
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}

static int run(int argc, char **argv)
{
	static const struct tool_sub subs[] = {
		{ "ca", keyd_ca },
		{ "issue", keyd_issue },
	};

	return tool_run_sub("keyd", subs, CTFS_ARRAY_LEN(subs), " (ca, issue)", help, argc, argv);
}

const struct tool_cmd tool_cmd_keyd = {
	.name = "keyd",
	.summary = "make a CA and certificates for a test fleet of ctfs-keyd",
	.run = run,
	.help = help,
};
