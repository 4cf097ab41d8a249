/* Key release at open (CONTROL-PLANE.md step 7): when the mount has a key
 * service and the master key ctfs:<kid> is not in its keyring, ask the
 * kernel for it (request_key(2) -> request-key(8) -> ctfs-tool key fetch ->
 * ctfs-keyd). The kernel makes concurrent requests for one kid wait on one
 * construction, and keeps a refusal as a negative key for a short time
 * (CTFS_KEYFETCH_NEG_TTL), during which opens fail with its error at once.
 * Without a key service nothing here runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct/model.h"
#include "keys/keyring.h"
#include "log.h"
#include "metrics/metrics.h"
#include "view/internal.h"

static int dup_opt(const char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* request-key(8) runs the fetch in another directory: file names given
 * relative to the mounting shell's directory are made absolute. */
static int dup_path(const char **dst, const char *src)
{
	char cwd[PATH_MAX], *p;

	if (!src || src[0] == '/')
		return dup_opt(dst, src);
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&p, "%s/%s", cwd, src) < 0)
		return -ENOMEM;
	*dst = p;
	return 0;
}

int ctfs_vkeys_init(struct ctfs_view *v, const struct ctfs_keyfetch_cfg *cfg,
		    char *err, size_t errlen)
{
	struct ctfs_keyfetch_cfg *c;

	if (!cfg || !cfg->server)
		return 0;
	if (!cfg->cert || !cfg->key || !cfg->ca) {
		ctfs_seterr(err, errlen, "keyserver needs client_cert=, client_key= and "
			    "keyserver_ca=");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct ctfs_keyfetch_cfg){ .timeout = cfg->timeout, .neg_ttl = cfg->neg_ttl };
	v->keyserver = c;
	if (dup_opt(&c->server, cfg->server) || dup_path(&c->cert, cfg->cert) ||
	    dup_path(&c->key, cfg->key) || dup_path(&c->ca, cfg->ca) ||
	    dup_path(&c->audit, cfg->audit) ||
	    dup_opt(&c->fleet, cfg->fleet ? cfg->fleet : v->fleet))
		return -ENOMEM;
	return 0;
}

void ctfs_vkeys_free(struct ctfs_view *v)
{
	struct ctfs_keyfetch_cfg *c = v->keyserver;

	if (!c)
		return;
	free((char *)c->server);
	free((char *)c->cert);
	free((char *)c->key);
	free((char *)c->ca);
	free((char *)c->audit);
	free((char *)c->fleet);
	free(c);
	v->keyserver = NULL;
}

/* Is "ctfs:<kid>" in the mount's keyring? 0, -ENOKEY, or the error of a
 * negative key (the refusal being remembered). */
static int in_ring(const struct ctfs_view *v, const char *kid)
{
	char desc[512];

	snprintf(desc, sizeof(desc), CTFS_KEYRING_PREFIX "%s", kid ? kid : CTFS_KEYRING_DEFAULT_KID);
	return keyctl_search(v->ring, "user", desc, 0) < 0 ? -errno : 0;
}

int ctfs_vkeys_unlock(struct ctfs_view *v, const char *bpath, struct ctfs_model *m,
		      const struct ctfs_gate *gate, char *err, size_t errlen)
{
	const char *kid = m->ci->enc_kid;
	char path[PATH_MAX * 2], why[512] = "";
	int rc = ctfs_model_unlock(m, &v->keys, gate, err, errlen);

	/* Only a missing master key is asked for (a missing signer key is not
	 * the key service's to give); an expired one is missing: its lifetime
	 * is over, or a refusal is no longer remembered. A key another open is
	 * fetching is in the ring but unreadable (-ENOKEY) until instantiated:
	 * request_key(2) waits for that construction instead of starting one. */
	if ((rc != -ENOKEY && rc != -EKEYEXPIRED) || !v->keyserver || !kid ||
	    in_ring(v, m->ci->sign_kid))
		return rc;
	snprintf(path, sizeof(path), "%s/%s", v->source, bpath);
	rc = ctfs_keyfetch_request(v->keyserver, v->ring, kid, path, m->fd, why, sizeof(why));
	ctfs_count(rc < 0 ? CTFS_M_KEYSVC_FAILED : CTFS_M_KEYSVC_OK, 1);
	if (rc < 0) {
		ctfs_seterr(err, errlen, "master key kid=%s from %s: %s", kid, v->keyserver->server,
			    why);
		return rc == -EKEYREJECTED || rc == -EACCES || rc == -ENOMEM ? rc : -ENOKEY;
	}
	/* the gate runs again: the checks stay in one place, whatever the key */
	return ctfs_model_unlock(m, &v->keys, gate, err, errlen);
}
