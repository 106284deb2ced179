/*
 * audit_event.c - an event becomes a record (audit_fill, on the writer
 * thread: fixed fields, the facts only) and a record becomes a FHIR R4
 * AuditEvent when it is read (audit_record_json), modelled on IHE Basic
 * Audit Log Patterns (BALP, profiles.ihe.net/ITI/BALP):
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

#include "core/buf.h"
#include "core/err.h"
#include "core/valid.h"

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

/* The JSON is written as text into a buffer, not built as a jansson tree:
 * this runs once per request on the one writer thread, and a tree of
 * forty small objects costs several times what the text does. */
struct ae_w {
	buf_t b;
	int err;
};

static void w_raw(struct ae_w *w, const char *s)
{
	if (!w->err)
		w->err = buf_append_str(&w->b, s);
}

/* A JSON string: '"' and '\' escaped, control characters as \u00XX (the
 * queue already replaced them, this keeps the output valid regardless). */
static void w_str(struct ae_w *w, const char *s)
{
	const char *run = s;

	w_raw(w, "\"");
	for (; *s && !w->err; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		w->err = buf_append(&w->b, run, (size_t)(s - run));
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof esc, "\\%c", c);
		else
			snprintf(esc, sizeof esc, "\\u%04x", c);
		w_raw(w, esc);
		run = s + 1;
	}
	if (!w->err)
		w->err = buf_append(&w->b, run, (size_t)(s - run));
	w_raw(w, "\"");
}

/* "name":"value" after a comma (first member: comma = 0). */
static void w_member(struct ae_w *w, int comma, const char *name, const char *value)
{
	w_raw(w, comma ? ",\"" : "\"");
	w_raw(w, name);
	w_raw(w, "\":");
	w_str(w, value);
}

static void w_coding(struct ae_w *w, const char *system, const char *code, const char *display)
{
	w_raw(w, "{");
	w_member(w, 0, "system", system);
	w_member(w, 1, "code", code);
	if (display)
		w_member(w, 1, "display", display);
	w_raw(w, "}");
}

