/* The client half of key release (keyfetch.h): read the file's header, POST
 * it to ctfs-keyd over mutual TLS, check the answer; and the callout
 * information that carries the mount's settings through request_key(2). */
#include "keys/keyfetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "codec/hex.h"
#include "crypto/sha256.h"
#include "keys/keyring.h"
#include "keys/release.h"
#include "util.h"

/* ---- the file's header -------------------------------------------------- */

static int read_header(int fd, uint8_t **out, size_t *len, uint64_t *file_size)
{
	struct stat st;
	uint8_t pre[8];
	uint64_t n;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 10 || ctfs_pread_full(fd, pre, 8, 0))
		return -EINVAL;
	n = ctfs_load_le64(pre);
	if (n < 2 || n > CTFS_RELEASE_MAX_HEADER - 8 || n > (uint64_t)st.st_size - 8)
		return -EINVAL;
	*out = malloc(n + 8);
	if (!*out)
		return -ENOMEM;
	if (ctfs_pread_full(fd, *out, n + 8, 0)) {
		free(*out);
		*out = NULL;
		return -EIO;
	}
	*len = n + 8;
	*file_size = (uint64_t)st.st_size;
	return 0;
}

int ctfs_keyfetch_header_sha(int fd, uint8_t sha[32])
{
	uint8_t *hdr;
	size_t len;
	uint64_t size;
	int rc = read_header(fd, &hdr, &len, &size);

	if (rc)
		return rc;
	ctfs_sha256(sha, hdr, len);
	free(hdr);
	return 0;
}

/* ---- HTTPS ------------------------------------------------------------------ */

struct url {
	char host[256];
	char port[8];
};

static int parse_url(const char *s, struct url *u)
{
	const char *p, *colon, *end;
	size_t hl;

	if (!s || strncmp(s, "https://", 8))
		return -EINVAL;
	p = s + 8;
	end = p + strcspn(p, "/");
	if (*end && strcmp(end, "/"))
		return -EINVAL; /* the API path is fixed */
	colon = memchr(p, ':', (size_t)(end - p));
	hl = (size_t)((colon ? colon : end) - p);
	if (!hl || hl >= sizeof(u->host))
		return -EINVAL;
	memcpy(u->host, p, hl);
	u->host[hl] = 0;
	if (!colon) {
		strcpy(u->port, "443");
		return 0;
	}
	if ((size_t)(end - colon - 1) == 0 || (size_t)(end - colon - 1) >= sizeof(u->port))
		return -EINVAL;
	memcpy(u->port, colon + 1, (size_t)(end - colon - 1));
	u->port[end - colon - 1] = 0;
	return strspn(u->port, "0123456789") == strlen(u->port) ? 0 : -EINVAL;
}

static int tcp_connect(const struct url *u, unsigned timeout, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	struct timeval tv = { .tv_sec = timeout };
	int fd = -1, rc = getaddrinfo(u->host, u->port, &hints, &ai), e = ECONNREFUSED;

	if (rc) {
		ctfs_seterr(err, errlen, "key service %s: %s", u->host, gai_strerror(rc));
		return -ENOKEY;
	}
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		/* SO_SNDTIMEO bounds connect() too. */
		if (!setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int)) &&
		    !setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) &&
		    !setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) &&
		    !connect(fd, a->ai_addr, a->ai_addrlen))
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		ctfs_seterr(err, errlen, "key service %s:%s unreachable: %s", u->host, u->port,
			    strerror(e));
		return -ENOKEY;
	}
	return fd;
}

static void tls_error(char *err, size_t errlen, const char *what, const struct url *u)
{
	char buf[256] = "";
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	ctfs_seterr(err, errlen, "key service %s:%s: %s%s%s", u->host, u->port, what,
		    *buf ? ": " : "", buf);
}

static SSL_CTX *client_ctx(const struct ctfs_keyfetch_cfg *cfg, const struct url *u,
			   char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1) {
		tls_error(err, errlen, "cannot load the client certificate, key or CA", u);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* The service's certificate must name the host: an IP SAN for an address,
 * a DNS SAN (and SNI) for a name. */
static int set_peer_name(SSL *ssl, const char *host)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -EINVAL;
	return SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1 ? 0
											      : -EINVAL;
}

static int ssl_write_all(SSL *ssl, const void *p, size_t n)
{
	size_t done;

	while (n) {
		if (SSL_write_ex(ssl, p, n, &done) != 1)
			return -EIO;
		p = (const char *)p + done;
		n -= done;
	}
	return 0;
}

/* Has b a whole answer, by its Content-Length? Then an end without TLS
 * close_notify cannot have cut it short. */
