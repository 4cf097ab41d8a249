/* ctfs-keyd: the key service. Settings, TLS context, the listening socket,
 * signals (SIGHUP reloads, SIGTERM stops) and the accept loop; each
 * connection is served in a thread of its own, up to --max-conn at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "crypto/secmem.h"
#include "keyd.h"
#include "log.h"

struct conn_arg {
	struct keyd *d;
	int fd;
	char peer[64];
};

static void usage(FILE *out)
{
	fputs("Usage: ctfs-keyd --listen HOST:PORT --cert FILE --key FILE --client-ca FILE\n"
	      "                 --signers FILE (--keys DIR | --pkcs11-module SO --pkcs11-token LABEL\n"
	      "                 --pkcs11-pin-file FILE) [--revoked FILE] [--data FILE]\n"
	      "                 [--audit FILE] [--lifetime SEC] [--max-conn N] [--timeout SEC]\n"
	      "                 [--max-request BYTES] [--debug]\n"
	      "       ctfs-keyd --pkcs11-module SO --pkcs11-token LABEL --pkcs11-pin-file FILE\n"
	      "                 --import JWKSET\n"
	      "Release CryptoTensors master keys to client machines over mutual TLS.\n"
	      "See ctfs-keyd(8).\n", out);
}

static int parse_args(int argc, char **argv, struct keyd *d, bool *debug)
{
	static const struct option o[] = {
		{ "listen", 1, NULL, 'l' }, { "cert", 1, NULL, 'c' }, { "key", 1, NULL, 'k' },
		{ "client-ca", 1, NULL, 'C' }, { "signers", 1, NULL, 's' }, { "keys", 1, NULL, 'K' },
		{ "revoked", 1, NULL, 'r' }, { "data", 1, NULL, 'D' }, { "audit", 1, NULL, 'a' },
		{ "lifetime", 1, NULL, 'L' }, { "max-conn", 1, NULL, 'm' }, { "timeout", 1, NULL, 't' },
		{ "max-request", 1, NULL, 'R' }, { "pkcs11-module", 1, NULL, 'P' },
		{ "pkcs11-token", 1, NULL, 'T' }, { "pkcs11-pin-file", 1, NULL, 'N' },
		{ "import", 1, NULL, 'I' }, { "debug", 0, NULL, 'd' }, { "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	unsigned v;
	int c, li = 0;

	while ((c = getopt_long(argc, argv, "h", o, &li)) != -1) {
		switch (c) {
		case 'l': d->listen = optarg; break;
		case 'c': d->cert = optarg; break;
		case 'k': d->key = optarg; break;
		case 'C': d->client_ca = optarg; break;
		case 's': d->signers_path = optarg; break;
		case 'K': d->keys_dir = optarg; break;
		case 'r': d->revoked_path = optarg; break;
		case 'D': d->data_path = optarg; break;
		case 'a': d->audit_path = optarg; break;
		case 'P': d->pkcs11_module = optarg; break;
		case 'T': d->pkcs11_token = optarg; break;
		case 'N': d->pkcs11_pin_file = optarg; break;
		case 'd': *debug = true; break;
		case 'I': d->import_path = optarg; break;
		case 'L':
			if (ctfs_parse_uint(optarg, CTFS_RELEASE_MIN_LIFETIME, CTFS_RELEASE_MAX_LIFETIME,
				       &d->lifetime))
				goto bad;
			break;
		case 'm':
			if (ctfs_parse_uint(optarg, 1, 100000, &d->max_conn))
				goto bad;
			break;
		case 't':
			if (ctfs_parse_uint(optarg, 1, 3600, &d->timeout))
				goto bad;
			break;
		case 'R':
			if (ctfs_parse_uint(optarg, 1024, (CTFS_RELEASE_MAX_HEADER / 3 + 1) * 4 + 4096, &v))
				goto bad;
			d->max_request = v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (d->import_path) {
		if (optind == argc && d->pkcs11_module)
			return 0;
		fprintf(stderr, "ctfs-keyd: --import FILE needs --pkcs11-module, --pkcs11-token "
			"and --pkcs11-pin-file, and nothing else\n");
		return -EINVAL;
	}
	if (optind != argc || !d->listen || !d->cert || !d->key || !d->client_ca ||
	    !d->signers_path || !d->keys_dir == !d->pkcs11_module) {
		fprintf(stderr, "ctfs-keyd: --listen, --cert, --key, --client-ca, --signers and "
			"one of --keys or --pkcs11-module are required\n");
		usage(stderr);
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr, "ctfs-keyd: bad value for --%s: '%s'\n", o[li].name, optarg);
	return -EINVAL;
}

/* Let the handshake finish whatever the client certificate's verdict, so
 * an expired, revoked or foreign certificate gets an answer that says why
 * and an audit record naming it; the verdict is checked before anything
 * else (SSL_get_verify_result). A client without a certificate still fails
 * the handshake. */
