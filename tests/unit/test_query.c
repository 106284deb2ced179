/*
 * test_query.c - search query parsing (search/query.h) against FHIR R4
 * search.html: every parameter type and its value syntax (#number, #date,
 * #string, #token, #reference, #composite, #quantity, #uri), the nine
 * prefixes (#prefix), the modifiers, OR (',') and AND (repeated names),
 * escaping (#escaping), chains typed and untyped (#chaining), reverse
 * chains (#has), the result parameters (_sort, _count, _include,
 * _revinclude, _summary, _elements, _total), strict and lenient handling
 * of unknown parameters (#errors), the self link round trip, and the
 * limits query.h promises against hostile input.
 */
#include "core/arena.h"
#include "core/err.h"
#include "core/valid.h"
#include "search/params.h"
#include "search/query.h"
#include "search/value.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define BASE "https://fhir.example.org/r4"
#define ARENA_CAP (64u << 20)

static arena_t A;

static int setup(void **state)
{
	(void)state;
	arena_init(&A, ARENA_CAP);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_fini(&A);
	return 0;
}

static search_limits lim_default(void)
{
	search_limits l = {
		.max_clauses = 64,
		.max_values = 1000,
		.max_chain_depth = 4,
		.max_includes = 16,
		.count_default = 20,
		.count_max = 100,
		.strict = 0,
		.base = BASE,
	};
	return l;
}

static char why[256];

/* The type is passed from a buffer of its own, as the REST layer does, so
 * that the parser cannot get away with comparing type names by pointer
 * (identical literals may be merged by the linker). */
static int run_lim(const char *rt, const char *qs, size_t len, const search_limits *l, search_query *q)
{
	char *type = NULL;
	int rc;

	if (rt) {
		type = arena_strdup(&A, rt);
		assert_non_null(type);
	}
	memset(why, 'x', sizeof why);
	why[sizeof why - 1] = '\0';
	rc = search_query_parse(&A, type, qs, len, l, q, why, sizeof why);
	return rc;
}

/* Parses qs (lenient) and expects success. */
static search_query *ok(const char *rt, const char *qs)
{
	static search_query q;
	search_limits l = lim_default();
	int rc = run_lim(rt, qs, strlen(qs), &l, &q);

	if (rc != 0)
		fail_msg("expected success for %s?%s, got %d (%s)", rt ? rt : "", qs, rc, why);
	assert_string_equal(why, "");
	return &q;
}

static search_query *ok_strict(const char *rt, const char *qs)
{
	static search_query q;
	search_limits l = lim_default();
	int rc;

	l.strict = 1;
	rc = run_lim(rt, qs, strlen(qs), &l, &q);
	if (rc != 0)
		fail_msg("expected success (strict) for %s?%s, got %d (%s)", rt ? rt : "", qs, rc, why);
	return &q;
}

/* The message is client-facing: non-empty, valid UTF-8, no controls. */
static void check_why(void)
{
	size_t i, n = strlen(why);

	assert_true(n > 0);
	assert_true(valid_utf8(why, n));
	for (i = 0; i < n; i++)
		assert_true((unsigned char)why[i] >= 0x20);
}

/* Expects err; when sub is given, the message contains it. */
static void bad_lim(const char *rt, const char *qs, size_t len, const search_limits *l, int err, const char *sub)
{
	search_query q;
	int rc = run_lim(rt, qs, len, l, &q);

	if (rc != err)
		fail_msg("expected %d for %s?%.200s, got %d (%s)", err, rt ? rt : "", qs, rc, why);
	check_why();
	if (sub && !strstr(why, sub))
		fail_msg("message \"%s\" lacks \"%s\"", why, sub);
}

static void bad(const char *rt, const char *qs, int err, const char *sub)
{
	search_limits l = lim_default();
	bad_lim(rt, qs, strlen(qs), &l, err, sub);
}

static void bad_strict(const char *rt, const char *qs, int err, const char *sub)
{
	search_limits l = lim_default();
	l.strict = 1;
	bad_lim(rt, qs, strlen(qs), &l, err, sub);
}

/* Lenient: success, nothing searched, the name listed as ignored. Strict:
 * ERR_INVALID naming it. */
static void unsupported(const char *rt, const char *qs, const char *name)
{
	search_query *q = ok(rt, qs);
	size_t i;
	int found = 0;

	for (i = 0; i < q->nignored; i++)
		found |= strcmp(q->ignored[i], name) == 0;
	if (!found)
		fail_msg("%s?%s: \"%s\" not in ignored (%zu ignored, %zu clauses)", rt ? rt : "", qs, name,
			 q->nignored, q->nclauses);
	assert_int_equal(q->nclauses, 0);
	assert_string_equal(q->self, "");
	bad_strict(rt, qs, ERR_INVALID, "unsupported");
}

/* The single clause of a one-parameter query. */
static search_clause *one(const char *rt, const char *qs)
{
	search_query *q = ok(rt, qs);

	if (q->nclauses != 1)
		fail_msg("%s?%s: %zu clauses, %zu ignored", rt, qs, q->nclauses, q->nignored);
	return &q->clauses[0];
}

static int64_t us(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { 0 };

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (int64_t)timegm(&tm) * 1000000;
}

/* ---- parameter types ---------------------------------------------------- */

/* search.html#string: case- and accent-insensitive starts-with; :exact
 * compares the value as written; :contains matches anywhere. */
static void test_query_string(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Patient", "name=Peter");
	assert_string_equal(c->param->code, "name");
	assert_int_equal(c->mod, SEARCH_MOD_NONE);
	assert_int_equal(c->nv, 1);
	assert_string_equal(c->v[0].str, "peter");

	c = one("Patient", "name:exact=Peter");
	assert_int_equal(c->mod, SEARCH_MOD_EXACT);
	assert_string_equal(c->v[0].str, "Peter");

	c = one("Patient", "name:contains=ZO%C3%8B");
	assert_int_equal(c->mod, SEARCH_MOD_CONTAINS);
	assert_string_equal(c->v[0].str, "zoe");

	/* '+' is a space (form encoding), whitespace runs collapse */
	c = one("Patient", "name=van+der++Berg");
	assert_string_equal(c->v[0].str, "van der berg");
	c = one("Patient", "name:exact=a%2Bb");
	assert_string_equal(c->v[0].str, "a+b");
}

/* search.html#token */
static void test_query_token(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Observation", "code=http://loinc.org|1234-5");
	assert_string_equal(c->v[0].sys, "http://loinc.org");
	assert_string_equal(c->v[0].code, "1234-5");

	c = one("Observation", "code=1234-5");
	assert_null(c->v[0].sys);
	assert_string_equal(c->v[0].code, "1234-5");

	c = one("Observation", "code=|1234-5");
	assert_string_equal(c->v[0].sys, "");
	assert_string_equal(c->v[0].code, "1234-5");

	c = one("Observation", "code=http://loinc.org|");
	assert_string_equal(c->v[0].sys, "http://loinc.org");
	assert_null(c->v[0].code);

	c = one("Observation", "code:not=http://loinc.org|1234-5");
	assert_int_equal(c->mod, SEARCH_MOD_NOT);
	assert_string_equal(c->v[0].code, "1234-5");

	c = one("Observation", "code:text=Blood++PRESSURE");
	assert_int_equal(c->mod, SEARCH_MOD_TEXT);
	assert_string_equal(c->v[0].str, "blood pressure");
	assert_null(c->v[0].sys);
	assert_null(c->v[0].code);

	/* search.html#token: identifier:of-type=system|code|value */
	c = one("Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053");
	assert_int_equal(c->mod, SEARCH_MOD_OF_TYPE);
	assert_string_equal(c->v[0].sys, "http://terminology.hl7.org/CodeSystem/v2-0203");
	assert_string_equal(c->v[0].code, "MR|446053");
	bad("Patient", "identifier:of-type=http://x|MR", ERR_INVALID, "of-type");
	bad("Patient", "identifier:of-type=http://x||446053", ERR_INVALID, "of-type");

	bad("Observation", "code=a|b|c", ERR_INVALID, "code");

	c = one("Patient", "_id=abc");
	assert_string_equal(c->param->code, "_id");
	assert_string_equal(c->v[0].code, "abc");
}

