/* ctfs-tool: what the subcommands (one file each, tools/cmd_*.c) share
 * with the dispatcher in tools/ctfs-tool.c. */
#ifndef CTFS_TOOL_H
#define CTFS_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "jwk.h"

/* Exit statuses of every subcommand. */
#define TOOL_OK 0
#define TOOL_FAIL 1	/* the operation failed; a one-line reason was printed */
#define TOOL_USAGE 2	/* bad command line */

struct tool_cmd {
	const char *name;
	const char *summary;	/* one line for the command list */
	int (*run)(int argc, char **argv);	/* argv[0] is the subcommand name */
	void (*help)(FILE *out);
};

extern const struct tool_cmd tool_cmd_key;
extern const struct tool_cmd tool_cmd_keygen;
extern const struct tool_cmd tool_cmd_encrypt;

/* "ctfs-tool: <message>" on stderr. Never pass key material. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error for cmd ("ctfs-tool CMD: <message>", then a --help hint);
 * returns TOOL_USAGE. */
int tool_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when argv holds -h/--help before any "--". */
bool tool_wants_help(int argc, char **argv);

/* A whole key file ("-" for stdin) read into locked memory, NUL-terminated.
 * Release with tool_secret_free, which wipes it. 0 or -errno. */
struct tool_secret {
	char *data;
	size_t len;
};
int tool_secret_read(const char *path, struct tool_secret *s);
void tool_secret_free(struct tool_secret *s);

/* Read and parse a JWK or JWK set file; prints the reason on failure.
 * Free with ctfs_jwk_free_set. */
int tool_load_jwks(const char *path, struct ctfs_jwk **keys, size_t *n);

/* A size: decimal digits, optionally followed by K, M or G (powers of 1024). */
int tool_parse_size(const char *s, uint64_t *out);

#endif
