/* ctfs-tool inspect: what a model file or directory holds, read without any
 * key: format, version, tensors, key ids and algorithms, policy, metadata.
 * Everything shown comes from the file and nothing is verified, which the
 * output says; text from the file is escaped so it cannot drive a terminal. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct/crypto_entries.h"
#include "safetensors/dtype.h"
#include "policy/policy.h"
#include "tool.h"

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool inspect [--json] FILE|DIR\n"
	      "\n"
	      "Show what a model file holds, without any key: its format (CryptoTensors\n"
	      "version, plain safetensors, or not a model file at all), the header size,\n"
	      "the key ids (kid, jku) and algorithms of the master and signing keys, the\n"
	      "local and remote policies, the user metadata, and every tensor: name,\n"
	      "dtype, shape, size, whether it is encrypted and into how many chunks.\n"
	      "Nothing is verified: see 'ctfs-tool verify'.\n"
	      "\n"
	      "For a directory, every file in it is described (at any depth) and every\n"
	      "shard index (*.safetensors.index.json) is checked against the shards.\n"
	      "\n"
	      "Options:\n"
	      "  --json      one JSON document on standard output instead of text\n"
	      "  -h, --help  this text\n"
	      "\n"
	      "Exit status: 0 when every file could be described; 1 when FILE is not a\n"
	      "model file, a file claiming to be CryptoTensors is malformed, a\n"
	      "*.safetensors file is not safetensors, or a shard index is broken.\n", out);
}

/* ---- text output ------------------------------------------------------------------ */

/* s with control characters (C0, DEL, C1) escaped; newlines kept when
 * multiline, each new line starting with indent. */
static void put_safe(const char *s, bool multiline, const char *indent)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n' && multiline)
			printf("\n%s", indent);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			printf("\\u%04x", *++p);
		else
			putchar(*p);
	}
}

static void put_quoted(const char *s)
{
	putchar('"');
	put_safe(s, false, "");
	putchar('"');
}

static void put_keyref(const char *what, const char *alg, const char *kid, const char *jku)
{
	printf("  %-13s%s, %s key kid ", what, alg, what[0] == 'e' ? "master" : "signing");
	if (kid)
		put_quoted(kid);
	else
		fputs("without kid", stdout);
	if (jku) {
		fputs(", jku ", stdout);
		put_quoted(jku);
	}
}

static void put_policy(const char *what, const char *text)
{
	printf("  policy (%s):\n    | ", what);
	put_safe(text, true, "    | ");
	putchar('\n');
}

static bool is_crypto_key(const char *key)
{
	for (const char *const *p = ctfs_crypto_meta_keys; *p; p++)
		if (!strcmp(*p, key))
			return true;
	return false;
}

static void put_metadata(const struct ctfs_st_header *h)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n_meta; i++) {
		if (is_crypto_key(h->meta[i].key))
			continue;
		printf(n++ ? "               " : "  metadata:    ");
		put_safe(h->meta[i].key, false, "");
		fputs(" = ", stdout);
		put_quoted(h->meta[i].value);
		putchar('\n');
	}
	if (!n)
		puts("  metadata:    (none)");
}

static void shape_text(const struct ctfs_tensor *t, char *buf, size_t len)
{
	size_t at = (size_t)snprintf(buf, len, "[");

	for (size_t d = 0; d < t->ndim && at < len; d++)
		at += (size_t)snprintf(buf + at, len - at, "%s%llu", d ? ", " : "",
				       (unsigned long long)t->shape[d]);
	if (at < len)
		snprintf(buf + at, len - at, "]");
}

static void put_tensors(const struct ctfs_st_header *h, const struct ctfs_ct_info *ci)
{
	size_t enc = 0;

	for (size_t i = 0; ci && i < h->n_tensors; i++)
		enc += ci->tensors[i].encrypted;
	printf("  tensors:     %zu (%zu encrypted, %zu plaintext), %llu bytes of data\n",
	       h->n_tensors, enc, h->n_tensors - enc, (unsigned long long)h->data_len);
	if (!h->n_tensors)
		return;
	printf("    %-9s %7s  %-8s %-20s %14s  %s\n", "encrypted", "chunks", "dtype", "shape",
	       "bytes", "name");
	for (size_t k = 0; k < h->n_tensors; k++) {
		const struct ctfs_tensor *t = &h->tensors[h->order[k]];
		const struct ctfs_ct_tensor *ct = ci ? &ci->tensors[h->order[k]] : NULL;
		char shape[256], chunks[24] = "-";

		shape_text(t, shape, sizeof(shape));
		if (ct && ct->encrypted)
			snprintf(chunks, sizeof(chunks), "%llu", (unsigned long long)ct->n_tags);
		printf("    %-9s %7s  %-8s %-20s %14llu  ", ct && ct->encrypted ? "yes" : "no",
		       chunks, ctfs_dtype_name(t->dtype), shape,
		       (unsigned long long)(t->end - t->begin));
		put_safe(t->name, false, "");
		putchar('\n');
	}
}

