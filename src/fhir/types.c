/*
 * types.c - lookups in the generated tables (types_gen.c). Both tables are
 * sorted by strcmp order, so a binary search serves every request without
 * any state.
 */
#include "types.h"

#include <string.h>

const fhir_type *fhir_type_find(const char *name, size_t len)
{
	unsigned lo = 0, hi = fhir_types_count;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const char *n = fhir_types[mid].name;
		int c = strncmp(n, name, len);
		if (c == 0)
			c = n[len] == '\0' ? 0 : 1;
		if (c == 0)
			return &fhir_types[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const fhir_element *fhir_type_element(const fhir_type *t, const char *name)
{
	unsigned lo = 0, hi = t->n_elements;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = strcmp(t->elements[mid].name, name);
		if (c == 0)
			return &t->elements[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
