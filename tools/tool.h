/* ctfs-tool: what the subcommands (one file each, tools/cmd_*.c) share
 * with the dispatcher in tools/ctfs-tool.c. */
#ifndef CTFS_TOOL_H
#define CTFS_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "keys/jwk.h"
#include "keys/keyprov.h"
#include "ct/model.h"

/* Exit statuses of every subcommand. */
#define TOOL_OK 0
#define TOOL_FAIL 1	/* the operation failed; a one-line reason was printed */
#define TOOL_USAGE 2	/* bad command line */

struct tool_cmd {
	const char *name;
	const char *summary;	/* one line for the command list */
	/* argv[0] is the subcommand name; -h/--help was handled by the caller */
	int (*run)(int argc, char **argv);
	void (*help)(FILE *out);
};

extern const struct tool_cmd tool_cmd_key;
extern const struct tool_cmd tool_cmd_keygen;
extern const struct tool_cmd tool_cmd_encrypt;
extern const struct tool_cmd tool_cmd_decrypt;
extern const struct tool_cmd tool_cmd_inspect;
extern const struct tool_cmd tool_cmd_verify;
extern const struct tool_cmd tool_cmd_rewrap;
extern const struct tool_cmd tool_cmd_sign;
extern const struct tool_cmd tool_cmd_rollback;
extern const struct tool_cmd tool_cmd_tgsp;
extern const struct tool_cmd tool_cmd_status;
extern const struct tool_cmd tool_cmd_policy;
extern const struct tool_cmd tool_cmd_keyd;

/* 0 when the Rego text (NULL: none) compiles; otherwise an error naming
 * `what` ("local"/"remote"), or only a warning when force. */
int tool_policy_compiles(const char *what, const char *text, bool force);

/* "ctfs-tool: <message>" on stderr. Never pass key material. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error for cmd ("ctfs-tool CMD: <message>", then a --help hint);
 * returns TOOL_USAGE. */
int tool_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when argv holds -h/--help before any "--". */
bool tool_wants_help(int argc, char **argv);

/* Commands made of subcommands (key, tgsp): argv[1] names one, which runs
 * with argv shifted by one. Without argv[1], help(stderr) and TOOL_USAGE;
 * an unknown name is a usage error, hint appended to its message. */
struct tool_sub {
	const char *name;
	int (*fn)(int argc, char **argv);
};
int tool_run_sub(const char *cmd, const struct tool_sub *subs, size_t n, const char *hint,
		 void (*help)(FILE *out), int argc, char **argv);

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
/* --threads: 1 to CTFS_POOL_MAX_THREADS; 0 or -EINVAL. */
int tool_parse_threads(const char *s, unsigned *out);

/* ---- keys (tools/keysource.c) ---------------------------------------------- */

/* The keys that open files: a JWK set file, or else the kernel keyring
 * (the user keyring by default). */
struct tool_keys {
	const char *file;          /* --keys */
	const char *keyring;       /* --keyring */
	struct ctfs_jwk *set;
	size_t n;
	struct ctfs_keyprov kp;    /* valid after tool_keys_open */
};
/* 0, or -errno after printing the reason. */
int tool_keys_open(struct tool_keys *k);
/* The keyring a --keyring spec names (NULL: @u, the user keyring).
 * 0, or -errno after printing the reason. */
int tool_keyring_open(const char *spec, key_serial_t *ring);
void tool_keys_close(struct tool_keys *k);

/* The key of type kty named kid (with kid NULL: the only one) in a set, or
 * NULL after printing why: missing, or several (choose with kid_opt). */
const struct ctfs_jwk *tool_pick_key(const struct ctfs_jwk *set, size_t n, enum ctfs_kty kty,
				     const char *kid, const char *what, const char *kid_opt,
				     const char *path);

/* ---- options several subcommands share (tools/common_opts.c) ------------------ */

#define TOOL_MAX_EXCLUDE 256

/* Each command lists in its getopt tables only those it accepts. */
struct tool_opts {
	struct tool_keys keys;     /* -K/--keys, -k/--keyring */
	const char *exclude[TOOL_MAX_EXCLUDE + 1];  /* -x/--exclude; NULL-terminated */
	size_t n_exclude;
	unsigned threads;          /* -j/--threads; 0: the default */
	bool force, quiet;         /* -f/--force, -q/--quiet */
};
/* Apply what getopt_long returned (c, with optarg) to o: 0, or TOOL_USAGE
 * after a usage error for cmd. Any c other than K k x j f q is reported as
 * an unknown option or one missing its argument. */
