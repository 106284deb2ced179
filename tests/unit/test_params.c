/*
 * test_params.c - the generated search-parameter tables (search/params.h,
 * params_gen.c from tools/gen_search.py): sort order and uniqueness (row
 * ids and binary search depend on them), rows spot-checked against the R4
 * SearchParameters and US Core 6.1.0, the per-type expansion of the
 * Resource-level parameters, and the Patient compartment.
 */
#include "search/params.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const search_param *find(const char *rtype, const char *code)
{
	const search_param *p = search_param_find(rtype, code);
	assert_non_null(p);
	return p;
}

static int has(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* Sorted by (rtype, code) in strcmp order, no duplicates: binary search and
 * the row ids stored in index tables depend on it. */
static void test_params_sorted_unique(void **state)
{
	(void)state;
	assert_true(search_nparams > 3000);
	for (size_t i = 1; i < search_nparams; i++) {
		const search_param *a = &search_params[i - 1], *b = &search_params[i];
		int c = strcmp(a->rtype, b->rtype);
		assert_true(c < 0 || (c == 0 && strcmp(a->code, b->code) < 0));
	}
}

/* Every row is found by its own (rtype, code), and its id is its index. */
static void test_params_id_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < search_nparams; i++) {
		const search_param *r = &search_params[i];
		assert_int_equal(search_param_id(search_param_find(r->rtype, r->code)), i);
	}
}

/* Shape invariants: references carry a NULL-terminated target list,
 * composites their components, nothing else either; a row's expression
 * is about its own type. */
static void test_params_shapes(void **state)
{
	(void)state;
	for (size_t i = 0; i < search_nparams; i++) {
		const search_param *r = &search_params[i];
		assert_true(r->type >= SEARCH_T_NUMBER && r->type <= SEARCH_T_SPECIAL);
		assert_non_null(r->url);
		assert_true(r->us_core == 0 || r->us_core == 1);
		if (r->type == SEARCH_T_REFERENCE)
			assert_non_null(r->targets);
		else
			assert_null(r->targets);
		if (r->type == SEARCH_T_COMPOSITE) {
			assert_non_null(r->comps);
			assert_true(r->ncomps >= 2);
		} else {
			assert_null(r->comps);
			assert_int_equal(r->ncomps, 0);
		}
	}
	assert_int_equal(strlen(search_params_hash), 16);
	assert_int_equal(strspn(search_params_hash, "0123456789abcdef"), 16);
}

static void test_params_lookup_misses(void **state)
{
	size_t first = 7, n = 7;

	(void)state;
	assert_null(search_param_find("Observation", "no-such-param"));
	assert_null(search_param_find("Observatio", "code"));
	assert_null(search_param_find("NoSuchType", "_id"));
	assert_null(search_param_find("", ""));
	search_params_of("NoSuchType", &first, &n);
	assert_int_equal(n, 0);
	search_params_of("Observatio", &first, &n);
	assert_int_equal(n, 0);
}

/* clinical-patient has 20-odd bases; the Observation row keeps only its
 * own union branch. */
static void test_params_observation_patient(void **state)
{
	const search_param *p;

	(void)state;
	p = find("Observation", "patient");
	assert_int_equal(p->type, SEARCH_T_REFERENCE);
	assert_string_equal(p->expr, "Observation.subject.where(resolve() is Patient)");
	assert_string_equal(p->targets[0], "Patient");
	assert_null(p->targets[1]);
	assert_int_equal(p->us_core, 1);
	assert_string_equal(p->url, "http://hl7.org/fhir/SearchParameter/clinical-patient");

	p = find("Patient", "name");
	assert_int_equal(p->type, SEARCH_T_STRING);
	assert_string_equal(p->expr, "Patient.name");

	/* individual-email: Patient | Person | Practitioner | ... */
	p = find("Person", "email");
	assert_int_equal(p->type, SEARCH_T_TOKEN);
	assert_string_equal(p->expr, "Person.telecom.where(system='email')");

	/* A parenthesised branch keeps its parentheses. */
	assert_string_equal(find("Goal", "target-date")->expr, "(Goal.target.due as date)");
}

static void test_params_composite(void **state)
{
	const search_param *p;

	(void)state;
	p = find("Observation", "code-value-quantity");
	assert_int_equal(p->type, SEARCH_T_COMPOSITE);
	assert_int_equal(p->ncomps, 2);
	assert_string_equal(p->comps[0].code, "code");
	assert_int_equal(p->comps[0].type, SEARCH_T_TOKEN);
	assert_string_equal(p->comps[0].expr, "code");
	assert_string_equal(p->comps[1].code, "value-quantity");
	assert_int_equal(p->comps[1].type, SEARCH_T_QUANTITY);
	assert_string_equal(p->comps[1].expr, "value.as(Quantity)");
}

