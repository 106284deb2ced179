/*
 * auditlog.c - what the audit trail (audit/audit.h) records of a FHIR
 * request: fhir_handle() calls fhir_audit_record() once per request that
 * reached authorization, whatever the answer (so refusals are recorded
 * too); transactions add one record per entry they wrote.
 *
 * The request thread only gathers pointers to what it already has (the
 * access context, the route, the status, the peer address) and copies
 * them into the queue (audit_submit). The patient is taken from what is
 * known without work: the Patient the URL names, the compartment of a
 * compartment search or $everything, a patient/subject search parameter,
 * the patient a confined token is limited to. Otherwise, for a single
 * resource read or written by an unconfined token, the resource body goes
 * with the event and the audit writer finds its patient off the request
 * path (fhir_audit_patient_of); failing all that, the token's launch
 * patient, if any.
 *
 * Never recorded: tokens (they travel in a header the audit never reads),
 * request bodies, and the values of query parameters that carry secrets
 * (audit_query_secret) - a client that puts a token in a URL should not
 * have it copied into the audit trail as well.
 */
#include "fhir.h"

#include "audit/audit.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/url.h"
#include "search/extract.h"
#include "search/params.h"
#include "write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* restful-interaction code and AuditEvent.action of an interaction. */
static const char *alog_subtype(enum fhir_interaction i, char *action)
{
	*action = 'E';
	switch (i) {
	case FHIR_I_READ: *action = 'R'; return "read";
	case FHIR_I_VREAD: *action = 'R'; return "vread";
	case FHIR_I_CREATE: *action = 'C'; return "create";
	case FHIR_I_UPDATE: *action = 'U'; return "update";
	case FHIR_I_PATCH: *action = 'U'; return "patch";
	case FHIR_I_DELETE: *action = 'D'; return "delete";
	case FHIR_I_HISTORY_INSTANCE: *action = 'R'; return "history-instance";
	case FHIR_I_HISTORY_TYPE: return "history-type";
	case FHIR_I_HISTORY_SYSTEM: return "history-system";
	case FHIR_I_SEARCH_TYPE: return "search-type";
	case FHIR_I_SEARCH_SYSTEM: return "search-system";
	case FHIR_I_SEARCH_COMPARTMENT: return "search-type"; /* R4 has no search-compartment code */
	case FHIR_I_BATCH: return "batch";
	case FHIR_I_OPERATION: return "operation";
	default: return NULL;
	}
}

/* Parameters whose values are secrets wherever they appear (OAuth's;
 * RFC 6750 2.3 even allows access_token in a URL). Not "code": that is a
 * FHIR search parameter, and authorization codes never reach FHIR URLs. */
static int alog_secret(const char *name)
{
	static const char *const names[] = { "access_token", "refresh_token", "id_token", "client_secret",
					     "client_assertion", "password", "code_verifier", NULL };
	for (size_t i = 0; names[i]; i++)
		if (!strcasecmp(name, names[i]))
			return 1;
	return 0;
}

/* The query as the request carried it (re-encoded from the decoded
 * parameters: the same text for GET and the form of POST _search), with
 * secret values replaced. NULL when there are no parameters. */
static const char *alog_query(fhir_req *fr)
{
	const http_request *req = fr->http;
	http_param *body = NULL;
	size_t nb = 0;
	buf_t b;
	char *out = NULL, *q;
	size_t len;

	if (!strcmp(req->method, "POST") && req->body_len && (fr->route.interaction == FHIR_I_SEARCH_TYPE ||
							       fr->route.interaction == FHIR_I_SEARCH_SYSTEM ||
							       fr->route.interaction == FHIR_I_SEARCH_COMPARTMENT))
		http_query_parse(req->arena, req->body, req->body_len, HTTP_MAX_PARAMS, &body, &nb);
	if (req->nparams + nb == 0)
		return NULL;
	buf_init(&b, AUDIT_QUERY_MAX + 1024);
	for (size_t i = 0; i < req->nparams + nb; i++) {
		const http_param *p = i < req->nparams ? &req->params[i] : &body[i - req->nparams];
		if (i && buf_append_char(&b, '&'))
			break;
		if (http_url_encode(&b, p->name) || buf_append_char(&b, '=') ||
		    (alog_secret(p->name) ? buf_append_str(&b, "redacted") : http_url_encode(&b, p->value)))
			break; /* longer than the audit keeps: the rest is cut */
	}
	out = buf_detach(&b, &len);
	q = out ? arena_strdup(req->arena, out) : NULL;
	free(out);
	return q;
}

