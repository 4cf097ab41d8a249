/* ctfs-tool: provision keys and author CryptoTensors files for ctfs.
 * This file holds main, the subcommand table and the helpers the
 * subcommands share; each subcommand lives in tools/cmd_<name>.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crypto/secmem.h"
#include "tool.h"
#include "util.h"
#include "sys/workpool.h"

/* Key files are small; anything larger is not one. */
#define SECRET_MAX (1u << 20)

static const struct tool_cmd *const commands[] = {
	&tool_cmd_key,
	&tool_cmd_keygen,
	&tool_cmd_encrypt,
	&tool_cmd_inspect,
	&tool_cmd_verify,
	&tool_cmd_decrypt,
	&tool_cmd_rewrap,
	&tool_cmd_sign,
	&tool_cmd_rollback,
	&tool_cmd_tgsp,
	&tool_cmd_status,
	&tool_cmd_policy,
	&tool_cmd_keyd,
};

void tool_err(const char *fmt, ...)
{
	va_list ap;

	fputs("ctfs-tool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tool_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ctfs-tool %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'ctfs-tool %s --help'.\n", cmd);
	return TOOL_USAGE;
}

bool tool_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	}
	return false;
}

int tool_run_sub(const char *cmd, const struct tool_sub *subs, size_t n, const char *hint,
		 void (*help)(FILE *out), int argc, char **argv)
{
	/* no subcommand at all: the full usage is the most useful answer */
	if (argc < 2) {
		help(stderr);
		return TOOL_USAGE;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	return tool_usage(cmd, "unknown subcommand '%s'%s", argv[1], hint);
}

void tool_secret_free(struct tool_secret *s)
{
	ctfs_secure_free(s->data); /* wipes */
	s->data = NULL;
	s->len = 0;
}

/* Read fd to its end into locked memory; the buffer is replaced (never
 * realloc'ed, which would leave copies) when it fills up. */
static int read_locked(int fd, size_t hint, struct tool_secret *s)
{
	/* one spare byte beyond the hint, so EOF is seen without growing */
	size_t cap = hint ? hint + 2 : 4096;
	char *buf = ctfs_secure_alloc(cap);

	s->len = 0;
	while (buf) {
		ssize_t n;

		if (s->len + 1 == cap) {
			char *bigger;

			if (cap - 1 >= SECRET_MAX) {
				ctfs_secure_free(buf);
				return -EFBIG;
			}
			bigger = ctfs_secure_alloc(cap * 2);
			if (bigger)
				memcpy(bigger, buf, s->len);
			ctfs_secure_free(buf);
			buf = bigger;
			cap *= 2;
			continue;
		}
		n = read(fd, buf + s->len, cap - 1 - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = -errno;

			ctfs_secure_free(buf);
			return rc;
		}
		if (n == 0) {
			buf[s->len] = 0;
			s->data = buf;
			return 0;
		}
		s->len += (size_t)n;
	}
	return -ENOMEM;
}

int tool_secret_read(const char *path, struct tool_secret *s)
{
	struct stat st;
	size_t hint = 0;
	int fd, rc;

	s->data = NULL;
	s->len = 0;
	if (!strcmp(path, "-"))
		return read_locked(STDIN_FILENO, 0, s);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > SECRET_MAX) {
			close(fd);
			return -EFBIG;
		}
		hint = (size_t)st.st_size;
	}
	rc = read_locked(fd, hint, s);
	close(fd);
	return rc;
}

int tool_load_jwks(const char *path, struct ctfs_jwk **keys, size_t *n)
{
	struct tool_secret s;
	char err[256] = "";
	int rc;

	rc = tool_secret_read(path, &s);
	if (rc) {
		tool_err("%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = ctfs_jwk_parse_set(s.data, s.len, keys, n, err, sizeof(err));
	tool_secret_free(&s);
	if (rc)
		tool_err("%s: %s", path, *err ? err : strerror(-rc));
	return rc;
}

int tool_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (ctfs_mul_overflow(v, 10, &v) || ctfs_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -ERANGE;
	}
	switch (*p) {
	case 0:
		break;
	case 'K': case 'k':
		mul = 1ull << 10;
		p++;
		break;
	case 'M': case 'm':
		mul = 1ull << 20;
		p++;
		break;
	case 'G': case 'g':
		mul = 1ull << 30;
		p++;
		break;
	default:
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	if (ctfs_mul_overflow(v, mul, out))
		return -ERANGE;
	return 0;
}

int tool_parse_threads(const char *s, unsigned *out)
{
	uint64_t v;

	if (tool_parse_size(s, &v) || strpbrk(s, "KkMmGg") || v < 1 || v > CTFS_POOL_MAX_THREADS)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static void main_help(FILE *out)
{
	fputs("Usage: ctfs-tool COMMAND [OPTIONS] [ARGS]\n"
	      "\n"
	      "Provision keys for the ctfs filesystem and write CryptoTensors files.\n"
	      "\n"
	      "Commands:\n", out);
	for (size_t i = 0; i < CTFS_ARRAY_LEN(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fputs("\n"
	      "'ctfs-tool COMMAND --help' describes a command.\n"
	      "Options: -h, --help  this text; -V, --version  the version.\n"
	      "Exit status: 0 success, 1 failure, 2 bad command line.\n", out);
}

static const struct tool_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < CTFS_ARRAY_LEN(commands); i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct tool_cmd *cmd;

	/* Key material passes through this process: no core dumps, no ptrace
	 * by other processes of the same user. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		tool_err("cannot make the process non-dumpable: %s", strerror(errno));
		return TOOL_FAIL;
	}
	if (ctfs_secmem_init() != 0) {
		tool_err("cannot initialise secure memory");
		return TOOL_FAIL;
	}
	if (argc < 2) {
		main_help(stderr);
		return TOOL_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		main_help(stdout);
		return TOOL_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("ctfs-tool %s\n", PACKAGE_VERSION);
		return TOOL_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			main_help(stdout);
			return TOOL_OK;
		}
		cmd = find_command(argv[2]);
		if (!cmd) {
			tool_err("unknown command '%s'", argv[2]);
			return TOOL_USAGE;
		}
		cmd->help(stdout);
		return TOOL_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		tool_err("unknown command '%s' (try 'ctfs-tool --help')", argv[1]);
		return TOOL_USAGE;
	}
	/* -h/--help anywhere wins over every other argument, for every command,
	 * so that a broken command line never hides the text that explains it. */
	if (tool_wants_help(argc - 1, argv + 1)) {
		cmd->help(stdout);
		return TOOL_OK;
	}
	return cmd->run(argc - 1, argv + 1);
}
