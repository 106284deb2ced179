/*
 * test_validate.c - structural resource validation (validate.h) against the
 * FHIR R4 JSON rules (hl7.org/fhir/R4/json.html), the datatype formats
 * (datatypes.html) and the cardinalities of the R4 StructureDefinitions, at
 * the top of a resource and inside its datatypes, BackboneElements and
 * contained or bundled resources.
 * Each failing case checks the error, the FHIRPath-like expression and the
 * message; the demo data (real US Core resources) must all pass.
 */
#include "core/err.h"
#include "core/valid.h"
#include "fhir/validate.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *prog_path; /* argv[0], to find data/demo from any directory */

/* Parses text, validates it as its own resourceType, returns the result. */
static int check(const char *text, fhir_issue *is)
{
	json_error_t jerr;
	json_t *res = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	const char *rt;
	const fhir_type *t;
	int rc;

	if (!res)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	rt = json_string_value(json_object_get(res, "resourceType"));
	assert_non_null(rt);
	t = fhir_type_find(rt, strlen(rt));
	assert_non_null(t);
	rc = fhir_validate_resource(res, t, is);
	json_decref(res);
	return rc;
}

static void ok(const char *text)
{
	fhir_issue is;
	int rc = check(text, &is);
	if (rc != 0)
		fail_msg("expected valid, got %d at %s: %s\n  %s", rc, is.expression, is.message, text);
}

/* Expects ERR_UNPROCESSABLE at expression expr with msg inside the message. */
static void bad(const char *text, const char *expr, const char *msg)
{
	fhir_issue is;
	int rc = check(text, &is);
	if (rc != ERR_UNPROCESSABLE)
		fail_msg("expected ERR_UNPROCESSABLE, got %d for\n  %s", rc, text);
	assert_int_equal(is.err, ERR_UNPROCESSABLE);
	if (strcmp(is.expression, expr) != 0)
		fail_msg("expression '%s', expected '%s' for\n  %s", is.expression, expr, text);
	if (msg && !strstr(is.message, msg))
		fail_msg("message '%s' lacks '%s' for\n  %s", is.message, msg, text);
	/* Messages go into an OperationOutcome: always valid UTF-8, never empty. */
	assert_true(is.message[0] != '\0');
	assert_true(valid_utf8(is.message, strlen(is.message)));
	assert_true(valid_utf8(is.expression, strlen(is.expression)));
}

static void test_validate_patient_valid(void **state)
{
	(void)state;
	ok("{\"resourceType\":\"Patient\"}");
	ok("{\"resourceType\":\"Patient\",\"id\":\"pat-1.A\","
	   "\"meta\":{\"versionId\":\"3\",\"lastUpdated\":\"2024-05-01T10:00:00.123Z\","
	   "\"profile\":[\"http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient\"],"
	   "\"tag\":[{\"system\":\"http://example.org\",\"code\":\"t\"}]},"
	   "\"text\":{\"status\":\"generated\",\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">x</div>\"},"
	   "\"extension\":[{\"url\":\"http://example.org/ext\",\"valueString\":\"x\"}],"
	   "\"identifier\":[{\"system\":\"urn:oid:1.2.3\",\"value\":\"123\"}],"
	   "\"active\":true,"
	   "\"name\":[{\"family\":\"Chalmers\",\"given\":[\"Peter\",\"James\"]}],"
	   "\"telecom\":[{\"system\":\"phone\",\"value\":\"555\"}],"
	   "\"gender\":\"male\",\"birthDate\":\"1974-12-25\","
	   "\"deceasedBoolean\":false,\"multipleBirthInteger\":2,"
	   "\"managingOrganization\":{\"reference\":\"Organization/1\"}}");
	/* date precision may be reduced (datatypes.html#date) */
	ok("{\"resourceType\":\"Patient\",\"birthDate\":\"1974\"}");
	ok("{\"resourceType\":\"Patient\",\"birthDate\":\"1974-12\"}");
	ok("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2020-02-29T23:59:59+05:30\"}");
}

/* json.html: every property is a known element; unknown ones are errors. */
static void test_validate_unknown_element(void **state)
{
	(void)state;
	bad("{\"resourceType\":\"Patient\",\"foo\":1}", "Patient.foo", "Unknown element 'foo'");
	bad("{\"resourceType\":\"Patient\",\"Name\":[]}", "Patient.Name", "Unknown element 'Name'");
	/* choice elements only exist expanded, and only with their R4 types */
	bad("{\"resourceType\":\"Patient\",\"deceased\":true}", "Patient.deceased", "Unknown element 'deceased'");
	bad("{\"resourceType\":\"Patient\",\"deceasedString\":\"x\"}", "Patient.deceasedString", "Unknown element");
	/* an element of another type */
	bad("{\"resourceType\":\"Patient\",\"status\":\"final\"}", "Patient.status", "Unknown element 'status'");
	/* "_x" exists only for primitive elements */
	bad("{\"resourceType\":\"Patient\",\"_name\":{\"id\":\"a\"}}", "Patient._name", "Unknown element '_name'");
	bad("{\"resourceType\":\"Patient\",\"_foo\":{\"id\":\"a\"}}", "Patient._foo", "Unknown element '_foo'");
	bad("{\"resourceType\":\"Patient\",\"\":1}", "Patient.", "Unknown element ''");
	/* No DSTU2-style comments and no Bundle-level keys. */
	bad("{\"resourceType\":\"Patient\",\"fhir_comments\":[\"x\"]}", "Patient.fhir_comments", "Unknown element");
}

/* Messages echo at most 64 bytes of client input, cut on a UTF-8 boundary. */
static void test_validate_unknown_long_name(void **state)
{
	char text[1200], key[600];
	fhir_issue is;
	const char *q;
	size_t n;
	(void)state;

	memset(key, 'a', 500);
	key[500] = '\0';
	snprintf(text, sizeof text, "{\"resourceType\":\"Patient\",\"%s\":1}", key);
	assert_int_equal(check(text, &is), ERR_UNPROCESSABLE);
	q = strchr(is.message, 'a');
	assert_non_null(q);
	n = strspn(q, "a");
	assert_true(n <= 64);
	assert_true(n >= 32);
	assert_true(strlen(is.message) < 64 + 40);

	/* 290 x U+00E9 (2 bytes each): a cut at byte 64 falls on a boundary;
	 * start with one ASCII byte to force an odd offset. */
	key[0] = 'x';
	for (int i = 0; i < 290; i++)
		memcpy(key + 1 + 2 * i, "\xC3\xA9", 2);
	key[1 + 2 * 290] = '\0';
	snprintf(text, sizeof text, "{\"resourceType\":\"Patient\",\"%s\":1}", key);
	assert_int_equal(check(text, &is), ERR_UNPROCESSABLE);
	assert_true(valid_utf8(is.message, strlen(is.message)));
	assert_true(valid_utf8(is.expression, strlen(is.expression)));
	assert_true(strlen(is.message) < 64 + 40);

	/* Control characters in a name do not reach the message. */
	assert_int_equal(check("{\"resourceType\":\"Patient\",\"a\\nb\\u001bc\":1}", &is), ERR_UNPROCESSABLE);
	assert_null(strchr(is.message, '\n'));
	assert_null(strchr(is.message, '\x1b'));
}

