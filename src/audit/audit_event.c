/*
 * audit_event.c - an audit_event as a FHIR R4 AuditEvent, modelled on IHE
 * Basic Audit Log Patterns (BALP, profiles.ihe.net/ITI/BALP):
 *
 *   type       rest (audit-event-type) for FHIR interactions; DCM 110114
 *              "User Authentication" for logins and tokens
 *   subtype    restful-interaction code (read, vread, search-type, ...);
 *              DCM 110122 "Login"; for tokens IHE ITI-71 "Get Access
 *              Token" (issue, refresh) plus our own code (urn:fhird:audit)
 *   action     C R U D E; recorded; outcome 0/4/8/12 (+ outcomeDesc)
 *   agent      the user (fhirUser reference and/or the subject as an
 *              identifier in the issuer's namespace, requestor), the client
 *              (client_id as an identifier, the source IP as
 *              network.address; requestor when no user), this server
 *   source     observer = this server (its base URL)
 *   entity     the resource (what = Type/id, role 4 Domain Resource), or
 *              the query of a search (role 24 Query, query = base64 of the
 *              query string), and the patient (role 1 Patient) when known
 *
 * Deviation from BALP, on purpose: entity.type of the data and query
 * entities is the resource type (system http://hl7.org/fhir/resource-types,
 * which R4's AuditEventEntityType value set includes) instead of
 * audit-entity-type#2, so that the entity-type search parameter finds
 * "every access to Observations".
 *
 * Nothing here may carry a secret: events never hold tokens, codes or
 * passwords (audit.h), and the query is what the client put in its URL.
 */
#include "audit.h"

#include "core/err.h"
#include "core/valid.h"

#include <jansson.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_EVENT_TYPE "http://terminology.hl7.org/CodeSystem/audit-event-type"
#define CS_REST "http://hl7.org/fhir/restful-interaction"
#define CS_DCM "http://dicom.nema.org/resources/ontology/DCM"
#define CS_IHE_EVENT "urn:ihe:event-type-code"
#define CS_PARTICIPATION "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
#define CS_SOURCE_TYPE "http://terminology.hl7.org/CodeSystem/security-source-type"
#define CS_ENTITY_TYPE "http://terminology.hl7.org/CodeSystem/audit-entity-type"
#define CS_OBJECT_ROLE "http://terminology.hl7.org/CodeSystem/object-role"
#define CS_RESOURCE_TYPES "http://hl7.org/fhir/resource-types"

static json_t *ae_coding(const char *system, const char *code, const char *display)
{
	json_t *c = json_object();
	json_object_set_new(c, "system", json_string(system));
	json_object_set_new(c, "code", json_string(code));
	if (display)
		json_object_set_new(c, "display", json_string(display));
	return c;
}

static json_t *ae_concept(json_t *coding)
{
	json_t *c = json_object(), *a = json_array();
	json_array_append_new(a, coding);
	json_object_set_new(c, "coding", a);
	return c;
}

static int ae_set(const char *s)
{
	return s && *s;
}

/* A FHIR reference "Type/id" (fhirUser may also be an absolute URL, which
 * is kept as it is). */
static int ae_is_reference(const char *s)
{
	const char *slash = ae_set(s) ? strchr(s, '/') : NULL;
	return slash && slash != s && slash[1];
}

