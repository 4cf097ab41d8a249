/* Signer certificate chains: anchors, x5c parsing and validation (OpenSSL). */
#include "trust/chain.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "codec/base64.h"
#include "util.h"

#define ANCHOR_FILE_MAX (4u << 20)

struct ctfs_anchors {
	X509_STORE *store;
	size_t n_certs, n_crls;
	bool crl_require;
};

void ctfs_anchors_free(struct ctfs_anchors *a)
{
	if (!a)
		return;
	X509_STORE_free(a->store);
	free(a);
}

size_t ctfs_anchors_crls(const struct ctfs_anchors *a)
{
	return a ? a->n_crls : 0;
}

/* Every certificate and CRL of one PEM file into the store. */
static int load_pem(struct ctfs_anchors *a, const char *path, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;
	STACK_OF(X509_INFO) *infos;
	BIO *bio;
	int rc = ctfs_read_file(path, ANCHOR_FILE_MAX, &text, &len);

	if (rc) {
		ctfs_seterr(err, errlen, "trust %s: %s", path, strerror(-rc));
		return rc;
	}
	bio = BIO_new_mem_buf(text, (int)len);
	infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
	if (!infos || !sk_X509_INFO_num(infos)) {
		ctfs_seterr(err, errlen, "trust %s: not PEM certificates or CRLs", path);
		rc = -EINVAL;
	}
	for (int i = 0; !rc && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *in = sk_X509_INFO_value(infos, i);

		if (in->x509 && X509_STORE_add_cert(a->store, in->x509) == 1)
			a->n_certs++;
		if (in->crl && X509_STORE_add_crl(a->store, in->crl) == 1)
			a->n_crls++;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	free(text);
	ERR_clear_error();
	return rc;
}

static bool anchor_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 4 && (!strcmp(name + n - 4, ".pem") ||
					   !strcmp(name + n - 4, ".crt") ||
					   !strcmp(name + n - 4, ".crl"));
}

static int load_dir(struct ctfs_anchors *a, const char *path, char *err, size_t errlen)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return -errno;
	while (!rc && (e = readdir(d))) {
		char full[4096];
		struct stat st;

		if (!anchor_name(e->d_name) ||
		    snprintf(full, sizeof(full), "%s/%s", path, e->d_name) >= (int)sizeof(full))
			continue;
		if (stat(full, &st) || !S_ISREG(st.st_mode))
			continue;
		rc = load_pem(a, full, err, errlen);
	}
	closedir(d);
	return rc;
}