static int keep_verdict(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

static int tls_setup(struct keyd *d)
{
	d->ctx = SSL_CTX_new(TLS_server_method());
	if (!d->ctx || !SSL_CTX_set_min_proto_version(d->ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(d->ctx, d->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(d->ctx, d->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(d->ctx) != 1 ||
	    SSL_CTX_load_verify_locations(d->ctx, d->client_ca, NULL) != 1) {
		char buf[256];

		ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
		ctfs_err("TLS setup (--cert %s, --key, --client-ca %s): %s", d->cert,
			 d->client_ca, buf);
		return -EINVAL;
	}
	/* The CA list clients are asked to present a certificate from. */
	SSL_CTX_set_client_CA_list(d->ctx, SSL_load_client_CA_file(d->client_ca));
	SSL_CTX_set_session_cache_mode(d->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(d->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, keep_verdict);
	return 0;
}

static int listen_on(struct keyd *d)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	char host[256];
	const char *colon = strrchr(d->listen, ':');
	int one = 1, rc;

	if (!colon || (size_t)(colon - d->listen) >= sizeof(host)) {
		ctfs_err("--listen %s: want HOST:PORT", d->listen);
		return -EINVAL;
	}
	memcpy(host, d->listen, (size_t)(colon - d->listen));
	host[colon - d->listen] = 0;
	rc = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai);
	if (rc) {
		ctfs_err("--listen %s: %s", d->listen, gai_strerror(rc));
		return -EINVAL;
	}
	d->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->listen_fd < 0 ||
	    setsockopt(d->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(d->listen_fd, ai->ai_addr, ai->ai_addrlen) || listen(d->listen_fd, 128)) {
		rc = -errno;
		ctfs_err("--listen %s: %s", d->listen, strerror(-rc));
	}
	freeaddrinfo(ai);
	return rc;
}

static int load_signers(struct keyd *d)
{
	FILE *f = fopen(d->signers_path, "re");
	char buf[1 << 16], err[256] = "";
	size_t n;
	int rc;

	if (!f) {
		ctfs_err("--signers %s: %s", d->signers_path, strerror(errno));
		return -errno;
	}
	n = fread(buf, 1, sizeof(buf), f);
	rc = ferror(f) || n == sizeof(buf) ? -EINVAL : 0;
	fclose(f);
	if (!rc)
		rc = ctfs_jwk_parse_set(buf, n, &d->signers, &d->n_signers, err, sizeof(err));
	if (rc) {
		ctfs_err("--signers %s: %s", d->signers_path, *err ? err : "unreadable or over 64 KiB");
		return rc;
	}
	ctfs_keyprov_jwks(&d->signer_kp, d->signers, d->n_signers);
	return 0;
}

static void *conn_thread(void *p)
{
	struct conn_arg *a = p;

	keyd_serve(a->d, a->fd, a->peer);
	atomic_fetch_sub(&a->d->active, 1);
	free(a);
	return NULL;
}

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";

	getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host, sizeof(host), port,
		    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(out, cap, "%s:%s", host, port);
}

/* Over the connection limit: refused at once and audited, never queued. */
static void refuse_busy(struct keyd *d, int fd, const char *peer)
{
	struct keyd_client c = { .cert_ok = false };
	struct keyd_decision dec = { .status = 503, .code = "busy" };

	snprintf(c.peer, sizeof(c.peer), "%s", peer);
	snprintf(dec.reason, sizeof(dec.reason), "over %u connections at once", d->max_conn);
	keyd_audit(d, &c, &dec);
	close(fd);
}

static void start_conn(struct keyd *d, int fd, const char *peer)
{
	struct conn_arg *a;
	pthread_attr_t attr;
	pthread_t t;

	if (atomic_fetch_add(&d->active, 1) >= d->max_conn) {
		atomic_fetch_sub(&d->active, 1);
		refuse_busy(d, fd, peer);
		return;
	}
	a = malloc(sizeof(*a));
	if (a) {
		a->d = d;
		a->fd = fd;
		snprintf(a->peer, sizeof(a->peer), "%s", peer);
	}
	if (!a || pthread_attr_init(&attr)) {
		free(a);
		close(fd);
		atomic_fetch_sub(&d->active, 1);
		return;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn_thread, a)) {
		ctfs_warn("cannot start a thread for %s", peer);
		free(a);
		close(fd);
		atomic_fetch_sub(&d->active, 1);
	}
	pthread_attr_destroy(&attr);
}

static void *signal_thread(void *p)
{
	struct keyd *d = p;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGHUP) {
			ctfs_info("SIGHUP: reloading the revocation list and the policy data");
			if (keyd_reload(d) || keyd_audit_open(d))
				ctfs_err("reload failed: the previous lists stay in force");
			continue;
		}
		atomic_store(&d->stopping, true);
		shutdown(d->listen_fd, SHUT_RDWR);
		return NULL;
	}
}

