/* ctfs SOURCE MOUNTPOINT [-f] [-o opt,...]: mount SOURCE read-only, serving
 * CryptoTensors files as plaintext safetensors views. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "ctfs_fuse.h"
#include "kernel_io.h"

#include <fuse_lowlevel.h>
#include "keys/keyfetch.h"
#include "keys/keyring.h"
#include "log.h"
#include "crypto/secmem.h"

#define DEFAULT_CACHE "64M"
#define DEFAULT_READAHEAD "4M"

struct options {
	char *source;
	char *keyring;
	char *cache_size;
	char *readahead;
	char *header_cache;
	char *tgsp_trust;
	char *fleet;
	char *metrics, *usage, *usage_interval, *metrics_files;
	int argc;
	char **argv;
	char *keyserver, *client_cert, *client_key, *keyserver_ca, *key_audit;
	char *unbound_keys;
	char *trust;
	char *crl;
	char *revoked;
	char *rollback_db;
	int require_digests;
	char *policy;
	char *policy_data;
	char *audit;
	char *audit_fail;
	int resident_all;
	char *resident;
	char *resident_grace;
	int help;
	int version;
};

#define OPT(t, p) { t, offsetof(struct options, p), 1 }
static const struct fuse_opt opt_spec[] = {
	OPT("keyring=%s", keyring),
	OPT("cache_size=%s", cache_size),
	OPT("readahead=%s", readahead),
	OPT("header_cache=%s", header_cache),
	OPT("tgsp_trust=%s", tgsp_trust),
	OPT("fleet=%s", fleet),
	OPT("metrics=%s", metrics),
	OPT("usage=%s", usage),
	OPT("usage_interval=%s", usage_interval),
	OPT("metrics_files=%s", metrics_files),
	OPT("keyserver=%s", keyserver),
	OPT("client_cert=%s", client_cert),
	OPT("client_key=%s", client_key),
	OPT("keyserver_ca=%s", keyserver_ca),
	OPT("key_audit=%s", key_audit),
	OPT("unbound_keys=%s", unbound_keys),
	OPT("trust=%s", trust),
	OPT("crl=%s", crl),
	OPT("revoked=%s", revoked),
	OPT("rollback_db=%s", rollback_db),
	OPT("require_digests", require_digests),
	OPT("policy=%s", policy),
	OPT("policy_data=%s", policy_data),
	OPT("audit=%s", audit),
	OPT("audit_fail=%s", audit_fail),
	OPT("resident", resident_all),
	OPT("resident=%s", resident),
	OPT("resident_grace=%s", resident_grace),
	OPT("-h", help),
	OPT("--help", help),
	OPT("-V", version),
	OPT("--version", version),
	FUSE_OPT_END,
};

static void usage(const char *prog)
{
	printf("usage: %s SOURCE MOUNTPOINT [-f] [-o opt,...]\n\n"
	       "Mount SOURCE read-only at MOUNTPOINT; CryptoTensors files appear as\n"
	       "plaintext .safetensors views, decrypted on demand with keys from the\n"
	       "kernel keyring.\n\n"
	       "ctfs options:\n"
	       "    -o keyring=SPEC        keyring holding the ctfs:<kid> keys: @u (default),\n"
	       "                           @s, @us, @p, a serial number, or a keyring name\n"
	       "    -o cache_size=SIZE     decrypted chunk cache, locked in memory (default %s;\n"
	       "                           suffixes K, M, G)\n"
	       "    -o readahead=SIZE      kernel readahead for the mount (default %s)\n"
	       "    -o header_cache=SIZE   memory for parsed headers and TGSP indexes of files\n"
	       "                           no open handle uses (default %uM; LRU beyond it)\n"
	       "    -o tgsp_trust=FILE|DIR trusted TGSP signer public key(s) (*.pub, *.json);\n"
	       "                           keyring keys ctfs:tgsp-signer:<key_id> are trusted too\n"
	       "    -o fleet=ID            fleet identity for TGSP packages' target_fleet\n"
	       "                           and for the key service\n"
	       "    -o keyserver=https://HOST:PORT  fetch master keys missing from the\n"
	       "                           keyring from ctfs-keyd (through request-key(8);\n"
	       "                           a refusal is remembered for 10 s), with\n"
	       "    -o client_cert=FILE,client_key=FILE,keyserver_ca=FILE  the machine's\n"
	       "                           certificate and key, and the service's CA\n"
	       "    -o key_audit=FILE      JSON-lines record of this machine's key fetches\n"
	       "    -o metrics=HOST:PORT   serve Prometheus metrics at http://HOST:PORT/metrics\n"
	       "                           (off by default; bind to 127.0.0.1 or a private net)\n"
	       "    -o metrics_files=N     per-file metric series, the rest folded into\n"
	       "                           file=\"other\" (default 64, at most 256)\n"
	       "    -o usage=FILE          append usage records (JSON lines: file, uid, exe,\n"
	       "                           opens, bytes) periodically and at unmount\n"
	       "    -o usage_interval=S    seconds between usage records (default 60)\n"
	       "    -o unbound_keys=refuse|warn  master keys without a ctfs_signers list:\n"
	       "                           refused (default) or, during a migration, accepted\n"
	       "                           with a warning for any trusted signer\n"
	       "    -o trust=FILE|DIR      CA certificates (and CRLs) that signer chains (x5c)\n"
	       "                           must validate to; then no per-signer key is needed\n"
	       "    -o crl=require         refuse chains whose CAs have no current CRL\n"
	       "    -o revoked=FILE        local revocation list (kids, thumbprints, serials,\n"
	       "                           header digests), reloaded on SIGHUP\n"
	       "    -o rollback_db=FILE    refuse versions (ctfs.version) of a model below the\n"
	       "                           highest served here (store shared by mounts)\n"
	       "    -o require_digests     refuse files with plaintext tensors but no signed\n"
	       "                           per-chunk digests (ctfs.plain_sha256)\n"
	       "    -o policy=FILE         the operator's Rego policy: data.model.allow must be\n"
	       "                           true as well as the file's own local policy\n"
	       "    -o policy_data=FILE    JSON given to policies as data\n"
	       "    -o audit=FILE          append a JSON line per access decision (mode 0600)\n"
	       "    -o audit_fail=deny|allow  when the audit file cannot be written (deny)\n"
	       "    -o resident            decrypt and verify each encrypted file whole into\n"
	       "                           locked memory at its first open and serve it from\n"
	       "                           there (by the kernel, with passthrough): reads and\n"
	       "                           mmap without decrypting, for open latency and RAM\n"
	       "    -o resident=PAT[:PAT...]  only files whose path in the mount matches a\n"
	       "                           pattern (fnmatch, no leading '/', '*' matches '/')\n"
	       "    -o resident_grace=S    seconds a resident copy outlives its last handle\n"
	       "                           before it is wiped (default %u)\n"
	       "    -o allow_other,uid=N,gid=N,umask=M   as for other FUSE file systems\n"
	       "    -f                     stay in the foreground, log to stderr\n"
	       "    -h, --help / -V, --version   this text / the version\n\n",
	       prog, DEFAULT_CACHE, DEFAULT_READAHEAD, CTFS_VIEW_HEADER_CACHE_DEFAULT >> 20,
	       CTFS_VIEW_RESIDENT_GRACE_DEFAULT);
}

/* The first positional argument is SOURCE; the rest go to FUSE. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !o->source) {
		o->source = strdup(arg);
		return o->source ? 0 : -1;
	}
	return 1;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || v > (SIZE_MAX >> shift))
		return -EINVAL;
	*out = (size_t)(v << shift);
	return 0;
}

/* No core dumps and no ptrace by other processes of the same user: the
 * daemon holds keys and plaintext. */
