/*
 * test_scope.c - SMART App Launch scopes (auth/scope.h) against
 * hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html (STU 2.2)
 * and RFC 6749 3.3: v1 names mapped to v2 letters, the v2 letter order,
 * granular constraints kept verbatim, the three contexts, the launch and
 * identity scopes, unknown scopes kept, hostile input refused whole, the
 * canonical string and its round trip, and the set algebra the
 * authorization server builds on (intersect, covers, match).
 */
#include "auth/scope.h"
#include "core/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define LAB "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
#define VITALS "category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"

static void parse_ok(const char *s, scope_set *out)
{
	int rc = scope_parse(s, out);

	if (rc != 0)
		fail_msg("expected \"%.200s\" to parse, got %d", s ? s : "(null)", rc);
}

/* Refused whole, and out left empty even when it held something before. */
static void parse_bad(const char *s)
{
	scope_set set;
	int rc;

	memset(&set, 0xa5, sizeof set);
	rc = scope_parse(s, &set);
	if (rc != ERR_INVALID)
		fail_msg("expected ERR_INVALID for \"%.200s\", got %d", s, rc);
	assert_null(set.rules);
	assert_int_equal(set.nrules, 0);
	assert_null(set.other);
	assert_int_equal(set.nother, 0);
	assert_int_equal(set.flags, 0);
}

/* The one rule of a one-token scope string. */
static scope_rule one_rule(const char *s)
{
	scope_set set = { 0 };
	scope_rule r;

	parse_ok(s, &set);
	if (set.nrules != 1)
		fail_msg("\"%s\": %zu rules", s, set.nrules);
	r = set.rules[0];
	r.query = NULL; /* owned by set */
	assert_int_equal(set.nother, 0);
	assert_int_equal(set.flags, 0);
	scope_set_fini(&set);
	return r;
}

static void expect_rule(const char *s, enum scope_ctx ctx, const char *type, unsigned perms, int v1)
{
	scope_rule r = one_rule(s);

	if (r.ctx != ctx || strcmp(r.type, type) != 0 || r.perms != perms || r.v1 != v1)
		fail_msg("\"%s\": ctx %d type %s perms %#x v1 %d", s, (int)r.ctx, r.type, r.perms, r.v1);
}

/* parse(in) formats as want, and want parses and formats as itself. */
static void canon(const char *in, const char *want)
{
	scope_set a = { 0 }, b = { 0 };
	char *s1 = NULL, *s2 = NULL;

	parse_ok(in, &a);
	assert_int_equal(scope_format(&a, &s1), 0);
	if (strcmp(s1, want) != 0)
		fail_msg("\"%s\" formats as \"%s\", want \"%s\"", in, s1, want);
	parse_ok(s1, &b);
	assert_int_equal(scope_format(&b, &s2), 0);
	assert_string_equal(s1, s2);
	free(s1);
	free(s2);
	scope_set_fini(&a);
	scope_set_fini(&b);
}

static void intersect(const char *req, const char *allowed, const char *want)
{
	scope_set r = { 0 }, a = { 0 }, o;
	char *s = NULL;

	parse_ok(req, &r);
	parse_ok(allowed, &a);
	memset(&o, 0x5a, sizeof o); /* "filled fresh": garbage in out is fine */
	assert_int_equal(scope_intersect(&r, &a, &o), 0);
	assert_int_equal(scope_format(&o, &s), 0);
	if (strcmp(s, want) != 0)
		fail_msg("\"%s\" asked, \"%s\" allowed: got \"%s\", want \"%s\"", req, allowed, s, want);
	/* whatever is granted is within both sides */
	assert_true(scope_covers(&a, &o));
	assert_true(scope_covers(&r, &o));
	free(s);
	scope_set_fini(&r);
	scope_set_fini(&a);
	scope_set_fini(&o);
}

static int covers(const char *have, const char *want)
{
	scope_set h = { 0 }, w = { 0 };
	int c;

	parse_ok(have, &h);
	parse_ok(want, &w);
	c = scope_covers(&h, &w);
	scope_set_fini(&h);
	scope_set_fini(&w);
	return c;
}

/* ---- v1 and v2 syntax ---------------------------------------------------- */

/* v1 (SMART 1.0, still accepted by 2.x servers): read = rs, write = cud,
 * * = cruds; the rule remembers it was written in v1. */
