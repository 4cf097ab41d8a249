/* ctfs-tool tgsp: what its subcommands (tools/cmd_tgsp*.c) share. */
#ifndef CTFS_TOOL_TGSP_CMDS_H
#define CTFS_TOOL_TGSP_CMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tgsp/build.h"
#include "tgsp/tgsp.h"

int tgsp_keygen(int argc, char **argv);
int tgsp_build(int argc, char **argv);
int tgsp_inspect(int argc, char **argv);
int tgsp_verify(int argc, char **argv);
int tgsp_open(int argc, char **argv);

/* Key files; a one-line reason is printed on failure (0 or -errno). */
int tgsp_load_sign_pub(const char *path, struct ctfs_tgsp_sign_pub *out);
int tgsp_load_enc_pub(const char *path, struct ctfs_tgsp_enc_pub *out);
int tgsp_load_sign_sec(const char *path, struct ctfs_tgsp_sign_sec **out);
int tgsp_load_enc_sec(const char *path, struct ctfs_tgsp_enc_sec **out);

/* Epoch seconds, or an ISO 8601 UTC time "YYYY-MM-DD[THH:MM[:SS]][Z]". */
int tgsp_parse_time(const char *s, long long *out);

/* Members of an open package written under out_dir (created if missing):
 * never outside it, never over an existing file. */
int tgsp_extract(struct ctfs_tgsp *p, const char *out_dir, bool verbose);

#endif
