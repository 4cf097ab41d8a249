/* Loading a backing file: identity, header, and the plaintext view's layout. */
#include "ct/model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors/header_json.h"
#include "crypto/secmem.h"
#include "ct/v1_reader.h"
#include "trust/digests.h"

static atomic_uint_fast64_t next_uid = 1;

bool ctfs_model_same_file(const struct ctfs_model *m, const struct stat *st)
{
	return ctfs_same_file(&m->id, st);
}

/* A file is a candidate only if its first 8 bytes give a plausible header
 * length; anything else (config.json, tokenizers) passes through untouched. */
static bool looks_like_safetensors(int fd, uint64_t size)
{
	uint8_t b[9];
	uint64_t n;

	if (size < 10 || ctfs_pread_full(fd, b, sizeof(b), 0))
		return false;
	n = ctfs_load_le64(b);
	return n >= 2 && n <= CTFS_ST_MAX_HEADER && n <= size - 8 && b[8] == '{';
}

static int build_view(struct ctfs_model *m, char *err, size_t errlen)
{
	int rc = ctfs_st_build_header(m->h, ctfs_crypto_meta_keys, true, &m->view_hdr);

	if (rc) {
		ctfs_seterr(err, errlen, "cannot build the plaintext header: %s", strerror(-rc));
		return rc;
	}
	if (ctfs_add_overflow(m->view_hdr.len, m->h->data_len, &m->view_size)) {
		ctfs_seterr(err, errlen, "view size overflows");
		return -EOVERFLOW;
	}
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* Does a header that failed to parse claim to be encrypted? Then it must be
 * refused, not passed through. */
static bool mentions_encryption(int fd, uint64_t size)
{
	uint8_t b[8];
	uint64_t n;
	char *text;
	bool found;

	if (ctfs_pread_full(fd, b, sizeof(b), 0))
		return false;
	n = ctfs_load_le64(b);
	if (n > CTFS_ST_MAX_HEADER || n > size - 8)
		return false;
	text = malloc(n + 1);
	if (!text)
		return true; /* cannot tell: fail closed */
	found = !ctfs_pread_full(fd, text, n, 8) && memmem(text, n, CTFS_META_ENCRYPTION,
							   strlen(CTFS_META_ENCRYPTION));
	free(text);
	return found;
}

/* Parse the header; a plain file stays a pass-through. Files named
 * .cryptotensors, and files whose header mentions encryption, must parse. */
static int load_header(struct ctfs_model *m, const char *path, char *err, size_t errlen)
{
	bool must = has_suffix(path, ".cryptotensors");
	uint64_t size = (uint64_t)m->id.st_size;
	int rc;

	m->view_size = size;
	if (!S_ISREG(m->id.st_mode))
		return 0;
	if (!looks_like_safetensors(m->fd, size)) {
		if (!must)
			return 0;
		ctfs_seterr(err, errlen, "header length missing or past the end of the file");
		return -EBADMSG;
	}
	rc = ctfs_st_read(m->fd, size, &m->h, err, errlen);
	if (rc) {
		if (rc == -ENOMEM)
			return rc;
		return must || mentions_encryption(m->fd, size) ? -EBADMSG : 0;
	}
	if (!ctfs_ct_is_encrypted(m->h)) {
		ctfs_st_free(m->h);
		m->h = NULL;
		return 0;
	}
	rc = ctfs_ct_parse(m->h, &m->ci, err, errlen);
	if (rc)
		return rc == -ENOMEM ? rc : -EBADMSG;
	m->streams = calloc(m->h->n_tensors ? m->h->n_tensors : 1, sizeof(*m->streams));
	if (!m->streams)
		return -ENOMEM;
	return build_view(m, err, errlen);
}

int ctfs_model_load_fd(int fd, const char *name, struct ctfs_model **out, char *err,
		       size_t errlen)
{
	struct ctfs_model *m = calloc(1, sizeof(*m));
	int rc;

	*out = NULL;
	if (!m) {
		close(fd);
		return -ENOMEM;
	}
	atomic_init(&m->refs, 1);
	m->uid = atomic_fetch_add(&next_uid, 1);
	m->fd = fd;
	if (pthread_mutex_init(&m->lock, NULL)) {
		close(fd);
		free(m);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&m->stream_lock, NULL)) {
		pthread_mutex_destroy(&m->lock);
		close(fd);
		free(m);
		return -ENOMEM;
	}
	m->name = strdup(name);
	if (!m->name || fstat(m->fd, &m->id)) {
		rc = m->name ? -errno : -ENOMEM;
		ctfs_seterr(err, errlen, "cannot open: %s", strerror(-rc));
		goto fail;
	}
	rc = load_header(m, name, err, errlen);
	if (rc)
		goto fail;
	*out = m;
	return 0;
fail:
	ctfs_model_put(m);
	return rc;
}

int ctfs_model_load(int dirfd, const char *path, const char *name,
		    struct ctfs_model **out, char *err, size_t errlen)
{
	/* non-blocking: a FIFO put in place of a model must not hang the caller */
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	*out = NULL;
	if (fd < 0) {
		int rc = -errno;

		ctfs_seterr(err, errlen, "cannot open: %s", strerror(-rc));
		return rc;
	}
	return ctfs_model_load_fd(fd, name, out, err, errlen);
}

struct ctfs_model *ctfs_model_get(struct ctfs_model *m)
{
	atomic_fetch_add(&m->refs, 1);
	return m;
}

void ctfs_model_put(struct ctfs_model *m)
{
	if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	if (m->streams) {
		for (size_t i = 0; i < m->h->n_tensors; i++)
			ctfs_stream_state_free(m->streams[i]);
		free(m->streams);
	}
	ctfs_secure_free(m->deks);
	ctfs_digests_free(m->digests);
	free(m->chain);
	ctfs_ct_free(m->ci);
	ctfs_st_free(m->h);
	ctfs_buf_free(&m->view_hdr);
	if (m->fd >= 0)
		close(m->fd);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->stream_lock);
	free(m->name);
	free(m);
}
