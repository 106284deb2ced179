/*
 * test_summary.c - _summary and _elements (summary.h) against
 * search.html#summary and #elements: which top-level elements each mode
 * keeps (isSummary from the R4 StructureDefinitions, mandatory elements,
 * choice groups, "_x" companions) and the SUBSETTED tag in meta.tag.
 */
#include "core/err.h"
#include "fhir/summary.h"
#include "fhir/types.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SUBSETTED_TAG                                                                      \
	"{\"system\": \"http://terminology.hl7.org/CodeSystem/v3-ObservationValue\", \"code\": " \
	"\"SUBSETTED\", \"display\": \"Resource encoded in summary mode\"}"

/* A Patient with summary elements (identifier, active, name, gender,
 * birthDate and its companion), non-summary ones (text, photo,
 * communication, extension, contained) and a modifierExtension. */
static const char *patient =
	"{\"resourceType\": \"Patient\", \"id\": \"p1\","
	" \"meta\": {\"versionId\": \"3\", \"lastUpdated\": \"2024-01-02T03:04:05Z\"},"
	" \"text\": {\"status\": \"generated\", \"div\": \"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">x</div>\"},"
	" \"extension\": [{\"url\": \"http://example.org/e\", \"valueString\": \"e\"}],"
	" \"modifierExtension\": [{\"url\": \"http://example.org/m\", \"valueBoolean\": true}],"
	" \"contained\": [{\"resourceType\": \"Organization\", \"id\": \"o\"}],"
	" \"identifier\": [{\"system\": \"urn:s\", \"value\": \"1\"}],"
	" \"active\": true,"
	" \"name\": [{\"family\": \"Chalmers\", \"given\": [\"Peter\"]}],"
	" \"gender\": \"male\","
	" \"birthDate\": \"1974-12-25\","
	" \"_birthDate\": {\"extension\": [{\"url\": \"http://example.org/t\", \"valueString\": \"t\"}]},"
	" \"photo\": [{\"contentType\": \"image/png\", \"data\": \"AAAA\"}],"
	" \"communication\": [{\"language\": {\"text\": \"en\"}}]}";

/* An Observation with its two mandatory elements (status, code), two
 * choices (effective[x], value[x]) and non-summary elements (text,
 * interpretation, note). */
static const char *observation =
	"{\"resourceType\": \"Observation\", \"id\": \"o1\","
	" \"text\": {\"status\": \"generated\", \"div\": \"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">o</div>\"},"
	" \"status\": \"final\","
	" \"code\": {\"text\": \"weight\"},"
	" \"subject\": {\"reference\": \"Patient/p1\"},"
	" \"effectiveDateTime\": \"2024-01-01\","
	" \"valueQuantity\": {\"value\": 70, \"unit\": \"kg\"},"
	" \"interpretation\": [{\"text\": \"normal\"}],"
	" \"note\": [{\"text\": \"n\"}]}";

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	return v;
}

static const fhir_type *type_of(const json_t *res)
{
	const char *rt = json_string_value(json_object_get(res, "resourceType"));
	const fhir_type *t;

	assert_non_null(rt);
	t = fhir_type_find(rt, strlen(rt));
	assert_non_null(t);
	return t;
}

/* Applies mode/elements to in and expects exactly out (JSON equality, so
 * key order does not matter) and the subsetted flag sub. */
static void expect(const char *in, int mode, const char *const *els, size_t n, const char *out, int sub)
{
	json_t *res = parse(in);
	json_t *want = parse(out);
	int subsetted = -1;
	int rc = fhir_summary_apply(res, type_of(res), mode, els, n, &subsetted);

	assert_int_equal(rc, 0);
	assert_int_equal(subsetted, sub);
	if (!json_equal(res, want)) {
		char *got = json_dumps(res, JSON_SORT_KEYS);
		char *exp = json_dumps(want, JSON_SORT_KEYS);
		fprintf(stderr, "got:  %s\nwant: %s\n", got, exp);
		free(got);
		free(exp);
		fail_msg("mode %d: result differs", mode);
	}
	json_decref(res);
	json_decref(want);
}