int tool_common_opt(const char *cmd, int c, char **argv, struct tool_opts *o);
/* --keys and --keyring exclude each other: 0, or TOOL_USAGE (printed). */
int tool_keys_either(const char *cmd, const struct tool_keys *k);

/* ---- progress and interruption (tools/progress.c) ---------------------------- */

/* SIGINT, SIGTERM and SIGHUP set a flag that the progress callback turns
 * into -EINTR, so the library stops and removes its temporary files; a
 * second signal ends the process. */
void tool_signals_install(void);
bool tool_interrupted(void);

/* A progress bar on standard output, drawn only when it is a terminal and
 * not quiet: label, bar, percentage, bytes, rate, ETA. */
struct tool_progress {
	bool on;
	bool drawn;
	const char *label;
	uint64_t base;             /* bytes of the files already done */
	uint64_t total;            /* bytes of the whole run */
	long long t0, last_ns;
};
void tool_progress_init(struct tool_progress *p, bool quiet, const char *label, uint64_t total);
/* The library's progress callback (arg: a struct tool_progress): draws,
 * and returns -EINTR once a signal arrived. */
int tool_progress_cb(void *arg, uint64_t done, uint64_t total);
/* A file of that many bytes is done. */
void tool_progress_advance(struct tool_progress *p, uint64_t bytes);
/* Erase the bar before printing a line. */
void tool_progress_clear(struct tool_progress *p);

/* ---- model files (tools/modelfile.c) --------------------------------------------- */

enum tool_kind {
	TOOL_KIND_CRYPTO,          /* a CryptoTensors file: m */
	TOOL_KIND_PLAIN,           /* plain safetensors: plain */
	TOOL_KIND_OTHER,           /* not safetensors at all: why */
	TOOL_KIND_INVALID,         /* claims to be CryptoTensors but is malformed: why */
};

struct tool_model {
	enum tool_kind kind;
	struct ctfs_model *m;      /* CRYPTO (also holds the fd for PLAIN) */
	struct ctfs_st_header *plain;
	char why[512];
};

/* Open path (following symlinks) and tell what it is. 0, or -errno when it
 * cannot be read at all (why says so). */
int tool_model_open(const char *path, struct tool_model *tm);
void tool_model_close(struct tool_model *tm);

/* Read a Rego policy file (UTF-8 text); prints the reason on failure. */
int tool_read_policy(const char *path, char **out);

/* -p/--policy FILE (both policies), --policy-local FILE, --policy-remote FILE,
 * as encrypt and rewrap take them. */
enum { TOOL_OPT_POLICY_LOCAL = 0x200, TOOL_OPT_POLICY_REMOTE };
struct tool_policy_args {
	const char *both, *local, *remote;
};
/* Record option c if it is one of the three: true when it was. */
bool tool_policy_opt(int c, const char *arg, struct tool_policy_args *p);
bool tool_policy_given(const struct tool_policy_args *p);
/* --policy with --policy-local/--policy-remote: TOOL_USAGE (printed), else 0. */
int tool_policy_conflict(const char *cmd, const struct tool_policy_args *p);
/* Read the files given into *local / *remote (NULL when not given);
 * -EINVAL with the reason printed, and nothing kept, on failure. */
int tool_policy_read(const struct tool_policy_args *p, char **local, char **remote);

/* --model-id ID, --model-version N, --x5c CHAIN.pem, --no-digests
 * (tools/trust_opts.c), as encrypt, rewrap and sign take them. */
enum { TOOL_OPT_MODEL_ID = 0x300, TOOL_OPT_MODEL_VERSION, TOOL_OPT_X5C, TOOL_OPT_NO_DIGESTS };
#define TOOL_TRUST_META_LONGOPTS \
	{ "model-id", required_argument, NULL, TOOL_OPT_MODEL_ID }, \
	{ "model-version", required_argument, NULL, TOOL_OPT_MODEL_VERSION }, \
	{ "x5c", required_argument, NULL, TOOL_OPT_X5C }, \
	{ "no-digests", no_argument, NULL, TOOL_OPT_NO_DIGESTS }
