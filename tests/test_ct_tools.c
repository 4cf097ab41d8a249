/* The library pieces behind ctfs-tool verify/decrypt/rewrap: the worker
 * pool, whole-file verification (first bad tensor and chunk named), export,
 * and rewrap (data region identical, old key refused, new key accepted), on
 * the vectors of an independent implementation. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ct/export.h"
#include "ct/rewrap.h"
#include "ct/verify.h"
#include "keys/jwk.h"
#include "crypto/secmem.h"
#include "tap.h"
#include "util.h"
#include "sys/workpool.h"

/* ---- the pool ------------------------------------------------------------------ */

#define N_JOBS 1000

struct counts {
	atomic_int runs[N_JOBS];
	uint64_t fail_from;      /* jobs at or after this index fail */
	atomic_int ticks;
	int cancel_after;        /* ticks; 0: never */
};

static int count_job(void *arg, uint64_t i, unsigned w)
{
	struct counts *c = arg;

	(void)w;
	atomic_fetch_add(&c->runs[i], 1);
	if (i >= c->fail_from)
		return i % 2 ? -EIO : -EBADMSG;
	if (c->cancel_after)
		usleep(2000);
	return 0;
}

static int count_tick(void *arg)
{
	struct counts *c = arg;
	int n = atomic_fetch_add(&c->ticks, 1) + 1;

	return c->cancel_after && n >= c->cancel_after ? -EINTR : 0;
}

static void pool(void)
{
	static struct counts c;
	struct ctfs_pool_run r = { .n_jobs = N_JOBS, .threads = 4, .job = count_job, .arg = &c,
				   .tick = count_tick, .tick_arg = &c, .tick_ms = 1 };
	uint64_t bad;
	bool once = true;
	int rc;

	c.fail_from = UINT64_MAX;
	rc = ctfs_pool_run(&r, &bad);
	for (int i = 0; i < N_JOBS; i++)
		once &= atomic_load(&c.runs[i]) == 1;
	tap_ok(rc == 0 && bad == UINT64_MAX && once, "every job runs exactly once");
	tap_ok(atomic_load(&c.ticks) >= 1, "the calling thread ticks (%d)", atomic_load(&c.ticks));

	memset(&c, 0, sizeof(c));
	c.fail_from = 600;
	rc = ctfs_pool_run(&r, &bad);
	once = true;
	for (int i = 0; i < 600; i++)
		once &= atomic_load(&c.runs[i]) == 1;
	tap_ok(rc == -EBADMSG && bad == 600 && once,
	       "the lowest failing job is reported, every job before it ran (%d, %llu)", rc,
	       (unsigned long long)bad);

	memset(&c, 0, sizeof(c));
	c.fail_from = UINT64_MAX;
	c.cancel_after = 2;
	rc = ctfs_pool_run(&r, &bad);
	tap_ok(rc == -EINTR && bad == UINT64_MAX && atomic_load(&c.runs[N_JOBS - 1]) == 0,
	       "a tick cancels the jobs not yet started");

	r.threads = CTFS_POOL_MAX_THREADS + 1;
	tap_ok(ctfs_pool_run(&r, NULL) == -EINVAL, "too many threads refused");
	tap_ok(ctfs_pool_threads(0) >= 1 && ctfs_pool_threads(1000) == CTFS_POOL_MAX_THREADS,
	       "thread counts are capped");
}

static void job_map(void)
{
	static const uint64_t counts[] = { 0, 3, 0, 0, 2, 1, 0 };
	static const size_t want_g[] = { 1, 1, 1, 4, 4, 5 };
	static const uint64_t want_i[] = { 0, 1, 2, 0, 1, 0 };
	struct ctfs_job_map m;
	bool ok;

	ok = ctfs_job_map_init(&m, counts, 7) == 0 && m.total == 6;
	for (uint64_t i = 0; ok && i < 6; i++) {
		size_t g;
		uint64_t idx;

		ctfs_job_map_find(&m, i, &g, &idx);
		ok = g == want_g[i] && idx == want_i[i];
	}
	tap_ok(ok, "jobs map to their group, empty groups skipped");
	ctfs_job_map_free(&m);
}

/* ---- files ------------------------------------------------------------------------ */

static char tmpdir[] = "/tmp/ctfs-test-XXXXXX";

static void vec_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/cryptotensors/%s", tap_vectors_dir(), name);
}

static int load_keys(const char *name, struct ctfs_jwk **keys, size_t *n)
{
	char path[4096], err[256];
	uint8_t *text;
	size_t len;
	int rc;

	vec_path(path, sizeof(path), name);
	rc = ctfs_read_file(path, 1 << 20, &text, &len);
	if (rc)
		return rc;
	rc = ctfs_jwk_parse_set((const char *)text, len, keys, n, err, sizeof(err));
	free(text);
	return rc;
}