/* Number of SUBSETTED codings in res.meta.tag. */
static size_t count_subsetted(const json_t *res)
{
	const json_t *tags = json_object_get(json_object_get(res, "meta"), "tag");
	const json_t *tag;
	size_t i, n = 0;

	json_array_foreach(tags, i, tag)
	{
		const char *code = json_string_value(json_object_get(tag, "code"));
		if (code && strcmp(code, "SUBSETTED") == 0)
			n++;
	}
	return n;
}

static void test_summary_true_patient(void **state)
{
	(void)state;
	expect(patient, FHIR_SUMMARY_TRUE, NULL, 0,
	       "{\"resourceType\": \"Patient\", \"id\": \"p1\","
	       " \"meta\": {\"versionId\": \"3\", \"lastUpdated\": \"2024-01-02T03:04:05Z\", \"tag\": [" SUBSETTED_TAG "]},"
	       " \"modifierExtension\": [{\"url\": \"http://example.org/m\", \"valueBoolean\": true}],"
	       " \"identifier\": [{\"system\": \"urn:s\", \"value\": \"1\"}],"
	       " \"active\": true,"
	       " \"name\": [{\"family\": \"Chalmers\", \"given\": [\"Peter\"]}],"
	       " \"gender\": \"male\","
	       " \"birthDate\": \"1974-12-25\","
	       " \"_birthDate\": {\"extension\": [{\"url\": \"http://example.org/t\", \"valueString\": \"t\"}]}}",
	       1);
}

/* Applying twice, or to a resource that carries the tag already, adds it
 * once; another tag stays in front of it. */
static void test_summary_tag_once(void **state)
{
	json_t *res = parse("{\"resourceType\": \"Patient\", \"id\": \"p\", \"gender\": \"female\", \"photo\": [{}],"
			    " \"meta\": {\"tag\": [{\"system\": \"urn:t\", \"code\": \"other\"}]}}");
	const json_t *tags;
	int sub = 0;

	(void)state;
	assert_int_equal(fhir_summary_apply(res, type_of(res), FHIR_SUMMARY_TRUE, NULL, 0, &sub), 0);
	assert_int_equal(sub, 1);
	assert_int_equal(fhir_summary_apply(res, type_of(res), FHIR_SUMMARY_TRUE, NULL, 0, &sub), 0);
	assert_int_equal(fhir_summary_apply(res, type_of(res), FHIR_SUMMARY_DATA, NULL, 0, NULL), 0);
	tags = json_object_get(json_object_get(res, "meta"), "tag");
	assert_int_equal(json_array_size(tags), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(tags, 0), "code")), "other");
	assert_int_equal(count_subsetted(res), 1);
	assert_null(json_object_get(res, "photo"));
	assert_non_null(json_object_get(res, "gender"));
	json_decref(res);

	/* A SUBSETTED tag from elsewhere (stored that way) is not doubled. */
	res = parse("{\"resourceType\": \"Patient\", \"meta\": {\"tag\": [" SUBSETTED_TAG "]}}");
	assert_int_equal(fhir_summary_apply(res, type_of(res), FHIR_SUMMARY_TEXT, NULL, 0, &sub), 0);
	assert_int_equal(count_subsetted(res), 1);
	json_decref(res);
}

/* A meta or tag of the wrong JSON type (never stored: validate.c rejects
 * it) is left alone rather than replaced. */
static void test_summary_tag_odd_meta(void **state)
{
	(void)state;
	expect("{\"resourceType\": \"Patient\", \"meta\": 7, \"photo\": [{}]}", FHIR_SUMMARY_TRUE, NULL, 0,
	       "{\"resourceType\": \"Patient\", \"meta\": 7}", 1);
	expect("{\"resourceType\": \"Patient\", \"meta\": {\"tag\": {}}, \"photo\": [{}]}", FHIR_SUMMARY_TRUE, NULL, 0,
	       "{\"resourceType\": \"Patient\", \"meta\": {\"tag\": {}}}", 1);
}

