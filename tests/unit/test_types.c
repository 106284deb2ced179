/*
 * test_types.c - the generated R4 type tables (types.h, types_gen.c) and
 * their lookups: the set of concrete R4 4.0.1 resource types, the datatype
 * and BackboneElement tables, sort order (binary search depends on it),
 * element shapes taken from the StructureDefinitions, choice expansion,
 * contentReference, and (ptr, len) name lookup.
 */
#include "fhir/types.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const fhir_element *elem(const char *type, const char *name)
{
	const fhir_type *t = fhir_type_find(type, strlen(type));
	assert_non_null(t);
	return fhir_type_element(t, name);
}

/* R4 (4.0.1) defines 146 concrete resource types (resourcelist.html); the
 * input bundle also carries the R4B backport SubscriptionStatus, which an
 * R4 server must not list. */
static void test_types_count(void **state)
{
	(void)state;
	assert_int_equal(fhir_types_count, 146);
	assert_null(fhir_type_find("SubscriptionStatus", strlen("SubscriptionStatus")));
}

static void test_types_sorted(void **state)
{
	(void)state;
	for (unsigned i = 1; i < fhir_types_count; i++)
		assert_true(strcmp(fhir_types[i - 1].name, fhir_types[i].name) < 0);
	for (unsigned i = 0; i < fhir_types_count; i++) {
		const fhir_type *t = &fhir_types[i];
		assert_true(t->n_elements > 0);
		for (unsigned j = 1; j < t->n_elements; j++)
			assert_true(strcmp(t->elements[j - 1].name, t->elements[j].name) < 0);
	}
}

/* Every type is found by its own name, and every element by its own. */
static void test_types_find_each(void **state)
{
	(void)state;
	for (unsigned i = 0; i < fhir_types_count; i++) {
		const fhir_type *t = &fhir_types[i];
		assert_ptr_equal(fhir_type_find(t->name, strlen(t->name)), t);
		for (unsigned j = 0; j < t->n_elements; j++)
			assert_ptr_equal(fhir_type_element(t, t->elements[j].name), &t->elements[j]);
	}
}

static void test_types_find(void **state)
{
	const fhir_type *p, *o;
	(void)state;

	p = fhir_type_find("Patient", 7);
	assert_non_null(p);
	assert_string_equal(p->name, "Patient");
	o = fhir_type_find("Observation", 11);
	assert_non_null(o);
	assert_string_equal(o->name, "Observation");
	/* First and last in byte order. */
	assert_non_null(fhir_type_find("Account", 7));
	assert_non_null(fhir_type_find("VisionPrescription", 18));

	/* Names are case-sensitive (resource types are case-sensitive tokens). */
	assert_null(fhir_type_find("patient", 7));
	assert_null(fhir_type_find("PATIENT", 7));
	assert_null(fhir_type_find("Patien", 6));
	assert_null(fhir_type_find("Patientx", 8));
	assert_null(fhir_type_find("", 0));
	assert_null(fhir_type_find("Foo", 3));
	/* Abstract types are not resource types one can create. */
	assert_null(fhir_type_find("Resource", 8));
	assert_null(fhir_type_find("DomainResource", 14));
	assert_null(fhir_type_find("MetadataResource", 16));
	/* Datatypes are not resources. */
	assert_null(fhir_type_find("HumanName", 9));
}

/* The name is name[0..len): no terminator needed, nothing read past len,
 * and a NUL inside the name matches nothing. */
static void test_types_find_len(void **state)
{
	char exact[7];
	(void)state;

	memcpy(exact, "Patient", 7); /* not NUL-terminated */
	assert_non_null(fhir_type_find(exact, sizeof exact));
	assert_string_equal(fhir_type_find("Patient/123", 7)->name, "Patient");
	assert_null(fhir_type_find("Patient/123", 8));
	assert_null(fhir_type_find("Patient\0xyz", 11));
	assert_null(fhir_type_find("Patient\0", 8));
	assert_null(fhir_type_find("Pat\0ent", 7));
	assert_null(fhir_type_find(NULL, 0));
}