static int copy_flipped(const char *from, const char *to, long flip_data_off)
{
	uint8_t *data;
	size_t len;
	int rc = ctfs_read_file(from, 64 << 20, &data, &len), fd;

	if (rc)
		return rc;
	if (flip_data_off >= 0)
		data[8 + ctfs_load_le64(data) + (uint64_t)flip_data_off] ^= 1;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = fd >= 0 ? ctfs_write_full(fd, data, len) : -errno;
	if (fd >= 0)
		close(fd);
	free(data);
	return rc;
}

/* Load path and run every check with keys; err gets the first failure. */
static int check_file(const char *path, const struct ctfs_keyprov *kp, struct ctfs_ct_check *c,
		      char *err, size_t errlen)
{
	struct ctfs_model *m;
	int rc = ctfs_model_load(AT_FDCWD, path, path, &m, err, errlen);

	if (rc)
		return rc;
	*c = (struct ctfs_ct_check){ .out_fd = -1, .threads = 2 };
	rc = ctfs_model_check_signature(m, kp, err, errlen);
	if (!rc)
		rc = ctfs_model_unwrap_keys(m, kp, err, errlen);
	if (!rc)
		rc = ctfs_model_check_data(m, c, err, errlen);
	ctfs_model_put(m);
	return rc;
}

static void verify_vectors(void)
{
	static const struct {
		const char *file, *keys;
		uint64_t messages;
	} v[] = {
		{ "v2-aes256-partial.safetensors", "keys-aes256.json", 13 },
		{ "v1-chacha.cryptotensors", "keys-chacha.json", 2 },
		{ "v2-aes128-unicode.cryptotensors", "keys-aes128.json", 7 },
	};

	for (size_t i = 0; i < 3; i++) {
		struct ctfs_jwk *keys = NULL;
		struct ctfs_keyprov kp;
		struct ctfs_ct_check c;
		char path[4096], err[512] = "";
		size_t n = 0;
		int rc = load_keys(v[i].keys, &keys, &n);

		vec_path(path, sizeof(path), v[i].file);
		ctfs_keyprov_jwks(&kp, keys, n);
		if (!rc)
			rc = check_file(path, &kp, &c, err, sizeof(err));
		tap_ok(rc == 0 && c.messages == v[i].messages && !c.bad, "%s verifies (%llu messages) %s",
		       v[i].file, (unsigned long long)c.messages, err);
		ctfs_jwk_free_set(keys, n);
	}
}

static void tampered(void)
{
	struct ctfs_jwk *keys = NULL;
	struct ctfs_keyprov kp;
	struct ctfs_ct_check c;
	char src[4096], bad[4200], err[512] = "";
	size_t n = 0;
	int rc;

	snprintf(bad, sizeof(bad), "%s/bad.safetensors", tmpdir);
	load_keys("keys-aes256.json", &keys, &n);
	ctfs_keyprov_jwks(&kp, keys, n);
	vec_path(src, sizeof(src), "v2-aes256-partial.safetensors");
	/* w spans data bytes 8..600008 in 65536-byte chunks: flip in chunks 7 and 3 */
	copy_flipped(src, bad, 8 + 7 * 65536 + 9);
	rc = copy_flipped(bad, bad, 8 + 3 * 65536 + 100);
	if (!rc)
		rc = check_file(bad, &kp, &c, err, sizeof(err));
	tap_ok(rc == -EBADMSG && c.bad && c.bad_chunk == 3 && strstr(err, "'w' chunk 3"),
	       "a flipped byte: the first bad chunk is named (%s)", err);

	vec_path(src, sizeof(src), "v1-chacha.cryptotensors");
	ctfs_jwk_free_set(keys, n);
	load_keys("keys-chacha.json", &keys, &n);
	ctfs_keyprov_jwks(&kp, keys, n);
	rc = copy_flipped(src, bad, 72 + 1000);
	if (!rc)
		rc = check_file(bad, &kp, &c, err, sizeof(err));
	tap_ok(rc == -EBADMSG && c.bad && strstr(err, "'a' fails"),
	       "v1: the tampered tensor is named (%s)", err);
	ctfs_jwk_free_set(keys, n);
	unlink(bad);
}

static int data_region(const char *path, uint8_t **data, size_t *len, size_t *start)
{
	int rc = ctfs_read_file(path, 64 << 20, data, len);

	if (!rc)
		*start = 8 + (size_t)ctfs_load_le64(*data);
	return rc;
}

static bool same_data(const char *a, const char *b)
{
	uint8_t *da = NULL, *db = NULL;
	size_t la, lb, sa, sb;
	bool same = !data_region(a, &da, &la, &sa) && !data_region(b, &db, &lb, &sb) &&
		    la - sa == lb - sb && !memcmp(da + sa, db + sb, la - sa);

	free(da);
	free(db);
	return same;
}

