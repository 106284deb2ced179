/*
 * fhir.h - the FHIR REST layer: what a request means and how it is
 * answered (hl7.org/fhir/R4/http.html).
 *
 * fhir_handle() is the http_handler_fn of the server. Its pipeline:
 *   listener limits (pre_error) -> rate limit per address -> route
 *   (route.c) -> content negotiation (format.c) -> authorization (auth/)
 *   -> rate limit per client -> interaction handler (rest.c, history.c,
 *   capability.c) -> response. The whole request shares one database
 *   time budget (store_deadline_begin, db_statement_timeout_ms).
 * There is no other path to a handler, so no handler can run unauthorized.
 *
 * Ownership: the fhir_app and everything it points to outlive all requests
 * (main owns them). A fhir_req lives on the worker's stack for one request;
 * its strings come from the request arena.
 */
#ifndef FHIRD_FHIR_FHIR_H
#define FHIRD_FHIR_FHIR_H

#include "auth/auth.h"
#include "core/config.h"
#include "http/http.h"
#include "http/limits.h"
#include "store/store.h"
#include "types.h"

#include <jansson.h>

#define FHIRD_NAME "fhird"
#define FHIRD_VERSION "0.1.0"

struct audit;

typedef struct fhir_app {
	const config_t *cfg;
	store_t *store;
	auth_t *auth;
	struct audit *audit;   /* the audit trail (audit/audit.h); NULL when off */
	char *capability;      /* CapabilityStatement JSON, built once at start */
	size_t capability_len;
	unsigned char cursor_key[32]; /* HMAC key for paging cursors, random per process */
	http_limits *limits;   /* rate limits (NULL: none) */
} fhir_app;

enum fhir_interaction {
	FHIR_I_NONE = 0,
	FHIR_I_CAPABILITIES,
	FHIR_I_READ,
	FHIR_I_VREAD,
	FHIR_I_CREATE,
	FHIR_I_UPDATE,
	FHIR_I_DELETE,
	FHIR_I_PATCH,
	FHIR_I_HISTORY_INSTANCE,
	FHIR_I_HISTORY_TYPE,
	FHIR_I_HISTORY_SYSTEM,
	FHIR_I_SEARCH_TYPE,
	FHIR_I_SEARCH_SYSTEM,
	FHIR_I_SEARCH_COMPARTMENT, /* Patient/[id]/[ctype] */
	FHIR_I_BATCH,
	FHIR_I_OPERATION
};

typedef struct fhir_route {
	enum fhir_interaction interaction;
	const fhir_type *type; /* NULL at system level */
	const char *id;        /* NULL unless instance level */
	int64_t vid;           /* vread */
	const char *operation; /* "$name" for operations */
	const fhir_type *ctype;/* compartment search: the type searched */
	const char *allow;     /* with ERR_METHOD: the methods the URL supports */
} fhir_route;

typedef struct fhir_req {
	fhir_app *app;
	http_request *http;
	http_response *resp;
	fhir_route route;
	auth_access access;
	int pretty;
	/* For the audit record of this request (auditlog.c); handlers set
	 * what only they know. */
	struct {
		int on;              /* the request reached authorization: record it */
		const char *subtype; /* overrides the interaction's code ("transaction") */
	} audit;
} fhir_req;

/* The http_handler_fn: see the pipeline above. */
void fhir_handle(void *app, http_request *req, http_response *resp);

/* Builds app->capability from the type tables and config. 0 / ERR_NOMEM. */
int fhir_capability_build(fhir_app *app);

/* ---- route.c ---- */

/* Maps method and path segments to an interaction. ERR_NOTFOUND (not
 * under the base, unknown type), ERR_INVALID (bad id / version syntax),
 * ERR_METHOD (method not allowed here). */
int fhir_route_parse(const fhir_app *app, const http_request *req, fhir_route *out);

/* ---- format.c ---- */

/* Content negotiation for the response (_format, Accept): 0 or
 * ERR_NOTACCEPTABLE. Sets fr->pretty from _pretty. */
int fhir_format_negotiate(fhir_req *fr);

/* Checks the body's Content-Type (415) and parses it as a JSON object
 * within the configured depth (400). On error, diag (client-safe) says why.
 * *out is a new reference. */
int fhir_format_parse_body(fhir_req *fr, json_t **out, const char **diag);

/* Parses body[0..len) as one JSON object: UTF-8 checked, nesting at most
 * max_depth, duplicate keys rejected. ERR_INVALID with a client-safe *diag
 * (allocated in a when given). *out is a new reference. */
