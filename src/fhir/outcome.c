/*
 * outcome.c - OperationOutcome responses (hl7.org/fhir/R4/operationoutcome.html).
 * Every error a client sees is built here from the err.h table, so the
 * status and issue.code always agree, and the text is either the table's
 * generic message or a diagnostic the caller vouches is client-safe.
 */
#include "fhir.h"

#include "core/err.h"

#include <string.h>

json_t *fhir_outcome_new(const char *severity, const char *code, const char *diag, const char *expr)
{
	json_t *oo = json_object(), *issues = json_array(), *issue = json_object();

	if (!oo || !issues || !issue)
		goto fail;
	json_object_set_new(oo, "resourceType", json_string("OperationOutcome"));
	json_object_set_new(issue, "severity", json_string(severity));
	json_object_set_new(issue, "code", json_string(code));
	if (diag)
		json_object_set_new(issue, "diagnostics", json_string(diag));
	if (expr) {
		json_t *e = json_array();
		json_array_append_new(e, json_string(expr));
		json_object_set_new(issue, "expression", e);
	}
	json_array_append_new(issues, issue);
	json_object_set_new(oo, "issue", issues);
	return oo;
fail:
	json_decref(oo);
	json_decref(issues);
	json_decref(issue);
	return NULL;
}

void fhir_send_error(fhir_req *fr, int err, const char *diag, const char *expr)
{
	int status = err_http_status(err);
	json_t *oo = fhir_outcome_new(status >= 500 ? "fatal" : "error", err_issue_code(err),
				      diag ? diag : err_message(err), expr);

	if (err == ERR_UNAUTHORIZED)
		http_response_header(fr->resp, "WWW-Authenticate", auth_challenge(fr->app->auth, fr->http));
	if (!oo) {
		fr->resp->status = status;
		return;
	}
	fhir_send_json(fr, status, oo);
	json_decref(oo);
}
