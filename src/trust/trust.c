/* A mount's trust settings: built from the options, reloaded on request. */
#include "trust/trust.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int ctfs_trust_init(struct ctfs_trust *t, const struct ctfs_trust_opts *o, char *err,
		    size_t errlen)
{
	int rc;

	memset(t, 0, sizeof(*t));
	atomic_init(&t->reload, false);
	t->require_digests = o->require_digests;
	rc = ctfs_revocation_init(&t->revoked, o->revoked, err, errlen);
	if (!rc && o->trust)
		rc = ctfs_anchors_load(o->trust, o->crl_require, &t->anchors, err, errlen);
	if (!rc && o->crl_require && !o->trust) {
		ctfs_seterr(err, errlen, "crl=require needs trust=");
		rc = -EINVAL;
	}
	if (!rc && o->rollback_db && !(t->rollback_db = strdup(o->rollback_db)))
		rc = -ENOMEM;
	if (rc)
		ctfs_trust_destroy(t);
	return rc;
}

void ctfs_trust_destroy(struct ctfs_trust *t)
{
	ctfs_anchors_free(t->anchors);
	ctfs_revocation_destroy(&t->revoked);
	free(t->rollback_db);
	t->anchors = NULL;
	t->rollback_db = NULL;
}

void ctfs_trust_request_reload(struct ctfs_trust *t)
{
	atomic_store(&t->reload, true);
}

int ctfs_trust_maybe_reload(struct ctfs_trust *t, char *err, size_t errlen)
{
	int rc;

	if (!atomic_exchange(&t->reload, false))
		return 0;
	rc = ctfs_revocation_reload(&t->revoked, err, errlen);
	return rc ? rc : 1;
}
