/*
 * oauth.h - the SMART App Launch 2.2 authorization server: discovery
 * documents, the authorize endpoint with its HTML pages (login, patient
 * picker, consent), the token, introspection, revocation and JWKS
 * endpoints.
 *
 * URLs (origin = scheme://host:port of the FHIR base URL; issuer =
 * cfg->issuer, by default origin + "/auth"):
 *   GET  [base]/.well-known/smart-configuration    public, CORS *
 *   GET  /auth/.well-known/openid-configuration    public, CORS *
 *   GET|POST /auth/authorize                        RFC 6749 4.1.1 + PKCE
 *   POST /auth/login, /auth/pick, /auth/consent     the pages' forms
 *   POST /auth/token                                RFC 6749 4.1.3, 6; SMART backend services
 *   POST /auth/introspect                           RFC 7662
 *   POST /auth/revoke                               RFC 7009
 *   GET  /auth/jwks                                 public keys
 *
 * Pages are server-rendered HTML without JavaScript, every value escaped,
 * with Cache-Control: no-store, Content-Security-Policy (default-src
 * 'none'; style-src 'unsafe-inline'; form-action 'self' plus the client's
 * redirect origin, for the 302 that answers the last form;
 * frame-ancestors 'none'), X-Frame-Options: DENY, Referrer-Policy:
 * no-referrer. A pending authorization is a STORE_AUTH_REQUEST record
 * named by a random id and walked login -> [patient pick] -> consent; it
 * is bound to the browser by an HttpOnly SameSite=Strict cookie (one per
 * request, Path = the issuer path) and each form carries a CSRF token
 * checked against the record.
 *
 * With --auth external none of this runs: the oauth_t then serves only
 * [base]/.well-known/smart-configuration, naming the external server's
 * issuer and the endpoints configured for it (external_jwks_url,
 * external_authorize_url, external_token_url,
 * external_introspection_url), and every /auth path is left to FHIR
 * (404).
 *
 * Backend clients registered with a JWKS URL (and no JWK Set) have their
 * keys fetched from it over https and cached (jwks_cache.h).
 *
 * Ownership: main owns the oauth_t; it borrows cfg, store, tokens (NULL
 * with --auth external) and the audit trail (oauth_set_audit), which must
 * outlive it. Thread-safe.
 */
#ifndef FHIRD_AUTH_OAUTH_H
#define FHIRD_AUTH_OAUTH_H

#include "auth/token.h"
#include "core/config.h"
#include "http/http.h"
#include "http/limits.h"
#include "store/store.h"

typedef struct oauth oauth_t;
struct audit;

/* The authorization server's endpoints as fhird announces them - in
 * .well-known/smart-configuration and in the CapabilityStatement's
 * oauth-uris extension alike: under cfg->issuer, or with --auth external
 * the URLs configured for the other server (NULL: not configured, so not
 * named; an external server has no revocation endpoint of ours). */
typedef struct oauth_urls {
	char *authorize, *token, *introspect, *revoke, *jwks;
} oauth_urls;

/* Fills u (each member malloc'd, or NULL). 0, or ERR_NOMEM with u cleared. */
int oauth_urls_make(const config_t *cfg, oauth_urls *u);
void oauth_urls_clear(oauth_urls *u);

int oauth_new(const config_t *cfg, store_t *store, auth_tokens *tokens, oauth_t **out);
void oauth_free(oauth_t *o);

/* The audit trail (audit/audit.h) that records every sign-in, token
 * issue/refresh/revocation and refused request. Borrowed; must outlive o.
 * Not set (or NULL): nothing is recorded. Call before the first request. */
void oauth_set_audit(oauth_t *o, struct audit *audit);

/* The abuse limits the endpoints apply (http/limits.h): per-address and
 * per-client rate limits (rate_auth_*), login backoff and the
 * password-check gate. Borrowed; must outlive o. Not set: no limits. Call
 * before the first request. */
void oauth_set_limits(oauth_t *o, http_limits *limits);

/* 1 when req's path belongs to the authorization server (resp is then
 * filled), 0 when it does not (the caller passes it on to FHIR). */
int oauth_handle(oauth_t *o, http_request *req, http_response *resp);

/* The SMART configuration document (JSON text, malloc'd) - also what the
 * CapabilityStatement's oauth-uris extension is built from. */
int oauth_smart_configuration(const oauth_t *o, char **json, size_t *len);

#endif
