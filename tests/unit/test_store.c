/*
 * test_store.c - the store interface on the SQLite backend: versions,
 * preconditions, deletes, atomic and batch commits, history paging with a
 * snapshot, concurrent writers, and durability across close/reopen.
 */
#include "core/err.h"
#include "search/params.h"
#include "search/query.h"
#include "store/store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* schema versions: SQLite's user_version 5 adds ix_pt (sqlite.c), which
 * PostgreSQL does not have */
#ifdef FHIRD_TEST_PG_BACKEND
#define SCHEMA_NOW 4
#else
#define SCHEMA_NOW 5
#endif

#ifdef FHIRD_TEST_PG_BACKEND
#include "pgtest.h" /* test_store_pg.c: the same tests on PostgreSQL */
#endif

struct fixture {
	char dir[64];
	char path[256];
	char schema[64];
	store_t *s;
};

/* The database of a test: a SQLite file in a fresh directory, or (the PG
 * build) a fresh schema of the cluster. */
static void fixture_db(struct fixture *f, const char *tmpl)
{
#ifdef FHIRD_TEST_PG_BACKEND
	(void)tmpl;
	assert_int_equal(pgtest_new(f->schema, sizeof f->schema, f->path, sizeof f->path), 0);
#else
	snprintf(f->dir, sizeof f->dir, "%s", tmpl);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
#endif
}

static int fixture_db_remove(struct fixture *f)
{
#ifdef FHIRD_TEST_PG_BACKEND
	pgtest_drop(f->schema);
	return 0;
#else
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	return system(cmd) != 0 ? -1 : 0;
#endif
}

static int render_fixed(void *ctx, const char *id, int64_t vid, const char *lu, char **out, size_t *len)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "{\"v\":%lld,\"lu\":\"%s\",\"tag\":\"%s\"}", (long long)vid, lu,
			 ctx ? (const char *)ctx : "");
	*out = strdup(buf);
	*len = (size_t)n;
	return *out ? 0 : ERR_NOMEM;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	store_options o = { 0 };
	fixture_db(f, "/tmp/fhird-store-XXXXXX");
	o.path = f->path;
	o.readers = 4;
	o.write_batch_max = 64;
	assert_int_equal(store_open(&o, &f->s), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc;
	store_close(f->s);
	rc = fixture_db_remove(f);
	free(f);
	return rc;
}

static store_op_t mkop(enum store_op_kind k, const char *type, const char *id, const char *tag)
{
	store_op_t op;
	memset(&op, 0, sizeof op);
	op.kind = k;
	op.type = type;
	op.id = id;
	op.render = render_fixed;
	op.render_ctx = (void *)tag;
	op.method = k == STORE_OP_CREATE ? "POST" : k == STORE_OP_DELETE ? "DELETE" : "PUT";
	return op;
}

static int put(store_t *s, const char *id, const char *tag, int64_t if_match, store_op_t *res)
{
	store_op_t op = mkop(STORE_OP_UPDATE, "Patient", id, tag);
	int rc;
	op.if_match = if_match;
	rc = store_commit(s, &op, 1, 1);
	if (res)
		*res = op;
	else
		store_version_clear(&op.result);
	return rc;
}

static void test_create_read_versions(void **state)
{
	struct fixture *f = *state;
	store_op_t op = mkop(STORE_OP_CREATE, "Patient", "a", "one");
	store_version_t v;

	assert_int_equal(store_commit(f->s, &op, 1, 1), 0);
	assert_int_equal(op.result.vid, 1);
	assert_int_equal(op.created, 1);
	assert_non_null(strstr(op.result.body, "\"tag\":\"one\""));
	store_version_clear(&op.result);

	/* a second create of the same id is a conflict */
	op = mkop(STORE_OP_CREATE, "Patient", "a", "dup");
	assert_int_equal(store_commit(f->s, &op, 1, 1), ERR_CONFLICT);

	assert_int_equal(put(f->s, "a", "two", 0, &op), 0);
	assert_int_equal(op.result.vid, 2);
	assert_int_equal(op.created, 0);
	store_version_clear(&op.result);

	assert_int_equal(store_read(f->s, "Patient", "a", &v), 0);
	assert_int_equal(v.vid, 2);
	assert_non_null(strstr(v.body, "\"tag\":\"two\""));
	/* the body holds exactly the lastUpdated the store recorded */
	assert_non_null(strstr(v.body, "\"lu\":\""));
	store_version_clear(&v);

	assert_int_equal(store_vread(f->s, "Patient", "a", 1, &v), 0);
	assert_non_null(strstr(v.body, "\"tag\":\"one\""));
	store_version_clear(&v);
	assert_int_equal(store_vread(f->s, "Patient", "a", 3, &v), ERR_NOTFOUND);
	assert_int_equal(store_read(f->s, "Patient", "nope", &v), ERR_NOTFOUND);
	/* type is part of the identity */
	assert_int_equal(store_read(f->s, "Observation", "a", &v), ERR_NOTFOUND);
}

