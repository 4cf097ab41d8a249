/* One connection of ctfs-keyd: TLS handshake, the client's identity from its
 * certificate, one bounded HTTP/1.1 request read against a deadline, one
 * answer, one audit record. Whatever happens here ends this connection only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "keyd.h"
#include "log.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The next blocking call may take what is left of the deadline. */
static int arm(int fd, double deadline)
{
	double left = deadline - now_s();
	struct timeval tv;

	if (left <= 0)
		return -ETIMEDOUT;
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6) + 1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

static void name_text(const X509_NAME *n, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	int len;

	*out = 0;
	if (!b)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_read(b, out, (int)cap - 1);
		out[len > 0 ? len : 0] = 0;
	}
	BIO_free(b);
}

static void json_append(char *out, size_t cap, const char *s)
{
	size_t pos = strlen(out);

	for (; *s && pos + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			pos += (size_t)snprintf(out + pos, cap - pos, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			pos += (size_t)snprintf(out + pos, cap - pos, "\\u%04x", c);
		else
			out[pos++] = (char)c;
	}
	out[pos] = 0;
}

static void sans_text(X509 *cert, char *out, size_t cap)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int n = gens ? sk_GENERAL_NAME_num(gens) : 0;

	snprintf(out, cap, "[");
	for (int i = 0; i < n && strlen(out) + 300 < cap; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char item[280] = "";
		const unsigned char *ip;

		if (g->type == GEN_DNS || g->type == GEN_EMAIL || g->type == GEN_URI)
			snprintf(item, sizeof(item), "%s:%.*s", g->type == GEN_DNS ? "DNS" :
				 g->type == GEN_EMAIL ? "email" : "URI",
				 ASN1_STRING_length(g->d.ia5) > 256 ? 256 : ASN1_STRING_length(g->d.ia5),
				 (const char *)ASN1_STRING_get0_data(g->d.ia5));
		else if (g->type == GEN_IPADD && ASN1_STRING_length(g->d.ip) == 4 &&
			 (ip = ASN1_STRING_get0_data(g->d.ip)))
			snprintf(item, sizeof(item), "IP:%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
		if (!*item)
			continue;
		strcat(out, strlen(out) > 1 ? ",\"" : "\"");
		json_append(out, cap, item);
		strcat(out, "\"");
	}
	strcat(out, "]");
	GENERAL_NAMES_free(gens);
}

static void client_identity(SSL *ssl, struct keyd_client *c)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	BIGNUM *bn;
	char *hex;

	snprintf(c->sans, sizeof(c->sans), "[]");
	if (!cert) {
		snprintf(c->cert_err, sizeof(c->cert_err), "no client certificate");
		return;
	}
	name_text(X509_get_subject_name(cert), c->subject, sizeof(c->subject));
	name_text(X509_get_issuer_name(cert), c->issuer, sizeof(c->issuer));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	if (hex && strlen(hex) < sizeof(c->serial))
		strcpy(c->serial, hex);
	OPENSSL_free(hex);
	BN_free(bn);
	sans_text(cert, c->sans, sizeof(c->sans));
	c->cert_ok = vr == X509_V_OK;
	if (!c->cert_ok)
		snprintf(c->cert_err, sizeof(c->cert_err), "client certificate: %s",
			 X509_verify_cert_error_string(vr));
	X509_free(cert);
}

#define REQUEST_LINE "POST " CTFS_RELEASE_PATH " HTTP/1."
/* A client whose certificate did not verify is answered, but gets no more
 * memory than this for its request. */
#define UNVERIFIED_MAX_REQUEST (64u << 10)

struct request {
	char head[KEYD_HEAD_MAX + 1];
	size_t head_len;
	char *body;
	size_t body_len;
};

static int read_some(SSL *ssl, int fd, double deadline, void *p, size_t n, size_t *got)
{
	int rc = arm(fd, deadline);

	if (rc)
		return rc;
	if (SSL_read_ex(ssl, p, n, got) == 1)
		return 0;
	ERR_clear_error();
	return now_s() >= deadline - 0.001 || errno == EAGAIN ? -ETIMEDOUT : -ECONNRESET;
}

static const char *header_value(const char *head, const char *name)
{
	size_t nl = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
		if (!strncasecmp(l + 2, name, nl) && l[2 + nl] == ':')
			return l + 3 + nl + strspn(l + 3 + nl, " \t");
	}
	return NULL;
}

