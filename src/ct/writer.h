/* Writing CryptoTensors files: a safetensors file encrypted tensor by tensor
 * and signed, in the layout upstream CryptoTensors writes (FORMATS.md §2). */
#ifndef CTFS_CT_WRITER_H
#define CTFS_CT_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"
#include "keys/jwk.h"

struct ctfs_ct_write_opts {
	int version;                /* 1 (monolithic) or 2 (chunked); 0 means 2 */
	enum ctfs_alg alg;          /* for the DEK wrap and the data; must fit master */
	uint64_t chunk_size;        /* v2 only; 0 means CTFS_DEFAULT_CHUNK_SIZE */
	const char *const *tensors; /* NULL-terminated names to encrypt; NULL: all */
	const char *policy_local;   /* Rego text; NULL: CTFS_DEFAULT_POLICY */
	const char *policy_remote;  /* Rego text; NULL: CTFS_DEFAULT_POLICY */
	const struct ctfs_jwk *master; /* oct key; its kid/jku name it in the file */
	const struct ctfs_jwk *signer; /* okp Ed25519 key holding its seed (d) */
	unsigned threads;           /* workers; 0: one per CPU (ctfs_pool_threads) */
	/* Trust metadata (src/trust/, ct/model_trust.h): model_id and
	 * model_version (decimal text) become the signed user metadata
	 * ctfs.model_id / ctfs.version when set; x5c (n_x5c base64 DER
	 * certificates, leaf first, the leaf holding signer's key) goes into
	 * __crypto_keys__.sign; the SHA-256 of every plaintext chunk
	 * (ctfs.plain_sha256) is written unless no_digests. */
	const char *model_id;
	const char *model_version;
	char *const *x5c;
	size_t n_x5c;
	bool no_digests;
	/* Called about every 200 ms on the calling thread with the bytes of
	 * the data region done so far; a non-zero return cancels the run and
	 * is returned. May be NULL. */
	int (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};

/*
 * Encrypt the safetensors file in_path into out_path. Memory stays bounded
 * whatever the tensor sizes: each worker streams data through a fixed
 * buffer, and plaintext tensors are copied by the kernel. The
 * output is written to a temporary file next to out_path, synced and renamed
 * over it, so out_path is either untouched or complete; the temporary file
 * is removed on any error. Tensors keep their data_offsets; user metadata is
 * kept. -EALREADY if the input is already encrypted, -ENOENT if a named
 * tensor does not exist, -EINVAL for bad options or keys; err says which.
 */
int ctfs_ct_encrypt_file(const char *in_path, const char *out_path,
			 const struct ctfs_ct_write_opts *o, char *err, size_t errlen);

#endif