static bool answer_complete(const struct ctfs_buf *b)
{
	const char *end, *cl;
	unsigned long long n;

	if (!b->data || !(end = strstr((char *)b->data, "\r\n\r\n")))
		return false;
	cl = strcasestr((char *)b->data, "\r\nContent-Length:");
	if (!cl || cl > end || sscanf(cl + 17, "%llu", &n) != 1)
		return false;
	return b->len - (size_t)(end + 4 - (char *)b->data) == n;
}

/* The whole answer (the service closes after one), bounded. */
static int ssl_read_all(SSL *ssl, struct ctfs_buf *b)
{
	size_t got;

	for (;;) {
		if (b->len > CTFS_RELEASE_MAX_ANSWER)
			return -EMSGSIZE;
		if (ctfs_buf_reserve(b, 4096))
			return -ENOMEM;
		if (SSL_read_ex(ssl, b->data + b->len, b->cap - b->len - 1, &got) != 1) {
			int e = SSL_get_error(ssl, 0);

			ERR_clear_error();
			return e == SSL_ERROR_ZERO_RETURN || answer_complete(b) ? 0 : -EIO;
		}
		b->len += got;
		b->data[b->len] = 0;
	}
}

/* Status and body of an HTTP/1.1 answer in b. */
static int split_answer(struct ctfs_buf *b, int *status, const char **body, size_t *blen)
{
	char *end;

	if (!b->data || b->len < 12 || strncmp((char *)b->data, "HTTP/1.", 7))
		return -EPROTO;
	*status = atoi((char *)b->data + 9);
	end = strstr((char *)b->data, "\r\n\r\n");
	if (!end || *status < 100 || *status > 599)
		return -EPROTO;
	*body = end + 4;
	*blen = b->len - (size_t)((uint8_t *)*body - b->data);
	return 0;
}

static int https_post(const struct ctfs_keyfetch_cfg *cfg, const struct ctfs_buf *req,
		      struct ctfs_buf *ans, char *err, size_t errlen)
{
	struct url u;
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	struct ctfs_buf msg = { 0 };
	int fd, rc = -ENOKEY;

	if (parse_url(cfg->server, &u)) {
		ctfs_seterr(err, errlen, "key service URL '%s' is not https://HOST[:PORT]",
			    cfg->server ? cfg->server : "");
		return -EINVAL;
	}
	ctx = client_ctx(cfg, &u, err, errlen);
	if (!ctx)
		return -ENOKEY;
	fd = tcp_connect(&u, cfg->timeout ? cfg->timeout : CTFS_KEYFETCH_TIMEOUT, err, errlen);
	if (fd < 0)
		goto out;
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || set_peer_name(ssl, u.host) || SSL_connect(ssl) != 1) {
		tls_error(err, errlen, "TLS handshake failed", &u);
		goto out;
	}
	/* one write: head and body in the same records (no Nagle wait) */
	if (ctfs_buf_printf(&msg, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: "
			    "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			    CTFS_RELEASE_PATH, u.host, req->len) ||
	    ctfs_buf_append(&msg, req->data, req->len)) {
		rc = -ENOMEM;
		goto out;
	}
	if (ssl_write_all(ssl, msg.data, msg.len)) {
		tls_error(err, errlen, "sending the request failed", &u);
		goto out;
	}
	rc = ssl_read_all(ssl, ans);
	if (rc == -EMSGSIZE)
		ctfs_seterr(err, errlen, "key service answer over %u bytes", CTFS_RELEASE_MAX_ANSWER);
	else if (rc == -EIO)
		tls_error(err, errlen, "reading the answer failed", &u);
	if (rc)
		rc = rc == -ENOMEM ? rc : -ENOKEY;
out:
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	ctfs_buf_free(&msg);
	return rc;
}

/* ---- one fetch ---------------------------------------------------------------- */

static int map_refusal(int status)
{
	if (status == 404)
		return -ENOKEY;
	if (status == 400 || status == 409 || status == 413)
		return -EKEYREJECTED;
	if (status == 401 || status == 403)
		return -EACCES;
	return -ENOKEY; /* 5xx, busy, timeouts: the service could not answer */
}

static int ask(const struct ctfs_keyfetch_cfg *cfg, const struct ctfs_buf *req, const char *kid,
	       struct ctfs_jwk *key, struct ctfs_keyfetch_result *res, char *err, size_t errlen)
{
	struct ctfs_buf ans = { 0 };
	const char *body;
	size_t blen;
	char reason[256] = "";
	int rc = https_post(cfg, req, &ans, err, errlen);

