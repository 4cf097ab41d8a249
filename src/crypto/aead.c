/* The AEADs through OpenSSL: one-shot seal/open on per-thread contexts,
 * streaming open and seal, and raw keystream access for verified messages. */
#include "crypto/aead.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define NALGS 3
/* EVP takes int lengths: feed it pieces of 1 GiB, a multiple of every block. */
#define PIECE ((size_t)1 << 30)
_Static_assert(PIECE <= INT_MAX, "EVP lengths are int");
#define SCRATCH_SIZE ((size_t)64 << 10)

static const struct alg_info {
	const char *name;
	const char *aead;	/* OpenSSL name of the AEAD */
	const char *stream;	/* OpenSSL name of its bare keystream cipher */
	size_t key_len;
	unsigned block;		/* keystream block size */
	uint64_t max_len;
} algs[NALGS] = {
	[CTFS_ALG_AES128GCM] = { "aes128gcm", "AES-128-GCM", "AES-128-CTR", 16, 16,
				 ((uint64_t)1 << 36) - 32 },
	[CTFS_ALG_AES256GCM] = { "aes256gcm", "AES-256-GCM", "AES-256-CTR", 32, 16,
				 ((uint64_t)1 << 36) - 32 },
	[CTFS_ALG_CHACHA20POLY1305] = { "chacha20poly1305", "ChaCha20-Poly1305", "ChaCha20",
					32, 64, (((uint64_t)1 << 32) - 1) * 64 },
};

/* Per-thread contexts: slots [0, NALGS) hold the AEADs, [NALGS, 2*NALGS) the
 * keystream ciphers. Each is bound to its cipher once and only re-keyed. */
#define NSLOTS (2 * NALGS)

struct thread_ctx {
	EVP_CIPHER_CTX *slot[NSLOTS];
};

static EVP_CIPHER *ciphers[NSLOTS];
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static int setup_rc;

static const uint8_t zeros[64];

static bool alg_ok(enum ctfs_alg alg)
{
	return (unsigned)alg < NALGS;
}

