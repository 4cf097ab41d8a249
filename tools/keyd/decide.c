/* The checks of one release request, in the order of CONTROL-PLANE.md: client
 * certificate, request, machine revocation, header, model revocation,
 * signature, remote policy, then (the only step touching a key) custody and
 * a check that the key really opens this file. The first failing check
 * decides, with its code and reason. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "crypto/sha256.h"
#include "keyd.h"
#include "trust/binding.h"
#include "log.h"

static void refuse(struct keyd_decision *dec, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void refuse(struct keyd_decision *dec, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	dec->status = status;
	dec->code = code;
	va_start(ap, fmt);
	vsnprintf(dec->reason, sizeof(dec->reason), fmt, ap);
	va_end(ap);
}

static bool is_crypto_meta(const char *key)
{
	for (const char *const *k = ctfs_crypto_meta_keys; *k; k++)
		if (!strcmp(*k, key))
			return true;
	return false;
}

static cJSON *client_json(const struct keyd_client *c)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "subject", c->subject) ||
	    !cJSON_AddStringToObject(o, "issuer", c->issuer) ||
	    !cJSON_AddStringToObject(o, "serial", c->serial) ||
	    !cJSON_AddItemToObject(o, "sans", cJSON_Parse(c->sans))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* input = {client, kid, fleet, header: {sha256, sign_kid, metadata}} */
static char *policy_input(const struct keyd_client *c, const struct ctfs_release_req *req,
			  const struct ctfs_release_hdr *rh, const char *sha)
{
	cJSON *in = cJSON_CreateObject(), *hdr = cJSON_CreateObject(), *meta = cJSON_CreateObject();
	char *text = NULL;
	bool ok = in && hdr && meta;

	for (size_t i = 0; ok && i < rh->h->n_meta; i++)
		if (!is_crypto_meta(rh->h->meta[i].key))
			ok = cJSON_AddStringToObject(meta, rh->h->meta[i].key, rh->h->meta[i].value);
	ok = ok && cJSON_AddStringToObject(hdr, "sha256", sha) &&
	     cJSON_AddStringToObject(hdr, "sign_kid", rh->ci->sign_kid ? rh->ci->sign_kid : "") &&
	     cJSON_AddItemToObject(hdr, "metadata", meta);
	if (ok)
		meta = NULL;
	ok = ok && cJSON_AddItemToObject(in, "client", client_json(c)) &&
	     cJSON_AddStringToObject(in, "kid", req->kid) &&
	     cJSON_AddStringToObject(in, "fleet", req->fleet) &&
	     cJSON_AddItemToObject(in, "header", hdr);
	if (ok) {
		hdr = NULL;
		text = cJSON_PrintUnformatted(in);
	}
	cJSON_Delete(meta);
	cJSON_Delete(hdr);
	cJSON_Delete(in);
	return text;
}

/* Steps that need no secret, under the read lock of the reloadable lists. */
static int check_public(struct keyd *d, const struct keyd_client *c,
			const struct ctfs_release_req *req, struct ctfs_release_hdr *rh,
			struct keyd_decision *dec)
{
	const char *hit;
	char err[256] = "", *input;
	int rc;

	pthread_rwlock_rdlock(&d->lock);
	if ((hit = keyd_revoked_machine(d->cur.rev, c))) {
		refuse(dec, 403, "revoked_machine", "client certificate revoked (%s)", hit);
		goto deny;
	}
	if ((hit = keyd_revoked_model(d->cur.rev, req->kid, dec->header_sha256))) {
		refuse(dec, 403, "revoked_model", "model revoked (%s)", hit);
		goto deny;
	}
	rc = ctfs_release_hdr_verify(rh, &d->signer_kp, err, sizeof(err));
	if (rc) {
		refuse(dec, 403, "signature", "%s", err);
		goto deny;
	}
	input = policy_input(c, req, rh, dec->header_sha256);
	rc = input ? keyd_policy_decide(rh->ci->policy_remote, input, strlen(input), d->cur.data,
					d->cur.data_len, err, sizeof(err)) : -ENOMEM;
	cJSON_free(input);
	if (rc) {
		refuse(dec, rc == -ENOMEM ? 500 : 403, "policy", "remote policy: %s",
		       *err ? err : strerror(-rc));
		goto deny;
	}
	pthread_rwlock_unlock(&d->lock);
	return 0;
deny:
	pthread_rwlock_unlock(&d->lock);
	return -EACCES;
}

