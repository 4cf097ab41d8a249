/* ctfs-tool key fetch: get a master key from ctfs-keyd. Run by request-key(8)
 * (--request-key, see /etc/request-key.d/ctfs.conf) it instantiates the key
 * the kernel is building, with the granted lifetime as its expiry, or
 * rejects it for a short time; run by hand it adds the key to a keyring.
 * Either way one audit line per fetch goes to --audit / audit=. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "keys/keyfetch.h"
#include "keys/keyring.h"
#include "keys/release.h"
#include "log.h"
#include "tool.h"
#include "util.h"

int tool_key_fetch(int argc, char **argv);

static void audit(const struct ctfs_keyfetch_cfg *cfg, const char *kid, const char *path,
		  const struct ctfs_keyfetch_result *res, int rc, const char *reason)
{
	cJSON *o = cJSON_CreateObject();
	char *text;
	struct timespec ts;
	int fd;

	if (!cfg->audit || !o)
		goto out;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* the mount's audit fields (time, file, enc_kid, decision, reason) first */
	if (!cJSON_AddNumberToObject(o, "time", (double)ts.tv_sec + ts.tv_nsec / 1e9) ||
	    !cJSON_AddStringToObject(o, "file", path ? path : "") ||
	    !cJSON_AddStringToObject(o, "enc_kid", kid ? kid : "") ||
	    !cJSON_AddStringToObject(o, "service", "ctfs-tool key fetch") ||
	    !cJSON_AddStringToObject(o, "decision", rc ? "deny" : "allow") ||
	    !cJSON_AddStringToObject(o, "code", rc ? (*res->code ? res->code : "client") :
				     "released") ||
	    !cJSON_AddStringToObject(o, "reason", rc ? reason : "") ||
	    !cJSON_AddNumberToObject(o, "status", res->status) ||
	    !cJSON_AddStringToObject(o, "errno", rc ? strerrorname_np(-rc) : "") ||
	    !cJSON_AddStringToObject(o, "fleet", cfg->fleet ? cfg->fleet : "") ||
	    !cJSON_AddStringToObject(o, "server", cfg->server ? cfg->server : "") ||
	    !cJSON_AddNumberToObject(o, "lifetime", rc ? 0 : res->lifetime))
		goto out;
	text = cJSON_PrintUnformatted(o);
	fd = text ? open(cfg->audit, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)
		  : -1;
	if (fd >= 0) {
		size_t len = strlen(text);

		text[len] = '\n'; /* one write(2) per record */
		if (write(fd, text, len + 1) != (ssize_t)len + 1)
			ctfs_err("audit record not written to %s", cfg->audit);
		text[len] = 0;
		close(fd);
	} else {
		ctfs_err("cannot write the audit record to %s", cfg->audit);
	}
	cJSON_free(text);
out:
	cJSON_Delete(o);
}

static int fetch(const struct ctfs_keyfetch_cfg *cfg, const char *path, const uint8_t *sha,
		 const char *kid, struct ctfs_jwk *key, struct ctfs_keyfetch_result *res)
{
	char err[512] = "";
	int rc = ctfs_keyfetch_fetch(cfg, path, sha, kid, key, res, err, sizeof(err));

	if (rc)
		ctfs_err("key fetch %s kid=%s: %s (%s)", path, kid, err, strerror(-rc));
	else
		ctfs_info("key fetch %s kid=%s: released for %u s by %s", path, kid, res->lifetime,
			  cfg->server);
	audit(cfg, kid, path, res, rc, err);
	return rc;
}

/* request-key(8) runs this as root whoever asked: after taking the
 * construction's authority, become the requester (the key's uid and gid),
 * so that the files the callout names (client key, model, audit) are
 * opened with the requester's rights, never root's: an unprivileged user
 * cannot borrow the machine's identity through request_key(2). */
static int become_requester(const char *uid_s, const char *gid_s)
{
	char *e1, *e2;
	unsigned long uid = strtoul(uid_s, &e1, 10), gid = strtoul(gid_s, &e2, 10);

	if (*e1 || *e2 || e1 == uid_s || e2 == gid_s || uid > 0xfffffffe || gid > 0xfffffffe)
		return -EINVAL;
	if (getuid() == uid && geteuid() == uid && getgid() == gid && getegid() == gid)
		return 0;
	if (setgroups(0, NULL) || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid))
		return -errno;
	return 0;
}