static void w_concept(struct ae_w *w, const char *system, const char *code, const char *display)
{
	w_raw(w, "{\"coding\":[");
	w_coding(w, system, code, display);
	w_raw(w, "]}");
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

static void w_query_b64(struct ae_w *w, const char *q)
{
	size_t n = strlen(q), len = BASE64_ENCODE_RAW_LENGTH(n);
	char *b = malloc(len + 1);

	if (!b) {
		w->err = ERR_NOMEM;
		return;
	}
	/* FHIR base64Binary: RFC 4648 base64 with padding */
	base64_encode_raw(b, n, (const uint8_t *)q);
	b[len] = '\0';
	w_raw(w, ",\"query\":\"");
	w_raw(w, b);
	w_raw(w, "\"");
	free(b);
}

/* "Type/id" as a JSON string. */
static void w_ref(struct ae_w *w, const char *type, const char *id)
{
	size_t n = strlen(type) + strlen(id) + 2;
	char *ref = malloc(n);

	if (!ref) {
		w->err = ERR_NOMEM;
		return;
	}
	snprintf(ref, n, "%s/%s", type, id);
	w_str(w, ref);
	free(ref);
}

static void w_agents(struct ae_w *w, const store_audit_rec *r)
{
	int has_user = ae_set(r->subject) || ae_set(r->fhir_user);
	int writes = r->action[0] == 'C' || r->action[0] == 'U' || r->action[0] == 'D';

	w_raw(w, ",\"agent\":[");
	if (has_user) {
		/* BALP agent "user": the person on whose behalf the client acts */
		w_raw(w, "{\"type\":");
		if (writes)
			w_concept(w, CS_PARTICIPATION, "AUT", "author");
		else
			w_concept(w, CS_PARTICIPATION, "IRCP", "information recipient");
		w_raw(w, ",\"who\":{");
		if (ae_is_reference(r->fhir_user))
			w_member(w, 0, "reference", r->fhir_user);
		if (ae_set(r->subject)) {
			w_raw(w, ae_is_reference(r->fhir_user) ? ",\"identifier\":{" : "\"identifier\":{");
			w_member(w, 0, "system", r->issuer);
			w_member(w, 1, "value", r->subject);
			w_raw(w, "}");
		}
		w_raw(w, "},\"requestor\":true},");
	}
	/* BALP agent "client": the application, at the address it came from */
	w_raw(w, "{\"type\":");
	w_concept(w, CS_DCM, "110153", "Source Role ID");
	if (ae_set(r->client_id)) {
		w_member(w, 1, "who\":{\"identifier\":{\"system", r->issuer);
		w_member(w, 1, "value", r->client_id);
		w_raw(w, "}}");
	}
	w_raw(w, has_user ? ",\"requestor\":false" : ",\"requestor\":true");
	if (ae_set(r->address)) {
		w_member(w, 1, "network\":{\"address", r->address);
		w_raw(w, ",\"type\":\"2\"}"); /* 2: IP address */
	}
	/* BALP agent "server": this server, named by its base URL */
	w_raw(w, "},{\"type\":");
	w_concept(w, CS_DCM, "110152", "Destination Role ID");
	w_member(w, 1, "who\":{\"identifier\":{\"value", r->observer);
	w_raw(w, "},\"display\":\"fhird\"},\"requestor\":false");
	w_member(w, 1, "network\":{\"address", r->observer);
	w_raw(w, ",\"type\":\"5\"}}]"); /* 5: URI */
}

static void w_entities(struct ae_w *w, const store_audit_rec *r)
{
	int n = 0;

	if (ae_set(r->entity_type) && (ae_set(r->entity_id) || !r->query)) {
		/* BALP entity "data": the resource (or, without an id, the type) */
		w_raw(w, n++ ? ",{" : ",\"entity\":[{");
		if (ae_set(r->entity_id)) {
			w_raw(w, "\"what\":{\"reference\":");
			w_ref(w, r->entity_type, r->entity_id);
			w_raw(w, "},");
		}
		w_raw(w, "\"type\":");
		w_coding(w, CS_RESOURCE_TYPES, r->entity_type, NULL);
		w_raw(w, ",\"role\":");
		w_coding(w, CS_OBJECT_ROLE, "4", "Domain Resource");
		w_raw(w, "}");
	}
	if (r->query) {
		/* BALP entity "query": what was asked, as the client wrote it */
		w_raw(w, n++ ? ",{" : ",\"entity\":[{");
		if (ae_set(r->entity_type)) {
			w_raw(w, "\"type\":");
			w_coding(w, CS_RESOURCE_TYPES, r->entity_type, NULL);
			w_raw(w, ",");
		}
		w_raw(w, "\"role\":");
		w_coding(w, CS_OBJECT_ROLE, "24", "Query");
		w_query_b64(w, r->query);
		w_raw(w, "}");
	}
	if (ae_set(r->patient)) {
		/* BALP entity "patient" */
		w_raw(w, n++ ? ",{" : ",\"entity\":[{");
		w_raw(w, "\"what\":{\"reference\":");
		w_ref(w, "Patient", r->patient);
		w_raw(w, "},\"type\":");
		w_coding(w, CS_ENTITY_TYPE, "1", "Person");
		w_raw(w, ",\"role\":");
		w_coding(w, CS_OBJECT_ROLE, "1", "Patient");
		w_raw(w, "}");
	}
	if (n)
		w_raw(w, "]");
}

static void w_type(struct ae_w *w, const store_audit_rec *r)
{
	w_raw(w, ",\"type\":");
	switch (r->kind) {
	case AUDIT_LOGIN:
		w_coding(w, CS_DCM, "110114", "User Authentication");
		w_raw(w, ",\"subtype\":[");
		w_coding(w, CS_DCM, "110122", "Login");
		w_raw(w, "]");
		break;
	case AUDIT_TOKEN: {
		/* revocation and introspection are not ITI-71 (getting a token) */
		int revoke = !strcmp(r->subtype, AUDIT_TOKEN_REVOKE) || !strcmp(r->subtype, AUDIT_TOKEN_INTROSPECT);
		w_coding(w, CS_DCM, "110114", "User Authentication");
		w_raw(w, ",\"subtype\":[");
		if (!revoke)
			w_coding(w, CS_IHE_EVENT, "ITI-71", "Get Access Token");
		if (*r->subtype) {
			if (!revoke)
				w_raw(w, ",");
			w_coding(w, AUDIT_CS_FHIRD, r->subtype, NULL);
		}
		w_raw(w, "]");
		break;
	}
	default:
		w_coding(w, CS_EVENT_TYPE, "rest", "Restful Operation");
		if (*r->subtype) {
			w_raw(w, ",\"subtype\":[");
			w_coding(w, CS_REST, r->subtype, NULL);
			w_raw(w, "]");
		}
		break;
	}
}

int audit_record_json(const store_audit_rec *r, char **out, size_t *len)
{
	struct ae_w w;
	char when[40], num[64];

	*out = NULL;
	memset(&w, 0, sizeof w);
	buf_init(&w.b, (size_t)1 << 20);
	valid_instant_format(r->recorded_us, when);
	/* the id is the chain position; an AuditEvent never changes, so its
	 * only version is 1 and it was last updated when it was recorded */
	snprintf(num, sizeof num, "%lld", (long long)r->seq);
	w_raw(&w, "{\"resourceType\":\"AuditEvent\"");
	w_member(&w, 1, "id", num);
	w_member(&w, 1, "meta\":{\"versionId\":\"1\",\"lastUpdated", when);
	w_raw(&w, "}");
	w_type(&w, r);
	w_member(&w, 1, "action", r->action[0] ? r->action : "E");
	w_member(&w, 1, "recorded", when);
	snprintf(num, sizeof num, "%d", r->outcome);
	w_member(&w, 1, "outcome", num);
	if (r->outcome != 0 && ae_set(r->outcome_desc))
		w_member(&w, 1, "outcomeDesc", r->outcome_desc);
	w_agents(&w, r);
	w_member(&w, 1, "source\":{\"observer\":{\"identifier\":{\"value", r->observer);
	w_raw(&w, "},\"display\":\"fhird\"},\"type\":[");
	w_coding(&w, CS_SOURCE_TYPE, "4", "Application Server");
	w_raw(&w, "]}");
	w_entities(&w, r);
	w_raw(&w, "}");
	if (w.err || !(*out = buf_detach(&w.b, len))) {
		buf_fini(&w.b);
		return w.err ? w.err : ERR_NOMEM;
	}
	return 0;
}

/* Copies src into a field, cut on a character boundary. */
static void ae_copy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap) : 0;

	if (n < cap) {
		memcpy(dst, src ? src : "", n + 1);
		return;
	}
	memcpy(dst, src, cap - 1);
	dst[cap - 1] = '\0';
	valid_utf8_trim(dst);
}

