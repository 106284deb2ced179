/*
 * test_extract.c - index extraction (extract.h) and the FHIRPath subset
 * beneath it (fhirpath.h).
 *
 * - Coverage: every expression of search_params[] either is supported, or
 *   is on the allow-list below with the reason; the list is printed, and
 *   a new unsupported expression (or one that became supported) fails.
 * - Real resources (trimmed from the Inferno US Core bundle for patient
 *   85, shared/testdata/inferno/uscore_bundle_patient_85.json, with the
 *   urn:uuid references rewritten as a transaction would) give exactly
 *   the rows the datatype rules of extract.h and search.html ask for.
 * - The evaluator: choice types, where/extension/indexer/union, the
 *   deceased expression's three-valued logic, compile errors.
 */
#include "core/err.h"
#include "search/extract.h"
#include "search/fhirpath.h"
#include "search/params.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define BASE "http://example.org/fhir"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

	if (!v)
		fail_msg("bad test JSON: %s (line %d): %s", jerr.text, jerr.line, text);
	return v;
}

static int setup(void **state)
{
	(void)state;
	return search_extract_init();
}

static int teardown(void **state)
{
	(void)state;
	search_extract_fini();
	return 0;
}

/* ------------------------------------------------------------ coverage */

/* Expressions of the tables that are not (fully) indexed, and why. "*"
 * matches any resource type. Keep it short: each entry is a gap. */
static const struct allow {
	const char *rtype, *code, *why;
} allow[] = {
	{ "*", "context-quantity",
	  "(X.useContext.value as Range): Range is not indexed as a quantity (extract.h); "
	  "the Quantity branch is" },
	{ "*", "context-type-quantity",
	  "composite whose value is value.as(Quantity) | value.as(Range): the Range part is not indexed" },
	{ "Condition", "onset-age", "Condition.onset.as(Range) is not indexed; onsetAge is" },
	{ "Condition", "abatement-age", "Condition.abatement.as(Range) is not indexed; abatementAge is" },
	{ "Bundle", "composition",
	  "Bundle.entry[0].resource selects an embedded resource, not a reference to index" },
	{ "Bundle", "message",
	  "Bundle.entry[0].resource selects an embedded resource, not a reference to index" },
	{ "DocumentReference", "relationship",
	  "R4 pairs the component definitions with each other's expressions: the first "
	  "component is a reference over relatesTo.code" },
	{ "Location", "near", "special: geographic distance, no index row" },
	{ "MolecularSequence", "chromosome-variant-coordinate", "3 components; uses %resource" },
	{ "MolecularSequence", "referenceseqid-variant-coordinate", "3 components; uses %resource" },
	{ "MolecularSequence", "chromosome-window-coordinate", "3 components" },
	{ "MolecularSequence", "referenceseqid-window-coordinate", "3 components" },
};

static void test_coverage(void **state)
{
	size_t i, k, unsupported = 0, total = 0;
	unsigned used[sizeof allow / sizeof allow[0]] = { 0 };
	int bad = 0;

	(void)state;
	printf("unsupported search parameter expressions:\n");
	for (i = 0; i < search_nparams; i++) {
		const search_param *p = &search_params[i];
		if (!p->expr)
			continue;
		total++;
		if (search_extract_supported(i))
			continue;
		unsupported++;
		for (k = 0; k < sizeof allow / sizeof allow[0]; k++)
			if ((strcmp(allow[k].rtype, "*") == 0 || strcmp(allow[k].rtype, p->rtype) == 0) &&
			    strcmp(allow[k].code, p->code) == 0)
				break;
		if (k == sizeof allow / sizeof allow[0]) {
			printf("  NOT ALLOWED %s.%s: %s\n", p->rtype, p->code, p->expr);
			bad = 1;
			continue;
		}
		used[k]++;
		printf("  %s.%s: %s\n", p->rtype, p->code, p->expr);
	}
	printf("%zu of %zu expressions not fully supported; why:\n", unsupported, total);
	for (k = 0; k < sizeof allow / sizeof allow[0]; k++) {
		printf("  %s.%s (%u): %s\n", allow[k].rtype, allow[k].code, used[k], allow[k].why);
		if (!used[k]) {
			printf("  ^ supported now: remove it from the allow-list\n");
			bad = 1;
		}
	}
	assert_false(bad);
	/* a table regression (everything unsupported) must not pass */
	assert_true(unsupported < 150);
	assert_true(total > 2500);
}

/* ----------------------------------------------------- row rendering */

static const char *kind_name(enum search_row_kind k)
{
	static const char *const n[] = { "?", "STRING", "TOKEN", "TEXT", "OF_TYPE", "REF", "REF_IDENT",
					 "DATE", "NUMBER", "QUANTITY", "URI", "COMPOSITE" };
	return (unsigned)k < sizeof n / sizeof n[0] ? n[k] : "?";
}

/* One row as text: "TOKEN sys|code", "STRING norm/asis", "DATE lo..hi",
 * "QUANTITY 51.2 sys|code", "COMPOSITE sys|code$..." */