static void test_summary_text(void **state)
{
	(void)state;
	/* Patient has no mandatory element: id, meta, text (and the modifier
	 * extension, which must not vanish silently). */
	expect(patient, FHIR_SUMMARY_TEXT, NULL, 0,
	       "{\"resourceType\": \"Patient\", \"id\": \"p1\","
	       " \"meta\": {\"versionId\": \"3\", \"lastUpdated\": \"2024-01-02T03:04:05Z\", \"tag\": [" SUBSETTED_TAG "]},"
	       " \"text\": {\"status\": \"generated\", \"div\": \"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">x</div>\"},"
	       " \"modifierExtension\": [{\"url\": \"http://example.org/m\", \"valueBoolean\": true}]}",
	       1);
	/* Observation.status and .code are 1..1: kept. */
	expect(observation, FHIR_SUMMARY_TEXT, NULL, 0,
	       "{\"resourceType\": \"Observation\", \"id\": \"o1\", \"meta\": {\"tag\": [" SUBSETTED_TAG "]},"
	       " \"text\": {\"status\": \"generated\", \"div\": \"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">o</div>\"},"
	       " \"status\": \"final\", \"code\": {\"text\": \"weight\"}}",
	       1);
}

static void test_summary_data(void **state)
{
	json_t *res = parse(patient);
	json_t *want = parse(patient);
	int sub = 0;

	(void)state;
	json_object_del(want, "text");
	assert_int_equal(fhir_summary_apply(res, type_of(res), FHIR_SUMMARY_DATA, NULL, 0, &sub), 0);
	assert_int_equal(sub, 1);
	assert_int_equal(count_subsetted(res), 1);
	/* Everything else untouched; the tag is the only addition. */
	json_object_del(json_object_get(res, "meta"), "tag");
	assert_true(json_equal(res, want));
	json_decref(res);
	json_decref(want);
}

static void test_summary_true_observation(void **state)
{
	(void)state;
	/* value[x] and effective[x] are summary; interpretation and note are not. */
	expect(observation, FHIR_SUMMARY_TRUE, NULL, 0,
	       "{\"resourceType\": \"Observation\", \"id\": \"o1\", \"meta\": {\"tag\": [" SUBSETTED_TAG "]},"
	       " \"status\": \"final\", \"code\": {\"text\": \"weight\"},"
	       " \"subject\": {\"reference\": \"Patient/p1\"}, \"effectiveDateTime\": \"2024-01-01\","
	       " \"valueQuantity\": {\"value\": 70, \"unit\": \"kg\"}}",
	       1);
}

/* Mandatory elements that are not isSummary stay: AuditEvent.agent and
 * .source are 1..* / 1..1 without the flag. */
static void test_summary_true_mandatory(void **state)
{
	(void)state;
	expect("{\"resourceType\": \"AuditEvent\", \"type\": {\"code\": \"rest\"}, \"recorded\": \"2024-01-01T00:00:00Z\","
	       " \"agent\": [{\"requestor\": true}], \"source\": {\"observer\": {\"display\": \"s\"}},"
	       " \"entity\": [{\"name\": \"e\"}], \"period\": {\"start\": \"2024\"}}",
	       FHIR_SUMMARY_TRUE, NULL, 0,
	       "{\"resourceType\": \"AuditEvent\", \"type\": {\"code\": \"rest\"}, \"recorded\": \"2024-01-01T00:00:00Z\","
	       " \"agent\": [{\"requestor\": true}], \"source\": {\"observer\": {\"display\": \"s\"}},"
	       " \"meta\": {\"tag\": [" SUBSETTED_TAG "]}}",
	       1);
}