static void test_if_match(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(put(f->s, "m", "1", 0, NULL), 0);
	assert_int_equal(put(f->s, "m", "2", 5, NULL), ERR_PRECONDITION);
	assert_int_equal(put(f->s, "m", "2", 1, NULL), 0);
	assert_int_equal(put(f->s, "m", "3", 1, NULL), ERR_PRECONDITION);
	/* If-Match on a resource that does not exist fails too */
	assert_int_equal(put(f->s, "absent", "x", 1, NULL), ERR_PRECONDITION);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	store_op_t op;
	store_version_t v;

	assert_int_equal(put(f->s, "d", "1", 0, NULL), 0);
	op = mkop(STORE_OP_DELETE, "Patient", "d", NULL);
	assert_int_equal(store_commit(f->s, &op, 1, 1), 0);
	assert_int_equal(op.noop, 0);
	assert_int_equal(op.result.vid, 2);
	assert_int_equal(store_read(f->s, "Patient", "d", &v), ERR_GONE);
	assert_int_equal(v.vid, 2);
	assert_null(v.body);
	assert_int_equal(store_vread(f->s, "Patient", "d", 2, &v), ERR_GONE);
	assert_int_equal(store_vread(f->s, "Patient", "d", 1, &v), 0);
	store_version_clear(&v);

	/* deleting again writes nothing */
	op = mkop(STORE_OP_DELETE, "Patient", "d", NULL);
	assert_int_equal(store_commit(f->s, &op, 1, 1), 0);
	assert_int_equal(op.noop, 1);
	op = mkop(STORE_OP_DELETE, "Patient", "never", NULL);
	assert_int_equal(store_commit(f->s, &op, 1, 1), 0);
	assert_int_equal(op.noop, 1);

	/* update after delete: a new version, reported as created */
	assert_int_equal(put(f->s, "d", "back", 0, &op), 0);
	assert_int_equal(op.result.vid, 3);
	assert_int_equal(op.created, 1);
	store_version_clear(&op.result);
}

static void test_atomic_and_batch(void **state)
{
	struct fixture *f = *state;
	store_op_t ops[3];
	store_version_t v;

	assert_int_equal(put(f->s, "x", "1", 0, NULL), 0);
	/* atomic: the failing If-Match undoes the first op */
	ops[0] = mkop(STORE_OP_UPDATE, "Patient", "y", "new");
	ops[1] = mkop(STORE_OP_UPDATE, "Patient", "x", "2");
	ops[1].if_match = 7;
	assert_int_equal(store_commit(f->s, ops, 2, 1), ERR_PRECONDITION);
	assert_int_equal(store_read(f->s, "Patient", "y", &v), ERR_NOTFOUND);
	assert_null(ops[0].result.body);

	/* batch: each op on its own */
	ops[0] = mkop(STORE_OP_UPDATE, "Patient", "y", "new");
	ops[1] = mkop(STORE_OP_UPDATE, "Patient", "x", "2");
	ops[1].if_match = 7;
	ops[2] = mkop(STORE_OP_UPDATE, "Patient", "z", "new");
	assert_int_equal(store_commit(f->s, ops, 3, 0), 0);
	assert_int_equal(ops[0].status, 0);
	assert_int_equal(ops[1].status, ERR_PRECONDITION);
	assert_int_equal(ops[2].status, 0);
	for (int i = 0; i < 3; i++)
		store_version_clear(&ops[i].result);
	assert_int_equal(store_read(f->s, "Patient", "y", &v), 0);
	store_version_clear(&v);
	assert_int_equal(store_read(f->s, "Patient", "z", &v), 0);
	store_version_clear(&v);
}