/* Primitive JSON types (json.html "Primitive Types"). */
static void test_validate_wrong_json_type(void **state)
{
	(void)state;
	bad("{\"resourceType\":\"Patient\",\"active\":\"true\"}", "Patient.active", "active");
	bad("{\"resourceType\":\"Patient\",\"active\":1}", "Patient.active", "active");
	bad("{\"resourceType\":\"Patient\",\"active\":{}}", "Patient.active", "active");
	bad("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":1.5}", "Patient.multipleBirthInteger", NULL);
	bad("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":\"2\"}", "Patient.multipleBirthInteger", NULL);
	/* integer is 32-bit signed (datatypes.html#integer) */
	bad("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":2147483648}", "Patient.multipleBirthInteger",
	    NULL);
	ok("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":2147483647}");
	ok("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":-2147483648}");
	bad("{\"resourceType\":\"Patient\",\"gender\":1}", "Patient.gender", "gender");
	bad("{\"resourceType\":\"Patient\",\"birthDate\":19741225}", "Patient.birthDate", "birthDate");
	/* complex elements are objects */
	bad("{\"resourceType\":\"Patient\",\"managingOrganization\":\"Organization/1\"}",
	    "Patient.managingOrganization", "object");
	bad("{\"resourceType\":\"Patient\",\"name\":[\"Peter\"]}", "Patient.name[0]", "object");
	/* decimal: any JSON number */
	ok("{\"resourceType\":\"ChargeItem\",\"status\":\"billable\",\"code\":{\"text\":\"x\"},"
	   "\"subject\":{\"reference\":\"Patient/1\"},\"factorOverride\":0.8}");
	ok("{\"resourceType\":\"ChargeItem\",\"status\":\"billable\",\"code\":{\"text\":\"x\"},"
	   "\"subject\":{\"reference\":\"Patient/1\"},\"factorOverride\":1}");
	bad("{\"resourceType\":\"ChargeItem\",\"status\":\"billable\",\"code\":{\"text\":\"x\"},"
	    "\"subject\":{\"reference\":\"Patient/1\"},\"factorOverride\":\"0.8\"}",
	    "ChargeItem.factorOverride", NULL);
}

/* json.html: "string property values can never be empty". */
static void test_validate_empty_string(void **state)
{
	(void)state;
	bad("{\"resourceType\":\"Patient\",\"gender\":\"\"}", "Patient.gender", "empty");
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"\"}", "Patient.birthDate", NULL);
	bad("{\"resourceType\":\"Patient\",\"id\":\"\"}", "Patient.id", NULL);
}

static void test_validate_bad_dates(void **state)
{
	(void)state;
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"1974-02-30\"}", "Patient.birthDate", "date");
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"2019-02-29\"}", "Patient.birthDate", "date");
	ok("{\"resourceType\":\"Patient\",\"birthDate\":\"2020-02-29\"}");
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"1974-13-01\"}", "Patient.birthDate", NULL);
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"74-12-25\"}", "Patient.birthDate", NULL);
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"25/12/1974\"}", "Patient.birthDate", NULL);
	/* a dateTime is not a date */
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"1974-12-25T10:00:00Z\"}", "Patient.birthDate", NULL);
	/* dateTime with a time needs a zone (datatypes.html#dateTime) */
	bad("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2020-01-01T10:00:00\"}", "Patient.deceasedDateTime",
	    "dateTime");
	/* instant: full precision and zone */
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"issued\":\"2020-01-01\"}",
	    "Observation.issued", "instant");
	ok("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	   "\"issued\":\"2020-01-01T00:00:00Z\"}");
	/* time: no zone, 00-23 hours */
	ok("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},\"valueTime\":\"23:59:59\"}");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"valueTime\":\"24:00:00\"}",
	    "Observation.valueTime", "time");
}

/* id: [A-Za-z0-9\-\.]{1,64} (datatypes.html#id) */
static void test_validate_id(void **state)
{
	char text[256], id[80];
	(void)state;

	bad("{\"resourceType\":\"Patient\",\"id\":\"a b\"}", "Patient.id", "id");
	bad("{\"resourceType\":\"Patient\",\"id\":\"a_b\"}", "Patient.id", NULL);
	bad("{\"resourceType\":\"Patient\",\"id\":\"a/b\"}", "Patient.id", NULL);
	bad("{\"resourceType\":\"Patient\",\"id\":123}", "Patient.id", NULL);
	memset(id, 'x', 64);
	id[64] = '\0';
	snprintf(text, sizeof text, "{\"resourceType\":\"Patient\",\"id\":\"%s\"}", id);
	ok(text);
	memset(id, 'x', 65);
	id[65] = '\0';
	snprintf(text, sizeof text, "{\"resourceType\":\"Patient\",\"id\":\"%s\"}", id);
	bad(text, "Patient.id", NULL);
}

/* Cardinality: arrays exactly where max > 1, never empty (json.html). */
static void test_validate_arrays(void **state)
{
	(void)state;
	bad("{\"resourceType\":\"Patient\",\"name\":[]}", "Patient.name", "empty array");
	bad("{\"resourceType\":\"Patient\",\"name\":{\"family\":\"X\"}}", "Patient.name", "array");
	bad("{\"resourceType\":\"Patient\",\"gender\":[\"male\"]}", "Patient.gender", "array");
	bad("{\"resourceType\":\"Patient\",\"birthDate\":[\"1974\"]}", "Patient.birthDate", NULL);
	bad("{\"resourceType\":\"Patient\",\"contained\":{\"resourceType\":\"Medication\"}}", "Patient.contained",
	    "array");
	/* ele-1: an element has a value or children, so {} is not one */
	bad("{\"resourceType\":\"Patient\",\"name\":[{}]}", "Patient.name[0]", "empty");
	bad("{\"resourceType\":\"Patient\",\"managingOrganization\":{}}", "Patient.managingOrganization", "empty");
	/* errors point at the item */
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"A\"},7]}", "Patient.name[1]", NULL);
}