static void test_elements_patient(void **state)
{
	const char *const els[] = { "birthDate", "name" };

	(void)state;
	expect(patient, FHIR_SUMMARY_ELEMENTS, els, 2,
	       "{\"resourceType\": \"Patient\", \"id\": \"p1\","
	       " \"meta\": {\"versionId\": \"3\", \"lastUpdated\": \"2024-01-02T03:04:05Z\", \"tag\": [" SUBSETTED_TAG "]},"
	       " \"modifierExtension\": [{\"url\": \"http://example.org/m\", \"valueBoolean\": true}],"
	       " \"name\": [{\"family\": \"Chalmers\", \"given\": [\"Peter\"]}],"
	       " \"birthDate\": \"1974-12-25\","
	       " \"_birthDate\": {\"extension\": [{\"url\": \"http://example.org/t\", \"valueString\": \"t\"}]}}",
	       1);
}

static void test_elements_names(void **state)
{
	const char *const text[] = { "text", "photo" };
	const char *const dotted[] = { NULL, "name.given", "nosuch", "", "Patient.gender" };

	(void)state;
	/* Listing a non-summary element keeps it. */
	expect("{\"resourceType\": \"Patient\", \"text\": {\"div\": \"d\"}, \"photo\": [{}], \"gender\": \"male\"}",
	       FHIR_SUMMARY_ELEMENTS, text, 2,
	       "{\"resourceType\": \"Patient\", \"text\": {\"div\": \"d\"}, \"photo\": [{}],"
	       " \"meta\": {\"tag\": [" SUBSETTED_TAG "]}}",
	       1);
	/* A dotted path keeps its whole first step; unknown names and NULL
	 * entries match nothing (type-prefixed names are not R4 syntax). */
	expect("{\"resourceType\": \"Patient\", \"name\": [{\"family\": \"F\", \"given\": [\"G\"]}], \"gender\": \"male\"}",
	       FHIR_SUMMARY_ELEMENTS, dotted, 5,
	       "{\"resourceType\": \"Patient\", \"name\": [{\"family\": \"F\", \"given\": [\"G\"]}],"
	       " \"meta\": {\"tag\": [" SUBSETTED_TAG "]}}",
	       1);
}

static void test_elements_choice(void **state)
{
	const char *const value[] = { "value" };
	const char *const vq[] = { "valueQuantity" };
	const char *const vs[] = { "valueString", "effective" };
	static const char *out =
		"{\"resourceType\": \"Observation\", \"id\": \"o1\", \"meta\": {\"tag\": [" SUBSETTED_TAG "]},"
		" \"status\": \"final\", \"code\": {\"text\": \"weight\"},"
		" \"valueQuantity\": {\"value\": 70, \"unit\": \"kg\"}}";

	(void)state;
	/* The choice group keeps whichever expansion is there; status and
	 * code are mandatory and stay unasked. */
	expect(observation, FHIR_SUMMARY_ELEMENTS, value, 1, out, 1);
	expect(observation, FHIR_SUMMARY_ELEMENTS, vq, 1, out, 1);
	/* Another expansion's name does not keep this one. */
	expect(observation, FHIR_SUMMARY_ELEMENTS, vs, 2,
	       "{\"resourceType\": \"Observation\", \"id\": \"o1\", \"meta\": {\"tag\": [" SUBSETTED_TAG "]},"
	       " \"status\": \"final\", \"code\": {\"text\": \"weight\"}, \"effectiveDateTime\": \"2024-01-01\"}",
	       1);
}

/* A required choice group (MedicationRequest.medication[x] 1..1) keeps its
 * expansion like any mandatory element. */
static void test_elements_required_choice(void **state)
{
	const char *const els[] = { "note" };

	(void)state;
	expect("{\"resourceType\": \"MedicationRequest\", \"status\": \"active\", \"intent\": \"order\","
	       " \"medicationCodeableConcept\": {\"text\": \"m\"}, \"subject\": {\"reference\": \"Patient/p\"},"
	       " \"note\": [{\"text\": \"n\"}], \"reasonCode\": [{\"text\": \"r\"}], \"priority\": \"routine\"}",
	       FHIR_SUMMARY_ELEMENTS, els, 1,
	       "{\"resourceType\": \"MedicationRequest\", \"status\": \"active\", \"intent\": \"order\","
	       " \"medicationCodeableConcept\": {\"text\": \"m\"}, \"subject\": {\"reference\": \"Patient/p\"},"
	       " \"note\": [{\"text\": \"n\"}], \"meta\": {\"tag\": [" SUBSETTED_TAG "]}}",
	       1);
}