int ctfs_alg_parse(const char *name, enum ctfs_alg *out)
{
	char norm[32];
	size_t n = 0;

	if (!name)
		return -EINVAL;
	for (; *name; name++) {
		if (*name == '-')
			continue;
		if (n + 1 >= sizeof(norm))
			return -EINVAL;
		norm[n++] = (char)tolower((unsigned char)*name);
	}
	norm[n] = 0;
	for (int i = 0; i < NALGS; i++) {
		if (!strcmp(norm, algs[i].name)) {
			*out = (enum ctfs_alg)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ctfs_alg_name(enum ctfs_alg alg)
{
	return alg_ok(alg) ? algs[alg].name : NULL;
}

size_t ctfs_alg_key_len(enum ctfs_alg alg)
{
	return alg_ok(alg) ? algs[alg].key_len : 0;
}

uint64_t ctfs_alg_max_len(enum ctfs_alg alg)
{
	return alg_ok(alg) ? algs[alg].max_len : 0;
}

static void thread_ctx_free(void *p)
{
	struct thread_ctx *t = p;

	for (int i = 0; i < NSLOTS; i++)
		EVP_CIPHER_CTX_free(t->slot[i]);
	free(t);
}

static void setup(void)
{
	for (int i = 0; i < NALGS; i++) {
		ciphers[i] = EVP_CIPHER_fetch(NULL, algs[i].aead, NULL);
		ciphers[NALGS + i] = EVP_CIPHER_fetch(NULL, algs[i].stream, NULL);
		if (!ciphers[i] || !ciphers[NALGS + i]) {
			setup_rc = -ENOSYS;
			return;
		}
	}
	if (pthread_key_create(&tls_key, thread_ctx_free))
		setup_rc = -EAGAIN;
}

/* The calling thread's context for a slot, created on first use. */
static EVP_CIPHER_CTX *slot_ctx(int slot)
{
	struct thread_ctx *t;
	EVP_CIPHER_CTX *c;

	if (pthread_once(&setup_once, setup) || setup_rc)
		return NULL;
	t = pthread_getspecific(tls_key);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		if (pthread_setspecific(tls_key, t)) {
			free(t);
			return NULL;
		}
	}
	if (t->slot[slot])
		return t->slot[slot];
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return NULL;
	if (EVP_CipherInit_ex2(c, ciphers[slot], NULL, NULL, 1, NULL) != 1) {
		EVP_CIPHER_CTX_free(c);
		return NULL;
	}
	t->slot[slot] = c;
	return c;
}

/* A reused context keeps the last key schedule, keystream block and MAC
 * state; overwrite them all by running a dummy key through it. */
static void scrub(EVP_CIPHER_CTX *c)
{
	uint8_t junk[64];
	int n;

	if (EVP_CipherInit_ex2(c, NULL, zeros, zeros, 1, NULL) == 1 &&
	    EVP_CipherUpdate(c, junk, &n, zeros, 1) == 1)
		(void)EVP_CipherFinal_ex(c, junk, &n);
	OPENSSL_cleanse(junk, sizeof(junk));
}

static int update_aad(EVP_CIPHER_CTX *c, const uint8_t *aad, size_t aadlen)
{
	while (aadlen) {
		size_t k = aadlen < PIECE ? aadlen : PIECE;
		int n;

		if (EVP_CipherUpdate(c, NULL, &n, aad, (int)k) != 1)
			return -EIO;
		aad += k;
		aadlen -= k;
	}
	return 0;
}

/* Stream and AEAD ciphers here write exactly as many bytes as they read. */
static int update_data(EVP_CIPHER_CTX *c, const uint8_t *in, size_t len, uint8_t *out)
{
	while (len) {
		size_t k = len < PIECE ? len : PIECE;
		int n;

		if (EVP_CipherUpdate(c, out, &n, in, (int)k) != 1 || (size_t)n != k)
			return -EIO;
		in += k;
		out += k;
		len -= k;
	}
	return 0;
}

static int aead_run(enum ctfs_alg alg, int enc, const uint8_t *key, const uint8_t *nonce,
		    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
		    uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c;
	uint8_t fin[CTFS_AEAD_TAG];
	int rc, n;

	if (!alg_ok(alg))
		return -EINVAL;
	if ((uint64_t)len > algs[alg].max_len)
		return -EMSGSIZE;
	c = slot_ctx((int)alg);
	if (!c)
		return -ENOMEM;
	rc = EVP_CipherInit_ex2(c, NULL, key, nonce, enc, NULL) == 1 ? 0 : -EIO;
	if (!rc)
		rc = update_aad(c, aad, aadlen);
	if (!rc)
		rc = update_data(c, in, len, out);
	if (!rc && !enc &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, CTFS_AEAD_TAG, tag) != 1)
		rc = -EIO;
	if (!rc && EVP_CipherFinal_ex(c, fin, &n) != 1)
		rc = enc ? -EIO : -EBADMSG;
	if (!rc && enc &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, CTFS_AEAD_TAG, tag) != 1)
		rc = -EIO;
	scrub(c);
	return rc;
}

int ctfs_aead_seal(enum ctfs_alg alg, const uint8_t *key, const uint8_t *nonce,
		   const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
		   uint8_t *out, uint8_t *tag)
{
	int rc = aead_run(alg, 1, key, nonce, aad, aadlen, in, len, out, tag);

	if (rc) {
		OPENSSL_cleanse(out, len);
		OPENSSL_cleanse(tag, CTFS_AEAD_TAG);
	}
	return rc;
}

int ctfs_aead_open(enum ctfs_alg alg, const uint8_t *key, const uint8_t *nonce,
		   const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
		   uint8_t *out, const uint8_t *tag)
{
	/* EVP's SET_TAG takes a non-const pointer but only reads it. */
	int rc = aead_run(alg, 0, key, nonce, aad, aadlen, in, len, out, (uint8_t *)tag);

	if (rc)
		OPENSSL_cleanse(out, len);
	return rc;
}

