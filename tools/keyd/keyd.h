/* ctfs-keyd: what the parts of the key service share (man ctfs-keyd(8)). */
#ifndef CTFS_KEYD_H
#define CTFS_KEYD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "keys/jwk.h"
#include "keys/keyprov.h"
#include "keys/release.h"
#include "util.h"

#define KEYD_HEAD_MAX 8192u            /* request line and headers */
#define KEYD_DEFAULT_LIFETIME 300u
#define KEYD_DEFAULT_MAX_CONN 64u
#define KEYD_DEFAULT_TIMEOUT 10u
#define KEYD_DEFAULT_MAX_REQUEST (24u << 20) /* a 16 MiB header in base64, and JSON around it */

/* What SIGHUP reloads: replaced whole, under the rwlock, while requests run. */
struct keyd_revoked {
	char **serials, **subjects, **kids, **digests; /* NULL-terminated */
};

struct keyd_reloadable {
	struct keyd_revoked *rev;
	char *data;             /* the policy data file (JSON text), "{}" when none */
	size_t data_len;
};

struct keyd {
	/* settings */
	const char *listen, *cert, *key, *client_ca, *keys_dir, *signers_path;
	const char *revoked_path, *data_path, *audit_path, *pkcs11_module, *pkcs11_token;
	const char *pkcs11_pin_file, *import_path;
	unsigned lifetime, max_conn, timeout;
	size_t max_request;

	SSL_CTX *ctx;
	int listen_fd;
	struct ctfs_jwk *signers;
	size_t n_signers;
	struct ctfs_keyprov signer_kp;
	int keys_dirfd;
	struct keyd_p11 *p11;   /* PKCS#11 custody, or NULL: the JWK directory */

	pthread_rwlock_t lock;  /* guards cur */
	struct keyd_reloadable cur;
	pthread_mutex_t audit_lock;
	int audit_fd;

	atomic_uint active;     /* connections being served */
	atomic_bool stopping;
};

/* The identity a client certificate gives (strings are "" when absent). */
struct keyd_client {
	char subject[512], issuer[512], serial[130], peer[64];
	char sans[1024];        /* a JSON array of strings */
	bool cert_ok;
	char cert_err[128];
};

/* One decision, as the audit records it. */
struct keyd_decision {
	int status;             /* HTTP status */
	const char *code;       /* "released" or the refusal code */
	char reason[512];
	char kid[CTFS_RELEASE_NAME_BUF];
	char fleet[CTFS_RELEASE_NAME_BUF];
	char header_sha256[65];
	char sign_kid[CTFS_RELEASE_NAME_BUF];
	char policy_hash[65];   /* SHA-256 hex of the remote policy decided */
	unsigned lifetime;
};

/* conn.c: serve one accepted connection (takes fd), in its own thread. */
void keyd_serve(struct keyd *d, int fd, const char *peer);
/* decide.c: the checks of one request body; *answer is the body to send
 * (wiped by the caller: it may hold the key). */
void keyd_decide(struct keyd *d, const struct keyd_client *c, const char *body, size_t len,
		 struct keyd_decision *dec, struct ctfs_buf *answer);
/* revoke.c */
int keyd_revoked_load(const char *path, struct keyd_revoked **out, char *err, size_t errlen);
void keyd_revoked_free(struct keyd_revoked *r);
const char *keyd_revoked_machine(const struct keyd_revoked *r, const struct keyd_client *c);
const char *keyd_revoked_model(const struct keyd_revoked *r, const char *kid, const char *sha);
/* reload the revocation list and the policy data (SIGHUP); 0 or -errno */
int keyd_reload(struct keyd *d);
/* audit.c: one JSON line, one write(2), with the mount's audit fields
 * (time, enc_kid, sign_kid, policy_hash, decision, reason) and the
 * client's identity. 0, or -errno when the record was not written (a
 * release is then refused: no key leaves without its record). */
int keyd_audit_open(struct keyd *d);
int keyd_audit(struct keyd *d, const struct keyd_client *c, const struct keyd_decision *dec);
/* custody.c: the master key kid (oct, locked) for a file of algorithm alg.
 * -ENOKEY when unknown. */
int keyd_custody_get(struct keyd *d, const char *kid, enum ctfs_alg alg, struct ctfs_jwk *out,
		     char *err, size_t errlen);
/* p11.c: --import of a JWK set's master keys into the token. */
int keyd_p11_import(struct keyd *d, const struct ctfs_jwk *keys, size_t n, char *err,
		    size_t errlen);
int keyd_custody_open(struct keyd *d, char *err, size_t errlen);
void keyd_custody_close(struct keyd *d);
/* policy.c: the remote policy of the file, decided for input and data. */
int keyd_policy_decide(const char *rego, const char *input, size_t input_len,
		       const char *data, size_t data_len, char *reason, size_t reasonlen);

#endif