static void render(const search_row *r, char *out, size_t cap)
{
	const char *k = kind_name(r->kind);

	switch (r->kind) {
	case SEARCH_ROW_STRING:
		snprintf(out, cap, "%s %s/%s", k, r->str, r->str2);
		break;
	case SEARCH_ROW_TOKEN_TEXT:
	case SEARCH_ROW_URI:
		snprintf(out, cap, "%s %s", k, r->str);
		break;
	case SEARCH_ROW_TOKEN:
	case SEARCH_ROW_OF_TYPE:
	case SEARCH_ROW_REFERENCE:
	case SEARCH_ROW_REF_IDENT:
		snprintf(out, cap, "%s %s|%s", k, r->sys, r->code);
		break;
	case SEARCH_ROW_DATE:
		snprintf(out, cap, "%s %lld..%lld", k, (long long)r->lo, (long long)r->hi);
		break;
	case SEARCH_ROW_NUMBER:
		snprintf(out, cap, "%s %g", k, r->num);
		break;
	case SEARCH_ROW_QUANTITY:
		snprintf(out, cap, "%s %g %s|%s", k, r->num, r->sys, r->code);
		break;
	case SEARCH_ROW_COMPOSITE:
		if (r->sys2)
			snprintf(out, cap, "%s %s|%s$%s|%s", k, r->sys, r->code, r->sys2, r->code2);
		else if (r->sys3)
			snprintf(out, cap, "%s %s|%s$%g %s|%s", k, r->sys, r->code, r->num, r->sys3, r->code3);
		else if (r->str)
			snprintf(out, cap, "%s %s|%s$%s", k, r->sys, r->code, r->str);
		else
			snprintf(out, cap, "%s %s|%s$%lld..%lld", k, r->sys, r->code, (long long)r->lo,
				 (long long)r->hi);
		break;
	default:
		snprintf(out, cap, "?");
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Asserts that the rows of parameter (rtype, code) are exactly want
 * (NULL-terminated, any order). */
static void expect_rows(const search_rows *rows, const char *rtype, const char *code, const char *const *want)
{
	const search_param *p = search_param_find(rtype, code);
	char *got[256];
	const char *exp[256];
	size_t ng = 0, ne = 0, i;
	int ok;

	assert_non_null(p);
	for (i = 0; i < rows->n; i++) {
		char buf[512];
		if (rows->v[i].p != search_param_id(p))
			continue;
		render(&rows->v[i], buf, sizeof buf);
		assert_true(ng < 256);
		got[ng] = strdup(buf);
		assert_non_null(got[ng]);
		ng++;
	}
	for (; want[ne]; ne++)
		exp[ne] = want[ne];
	qsort(got, ng, sizeof got[0], cmp_str);
	qsort(exp, ne, sizeof exp[0], cmp_str);
	ok = ng == ne;
	for (i = 0; ok && i < ng; i++)
		ok = strcmp(got[i], exp[i]) == 0;
	if (!ok) {
		printf("%s.%s: got %zu rows:\n", rtype, code, ng);
		for (i = 0; i < ng; i++)
			printf("    \"%s\",\n", got[i]);
		printf("  want %zu:\n", ne);
		for (i = 0; i < ne; i++)
			printf("    \"%s\",\n", exp[i]);
	}
	for (i = 0; i < ng; i++)
		free(got[i]);
	assert_true(ok);
}

#define ROWS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NO_ROWS ((const char *const[]){ NULL })

static void extract(const char *json, const char *base, search_rows *rows)
{
	json_t *res = parse(json);
	const char *rt = json_string_value(json_object_get(res, "resourceType"));

	memset(rows, 0, sizeof *rows);
	assert_int_equal(search_extract(rt, res, base, rows), 0);
	json_decref(res);
}

/* No two rows of one extraction are the same (extract.h: deduplicated). */
static void expect_unique(const search_rows *rows)
{
	size_t i, j;

	for (i = 0; i < rows->n; i++) {
		for (j = i + 1; j < rows->n; j++) {
			char a[512], b[512];
			if (rows->v[i].p != rows->v[j].p)
				continue;
			render(&rows->v[i], a, sizeof a);
			render(&rows->v[j], b, sizeof b);
			if (strcmp(a, b) == 0)
				fail_msg("duplicate row %s.%s %s", search_params[rows->v[i].p].rtype,
					 search_params[rows->v[i].p].code, a);
		}
	}
}

/* ------------------------------------------------------ real resources */

/* Inferno bundle: the head circumference vital sign. */
static const char obs_json[] =
	"{\"resourceType\":\"Observation\",\"id\":\"4b14070a-2ef9-11ed-a261-0242ac120002\","
	"\"meta\":{\"lastUpdated\":\"2024-05-01T10:00:00.123456Z\","
	"\"profile\":[\"http://hl7.org/fhir/us/core/StructureDefinition/us-core-head-circumference\"]},"
	"\"status\":\"final\","
	"\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/observation-category\","
	"\"code\":\"vital-signs\",\"display\":\"Vital Signs\"}]}],"
	"\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"9843-4\","
	"\"display\":\"Head Occipital-frontal circumference\"}],\"text\":\"Head Circumference\"},"
	"\"subject\":{\"reference\":\"Patient/85\"},"
	"\"encounter\":{\"reference\":\"Encounter/e1/_history/2\"},"
	"\"performer\":[{\"reference\":\"" BASE "/Practitioner/p1\",\"display\":\"Dr. Melvin857 Torp761\"},"
	"{\"reference\":\"http://other.example/fhir/Practitioner/9\"}],"
	"\"effectiveDateTime\":\"2020-11-18T16:19:31-08:00\","
	"\"valueQuantity\":{\"value\":51.2,\"unit\":\"cm\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"cm\"}}";

static void test_observation(void **state)
{
	search_rows rows;

	(void)state;
	extract(obs_json, BASE, &rows);
	expect_unique(&rows);
	/* clinical-patient: Observation.subject.where(resolve() is Patient) */
	expect_rows(&rows, "Observation", "patient", ROWS("REF Patient|85"));
	expect_rows(&rows, "Observation", "subject", ROWS("REF Patient|85"));
	/* the version of a version-specific reference is not indexed */
	expect_rows(&rows, "Observation", "encounter", ROWS("REF Encounter|e1"));
	/* on our base: local; elsewhere: the URL as written */
	expect_rows(&rows, "Observation", "performer",
		    ROWS("REF Practitioner|p1", "REF |http://other.example/fhir/Practitioner/9"));
	expect_rows(&rows, "Observation", "category",
		    ROWS("TOKEN http://terminology.hl7.org/CodeSystem/observation-category|vital-signs",
			 "TEXT vital signs"));
	expect_rows(&rows, "Observation", "code",
		    ROWS("TOKEN http://loinc.org|9843-4", "TEXT head occipital-frontal circumference",
			 "TEXT head circumference"));
	expect_rows(&rows, "Observation", "status", ROWS("TOKEN |final"));
	/* 2020-11-18T16:19:31-08:00 is 2020-11-19T00:19:31Z, to the second */
	expect_rows(&rows, "Observation", "date", ROWS("DATE 1605745171000000..1605745171999999"));
	expect_rows(&rows, "Observation", "value-quantity", ROWS("QUANTITY 51.2 http://unitsofmeasure.org|cm"));
	expect_rows(&rows, "Observation", "combo-value-quantity",
		    ROWS("QUANTITY 51.2 http://unitsofmeasure.org|cm"));
	expect_rows(&rows, "Observation", "code-value-quantity",
		    ROWS("COMPOSITE http://loinc.org|9843-4$51.2 http://unitsofmeasure.org|cm"));
	expect_rows(&rows, "Observation", "combo-code-value-quantity",
		    ROWS("COMPOSITE http://loinc.org|9843-4$51.2 http://unitsofmeasure.org|cm"));
	expect_rows(&rows, "Observation", "code-value-concept", NO_ROWS);
	expect_rows(&rows, "Observation", "component-code-value-quantity", NO_ROWS);
	expect_rows(&rows, "Observation", "value-concept", NO_ROWS);
	expect_rows(&rows, "Observation", "_id", ROWS("TOKEN |4b14070a-2ef9-11ed-a261-0242ac120002"));
	expect_rows(&rows, "Observation", "_lastUpdated", ROWS("DATE 1714557600123456..1714557600123456"));
	expect_rows(&rows, "Observation", "_profile",
		    ROWS("URI http://hl7.org/fhir/us/core/StructureDefinition/us-core-head-circumference"));
	search_rows_clear(&rows);

	/* without a base, an absolute reference to ourselves is just a URL */
	extract(obs_json, NULL, &rows);
	expect_rows(&rows, "Observation", "performer",
		    ROWS("REF |" BASE "/Practitioner/p1", "REF |http://other.example/fhir/Practitioner/9"));
	search_rows_clear(&rows);
}

/* Inferno bundle: pulse oximetry, with components; codes, values and the
 * composites pair up per component (search.html#composite). */
static void test_observation_components(void **state)
{
	search_rows rows;

	(void)state;
	extract("{\"resourceType\":\"Observation\",\"id\":\"o2\",\"status\":\"final\","
		"\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2708-6\"},"
		"{\"system\":\"http://loinc.org\",\"code\":\"59408-5\"},"
		"{\"system\":\"http://loinc.org\",\"code\":\"2708-6\"}]},"
		"\"subject\":{\"reference\":\"Patient/85\"},"
		"\"effectivePeriod\":{\"start\":\"2021-01\"},"
		"\"valueQuantity\":{\"value\":77,\"unit\":\"%\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"%\"},"
		"\"component\":[{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"3151-8\"}]},"
		"\"valueQuantity\":{\"value\":6,\"unit\":\"L/min\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"L/min\"}},"
		"{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"3150-0\"}]},"
		"\"valueQuantity\":{\"value\":40,\"unit\":\"percent\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"%\"}},"
		"{\"code\":{\"text\":\"note\"},\"valueString\":\"Très   bien\"}]}",
		BASE, &rows);
	expect_unique(&rows);
	/* the repeated coding is one row */
	expect_rows(&rows, "Observation", "code",
		    ROWS("TOKEN http://loinc.org|2708-6", "TOKEN http://loinc.org|59408-5"));
	expect_rows(&rows, "Observation", "component-code",
		    ROWS("TOKEN http://loinc.org|3151-8", "TOKEN http://loinc.org|3150-0", "TEXT note"));
	/* a differing unit is searchable as well (value|""|unit) */
	expect_rows(&rows, "Observation", "component-value-quantity",
		    ROWS("QUANTITY 6 http://unitsofmeasure.org|L/min", "QUANTITY 40 http://unitsofmeasure.org|%",
			 "QUANTITY 40 |percent"));
	expect_rows(&rows, "Observation", "component-code-value-quantity",
		    ROWS("COMPOSITE http://loinc.org|3151-8$6 http://unitsofmeasure.org|L/min",
			 "COMPOSITE http://loinc.org|3150-0$40 http://unitsofmeasure.org|%",
			 "COMPOSITE http://loinc.org|3150-0$40 |percent"));
	expect_rows(&rows, "Observation", "combo-code-value-quantity",
		    ROWS("COMPOSITE http://loinc.org|2708-6$77 http://unitsofmeasure.org|%",
			 "COMPOSITE http://loinc.org|59408-5$77 http://unitsofmeasure.org|%",
			 "COMPOSITE http://loinc.org|3151-8$6 http://unitsofmeasure.org|L/min",
			 "COMPOSITE http://loinc.org|3150-0$40 http://unitsofmeasure.org|%",
			 "COMPOSITE http://loinc.org|3150-0$40 |percent"));
	/* a Period open at the end: [start of January 2021, the end of time] */
	expect_rows(&rows, "Observation", "date", ROWS("DATE 1609459200000000..9223372036854775807"));
	/* component values are not Observation.value */
	expect_rows(&rows, "Observation", "value-string", NO_ROWS);
	search_rows_clear(&rows);
}

/* Inferno bundle: patient 85. */
static const char patient_json[] =
	"{\"resourceType\":\"Patient\",\"id\":\"85\","
	"\"extension\":[{\"extension\":[{\"url\":\"ombCategory\",\"valueCoding\":{\"system\":\"urn:oid:2.16.840.1.113883.6.238\","
	"\"code\":\"2106-3\",\"display\":\"White\"}},{\"url\":\"text\",\"valueString\":\"White\"}],"
	"\"url\":\"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race\"},"
	"{\"extension\":[{\"url\":\"ombCategory\",\"valueCoding\":{\"system\":\"urn:oid:2.16.840.1.113883.6.238\","
	"\"code\":\"2186-5\"}},{\"url\":\"text\",\"valueString\":\"Non Hispanic or Latino\"}],"
	"\"url\":\"http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity\"},"
	"{\"url\":\"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex\",\"valueCode\":\"M\"}],"
	"\"identifier\":[{\"system\":\"https://github.com/synthetichealth/synthea\",\"value\":\"d831ec91\"},"
	"{\"type\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v2-0203\",\"code\":\"SS\","
	"\"display\":\"Social Security number\"}],\"text\":\"Social Security number\"},"
	"\"system\":\"http://hl7.org/fhir/sid/us-ssn\",\"value\":\"999-47-5768\"}],"
	"\"name\":[{\"use\":\"official\",\"family\":\"Bosco882\",\"given\":[\"Lucien408\"],\"prefix\":[\"Mr.\"]},"
	"{\"family\":\"  Müller-Lüdenscheidt \",\"given\":[\"JOSÉ\",\"Ærøskøbing\"]}],"
	"\"telecom\":[{\"system\":\"phone\",\"value\":\"555-510-6254\",\"use\":\"home\"},"
	"{\"system\":\"email\",\"value\":\"lucien@example.org\"}],"
	"\"gender\":\"male\",\"birthDate\":\"1940-03-29\",\"deceasedDateTime\":\"1977-07-14T04:17:45-04:00\","
	"\"address\":[{\"line\":[\"934 Olson Highlands\"],\"city\":\"Lowell\",\"state\":\"MA\",\"postalCode\":\"01854\","
	"\"country\":\"US\",\"period\":{\"start\":\"1940-03-29\"}}],"
	"\"communication\":[{\"language\":{\"coding\":[{\"system\":\"urn:ietf:bcp:47\",\"code\":\"en-US\"}]}}],"
	"\"generalPractitioner\":[{\"reference\":\"Practitioner/p1\"}],"
	"\"managingOrganization\":{\"identifier\":{\"system\":\"urn:oid:1.2.3\",\"value\":\"org-7\"}}}";

static void test_patient(void **state)
{
	search_rows rows;

	(void)state;
	extract(patient_json, BASE, &rows);
	expect_unique(&rows);
	/* search.html#string: case and accent insensitive, blanks collapsed */
	expect_rows(&rows, "Patient", "family",
		    ROWS("STRING bosco882/Bosco882", "STRING muller-ludenscheidt/  Müller-Lüdenscheidt "));
	expect_rows(&rows, "Patient", "given",
		    ROWS("STRING lucien408/Lucien408", "STRING jose/JOSÉ", "STRING aeroskobing/Ærøskøbing"));
	expect_rows(&rows, "Patient", "name",
		    ROWS("STRING bosco882/Bosco882", "STRING lucien408/Lucien408", "STRING mr./Mr.",
			 "STRING muller-ludenscheidt/  Müller-Lüdenscheidt ", "STRING jose/JOSÉ",
			 "STRING aeroskobing/Ærøskøbing"));
	/* a date is the whole day, UTC */
	expect_rows(&rows, "Patient", "birthdate", ROWS("DATE -939168000000000..-939081600000001"));
	expect_rows(&rows, "Patient", "identifier",
		    ROWS("TOKEN https://github.com/synthetichealth/synthea|d831ec91",
			 "TOKEN http://hl7.org/fhir/sid/us-ssn|999-47-5768", "TEXT social security number",
			 "OF_TYPE http://terminology.hl7.org/CodeSystem/v2-0203|SS|999-47-5768"));
	/* US Core race: ...extension.value.code, the codes of the ombCategory
	 * Codings (the text sub-extension's valueString has no code) */
	expect_rows(&rows, "Patient", "race", ROWS("TOKEN |2106-3"));
	expect_rows(&rows, "Patient", "ethnicity", ROWS("TOKEN |2186-5"));
	expect_rows(&rows, "Patient", "gender", ROWS("TOKEN |male"));
	/* deceased: deceased.exists() and deceased != false */
	expect_rows(&rows, "Patient", "deceased", ROWS("TOKEN |true"));
	expect_rows(&rows, "Patient", "death-date", ROWS("DATE 237716265000000..237716265999999"));
	/* ContactPoint: ("", value); where(system='...') picks the kind */
	expect_rows(&rows, "Patient", "telecom", ROWS("TOKEN |555-510-6254", "TOKEN |lucien@example.org"));
	expect_rows(&rows, "Patient", "phone", ROWS("TOKEN |555-510-6254"));
	expect_rows(&rows, "Patient", "email", ROWS("TOKEN |lucien@example.org"));
	expect_rows(&rows, "Patient", "address-city", ROWS("STRING lowell/Lowell"));
	expect_rows(&rows, "Patient", "address",
		    ROWS("STRING 934 olson highlands/934 Olson Highlands", "STRING lowell/Lowell", "STRING ma/MA",
			 "STRING 01854/01854", "STRING us/US"));
	expect_rows(&rows, "Patient", "language", ROWS("TOKEN urn:ietf:bcp:47|en-US"));
	expect_rows(&rows, "Patient", "general-practitioner", ROWS("REF Practitioner|p1"));
	/* a logical reference: only the :identifier row */
	expect_rows(&rows, "Patient", "organization", ROWS("REF_IDENT urn:oid:1.2.3|org-7"));
	expect_rows(&rows, "Patient", "_id", ROWS("TOKEN |85"));
	expect_rows(&rows, "Patient", "_lastUpdated", NO_ROWS);
	search_rows_clear(&rows);
}

static void test_patient_deceased(void **state)
{
	search_rows rows;

	(void)state;
	extract("{\"resourceType\":\"Patient\",\"deceasedBoolean\":true}", NULL, &rows);
	expect_rows(&rows, "Patient", "deceased", ROWS("TOKEN |true"));
	expect_rows(&rows, "Patient", "death-date", NO_ROWS);
	search_rows_clear(&rows);
	extract("{\"resourceType\":\"Patient\",\"deceasedBoolean\":false}", NULL, &rows);
	expect_rows(&rows, "Patient", "deceased", ROWS("TOKEN |false"));
	search_rows_clear(&rows);
	/* FHIRPath: exists() is false, so the conjunction is false */
	extract("{\"resourceType\":\"Patient\",\"gender\":\"female\"}", NULL, &rows);
	expect_rows(&rows, "Patient", "deceased", ROWS("TOKEN |false"));
	search_rows_clear(&rows);
}

/* Inferno bundle: otitis media. */
static void test_condition(void **state)
{
	search_rows rows;

	(void)state;
	extract("{\"resourceType\":\"Condition\",\"id\":\"5bd61db6\","
		"\"clinicalStatus\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/condition-clinical\","
		"\"code\":\"resolved\"}]},"
		"\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/condition-category\","
		"\"code\":\"encounter-diagnosis\",\"display\":\"Encounter Diagnosis\"}]}],"
		"\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"65363002\",\"display\":\"Otitis media\"}],"
		"\"text\":\"Otitis media\"},"
		"\"subject\":{\"reference\":\"Patient/85\"},\"encounter\":{\"reference\":\"Encounter/e2\"},"
		"\"onsetDateTime\":\"1940-12-24T00:11:45-05:00\",\"abatementAge\":{\"value\":1,\"unit\":\"a\","
		"\"system\":\"http://unitsofmeasure.org\",\"code\":\"a\"},"
		"\"recordedDate\":\"1940-12-24T00:11:45-05:00\","
		"\"extension\":[{\"url\":\"http://hl7.org/fhir/StructureDefinition/condition-assertedDate\","
		"\"valueDateTime\":\"2021-03-05T10:00:00Z\"}]}",
		BASE, &rows);
	expect_unique(&rows);
	expect_rows(&rows, "Condition", "patient", ROWS("REF Patient|85"));
	expect_rows(&rows, "Condition", "encounter", ROWS("REF Encounter|e2"));
	expect_rows(&rows, "Condition", "code", ROWS("TOKEN http://snomed.info/sct|65363002", "TEXT otitis media"));
	expect_rows(&rows, "Condition", "category",
		    ROWS("TOKEN http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis",
			 "TEXT encounter diagnosis"));
	expect_rows(&rows, "Condition", "clinical-status",
		    ROWS("TOKEN http://terminology.hl7.org/CodeSystem/condition-clinical|resolved"));
	expect_rows(&rows, "Condition", "onset-date", ROWS("DATE -915821295000000..-915821294000001"));
	expect_rows(&rows, "Condition", "recorded-date", ROWS("DATE -915821295000000..-915821294000001"));
	/* abatementAge is not a date; it is the abatement-age quantity */
	expect_rows(&rows, "Condition", "abatement-date", NO_ROWS);
	expect_rows(&rows, "Condition", "abatement-age", ROWS("QUANTITY 1 http://unitsofmeasure.org|a"));
	/* US Core asserted-date: extension.where(url = ...).valueDateTime */
	expect_rows(&rows, "Condition", "asserted-date", ROWS("DATE 1614938400000000..1614938400999999"));
	search_rows_clear(&rows);
}

/* Inferno bundle: aspirin. */
static void test_medication_request(void **state)
{
	search_rows rows;

	(void)state;
	extract("{\"resourceType\":\"MedicationRequest\",\"id\":\"3b2213dc\",\"status\":\"stopped\",\"intent\":\"order\","
		"\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/medicationrequest-category\","
		"\"code\":\"community\",\"display\":\"Community\"}],\"text\":\"Community\"}],"
		"\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\","
		"\"code\":\"243670\",\"display\":\"Aspirin 81 MG Oral Tablet\"}],\"text\":\"Aspirin 81 MG Oral Tablet\"},"
		"\"subject\":{\"reference\":\"Patient/85\"},\"encounter\":{\"reference\":\"Encounter/e2\"},"
		"\"authoredOn\":\"1940-12-24T00:11:45-05:00\","
		"\"requester\":{\"reference\":\"#pr1\"},"
		"\"dosageInstruction\":[{\"timing\":{\"event\":[\"2021-03-05T10:00:00Z\",\"2021-03-06T10:00:00Z\"]}}]}",
		BASE, &rows);
	expect_unique(&rows);
	expect_rows(&rows, "MedicationRequest", "patient", ROWS("REF Patient|85"));
	expect_rows(&rows, "MedicationRequest", "status", ROWS("TOKEN |stopped"));
	expect_rows(&rows, "MedicationRequest", "intent", ROWS("TOKEN |order"));
	/* (MedicationRequest.medication as CodeableConcept) */
	expect_rows(&rows, "MedicationRequest", "code",
		    ROWS("TOKEN http://www.nlm.nih.gov/research/umls/rxnorm|243670", "TEXT aspirin 81 mg oral tablet"));
	expect_rows(&rows, "MedicationRequest", "medication", NO_ROWS);
	expect_rows(&rows, "MedicationRequest", "authoredon", ROWS("DATE -915821295000000..-915821294000001"));
	/* Timing: each event */
	expect_rows(&rows, "MedicationRequest", "date",
		    ROWS("DATE 1614938400000000..1614938400999999", "DATE 1615024800000000..1615024800999999"));
	/* a contained reference indexes nothing */
	expect_rows(&rows, "MedicationRequest", "requester", NO_ROWS);
	search_rows_clear(&rows);

	extract("{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
		"\"medicationReference\":{\"reference\":\"Medication/m1\"},\"subject\":{\"reference\":\"Group/g1\"}}",
		BASE, &rows);
	expect_rows(&rows, "MedicationRequest", "medication", ROWS("REF Medication|m1"));
	expect_rows(&rows, "MedicationRequest", "code", NO_ROWS);
	/* resolve() is Patient: a Group subject is not a patient */
	expect_rows(&rows, "MedicationRequest", "patient", NO_ROWS);
	expect_rows(&rows, "MedicationRequest", "subject", ROWS("REF Group|g1"));
	search_rows_clear(&rows);
}

/* Inferno bundle: a well child visit. */
static void test_encounter(void **state)
{
	search_rows rows;

	(void)state;
	extract("{\"resourceType\":\"Encounter\",\"id\":\"09775519\",\"status\":\"finished\","
		"\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"AMB\"},"
		"\"type\":[{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"410620009\","
		"\"display\":\"Well child visit (procedure)\"}],\"text\":\"Well child visit (procedure)\"}],"
		"\"subject\":{\"reference\":\"" BASE "/Patient/85/_history/2\"},"
		"\"participant\":[{\"individual\":{\"reference\":\"Practitioner/p1/_history/7\"}}],"
		"\"period\":{\"start\":\"1940-03-29T00:11:45-05:00\",\"end\":\"1940-03-29T00:26:45-05:00\"},"
		"\"location\":[{\"location\":{\"reference\":\"#loc1\"}}],"
		"\"contained\":[{\"resourceType\":\"Location\",\"id\":\"loc1\",\"name\":\"PCP87052\"}]}",
		BASE "/", &rows);
	expect_unique(&rows);
	/* absolute on our base (a trailing slash on the base is tolerated),
	 * version dropped */
	expect_rows(&rows, "Encounter", "patient", ROWS("REF Patient|85"));
	expect_rows(&rows, "Encounter", "practitioner", ROWS("REF Practitioner|p1"));
	expect_rows(&rows, "Encounter", "participant", ROWS("REF Practitioner|p1"));
	/* Period: start of the first second to the end of the last */
	expect_rows(&rows, "Encounter", "date", ROWS("DATE -939149295000000..-939148394000001"));
	expect_rows(&rows, "Encounter", "class", ROWS("TOKEN http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB"));
	expect_rows(&rows, "Encounter", "type",
		    ROWS("TOKEN http://snomed.info/sct|410620009", "TEXT well child visit (procedure)"));
	expect_rows(&rows, "Encounter", "location", NO_ROWS);
	search_rows_clear(&rows);
}

/* Other datatypes: Money, uri, number, canonical, Identifier-typed
 * choices, useContext composites. */
static void test_datatypes(void **state)
{
	search_rows rows;

	(void)state;
	extract("{\"resourceType\":\"Invoice\",\"status\":\"issued\","
		"\"totalNet\":{\"value\":40.5,\"currency\":\"EUR\"}}", NULL, &rows);
	expect_rows(&rows, "Invoice", "totalnet", ROWS("QUANTITY 40.5 urn:iso:std:iso:4217|EUR"));
	search_rows_clear(&rows);

	extract("{\"resourceType\":\"RiskAssessment\",\"status\":\"final\","
		"\"prediction\":[{\"probabilityDecimal\":0.25},{\"probabilityRange\":{\"low\":{\"value\":1}}}]}",
		NULL, &rows);
	expect_rows(&rows, "RiskAssessment", "probability", ROWS("NUMBER 0.25"));
	search_rows_clear(&rows);

	extract("{\"resourceType\":\"Library\",\"status\":\"active\",\"type\":{\"text\":\"x\"},"
		"\"url\":\"http://example.org/Library/lib\",\"version\":\"1.0\","
		"\"relatedArtifact\":[{\"type\":\"depends-on\",\"resource\":\"http://example.org/Library/dep|2\"},"
		"{\"type\":\"composed-of\",\"resource\":\"http://example.org/Library/part\"}],"
		"\"useContext\":[{\"code\":{\"system\":\"http://terminology.hl7.org/CodeSystem/usage-context-type\","
		"\"code\":\"age\"},\"valueQuantity\":{\"value\":18,\"code\":\"a\",\"system\":\"http://unitsofmeasure.org\"}},"
		"{\"code\":{\"system\":\"http://terminology.hl7.org/CodeSystem/usage-context-type\",\"code\":\"focus\"},"
		"\"valueCodeableConcept\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"1\"}]}}]}",
		NULL, &rows);
	expect_rows(&rows, "Library", "url", ROWS("URI http://example.org/Library/lib"));
	expect_rows(&rows, "Library", "version", ROWS("TOKEN |1.0"));
	/* canonicals: the URL as written */
	expect_rows(&rows, "Library", "depends-on", ROWS("REF |http://example.org/Library/dep|2"));
	expect_rows(&rows, "Library", "composed-of", ROWS("REF |http://example.org/Library/part"));
	expect_rows(&rows, "Library", "context-quantity", ROWS("QUANTITY 18 http://unitsofmeasure.org|a"));
	expect_rows(&rows, "Library", "context-type-quantity",
		    ROWS("COMPOSITE http://terminology.hl7.org/CodeSystem/usage-context-type|age$18 "
			 "http://unitsofmeasure.org|a"));
	expect_rows(&rows, "Library", "context-type-value",
		    ROWS("COMPOSITE http://terminology.hl7.org/CodeSystem/usage-context-type|focus$"
			 "http://snomed.info/sct|1"));
	expect_rows(&rows, "Library", "context", ROWS("TOKEN http://snomed.info/sct|1"));
	search_rows_clear(&rows);

	/* (Composition.relatesTo.target as Identifier) / as Reference */
	extract("{\"resourceType\":\"Composition\",\"status\":\"final\",\"relatesTo\":["
		"{\"code\":\"replaces\",\"targetIdentifier\":{\"system\":\"urn:ietf:rfc:3986\",\"value\":\"urn:x\"}},"
		"{\"code\":\"appends\",\"targetReference\":{\"reference\":\"Composition/c0\"}}]}",
		NULL, &rows);
	expect_rows(&rows, "Composition", "related-id", ROWS("TOKEN urn:ietf:rfc:3986|urn:x"));
	expect_rows(&rows, "Composition", "related-ref", ROWS("REF Composition|c0"));
	search_rows_clear(&rows);

	/* Observation.value as string / CodeableConcept.text, and the
	 * code-value-string composite */
	extract("{\"resourceType\":\"Observation\",\"status\":\"final\","
		"\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8310-5\"}]},"
		"\"valueString\":\"Große  Welt\"}", NULL, &rows);
	expect_rows(&rows, "Observation", "value-string", ROWS("STRING grosse welt/Große  Welt"));
	expect_rows(&rows, "Observation", "code-value-string", ROWS("COMPOSITE http://loinc.org|8310-5$grosse welt"));
	search_rows_clear(&rows);

	extract("{\"resourceType\":\"Observation\",\"status\":\"final\","
		"\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8310-5\"}]},"
		"\"valueDateTime\":\"2021-01\"}", NULL, &rows);
	expect_rows(&rows, "Observation", "value-date", ROWS("DATE 1609459200000000..1612137599999999"));
	expect_rows(&rows, "Observation", "code-value-date",
		    ROWS("COMPOSITE http://loinc.org|8310-5$1609459200000000..1612137599999999"));
	search_rows_clear(&rows);
}

/* Malformed values the validator does not look into must not index
 * garbage or crash. */
static void test_bad_values(void **state)
{
	search_rows rows;

	(void)state;
	extract("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[null,1,{\"code\":\"\"}]},"
		"\"subject\":{\"reference\":\"Patient/\"},\"effectivePeriod\":{\"start\":\"yesterday\"},"
		"\"valueQuantity\":{\"value\":\"12\"},\"performer\":[{\"reference\":\"\"},{\"reference\":\"Patient/a/b\"},"
		"{\"reference\":\"Foo/1\"},{\"reference\":\"Patient/85/_history/\"}],"
		"\"category\":{\"coding\":[{\"code\":\"x\"}]},\"component\":[[],{\"code\":[]}]}",
		BASE, &rows);
	expect_unique(&rows);
	expect_rows(&rows, "Observation", "code", NO_ROWS);
	expect_rows(&rows, "Observation", "date", NO_ROWS);
	expect_rows(&rows, "Observation", "value-quantity", NO_ROWS);
	/* not parseable as Type/id: indexed as written */
	expect_rows(&rows, "Observation", "subject", ROWS("REF |Patient/"));
	expect_rows(&rows, "Observation", "patient", NO_ROWS);
	expect_rows(&rows, "Observation", "performer",
		    ROWS("REF |Patient/a/b", "REF |Foo/1", "REF |Patient/85/_history/"));
	/* a single object where an array belongs is still walked */
	expect_rows(&rows, "Observation", "category", ROWS("TOKEN |x"));
	search_rows_clear(&rows);
}

static void test_rows_append(void **state)
{
	search_rows rows;
	json_t *a = parse("{\"resourceType\":\"Patient\",\"id\":\"a\",\"gender\":\"male\"}");
	json_t *b = parse("{\"resourceType\":\"Patient\",\"id\":\"b\",\"gender\":\"male\"}");
	size_t n1;

	(void)state;
	memset(&rows, 0, sizeof rows);
	assert_int_equal(search_extract("Patient", a, NULL, &rows), 0);
	n1 = rows.n;
	/* appends; dedupes only what it appended (the same gender row again) */
	assert_int_equal(search_extract("Patient", b, NULL, &rows), 0);
	assert_int_equal(rows.n, 2 * n1);
	search_rows_clear(&rows);
	assert_null(rows.v);
	assert_int_equal(rows.n, 0);
	search_rows_clear(&rows);
	/* a type without parameters rows: nothing */
	assert_int_equal(search_extract("NoSuchType", a, NULL, &rows), 0);
	assert_int_equal(rows.n, 0);
	json_decref(a);
	json_decref(b);
}

/* A composite pairing is bounded: thousands of codes times thousands of
 * values is refused, not turned into millions of rows. */
static void test_composite_bound(void **state)
{
	json_t *obs = parse("{\"resourceType\":\"Observation\",\"status\":\"final\","
			    "\"code\":{\"coding\":[]},\"valueCodeableConcept\":{\"coding\":[]}}");
	json_t *c1 = json_object_get(json_object_get(obs, "code"), "coding");
	json_t *c2 = json_object_get(json_object_get(obs, "valueCodeableConcept"), "coding");
	search_rows rows;
	char code[32];
	int i;

	(void)state;
	for (i = 0; i < 200; i++) {
		snprintf(code, sizeof code, "c%d", i);
		json_array_append_new(c1, json_pack("{s:s}", "code", code));
		json_array_append_new(c2, json_pack("{s:s}", "code", code));
	}
	memset(&rows, 0, sizeof rows);
	assert_int_equal(search_extract("Observation", obs, NULL, &rows), ERR_TOOBIG);
	search_rows_clear(&rows);
	json_decref(obs);
}

/* ------------------------------------------------------------ fhirpath */

/* Evaluates src over the resource json; the result rendered as
 * "type:value" items joined by ' '. */
static void eval_str(const char *src, const char *json, char *out, size_t cap)
{
	fhirpath_expr *e = NULL;
	fhirpath_vec vec = { 0 };
	json_t *res = parse(json);
	fhirpath_node root = { res, FHIRPATH_T_RESOURCE };
	char diag[160];
	size_t i, o = 0;

	if (fhirpath_compile(src, &e, diag, sizeof diag))
		fail_msg("compile %s: %s", src, diag);
	assert_int_equal(fhirpath_eval(e, res, root, &vec), 0);
	out[0] = '\0';
	for (i = 0; i < vec.n; i++) {
		const json_t *v = vec.v[i].v;
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		int n = snprintf(out + o, cap - o, "%s%s:%s", i ? " " : "", fhirpath_type_name(vec.v[i].type), s);
		free(s);
		assert_true(n > 0 && (size_t)n < cap - o);
		o += (size_t)n;
	}
	fhirpath_vec_fini(&vec);
	fhirpath_free(e);
	json_decref(res);
}

#define EXPECT_EVAL(src, json, want)                                  \
	do {                                                          \
		char got_[1024];                                      \
		eval_str(src, json, got_, sizeof got_);               \
		if (strcmp(got_, want) != 0)                          \
			fail_msg("%s: got [%s] want [%s]", src, got_, want); \
	} while (0)

static void test_fhirpath_eval(void **state)
{
	static const char obs[] =
		"{\"resourceType\":\"Observation\",\"id\":\"o\",\"valueQuantity\":{\"value\":1},"
		"\"effectivePeriod\":{\"start\":\"2020\"},\"valueSet\":\"not a choice\","
		"\"component\":[{\"valueString\":\"a\"},{\"valueCodeableConcept\":{\"text\":\"b\"}}],"
		"\"extension\":[{\"url\":\"u1\",\"valueCode\":\"x\"},{\"url\":\"u2\",\"valueBoolean\":false}],"
		"\"note\":[{\"text\":\"n1\"},{\"text\":\"n2\"}],\"subject\":{\"reference\":\"Patient/1\"},"
		"\"focus\":[{\"reference\":\"#c\"},{\"type\":\"Group\",\"identifier\":{\"value\":\"g\"}}],"
		"\"contained\":[{\"resourceType\":\"Patient\",\"id\":\"c\"}],"
		"\"category\":[{\"text\":\"c1\"},{\"text\":\"c2\"}]}";

	(void)state;
	/* choice elements select by prefix + type name, typed */
	EXPECT_EVAL("Observation.value", obs, "Quantity:{\"value\":1}");
	EXPECT_EVAL("Observation.effective", obs, "Period:{\"start\":\"2020\"}");
	EXPECT_EVAL("Observation.value.as(Quantity)", obs, "Quantity:{\"value\":1}");
	EXPECT_EVAL("Observation.value as string", obs, "");
	EXPECT_EVAL("(Observation.value as Quantity).value", obs, ":1");
	EXPECT_EVAL("Observation.component.value", obs, "string:\"a\" CodeableConcept:{\"text\":\"b\"}");
	EXPECT_EVAL("(Observation.component.value as CodeableConcept).text", obs, ":\"b\"");
	EXPECT_EVAL("Observation.component.value.ofType(string)", obs, "string:\"a\"");
	/* the leading type must match the resource */
	EXPECT_EVAL("Patient.id", obs, "");
	EXPECT_EVAL("Resource.id | DomainResource.id", obs, ":\"o\" :\"o\"");
	EXPECT_EVAL("id", obs, ":\"o\"");
	/* arrays flatten; indexer and first() on the collection */
	EXPECT_EVAL("Observation.note.text", obs, ":\"n1\" :\"n2\"");
	EXPECT_EVAL("Observation.note[1].text", obs, ":\"n2\"");
	EXPECT_EVAL("Observation.note.text[1]", obs, ":\"n2\"");
	EXPECT_EVAL("Observation.note.first().text", obs, ":\"n1\"");
	EXPECT_EVAL("Observation.note[5]", obs, "");
	/* extensions */
	EXPECT_EVAL("Observation.extension('u1').value", obs, "code:\"x\"");
	EXPECT_EVAL("Observation.extension.where(url = 'u2').value", obs, "boolean:false");
	EXPECT_EVAL("Observation.extension.where(url='nope')", obs, "");
	/* resolve() is T: relative, contained, Reference.type */
	EXPECT_EVAL("Observation.subject.where(resolve() is Patient)", obs, ":{\"reference\":\"Patient/1\"}");
	EXPECT_EVAL("Observation.subject.where(resolve() is Group)", obs, "");
	EXPECT_EVAL("Observation.focus.where(resolve() is Patient)", obs, ":{\"reference\":\"#c\"}");
	EXPECT_EVAL("Observation.focus.where(resolve() is Group).identifier.value", obs, ":\"g\"");
	/* booleans */
	EXPECT_EVAL("Observation.note.exists()", obs, "boolean:true");
	EXPECT_EVAL("Observation.method.exists()", obs, "boolean:false");
	EXPECT_EVAL("Observation.note.exists(text = 'n2')", obs, "boolean:true");
	EXPECT_EVAL("Observation.id = 'o'", obs, "boolean:true");
	EXPECT_EVAL("Observation.id != 'o'", obs, "boolean:false");
	EXPECT_EVAL("Observation.method = 'o'", obs, "");
	EXPECT_EVAL("Observation.note.text = 'n1'", obs, "boolean:false");
	EXPECT_EVAL("Observation.value.exists() and Observation.value != false", obs, "boolean:true");
	EXPECT_EVAL("Observation.value is Quantity", obs, "boolean:true");
	EXPECT_EVAL("Observation.value.is(Age)", obs, "boolean:false");
	/* %resource from inside a where() */
	EXPECT_EVAL("Observation.category.where(%resource.id = 'o').text", obs, ":\"c1\" :\"c2\"");
	/* unions keep order and (here) duplicates */
	EXPECT_EVAL("Observation.category.text | Observation.note.text", obs,
		    ":\"c1\" :\"c2\" :\"n1\" :\"n2\"");
	/* Observation.value is not valueSet: "Set" is no type */
	EXPECT_EVAL("Observation.valueSet", obs, ":\"not a choice\"");
	/* Age is a Quantity */
	EXPECT_EVAL("Condition.onset.as(Quantity)", "{\"resourceType\":\"Condition\",\"onsetAge\":{\"value\":3}}",
		    "Age:{\"value\":3}");
	/* primitive arrays: nulls are the gaps of "_x" */
	EXPECT_EVAL("Patient.name.given", "{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"a\",null,\"b\"]}]}",
		    ":\"a\" :\"b\"");
	EXPECT_EVAL("`Patient`.`name`.given", "{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"a\"]}]}",
		    ":\"a\"");
}

static void test_fhirpath_compile_errors(void **state)
{
	static const char *const bad[] = {
		"", "Observation.", "Observation..code", "(Observation.code", "Observation.code)",
		"Observation.code.count()", "Observation.value as Foo", "Observation.value.as(Foo)",
		"Observation.subject.resolve()", "Observation.subject.where(resolve())",
		"Observation.subject.where(resolve() is NotAType)", "NotAType.code", "%context.code",
		"Observation.code + 1", "Observation.note[1.5]", "Observation.note[x]", "'unterminated",
		"Observation.extension(1)", "Observation.code or Observation.status", "'\\q'",
		"Observation.code.where()", "1 = 1", "Observation.code ~ 'x'",
	};
	size_t i;
	char diag[160];

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fhirpath_expr *e = (fhirpath_expr *)1;
		int rc = fhirpath_compile(bad[i], &e, diag, sizeof diag);
		if (rc != ERR_INVALID)
			fail_msg("%s: compiled (rc %d)", bad[i], rc);
		assert_null(e);
		assert_true(diag[0] != '\0');
	}
	/* nesting and length are bounded */
	{
		char deep[FHIRPATH_MAX_SOURCE + 16];
		fhirpath_expr *e = NULL;
		memset(deep, '(', 200);
		memcpy(deep + 200, "id", 3);
		assert_int_equal(fhirpath_compile(deep, &e, NULL, 0), ERR_INVALID);
		assert_null(e);
		for (i = 0; i + 2 < sizeof deep; i += 2)
			memcpy(deep + i, "a.", 2);
		memcpy(deep + i - 2, "a", 2);
		assert_int_equal(fhirpath_compile(deep, &e, diag, sizeof diag), ERR_INVALID);
		assert_null(e);
		assert_non_null(strstr(diag, "longer"));
	}
	fhirpath_free(NULL);
}

static void test_fhirpath_types(void **state)
{
	(void)state;
	assert_int_equal(fhirpath_type_find("dateTime", 8), FHIRPATH_T_DATETIME);
	assert_int_equal(fhirpath_type_find("DateTime", 8), FHIRPATH_T_DATETIME);
	assert_int_equal(fhirpath_type_find("CodeableConcept", 15), FHIRPATH_T_CODEABLECONCEPT);
	assert_int_equal(fhirpath_type_find("Set", 3), FHIRPATH_T_UNKNOWN);
	assert_int_equal(fhirpath_type_find("", 0), FHIRPATH_T_UNKNOWN);
	/* every named type round-trips (the table is sorted) */
	for (int t = FHIRPATH_T_ADDRESS; t <= FHIRPATH_T_XHTML; t++) {
		const char *n = fhirpath_type_name((enum fhirpath_type)t);
		assert_int_equal(fhirpath_type_find(n, strlen(n)), t);
	}
	assert_string_equal(fhirpath_type_name(FHIRPATH_T__COUNT), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coverage),
		cmocka_unit_test(test_observation),
		cmocka_unit_test(test_observation_components),
		cmocka_unit_test(test_patient),
		cmocka_unit_test(test_patient_deceased),
		cmocka_unit_test(test_condition),
		cmocka_unit_test(test_medication_request),
		cmocka_unit_test(test_encounter),
		cmocka_unit_test(test_datatypes),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_rows_append),
		cmocka_unit_test(test_composite_bound),
		cmocka_unit_test(test_fhirpath_eval),
		cmocka_unit_test(test_fhirpath_compile_errors),
		cmocka_unit_test(test_fhirpath_types),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
