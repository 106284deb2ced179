/*
 * oauth_int.h - internals shared by the files of the authorization server
 * (oauth.c, oauth_authorize.c, oauth_pages.c, oauth_token.c,
 * oauth_introspect.c, oauth_util.c). Not an interface for other modules:
 * src/auth/oauth.h is.
 *
 * Ownership: everything here borrows; strings handed to an http_response
 * live in the request arena or are literals.
 */
#ifndef FHIRD_AUTH_OAUTH_INT_H
#define FHIRD_AUTH_OAUTH_INT_H

#include "audit/audit.h"
#include "auth/cors.h"
#include "auth/jwks_cache.h"
#include "auth/oauth.h"
#include "auth/registry.h"
#include "auth/scope.h"
#include "core/buf.h"

#include <jansson.h>
#include <stdint.h>

struct oauth {
	const config_t *cfg;
	store_t *store;
	auth_tokens *tokens;
	char **ipath;         /* the issuer URL's path segments ("auth") */
	size_t nipath;
	char *ipath_str;      /* the issuer URL's path ("/auth"; "" at the root) */
	char *token_url;      /* issuer + "/token": the aud of client assertions */
	char *style_url;      /* issuer + "/style.json" */
	char *smart;          /* .well-known/smart-configuration, built once */
	size_t smart_len;
	char *oidc;           /* .well-known/openid-configuration, built once */
	size_t oidc_len;
	int secure;           /* TLS: cookies get Secure */
	audit_t *audit;       /* the audit trail, or NULL (off) */
	int external;         /* --auth external: only the discovery document */
	auth_jwks_cache *client_jwks; /* backend clients' registered JWKS URLs */
	auth_cors *cors;      /* registered origins, for the endpoints' preflights */
	http_limits *limits;  /* borrowed (oauth_set_limits); NULL: none */
};

/* Random values: 32 bytes from the OS, base64url (43 characters). */
#define OAUTH_RAND_LEN 64
/* Patients the picker lists (a text field takes any other id). */
#define OAUTH_PICK_MAX 100
/* Failed logins allowed per pending request before it is abandoned. */
#define OAUTH_MAX_LOGIN_FAILS 5
/* Client assertions may not live longer than this (SMART Backend
 * Services: exp no more than five minutes in the future). */
#define OAUTH_ASSERTION_MAX_S 300

/* ---- oauth_util.c: pure helpers (unit-tested in test_oauth_pages.c) ---- */

/* Appends s with & < > " ' ` escaped as character references, so that the
 * result is safe in element content and in quoted attribute values.
 * ERR_TOOBIG / ERR_NOMEM from the buffer. */
int oauth_html_escape(buf_t *b, const char *s);

/* Appends s percent-encoded: every byte outside RFC 3986 unreserved
 * (A-Z a-z 0-9 - . _ ~) becomes %XX, so a value round-trips exactly
 * through any form or query decoder. */
int oauth_url_encode(buf_t *b, const char *s);

/* Appends the redirect URI with the given name/value pairs added to its
 * query (RFC 6749 4.1.2, 4.1.2.1): '?' when uri has no query, '&' when it
 * has one (nothing when it already ends in '?' or '&'). kv holds npairs
 * name, value pairs; a NULL value skips its pair. Values are
 * percent-encoded with oauth_url_encode (state comes back exactly). */
int oauth_redirect_url(buf_t *b, const char *uri, const char *const *kv, size_t npairs);

/* The value of parameter name. RFC 6749 3.1: a parameter sent without a
 * value counts as omitted, so *out is NULL when absent or empty.
 * ERR_INVALID when the name occurs more than once (RFC 6749 3.1/3.2:
 * parameters MUST NOT be included more than once). */
int oauth_param(const http_param *ps, size_t n, const char *name, const char **out);

/* The first parameter name that occurs more than once, ignoring the name
 * `except` (may be NULL), or NULL when every name is unique. */
const char *oauth_param_dup(const http_param *ps, size_t n, const char *except);

/* 1 when a Content-Type header value is application/x-www-form-urlencoded
 * (case-insensitive, parameters such as charset allowed). */
int oauth_form_type_ok(const char *content_type);

/* Cookie lookup in a Cookie request header (RFC 6265 5.4: "a=1; b=2").
 * Starting at *pos (0 at first), finds the next cookie called name, copies
 * its value to out and advances *pos: 0, ERR_NOTFOUND when no further
 * one, ERR_TOOBIG when the value does not fit (that one is skipped). */
int oauth_cookie_next(const char *header, const char *name, size_t *pos, char *out, size_t cap);

/* 1 when v is a PKCE code_verifier (RFC 7636 4.1): 43-128 characters of
 * [A-Za-z0-9-._~]. */
int oauth_pkce_verifier_ok(const char *v);

/* 1 when s is an S256 code_challenge: base64url(SHA-256) without
 * padding, exactly 43 characters of [A-Za-z0-9_-]. */
int oauth_pkce_challenge_ok(const char *s);

/* 1 when s is one of our random values (43 base64url characters). */
int oauth_rand_ok(const char *s);

/* The origin (scheme://host[:port], RFC 6454) of an absolute http(s)
 * URI into out. ERR_INVALID when uri is not one, or has characters that
 * do not belong in an origin (it ends up in a CSP header). */
int oauth_origin(const char *uri, char *out, size_t cap);

/* A copy of s for a log line: characters outside [A-Za-z0-9._~@/-] become
 * '_', at most cap-1 bytes. */
