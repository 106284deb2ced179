/*
 * types.c - lookups in the generated tables (types_gen.c). Both tables are
 * sorted by strcmp order, so a binary search serves every request without
 * any state. fhir_type_find() runs on every request URL (route.c) and on
 * every resourceType in a body, so it takes a (ptr, len) name and never
 * reads past either string.
 */
#include "types.h"

#include <string.h>

/* strcmp order between the NUL-terminated table name z and s[0..len).
 * A NUL inside s compares below every name character, so such a name sits
 * between table entries and never equals one. */
static int types_name_cmp(const char *z, const char *s, size_t len)
{
	size_t i = 0;
	int rc;

	while (i < len && z[i] != '\0' && z[i] == s[i])
		i++;
	if (i == len)
		rc = z[len] != '\0'; /* z[0..len) has no NUL, so z[len] exists */
	else if (z[i] == '\0')
		rc = -1; /* z ended first (or s holds a NUL here) */
	else
		rc = (unsigned char)z[i] < (unsigned char)s[i] ? -1 : 1;
	return rc;
}

const fhir_type *fhir_type_find(const char *name, size_t len)
{
	const fhir_type *found = NULL;
	unsigned lo = 0, hi = name ? fhir_types_count : 0;

	while (lo < hi && !found) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = types_name_cmp(fhir_types[mid].name, name, len);
		if (c == 0)
			found = &fhir_types[mid];
		else if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return found;
}

const fhir_element *fhir_type_element(const fhir_type *t, const char *name)
{
	const fhir_element *found = NULL;
	unsigned lo = 0, hi = t && name ? t->n_elements : 0;

	while (lo < hi && !found) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = strcmp(t->elements[mid].name, name);
		if (c == 0)
			found = &t->elements[mid];
		else if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return found;
}
