/*
 * limits.h - the server's abuse limits, built once from the configuration
 * (docs/limits.md):
 *
 *   - rate limits (token buckets, core/ratelimit.h) on the FHIR API and
 *     on the authorization server, per client address and per OAuth
 *     client: the caller answers ERR_THROTTLED with 429 and Retry-After;
 *   - login backoff per account and per client address: after a number of
 *     free failures every further one starts a delay (doubling, capped at
 *     login_backoff_max_s) during which logins are refused without
 *     looking at the password; a success clears the account;
 *   - device cookies (after OWASP's "Slow Down Online Guessing Attacks
 *     with Device Cookies"): a browser that signed in as an account
 *     before proves it with a MAC of the username, and is then counted
 *     on its own rather than with the account - so a stranger guessing
 *     at the account cannot keep its owner out, however long they go on;
 *   - a gate bounding concurrent password checks (argon2id, 64 MiB each),
 *     so that a login flood cannot exhaust memory or every worker thread.
 *
 * IPv6 clients are counted per /64: one host normally holds a whole /64,
 * so a per-/128 limit would be no limit. With rate_exempt_loopback (the
 * default) loopback clients pass the rate limits and the per-address
 * backoff: benchmarks and local tools run there, and behind a proxy on the
 * same host every client has the proxy's loopback address, so limiting it
 * would throttle everyone together (limit per address at the proxy then).
 * The per-account backoff always applies.
 *
 * State is in memory, per process: several fhird processes on one
 * database each keep their own counts (a client gets each limit once per
 * process). Writing every failed login or request to the database would
 * turn an attack into a flood of durable writes.
 *
 * Ownership: main owns the http_limits and frees it after the listener
 * has stopped; cfg must outlive it. Every function is thread-safe and
 * accepts l == NULL (no limits: everything passes).
 */
#ifndef FHIRD_HTTP_LIMITS_H
#define FHIRD_HTTP_LIMITS_H

#include "core/arena.h"
#include "core/config.h"
#include "http.h"

#include <stdint.h>

typedef struct http_limits http_limits;

enum http_limit_scope {
	HTTP_LIMIT_API,  /* the FHIR API */
	HTTP_LIMIT_AUTH  /* the authorization server (/auth/...) */
};

/* 0, ERR_NOMEM, ERR_IO (no randomness). */
int http_limits_new(const config_t *cfg, http_limits **out);

/* NULL-safe. */
void http_limits_free(http_limits *l);

/* Replaces the MAC key of login device cookies (random per process at
 * creation) with one shared by every process on the database
 * (auth/secret.h). len is at most 32 bytes. Call before serving. */
void http_limits_set_device_key(http_limits *l, const unsigned char *key, size_t len);

/* The clock the limits read (microseconds, monotonic). Tests inject
 * their own; fn NULL restores CLOCK_MONOTONIC. Not thread-safe: set it
 * before the limits are used. */
typedef int64_t (*http_limits_clock_fn)(void *ctx);
void http_limits_set_clock(http_limits *l, http_limits_clock_fn fn, void *ctx);

/* Charges one request to the bucket of req's client address for scope.
 * 0, or ERR_THROTTLED with *retry_s (>= 1, for Retry-After). A request
 * without an address (a Bundle entry: its Bundle was charged) passes. */
int http_limits_addr(http_limits *l, enum http_limit_scope scope, const http_request *req, unsigned *retry_s);

/* The same for the bucket of OAuth client client_id (NULL passes). */
int http_limits_client(http_limits *l, enum http_limit_scope scope, const http_request *req, const char *client_id,
		       unsigned *retry_s);

/* Before a password check: ERR_THROTTLED with *retry_s while a backoff
 * delay runs for username or for req's address, else 0. With device (the
 * request carries username's device cookie, http_limits_device_ok) only
 * the delay of username on this device counts. */
int http_limits_login_check(http_limits *l, const http_request *req, const char *username, int device,
			    unsigned *retry_s);

/* After a password check: ok clears the failures of username (on this
 * device when device is set); a failure is counted for them and for
 * req's address. */
void http_limits_login_done(http_limits *l, const http_request *req, const char *username, int device, int ok);

/* The device cookie value for username (HTTP_LIMITS_DEVICE_LEN - 1 hex
 * characters, a MAC under a key random per process) into out. */
#define HTTP_LIMITS_DEVICE_LEN 33
void http_limits_device_value(const http_limits *l, const char *username, char out[HTTP_LIMITS_DEVICE_LEN]);

/* 1 when value is username's device cookie value (constant time), else 0. */
int http_limits_device_ok(const http_limits *l, const char *username, const char *value);

/* Takes a password-check slot: 0 (call http_limits_password_end after
 * the check), or ERR_BUSY when every slot stayed taken for
 * login_queue_ms or as many requests as there are slots already wait. */
int http_limits_password_begin(http_limits *l);
void http_limits_password_end(http_limits *l);

/* 1 when req comes from a loopback address (127.0.0.0/8, ::1). */
int http_limits_is_loopback(const http_request *req);

/* The decimal text of retry_s for a Retry-After header, in arena a (a
 * literal when the arena is full). */
const char *http_limits_retry_after(arena_t *a, unsigned retry_s);

#endif