/* null only inside primitive arrays, paired with the "_x" array. */
static void test_validate_null(void **state)
{
	(void)state;
	bad("{\"resourceType\":\"Patient\",\"gender\":null}", "Patient.gender", "null");
	bad("{\"resourceType\":\"Patient\",\"name\":null}", "Patient.name", "null");
	bad("{\"resourceType\":\"Patient\",\"name\":[null]}", "Patient.name[0]", "null");
	bad("{\"resourceType\":\"Patient\",\"_birthDate\":null}", "Patient.birthDate", "null");
	bad("{\"resourceType\":\"AllergyIntolerance\",\"patient\":{\"reference\":\"Patient/1\"},"
	    "\"category\":[\"food\",null]}",
	    "AllergyIntolerance.category[1]", "null");
}

/* json.html "Representing primitive elements": "_x" carries id/extension. */
static void test_validate_companion(void **state)
{
	(void)state;
	ok("{\"resourceType\":\"Patient\",\"birthDate\":\"1970-03-30\",\"_birthDate\":{\"id\":\"314159\","
	   "\"extension\":[{\"url\":\"http://example.org/fhir/StructureDefinition/text\",\"valueString\":\"Easter\"}]}}");
	/* extensions alone, without a value */
	ok("{\"resourceType\":\"Patient\",\"_birthDate\":{\"extension\":[{\"url\":"
	   "\"http://hl7.org/fhir/StructureDefinition/data-absent-reason\",\"valueCode\":\"unknown\"}]}}");
	ok("{\"resourceType\":\"Patient\",\"_active\":{\"id\":\"a1\"}}");
	bad("{\"resourceType\":\"Patient\",\"_birthDate\":\"x\"}", "Patient.birthDate", "_birthDate");
	bad("{\"resourceType\":\"Patient\",\"_birthDate\":{}}", "Patient.birthDate", "_birthDate");
	bad("{\"resourceType\":\"Patient\",\"_birthDate\":[{\"id\":\"a\"}]}", "Patient.birthDate", "_birthDate");
	bad("{\"resourceType\":\"Patient\",\"_birthDate\":{\"value\":\"1970\"}}", "Patient.birthDate",
	    "Unknown element 'value'");
	bad("{\"resourceType\":\"Patient\",\"_birthDate\":{\"extension\":[]}}", "Patient.birthDate", NULL);
	/* Extension.url is 1..1 */
	bad("{\"resourceType\":\"Patient\",\"_birthDate\":{\"extension\":[{\"valueString\":\"x\"}]}}",
	    "Patient.birthDate.extension[0].url", "Missing required element 'url'");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"valueString\":\"x\"}]}", "Patient.extension[0].url",
	    "Missing required element 'url'");
	/* the extensions of a primitive are Extensions all the way down */
	bad("{\"resourceType\":\"Patient\",\"_birthDate\":{\"extension\":[{\"url\":\"http://x\","
	    "\"valueString\":\"x\",\"__proto__\":1}]}}",
	    "Patient.birthDate.extension[0].__proto__", "Unknown element '__proto__'");
	bad("{\"resourceType\":\"Patient\",\"_birthDate\":{\"extension\":[{\"url\":\"http://x\","
	    "\"valueInteger\":\"7\"}]}}",
	    "Patient.birthDate.extension[0].valueInteger", "JSON integer");
}

/* Repeating primitives: "x" and "_x" are aligned arrays; null fills a slot
 * only where the other array has something. */
static void test_validate_companion_array(void **state)
{
	(void)state;
	ok("{\"resourceType\":\"AllergyIntolerance\",\"patient\":{\"reference\":\"Patient/1\"},"
	   "\"category\":[\"food\",null],\"_category\":[null,{\"extension\":[{\"url\":\"http://x\","
	   "\"valueCode\":\"unknown\"}]}]}");
	ok("{\"resourceType\":\"AllergyIntolerance\",\"patient\":{\"reference\":\"Patient/1\"},"
	   "\"_category\":[{\"id\":\"c1\"}]}");
	/* lengths differ */
	bad("{\"resourceType\":\"AllergyIntolerance\",\"patient\":{\"reference\":\"Patient/1\"},"
	    "\"category\":[\"food\",\"medication\"],\"_category\":[{\"id\":\"c1\"}]}",
	    "AllergyIntolerance.category", "same number");
	/* both null at the same index: that item has neither value nor extension */
	bad("{\"resourceType\":\"AllergyIntolerance\",\"patient\":{\"reference\":\"Patient/1\"},"
	    "\"category\":[\"food\",null],\"_category\":[null,null]}",
	    "AllergyIntolerance.category[1]", "null");
	/* "_x" of a repeating element is an array */
	bad("{\"resourceType\":\"AllergyIntolerance\",\"patient\":{\"reference\":\"Patient/1\"},"
	    "\"category\":[\"food\"],\"_category\":{\"id\":\"c1\"}}",
	    "AllergyIntolerance.category", "_category");
}

/* Cardinality min 1 (Observation.status and .code are 1..1). */
static void test_validate_required(void **state)
{
	(void)state;
	ok("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"}}");
	bad("{\"resourceType\":\"Observation\",\"code\":{\"text\":\"x\"}}", "Observation.status",
	    "Missing required element 'status'");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\"}", "Observation.code",
	    "Missing required element 'code'");
	/* present through its extensions only (e.g. data-absent-reason) */
	ok("{\"resourceType\":\"Observation\",\"_status\":{\"extension\":[{\"url\":"
	   "\"http://hl7.org/fhir/StructureDefinition/data-absent-reason\",\"valueCode\":\"unknown\"}]},"
	   "\"code\":{\"text\":\"x\"}}");
	bad("{\"resourceType\":\"Bundle\"}", "Bundle.type", "Missing required element 'type'");
	ok("{\"resourceType\":\"Bundle\",\"type\":\"collection\"}");
	/* CapabilityStatement.format is 1..*: absent is missing, [] is empty */
	bad("{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\",\"date\":\"2020\",\"kind\":\"instance\","
	    "\"fhirVersion\":\"4.0.1\",\"format\":[]}",
	    "CapabilityStatement.format", "empty");
}

