/* The progress bar (bytes, rate, ETA) that long subcommands draw on a
 * terminal, and the interruption flag they poll: SIGINT/SIGTERM/SIGHUP make
 * the library stop, remove its temporary files and return -EINTR. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define REDRAW_NS 100000000LL   /* 10 redraws a second at most */
#define BAR_WIDTH 24

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

void tool_signals_install(void)
{
	struct sigaction sa;
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;     /* a second signal ends the process */
	sigemptyset(&sa.sa_mask);
	/* without a handler a signal still ends the run, leaving temporary
	 * files behind: nothing better to do if installing one fails */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)sigaction(sigs[i], &sa, NULL);
}

bool tool_interrupted(void)
{
	return interrupted != 0;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void tool_progress_init(struct tool_progress *p, bool quiet, const char *label, uint64_t total)
{
	*p = (struct tool_progress){
		.on = !quiet && isatty(STDOUT_FILENO),
		.label = label,
		.total = total,
		.t0 = now_ns(),
	};
}

/* "512.0 MiB" */
static void human(char *out, size_t len, double v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void draw(struct tool_progress *p, uint64_t done)
{
	double secs = (double)(now_ns() - p->t0) / 1e9, rate = secs > 0 ? (double)done / secs : 0;
	char bar[BAR_WIDTH + 1], d[32], t[32], r[32], eta[32] = "--:--";
	int fill = p->total ? (int)((double)done * BAR_WIDTH / (double)p->total) : BAR_WIDTH;

	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = 0;
	human(d, sizeof(d), (double)done);
	human(t, sizeof(t), (double)p->total);
	human(r, sizeof(r), rate);
	if (rate > 0 && p->total >= done) {
		long long left = (long long)((double)(p->total - done) / rate);

		snprintf(eta, sizeof(eta), "%lld:%02lld", left / 60, left % 60);
	}
	printf("\r\033[K%s [%s] %3d%% %s / %s  %s/s  ETA %s", p->label, bar,
	       p->total ? (int)(done * 100 / p->total) : 100, d, t, r, eta);
	fflush(stdout);
	p->drawn = true;
}

int tool_progress_cb(void *arg, uint64_t done, uint64_t total)
{
	struct tool_progress *p = arg;
	long long t = now_ns();
	uint64_t all = p->base + done;

	if (interrupted)
		return -EINTR;
	if (!p->on || t - p->last_ns < REDRAW_NS)
		return 0;
	/* a run over one file learns its size from the library */
	if (!p->total)
		p->total = total;
	p->last_ns = t;
	draw(p, all < p->total ? all : p->total);
	return 0;
}

void tool_progress_advance(struct tool_progress *p, uint64_t bytes)
{
	p->base += bytes;
}

void tool_progress_clear(struct tool_progress *p)
{
	if (p->on && p->drawn) {
		fputs("\r\033[K", stdout);
		fflush(stdout);
		p->drawn = false;
		p->last_ns = 0;
	}
}
