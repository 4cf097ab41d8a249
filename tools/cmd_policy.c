/* ctfs-tool policy: check a Rego policy against the supported subset, and
 * evaluate it (as the mount would, or any query) with an input and data. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rego.h"
#include "tool.h"

static void help(FILE *out)
{
	fprintf(out,
		"usage: ctfs-tool policy check FILE.rego\n"
		"       ctfs-tool policy eval POLICY [--input JSON] [--data JSON] [--query REF]\n"
		"\n"
		"check: parse and compile FILE (Rego v1); print whether it is inside the\n"
		"subset the ctfs engine evaluates; exit 1 with the reason otherwise.\n"
		"eval: evaluate REF (default data.model.allow) and print the result as\n"
		"JSON, or 'undefined'. JSON is inline text, or @FILE to read a file.\n"
		"\n"
		"      --input JSON   the input document\n"
		"      --data JSON    the data document (an object)\n"
		"      --query REF    the reference to evaluate (default data.model.allow)\n");
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (64L << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static int compile_file(const char *path, struct ctfs_rego **r)
{
	size_t len = 0;
	char *text = read_file(path, &len), err[512];
	const char *t = text;
	int rc;

	if (!text) {
		tool_err("%s: cannot read: %s", path, strerror(errno ? errno : EIO));
		return -EIO;
	}
	rc = ctfs_rego_compile(&t, &len, 1, NULL, r, err, sizeof(err));
	free(text);
	if (rc)
		tool_err("%s: outside the supported Rego subset: %s", path, err);
	return rc;
}

static int run_check(int argc, char **argv)
{
	struct ctfs_rego *r;

	if (argc != 2)
		return tool_usage("policy", "check takes one FILE");
	if (compile_file(argv[1], &r))
		return 1;
	ctfs_rego_free(r);
	printf("%s: inside the supported Rego v1 subset\n", argv[1]);
	return 0;
}

/* Inline JSON, or @FILE. */
static char *json_arg(const char *arg, size_t *len)
{
	char *s;

	if (arg[0] == '@')
		return read_file(arg + 1, len);
	s = strdup(arg);
	if (s)
		*len = strlen(s);
	return s;
}

static int run_eval(int argc, char **argv)
{
	/* -i, -q and -d are --in-place, --quiet and --db in other commands */
	enum { O_INPUT = 256, O_QUERY, O_DATA };
	static const struct option opts[] = {
		{ "input", required_argument, NULL, O_INPUT }, { "data", required_argument, NULL, O_DATA },
		{ "query", required_argument, NULL, O_QUERY }, { NULL, 0, NULL, 0 },
	};
	const char *query = "data.model.allow", *in_arg = NULL, *data_arg = NULL;
	char *in = NULL, *data = NULL, *res = NULL, err[512];
	size_t in_len = 0, data_len = 0;
	struct ctfs_rego *r = NULL;
	int c, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == O_INPUT)
			in_arg = optarg;
		else if (c == O_DATA)
			data_arg = optarg;
		else if (c == O_QUERY)
			query = optarg;
		else
			return tool_usage("policy", "unknown option");
	}
	if (optind + 1 != argc)
		return tool_usage("policy", "eval takes one POLICY file");
	if ((in_arg && !(in = json_arg(in_arg, &in_len))) || (data_arg && !(data = json_arg(data_arg, &data_len)))) {
		tool_err("cannot read the --input/--data JSON");
		goto out;
	}
	if (compile_file(argv[optind], &r))
		goto out;
	if (ctfs_rego_eval(r, query, in, in_len, data, data_len, &res, err, sizeof(err))) {
		tool_err("%s: %s", query, err);
		goto out;
	}
	printf("%s\n", res ? res : "undefined");
	rc = 0;
out:
	free(res);
	free(in);
	free(data);
	ctfs_rego_free(r);
	return rc;
}

static int run(int argc, char **argv)
{
	if (argc < 2)
		return tool_usage("policy", "expected 'check' or 'eval'");
	if (!strcmp(argv[1], "check"))
		return run_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "eval"))
		return run_eval(argc - 1, argv + 1);
	return tool_usage("policy", "unknown subcommand '%s'", argv[1]);
}

const struct tool_cmd tool_cmd_policy = {
	.name = "policy",
	.summary = "check a Rego policy against the supported subset, or evaluate it",
	.run = run,
	.help = help,
};

int tool_policy_compiles(const char *what, const char *text, bool force)
{
	struct ctfs_rego *r = NULL;
	size_t len;
	char err[512];
	int rc;

	if (!text)
		return 0;
	len = strlen(text);
	rc = ctfs_rego_compile(&text, &len, 1, NULL, &r, err, sizeof(err));
	ctfs_rego_free(r);
	if (!rc)
		return 0;
	tool_err("%s%s policy does not compile: %s%s", force ? "warning: " : "", what, err,
		 force ? " (kept: --force)" : " (use --force to write it anyway)");
	return force ? 0 : rc;
}