static void test_scope_v1(void **state)
{
	(void)state;
	expect_rule("patient/Observation.read", SCOPE_PATIENT, "Observation", SCOPE_R | SCOPE_S, 1);
	expect_rule("user/*.write", SCOPE_USER, "*", SCOPE_C | SCOPE_U | SCOPE_D, 1);
	expect_rule("patient/*.*", SCOPE_PATIENT, "*", SCOPE_ALL, 1);
	expect_rule("system/Patient.read", SCOPE_SYSTEM, "Patient", SCOPE_R | SCOPE_S, 1);
	expect_rule("user/MedicationRequest.*", SCOPE_USER, "MedicationRequest", SCOPE_ALL, 1);
	/* v1 names are exact and case-sensitive */
	parse_bad("patient/Observation.Read");
	parse_bad("patient/Observation.reads");
	parse_bad("patient/Observation.rea");
	parse_bad("patient/Observation.writ");
	parse_bad("patient/Observation.**");
	parse_bad("patient/Observation.read*");
	/* granular constraints are v2 only */
	parse_bad("patient/Observation.read?" LAB);
	parse_bad("patient/Observation.write?a=b");
	parse_bad("patient/*.*?a=b");
}

/* v2: "c r u d s ... in that order", each at most once, at least one. Every
 * string of up to five letters over cruds is tried: exactly the strictly
 * increasing ones parse, with exactly their letters. */
static void test_scope_v2_letters(void **state)
{
	static const char L[] = "cruds";
	char tok[64], *p;
	size_t len, i, total = 0, valid = 0;
	unsigned idx[5];

	(void)state;
	expect_rule("patient/Observation.rs", SCOPE_PATIENT, "Observation", SCOPE_R | SCOPE_S, 0);
	expect_rule("user/*.cruds", SCOPE_USER, "*", SCOPE_ALL, 0);
	expect_rule("system/Patient.cr", SCOPE_SYSTEM, "Patient", SCOPE_C | SCOPE_R, 0);
	expect_rule("patient/Encounter.d", SCOPE_PATIENT, "Encounter", SCOPE_D, 0);
	expect_rule("user/Observation.cud", SCOPE_USER, "Observation", SCOPE_C | SCOPE_U | SCOPE_D, 0);
	parse_bad("patient/Observation.rc");
	parse_bad("patient/Observation.rr");
	parse_bad("patient/Observation.sr");
	parse_bad("patient/Observation.crudss");
	parse_bad("patient/Observation.cruds.");
	parse_bad("patient/Observation.x");
	parse_bad("patient/Observation.R");
	parse_bad("patient/Observation.rs.rs");
	parse_bad("patient/Observation.r*");

	for (len = 1; len <= 5; len++) {
		size_t n = 1, k;
		for (i = 0; i < len; i++)
			n *= 5;
		for (k = 0; k < n; k++) {
			size_t v = k;
			unsigned want = 0;
			int increasing = 1;
			scope_set set = { 0 };
			int rc;

			for (i = 0; i < len; i++) {
				idx[i] = (unsigned)(v % 5);
				v /= 5;
				if (i > 0 && idx[i] <= idx[i - 1])
					increasing = 0;
				want |= 1u << idx[i];
			}
			memcpy(tok, "patient/Observation.", 20);
			p = tok + 20;
			for (i = 0; i < len; i++)
				*p++ = L[idx[i]];
			*p = '\0';
			rc = scope_parse(tok, &set);
			total++;
			if (increasing) {
				valid++;
				if (rc != 0 || set.nrules != 1 || set.rules[0].perms != want || set.rules[0].v1)
					fail_msg("\"%s\" should parse to %#x (rc %d)", tok, want, rc);
			} else if (rc != ERR_INVALID) {
				fail_msg("\"%s\" should be refused, got %d", tok, rc);
			}
			scope_set_fini(&set);
		}
	}
	assert_int_equal(total, 5 + 25 + 125 + 625 + 3125);
	assert_int_equal(valid, 31); /* every non-empty subset of cruds once */
}

/* Granular scopes (#finer-grained-resource-constraints-using-search-
 * parameters): the text after '?' is kept as sent for the caller to parse
 * as search parameters; it must not be empty. */
