/*
 * test_sql_search.c - the shared search SQL compiler (store/sql_search.h)
 * in both dialects, for queries that use every parameter type, modifier
 * and prefix, chains, _has, _sort with a keyset cursor, compartments and
 * confinement. What issue 7 and the STYLE's SQL rule require of it:
 *   - every value is bound: no value of the request appears in the text;
 *   - PostgreSQL placeholders are $1..$n in order of appearance, each with
 *     the cast of its bind's kind (the statement is prepared without a
 *     type list), and the text has none of SQLite's dialect ("?",
 *     CROSS JOIN, instr, bare 1 / 0 as conditions, IS NULL in ORDER BY);
 *   - both dialects bind the same values in the same order (the same
 *     conditions), except the prefix upper bounds, which differ by design;
 *   - the "starts with" upper bound for PostgreSQL is the next string in
 *     code point order (and absent when none exists), for SQLite the
 *     prefix followed by byte 0xFF;
 *   - nesting past the depth limit is ERR_INVALID, not a stack overflow.
 */
#include "core/arena.h"
#include "core/err.h"
#include "search/query.h"
#include "store/sql_search.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static arena_t A;

static int setup(void **state)
{
	(void)state;
	arena_init(&A, 64u << 20);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_fini(&A);
	return 0;
}

static search_query parse(const char *rt, const char *qs)
{
	search_limits l = { .max_clauses = 64,
			    .max_values = 1000,
			    .max_chain_depth = 4,
			    .max_includes = 16,
			    .count_default = 20,
			    .count_max = 100,
			    .base = "https://fhir.example.org/r4" };
	search_query q;
	char why[256] = "";
	char *type = rt ? arena_strdup(&A, rt) : NULL;
	int rc = search_query_parse(&A, type, qs, strlen(qs), &l, &q, why, sizeof why);

	if (rc)
		fail_msg("parse %s?%s: %d (%s)", rt ? rt : "", qs, rc, why);
	return q;
}

/* Checks x's text as PostgreSQL: $k::<cast of bind k> for k = 1..nb in
 * order, nothing else after a '$', and no SQLite dialect. */