static void put_sizes(const struct ctfs_st_header *h, uint64_t file_size)
{
	printf("  size:        %llu bytes: header %llu bytes (8 + %llu), data %llu bytes\n",
	       (unsigned long long)file_size, (unsigned long long)h->data_start,
	       (unsigned long long)h->header_len, (unsigned long long)h->data_len);
}

static void text_crypto(const char *path, const struct ctfs_model *m)
{
	const struct ctfs_ct_info *ci = m->ci;
	char why[256];

	printf("%s: CryptoTensors v%d", path, ci->version);
	if (ci->version == 2)
		printf(", chunk size %llu bytes\n", (unsigned long long)ci->chunk_size);
	else
		puts(" (one AEAD message per tensor)");
	put_sizes(m->h, (uint64_t)m->id.st_size);
	put_keyref("encryption:", ctfs_alg_name(ci->alg), ci->enc_kid, ci->enc_jku);
	putchar('\n');
	put_keyref("signature:", "ed25519", ci->sign_kid, ci->sign_jku);
	puts(" (not checked: run 'ctfs-tool verify')");
	put_policy("local", ci->policy_local);
	put_policy("remote", ci->policy_remote);
	if (ctfs_policy_check(ci->policy_local, why, sizeof(why)))
		puts("  note:        the ctfs mount evaluates only the unconditional 'allow = true'"
		     " local policy\n               so far: it will refuse this file");
	put_metadata(m->h);
	put_tensors(m->h, ci);
}

static void text_plain(const char *path, const struct tool_model *tm)
{
	printf("%s: plain safetensors (not encrypted, not signed)\n", path);
	put_sizes(tm->plain, (uint64_t)tm->m->id.st_size);
	put_metadata(tm->plain);
	put_tensors(tm->plain, NULL);
}

/* ---- JSON output ---------------------------------------------------------------------- */

/* Set when building the document ran out of memory: it is then not printed. */
static bool json_oom;

static void add(cJSON *o, const char *key, cJSON *v)
{
	if (!o || !v || !(key ? cJSON_AddItemToObject(o, key, v) : cJSON_AddItemToArray(o, v))) {
		cJSON_Delete(v);
		json_oom = true;
	}
}

static void add_str(cJSON *o, const char *key, const char *s)
{
	add(o, key, cJSON_CreateString(s));
}

static void add_num(cJSON *o, const char *key, uint64_t v)
{
	add(o, key, cJSON_CreateNumber((double)v));
}

static void add_bool(cJSON *o, const char *key, bool v)
{
	add(o, key, cJSON_CreateBool(v));
}

static cJSON *json_keyref(const char *alg, const char *kid, const char *jku)
{
	cJSON *o = cJSON_CreateObject();

	add_str(o, "alg", alg);
	if (kid)
		add_str(o, "kid", kid);
	if (jku)
		add_str(o, "jku", jku);
	return o;
}

static cJSON *json_tensor(const struct ctfs_tensor *t, const struct ctfs_ct_tensor *ct)
{
	cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();

	for (size_t d = 0; d < t->ndim; d++)
		add_num(shape, NULL, t->shape[d]);
	add_num(offs, NULL, t->begin);
	add_num(offs, NULL, t->end);
	add_str(o, "name", t->name);
	add_str(o, "dtype", ctfs_dtype_name(t->dtype));
	add(o, "shape", shape);
	add(o, "data_offsets", offs);
	add_num(o, "bytes", t->end - t->begin);
	add_bool(o, "encrypted", ct && ct->encrypted);
	add_num(o, "chunks", ct && ct->encrypted ? ct->n_tags : 0);
	return o;
}

static void json_common(cJSON *o, const struct ctfs_st_header *h, uint64_t file_size,
			const struct ctfs_ct_info *ci)
{
	cJSON *meta = cJSON_CreateObject(), *arr = cJSON_CreateArray();

	add_num(o, "file_size", file_size);
	add_num(o, "header_size", h->header_len);
	add_num(o, "data_offset", h->data_start);
	add_num(o, "data_size", h->data_len);
	for (size_t i = 0; i < h->n_meta; i++)
		if (!is_crypto_key(h->meta[i].key))
			add_str(meta, h->meta[i].key, h->meta[i].value);
	add(o, "metadata", meta);
	for (size_t k = 0; k < h->n_tensors; k++)
		add(arr, NULL, json_tensor(&h->tensors[h->order[k]],
					   ci ? &ci->tensors[h->order[k]] : NULL));
	add(o, "tensors", arr);
}

static void json_crypto(cJSON *o, const struct ctfs_model *m)
{
	const struct ctfs_ct_info *ci = m->ci;
	cJSON *pol = cJSON_CreateObject();
	char why[256];

	add_num(o, "version", (uint64_t)ci->version);
	if (ci->version == 2)
		add_num(o, "chunk_size", ci->chunk_size);
	add(o, "encryption", json_keyref(ctfs_alg_name(ci->alg), ci->enc_kid, ci->enc_jku));
	add(o, "signature", json_keyref("ed25519", ci->sign_kid, ci->sign_jku));
	add_str(pol, "local", ci->policy_local);
	add_str(pol, "remote", ci->policy_remote);
	add_bool(pol, "ctfs_mount_allows", !ctfs_policy_check(ci->policy_local, why, sizeof(why)));
	add(o, "policy", pol);
	add_bool(o, "verified", false);
	json_common(o, m->h, (uint64_t)m->id.st_size, ci);
}

