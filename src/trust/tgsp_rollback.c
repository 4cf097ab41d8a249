/* TGSP manifests against the anti-rollback store. */
#include "trust/tgsp_rollback.h"

#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "trust/rollback.h"
#include "trust/thumbprint.h"

int ctfs_trust_tgsp_rollback(const struct ctfs_trust *t, const struct ctfs_tgsp_container *c,
			     char *err, size_t errlen)
{
	const cJSON *name, *ver;
	uint8_t tp[CTFS_THUMBPRINT_LEN];
	uint64_t version, highest;
	cJSON *m;
	int rc = 0;

	if (!t || !t->rollback_db || !c->signer_trusted)
		return 0;
	m = cJSON_ParseWithLength((const char *)c->text[TGSP_MANIFEST], c->len[TGSP_MANIFEST]);
	name = cJSON_GetObjectItemCaseSensitive(m, "model_name");
	ver = cJSON_GetObjectItemCaseSensitive(m, "model_version");
	if (!cJSON_IsString(name) || !cJSON_IsString(ver) || ctfs_model_id_check(name->valuestring)) {
		cJSON_Delete(m);
		return 0;	/* no model identity: nothing to order */
	}
	if (ctfs_rollback_version_parse(ver->valuestring, &version)) {
		ctfs_warn("tgsp %s: model_version '%s' cannot be ordered: no rollback check",
			  c->name, ver->valuestring);
	} else {
		ctfs_thumbprint_ed25519(c->signer_ed25519, tp);
		rc = ctfs_rollback_check(t->rollback_db, tp, name->valuestring, version, &highest,
					 err, errlen);
		if (rc == -EACCES)	/* the store speaks in ordered integers */
			ctfs_seterr(err, errlen, "model '%s' version %s is older than one already "
				    "served (rollback refused)", name->valuestring, ver->valuestring);
	}
	cJSON_Delete(m);
	return rc;
}
