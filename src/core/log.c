/*
 * log.c - see log.h. Each line is built in a stack buffer and written with
 * one write(2) so lines from different threads never interleave.
 */
#include "log.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min = LOG_INFO; /* written once before threads */

void log_init(enum log_level min) { log_min = min; }

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return ERR_INVALID;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int k;
	va_list ap;

	if (lvl < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof line - n, ".%03ldZ level=%s ", ts.tv_nsec / 1000000L, names[lvl]);
	if (k > 0)
		n += (size_t)k;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	if (k > 0)
		n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* Best effort: a failed log write must not fail the request. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
