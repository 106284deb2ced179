/*
 * fuzz_ingest.c - what every write does with a body before the store sees
 * it: the bounded JSON parse, baseline validation against the body's own
 * resourceType, then search index extraction (extract.h), which walks
 * the whole resource with the compiled FHIRPath of every parameter of
 * the type. Extraction runs whether or not validation passed, since the
 * validator only checks the top level and extraction must survive any
 * shape below it. Every row is checked against the row contract.
 */
#include "core/arena.h"
#include "core/err.h"
#include "fhir/fhir.h"
#include "fhir/validate.h"
#include "search/extract.h"
#include "search/params.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_rows(const search_rows *rows)
{
	size_t i;

	for (i = 0; i < rows->n; i++) {
		const search_row *r = &rows->v[i];
		if (r->p >= search_nparams)
			abort();
		switch (r->kind) {
		case SEARCH_ROW_STRING:
			if (!r->str || !r->str2)
				abort();
			break;
		case SEARCH_ROW_TOKEN_TEXT:
		case SEARCH_ROW_URI:
			if (!r->str)
				abort();
			break;
		case SEARCH_ROW_TOKEN:
		case SEARCH_ROW_OF_TYPE:
		case SEARCH_ROW_REFERENCE:
		case SEARCH_ROW_REF_IDENT:
		case SEARCH_ROW_QUANTITY:
		case SEARCH_ROW_COMPOSITE:
			if (!r->sys || !r->code)
				abort();
			break;
		case SEARCH_ROW_DATE: /* a Period may be written backwards */
		case SEARCH_ROW_NUMBER:
			break;
		default:
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready; /* search_extract_init() once, on the first input */
	arena_t a;
	json_t *v = NULL;
	const char *diag, *rt;
	const fhir_type *t;
	fhir_issue issue;
	search_rows rows = { 0 };
	int rc;

	if (!ready) {
		if (search_extract_init())
			abort();
		ready = 1;
	}
	arena_init(&a, 1 << 20);
	if (fhir_json_parse((const char *)data, size, 64, &a, &v, &diag) == 0) {
		rt = json_string_value(json_object_get(v, "resourceType"));
		t = rt ? fhir_type_find(rt, strlen(rt)) : NULL;
		if (t) {
			fhir_validate_resource(v, t, &issue);
			rc = search_extract(t->name, v, "http://example.org/fhir", &rows);
			if (rc && rc != ERR_NOMEM && rc != ERR_TOOBIG)
				abort();
			if (!rc)
				check_rows(&rows);
			search_rows_clear(&rows);
		}
		json_decref(v);
	}
	arena_fini(&a);
	return 0;
}
