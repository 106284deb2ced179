/*
 * validate.h - structural validation of an incoming resource against the
 * generated tables (types.h), following the JSON format rules of
 * hl7.org/fhir/R4/json.html at every depth: the resource, each datatype
 * (HumanName, Identifier, Coding, Quantity, Extension, Meta, Narrative,
 * Dosage, Timing ...), each BackboneElement (Patient.contact,
 * Bundle.entry.request, Questionnaire.item.item ...) and each resource
 * inside it (contained, Bundle.entry.resource, Parameters.parameter.resource)
 * get the same rules:
 *
 *   - every property is a known element of that type, or "_x" for a
 *     primitive element x (its id/extensions, an object; for a repeating
 *     primitive an array aligned with x, nulls filling the gaps);
 *     resourceType only on resources; "__proto__", "fhir_comments" and the
 *     like are unknown elements;
 *   - arrays exactly where the cardinality says so, and never empty; null
 *     only inside a primitive array whose "_x" partner fills that slot;
 *   - primitives of the right JSON type: boolean, integer (32-bit;
 *     unsignedInt >= 0, positiveInt >= 1), decimal (a JSON number), the
 *     others strings, never empty, without NUL; id, date, dateTime,
 *     instant, time, code, uri/url/canonical, oid, uuid, base64Binary in
 *     their datatypes.html syntax; Narrative.div a <div> (no "_div");
 *   - complex values are non-empty objects (ele-1);
 *   - required elements (min >= 1) present (x or _x) wherever their parent
 *     is; a required choice group (occurrence[x]) has one of its types; no
 *     choice group has more than one;
 *   - Extension: url required, nested extensions or one value[x] of the
 *     R4 types, not both (ext-1);
 *   - resources inside: a known resourceType (the one the element demands,
 *     e.g. OperationOutcome for Bundle.entry.response.outcome), then the
 *     rules of their own type; contained ones also dom-2 (no nested
 *     contained), dom-4 (no meta.versionId/lastUpdated) and dom-5 (no
 *     meta.security).
 * Not checked: terminology bindings, FHIRPath invariants other than those
 * named above, profiles (meta.profile), references' targets. Tolerated
 * although not R4: the few elements listed in tools/gen_types.py TOLERATED
 * (Period.stop, which Synthea writes and the Inferno US Core data has).
 */
#ifndef FHIRD_FHIR_VALIDATE_H
#define FHIRD_FHIR_VALIDATE_H

#include "types.h"

#include <jansson.h>

typedef struct fhir_issue {
	int err;              /* ERR_UNPROCESSABLE */
	char expression[160]; /* FHIRPath-like location, e.g. "Patient.birthDate", "Patient.name[1]" */
	char message[240];    /* client-safe text; quotes at most 64 bytes of input (unknown names) */
} fhir_issue;

/* Objects nested in one another that validation follows (422 beyond):
 * above the largest configurable parse depth (max_json_depth, 1000) and
 * equal to FHIR_JSONPATCH_MAX_DEPTH, so it only bounds the recursion for
 * a caller that did not bound JSON depth. */
#define FHIR_VALIDATE_MAX_DEPTH 1024

/* Flags of fhir_validate_resource_flags(). */
enum {
	/* Bundle.entry.resource: only that it is an object with a known
	 * resourceType; for a caller that validates each entry's resource on
	 * its own (fhird import of a batch or transaction, where one bad entry
	 * fails alone and the others go on). */
	FHIR_VALIDATE_ENTRIES_SHALLOW = 1u << 0,
};

/* 0 when res is valid for t; otherwise ERR_UNPROCESSABLE with *issue
 * describing the first problem found (issue may be NULL): the expression
 * is a FHIRPath-like location ("Patient.name[0].family",
 * "Bundle.entry[2].resource.code.coding[0].system", cut to fit). The
 * caller has checked that res is an object whose resourceType names t; t
 * must be one of fhir_types[] and both must be non-NULL (ERR_INTERNAL
 * otherwise). Messages never contain element values, only element names,
 * and at most 64 bytes of any name the client sent (cut on a UTF-8
 * boundary, control characters replaced), so they can go to the client and
 * to the log as they are. Recursion is bounded by FHIR_VALIDATE_MAX_DEPTH.
 * Thread-safe, no allocation; stack use grows with the nesting of res
 * (a few hundred bytes a level). */
int fhir_validate_resource(const json_t *res, const fhir_type *t, fhir_issue *issue);

/* fhir_validate_resource() with FHIR_VALIDATE_* flags. */
int fhir_validate_resource_flags(const json_t *res, const fhir_type *t, unsigned flags, fhir_issue *issue);

#endif
