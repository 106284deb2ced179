/*
 * fhir.c - fhir_handle(): the one pipeline every request goes through
 * (see fhir.h). Also maps interactions to what authorization is asked,
 * and hands every authorized or refused request to the audit trail.
 */
#include "fhir.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static enum auth_interaction fhir_auth_kind(enum fhir_interaction i)
{
	switch (i) {
	case FHIR_I_CAPABILITIES:
		return AUTH_I_PUBLIC;
	case FHIR_I_READ:
	case FHIR_I_VREAD:
		return AUTH_I_READ;
	case FHIR_I_CREATE:
		return AUTH_I_CREATE;
	case FHIR_I_UPDATE:
	case FHIR_I_PATCH:
		return AUTH_I_UPDATE;
	case FHIR_I_DELETE:
		return AUTH_I_DELETE;
	case FHIR_I_HISTORY_INSTANCE:
	case FHIR_I_HISTORY_TYPE:
	case FHIR_I_HISTORY_SYSTEM:
	case FHIR_I_SEARCH_TYPE:
	case FHIR_I_SEARCH_SYSTEM:
	case FHIR_I_SEARCH_COMPARTMENT:
		return AUTH_I_SEARCH;
	default:
		return AUTH_I_SYSTEM;
	}
}

static const char *fhir_route_diag(int rc)
{
	switch (rc) {
	case ERR_NOTFOUND:
		return "Unknown resource type or path";
	case ERR_INVALID:
		return "Invalid resource id or version id";
	case ERR_METHOD:
		return "This method is not allowed on this URL";
	default:
		return NULL;
	}
}

/* 1 when the request is about AuditEvent: those live in the audit trail,
 * not among the resources, and have a handler of their own. */
static int fhir_is_auditevent(const fhir_route *r)
{
	const fhir_type *t = r->ctype ? r->ctype : r->type;
	return t && !strcmp(t->name, "AuditEvent");
}

/* The handler of an authorized request. */
static void fhir_dispatch(fhir_req *fr)
{
	fhir_app *app = fr->app;

	if (fhir_is_auditevent(&fr->route)) {
		fhir_auditevent(fr);
		return;
	}
	switch (fr->route.interaction) {
	case FHIR_I_CAPABILITIES: {
		char *body = malloc(app->capability_len + 1);
		if (!body) {
			fhir_send_error(fr, ERR_NOMEM, NULL, NULL);
			return;
		}
		memcpy(body, app->capability, app->capability_len + 1);
		fhir_send_body(fr, 200, body, app->capability_len);
		return;
	}
	case FHIR_I_READ:
		fhir_rest_read(fr);
		return;
	case FHIR_I_VREAD:
		fhir_rest_vread(fr);
		return;
	case FHIR_I_CREATE:
		fhir_rest_create(fr);
		return;
	case FHIR_I_UPDATE:
		fhir_rest_update(fr);
		return;
	case FHIR_I_DELETE:
		fhir_rest_delete(fr);
		return;
	case FHIR_I_HISTORY_INSTANCE:
	case FHIR_I_HISTORY_TYPE:
	case FHIR_I_HISTORY_SYSTEM:
		fhir_history(fr);
		return;
	case FHIR_I_PATCH:
		fhir_rest_patch(fr);
		return;
	case FHIR_I_SEARCH_TYPE:
	case FHIR_I_SEARCH_SYSTEM:
	case FHIR_I_SEARCH_COMPARTMENT:
		fhir_search(fr);
		return;
	case FHIR_I_BATCH:
		fhir_bundle(fr);
		return;
	case FHIR_I_OPERATION:
		if (fr->route.type && !strcmp(fr->route.type->name, "Patient") && fr->route.id &&
		    !strcmp(fr->route.operation, "$everything")) {
			fhir_everything(fr);
			return;
		}
		fhir_send_error(fr, ERR_NOTIMPL, "Unknown or unsupported operation", NULL);
		return;
	default:
		fhir_send_error(fr, ERR_INTERNAL, NULL, NULL);
		return;
	}
}