/* Resource and DomainResource parameters: one row per concrete type,
 * "Resource." replaced by the type; _text only on DomainResources. */
static void test_params_resource_level(void **state)
{
	(void)state;
	assert_int_equal(find("Observation", "_id")->type, SEARCH_T_TOKEN);
	assert_string_equal(find("Observation", "_id")->expr, "Observation.id");
	assert_int_equal(find("Observation", "_lastUpdated")->type, SEARCH_T_DATE);
	assert_string_equal(find("Observation", "_lastUpdated")->expr, "Observation.meta.lastUpdated");
	assert_string_equal(find("Observation", "_tag")->expr, "Observation.meta.tag");
	assert_non_null(find("Bundle", "_id"));
	assert_non_null(find("Parameters", "_profile"));
	assert_null(find("Patient", "_text")->expr);
	assert_null(find("Patient", "_content")->expr);
	assert_null(search_param_find("Bundle", "_text"));
	assert_null(search_param_find("Binary", "_text"));
	assert_null(search_param_find("Parameters", "_text"));
	/* Abstract types get no rows. */
	assert_null(search_param_find("Resource", "_id"));
	assert_null(search_param_find("DomainResource", "_text"));
}

static void test_params_us_core(void **state)
{
	const search_param *p;

	(void)state;
	/* Defined by US Core only. */
	p = find("Patient", "race");
	assert_int_equal(p->type, SEARCH_T_TOKEN);
	assert_int_equal(p->us_core, 1);
	assert_string_equal(p->url, "http://hl7.org/fhir/us/core/SearchParameter/us-core-race");
	assert_int_equal(find("Patient", "ethnicity")->us_core, 1);
	assert_int_equal(find("Condition", "asserted-date")->type, SEARCH_T_DATE);
	assert_int_equal(find("Encounter", "discharge-disposition")->us_core, 1);
	/* In R4 and US Core: the R4 definition stays. */
	p = find("Patient", "birthdate");
	assert_int_equal(p->us_core, 1);
	assert_string_equal(p->url, "http://hl7.org/fhir/SearchParameter/individual-birthdate");
	assert_int_equal(find("Patient", "_id")->us_core, 1);
	/* Not required by US Core. */
	assert_int_equal(find("Patient", "phonetic")->us_core, 0);
	assert_int_equal(find("Account", "_id")->us_core, 0);
}

static void test_params_of(void **state)
{
	size_t first, n, count = 0;

	(void)state;
	for (size_t i = 0; i < search_nparams; i++)
		if (strcmp(search_params[i].rtype, "Observation") == 0)
			count++;
	search_params_of("Observation", &first, &n);
	assert_int_equal(n, count);
	assert_true(n > 0);
	for (size_t i = first; i < first + n; i++)
		assert_string_equal(search_params[i].rtype, "Observation");
	assert_true(first == 0 || strcmp(search_params[first - 1].rtype, "Observation") != 0);
	assert_true(first + n == search_nparams ||
		    strcmp(search_params[first + n].rtype, "Observation") != 0);

	/* The first and the last type. */
	search_params_of(search_params[0].rtype, &first, &n);
	assert_int_equal(first, 0);
	assert_true(n > 0);
	search_params_of(search_params[search_nparams - 1].rtype, &first, &n);
	assert_int_equal(first + n, search_nparams);
}

static void test_params_compartment(void **state)
{
	const char *const *c;
	size_t i;

	(void)state;
	c = search_compartment_params("Observation");
	assert_non_null(c);
	assert_true(has(c, "subject"));
	assert_true(has(c, "performer"));
	c = search_compartment_params("Patient");
	assert_non_null(c);
	assert_true(has(c, "link"));
	assert_null(search_compartment_params("Organization"));
	assert_null(search_compartment_params("NoSuchType"));

	for (i = 0; search_compartment_types[i]; i++) {
		const char *t = search_compartment_types[i];
		if (i > 0)
			assert_true(strcmp(search_compartment_types[i - 1], t) < 0);
		c = search_compartment_params(t);
		assert_non_null(c);
		assert_non_null(c[0]);
	}
	assert_true(i > 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params_sorted_unique),
		cmocka_unit_test(test_params_id_roundtrip),
		cmocka_unit_test(test_params_shapes),
		cmocka_unit_test(test_params_lookup_misses),
		cmocka_unit_test(test_params_observation_patient),
		cmocka_unit_test(test_params_composite),
		cmocka_unit_test(test_params_resource_level),
		cmocka_unit_test(test_params_us_core),
		cmocka_unit_test(test_params_of),
		cmocka_unit_test(test_params_compartment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