struct ctfs_aead_stream {
	EVP_CIPHER_CTX *ctx;
	uint64_t max_len;
	uint64_t done;
	uint8_t *scratch;	/* for authenticate-only updates */
	bool failed;
};

int ctfs_aead_stream_open_init(struct ctfs_aead_stream **sp, enum ctfs_alg alg,
			       const uint8_t *key, const uint8_t *nonce)
{
	struct ctfs_aead_stream *s;

	*sp = NULL;
	if (!alg_ok(alg))
		return -EINVAL;
	if (pthread_once(&setup_once, setup))
		return -EAGAIN;
	if (setup_rc)
		return setup_rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->max_len = algs[alg].max_len;
	/* Its own context: a stream outlives calls and may cross threads. */
	s->ctx = EVP_CIPHER_CTX_new();
	if (!s->ctx) {
		free(s);
		return -ENOMEM;
	}
	if (EVP_CipherInit_ex2(s->ctx, ciphers[alg], key, nonce, 0, NULL) != 1) {
		ctfs_aead_stream_free(s);
		return -EIO;
	}
	*sp = s;
	return 0;
}

static int stream_discard(struct ctfs_aead_stream *s, const uint8_t *in, size_t len)
{
	if (!s->scratch) {
		s->scratch = malloc(SCRATCH_SIZE);
		if (!s->scratch)
			return -ENOMEM;
	}
	while (len) {
		size_t k = len < SCRATCH_SIZE ? len : SCRATCH_SIZE;
		int rc = update_data(s->ctx, in, k, s->scratch);

		if (rc)
			return rc;
		in += k;
		len -= k;
	}
	return 0;
}

int ctfs_aead_stream_update(struct ctfs_aead_stream *s, const uint8_t *in, size_t len,
			    uint8_t *out)
{
	uint64_t total;
	int rc;

	if (s->failed)
		return -EINVAL;
	if (ctfs_add_overflow(s->done, len, &total) || total > s->max_len) {
		s->failed = true;
		return -EMSGSIZE;
	}
	rc = out ? update_data(s->ctx, in, len, out) : stream_discard(s, in, len);
	if (rc) {
		s->failed = true;
		return rc;
	}
	s->done = total;
	return 0;
}

int ctfs_aead_stream_final(struct ctfs_aead_stream *s, const uint8_t *tag)
{
	uint8_t fin[CTFS_AEAD_TAG];
	int n;

	if (s->failed)
		return -EINVAL;
	s->failed = true;	/* one final per stream */
	if (EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, CTFS_AEAD_TAG,
				(void *)tag) != 1)
		return -EIO;
	return EVP_CipherFinal_ex(s->ctx, fin, &n) == 1 ? 0 : -EBADMSG;
}

void ctfs_aead_stream_free(struct ctfs_aead_stream *s)
{
	if (!s)
		return;
	EVP_CIPHER_CTX_free(s->ctx);	/* providers wipe their state on free */
	if (s->scratch) {
		OPENSSL_cleanse(s->scratch, SCRATCH_SIZE);
		free(s->scratch);
	}
	free(s);
}

struct ctfs_aead_sealer {
	EVP_CIPHER_CTX *ctx;
	uint64_t max_len;
	uint64_t done;
	bool open;		/* between begin and end */
};

int ctfs_aead_sealer_new(struct ctfs_aead_sealer **sp, enum ctfs_alg alg)
{
	struct ctfs_aead_sealer *s;

	*sp = NULL;
	if (!alg_ok(alg))
		return -EINVAL;
	if (pthread_once(&setup_once, setup))
		return -EAGAIN;
	if (setup_rc)
		return setup_rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->max_len = algs[alg].max_len;
	s->ctx = EVP_CIPHER_CTX_new();
	if (!s->ctx) {
		free(s);
		return -ENOMEM;
	}
	if (EVP_CipherInit_ex2(s->ctx, ciphers[alg], NULL, NULL, 1, NULL) != 1) {
		ctfs_aead_sealer_free(s);
		return -EIO;
	}
	*sp = s;
	return 0;
}