/* value[x] has max 1: one type at most; a choice with min 1 needs one. */
static void test_validate_choice(void **state)
{
	(void)state;
	ok("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	   "\"valueQuantity\":{\"value\":5.4,\"unit\":\"mmol/l\"}}");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"valueQuantity\":{\"value\":5.4},\"valueString\":\"5.4\"}",
	    "Observation.value[x]", "value[x]");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"valueInteger\":5.4}",
	    "Observation.valueInteger", NULL);
	/* Immunization.occurrence[x] is 1..1 */
	bad("{\"resourceType\":\"Immunization\",\"status\":\"completed\",\"vaccineCode\":{\"text\":\"x\"},"
	    "\"patient\":{\"reference\":\"Patient/1\"}}",
	    "Immunization.occurrence[x]", "Missing required element 'occurrence[x]'");
	ok("{\"resourceType\":\"Immunization\",\"status\":\"completed\",\"vaccineCode\":{\"text\":\"x\"},"
	   "\"patient\":{\"reference\":\"Patient/1\"},\"occurrenceString\":\"last spring\"}");
	ok("{\"resourceType\":\"Immunization\",\"status\":\"completed\",\"vaccineCode\":{\"text\":\"x\"},"
	   "\"patient\":{\"reference\":\"Patient/1\"},\"occurrenceDateTime\":\"2021-04\"}");
	bad("{\"resourceType\":\"Immunization\",\"status\":\"completed\",\"vaccineCode\":{\"text\":\"x\"},"
	    "\"patient\":{\"reference\":\"Patient/1\"},\"occurrenceString\":\"x\",\"occurrenceDateTime\":\"2021\"}",
	    "Immunization.occurrence[x]", NULL);
}

/* contained: resources with a known resourceType, validated as their type
 * (references.html#contained, resource.html dom-2/dom-4). */
static void test_validate_contained(void **state)
{
	(void)state;
	ok("{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
	   "\"contained\":[{\"resourceType\":\"Medication\",\"id\":\"med1\",\"code\":{\"text\":\"aspirin\"}}],"
	   "\"medicationReference\":{\"reference\":\"#med1\"},\"subject\":{\"reference\":\"Patient/1\"}}");
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"id\":\"x\"}]}", "Patient.contained[0]", "resourceType");
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":7}]}", "Patient.contained[0]",
	    "resourceType");
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Nope\"}]}", "Patient.contained[0]",
	    "unknown resourceType 'Nope'");
	bad("{\"resourceType\":\"Patient\",\"contained\":[\"Medication\"]}", "Patient.contained[0]", NULL);
	/* the contained resource's own rules */
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Medication\",\"id\":\"m\"},"
	    "{\"resourceType\":\"Observation\",\"id\":\"o\",\"code\":{\"text\":\"x\"}}]}",
	    "Patient.contained[1].status", "Missing required element 'status'");
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Medication\",\"bogus\":1}]}",
	    "Patient.contained[0].bogus", "Unknown element 'bogus'");
	/* dom-2: no nested contained */
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Medication\",\"id\":\"m\","
	    "\"contained\":[{\"resourceType\":\"Substance\",\"code\":{\"text\":\"x\"}}]}]}",
	    "Patient.contained[0].contained", "dom-2");
	/* dom-4: no versionId/lastUpdated in a contained resource */
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Medication\",\"id\":\"m\","
	    "\"meta\":{\"versionId\":\"1\"}}]}",
	    "Patient.contained[0].meta", "dom-4");
}

/* Meta (datatypes.html#Meta). */
static void test_validate_meta(void **state)
{
	(void)state;
	ok("{\"resourceType\":\"Patient\",\"meta\":{\"source\":\"urn:x\",\"security\":[{\"code\":\"R\"}]}}");
	bad("{\"resourceType\":\"Patient\",\"meta\":[]}", "Patient.meta", NULL);
	bad("{\"resourceType\":\"Patient\",\"meta\":\"x\"}", "Patient.meta", NULL);
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"versionId\":\"a b\"}}", "Patient.meta.versionId", "id");
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"versionId\":1}}", "Patient.meta.versionId", NULL);
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"lastUpdated\":\"2020-01-01\"}}", "Patient.meta.lastUpdated",
	    "instant");
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"profile\":\"http://x\"}}", "Patient.meta.profile", "array");
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"profile\":[]}}", "Patient.meta.profile", "empty");
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"tag\":{\"code\":\"x\"}}}", "Patient.meta.tag", "array");
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"security\":[\"R\"]}}", "Patient.meta.security[0]", NULL);
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"foo\":1}}", "Patient.meta.foo", "Unknown element 'foo'");
}

/* Issue 6 F4/F5: the rules hold inside datatypes and BackboneElements too
 * (json.html: "the allowable properties are listed"), with the full path. */
static void test_validate_nested_unknown(void **state)
{
	(void)state;
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"x\",\"foo\":1}]}", "Patient.name[0].foo",
	    "Unknown element 'foo'");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"x\"},{\"family\":\"y\",\"__proto__\":{\"a\":1}}]}",
	    "Patient.name[1].__proto__", "Unknown element '__proto__'");
	bad("{\"resourceType\":\"Patient\",\"identifier\":[{\"value\":\"x\",\"constructor\":{\"prototype\":1}}]}",
	    "Patient.identifier[0].constructor", "Unknown element 'constructor'");
	bad("{\"resourceType\":\"Patient\",\"prototype\":1}", "Patient.prototype", "Unknown element 'prototype'");
	/* a BackboneElement (Patient.contact) and a datatype inside it */
	bad("{\"resourceType\":\"Patient\",\"contact\":[{\"name\":{\"family\":\"x\"},\"polluted\":true}]}",
	    "Patient.contact[0].polluted", "Unknown element 'polluted'");
	bad("{\"resourceType\":\"Patient\",\"contact\":[{\"name\":{\"family\":\"x\",\"nick\":\"y\"}}]}",
	    "Patient.contact[0].name.nick", "Unknown element 'nick'");
	/* Coding inside CodeableConcept inside a backbone (Observation.component) */
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"component\":[{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"cod\":\"1\"}]}}]}",
	    "Observation.component[0].code.coding[0].cod", "Unknown element 'cod'");
	/* resourceType belongs to resources only */
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"resourceType\":\"HumanName\"}]}",
	    "Patient.name[0].resourceType", "Unknown element 'resourceType'");
	/* ...except ExampleScenario.instance, whose resourceType is an element */
	ok("{\"resourceType\":\"ExampleScenario\",\"status\":\"draft\",\"instance\":[{\"resourceId\":\"a\","
	   "\"resourceType\":\"Patient\"}]}");
	bad("{\"resourceType\":\"ExampleScenario\",\"status\":\"draft\",\"instance\":[{\"resourceId\":\"a\"}]}",
	    "ExampleScenario.instance[0].resourceType", "Missing required element 'resourceType'");
	/* choice types exist expanded and with their R4 types only, at any depth */
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"component\":[{\"code\":{\"text\":\"y\"},\"valueDecimal\":1}]}",
	    "Observation.component[0].valueDecimal", "Unknown element");
	/* "_x" only for primitives, at any depth */
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"_period\":{\"id\":\"a\"}}]}", "Patient.name[0]._period",
	    "Unknown element '_period'");
	bad("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\","
	    "\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">x</div>\",\"_div\":{\"id\":\"d\"}}}",
	    "Patient.text._div", "Unknown element '_div'");
	/* Element.id and extensions are allowed on every element */
	ok("{\"resourceType\":\"Patient\",\"name\":[{\"id\":\"n1\",\"extension\":[{\"url\":\"http://x\","
	   "\"valueString\":\"y\"}],\"family\":\"x\"}],\"contact\":[{\"id\":\"c 1\",\"modifierExtension\":[{"
	   "\"url\":\"http://x\",\"valueBoolean\":true}],\"gender\":\"male\"}]}");
}

