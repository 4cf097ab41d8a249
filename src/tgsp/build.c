/* Writing TGSP packages: the tree as a deterministic tar, gzip, 4 MiB
 * frames under a fresh DEK wrapped for each recipient, then the JSON
 * sections and both signatures. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zlib.h>

#include "codec/hex.h"
#include "json/canon_json.h"
#include "safetensors/header_json.h"
#include "crypto/plainbuf.h"
#include "crypto/secmem.h"
#include "crypto/curve25519.h"
#include "crypto/sha256.h"
#include "archive/tar_writer.h"
#include "tgsp/build.h"
#include "tgsp/container.h"
#include "tgsp/payload.h"
#include "tgsp/recipient.h"

#define MAX_DEPTH 128
#define FRAME_BUF (4 + (size_t)CTFS_TGSP_FRAME + CTFS_TGSP_TAG)

/* --- the files ------------------------------------------------------------ */

struct file {
	char *path;
	uint32_t mode;
};

struct files {
	struct file *v;
	size_t n, cap;
};

static int add_file(struct files *l, const char *path, mode_t mode)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		struct file *v = realloc(l->v, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = nc;
	}
	l->v[l->n].path = strdup(path);
	if (!l->v[l->n].path)
		return -ENOMEM;
	l->v[l->n].mode = mode & S_IXUSR ? 0755 : 0644;
	l->n++;
	return 0;
}

static int walk(int dfd, const char *rel, unsigned int depth, struct files *l,
		char *err, size_t errlen)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	while (!rc && (errno = 0, de = readdir(d))) {
		struct ctfs_buf path = { 0 };
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = ctfs_buf_printf(&path, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		if (!rc && fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			rc = -errno;
		if (!rc && S_ISREG(st.st_mode)) {
			rc = add_file(l, (const char *)path.data, st.st_mode);
		} else if (!rc && S_ISDIR(st.st_mode)) {
			int sub = depth < MAX_DEPTH ?
				  openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC) : -1;

			if (sub < 0) {
				rc = depth < MAX_DEPTH ? -errno : -ELOOP;
				ctfs_seterr(err, errlen, "%s: %s", (const char *)path.data, strerror(-rc));
			} else {
				rc = walk(sub, (const char *)path.data, depth + 1, l, err, errlen);
			}
		} else if (!rc) {
			ctfs_seterr(err, errlen, "%s: only regular files and directories are packaged",
				    (const char *)path.data);
			rc = -EINVAL;
		}
		ctfs_buf_free(&path);
	}
	if (!rc && errno)
		rc = -errno;
	closedir(d);
	return rc;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

static void free_files(struct files *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
}

/* --- JSON sections ------------------------------------------------------------ */

static int put_hex(struct ctfs_buf *b, const uint8_t *p, size_t n)
{
	int rc = ctfs_buf_putc(b, '"');

	if (!rc)
		rc = ctfs_hex_encode(p, n, b);
	return rc ? rc : ctfs_buf_putc(b, '"');
}

static int put_str(struct ctfs_buf *b, const char *s)
{
	return ctfs_json_put_string(b, s, strlen(s));
}

static int put_policy(struct ctfs_buf *b, const struct ctfs_tgsp_build_opts *o)
{
	const char *sep = "";
	int rc = ctfs_buf_putc(b, '{');

	/* keys in sorted order: not_after, not_before, target_fleet */
	if (!rc && o->has_not_after) {
		rc = ctfs_buf_printf(b, "\"not_after\":%lld", (long long)o->not_after);
		sep = ",";
	}
	if (!rc && o->has_not_before) {
		rc = ctfs_buf_printf(b, "%s\"not_before\":%lld", sep, (long long)o->not_before);
		sep = ",";
	}
	if (!rc && o->fleet) {
		rc = ctfs_buf_printf(b, "%s\"target_fleet\":", sep);
		if (!rc)
			rc = put_str(b, o->fleet);
	}
	return rc ? rc : ctfs_buf_putc(b, '}');
}

static int manifest_json(struct ctfs_buf *b, const struct ctfs_tgsp_build_opts *o)
{
	uint8_t package_id[8];
	int rc;

	randombytes_buf(package_id, sizeof(package_id));
	rc = ctfs_buf_puts(b, "{\"author_id\":");
	if (!rc)
		rc = put_str(b, o->author_id);
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"author_pubkey\":{\"alg\":\"" CTFS_TGSP_SIG "\",\"classic\":");
	if (!rc)
		rc = put_hex(b, o->signer_pub->ed25519, sizeof(o->signer_pub->ed25519));
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"pqc\":");
	if (!rc)
		rc = put_hex(b, o->signer_pub->mldsa, sizeof(o->signer_pub->mldsa));
	if (!rc)
		rc = ctfs_buf_puts(b, "},\"build_info\":{},\"compat_base_model_id\":[],"
				   "\"content_index\":[],\"created_at\":");
	if (!rc)
		rc = ctfs_canon_put_double(b, o->created_at);
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"model_name\":");
	if (!rc)
		rc = put_str(b, o->model_name);
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"model_version\":");
	if (!rc)
		rc = put_str(b, o->model_version);
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"package_id\":");
	if (!rc)
		rc = put_hex(b, package_id, sizeof(package_id));
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"payload_hash\":\"pending\",\"policy_constraints\":");
	if (!rc)
		rc = put_policy(b, o);
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"producer_pubkey_ed25519\":null,\"tgsp_version\":\""
				   CTFS_TGSP_VERSION "\"}");
	return rc;
}

