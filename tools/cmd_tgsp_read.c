/* ctfs-tool tgsp inspect | verify | open: reading TGSP packages. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "codec/hex.h"
#include "safetensors/header_json.h"
#include "crypto/secmem.h"
#include "tgsp_cmds.h"
#include "tool.h"

#define MAX_TRUST 64

struct read_args {
	const char *pkg, *key, *out, *fleet;
	const char *trust[MAX_TRUST];
	size_t n_trust;
	bool json, require_trust, verbose, has_now;
	long long now;
};

static int parse(int argc, char **argv, const char *cmd, struct read_args *a)
{
	/* Short forms mean what they mean in every ctfs-tool command: -o the
	 * output; -k (keyring), -K (a JWK set), -f (force), -t (tensors) and
	 * -v (format version) are taken, so --key, --fleet and --verbose have
	 * none, and --trust is -T. */
	enum { O_NOW = 256, O_REQUIRE, O_JSON, O_FLEET, O_VERBOSE, O_KEY };
	static const struct option longopts[] = {
		{ "trust", required_argument, NULL, 'T' },
		{ "key", required_argument, NULL, O_KEY },
		{ "out", required_argument, NULL, 'o' },
		{ "fleet", required_argument, NULL, O_FLEET },
		{ "now", required_argument, NULL, O_NOW },
		{ "require-trust", no_argument, NULL, O_REQUIRE },
		{ "json", no_argument, NULL, O_JSON },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "T:o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'T':
			if (a->n_trust == MAX_TRUST)
				return tool_usage("tgsp", "%s: too many --trust", cmd);
			a->trust[a->n_trust++] = optarg;
			break;
		case O_KEY: a->key = optarg; break;
		case 'o': a->out = optarg; break;
		case O_FLEET: a->fleet = optarg; break;
		case O_VERBOSE: a->verbose = true; break;
		case O_REQUIRE: a->require_trust = true; break;
		case O_JSON: a->json = true; break;
		case O_NOW:
			if (tgsp_parse_time(optarg, &a->now))
				return tool_usage("tgsp", "%s: bad time '%s'", cmd, optarg);
			a->has_now = true;
			break;
		default:
			return tool_usage("tgsp", "%s: unknown option or missing argument: %s", cmd,
					  argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return tool_usage("tgsp", "%s: exactly one package is needed", cmd);
	a->pkg = argv[optind];
	if (!a->has_now)
		a->now = (long long)time(NULL);
	return 0;
}

static int read_container(const char *pkg, struct ctfs_tgsp_container **c)
{
	char err[512] = "";
	int fd = open(pkg, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		tool_err("%s: %s", pkg, strerror(errno));
		return -errno;
	}
	rc = ctfs_tgsp_container_read(fd, pkg, c, err, sizeof(err));
	close(fd);
	if (rc)
		tool_err("%s: %s", pkg, *err ? err : strerror(-rc));
	return rc;
}

static int load_trust(const struct read_args *a, struct ctfs_tgsp_trust *t)
{
	for (size_t i = 0; i < a->n_trust; i++) {
		char err[512] = "";
		int rc = ctfs_tgsp_trust_load(t, a->trust[i], err, sizeof(err));

		if (rc) {
			tool_err("%s", err);
			return rc;
		}
	}
	return 0;
}

/* Signers in the user keyring, then in the session keyring. */
static int keyring_signer(void *arg, const char *key_id, struct ctfs_tgsp_sign_pub *pub,
			  char *origin, size_t originlen)
{
	static const key_serial_t rings[] = { KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING };
	char why[200];

	(void)arg;
	for (size_t i = 0; i < CTFS_ARRAY_LEN(rings); i++) {
		int rc = ctfs_tgsp_keyring_signer(rings[i], key_id, pub, why, sizeof(why));

		if (rc == -ENOKEY)
			continue;
		if (!rc)
			snprintf(origin, originlen, "keyring key " CTFS_TGSP_KEYRING_SIGNER "%s", key_id);
		return rc;
	}
	return -ENOKEY;
}

/* --- inspect --------------------------------------------------------------------------- */

static const char *mstr(const cJSON *m, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, k);

	return cJSON_IsString(v) ? v->valuestring : "?";
}

