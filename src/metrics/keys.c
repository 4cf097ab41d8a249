/* Key ids seen by the mount and whether their keys are still there: the
 * metrics and status side of key revocation while mounted. */
#include <errno.h>
#include <keyutils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keyring.h"
#include "log.h"
#include "metrics/metrics_internal.h"

/* The entry of kid, created on first use; called locked. */
static struct ctfs_mkid *kid_entry(const char *kid)
{
	struct ctfs_mkid *k;

	for (size_t i = 0; i < ctfs_mt.n_kids; i++) {
		if (!strcmp(ctfs_mt.kids[i].kid, kid))
			return &ctfs_mt.kids[i];
	}
	if (ctfs_mt.n_kids == CTFS_METRICS_KIDS_MAX || strlen(kid) > CTFS_METRICS_NAME_MAX)
		return &ctfs_mt.kid_other;
	k = &ctfs_mt.kids[ctfs_mt.n_kids];
	k->kid = strdup(kid);
	if (!k->kid)
		return &ctfs_mt.kid_other;
	k->state = -1;
	ctfs_mt.n_kids++;
	return k;
}

/* Record a new state; a key that was present and is now gone is counted
 * and logged once (the moment opens start failing). */
static void set_state(struct ctfs_mkid *k, int present, int err)
{
	if (k->state == present)
		return;
	if (k->state == 1 && !present) {
		ctfs_count(CTFS_M_KEY_DISAPPEARED, 1);
		ctfs_warn("key ctfs:%s is no longer usable (%s): new opens of the files it "
			  "protects will fail", k->kid, strerror(err));
	}
	k->state = present;
	k->changed = time(NULL);
}

void ctfs_metrics_key_lookup(const char *kid, int rc)
{
	struct ctfs_mkid *k;

	switch (rc) {
	case 0: ctfs_count(CTFS_M_KEY_FOUND, 1); break;
	case -ENOKEY: ctfs_count(CTFS_M_KEY_ABSENT, 1); break;
	case -EKEYREVOKED: case -EKEYEXPIRED: case -EKEYREJECTED:
		ctfs_count(CTFS_M_KEY_REJECTED, 1); break;
	default: ctfs_count(CTFS_M_KEY_ERROR, 1); break;
	}
	pthread_mutex_lock(&ctfs_mt.lock);
	k = kid_entry(kid ? kid : "default");
	k->lookups++;
	if (rc == 0 || rc == -ENOKEY || rc == -EKEYREVOKED || rc == -EKEYEXPIRED ||
	    rc == -EKEYREJECTED)
		set_state(k, rc == 0, -rc);
	if (rc)
		k->last_err = -rc;
	pthread_mutex_unlock(&ctfs_mt.lock);
}

void ctfs_metrics_probe_keys(int (*present)(void *arg, const char *kid), void *arg)
{
	pthread_mutex_lock(&ctfs_mt.lock);
	for (size_t i = 0; i < ctfs_mt.n_kids; i++) {
		struct ctfs_mkid *k = &ctfs_mt.kids[i];
		int rc = present(arg, k->kid);

		/* other errors (no permission to search...) say nothing of the key */
		if (rc == 1)
			set_state(k, 1, 0);
		else if (rc == 0 || rc == -ENOKEY || rc == -EKEYREVOKED || rc == -EKEYEXPIRED)
			set_state(k, 0, rc ? -rc : ENOKEY);
		if (rc != 1)
			k->last_err = rc ? -rc : ENOKEY;
	}
	pthread_mutex_unlock(&ctfs_mt.lock);
}

int ctfs_metrics_keyring_probe(void *ring, const char *kid)
{
	char desc[CTFS_METRICS_NAME_MAX + 16];

	snprintf(desc, sizeof(desc), "%s%s", CTFS_KEYRING_PREFIX, kid);
	if (keyctl_search(*(key_serial_t *)ring, "user", desc, 0) >= 0)
		return 1;
	return errno == ENOKEY ? 0 : -errno;
}
