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
	for (size_t i = 0; i < len; i++) {
		unsigned char a = (unsigned char)z[i], b = (unsigned char)s[i];
		if (a != b)
			return a < b ? -1 : 1;
		if (a == '\0')
			return -1; /* both NUL: s goes on past the end of z */
	}
	return z[len] == '\0' ? 0 : 1;
}

const fhir_type *fhir_type_find(const char *name, size_t len)
{
	unsigned lo = 0, hi = fhir_types_count;

	if (!name)
		return NULL;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = types_name_cmp(fhir_types[mid].name, name, len);
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
	unsigned lo = 0, hi;

	if (!t || !name)
		return NULL;
	hi = t->n_elements;
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