static void print_time(const char *label, double t)
{
	time_t s = (time_t)t;
	struct tm tm;
	char buf[64];

	if (t > -1e15 && t < 1e15 && gmtime_r(&s, &tm) &&
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		printf("%s%s (%.3f)\n", label, buf, t);
	else
		printf("%s%.3f\n", label, t);
}

static void print_policy(const struct ctfs_tgsp_policy *p)
{
	if (!p->has_not_before && !p->has_not_after && !p->target_fleet && !p->problem) {
		printf("constraints:   none\n");
		return;
	}
	if (p->has_not_before)
		print_time("not before:    ", p->not_before);
	if (p->has_not_after)
		print_time("not after:     ", p->not_after);
	if (p->target_fleet)
		printf("target fleet:  %s\n", p->target_fleet);
	if (p->problem)
		printf("constraints:   unusable: %s\n", p->problem);
}

static void print_text(const struct ctfs_tgsp_container *c, int payload_rc, const char *why)
{
	cJSON *m = cJSON_ParseWithLength((const char *)c->text[TGSP_MANIFEST],
					 c->len[TGSP_MANIFEST]);
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(m, "created_at");
	struct ctfs_buf hex = { 0 };

	printf("package:       %s (%" PRIu64 " bytes, TGSP %s)\n", c->name, c->file_size,
	       CTFS_TGSP_VERSION);
	printf("crypto:        %s, %s, %s\n", CTFS_TGSP_AEAD, CTFS_TGSP_KEM, CTFS_TGSP_SIG);
	printf("model:         %s %s\n", mstr(m, "model_name"), mstr(m, "model_version"));
	printf("package id:    %s\n", mstr(m, "package_id"));
	if (c->has_author && !ctfs_hex_encode(c->author.ed25519, 8, &hex))
		printf("author:        %s (self-asserted Ed25519 key %s...)\n", mstr(m, "author_id"),
		       (const char *)hex.data);
	else
		printf("author:        %s\n", mstr(m, "author_id"));
	if (cJSON_IsNumber(created))
		print_time("created:       ", created->valuedouble);
	print_policy(&c->policy);
	printf("recipients:    %zu:", c->n_rcpt);
	for (size_t i = 0; i < c->n_rcpt; i++)
		printf(" %s", c->rcpt[i].id);
	printf("\nsigned by:     key_id %s (signatures not checked: use 'tgsp verify')\n",
	       c->key_id);
	printf("manifest hash: ok\nrecipients hash: ok\n");
	if (payload_rc)
		printf("payload:       FAILED: %s\n", why);
	else
		printf("payload:       ok, %" PRIu64 " frame(s), %" PRIu64
		       " bytes of compressed archive\n", c->n_frames, c->plain_len);
	ctfs_buf_free(&hex);
	cJSON_Delete(m);
}

static void print_json(const struct ctfs_tgsp_container *c, int payload_rc, const char *why)
{
	struct ctfs_buf b = { 0 };
	cJSON *w = cJSON_CreateString(why);
	char *whys = w ? cJSON_PrintUnformatted(w) : NULL;

	printf("{\"header\":%s,\"manifest\":%s,\"recipients\":%s,\"signature_key_id\":",
	       (const char *)c->text[TGSP_HEADER], (const char *)c->text[TGSP_MANIFEST],
	       (const char *)c->text[TGSP_RECIPIENTS]);
	if (!ctfs_json_put_string(&b, c->key_id, strlen(c->key_id)))
		fputs((const char *)b.data, stdout);
	printf(",\"payload_ok\":%s,\"payload_error\":%s,\"frames\":%" PRIu64
	       ",\"archive_bytes\":%" PRIu64 "}\n", payload_rc ? "false" : "true",
	       payload_rc && whys ? whys : "null", c->n_frames, c->plain_len);
	cJSON_free(whys);
	cJSON_Delete(w);
	ctfs_buf_free(&b);
}

int tgsp_inspect(int argc, char **argv)
{
	struct read_args a = { 0 };
	struct ctfs_tgsp_container *c;
	char why[512] = "";
	int rc = parse(argc, argv, "inspect", &a), prc;

	if (rc)
		return rc;
	if (read_container(a.pkg, &c))
		return TOOL_FAIL;
	prc = ctfs_tgsp_container_check_payload(c, why, sizeof(why));
	if (a.json)
		print_json(c, prc, why);
	else
		print_text(c, prc, why);
	ctfs_tgsp_container_free(c);
	return prc ? TOOL_FAIL : TOOL_OK;
}

/* --- verify ------------------------------------------------------------------------------ */

int tgsp_verify(int argc, char **argv)
{
	struct read_args a = { 0 };
	struct ctfs_tgsp_container *c;
	struct ctfs_tgsp_trust t = { 0 };
	char err[512] = "";
	int rc = parse(argc, argv, "verify", &a);

	if (rc)
		return rc;
	if (load_trust(&a, &t) || read_container(a.pkg, &c)) {
		ctfs_tgsp_trust_free(&t);
		return TOOL_FAIL;
	}
	rc = ctfs_tgsp_container_verify(c, &t, err, sizeof(err));
	if (rc && !a.n_trust) {
		struct ctfs_tgsp_sign_pub pub;
		char origin[256];

		/* no --trust: a signer the keyring holds for this key_id */
		if (!keyring_signer(NULL, c->key_id, &pub, origin, sizeof(origin)) &&
		    !ctfs_tgsp_trust_add(&t, &pub, c->key_id, origin))
			rc = ctfs_tgsp_container_verify(c, &t, err, sizeof(err));
	}
	if (!rc)
		rc = ctfs_tgsp_container_check_payload(c, err, sizeof(err));
	if (rc) {
		tool_err("%s: %s", a.pkg, err);
	} else {
		printf("%s: ok: structure, hashes and both signatures (signer %s, key_id %s)\n",
		       a.pkg, c->signer_origin, c->key_id);
		if (ctfs_tgsp_policy_check(&c->policy, a.fleet, (time_t)a.now, err, sizeof(err)))
			printf("%s: %s\n", a.pkg, err);
		else
			printf("%s: policy: ok%s\n", a.pkg, a.fleet ? "" : " (for no fleet id)");
	}
	ctfs_tgsp_container_free(c);
	ctfs_tgsp_trust_free(&t);
	return rc ? TOOL_FAIL : TOOL_OK;
}

/* --- open ---------------------------------------------------------------------------------- */

struct open_ctx {
	const struct ctfs_tgsp_enc_sec *key;
	const struct ctfs_tgsp_container *c;	/* read beforehand, for its author key */
	bool allow_self;
	bool used_self;
};

/* The one key given is tried on every recipient block. */
static int give_key(void *arg, const char *recipient_id, struct ctfs_tgsp_enc_sec **key)
{
	struct open_ctx *x = arg;

	(void)recipient_id;
	*key = ctfs_secure_alloc(sizeof(**key));
	if (!*key)
		return -ENOMEM;
	memcpy(*key, x->key, sizeof(**key));
	return 0;
}

static int signer_or_self(void *arg, const char *key_id, struct ctfs_tgsp_sign_pub *pub,
			  char *origin, size_t originlen)
{
	struct open_ctx *x = arg;
	int rc = keyring_signer(NULL, key_id, pub, origin, originlen);

	if (rc != -ENOKEY || !x->allow_self || !x->c->has_author)
		return rc;
	*pub = x->c->author;
	snprintf(origin, originlen, "the package's own author_pubkey (not a trusted key)");
	x->used_self = true;
	return 0;
}

int tgsp_open(int argc, char **argv)
{
	struct read_args a = { 0 };
	struct ctfs_tgsp_container *c = NULL;
	struct ctfs_tgsp_enc_sec *key = NULL;
	struct ctfs_tgsp_trust t = { 0 };
	struct ctfs_tgsp *p = NULL;
	struct open_ctx x = { 0 };
	struct ctfs_tgsp_open_opts o = { 0 };
	char err[512] = "";
	int fd = -1, rc = parse(argc, argv, "open", &a);

	if (rc)
		return rc;
	if (!a.key || !a.out)
		return tool_usage("tgsp", "open: --key PRIV and --out DIR are required");
	rc = load_trust(&a, &t) || tgsp_load_enc_sec(a.key, &key) || read_container(a.pkg, &c) ?
	     TOOL_FAIL : 0;
	if (!rc && (fd = open(a.pkg, O_RDONLY | O_CLOEXEC)) < 0) {
		tool_err("%s: %s", a.pkg, strerror(errno));
		rc = TOOL_FAIL;
	}
	if (!rc) {
		x.key = key;
		x.c = c;
		x.allow_self = !a.require_trust;
		o.trust = &t;
		o.signer_key = a.n_trust ? NULL : signer_or_self;
		o.recipient_key = give_key;
		o.arg = &x;
		o.now = (time_t)a.now;
		o.fleet = a.fleet;
		if (!a.fleet && c->policy.target_fleet) {
			fprintf(stderr, "ctfs-tool: note: %s targets fleet '%s' (not checked: no --fleet)\n",
				a.pkg, c->policy.target_fleet);
			o.fleet = c->policy.target_fleet;
		}
		if (ctfs_tgsp_open(fd, a.pkg, &o, &p, err, sizeof(err))) {
			tool_err("%s: %s", a.pkg, err);
			rc = TOOL_FAIL;
		}
	}
	if (!rc && x.used_self)
		fprintf(stderr, "ctfs-tool: WARNING: %s: signer NOT authenticated: no --trust key and "
			"no keyring key " CTFS_TGSP_KEYRING_SIGNER "%s; the signatures were only "
			"checked against the key the package names for itself\n", a.pkg, c->key_id);
	if (!rc && tgsp_extract(p, a.out, a.verbose))
		rc = TOOL_FAIL;
	ctfs_tgsp_close(p);
	if (fd >= 0)
		close(fd);
	ctfs_tgsp_container_free(c);
	ctfs_tgsp_trust_free(&t);
	ctfs_secure_free(key);
	return rc;
}
