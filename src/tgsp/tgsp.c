/* An open TGSP package: the checks of tgsp.h in order, then random access
 * to the members of the archive it carries. */
#include "tgsp/tgsp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "archive/gzindex.h"
#include "crypto/secmem.h"
#include "tgsp/payload.h"

struct ctfs_tgsp {
	struct ctfs_tgsp_container *c;
	uint8_t *dek;			/* secure memory */
	struct ctfs_tgsp_frames frames;
	struct ctfs_gzindex *gz;
	struct ctfs_tar_index *tar;
};

/* The trust the caller gave, then a signer looked up by key_id. With
 * neither, container_verify(NULL) says that no signer is trusted. */
static int verify(struct ctfs_tgsp_container *c, const struct ctfs_tgsp_open_opts *o,
		  char *err, size_t errlen)
{
	const struct ctfs_tgsp_trust *given = o->trust && o->trust->n ? o->trust : NULL;
	struct ctfs_tgsp_trust one = { 0 };
	struct ctfs_tgsp_sign_pub pub;
	char origin[256] = "keyring";
	int rc = ctfs_tgsp_container_verify(c, given, err, errlen), found;

	if (!rc || !o->signer_key)
		return rc;
	found = o->signer_key(o->arg, c->key_id, &pub, origin, sizeof(origin));
	if (found == -ENOKEY)
		return rc;
	if (found) {
		ctfs_seterr(err, errlen, "signature: cannot read the signer key for key_id '%s': %s",
			    c->key_id, strerror(-found));
		return -ENOKEY;
	}
	rc = ctfs_tgsp_trust_add(&one, &pub, c->key_id, origin);
	if (!rc)
		rc = ctfs_tgsp_container_verify(c, &one, err, errlen);
	ctfs_tgsp_trust_free(&one);
	return rc;
}

struct tar_feed {
	struct ctfs_tar_parser *tp;
	uint64_t fed, max;
};

/* The inflated archive into the tar index, up to the bound of tgsp.h. */
static int tar_sink(void *arg, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct tar_feed *f = arg;

	f->fed += len;
	if (f->fed > f->max) {
		ctfs_seterr(err, errlen, "corrupt archive: it inflates to more than %" PRIu64
			    " bytes (%u times the compressed payload): a decompression bomb",
			    f->max, CTFS_TGSP_MAX_RATIO);
		return -EBADMSG;
	}
	return ctfs_tar_parser_feed(f->tp, data, len, err, errlen);
}

static uint64_t inflate_bound(uint64_t compressed)
{
	uint64_t max;

	if (ctfs_mul_overflow(compressed, CTFS_TGSP_MAX_RATIO, &max))
		return UINT64_MAX;
	return max > CTFS_TGSP_MIN_INFLATE ? max : CTFS_TGSP_MIN_INFLATE;
}

/* Step 7: the archive inflated and indexed in one pass over the frames the
 * stream hands over (each authenticated before any byte of it is
 * inflated); then reads get the random-access source. */
static int index_archive(struct ctfs_tgsp *p, struct ctfs_tgsp_stream *s, unsigned int cursors,
			 char *err, size_t errlen)
{
	struct ctfs_tar_parser *tp;
	struct ctfs_gz_source src;
	struct tar_feed feed;
	int rc = ctfs_tar_parser_new(&tp);

	if (rc)
		return rc;
	ctfs_tgsp_stream_source(s, &src);
	feed = (struct tar_feed){ tp, 0, inflate_bound(p->frames.plain_len) };
	rc = ctfs_gzindex_build(&src, 0, cursors, tar_sink, &feed, &p->gz, err, errlen);
	if (rc && p->frames.why[0]) {
		ctfs_seterr(err, errlen, "%s", p->frames.why);
		rc = -EBADMSG;
	}
	if (!rc)
		rc = ctfs_tar_parser_finish(tp, &p->tar, err, errlen);
	ctfs_tar_parser_free(tp);
	if (!rc) {
		ctfs_tgsp_frames_source(&p->frames, &src);
		rc = ctfs_gzindex_set_source(p->gz, &src);
		if (rc)
			ctfs_seterr(err, errlen, "gzip index: cannot take the frames as its source: %s",
				    strerror(-rc));
	}
	p->frames.log_failures = true;
	return rc;
}