static void check_pg_text(const struct sqs *x)
{
	const char *s = x->sql.data, *p;
	size_t k = 0;

	assert_non_null(s);
	for (p = strchr(s, '$'); p; p = strchr(p, '$')) {
		char *end;
		unsigned long n = strtoul(p + 1, &end, 10);
		const char *want;
		if (end == p + 1)
			fail_msg("'$' without a number in: %s", s);
		k++;
		if (n != k)
			fail_msg("placeholder $%lu where $%zu was due in: %s", n, k, s);
		if (k > x->nb)
			fail_msg("placeholder $%zu past the %zu binds", k, x->nb);
		want = x->b[k - 1].kind == SQS_B_INT ? "::bigint" : x->b[k - 1].kind == SQS_B_REAL ? "::float8" : "::text";
		if (strncmp(end, want, strlen(want)) != 0)
			fail_msg("$%zu is not cast %s in: %s", k, want, s);
		p = end;
	}
	assert_int_equal(k, x->nb);
	assert_null(strchr(s, '?'));
	assert_null(strstr(s, "CROSS JOIN"));
	assert_null(strstr(s, "instr("));
	assert_null(strstr(s, "IS NULL,"));
	assert_null(strstr(s, "IS NULL DESC"));
	assert_null(strstr(s, "WHERE 0"));
	assert_null(strstr(s, "AND 1)"));
	assert_null(strstr(s, "(1)"));
	assert_null(strstr(s, "(0)"));
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

/* The value texts a query must bind, never spell out. */
static void check_values_bound(const struct sqs *x, const char *const *values)
{
	for (size_t i = 0; values && values[i]; i++) {
		int bound = 0;
		if (strstr(x->sql.data, values[i]))
			fail_msg("value \"%s\" inside the SQL: %s", values[i], x->sql.data);
		for (size_t j = 0; j < x->nb; j++)
			bound |= x->b[j].kind == SQS_B_TEXT && strstr(x->b[j].s, values[i]) != NULL;
		if (!bound)
			fail_msg("value \"%s\" is not among the binds of: %s", values[i], x->sql.data);
	}
}

/* Same binds in both dialects, the prefix upper bounds aside (those are
 * text binds that follow "< " in the text; compared separately). */
static void check_same_binds(const struct sqs *lite, const struct sqs *pg)
{
	size_t i = 0, j = 0;
	const char *ls = lite->sql.data, *ps = pg->sql.data;

	/* walk both texts placeholder by placeholder */
	while (i < lite->nb && j < pg->nb) {
		const struct sqs_bind *a = &lite->b[i], *b = &pg->b[j];
		const char *lq = strchr(ls, '?'), *pq = strchr(ps, '$');
		int lupper, pupper;
		assert_non_null(lq);
		assert_non_null(pq);
		lupper = a->kind == SQS_B_TEXT && a->len && (unsigned char)a->s[a->len - 1] == 0xFF;
		pupper = b->kind == SQS_B_TEXT && pq - ps >= 2 && pq[-2] == '<' && lupper;
		if (lupper && !pupper) {
			/* PostgreSQL has no upper bound when none exists: the
			 * prefix is then only U+10FFFF (or empty) */
			i++;
			ls = lq + 1;
			continue;
		}
		assert_int_equal(a->kind, b->kind);
		if (a->kind == SQS_B_INT)
			assert_true(a->i == b->i);
		else if (a->kind == SQS_B_REAL)
			assert_true(a->d == b->d);
		else if (!lupper)
			assert_string_equal(a->s, b->s);
		i++, j++;
		ls = lq + 1;
		ps = pq + 1;
	}
	assert_int_equal(i, lite->nb);
	assert_int_equal(j, pg->nb);
	assert_int_equal(count_char(lite->sql.data, '?'), lite->nb);
}

enum what { W_PAGE, W_COUNT };

static void compile_both(const store_search_q *sq, enum what w, const char *const *values)
{
	struct sqs lite, pg;

	sqs_init(&lite, SQS_SQLITE, sq->q, sq->confine);
	sqs_init(&pg, SQS_PG, sq->q, sq->confine);
	if (w == W_PAGE) {
		sqs_page(&lite, sq, (long)sq->q->nclauses);
		sqs_page(&pg, sq, (long)sq->q->nclauses);
	} else {
		sqs_count(&lite, sq, (long)sq->q->nclauses);
		sqs_count(&pg, sq, (long)sq->q->nclauses);
	}
	assert_int_equal(sqs_end(&lite), 0);
	assert_int_equal(sqs_end(&pg), 0);
	check_pg_text(&pg);
	check_values_bound(&pg, values);
	check_values_bound(&lite, values);
	check_same_binds(&lite, &pg);
	sqs_fini(&lite);
	sqs_fini(&pg);
}

struct qcase {
	const char *rt;
	const char *qs;
	const char *values[6];
};

static const struct qcase cases[] = {
	{ "Patient", "name=qqsmith&family:exact=qqExact&given:contains=qqcont", { "qqsmith", "qqExact", "qqcont" } },
	{ "Patient", "identifier=http://qqsys|qqcode,qqother&gender:not=qqnot", { "qqsys", "qqcode", "qqother" } },
	{ "Patient", "birthdate=ge1970-01-01&birthdate=lt2000&_lastUpdated=gt2001", { NULL } },
	{ "Patient", "birthdate=eq1970,ne1980,sa1990,eb1995,le2000,ap2010", { NULL } },
	{ "Patient", "general-practitioner=Practitioner/qqdoc&organization:missing=true", { "qqdoc" } },
	{ "Patient", "_id=qqid1,qqid2&_sort=-birthdate,name,_id", { "qqid1", "qqid2" } },
	{ "Observation", "value-quantity=gt5.4|http://unitsofmeasure.org|qqunit&code:text=qqtext", { "qqunit", "qqtext" } },
	{ "Observation", "code-value-quantity=http://loinc.org|qqloinc$lt9&_sort=value-quantity,-date",
	  { "qqloinc" } },
	{ "Observation", "patient.name=qqchain&patient:Patient.birthdate=ge2000", { "qqchain" } },
	{ "Patient", "_has:Observation:patient:code=qqhas&name:missing=false", { "qqhas" } },
	{ "Observation", "subject:Patient.general-practitioner.name=qqdeep", { "qqdeep" } },
	{ "ValueSet", "url:below=http://qq.example/a&url:above=http://qq.example/b/c", { "qq.example" } },
	{ "ValueSet", "url=http://qq.example/x&_sort=url", { "qq.example" } },
	{ "Patient", "identifier:of-type=http://qqsys|qqtype|qqval", { "qqtype", "qqval" } },
	{ "RiskAssessment", "probability=gt0.5,1e3,ap7&_sort=-probability", { NULL } },
	{ NULL, "_id=qqsys1&_type=Patient,Observation&_sort=-_lastUpdated", { "qqsys1" } },
	{ NULL, "_tag=http://qqtag|qqcode", { "qqtag", "qqcode" } },
};

static void test_every_clause_bound(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		search_query q = parse(cases[i].rt, cases[i].qs);
		store_search_q sq = { .q = &q, .count = 20 };
		compile_both(&sq, W_PAGE, cases[i].values);
		compile_both(&sq, W_COUNT, cases[i].values);
		/* the same in a patient's compartment, confined to it */
		if (cases[i].rt) {
			sq.comp_id = "qqpatient";
			sq.confine = "qqpatient";
			compile_both(&sq, W_PAGE, cases[i].values);
		}
	}
}

