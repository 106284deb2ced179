/*
 * auth.h - the authorization step that runs before every FHIR handler,
 * and the decisions handlers ask for afterwards.
 *
 * The FHIR layer describes what a request wants (an auth_target) and asks
 * auth_request_authorize() for an access context. Handlers receive that
 * context and turn it into conditions of what they select (a compartment
 * restriction of the search, a guard on the write), so the decision
 * travels with the request instead of being re-checked (or forgotten) in
 * each handler.
 *
 * Modes:
 *   off   - development only (config refuses it on non-loopback
 *           addresses): every request gets full access.
 *   smart - a bearer token from our SMART server (token.h) is required
 *           on every request but the public ones; its scopes (scope.h)
 *           decide which interactions on which types it may perform, and
 *           patient/ scopes (or a user whose fhirUser is a Patient)
 *           confine it to that patient's compartment
 *           (compartmentdefinition-patient).
 *   external - the same, with tokens of another authorization server
 *           (external.h: its JWK Set or RFC 7662 introspection).
 *
 * Interactions map to SMART v2 letters: read/vread -> r, search/history
 * -> s, create -> c, update/patch -> u, delete -> d; a Bundle entry is
 * authorized as the interaction it performs.
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

/* The outcome of a decision for one (type, letter). */
typedef struct auth_decision {
	/* Non-NULL: confined to Patient/[patient]'s compartment. For a type
	 * outside the compartment that may still be read (Medication,
	 * Practitioner, Organization, ...) this is NULL and `shared` is 1. */
	const char *patient;
	int shared;
	/* v2 granular constraints that apply (search parameters, ORed); 0:
	 * none, i.e. unconstrained. */
	const char *const *constraints;
	size_t nconstraints;
} auth_decision;

/* What the caller may do; filled by auth_request_authorize(). Everything
 * lives in the request arena. */
typedef struct auth_access {
	int full;              /* unrestricted (auth off) */
	const char *subject;   /* who, for logs and audit; never a token */
	const char *client_id; /* NULL with full */
	const char *fhir_user; /* "Patient/85", "Practitioner/x" or NULL */
	const char *patient;   /* launch context patient or NULL */
	const char *encounter;
	const char *jti;
	const void *scopes;    /* the granted scope_set (scope.h), arena copy */
	auth_decision dec;     /* the decision for the request's own target */
} auth_access;

typedef struct auth auth_t;

/* Creates the authorizer for cfg->auth. cfg, tokens (auth smart; NULL
 * otherwise) and ext (auth external; NULL otherwise) must outlive it. */
struct auth_tokens;
struct auth_external;
int auth_new(const config_t *cfg, struct auth_tokens *tokens, struct auth_external *ext, auth_t **out);
void auth_free(auth_t *a);

/* Decides whether req may do target. 0 with *out filled (out->dec is the
 * decision for target's type and letter; for a target without a type
 * only the token is checked), or ERR_UNAUTHORIZED (no/invalid/expired/
 * revoked token: 401 + WWW-Authenticate), ERR_FORBIDDEN (valid token,
 * not allowed: 403), ERR_BUSY (the revocation check, or the external
 * server's keys or introspection, could not be reached: fail closed,
 * 503). */
int auth_request_authorize(const auth_t *a, const http_request *req, const auth_target *target, auth_access *out);

/* The decision for (type, letter) under acc: 0 with *out filled, or
 * ERR_FORBIDDEN. letter is one of SCOPE_C/R/U/D/S (scope.h). */
int auth_decide(const auth_access *acc, arena_t *a, const char *type, unsigned letter, auth_decision *out);

/* 1 when type is in the Patient compartment (Patient itself included). */
int auth_type_in_compartment(const char *type);

/* Value for the WWW-Authenticate header of a 401 (RFC 6750 3). */
const char *auth_challenge(const auth_t *a, const http_request *req);

#endif