/* The cache lives in locked memory, and many systems let a process lock
 * only 8 MiB unless it has CAP_IPC_LOCK. Ask for what the cache needs (a privileged daemon may raise
 * even the hard limit), else the most allowed; then fit the cache under the
 * limit (leaving room for keys) rather than fail every read later. */
static bool can_lock_without_limit(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];

	if (syscall(SYS_capget, &hdr, caps))
		return false;
	return caps[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32));
}

/* No core dumps and no ptrace by other processes of the same user: the
 * daemon holds keys and plaintext. */
static void harden(void)
{
	struct rlimit none = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) || setrlimit(RLIMIT_CORE, &none))
		ctfs_warn("cannot disable core dumps: %m");
}

/* For a daemon that may lock memory without limit (root), no page of it is
 * ever swapped: decrypted bytes also pass through libfuse's reply buffers,
 * which are ordinary heap. MCL_ONFAULT locks pages as they are touched, so
 * nothing is faulted in ahead. Without CAP_IPC_LOCK, MCL_FUTURE would make
 * later allocations fail under RLIMIT_MEMLOCK: then only the cache is
 * locked. Called once daemonised (a forked child does not inherit locks). */
static void lock_memory(void)
{
	if (can_lock_without_limit() && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT))
		ctfs_warn("cannot lock the daemon's memory: %m");
}