/* A keyset page with a key of each kind (integer, real, text, NULL), both
 * directions: the cursor's values are bound too. */
static void test_keyset_bound(void **state)
{
	search_query q = parse("Observation", "status=final&_sort=-date,value-quantity,code,subject");
	store_pos pos = { .nk = 4 };
	store_search_q sq = { .q = &q, .count = 10, .after = &pos, .want_total = 1 };
	static const char *const vals[] = { "qqkey", "qqafter", NULL };

	(void)state;
	assert_int_equal(q.nsort, 4);
	pos.k[0].kind = 1, pos.k[0].i = 1234567;
	pos.k[1].kind = 2, pos.k[1].d = 2.5;
	pos.k[2].kind = 3, pos.k[2].s = "qqkey";
	pos.k[3].kind = 0;
	snprintf(pos.type, sizeof pos.type, "Observation");
	snprintf(pos.id, sizeof pos.id, "qqafter");
	compile_both(&sq, W_PAGE, vals);
	sq.backward = 1;
	compile_both(&sq, W_PAGE, vals);
	/* no sort: the (type, id) row comparison, system level too */
	q.nsort = 0;
	compile_both(&sq, W_PAGE, (const char *const[]){ "qqafter", NULL });
	sq.everything = 1;
	sq.comp_id = "qqpat";
	compile_both(&sq, W_PAGE, (const char *const[]){ "qqafter", "qqpat", NULL });
}

/* The text of one string clause's prefix match and its binds. */
static void prefix_binds(enum sqs_dialect d, const char *value, struct sqs *x)
{
	char qs[64];
	search_query *q = arena_alloc(&A, sizeof *q);
	store_search_q sq = { .q = q, .count = 5 };

	assert_non_null(q);
	snprintf(qs, sizeof qs, "name=%s", value);
	*q = parse("Patient", qs);
	sqs_init(x, d, q, NULL);
	sqs_count(x, &sq, (long)q->nclauses);
	assert_int_equal(sqs_end(x), 0);
}

/* The value bound as upper bound after "norm < ", or NULL when absent. */
static const char *upper_of(const struct sqs *x)
{
	const char *s = x->sql.data;
	size_t k = 0;

	for (const char *p = s; *p; p++) {
		if (*p != '?' && *p != '$')
			continue;
		if (p - s >= 7 && !strncmp(p - 7, "norm < ", 7))
			return x->b[k].s;
		k++;
	}
	return NULL;
}