/* search.html#reference */
static void test_query_reference(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Observation", "subject=123");
	assert_null(c->v[0].sys);
	assert_string_equal(c->v[0].code, "123");

	c = one("Observation", "subject=Patient/123");
	assert_string_equal(c->v[0].sys, "Patient");
	assert_string_equal(c->v[0].code, "123");

	c = one("Observation", "subject:Patient=123");
	assert_int_equal(c->mod, SEARCH_MOD_TYPE);
	assert_string_equal(c->mod_type, "Patient");
	assert_string_equal(c->v[0].sys, "Patient");
	assert_string_equal(c->v[0].code, "123");
	bad("Observation", "subject:Patient=Group/1", ERR_INVALID, "subject:Patient");

	/* our own base: reduced to Type/id, history dropped */
	c = one("Observation", "subject=" BASE "/Patient/123/_history/2");
	assert_string_equal(c->v[0].sys, "Patient");
	assert_string_equal(c->v[0].code, "123");
	c = one("Observation", "subject=Patient/123/_history/7");
	assert_string_equal(c->v[0].sys, "Patient");
	assert_string_equal(c->v[0].code, "123");

	/* any other absolute URL is kept as it is */
	c = one("Observation", "subject=http://other.example.org/fhir/Patient/1");
	assert_string_equal(c->v[0].sys, "");
	assert_string_equal(c->v[0].code, "http://other.example.org/fhir/Patient/1");
	c = one("Observation", "subject=urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0");
	assert_string_equal(c->v[0].sys, "");
	assert_string_equal(c->v[0].code, "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0");
	/* a base that is only a prefix of the host is not ours */
	c = one("Observation", "subject=" BASE "x/Patient/1");
	assert_string_equal(c->v[0].sys, "");

	c = one("Observation", "subject:identifier=http://acme.org/mrn|12345");
	assert_int_equal(c->mod, SEARCH_MOD_IDENTIFIER);
	assert_string_equal(c->v[0].sys, "http://acme.org/mrn");
	assert_string_equal(c->v[0].code, "12345");

	bad("Observation", "subject=Foo/1", ERR_INVALID, "subject");
	bad("Observation", "subject=a+b", ERR_INVALID, "subject");
	bad("Observation", "subject=Patient/", ERR_INVALID, NULL);
	bad("Observation", "subject=Patient/1/2", ERR_INVALID, NULL);
	bad("Observation", "subject=Patient/1/_history/", ERR_INVALID, NULL);
	/* :[type] must be a resource type and one of the targets */
	bad("Observation", "subject:Foo=1", ERR_INVALID, "Foo");
	bad("Observation", "subject:Medication=1", ERR_INVALID, "Medication");
}

/* search.html#date: the range the value's precision implies. */
static void test_query_date(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Patient", "birthdate=1970-01-01");
	assert_int_equal(c->v[0].prefix, SEARCH_PFX_EQ);
	assert_true(c->v[0].lo == us(1970, 1, 1, 0, 0, 0));
	assert_true(c->v[0].hi == us(1970, 1, 2, 0, 0, 0) - 1);

	c = one("Observation", "date=2019");
	assert_true(c->v[0].lo == us(2019, 1, 1, 0, 0, 0));
	assert_true(c->v[0].hi == us(2020, 1, 1, 0, 0, 0) - 1);

	/* %2B is a '+'; an unencoded '+' (a space after decoding) in a time
	 * zone is taken back */
	c = one("Observation", "date=2020-01-01T10:00:00%2B01:00");
	assert_true(c->v[0].lo == us(2020, 1, 1, 9, 0, 0));
	c = one("Observation", "date=ge2020-01-01T10:00:00+01:00");
	assert_int_equal(c->v[0].prefix, SEARCH_PFX_GE);
	assert_true(c->v[0].lo == us(2020, 1, 1, 9, 0, 0));

	c = one("Patient", "birthdate=2020-02-29");
	assert_true(c->v[0].lo == us(2020, 2, 29, 0, 0, 0));
	bad("Patient", "birthdate=2019-13-01", ERR_INVALID, "2019-13-01");
	bad("Patient", "birthdate=2019-02-30", ERR_INVALID, "2019-02-30");
	bad("Patient", "birthdate=2019-02-29", ERR_INVALID, NULL);
	bad("Patient", "birthdate=yesterday", ERR_INVALID, NULL);
	bad("Patient", "birthdate=xx2019", ERR_INVALID, "prefix");
	bad("Patient", "birthdate=Ge2019", ERR_INVALID, NULL);
	bad("Patient", "birthdate=ge", ERR_INVALID, NULL);
}

/* search.html#number: the precision written is the precision meant. */
static void test_query_number(void **state)
{
	search_clause *c;

	(void)state;
	c = one("RiskAssessment", "probability=0.8");
	assert_int_equal(c->v[0].prefix, SEARCH_PFX_EQ);
	assert_true(fabs(c->v[0].num - 0.8) < 1e-12);
	assert_true(fabs(c->v[0].nlo - 0.75) < 1e-12);
	assert_true(fabs(c->v[0].nhi - 0.85) < 1e-12);

	c = one("RiskAssessment", "probability=gt1e-1");
	assert_int_equal(c->v[0].prefix, SEARCH_PFX_GT);
	assert_true(fabs(c->v[0].num - 0.1) < 1e-12);

	bad("RiskAssessment", "probability=1e400", ERR_INVALID, "1e400");
	bad("RiskAssessment", "probability=-1e400", ERR_INVALID, NULL);
	bad("RiskAssessment", "probability=abc", ERR_INVALID, NULL);
	bad("RiskAssessment", "probability=zz1", ERR_INVALID, "prefix");
	bad("RiskAssessment", "probability=0x10", ERR_INVALID, NULL);
	bad("RiskAssessment", "probability=nan", ERR_INVALID, NULL);
	bad("RiskAssessment", "probability=inf", ERR_INVALID, NULL);
}

/* search.html#quantity */
static void test_query_quantity(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Observation", "value-quantity=5.4|http://unitsofmeasure.org|mg");
	assert_true(fabs(c->v[0].num - 5.4) < 1e-12);
	assert_true(fabs(c->v[0].nlo - 5.35) < 1e-12);
	assert_string_equal(c->v[0].sys, "http://unitsofmeasure.org");
	assert_string_equal(c->v[0].code, "mg");

	c = one("Observation", "value-quantity=ap5.4||mg");
	assert_int_equal(c->v[0].prefix, SEARCH_PFX_AP);
	assert_null(c->v[0].sys);
	assert_string_equal(c->v[0].code, "mg");

	c = one("Observation", "value-quantity=le5.4");
	assert_int_equal(c->v[0].prefix, SEARCH_PFX_LE);
	assert_null(c->v[0].sys);
	assert_null(c->v[0].code);

	bad("Observation", "value-quantity=5.4|mg", ERR_INVALID, "quantity");
	bad("Observation", "value-quantity=5.4|a|b|c", ERR_INVALID, NULL);
	bad("Observation", "value-quantity=1e400||mg", ERR_INVALID, NULL);
	bad("Observation", "value-quantity=|http://unitsofmeasure.org|mg", ERR_INVALID, NULL);
}