/* ---- one file ---------------------------------------------------------------------------- */

static const char *const kind_names[] = {
	[TOOL_KIND_CRYPTO] = "cryptotensors", [TOOL_KIND_PLAIN] = "safetensors",
	[TOOL_KIND_OTHER] = "other", [TOOL_KIND_INVALID] = "invalid",
};

/* Describe path; returns whether it counts as a failure. in_dir: a file
 * that is not a model is expected there unless it is named like one. */
static bool inspect_one(const char *path, bool in_dir, cJSON *json_out)
{
	struct tool_model tm;
	int rc = tool_model_open(path, &tm);
	bool st_name = tool_has_suffix(path, ".safetensors") ||
		       tool_has_suffix(path, ".cryptotensors");
	bool bad = rc || tm.kind == TOOL_KIND_INVALID ||
		   (tm.kind == TOOL_KIND_OTHER && (!in_dir || st_name));

	if (json_out) {
		cJSON *o = cJSON_CreateObject();

		add_str(o, "path", path);
		add_str(o, "kind", rc ? "unreadable" : kind_names[tm.kind]);
		if (rc || tm.kind >= TOOL_KIND_OTHER)
			add_str(o, "error", tm.why);
		if (!rc && tm.kind == TOOL_KIND_CRYPTO)
			json_crypto(o, tm.m);
		if (!rc && tm.kind == TOOL_KIND_PLAIN)
			json_common(o, tm.plain, (uint64_t)tm.m->id.st_size, NULL);
		add(json_out, NULL, o);
	} else if (rc) {
		tool_err("%s: %s", path, tm.why);
	} else if (tm.kind == TOOL_KIND_CRYPTO) {
		text_crypto(path, tm.m);
	} else if (tm.kind == TOOL_KIND_PLAIN) {
		text_plain(path, &tm);
	} else if (tm.kind == TOOL_KIND_INVALID) {
		printf("%s: invalid CryptoTensors file: ", path);
		put_safe(tm.why, false, "");
		putchar('\n');
	} else if (in_dir && !st_name) {
		printf("%s: not a model file\n", path);
	} else {
		printf("%s: not a model file (not safetensors: ", path);
		put_safe(tm.why, false, "");
		puts(")");
	}
	tool_model_close(&tm);
	return bad;
}

static bool inspect_dir(const char *dir, cJSON *files)
{
	struct tool_tree t;
	bool bad = false;

	if (tool_tree_list(dir, NULL, &t))
		return true;
	for (size_t i = 0; i < t.n; i++) {
		char *path;

		if (t.e[i].dir)
			continue;
		path = tool_join(dir, t.e[i].rel);
		if (!path) {
			tool_tree_free(&t);
			return true;
		}
		if (!files && i)
			putchar('\n');
		bad |= inspect_one(path, true, files);
		free(path);
	}
	if (tool_check_indexes(dir, &t)) {
		bad = true;
	} else if (!files) {
		for (size_t i = 0; i < t.n; i++)
			if (!t.e[i].dir && tool_has_suffix(t.e[i].rel, ".safetensors.index.json"))
				printf("\n%s/%s: shard index, consistent with its shards\n", dir,
				       t.e[i].rel);
	}
	tool_tree_free(&t);
	return bad;
}

static int print_json(cJSON *doc)
{
	char *text = json_oom ? NULL : cJSON_Print(doc);

	if (!text) {
		tool_err("out of memory");
		return -ENOMEM;
	}
	puts(text);
	cJSON_free(text); /* cJSON allocates through the wiping hooks */
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, bad;
	cJSON *doc = NULL, *files = NULL;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c != 'J')
			return tool_usage("inspect", "unknown option: %s", argv[optind - 1]);
		json = true;
	}
	if (argc - optind != 1)
		return tool_usage("inspect", "expected one FILE or DIR");
	if (json) {
		doc = cJSON_CreateObject();
		files = cJSON_CreateArray();
		add_str(doc, "path", argv[optind]);
		add(doc, "files", files);
		if (json_oom) {
			cJSON_Delete(doc);
			tool_err("out of memory");
			return TOOL_FAIL;
		}
	}
	if (tool_is_dir(argv[optind]))
		bad = inspect_dir(argv[optind], files);
	else
		bad = inspect_one(argv[optind], false, files);
	if (doc) {
		add_bool(doc, "ok", !bad);
		if (print_json(doc))
			bad = true;
		cJSON_Delete(doc);
	}
	return bad ? TOOL_FAIL : TOOL_OK;
}

const struct tool_cmd tool_cmd_inspect = {
	.name = "inspect",
	.summary = "show what a model file or directory holds (no key needed)",
	.run = run,
	.help = help,
};
