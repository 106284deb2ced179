/*
 * test_err.c - the error table (err.h): every ERR_* maps to the HTTP
 * status documented beside it in err.h and to an OperationOutcome
 * issue.code from the R4 IssueType code system
 * (hl7.org/fhir/R4/codesystem-issue-type.html); unknown values fall back
 * to a 500 rather than to nothing.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct expect {
	int err;
	int status;
	const char *name;
};

/* Straight from the comments in err.h. */
static const struct expect expected[] = {
	{ ERR_OK, 200, "ERR_OK" },
	{ ERR_NOMEM, 500, "ERR_NOMEM" },
	{ ERR_TOOBIG, 413, "ERR_TOOBIG" },
	{ ERR_INVALID, 400, "ERR_INVALID" },
	{ ERR_NOTFOUND, 404, "ERR_NOTFOUND" },
	{ ERR_GONE, 410, "ERR_GONE" },
	{ ERR_CONFLICT, 409, "ERR_CONFLICT" },
	{ ERR_PRECONDITION, 412, "ERR_PRECONDITION" },
	{ ERR_UNAUTHORIZED, 401, "ERR_UNAUTHORIZED" },
	{ ERR_FORBIDDEN, 403, "ERR_FORBIDDEN" },
	{ ERR_DB, 500, "ERR_DB" },
	{ ERR_UNPROCESSABLE, 422, "ERR_UNPROCESSABLE" },
	{ ERR_METHOD, 405, "ERR_METHOD" },
	{ ERR_NOTACCEPTABLE, 406, "ERR_NOTACCEPTABLE" },
	{ ERR_MEDIATYPE, 415, "ERR_MEDIATYPE" },
	{ ERR_NOTIMPL, 501, "ERR_NOTIMPL" },
	{ ERR_IO, 500, "ERR_IO" },
	{ ERR_INTERNAL, 500, "ERR_INTERNAL" },
	{ ERR_BUSY, 503, "ERR_BUSY" },
	{ ERR_URITOOLONG, 414, "ERR_URITOOLONG" },
	{ ERR_THROTTLED, 429, "ERR_THROTTLED" },
	{ ERR_TOOCOSTLY, 400, "ERR_TOOCOSTLY" },
};

/* http://hl7.org/fhir/issue-type, R4 */
static const char *const issue_types[] = {
	"invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
	"expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate", "multiple-matches",
	"not-found", "deleted", "too-long", "code-invalid", "extension", "too-costly", "business-rule",
	"conflict", "transient", "lock-error", "no-store", "exception", "timeout", "incomplete",
	"throttled", "informational",
};

static int is_issue_type(const char *code)
{
	for (size_t i = 0; i < sizeof issue_types / sizeof issue_types[0]; i++)
		if (strcmp(code, issue_types[i]) == 0)
			return 1;
	return 0;
}

static void test_err_table_complete(void **state)
{
	(void)state;
	/* one expectation per value 0 .. -(ERR__COUNT-1), no gaps */
	assert_int_equal(sizeof expected / sizeof expected[0], ERR__COUNT);
	for (int i = 0; i < ERR__COUNT; i++)
		assert_int_equal(expected[i].err, -i);
}

static void test_err_status(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		if (err_http_status(expected[i].err) != expected[i].status)
			fail_msg("%s: status %d, err.h says %d", expected[i].name, err_http_status(expected[i].err),
				 expected[i].status);
	}
}

static void test_err_issue_code(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		const char *code = err_issue_code(expected[i].err);
		assert_non_null(code);
		assert_true(code[0] != '\0');
		if (!is_issue_type(code))
			fail_msg("%s: '%s' is not an R4 IssueType code", expected[i].name, code);
	}
	/* The codes whose meaning the IssueType system spells out. */
	assert_string_equal(err_issue_code(ERR_NOTFOUND), "not-found");
	assert_string_equal(err_issue_code(ERR_GONE), "deleted");
	assert_string_equal(err_issue_code(ERR_UNAUTHORIZED), "login");
	assert_string_equal(err_issue_code(ERR_FORBIDDEN), "forbidden");
	assert_string_equal(err_issue_code(ERR_CONFLICT), "conflict");
	assert_string_equal(err_issue_code(ERR_NOTIMPL), "not-supported");
	assert_string_equal(err_issue_code(ERR_URITOOLONG), "too-long");
	assert_string_equal(err_issue_code(ERR_THROTTLED), "throttled");
	assert_string_equal(err_issue_code(ERR_TOOCOSTLY), "too-costly");
}

static void test_err_name_message(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		const char *msg = err_message(expected[i].err);
		assert_string_equal(err_name(expected[i].err), expected[i].name);
		assert_non_null(msg);
		assert_true(msg[0] != '\0');
	}
	/* Client-safe generic texts: distinct per client-visible failure. */
	assert_string_not_equal(err_message(ERR_NOTFOUND), err_message(ERR_GONE));
	assert_string_not_equal(err_message(ERR_UNAUTHORIZED), err_message(ERR_FORBIDDEN));
}

/* err.h: "500 for unknown values"; names and messages never NULL. */
static void test_err_unknown(void **state)
{
	static const int unknown[] = { 1, 42, -ERR__COUNT, -100, -1000000, -2147483647 - 1, 2147483647 };
	(void)state;
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		int e = unknown[i];
		assert_int_equal(err_http_status(e), 500);
		assert_non_null(err_issue_code(e));
		assert_true(is_issue_type(err_issue_code(e)));
		assert_non_null(err_name(e));
		assert_true(err_name(e)[0] != '\0');
		assert_non_null(err_message(e));
		assert_true(err_message(e)[0] != '\0');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_table_complete),
		cmocka_unit_test(test_err_status),
		cmocka_unit_test(test_err_issue_code),
		cmocka_unit_test(test_err_name_message),
		cmocka_unit_test(test_err_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
