/*
 * refs.c - see refs.h. Only Reference.reference strings are touched
 * (the issue and http.html#trules): an identifier.value or a narrative
 * that happens to contain the same urn is left as it is.
 */
#include "refs.h"

#include "core/err.h"

#include <string.h>

int fhir_refs_rewrite(json_t *v, const json_t *map, size_t *count)
{
	const char *k;
	json_t *item;
	size_t i;
	int rc;

	if (json_is_object(v)) {
		json_object_foreach(v, k, item)
		{
			if (json_is_string(item) && strcmp(k, "reference") == 0) {
				const json_t *to = json_object_get(map, json_string_value(item));
				if (json_is_string(to)) {
					if (json_string_set(item, json_string_value(to)))
						return ERR_NOMEM;
					if (count)
						(*count)++;
				}
				continue;
			}
			if (json_is_object(item) || json_is_array(item)) {
				rc = fhir_refs_rewrite(item, map, count);
				if (rc)
					return rc;
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if (json_is_object(item) || json_is_array(item)) {
				rc = fhir_refs_rewrite(item, map, count);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

int fhir_refs_each(const json_t *v, int (*fn)(void *ctx, const char *ref), void *ctx)
{
	const char *k;
	json_t *item;
	size_t i;
	int rc;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, item)
		{
			if (json_is_string(item) && strcmp(k, "reference") == 0) {
				rc = fn(ctx, json_string_value(item));
				if (rc)
					return rc;
			} else if (json_is_object(item) || json_is_array(item)) {
				rc = fhir_refs_each(item, fn, ctx);
				if (rc)
					return rc;
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if (json_is_object(item) || json_is_array(item)) {
				rc = fhir_refs_each(item, fn, ctx);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}