void oauth_log_safe(const char *s, char *out, size_t cap);

/* ---- oauth.c: shared response helpers ---- */

int64_t oauth_now_us(void);

/* String member of an object, "" when absent or not a string. */
const char *oauth_jstr(const json_t *o, const char *key);

/* Sends o (stolen) as application/json with the given status and
 * Pragma: no-cache (RFC 6749 5.1; the listener adds Cache-Control:
 * no-store to every response). */
void oauth_send_json(http_response *resp, int status, json_t *o);

/* An OAuth error response (RFC 6749 5.2): {"error", "error_description"}.
 * invalid_client gets 401 and WWW-Authenticate. */
void oauth_send_error(http_response *resp, int status, const char *error, const char *desc);

/* The answer to a request over a rate limit or in login backoff: 429
 * with Retry-After (RFC 6585 4). html: an error page (the browser
 * endpoints); else an OAuth error (the token, introspection and
 * revocation endpoints): RFC 6749 5.2 has no code for it, so
 * "temporarily_unavailable" - RFC 6749 4.1.2.1's word for "cannot handle
 * the request now" - rather than "invalid_request", which would tell the
 * client its request was wrong and not to retry it, or RFC 8628's
 * "slow_down", which means "poll the device code less often". why names
 * the setting (client-safe). */
void oauth_send_throttled(http_request *req, http_response *resp, oauth_t *o, int html, const char *why,
			  unsigned retry_s);

/* The form body of a POST: Content-Type must be form-urlencoded.
 * ERR_MEDIATYPE (wrong type), ERR_INVALID (undecodable), ERR_TOOBIG. */
int oauth_form(const http_request *req, http_param **ps, size_t *n);

/* CORS for the token, introspection and revocation endpoints: adds
 * Access-Control-Allow-Origin when the request's Origin is one the
 * client registered (auth_client.origins), nothing otherwise. */
void oauth_cors_client(const http_request *req, http_response *resp, const auth_client *c);

/* Records ev (kind, subtype, outcome and who filled in by the caller) in
 * the audit trail with the request's address, and marks req audited.
 * ev->status defaults to resp's. Never put a secret in ev. */
void oauth_audit(oauth_t *o, http_request *req, const http_response *resp, audit_event *ev);

/* The "error" of an OAuth error response in resp (arena copy), or NULL. */
const char *oauth_audit_error(http_request *req, const http_response *resp);

/* Revokes a grant family: a STORE_AUTH_REVOKED record (so the access
 * tokens carrying fam fail verification at once) and every live record
 * of the family (codes, refresh tokens) expired. */
int oauth_revoke_family(oauth_t *o, const char *family);

/* ---- oauth_pages.c: HTML ---- */

/* What the pages show of a pending request. */
typedef struct oauth_page_ctx {
	const char *reqid;
	const char *csrf;
	const char *client_name;
	const char *redirect_origin; /* added to form-action (the 302 after a POST) */
	const char *username;
	const char *patient;
	const char *scope;           /* offered scopes, space-separated */
	const char *message;         /* a notice (escaped), or NULL */
	const json_t *patients;      /* picker: [{"id", "label"}...] or NULL */
} oauth_page_ctx;

void oauth_page_error(oauth_t *o, http_response *resp, int status, const char *message);
void oauth_page_login(oauth_t *o, http_request *req, http_response *resp, const oauth_page_ctx *p);
void oauth_page_pick(oauth_t *o, http_request *req, http_response *resp, const oauth_page_ctx *p);
void oauth_page_consent(oauth_t *o, http_request *req, http_response *resp, const oauth_page_ctx *p);

/* Adds the page security headers (CSP with form-action 'self' plus
 * redirect_origin when not NULL, X-Frame-Options, Referrer-Policy,
 * Pragma) to resp. The CSP string is built in the request arena (or a
 * literal when there is no redirect origin, req may then be NULL). */
void oauth_page_headers(http_request *req, http_response *resp, const char *redirect_origin);

/* ---- endpoint handlers ---- */

void oauth_authorize(oauth_t *o, http_request *req, http_response *resp);
void oauth_login(oauth_t *o, http_request *req, http_response *resp);
void oauth_pick(oauth_t *o, http_request *req, http_response *resp);
void oauth_consent(oauth_t *o, http_request *req, http_response *resp);
void oauth_token(oauth_t *o, http_request *req, http_response *resp);
void oauth_introspect(oauth_t *o, http_request *req, http_response *resp);
void oauth_revoke(oauth_t *o, http_request *req, http_response *resp);

/* ---- oauth_token.c: client authentication (RFC 6749 2.3, RFC 7523,
 * SMART client-confidential-asymmetric) ---- */

enum oauth_cauth {
	OAUTH_CAUTH_NONE = 1, /* public client: client_id only */
	OAUTH_CAUTH_SECRET,   /* client_secret_basic / client_secret_post */
	OAUTH_CAUTH_JWT       /* private_key_jwt */
};

/* Authenticates the client of a token, introspection or revocation
 * request (form parameters ps). 0 with *c filled (auth_client_fini it)
 * and *method; otherwise *c is empty and *error and *desc name the OAuth
 * error: ERR_INVALID ("invalid_request": several methods at once),
 * ERR_UNAUTHORIZED ("invalid_client"), ERR_DB ("server_error"). */
int oauth_client_auth(oauth_t *o, const http_request *req, const http_param *ps, size_t n, auth_client *c,
		      enum oauth_cauth *method, const char **error, const char **desc);

#endif