static void rewrap(void)
{
	struct ctfs_jwk *old = NULL, fresh[2] = { 0 };
	struct ctfs_keyprov kp_old, kp_new;
	struct ctfs_ct_rewrap_opts o = { .old = &kp_old };
	struct ctfs_ct_check c;
	char src[4096], dst[4200], err[512] = "";
	size_t n = 0;
	int rc;

	snprintf(dst, sizeof(dst), "%s/rewrapped.cryptotensors", tmpdir);
	vec_path(src, sizeof(src), "v2-aes128-unicode.cryptotensors");
	load_keys("keys-aes128.json", &old, &n);
	ctfs_keyprov_jwks(&kp_old, old, n);
	rc = ctfs_jwk_generate(&fresh[0], CTFS_KTY_OCT, "aes128gcm", "rotated-enc");
	if (!rc)
		rc = ctfs_jwk_generate(&fresh[1], CTFS_KTY_OKP, "ed25519", "rotated-sign");
	o.new_master = &fresh[0];
	o.signer = &fresh[1];
	if (!rc)
		rc = ctfs_ct_rewrap_file(src, dst, &o, err, sizeof(err));
	tap_ok(rc == 0, "rewrap to new master and signing keys %s", err);
	tap_ok(same_data(src, dst), "the data region is byte-identical");
	ctfs_keyprov_jwks(&kp_new, fresh, 2);
	rc = check_file(dst, &kp_new, &c, err, sizeof(err));
	tap_ok(rc == 0 && c.messages == 7, "the new keys open and verify it %s", err);
	rc = check_file(dst, &kp_old, &c, err, sizeof(err));
	tap_ok(rc == -ENOKEY, "the old key set no longer opens it (%s)", err);

	/* the old master, named like the new one: must not unwrap */
	free(old[0].kid);
	old[0].kid = strdup("rotated-enc");
	free(old[1].kid);
	old[1].kid = strdup("rotated-sign");
	memcpy(old[1].pub, fresh[1].pub, 32);
	rc = check_file(dst, &kp_old, &c, err, sizeof(err));
	tap_ok(rc == -EKEYREJECTED, "the old master key is rejected (%s)", err);

	o = (struct ctfs_ct_rewrap_opts){ .old = &kp_new };
	o.policy_local = "package model\nallow := true";
	rc = ctfs_ct_rewrap_file(dst, dst, &o, err, sizeof(err));
	tap_ok(rc == 0 && same_data(src, dst), "in place, a new policy only %s", err);

	o = (struct ctfs_ct_rewrap_opts){ .old = &kp_new, .new_master = &fresh[1] };
	tap_ok(ctfs_ct_rewrap_file(dst, dst, &o, err, sizeof(err)) == -EINVAL,
	       "a signing key as master key is refused (%s)", err);
	o = (struct ctfs_ct_rewrap_opts){ .old = &kp_new };
	tap_ok(ctfs_ct_rewrap_file(dst, dst, &o, err, sizeof(err)) == -EINVAL,
	       "nothing to change is refused");
	ctfs_jwk_free_set(old, n);
	ctfs_jwk_clear(&fresh[0]);
	ctfs_jwk_clear(&fresh[1]);
	unlink(dst);
}

static void export(void)
{
	struct ctfs_jwk *keys = NULL;
	struct ctfs_keyprov kp;
	struct ctfs_ct_check c = { .out_fd = -1 };
	struct ctfs_model *m = NULL;
	struct ctfs_st_header *h = NULL;
	char src[4096], dst[4200], err[512] = "";
	struct stat st;
	size_t n = 0;
	int rc, fd;

	snprintf(dst, sizeof(dst), "%s/plain.safetensors", tmpdir);
	vec_path(src, sizeof(src), "v2-aes256-partial.safetensors");
	load_keys("keys-aes256.json", &keys, &n);
	ctfs_keyprov_jwks(&kp, keys, n);
	rc = ctfs_model_load(AT_FDCWD, src, src, &m, err, sizeof(err));
	if (!rc)
		rc = ctfs_model_unlock(m, &kp, NULL, err, sizeof(err));
	if (!rc)
		rc = ctfs_model_export(m, dst, 0600, &c, err, sizeof(err));
	tap_ok(rc == 0 && stat(dst, &st) == 0 && (uint64_t)st.st_size == m->view_size &&
	       (st.st_mode & 0777) == 0600, "export writes the plaintext view, 0600 %s", err);
	fd = open(dst, O_RDONLY);
	tap_ok(fd >= 0 && !ctfs_st_read(fd, (uint64_t)st.st_size, &h, err, sizeof(err)) &&
	       !ctfs_st_meta_get(h, "__encryption__") && h->n_tensors == 5,
	       "the export is plain safetensors %s", err);
	if (fd >= 0)
		close(fd);
	ctfs_st_free(h);
	ctfs_model_put(m);
	ctfs_jwk_free_set(keys, n);
	unlink(dst);
}

int main(void)
{
	char probe[4096];

	ctfs_secmem_init();
	pool();
	job_map();
	vec_path(probe, sizeof(probe), "expected.json");
	if (access(probe, R_OK)) {
		tap_diag("vectors not found at %s: file tests skipped", tap_vectors_dir());
		return tap_done();
	}
	if (!mkdtemp(tmpdir)) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	verify_vectors();
	tampered();
	rewrap();
	export();
	rmdir(tmpdir);
	return tap_done();
}
