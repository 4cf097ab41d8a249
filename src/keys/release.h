/* The key-release API spoken between `ctfs-tool key fetch` and ctfs-keyd
 * (man ctfs-keyd(8), "API"): one JSON request, one JSON answer, over HTTPS
 * with mutual TLS. Both sides build and check the messages here, so the two
 * cannot drift apart. */
#ifndef CTFS_RELEASE_H
#define CTFS_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct/crypto_entries.h"
#include "ct/model.h"
#include "keys/jwk.h"
#include "keys/keyprov.h"
#include "util.h"

#define CTFS_RELEASE_PATH "/v1/release"
/* Largest header (8-byte prefix + JSON) a request may carry. */
#define CTFS_RELEASE_MAX_HEADER (16u << 20)
/* Largest answer a client reads (a JWK and a few fields). */
#define CTFS_RELEASE_MAX_ANSWER (64u << 10)
/* Key lifetimes the service may grant, in seconds. */
#define CTFS_RELEASE_MIN_LIFETIME 1u
#define CTFS_RELEASE_MAX_LIFETIME 86400u
/* Longest kid and fleet name accepted on either side. */
#define CTFS_RELEASE_MAX_NAME 128u
#define CTFS_RELEASE_NAME_BUF (CTFS_RELEASE_MAX_NAME + 1)

struct ctfs_release_req {
	char *kid;               /* master key id the client asks for */
	char *fleet;             /* "" when not given */
	uint64_t file_size;      /* size of the file the header comes from */
	uint8_t *header;         /* the file's bytes [0, 8 + N): prefix and JSON */
	size_t header_len;
	uint8_t header_sha256[32];
};

/* True for a kid or fleet name the API accepts: 1 to 128 bytes of
 * [A-Za-z0-9._:@+-], not starting with '.' (kids become file names). */
bool ctfs_release_name_ok(const char *s);

/* The request body for the header bytes hdr (prefix + JSON, as in the file). */
int ctfs_release_request_build(const uint8_t *hdr, size_t hdr_len, uint64_t file_size,
			       const char *kid, const char *fleet, struct ctfs_buf *out);
/* Parse and bound a request body; free with ctfs_release_request_free.
 * 0, -EINVAL (err says what) or -ENOMEM. */
int ctfs_release_request_parse(const char *body, size_t len, struct ctfs_release_req *out,
			       char *err, size_t errlen);
void ctfs_release_request_free(struct ctfs_release_req *r);

/* A parsed header, as both sides check it; m is a model without a file
 * over h and ci, so that the signature check and the key check after it
 * share the signer found (the binding of step 4 needs it). */
struct ctfs_release_hdr {
	struct ctfs_st_header *h;
	struct ctfs_ct_info *ci;
	struct ctfs_model m;
};

/* Parse hdr (prefix + JSON) of a file of file_size bytes as a CryptoTensors
 * header. 0, -EINVAL/-EBADMSG (err set), -ENOMEM. */
int ctfs_release_hdr_parse(const uint8_t *hdr, size_t hdr_len, uint64_t file_size,
			   struct ctfs_release_hdr *out, char *err, size_t errlen);
/* The header signature, with the same code the mount runs at open. */
int ctfs_release_hdr_verify(struct ctfs_release_hdr *rh, const struct ctfs_keyprov *signers,
			    char *err, size_t errlen);
/* After ctfs_release_hdr_verify, as the mount will: does master key `key`
 * allow the signer found (its ctfs_signers) and unwrap every tensor key?
 * 0 or -EKEYREJECTED (err says which). */
int ctfs_release_hdr_unwraps(struct ctfs_release_hdr *rh, const struct ctfs_jwk *key,
			     char *err, size_t errlen);
/* Without a signature check (a client that holds no signer key): does
 * `key` unwrap every tensor key? 0 or -EKEYREJECTED. */
int ctfs_release_hdr_key_opens(const struct ctfs_release_hdr *rh, const struct ctfs_jwk *key,
			       char *err, size_t errlen);
void ctfs_release_hdr_free(struct ctfs_release_hdr *rh);

/* The answers. A grant holds the secret: the caller wipes out->data (over
 * out->cap) before freeing it. */
int ctfs_release_grant_build(const struct ctfs_jwk *key, unsigned lifetime, struct ctfs_buf *out);
int ctfs_release_refusal_build(const char *code, const char *reason, struct ctfs_buf *out);

/* Parse a grant for kid: *key (locked secret; clear with ctfs_jwk_clear)
 * and *lifetime. -EKEYREJECTED when the answer is not what was asked (other
 * kid, not a master key, lifetime out of range), -EINVAL when malformed. */
int ctfs_release_grant_parse(const char *body, size_t len, const char *kid,
			     struct ctfs_jwk *key, unsigned *lifetime, char *err, size_t errlen);
/* The code and reason of a refusal body, or "" when absent. */
void ctfs_release_refusal_parse(const char *body, size_t len, char *code, size_t codelen,
				char *reason, size_t reasonlen);

#endif