static void test_types_common_elements(void **state)
{
	(void)state;
	for (unsigned i = 0; i < fhir_types_count; i++) {
		const fhir_type *t = &fhir_types[i];
		const fhir_element *id = fhir_type_element(t, "id");
		const fhir_element *meta = fhir_type_element(t, "meta");
		const fhir_element *lang = fhir_type_element(t, "language");

		/* Resource.id is an id, Resource.meta a Meta (resource.html). */
		assert_non_null(id);
		assert_int_equal(id->kind, FHIR_K_ID);
		assert_false(id->is_array);
		assert_false(id->required);
		assert_non_null(meta);
		assert_int_equal(meta->kind, FHIR_K_COMPLEX);
		assert_false(meta->is_array);
		assert_non_null(lang);
		assert_int_equal(lang->kind, FHIR_K_CODE);
		assert_null(fhir_type_element(t, "resourceType"));
	}
	/* DomainResource adds text, contained, extension, modifierExtension. */
	assert_int_equal(elem("Patient", "contained")->kind, FHIR_K_RESOURCE);
	assert_true(elem("Patient", "contained")->is_array);
	assert_int_equal(elem("Patient", "extension")->kind, FHIR_K_COMPLEX);
	assert_true(elem("Patient", "extension")->is_array);
	assert_true(elem("Patient", "modifierExtension")->is_array);
	assert_int_equal(elem("Patient", "text")->kind, FHIR_K_COMPLEX);
	/* Bundle, Binary and Parameters are not DomainResources. */
	assert_null(elem("Bundle", "text"));
	assert_null(elem("Bundle", "contained"));
	assert_null(elem("Binary", "extension"));
	assert_null(elem("Parameters", "contained"));
}

static void test_types_patient(void **state)
{
	const fhir_element *e;
	(void)state;

	e = elem("Patient", "birthDate");
	assert_non_null(e);
	assert_int_equal(e->kind, FHIR_K_DATE);
	assert_false(e->is_array);
	assert_false(e->required);
	assert_null(e->choice);

	e = elem("Patient", "name");
	assert_non_null(e);
	assert_int_equal(e->kind, FHIR_K_COMPLEX);
	assert_true(e->is_array);
	assert_false(e->required);

	assert_int_equal(elem("Patient", "active")->kind, FHIR_K_BOOLEAN);
	assert_int_equal(elem("Patient", "gender")->kind, FHIR_K_CODE);
	assert_true(elem("Patient", "identifier")->is_array);
	assert_false(elem("Patient", "managingOrganization")->is_array);

	/* deceased[x] is boolean | dateTime, multipleBirth[x] boolean | integer. */
	e = elem("Patient", "deceasedBoolean");
	assert_non_null(e);
	assert_int_equal(e->kind, FHIR_K_BOOLEAN);
	assert_string_equal(e->choice, "deceased");
	assert_false(e->required);
	assert_int_equal(elem("Patient", "deceasedDateTime")->kind, FHIR_K_DATETIME);
	assert_int_equal(elem("Patient", "multipleBirthInteger")->kind, FHIR_K_INTEGER);
	assert_null(elem("Patient", "deceased"));
	assert_null(elem("Patient", "deceased[x]"));
	assert_null(elem("Patient", "deceasedString"));
	assert_null(elem("Patient", "nosuch"));
	assert_null(elem("Patient", ""));
	assert_null(fhir_type_element(NULL, "name"));
}

static void test_types_observation(void **state)
{
	const fhir_element *e;
	static const char *const values[] = { "valueQuantity", "valueCodeableConcept", "valueString",
					      "valueBoolean", "valueInteger", "valueRange", "valueRatio",
					      "valueSampledData", "valueTime", "valueDateTime", "valuePeriod" };
	(void)state;

	/* Observation.status and .code are 1..1 */
	e = elem("Observation", "status");
	assert_non_null(e);
	assert_true(e->required);
	assert_int_equal(e->kind, FHIR_K_CODE);
	assert_true(elem("Observation", "code")->required);
	assert_int_equal(elem("Observation", "code")->kind, FHIR_K_COMPLEX);
	assert_false(elem("Observation", "subject")->required);

	/* value[x]: 11 types in R4, all in group "value", optional. */
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		e = elem("Observation", values[i]);
		assert_non_null(e);
		assert_string_equal(e->choice, "value");
		assert_false(e->required);
		assert_false(e->choice_required);
		assert_false(e->is_array);
	}
	assert_int_equal(elem("Observation", "valueQuantity")->kind, FHIR_K_COMPLEX);
	assert_int_equal(elem("Observation", "valueString")->kind, FHIR_K_STRING);
	assert_int_equal(elem("Observation", "valueTime")->kind, FHIR_K_TIME);
	assert_int_equal(elem("Observation", "valueInteger")->kind, FHIR_K_INTEGER);
	assert_null(elem("Observation", "valueDecimal")); /* not an R4 value[x] type */
	assert_int_equal(elem("Observation", "effectiveInstant")->kind, FHIR_K_INSTANT);
	assert_string_equal(elem("Observation", "effectiveInstant")->choice, "effective");
	assert_int_equal(elem("Observation", "issued")->kind, FHIR_K_INSTANT);
}

