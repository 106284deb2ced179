/*
 * fuzz_query.c - search query strings: search_query_parse() on arbitrary
 * bytes. The first byte picks the searched type (three types whose
 * parameters cover every parameter type, or system level), the rest is
 * the query; strict and lenient handling alternate with its low bit. The
 * arena cap is small enough that the parser's memory failures are reached.
 */
#include "core/arena.h"
#include "core/err.h"
#include "core/valid.h"
#include "search/query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const fuzz_types[] = { "Observation", "Patient", "MedicationRequest", NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	search_limits lim = {
		.max_clauses = 64,
		.max_values = 1000,
		.max_chain_depth = 4,
		.max_includes = 16,
		.count_default = 20,
		.count_max = 1000,
		.strict = 0,
		.base = "https://fhir.example.org/r4",
	};
	search_query q;
	arena_t a;
	char why[256];
	int rc;

	if (size == 0)
		return 0;
	lim.strict = (data[0] >> 2) & 1;
	arena_init(&a, 4u << 20);
	rc = search_query_parse(&a, fuzz_types[data[0] & 3], (const char *)data + 1, size - 1, &lim, &q, why,
				sizeof why);
	if (rc == 0) {
		/* self is valid, and parses again */
		if (!valid_utf8(q.self, strlen(q.self)))
			abort();
		if (search_query_parse(&a, fuzz_types[data[0] & 3], q.self, strlen(q.self), &lim, &q, why,
				       sizeof why) != 0 &&
		    a.used < a.cap / 2)
			abort();
	} else if (!valid_utf8(why, strlen(why)) || why[0] == '\0') {
		/* every failure explains itself, in text a client may be sent */
		abort();
	}
	arena_fini(&a);
	return 0;
}
