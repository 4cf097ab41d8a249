/* X.509 certificate chains for signers (-o trust=FILE|DIR): an x5c chain
 * (RFC 7517 §4.7: standard base64 DER, leaf first) validated to a trusted
 * CA with OpenSSL, CRLs of the trust directory applied, and the leaf's
 * Ed25519 key handed out as the key that must verify the signature.
 *
 * Anchors: a PEM file, or every regular *.pem / *.crt / *.crl file of a
 * directory (PEM; CA certificates and CRLs). Rules: validity at the current
 * time for every certificate; CA constraints as OpenSSL checks them; the
 * leaf's keyUsage, when present, has digitalSignature and its
 * extendedKeyUsage, when present, has codeSigning (or anyExtendedKeyUsage);
 * the leaf key is Ed25519. CRLs: a CA with a CRL in the anchors has every
 * certificate it issued checked against it (expired CRLs still revoke);
 * with crl=require, a CA without a current CRL fails the chain.
 * Caps: 8 certificates of 16 KiB each. */
#ifndef CTFS_CHAIN_H
#define CTFS_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safetensors/safetensors.h"
#include "trust/revoked.h"

#define CTFS_X5C_MAX 8
#define CTFS_X5C_CERT_MAX (16u << 10)
#define CTFS_DN_MAX 256

struct ctfs_anchors;

/* Load the anchors of path (file or directory). 0, -ENOENT (no CA
 * certificate found), -EINVAL (a file that is not PEM), -errno. */
int ctfs_anchors_load(const char *path, bool crl_require, struct ctfs_anchors **out,
		      char *err, size_t errlen);
void ctfs_anchors_free(struct ctfs_anchors *a);
/* Number of CRLs loaded with the anchors. */
size_t ctfs_anchors_crls(const struct ctfs_anchors *a);

/* What a validated chain is: leaf first, up to and including the anchor. */
struct ctfs_chain_info {
	uint8_t leaf_pub[32];
	size_t n;
	char subject[CTFS_X5C_MAX + 1][CTFS_DN_MAX];
	char serial[CTFS_X5C_MAX + 1][CTFS_SERIAL_MAX];
	char *serial_ptr[CTFS_X5C_MAX + 1];	/* for ctfs_revoked_query */
	bool crl_checked;			/* at least one CRL applied */
};

/* Validate x5c (n base64 DER certificates, leaf first) to a of the
 * anchors. 0 with *info filled, -EKEYREJECTED (err says why: unknown CA,
 * expired, bad usage, not Ed25519, ...) or -EKEYREVOKED (a CRL lists a
 * certificate of the chain), -EINVAL for malformed input, -ENOMEM. */
int ctfs_chain_verify(const struct ctfs_anchors *a, char *const *x5c, size_t n,
		      struct ctfs_chain_info *info, char *err, size_t errlen);

/* The x5c member of the header's __crypto_keys__.sign object: *n == 0 when
 * absent. Free with ctfs_x5c_free. -EINVAL when malformed. */
int ctfs_x5c_from_header(const struct ctfs_st_header *h, char ***x5c, size_t *n,
			 char *err, size_t errlen);
void ctfs_x5c_free(char **x5c, size_t n);

/* The certificates of a PEM file (leaf first, as written) as x5c strings,
 * for writers. 0, -EINVAL (not PEM, none, more than CTFS_X5C_MAX), -errno. */
int ctfs_x5c_from_pem(const char *path, char ***x5c, size_t *n, char *err, size_t errlen);
/* The Ed25519 key of the certificate x5c (base64 DER); 0 or -EINVAL. */
int ctfs_x5c_leaf_key(const char *x5c, uint8_t pub[32]);

#endif