/* Unknown properties go in every subsetting mode, and stay with data. */
static void test_summary_unknown(void **state)
{
	(void)state;
	expect("{\"resourceType\": \"Patient\", \"bogus\": 1, \"_\": 2, \"_bogus\": 3}", FHIR_SUMMARY_TRUE, NULL, 0,
	       "{\"resourceType\": \"Patient\", \"meta\": {\"tag\": [" SUBSETTED_TAG "]}}", 1);
	expect("{\"resourceType\": \"Patient\", \"bogus\": 1}", FHIR_SUMMARY_DATA, NULL, 0,
	       "{\"resourceType\": \"Patient\", \"bogus\": 1, \"meta\": {\"tag\": [" SUBSETTED_TAG "]}}", 1);
}

/* Calls that ask for nothing change nothing and do not tag. */
static void test_summary_noop(void **state)
{
	const char *const els[] = { "name" };
	json_t *res = parse(patient);
	json_t *orig = parse(patient);
	json_t *arr = json_array();
	const fhir_type *t = type_of(res);
	int sub = -1;

	(void)state;
	assert_int_equal(fhir_summary_apply(res, t, FHIR_SUMMARY_ELEMENTS, els, 0, &sub), 0);
	assert_int_equal(sub, 0);
	assert_int_equal(fhir_summary_apply(res, t, FHIR_SUMMARY_ELEMENTS, NULL, 3, &sub), 0);
	assert_int_equal(fhir_summary_apply(res, t, 4, NULL, 0, &sub), 0);
	assert_int_equal(fhir_summary_apply(res, t, -1, els, 1, &sub), 0);
	assert_int_equal(sub, 0);
	assert_true(json_equal(res, orig));
	assert_int_equal(fhir_summary_apply(arr, t, FHIR_SUMMARY_TRUE, NULL, 0, &sub), 0);
	assert_int_equal(fhir_summary_apply(NULL, t, FHIR_SUMMARY_TRUE, NULL, 0, &sub), 0);
	assert_int_equal(sub, 0);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	json_decref(res);
	json_decref(orig);
}

/* With no type, nothing is summary or mandatory. */
static void test_summary_null_type(void **state)
{
	json_t *res = parse(observation);
	int sub = 0;

	(void)state;
	assert_int_equal(fhir_summary_apply(res, NULL, FHIR_SUMMARY_TRUE, NULL, 0, &sub), 0);
	assert_int_equal(sub, 1);
	assert_int_equal(json_object_size(res), 3); /* resourceType, id, meta */
	assert_int_equal(count_subsetted(res), 1);
	json_decref(res);
}

/* Allocations allowed before failing_malloc fails; < 0: no limit. */
static long alloc_budget = -1;

static void *failing_malloc(size_t n)
{
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return malloc(n);
}

/* Every allocation failure in turn: ERR_NOMEM (never a crash or a leak
 * under ASan) until the budget suffices, then the full result. */
static void test_summary_nomem(void **state)
{
	long budget;
	int rc = ERR_NOMEM;

	(void)state;
	for (budget = 0; rc == ERR_NOMEM; budget++) {
		json_t *res = parse("{\"resourceType\": \"Patient\", \"photo\": [{}], \"gender\": \"male\"}");
		int sub = 0;

		json_set_alloc_funcs(failing_malloc, free);
		alloc_budget = budget;
		rc = fhir_summary_apply(res, type_of(res), FHIR_SUMMARY_TRUE, NULL, 0, &sub);
		alloc_budget = -1;
		json_set_alloc_funcs(malloc, free);
		assert_true(rc == 0 || rc == ERR_NOMEM);
		assert_int_equal(sub, 1);
		if (rc == 0)
			assert_int_equal(count_subsetted(res), 1);
		json_decref(res);
		assert_true(budget < 100);
	}
	assert_true(budget > 1); /* failures were seen on the way */
}

