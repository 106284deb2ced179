/*
 * refs.h - rewriting references inside resources (http.html#trules):
 * when a Bundle or an import assigns ids to entries named by temporary
 * fullUrls (urn:uuid:..., urn:oid:...), every Reference.reference in every
 * resource that names such a fullUrl is rewritten to "Type/id".
 */
#ifndef FHIRD_FHIR_REFS_H
#define FHIRD_FHIR_REFS_H

#include <jansson.h>
#include <stddef.h>

/* Walks v (objects, arrays, contained resources, extensions: everything)
 * and replaces the string value of each property named "reference" whose
 * value is a key of map (a JSON object of string -> string) by map's value.
 * *count (optional) receives the number of rewrites. The recursion depth is
 * bounded by the caller's parse limit. 0 or ERR_NOMEM. */
int fhir_refs_rewrite(json_t *v, const json_t *map, size_t *count);

/* Calls fn(ctx, value) for each Reference.reference string in v (same
 * walk as fhir_refs_rewrite); stops at and returns fn's first non-zero. */
int fhir_refs_each(const json_t *v, int (*fn)(void *ctx, const char *ref), void *ctx);

#endif