static void release(struct keyd *d, const struct ctfs_release_req *req,
		    struct ctfs_release_hdr *rh, struct keyd_decision *dec,
		    struct ctfs_buf *answer)
{
	struct ctfs_jwk key = { 0 };
	char err[256] = "";
	int rc = keyd_custody_get(d, req->kid, rh->ci->alg, &key, err, sizeof(err));

	if (rc == -ENOKEY) {
		refuse(dec, 404, "unknown_kid", "no master key kid=%s in custody", req->kid);
		return;
	}
	/* A custody key without a signer list is bound to the --signers set,
	 * as a key set binds its master keys to its own signing keys; the
	 * released JWK carries the list, so the mount checks the same binding. */
	if (!rc && !key.has_signers)
		rc = ctfs_binding_from_set(&key, d->signers, d->n_signers);
	if (rc) {
		ctfs_jwk_clear(&key);
		refuse(dec, 500, "custody", "%s", *err ? err : strerror(-rc));
		return;
	}
	rc = ctfs_release_hdr_unwraps(rh, &key, err, sizeof(err));
	if (rc)
		refuse(dec, 409, "key_mismatch", "%s", err);
	else if ((rc = ctfs_release_grant_build(&key, d->lifetime, answer)))
		refuse(dec, 500, "internal", "cannot build the answer: %s", strerror(-rc));
	ctfs_jwk_clear(&key);
	if (rc)
		return;
	dec->status = 200;
	dec->code = "released";
	dec->lifetime = d->lifetime;
}

/* What the audit names of the file: its signer kid and remote policy. */
static void header_facts(const struct ctfs_release_hdr *rh, struct keyd_decision *dec)
{
	uint8_t sha[32];
	const char *pol = rh->ci->policy_remote;

	snprintf(dec->sign_kid, sizeof(dec->sign_kid), "%s", rh->ci->sign_kid ? rh->ci->sign_kid : "");
	if (!pol)
		return;
	ctfs_sha256(sha, pol, strlen(pol));
	for (int i = 0; i < 32; i++)
		snprintf(dec->policy_hash + 2 * i, 3, "%02x", sha[i]);
}

static void decide(struct keyd *d, const struct keyd_client *c, const char *body, size_t len,
		   struct keyd_decision *dec, struct ctfs_buf *answer)
{
	struct ctfs_release_req req;
	struct ctfs_release_hdr rh;
	char err[256] = "";
	int rc;

	if (!c->cert_ok) {
		refuse(dec, 403, "client_cert", "%s", c->cert_err);
		return;
	}
	rc = ctfs_release_request_parse(body, len, &req, err, sizeof(err));
	if (rc) {
		refuse(dec, rc == -ENOMEM ? 500 : 400, "bad_request", "%s", err);
		return;
	}
	snprintf(dec->kid, sizeof(dec->kid), "%s", req.kid);
	snprintf(dec->fleet, sizeof(dec->fleet), "%s", req.fleet);
	for (int i = 0; i < 32; i++)
		snprintf(dec->header_sha256 + 2 * i, 3, "%02x", req.header_sha256[i]);
	rc = ctfs_release_hdr_parse(req.header, req.header_len, req.file_size, &rh, err,
				    sizeof(err));
	if (!rc)
		header_facts(&rh, dec);
	if (rc) {
		refuse(dec, rc == -ENOMEM ? 500 : 400, "bad_header", "%s", err);
	} else if (!rh.ci->enc_kid || strcmp(rh.ci->enc_kid, req.kid)) {
		refuse(dec, 400, "kid_mismatch", "the header's master kid is %s, not %s",
		       rh.ci->enc_kid ? rh.ci->enc_kid : "(none)", req.kid);
	} else if (!check_public(d, c, &req, &rh, dec)) {
		release(d, &req, &rh, dec, answer);
	}
	if (!rc)
		ctfs_release_hdr_free(&rh);
	ctfs_release_request_free(&req);
}

void keyd_decide(struct keyd *d, const struct keyd_client *c, const char *body, size_t len,
		 struct keyd_decision *dec, struct ctfs_buf *answer)
{
	decide(d, c, body, len, dec, answer);
	if (dec->status != 200) {
		answer->len = 0;
		if (ctfs_release_refusal_build(dec->code, dec->reason, answer))
			answer->len = 0;
		ctfs_info("refused kid=%s to %s (%s): %s: %s", *dec->kid ? dec->kid : "?",
			  *c->subject ? c->subject : "?", c->peer, dec->code, dec->reason);
	} else {
		ctfs_info("released kid=%s to %s (%s) for %u s", dec->kid, c->subject, c->peer,
			  dec->lifetime);
	}
}