static int is_summary(const char *type, const char *name)
{
	const fhir_type *t = fhir_type_find(type, strlen(type));
	assert_non_null(t);
	return fhir_summary_element(t, fhir_type_element(t, name));
}

/* The generated isSummary column against the R4 definitions. */
static void test_summary_flags(void **state)
{
	static const fhir_element own_el[] = { { .name = "name", .kind = FHIR_K_STRING } };
	static const fhir_type own = { .name = "Patient", .elements = own_el, .n_elements = 1 }; /* not fhir_types[]'s Patient */
	const fhir_type *pat = fhir_type_find("Patient", 7);
	fhir_element copy;
	unsigned i, j;

	(void)state;
	assert_true(is_summary("Patient", "name"));
	assert_true(is_summary("Patient", "identifier"));
	assert_true(is_summary("Patient", "gender"));
	assert_true(is_summary("Patient", "birthDate"));
	assert_true(is_summary("Patient", "active"));
	assert_true(is_summary("Patient", "deceasedBoolean")); /* choice: the group's flag */
	assert_true(is_summary("Patient", "deceasedDateTime"));
	assert_false(is_summary("Patient", "multipleBirthInteger"));
	assert_false(is_summary("Patient", "photo"));
	assert_false(is_summary("Patient", "communication"));
	assert_false(is_summary("Patient", "text"));
	assert_false(is_summary("Patient", "modifierExtension"));
	assert_true(is_summary("Observation", "valueQuantity"));
	assert_true(is_summary("Observation", "status"));
	assert_false(is_summary("Observation", "dataAbsentReason"));
	assert_false(is_summary("AuditEvent", "agent"));
	/* Every resource: id, meta and implicitRules are summary, text,
	 * contained and extension are not. */
	for (i = 0; i < fhir_types_count; i++) {
		const fhir_type *t = &fhir_types[i];
		for (j = 0; j < t->n_elements; j++) {
			const char *n = t->elements[j].name;
			int s = fhir_summary_element(t, &t->elements[j]);
			assert_int_equal(s, fhir_types_summary[i][j]);
			if (strcmp(n, "id") == 0 || strcmp(n, "meta") == 0 || strcmp(n, "implicitRules") == 0)
				assert_int_equal(s, 1);
			if (strcmp(n, "text") == 0 || strcmp(n, "contained") == 0 || strcmp(n, "extension") == 0)
				assert_int_equal(s, 0);
		}
	}
	/* Not from the generated tables: 0. */
	assert_int_equal(fhir_summary_element(&own, &own_el[0]), 0);
	copy = *fhir_type_element(pat, "name");
	assert_int_equal(fhir_summary_element(pat, &copy), 0);
	assert_int_equal(fhir_summary_element(NULL, &own_el[0]), 0);
	assert_int_equal(fhir_summary_element(pat, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_true_patient),
		cmocka_unit_test(test_summary_tag_once),
		cmocka_unit_test(test_summary_tag_odd_meta),
		cmocka_unit_test(test_summary_text),
		cmocka_unit_test(test_summary_data),
		cmocka_unit_test(test_summary_true_observation),
		cmocka_unit_test(test_summary_true_mandatory),
		cmocka_unit_test(test_elements_patient),
		cmocka_unit_test(test_elements_names),
		cmocka_unit_test(test_elements_choice),
		cmocka_unit_test(test_elements_required_choice),
		cmocka_unit_test(test_summary_unknown),
		cmocka_unit_test(test_summary_noop),
		cmocka_unit_test(test_summary_null_type),
		cmocka_unit_test(test_summary_nomem),
		cmocka_unit_test(test_summary_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
