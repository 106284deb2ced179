/*
 * access.c - the authorization decision (auth.h) turned into conditions of
 * what a handler selects or writes. The decision for the request's own
 * target arrives in fr->access.dec; anything else a handler touches (an
 * included resource, a Bundle entry's type) is decided here again, so
 * there is one set of rules.
 *
 * What "confined to a patient" means for each route to data:
 *   read/vread/history  the version must be in the patient's compartment,
 *                       by that version's own references (the index rows
 *                       of a current version; the index keeps no rows of
 *                       older ones, whose body is read instead); else 404,
 *                       the same answer as for an id that does not exist,
 *                       so a patient cannot probe other patients' ids
 *                       (Patient/[other] is refused with 403 from the URL
 *                       alone, without a lookup).
 *   search              a compartment search on the patient (store_search
 *                       comp_id): the restriction is part of the SQL.
 *   create/update/...   the new version must reference the patient through
 *                       one of its type's compartment parameters, and the
 *                       version it replaces must be in the compartment -
 *                       checked by the writer inside the transaction
 *                       (store_op.guard_patient); conditional criteria only
 *                       match inside the compartment (store_cond.comp_id).
 * v2 granular constraints (patient/Observation.rs?category=...) are search
 * parameters: a read must match one of them (a search on _id plus the
 * constraint), a search gets them as extra clauses (search.c).
 */
#include "fhir.h"

#include "auth/scope.h"
#include "core/err.h"
#include "search/extract.h"
#include "search/params.h"
#include "write.h"

#include <jansson.h>

#include <stdio.h>
#include <string.h>

/* 1 when v matches one of the constraints (search on its type: _id=id&c). */
static int access_matches_constraint(fhir_req *fr, const store_version_t *v, const auth_decision *d, int *yes)
{
	search_limits lim = { .max_clauses = 64, .max_values = 100, .max_chain_depth = 2, .max_includes = 0,
			      .count_default = 1, .count_max = 1, .strict = 1 };
	*yes = 0;
	lim.base = fr->app->cfg->base_url;
	for (size_t i = 0; i < d->nconstraints && !*yes; i++) {
		const char *qs = arena_printf(fr->http->arena, "_id=%s&%s", v->id, d->constraints[i]);
		search_query q;
		store_search_q sq;
		store_search_page page;
		char why[128];
		int rc;

		if (!qs)
			return ERR_TOOBIG;
		memset(&q, 0, sizeof q);
		/* A constraint that does not parse for this type matches nothing. */
		if (search_query_parse(fr->http->arena, v->type, qs, strlen(qs), &lim, &q, why, sizeof why))
			continue;
		memset(&sq, 0, sizeof sq);
		memset(&page, 0, sizeof page);
		sq.q = &q;
		sq.count = 1;
		rc = store_search(fr->app->store, &sq, &page, why, sizeof why);
		if (rc)
			return rc;
		*yes = page.n > 0;
		store_search_page_clear(&page);
	}
	return 0;
}

/* What index rows say of patient: *mine, they reference Patient/patient
 * through one of type's compartment parameters; *other, some reference
 * (through any parameter) names another Patient. */
static void access_rows_patients(const char *type, const search_rows *rows, const char *patient, int *mine,
				 int *other)
{
	const char *const *codes = search_compartment_params(type);

	*mine = *other = 0;
	for (size_t i = 0; codes && i < rows->n; i++) {
		const search_row *w = &rows->v[i];
		const search_param *p = &search_params[w->p];
		if (w->kind != SEARCH_ROW_REFERENCE || !w->sys || strcmp(w->sys, "Patient") != 0 || !w->code)
			continue;
		if (strcmp(w->code, patient) != 0) {
			*other = 1;
			continue;
		}
		for (size_t c = 0; codes[c] && !*mine; c++)
			*mine = !strcmp(codes[c], p->code);
	}
}

/* Compartment membership of version v: its index rows while it is the
 * current version; an older version has none (the index holds current,
 * live versions only), so its stored body is extracted again - the same
 * rows its index held when it was current. */