#define TOOL_TRUST_META_HELP \
	"      --model-id ID      signed ctfs.model_id: the model this file is a version\n" \
	"                         of, for anti-rollback (with --model-version)\n" \
	"      --model-version N  signed ctfs.version (decimal integer); a mount with\n" \
	"                         -o rollback_db= refuses versions below one it served\n" \
	"      --x5c CHAIN.pem    the signing key's certificate chain (leaf first),\n" \
	"                         written into __crypto_keys__.sign.x5c for -o trust=\n" \
	"      --no-digests       do not write ctfs.plain_sha256 (the SHA-256 of every\n" \
	"                         chunk of every plaintext tensor, checked on reads)\n"
struct tool_trust_meta {
	const char *model_id, *model_version, *x5c_path;
	bool no_digests;
	char **x5c;
	size_t n_x5c;
};
/* Record option c if it is one of the four: true when it was. */
bool tool_trust_meta_opt(int c, const char *arg, struct tool_trust_meta *m);
/* Usage check of the values: TOOL_USAGE (printed) or 0. */
int tool_trust_meta_check(const char *cmd, const struct tool_trust_meta *m);
/* Load --x5c and check that its leaf holds signer's key; 0 or -errno (printed). */
int tool_trust_meta_load(struct tool_trust_meta *m, const struct ctfs_jwk *signer);
void tool_trust_meta_free(struct tool_trust_meta *m);

/* ---- directory trees (tools/tree.c) ------------------------------------------------ */

struct tool_entry {
	char *rel;                 /* path below the root, "/"-separated */
	bool dir;
	mode_t mode;
	uint64_t size;
};

struct tool_tree {
	struct tool_entry *e;      /* sorted: a directory before what it holds */
	size_t n;
	uint64_t bytes;            /* of all files */
};

/* Every directory and regular file below root (symlinks followed), except
 * what an exclude glob matches: a pattern without '/' is matched against
 * each name, one with '/' against the whole relative path. 0 or -errno,
 * the reason printed. */
int tool_tree_list(const char *root, const char *const *exclude, struct tool_tree *t);
void tool_tree_free(struct tool_tree *t);
bool tool_excluded(const char *rel, const char *const *exclude);
bool tool_is_dir(const char *path);
/* Both paths exist and name the same file. */
bool tool_same_file(const char *a, const char *b);
/* "a/b" from a and b; NULL when out of memory. */
char *tool_join(const char *a, const char *b);
/* True when name ends with suffix. */
bool tool_has_suffix(const char *name, const char *suffix);

/* A directory written under a temporary name next to dst and put in place
 * in one rename (an existing dst is swapped out atomically, then removed). */
struct tool_outdir {
	char *dst;
	char *tmp;
	bool replace;
};
/* -EEXIST (reason printed) when dst exists and !force. */
int tool_outdir_begin(struct tool_outdir *o, const char *dst, bool force);
int tool_outdir_commit(struct tool_outdir *o, const struct tool_tree *t);
void tool_outdir_abort(struct tool_outdir *o);

/* Copy a regular file to a new path with its mode, synced. 0 or -errno. */
int tool_copy_file(const char *src, const char *dst, mode_t mode, struct tool_progress *p);

/* Refuse (with a reason) a dst inside src or equal to it. */
int tool_check_not_inside(const char *src, const char *dst);

/* Check every *.safetensors.index.json of a tree: valid JSON, a weight_map
 * of strings, every shard named present in the tree and holding the tensor
 * mapped to it. 0, or -EINVAL after printing the first problem. */
int tool_check_indexes(const char *root, const struct tool_tree *t);

/* Run a directory to directory transformation: list src, check its
 * indexes, build dst under a temporary name (each file given to fn, or
 * copied when fn returns 0), then put it in place. */
struct tool_dirrun {
	const char *src, *dst;
	bool force, quiet;
	const char *const *exclude;
	const char *label;         /* progress bar */
	/* 1: written to dst; 0: copy it unchanged; <0: failed (reason printed) */
	int (*fn)(void *arg, const char *src, const char *dst, const struct tool_entry *e,
		  struct tool_progress *p);
	void *arg;
	unsigned done_files, copied_files;
};
int tool_dir_run(struct tool_dirrun *r);

#endif