static void test_history_paging_snapshot(void **state)
{
	struct fixture *f = *state;
	store_history_q q;
	store_history_page p1, p2, p3;
	char id[16];

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "h%d", i);
		assert_int_equal(put(f->s, id, "v", 0, NULL), 0);
	}
	memset(&q, 0, sizeof q);
	q.since_us = q.at_lo_us = q.at_hi_us = INT64_MIN;
	q.type = "Patient";
	q.count = 2;
	assert_int_equal(store_history(f->s, &q, &p1), 0);
	assert_int_equal(p1.n, 2);
	assert_true(p1.has_older);
	assert_false(p1.has_newer);
	assert_string_equal(p1.items[0].id, "h4"); /* newest first */
	assert_string_equal(p1.items[1].id, "h3");

	/* a write between pages must not show up or shift the pages */
	assert_int_equal(put(f->s, "late", "v", 0, NULL), 0);
	q.snapshot_seq = p1.snapshot_seq;
	q.before_seq = p1.items[1].seq;
	assert_int_equal(store_history(f->s, &q, &p2), 0);
	assert_int_equal(p2.n, 2);
	assert_string_equal(p2.items[0].id, "h2");
	assert_string_equal(p2.items[1].id, "h1");
	assert_true(p2.has_newer);

	/* previous page from page 2 is page 1 again */
	q.before_seq = 0;
	q.after_seq = p2.items[0].seq;
	assert_int_equal(store_history(f->s, &q, &p3), 0);
	assert_int_equal(p3.n, 2);
	assert_string_equal(p3.items[0].id, "h4");
	assert_string_equal(p3.items[1].id, "h3");
	assert_false(p3.has_newer);
	store_history_page_clear(&p1);
	store_history_page_clear(&p2);
	store_history_page_clear(&p3);

	/* instance history */
	assert_int_equal(put(f->s, "h0", "v2", 0, NULL), 0);
	memset(&q, 0, sizeof q);
	q.since_us = q.at_lo_us = q.at_hi_us = INT64_MIN;
	q.type = "Patient";
	q.id = "h0";
	q.count = 10;
	assert_int_equal(store_history(f->s, &q, &p1), 0);
	assert_int_equal(p1.n, 2);
	assert_int_equal(p1.items[0].vid, 2);
	assert_int_equal(p1.items[1].vid, 1);
	assert_false(p1.has_older);

	/* _since: only versions at or after the given time */
	q.since_us = p1.items[0].updated_us;
	store_history_page_clear(&p1);
	assert_int_equal(store_history(f->s, &q, &p1), 0);
	assert_int_equal(p1.n, 1);
	assert_int_equal(p1.items[0].vid, 2);
	store_history_page_clear(&p1);
}

static void test_history_at(void **state)
{
	struct fixture *f = *state;
	store_op_t op;
	store_history_q q;
	store_history_page p;
	int64_t t1;

	assert_int_equal(put(f->s, "at", "1", 0, &op), 0);
	t1 = op.result.updated_us;
	store_version_clear(&op.result);
	assert_int_equal(put(f->s, "at", "2", 0, &op), 0);
	store_version_clear(&op.result);

	memset(&q, 0, sizeof q);
	q.since_us = INT64_MIN;
	q.type = "Patient";
	q.id = "at";
	q.count = 10;
	/* at the instant version 1 was written, version 1 was current */
	q.at_lo_us = q.at_hi_us = t1;
	assert_int_equal(store_history(f->s, &q, &p), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.items[0].vid, 1);
	store_history_page_clear(&p);
}

/* One identifier of a Patient as the search index row extraction makes
 * for it (extract.h: TOKEN, system "" when none). */
static search_row ident_row(const char *sys, const char *val)
{
	search_row r;
	memset(&r, 0, sizeof r);
	r.p = search_param_id(search_param_find("Patient", "identifier"));
	r.kind = SEARCH_ROW_TOKEN;
	r.sys = (char *)(sys ? sys : "");
	r.code = (char *)val;
	return r;
}

static int put_ident(store_t *s, const char *id, const char *sys, const char *val)
{
	search_row row = ident_row(sys, val);
	store_op_t op = mkop(STORE_OP_UPDATE, "Patient", id, "i");
	int rc;
	op.rows = &row;
	op.nrows = val ? 1 : 0;
	rc = store_commit(s, &op, 1, 1);
	store_version_clear(&op.result);
	return rc;
}