	if (!rc && split_answer(&ans, &res->status, &body, &blen)) {
		ctfs_seterr(err, errlen, "key service answer is not HTTP");
		rc = -EKEYREJECTED;
	}
	if (!rc && res->status != 200) {
		ctfs_release_refusal_parse(body, blen, res->code, sizeof(res->code), reason,
					   sizeof(reason));
		ctfs_seterr(err, errlen, "key service refused kid=%s: %d %s: %s", kid, res->status,
			    *res->code ? res->code : "?", *reason ? reason : "(no reason)");
		rc = map_refusal(res->status);
	} else if (!rc) {
		rc = ctfs_release_grant_parse(body, blen, kid, key, &res->lifetime, err, errlen);
	}
	if (ans.data)
		sodium_memzero(ans.data, ans.cap);
	ctfs_buf_free(&ans);
	return rc;
}

/* Parse the header the way the mount will, and check what was asked for. */
static int check_file(const uint8_t *hdr, size_t len, uint64_t size, const uint8_t *want_sha,
		      const char *kid, struct ctfs_release_hdr *rh, char *err, size_t errlen)
{
	uint8_t sha[32];
	int rc;

	ctfs_sha256(sha, hdr, len);
	if (want_sha && sodium_memcmp(sha, want_sha, 32)) {
		ctfs_seterr(err, errlen, "header changed since the key was requested");
		return -EKEYREJECTED;
	}
	rc = ctfs_release_hdr_parse(hdr, len, size, rh, err, errlen);
	if (rc)
		return rc == -ENOMEM ? rc : -EINVAL;
	if (!rh->ci->enc_kid || strcmp(rh->ci->enc_kid, kid)) {
		ctfs_seterr(err, errlen, "the file's master kid is %s, not %s",
			    rh->ci->enc_kid ? rh->ci->enc_kid : "(none)", kid);
		return -EINVAL;
	}
	return 0;
}

int ctfs_keyfetch_fetch(const struct ctfs_keyfetch_cfg *cfg, const char *path,
			const uint8_t *want_sha, const char *kid, struct ctfs_jwk *key,
			struct ctfs_keyfetch_result *res, char *err, size_t errlen)
{
	struct ctfs_release_hdr rh = { 0 };
	struct ctfs_buf req = { 0 };
	uint8_t *hdr = NULL;
	size_t len;
	uint64_t size;
	int fd, rc;

	memset(res, 0, sizeof(*res));
	memset(key, 0, sizeof(*key));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		ctfs_seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	rc = read_header(fd, &hdr, &len, &size);
	close(fd);
	if (rc) {
		ctfs_seterr(err, errlen, "%s: cannot read a header: %s", path, strerror(-rc));
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	rc = check_file(hdr, len, size, want_sha, kid, &rh, err, errlen);
	if (!rc)
		rc = ctfs_release_request_build(hdr, len, size, kid, cfg->fleet, &req) ? -EINVAL : 0;
	if (!rc)
		rc = ask(cfg, &req, kid, key, res, err, errlen);
	if (!rc) {
		rc = ctfs_release_hdr_key_opens(&rh, key, err, errlen);
		if (rc)
			ctfs_jwk_clear(key);
	}
	ctfs_release_hdr_free(&rh);
	ctfs_buf_free(&req);
	free(hdr);
	return rc;
}

/* ---- callout information ---------------------------------------------------------- */

static int put_value(char *out, size_t cap, size_t *pos, const char *name, const char *v)
{
	int n = snprintf(out + *pos, cap - *pos, " %s=", name);

	if (n < 0 || (size_t)n >= cap - *pos)
		return -E2BIG;
	*pos += (size_t)n;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		bool plain = c > 0x20 && c < 0x7f && c != '%';

		if (*pos + (plain ? 1 : 3) >= cap)
			return -E2BIG;
		if (plain)
			out[(*pos)++] = (char)c;
		else
			*pos += (size_t)snprintf(out + *pos, cap - *pos, "%%%02X", c);
	}
	out[*pos] = 0;
	return 0;
}

int ctfs_keyfetch_callout_build(const struct ctfs_keyfetch_cfg *cfg, const char *path,
				const uint8_t sha[32], char *out, size_t cap)
{
	struct { const char *name, *v; } f[] = {
		{ "server", cfg->server }, { "cert", cfg->cert }, { "key", cfg->key },
		{ "ca", cfg->ca }, { "fleet", cfg->fleet }, { "audit", cfg->audit },
		{ "file", path },
	};
	char hex[65], num[16];
	size_t pos;
	int rc = 0;

	if (cap < 8)
		return -E2BIG;
	pos = (size_t)snprintf(out, cap, "ctfs1");
	for (size_t i = 0; !rc && i < CTFS_ARRAY_LEN(f); i++)
		if (f[i].v && *f[i].v)
			rc = put_value(out, cap, &pos, f[i].name, f[i].v);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	if (!rc)
		rc = put_value(out, cap, &pos, "sha256", hex);
	snprintf(num, sizeof(num), "%u", cfg->timeout ? cfg->timeout : CTFS_KEYFETCH_TIMEOUT);
	if (!rc)
		rc = put_value(out, cap, &pos, "timeout", num);
	snprintf(num, sizeof(num), "%u", cfg->neg_ttl ? cfg->neg_ttl : CTFS_KEYFETCH_NEG_TTL);
	if (!rc)
		rc = put_value(out, cap, &pos, "neg_ttl", num);
	return rc;
}

