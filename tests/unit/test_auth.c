/*
 * test_auth.c - the authorization decision (auth/auth.h auth_decide)
 * against SMART App Launch 2.2 scopes-and-launch-context: which scopes
 * grant which letters on which types, and which of them confine the
 * access to a patient's compartment (patient/ scopes to the launch
 * patient; user/ scopes to the user's own record when the user is a
 * Patient; system/ and practitioner user/ scopes not at all), shared
 * directory types readable by confined tokens, granular constraints.
 */
#include "auth/auth.h"
#include "auth/scope.h"
#include "core/arena.h"
#include "core/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct fx {
	arena_t arena;
	scope_set set;
	auth_access acc;
};

static struct fx *fx_new(const char *scopes, const char *patient, const char *fhir_user)
{
	static struct fx f;
	memset(&f, 0, sizeof f);
	arena_init(&f.arena, 1 << 20);
	assert_int_equal(scope_parse(scopes, &f.set), 0);
	f.acc.scopes = &f.set;
	f.acc.patient = patient;
	f.acc.fhir_user = fhir_user;
	f.acc.client_id = "app";
	return &f;
}

static void fx_free(struct fx *f)
{
	scope_set_fini(&f->set);
	arena_fini(&f->arena);
}

static int decide(struct fx *f, const char *type, unsigned letter, auth_decision *d)
{
	return auth_decide(&f->acc, &f->arena, type, letter, d);
}

static void test_patient_scopes_confine(void **state)
{
	struct fx *f = fx_new("launch/patient patient/*.rs", "A", NULL);
	auth_decision d;
	(void)state;
	assert_int_equal(decide(f, "Observation", SCOPE_S, &d), 0);
	assert_string_equal(d.patient, "A");
	assert_int_equal(decide(f, "Observation", SCOPE_R, &d), 0);
	assert_string_equal(d.patient, "A");
	assert_int_equal(decide(f, "Patient", SCOPE_R, &d), 0);
	assert_string_equal(d.patient, "A");
	/* letters not granted */
	assert_int_equal(decide(f, "Observation", SCOPE_C, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "Observation", SCOPE_U, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "Observation", SCOPE_D, &d), ERR_FORBIDDEN);
	/* shared directory types: readable, not confined */
	assert_int_equal(decide(f, "Medication", SCOPE_R, &d), 0);
	assert_null(d.patient);
	assert_int_equal(d.shared, 1);
	assert_int_equal(decide(f, "Practitioner", SCOPE_S, &d), 0);
	/* Group is in the R4 Patient compartment (member): confined */
	assert_int_equal(decide(f, "Group", SCOPE_R, &d), 0);
	assert_string_equal(d.patient, "A");
	/* outside the compartment and not a shared directory type: refused */
	assert_int_equal(decide(f, "Binary", SCOPE_R, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "Linkage", SCOPE_S, &d), ERR_FORBIDDEN);
	fx_free(f);
}

static void test_patient_scope_without_context_grants_nothing(void **state)
{
	struct fx *f = fx_new("patient/*.cruds", NULL, NULL);
	auth_decision d;
	(void)state;
	assert_int_equal(decide(f, "Observation", SCOPE_R, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "Patient", SCOPE_S, &d), ERR_FORBIDDEN);
	fx_free(f);
}

static void test_confined_writes(void **state)
{
	struct fx *f = fx_new("patient/*.cruds", "A", NULL);
	auth_decision d;
	(void)state;
	assert_int_equal(decide(f, "Observation", SCOPE_C, &d), 0);
	assert_string_equal(d.patient, "A");
	/* a patient token never writes shared data other patients see */
	assert_int_equal(decide(f, "Medication", SCOPE_C, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "Practitioner", SCOPE_U, &d), ERR_FORBIDDEN);
	fx_free(f);
}

static void test_user_scopes(void **state)
{
	auth_decision d;
	struct fx *f = fx_new("user/*.rs", NULL, "Practitioner/doc");
	(void)state;
	assert_int_equal(decide(f, "Observation", SCOPE_S, &d), 0);
	assert_null(d.patient);
	assert_int_equal(decide(f, "Group", SCOPE_R, &d), 0);
	assert_int_equal(decide(f, "Observation", SCOPE_U, &d), ERR_FORBIDDEN);
	fx_free(f);

	/* a user who is a patient is confined to their own record */
	f = fx_new("user/*.rs", NULL, "Patient/P");
	assert_int_equal(decide(f, "Observation", SCOPE_S, &d), 0);
	assert_string_equal(d.patient, "P");
	fx_free(f);
}

static void test_unconfined_rule_wins(void **state)
{
	struct fx *f = fx_new("patient/Observation.rs user/Observation.rs", "A", "Practitioner/doc");
	auth_decision d;
	(void)state;
	assert_int_equal(decide(f, "Observation", SCOPE_S, &d), 0);
	assert_null(d.patient);
	/* only the patient rule covers Condition? none: refused */
	assert_int_equal(decide(f, "Condition", SCOPE_S, &d), ERR_FORBIDDEN);
	fx_free(f);
}