/* Conditional criteria are a search on Patient (the strict parse the REST
 * layer uses), kept in the arena a. */
static store_cond crit(arena_t *a, const char *qs)
{
	search_limits lim = { .max_clauses = 8, .max_values = 8, .max_chain_depth = 2, .count_default = 2,
			      .count_max = 2, .strict = 1 };
	search_query *q = arena_calloc(a, 1, sizeof *q);
	store_cond c = { 0 };
	char why[128];

	assert_non_null(q);
	assert_int_equal(search_query_parse(a, "Patient", qs, strlen(qs), &lim, q, why, sizeof why), 0);
	c.q = q;
	return c;
}

/* http.html#ccreate/#cond-update/#cdelete outcomes, decided in the writer */
/* Until the PostgreSQL search (pg_search.c) is in, conditional matching
 * answers ERR_NOTIMPL there: say so as a skip rather than a pass. */
static void skip_without_search(store_t *s)
{
#ifdef FHIRD_TEST_PG_BACKEND
	store_search_page p;
	search_query q;
	store_search_q sq;
	char why[128];
	memset(&q, 0, sizeof q);
	memset(&sq, 0, sizeof sq);
	q.rtype = "Patient";
	sq.q = &q;
	sq.count = 1;
	if (store_search(s, &sq, &p, why, sizeof why) == ERR_NOTIMPL)
		skip();
	store_search_page_clear(&p);
#else
	(void)s;
#endif
}