/* request-key(8) mode: argv = KEYID DESCRIPTION CALLOUT UID GID. */
static int from_request_key(char **argv)
{
	key_serial_t id = (key_serial_t)atoi(argv[0]);
	struct ctfs_keyfetch_result res = { 0 };
	struct ctfs_keyfetch_cfg cfg;
	struct ctfs_jwk key = { 0 };
	struct ctfs_buf payload = { 0 };
	const char *path, *kid;
	uint8_t sha[32];
	int has_sha, rc;

	ctfs_log_init("ctfs-tool", true, false);
	if (id <= 0 || keyctl_assume_authority(id) < 0) {
		ctfs_err("key fetch: cannot assume authority over key %s: %s", argv[0],
			 strerror(errno));
		return TOOL_FAIL;
	}
	rc = become_requester(argv[3], argv[4]);
	if (rc) {
		ctfs_err("key fetch: cannot become uid %s gid %s: %s", argv[3], argv[4],
			 strerror(-rc));
		keyctl_reject(id, CTFS_KEYFETCH_NEG_TTL, EACCES, 0);
		return TOOL_FAIL;
	}
	if (strncmp(argv[1], CTFS_KEYRING_PREFIX, strlen(CTFS_KEYRING_PREFIX)) ||
	    ctfs_keyfetch_callout_parse(argv[2], &cfg, &path, sha, &has_sha)) {
		ctfs_err("key fetch: malformed request for '%s'", argv[1]);
		keyctl_reject(id, CTFS_KEYFETCH_NEG_TTL, EINVAL, 0);
		return TOOL_FAIL;
	}
	kid = argv[1] + strlen(CTFS_KEYRING_PREFIX);
	rc = fetch(&cfg, path, has_sha ? sha : NULL, kid, &key, &res);
	if (!rc)
		rc = ctfs_jwk_to_json(&key, true, &payload);
	/* The expiry is set while this process holds the construction's
	 * authority; instantiating keeps it. */
	if (!rc && keyctl_set_timeout(id, res.lifetime) < 0)
		rc = -errno;
	if (!rc && keyctl_instantiate(id, payload.data, payload.len, 0) < 0)
		rc = -errno;
	if (payload.data)
		sodium_memzero(payload.data, payload.cap);
	ctfs_buf_free(&payload);
	ctfs_jwk_clear(&key);
	if (rc) {
		unsigned ttl = cfg.neg_ttl ? cfg.neg_ttl : CTFS_KEYFETCH_NEG_TTL;

		keyctl_reject(id, ttl, (unsigned)(rc == -EACCES || rc == -EKEYREJECTED ? -rc :
						  ENOKEY), 0);
		return TOOL_FAIL;
	}
	return TOOL_OK;
}

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool key fetch --server URL --cert FILE --key FILE --ca FILE\n"
	      "                           [--fleet NAME] [--audit FILE] [--keyring K]\n"
	      "                           [--timeout SEC] [--request] MODEL\n"
	      "       ctfs-tool key fetch --request-key KEYID DESCRIPTION CALLOUT UID GID\n"
	      "\n"
	      "Ask the key service (ctfs-keyd) for the master key of the CryptoTensors file\n"
	      "MODEL, presenting the client certificate, and add it to the keyring (@u by\n"
	      "default) as ctfs:<kid> with the lifetime the service granted as expiry.\n"
	      "With --request the key is asked of the kernel (request_key(2)), as the ctfs\n"
	      "daemon does: request-key(8) then runs this command with --request-key,\n"
	      "through /etc/request-key.d/ctfs.conf, and a refusal is remembered for\n"
	      "10 seconds (a negative key).\n"
	      "\n"
	      "Options:\n"
	      "      --server URL     the key service, https://HOST[:PORT]\n"
	      "      --cert FILE      this machine's client certificate (PEM)\n"
	      "      --key FILE       its private key (PEM)\n"
	      "      --ca FILE        CA certificate(s) the service's certificate chains to\n"
	      "      --fleet NAME     the fleet this machine asks for\n"
	      "      --audit FILE     append one JSON line per fetch (mode 0600)\n"
	      "      --keyring K      where the key goes (default @u)\n"
	      "      --timeout SEC    for connect, TLS and the answer (default 10)\n"
	      "      --request        ask the kernel (request_key(2)), as the mount does\n"
	      "      --request-key    run by request-key(8): KEYID DESCRIPTION CALLOUT UID GID\n"
	      "  -h, --help           this text\n", out);
}

/* The master kid of the file at path, from its header. */
static int file_kid(const char *path, char *kid, char *err, size_t errlen)
{
	struct ctfs_release_hdr rh;
	uint8_t pre[8], *hdr = NULL;
	uint64_t n = 0;
	off_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		ctfs_seterr(err, errlen, "%s", strerror(errno));
		return -errno;
	}
	size = lseek(fd, 0, SEEK_END);
	rc = size < 10 || ctfs_pread_full(fd, pre, 8, 0) ? -EINVAL : 0;
	if (!rc)
		n = ctfs_load_le64(pre);
	if (!rc && (n < 2 || n > CTFS_RELEASE_MAX_HEADER - 8 || n > (uint64_t)size - 8))
		rc = -EINVAL;
	if (!rc && !(hdr = malloc(n + 8)))
		rc = -ENOMEM;
	if (!rc && ctfs_pread_full(fd, hdr, n + 8, 0))
		rc = -EIO;
	if (!rc)
		rc = ctfs_release_hdr_parse(hdr, n + 8, (uint64_t)size, &rh, err, errlen);
	if (!rc) {
		snprintf(kid, CTFS_RELEASE_NAME_BUF, "%s", rh.ci->enc_kid ? rh.ci->enc_kid : "");
		ctfs_release_hdr_free(&rh);
	}
	free(hdr);
	close(fd);
	return rc;
}