static int unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s != '%') {
			*w++ = *s;
			continue;
		}
		if (ctfs_hex_digit(s[1]) < 0 || ctfs_hex_digit(s[2]) < 0)
			return -EINVAL;
		*w = (char)(ctfs_hex_digit(s[1]) << 4 | ctfs_hex_digit(s[2]));
		if (!*w++)
			return -EINVAL;
		s += 2;
	}
	*w = 0;
	return 0;
}

static int set_field(struct ctfs_keyfetch_cfg *cfg, const char **path, uint8_t sha[32],
		     int *has_sha, const char *name, char *v)
{
	const char **slot = !strcmp(name, "server") ? &cfg->server : !strcmp(name, "cert") ?
		&cfg->cert : !strcmp(name, "key") ? &cfg->key : !strcmp(name, "ca") ? &cfg->ca :
		!strcmp(name, "fleet") ? &cfg->fleet : !strcmp(name, "audit") ? &cfg->audit :
		!strcmp(name, "file") ? path : NULL;
	unsigned long n;
	char *end;

	if (slot) {
		*slot = v;
		return 0;
	}
	if (!strcmp(name, "sha256")) {
		*has_sha = 1;
		return strlen(v) == 64 && !ctfs_hex_decode(v, 64, sha, 32) ? 0 : -EINVAL;
	}
	n = strtoul(v, &end, 10);
	if (*end || end == v || n > 3600)
		return -EINVAL;
	if (!strcmp(name, "timeout"))
		cfg->timeout = (unsigned)n;
	else if (!strcmp(name, "neg_ttl"))
		cfg->neg_ttl = (unsigned)n;
	return 0; /* unknown names are left for newer versions */
}

int ctfs_keyfetch_callout_parse(char *buf, struct ctfs_keyfetch_cfg *cfg, const char **path,
				uint8_t sha[32], int *has_sha)
{
	char *save = NULL, *tok = strtok_r(buf, " ", &save);

	memset(cfg, 0, sizeof(*cfg));
	*path = NULL;
	*has_sha = 0;
	if (!tok || strcmp(tok, "ctfs1"))
		return -EINVAL;
	while ((tok = strtok_r(NULL, " ", &save))) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok)
			return -EINVAL;
		*eq = 0;
		if (unescape(eq + 1) || set_field(cfg, path, sha, has_sha, tok, eq + 1))
			return -EINVAL;
	}
	return cfg->server && cfg->cert && cfg->key && cfg->ca && *path ? 0 : -EINVAL;
}

/* ---- the daemon's side ---------------------------------------------------------------- */

int ctfs_keyfetch_request(const struct ctfs_keyfetch_cfg *cfg, key_serial_t ring,
			  const char *kid, const char *path, int fd, char *err, size_t errlen)
{
	char callout[CTFS_KEYFETCH_MAX_CALLOUT], desc[sizeof(CTFS_KEYRING_PREFIX) +
						      CTFS_RELEASE_MAX_NAME];
	uint8_t sha[32];
	key_serial_t id;
	int own = -1, rc;

	if (!ctfs_release_name_ok(kid)) {
		ctfs_seterr(err, errlen, "kid cannot be requested from a key service");
		return -EINVAL;
	}
	if (fd < 0 && (fd = own = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return -errno;
	rc = ctfs_keyfetch_header_sha(fd, sha);
	if (own >= 0)
		close(own);
	if (!rc)
		rc = ctfs_keyfetch_callout_build(cfg, path, sha, callout, sizeof(callout));
	if (rc) {
		ctfs_seterr(err, errlen, "cannot describe the request: %s", strerror(-rc));
		return rc;
	}
	snprintf(desc, sizeof(desc), CTFS_KEYRING_PREFIX "%s", kid);
	id = request_key("user", desc, callout, ring);
	if (id < 0) {
		rc = -errno;
		ctfs_seterr(err, errlen, "request_key(%s): %s", desc, strerror(-rc));
		return rc;
	}
	return id;
}