/* JSON types of primitives inside datatypes (datatypes.html). */
static void test_validate_nested_types(void **state)
{
	(void)state;
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":1}]}", "Patient.name[0].family", "JSON string");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":\"x\"}]}", "Patient.name[0].given", "must be an array");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"a\",2]}]}", "Patient.name[0].given[1]",
	    "JSON string");
	bad("{\"resourceType\":\"Patient\",\"identifier\":[{\"value\":{\"$gt\":\"\"}}]}", "Patient.identifier[0].value",
	    "JSON string");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\","
	    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":29463}]}}",
	    "Observation.code.coding[0].code", "JSON string");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"valueQuantity\":{\"value\":\"72; DROP\"}}",
	    "Observation.valueQuantity.value", "JSON number");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"subject\":{\"reference\":{\"id\":\"p1\"}}}",
	    "Observation.subject.reference", "JSON string");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"valuePeriod\":{\"start\":\"2020-13-01\"}}",
	    "Observation.valuePeriod.start", "dateTime");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"period\":[{\"start\":\"2020\"}]}]}", "Patient.name[0].period",
	    "single value");
	bad("{\"resourceType\":\"Patient\",\"identifier\":[{\"assigner\":{\"identifier\":{\"value\":7}}}]}",
	    "Patient.identifier[0].assigner.identifier.value", "JSON string");
	/* Age, Duration, Count, Distance are Quantities */
	bad("{\"resourceType\":\"Condition\",\"subject\":{\"reference\":\"Patient/1\"},\"onsetAge\":{\"value\":\"5\"}}",
	    "Condition.onsetAge.value", "JSON number");
	ok("{\"resourceType\":\"Condition\",\"subject\":{\"reference\":\"Patient/1\"},"
	   "\"onsetAge\":{\"value\":5,\"unit\":\"a\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"a\"}}");
	/* Timing.repeat (an Element-typed group inside a datatype):
	 * positiveInt and unsignedInt ranges */
	bad("{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
	    "\"medicationCodeableConcept\":{\"text\":\"x\"},\"subject\":{\"reference\":\"Patient/1\"},"
	    "\"dosageInstruction\":[{\"timing\":{\"repeat\":{\"frequency\":0,\"period\":1,\"periodUnit\":\"d\"}}}]}",
	    "MedicationRequest.dosageInstruction[0].timing.repeat.frequency", "positive");
	bad("{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
	    "\"medicationCodeableConcept\":{\"text\":\"x\"},\"subject\":{\"reference\":\"Patient/1\"},"
	    "\"dosageInstruction\":[{\"sequence\":1.5}]}",
	    "MedicationRequest.dosageInstruction[0].sequence", "JSON integer");
	ok("{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
	   "\"medicationCodeableConcept\":{\"text\":\"x\"},\"subject\":{\"reference\":\"Patient/1\"},"
	   "\"dosageInstruction\":[{\"sequence\":1,\"timing\":{\"repeat\":{\"frequency\":2,\"period\":1.5,"
	   "\"periodUnit\":\"d\",\"boundsDuration\":{\"value\":7,\"unit\":\"d\"}}},"
	   "\"doseAndRate\":[{\"doseQuantity\":{\"value\":1e2,\"unit\":\"mg\"}}]}]}");
	bad("{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"total\":-1}", "Bundle.total", "zero or more");
	ok("{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"total\":0}");
	/* decimals: any JSON number, exponent and long precision included */
	ok("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	   "\"valueQuantity\":{\"value\":1.000000000000000000001E-3}}");
	ok("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	   "\"valueQuantity\":{\"value\":-12}}");
}

/* Required elements (min >= 1) wherever their parent is present. */
static void test_validate_nested_required(void **state)
{
	(void)state;
	/* Narrative.status and .div are 1..1 */
	bad("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\"}}", "Patient.text.div",
	    "Missing required element 'div'");
	/* Observation.component.code is 1..1 */
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"component\":[{\"code\":{\"text\":\"a\"}},{\"valueString\":\"b\"}]}",
	    "Observation.component[1].code", "Missing required element 'code'");
	/* Bundle.entry.request.method and .url are 1..1 */
	bad("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"request\":{\"url\":\"Patient\"}}]}",
	    "Bundle.entry[0].request.method", "Missing required element 'method'");
	/* contentReference: Questionnaire.item.item is a Questionnaire.item */
	ok("{\"resourceType\":\"Questionnaire\",\"status\":\"draft\",\"item\":[{\"linkId\":\"1\",\"type\":\"group\","
	   "\"item\":[{\"linkId\":\"1.1\",\"type\":\"string\",\"item\":[{\"linkId\":\"1.1.1\",\"type\":\"display\"}]}]}]}");
	bad("{\"resourceType\":\"Questionnaire\",\"status\":\"draft\",\"item\":[{\"linkId\":\"1\",\"type\":\"group\","
	    "\"item\":[{\"linkId\":\"1.1\",\"type\":\"group\",\"item\":[{\"type\":\"display\"}]}]}]}",
	    "Questionnaire.item[0].item[0].item[0].linkId", "Missing required element 'linkId'");
	bad("{\"resourceType\":\"Questionnaire\",\"status\":\"draft\",\"item\":[{\"linkId\":\"1\",\"type\":\"group\","
	    "\"item\":[{\"linkId\":\"1.1\",\"type\":\"group\",\"bogus\":1}]}]}",
	    "Questionnaire.item[0].item[0].bogus", "Unknown element 'bogus'");
	/* ValueSet.compose.exclude reuses ValueSet.compose.include */
	bad("{\"resourceType\":\"ValueSet\",\"status\":\"draft\",\"compose\":{\"include\":[{\"system\":\"http://x\"}],"
	    "\"exclude\":[{\"concept\":[{\"display\":\"no code\"}]}]}}",
	    "ValueSet.compose.exclude[0].concept[0].code", "Missing required element 'code'");
	/* a required choice group inside a backbone: Dosage.doseAndRate has
	 * none, Observation.component.value[x] is optional, but
	 * ActivityDefinition.dynamicValue needs path and expression */
	bad("{\"resourceType\":\"ActivityDefinition\",\"status\":\"draft\",\"dynamicValue\":[{\"path\":\"x\"}]}",
	    "ActivityDefinition.dynamicValue[0].expression", "Missing required element 'expression'");
	/* present through extensions only counts (data-absent-reason) */
	ok("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	   "\"component\":[{\"code\":{\"text\":\"a\"},\"valueString\":\"b\"}],"
	   "\"referenceRange\":[{\"text\":\"normal\"}]}");
}

