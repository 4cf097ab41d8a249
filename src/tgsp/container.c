/* The TGSP container: sections, JSON, hashes, signatures, payload layout
 * and policy (steps 1-5 of tgsp.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "codec/hex.h"
#include "json/canon_json.h"
#include "crypto/curve25519.h"
#include "crypto/sha256.h"
#include "tgsp/container.h"

#define HASH_CHUNK (1u << 20)

static const char *const section_name[TGSP_N_SECTIONS] = {
	"header", "manifest", "recipients", "payload", "signature"
};
/* width of each section's length field */
static const unsigned int length_width[TGSP_N_SECTIONS] = { 4, 4, 4, 8, 4 };

static int bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* --- JSON helpers ------------------------------------------------------------- */

static const char *str_member(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_hex(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* Lowercase only, as the format writes it: one encoding per value, so no
 * bit of the (unsigned) signature section can change without effect. */
static bool hex_field(const cJSON *o, const char *k, uint8_t *out, size_t n)
{
	const char *s = str_member(o, k);

	return is_hex(s, 2 * n) && !ctfs_hex_decode(s, 2 * n, out, n);
}

/* A MessagePack map starts with 0x80-0x8f (fixmap), 0xde or 0xdf. */
static bool looks_like_msgpack(const uint8_t *p, size_t len)
{
	return len && ((p[0] & 0xf0) == 0x80 || p[0] == 0xde || p[0] == 0xdf);
}

/* Parse a section after checking it is canonical JSON. */
static int parse_json(const struct ctfs_tgsp_container *c, enum ctfs_tgsp_section s,
		      cJSON **out, char *err, size_t errlen)
{
	char why[160];

	/* the reference's newest writer packs the manifest with MessagePack
	 * when msgpack is installed; nothing reads those (doc/INTEROP.md T1) */
	if (s == TGSP_MANIFEST && looks_like_msgpack(c->text[s], c->len[s]))
		return bad(err, errlen, "structure: manifest section is MessagePack (written by "
			   "the reference's newest code when msgpack is installed); TGSP v1.0 "
			   "manifests are canonical JSON, the only form ctfs reads");
	if (ctfs_canon_json_check(c->text[s], c->len[s], why, sizeof(why)))
		return bad(err, errlen, "structure: %s section: %s", section_name[s], why);
	*out = cJSON_ParseWithLength((const char *)c->text[s], c->len[s]);
	if (!*out)
		return -ENOMEM;	/* canonical text that cJSON cannot hold */
	return 0;
}

/* --- sections -------------------------------------------------------------------- */

static int read_layout(struct ctfs_tgsp_container *c, char *err, size_t errlen)
{
	uint8_t magic[CTFS_TGSP_MAGIC_LEN], lenbuf[8];
	uint64_t pos = CTFS_TGSP_MAGIC_LEN;
	int rc;

	if (c->file_size < CTFS_TGSP_MAGIC_LEN)
		return bad(err, errlen, "structure: truncated: %" PRIu64 " bytes, no room for the magic",
			   c->file_size);
	rc = ctfs_pread_full(c->fd, magic, sizeof(magic), 0);
	if (rc)
		return rc;
	if (memcmp(magic, CTFS_TGSP_MAGIC, CTFS_TGSP_MAGIC_LEN))
		return bad(err, errlen, "structure: bad magic (not a TGSP v1.0 package)");
	for (int s = 0; s < TGSP_N_SECTIONS; s++) {
		unsigned int w = length_width[s];
		uint64_t len, end;

		if (c->file_size - pos < w)
			return bad(err, errlen, "structure: truncated: the %s length is missing "
				   "(file ends at %" PRIu64 ")", section_name[s], c->file_size);
		rc = ctfs_pread_full(c->fd, lenbuf, w, pos);
		if (rc)
			return rc;
		len = w == 8 ? ctfs_load_be64(lenbuf) : ctfs_load_be32(lenbuf);
		pos += w;
		if (ctfs_add_overflow(pos, len, &end) || end > c->file_size)
			return bad(err, errlen, "structure: the %s length %" PRIu64 " runs past the end "
				   "of the file (%" PRIu64 " bytes left)", section_name[s], len,
				   c->file_size - pos);
		if (s != TGSP_PAYLOAD && len > CTFS_TGSP_SECTION_MAX)
			return bad(err, errlen, "structure: the %s section is %" PRIu64 " bytes, over "
				   "the %u this reader accepts", section_name[s], len,
				   CTFS_TGSP_SECTION_MAX);
		c->off[s] = pos;
		c->len[s] = len;
		pos = end;
	}
	if (pos != c->file_size)
		return bad(err, errlen, "structure: %" PRIu64 " bytes after the signature section",
			   c->file_size - pos);
	return 0;
}

static int load_texts(struct ctfs_tgsp_container *c)
{
	for (int s = 0; s < TGSP_N_SECTIONS; s++) {
		int rc;

		if (s == TGSP_PAYLOAD)
			continue;
		c->text[s] = malloc((size_t)c->len[s] + 1);
		if (!c->text[s])
			return -ENOMEM;
		rc = ctfs_pread_full(c->fd, c->text[s], (size_t)c->len[s], c->off[s]);
		if (rc)
			return rc;
		c->text[s][c->len[s]] = 0;
	}
	return 0;
}

/* --- header ------------------------------------------------------------------------ */

static int parse_header(struct ctfs_tgsp_container *c, char *err, size_t errlen)
{
	static const char *const hash_key[3] = { "manifest", "recipients", "payload" };
	const cJSON *crypto, *hashes;
	const char *v;
	cJSON *h;
	int rc = parse_json(c, TGSP_HEADER, &h, err, errlen);

	if (rc)
		return rc;
	rc = -EBADMSG;
	if (!cJSON_IsObject(h)) {
		bad(err, errlen, "structure: header is not an object");
		goto out;
	}
	v = str_member(h, "tgsp_version");
	if (!v || strcmp(v, CTFS_TGSP_VERSION)) {
		bad(err, errlen, "structure: header tgsp_version is not \"%s\"", CTFS_TGSP_VERSION);
		goto out;
	}
	crypto = cJSON_GetObjectItemCaseSensitive(h, "crypto");
	hashes = cJSON_GetObjectItemCaseSensitive(h, "hashes");
	if (!cJSON_IsObject(crypto) || !cJSON_IsObject(hashes)) {
		bad(err, errlen, "structure: header lacks its crypto or hashes object");
		goto out;
	}
	if (!(v = str_member(crypto, "alg")) || strcmp(v, CTFS_TGSP_AEAD) ||
	    !(v = str_member(crypto, "kem")) || strcmp(v, CTFS_TGSP_KEM) ||
	    !(v = str_member(crypto, "sig")) || strcmp(v, CTFS_TGSP_SIG)) {
		bad(err, errlen, "structure: header crypto must be %s / %s / %s",
		    CTFS_TGSP_AEAD, CTFS_TGSP_KEM, CTFS_TGSP_SIG);
		goto out;
	}
	if (!hex_field(crypto, "nonce_base", c->nonce_base, sizeof(c->nonce_base))) {
		bad(err, errlen, "structure: header nonce_base is not 12 bytes of lowercase hex");
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		v = str_member(hashes, hash_key[i]);
		if (!is_hex(v, 64)) {
			bad(err, errlen, "structure: header hashes.%s is not a lowercase hex SHA-256",
			    hash_key[i]);
			goto out;
		}
		memcpy(c->hash_hex[i], v, 65);
	}
	rc = 0;
out:
	cJSON_Delete(h);
	return rc;
}

static int check_hash(struct ctfs_tgsp_container *c, enum ctfs_tgsp_section s, int which,
		      char *err, size_t errlen)
{
	uint8_t d[32];
	struct ctfs_buf hex = { 0 };
	int rc;

	ctfs_sha256(d, c->text[s], (size_t)c->len[s]);
	rc = ctfs_hex_encode(d, sizeof(d), &hex);
	if (!rc && strcmp((const char *)hex.data, c->hash_hex[which]))
		rc = bad(err, errlen, "%s hash: SHA-256 of the %s section is %.16s..., the header "
			 "says %.16s...", section_name[s], section_name[s],
			 (const char *)hex.data, c->hash_hex[which]);
	ctfs_buf_free(&hex);
	return rc;
}

/* --- manifest ------------------------------------------------------------------------ */

static int set_problem(struct ctfs_tgsp_policy *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int set_problem(struct ctfs_tgsp_policy *p, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (p->problem)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->problem = strdup(msg);
	return p->problem ? 0 : -ENOMEM;
}

static int time_constraint(struct ctfs_tgsp_policy *p, const cJSON *v, const char *name,
			   bool *has, double *out)
{
	if (cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v))
		return set_problem(p, "%s is not a number of epoch seconds", name);
	*has = true;
	*out = v->valuedouble;
	return 0;
}

/* Constraints this reader does not understand deny: a package that asks
 * for something cannot be opened by a reader that would ignore it. */
static int parse_policy(struct ctfs_tgsp_policy *p, const cJSON *pc)
{
	const cJSON *v;
	int rc = 0;

	if (!pc || cJSON_IsNull(pc))
		return 0;
	if (!cJSON_IsObject(pc))
		return set_problem(p, "%s is not an object", "policy_constraints");
	cJSON_ArrayForEach(v, pc) {
		if (!strcmp(v->string, "not_before")) {
			rc = time_constraint(p, v, "not_before", &p->has_not_before, &p->not_before);
		} else if (!strcmp(v->string, "not_after")) {
			rc = time_constraint(p, v, "not_after", &p->has_not_after, &p->not_after);
		} else if (!strcmp(v->string, "target_fleet")) {
			if (cJSON_IsString(v) && v->valuestring[0]) {
				p->target_fleet = strdup(v->valuestring);
				rc = p->target_fleet ? 0 : -ENOMEM;
			} else if (!cJSON_IsNull(v) && !cJSON_IsString(v)) {
				rc = set_problem(p, "%s is not a string", "target_fleet");
			}
		} else {
			rc = set_problem(p, "unknown constraint '%s'", v->string);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_manifest(struct ctfs_tgsp_container *c, char *err, size_t errlen)
{
	const cJSON *ap;
	const char *v;
	cJSON *m;
	int rc = parse_json(c, TGSP_MANIFEST, &m, err, errlen);

	if (rc)
		return rc;
	if (!cJSON_IsObject(m)) {
		rc = bad(err, errlen, "structure: manifest is not an object");
		goto out;
	}
	v = str_member(m, "tgsp_version");
	if (cJSON_GetObjectItemCaseSensitive(m, "tgsp_version") && (!v || strcmp(v, CTFS_TGSP_VERSION))) {
		rc = bad(err, errlen, "structure: manifest tgsp_version is not \"%s\"", CTFS_TGSP_VERSION);
		goto out;
	}
	/* self-asserted: used to name an untrusted signer, never to trust one */
	ap = cJSON_GetObjectItemCaseSensitive(m, "author_pubkey");
	c->has_author = cJSON_IsObject(ap) &&
			hex_field(ap, "classic", c->author.ed25519, sizeof(c->author.ed25519)) &&
			hex_field(ap, "pqc", c->author.mldsa, sizeof(c->author.mldsa));
	rc = parse_policy(&c->policy, cJSON_GetObjectItemCaseSensitive(m, "policy_constraints"));
out:
	cJSON_Delete(m);
	return rc;
}

/* --- recipients and signature ------------------------------------------------------- */

static int parse_recipient(struct ctfs_tgsp_recipient *r, const cJSON *o, size_t i,
			   char *err, size_t errlen)
{
	const cJSON *encap = cJSON_GetObjectItemCaseSensitive(o, "encap");
	const cJSON *wrap = cJSON_GetObjectItemCaseSensitive(o, "wrapper");
	const char *id = str_member(o, "recipient_id");

	if (!id || !cJSON_IsObject(encap) || !cJSON_IsObject(wrap) ||
	    !hex_field(encap, "ek_classic", r->ek_classic, sizeof(r->ek_classic)) ||
	    !hex_field(encap, "ct_pqc", r->ct_pqc, sizeof(r->ct_pqc)) ||
	    !hex_field(wrap, "nonce", r->nonce, sizeof(r->nonce)) ||
	    !hex_field(wrap, "ct", r->wrapped, sizeof(r->wrapped)))
		return bad(err, errlen, "structure: recipient block %zu is malformed (recipient_id, "
			   "lowercase hex encap.ek_classic[32], encap.ct_pqc[1088], "
			   "wrapper.nonce[12], wrapper.ct[48])", i);
	r->id = strdup(id);
	return r->id ? 0 : -ENOMEM;
}

static int parse_recipients(struct ctfs_tgsp_container *c, char *err, size_t errlen)
{
	const cJSON *o;
	cJSON *a;
	size_t n, i = 0;
	int rc = parse_json(c, TGSP_RECIPIENTS, &a, err, errlen);

	if (rc)
		return rc;
	n = cJSON_IsArray(a) ? (size_t)cJSON_GetArraySize(a) : 0;
	if (!n || n > CTFS_TGSP_MAX_RECIPIENTS) {
		rc = bad(err, errlen, "structure: recipients must be an array of 1 to %u blocks",
			 CTFS_TGSP_MAX_RECIPIENTS);
		goto out;
	}
	c->rcpt = calloc(n, sizeof(*c->rcpt));
	if (!c->rcpt) {
		rc = -ENOMEM;
		goto out;
	}
	c->n_rcpt = n;
	cJSON_ArrayForEach(o, a) {
		rc = parse_recipient(&c->rcpt[i], o, i, err, errlen);
		if (rc)
			break;
		i++;
	}
out:
	cJSON_Delete(a);
	return rc;
}

static int parse_signature(struct ctfs_tgsp_container *c, char *err, size_t errlen)
{
	const cJSON *sig;
	const char *id;
	cJSON *s;
	int rc = parse_json(c, TGSP_SIGNATURE, &s, err, errlen);

	if (rc)
		return rc;
	sig = cJSON_GetObjectItemCaseSensitive(s, "signature");
	id = str_member(s, "key_id");
	if (!id || !cJSON_IsObject(sig) ||
	    !hex_field(sig, "sig_classic", c->sig_ed25519, sizeof(c->sig_ed25519)) ||
	    !hex_field(sig, "sig_pqc", c->sig_mldsa, sizeof(c->sig_mldsa))) {
		rc = bad(err, errlen, "structure: signature section is malformed (key_id, lowercase "
			 "hex signature.sig_classic[64], signature.sig_pqc[3309])");
	} else {
		c->key_id = strdup(id);
		rc = c->key_id ? 0 : -ENOMEM;
	}
	cJSON_Delete(s);
	return rc;
}

int ctfs_tgsp_container_read(int fd, const char *name, struct ctfs_tgsp_container **out,
			     char *err, size_t errlen)
{
	struct ctfs_tgsp_container *c = calloc(1, sizeof(*c));
	struct stat st;
	int rc;

	if (!c)
		return -ENOMEM;
	c->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	c->name = strdup(name ? name : "?");
	if (c->fd < 0 || !c->name) {
		rc = c->fd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	if (fstat(c->fd, &st)) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bad(err, errlen, "structure: not a regular file");
		goto fail;
	}
	c->file_size = (uint64_t)st.st_size;
	rc = read_layout(c, err, errlen);
	if (!rc)
		rc = load_texts(c);
	if (!rc)
		rc = parse_header(c, err, errlen);
	if (!rc)
		rc = check_hash(c, TGSP_MANIFEST, 0, err, errlen);
	if (!rc)
		rc = check_hash(c, TGSP_RECIPIENTS, 1, err, errlen);
	if (!rc)
		rc = parse_signature(c, err, errlen);
	if (!rc)
		rc = parse_manifest(c, err, errlen);
	if (!rc)
		rc = parse_recipients(c, err, errlen);
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	if (rc == -EIO && err && !*err)
		bad(err, errlen, "structure: read error or file shrank while reading");
	ctfs_tgsp_container_free(c);
	return rc;
}

/* --- signatures ------------------------------------------------------------------------ */

/* 0: both verify; 1: only Ed25519 does; -EBADMSG: Ed25519 does not. */
static int verify_with(const struct ctfs_tgsp_container *c, const struct ctfs_tgsp_sign_pub *pub,
		       const uint8_t *msg, size_t len)
{
	if (ctfs_ed25519_verify(pub->ed25519, msg, len, c->sig_ed25519))
		return -EBADMSG;
	if (ctfs_mldsa65_verify(c->sig_mldsa, sizeof(c->sig_mldsa), msg, len, NULL, 0, pub->mldsa))
		return 1;
	return 0;
}

static int signed_message(const struct ctfs_tgsp_container *c, uint8_t **msg, size_t *len)
{
	size_t n = (size_t)(c->len[TGSP_HEADER] + c->len[TGSP_MANIFEST] + c->len[TGSP_RECIPIENTS]);
	uint8_t *m = malloc(n ? n : 1), *p;

	if (!m)
		return -ENOMEM;
	p = m;
	for (int s = TGSP_HEADER; s <= TGSP_RECIPIENTS; s++) {
		memcpy(p, c->text[s], (size_t)c->len[s]);
		p += c->len[s];
	}
	*msg = m;
	*len = n;
	return 0;
}

static int untrusted(const struct ctfs_tgsp_container *c, const uint8_t *msg, size_t len,
		     bool pqc_only_failed, char *err, size_t errlen)
{
	struct ctfs_buf hex = { 0 };
	int rc;

	if (pqc_only_failed)
		return bad(err, errlen, "signature: the ML-DSA-65 signature does not verify "
			   "(the Ed25519 one does) for key_id '%s'", c->key_id);
	if (!c->has_author || verify_with(c, &c->author, msg, len) != 0)
		return bad(err, errlen, "signature: no trusted signer's keys verify the "
			   "signatures (key_id '%s')", c->key_id);
	rc = ctfs_hex_encode(c->author.ed25519, 8, &hex);
	if (!rc)
		rc = bad(err, errlen, "signature: signed by an untrusted key (key_id '%s', "
			 "author Ed25519 key %s...)", c->key_id, (const char *)hex.data);
	ctfs_buf_free(&hex);
	return rc;
}

int ctfs_tgsp_container_verify(struct ctfs_tgsp_container *c, const struct ctfs_tgsp_trust *trust,
			       char *err, size_t errlen)
{
	bool pqc_only_failed = false;
	uint8_t *msg;
	size_t len;
	int rc;

	if (!trust || !trust->n) {
		ctfs_seterr(err, errlen, "signature: no trusted signer key (key_id '%s')", c->key_id);
		return -ENOKEY;
	}
	rc = signed_message(c, &msg, &len);
	if (rc)
		return rc;
	rc = -EBADMSG;
	for (size_t i = 0; i < trust->n && rc; i++) {
		const struct ctfs_tgsp_signer *s = &trust->v[i];
		int v;

		if (s->key_id && strcmp(s->key_id, c->key_id))
			continue;
		v = verify_with(c, &s->pub, msg, len);
		if (v == 1)
			pqc_only_failed = true;
		if (v == 0) {
			free(c->signer_origin);
			c->signer_origin = strdup(s->origin);
			rc = c->signer_origin ? 0 : -ENOMEM;
			memcpy(c->signer_ed25519, s->pub.ed25519, 32);
			c->signer_trusted = !rc;
		}
	}
	if (rc == -EBADMSG)
		rc = untrusted(c, msg, len, pqc_only_failed, err, errlen);
	free(msg);
	return rc;
}

/* --- payload ------------------------------------------------------------------------------ */

static int walk_frames(struct ctfs_tgsp_container *c, char *err, size_t errlen)
{
	const uint64_t full = 4 + (uint64_t)CTFS_TGSP_FRAME + CTFS_TGSP_TAG;
	uint64_t pos = 0, plen = c->len[TGSP_PAYLOAD];

	c->n_frames = c->plain_len = 0;
	if (!plen)
		return bad(err, errlen, "frames: the payload is empty");
	while (pos < plen) {
		uint8_t b[4];
		uint64_t left = plen - pos, l;
		int rc;

		if (left < 4 + CTFS_TGSP_TAG)
			return bad(err, errlen, "frames: frame %" PRIu64 " is truncated", c->n_frames);
		rc = ctfs_pread_full(c->fd, b, 4, c->off[TGSP_PAYLOAD] + pos);
		if (rc)
			return rc;
		l = ctfs_load_be32(b);
		if (l == 0 || l > CTFS_TGSP_FRAME)
			return bad(err, errlen, "frames: frame %" PRIu64 " holds %" PRIu64
				   " bytes, not 1 to %u", c->n_frames, l, CTFS_TGSP_FRAME);
		if (4 + l + CTFS_TGSP_TAG > left)
			return bad(err, errlen, "frames: frame %" PRIu64 " runs past the payload",
				   c->n_frames);
		if (l < CTFS_TGSP_FRAME && 4 + l + CTFS_TGSP_TAG != left)
			return bad(err, errlen, "frames: frame %" PRIu64 " holds %" PRIu64
				   " bytes but is not the last", c->n_frames, l);
		pos += l < CTFS_TGSP_FRAME ? left : full;
		c->plain_len += l;
		c->n_frames++;
	}
	return 0;
}

static int hash_payload(const struct ctfs_tgsp_container *c, uint8_t digest[32])
{
	struct ctfs_sha256_ctx *md = NULL;
	uint8_t *buf = malloc(HASH_CHUNK);
	uint64_t done = 0, len = c->len[TGSP_PAYLOAD];
	int rc = buf ? ctfs_sha256_new(&md) : -ENOMEM;

	while (!rc && done < len) {
		size_t n = len - done < HASH_CHUNK ? (size_t)(len - done) : HASH_CHUNK;

		rc = ctfs_pread_full(c->fd, buf, n, c->off[TGSP_PAYLOAD] + done);
		if (!rc)
			rc = ctfs_sha256_update(md, buf, n);
		done += n;
	}
	if (!rc)
		rc = ctfs_sha256_final(md, digest);
	ctfs_sha256_free(md);
	free(buf);
	return rc;
}

int ctfs_tgsp_container_frames(struct ctfs_tgsp_container *c, char *err, size_t errlen)
{
	return walk_frames(c, err, errlen);
}

int ctfs_tgsp_container_check_digest(const struct ctfs_tgsp_container *c, const uint8_t d[32],
				     char *err, size_t errlen)
{
	struct ctfs_buf hex = { 0 };
	int rc = ctfs_hex_encode(d, 32, &hex);

	if (!rc && strcmp((const char *)hex.data, c->hash_hex[2]))
		rc = bad(err, errlen, "payload hash: SHA-256 of the payload is %.16s..., the "
			 "header says %.16s...", (const char *)hex.data, c->hash_hex[2]);
	ctfs_buf_free(&hex);
	return rc;
}

int ctfs_tgsp_container_payload_hash(const struct ctfs_tgsp_container *c, char *err,
				     size_t errlen)
{
	uint8_t d[32];
	int rc = hash_payload(c, d);

	return rc ? rc : ctfs_tgsp_container_check_digest(c, d, err, errlen);
}

int ctfs_tgsp_container_check_payload(struct ctfs_tgsp_container *c, char *err, size_t errlen)
{
	int rc = walk_frames(c, err, errlen);

	if (!rc)
		rc = ctfs_tgsp_container_payload_hash(c, err, errlen);
	c->payload_checked = rc == 0;
	return rc;
}

/* --- policy -------------------------------------------------------------------------------- */

static void utc(double t, char *out, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;

	if (t < -1e15 || t > 1e15 || !gmtime_r(&s, &tm) ||
	    !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, len, "%.0f", t);
}

int ctfs_tgsp_policy_check(const struct ctfs_tgsp_policy *p, const char *fleet, time_t now,
			   char *err, size_t errlen)
{
	char a[48], b[48];

	if (p->problem) {
		ctfs_seterr(err, errlen, "policy: %s", p->problem);
		return -EACCES;
	}
	utc((double)now, b, sizeof(b));
	if (p->has_not_before && (double)now < p->not_before) {
		utc(p->not_before, a, sizeof(a));
		ctfs_seterr(err, errlen, "policy: not valid before %s (now %s)", a, b);
		return -EACCES;
	}
	if (p->has_not_after && (double)now > p->not_after) {
		utc(p->not_after, a, sizeof(a));
		ctfs_seterr(err, errlen, "policy: expired at %s (now %s)", a, b);
		return -EACCES;
	}
	if (p->target_fleet && (!fleet || strcmp(fleet, p->target_fleet))) {
		if (fleet)
			ctfs_seterr(err, errlen, "policy: the package is for fleet '%s', this is "
				    "fleet '%s'", p->target_fleet, fleet);
		else
			ctfs_seterr(err, errlen, "policy: the package is for fleet '%s' and no "
				    "fleet id is set", p->target_fleet);
		return -EACCES;
	}
	return 0;
}

void ctfs_tgsp_container_free(struct ctfs_tgsp_container *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	for (int s = 0; s < TGSP_N_SECTIONS; s++)
		free(c->text[s]);
	for (size_t i = 0; i < c->n_rcpt; i++)
		free(c->rcpt[i].id);
	free(c->rcpt);
	free(c->key_id);
	free(c->name);
	free(c->signer_origin);
	free(c->policy.target_fleet);
	free(c->policy.problem);
	free(c);
}
