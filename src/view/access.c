/* Who may open what: at every open of an encrypted file, after its
 * signature and trust checks and before any key is used, the file's own
 * local policy and the operator's site policy (-o policy=) must both allow,
 * given the facts of the opening process, the host and the file (input) and
 * the operator's data (-o policy_data=). Every decision, allow or deny, is
 * an audit record. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/hex.h"
#include "crypto/sha256.h"
#include "ct/model.h"
#include "log.h"
#include "policy/rego.h"
#include "view/internal.h"

/* Policy and data files are read whole: bounded like policy text. */
#define DATA_MAX (1u << 20)

static void hash_hex(const char *text, size_t len, char out[65])
{
	uint8_t d[32];
	struct ctfs_buf b = { 0 };

	ctfs_sha256(d, text, len);
	out[0] = 0;
	if (!ctfs_hex_encode(d, sizeof(d), &b))
		snprintf(out, 65, "%s", (char *)b.data);
	ctfs_buf_free(&b);
}

static int compile(const char *text, size_t len, struct ctfs_rego **out, char *err, size_t errlen)
{
	const char *texts[1] = { text };

	return ctfs_rego_compile(texts, &len, 1, NULL, out, err, errlen);
}

static int load_site_policy(struct ctfs_view *v, const char *path, char *err, size_t errlen)
{
	char why[512] = "";
	uint8_t *text;
	size_t len;
	int rc = ctfs_read_file(path, CTFS_REGO_DEFAULT_MAX_TEXT, &text, &len);

	if (rc) {
		ctfs_seterr(err, errlen, "policy=%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = compile((char *)text, len, &v->site, why, sizeof(why));
	if (rc)
		ctfs_seterr(err, errlen, "policy=%s: %s", path, why);
	else
		hash_hex((char *)text, len, v->site_hash);
	free(text);
	return rc;
}

static int load_data(struct ctfs_view *v, const char *path, char *err, size_t errlen)
{
	uint8_t *text;
	cJSON *doc;
	int rc = ctfs_read_file(path, DATA_MAX, &text, &v->data_len);

	if (rc) {
		ctfs_seterr(err, errlen, "policy_data=%s: %s", path, strerror(-rc));
		return rc;
	}
	v->data = (char *)text;
	doc = cJSON_ParseWithLength(v->data, v->data_len);
	if (!cJSON_IsObject(doc)) {
		ctfs_seterr(err, errlen, "policy_data=%s: not a JSON object", path);
		rc = -EINVAL;
	}
	cJSON_Delete(doc);
	return rc;
}

int ctfs_view_access_init(struct ctfs_view *v, const struct ctfs_view_opts *o, char *err,
			  size_t errlen)
{
	int rc = 0;

	ctfs_host_facts_read(&v->host, v->fleet);
	v->audit_fail_allow = o->audit_fail_allow;
	if (o->site_policy)
		rc = load_site_policy(v, o->site_policy, err, errlen);
	if (!rc && o->policy_data)
		rc = load_data(v, o->policy_data, err, errlen);
	if (!rc)
		rc = ctfs_audit_open(o->audit, &v->audit, err, errlen);
	return rc;
}

void ctfs_view_access_free(struct ctfs_view *v)
{
	ctfs_audit_close(v->audit);
	ctfs_rego_free(v->site);
	free(v->data);
}

struct access {
	struct ctfs_view *v;
	struct ctfs_entry *e;
	const char *path;
	const struct ctfs_proc_facts *proc;
};

/* The local policy of e, compiled once (called under the model's lock). */
static int local_policy(struct ctfs_entry *e, const struct ctfs_model *m, char *err,
			size_t errlen)
{
	const char *text = m->ci->policy_local;
	char why[512] = "";
	int rc;

	if (e->policy)
		return 0;
	if (!text) {
		ctfs_seterr(err, errlen, "local policy: missing");
		return -EACCES;
	}
	hash_hex(text, strlen(text), e->policy_hash);
	rc = compile(text, strlen(text), &e->policy, why, sizeof(why));
	if (rc) {
		ctfs_seterr(err, errlen, "local policy does not compile: %s", why);
		return -EACCES;
	}
	return 0;
}

static int decide(const struct ctfs_rego *r, const char *which, const struct ctfs_buf *input,
		  const struct ctfs_view *v, char *err, size_t errlen)
{
	char why[512] = "";
	int rc = ctfs_rego_decide(r, (const char *)input->data, input->len, v->data, v->data_len,
				  why, sizeof(why));

	if (rc)
		ctfs_seterr(err, errlen, "%s policy denies: %s", which, why);
	return rc ? -EACCES : 0;
}

static int check(void *arg, const struct ctfs_model *m, char *err, size_t errlen)
{
	const struct access *a = arg;
	const struct ctfs_file_facts f = {
		.path = a->path, .size = m->view_size, .format = "cryptotensors",
		.version = m->ci->version, .algorithm = ctfs_alg_name(m->ci->alg),
		.enc_kid = m->ci->enc_kid, .sign_kid = m->ci->sign_kid,
	};
	struct ctfs_buf input = { 0 };
	int rc = local_policy(a->e, m, err, errlen);

	if (!rc && ctfs_policy_input(a->proc, &a->v->host, &f, &input))
		rc = -ENOMEM;
	if (!rc)
		rc = decide(a->e->policy, "local", &input, a->v, err, errlen);
	if (!rc && a->v->site)
		rc = decide(a->v->site, "site", &input, a->v, err, errlen);
	ctfs_buf_free(&input);
	return rc;
}

static int record(struct ctfs_view *v, struct ctfs_entry *e, const char *path,
		  const struct ctfs_proc_facts *proc, int rc, const char *why)
{
	const struct ctfs_ct_info *ci = e->model->ci;
	struct ctfs_audit_record r = {
		.file = path, .enc_kid = ci->enc_kid, .sign_kid = ci->sign_kid,
		.policy_hash = *e->policy_hash ? e->policy_hash : NULL,
		.site_hash = v->site ? v->site_hash : NULL,
		.allow = rc == 0, .reason = rc ? why : "allowed", .proc = proc,
	};
	int w = ctfs_audit_write(v->audit, &r);

	if (!w || v->audit_fail_allow)
		return rc;
	ctfs_err("%s: audit record not written (%s): %s", path, strerror(-w),
		 rc ? "refused anyway" : "open refused (audit_fail=deny)");
	return rc ? rc : -EACCES;
}

int ctfs_view_admit(struct ctfs_view *v, struct ctfs_entry *e, const char *path,
		    const struct ctfs_caller *who)
{
	struct ctfs_proc_facts proc;
	struct access a = { v, e, path, &proc };
	struct ctfs_gate gate = { check, &a };
	char err[512] = "";
	int rc = ctfs_proc_facts_read(who->pid, who->uid, who->gid, &proc);

	if (rc) {
		snprintf(err, sizeof(err), "the opening process (pid %d) cannot be described: %s",
			 (int)who->pid, strerror(-rc));
		rc = -EACCES;
	} else {
		rc = ctfs_vkeys_unlock(v, e->bpath, e->model, &gate, err, sizeof(err));
	}
	if (rc)
		ctfs_err("%s: refused: %s", e->bpath, err);
	rc = record(v, e, path, &proc, rc, err);
	ctfs_proc_facts_free(&proc);
	return rc;
}
