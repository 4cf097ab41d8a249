/* libFuzzer: the TGSP container, opened as the daemon opens a package: the
 * structure and JSON sections, hashes, signatures (the vector signer is
 * trusted), frame layout, policy constraints and the recipient blocks (the
 * vector recipient key is held). Seeds are small packages signed by that
 * signer, so the checks after the signature are reached too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "log.h"
#include "tgsp/tgsp.h"

#define KEYS SRCDIR "/tests/vectors/tgsp/keys/"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct ctfs_tgsp_trust trust;
static char *enc_text;
static size_t enc_len;
static int mfd = -1;

static void drop(int prio, const char *line)
{
	(void)prio;
	(void)line;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 16);

	if (!f || !buf)
		abort();
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	ctfs_log_set_sink(drop);
	if (ctfs_secmem_init() || ctfs_tgsp_trust_load(&trust, KEYS "signing.pub", err, sizeof(err)))
		abort();
	enc_text = slurp(KEYS "encryption.priv", &enc_len);
	mfd = memfd_create("fuzz.tgsp", MFD_CLOEXEC);
	if (mfd < 0)
		abort();
	return 0;
}

static int give_key(void *arg, const char *recipient_id, struct ctfs_tgsp_enc_sec **key)
{
	char err[256];

	(void)arg;
	(void)recipient_id;
	return ctfs_tgsp_enc_sec_parse(enc_text, enc_len, key, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ctfs_tgsp_open_opts o = { .trust = &trust, .fleet = "fleet-demo",
					  .now = 1795250496, .recipient_key = give_key,
					  .cursors = 1 };
	struct ctfs_tgsp *p = NULL;
	char err[512];

	if (ftruncate(mfd, 0) || pwrite(mfd, d, n, 0) != (ssize_t)n)
		abort();
	if (!ctfs_tgsp_open(mfd, "fuzz.tgsp", &o, &p, err, sizeof(err))) {
		const struct ctfs_tar_index *ix = ctfs_tgsp_index(p);
		uint8_t buf[256];

		for (size_t i = 0; i < ctfs_tar_count(ix); i++) {
			const struct ctfs_tar_entry *e = ctfs_tar_at(ix, i);

			if (e->type == CTFS_TAR_FILE && e->size &&
			    ctfs_tgsp_read(p, e, buf, sizeof(buf), e->size / 2) <= 0)
				abort();
		}
		ctfs_tgsp_close(p);
	}
	return 0;
}
