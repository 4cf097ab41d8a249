/* The command line options that several subcommands share (keys, threads,
 * exclusions, --force, --quiet): spelled, checked and reported one way, so
 * that a message or a limit cannot drift between commands. */
#include <getopt.h>

#include "tool.h"

int tool_common_opt(const char *cmd, int c, char **argv, struct tool_opts *o)
{
	switch (c) {
	case 'K':
		o->keys.file = optarg;
		return 0;
	case 'k':
		o->keys.keyring = optarg;
		return 0;
	case 'x':
		if (o->n_exclude == TOOL_MAX_EXCLUDE)
			return tool_usage(cmd, "too many --exclude options");
		o->exclude[o->n_exclude++] = optarg;
		return 0;
	case 'j':
		if (tool_parse_threads(optarg, &o->threads))
			return tool_usage(cmd, "bad --threads '%s' (1 to 16)", optarg);
		return 0;
	case 'f':
		o->force = true;
		return 0;
	case 'q':
		o->quiet = true;
		return 0;
	default:
		/* getopt has already moved past the offending word */
		return tool_usage(cmd, "unknown option or missing argument: %s", argv[optind - 1]);
	}
}

int tool_keys_either(const char *cmd, const struct tool_keys *k)
{
	if (k->file && k->keyring)
		return tool_usage(cmd, "give --keys or --keyring, not both");
	return 0;
}
