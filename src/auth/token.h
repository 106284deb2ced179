/*
 * token.h - the server's signing keys and the tokens it signs: SMART
 * access tokens (JWT) and OpenID Connect id_tokens.
 *
 * Keys: RS256 RSA keys kept in the store (STORE_AUTH_KEY records, value
 * {"jwk": <private JWK>}). The first start generates one - there is no
 * built-in key. The signing key is the newest record without an expiry;
 * `fhird keys rotate` adds a new one and gives the old ones an expiry one
 * access-token lifetime (plus a minute) ahead, so tokens they signed keep
 * verifying until they expire. The ring is reloaded from the store when a
 * token names a kid it does not know (at most once per 10 s) and every
 * 60 s, so several fhird processes on one database agree.
 *
 * Access tokens (RS256 JWT) carry:
 *   iss (issuer), aud (FHIR base URL), sub, exp, iat, jti, client_id,
 *   scope, and when set: patient, encounter, fhirUser (absolute URL),
 *   fam (the grant family, for revocation).
 * auth_token_verify() checks, in this order: size, header (alg pinned to
 * RS256, known kid), signature, iss, aud, exp (60 s leeway on nbf/iat
 * only, none on exp), then revocation in the store (jti or fam) on EVERY
 * call. Signature/claim results are cached per token (keyed by SHA-256
 * of the token, bounded size), so the per-request cost is a hash, a
 * lookup and the revocation query.
 *
 * Ownership: the auth_tokens object belongs to main (via auth_t); it is
 * thread-safe. auth_claims own their scope string (auth_claims_fini).
 */
#ifndef FHIRD_AUTH_TOKEN_H
#define FHIRD_AUTH_TOKEN_H

#include "store/store.h"

#include <jansson.h>
#include <stdint.h>

typedef struct auth_claims {
	char jti[48];
	char fam[48];          /* grant family or "" */
	char client_id[129];
	char sub[129];         /* username, or client_id for system tokens */
	char fhir_user[160];   /* relative ("Patient/85", "Practitioner/x") or "" */
	char patient[65];      /* launch context patient id or "" */
	char encounter[65];    /* launch context encounter id or "" */
	char *scope;           /* granted scope string, malloc'd */
	int64_t iat;           /* seconds since the epoch */
	int64_t exp;
} auth_claims;

void auth_claims_fini(auth_claims *c);

typedef struct auth_tokens auth_tokens;

/* Loads the key ring from s, generating and storing a first key when
 * there is none. issuer: our OAuth issuer URL; aud: the FHIR base URL;
 * both copied. access_ttl_s: the default access-token lifetime (used for
 * rotation). ERR_DB, ERR_NOMEM, ERR_IO. */
int auth_tokens_new(store_t *s, const char *issuer, const char *aud, unsigned access_ttl_s, auth_tokens **out);
void auth_tokens_free(auth_tokens *t);

/* Signs an access token for c (c->jti is generated when empty; c->iat/exp
 * are taken as given). *jwt malloc'd. */
int auth_token_issue(auth_tokens *t, auth_claims *c, char **jwt);

/* Verifies a bearer token as described above and fills out (fini it).
 * ERR_UNAUTHORIZED for anything not valid now (*why says which check,
 * for the log); ERR_DB when the revocation check could not run (the
 * caller fails closed). */
int auth_token_verify(auth_tokens *t, const char *jwt, auth_claims *out, const char **why);

/* Signs an OpenID Connect id_token: iss, sub, aud = client_id, exp, iat,
 * fhirUser (absolute URL, from c->fhir_user), nonce when given (echoed
 * as sent). *jwt malloc'd. */
int auth_token_id_token(auth_tokens *t, const auth_claims *c, const char *nonce, char **jwt);

/* The public JWK Set {"keys": [...]} of every key still verifying
 * (malloc'd JSON text). */
int auth_tokens_jwks(auth_tokens *t, char **json, size_t *len);

/* fhird keys rotate: new signing key; older keys expire after
 * access_ttl_s + 60 s. Works on a store no server has to be stopped for. */
int auth_keys_rotate(store_t *s, unsigned access_ttl_s, char *new_kid, size_t cap);

/* The issuer and audience given at creation. */
const char *auth_tokens_issuer(const auth_tokens *t);
const char *auth_tokens_aud(const auth_tokens *t);

#endif
