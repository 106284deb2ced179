/*
 * auth.c - see auth.h. One place where every FHIR request is authorized:
 * the bearer token is verified (token.c: signature, claims, revocation on
 * every call), its scopes are parsed into the request arena, and the
 * (type, letter) of the request is decided. The decision says whether the
 * access is confined to a patient's compartment; handlers turn that into
 * conditions of their queries and writes.
 *
 * Which rules confine (SMART 2.2 scopes-and-launch-context):
 *   patient/ rules  -> the token's patient context (no context: they
 *                      grant nothing)
 *   user/ rules     -> unconfined for a Practitioner-like user; confined
 *                      to the patient when the user's fhirUser is a
 *                      Patient (a patient never sees other patients as a
 *                      "user" either)
 *   system/ rules   -> unconfined (only Backend Services get them)
 * When several rules grant the same (type, letter), an unconfining one
 * wins. For a confined decision on a type outside the Patient
 * compartment, only reading shared, non-patient types is allowed
 * (auth_shared_types below); writing them, or touching any other type
 * (Group lists patients, Person links them), is refused.
 */
#include "auth.h"

#include "auth/external.h"
#include "auth/scope.h"
#include "auth/token.h"
#include "core/err.h"
#include "core/log.h"
#include "search/params.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct auth {
	const config_t *cfg;
	auth_tokens *tokens;   /* smart: our own tokens */
	auth_external *ext;    /* external: another server's */
};

/* Types a patient-confined token may read although they are not in the
 * Patient compartment: definitions and directory entries that carry no
 * patient's data, and that US Core apps need to render what they read
 * (Medication of a MedicationRequest, the Practitioner of an Encounter). */
static const char *const auth_shared_types[] = {
	"Medication", "MedicationKnowledge", "Substance", "Practitioner", "PractitionerRole", "Organization",
	"Location", "HealthcareService", "Endpoint", "ValueSet", "CodeSystem", "ConceptMap", "StructureDefinition",
	"SearchParameter", "OperationDefinition", "Questionnaire", "PlanDefinition", "ActivityDefinition", "Library",
	"DeviceDefinition", "ObservationDefinition", "SpecimenDefinition", NULL
};

static int auth_is_shared(const char *type)
{
	for (size_t i = 0; auth_shared_types[i]; i++)
		if (!strcmp(auth_shared_types[i], type))
			return 1;
	return 0;
}

int auth_type_in_compartment(const char *type)
{
	return !strcmp(type, "Patient") || search_compartment_params(type) != NULL;
}

int auth_new(const config_t *cfg, struct auth_tokens *tokens, struct auth_external *ext, auth_t **out)
{
	auth_t *a;
	if ((cfg->auth == CONFIG_AUTH_SMART && !tokens) || (cfg->auth == CONFIG_AUTH_EXTERNAL && !ext))
		return ERR_INVALID;
	a = calloc(1, sizeof *a);
	if (!a)
		return ERR_NOMEM;
	a->cfg = cfg;
	a->tokens = tokens;
	a->ext = ext;
	*out = a;
	return 0;
}

void auth_free(auth_t *a)
{
	free(a);
}

static unsigned auth_letter(enum auth_interaction i)
{
	switch (i) {
	case AUTH_I_READ: return SCOPE_R;
	case AUTH_I_SEARCH: return SCOPE_S;
	case AUTH_I_CREATE: return SCOPE_C;
	case AUTH_I_UPDATE: return SCOPE_U;
	case AUTH_I_DELETE: return SCOPE_D;
	default: return 0;
	}
}

/* A deep copy of s in the arena, so the set dies with the request. */
static scope_set *auth_scopes_copy(arena_t *a, const scope_set *s)
{
	scope_set *c = arena_calloc(a, 1, sizeof *c);
	if (!c)
		return NULL;
	c->flags = s->flags;
	if (s->nrules) {
		c->rules = arena_calloc(a, s->nrules, sizeof *c->rules);
		if (!c->rules)
			return NULL;
		for (size_t i = 0; i < s->nrules; i++) {
			c->rules[i] = s->rules[i];
			c->rules[i].query = NULL;
			if (s->rules[i].query && !(c->rules[i].query = arena_strdup(a, s->rules[i].query)))
				return NULL;
		}
		c->nrules = s->nrules;
	}
	return c; /* other scopes grant nothing: not copied */
}

/* The patient id of a fhirUser "Patient/x", or NULL. */
static const char *auth_user_patient(const auth_access *acc)
{
	if (acc->fhir_user && !strncmp(acc->fhir_user, "Patient/", 8) && acc->fhir_user[8])
		return acc->fhir_user + 8;
	return NULL;
}

/* AuditEvent (issue 6): the audit trail is for auditors. Only a system/
 * rule that names AuditEvent itself grants it - never a wildcard
 * (system/[*].rs means "all the data", not "who looked at it"), never a
 * patient/ or user/ rule (the trail of accesses to a record is not that
 * record's data), never a granular one - and only read and search: the
 * trail is written by the server alone. */
static int auth_decide_auditevent(const auth_access *acc, unsigned letter)
{
	const scope_set *s = acc->scopes;

	if (letter != SCOPE_R && letter != SCOPE_S)
		return ERR_FORBIDDEN;
	for (size_t i = 0; i < s->nrules; i++) {
		const scope_rule *r = &s->rules[i];
		if (r->ctx == SCOPE_SYSTEM && !strcmp(r->type, "AuditEvent") && (r->perms & letter) && !r->query)
			return 0; /* unconfined, unconstrained: out stays zeroed */
	}
	return ERR_FORBIDDEN;
}