static void test_scope_granular(void **state)
{
	scope_set set = { 0 };

	(void)state;
	parse_ok("patient/Observation.rs?" LAB, &set);
	assert_int_equal(set.nrules, 1);
	assert_int_equal(set.rules[0].perms, SCOPE_R | SCOPE_S);
	assert_int_equal(set.rules[0].v1, 0);
	assert_string_equal(set.rules[0].type, "Observation");
	assert_string_equal(set.rules[0].query, LAB);
	scope_set_fini(&set);
	assert_null(set.rules);

	/* several parameters, percent-encoding and a second '?' stay verbatim */
	parse_ok("user/Condition.rs?category=problem-list-item&clinical-status=active%2Crecurrence?x", &set);
	assert_string_equal(set.rules[0].query, "category=problem-list-item&clinical-status=active%2Crecurrence?x");
	scope_set_fini(&set);

	/* the same letters with different constraints are different rules */
	parse_ok("patient/Observation.rs?" LAB " patient/Observation.rs?" VITALS " patient/Observation.rs", &set);
	assert_int_equal(set.nrules, 3);
	assert_string_equal(set.rules[0].query, LAB);
	assert_string_equal(set.rules[1].query, VITALS);
	assert_null(set.rules[2].query);
	scope_set_fini(&set);

	parse_ok("patient/*.rs?_security=R", &set);
	assert_string_equal(set.rules[0].type, "*");
	assert_string_equal(set.rules[0].query, "_security=R");
	scope_set_fini(&set);

	parse_bad("patient/Observation.rs?");
	parse_bad("patient/Observation.?a=b");
	parse_bad("patient/Observation?a=b.rs");
	/* '"' and '\\' are outside the RFC 6749 set, in a constraint too */
	parse_bad("patient/Observation.rs?code=\"x\"");
	parse_bad("patient/Observation.rs?code=a\\,b");
}

/* patient/, user/ and system/ (backend services) are the contexts; a token
 * under one of them must be a well-formed resource scope, anything else is
 * just another scope. */
static void test_scope_context(void **state)
{
	char tok[128];
	scope_set set = { 0 };

	(void)state;
	expect_rule("system/*.rs", SCOPE_SYSTEM, "*", SCOPE_R | SCOPE_S, 0);
	expect_rule("user/Practitioner.r", SCOPE_USER, "Practitioner", SCOPE_R, 0);
	expect_rule("patient/A.s", SCOPE_PATIENT, "A", SCOPE_S, 0);

	parse_ok("Patient/Observation.rs group/*.rs patientx/Observation.rs patient", &set);
	assert_int_equal(set.nrules, 0);
	assert_int_equal(set.nother, 4);
	assert_string_equal(set.other[0], "Patient/Observation.rs");
	assert_string_equal(set.other[3], "patient");
	scope_set_fini(&set);

	/* types: "*" or [A-Z][A-Za-z]{0,62} */
	parse_bad("patient/observation.rs");
	parse_bad("patient/Obs-ervation.rs");
	parse_bad("patient/Observation1.rs");
	parse_bad("patient/**.rs");
	parse_bad("patient/*Observation.rs");
	parse_bad("patient/Observation..rs");
	parse_bad("patient/");
	parse_bad("user/");
	parse_bad("system/.rs");
	parse_bad("patient/Observation");
	/* 63 characters fit rule.type, 64 do not */
	memset(tok, 0, sizeof tok);
	memcpy(tok, "patient/", 8);
	tok[8] = 'A';
	memset(tok + 9, 'a', 62);
	memcpy(tok + 71, ".rs", 4);
	parse_ok(tok, &set);
	assert_int_equal(set.nrules, 1);
	assert_int_equal(strlen(set.rules[0].type), 63);
	assert_memory_equal(set.rules[0].type, tok + 8, 63);
	scope_set_fini(&set);
	memset(tok + 9, 'a', 63);
	memcpy(tok + 72, ".rs", 4);
	parse_bad(tok);
}

/* The launch and identity scopes (#scopes-for-requesting-context-data,
 * #scopes-for-requesting-identity-data, #scopes-for-requesting-a-refresh-
 * token) are flags; launch/<other> is not one of them. */
