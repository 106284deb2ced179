/*
 * log.h - structured logging to stderr, one line per event.
 *
 * Lines are logfmt: `ts=... level=... msg="..." key=value ...`. The caller
 * is responsible for never passing PHI, tokens or secrets; the access log
 * (http/server.c) logs the path and only the *names* of query parameters.
 * The level is set once at start (log_init) and read-only afterwards.
 */
#ifndef FHIRD_CORE_LOG_H
#define FHIRD_CORE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the minimum level. Call before any thread starts. */
void log_init(enum log_level min);

/* Parses "debug|info|warn|error"; 0 or ERR_INVALID. */
int log_level_parse(const char *s, enum log_level *out);

/* Writes one line. fmt produces the key=value part after msg. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