static json_t *ae_query_b64(const char *q)
{
	size_t n = strlen(q), cap = BASE64_ENCODE_RAW_LENGTH(n) + 1;
	char *b = malloc(cap);
	json_t *v;

	if (!b)
		return NULL;
	/* FHIR base64Binary: RFC 4648 base64 with padding */
	base64_encode_raw(b, n, (const uint8_t *)q);
	b[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
	v = json_string(b);
	free(b);
	return v;
}

static json_t *ae_agents(const char *base_url, const char *issuer, const audit_event *ev)
{
	json_t *agents = json_array(), *a, *who, *net;
	int has_user = ae_set(ev->subject) || ae_set(ev->fhir_user);
	int writes = ev->action == 'C' || ev->action == 'U' || ev->action == 'D';

	if (has_user) {
		/* BALP agent "user": the person on whose behalf the client acts */
		a = json_object();
		json_object_set_new(a, "type", ae_concept(writes ? ae_coding(CS_PARTICIPATION, "AUT", "author")
								 : ae_coding(CS_PARTICIPATION, "IRCP",
									     "information recipient")));
		who = json_object();
		if (ae_is_reference(ev->fhir_user))
			json_object_set_new(who, "reference", json_string(ev->fhir_user));
		if (ae_set(ev->subject))
			json_object_set_new(who, "identifier",
					    json_pack("{ss ss}", "system", issuer, "value", ev->subject));
		json_object_set_new(a, "who", who);
		json_object_set_new(a, "requestor", json_true());
		json_array_append_new(agents, a);
	}
	/* BALP agent "client": the application, at the address it came from */
	a = json_object();
	json_object_set_new(a, "type", ae_concept(ae_coding(CS_DCM, "110153", "Source Role ID")));
	if (ae_set(ev->client_id))
		json_object_set_new(a, "who",
				    json_pack("{s{ss ss}}", "identifier", "system", issuer, "value", ev->client_id));
	json_object_set_new(a, "requestor", json_boolean(!has_user));
	if (ae_set(ev->address)) {
		net = json_pack("{ss ss}", "address", ev->address, "type", "2"); /* 2: IP address */
		json_object_set_new(a, "network", net);
	}
	json_array_append_new(agents, a);
	/* BALP agent "server": this server, named by its base URL */
	a = json_object();
	json_object_set_new(a, "type", ae_concept(ae_coding(CS_DCM, "110152", "Destination Role ID")));
	json_object_set_new(a, "who", json_pack("{s{ss} ss}", "identifier", "value", base_url, "display", "fhird"));
	json_object_set_new(a, "requestor", json_false());
	json_object_set_new(a, "network", json_pack("{ss ss}", "address", base_url, "type", "5")); /* 5: URI */
	json_array_append_new(agents, a);
	return agents;
}

static json_t *ae_entities(const audit_event *ev)
{
	json_t *ents = json_array(), *e;

	if (ae_set(ev->entity_type) && (ae_set(ev->entity_id) || !ev->query)) {
		/* BALP entity "data": the resource (or, without an id, the type) */
		e = json_object();
		if (ae_set(ev->entity_id)) {
			char *ref = malloc(strlen(ev->entity_type) + strlen(ev->entity_id) + 2);
			if (ref) {
				snprintf(ref, strlen(ev->entity_type) + strlen(ev->entity_id) + 2, "%s/%s",
					 ev->entity_type, ev->entity_id);
				json_object_set_new(e, "what", json_pack("{ss}", "reference", ref));
				free(ref);
			}
		}
		json_object_set_new(e, "type", ae_coding(CS_RESOURCE_TYPES, ev->entity_type, NULL));
		json_object_set_new(e, "role", ae_coding(CS_OBJECT_ROLE, "4", "Domain Resource"));
		json_array_append_new(ents, e);
	}
	if (ev->query) {
		/* BALP entity "query": what was asked, as the client wrote it */
		e = json_object();
		if (ae_set(ev->entity_type))
			json_object_set_new(e, "type", ae_coding(CS_RESOURCE_TYPES, ev->entity_type, NULL));
		json_object_set_new(e, "role", ae_coding(CS_OBJECT_ROLE, "24", "Query"));
		json_object_set_new(e, "query", ae_query_b64(ev->query));
		json_array_append_new(ents, e);
	}
	if (ae_set(ev->patient)) {
		/* BALP entity "patient" */
		char ref[80];
		snprintf(ref, sizeof ref, "Patient/%s", ev->patient);
		e = json_object();
		json_object_set_new(e, "what", json_pack("{ss}", "reference", ref));
		json_object_set_new(e, "type", ae_coding(CS_ENTITY_TYPE, "1", "Person"));
		json_object_set_new(e, "role", ae_coding(CS_OBJECT_ROLE, "1", "Patient"));
		json_array_append_new(ents, e);
	}
	return ents;
}

static void ae_copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
	valid_utf8_trim(dst); /* a cut may split a character */
}

