/*
 * validate.h - baseline validation of an incoming resource against the
 * generated type tables (types.h), following the JSON format rules of
 * hl7.org/fhir/R4/json.html at the top level of the resource:
 *
 *   - every property is resourceType, a known element, or "_x" for a
 *     primitive element x (its extensions);
 *   - arrays exactly where the cardinality says so, and never empty;
 *   - primitives of the right JSON type; strings not empty; id, date,
 *     dateTime, instant and time in their FHIR syntax;
 *   - complex values are objects, contained resources carry a known
 *     resourceType;
 *   - required elements (min >= 1) and required choice groups present;
 *   - meta: versionId an id, lastUpdated an instant, profile/tag/security
 *     arrays.
 * Deeper structure is checked in a later issue (full structural
 * validation); this is the seam where it plugs in.
 */
#ifndef FHIRD_FHIR_VALIDATE_H
#define FHIRD_FHIR_VALIDATE_H

#include "types.h"

#include <jansson.h>

typedef struct fhir_issue {
	int err;              /* ERR_UNPROCESSABLE */
	char expression[160]; /* FHIRPath-like location, e.g. "Patient.birthDate" */
	char message[240];    /* client-safe text; quotes at most 64 chars of input names */
} fhir_issue;

/* 0 when res is valid for t; otherwise ERR_UNPROCESSABLE with *issue
 * describing the first problem found. The caller has checked that res is
 * an object whose resourceType names t. Thread-safe, no allocation. */
int fhir_validate_resource(const json_t *res, const fhir_type *t, fhir_issue *issue);

#endif