/* Step 7: the payload read once (tgsp/payload.h): one thread reads, hashes,
 * authenticates and decrypts the frames, this one inflates and indexes
 * them. The hash's verdict comes first; a package is open only when both
 * pass. */
static int hash_and_index(struct ctfs_tgsp *p, unsigned int cursors, char *err, size_t errlen)
{
	struct ctfs_tgsp_stream *s;
	char ierr[512] = "";
	uint8_t digest[32];
	int rc, hrc;

	ctfs_tgsp_frames_init(&p->frames, p->c, p->dek);
	rc = ctfs_tgsp_stream_start(&p->frames, &s);
	if (rc) {
		ctfs_seterr(err, errlen, "payload: cannot start the open pass: %s", strerror(-rc));
		return rc;
	}
	rc = index_archive(p, s, cursors, ierr, sizeof(ierr));
	hrc = ctfs_tgsp_stream_finish(s, digest);
	if (hrc)
		ctfs_seterr(err, errlen, "payload hash: cannot read the payload: %s", strerror(-hrc));
	else
		hrc = ctfs_tgsp_container_check_digest(p->c, digest, err, errlen);
	if (hrc)
		return hrc;
	if (rc)
		ctfs_seterr(err, errlen, "%s", ierr);
	p->c->payload_checked = rc == 0;
	return rc;
}

int ctfs_tgsp_open(int fd, const char *name, const struct ctfs_tgsp_open_opts *o,
		   struct ctfs_tgsp **out, char *err, size_t errlen)
{
	struct ctfs_tgsp *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	if (err && errlen)
		err[0] = 0;
	rc = ctfs_tgsp_container_read(fd, name, &p->c, err, errlen);
	if (!rc)
		rc = verify(p->c, o, err, errlen);
	if (!rc)
		rc = ctfs_tgsp_container_frames(p->c, err, errlen);
	if (!rc)
		rc = ctfs_tgsp_policy_check(&p->c->policy, o->fleet, o->now, err, errlen);
	if (!rc) {
		p->dek = ctfs_secure_alloc(CTFS_TGSP_DEK);
		rc = p->dek ? 0 : -ENOMEM;
	}
	if (!rc)
		rc = ctfs_tgsp_find_dek(p->c->rcpt, p->c->n_rcpt, o->recipient_key, o->arg, p->dek, err, errlen);
	if (!rc)
		rc = hash_and_index(p, o->cursors, err, errlen);
	if (rc) {
		ctfs_tgsp_close(p);
		return rc;
	}
	*out = p;
	return 0;
}

void ctfs_tgsp_close(struct ctfs_tgsp *p)
{
	if (!p)
		return;
	ctfs_gzindex_free(p->gz);
	ctfs_tar_index_free(p->tar);
	ctfs_secure_free(p->dek);
	ctfs_tgsp_container_free(p->c);
	free(p);
}

const struct ctfs_tgsp_container *ctfs_tgsp_container(const struct ctfs_tgsp *p)
{
	return p->c;
}

const struct ctfs_tar_index *ctfs_tgsp_index(const struct ctfs_tgsp *p)
{
	return p->tar;
}

ssize_t ctfs_tgsp_read(struct ctfs_tgsp *p, const struct ctfs_tar_entry *e, uint8_t *buf,
		       size_t len, uint64_t off)
{
	if (e->type != CTFS_TAR_FILE)
		return -EISDIR;
	if (off >= e->size)
		return 0;
	if (len > e->size - off)
		len = (size_t)(e->size - off);
	return ctfs_gzindex_read(p->gz, buf, len, e->offset + off);
}

void ctfs_tgsp_set_workers(struct ctfs_tgsp *p, unsigned int workers)
{
	ctfs_gzindex_set_workers(p->gz, workers);
}

void ctfs_tgsp_trim(struct ctfs_tgsp *p)
{
	ctfs_gzindex_trim(p->gz);
}

size_t ctfs_tgsp_index_bytes(const struct ctfs_tgsp *p)
{
	return ctfs_gzindex_bytes(p->gz) + ctfs_tar_bytes(p->tar);
}