static void test_conditional(void **state)
{
	struct fixture *f = *state;
	arena_t a;
	store_cond c, any, nosys, sysonly, c5, byid;
	search_row id1 = ident_row("http://sys", "1");
	store_op_t op;
	char ids[4][65];
	size_t n;

	skip_without_search(f->s);
	arena_init(&a, 1 << 20);
	c = crit(&a, "identifier=http://sys|1");
	/* create: no match -> created */
	op = mkop(STORE_OP_CREATE, "Patient", "c1", "x");
	op.rows = &id1;
	op.nrows = 1;
	op.cond = &c;
	assert_int_equal(store_commit(f->s, &op, 1, 1), 0);
	assert_int_equal(op.created, 1);
	assert_int_equal(op.matches, 0);
	store_version_clear(&op.result);
	/* create again: one match -> nothing written, result is the existing one */
	op = mkop(STORE_OP_CREATE, "Patient", "c2", "x");
	op.cond = &c;
	assert_int_equal(store_commit(f->s, &op, 1, 1), 0);
	assert_int_equal(op.noop, 1);
	assert_string_equal(op.result.id, "c1");
	assert_non_null(op.result.body);
	store_version_clear(&op.result);
	assert_int_equal(store_match(f->s, "Patient", &c, ids, 4, &n), 0);
	assert_int_equal(n, 1);
	/* any system / no system / system only (search.html#token) */
	any = crit(&a, "identifier=1");
	nosys = crit(&a, "identifier=%7C1");
	sysonly = crit(&a, "identifier=http://sys%7C");
	assert_int_equal(store_match(f->s, "Patient", &any, ids, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_match(f->s, "Patient", &nosys, ids, 4, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_match(f->s, "Patient", &sysonly, ids, 4, &n), 0);
	assert_int_equal(n, 1);

	/* update: one match -> updates that resource, whatever id was proposed */
	op = mkop(STORE_OP_UPDATE, "Patient", "fresh", "y");
	op.cond = &c;
	op.rows = &id1;
	op.nrows = 1;
	assert_int_equal(store_commit(f->s, &op, 1, 1), 0);
	assert_string_equal(op.result.id, "c1");
	assert_int_equal(op.result.vid, 2);
	assert_non_null(strstr(op.result.body, "\"tag\":\"y\""));
	store_version_clear(&op.result);
	/* ... but not when the body named another id */
	op = mkop(STORE_OP_UPDATE, "Patient", "other", "y");
	op.cond = &c;
	op.id_fixed = 1;
	assert_int_equal(store_commit(f->s, &op, 1, 1), ERR_INVALID);

	/* two matches -> 412 for create, update and a single delete */
	assert_int_equal(put_ident(f->s, "c3", "http://sys", "1"), 0);
	op = mkop(STORE_OP_CREATE, "Patient", "c4", "x");
	op.cond = &c;
	assert_int_equal(store_commit(f->s, &op, 1, 1), ERR_PRECONDITION);
	op = mkop(STORE_OP_DELETE, "Patient", NULL, NULL);
	op.cond = &c;
	assert_int_equal(store_commit(f->s, &op, 1, 1), ERR_PRECONDITION);
	/* multiple delete allowed: both go */
	op = mkop(STORE_OP_DELETE, "Patient", NULL, NULL);
	op.cond = &c;
	op.cond_multiple = 1;
	assert_int_equal(store_commit(f->s, &op, 1, 1), 0);
	assert_int_equal(op.matches, 2);
	store_version_clear(&op.result);
	assert_int_equal(store_match(f->s, "Patient", &c, ids, 4, &n), 0);
	assert_int_equal(n, 0);

	/* the index follows the current version: an update dropping the identifier */
	assert_int_equal(put_ident(f->s, "c5", "http://sys", "5"), 0);
	assert_int_equal(put_ident(f->s, "c5", NULL, NULL), 0);
	c5 = crit(&a, "identifier=5");
	assert_int_equal(store_match(f->s, "Patient", &c5, ids, 4, &n), 0);
	assert_int_equal(n, 0);
	/* _id */
	byid = crit(&a, "_id=c5");
	assert_int_equal(store_match(f->s, "Patient", &byid, ids, 4, &n), 0);
	assert_int_equal(n, 1);
	arena_fini(&a);
}

struct writer_arg {
	store_t *s;
	int ok;
};

static void *writer(void *a)
{
	struct writer_arg *w = a;
	for (int i = 0; i < 50; i++) {
		store_version_t v;
		int64_t cur;
		if (store_read(w->s, "Patient", "hot", &v) != 0)
			continue;
		cur = v.vid;
		store_version_clear(&v);
		if (put(w->s, "hot", "c", cur, NULL) == 0)
			w->ok++;
	}
	return NULL;
}

/* Concurrent compare-and-set updates: every success is one version, no
 * version number is used twice and none is lost. */
static void test_concurrent_updates(void **state)
{
	struct fixture *f = *state;
	pthread_t th[6];
	struct writer_arg args[6];
	store_version_t v;
	store_history_q q;
	store_history_page p;
	int total = 0;

	assert_int_equal(put(f->s, "hot", "c", 0, NULL), 0);
	for (int i = 0; i < 6; i++) {
		args[i].s = f->s;
		args[i].ok = 0;
		pthread_create(&th[i], NULL, writer, &args[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		total += args[i].ok;
	}
	assert_true(total > 0);
	assert_int_equal(store_read(f->s, "Patient", "hot", &v), 0);
	assert_int_equal(v.vid, 1 + total);
	store_version_clear(&v);
	memset(&q, 0, sizeof q);
	q.since_us = q.at_lo_us = q.at_hi_us = INT64_MIN;
	q.type = "Patient";
	q.id = "hot";
	q.count = 1000;
	assert_int_equal(store_history(f->s, &q, &p), 0);
	assert_int_equal(p.n, (size_t)(1 + total));
	for (size_t i = 0; i < p.n; i++)
		assert_int_equal(p.items[i].vid, (int64_t)(1 + total - (int)i));
	store_history_page_clear(&p);
}

static void test_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	store_options o = { 0 };
	store_version_t v;

	assert_int_equal(put(f->s, "keep", "k", 0, NULL), 0);
	store_close(f->s);
	o.path = f->path;
	o.readers = 2;
	assert_int_equal(store_open(&o, &f->s), 0);
	assert_int_equal(store_schema_version(f->s), SCHEMA_NOW);
	assert_int_equal(store_read(f->s, "Patient", "keep", &v), 0);
	assert_int_equal(v.vid, 1);
	store_version_clear(&v);
	/* lastUpdated keeps increasing across restarts */
	assert_int_equal(put(f->s, "keep", "k2", 0, NULL), 0);
}

int main(void)
{
#ifdef FHIRD_TEST_PG_BACKEND
	if (!pgtest_available()) {
		printf("# SKIP no PostgreSQL cluster (FHIRD_TEST_PG; tests/run.py --pg)\n");
		return 0;
	}
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_read_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_if_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_and_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_paging_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_at, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conditional, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
