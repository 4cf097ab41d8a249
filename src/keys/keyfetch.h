/* Fetching a master key from ctfs-keyd: the client half of key release.
 * The daemon asks the kernel (ctfs_keyfetch_request -> request_key(2)); the
 * kernel runs request-key(8), which runs `ctfs-tool key fetch`, which calls
 * ctfs_keyfetch_fetch and instantiates the key with the granted lifetime.
 * Concurrent requests for one description wait on one construction in the
 * kernel, so one service request serves them all. */
#ifndef CTFS_KEYFETCH_H
#define CTFS_KEYFETCH_H

#include <keyutils.h>
#include <stddef.h>
#include <stdint.h>

#include "keys/jwk.h"

/* How long a failed fetch is remembered in the keyring (a negative key), so
 * a refused machine does not hammer the service. */
#define CTFS_KEYFETCH_NEG_TTL 10u
#define CTFS_KEYFETCH_TIMEOUT 10u   /* seconds for connect, TLS and the answer */
/* The kernel copies at most a page of callout information. */
#define CTFS_KEYFETCH_MAX_CALLOUT 4000u

struct ctfs_keyfetch_cfg {
	const char *server;      /* https://HOST[:PORT] (443 by default) */
	const char *cert, *key;  /* client certificate and its key (PEM files) */
	const char *ca;          /* CA file the service's certificate must chain to */
	const char *fleet;       /* optional */
	const char *audit;       /* optional: JSON lines file of this machine's fetches */
	unsigned timeout;        /* 0: CTFS_KEYFETCH_TIMEOUT */
	unsigned neg_ttl;        /* 0: CTFS_KEYFETCH_NEG_TTL */
};

/* The answer of one fetch. */
struct ctfs_keyfetch_result {
	int status;              /* HTTP status, 0 when no answer came */
	char code[64];           /* refusal code from the service, "" otherwise */
	unsigned lifetime;       /* granted seconds */
};

/*
 * Read the header of the CryptoTensors file at path, check it is the file
 * the caller meant (sha256 of its header bytes, when want_sha is not NULL)
 * and that its master kid is kid, ask the service, and check the answer:
 * the key for kid, which unwraps every tensor key of the file. *key (locked;
 * ctfs_jwk_clear) on success. Errors, with err set: -ENOKEY (service
 * unreachable, TLS failure, unknown kid), -EACCES (refused: policy,
 * revocation, client certificate), -EKEYREJECTED (an answer that is not
 * what was asked, or a key that does not unwrap the file), -EINVAL (bad
 * settings or file), -ENOMEM.
 */
int ctfs_keyfetch_fetch(const struct ctfs_keyfetch_cfg *cfg, const char *path,
			const uint8_t *want_sha, const char *kid, struct ctfs_jwk *key,
			struct ctfs_keyfetch_result *res, char *err, size_t errlen);

/* Callout information for request_key(2): "ctfs1 name=value ..." with the
 * values percent-encoded. Carries cfg, the file's path and header digest. */
int ctfs_keyfetch_callout_build(const struct ctfs_keyfetch_cfg *cfg, const char *path,
				const uint8_t sha[32], char *out, size_t cap);
/* Parse it back: cfg's strings and *path point into buf (modified in place). */
int ctfs_keyfetch_callout_parse(char *buf, struct ctfs_keyfetch_cfg *cfg, const char **path,
				uint8_t sha[32], int *has_sha);

/* SHA-256 of the header bytes (prefix + JSON) of the file open at fd. */
int ctfs_keyfetch_header_sha(int fd, uint8_t sha[32]);

/*
 * The daemon's side: ask the kernel for "ctfs:<kid>" with callout info for
 * the file at path, the key linked into ring. The header digest is taken
 * from fd, the file as the caller opened it (-1: open path), so that the
 * handler, which opens path again, fetches for that file and no other.
 * Returns the key's serial, or -errno: what request-key's handler rejected
 * the key with (-EACCES, -EKEYREJECTED, -ENOKEY), also while the negative
 * key lasts.
 */
int ctfs_keyfetch_request(const struct ctfs_keyfetch_cfg *cfg, key_serial_t ring,
			  const char *kid, const char *path, int fd, char *err, size_t errlen);

#endif