int audit_fill(const char *base_url, const char *issuer, int64_t recorded_us, const audit_event *ev,
	       store_audit_rec *out)
{
	const char *subtype = ev->kind == AUDIT_LOGIN ? "110122" : ev->subtype;

	memset(out, 0, sizeof *out);
	out->recorded_us = recorded_us;
	out->kind = ev->kind;
	out->status = ev->status;
	out->outcome = ev->outcome >= 0 ? ev->outcome : audit_outcome_of(ev->status);
	out->action[0] = ev->action ? ev->action : 'E';
	ae_copy(out->subtype, sizeof out->subtype, subtype);
	if (out->outcome != 0 && !ae_set(ev->outcome_desc) && ev->status)
		snprintf(out->outcome_desc, sizeof out->outcome_desc, "HTTP %d", ev->status);
	else
		ae_copy(out->outcome_desc, sizeof out->outcome_desc, ev->outcome_desc);
	ae_copy(out->client_id, sizeof out->client_id, ev->client_id);
	ae_copy(out->subject, sizeof out->subject, ev->subject);
	ae_copy(out->fhir_user, sizeof out->fhir_user, ev->fhir_user);
	ae_copy(out->patient, sizeof out->patient, ev->patient);
	ae_copy(out->entity_type, sizeof out->entity_type, ev->entity_type);
	ae_copy(out->entity_id, sizeof out->entity_id, ev->entity_id);
	ae_copy(out->address, sizeof out->address, ev->address);
	ae_copy(out->observer, sizeof out->observer, base_url);
	ae_copy(out->issuer, sizeof out->issuer, issuer);
	if (ev->query && !(out->query = strdup(ev->query)))
		return ERR_NOMEM;
	return 0;
}