/* Choice groups with min 1: no single expansion is required, the group is. */
static void test_types_required_choice(void **state)
{
	const fhir_element *e;
	(void)state;

	e = elem("Immunization", "occurrenceDateTime");
	assert_non_null(e);
	assert_string_equal(e->choice, "occurrence");
	assert_true(e->choice_required);
	assert_false(e->required);
	e = elem("Immunization", "occurrenceString");
	assert_true(e->choice_required);
	assert_int_equal(e->kind, FHIR_K_STRING);
	assert_true(elem("MedicationRequest", "medicationReference")->choice_required);
	assert_true(elem("MedicationRequest", "medicationCodeableConcept")->choice_required);
}

/* Other kinds and shapes spot-checked against the R4 definitions. */
static void test_types_kinds(void **state)
{
	(void)state;
	assert_int_equal(elem("ImplementationGuide", "packageId")->kind, FHIR_K_ID);
	assert_int_equal(elem("ChargeItem", "factorOverride")->kind, FHIR_K_DECIMAL);
	assert_int_equal(elem("Bundle", "timestamp")->kind, FHIR_K_INSTANT);
	assert_int_equal(elem("Bundle", "total")->kind, FHIR_K_UNSIGNED);
	assert_true(elem("Bundle", "type")->required);
	assert_true(elem("Bundle", "entry")->is_array);
	assert_int_equal(elem("Bundle", "entry")->kind, FHIR_K_COMPLEX);
	/* contentReference elements reuse a BackboneElement: objects. */
	assert_int_equal(elem("ClaimResponse", "adjudication")->kind, FHIR_K_COMPLEX);
	assert_true(elem("ClaimResponse", "adjudication")->is_array);
	/* CapabilityStatement.format is code 1..* */
	assert_true(elem("CapabilityStatement", "format")->is_array);
	assert_true(elem("CapabilityStatement", "format")->required);
	assert_int_equal(elem("Binary", "data")->kind, FHIR_K_BASE64);
	assert_true(elem("Binary", "contentType")->required);
	assert_int_equal(elem("AllergyIntolerance", "category")->kind, FHIR_K_CODE);
	assert_true(elem("AllergyIntolerance", "category")->is_array);
	assert_true(elem("AllergyIntolerance", "patient")->required);
}

/* The datatype and BackboneElement tables (fhir_structs[]): sorted, each
 * found by its name, and every complex element leads to a table. */
static void test_types_structs_sorted(void **state)
{
	(void)state;
	assert_true(fhir_structs_count > 500); /* 41 datatypes + ~480 BackboneElements in R4 */
	for (unsigned i = 1; i < fhir_structs_count; i++)
		assert_true(strcmp(fhir_structs[i - 1].name, fhir_structs[i].name) < 0);
	for (unsigned i = 0; i < fhir_structs_count; i++) {
		const fhir_type *t = &fhir_structs[i];
		assert_ptr_equal(fhir_struct_find(t->name, strlen(t->name)), t);
		assert_false(t->is_resource);
		/* resourceType names resources; the one element so named is
		 * ExampleScenario.instance's code */
		if (strcmp(t->name, "ExampleScenario.instance") != 0)
			assert_null(fhir_type_element(t, "resourceType"));
		else
			assert_int_equal(fhir_type_element(t, "resourceType")->kind, FHIR_K_CODE);
		for (unsigned j = 1; j < t->n_elements; j++)
			assert_true(strcmp(t->elements[j - 1].name, t->elements[j].name) < 0);
	}
	assert_ptr_equal(fhir_struct_extension, fhir_struct_find("Extension", 9));
	assert_ptr_equal(fhir_struct_bundle_entry, fhir_struct_find("Bundle.entry", 12));
	assert_null(fhir_struct_find("Patient", 7)); /* a resource, not a struct */
	assert_null(fhir_struct_find("SimpleQuantity", 14)); /* a profile: its base Quantity serves */
	assert_null(fhir_struct_find("Element", 7)); /* abstract */
	assert_null(fhir_type_find("HumanName", 9));
}

