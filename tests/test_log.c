/* The log rate limit: a flood of similar lines (equal but for numbers) is
 * cut to a burst, then reported as one "suppressed K similar messages"
 * line; lines about different things are all logged. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "tap.h"

static uint64_t fake_ms;
static char lines[64][1024];
static int nlines, total;

static uint64_t fake_clock(void)
{
	return fake_ms;
}

static void capture(int prio, const char *line)
{
	(void)prio;
	total++;
	if (nlines < 64)
		snprintf(lines[nlines++], sizeof(lines[0]), "%s", line);
}

static void reset(void)
{
	ctfs_log_set_sink(capture); /* also forgets the counts */
	nlines = total = 0;
}

static void failed_read(int i)
{
	ctfs_err("read of model.safetensors at offset %d failed: Input/output error", i);
}

static void other_site(void)
{
	ctfs_err("another message");
}

static void refused(int i)
{
	ctfs_err("tgsp pkg-%c.tgsp: refused (EBADMSG): signature", 'a' + i % 26);
}

int main(void)
{
	ctfs_log_set_clock(fake_clock);

	/* 10 000 failed reads within one window: the burst, nothing more */
	reset();
	fake_ms = 1000;
	for (int i = 0; i < 10000; i++)
		failed_read(i);
	tap_ok(total == CTFS_LOG_BURST, "10000 identical lines in one window: %d logged", total);
	tap_ok(strstr(lines[0], "offset 0 failed") != NULL, "the first line is logged as is");

	/* another message is not muted by the flood */
	other_site();
	tap_ok(total == CTFS_LOG_BURST + 1 && !strcmp(lines[nlines - 1], "another message"),
	       "another message still logs during a flood");

	/* after the window: the count, then the new line */
	fake_ms += CTFS_LOG_WINDOW_MS;
	failed_read(10000);
	tap_ok(total == CTFS_LOG_BURST + 3, "after the window two lines: the count and the new one");
	tap_ok(strstr(lines[CTFS_LOG_BURST + 1], "suppressed 9990 similar messages") != NULL &&
	       strstr(lines[CTFS_LOG_BURST + 1], "offset 9999 failed") != NULL,
	       "the count of suppressed lines names the last one: %s", lines[CTFS_LOG_BURST + 1]);
	tap_ok(strstr(lines[CTFS_LOG_BURST + 2], "offset 10000 failed") != NULL,
	       "then the new line itself");

	/* a slow trickle (one line per second) is never suppressed */
	reset();
	for (int i = 0; i < 40; i++, fake_ms += CTFS_LOG_WINDOW_MS / CTFS_LOG_BURST)
		failed_read(i);
	tap_ok(total == 40, "one line per window/burst: all 40 logged (%d)", total);

	/* 20 different packages refused at once (one call site): all logged */
	reset();
	for (int i = 0; i < 20; i++)
		refused(i);
	tap_ok(total == 20, "20 lines naming 20 different packages: all logged (%d)", total);

	/* more kinds of lines than slots: still nothing lost but the flood */
	reset();
	for (int i = 0; i < 200; i++) {
		char name[2] = { (char)('A' + i % 52), 0 };

		ctfs_err("file %s%s%s: open refused", name, name, i >= 52 ? "x" : "");
	}
	tap_ok(total == 200, "200 different lines: all logged (%d)", total);

	/* flush reports what is still suppressed */
	reset();
	for (int i = 0; i < CTFS_LOG_BURST + 5; i++)
		failed_read(i);
	ctfs_log_flush();
	tap_ok(total == CTFS_LOG_BURST + 1 && strstr(lines[CTFS_LOG_BURST], "suppressed 5 similar"),
	       "flush logs the pending count");
	ctfs_log_flush();
	tap_ok(total == CTFS_LOG_BURST + 1, "a second flush logs nothing");

	ctfs_log_set_sink(NULL);
	ctfs_log_set_clock(NULL);
	return tap_done();
}