/* The patient a search names: patient=X, patient=Patient/X,
 * subject=Patient/X (one value), or Patient?_id=X. */
static const char *alog_search_patient(const fhir_req *fr)
{
	const http_request *req = fr->http;
	const char *t = fr->route.type ? fr->route.type->name : "";

	for (size_t i = 0; i < req->nparams; i++) {
		const char *n = req->params[i].name, *v = req->params[i].value;
		if (strchr(v, ','))
			continue;
		if ((!strcmp(n, "patient") || !strcmp(n, "subject") || !strcmp(n, "subject:Patient")) &&
		    !strncmp(v, "Patient/", 8) && v[8])
			return v + 8;
		if (!strcmp(n, "patient") && *v && !strchr(v, '/'))
			return v;
		if (!strcmp(t, "Patient") && !strcmp(n, "_id") && *v)
			return v;
	}
	return NULL;
}

/* The id a write answered with: the Location header's [type]/[id]. */
static const char *alog_location_id(fhir_req *fr, const char *type)
{
	for (unsigned i = 0; i < fr->resp->nheaders; i++) {
		const char *v, *p, *e;
		size_t tl = strlen(type);
		if (strcasecmp(fr->resp->hname[i], "Location") != 0)
			continue;
		v = fr->resp->hvalue[i];
		for (p = strstr(v, type); p; p = strstr(p + 1, type))
			if ((p == v || p[-1] == '/') && p[tl] == '/') {
				p += tl + 1;
				e = strchr(p, '/');
				return arena_strndup(fr->http->arena, p, e ? (size_t)(e - p) : strlen(p));
			}
	}
	return NULL;
}

/* The subject as a user: a person's sign-in, not a Backend Services
 * client acting as itself (its sub is its client_id). */
static const char *alog_subject(const auth_access *a)
{
	if (a->full || !a->client_id || !a->subject || !strcmp(a->subject, a->client_id))
		return NULL;
	return a->subject;
}

void fhir_audit_record(fhir_req *fr)
{
	const fhir_route *r = &fr->route;
	const auth_access *acc = &fr->access;
	const char *type = r->ctype ? r->ctype->name : r->type ? r->type->name : NULL;
	const char *patient = NULL;
	audit_event ev;
	int status = fr->resp->status;

	if (!fr->app->audit || !fr->audit.on)
		return;
	memset(&ev, 0, sizeof ev);
	ev.kind = AUDIT_REST;
	ev.subtype = alog_subtype(r->interaction, &ev.action);
	if (r->interaction == FHIR_I_OPERATION && r->operation && !strcmp(r->operation, "$everything"))
		ev.action = 'E';
	if (fr->audit.subtype)
		ev.subtype = fr->audit.subtype;
	ev.status = status;
	ev.outcome = -1;
	ev.client_id = acc->full ? NULL : acc->client_id;
	ev.subject = alog_subject(acc);
	ev.fhir_user = acc->fhir_user;
	ev.address = fr->http->peer_text;
	ev.entity_type = type;
	if (!r->ctype)
		ev.entity_id = r->id;
	if (!ev.entity_id && type && (r->interaction == FHIR_I_CREATE || r->interaction == FHIR_I_UPDATE))
		ev.entity_id = alog_location_id(fr, type); /* server-assigned or matched by criteria */
	if (r->interaction != FHIR_I_READ && r->interaction != FHIR_I_VREAD && r->interaction != FHIR_I_BATCH)
		ev.query = alog_query(fr);

	if (r->type && !strcmp(r->type->name, "Patient") && r->id)
		patient = r->id; /* Patient/X, its history, its compartment, $everything */
	if (!patient && (r->interaction == FHIR_I_SEARCH_TYPE || r->interaction == FHIR_I_SEARCH_COMPARTMENT))
		patient = alog_search_patient(fr);
	if (!patient)
		patient = acc->dec.patient;
	if (!patient && status >= 200 && status < 300 && fr->resp->body && type &&
	    (r->interaction == FHIR_I_READ || r->interaction == FHIR_I_VREAD || r->interaction == FHIR_I_CREATE ||
	     r->interaction == FHIR_I_UPDATE || r->interaction == FHIR_I_PATCH) &&
	    auth_type_in_compartment(type)) {
		ev.body = fr->resp->body;
		ev.body_len = fr->resp->body_len;
	}
	if (!patient && !ev.body)
		patient = acc->patient;
	ev.patient = patient;
	fr->http->audited = 1;
	audit_submit(fr->app->audit, &ev);
}