/* Every element of every table: complex values have a table, primitives do
 * not; choice groups and required counts agree with the rows. */
static void check_table(const fhir_type *t)
{
	unsigned req = 0, groups = 0;

	for (unsigned j = 0; j < t->n_elements; j++) {
		const fhir_element *e = &t->elements[j];

		if (e->kind == FHIR_K_COMPLEX)
			assert_non_null(fhir_element_type(e));
		else if (e->kind != FHIR_K_RESOURCE)
			assert_null(fhir_element_type(e));
		if (e->choice) {
			assert_true(e->choice_group >= 1 && e->choice_group <= t->n_choices);
			assert_false(e->required);
			assert_true(strncmp(e->name, e->choice, strlen(e->choice)) == 0);
			if (e->choice_group > groups) {
				groups = e->choice_group;
				req += e->choice_required;
			}
		} else {
			assert_int_equal(e->choice_group, 0);
			req += e->required;
		}
	}
	assert_int_equal(groups, t->n_choices);
	assert_true(t->n_choices <= FHIR_MAX_CHOICE_GROUPS);
	assert_int_equal(req, t->n_required);
}

static void test_types_struct_rows(void **state)
{
	(void)state;
	for (unsigned i = 0; i < fhir_types_count; i++) {
		assert_true(fhir_types[i].is_resource);
		check_table(&fhir_types[i]);
	}
	for (unsigned i = 0; i < fhir_structs_count; i++)
		check_table(&fhir_structs[i]);
	assert_null(fhir_element_type(NULL));
}

static const fhir_type *st(const char *name)
{
	const fhir_type *t = fhir_struct_find(name, strlen(name));
	if (!t)
		fail_msg("no table %s", name);
	return t;
}

/* Datatypes against datatypes.html. */
static void test_types_datatypes(void **state)
{
	static const char *const all[] = { "Address", "Age", "Annotation", "Attachment", "CodeableConcept", "Coding",
					   "ContactDetail", "ContactPoint", "Contributor", "Count", "DataRequirement",
					   "Distance", "Dosage", "Duration", "ElementDefinition", "Expression",
					   "Extension", "HumanName", "Identifier", "MarketingStatus", "Meta", "Money",
					   "Narrative", "ParameterDefinition", "Period", "Population",
					   "ProdCharacteristic", "ProductShelfLife", "Quantity", "Range", "Ratio",
					   "Reference", "RelatedArtifact", "SampledData", "Signature", "SubstanceAmount",
					   "Timing", "TriggerDefinition", "UsageContext" };
	const fhir_element *e;
	(void)state;

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		assert_non_null(st(all[i]));
	e = fhir_type_element(st("HumanName"), "given");
	assert_int_equal(e->kind, FHIR_K_STRING);
	assert_true(e->is_array);
	e = fhir_type_element(st("HumanName"), "period");
	assert_ptr_equal(fhir_element_type(e), st("Period"));
	assert_int_equal(fhir_type_element(st("HumanName"), "id")->kind, FHIR_K_STRING); /* Element.id */
	assert_null(fhir_type_element(st("HumanName"), "modifierExtension"));            /* an Element */
	assert_non_null(fhir_type_element(st("Timing"), "modifierExtension"));           /* a BackboneElement */
	assert_int_equal(fhir_type_element(st("Quantity"), "value")->kind, FHIR_K_DECIMAL);
	assert_int_equal(fhir_type_element(st("Age"), "value")->kind, FHIR_K_DECIMAL);
	assert_int_equal(fhir_type_element(st("Coding"), "system")->kind, FHIR_K_URI);
	assert_int_equal(fhir_type_element(st("Coding"), "code")->kind, FHIR_K_CODE);
	assert_int_equal(fhir_type_element(st("Attachment"), "data")->kind, FHIR_K_BASE64);
	assert_int_equal(fhir_type_element(st("Attachment"), "size")->kind, FHIR_K_UNSIGNED);
	assert_int_equal(fhir_type_element(st("Narrative"), "div")->kind, FHIR_K_XHTML);
	assert_true(fhir_type_element(st("Narrative"), "div")->required);
	assert_int_equal(fhir_type_element(st("Meta"), "versionId")->kind, FHIR_K_ID);
	assert_int_equal(fhir_type_element(st("Meta"), "lastUpdated")->kind, FHIR_K_INSTANT);
	/* Extension: url (a uri, 1..1) and value[x] of every R4 type */
	assert_int_equal(fhir_type_element(st("Extension"), "url")->kind, FHIR_K_URI);
	assert_true(fhir_type_element(st("Extension"), "url")->required);
	assert_int_equal(st("Extension")->n_choices, 1);
	assert_ptr_equal(fhir_element_type(fhir_type_element(st("Extension"), "valueDosage")), st("Dosage"));
	assert_int_equal(fhir_type_element(st("Extension"), "valueOid")->kind, FHIR_K_OID);
	assert_int_equal(fhir_type_element(st("Extension"), "valueUuid")->kind, FHIR_K_UUID);
	assert_int_equal(fhir_type_element(st("Extension"), "valuePositiveInt")->kind, FHIR_K_POSITIVE);
	assert_null(fhir_type_element(st("Extension"), "valueExtension"));
	/* Timing.repeat is an Element-typed group of its own */
	e = fhir_type_element(st("Timing"), "repeat");
	assert_ptr_equal(fhir_element_type(e), st("Timing.repeat"));
	assert_int_equal(fhir_type_element(st("Timing.repeat"), "frequency")->kind, FHIR_K_POSITIVE);
	/* Period.stop is not R4, but Synthea writes it (gen_types.py TOLERATED) */
	assert_int_equal(fhir_type_element(st("Period"), "stop")->kind, FHIR_K_DATETIME);
}

