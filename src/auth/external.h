/*
 * external.h - access tokens issued by another authorization server
 * (--auth external). fhird then only enforces: it issues nothing, its
 * own /auth endpoints are off, and auth.c decides from the token's
 * scopes exactly as it does for its own tokens.
 *
 * A token is accepted in one of two ways:
 *
 *   JWT (external_jwks_file or external_jwks_url): a compact JWS whose
 *   header alg is RS256, RS384, ES256 or ES384 and matches the type of
 *   the key its kid selects in the server's JWK Set (jose.h: never none
 *   or HS*, no key from the header, exactly one key per kid); then
 *   iss == external_issuer, aud == external_audience (a string, or an
 *   array holding it; RFC 7519 4.1.3), exp in the future (RFC 7519
 *   4.1.4, no leeway), nbf not more than 60 s ahead. A URL's set is
 *   cached and refetched as jwks_cache.h says (Cache-Control max-age
 *   clamped to 60 s .. 24 h, at most one refetch per 30 s for an unknown
 *   kid). A JWT cannot be revoked before its exp here: keep the external
 *   server's token lifetimes short, or use introspection.
 *
 *   Introspection (external_introspection_url, RFC 7662): used for
 *   tokens that are not JWS-shaped, or for all tokens when no JWK Set is
 *   configured. POST token=... with HTTP Basic client authentication
 *   (external_client_id/secret); "active" must be the JSON true; iss,
 *   when given, must be external_issuer, aud, when given, must hold
 *   external_audience, exp, when given, must be in the future. Active
 *   answers are cached per token (by SHA-256, never the token itself)
 *   until min(exp, 60 s from now), so a revocation at the server takes
 *   effect within a minute; inactive answers are not cached.
 *
 * Claims -> auth_claims: scope (a space-separated string), patient,
 * encounter (FHIR ids), fhirUser (an absolute URL on our base URL
 * becomes "Type/id"; a user on another server is left out - unless it is
 * a Patient: dropping that would leave user/ scopes unconfined, so the
 * token is refused), client_id (else azp), sub, exp, jti. A claim of the wrong type or too long makes
 * the token invalid rather than being dropped silently.
 *
 * Errors: ERR_UNAUTHORIZED for a token that is not valid (*why says
 * which check, for the log); ERR_IO when the key set or the
 * introspection endpoint cannot be reached (the caller answers 503: a
 * client should retry, not throw its token away).
 *
 * Ownership: main owns the object (through auth_t); it copies what it
 * needs of the configuration. Thread-safe.
 */
#ifndef FHIRD_AUTH_EXTERNAL_H
#define FHIRD_AUTH_EXTERNAL_H

#include "auth/token.h"
#include "core/config.h"

typedef struct auth_external auth_external;

/* Reads external_jwks_file now (ERR_INVALID when it is not a JWK Set),
 * checks the URLs (ERR_INVALID / ERR_FORBIDDEN, http/client.h); the
 * audience defaults to cfg->base_url, which must be final. */
int auth_external_new(const config_t *cfg, auth_external **out);
void auth_external_free(auth_external *x);

/* Verifies token as above and fills out (auth_claims_fini it). */
int auth_external_verify(auth_external *x, const char *token, auth_claims *out, const char **why);

#endif