/* Request line and headers, then exactly Content-Length bytes of body. */
static int read_request(struct keyd *d, const struct keyd_client *c, SSL *ssl, int fd,
			double deadline, struct request *r, struct keyd_decision *dec)
{
	char *end = NULL;
	const char *cl;
	size_t got, have;
	unsigned long long len;
	int rc;

	while (!end) {
		if (r->head_len >= KEYD_HEAD_MAX) {
			dec->status = 431;
			return -EMSGSIZE;
		}
		rc = read_some(ssl, fd, deadline, r->head + r->head_len, KEYD_HEAD_MAX - r->head_len,
			       &got);
		if (rc)
			return rc;
		r->head_len += got;
		r->head[r->head_len] = 0;
		end = strstr(r->head, "\r\n\r\n");
	}
	if (strncmp(r->head, REQUEST_LINE, strlen(REQUEST_LINE))) {
		dec->status = strncmp(r->head, "POST ", 5) ? 405 : 404;
		return -EINVAL;
	}
	cl = header_value(r->head, "Content-Length");
	if (!cl || header_value(r->head, "Transfer-Encoding") ||
	    sscanf(cl, "%llu", &len) != 1) {
		dec->status = 411;
		return -EINVAL;
	}
	if (len > (c->cert_ok ? d->max_request : UNVERIFIED_MAX_REQUEST)) {
		dec->status = 413;
		return -EMSGSIZE;
	}
	have = r->head_len - (size_t)(end + 4 - r->head);
	if (have > len) {
		dec->status = 400;
		return -EINVAL;
	}
	r->body = malloc((size_t)len + 1);
	if (!r->body)
		return -ENOMEM;
	memcpy(r->body, end + 4, have);
	for (r->body_len = have; r->body_len < len; r->body_len += got) {
		rc = read_some(ssl, fd, deadline, r->body + r->body_len, (size_t)len - r->body_len,
			       &got);
		if (rc)
			return rc;
	}
	r->body[len] = 0;
	return 0;
}

static const char *status_text(int s)
{
	switch (s) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* Head and body in one TLS record: two small writes would meet Nagle and
 * the client's delayed ACK (40 ms per answer). */
static void respond(SSL *ssl, int fd, double deadline, int status, const struct ctfs_buf *body)
{
	struct ctfs_buf out = { 0 };
	size_t done;

	if (ctfs_buf_printf(&out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n", status,
			    status_text(status), body->len) ||
	    ctfs_buf_reserve(&out, body->len) || ctfs_buf_append(&out, body->data, body->len)) {
		ctfs_buf_free(&out);
		return;
	}
	/* A client too slow to take its answer gets a few more seconds, no more. */
	if (arm(fd, deadline + 5) || SSL_write_ex(ssl, out.data, out.len, &done) != 1)
		ERR_clear_error();
	sodium_memzero(out.data, out.cap); /* it may hold the key */
	ctfs_buf_free(&out);
}

static void http_refusal(struct keyd_decision *dec, int rc)
{
	if (rc == -ETIMEDOUT) {
		dec->status = 408;
		dec->code = "timeout";
		snprintf(dec->reason, sizeof(dec->reason), "request not received in time");
	} else if (dec->status == 413 || dec->status == 431) {
		dec->code = "too_large";
		snprintf(dec->reason, sizeof(dec->reason), "request over the size limit");
	} else if (rc == -ENOMEM) {
		dec->status = 500;
		dec->code = "internal";
		snprintf(dec->reason, sizeof(dec->reason), "out of memory");
	} else if (dec->status) {
		dec->code = "bad_request";
		snprintf(dec->reason, sizeof(dec->reason), "want POST %s with a Content-Length",
			 CTFS_RELEASE_PATH);
	} else {
		dec->code = "connection";
		snprintf(dec->reason, sizeof(dec->reason), "client closed the connection");
	}
}

static void serve_tls(struct keyd *d, SSL *ssl, int fd, double deadline, struct keyd_client *c,
		      struct keyd_decision *dec)
{
	struct request *r = calloc(1, sizeof(*r));
	struct ctfs_buf answer = { 0 };
	int rc = r ? read_request(d, c, ssl, fd, deadline, r, dec) : -ENOMEM;

	if (rc) {
		http_refusal(dec, rc);
		keyd_audit(d, c, dec);
		if (dec->status && !ctfs_release_refusal_build(dec->code, dec->reason, &answer))
			respond(ssl, fd, deadline, dec->status, &answer);
	} else {
		keyd_decide(d, c, r->body, r->body_len, dec, &answer);
		/* The record before the answer: no key leaves unrecorded. */
		if (keyd_audit(d, c, dec) && dec->status == 200) {
			sodium_memzero(answer.data, answer.cap);
			answer.len = 0;
			dec->status = 500;
			dec->code = "audit";
			snprintf(dec->reason, sizeof(dec->reason), "the audit record cannot be written");
			ctfs_err("kid=%s not released to %s: its audit record cannot be written",
				 dec->kid, c->peer);
			if (ctfs_release_refusal_build(dec->code, dec->reason, &answer))
				answer.len = 0;
		}
		respond(ssl, fd, deadline, dec->status, &answer);
	}
	if (answer.data)
		sodium_memzero(answer.data, answer.cap);
	ctfs_buf_free(&answer);
	if (r)
		free(r->body);
	free(r);
}

void keyd_serve(struct keyd *d, int fd, const char *peer)
{
	double deadline = now_s() + d->timeout;
	struct keyd_client c = { 0 };
	struct keyd_decision dec = { 0 };
	SSL *ssl = SSL_new(d->ctx);

	snprintf(c.peer, sizeof(c.peer), "%s", peer);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (!ssl || !SSL_set_fd(ssl, fd) || arm(fd, deadline) || SSL_accept(ssl) != 1) {
		char buf[160] = "";
		unsigned long e = ERR_get_error();

		if (e)
			ERR_error_string_n(e, buf, sizeof(buf));
		ERR_clear_error();
		dec.code = "tls";
		snprintf(dec.reason, sizeof(dec.reason), "TLS handshake failed%s%s",
			 *buf ? ": " : "", buf);
		keyd_audit(d, &c, &dec);
	} else {
		client_identity(ssl, &c);
		serve_tls(d, ssl, fd, deadline, &c, &dec);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(fd);
}
