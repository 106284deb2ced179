/*
 * ratelimit.h - bounded tables of per-key abuse-limit state: token
 * buckets (rate limits: so many requests per second, with a burst) and
 * failure backoff (password guessing: after a number of free failures, an
 * exponentially growing delay with a cap).
 *
 * A table has a fixed number of entries, chosen at creation: sets of
 * RATELIMIT_WAYS entries, each set under its own mutex (lock striping:
 * two keys contend only when they share a set). A key (an address, a
 * client id, a username: any bytes) is hashed with SHA-256 and a random
 * salt of the table, so a client cannot choose which set its keys land
 * in; the set is searched in O(RATELIMIT_WAYS), and a new key takes the
 * least recently used entry of its set. Memory never grows and every call
 * costs the same.
 *
 * Eviction forgets: an evicted bucket comes back full, an evicted backoff
 * comes back clean. For buckets that is harmless (one more burst). For
 * backoff the victim is taken among entries without a running delay
 * first, so pushing an account out of its delay takes filling its whole
 * set with delayed keys - which costs the attacker failures of their own.
 *
 * Time is always passed in (microseconds of a monotonic clock), never
 * read here, so that tests drive the tables with a clock of their own.
 *
 * A table holds either buckets or backoff entries, never both.
 *
 * Ownership: the caller owns the table (ratelimit_table_free). Every call
 * is thread-safe.
 */
#ifndef FHIRD_CORE_RATELIMIT_H
#define FHIRD_CORE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_WAYS 8

typedef struct ratelimit_table ratelimit_table;

/* A table of at least `entries` entries (rounded up to a power of two
 * number of sets; at least one set). 0, ERR_NOMEM, ERR_IO (no randomness
 * for the salt). */
int ratelimit_table_new(size_t entries, ratelimit_table **out);

/* NULL-safe. */
void ratelimit_table_free(ratelimit_table *t);

/* Entries the table holds (a power of two multiple of RATELIMIT_WAYS). */
size_t ratelimit_table_size(const ratelimit_table *t);

/* Token bucket for key: `rate` tokens per second accrue up to `burst`
 * (a key seen for the first time starts full); a request takes one.
 * 0 when a token was taken; ERR_THROTTLED when none is there, with
 * *retry_us (>= 1) = how long until one will be. rate 0 means no limit
 * (always 0); burst 0 counts as 1. */
int ratelimit_take(ratelimit_table *t, const void *key, size_t len, unsigned rate, unsigned burst, int64_t now_us,
		   int64_t *retry_us);

/* How failures turn into delays. */
typedef struct ratelimit_policy {
	unsigned free;     /* the free-th failure starts the first delay (0 counts as 1) */
	int64_t base_us;   /* that first delay; each further failure doubles it */
	int64_t max_us;    /* cap: no delay is longer (never a permanent lock) */
	int64_t window_us; /* failures are forgotten this long after the end of the last delay */
} ratelimit_policy;

/* 0 when key may try now; ERR_THROTTLED while its delay runs, with
 * *retry_us (>= 1) = the time left. Changes nothing. */
int ratelimit_backoff_check(ratelimit_table *t, const void *key, size_t len, int64_t now_us, int64_t *retry_us);

/* Counts a failure for key. *delay_us (may be NULL) receives the delay it
 * starts, 0 while the failures are still free. */
void ratelimit_backoff_fail(ratelimit_table *t, const ratelimit_policy *p, const void *key, size_t len,
			    int64_t now_us, int64_t *delay_us);

/* Forgets key's failures and delay (after a success). */
void ratelimit_backoff_clear(ratelimit_table *t, const void *key, size_t len);

/* Seconds for a Retry-After header (RFC 9110 10.2.3) for a wait of
 * retry_us: rounded up, at least 1. */
unsigned ratelimit_retry_s(int64_t retry_us);

#endif