int fhir_json_parse(const char *body, size_t len, unsigned max_depth, arena_t *a, json_t **out, const char **diag);

/* The same bounds, for any JSON value (a JSON Patch is an array). */
int fhir_json_parse_any(const char *body, size_t len, unsigned max_depth, arena_t *a, json_t **out, const char **diag);

/* Sends a JSON value (serialized per _pretty) with status. Steals nothing. */
void fhir_send_json(fhir_req *fr, int status, const json_t *v);

/* Sends stored resource bytes as they are (re-serialized only for _pretty).
 * Takes ownership of body (malloc'd). */
void fhir_send_body(fhir_req *fr, int status, char *body, size_t len);

/* Serializes v compactly; malloc'd. NULL on failure. */
char *fhir_json_dump(const json_t *v, int pretty, size_t *len);

/* ---- outcome.c ---- */

/* Sends an OperationOutcome for err with the err's status. diag and expr
 * are optional and must be client-safe. */
void fhir_send_error(fhir_req *fr, int err, const char *diag, const char *expr);

/* A new OperationOutcome object (one issue). */
json_t *fhir_outcome_new(const char *severity, const char *code, const char *diag, const char *expr);

/* ---- headers.c ---- */

/* Adds ETag, Last-Modified (and Location when with_location) for v. */
void fhir_version_headers(fhir_req *fr, const store_version_t *v, int with_location);

/* ---- rest.c / history.c ---- */
void fhir_rest_read(fhir_req *fr);
void fhir_rest_vread(fhir_req *fr);
void fhir_rest_create(fhir_req *fr);
void fhir_rest_update(fhir_req *fr);
void fhir_rest_delete(fhir_req *fr);
void fhir_rest_patch(fhir_req *fr);
void fhir_history(fhir_req *fr);

/* ---- access.c: the authorization decision as conditions (see there) ---- */

/* May the request see version v (read, vread, history, included)? letter:
 * SCOPE_R or SCOPE_S. 0, ERR_NOTFOUND (outside the patient's compartment:
 * answered like a missing resource), ERR_FORBIDDEN (type or constraint
 * not granted), ERR_DB. */
int fhir_access_see(fhir_req *fr, const store_version_t *v, unsigned letter);

/* Refusals decided from the URL alone (Patient/[other] for a confined
 * token): 0 or ERR_FORBIDDEN. */
int fhir_access_url(fhir_req *fr);

struct fhir_write;
/* Authorizes a write of type with letter (SCOPE_C/U/D) and turns a
 * confinement into conditions: w's index rows must reference the patient
 * (not for deletes; w may be NULL then), op->guard_patient and
 * cond->comp_id (cond may be NULL) are set. 0 or ERR_FORBIDDEN with *diag
 * (client-safe). */
int fhir_access_write(fhir_req *fr, const char *type, unsigned letter, struct fhir_write *w, store_op_t *op,
		      store_cond *cond, const char **diag);

/* ---- search.c: search at type, system and compartment level, and
 * Patient/[id]/$everything (hl7.org/fhir/R4/search.html) ---- */
void fhir_search(fhir_req *fr);
void fhir_everything(fhir_req *fr);

/* ---- bundle.c: POST [base] with a batch or transaction Bundle ---- */
void fhir_bundle(fhir_req *fr);

/* ---- auditlog.c: what the audit trail records of FHIR requests ---- */

/* Records fr (after its response was made) as an AuditEvent: the
 * interaction, who (access context, client address), what (type, id or
 * query), the patient when known, the outcome from the status. Nothing
 * when auditing is off or the request never reached authorization
 * (routing and content negotiation failures, capabilities). */
void fhir_audit_record(fhir_req *fr);

/* Records one write of a committed transaction (its entries do not go
 * through fhir_handle): op as written, status as answered for the entry. */
void fhir_audit_tx_entry(fhir_req *fr, const store_op_t *op, int status);

/* The patient of a resource body: the Patient reference of one of the
 * type's compartment parameters (search/extract.h). An audit_patient_fn. */
int fhir_audit_patient_of(const char *type, const char *body, size_t len, char *out, size_t cap);

/* ---- auditevent.c: AuditEvent read and search, from the audit trail ---- */

/* GET AuditEvent/[id], AuditEvent/[id]/_history/1, AuditEvent?...,
 * Patient/[id]/AuditEvent?...; every other interaction on AuditEvent is
 * 405. The queue is flushed first, so an auditor sees every event
 * recorded before its request. */
void fhir_auditevent(fhir_req *fr);

#endif