/* Extension (extensibility.html): url 1..1, value[x] of the R4 types, or
 * nested extensions, not both (ext-1), and Extensions all the way down. */
static void test_validate_nested_extension(void **state)
{
	(void)state;
	/* US Core race: nested extensions only */
	ok("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://hl7.org/fhir/us/core/StructureDefinition/"
	   "us-core-race\",\"extension\":[{\"url\":\"ombCategory\",\"valueCoding\":{\"system\":\"urn:oid:2.16.840.1."
	   "113883.6.238\",\"code\":\"2106-3\",\"display\":\"White\"}},{\"url\":\"text\",\"valueString\":\"White\"}]}]}");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueString\":\"a\","
	    "\"valueBoolean\":true}]}",
	    "Patient.extension[0].value[x]", "Only one type of 'value[x]'");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueString\":\"a\","
	    "\"extension\":[{\"url\":\"y\",\"valueString\":\"b\"}]}]}",
	    "Patient.extension[0]", "ext-1");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\"}]}", "Patient.extension[0]", "ext-1");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueFoo\":1}]}",
	    "Patient.extension[0].valueFoo", "Unknown element 'valueFoo'");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"extension\":[{\"url\":\"a\","
	    "\"valueCoding\":{\"code\":7}}]}]}",
	    "Patient.extension[0].extension[0].valueCoding.code", "JSON string");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":7,\"valueString\":\"a\"}]}",
	    "Patient.extension[0].url", "JSON string");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x y\",\"valueString\":\"a\"}]}",
	    "Patient.extension[0].url", "uri");
	/* modifierExtension is an Extension too, also inside backbones */
	bad("{\"resourceType\":\"Patient\",\"contact\":[{\"gender\":\"male\",\"modifierExtension\":[{"
	    "\"valueBoolean\":true}]}]}",
	    "Patient.contact[0].modifierExtension[0].url", "Missing required element 'url'");
	/* a primitive value with only extensions counts as the value */
	ok("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"_valueCode\":{\"extension\":[{"
	   "\"url\":\"http://hl7.org/fhir/StructureDefinition/data-absent-reason\",\"valueCode\":\"unknown\"}]}}]}");
	/* every R4 value[x] type is allowed, complex ones checked as their type */
	ok("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueDosage\":{\"text\":\"t\"}},"
	   "{\"url\":\"http://y\",\"valueMeta\":{\"versionId\":\"1\"}},{\"url\":\"http://z\",\"valueUuid\":"
	   "\"urn:uuid:c757873d-ec9a-4326-a141-556f43239520\"}]}");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueTiming\":{\"repeat\":{"
	    "\"when\":[\"MORN\"],\"offset\":-5}}}]}",
	    "Patient.extension[0].valueTiming.repeat.offset", "zero or more");
}

/* Primitive arrays, nulls and "_x" partners at depth; empty values. */
static void test_validate_nested_arrays(void **state)
{
	(void)state;
	/* json.html: given with an extension on the second name part only */
	ok("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"Peter\",\"James\"],\"_given\":[null,{\"extension\":[{"
	   "\"url\":\"http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier\",\"valueCode\":\"CL\"}]}]}]}");
	ok("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"Peter\",null],\"_given\":[null,{\"id\":\"g2\"}]}]}");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"Peter\",null]}]}", "Patient.name[0].given[1]",
	    "null");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"Peter\"],\"_given\":[null,{\"id\":\"g2\"}]}]}",
	    "Patient.name[0].given", "same number");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"Peter\"],\"_given\":[{\"id\":\"g\",\"x\":1}]}]}",
	    "Patient.name[0].given[0]", "Unknown element 'x' in '_given[0]'");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[]}]}", "Patient.name[0].given", "empty array");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\"}]}", "Patient.name[0].family", "empty string");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"period\":{}}]}", "Patient.name[0].period", "empty object");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":null}]}", "Patient.name[0].family", "null");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"x\"}],\"contact\":[{\"telecom\":[{}]}]}",
	    "Patient.contact[0].telecom[0]", "empty object");
	bad("{\"resourceType\":\"Patient\",\"contact\":[{\"name\":[{\"family\":\"x\"}]}]}", "Patient.contact[0].name",
	    "single value");
}

/* The formats of datatypes.html that are cheap to check. */
static void test_validate_formats(void **state)
{
	(void)state;
	/* code: no leading, trailing or repeated whitespace */
	ok("{\"resourceType\":\"Patient\",\"name\":[{\"use\":\"official\"}],\"communication\":[{\"language\":{"
	   "\"coding\":[{\"code\":\"en US\"}]}}]}");
	bad("{\"resourceType\":\"Patient\",\"gender\":\" male\"}", "Patient.gender", "code");
	bad("{\"resourceType\":\"Patient\",\"gender\":\"male \"}", "Patient.gender", "code");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"use\":\"of  ficial\"}]}", "Patient.name[0].use", "code");
	/* uri / url / canonical: no whitespace */
	bad("{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"http://a b\"}]}",
	    "Patient.identifier[0].system", "uri");
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"profile\":[\"http://x\\ty\"]}}", "Patient.meta.profile[0]", "uri");
	ok("{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:oid:1.2.3\"}]}");
	/* oid and uuid */
	ok("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueOid\":\"urn:oid:2.16.840.1\"}]}");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueOid\":\"urn:oid:2.016\"}]}",
	    "Patient.extension[0].valueOid", "oid");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueOid\":\"1.2.3\"}]}",
	    "Patient.extension[0].valueOid", "oid");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueUuid\":"
	    "\"urn:uuid:C757873D-EC9A-4326-A141-556F43239520\"}]}",
	    "Patient.extension[0].valueUuid", "uuid");
	/* base64Binary */
	ok("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"aGVsbG8/Pz8+\"}");
	ok("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"aGVs\\nbG8=\"}");
	bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"aGVsbG8\"}", "Binary.data",
	    "base64Binary");
	bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"aG=sbG8=\"}", "Binary.data",
	    "base64Binary");
	bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"<script>\"}", "Binary.data",
	    "base64Binary");
	/* Narrative.div: a div element */
	bad("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\",\"div\":\"hello\"}}", "Patient.text.div",
	    "xhtml");
	bad("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\",\"div\":\"<divx>a</divx>\"}}",
	    "Patient.text.div", "xhtml");
	ok("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\","
	   "\"div\":\"\\n <div xmlns=\\\"http://www.w3.org/1999/xhtml\\\"><p>x</p></div>\"}}");
	/* Element.id is a string, not an id: any non-empty text */
	ok("{\"resourceType\":\"Patient\",\"name\":[{\"id\":\"a b_c\",\"family\":\"x\"}]}");
	/* Meta.versionId is an id wherever Meta appears */
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueMeta\":{\"versionId\":\"a b\"}}]}",
	    "Patient.extension[0].valueMeta.versionId", "id");
}