static void test_prefix_upper_bound(void **state)
{
	struct sqs x;
	(void)state;

	/* SQLite: the prefix, then byte 0xFF */
	prefix_binds(SQS_SQLITE, "abc", &x);
	assert_string_equal(upper_of(&x), "abc\xff");
	sqs_fini(&x);
	/* PostgreSQL: the last code point + 1 */
	prefix_binds(SQS_PG, "abc", &x);
	assert_string_equal(upper_of(&x), "abd");
	sqs_fini(&x);
	/* U+007F -> U+0080 takes a byte more (escaped in the query: %7F) */
	prefix_binds(SQS_PG, "a%7F", &x);
	assert_string_equal(upper_of(&x), "a\xc2\x80");
	sqs_fini(&x);
	/* U+0436 -> U+0437, two bytes each */
	prefix_binds(SQS_PG, "%D0%B6", &x);
	assert_string_equal(upper_of(&x), "\xd0\xb7");
	sqs_fini(&x);
	/* U+D7FF -> U+E000: surrogates are not text */
	prefix_binds(SQS_PG, "x%ED%9F%BF", &x);
	assert_string_equal(upper_of(&x), "x\xee\x80\x80");
	sqs_fini(&x);
	/* U+FFFF -> U+10000 (four bytes) */
	prefix_binds(SQS_PG, "x%EF%BF%BF", &x);
	assert_string_equal(upper_of(&x), "x\xf0\x90\x80\x80");
	sqs_fini(&x);
	/* trailing U+10FFFF has no successor: carry into the code point before */
	prefix_binds(SQS_PG, "ab%F4%8F%BF%BF", &x);
	assert_string_equal(upper_of(&x), "ac");
	sqs_fini(&x);
	/* only U+10FFFF: no upper bound at all ("t >= s" is "starts with s") */
	prefix_binds(SQS_PG, "%F4%8F%BF%BF", &x);
	assert_null(upper_of(&x));
	assert_null(strstr(x.sql.data, "norm <"));
	check_pg_text(&x);
	sqs_fini(&x);
}

/* Chains nested through _has deeper than the compiler's limit fail with
 * ERR_INVALID (the REST layer's limits stop this earlier; the compiler
 * must not rely on them). */
static void test_too_deep(void **state)
{
	search_clause inner[20];
	search_query q;
	store_search_q sq = { .q = &q, .count = 5 };
	const search_param *ref = search_param_find("Patient", "link");
	struct sqs x;

	(void)state;
	assert_non_null(ref);
	memset(&q, 0, sizeof q);
	memset(inner, 0, sizeof inner);
	for (int i = 0; i < 20; i++) {
		inner[i].param = ref;
		inner[i].mod_type = "Patient";
		inner[i].chain = i + 1 < 20 ? &inner[i + 1] : NULL;
	}
	inner[19].param = search_param_find("Patient", "name");
	inner[19].mod_type = NULL;
	inner[19].nv = 1;
	inner[19].v = arena_alloc(&A, sizeof *inner[19].v);
	assert_non_null(inner[19].v);
	memset(inner[19].v, 0, sizeof *inner[19].v);
	inner[19].v[0].str = "x";
	q.rtype = "Patient";
	q.clauses = inner;
	q.nclauses = 1;
	sqs_init(&x, SQS_PG, &q, NULL);
	sqs_page(&x, &sq, 1);
	assert_int_equal(sqs_end(&x), ERR_INVALID);
	sqs_fini(&x);
}

/* Which searches take SQLite's (patient, token) key (sqs_pt_token) and
 * which compartment searches may drop the compartment (sqs_comp_implied):
 * one `patient` value that is a Patient plus one plain token value with a
 * code; the compartment only when patient=X names its own patient and the
 * type's `patient` is (the Patient part of) a compartment parameter. */
static long pt_token(const char *rt, const char *qs)
{
	search_query q = parse(rt, qs);
	store_search_q sq = { .q = &q, .count = 20 };
	int rank;
	long drv = sqs_best_driver(&sq, &rank);
	return sqs_pt_token(&sq, drv);
}