static int recipients_json(struct ctfs_buf *b, const struct ctfs_tgsp_build_opts *o,
			   const uint8_t *dek)
{
	int rc = ctfs_buf_putc(b, '[');

	for (size_t i = 0; i < o->n_recipients && !rc; i++) {
		struct ctfs_tgsp_recipient r = { 0 };

		rc = ctfs_tgsp_recipient_wrap(&o->recipients[i], dek, &r);
		if (!rc)
			rc = ctfs_buf_puts(b, i ? ",{\"encap\":{\"ct_pqc\":" : "{\"encap\":{\"ct_pqc\":");
		if (!rc)
			rc = put_hex(b, r.ct_pqc, sizeof(r.ct_pqc));
		if (!rc)
			rc = ctfs_buf_puts(b, ",\"ek_classic\":");
		if (!rc)
			rc = put_hex(b, r.ek_classic, sizeof(r.ek_classic));
		if (!rc)
			rc = ctfs_buf_puts(b, "},\"recipient_id\":");
		if (!rc)
			rc = put_str(b, o->recipient_ids[i]);
		if (!rc)
			rc = ctfs_buf_puts(b, ",\"wrapper\":{\"ct\":");
		if (!rc)
			rc = put_hex(b, r.wrapped, sizeof(r.wrapped));
		if (!rc)
			rc = ctfs_buf_puts(b, ",\"nonce\":");
		if (!rc)
			rc = put_hex(b, r.nonce, sizeof(r.nonce));
		if (!rc)
			rc = ctfs_buf_puts(b, "}}");
	}
	return rc ? rc : ctfs_buf_putc(b, ']');
}

static int sha256_hex(const uint8_t *p, size_t n, char *hex)
{
	struct ctfs_buf b = { 0 };
	uint8_t d[32];
	int rc;

	ctfs_sha256(d, p, n);
	rc = ctfs_hex_encode(d, sizeof(d), &b);
	if (!rc)
		memcpy(hex, b.data, 65);
	ctfs_buf_free(&b);
	return rc;
}