static void test_scope_flags(void **state)
{
	scope_set set = { 0 };

	(void)state;
	parse_ok("online_access offline_access launch/encounter launch/patient launch profile fhirUser openid", &set);
	assert_int_equal(set.flags, SCOPE_F_OPENID | SCOPE_F_FHIRUSER | SCOPE_F_PROFILE | SCOPE_F_LAUNCH |
					    SCOPE_F_LAUNCH_PATIENT | SCOPE_F_LAUNCH_ENCOUNTER | SCOPE_F_OFFLINE |
					    SCOPE_F_ONLINE);
	assert_int_equal(set.nrules, 0);
	assert_int_equal(set.nother, 0);
	scope_set_fini(&set);

	parse_ok("launch/patient", &set);
	assert_int_equal(set.flags, SCOPE_F_LAUNCH_PATIENT);
	scope_set_fini(&set);

	/* scopes are case-sensitive (RFC 6749 3.3) */
	parse_ok("OpenID fhiruser launch/Patient launch/ launch/location", &set);
	assert_int_equal(set.flags, 0);
	assert_int_equal(set.nother, 5);
	scope_set_fini(&set);

	canon("launch/patient openid fhirUser offline_access", "openid fhirUser launch/patient offline_access");
}

/* Unknown scopes grant nothing but are kept verbatim, in order, once. */
static void test_scope_other(void **state)
{
	scope_set set = { 0 };

	(void)state;
	parse_ok("urn:x:custom openid email x urn:x:custom patient/*.rs email", &set);
	assert_int_equal(set.nother, 3);
	assert_string_equal(set.other[0], "urn:x:custom");
	assert_string_equal(set.other[1], "email");
	assert_string_equal(set.other[2], "x");
	assert_int_equal(set.nrules, 1);
	assert_int_equal(set.flags, SCOPE_F_OPENID);
	scope_set_fini(&set);
	scope_set_fini(&set); /* fini twice is harmless */
	scope_set_fini(NULL);
	canon("!#$%&'()*+,-./:;<=>?@[]^_`{|}~", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~");
}

/* ---- hostile input ------------------------------------------------------- */

static void test_scope_hostile(void **state)
{
	char *big;
	size_t i, pos;
	scope_set set = { 0 };
	char tok[8];
	static const unsigned char refused[] = { 0x01, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1f, '"',
						 '\\', 0x7f, 0x80, 0xc3, 0xa9, 0xfe, 0xff };

	(void)state;
	/* empty, blank and absent are the empty set */
	parse_ok("", &set);
	assert_int_equal(set.nrules + set.nother + set.flags, 0);
	parse_ok("    ", &set);
	assert_int_equal(set.nrules + set.nother + set.flags, 0);
	parse_ok(NULL, &set);
	assert_int_equal(set.nrules + set.nother + set.flags, 0);
	/* repeated, leading and trailing spaces separate */
	parse_ok("  openid   patient/*.rs  ", &set);
	assert_int_equal(set.flags, SCOPE_F_OPENID);
	assert_int_equal(set.nrules, 1);
	scope_set_fini(&set);

	/* SCOPE_MAX_LEN bytes pass, one more does not */
	big = malloc(SCOPE_MAX_LEN + 2);
	assert_non_null(big);
	memset(big, 'a', SCOPE_MAX_LEN + 1);
	big[SCOPE_MAX_LEN] = '\0';
	parse_ok(big, &set);
	assert_int_equal(set.nother, 1);
	scope_set_fini(&set);
	big[SCOPE_MAX_LEN] = 'a';
	big[SCOPE_MAX_LEN + 1] = '\0';
	parse_bad(big);
	/* long but blank is still too long */
	memset(big, ' ', SCOPE_MAX_LEN + 1);
	parse_bad(big);

	/* SCOPE_MAX_ITEMS tokens pass, one more does not - duplicates count,
	 * since the cost is in reading them */
	pos = 0;
	for (i = 0; i < SCOPE_MAX_ITEMS; i++) {
		int n = snprintf(big + pos, 16, "s%zu ", i);
		pos += (size_t)n;
	}
	big[pos] = '\0';
	parse_ok(big, &set);
	assert_int_equal(set.nother, SCOPE_MAX_ITEMS);
	scope_set_fini(&set);
	memcpy(big + pos, "x", 2);
	parse_bad(big);
	pos = 0;
	for (i = 0; i <= SCOPE_MAX_ITEMS; i++) {
		memcpy(big + pos, "openid ", 7);
		pos += 7;
	}
	big[pos] = '\0';
	parse_bad(big);
	free(big);

	/* characters outside %x21 / %x23-5B / %x5D-7E, anywhere */
	for (i = 0; i < sizeof refused; i++) {
		tok[0] = 'a';
		tok[1] = (char)refused[i];
		tok[2] = 'b';
		tok[3] = '\0';
		parse_bad(tok);
		tok[0] = (char)refused[i];
		tok[1] = '\0';
		parse_bad(tok);
	}
	parse_bad("openid\tprofile");
	parse_bad("openid\r\nprofile");
	parse_bad("openid fhirUser \xe2\x80\x8b");

	/* malformed resource scopes refuse the whole string */
	parse_bad("patient/.rs");
	parse_bad("patient/Observation.");
	parse_bad("patient/Observation.rs?");
	parse_bad("patient//Observation.rs");
	parse_bad("openid patient/Observation.rc launch");
	parse_bad("patient/Observation.rs? openid");
}

/* ---- canonical string ---------------------------------------------------- */

static void test_scope_format(void **state)
{
	scope_set set = { 0 };
	char *s = NULL;

	(void)state;
	canon("", "");
	canon("   ", "");
	/* v1 stays v1 when the letters map back exactly */
	canon("patient/Observation.read user/*.write patient/*.*", "patient/Observation.read user/*.write patient/*.*");
	canon("patient/Observation.rs user/*.cud patient/*.cruds", "patient/Observation.rs user/*.cud patient/*.cruds");
	/* flags in fixed order, rules in parse order, then others; one space */
	canon("x  patient/B.rs launch user/A.r   openid y", "openid launch patient/B.rs user/A.r x y");
	/* duplicates collapse into the first spelling */
	canon("patient/*.read patient/*.rs openid openid", "openid patient/*.read");
	canon("patient/*.cruds patient/*.*", "patient/*.cruds");
	canon("patient/Observation.rs?" LAB " patient/Observation.rs?" LAB, "patient/Observation.rs?" LAB);
	canon("system/Observation.rs?a=b?c", "system/Observation.rs?a=b?c");

	/* a v1 rule narrowed to letters v1 cannot name prints in v2 */
	parse_ok("patient/Observation.read", &set);
	set.rules[0].perms = SCOPE_R;
	assert_int_equal(scope_format(&set, &s), 0);
	assert_string_equal(s, "patient/Observation.r");
	free(s);
	scope_set_fini(&set);

	/* an empty set formats as "", not NULL */
	assert_int_equal(scope_format(&set, &s), 0);
	assert_string_equal(s, "");
	free(s);
}

/* ---- set algebra --------------------------------------------------------- */

static void test_scope_intersect(void **state)
{
	(void)state;
	/* the grant is never more than allowed, named by the concrete type */
	intersect("patient/*.cruds", "patient/Observation.rs", "patient/Observation.rs");
	intersect("patient/Observation.cruds", "patient/*.rs", "patient/Observation.rs");
	intersect("patient/*.rs", "patient/*.r", "patient/*.r");
	intersect("patient/*.rs", "patient/Observation.rs patient/Condition.r", "patient/Observation.rs patient/Condition.r");
	intersect("patient/Observation.rs patient/Condition.rs", "patient/*.s", "patient/Observation.s patient/Condition.s");
	/* different contexts never mix */
	intersect("user/*.cruds", "patient/*.cruds", "");
	intersect("system/Observation.rs", "user/Observation.rs", "");
	/* no common letter drops the rule; different types too */
	intersect("patient/Observation.cud", "patient/Observation.rs", "");
	intersect("patient/Observation.rs", "patient/Condition.rs", "");
	/* v1 asked, v1 answered when exact; v2 otherwise */
	intersect("patient/*.read", "patient/Observation.rs", "patient/Observation.read");
	intersect("patient/*.read", "patient/Observation.r", "patient/Observation.r");
	intersect("user/*.*", "user/*.write", "user/*.write");
	intersect("patient/Observation.rs", "patient/*.*", "patient/Observation.rs");
	/* constraints: asked one kept, or the allowed one when none was asked,
	 * or nothing when both differ */
	intersect("patient/Observation.rs?" LAB, "patient/Observation.rs", "patient/Observation.rs?" LAB);
	intersect("patient/Observation.rs", "patient/Observation.rs?" LAB, "patient/Observation.rs?" LAB);
	intersect("patient/*.rs", "patient/Observation.r?" LAB, "patient/Observation.r?" LAB);
	intersect("patient/Observation.rs?" LAB, "patient/Observation.rs?" LAB, "patient/Observation.rs?" LAB);
	intersect("patient/Observation.rs?" LAB, "patient/Observation.rs?" VITALS, "");
	intersect("patient/*.read", "patient/Observation.rs?" LAB, "patient/Observation.rs?" LAB);
	/* duplicates in the result collapse */
	intersect("patient/*.rs patient/Observation.rs", "patient/Observation.rs", "patient/Observation.rs");
	/* flags and other scopes: the common ones */
	intersect("openid fhirUser launch offline_access x y", "openid launch/patient launch y z",
		  "openid launch y");
	intersect("", "openid patient/*.rs", "");
	intersect("openid patient/*.rs", "", "");
}

/* Refresh (RFC 6749 6): the new scope may only narrow the granted one. */
static void test_scope_covers(void **state)
{
	(void)state;
	assert_true(covers("openid patient/*.rs offline_access", "patient/Observation.r"));
	assert_true(covers("openid patient/*.rs offline_access", "openid patient/*.s"));
	assert_true(covers("patient/*.read", "patient/Observation.rs"));
	assert_true(covers("user/*.*", "user/Observation.cruds"));
	assert_true(covers("patient/Observation.r patient/Observation.s", "patient/Observation.rs"));
	assert_true(covers("patient/Observation.rs", "patient/Observation.rs?" LAB));
	assert_true(covers("patient/Observation.rs?" LAB, "patient/Observation.r?" LAB));
	assert_true(covers("x y", "y"));
	assert_true(covers("", ""));
	assert_true(covers("openid", ""));
	/* widening in any direction is refused */
	assert_false(covers("patient/Observation.rs", "patient/Observation.rus"));
	assert_false(covers("patient/Observation.rs", "patient/*.rs"));
	assert_false(covers("patient/Observation.rs", "patient/Condition.r"));
	assert_false(covers("patient/*.rs", "user/Observation.r"));
	assert_false(covers("user/*.rs", "patient/Observation.r"));
	assert_false(covers("patient/Observation.rs?" LAB, "patient/Observation.rs"));
	assert_false(covers("patient/Observation.rs?" LAB, "patient/Observation.rs?" VITALS));
	assert_false(covers("patient/Observation.r?" LAB " patient/Observation.s", "patient/Observation.rs"));
	assert_false(covers("openid patient/*.rs", "openid offline_access patient/*.rs"));
	assert_false(covers("patient/*.rs x", "patient/*.rs y"));
	assert_false(covers("", "patient/Patient.r"));
}

static void test_scope_match(void **state)
{
	scope_set set = { 0 };
	const scope_rule *out[8];

	(void)state;
	parse_ok("patient/Observation.rs?" LAB " patient/*.r user/Observation.cruds system/Patient.s openid x", &set);
	/* type or "*", and the letter asked */
	assert_int_equal(scope_match(&set, "Observation", SCOPE_R, SCOPE_PATIENT, out, 8), 2);
	assert_ptr_equal(out[0], &set.rules[0]);
	assert_ptr_equal(out[1], &set.rules[1]);
	assert_int_equal(scope_match(&set, "Observation", SCOPE_S, SCOPE_PATIENT, out, 8), 1);
	assert_string_equal(out[0]->query, LAB);
	assert_int_equal(scope_match(&set, "Condition", SCOPE_R, SCOPE_PATIENT, out, 8), 1);
	assert_string_equal(out[0]->type, "*");
	assert_int_equal(scope_match(&set, "Condition", SCOPE_S, SCOPE_PATIENT, out, 8), 0);
	assert_int_equal(scope_match(&set, "Condition", SCOPE_C, SCOPE_PATIENT, out, 8), 0);
	/* names are exact */
	assert_int_equal(scope_match(&set, "observation", SCOPE_S, SCOPE_PATIENT, out, 8), 0);
	assert_int_equal(scope_match(&set, "Observations", SCOPE_S, SCOPE_PATIENT, out, 8), 0);
	/* a "*" type asked is matched only by "*" rules; NULL (system level)
	 * likewise */
	assert_int_equal(scope_match(&set, "*", SCOPE_R, SCOPE_PATIENT, out, 8), 1);
	assert_string_equal(out[0]->type, "*");
	assert_int_equal(scope_match(&set, NULL, SCOPE_R, SCOPE_PATIENT | SCOPE_USER, out, 8), 1);
	/* the context mask */
	assert_int_equal(scope_match(&set, "Observation", SCOPE_D, SCOPE_PATIENT, out, 8), 0);
	assert_int_equal(scope_match(&set, "Observation", SCOPE_D, SCOPE_USER, out, 8), 1);
	assert_int_equal(out[0]->ctx, SCOPE_USER);
	assert_int_equal(scope_match(&set, "Observation", SCOPE_R, SCOPE_PATIENT | SCOPE_USER, out, 8), 3);
	assert_int_equal(scope_match(&set, "Observation", SCOPE_R, 0, out, 8), 0);
	assert_int_equal(scope_match(&set, "Patient", SCOPE_S, SCOPE_SYSTEM, out, 8), 1);
	assert_int_equal(scope_match(&set, "Patient", SCOPE_S, SCOPE_PATIENT | SCOPE_USER, out, 8), 0);
	assert_int_equal(scope_match(&set, "Patient", SCOPE_R, SCOPE_SYSTEM, out, 8), 0);
	/* several letters: all of them; none: nothing */
	assert_int_equal(scope_match(&set, "Observation", SCOPE_R | SCOPE_S, SCOPE_PATIENT, out, 8), 1);
	assert_int_equal(scope_match(&set, "Observation", 0, SCOPE_PATIENT | SCOPE_USER, out, 8), 0);
	/* the count goes past max; out gets at most max */
	out[1] = NULL;
	assert_int_equal(scope_match(&set, "Observation", SCOPE_R, SCOPE_PATIENT | SCOPE_USER, out, 1), 3);
	assert_ptr_equal(out[0], &set.rules[0]);
	assert_null(out[1]);
	assert_int_equal(scope_match(&set, "Observation", SCOPE_R, SCOPE_PATIENT | SCOPE_USER, NULL, 0), 3);
	scope_set_fini(&set);
}

/* AuditEvent is reached only by rules that name it (issue 6): a wildcard
 * neither grants it at the token endpoint nor matches it afterwards. */
static void test_scope_auditevent_explicit(void **state)
{
	scope_set set = { 0 };
	const scope_rule *out[4];

	(void)state;
	intersect("system/AuditEvent.rs", "system/*.cruds", "");
	intersect("system/*.rs", "system/AuditEvent.rs", "");
	intersect("system/AuditEvent.rs", "system/AuditEvent.rs", "system/AuditEvent.rs");
	intersect("system/AuditEvent.rs system/Patient.rs", "system/*.rs", "system/Patient.rs");
	assert_false(covers("system/*.rs", "system/AuditEvent.rs"));
	assert_true(covers("system/AuditEvent.rs", "system/AuditEvent.r"));
	parse_ok("system/*.rs patient/*.rs system/AuditEvent.s", &set);
	assert_int_equal(scope_match(&set, "AuditEvent", SCOPE_R, SCOPE_SYSTEM | SCOPE_PATIENT, out, 4), 0);
	assert_int_equal(scope_match(&set, "AuditEvent", SCOPE_S, SCOPE_SYSTEM, out, 4), 1);
	assert_string_equal(out[0]->type, "AuditEvent");
	assert_int_equal(scope_match(&set, "Observation", SCOPE_R, SCOPE_SYSTEM, out, 4), 1);
	scope_set_fini(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scope_auditevent_explicit),
		cmocka_unit_test(test_scope_v1),	 cmocka_unit_test(test_scope_v2_letters),
		cmocka_unit_test(test_scope_granular),	 cmocka_unit_test(test_scope_context),
		cmocka_unit_test(test_scope_flags),	 cmocka_unit_test(test_scope_other),
		cmocka_unit_test(test_scope_hostile),	 cmocka_unit_test(test_scope_format),
		cmocka_unit_test(test_scope_intersect), cmocka_unit_test(test_scope_covers),
		cmocka_unit_test(test_scope_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
