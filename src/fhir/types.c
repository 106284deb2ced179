/*
 * types.c - lookups in the generated tables (types_gen.c). All tables are
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

/* Binary search of tab[0..n) by name. */
static const fhir_type *types_table_find(const fhir_type *tab, unsigned n, const char *name, size_t len)
{
	const fhir_type *found = NULL;
	unsigned lo = 0, hi = name ? n : 0;

	while (lo < hi && !found) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = types_name_cmp(tab[mid].name, name, len);
		if (c == 0)
			found = &tab[mid];
		else if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return found;
}

const fhir_type *fhir_type_find(const char *name, size_t len)
{
	return types_table_find(fhir_types, fhir_types_count, name, len);
}

const fhir_type *fhir_struct_find(const char *name, size_t len)
{
	return types_table_find(fhir_structs, fhir_structs_count, name, len);
}

/* el->type is an index the generator wrote instead of a pointer: 2 bytes
 * instead of 8 and no load-time relocation for each of ~8,000 rows. For a
 * complex value it indexes fhir_structs[]; for a resource it is 0 (any
 * type) or 1 + an index into fhir_types[]. */
const fhir_type *fhir_element_type(const fhir_element *el)
{
	const fhir_type *t = NULL;

	if (!el)
		goto out;
	if (el->kind == FHIR_K_COMPLEX && el->type < fhir_structs_count)
		t = &fhir_structs[el->type];
	else if (el->kind == FHIR_K_RESOURCE && el->type > 0 && el->type <= fhir_types_count)
		t = &fhir_types[el->type - 1];
out:
	return t;
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