static size_t fit_memlock(size_t cache)
{
	const size_t keys_room = 4u << 20;
	struct rlimit rl;
	size_t fit;

	if (can_lock_without_limit())
		return cache;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= cache + keys_room)
		return cache;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max < cache + keys_room) {
		struct rlimit want = { cache + keys_room, cache + keys_room };

		if (!setrlimit(RLIMIT_MEMLOCK, &want))
			return cache;
	}
	rl.rlim_cur = rl.rlim_max;
	if (rl.rlim_max != RLIM_INFINITY && setrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur >= cache + keys_room)
		return cache;
	getrlimit(RLIMIT_MEMLOCK, &rl);
	fit = rl.rlim_cur > 2 * keys_room ? rl.rlim_cur - keys_room : rl.rlim_cur / 2;
	fprintf(stderr, "ctfs: RLIMIT_MEMLOCK is %llu KiB: cache_size lowered to %zu KiB\n",
		(unsigned long long)rl.rlim_cur >> 10, fit >> 10);
	return fit;
}

/* -o resident promises plaintext that is never swapped: refuse the mount
 * rather than lock part of it. Locking is possible without limit with
 * CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK (raised here when the hard
 * limit allows). */
static int resident_can_lock(void)
{
	struct rlimit rl;

	if (can_lock_without_limit())
		return 0;
	if (!getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_max == RLIM_INFINITY) {
		rl.rlim_cur = RLIM_INFINITY;
		if (!setrlimit(RLIMIT_MEMLOCK, &rl))
			return 0;
	}
	fprintf(stderr, "ctfs: -o resident needs to lock whole files in memory, and this "
		"process cannot (no CAP_IPC_LOCK, RLIMIT_MEMLOCK not unlimited): run it as root "
		"or with CAP_IPC_LOCK, or raise the limit (LimitMEMLOCK=infinity); not mounted\n");
	return -EPERM;
}

static int setup_resident(struct ctfs_view_opts *vo, const struct options *o)
{
	vo->resident_grace = CTFS_VIEW_RESIDENT_GRACE_DEFAULT;
	if (o->resident_grace && ctfs_parse_uint(o->resident_grace, 0, 86400, &vo->resident_grace)) {
		fprintf(stderr, "ctfs: bad resident_grace (0-86400 s)\n");
		return -EINVAL;
	}
	if (!o->resident_all && !o->resident)
		return 0;
	if (o->resident && !*o->resident) {
		fprintf(stderr, "ctfs: resident= needs a pattern (or -o resident for every file)\n");
		return -EINVAL;
	}
	vo->resident = o->resident_all ? "" : o->resident;
	if (resident_can_lock())
		return -EPERM;
	ctfs_allow_shmem_hugepages();
	return 0;
}

static int setup_trust(struct ctfs_mount *mt, const struct options *o)
{
	struct ctfs_trust_opts t = {
		.trust = o->trust, .revoked = o->revoked, .rollback_db = o->rollback_db,
		.require_digests = o->require_digests,
	};
	char err[512] = "";
	int rc;

	if (o->crl && strcmp(o->crl, "require")) {
		fprintf(stderr, "ctfs: crl takes only 'require'\n");
		return -EINVAL;
	}
	t.crl_require = o->crl != NULL;
	rc = ctfs_trust_init(&mt->trust, &t, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ctfs: %s\n", err);
		return rc;
	}
	mt->trust_on = true;
	return 0;
}

