/* The trust metadata options of encrypt, rewrap and sign (--model-id,
 * --model-version, --x5c, --no-digests): spelled, checked and loaded once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ct/model_trust.h"
#include "trust/chain.h"
#include "trust/rollback.h"
#include "tool.h"

bool tool_trust_meta_opt(int c, const char *arg, struct tool_trust_meta *m)
{
	switch (c) {
	case TOOL_OPT_MODEL_ID:
		m->model_id = arg;
		return true;
	case TOOL_OPT_MODEL_VERSION:
		m->model_version = arg;
		return true;
	case TOOL_OPT_X5C:
		m->x5c_path = arg;
		return true;
	case TOOL_OPT_NO_DIGESTS:
		m->no_digests = true;
		return true;
	}
	return false;
}

/* A version is what the mount accepts: decimal, no sign, no leading zero. */
static bool version_ok(const char *v)
{
	char *end;
	unsigned long long n;

	if (!*v || *v < '0' || *v > '9' || (v[0] == '0' && v[1]))
		return false;
	errno = 0;
	n = strtoull(v, &end, 10);
	return !errno && !*end && n <= CTFS_VERSION_MAX;
}

int tool_trust_meta_check(const char *cmd, const struct tool_trust_meta *m)
{
	if (m->model_id && ctfs_model_id_check(m->model_id))
		return tool_usage(cmd, "--model-id: 1 to %d bytes, no control characters",
				  CTFS_MODEL_ID_MAX);
	if (m->model_version && !version_ok(m->model_version))
		return tool_usage(cmd, "--model-version: a decimal integer 0..2^63-1");
	if (!m->model_id != !m->model_version)
		return tool_usage(cmd, "--model-id and --model-version go together");
	return 0;
}

int tool_trust_meta_load(struct tool_trust_meta *m, const struct ctfs_jwk *signer)
{
	char err[512] = "";
	uint8_t pub[32];
	int rc;

	if (!m->x5c_path)
		return 0;
	rc = ctfs_x5c_from_pem(m->x5c_path, &m->x5c, &m->n_x5c, err, sizeof(err));
	if (rc) {
		tool_err("%s", err);
		return rc;
	}
	if (!signer || ctfs_x5c_leaf_key(m->x5c[0], pub) || memcmp(pub, signer->pub, 32)) {
		tool_err("%s: the first certificate is not the signing key's (kid %s)",
			 m->x5c_path, signer && signer->kid ? signer->kid : "(none)");
		return -EINVAL;
	}
	return 0;
}

void tool_trust_meta_free(struct tool_trust_meta *m)
{
	ctfs_x5c_free(m->x5c, m->n_x5c);
	m->x5c = NULL;
	m->n_x5c = 0;
}
