/*
 * client.h - a small outbound HTTP/1.1 client for the few documents the
 * server fetches itself: an external authorization server's JWK Set, a
 * backend client's registered JWKS URL, and RFC 7662 token introspection.
 *
 * It is deliberately narrow:
 *   - https:// with GnuTLS: the certificate chain is verified against the
 *     system trust store plus an optional extra CA file, the name against
 *     the URL's host (gnutls_session_set_verify_cert), TLS 1.2 or 1.3
 *     only, SNI sent for DNS names (RFC 6066 3: not for IP literals);
 *   - http:// only to loopback hosts (127.0.0.0/8, ::1, "localhost"), and
 *     only when every address the name resolves to is loopback: key
 *     material and introspection answers decide who gets in, so they never
 *     travel in the clear across a network;
 *   - bounded: one deadline covers connect, handshake, request and
 *     response; the response head (status line, header fields, 1xx
 *     responses and chunked trailers) may not exceed
 *     HTTP_CLIENT_MAX_HEADER bytes and the body max_bytes;
 *   - framing by Content-Length, chunked transfer coding, or the end of
 *     the connection (RFC 9112 6.3); anything ambiguous (both
 *     Transfer-Encoding and Content-Length, differing Content-Lengths, a
 *     transfer coding other than chunked, obs-fold) is an error, because
 *     disagreeing about where a message ends is how responses are
 *     smuggled;
 *   - redirects are not followed (a 3xx is returned like any status): the
 *     configured URL is the one trusted.
 * Requests carry "Connection: close"; one connection per request.
 *
 * Name resolution (getaddrinfo) is blocking and not covered by the
 * deadline; resolvers have their own timeouts.
 *
 * The parsing pieces (URL, Cache-Control, the response parser) are
 * exposed for unit tests and the fuzzer.
 *
 * Ownership: bodies are malloc'd and belong to the caller. No state is
 * kept between calls; every function is thread-safe.
 */
#ifndef FHIRD_HTTP_CLIENT_H
#define FHIRD_HTTP_CLIENT_H

#include "core/buf.h"

#include <stddef.h>

/* Bytes of response head (status line and fields, including 1xx
 * responses and chunked trailers) accepted. JWKS and introspection
 * responses have a handful of short fields. */
#define HTTP_CLIENT_MAX_HEADER 16384

/* ---- URLs ---- */

typedef struct http_client_url {
	int tls;             /* 1: https */
	char host[256];      /* name or address literal, IPv6 without brackets */
	unsigned port;
	char authority[272]; /* the Host field value: host[:port], IPv6 bracketed */
	char target[2048];   /* path and query ("/" when empty), never a fragment */
} http_client_url;

/* Parses an absolute http(s) URL (RFC 3986 3). ERR_INVALID for anything
 * else: another scheme, userinfo (credentials belong in headers, and
 * "user@host" is a classic way to disguise a host), a fragment, an empty
 * host, a bad port, whitespace or control characters, a part too long.
 * ERR_FORBIDDEN for http:// to a host that is not a loopback literal or
 * "localhost". */
int http_client_url_parse(const char *url, http_client_url *out);

/* ---- Cache-Control (RFC 9111 5.2) ---- */

/* Folds one Cache-Control field value into *max_age, which starts at -1
 * ("no freshness given"): no-store or no-cache make it 0; max-age=N
 * (token or quoted form) lowers it to N; an invalid max-age counts as 0
 * (RFC 9111 4.2.1: a response with conflicting or invalid freshness is
 * treated as stale); values beyond 2^31 are capped there (RFC 9111
 * 1.2.2). Other directives (private, public, s-maxage, which is for
 * shared caches) are ignored. */
void http_client_cache_control(const char *value, size_t len, long *max_age);

/* ---- response parser ---- */

typedef struct http_client_resp {
	/* results */
	int status;          /* final status code */
	long max_age;        /* from Cache-Control, see above; -1 when absent */
	buf_t body;          /* the decoded body (NUL-terminated) */
	/* state (private) */
	int state;
	int http10;          /* the final response is HTTP/1.0 */
	size_t max_header;
	size_t head_total;   /* head bytes so far, all responses and trailers */
	size_t scan;         /* head: where the blank-line search resumes */
	buf_t head;          /* the head being collected; chunk lines too */
	unsigned long long remaining; /* Content-Length or chunk bytes left */
	int cr;              /* a CR was seen where a CRLF is expected */
} http_client_resp;

void http_client_resp_init(http_client_resp *r, size_t max_body);
void http_client_resp_fini(http_client_resp *r);

/* Feeds n bytes received. 1 when the response is complete (bytes after
 * its end are ignored), 0 when more are needed, ERR_INVALID for a
 * malformed or ambiguous message, ERR_TOOBIG past a limit, ERR_NOMEM. */
int http_client_resp_feed(http_client_resp *r, const char *data, size_t n);

/* The peer closed the connection: 1 when that completes the response (a
 * body delimited by the close), ERR_INVALID when it was cut short. */
int http_client_resp_eof(http_client_resp *r);

/* ---- requests ---- */

/* GET url. ca_file: an extra PEM trust anchor file or NULL/"" (the
 * system store is always used). timeout_ms bounds the whole exchange
 * after name resolution; max_bytes the decoded body. 0 with *status,
 * *body (malloc'd), *len and *cache_max_age_s set for any status code;
 * ERR_INVALID / ERR_FORBIDDEN (url, see http_client_url_parse),
 * ERR_IO (resolution, connection, TLS or certificate failure, timeout),
 * ERR_INVALID (malformed response), ERR_TOOBIG, ERR_NOMEM. Failures are
 * logged with the host (never the query or a credential). */
int http_client_get(const char *url, const char *ca_file, unsigned timeout_ms, size_t max_bytes, int *status,
		    char **body, size_t *len, long *cache_max_age_s);

/* POST an application/x-www-form-urlencoded body (form, already
 * encoded) with HTTP Basic authentication of user:password, each
 * form-urlencoded first (RFC 6749 2.3.1, which RFC 7662 2.1 uses for the
 * introspection endpoint). Results and errors as http_client_get. */
int http_client_post_form(const char *url, const char *ca_file, unsigned timeout_ms, size_t max_bytes,
			  const char *user, const char *password, const char *form, int *status, char **body,
			  size_t *len);

#endif