/* BackboneElements and contentReference. */
static void test_types_backbones(void **state)
{
	const fhir_element *e;
	(void)state;

	e = elem("Patient", "contact");
	assert_ptr_equal(fhir_element_type(e), st("Patient.contact"));
	assert_ptr_equal(fhir_element_type(fhir_type_element(st("Patient.contact"), "name")), st("HumanName"));
	assert_ptr_equal(fhir_element_type(elem("Bundle", "entry")), st("Bundle.entry"));
	e = fhir_type_element(st("Bundle.entry"), "request");
	assert_ptr_equal(fhir_element_type(e), st("Bundle.entry.request"));
	assert_true(fhir_type_element(st("Bundle.entry.request"), "method")->required);
	/* resources inside: any type, or the one the element names */
	e = fhir_type_element(st("Bundle.entry"), "resource");
	assert_int_equal(e->kind, FHIR_K_RESOURCE);
	assert_null(fhir_element_type(e));
	e = fhir_type_element(st("Bundle.entry.response"), "outcome");
	assert_int_equal(e->kind, FHIR_K_RESOURCE);
	assert_ptr_equal(fhir_element_type(e), fhir_type_find("OperationOutcome", 16));
	assert_int_equal(fhir_type_element(st("Parameters.parameter"), "resource")->kind, FHIR_K_RESOURCE);
	/* contentReference reuses the table it names */
	e = fhir_type_element(st("Questionnaire.item"), "item");
	assert_ptr_equal(fhir_element_type(e), st("Questionnaire.item"));
	assert_true(e->is_array);
	assert_ptr_equal(fhir_element_type(fhir_type_element(st("ValueSet.compose"), "exclude")),
			 st("ValueSet.compose.include"));
	assert_ptr_equal(fhir_element_type(elem("ClaimResponse", "adjudication")), st("ClaimResponse.item.adjudication"));
	assert_null(fhir_struct_find("Questionnaire.item.item", 23));
	/* choice inside a backbone */
	e = fhir_type_element(st("Observation.component"), "valueQuantity");
	assert_string_equal(e->choice, "value");
	assert_ptr_equal(fhir_element_type(e), st("Quantity"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types_count),
		cmocka_unit_test(test_types_sorted),
		cmocka_unit_test(test_types_find_each),
		cmocka_unit_test(test_types_find),
		cmocka_unit_test(test_types_find_len),
		cmocka_unit_test(test_types_common_elements),
		cmocka_unit_test(test_types_patient),
		cmocka_unit_test(test_types_observation),
		cmocka_unit_test(test_types_required_choice),
		cmocka_unit_test(test_types_kinds),
		cmocka_unit_test(test_types_structs_sorted),
		cmocka_unit_test(test_types_struct_rows),
		cmocka_unit_test(test_types_datatypes),
		cmocka_unit_test(test_types_backbones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
