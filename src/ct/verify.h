/* Checking every encrypted byte of a CryptoTensors file against its tags
 * (ctfs-tool verify), optionally writing out the plaintext as it goes
 * (ctfs-tool decrypt). Unlike the mount's read path, which opens only the
 * chunks a read touches, this walks the whole data region once, on a pool
 * of workers, in bounded memory, and logs nothing: failures are returned. */
#ifndef CTFS_CT_VERIFY_H
#define CTFS_CT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct/model.h"

struct ctfs_ct_check {
	int out_fd;              /* -1: check only; else the plaintext data region goes here */
	uint64_t out_off;        /* where that data region starts in out_fd */
	unsigned threads;        /* 0: one per CPU */
	/* As in ctfs_ct_write_opts: bytes done of total, non-zero cancels. */
	int (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;

	/* Results. */
	uint64_t messages;       /* AEAD messages (v2 chunks, v1 tensors) checked */
	uint64_t bytes;          /* bytes of ciphertext checked */
	bool bad;                /* a message failed its tag: */
	size_t bad_tensor;       /*   index into m->h->tensors */
	uint64_t bad_chunk;      /*   v2 chunk index (0 for v1) */
};

/*
 * m must be encrypted and hold its tensor keys (ctfs_model_unlock or
 * ctfs_model_unwrap_keys). Every message is authenticated; with an out_fd,
 * plaintext tensors are copied and encrypted ones decrypted to it at their
 * offsets (bytes of a message that then fails are in the file: the caller
 * discards it). 0; -EBADMSG when a tag fails, with c->bad set and err naming
 * the first failing tensor and chunk in data order; other -errno (-EIO for
 * a short file, -ENOSPC, the progress callback's value) with err set.
 */
int ctfs_model_check_data(struct ctfs_model *m, struct ctfs_ct_check *c,
			  char *err, size_t errlen);

#endif