static void test_system_scopes(void **state)
{
	struct fx *f = fx_new("system/*.rs system/Patient.cud", NULL, NULL);
	auth_decision d;
	(void)state;
	assert_int_equal(decide(f, "Observation", SCOPE_R, &d), 0);
	assert_null(d.patient);
	assert_int_equal(decide(f, "Patient", SCOPE_U, &d), 0);
	assert_int_equal(decide(f, "Observation", SCOPE_U, &d), ERR_FORBIDDEN);
	fx_free(f);
}

static void test_v1_mapping(void **state)
{
	struct fx *f = fx_new("patient/Observation.read patient/Condition.write", "A", NULL);
	auth_decision d;
	(void)state;
	assert_int_equal(decide(f, "Observation", SCOPE_R, &d), 0);
	assert_int_equal(decide(f, "Observation", SCOPE_S, &d), 0);
	assert_int_equal(decide(f, "Observation", SCOPE_C, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "Condition", SCOPE_C, &d), 0);
	assert_int_equal(decide(f, "Condition", SCOPE_D, &d), 0);
	assert_int_equal(decide(f, "Condition", SCOPE_R, &d), ERR_FORBIDDEN);
	fx_free(f);
}

static void test_granular_constraints(void **state)
{
	struct fx *f = fx_new("patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs",
			      "A", NULL);
	auth_decision d;
	(void)state;
	assert_int_equal(decide(f, "Observation", SCOPE_S, &d), 0);
	assert_int_equal(d.nconstraints, 2);
	assert_string_equal(d.constraints[0], "category=laboratory");
	assert_string_equal(d.constraints[1], "category=vital-signs");
	fx_free(f);

	/* an unconstrained rule for the same type lifts the constraint */
	f = fx_new("patient/Observation.rs?category=laboratory patient/Observation.r", "A", NULL);
	assert_int_equal(decide(f, "Observation", SCOPE_R, &d), 0);
	assert_int_equal(d.nconstraints, 0);
	assert_int_equal(decide(f, "Observation", SCOPE_S, &d), 0);
	assert_int_equal(d.nconstraints, 1);
	fx_free(f);
}

/* AuditEvent (issue 6): only system/AuditEvent.rs, named, and only r/s. */
static void test_auditevent(void **state)
{
	struct fx *f = fx_new("system/AuditEvent.rs", NULL, NULL);
	auth_decision d;
	(void)state;
	assert_int_equal(decide(f, "AuditEvent", SCOPE_R, &d), 0);
	assert_null(d.patient);
	assert_int_equal(d.nconstraints, 0);
	assert_int_equal(decide(f, "AuditEvent", SCOPE_S, &d), 0);
	assert_int_equal(decide(f, "Patient", SCOPE_R, &d), ERR_FORBIDDEN);
	fx_free(f);
	/* no write letter grants a write, even when named */
	f = fx_new("system/AuditEvent.cruds", NULL, NULL);
	assert_int_equal(decide(f, "AuditEvent", SCOPE_C, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "AuditEvent", SCOPE_U, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "AuditEvent", SCOPE_D, &d), ERR_FORBIDDEN);
	fx_free(f);
	/* wildcards, patient/ and user/ rules, constrained rules: nothing */
	f = fx_new("system/*.cruds patient/*.cruds user/*.cruds", "A", "Practitioner/x");
	assert_int_equal(decide(f, "AuditEvent", SCOPE_R, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "AuditEvent", SCOPE_S, &d), ERR_FORBIDDEN);
	assert_int_equal(decide(f, "Observation", SCOPE_R, &d), 0);
	fx_free(f);
	f = fx_new("launch/patient patient/AuditEvent.rs user/AuditEvent.rs", "A", "Practitioner/x");
	assert_int_equal(decide(f, "AuditEvent", SCOPE_R, &d), ERR_FORBIDDEN);
	fx_free(f);
	f = fx_new("system/AuditEvent.rs?outcome=8", NULL, NULL);
	assert_int_equal(decide(f, "AuditEvent", SCOPE_S, &d), ERR_FORBIDDEN);
	fx_free(f);
}

static void test_full_access(void **state)
{
	arena_t a;
	auth_access acc;
	auth_decision d;
	(void)state;
	arena_init(&a, 4096);
	memset(&acc, 0, sizeof acc);
	acc.full = 1;
	assert_int_equal(auth_decide(&acc, &a, "Group", SCOPE_D, &d), 0);
	assert_null(d.patient);
	acc.full = 0; /* no scopes at all */
	assert_int_equal(auth_decide(&acc, &a, "Observation", SCOPE_R, &d), ERR_FORBIDDEN);
	arena_fini(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patient_scopes_confine),
		cmocka_unit_test(test_patient_scope_without_context_grants_nothing),
		cmocka_unit_test(test_confined_writes),
		cmocka_unit_test(test_user_scopes),
		cmocka_unit_test(test_unconfined_rule_wins),
		cmocka_unit_test(test_system_scopes),
		cmocka_unit_test(test_v1_mapping),
		cmocka_unit_test(test_granular_constraints),
		cmocka_unit_test(test_full_access),
		cmocka_unit_test(test_auditevent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