/* search.html#uri */
static void test_query_uri(void **state)
{
	search_clause *c;

	(void)state;
	c = one("ValueSet", "url=http://hl7.org/fhir/ValueSet/Foo");
	assert_string_equal(c->v[0].str, "http://hl7.org/fhir/ValueSet/Foo");
	c = one("ValueSet", "url:below=http://acme.org/fhir/");
	assert_int_equal(c->mod, SEARCH_MOD_BELOW);
	c = one("ValueSet", "url:above=http://acme.org/fhir/ValueSet/123/_history/5");
	assert_int_equal(c->mod, SEARCH_MOD_ABOVE);
	assert_string_equal(c->v[0].str, "http://acme.org/fhir/ValueSet/123/_history/5");
	c = one("Observation", "_profile=http://hl7.org/fhir/StructureDefinition/vitalsigns");
	assert_string_equal(c->v[0].str, "http://hl7.org/fhir/StructureDefinition/vitalsigns");
}

/* search.html#composite */
static void test_query_composite(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Observation", "code-value-quantity=http://loinc.org|12907-2$ge150|http://unitsofmeasure.org|mmol/L");
	assert_int_equal(c->nv, 1);
	assert_int_equal(c->v[0].ncomp, 2);
	assert_string_equal(c->v[0].comp[0].sys, "http://loinc.org");
	assert_string_equal(c->v[0].comp[0].code, "12907-2");
	assert_int_equal(c->v[0].comp[1].prefix, SEARCH_PFX_GE);
	assert_true(c->v[0].comp[1].num == 150);
	assert_string_equal(c->v[0].comp[1].sys, "http://unitsofmeasure.org");
	assert_string_equal(c->v[0].comp[1].code, "mmol/L");

	/* OR of composites */
	c = one("Observation", "code-value-quantity=a$1,b$2");
	assert_int_equal(c->nv, 2);
	assert_string_equal(c->v[1].comp[0].code, "b");
	assert_true(c->v[1].comp[1].num == 2);

	bad("Observation", "code-value-quantity=a$1$2", ERR_INVALID, "composite");
	bad("Observation", "code-value-quantity=a", ERR_INVALID, "composite");
	bad("Observation", "code-value-quantity=a$", ERR_INVALID, NULL);
	bad("Observation", "code-value-quantity=a$xyz", ERR_INVALID, NULL);
}

/* ---- prefixes ------------------------------------------------------------ */

static void test_query_prefixes(void **state)
{
	static const struct {
		const char *p;
		enum search_prefix v;
	} pf[] = {
		{ "eq", SEARCH_PFX_EQ }, { "ne", SEARCH_PFX_NE }, { "gt", SEARCH_PFX_GT },
		{ "lt", SEARCH_PFX_LT }, { "ge", SEARCH_PFX_GE }, { "le", SEARCH_PFX_LE },
		{ "sa", SEARCH_PFX_SA }, { "eb", SEARCH_PFX_EB }, { "ap", SEARCH_PFX_AP },
	};
	char qs[128];
	size_t i;
	search_clause *c;

	(void)state;
	for (i = 0; i < sizeof pf / sizeof pf[0]; i++) {
		snprintf(qs, sizeof qs, "date=%s2013-01-14", pf[i].p);
		c = one("Observation", qs);
		assert_int_equal(c->v[0].prefix, pf[i].v);
		assert_true(c->v[0].lo == us(2013, 1, 14, 0, 0, 0));

		snprintf(qs, sizeof qs, "probability=%s0.8", pf[i].p);
		c = one("RiskAssessment", qs);
		assert_int_equal(c->v[0].prefix, pf[i].v);

		snprintf(qs, sizeof qs, "value-quantity=%s5.4|http://unitsofmeasure.org|mg", pf[i].p);
		c = one("Observation", qs);
		assert_int_equal(c->v[0].prefix, pf[i].v);
	}
	/* prefixes belong to ordered types only: a string keeps them */
	c = one("Patient", "name=gtx");
	assert_string_equal(c->v[0].str, "gtx");
	c = one("Observation", "code=ge123");
	assert_string_equal(c->v[0].code, "ge123");
}

/* ---- modifiers ----------------------------------------------------------- */

static void test_query_modifiers(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Patient", "name:missing=true");
	assert_int_equal(c->mod, SEARCH_MOD_MISSING);
	assert_int_equal(c->v[0].missing, 1);
	c = one("Observation", "code:missing=false");
	assert_int_equal(c->v[0].missing, 0);
	c = one("Observation", "code-value-quantity:missing=true");
	assert_int_equal(c->v[0].missing, 1);
	bad("Patient", "name:missing=maybe", ERR_INVALID, "missing");
	bad("Patient", "name:missing=TRUE", ERR_INVALID, NULL);

	/* a modifier that does not apply to the parameter's type */
	unsupported("Patient", "name:text=x", "name:text");
	unsupported("Observation", "code:exact=x", "code:exact");
	unsupported("Observation", "code:contains=x", "code:contains");
	unsupported("Patient", "birthdate:not=2020", "birthdate:not");
	unsupported("Observation", "code:below=x", "code:below");
	unsupported("Observation", "subject:text=x", "subject:text");
	unsupported("Observation", "code:Patient=x", "code:Patient");
	unsupported("Patient", "name:iterate=x", "name:iterate");
	/* terminology modifiers are not implemented */
	unsupported("Observation", "code:in=http://x/vs", "code:in");
	unsupported("Observation", "code:not-in=http://x/vs", "code:not-in");
	unsupported("Observation", "code:nonsense=x", "code:nonsense");
	unsupported("Patient", "name:exact:contains=x", "name:exact:contains");
}

/* ---- AND / OR ------------------------------------------------------------ */

static void test_query_and_or(void **state)
{
	search_query *q;

	(void)state;
	q = ok("Observation", "code=a,b,http://loinc.org|c");
	assert_int_equal(q->nclauses, 1);
	assert_int_equal(q->clauses[0].nv, 3);
	assert_string_equal(q->clauses[0].v[2].sys, "http://loinc.org");

	q = ok("Observation", "code=a&code=b&date=ge2020&date=lt2021");
	assert_int_equal(q->nclauses, 4);
	assert_string_equal(q->clauses[1].v[0].code, "b");
	assert_int_equal(q->clauses[3].v[0].prefix, SEARCH_PFX_LT);

	/* empty alternatives are dropped; an all-empty value is ignored */
	q = ok("Observation", "code=a,,b,");
	assert_int_equal(q->clauses[0].nv, 2);
	q = ok("Observation", "code=,,&code=&code");
	assert_int_equal(q->nclauses, 0);
	assert_int_equal(q->nignored, 0);
	assert_string_equal(q->self, "");
	/* "If the value is empty, the parameter is ignored", even in strict */
	q = ok_strict("Observation", "nonsense=&code=");
	assert_int_equal(q->nclauses, 0);
}

/* ---- escaping (search.html#escaping) -------------------------------------- */