int audit_render(const char *base_url, const char *issuer, int64_t recorded_us, const audit_event *ev,
		 store_audit_rec *out)
{
	json_t *o = json_object(), *sub = json_array(), *ents;
	char when[40], desc[64];
	const char *subcode = "";
	int outcome = ev->outcome >= 0 ? ev->outcome : audit_outcome_of(ev->status);
	int rc = ERR_NOMEM;

	memset(out, 0, sizeof *out);
	if (!o || !sub)
		goto out;
	valid_instant_format(recorded_us, when);
	json_object_set_new(o, "resourceType", json_string("AuditEvent"));
	switch (ev->kind) {
	case AUDIT_LOGIN:
		json_object_set_new(o, "type", ae_coding(CS_DCM, "110114", "User Authentication"));
		json_array_append_new(sub, ae_coding(CS_DCM, "110122", "Login"));
		subcode = "110122";
		break;
	case AUDIT_TOKEN:
		json_object_set_new(o, "type", ae_coding(CS_DCM, "110114", "User Authentication"));
		subcode = ev->subtype ? ev->subtype : "";
		if (strcmp(subcode, AUDIT_TOKEN_REVOKE) != 0)
			json_array_append_new(sub, ae_coding(CS_IHE_EVENT, "ITI-71", "Get Access Token"));
		if (*subcode)
			json_array_append_new(sub, ae_coding(AUDIT_CS_FHIRD, subcode, NULL));
		break;
	default:
		json_object_set_new(o, "type", ae_coding(CS_EVENT_TYPE, "rest", "Restful Operation"));
		subcode = ev->subtype ? ev->subtype : "";
		if (*subcode)
			json_array_append_new(sub, ae_coding(CS_REST, subcode, NULL));
		break;
	}
	if (json_array_size(sub))
		json_object_set(o, "subtype", sub);
	if (ev->action)
		json_object_set_new(o, "action", json_stringn(&ev->action, 1));
	json_object_set_new(o, "recorded", json_string(when));
	snprintf(desc, sizeof desc, "%d", outcome);
	json_object_set_new(o, "outcome", json_string(desc));
	if (outcome != 0) {
		if (ae_set(ev->outcome_desc))
			json_object_set_new(o, "outcomeDesc", json_string(ev->outcome_desc));
		else if (ev->status) {
			snprintf(desc, sizeof desc, "HTTP %d", ev->status);
			json_object_set_new(o, "outcomeDesc", json_string(desc));
		}
	}
	json_object_set_new(o, "agent", ae_agents(base_url, issuer, ev));
	json_object_set_new(o, "source",
			    json_pack("{s{s{ss} ss} s[{ss ss ss}]}", "observer", "identifier", "value", base_url,
				      "display", "fhird", "type", "system", CS_SOURCE_TYPE, "code", "4", "display",
				      "Application Server"));
	ents = ae_entities(ev);
	if (json_array_size(ents))
		json_object_set_new(o, "entity", ents);
	else
		json_decref(ents);

	out->body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!out->body)
		goto out;
	out->body_len = strlen(out->body);
	out->recorded_us = recorded_us;
	out->outcome = outcome;
	out->action[0] = ev->action ? ev->action : 'E';
	ae_copy(out->subtype, sizeof out->subtype, subcode);
	ae_copy(out->client_id, sizeof out->client_id, ev->client_id);
	ae_copy(out->user, sizeof out->user, ae_set(ev->fhir_user) ? ev->fhir_user : ev->subject);
	ae_copy(out->patient, sizeof out->patient, ev->patient);
	ae_copy(out->entity_type, sizeof out->entity_type, ev->entity_type);
	ae_copy(out->entity_id, sizeof out->entity_id, ev->entity_id);
	ae_copy(out->address, sizeof out->address, ev->address);
	rc = 0;
out:
	json_decref(sub);
	json_decref(o);
	return rc;
}

#define AE_PREFIX "{\"resourceType\":\"AuditEvent\","

int audit_record_json(const store_audit_rec *r, char **out, size_t *len)
{
	char when[40], mid[160];
	size_t pl = sizeof AE_PREFIX - 1, ml, n;
	char *b;

	*out = NULL;
	if (!r->body || r->body_len <= pl || memcmp(r->body, AE_PREFIX, pl) != 0)
		return ERR_INTERNAL;
	valid_instant_format(r->recorded_us, when);
	/* the id is the chain position; an AuditEvent never changes, so its
	 * only version is 1 and it was last updated when it was recorded */
	ml = (size_t)snprintf(mid, sizeof mid, "\"id\":\"%lld\",\"meta\":{\"versionId\":\"1\",\"lastUpdated\":\"%s\"},",
			      (long long)r->seq, when);
	if (ml >= sizeof mid)
		return ERR_INTERNAL;
	n = r->body_len + ml;
	b = malloc(n + 1);
	if (!b)
		return ERR_NOMEM;
	memcpy(b, r->body, pl);
	memcpy(b + pl, mid, ml);
	memcpy(b + pl + ml, r->body + pl, r->body_len - pl);
	b[n] = '\0';
	*out = b;
	*len = n;
	return 0;
}