int ctfs_anchors_load(const char *path, bool crl_require, struct ctfs_anchors **out,
		      char *err, size_t errlen)
{
	struct ctfs_anchors *a = calloc(1, sizeof(*a));
	struct stat st;
	int rc;

	if (!a || !(a->store = X509_STORE_new())) {
		free(a);
		return -ENOMEM;
	}
	a->crl_require = crl_require;
	if (stat(path, &st)) {
		rc = -errno;
		ctfs_seterr(err, errlen, "trust %s: %s", path, strerror(errno));
	} else {
		rc = S_ISDIR(st.st_mode) ? load_dir(a, path, err, errlen)
					 : load_pem(a, path, err, errlen);
	}
	if (!rc && !a->n_certs) {
		ctfs_seterr(err, errlen, "trust %s: no CA certificate", path);
		rc = -ENOENT;
	}
	if (rc) {
		ctfs_anchors_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void ctfs_x5c_free(char **x5c, size_t n)
{
	for (size_t i = 0; x5c && i < n; i++)
		free(x5c[i]);
	free(x5c);
}

static int x5c_from_array(const cJSON *arr, char ***out, size_t *n, char *err, size_t errlen)
{
	const cJSON *it;
	int count = cJSON_GetArraySize(arr);

	if (count < 1 || count > CTFS_X5C_MAX) {
		ctfs_seterr(err, errlen, "x5c holds %d certificates (1..%d)", count, CTFS_X5C_MAX);
		return -EINVAL;
	}
	*out = calloc((size_t)count, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) ||
		    strlen(it->valuestring) > ctfs_b64_encoded_len(CTFS_X5C_CERT_MAX)) {
			ctfs_seterr(err, errlen, "x5c holds a non-string or an oversized entry");
			return -EINVAL;
		}
		(*out)[*n] = strdup(it->valuestring);
		if (!(*out)[*n])
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

int ctfs_x5c_from_header(const struct ctfs_st_header *h, char ***x5c, size_t *n,
			 char *err, size_t errlen)
{
	const char *text = ctfs_st_meta_get(h, "__crypto_keys__");
	cJSON *ck = text ? cJSON_Parse(text) : NULL;
	const cJSON *sign, *arr;
	int rc = 0;

	*x5c = NULL;
	*n = 0;
	sign = cJSON_GetObjectItemCaseSensitive(ck, "sign");
	arr = cJSON_GetObjectItemCaseSensitive(sign, "x5c");
	if (arr && !cJSON_IsArray(arr)) {
		ctfs_seterr(err, errlen, "__crypto_keys__.sign.x5c is not an array");
		rc = -EINVAL;
	} else if (arr) {
		rc = x5c_from_array(arr, x5c, n, err, errlen);
	}
	cJSON_Delete(ck);
	if (rc) {
		ctfs_x5c_free(*x5c, *n);
		*x5c = NULL;
		*n = 0;
	}
	return rc;
}

static X509 *decode_cert(const char *b64)
{
	size_t cap = ctfs_b64_decoded_max(strlen(b64)), len = cap;
	uint8_t *der = malloc(cap ? cap : 1);
	const uint8_t *p = der;
	X509 *x = NULL;

	if (der && !ctfs_b64_decode(b64, strlen(b64), der, &len) && len <= CTFS_X5C_CERT_MAX)
		x = d2i_X509(NULL, &p, (long)len);
	if (x && p != der + len) {	/* trailing bytes: not one certificate */
		X509_free(x);
		x = NULL;
	}
	free(der);
	return x;
}

/* The leaf must be meant for signing, with an Ed25519 key. */
static int check_leaf(X509 *leaf, uint8_t pub[32], char *err, size_t errlen)
{
	uint32_t ku = X509_get_key_usage(leaf), xku = X509_get_extended_key_usage(leaf);
	EVP_PKEY *k = X509_get0_pubkey(leaf);
	size_t len = 32;

	if (ku != UINT32_MAX && !(ku & KU_DIGITAL_SIGNATURE)) {
		ctfs_seterr(err, errlen, "signer certificate's keyUsage lacks digitalSignature");
		return -EKEYREJECTED;
	}
	if (xku != UINT32_MAX && !(xku & (XKU_CODE_SIGN | XKU_ANYEKU))) {
		ctfs_seterr(err, errlen, "signer certificate's extendedKeyUsage lacks codeSigning");
		return -EKEYREJECTED;
	}
	if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(k, pub, &len) != 1 || len != 32) {
		ctfs_seterr(err, errlen, "signer certificate's key is not Ed25519");
		return -EKEYREJECTED;
	}
	return 0;
}

/* Without crl=require a CA without CRL (or with an expired one, whose
 * entries still count) is let through; everything else stands. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	int e = X509_STORE_CTX_get_error(ctx);
	const bool *require = X509_STORE_CTX_get_app_data(ctx);

	if (!ok && !*require && (e == X509_V_ERR_UNABLE_TO_GET_CRL ||
				 e == X509_V_ERR_CRL_HAS_EXPIRED))
		return 1;
	return ok;
}

static void describe(STACK_OF(X509) *chain, struct ctfs_chain_info *info)
{
	int n = sk_X509_num(chain);

	info->n = 0;
	for (int i = 0; i < n && info->n < CTFS_X5C_MAX + 1; i++) {
		X509 *x = sk_X509_value(chain, i);
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;

		X509_NAME_oneline(X509_get_subject_name(x), info->subject[info->n], CTFS_DN_MAX);
		if (!hex || ctfs_serial_canon(hex, info->serial[info->n]))
			strcpy(info->serial[info->n], "?");
		info->serial_ptr[info->n] = info->serial[info->n];
		info->n++;
		OPENSSL_free(hex);
		BN_free(bn);
	}
}

static int run_verify(const struct ctfs_anchors *a, X509 *leaf, STACK_OF(X509) *rest,
		      struct ctfs_chain_info *info, char *err, size_t errlen)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool require = a->crl_require;
	int rc = -ENOMEM, e;

	if (!ctx || X509_STORE_CTX_init(ctx, a->store, leaf, rest) != 1)
		goto out;
	if (a->n_crls || require)
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	X509_STORE_CTX_set_app_data(ctx, &require);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	if (X509_verify_cert(ctx) == 1) {
		describe(X509_STORE_CTX_get0_chain(ctx), info);
		info->crl_checked = a->n_crls > 0;
		rc = 0;
		goto out;
	}
	e = X509_STORE_CTX_get_error(ctx);
	ctfs_seterr(err, errlen, "signer certificate chain: %s (depth %d)",
		    X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
	rc = e == X509_V_ERR_CERT_REVOKED ? -EKEYREVOKED : -EKEYREJECTED;
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int ctfs_chain_verify(const struct ctfs_anchors *a, char *const *x5c, size_t n,
		      struct ctfs_chain_info *info, char *err, size_t errlen)
{
	STACK_OF(X509) *rest = sk_X509_new_null();
	X509 *leaf = NULL;
	int rc = rest ? 0 : -ENOMEM;

	memset(info, 0, sizeof(*info));
	if (!rc && (n < 1 || n > CTFS_X5C_MAX)) {
		ctfs_seterr(err, errlen, "x5c holds %zu certificates (1..%d)", n, CTFS_X5C_MAX);
		rc = -EINVAL;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		X509 *x = decode_cert(x5c[i]);

		if (!x) {
			ctfs_seterr(err, errlen, "x5c[%zu] is not a base64 DER certificate", i);
			rc = -EINVAL;
		} else if (i == 0) {
			leaf = x;
		} else if (!sk_X509_push(rest, x)) {
			X509_free(x);
			rc = -ENOMEM;
		}
	}
	if (!rc)
		rc = check_leaf(leaf, info->leaf_pub, err, errlen);
	if (!rc)
		rc = run_verify(a, leaf, rest, info, err, errlen);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	ERR_clear_error();
	return rc;
}

static int push_der(X509 *x, char **out)
{
	struct ctfs_buf b = { 0 };
	uint8_t *der = NULL;
	int len = i2d_X509(x, &der), rc;

	if (len <= 0 || (size_t)len > CTFS_X5C_CERT_MAX) {
		OPENSSL_free(der);
		return -EINVAL;
	}
	rc = ctfs_b64_encode(der, (size_t)len, &b);
	OPENSSL_free(der);
	if (rc)
		return rc;
	*out = (char *)b.data;
	return 0;
}

int ctfs_x5c_from_pem(const char *path, char ***x5c, size_t *n, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;
	BIO *bio;
	X509 *x;
	int rc = ctfs_read_file(path, ANCHOR_FILE_MAX, &text, &len);

	*x5c = NULL;
	*n = 0;
	if (rc) {
		ctfs_seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	bio = BIO_new_mem_buf(text, (int)len);
	*x5c = calloc(CTFS_X5C_MAX, sizeof(**x5c));
	rc = bio && *x5c ? 0 : -ENOMEM;
	while (!rc && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		rc = *n < CTFS_X5C_MAX ? push_der(x, &(*x5c)[*n]) : -EINVAL;
		if (!rc)
			(*n)++;
		X509_free(x);
	}
	if (!rc && !*n)
		rc = -EINVAL;
	if (rc) {
		ctfs_seterr(err, errlen, "%s: not a PEM chain of 1..%d certificates", path,
			    CTFS_X5C_MAX);
		ctfs_x5c_free(*x5c, *n);
		*x5c = NULL;
		*n = 0;
	}
	BIO_free(bio);
	free(text);
	ERR_clear_error();
	return rc;
}

int ctfs_x5c_leaf_key(const char *x5c, uint8_t pub[32])
{
	X509 *x = decode_cert(x5c);
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
	size_t len = 32;
	int rc = k && EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 &&
		 EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == 32 ? 0 : -EINVAL;

	X509_free(x);
	ERR_clear_error();
	return rc;
}