static int setup(struct ctfs_mount *mt, const struct options *o)
{
	struct ctfs_view_opts vo = {
		.source = o->source, .tgsp_trust = o->tgsp_trust, .fleet = o->fleet,
		.header_cache = CTFS_VIEW_HEADER_CACHE_DEFAULT,
	};
	/* paths must survive the daemon's chdir and be usable by request-key */
	struct ctfs_keyfetch_cfg kf = {
		.server = o->keyserver, .cert = o->client_cert, .key = o->client_key,
		.ca = o->keyserver_ca, .audit = o->key_audit,
	};
	char err[512] = "";
	int rc;

	if (parse_size(o->cache_size ? o->cache_size : DEFAULT_CACHE, &vo.cache_size) ||
	    parse_size(o->readahead ? o->readahead : DEFAULT_READAHEAD, &mt->readahead) ||
	    (o->header_cache && parse_size(o->header_cache, &vo.header_cache))) {
		fprintf(stderr, "ctfs: bad cache_size, readahead or header_cache\n");
		return -EINVAL;
	}
	rc = ctfs_keyring_resolve(o->keyring ? o->keyring : "@u", &vo.ring);
	if (rc) {
		fprintf(stderr, "ctfs: cannot find keyring '%s': %s\n",
			o->keyring ? o->keyring : "@u", strerror(-rc));
		return rc;
	}
	rc = setup_trust(mt, o);
	if (!rc)
		rc = setup_resident(&vo, o);
	if (rc)
		return rc;
	if (o->unbound_keys && !strcmp(o->unbound_keys, "warn")) {
		vo.unbound = CTFS_UNBOUND_WARN;
	} else if (o->unbound_keys && strcmp(o->unbound_keys, "refuse")) {
		fprintf(stderr, "ctfs: unbound_keys is 'refuse' or 'warn'\n");
		return -EINVAL;
	}
	vo.trust = mt->trust_on ? &mt->trust : NULL;
	vo.site_policy = o->policy;
	vo.policy_data = o->policy_data;
	vo.audit = o->audit;
	if (o->audit_fail && strcmp(o->audit_fail, "deny") && strcmp(o->audit_fail, "allow")) {
		fprintf(stderr, "ctfs: audit_fail is 'deny' or 'allow'\n");
		return -EINVAL;
	}
	vo.audit_fail_allow = o->audit_fail && !strcmp(o->audit_fail, "allow");
	if (o->keyserver)
		vo.keyserver = &kf;
	vo.cache_size = fit_memlock(vo.cache_size);
	rc = ctfs_ops_prepare(&(struct ctfs_ops_opts){ o->metrics, o->usage, o->usage_interval,
						       o->metrics_files }, &vo, o->argc, o->argv);
	if (!rc)
		rc = ctfs_view_new(&vo, &mt->view, err, sizeof(err));
	if (rc && *err)
		fprintf(stderr, "ctfs: %s\n", err);
	return rc;
}

/* Show SOURCE in mount(8) and /proc/mounts, as other file systems do. */
static int add_fsname(struct fuse_args *args, const char *source)
{
	char opt[PATH_MAX + 16];

	if (strchr(source, ',') || strchr(source, '\\'))
		source = "ctfs";
	snprintf(opt, sizeof(opt), "-ofsname=%s", source);
	return fuse_opt_add_arg(args, opt);
}

/* The view first: it refers to the trust state. */
static void teardown(struct ctfs_mount *mt)
{
	ctfs_kio_free(mt);
	ctfs_view_free(mt->view);
	if (mt->trust_on)
		ctfs_trust_destroy(&mt->trust);
}

/* With a revocation list, SIGHUP reloads it instead of ending the mount, as
 * daemons do with their configuration: the handler only posts a semaphore
 * (async-signal-safe); a thread reloads and logs, so the new list is in
 * force from the log line on (and at the latest at the next open). */
static struct ctfs_trust *hup_trust;
static sem_t hup_sem;
static pthread_t hup_thread;
static atomic_bool hup_stop;
static bool hup_started;

static void on_hup(int sig)
{
	(void)sig;
	ctfs_trust_request_reload(hup_trust);
	sem_post(&hup_sem);
}

static void *hup_main(void *arg)
{
	char err[512];
	int rc;

	(void)arg;
	while (!atomic_load(&hup_stop)) {
		if (sem_wait(&hup_sem))
			continue;
		if (atomic_load(&hup_stop))
			break;
		rc = ctfs_trust_maybe_reload(hup_trust, err, sizeof(err));
		if (rc < 0)
			ctfs_err("revocation list %s not reloaded, the previous one stays: %s",
				 hup_trust->revoked.path, err);
		else if (rc > 0)
			ctfs_info("revocation list %s reloaded", hup_trust->revoked.path);
	}
	return NULL;
}

static int hup_reloads(struct ctfs_mount *mt)
{
	struct sigaction sa = { .sa_handler = on_hup };
	sigset_t all, old;
	int rc;

	if (!mt->trust_on || !mt->trust.revoked.path)
		return 0;
	hup_trust = &mt->trust;
	if (sem_init(&hup_sem, 0, 0))
		return -1;
	/* the reloader takes no signals: they go to the FUSE threads */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&hup_thread, NULL, hup_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -1;
	hup_started = true;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	return sigaction(SIGHUP, &sa, NULL);
}