/* Resources inside resources: each checked as its own type. */
static void test_validate_nested_resources(void **state)
{
	static const char entry_bad[] =
		"{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\","
		"\"name\":[{\"family\":\"x\"}]},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
		"{\"resource\":{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"x\",\"foo\":1}]},"
		"\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}]}";
	json_t *j;
	fhir_issue is;
	(void)state;

	bad(entry_bad, "Bundle.entry[1].resource.name[0].foo", "Unknown element 'foo'");
	/* fhird import checks batch entries one by one: the Bundle alone passes */
	j = json_loads(entry_bad, 0, NULL);
	assert_non_null(j);
	assert_int_equal(fhir_validate_resource_flags(j, fhir_type_find("Bundle", 6), FHIR_VALIDATE_ENTRIES_SHALLOW, &is),
			 0);
	json_decref(j);
	j = json_loads("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"resource\":{\"resourceType\":"
		       "\"Nope\"},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}]}",
		       0, NULL);
	assert_non_null(j);
	assert_int_equal(fhir_validate_resource_flags(j, fhir_type_find("Bundle", 6), FHIR_VALIDATE_ENTRIES_SHALLOW, &is),
			 ERR_UNPROCESSABLE);
	assert_string_equal(is.expression, "Bundle.entry[0].resource");
	json_decref(j);

	bad("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{\"resourceType\":\"Nope\"}}]}",
	    "Bundle.entry[0].resource", "unknown resourceType 'Nope'");
	bad("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{\"name\":[]}}]}",
	    "Bundle.entry[0].resource", "resourceType");
	/* a Bundle in a Bundle (a document in a collection) */
	bad("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{\"resourceType\":\"Bundle\","
	    "\"type\":\"collection\",\"entry\":[{\"resource\":{\"resourceType\":\"Observation\",\"code\":{\"text\":"
	    "\"x\"}}}]}}]}",
	    "Bundle.entry[0].resource.entry[0].resource.status", "Missing required element 'status'");
	/* Bundle.entry.response.outcome is an OperationOutcome */
	ok("{\"resourceType\":\"Bundle\",\"type\":\"batch-response\",\"entry\":[{\"response\":{\"status\":\"400\","
	   "\"outcome\":{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":"
	   "\"invalid\"}]}}}]}");
	bad("{\"resourceType\":\"Bundle\",\"type\":\"batch-response\",\"entry\":[{\"response\":{\"status\":\"400\","
	    "\"outcome\":{\"resourceType\":\"Patient\"}}}]}",
	    "Bundle.entry[0].response.outcome", "must be a OperationOutcome");
	/* Parameters.parameter.resource, and parts */
	ok("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"r\",\"resource\":{\"resourceType\":\"Patient\","
	   "\"id\":\"p1\"}},{\"name\":\"p\",\"part\":[{\"name\":\"v\",\"valueInteger\":1}]}]}");
	bad("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"r\",\"resource\":{\"resourceType\":\"Patient\","
	    "\"id\":\"p 1\"}}]}",
	    "Parameters.parameter[0].resource.id", "id");
	bad("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"p\",\"part\":[{\"valueInteger\":1}]}]}",
	    "Parameters.parameter[0].part[0].name", "Missing required element 'name'");
	/* a contained resource's datatypes */
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Practitioner\",\"id\":\"pr\","
	    "\"name\":[{\"family\":\"x\",\"__proto__\":1}]}]}",
	    "Patient.contained[0].name[0].__proto__", "Unknown element '__proto__'");
	/* meta inside a Bundle entry may carry versionId (dom-4 is for contained) */
	ok("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\","
	   "\"meta\":{\"versionId\":\"3\",\"lastUpdated\":\"2020-01-01T00:00:00Z\"},\"contained\":[{\"resourceType\":"
	   "\"Organization\",\"id\":\"o\"}]}}]}");
	bad("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\","
	    "\"contained\":[{\"resourceType\":\"Organization\",\"id\":\"o\",\"meta\":{\"security\":[{\"code\":\"R\"}]}}]}}]}",
	    "Bundle.entry[0].resource.contained[0].meta", "dom-5");
}

/* Deep nesting: within the bound it is checked to the bottom; past it 422,
 * and the recursion stays bounded whatever the input. */
static json_t *nested_extensions(int levels, int bad_leaf)
{
	json_t *leaf = json_pack("{s:s, s:s}", "url", "http://x", bad_leaf ? "valueBogus" : "valueString", "v");
	json_t *cur = leaf;

	for (int i = 0; i < levels; i++)
		cur = json_pack("{s:s, s:[o]}", "url", "http://x", "extension", cur);
	return json_pack("{s:s, s:[o]}", "resourceType", "Patient", "extension", cur);
}

static void test_validate_depth(void **state)
{
	const fhir_type *pat = fhir_type_find("Patient", 7);
	fhir_issue is;
	json_t *j;
	(void)state;

	j = nested_extensions(100, 0);
	assert_non_null(j);
	assert_int_equal(fhir_validate_resource(j, pat, &is), 0);
	json_decref(j);

	/* the error 100 levels down is found; its path is cut to fit the
	 * expression, still valid UTF-8, and the message names the element */
	j = nested_extensions(100, 1);
	assert_int_equal(fhir_validate_resource(j, pat, &is), ERR_UNPROCESSABLE);
	assert_true(strlen(is.expression) < sizeof is.expression);
	assert_true(strncmp(is.expression, "Patient.extension[0].extension[0].", 34) == 0);
	assert_true(valid_utf8(is.expression, strlen(is.expression)));
	assert_non_null(strstr(is.message, "Unknown element 'valueBogus'"));
	json_decref(j);

	j = nested_extensions(FHIR_VALIDATE_MAX_DEPTH + 10, 0);
	assert_int_equal(fhir_validate_resource(j, pat, &is), ERR_UNPROCESSABLE);
	assert_non_null(strstr(is.message, "nested too deeply"));
	json_decref(j);
}