static int access_member(fhir_req *fr, const store_version_t *v, const char *patient, int *yes)
{
	search_rows rows = { 0 };
	json_t *res;
	int rc;

	*yes = 0;
	rc = store_compartment_member(fr->app->store, v->type, v->seq, patient, yes);
	if (rc || *yes || !v->body)
		return rc;
	res = json_loadb(v->body, v->body_len, 0, NULL);
	if (!res)
		return ERR_INTERNAL;
	rc = search_extract(v->type, res, fr->app->cfg->base_url, &rows);
	if (!rc) {
		int other;
		/* a member whatever else it references */
		access_rows_patients(v->type, &rows, patient, yes, &other);
	}
	search_rows_clear(&rows);
	json_decref(res);
	return rc;
}

int fhir_access_see(fhir_req *fr, const store_version_t *v, unsigned letter)
{
	auth_decision d;
	int rc, yes = 0;

	if (fr->access.full)
		return 0;
	rc = auth_decide(&fr->access, fr->http->arena, v->type, letter, &d);
	if (rc)
		return rc;
	if (d.patient) {
		if (v->deleted)
			return ERR_NOTFOUND;
		if (!strcmp(v->type, "Patient")) {
			if (strcmp(v->id, d.patient) != 0)
				return ERR_NOTFOUND;
		} else {
			rc = access_member(fr, v, d.patient, &yes);
			if (rc)
				return rc;
			if (!yes)
				return ERR_NOTFOUND;
		}
	}
	if (d.nconstraints) {
		rc = access_matches_constraint(fr, v, &d, &yes);
		if (rc)
			return rc;
		if (!yes)
			return ERR_FORBIDDEN;
	}
	return 0;
}

int fhir_access_url(fhir_req *fr)
{
	const auth_decision *d = &fr->access.dec;
	if (fr->access.full || !d->patient || !fr->route.type || !fr->route.id)
		return 0;
	if (!strcmp(fr->route.type->name, "Patient") && strcmp(fr->route.id, d->patient) != 0)
		return ERR_FORBIDDEN;
	return 0;
}

/* 1 when rows reference Patient/patient through one of type's compartment
 * parameters AND name no other patient through any reference: a confined
 * writer may not put another patient's reference anywhere in a resource
 * (subject A with performer B would place it in B's compartment too). */
static int access_rows_in_compartment(const char *type, const search_rows *rows, const char *patient)
{
	int mine, other;

	access_rows_patients(type, rows, patient, &mine, &other);
	return mine && !other;
}

int fhir_access_write(fhir_req *fr, const char *type, unsigned letter, fhir_write *w, store_op_t *op,
		      store_cond *cond, const char **diag)
{
	auth_decision d;
	int rc;

	*diag = NULL;
	if (fr->access.full)
		return 0;
	rc = auth_decide(&fr->access, fr->http->arena, type, letter, &d);
	if (rc) {
		*diag = "The access token does not allow this interaction on this resource type";
		return rc;
	}
	if (d.nconstraints) {
		/* Writing under a granular scope would need the new and the old
		 * version checked against the constraint; not supported yet. */
		*diag = "Writes under granular (constrained) scopes are not supported";
		return ERR_FORBIDDEN;
	}
	if (!d.patient)
		return 0;
	if (!strcmp(type, "Patient")) {
		/* The patient's own record only: never a new Patient, never
		 * another one, never by criteria. */
		if (letter == SCOPE_C || !op->id || strcmp(op->id, d.patient) != 0 || op->cond) {
			*diag = "A patient-confined token may only change its own Patient resource";
			return ERR_FORBIDDEN;
		}
	} else if (w && letter != SCOPE_D && !access_rows_in_compartment(type, &w->rows, d.patient)) {
		*diag = "The resource must belong to the patient of the access token";
		return ERR_FORBIDDEN;
	}
	op->guard_patient = d.patient;
	if (cond)
		cond->comp_id = d.patient;
	return 0;
}