static int header_json(struct ctfs_buf *b, const uint8_t *nonce_base, const char *mh,
		       const char *rh, const char *ph)
{
	int rc = ctfs_buf_puts(b, "{\"crypto\":{\"alg\":\"" CTFS_TGSP_AEAD "\",\"kem\":\""
			       CTFS_TGSP_KEM "\",\"nonce_base\":");

	if (!rc)
		rc = put_hex(b, nonce_base, CTFS_TGSP_NONCE);
	if (!rc)
		rc = ctfs_buf_printf(b, ",\"sig\":\"" CTFS_TGSP_SIG "\"},\"hashes\":{\"manifest\":"
				     "\"%s\",\"payload\":\"%s\",\"recipients\":\"%s\"},"
				     "\"tgsp_version\":\"" CTFS_TGSP_VERSION "\"}", mh, ph, rh);
	return rc;
}

static int signature_json(struct ctfs_buf *b, const struct ctfs_tgsp_build_opts *o,
			  const uint8_t *msg, size_t len)
{
	uint8_t ed[64], rnd[32];
	uint8_t *ml = malloc(CTFS_MLDSA65_SIG_BYTES);
	int rc = ml ? 0 : -ENOMEM;

	randombytes_buf(rnd, sizeof(rnd));
	if (!rc)
		rc = ctfs_ed25519_sign(ed, msg, len, o->signer_sec->ed25519_seed);
	if (!rc)
		rc = ctfs_mldsa65_sign(ml, msg, len, NULL, 0, o->signer_sec->mldsa, rnd);
	if (!rc)
		rc = ctfs_buf_puts(b, "{\"key_id\":");
	if (!rc)
		rc = put_str(b, o->key_id);
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"signature\":{\"sig_classic\":");
	if (!rc)
		rc = put_hex(b, ed, sizeof(ed));
	if (!rc)
		rc = ctfs_buf_puts(b, ",\"sig_pqc\":");
	if (!rc)
		rc = put_hex(b, ml, CTFS_MLDSA65_SIG_BYTES);
	if (!rc)
		rc = ctfs_buf_puts(b, "}}");
	sodium_memzero(rnd, sizeof(rnd));
	free(ml);
	return rc;
}

/* --- the payload ---------------------------------------------------------------- */

struct payload {
	int fd;
	uint64_t base;			/* file offset of the payload */
	uint64_t len;			/* bytes written so far */
	uint64_t frame;			/* index of the frame being filled */
	uint8_t *buf;			/* be32 length | frame | tag */
	size_t fill;
	z_stream zs;
	bool zs_init;
	struct ctfs_tgsp_frame_key key;
	struct ctfs_sha256_ctx *md;
};

static int emit_frame(struct payload *p)
{
	size_t n = 4 + p->fill + CTFS_TGSP_TAG;
	int rc;

	if (!p->fill)
		return 0;
	ctfs_store_be32(p->buf, (uint32_t)p->fill);
	rc = ctfs_tgsp_frame_seal(&p->key, p->frame, p->buf + 4, p->fill, p->buf + 4,
				  p->buf + 4 + p->fill);
	if (!rc)
		rc = ctfs_sha256_update(p->md, p->buf, n);
	if (!rc)
		rc = ctfs_pwrite_full(p->fd, p->buf, n, p->base + p->len);
	p->len += n;
	p->frame++;
	p->fill = 0;
	return rc;
}

/* Run deflate over what is in zs.next_in, filling and emitting frames. */
static int deflate_into_frames(struct payload *p, int flush)
{
	for (;;) {
		int ret;

		p->zs.next_out = p->buf + 4 + p->fill;
		p->zs.avail_out = (uInt)(CTFS_TGSP_FRAME - p->fill);
		ret = deflate(&p->zs, flush);
		p->fill = CTFS_TGSP_FRAME - p->zs.avail_out;
		if (ret == Z_STREAM_ERROR)
			return -EIO;
		if (p->fill == CTFS_TGSP_FRAME) {
			int rc = emit_frame(p);

			if (rc)
				return rc;
			continue;
		}
		if (flush == Z_FINISH ? ret == Z_STREAM_END : !p->zs.avail_in)
			return 0;
	}
}

