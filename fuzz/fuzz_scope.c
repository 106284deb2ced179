/*
 * fuzz_scope.c - SMART scope strings: scope_parse() on arbitrary bytes
 * (copied and NUL-terminated, as they arrive from a form field or a token
 * claim). When a string parses, its canonical form must parse again and
 * print identically, and the set algebra must keep its promises against a
 * fixed client registration: a grant is covered by both what was asked
 * and what was allowed, and asking only for what is allowed gets all of
 * it. Any broken promise abort()s.
 */
#include "auth/scope.h"
#include "core/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A registration with every shape of rule: wildcard and concrete types,
 * v1 and v2, a constraint, all three contexts, flags and an other. */
static const char fuzz_allowed[] = "openid fhirUser launch launch/patient offline_access patient/*.rs "
				   "patient/Observation.cruds?category=laboratory user/Patient.write "
				   "user/Observation.read system/*.s urn:x:extra";

/* format(s), parse, format again: same text, or abort. With `strict` the
 * re-parse must succeed; otherwise (a grant from intersect may exceed the
 * parse bounds) only a refusal for size is accepted. */
static void fuzz_roundtrip(const scope_set *s, int strict)
{
	scope_set again = { 0 };
	char *s1 = NULL, *s2 = NULL;
	int rc;

	if (scope_format(s, &s1) != 0)
		abort();
	rc = scope_parse(s1, &again);
	if (rc != 0) {
		size_t i, ntok = 0;
		for (i = 0; s1[i]; i++)
			ntok += s1[i] != ' ' && (i == 0 || s1[i - 1] == ' ');
		if (strict || (strlen(s1) <= SCOPE_MAX_LEN && ntok <= SCOPE_MAX_ITEMS))
			abort();
		goto out;
	}
	if (scope_format(&again, &s2) != 0 || strcmp(s1, s2) != 0)
		abort();
out:
	free(s1);
	free(s2);
	scope_set_fini(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	scope_set req = { 0 }, allowed = { 0 }, grant = { 0 };
	const scope_rule *m[4];
	char *s;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (scope_parse(s, &req) != 0) {
		/* a refusal leaves nothing behind */
		if (req.rules || req.nrules || req.other || req.nother || req.flags)
			abort();
		goto out;
	}
	fuzz_roundtrip(&req, 1);
	if (!scope_covers(&req, &req))
		abort();

	if (scope_parse(fuzz_allowed, &allowed) != 0)
		abort();
	if (scope_intersect(&req, &allowed, &grant) != 0)
		abort();
	if (!scope_covers(&allowed, &grant) || !scope_covers(&req, &grant))
		abort();
	/* asking within the registration loses nothing */
	if (scope_covers(&allowed, &req) && !scope_covers(&grant, &req))
		abort();
	fuzz_roundtrip(&grant, 0);

	/* match never writes past max and agrees with itself */
	if (scope_match(&req, "Observation", SCOPE_R, SCOPE_PATIENT | SCOPE_USER, m, 4) !=
	    scope_match(&req, "Observation", SCOPE_R, SCOPE_PATIENT | SCOPE_USER, NULL, 0))
		abort();
	(void)scope_match(&grant, NULL, SCOPE_S, SCOPE_SYSTEM, m, 4);
out:
	scope_set_fini(&grant);
	scope_set_fini(&allowed);
	scope_set_fini(&req);
	free(s);
	return 0;
}
