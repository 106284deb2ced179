/*
 * validate.h - baseline validation of an incoming resource against the
 * generated type tables (types.h), following the JSON format rules of
 * hl7.org/fhir/R4/json.html at the top level of the resource:
 *
 *   - every property is resourceType, a known element, or "_x" for a
 *     primitive element x (its id/extensions, an object; for a repeating
 *     primitive an array aligned with x, nulls filling the gaps);
 *   - arrays exactly where the cardinality says so, and never empty; null
 *     only inside a primitive array whose "_x" partner fills that slot;
 *   - primitives of the right JSON type (integer: 32-bit); strings not
 *     empty; id, date, dateTime, instant and time in their FHIR syntax;
 *   - complex values are non-empty objects; extension items carry a url;
 *   - required elements (min >= 1) present (x or _x); a required choice
 *     group (occurrence[x]) has one of its types; no choice group has
 *     more than one;
 *   - meta: an object of Meta's elements, versionId an id, lastUpdated an
 *     instant, profile/tag/security non-empty arrays;
 *   - contained resources: a known resourceType, then the same rules for
 *     their own type, plus dom-2 (no nested contained), dom-4 (no
 *     meta.versionId/lastUpdated) and dom-5 (no meta.security).
 * Deeper structure (inside datatypes and BackboneElements) is checked in
 * a later issue (full structural validation); this is the seam where it
 * plugs in.
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

/* 0 when res is valid for t; otherwise ERR_UNPROCESSABLE with *issue
 * describing the first problem found (issue may be NULL). The caller has
 * checked that res is an object whose resourceType names t; both must be
 * non-NULL (ERR_INTERNAL otherwise). Messages never contain element
 * values, only element names, and at most 64 bytes of any name the client
 * sent (cut on a UTF-8 boundary, control characters replaced), so they
 * can go to the client and to the log as they are. Recursion is bounded
 * (contained resources may not nest, dom-2); the caller bounds JSON
 * depth. Thread-safe, no allocation. */
int fhir_validate_resource(const json_t *res, const fhir_type *t, fhir_issue *issue);

#endif