static void test_query_escaping(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Observation", "code=a\\,b");
	assert_int_equal(c->nv, 1);
	assert_string_equal(c->v[0].code, "a,b");

	c = one("Observation", "code=a\\|b");
	assert_null(c->v[0].sys);
	assert_string_equal(c->v[0].code, "a|b");

	c = one("Observation", "code=s\\|x|c\\$d");
	assert_string_equal(c->v[0].sys, "s|x");
	assert_string_equal(c->v[0].code, "c$d");

	/* \\ is one backslash, and does not escape the comma after it */
	c = one("Observation", "code=a\\\\,b");
	assert_int_equal(c->nv, 2);
	assert_string_equal(c->v[0].code, "a\\");
	assert_string_equal(c->v[1].code, "b");

	/* escapes apply after percent-decoding: %5C is a backslash */
	c = one("Observation", "code=a%5C%2Cb");
	assert_int_equal(c->nv, 1);
	assert_string_equal(c->v[0].code, "a,b");

	c = one("Patient", "name=Smith\\,+John");
	assert_string_equal(c->v[0].str, "smith, john");

	c = one("Observation", "code-value-quantity=x\\$y$5");
	assert_string_equal(c->v[0].comp[0].code, "x$y");
	assert_true(c->v[0].comp[1].num == 5);

	/* a backslash before any other character is kept (lenient) */
	c = one("Observation", "code=a\\xb");
	assert_string_equal(c->v[0].code, "a\\xb");

	/* an unpaired trailing backslash escapes nothing */
	bad("Observation", "code=abc\\", ERR_INVALID, "code");
	bad("Observation", "code=a,b\\", ERR_INVALID, NULL);
	bad("Observation", "code=%5C", ERR_INVALID, NULL);
	c = one("Observation", "code=abc\\\\");
	assert_string_equal(c->v[0].code, "abc\\");
}

/* ---- chains (search.html#chaining) ----------------------------------------- */

static void test_query_chain_typed(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Observation", "subject:Patient.name=peter");
	assert_string_equal(c->param->code, "subject");
	assert_int_equal(c->mod, SEARCH_MOD_TYPE);
	assert_string_equal(c->mod_type, "Patient");
	assert_int_equal(c->nv, 0);
	assert_non_null(c->chain);
	assert_null(c->chain->alt);
	assert_string_equal(c->chain->param->rtype, "Patient");
	assert_string_equal(c->chain->param->code, "name");
	assert_int_equal(c->chain->nv, 1);
	assert_string_equal(c->chain->v[0].str, "peter");

	/* two hops, modifier on the last */
	c = one("Observation", "subject:Patient.organization.name:exact=Acme");
	assert_string_equal(c->chain->param->code, "organization");
	assert_null(c->chain->mod_type);
	assert_string_equal(c->chain->chain->param->rtype, "Organization");
	assert_string_equal(c->chain->chain->param->code, "name");
	assert_int_equal(c->chain->chain->mod, SEARCH_MOD_EXACT);
	assert_string_equal(c->chain->chain->v[0].str, "Acme");

	/* a reference at the end of a chain */
	c = one("Observation", "subject:Patient.general-practitioner=Practitioner/7");
	assert_string_equal(c->chain->v[0].sys, "Practitioner");

	unsupported("Observation", "subject:Patient.foo=x", "subject:Patient.foo");
	unsupported("Observation", "code.name=x", "code.name");
	unsupported("Observation", "subject:identifier.name=x", "subject:identifier.name");
	bad("Observation", "subject:Foo.name=x", ERR_INVALID, "Foo");
	bad("Observation", "subject:Patient.birthdate=2019-13-01", ERR_INVALID, "2019-13-01");
}

static void test_query_chain_untyped(void **state)
{
	search_clause *c, *a;
	size_t n = 0;

	(void)state;
	/* Observation.subject: Device, Group, Location, Patient; of these
	 * Location and Patient have "name" */
	c = one("Observation", "subject.name=peter");
	assert_int_equal(c->mod, SEARCH_MOD_NONE);
	assert_null(c->mod_type);
	for (a = c->chain; a; a = a->alt) {
		assert_string_equal(a->param->code, "name");
		assert_int_equal(a->nv, 1);
		assert_string_equal(a->v[0].str, "peter");
		n++;
	}
	assert_int_equal(n, 2);
	assert_string_equal(c->chain->param->rtype, "Location");
	assert_string_equal(c->chain->alt->param->rtype, "Patient");

	/* two untyped hops: Device, Location and Patient have "organization",
	 * each pointing at Organization.name */
	c = one("Observation", "subject.organization.name=acme");
	n = 0;
	for (a = c->chain; a; a = a->alt) {
		assert_string_equal(a->param->code, "organization");
		assert_non_null(a->chain);
		assert_null(a->chain->alt);
		assert_string_equal(a->chain->param->rtype, "Organization");
		assert_string_equal(a->chain->v[0].str, "acme");
		n++;
	}
	assert_int_equal(n, 3);

	/* an empty target list means any type: every type with "title" */
	c = one("RequestGroup", "instantiates-canonical.title=x");
	n = 0;
	for (a = c->chain; a; a = a->alt) {
		assert_string_equal(a->param->code, "title");
		if (a->alt)
			assert_true(strcmp(a->param->rtype, a->alt->param->rtype) < 0);
		n++;
	}
	assert_true(n >= 2);

	unsupported("Observation", "subject.nonsense=x", "subject.nonsense");
	/* every resource type has _id: more alternatives than clauses allowed */
	bad("Observation", "focus._id=1", ERR_TOOCOSTLY, "clauses");
}

/* ---- reverse chains (search.html#has) -------------------------------------- */

static void test_query_has(void **state)
{
	search_clause *c;

	(void)state;
	c = one("Patient", "_has:Observation:patient:code=1234-5");
	assert_null(c->param);
	assert_string_equal(c->has_type, "Observation");
	assert_string_equal(c->has_ref->code, "patient");
	assert_string_equal(c->has_ref->rtype, "Observation");
	assert_string_equal(c->chain->param->code, "code");
	assert_string_equal(c->chain->v[0].code, "1234-5");

	/* nested, as in the spec's AuditEvent example */
	c = one("Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=MyUserId");
	assert_string_equal(c->has_type, "Observation");
	assert_null(c->chain->param);
	assert_string_equal(c->chain->has_type, "AuditEvent");
	assert_string_equal(c->chain->has_ref->code, "entity");
	assert_string_equal(c->chain->chain->param->code, "agent");
	assert_string_equal(c->chain->chain->v[0].code, "MyUserId");

	/* _has with a chain inside and a modifier at the end */
	c = one("Patient", "_has:Observation:subject:code:not=x");
	assert_int_equal(c->chain->mod, SEARCH_MOD_NOT);

	bad("Patient", "_has:Observation:encounter:code=x", ERR_INVALID, "does not refer to Patient");
	bad("Patient", "_has:Foo:patient:code=x", ERR_INVALID, "Foo");
	bad("Patient", "_has:Observation:code:code=x", ERR_INVALID, "reference");
	bad("Patient", "_has:Observation=x", ERR_INVALID, "_has");
	bad("Patient", "_has:Observation:patient=x", ERR_INVALID, "_has");
	bad("Patient", "_has:Observation:patient:=x", ERR_INVALID, "_has");
	unsupported("Patient", "_has:Observation:nonsense:code=x", "_has:Observation:nonsense:code");
	unsupported("Patient", "_has:Observation:patient:nonsense=x", "_has:Observation:patient:nonsense");
	unsupported(NULL, "_has:Observation:patient:code=x", "_has:Observation:patient:code");
}

static void test_query_depth(void **state)
{
	search_clause *c;

	(void)state;
	/* four hops is the default maximum */
	c = one("Observation", "subject:Patient.organization.partof.partof.name=x");
	assert_string_equal(c->chain->chain->chain->chain->param->code, "name");
	bad("Observation", "subject:Patient.organization.partof.partof.partof.name=x", ERR_INVALID, "deep");
	/* the check is syntactic: it does not depend on what resolves */
	bad("Observation", "a.b.c.d.e.f=x", ERR_INVALID, "deep");
	ok("Patient", "_has:Observation:patient:_has:Provenance:target:_has:Provenance:target:"
		      "_has:Provenance:target:agent=x");
	bad("Patient",
	    "_has:Observation:patient:_has:Provenance:target:_has:Provenance:target:"
	    "_has:Provenance:target:_has:Provenance:target:agent=x",
	    ERR_INVALID, "deep");
}