static int comp_implied(const char *rt, const char *qs, const char *comp, int everything)
{
	search_query q = parse(rt, qs);
	store_search_q sq = { .q = &q, .count = 20, .comp_id = comp, .everything = everything };
	return sqs_comp_implied(&sq);
}

static void test_patient_token_key(void **state)
{
	static const char *const values[] = { "qqpat", "qqcode", "qqsys", NULL };
	search_query q;
	store_search_q sq = { .q = &q, .count = 20 };
	struct sqs x;
	int rank;
	long drv, tok;

	(void)state;
	assert_int_equal(pt_token("Observation", "patient=qqpat&category=vital-signs"), 1);
	assert_int_equal(pt_token("Observation", "category=vital-signs&patient=Patient/qqpat"), 0);
	assert_int_equal(pt_token("Observation", "patient=qqpat&status=final&category=x"), 1);
	assert_int_equal(pt_token("Condition", "patient=qqpat&category=problem-list-item"), 1);
	/* OR values, a modifier, no code, no token, another reference parameter */
	assert_int_equal(pt_token("Observation", "patient=qqpat&category=a,b"), -1);
	assert_int_equal(pt_token("Observation", "patient=qqpat&category:not=a"), -1);
	assert_int_equal(pt_token("Observation", "patient=qqpat&category=sys|"), -1);
	assert_int_equal(pt_token("Observation", "patient=qqpat&date=ge2020"), -1);
	assert_int_equal(pt_token("Observation", "subject=Patient/qqpat&category=a"), -1);
	assert_int_equal(pt_token("Observation", "patient=qqpat&_id=a"), -1);

	assert_int_equal(comp_implied("Observation", "patient=qqpat&category=a", "qqpat", 0), 1);
	assert_int_equal(comp_implied("Condition", "patient=Patient/qqpat", "qqpat", 0), 1);
	assert_int_equal(comp_implied("Observation", "patient=other&category=a", "qqpat", 0), 0);
	assert_int_equal(comp_implied("Observation", "subject=Patient/qqpat", "qqpat", 0), 0);
	assert_int_equal(comp_implied("Observation", "patient=qqpat", NULL, 0), 0);
	assert_int_equal(comp_implied("Observation", "patient=qqpat", "qqpat", 1), 0);
	assert_int_equal(comp_implied("Observation", "patient:missing=false", "qqpat", 0), 0);

	/* the statement binds every value, both directions */
	q = parse("Observation", "patient=qqpat&category=qqsys|qqcode&status=final");
	drv = sqs_best_driver(&sq, &rank);
	tok = sqs_pt_token(&sq, drv);
	assert_true(tok >= 0);
	for (int back = 0; back < 2; back++) {
		store_pos pos = { .nk = 0 };
		snprintf(pos.type, sizeof pos.type, "Observation");
		snprintf(pos.id, sizeof pos.id, "qqafter");
		sq.after = back ? &pos : NULL;
		sq.backward = back;
		sqs_init(&x, SQS_SQLITE, &q, NULL);
		sqs_stream_pt(&x, &sq, drv, tok);
		assert_int_equal(sqs_end(&x), 0);
		check_values_bound(&x, values);
		assert_non_null(strstr(x.sql.data, "FROM ix_pt t WHERE t.pat = ?"));
		assert_null(strstr(x.sql.data, "NOT EXISTS (SELECT 1 FROM ix_pt u")); /* a system: no dedup */
		sqs_fini(&x);
	}
	q = parse("Observation", "patient=qqpat&category=qqcode");
	drv = sqs_best_driver(&sq, &rank);
	sq.after = NULL;
	sq.backward = 0;
	sqs_init(&x, SQS_SQLITE, &q, NULL);
	sqs_stream_pt(&x, &sq, drv, sqs_pt_token(&sq, drv));
	assert_int_equal(sqs_end(&x), 0);
	assert_non_null(strstr(x.sql.data, "NOT EXISTS (SELECT 1 FROM ix_pt u")); /* any system: dedup */
	sqs_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_clause_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyset_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_upper_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_deep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patient_token_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