int ctfs_aead_sealer_begin(struct ctfs_aead_sealer *s, const uint8_t *key,
			   const uint8_t *nonce)
{
	s->done = 0;
	s->open = EVP_CipherInit_ex2(s->ctx, NULL, key, nonce, 1, NULL) == 1;
	return s->open ? 0 : -EIO;
}

int ctfs_aead_sealer_update(struct ctfs_aead_sealer *s, const uint8_t *in, size_t len,
			    uint8_t *out)
{
	uint64_t total;
	int rc;

	if (!s->open)
		return -EINVAL;
	if (ctfs_add_overflow(s->done, len, &total) || total > s->max_len) {
		s->open = false;
		return -EMSGSIZE;
	}
	rc = update_data(s->ctx, in, len, out);
	if (rc) {
		s->open = false;
		return rc;
	}
	s->done = total;
	return 0;
}

int ctfs_aead_sealer_end(struct ctfs_aead_sealer *s, uint8_t *tag)
{
	uint8_t fin[CTFS_AEAD_TAG];
	int n = 0;

	if (!s->open)
		return -EINVAL;
	s->open = false;
	if (EVP_CipherFinal_ex(s->ctx, fin, &n) != 1 || n != 0)
		return -EIO;
	if (EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, CTFS_AEAD_TAG, tag) != 1)
		return -EIO;
	return 0;
}

void ctfs_aead_sealer_free(struct ctfs_aead_sealer *s)
{
	if (!s)
		return;
	EVP_CIPHER_CTX_free(s->ctx);	/* providers wipe their state on free */
	free(s);
}

/* The counter block at which byte `off` of a message lies. */
static void stream_iv(enum ctfs_alg alg, const uint8_t *nonce, uint64_t off, uint8_t iv[16])
{
	if (alg == CTFS_ALG_CHACHA20POLY1305) {
		/* OpenSSL's ChaCha20 IV: 32-bit little-endian counter, then nonce. */
		uint32_t ctr = (uint32_t)(1 + off / 64);

		for (int i = 0; i < 4; i++)
			iv[i] = (uint8_t)(ctr >> (8 * i));
		memcpy(iv + 4, nonce, CTFS_AEAD_NONCE);
	} else {
		memcpy(iv, nonce, CTFS_AEAD_NONCE);
		ctfs_store_be32(iv + 12, (uint32_t)(2 + off / 16));
	}
}

int ctfs_aead_keystream_xor(enum ctfs_alg alg, const uint8_t *key, const uint8_t *nonce,
			    uint64_t off, const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *c;
	uint8_t iv[16], junk[64];
	uint64_t end;
	size_t skip;
	int rc, n;

	if (!alg_ok(alg))
		return -EINVAL;
	/* Within the limit the 32-bit counter never wraps, so OpenSSL's wider
	 * counter increment gives the same blocks as the AEAD's. */
	if (ctfs_add_overflow(off, len, &end) || end > algs[alg].max_len)
		return -EMSGSIZE;
	if (!len)
		return 0;
	c = slot_ctx(NALGS + (int)alg);
	if (!c)
		return -ENOMEM;
	stream_iv(alg, nonce, off, iv);
	skip = (size_t)(off % algs[alg].block);
	rc = EVP_CipherInit_ex2(c, NULL, key, iv, 1, NULL) == 1 ? 0 : -EIO;
	if (!rc && skip && EVP_CipherUpdate(c, junk, &n, zeros, (int)skip) != 1)
		rc = -EIO;
	if (!rc)
		rc = update_data(c, in, len, out);
	scrub(c);
	OPENSSL_cleanse(junk, sizeof(junk));
	OPENSSL_cleanse(iv, sizeof(iv));
	return rc;
}
