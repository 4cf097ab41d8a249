/* Resident plaintext copies (see resident.h).
 *
 * Wiping and live mappings. With FUSE passthrough the kernel serves a
 * resident file from the copy's memfd: for each open it makes a backing
 * file on the memfd (fs/fuse/passthrough.c, fuse_passthrough_open ->
 * backing_file_open), and an mmap of the open file maps that backing file
 * (backing_file_mmap -> vma_set_file): the reader's mapping holds the
 * memfd's own pages, and keeps them after the reader closed its descriptor
 * and after the daemon closed and unmapped the memfd. Wiping through the
 * daemon's mapping would zero that process's live model weights. So a copy
 * that was handed to the kernel is wiped only once no process maps it;
 * until then its expiry is postponed by the grace time again (the copy
 * stays locked in the daemon meanwhile). /proc/PID/maps shows such a
 * mapping under the path, device and inode of the file the user opened
 * (file_user_path, file_user_inode in fs/proc/task_mmu.c), never the
 * memfd's, so the scan looks for the file in the mount. A process whose
 * maps the daemon may not read (one with capabilities the daemon lacks)
 * could map it unseen: such a copy is released without wiping (the kernel
 * frees the pages when the last mapping goes) rather than zeroed under a
 * reader. A copy that was only read with memcpy (no passthrough) is mapped
 * by nobody: readers map the FUSE page cache, a copy of their own. */
#include "view/resident.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ct/model.h"
#include "ct/read_front.h"
#include "log.h"
#include "metrics/metrics.h"
#include "sys/procmaps.h"
#include "sys/workpool.h"
#include "view/registry.h"

/* One fill job: a multiple of the default 2 MiB chunk. */
#define FILL_STEP (16u << 20)
#define FILL_THREADS 4u

/* A path a copy was opened at (hard links of one file share a copy, and
 * each may be mapped): prepended under the store lock, never changed, so a
 * list read from its head without the lock stays valid. */
struct alias {
	struct alias *next;
	char path[];
};

struct ctfs_rcopy {
	struct ctfs_entry *e;		/* held while the copy lives */
	char *path;			/* first mount path (logs) */
	struct alias *paths;		/* every mount path it was opened at */
	uint8_t *map;			/* the daemon's mapping, locked */
	size_t len;
	int fd;				/* the memfd */
	struct stat id;
	bool ready;			/* filled, verified and sealed */
	atomic_bool exported;		/* handed to the kernel: may be mapped */
	bool postponed_logged;
	unsigned refs;			/* handles using it */
	unsigned gen;			/* changes at every get and put */
	bool alias_lost;		/* a path could not be remembered */
	struct timespec expires;	/* when refs == 0 */
	struct ctfs_rcopy *next;	/* every ready copy */
};

struct ctfs_resident {
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* janitor: a copy went idle, or stop */
	pthread_cond_t built;		/* a copy finished building (or failed) */
	char *patterns;			/* NULL: every encrypted file */
	unsigned grace;
	struct ctfs_registry *reg;
	char *mountpoint;
	struct ctfs_rcopy *copies;
	pthread_t janitor;
	bool janitor_on, stop;
};

int ctfs_resident_new(const char *patterns, unsigned grace, struct ctfs_registry *reg,
		      struct ctfs_resident **out)
{
	struct ctfs_resident *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;

	if (!r)
		return -ENOMEM;
	if (patterns && *patterns && !(r->patterns = strdup(patterns))) {
		free(r);
		return -ENOMEM;
	}
	/* waits are measured on the monotonic clock: a clock step must not
	 * wipe a copy early or keep it for ever */
	if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	    pthread_mutex_init(&r->lock, NULL) || pthread_cond_init(&r->wake, &ca) ||
	    pthread_cond_init(&r->built, NULL)) {
		free(r->patterns);
		free(r);
		return -ENOMEM;
	}
	pthread_condattr_destroy(&ca);
	r->grace = grace;
	r->reg = reg;
	*out = r;
	return 0;
}