/* ---- result parameters ----------------------------------------------------- */

static void test_query_count(void **state)
{
	search_query *q;

	(void)state;
	q = ok("Patient", "");
	assert_int_equal(q->count, 20);
	assert_int_equal(q->summary, SEARCH_SUMMARY_FALSE);
	assert_true(q->since_us == INT64_MIN);
	q = ok("Patient", "_count=50");
	assert_int_equal(q->count, 50);
	q = ok("Patient", "_count=1000");
	assert_int_equal(q->count, 100);
	assert_string_equal(q->self, "_count=100");
	q = ok("Patient", "_count=99999999999999999999999999");
	assert_int_equal(q->count, 100);
	q = ok("Patient", "_count=0");
	assert_int_equal(q->count, 0);
	assert_int_equal(q->summary, SEARCH_SUMMARY_COUNT);
	q = ok("Patient", "_count=0&_summary=data");
	assert_int_equal(q->summary, SEARCH_SUMMARY_COUNT);
	bad("Patient", "_count=-1", ERR_INVALID, "_count");
	bad("Patient", "_count=ten", ERR_INVALID, "_count");
	bad("Patient", "_count=1.5", ERR_INVALID, NULL);
	bad("Patient", "_count=5&_count=6", ERR_INVALID, "more than once");
	unsupported("Patient", "_count:x=5", "_count:x");
}

static void test_query_sort(void **state)
{
	search_query *q;

	(void)state;
	q = ok("Observation", "_sort=-date,code,_id,-_lastUpdated");
	assert_int_equal(q->nsort, 4);
	assert_string_equal(q->sort[0].param->code, "date");
	assert_int_equal(q->sort[0].desc, 1);
	assert_string_equal(q->sort[1].param->code, "code");
	assert_int_equal(q->sort[1].desc, 0);
	assert_string_equal(q->sort[2].param->code, "_id");
	assert_string_equal(q->sort[3].param->code, "_lastUpdated");
	assert_int_equal(q->sort[3].desc, 1);
	assert_string_equal(q->self, "_sort=-date,code,_id,-_lastUpdated");

	/* unknown keys are dropped (lenient) and the rest kept */
	q = ok("Observation", "_sort=nonsense,-date");
	assert_int_equal(q->nsort, 1);
	assert_string_equal(q->sort[0].param->code, "date");
	assert_int_equal(q->nignored, 1);
	assert_string_equal(q->ignored[0], "_sort");
	assert_string_equal(q->self, "_sort=-date");
	bad_strict("Observation", "_sort=nonsense,-date", ERR_INVALID, "nonsense");
	unsupported("Observation", "_sort=code-value-quantity", "_sort");
	unsupported("Observation", "_sort=-", "_sort");
	bad("Observation", "_sort=date&_sort=code", ERR_INVALID, NULL);
}

static void test_query_summary_elements_total(void **state)
{
	static const struct {
		const char *v;
		enum search_summary s;
	} sm[] = {
		{ "true", SEARCH_SUMMARY_TRUE }, { "text", SEARCH_SUMMARY_TEXT }, { "data", SEARCH_SUMMARY_DATA },
		{ "count", SEARCH_SUMMARY_COUNT }, { "false", SEARCH_SUMMARY_FALSE },
	};
	char qs[64];
	search_query *q;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof sm / sizeof sm[0]; i++) {
		snprintf(qs, sizeof qs, "_summary=%s", sm[i].v);
		q = ok("Patient", qs);
		assert_int_equal(q->summary, sm[i].s);
	}
	bad("Patient", "_summary=maybe", ERR_INVALID, "_summary");

	q = ok("Patient", "_elements=identifier,active,,birthDate,deceasedBoolean");
	assert_int_equal(q->nelements, 4);
	assert_string_equal(q->elements[0], "identifier");
	assert_string_equal(q->elements[3], "deceasedBoolean");
	bad("Patient", "_elements=name.given", ERR_INVALID, "element");
	bad("Patient", "_elements=1abc", ERR_INVALID, NULL);
	bad("Patient", "_elements=a%20b", ERR_INVALID, NULL);

	q = ok("Patient", "_total=none");
	assert_int_equal(q->total, SEARCH_TOTAL_NONE);
	q = ok("Patient", "_total=estimate");
	assert_int_equal(q->total, SEARCH_TOTAL_ESTIMATE);
	q = ok("Patient", "_total=accurate");
	assert_int_equal(q->total, SEARCH_TOTAL_ACCURATE);
	bad("Patient", "_total=all", ERR_INVALID, "_total");

	q = ok("Patient", "_since=2020-01-01T00:00:00Z");
	assert_true(q->since_us == us(2020, 1, 1, 0, 0, 0));
	bad("Patient", "_since=2020-13-01", ERR_INVALID, "_since");

	q = ok("Patient", "_cursor=abc%2Fdef&_format=json&_pretty=true&_format:x=y");
	assert_string_equal(q->cursor, "abc/def");
	assert_string_equal(q->self, "");
	assert_int_equal(q->nignored, 0);
}

static void test_query_include(void **state)
{
	search_query *q;
	char qs[1024];
	size_t i, o = 0;

	(void)state;
	q = ok("MedicationRequest", "_include=MedicationRequest:patient");
	assert_int_equal(q->ninc, 1);
	assert_string_equal(q->inc[0].src_type, "MedicationRequest");
	assert_string_equal(q->inc[0].param->code, "patient");
	assert_null(q->inc[0].target);
	assert_int_equal(q->inc[0].rev, 0);
	assert_int_equal(q->inc[0].iterate, 0);

	q = ok("MedicationRequest", "_include=MedicationRequest:medication:Medication");
	assert_string_equal(q->inc[0].target, "Medication");
	bad("MedicationRequest", "_include=MedicationRequest:medication:Patient", ERR_INVALID, "Patient");
	bad("MedicationRequest", "_include=MedicationRequest:medication:Foo", ERR_INVALID, "Foo");

	/* another type's parameter only with :iterate (R3 :recurse) */
	bad("MedicationRequest", "_include=Patient:general-practitioner", ERR_INVALID, "iterate");
	q = ok("MedicationRequest",
	       "_include=MedicationRequest:patient&_include:iterate=Patient:general-practitioner");
	assert_int_equal(q->ninc, 2);
	assert_int_equal(q->inc[1].iterate, 1);
	assert_string_equal(q->inc[1].src_type, "Patient");
	q = ok("MedicationRequest", "_include:recurse=Patient:general-practitioner");
	assert_int_equal(q->inc[0].iterate, 1);

	q = ok("MedicationRequest", "_include=*");
	assert_string_equal(q->inc[0].src_type, "MedicationRequest");
	assert_null(q->inc[0].param);
	q = ok("MedicationRequest", "_include=MedicationRequest:*");
	assert_null(q->inc[0].param);

	q = ok("Patient", "_revinclude=Provenance:target&_revinclude:iterate=Observation:patient");
	assert_int_equal(q->ninc, 2);
	assert_int_equal(q->inc[0].rev, 1);
	assert_string_equal(q->inc[0].src_type, "Provenance");
	assert_string_equal(q->inc[0].param->code, "target");
	assert_int_equal(q->inc[1].iterate, 1);

	bad("MedicationRequest", "_include=MedicationRequest:code", ERR_INVALID, "reference");
	bad("MedicationRequest", "_include=Foo:bar", ERR_INVALID, "Foo");
	bad("MedicationRequest", "_include=MedicationRequest", ERR_INVALID, "_include");
	unsupported("MedicationRequest", "_include=MedicationRequest:nonsense", "_include");
	unsupported("MedicationRequest", "_include:deep=MedicationRequest:patient", "_include:deep");

	/* at most max_includes (16) */
	for (i = 0; i < 17; i++)
		o += (size_t)snprintf(qs + o, sizeof qs - o, "%s_include=MedicationRequest:patient", i ? "&" : "");
	bad("MedicationRequest", qs, ERR_INVALID, "16");
}

