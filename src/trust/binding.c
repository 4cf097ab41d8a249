/* The signer-binding rule: which signing keys a master key accepts. */
#include "trust/binding.h"

#include <errno.h>

#include "trust/thumbprint.h"
#include "util.h"

int ctfs_binding_check(const struct ctfs_jwk *master, const uint8_t tp[32],
		       const char *subject, enum ctfs_unbound policy, bool *warned, char *err, size_t errlen)
{
	char text[CTFS_THUMBPRINT_TEXT];
	const char *kid = master->kid ? master->kid : "default";

	*warned = false;
	ctfs_thumbprint_text(tp, text);
	if (!master->has_signers) {
		if (policy == CTFS_UNBOUND_WARN) {
			*warned = true;
			return 0;
		}
		ctfs_seterr(err, errlen, "master key kid=%s names no allowed signer "
			    "(\"ctfs_signers\"); re-add it with its signing key "
			    "(ctfs-tool key add) to accept signer %s", kid, text);
		return -EKEYREJECTED;
	}
	if (ctfs_jwk_signer_allowed(master, tp) || ctfs_jwk_subject_allowed(master, subject))
		return 0;
	ctfs_seterr(err, errlen, "signer %s%s%s is not allowed by master key kid=%s", text,
		    subject ? ", certificate " : "", subject ? subject : "", kid);
	return -EKEYREJECTED;
}

int ctfs_binding_from_set(struct ctfs_jwk *master, const struct ctfs_jwk *keys, size_t n)
{
	uint8_t tp[CTFS_THUMBPRINT_LEN];
	int rc = 0;

	if (master->kty != CTFS_KTY_OCT || master->has_signers)
		return 0;
	for (size_t i = 0; !rc && i < n; i++) {
		if (keys[i].kty != CTFS_KTY_OKP || !keys[i].has_pub)
			continue;
		ctfs_thumbprint_ed25519(keys[i].pub, tp);
		rc = ctfs_jwk_allow_signer(master, tp);
	}
	return rc;
}