static void accept_loop(struct keyd *d)
{
	while (!atomic_load(&d->stopping)) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char peer[64];
		int fd = accept4(d->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED && !atomic_load(&d->stopping)) {
				ctfs_warn("accept: %s", strerror(errno));
				usleep(10000); /* EMFILE and the like: do not spin */
			}
			continue;
		}
		peer_name(&ss, peer, sizeof(peer));
		start_conn(d, fd, peer);
	}
}

/* Connections in flight get up to their timeout to finish. */
static void drain(struct keyd *d)
{
	for (unsigned i = 0; i < (d->timeout + 1) * 100 && atomic_load(&d->active); i++)
		usleep(10000);
}

/* --import: copy the master keys of a JWK set into the token, then exit. */
static int import_keys(struct keyd *d)
{
	struct ctfs_jwk *keys = NULL;
	size_t n = 0;
	char err[256] = "";
	int rc = keyd_custody_open(d, err, sizeof(err));

	if (!rc) {
		FILE *f = fopen(d->import_path, "re");
		char *text = ctfs_secure_alloc(1 << 16);
		size_t len = f && text ? fread(text, 1, 1 << 16, f) : 0;

		rc = !f || !text || len == 1 << 16 ? -EINVAL : 0;
		if (!rc)
			rc = ctfs_jwk_parse_set(text, len, &keys, &n, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "%s: unreadable or over 64 KiB", d->import_path);
		if (f)
			fclose(f);
		ctfs_secure_free(text);
	}
	if (!rc)
		rc = keyd_p11_import(d, keys, n, err, sizeof(err));
	ctfs_jwk_free_set(keys, n);
	keyd_custody_close(d);
	if (rc)
		ctfs_err("import: %s", err);
	return rc ? 1 : 0;
}

/* A reload waits for requests in flight, but new requests wait for it:
 * glibc's default rwlock prefers readers, and a busy service would never
 * let SIGHUP's revocations in. */
static int init_locks(struct keyd *d)
{
	pthread_rwlockattr_t a;
	int rc = pthread_rwlockattr_init(&a);

	if (!rc)
		rc = pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (!rc)
		rc = pthread_rwlock_init(&d->lock, &a);
	pthread_rwlockattr_destroy(&a);
	return rc ? rc : pthread_mutex_init(&d->audit_lock, NULL);
}

int main(int argc, char **argv)
{
	static struct keyd d = { .lifetime = KEYD_DEFAULT_LIFETIME, .max_conn = KEYD_DEFAULT_MAX_CONN,
				 .timeout = KEYD_DEFAULT_TIMEOUT, .max_request = KEYD_DEFAULT_MAX_REQUEST,
				 .listen_fd = -1, .keys_dirfd = -1, .audit_fd = -1 };
	bool debug = false;
	char err[256] = "";
	pthread_t sig;
	sigset_t set;

	if (parse_args(argc, argv, &d, &debug))
		return 2;
	ctfs_log_init("ctfs-keyd", false, debug);
	if (d.import_path)
		return ctfs_secmem_init() ? 1 : import_keys(&d);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (ctfs_secmem_init() || pthread_sigmask(SIG_BLOCK, &set, NULL) || init_locks(&d))
		return 1;
	if (load_signers(&d) || keyd_reload(&d) || keyd_audit_open(&d) || tls_setup(&d))
		return 1;
	if (keyd_custody_open(&d, err, sizeof(err))) {
		ctfs_err("key custody: %s", err);
		return 1;
	}
	if (listen_on(&d) || pthread_create(&sig, NULL, signal_thread, &d))
		return 1;
	ctfs_info("listening on %s (lifetime %u s, at most %u connections)", d.listen, d.lifetime,
		  d.max_conn);
	accept_loop(&d);
	pthread_join(sig, NULL);
	drain(&d);
	ctfs_info("stopped");
	if (!atomic_load(&d.active)) {
		keyd_custody_close(&d);
		ctfs_jwk_free_set(d.signers, d.n_signers);
		SSL_CTX_free(d.ctx);
	}
	close(d.listen_fd);
	return 0;
}