/* ---- system level ----------------------------------------------------------- */

static void test_query_system_level(void **state)
{
	search_query *q;

	(void)state;
	q = ok(NULL, "_id=1&_lastUpdated=gt2020&_tag=http://x|y&_type=Patient,Observation,Patient");
	assert_null(q->rtype);
	assert_int_equal(q->nclauses, 3);
	assert_string_equal(q->clauses[0].param->code, "_id");
	assert_string_equal(q->clauses[1].param->code, "_lastUpdated");
	assert_int_equal(q->ntypes, 2);
	assert_string_equal(q->types[0], "Patient");
	assert_string_equal(q->types[1], "Observation");
	bad(NULL, "_type=Patient,Foo", ERR_INVALID, "Foo");
	unsupported(NULL, "name=x", "name");
	unsupported(NULL, "_id.name=x", "_id.name");
	q = ok(NULL, "_sort=-_lastUpdated");
	assert_int_equal(q->nsort, 1);
	unsupported(NULL, "_sort=date", "_sort");
	q = ok(NULL, "_include=Observation:patient&_revinclude=Provenance:target");
	assert_int_equal(q->ninc, 2);
	/* _type belongs to system-level searches */
	unsupported("Patient", "_type=Patient", "_type");
}

/* ---- unknown parameters (search.html#errors) --------------------------------- */

static void test_query_strict_lenient(void **state)
{
	static const char *const unsup[] = {
		"nonsense=1", "_text=x", "_content=x", "_query=x", "_list=x", "_filter=x",
		"_contained=true", "_containedType=contained", "near=1|2|3|km",
	};
	search_query *q;
	size_t i;

	(void)state;
	q = ok("Patient", "nonsense=1&name=x&other:exact=2");
	assert_int_equal(q->nclauses, 1);
	assert_int_equal(q->nignored, 2);
	assert_string_equal(q->ignored[0], "nonsense");
	assert_string_equal(q->ignored[1], "other:exact");
	assert_string_equal(q->self, "name=x");
	bad_strict("Patient", "name=x&nonsense=1", ERR_INVALID, "nonsense");

	for (i = 0; i < sizeof unsup / sizeof unsup[0]; i++) {
		char name[64];
		size_t n = strcspn(unsup[i], "=");
		memcpy(name, unsup[i], n);
		name[n] = '\0';
		unsupported(strncmp(unsup[i], "near", 4) == 0 ? "Location" : "Patient", unsup[i], name);
	}
	/* malformed values are errors even when lenient */
	bad("Patient", "nonsense=1&birthdate=2019-13-01", ERR_INVALID, NULL);
}

/* ---- self (the link that repeats the search) --------------------------------- */

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int value_eq(const search_value *a, const search_value *b)
{
	unsigned i;

	if (a->prefix != b->prefix || a->missing != b->missing || !str_eq(a->sys, b->sys) ||
	    !str_eq(a->code, b->code) || !str_eq(a->str, b->str) || a->lo != b->lo || a->hi != b->hi ||
	    a->ncomp != b->ncomp)
		return 0;
	if (memcmp(&a->num, &b->num, sizeof a->num) || memcmp(&a->nlo, &b->nlo, sizeof a->nlo) ||
	    memcmp(&a->nhi, &b->nhi, sizeof a->nhi))
		return 0;
	for (i = 0; i < a->ncomp; i++)
		if (!value_eq(&a->comp[i], &b->comp[i]))
			return 0;
	return 1;
}

static int clause_eq(const search_clause *a, const search_clause *b)
{
	size_t i;

	if (!a || !b)
		return a == b;
	if (a->param != b->param || a->mod != b->mod || !str_eq(a->mod_type, b->mod_type) ||
	    !str_eq(a->has_type, b->has_type) || a->has_ref != b->has_ref || a->nv != b->nv)
		return 0;
	for (i = 0; i < a->nv; i++)
		if (!value_eq(&a->v[i], &b->v[i]))
			return 0;
	return clause_eq(a->chain, b->chain) && clause_eq(a->alt, b->alt);
}

static void query_eq(const search_query *a, const search_query *b)
{
	size_t i;

	assert_int_equal(a->nclauses, b->nclauses);
	for (i = 0; i < a->nclauses; i++)
		assert_true(clause_eq(&a->clauses[i], &b->clauses[i]));
	assert_int_equal(a->nsort, b->nsort);
	for (i = 0; i < a->nsort; i++) {
		assert_ptr_equal(a->sort[i].param, b->sort[i].param);
		assert_int_equal(a->sort[i].desc, b->sort[i].desc);
	}
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->total, b->total);
	assert_int_equal(a->summary, b->summary);
	assert_int_equal(a->nelements, b->nelements);
	for (i = 0; i < a->nelements; i++)
		assert_string_equal(a->elements[i], b->elements[i]);
	assert_int_equal(a->ninc, b->ninc);
	for (i = 0; i < a->ninc; i++) {
		assert_true(str_eq(a->inc[i].src_type, b->inc[i].src_type));
		assert_ptr_equal(a->inc[i].param, b->inc[i].param);
		assert_true(str_eq(a->inc[i].target, b->inc[i].target));
		assert_int_equal(a->inc[i].rev, b->inc[i].rev);
		assert_int_equal(a->inc[i].iterate, b->inc[i].iterate);
	}
	assert_int_equal(a->ntypes, b->ntypes);
	for (i = 0; i < a->ntypes; i++)
		assert_string_equal(a->types[i], b->types[i]);
	assert_true(a->since_us == b->since_us);
	assert_string_equal(a->self, b->self);
}