/* 429 with Retry-After (RFC 6585 4) and an OperationOutcome naming the
 * setting that applies. */
static void fhir_throttled(fhir_req *fr, const char *diag, unsigned retry_s)
{
	fhir_send_error(fr, ERR_THROTTLED, diag, NULL);
	http_response_header(fr->resp, "Retry-After", http_limits_retry_after(fr->http->arena, retry_s));
}

static void fhir_handle_one(fhir_app *app, http_request *req, http_response *resp)
{
	fhir_req fr;
	auth_target target;
	unsigned retry_s = 0;
	int rc;

	memset(&fr, 0, sizeof fr);
	fr.app = app;
	fr.http = req;
	fr.resp = resp;

	if (req->pre_error) {
		/* name the setting, so that a client (or its operator) knows which */
		const char *diag = NULL;
		if (req->pre_error == ERR_TOOBIG)
			diag = "The request body is larger than this server accepts (max_body_bytes)";
		else if (req->pre_error == ERR_URITOOLONG)
			diag = "The request URL is longer than this server accepts (max_url_bytes, or over 256 parameters)";
		fhir_send_error(&fr, req->pre_error, diag, NULL);
		return;
	}
	/* Before the token is verified: an address flooding us with bad
	 * tokens is stopped before the RSA and revocation work. */
	if (!req->is_sub && http_limits_addr(app->limits, HTTP_LIMIT_API, req, &retry_s)) {
		fhir_throttled(&fr, "Too many requests from this address (rate_api_addr); retry later", retry_s);
		return;
	}
	rc = fhir_route_parse(app, req, &fr.route);
	if (rc) {
		fhir_send_error(&fr, rc, fhir_route_diag(rc), NULL);
		if (rc == ERR_METHOD && fr.route.allow)
			http_response_header(resp, "Allow", fr.route.allow);
		return;
	}
	rc = fhir_format_negotiate(&fr);
	if (rc) {
		fhir_send_error(&fr, rc, "Only JSON (application/fhir+json) is supported", NULL);
		return;
	}

	/* Authorization before any handler: see auth/auth.h. */
	target.interaction = fhir_auth_kind(fr.route.interaction);
	if (fr.route.interaction == FHIR_I_OPERATION && fr.route.operation &&
	    !strcmp(fr.route.operation, "$everything"))
		target.interaction = AUTH_I_SEARCH; /* a search of the patient's compartment */
	target.type = fr.route.type ? fr.route.type->name : NULL;
	/* Patient/[id]/AuditEvent searches the audit trail, not the patient:
	 * it needs the AuditEvent scope (auth_decide), not Patient's */
	if (fr.route.ctype && fhir_is_auditevent(&fr.route))
		target.type = "AuditEvent";
	target.id = fr.route.id;
	/* From here on every request is recorded, the refused ones too. */
	fr.audit.on = target.interaction != AUTH_I_PUBLIC;
	rc = auth_request_authorize(app->auth, req, &target, &fr.access);
	if (rc)
		fhir_send_error(&fr, rc, NULL, NULL);
	else if (!req->is_sub && http_limits_client(app->limits, HTTP_LIMIT_API, req, fr.access.client_id, &retry_s))
		fhir_throttled(&fr, "Too many requests from this application (rate_api_client); retry later", retry_s);
	else
		fhir_dispatch(&fr);
	fhir_audit_record(&fr);
}

void fhir_handle(void *appv, http_request *req, http_response *resp)
{
	fhir_app *app = appv;

	/* A Bundle's entries run inside their Bundle's budget. */
	if (req->is_sub) {
		fhir_handle_one(app, req, resp);
		return;
	}
	store_deadline_begin(app->store);
	fhir_handle_one(app, req, resp);
	store_deadline_end(app->store);
}