/* Messages name elements, never values (they go to clients and logs). */
static void test_validate_no_values_in_messages(void **state)
{
	static const char *const bodies[] = {
		"{\"resourceType\":\"Patient\",\"name\":[{\"family\":[\"SECRET\"]}]}",
		"{\"resourceType\":\"Patient\",\"name\":[{\"use\":\" SECRET\"}]}",
		"{\"resourceType\":\"Patient\",\"birthDate\":\"SECRET\"}",
		"{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"SECRET SECRET\"}]}",
		"{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueOid\":\"SECRET\"}]}",
		"{\"resourceType\":\"Binary\",\"contentType\":\"x\",\"data\":\"SECRET!\"}",
		"{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\",\"div\":\"SECRET\"}}",
		"{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Patient\",\"gender\":7,"
		"\"name\":[{\"text\":\"SECRET\"}]}]}",
	};
	fhir_issue is;
	(void)state;

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		assert_int_equal(check(bodies[i], &is), ERR_UNPROCESSABLE);
		if (strstr(is.message, "SECRET") || strstr(is.expression, "SECRET"))
			fail_msg("value echoed: %s / %s", is.expression, is.message);
	}
}

/* The caller's contract: an object whose resourceType names t. */
static void test_validate_contract(void **state)
{
	json_t *res = json_loads("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"}}",
				 0, NULL);
	json_t *arr = json_array();
	const fhir_type *pat = fhir_type_find("Patient", 7);
	const fhir_type *obs = fhir_type_find("Observation", 11);
	fhir_issue is;
	(void)state;

	assert_non_null(res);
	assert_int_equal(fhir_validate_resource(res, obs, &is), 0);
	assert_int_equal(fhir_validate_resource(res, obs, NULL), 0);
	assert_int_equal(fhir_validate_resource(res, pat, &is), ERR_UNPROCESSABLE);
	assert_string_equal(is.expression, "Patient.resourceType");
	assert_int_equal(fhir_validate_resource(res, pat, NULL), ERR_UNPROCESSABLE);
	assert_int_equal(fhir_validate_resource(arr, pat, &is), ERR_UNPROCESSABLE);
	assert_int_equal(fhir_validate_resource(NULL, pat, &is), ERR_INTERNAL);
	assert_int_equal(fhir_validate_resource(res, NULL, &is), ERR_INTERNAL);
	json_decref(res);
	json_decref(arr);
}

/* Opens data/demo/NAME from the working directory or above the binary. */
static json_t *load_demo(const char *name)
{
	char path[512], dir[400];
	const char *slash = strrchr(prog_path ? prog_path : "", '/');
	json_t *j;

	snprintf(path, sizeof path, "data/demo/%s", name);
	j = json_load_file(path, 0, NULL);
	if (j || !slash)
		return j;
	snprintf(dir, sizeof dir, "%.*s", (int)(slash - prog_path), prog_path);
	for (int up = 1; up <= 4 && !j; up++) {
		size_t n = (size_t)snprintf(path, sizeof path, "%s", dir);
		for (int i = 0; i < up && n < sizeof path; i++)
			n += (size_t)snprintf(path + n, sizeof path - n, "/..");
		if (n < sizeof path)
			snprintf(path + n, sizeof path - n, "/data/demo/%s", name);
		j = json_load_file(path, 0, NULL);
	}
	return j;
}

/* Real US Core resources (the demo data) are valid R4: no false positives. */
static void test_validate_demo_data(void **state)
{
	static const char *const files[] = { "uscore_bundle_patient_85.json", "uscore_bundle_patient_355.json" };
	unsigned n = 0;
	(void)state;

	for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
		json_t *bundle = load_demo(files[f]), *entry;
		size_t i;
		fhir_issue is;

		if (!bundle)
			fail_msg("cannot find data/demo/%s (run from the repository root)", files[f]);
		if (fhir_validate_resource(bundle, fhir_type_find("Bundle", 6), &is))
			fail_msg("%s: %s: %s", files[f], is.expression, is.message);
		json_array_foreach(json_object_get(bundle, "entry"), i, entry)
		{
			json_t *res = json_object_get(entry, "resource");
			const char *rt = json_string_value(json_object_get(res, "resourceType"));
			const fhir_type *t = rt ? fhir_type_find(rt, strlen(rt)) : NULL;

			assert_non_null(t);
			if (fhir_validate_resource(res, t, &is))
				fail_msg("%s entry %zu: %s: %s", files[f], i, is.expression, is.message);
			n++;
		}
		json_decref(bundle);
	}
	assert_true(n > 500);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_patient_valid),
		cmocka_unit_test(test_validate_unknown_element),
		cmocka_unit_test(test_validate_unknown_long_name),
		cmocka_unit_test(test_validate_wrong_json_type),
		cmocka_unit_test(test_validate_empty_string),
		cmocka_unit_test(test_validate_bad_dates),
		cmocka_unit_test(test_validate_id),
		cmocka_unit_test(test_validate_arrays),
		cmocka_unit_test(test_validate_null),
		cmocka_unit_test(test_validate_companion),
		cmocka_unit_test(test_validate_companion_array),
		cmocka_unit_test(test_validate_required),
		cmocka_unit_test(test_validate_choice),
		cmocka_unit_test(test_validate_contained),
		cmocka_unit_test(test_validate_meta),
		cmocka_unit_test(test_validate_nested_unknown),
		cmocka_unit_test(test_validate_nested_types),
		cmocka_unit_test(test_validate_nested_required),
		cmocka_unit_test(test_validate_nested_extension),
		cmocka_unit_test(test_validate_nested_arrays),
		cmocka_unit_test(test_validate_formats),
		cmocka_unit_test(test_validate_nested_resources),
		cmocka_unit_test(test_validate_depth),
		cmocka_unit_test(test_validate_no_values_in_messages),
		cmocka_unit_test(test_validate_contract),
		cmocka_unit_test(test_validate_demo_data),
	};
	(void)argc;
	prog_path = argv[0];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