static void test_query_self(void **state)
{
	static const struct {
		const char *rt, *qs, *self;
	} cases[] = {
		{ "Patient", "name=Peter&_count=10&nonsense=1&_sort=-birthdate&_format=json&_cursor=abc&_pretty=true",
		  "name=Peter&_count=10&_sort=-birthdate" },
		{ "Patient", "name=a+b%26c%3Dd%25e%2Bf", "name=a%20b%26c%3Dd%25e%2Bf" },
		{ "Observation", "code=a\\,b,http://loinc.org|c", "code=a%5C,b,http://loinc.org|c" },
		{ "Patient", "name=Zo%C3%AB&name:exact=%E2%82%AC", "name=Zo%C3%AB&name:exact=%E2%82%AC" },
		{ "Observation", "date=ge2020-01-01T10:00:00+01:00", "date=ge2020-01-01T10:00:00%2001:00" },
		{ "Observation", "subject:Patient.name=x&nonsense=y&_has:Provenance:target:agent=z",
		  "subject:Patient.name=x&_has:Provenance:target:agent=z" },
		{ NULL, "_type=Patient&_id=1", "_type=Patient&_id=1" },
	};
	static const char *const rt_only[][2] = {
		{ "Observation",
		  "code=http://loinc.org|1234-5,|x,y|&date=ge2019&date=lt2020-06&value-quantity=ap5.4||mg"
		  "&subject.name=peter&subject:Patient.organization.name:exact=Acme&_include=Observation:patient"
		  "&_revinclude:iterate=Provenance:target&_total=accurate&_summary=data&_elements=code,value"
		  "&code-value-quantity=a\\$b$ge1|http://unitsofmeasure.org|mg&_count=7&code:text=a+b"
		  "&subject=" BASE "/Patient/1/_history/3&subject:identifier=s|v&focus=urn:uuid:1"
		  "&_sort=-date,_id&_since=2021-01-01T00:00:00Z&code:missing=false&_tag=\\\\" },
		{ "Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=u1&name=O%27Brien&birthdate=sa1990" },
		{ "ValueSet", "url:below=http://acme.org/fhir/&identifier:of-type=http://x|MR|1\\|2" },
		{ "RiskAssessment", "probability=gt0.8,le0.1&_lastUpdated=ge2020-01-01T00:00:00.123456Z" },
	};
	search_query a, b, c;
	search_limits l = lim_default();
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rc = run_lim(cases[i].rt, cases[i].qs, strlen(cases[i].qs), &l, &a);
		if (rc)
			fail_msg("%s: %d %s", cases[i].qs, rc, why);
		assert_string_equal(a.self, cases[i].self);
	}
	/* rt_only: the query re-parsed from self is the same query, and its
	 * self is the same string */
	for (i = 0; i < sizeof rt_only / sizeof rt_only[0]; i++) {
		rc = run_lim(rt_only[i][0], rt_only[i][1], strlen(rt_only[i][1]), &l, &a);
		if (rc)
			fail_msg("%s: %d %s", rt_only[i][1], rc, why);
		rc = run_lim(rt_only[i][0], a.self, strlen(a.self), &l, &b);
		if (rc)
			fail_msg("self %s: %d %s", a.self, rc, why);
		query_eq(&a, &b);
		rc = run_lim(rt_only[i][0], b.self, strlen(b.self), &l, &c);
		assert_int_equal(rc, 0);
		query_eq(&b, &c);
	}
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run_lim(cases[i].rt, cases[i].qs, strlen(cases[i].qs), &l, &a);
		rc = run_lim(cases[i].rt, a.self, strlen(a.self), &l, &b);
		assert_int_equal(rc, 0);
		a.cursor = b.cursor;
		query_eq(&a, &b);
	}
}

/* ---- decoding and hostile input ---------------------------------------------- */

