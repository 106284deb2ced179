/*
 * registry.h - registered OAuth clients and user accounts, kept as
 * STORE_AUTH_CLIENT / STORE_AUTH_USER records (JSON values), and the
 * administration commands that manage them:
 *
 *   fhird client add --id ID --type public|confidential|backend
 *                    [--redirect-uri URI ...] --scope "..."
 *                    [--jwks-file F | --jwks-url URL] [--launch-url URL]
 *                    [--name NAME] [--db F]
 *       prints the generated secret once for a confidential client
 *   fhird client list [--db F]          (never prints secrets or hashes)
 *   fhird client remove ID [--db F]
 *   fhird user add --username U --fhir-user Patient/85|Practitioner/x
 *                  --password-stdin [--db F]
 *   fhird launch --client ID --patient ID [--encounter ID]
 *                [--base-url URL] [--db F]
 *       prints an EHR launch URL (client's launch URL ? iss=base &
 *       launch=value); the launch value is single-use and lives
 *       launch_ttl seconds (STORE_AUTH_LAUNCH, stored hashed)
 *   fhird keys rotate [--db F]
 *
 * Secrets: a confidential client's secret is 32 random bytes (base64url),
 * stored as its SHA-256 (high-entropy, so a fast hash is enough) and
 * compared in constant time; passwords are argon2id (jose.h).
 *
 * Ownership: auth_client / auth_user own their strings (_fini).
 */
#ifndef FHIRD_AUTH_REGISTRY_H
#define FHIRD_AUTH_REGISTRY_H

#include "store/store.h"

#include <jansson.h>
#include <stddef.h>

enum auth_client_type { AUTH_CLIENT_PUBLIC = 1, AUTH_CLIENT_CONFIDENTIAL, AUTH_CLIENT_BACKEND };

typedef struct auth_client {
	char id[129];
	enum auth_client_type type;
	char *name;             /* display name (consent page) or NULL */
	char **redirect_uris;   /* exact strings, compared byte for byte */
	size_t nredirect;
	char *scope;            /* the most this client may be granted */
	char secret_hash[65];   /* confidential: SHA-256 hex of the secret; "" otherwise */
	json_t *jwks;           /* asymmetric auth: registered JWK Set, or NULL */
	char *jwks_url;         /* registered https JWKS URL, or NULL: without jwks, the
				 * keys are fetched from it; a `jku` must equal it */
	char *launch_url;       /* EHR launch URL, or NULL */
	char **origins;         /* CORS origins: scheme://host[:port] of the redirect URIs */
	size_t norigins;
} auth_client;

void auth_client_fini(auth_client *c);

/* ERR_NOTFOUND when no such client. */
int auth_client_get(store_t *s, const char *id, auth_client *out);

/* Registers c (ERR_CONFLICT when the id exists; ERR_INVALID for an id not
 * matching [A-Za-z0-9._~-]{1,128}, a public/confidential client without a
 * redirect URI, a redirect URI that is not an absolute http(s) URL
 * without fragment, a jwks_url that is not https, an unparsable scope, a
 * backend client without jwks or jwks_url). For a confidential client a secret is generated, its hash
 * stored and the secret written to secret_out (cap >= 64); otherwise
 * secret_out gets "". */
int auth_client_add(store_t *s, const auth_client *c, char *secret_out, size_t cap);

int auth_client_remove(store_t *s, const char *id);

/* Checks a presented client secret in constant time: 1 when it matches. */
int auth_client_secret_ok(const auth_client *c, const char *secret);

/* 1 when uri is exactly one of the registered redirect URIs. */
int auth_client_redirect_ok(const auth_client *c, const char *uri);

typedef struct auth_user {
	char username[129];
	char fhir_user[160];    /* "Patient/85" or "Practitioner/x" */
	char phc[192];          /* argon2id hash */
} auth_user;

/* ERR_CONFLICT when the username exists; ERR_INVALID for a bad username
 * ([A-Za-z0-9._@-]{1,128}), an empty password or a fhir_user that is not
 * Patient/id, Practitioner/id, PractitionerRole/id, RelatedPerson/id or
 * Person/id. */
int auth_user_add(store_t *s, const char *username, const char *fhir_user, const char *password);

/* Checks a login. 0 with out filled, or ERR_UNAUTHORIZED for an unknown
 * user or a wrong password - with the same argon2 work either way, so
 * timing does not reveal which usernames exist. */
int auth_user_login(store_t *s, const char *username, const char *password, auth_user *out);

/* Creates a launch value for an EHR launch (STORE_AUTH_LAUNCH record
 * {client_id, patient, encounter} under its hash, ttl_s lifetime) into
 * out (cap >= 48). */
int auth_launch_new(store_t *s, const char *client_id, const char *patient, const char *encounter, unsigned ttl_s,
		    char *out, size_t cap);

/* The administration commands above. argv[1] is "client", "user",
 * "launch" or "keys". Returns the process exit status (0, 1 runtime
 * failure, 2 usage). */
int auth_admin_main(int argc, char **argv);

#endif