static int by_hand(struct ctfs_keyfetch_cfg *cfg, const char *keyring, bool request,
		   const char *path)
{
	struct ctfs_keyfetch_result res = { 0 };
	struct ctfs_jwk key = { 0 };
	key_serial_t ring, id;
	char err[512] = "", kid[CTFS_RELEASE_NAME_BUF] = "";
	char abs[PATH_MAX];
	int rc;

	if (tool_keyring_open(keyring, &ring))
		return TOOL_FAIL;
	rc = file_kid(path, kid, err, sizeof(err));
	if (rc || !ctfs_release_name_ok(kid)) {
		tool_err("%s: not a CryptoTensors file with a master kid a key service can serve%s%s",
			 path, *err ? ": " : "", err);
		return TOOL_FAIL;
	}
	if (request) {
		/* request-key(8) runs the handler elsewhere: the path must be absolute. */
		if (!realpath(path, abs)) {
			tool_err("%s: %s", path, strerror(errno));
			return TOOL_FAIL;
		}
		id = ctfs_keyfetch_request(cfg, ring, kid, abs, -1, err, sizeof(err));
		if (id < 0) {
			tool_err("%s kid=%s: %s", path, kid, err);
			return TOOL_FAIL;
		}
		printf("ctfs:%s is key %d\n", kid, (int)id);
		return TOOL_OK;
	}
	rc = fetch(cfg, path, NULL, kid, &key, &res);
	if (!rc && (rc = ctfs_keyring_add_jwk(ring, &key, true, &id)) == 0 &&
	    keyctl_set_timeout(id, res.lifetime) < 0)
		rc = -errno;
	ctfs_jwk_clear(&key);
	if (rc) {
		tool_err("%s kid=%s: key not fetched (%s); see the log line above", path, kid,
			 strerror(-rc));
		return TOOL_FAIL;
	}
	printf("added ctfs:%s as key %d, expires in %u s\n", kid, (int)id, res.lifetime);
	return TOOL_OK;
}

int tool_key_fetch(int argc, char **argv)
{
	static const struct option o[] = {
		{ "server", 1, NULL, 's' }, { "cert", 1, NULL, 'c' }, { "key", 1, NULL, 'y' },
		{ "ca", 1, NULL, 'a' }, { "fleet", 1, NULL, 'f' }, { "audit", 1, NULL, 'A' },
		{ "keyring", 1, NULL, 'k' }, { "timeout", 1, NULL, 't' },
		{ "request", 0, NULL, 'r' }, { "request-key", 0, NULL, 'R' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct ctfs_keyfetch_cfg cfg = { 0 };
	const char *keyring = NULL;
	bool request = false, rk = false;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", o, NULL)) != -1) {
		switch (c) {
		case 's': cfg.server = optarg; break;
		case 'c': cfg.cert = optarg; break;
		case 'y': cfg.key = optarg; break;
		case 'a': cfg.ca = optarg; break;
		case 'f': cfg.fleet = optarg; break;
		case 'A': cfg.audit = optarg; break;
		case 'k': keyring = optarg; break;
		case 'r': request = true; break;
		case 'R': rk = true; break;
		case 't':
			cfg.timeout = (unsigned)atoi(optarg);
			if (cfg.timeout < 1 || cfg.timeout > 3600)
				return tool_usage("key fetch", "--timeout: 1 to 3600 seconds");
			break;
		case 'h':
			help(stdout);
			return TOOL_OK;
		default:
			return tool_usage("key fetch", "unknown option or missing argument: %s",
					  argv[optind - 1]);
		}
	}
	if (rk)
		return argc - optind == 5 ? from_request_key(argv + optind)
			: tool_usage("key fetch", "--request-key takes KEYID DESCRIPTION CALLOUT "
				     "UID GID");
	if (argc - optind != 1 || !cfg.server || !cfg.cert || !cfg.key || !cfg.ca)
		return tool_usage("key fetch", "--server, --cert, --key, --ca and one MODEL needed");
	if (cfg.fleet && !ctfs_release_name_ok(cfg.fleet))
		return tool_usage("key fetch", "--fleet: 1 to 128 of [A-Za-z0-9._:@+-]");
	ctfs_log_init("ctfs-tool", false, false);
	return by_hand(&cfg, keyring, request, argv[optind]);
}