static void test_query_decoding(void **state)
{
	static const char *const badq[] = {
		"name=%C3%28",      /* invalid UTF-8 */
		"name=%FF",
		"name=%ED%A0%80",   /* a surrogate */
		"name=%C0%AF",      /* overlong */
		"name=a%00b",       /* NUL */
		"name=%",
		"name=%4",
		"name=%zz",
		"na%ZZme=x",
		"na%00me=x",
		"%C3%28=x",
	};
	search_limits l = lim_default();
	size_t i;
	search_query q;
	const char nul[] = "name=a\0b";

	(void)state;
	for (i = 0; i < sizeof badq / sizeof badq[0]; i++) {
		bad(NULL, badq[i], ERR_INVALID, NULL);
		bad("Patient", badq[i], ERR_INVALID, NULL);
	}
	/* a raw NUL inside the given length */
	bad_lim("Patient", nul, sizeof nul - 1, &l, ERR_INVALID, NULL);
	/* raw non-UTF-8 bytes in a name are quoted safely */
	bad("Patient", "\xff\xfe%=1", ERR_INVALID, NULL);
	/* the length given is what is parsed */
	assert_int_equal(run_lim("Patient", "name=abc&nonsense", 8, &l, &q), 0);
	assert_int_equal(q.nclauses, 1);
	assert_string_equal(q.clauses[0].v[0].str, "abc");
	assert_int_equal(run_lim("Patient", NULL, 0, &l, &q), 0);
	assert_string_equal(q.self, "");
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), i;
	char *s = malloc(hl + ul * n + tl + 1), *p;

	assert_non_null(s);
	memcpy(s, head, hl);
	p = s + hl;
	for (i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

static void test_query_hostile(void **state)
{
	search_limits l = lim_default();
	search_query q;
	char *s;
	clock_t t0 = clock();
	size_t i, o;
	arena_t small;
	char qs[4096];

	(void)state;
	/* 10,000 commas in one value */
	s = repeat("code=", ",", 10000, "");
	bad_lim("Observation", s, strlen(s), &l, ERR_TOOCOSTLY, "values");
	free(s);
	s = repeat("code=", "a,", 10000, "a");
	bad_lim("Observation", s, strlen(s), &l, ERR_TOOCOSTLY, "1000");
	free(s);
	s = repeat("_sort=", ",", 10000, "-date");
	assert_int_equal(run_lim("Observation", s, strlen(s), &l, &q), 0);
	assert_int_equal(q.nsort, 1);
	free(s);
	s = repeat("_sort=", "date,", 10000, "date");
	bad_lim("Observation", s, strlen(s), &l, ERR_TOOBIG, "_sort");
	free(s);
	s = repeat("_elements=", "id,", 10000, "id");
	bad_lim("Patient", s, strlen(s), &l, ERR_TOOBIG, "_elements");
	free(s);
	s = repeat("_type=", "Patient,", 999, "Patient");
	assert_int_equal(run_lim(NULL, s, strlen(s), &l, &q), 0);
	assert_int_equal(q.ntypes, 1);
	free(s);
	/* exactly max_values is fine */
	s = repeat("code=", "a,", 999, "a");
	assert_int_equal(run_lim("Observation", s, strlen(s), &l, &q), 0);
	assert_int_equal(q.clauses[0].nv, 1000);
	free(s);

	/* 100,000 '&' */
	s = repeat("", "&", 100000, "");
	assert_int_equal(run_lim("Patient", s, strlen(s), &l, &q), 0);
	assert_int_equal(q.nclauses, 0);
	assert_string_equal(q.self, "");
	free(s);
	s = repeat("name=x", "&", 100000, "name=y");
	assert_int_equal(run_lim("Patient", s, strlen(s), &l, &q), 0);
	assert_int_equal(q.nclauses, 2);
	free(s);
	/* a flood of unknown names: ignored, listed up to max_clauses */
	s = repeat("", "x=1&", 50000, "name=y");
	assert_int_equal(run_lim("Patient", s, strlen(s), &l, &q), 0);
	assert_int_equal(q.nclauses, 1);
	assert_int_equal(q.nignored, 64);
	l.strict = 1;
	bad_lim("Patient", s, strlen(s), &l, ERR_INVALID, "x");
	l.strict = 0;
	/* and costs the arena a bounded amount each, nothing per OR list or
	 * message: the decoded pair (http_query_parse: a slot and two small
	 * strings, ~48 bytes for the 4 of "x=1&") and no more */
	arena_init(&small, 8u << 20);
	assert_int_equal(search_query_parse(&small, "Patient", s, strlen(s), &l, &q, why, sizeof why), 0);
	assert_true(small.used < 16 * strlen(s));
	arena_fini(&small);
	free(s);
	/* more AND clauses than max_clauses */
	s = repeat("", "_id=1&", 65, "");
	bad_lim("Patient", s, strlen(s), &l, ERR_TOOCOSTLY, "64");
	free(s);
	s = repeat("", "_id=1&", 64, "");
	assert_int_equal(run_lim("Patient", s, strlen(s), &l, &q), 0);
	free(s);
	/* chain hops count: 32 two-hop chains are 64 nodes, 33 are too many */
	s = repeat("", "subject:Patient.name=x&", 32, "");
	assert_int_equal(run_lim("Observation", s, strlen(s), &l, &q), 0);
	free(s);
	s = repeat("", "subject:Patient.name=x&", 33, "");
	bad_lim("Observation", s, strlen(s), &l, ERR_TOOCOSTLY, "clauses");
	free(s);

	/* unbalanced escapes */
	bad("Patient", "name=\\", ERR_INVALID, NULL);
	bad("Patient", "name=\\\\\\", ERR_INVALID, NULL);
	bad("Observation", "code-value-quantity=a$1\\", ERR_INVALID, NULL);
	s = repeat("name=", "\\", 100001, "");
	bad_lim("Patient", s, strlen(s), &l, ERR_INVALID, NULL);
	free(s);
	s = repeat("name=", "\\,", 100000, "");
	assert_int_equal(run_lim("Patient", s, strlen(s), &l, &q), 0);
	assert_int_equal(q.clauses[0].nv, 1);
	free(s);

	/* deep and long names */
	s = repeat("subject", ".subject", 100000, "=1");
	bad_lim("Observation", s, strlen(s), &l, ERR_INVALID, "deep");
	free(s);
	s = repeat("", "_has:Observation:patient:", 20000, "code=1");
	bad_lim("Patient", s, strlen(s), &l, ERR_INVALID, "deep");
	free(s);
	s = repeat("", "a", 1 << 20, "=1");
	assert_int_equal(run_lim("Patient", s, strlen(s), &l, &q), 0);
	assert_int_equal(q.nignored, 1);
	free(s);
	s = repeat("subject:", "Patient", 100000, ".name=1");
	assert_int_equal(run_lim("Observation", s, strlen(s), &l, &q), 0);
	assert_int_equal(q.nignored, 1);
	free(s);

	/* huge values of every type: 1 MB */
	s = repeat("probability=", "1", 1 << 20, "");
	bad_lim("RiskAssessment", s, strlen(s), &l, ERR_INVALID, NULL);
	free(s);
	s = repeat("probability=0.", "1", 1 << 20, "");
	bad_lim("RiskAssessment", s, strlen(s), &l, ERR_INVALID, NULL);
	free(s);
	s = repeat("date=", "2", 1 << 20, "");
	bad_lim("Observation", s, strlen(s), &l, ERR_INVALID, NULL);
	free(s);
	s = repeat("name=", "%C3%A9", 1 << 18, "");
	assert_int_equal(run_lim("Patient", s, strlen(s), &l, &q), 0);
	/* parsed, normalised (é -> e), then cut to what an index row holds
	 * (search/value.h) */
	assert_int_equal(strlen(q.clauses[0].v[0].str), SEARCH_VALUE_MAX);
	assert_int_equal(q.clauses[0].v[0].str[0], 'e');
	free(s);
	s = repeat("code=", "|", 1 << 20, "");
	bad_lim("Observation", s, strlen(s), &l, ERR_INVALID, NULL);
	free(s);
	s = repeat("code-value-quantity=", "$", 1 << 20, "");
	bad_lim("Observation", s, strlen(s), &l, ERR_INVALID, NULL);
	free(s);

	/* the arena cap stops a 1 MB value: an error, not a crash */
	s = repeat("name=", "a", 1 << 20, "");
	arena_init(&small, 256 << 10);
	memset(why, 0, sizeof why);
	i = (size_t)search_query_parse(&small, "Patient", s, strlen(s), &l, &q, why, sizeof why);
	assert_true((int)i == ERR_NOMEM || (int)i == ERR_TOOBIG);
	check_why();
	arena_fini(&small);
	free(s);
	/* and every smaller cap fails cleanly too */
	o = (size_t)snprintf(qs, sizeof qs, "%s",
			     "name=abc&subject.name=x&_include=Observation:patient&_sort=-date&"
			     "code-value-quantity=a$1|b|c&_elements=a,b&_count=5&nonsense=1");
	for (i = 0; i < 64; i++) {
		int rc;
		arena_init(&small, i * 512);
		rc = search_query_parse(&small, "Observation", qs, o, &l, &q, why, sizeof why);
		assert_true(rc == 0 || rc == ERR_NOMEM);
		arena_fini(&small);
	}

	/* a tiny message buffer is never overrun */
	{
		char tiny[8];
		memset(tiny, 'x', sizeof tiny);
		assert_int_equal(search_query_parse(&A, "Patient", "birthdate=%C3%A9%C3%A9%C3%A9%C3%A9", 34, &l,
						    &q, tiny, 5),
				 ERR_INVALID);
		assert_true(strlen(tiny) < 5);
		assert_true(valid_utf8(tiny, strlen(tiny)));
		assert_int_equal(tiny[5], 'x');
		assert_int_equal(search_query_parse(&A, "Patient", "birthdate=x", 11, &l, &q, NULL, 0),
				 ERR_INVALID);
	}

	/* all of it in well under a second: nothing is quadratic */
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
}

/* Limits from the configuration are honoured, not constants. */
static void test_query_limits(void **state)
{
	search_limits l = lim_default();
	search_query q;

	(void)state;
	l.max_chain_depth = 1;
	assert_int_equal(run_lim("Observation", "subject:Patient.name=x", 22, &l, &q), 0);
	bad_lim("Observation", "subject:Patient.organization.name=x", 35, &l, ERR_INVALID, "deep");
	l = lim_default();
	l.max_values = 2;
	bad_lim("Observation", "code=a,b,c", 10, &l, ERR_TOOCOSTLY, NULL);
	l = lim_default();
	l.max_includes = 1;
	bad_lim("Patient", "_revinclude=Provenance:target&_revinclude=Provenance:target", 59, &l, ERR_INVALID,
		NULL);
	l = lim_default();
	l.count_default = 7;
	assert_int_equal(run_lim("Patient", "", 0, &l, &q), 0);
	assert_int_equal(q.count, 7);
	l.base = NULL;
	assert_int_equal(run_lim("Observation", "subject=" BASE "/Patient/1", 8 + strlen(BASE "/Patient/1"), &l, &q),
			 0);
	assert_string_equal(q.clauses[0].v[0].sys, "");
}

/* search_value_cap (value.h): at most SEARCH_VALUE_MAX bytes, never half
 * a UTF-8 character, short values untouched. */
static void test_value_cap(void **state)
{
	char buf[SEARCH_VALUE_MAX + 8];
	(void)state;

	search_value_cap(NULL);
	memcpy(buf, "short", sizeof "short");
	search_value_cap(buf);
	assert_string_equal(buf, "short");
	/* exactly the maximum: kept */
	memset(buf, 'a', SEARCH_VALUE_MAX);
	buf[SEARCH_VALUE_MAX] = '\0';
	search_value_cap(buf);
	assert_int_equal(strlen(buf), SEARCH_VALUE_MAX);
	/* a 2-byte character across the cut: cut before it */
	memset(buf, 'a', SEARCH_VALUE_MAX - 1);
	buf[SEARCH_VALUE_MAX - 1] = (char)0xC3;
	buf[SEARCH_VALUE_MAX] = (char)0xA9;
	buf[SEARCH_VALUE_MAX + 1] = 'z';
	buf[SEARCH_VALUE_MAX + 2] = '\0';
	search_value_cap(buf);
	assert_int_equal(strlen(buf), SEARCH_VALUE_MAX - 1);
	/* a 2-byte character ending at the cut: kept */
	memset(buf, 'a', SEARCH_VALUE_MAX - 2);
	buf[SEARCH_VALUE_MAX - 2] = (char)0xC3;
	buf[SEARCH_VALUE_MAX - 1] = (char)0xA9;
	buf[SEARCH_VALUE_MAX] = 'z';
	buf[SEARCH_VALUE_MAX + 1] = '\0';
	search_value_cap(buf);
	assert_int_equal(strlen(buf), SEARCH_VALUE_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_query_string, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_date, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_number, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_quantity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_uri, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_composite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_prefixes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_modifiers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_and_or, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_chain_typed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_chain_untyped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_has, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_sort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_summary_elements_total, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_include, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_system_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_strict_lenient, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_decoding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_limits, setup, teardown),
		cmocka_unit_test(test_value_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
