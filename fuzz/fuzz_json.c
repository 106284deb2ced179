/*
 * fuzz_json.c - request bodies: the bounded JSON parse (UTF-8, depth,
 * duplicates) followed by baseline validation against the body's own
 * resourceType, as a create would do.
 */
#include "core/arena.h"
#include "fhir/fhir.h"
#include "fhir/validate.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	arena_t a;
	json_t *v = NULL;
	const char *diag;
	const char *rt;
	const fhir_type *t;
	fhir_issue issue;

	arena_init(&a, 1 << 20);
	if (fhir_json_parse((const char *)data, size, 64, &a, &v, &diag) == 0) {
		rt = json_string_value(json_object_get(v, "resourceType"));
		t = rt ? fhir_type_find(rt, strlen(rt)) : NULL;
		if (t)
			fhir_validate_resource(v, t, &issue);
		json_decref(v);
	}
	arena_fini(&a);
	return 0;
}