int ctfs_resident_set_mountpoint(struct ctfs_resident *r, const char *mountpoint)
{
	char *mp = realpath(mountpoint, NULL);

	if (!mp && !(mp = strdup(mountpoint)))
		return -ENOMEM;
	pthread_mutex_lock(&r->lock);
	free(r->mountpoint);
	r->mountpoint = mp;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

bool ctfs_resident_wanted(const struct ctfs_resident *r, const char *path)
{
	const char *rel = path[0] == '/' ? path + 1 : path;
	char pat[PATH_MAX];

	if (!r->patterns)
		return true;
	for (const char *p = r->patterns; *p;) {
		size_t n = strcspn(p, ":");

		if (n < sizeof(pat)) {
			memcpy(pat, p, n);
			pat[n] = 0;
			if (n && fnmatch(pat, rel, 0) == 0)
				return true;
		}
		p += n + (p[n] == ':');
	}
	return false;
}

/* --- making a copy ------------------------------------------------------- */

struct fill {
	struct ctfs_model *m;
	struct ctfs_cache *cache;
	uint8_t *map;
	size_t len;
};

/* One range of the view, through the read path that checks every tag and
 * digest (it logs the tensor and chunk that fails). Its pages are locked
 * (which faults them in) before plaintext is written to them; locking range
 * by range lets the threads share the cost of clearing fresh pages, which
 * one mlock of the whole copy made 2/3 of the open time here. */
static int fill_job(void *arg, uint64_t i, unsigned w)
{
	const struct fill *f = arg;
	size_t off = (size_t)i * FILL_STEP;
	size_t n = f->len - off < FILL_STEP ? f->len - off : FILL_STEP;
	ssize_t got;

	(void)w;
	if (mlock(f->map + off, n))
		return -ENOMEM;
	got = ctfs_model_read(f->m, f->cache, f->map + off, n, off);
	if (got < 0)
		return (int)got;
	return (size_t)got == n ? 0 : -EIO;
}

static int fill(struct ctfs_rcopy *c, struct ctfs_model *m, struct ctfs_cache *cache)
{
	struct fill f = { m, cache, c->map, c->len };
	unsigned threads = ctfs_pool_threads(0);
	struct ctfs_pool_run run = {
		.n_jobs = (c->len + FILL_STEP - 1) / FILL_STEP,
		.threads = threads < FILL_THREADS ? threads : FILL_THREADS,
		.job = fill_job, .arg = &f,
	};

	return ctfs_pool_run(&run, NULL);
}

/* Wipe (unless a reader maps the pages), unlock, unmap, close. */
static void release_memory(struct ctfs_rcopy *c, bool wipe)
{
	if (c->map) {
		if (wipe)
			explicit_bzero(c->map, c->len);
		munlock(c->map, c->len);
		munmap(c->map, c->len);
		if (c->ready)
			ctfs_gauge_sub(CTFS_M_RESIDENT_BYTES, c->len);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->map = NULL;
	c->fd = -1;
}

static void copy_free(struct ctfs_rcopy *c, bool wipe)
{
	release_memory(c, wipe);
	while (c->paths) {
		struct alias *a = c->paths;

		c->paths = a->next;
		free(a);
	}
	free(c->path);
	free(c);
}

/* The memfd, sized and mapped (locked as it is filled). -ENOMEM when the memory
 * cannot be had (the caller serves the file lazily; locking fails later, in
 * fill_job, with the same answer). */
static int map_copy(struct ctfs_rcopy *c)
{
	void *p;

	c->fd = memfd_create("ctfs-resident", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (c->fd < 0)
		return errno == EMFILE || errno == ENFILE ? -errno : -ENOMEM;
	if (ftruncate(c->fd, (off_t)c->len))
		return -ENOMEM;
	p = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	c->map = p;
	/* before the pages exist: huge pages are chosen at fault time (shmem
	 * honours it when transparent_hugepage/shmem_enabled is "advise") */
	(void)madvise(p, c->len, MADV_HUGEPAGE);
	if (madvise(p, c->len, MADV_DONTDUMP) || madvise(p, c->len, MADV_DONTFORK))
		return -ENOMEM;
	return 0;	/* locked range by range as it is filled */
}

/* Sealed: no descriptor opened later (the kernel's backing files, a
 * reopen through /proc) can write it or change its size; the daemon's own
 * mapping, made before, can still wipe it. */
static int seal(struct ctfs_rcopy *c)
{
	if (fcntl(c->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE) ||
	    fcntl(c->fd, F_ADD_SEALS, F_SEAL_SEAL) || fstat(c->fd, &c->id)) {
		ctfs_err("%s: cannot seal its resident copy: %m", c->path);
		return -EIO;
	}
	return 0;
}

static int build(struct ctfs_rcopy *c, struct ctfs_model *m, struct ctfs_cache *cache)
{
	int rc;

	if (m->view_size == 0 || m->view_size > (uint64_t)SSIZE_MAX)
		return -ENOMEM;
	c->len = (size_t)m->view_size;
	rc = map_copy(c);
	if (rc)
		return rc;
	rc = fill(c, m, cache);
	/* the ciphertext is of no more use: the copy holds all of the file */
	ctfs_front_forget(m->fd);
	if (rc == -ENOMEM) {
		ctfs_warn("%s: cannot lock %zu bytes for its resident copy", c->path, c->len);
		return rc;
	}
	if (rc) {
		ctfs_err("%s: refused: its resident copy failed verification (%s); nothing of it "
			 "is served", c->path, strerror(-rc));
		return -EIO;
	}
	return seal(c);
}

static struct ctfs_rcopy *copy_new(struct ctfs_entry *e, const char *path)
{
	struct ctfs_rcopy *c = calloc(1, sizeof(*c));

	if (!c || !(c->path = strdup(path))) {
		free(c);
		return NULL;
	}
	c->e = e;
	c->fd = -1;
	c->refs = 1;
	atomic_init(&c->exported, false);
	return c;
}

/* Under the lock: remember that c was opened at path. Without memory
 * for it, the path is not looked for in /proc: the copy is then released
 * unwiped rather than wiped (see verdict). */
static void add_alias(struct ctfs_rcopy *c, const char *path)
{
	size_t n = strlen(path) + 1;
	struct alias *a;

	for (a = c->paths; a; a = a->next) {
		if (!strcmp(a->path, path))
			return;
	}
	a = malloc(sizeof(*a) + n);
	if (!a) {
		c->alias_lost = true;
		return;
	}
	memcpy(a->path, path, n);
	a->next = c->paths;
	c->paths = a;
}

/* Under the lock: the ready copy of e, a reference taken; NULL when there
 * is none and the caller may build it (it then marks e as building). */
static struct ctfs_rcopy *wait_ready(struct ctfs_resident *r, struct ctfs_entry *e)
{
	while (e->resident && !e->resident->ready)
		pthread_cond_wait(&r->built, &r->lock);
	if (e->resident) {
		e->resident->refs++;
		e->resident->gen++;
	}
	return e->resident;
}

/* Under the lock: record the end of a build. */
static void built(struct ctfs_resident *r, struct ctfs_rcopy *c, int rc)
{
	struct ctfs_entry *e = c->e;

	if (rc) {
		e->resident = NULL;
		if (rc != -EIO)
			e->resident_lazy++;
	} else {
		c->ready = true;
		c->next = r->copies;
		r->copies = c;
		ctfs_registry_hold(r->reg, e);
		ctfs_count(CTFS_M_RESIDENT_BYTES, c->len);
	}
	pthread_cond_broadcast(&r->built);
}

int ctfs_resident_get(struct ctfs_resident *r, struct ctfs_entry *e, struct ctfs_model *m,
		      struct ctfs_cache *cache, const char *path, struct ctfs_rcopy **out)
{
	struct ctfs_rcopy *c;
	int rc;

	pthread_mutex_lock(&r->lock);
	c = wait_ready(r, e);
	if (c)
		add_alias(c, path);
	if (c || e->resident_lazy) {
		if (!c)
			e->resident_lazy++;
		pthread_mutex_unlock(&r->lock);
		*out = c;
		return c ? 0 : -EBUSY;
	}
	c = copy_new(e, path);
	if (!c) {
		e->resident_lazy++;
		pthread_mutex_unlock(&r->lock);
		return -ENOMEM;
	}
	e->resident = c;	/* building: other opens of e wait for it */
	pthread_mutex_unlock(&r->lock);
	rc = build(c, m, cache);
	pthread_mutex_lock(&r->lock);
	built(r, c, rc);
	if (!rc)
		add_alias(c, path);
	pthread_mutex_unlock(&r->lock);
	if (rc) {
		copy_free(c, true);
		return rc;
	}
	ctfs_info("%s: resident (%zu bytes, locked)", path, c->len);
	*out = c;
	return 0;
}

void ctfs_resident_lazy_close(struct ctfs_resident *r, struct ctfs_entry *e)
{
	pthread_mutex_lock(&r->lock);
	e->resident_lazy--;
	pthread_mutex_unlock(&r->lock);
}

ssize_t ctfs_rcopy_read(const struct ctfs_rcopy *c, void *buf, size_t size, uint64_t off)
{
	size_t n;

	if (off >= c->len)
		return 0;
	n = c->len - (size_t)off < size ? c->len - (size_t)off : size;
	memcpy(buf, c->map + off, n);
	return (ssize_t)n;
}

void ctfs_rcopy_fd(struct ctfs_rcopy *c, int *fd, struct stat *id)
{
	/* written before the kernel can map it; read by the janitor under
	 * the store lock, after this handle's release took that lock */
	atomic_store(&c->exported, true);
	*fd = c->fd;
	*id = c->id;
}

/* --- expiry ------------------------------------------------------------- */

static struct timespec after(unsigned seconds)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += seconds;
	return t;
}

static bool passed(const struct timespec *t, const struct timespec *now)
{
	return t->tv_sec < now->tv_sec || (t->tv_sec == now->tv_sec && t->tv_nsec <= now->tv_nsec);
}

enum verdict { WIPE, KEEP, RELEASE };

/* What to do with an idle copy handed to the kernel (see the top of this
 * file), called without the lock: KEEP while a process maps it, WIPE when
 * none does, RELEASE (unlock and free without wiping: the kernel frees the
 * pages once nobody maps them) when some process's mappings cannot be
 * seen. The file is looked for by the path and, when the mount still
 * answers (not at unmount), by the device and inode it has in the mount,
 * which also finds mappings made through another path to it (a bind
 * mount in a container). */
/* Whether a process maps the file shown at mount path rel: 1 (*pid set),
 * 0, or -errno; *unreadable counts the processes that could not be seen. */
static int mapped_at(const struct ctfs_resident *r, const char *rel, bool mounted, pid_t *pid,
		     unsigned *unreadable)
{
	char path[PATH_MAX * 2];
	struct ctfs_procmaps_query q = { .path = path };
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", strcmp(r->mountpoint, "/") ? r->mountpoint : "",
		 rel);
	if (mounted && !stat(path, &st)) {
		q.by_id = true;
		q.dev = st.st_dev;
		q.ino = st.st_ino;
	}
	return ctfs_procmaps_find(&q, pid, unreadable);
}

static enum verdict verdict(const struct ctfs_resident *r, const struct alias *paths,
			    bool lost, bool mounted, pid_t *pid, char *why, size_t whylen)
{
	unsigned unreadable = 0;
	int rc = 0;

	if (!r->mountpoint || lost) {
		snprintf(why, whylen, "%s", lost ? "a path it was opened at is not known"
						 : "the mount point is not known");
		return RELEASE;
	}
	for (; paths && rc == 0; paths = paths->next)
		rc = mapped_at(r, paths->path, mounted, pid, &unreadable);
	if (rc < 0) {
		snprintf(why, whylen, "/proc cannot be listed (%s)", strerror(-rc));
		return RELEASE;
	}
	if (rc)
		return KEEP;
	snprintf(why, whylen, "the mappings of %u process(es) cannot be read, one may still "
		 "map it", unreadable);
	return unreadable ? RELEASE : WIPE;
}

static void unlink_copy(struct ctfs_resident *r, struct ctfs_rcopy *c)
{
	for (struct ctfs_rcopy **pp = &r->copies; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->e->resident = NULL;
}

/* Under the lock: an idle copy whose grace time is over, or NULL; *next
 * is set to the earliest expiry still to come. */
static struct ctfs_rcopy *expired(struct ctfs_resident *r, struct timespec *next, bool *any)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	*any = false;
	for (struct ctfs_rcopy *c = r->copies; c; c = c->next) {
		if (c->refs)
			continue;
		if (passed(&c->expires, &now))
			return c;
		if (!*any || !passed(next, &c->expires))
			*next = c->expires;
		*any = true;
	}
	return NULL;
}

/* Under the lock: a log line for a copy kept or released unwiped. */
static void report(struct ctfs_rcopy *c, enum verdict v, pid_t pid, const char *why)
{
	if (v == KEEP && !c->postponed_logged)
		ctfs_info("%s: resident copy kept: still mapped (process %d)", c->path, (int)pid);
	else if (v == RELEASE)
		ctfs_info("%s: resident copy released without wiping: %s", c->path, why);
	c->postponed_logged = c->postponed_logged || v == KEEP;
}

/* Under the lock: free c, or postpone it while it is mapped. The /proc
 * scan runs without the lock (opens must not wait for it, and the stat
 * it makes is served by the mount's own threads); an open or release
 * meanwhile changes c->gen, and the copy is then looked at again later. */
static void expire(struct ctfs_resident *r, struct ctfs_rcopy *c)
{
	const struct alias *paths = c->paths;
	unsigned gen = c->gen;
	bool lost = c->alias_lost;
	enum verdict v = WIPE;
	char why[128] = "";
	pid_t pid = 0;

	if (atomic_load(&c->exported)) {
		pthread_mutex_unlock(&r->lock);
		v = verdict(r, paths, lost, true, &pid, why, sizeof(why));
		pthread_mutex_lock(&r->lock);
		if (c->refs || c->gen != gen || r->stop)
			return;
	}
	report(c, v, pid, why);
	if (v == KEEP) {
		c->expires = after(r->grace ? r->grace : 1);
		return;
	}
	unlink_copy(r, c);
	pthread_mutex_unlock(&r->lock);
	if (v == WIPE)
		ctfs_info("%s: resident copy wiped and released", c->path);
	ctfs_registry_put(r->reg, c->e);
	copy_free(c, v == WIPE);
	pthread_mutex_lock(&r->lock);
}

static void *janitor_main(void *arg)
{
	struct ctfs_resident *r = arg;
	struct timespec next;
	bool any;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct ctfs_rcopy *c = expired(r, &next, &any);

		if (c)
			expire(r, c);
		else if (any)
			pthread_cond_timedwait(&r->wake, &r->lock, &next);
		else
			pthread_cond_wait(&r->wake, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Under the lock. Started at the first idle copy, i.e. after the daemon
 * forked into the background (threads do not survive fork). */
static void start_janitor(struct ctfs_resident *r)
{
	sigset_t all, old;

	if (r->janitor_on)
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);	/* signals are the FUSE loop's */
	r->janitor_on = pthread_create(&r->janitor, NULL, janitor_main, r) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!r->janitor_on)
		ctfs_err("resident copies: no janitor thread; idle copies stay until unmount");
}

void ctfs_resident_put(struct ctfs_resident *r, struct ctfs_rcopy *c)
{
	pthread_mutex_lock(&r->lock);
	c->gen++;
	if (--c->refs == 0) {
		c->expires = after(r->grace);
		c->postponed_logged = false;
		start_janitor(r);
		pthread_cond_signal(&r->wake);
	}
	pthread_mutex_unlock(&r->lock);
}

void ctfs_resident_free(struct ctfs_resident *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	if (r->janitor_on)
		pthread_join(r->janitor, NULL);
	while (r->copies) {
		struct ctfs_rcopy *c = r->copies;
		enum verdict v = WIPE;
		char why[128] = "";
		pid_t pid = 0;

		/* a process that still maps it keeps reading it, as pages of
		 * a lazily served file stay in its mapping after unmount */
		if (atomic_load(&c->exported))
			v = verdict(r, c->paths, c->alias_lost, false, &pid, why, sizeof(why));
		if (v == KEEP)
			ctfs_warn("%s: resident copy still mapped by process %d at unmount: "
				  "released without wiping", c->path, (int)pid);
		else
			report(c, v, pid, why);
		unlink_copy(r, c);
		ctfs_registry_put(r->reg, c->e);
		copy_free(c, v == WIPE);
	}
	pthread_cond_destroy(&r->built);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r->mountpoint);
	free(r->patterns);
	free(r);
}
