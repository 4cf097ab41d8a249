/* The audit trail of access decisions: one JSON object per line for every
 * open that was allowed or refused, appended to a file opened once (mode
 * 0600, O_APPEND, one write(2) per record so concurrent records never
 * interleave), and the same decision as a key=value line in the log. */
#ifndef CTFS_POLICY_AUDIT_H
#define CTFS_POLICY_AUDIT_H

#include <stdbool.h>

#include "policy/facts.h"

/* Every field is bounded (paths by PATH_MAX, reasons by 512 bytes), so a
 * record stays under this; one that would not is an error, never split. */
#define CTFS_AUDIT_RECORD_MAX (32u << 10)

struct ctfs_audit;

struct ctfs_audit_record {
	const char *file;		/* path in the mount */
	const char *enc_kid, *sign_kid;
	const char *policy_hash;	/* SHA-256 hex of the local policy, or NULL */
	const char *site_hash;		/* of the site policy, or NULL */
	bool allow;
	const char *reason;		/* why refused, or "allowed" */
	const struct ctfs_proc_facts *proc;
};

/* Open path for appending (created 0600). path NULL: log lines only. */
int ctfs_audit_open(const char *path, struct ctfs_audit **out, char *err, size_t errlen);
void ctfs_audit_close(struct ctfs_audit *a);

/* Record r. 0, or -errno when the audit file could not take the whole
 * record (the caller fails closed or open, as configured). */
int ctfs_audit_write(struct ctfs_audit *a, const struct ctfs_audit_record *r);

#endif