static void hup_end(void)
{
	if (!hup_started)
		return;
	signal(SIGHUP, SIG_IGN);
	atomic_store(&hup_stop, true);
	sem_post(&hup_sem);
	pthread_join(hup_thread, NULL);
	sem_destroy(&hup_sem);
	hup_started = false;
}

static int run(struct fuse_args *args, struct ctfs_mount *mt)
{
	struct fuse_cmdline_opts co = { 0 };
	struct fuse_loop_config *lc = NULL;
	struct fuse *f = NULL;
	int rc = 1;

	if (fuse_parse_cmdline(args, &co) || !co.mountpoint) {
		fprintf(stderr, "ctfs: no mount point given (see --help)\n");
		goto out;
	}
	ctfs_log_init("ctfs", !co.foreground, co.debug);
	f = fuse_new(args, &ctfs_fuse_ops, sizeof(ctfs_fuse_ops), mt);
	ctfs_kio_before_mount();
	/* before mounting: resolving the path then does not ask the mount */
	if (!f || ctfs_view_set_mountpoint(mt->view, co.mountpoint) ||
	    fuse_mount(f, co.mountpoint))
		goto out;
	mt->mountpoint = co.mountpoint;
	if (ctfs_ops_bind(co.mountpoint) || fuse_daemonize(co.foreground) ||
	    fuse_set_signal_handlers(fuse_get_session(f)) || hup_reloads(mt))
		goto unmount;
	lock_memory();
	ctfs_info("mounted %s on %s", ctfs_view_source(mt->view), co.mountpoint);
	if (ctfs_ops_start())
		goto signals;
	lc = fuse_loop_cfg_create();
	if (!lc)
		goto signals;
	fuse_loop_cfg_set_max_threads(lc, co.max_threads ? co.max_threads : 16);
	fuse_loop_cfg_set_clone_fd(lc, (unsigned int)co.clone_fd);
	rc = co.singlethread ? fuse_loop(f) : fuse_loop_mt(f, lc);
	/* libfuse reports the signal that ended the loop: a requested stop */
	rc = rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
	ctfs_log_flush(); /* counts of lines suppressed by the rate limit */
	ctfs_info("unmounting %s", co.mountpoint);
	fuse_loop_cfg_destroy(lc);
signals:
	fuse_remove_signal_handlers(fuse_get_session(f));
	hup_end();
unmount:
	ctfs_ops_stop();
	hup_end();
	fuse_unmount(f);
out:
	if (f)
		fuse_destroy(f);
	free(co.mountpoint);
	return rc;
}

static void free_options(struct fuse_args *args, struct options *o)
{
	fuse_opt_free_args(args);
	free(o->source);
	free(o->keyring);
	free(o->cache_size);
	free(o->readahead);
	free(o->header_cache);
	free(o->tgsp_trust);
	free(o->fleet);
	free(o->metrics);
	free(o->usage);
	free(o->usage_interval);
	free(o->metrics_files);
	free(o->keyserver);
	free(o->client_cert);
	free(o->client_key);
	free(o->keyserver_ca);
	free(o->key_audit);
	free(o->unbound_keys);
	free(o->trust);
	free(o->crl);
	free(o->revoked);
	free(o->rollback_db);
	free(o->policy);
	free(o->policy_data);
	free(o->audit);
	free(o->audit_fail);
	free(o->resident);
	free(o->resident_grace);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct ctfs_mount mt = { 0 };
	struct options o = { .argc = argc, .argv = argv };
	int rc;

	harden();
	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc))
		return 1;
	if (o.help || o.version) {
		if (o.help)
			usage(argv[0]);
		printf("ctfs %s, FUSE library %s\nkernel I/O features: %s\n", PACKAGE_VERSION,
		       fuse_pkgversion(), ctfs_kio_features());
		free_options(&args, &o); /* a sanitizer build checks for leaks here too */
		return 0;
	}
	if (!o.source) {
		usage(argv[0]);
		return 1;
	}
	/* read-only; the kernel enforces modes so uid=/gid=/umask= mean what they say */
	if (fuse_opt_add_arg(&args, "-oro,default_permissions,subtype=ctfs") ||
	    ctfs_secmem_init() || setup(&mt, &o) ||
	    add_fsname(&args, ctfs_view_source(mt.view))) {
		teardown(&mt);
		ctfs_ops_free();
		return 1;
	}
	rc = run(&args, &mt);
	teardown(&mt);
	ctfs_ops_free();
	free_options(&args, &o);
	return rc;
}