static int tar_to_payload(void *arg, const uint8_t *data, size_t len)
{
	struct payload *p = arg;

	while (len) {
		uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
		int rc;

		p->zs.next_in = (Bytef *)(uintptr_t)data;
		p->zs.avail_in = n;
		rc = deflate_into_frames(p, Z_NO_FLUSH);
		if (rc)
			return rc;
		data += n;
		len -= n;
	}
	return 0;
}

static int payload_start(struct payload *p, int level)
{
	int rc = ctfs_sha256_new(&p->md);

	if (rc)
		return rc;
	p->buf = ctfs_plain_alloc(FRAME_BUF);
	if (!p->buf)
		return -ENOMEM;
	p->zs.zalloc = ctfs_z_alloc;
	p->zs.zfree = ctfs_z_free;
	/* windowBits 31: a gzip wrapper with mtime 0 and OS "Unix" */
	if (deflateInit2(&p->zs, level ? level : 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	p->zs_init = true;
	return 0;
}

static void payload_end(struct payload *p)
{
	if (p->zs_init)
		deflateEnd(&p->zs);
	ctfs_plain_free(p->buf, FRAME_BUF);
	ctfs_sha256_free(p->md);
}

static int write_tree(struct payload *p, const char *dir, const struct files *l,
		      char *err, size_t errlen)
{
	struct ctfs_tar_writer w = { tar_to_payload, p, 0 };
	int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (root < 0)
		return -errno;
	for (size_t i = 0; i < l->n && !rc; i++) {
		int fd = openat(root, l->v[i].path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;

		if (fd < 0 || fstat(fd, &st)) {
			rc = -errno;
		} else {
			rc = ctfs_tar_write_file(&w, l->v[i].path, l->v[i].mode, fd,
						 (uint64_t)st.st_size);
		}
		if (fd >= 0)
			close(fd);
		if (rc)
			ctfs_seterr(err, errlen, "%s: %s", l->v[i].path,
				    rc == -EIO || rc == -EFBIG ? "changed while being packaged" :
				    strerror(-rc));
	}
	close(root);
	if (!rc)
		rc = ctfs_tar_write_end(&w);
	if (!rc) {
		p->zs.next_in = NULL;
		p->zs.avail_in = 0;
		rc = deflate_into_frames(p, Z_FINISH);
	}
	if (!rc)
		rc = emit_frame(p);
	return rc;
}

/* --- assembly ---------------------------------------------------------------------- */

struct sections {
	struct ctfs_buf header, manifest, recipients, signature;
	uint8_t nonce_base[CTFS_TGSP_NONCE];
	uint8_t *dek;
	char mh[65], rh[65], ph[65];
};

static int put_section(int fd, uint64_t *at, const struct ctfs_buf *b)
{
	uint8_t len[4];

	int rc;

	ctfs_store_be32(len, (uint32_t)b->len);
	rc = ctfs_pwrite_full(fd, len, 4, *at);
	if (!rc)
		rc = ctfs_pwrite_full(fd, b->data, b->len, *at + 4);
	*at += 4 + b->len;
	return rc;
}

static int assemble(int fd, struct sections *s, const struct ctfs_tgsp_build_opts *o,
		    const struct files *l, char *err, size_t errlen)
{
	struct payload p = { .fd = fd };
	uint8_t d[32], len8[8], *msg = NULL;
	struct ctfs_buf phex = { 0 };
	uint64_t at = 0;
	size_t mlen;
	int rc;

	/* the header has the same length whatever the payload hash is */
	rc = header_json(&s->header, s->nonce_base, s->mh, s->rh, s->rh);
	p.base = CTFS_TGSP_MAGIC_LEN + 4 + s->header.len + 4 + s->manifest.len + 4 +
		 s->recipients.len + 8;
	p.key.dek = s->dek;
	memcpy(p.key.nonce_base, s->nonce_base, CTFS_TGSP_NONCE);
	memcpy(p.key.aad_prefix, s->mh, 64);
	memcpy(p.key.aad_prefix + 64, s->rh, 64);
	if (!rc)
		rc = payload_start(&p, o->level);
	if (!rc)
		rc = write_tree(&p, o->dir, l, err, errlen);
	if (!rc)
		rc = ctfs_sha256_final(p.md, d);
	if (!rc)
		rc = ctfs_hex_encode(d, sizeof(d), &phex);
	if (!rc) {
		s->header.len = 0;
		rc = header_json(&s->header, s->nonce_base, s->mh, s->rh, (const char *)phex.data);
	}
	mlen = s->header.len + s->manifest.len + s->recipients.len;
	if (!rc && !(msg = malloc(mlen)))
		rc = -ENOMEM;
	if (!rc) {
		memcpy(msg, s->header.data, s->header.len);
		memcpy(msg + s->header.len, s->manifest.data, s->manifest.len);
		memcpy(msg + s->header.len + s->manifest.len, s->recipients.data, s->recipients.len);
		rc = signature_json(&s->signature, o, msg, mlen);
	}
	if (!rc)
		rc = ctfs_pwrite_full(fd, CTFS_TGSP_MAGIC, CTFS_TGSP_MAGIC_LEN, 0);
	at = CTFS_TGSP_MAGIC_LEN;
	if (!rc)
		rc = put_section(fd, &at, &s->header);
	if (!rc)
		rc = put_section(fd, &at, &s->manifest);
	if (!rc)
		rc = put_section(fd, &at, &s->recipients);
	ctfs_store_be64(len8, p.len);
	if (!rc)
		rc = ctfs_pwrite_full(fd, len8, 8, at);
	at += 8 + p.len;
	if (!rc)
		rc = put_section(fd, &at, &s->signature);
	if (!rc && ftruncate(fd, (off_t)at))
		rc = -errno;
	free(msg);
	ctfs_buf_free(&phex);
	payload_end(&p);
	return rc;
}

int ctfs_tgsp_build(int out_fd, const struct ctfs_tgsp_build_opts *o, char *err, size_t errlen)
{
	struct sections s = { 0 };
	struct files l = { 0 };
	int dfd, rc;

	if (!o->n_recipients) {
		ctfs_seterr(err, errlen, "a package needs at least one recipient");
		return -EINVAL;
	}
	dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		ctfs_seterr(err, errlen, "%s: %s", o->dir, strerror(-rc));
		return rc;
	}
	rc = walk(dfd, "", 0, &l, err, errlen);
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_file);
	s.dek = ctfs_secure_alloc(CTFS_TGSP_DEK);
	if (!rc && !s.dek)
		rc = -ENOMEM;
	if (!rc) {
		randombytes_buf(s.dek, CTFS_TGSP_DEK);
		randombytes_buf(s.nonce_base, sizeof(s.nonce_base));
		rc = manifest_json(&s.manifest, o);
	}
	if (!rc)
		rc = recipients_json(&s.recipients, o, s.dek);
	if (!rc)
		rc = sha256_hex(s.manifest.data, s.manifest.len, s.mh);
	if (!rc)
		rc = sha256_hex(s.recipients.data, s.recipients.len, s.rh);
	if (!rc)
		rc = assemble(out_fd, &s, o, &l, err, errlen);
	if (rc && err && !*err)
		ctfs_seterr(err, errlen, "%s", strerror(-rc));
	ctfs_secure_free(s.dek);
	ctfs_buf_free(&s.header);
	ctfs_buf_free(&s.manifest);
	ctfs_buf_free(&s.recipients);
	ctfs_buf_free(&s.signature);
	free_files(&l);
	return rc;
}
