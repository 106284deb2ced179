/*
 * jwks_cache.h - JWK Sets fetched from URLs and kept in memory: the
 * external authorization server's jwks_url (--auth external) and the
 * JWKS URLs backend clients registered with `fhird client add
 * --jwks-url` (SMART client-confidential-asymmetric).
 *
 * Policy, per URL:
 *   - fetched on first use with the outbound client (http/client.h);
 *     only a 200 response holding {"keys": [...]} is taken;
 *   - kept for the response's Cache-Control max-age (RFC 9111 5.2.2.1),
 *     clamped to [min_ttl_s, max_ttl_s]; without one, default_ttl_s;
 *     no-store and no-cache count as max-age=0, i.e. min_ttl_s - we
 *     cannot go back to the server for every token;
 *   - fetched again when stale, or when a token names a kid the cached
 *     set lacks (the key was rotated), but never sooner than refetch_s
 *     after the previous attempt, successful or not: a stream of made-up
 *     kids must not turn into a stream of requests to someone else's
 *     server, and a server that is down is not asked on every request;
 *   - a failed refetch keeps the keys it had (a short outage of the key
 *     server must not lock every client out); with nothing cached the
 *     caller gets ERR_IO.
 * At most max_entries URLs are kept (the least recently used goes).
 *
 * Concurrency: one mutex guards the table (held for lookups only); one
 * more serialises fetches, so a URL is fetched once however many
 * requests want it. Returned sets are new references to immutable JSON
 * (jansson's reference counts are atomic).
 *
 * Ownership: main owns the cache (through auth_t or oauth_t); options'
 * strings are copied.
 */
#ifndef FHIRD_AUTH_JWKS_CACHE_H
#define FHIRD_AUTH_JWKS_CACHE_H

#include <jansson.h>
#include <stddef.h>

typedef struct auth_jwks_opts {
	const char *ca_file;     /* extra PEM trust anchors or NULL */
	unsigned timeout_ms;     /* per fetch */
	size_t max_bytes;        /* largest JWK Set document */
	unsigned min_ttl_s;
	unsigned max_ttl_s;
	unsigned default_ttl_s;
	unsigned refetch_s;      /* least time between two fetches of a URL */
	size_t max_entries;
	int https_only;          /* refuse http:// even to loopback */
} auth_jwks_opts;

typedef struct auth_jwks_cache auth_jwks_cache;

int auth_jwks_cache_new(const auth_jwks_opts *o, auth_jwks_cache **out);
void auth_jwks_cache_free(auth_jwks_cache *c);

/* The JWK Set of url as the policy above decides (kid: the kid a token
 * names, or NULL). 0 with *jwks a new reference (json_decref it);
 * ERR_IO when no set could be fetched (and none is cached);
 * ERR_FORBIDDEN for a URL that may not be fetched (not https with
 * https_only; plain http off loopback); ERR_NOMEM. */
int auth_jwks_cache_get(auth_jwks_cache *c, const char *url, const char *kid, json_t **jwks);

#endif
