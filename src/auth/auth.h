/*
 * auth.h - the authorization step that runs before every FHIR handler.
 *
 * The FHIR layer describes what a request wants (an auth_target) and asks
 * auth_request_authorize() for an access context. Handlers receive that
 * context and pass it down to the store, so the decision travels with the
 * request instead of being re-checked (or forgotten) in each handler.
 *
 * Today two modes exist:
 *   off   - development only (config refuses it on non-loopback
 *           addresses): every request gets full access.
 *   smart - the SMART App Launch server is not built yet (a later issue),
 *           so no token can be valid: every protected request is refused
 *           with 401, only public endpoints (CapabilityStatement) answer.
 * The SMART issue replaces the smart branch with token verification,
 * scopes and patient compartments; the interface stays.
 */
#ifndef FHIRD_AUTH_AUTH_H
#define FHIRD_AUTH_AUTH_H

#include "core/config.h"
#include "http/http.h"

enum auth_interaction {
	AUTH_I_PUBLIC = 1, /* capabilities, discovery documents */
	AUTH_I_READ,       /* read, vread */
	AUTH_I_SEARCH,     /* search, history */
	AUTH_I_CREATE,
	AUTH_I_UPDATE,
	AUTH_I_DELETE,
	AUTH_I_SYSTEM      /* batch/transaction, system operations */
};

typedef struct auth_target {
	enum auth_interaction interaction;
	const char *type; /* resource type or NULL (system level) */
	const char *id;   /* resource id or NULL */
} auth_target;

/* What the caller may do; filled by auth_request_authorize(). */
typedef struct auth_access {
	int full;            /* unrestricted (auth off) */
	const char *subject; /* who, for logs and audit; never a token */
} auth_access;

typedef struct auth auth_t;

/* Creates the authorizer for cfg->auth. The config must outlive it. */
int auth_new(const config_t *cfg, auth_t **out);
void auth_free(auth_t *a);

/* Decides whether req may do target. 0 with *out filled, or
 * ERR_UNAUTHORIZED (no/invalid credentials: 401 + WWW-Authenticate) or
 * ERR_FORBIDDEN (valid credentials, not allowed: 403). */
int auth_request_authorize(const auth_t *a, const http_request *req, const auth_target *target, auth_access *out);

/* Value for the WWW-Authenticate header of a 401 (RFC 6750 3). */
const char *auth_challenge(const auth_t *a);

#endif