int auth_decide(const auth_access *acc, arena_t *a, const char *type, unsigned letter, auth_decision *out)
{
	const scope_rule *rules[64];
	const char **cons;
	size_t n, ncons = 0;
	const char *confine = NULL;
	int unconfined = 0, unconstrained = 0, confined_ok = 0;

	memset(out, 0, sizeof *out);
	if (acc->full)
		return 0;
	if (!acc->scopes || !type)
		return ERR_FORBIDDEN;
	if (!strcmp(type, "AuditEvent"))
		return auth_decide_auditevent(acc, letter);
	n = scope_match(acc->scopes, type, letter, SCOPE_PATIENT | SCOPE_USER | SCOPE_SYSTEM, rules, 64);
	if (n > 64)
		n = 64;
	cons = arena_calloc(a, n + 1, sizeof *cons);
	if (!cons)
		return ERR_NOMEM;
	/* First pass: is any granting rule unconfined? Then only those count. */
	for (size_t i = 0; i < n; i++) {
		const scope_rule *r = rules[i];
		if (r->ctx == SCOPE_SYSTEM || (r->ctx == SCOPE_USER && !auth_user_patient(acc)))
			unconfined = 1;
	}
	for (size_t i = 0; i < n; i++) {
		const scope_rule *r = rules[i];
		const char *p = NULL;
		int unc = r->ctx == SCOPE_SYSTEM || (r->ctx == SCOPE_USER && !auth_user_patient(acc));
		if (unconfined != unc)
			continue;
		if (!unc) {
			p = r->ctx == SCOPE_PATIENT ? acc->patient : auth_user_patient(acc);
			if (!p || !*p)
				continue; /* patient/ scope without a patient context grants nothing */
			if (confine && strcmp(confine, p) != 0)
				continue; /* one patient per decision: the first one found */
			confine = p;
			confined_ok = 1;
		}
		if (!r->query)
			unconstrained = 1;
		else
			cons[ncons++] = r->query;
	}
	if (!unconfined && !confined_ok)
		return ERR_FORBIDDEN;
	if (!unconstrained && ncons) {
		out->constraints = cons;
		out->nconstraints = ncons;
	}
	if (unconfined)
		return 0;
	if (auth_type_in_compartment(type)) {
		out->patient = confine;
		return 0;
	}
	/* Confined, and the type has no patient compartment. */
	if ((letter == SCOPE_R || letter == SCOPE_S) && auth_is_shared(type)) {
		out->shared = 1;
		return 0;
	}
	return ERR_FORBIDDEN;
}

/* "Bearer <token>" (RFC 6750 2.1; the scheme is case-insensitive). */
static const char *auth_bearer(const http_request *req)
{
	const char *h = http_request_header(req, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

int auth_request_authorize(const auth_t *a, const http_request *req, const auth_target *target, auth_access *out)
{
	auth_claims c;
	scope_set set;
	const char *tok, *why = NULL;
	unsigned letter;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&c, 0, sizeof c);
	memset(&set, 0, sizeof set);
	out->subject = "anonymous";
	if (target->interaction == AUTH_I_PUBLIC)
		return 0;
	if (a->cfg->auth == CONFIG_AUTH_OFF) {
		out->full = 1;
		out->subject = "auth-off";
		return 0;
	}
	tok = auth_bearer(req);
	if (!tok)
		return ERR_UNAUTHORIZED;
	if (a->cfg->auth == CONFIG_AUTH_EXTERNAL)
		rc = auth_external_verify(a->ext, tok, &c, &why);
	else
		rc = auth_token_verify(a->tokens, tok, &c, &why);
	if (rc) {
		if (rc == ERR_UNAUTHORIZED)
			log_info("msg=\"token refused\" why=\"%s\"", why ? why : "-");
		else
			log_error("msg=\"token check failed\" err=%s", err_name(rc));
		rc = rc == ERR_UNAUTHORIZED ? ERR_UNAUTHORIZED : ERR_BUSY; /* fail closed, retryable */
		goto out;
	}
	/* Our own tokens' scopes parse; another server's may not (a
	 * malformed resource scope): refuse rather than guess. Scopes we do
	 * not know are kept aside and grant nothing. */
	if (scope_parse(c.scope ? c.scope : "", &set)) {
		rc = ERR_UNAUTHORIZED;
		goto out;
	}
	out->scopes = auth_scopes_copy(req->arena, &set);
	out->client_id = arena_strdup(req->arena, c.client_id);
	out->subject = arena_strdup(req->arena, *c.sub ? c.sub : c.client_id);
	out->fhir_user = *c.fhir_user ? arena_strdup(req->arena, c.fhir_user) : NULL;
	out->patient = *c.patient ? arena_strdup(req->arena, c.patient) : NULL;
	out->encounter = *c.encounter ? arena_strdup(req->arena, c.encounter) : NULL;
	out->jti = arena_strdup(req->arena, c.jti);
	if (!out->scopes || !out->client_id || !out->subject || !out->jti) {
		rc = ERR_TOOBIG;
		goto out;
	}
	letter = auth_letter(target->interaction);
	if (!letter || !target->type) {
		/* System-level work (batch, transaction, system search/history):
		 * the token is valid; what each part does is decided by its
		 * handler through auth_decide. */
		rc = 0;
		goto out;
	}
	rc = auth_decide(out, req->arena, target->type, letter, &out->dec);
out:
	scope_set_fini(&set);
	auth_claims_fini(&c);
	return rc;
}

const char *auth_challenge(const auth_t *a, const http_request *req)
{
	/* RFC 6750 3.1: error="invalid_token" when a token was presented. */
	if (req && http_request_header(req, "Authorization"))
		return "Bearer realm=\"fhird\", error=\"invalid_token\"";
	return "Bearer realm=\"fhird\"";
}