/* The Patient a version's index rows reference through one of its type's
 * compartment parameters (the first one), into out. */
static int alog_rows_patient(const char *type, const search_row *rows, size_t n, char *out, size_t cap)
{
	const char *const *codes = search_compartment_params(type);

	for (size_t i = 0; codes && i < n; i++) {
		const search_row *w = &rows[i];
		if (w->kind != SEARCH_ROW_REFERENCE || !w->sys || strcmp(w->sys, "Patient") != 0 || !w->code ||
		    !*w->code)
			continue;
		for (size_t c = 0; codes[c]; c++)
			if (!strcmp(codes[c], search_params[w->p].code)) {
				snprintf(out, cap, "%s", w->code);
				return 0;
			}
	}
	return ERR_NOTFOUND;
}

int fhir_audit_patient_of(const char *type, const char *body, size_t len, char *out, size_t cap)
{
	json_t *res;
	search_rows rows;
	const char *rt;
	int rc = ERR_NOTFOUND;

	if (!type || !*type)
		return ERR_NOTFOUND;
	res = json_loadb(body, len, 0, NULL);
	rt = json_string_value(json_object_get(res, "resourceType"));
	memset(&rows, 0, sizeof rows);
	/* only what the body really is (a response could be an outcome) */
	if (rt && !strcmp(rt, type)) {
		if (!strcmp(type, "Patient")) {
			const char *id = json_string_value(json_object_get(res, "id"));
			if (id) {
				snprintf(out, cap, "%s", id);
				rc = 0;
			}
		} else if (search_extract(type, res, NULL, &rows) == 0) {
			rc = alog_rows_patient(type, rows.v, rows.n, out, cap);
		}
	}
	search_rows_clear(&rows);
	json_decref(res);
	return rc;
}

void fhir_audit_tx_entry(fhir_req *fr, const store_op_t *op, int status)
{
	const auth_access *acc = &fr->access;
	audit_event ev;
	char patient[65];

	if (!fr->app->audit)
		return;
	memset(&ev, 0, sizeof ev);
	ev.kind = AUDIT_REST;
	ev.action = op->kind == STORE_OP_CREATE ? 'C' : op->kind == STORE_OP_DELETE ? 'D' : 'U';
	ev.subtype = op->kind == STORE_OP_CREATE ? "create" : op->kind == STORE_OP_DELETE ? "delete" : "update";
	ev.status = status;
	ev.outcome = -1;
	ev.client_id = acc->full ? NULL : acc->client_id;
	ev.subject = alog_subject(acc);
	ev.fhir_user = acc->fhir_user;
	ev.address = fr->http->peer_text;
	ev.entity_type = op->type;
	ev.entity_id = op->result.id[0] ? op->result.id : op->id;
	/* the rows written with the version already name its patient */
	if (op->guard_patient)
		ev.patient = op->guard_patient;
	else if (!strcmp(op->type, "Patient"))
		ev.patient = ev.entity_id;
	else if (alog_rows_patient(op->type, op->rows, op->nrows, patient, sizeof patient) == 0)
		ev.patient = patient;
	audit_submit(fr->app->audit, &ev);
}
