/*
 * summary.h - _summary and _elements (search.html#summary, #elements):
 * cutting a resource down to a subset of its top-level elements before it
 * is returned by a read or a search, and tagging it SUBSETTED so that a
 * client never writes the partial copy back over the full one.
 */
#ifndef FHIRD_FHIR_SUMMARY_H
#define FHIRD_FHIR_SUMMARY_H

#include "types.h"

#include <jansson.h>
#include <stddef.h>

/* Values of fhir_summary_apply()'s mode. _summary=false needs no call and
 * _summary=count returns no resources at all; both are the caller's. */
enum fhir_summary_mode {
	FHIR_SUMMARY_ELEMENTS = 0, /* _elements=a,b: the listed elements */
	FHIR_SUMMARY_TRUE = 1,     /* _summary=true: the isSummary elements */
	FHIR_SUMMARY_TEXT = 2,     /* _summary=text: text and mandatory elements */
	FHIR_SUMMARY_DATA = 3      /* _summary=data: everything but text */
};

/* The system and code of the tag added to meta.tag of a subsetted resource
 * (valueset-common-tags: v3 ObservationValue SUBSETTED). */
#define FHIR_SUMMARY_TAG_SYSTEM "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
#define FHIR_SUMMARY_TAG_CODE "SUBSETTED"

/* Removes from the resource res (a JSON object of type t; modified in
 * place, so pass a copy when res is shared or cached) the top-level
 * elements that mode does not keep:
 *
 *   every mode but DATA keeps resourceType, id, meta, implicitRules and
 *   modifierExtension (a modifier must not vanish silently), and every
 *   element of t with min >= 1 (a required element, or any expansion of a
 *   required choice) - "servers SHOULD return mandatory elements";
 *   TRUE     also keeps the elements flagged isSummary (text is not one);
 *   TEXT     also keeps text;
 *   DATA     removes text and nothing else;
 *   ELEMENTS also keeps the elements named in elements[0..nelements): a
 *            top-level name ("birthDate"), a choice group ("value" keeps
 *            valueQuantity, valueString, ...) or an expansion by its own
 *            name; of a dotted path ("name.given") the first step counts,
 *            so the whole element is kept (servers may return more than
 *            asked for). NULL entries are skipped. With nelements == 0
 *            nothing is done.
 *
 * A "_x" companion (extensions on primitive x) goes with x. Properties that
 * t does not know are removed by every mode but DATA. With t NULL nothing
 * counts as summary or mandatory. An unknown mode does nothing.
 *
 * When a mode applied (all but ELEMENTS with nelements == 0 and unknown
 * modes), *subsetted (optional) is set to 1 - else to 0 - and meta.tag
 * gets the SUBSETTED coding {system, code, display "Resource encoded in
 * summary mode"}, creating meta and tag when absent and adding nothing when
 * a coding with that system and code is there already; a meta or tag of
 * the wrong JSON type is left alone.
 *
 * 0 or ERR_NOMEM (res is then partly cut and should be dropped).
 * Thread-safe for distinct res. */
int fhir_summary_apply(json_t *res, const fhir_type *t, int mode, const char *const *elements, size_t nelements,
		       int *subsetted);

/* 1 when el, an element of t (from t->elements), is flagged isSummary in
 * the R4 StructureDefinitions (types_gen.c); 0 otherwise, and for NULL
 * arguments or a type that is not one of fhir_types[]. */
int fhir_summary_element(const fhir_type *t, const fhir_element *el);

#endif
