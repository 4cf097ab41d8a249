/* ctfs-tool rollback list|forget: inspect and administer the anti-rollback
 * store that mounts keep with -o rollback_db=FILE. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "trust/rollback.h"
#include "trust/thumbprint.h"
#include "tool.h"
#include "util.h"

static void help(FILE *out)
{
	fputs("Usage: ctfs-tool rollback list --db FILE\n"
	      "       ctfs-tool rollback forget --db FILE [--signer THUMBPRINT] MODEL_ID\n"
	      "\n"
	      "The anti-rollback store of ctfs -o rollback_db=FILE holds, per signer and\n"
	      "model id (signed metadata ctfs.model_id), the highest version\n"
	      "(ctfs.version) the mounts of this machine have served; lower versions are\n"
	      "refused. The store is shared safely with running mounts (flock).\n"
	      "\n"
	      "  list     signer thumbprint, highest version and model id, one per line\n"
	      "  forget   drop the entries of MODEL_ID (of one signer with --signer), so\n"
	      "           that an older version may be served again\n"
	      "\n"
	      "Options:\n"
	      "  -d, --db FILE            the store (required)\n"
	      "  -s, --signer THUMBPRINT  forget: only this signer's entry\n"
	      "  -h, --help               this text\n", out);
}

struct rb_opts {
	const char *db, *signer;
};

static int parse(int argc, char **argv, const char *cmd, struct rb_opts *o)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "signer", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:s:h", longopts, NULL)) != -1) {
		if (c == 'd')
			o->db = optarg;
		else if (c == 's')
			o->signer = optarg;
		else
			return -tool_usage(cmd, "unknown option or missing argument: %s",
					   argv[optind - 1]);
	}
	if (!o->db)
		return -tool_usage(cmd, "--db FILE is required");
	return optind;
}

static int rb_list(int argc, char **argv)
{
	struct rb_opts o = { 0 };
	struct ctfs_rollback_entry *e;
	char err[512] = "", tp[CTFS_THUMBPRINT_TEXT];
	size_t n;
	int first = parse(argc, argv, "rollback list", &o);

	if (first < 0)
		return -first;
	if (o.signer || first != argc)
		return tool_usage("rollback list", "takes only --db FILE");
	if (ctfs_rollback_list(o.db, &e, &n, err, sizeof(err))) {
		tool_err("%s", err);
		return TOOL_FAIL;
	}
	for (size_t i = 0; i < n; i++) {
		ctfs_thumbprint_text(e[i].signer, tp);
		printf("%s\t%llu\t%s\n", tp, (unsigned long long)e[i].version, e[i].model_id);
	}
	ctfs_rollback_entries_free(e, n);
	return TOOL_OK;
}

static int rb_forget(int argc, char **argv)
{
	struct rb_opts o = { 0 };
	uint8_t signer[CTFS_THUMBPRINT_LEN];
	char err[512] = "";
	size_t dropped;
	int first = parse(argc, argv, "rollback forget", &o);

	if (first < 0)
		return -first;
	if (argc - first != 1)
		return tool_usage("rollback forget", "expected one MODEL_ID");
	if (o.signer && ctfs_thumbprint_parse(o.signer, signer))
		return tool_usage("rollback forget", "--signer takes an RFC 7638 thumbprint");
	if (ctfs_rollback_forget(o.db, o.signer ? signer : NULL, argv[first], &dropped, err,
				 sizeof(err))) {
		tool_err("%s", err);
		return TOOL_FAIL;
	}
	if (!dropped) {
		tool_err("%s: no entry for model '%s'", o.db, argv[first]);
		return TOOL_FAIL;
	}
	printf("forgot %zu entr%s of model '%s'\n", dropped, dropped == 1 ? "y" : "ies",
	       argv[first]);
	return TOOL_OK;
}

static int run(int argc, char **argv)
{
	static const struct tool_sub subs[] = {
		{ "list", rb_list },
		{ "forget", rb_forget },
	};

	return tool_run_sub("rollback", subs, CTFS_ARRAY_LEN(subs), " (list, forget)", help,
			    argc, argv);
}

const struct tool_cmd tool_cmd_rollback = {
	.name = "rollback",
	.summary = "list or forget the versions recorded by -o rollback_db=",
	.run = run,
	.help = help,
};
