/*
 * test_audit.c - the audit trail (src/audit/, the store's audit calls):
 * append and the chain it builds, verify on an intact chain, and each kind
 * of tampering done behind fhird's back with a plain SQLite connection
 * (as someone with the database file would): a record's bytes altered,
 * a middle record deleted, a forged record inserted (also with the later
 * records renumbered and a valid hash computed), the tail cut off, the
 * whole tail rewritten (caught only by --expect). Also: the append-only
 * triggers, the rendering of an event as an AuditEvent, search, and the
 * queue (flush, every event written, back-pressure without drops).
 */
#include "audit/audit.h"
#include "core/err.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifdef FHIRD_TEST_PG_BACKEND
/* test_audit_pg.c: the same tests on PostgreSQL, tampering through a libpq
 * connection of its own (as someone with a database login would) */
#include "pgtest.h"
#define UNLOCK "DROP TRIGGER audit_event_no_update ON audit_event; DROP TRIGGER audit_event_no_delete ON audit_event;"
#define RANDOM32 "decode(md5(random()::text) || md5(random()::text), 'hex')"
#define HEXBLOB(x) "'\\x" x "'::bytea"
#else
#define UNLOCK "DROP TRIGGER audit_event_no_update; DROP TRIGGER audit_event_no_delete;"
#define RANDOM32 "randomblob(32)"
#define HEXBLOB(x) "X'" x "'"
#endif

struct fixture {
	char dir[64];
	char path[256];
	char apath[96]; /* the audit trail's own file, next to path */
	char schema[64];
	store_t *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	store_options o = { 0 };
#ifdef FHIRD_TEST_PG_BACKEND
	assert_int_equal(pgtest_new(f->schema, sizeof f->schema, f->path, sizeof f->path), 0);
#else
	snprintf(f->dir, sizeof f->dir, "/tmp/fhird-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	snprintf(f->apath, sizeof f->apath, "%s/t-audit.db", f->dir);
#endif
	o.path = f->path;
	o.readers = 2;
	assert_int_equal(store_open(&o, &f->s), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
#ifdef FHIRD_TEST_PG_BACKEND
	pgtest_drop(f->schema);
#else
	{
		char cmd[160];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			return -1;
	}
#endif
	free(f);
	return 0;
}

static void ev_init(audit_event *ev, int i)
{
	static char ids[64][16];
	memset(ev, 0, sizeof *ev);
	snprintf(ids[i % 64], sizeof ids[0], "obs-%d", i);
	ev->kind = AUDIT_REST;
	ev->subtype = "read";
	ev->action = 'R';
	ev->status = i % 5 == 4 ? 403 : 200;
	ev->outcome = -1;
	ev->client_id = "app";
	ev->subject = "alice";
	ev->fhir_user = "Patient/pa";
	ev->patient = i % 2 ? "pa" : "pb";
	ev->entity_type = "Observation";
	ev->entity_id = ids[i % 64];
	ev->address = "127.0.0.1";
}

/* Appends n events in batches of up to 3 (several transactions). */
static void append_n(store_t *s, int n)
{
	for (int i = 0; i < n;) {
		store_audit_rec recs[3];
		int k = 0;
		for (; k < 3 && i < n; k++, i++) {
			audit_event ev;
			ev_init(&ev, i);
			assert_int_equal(audit_fill("http://h/fhir", "http://h/auth", 1700000000000000LL + i, &ev, &recs[k]), 0);
		}
		assert_int_equal(store_audit_append(s, recs, (size_t)k, audit_chain_hash), 0);
		for (int j = 0; j < k; j++)
			store_audit_rec_clear(&recs[j]);
	}
}

/* Runs SQL on the database through a connection of its own (not
 * fhird's); 0 when it ran, -1 when the database refused it. */
static int tamper_try(struct fixture *f, const char *sql)
{
#ifdef FHIRD_TEST_PG_BACKEND
	PGconn *c = PQconnectdb(f->path);
	PGresult *r;
	int ok;
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQsetNoticeProcessor(c, pgtest_quiet, NULL);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
#else
	sqlite3 *db = NULL;
	int rc;
	assert_int_equal(sqlite3_open(f->apath, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	sqlite3_close(db);
	return rc;
#endif
}

static void tamper(struct fixture *f, const char *fmt, ...)
{
	char sql[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	if (tamper_try(f, sql))
		fail_msg("tamper SQL failed: %s", sql);
}

static void test_append_verify_ok(void **state)
{
	struct fixture *f = *state;
	audit_verify_result r;
	store_audit_rec rec;
	unsigned char h[STORE_AUDIT_HASH], zero[STORE_AUDIT_HASH] = { 0 };

	assert_int_equal(audit_verify(f->s, 0, NULL, &r), 0); /* empty is intact */
	assert_int_equal(r.count, 0);
	append_n(f->s, 10);
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), 0);
	assert_int_equal(r.count, 10);
	assert_int_equal(r.last_seq, 10);
	assert_true(r.head.present);
	assert_int_equal(r.head.seq, 10);
	assert_memory_equal(r.head.hash, r.last_hash, STORE_AUDIT_HASH);

	/* the chain: seq from 1, record 1 chains to zeros, each to the one before */
	assert_int_equal(store_audit_get(f->s, 1, &rec), 0);
	assert_memory_equal(rec.prev, zero, sizeof zero);
	audit_chain_hash(rec.prev, &rec, h);
	assert_memory_equal(h, rec.hash, sizeof h);
	memcpy(h, rec.hash, sizeof h);
	store_audit_rec_clear(&rec);
	assert_int_equal(store_audit_get(f->s, 2, &rec), 0);
	assert_memory_equal(rec.prev, h, sizeof h);
	assert_string_equal(rec.entity_id, "obs-1");
	assert_string_equal(rec.patient, "pa");
	store_audit_rec_clear(&rec);
	assert_int_equal(store_audit_get(f->s, 11, &rec), ERR_NOTFOUND);

	/* a later append continues the chain; record 10 keeps its hash */
	memcpy(h, r.last_hash, sizeof h);
	append_n(f->s, 2);
	assert_int_equal(audit_verify(f->s, 10, h, &r), 0);
	assert_int_equal(r.count, 12);
}

static void test_append_only_triggers(void **state)
{
	struct fixture *f = *state;

	append_n(f->s, 3);
	assert_int_not_equal(tamper_try(f, "UPDATE audit_event SET patient = 'x' WHERE seq = 2"), 0);
	assert_int_not_equal(tamper_try(f, "DELETE FROM audit_event WHERE seq = 2"), 0);
}

static void test_altered_record(void **state)
{
	struct fixture *f = *state;
	audit_verify_result r;

	append_n(f->s, 8);
	/* one byte of record 5 */
	tamper(f, UNLOCK "UPDATE audit_event SET entity_id = 'obs-X' WHERE seq = 5");
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 5);
	assert_int_equal(r.count, 4);
	assert_non_null(strstr(r.why, "altered"));
}

static void test_altered_column(void **state)
{
	struct fixture *f = *state;
	audit_verify_result r;

	append_n(f->s, 8);
	/* a refusal (outcome 8) made to look like a success */
	tamper(f, UNLOCK "UPDATE audit_event SET outcome = 0, outcome_desc = '' WHERE seq = 5");
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 5);
}

static void test_deleted_middle(void **state)
{
	struct fixture *f = *state;
	audit_verify_result r;

	append_n(f->s, 8);
	tamper(f, UNLOCK "DELETE FROM audit_event WHERE seq = 4");
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 4);
	assert_non_null(strstr(r.why, "deleted"));

	tamper(f, "DELETE FROM audit_event WHERE seq IN (5, 6)");
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 4);
	assert_non_null(strstr(r.why, "records 4 to 6 were deleted"));
}

static void test_deleted_middle_renumbered(void **state)
{
	struct fixture *f = *state;
	audit_verify_result r;

	append_n(f->s, 8);
	/* the gap closed by renumbering: 5..8 become 4..7 */
	tamper(f, UNLOCK "DELETE FROM audit_event WHERE seq = 4; UPDATE audit_event SET seq = -seq WHERE seq > 4; "
		      "UPDATE audit_event SET seq = -seq - 1 WHERE seq < 0");
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 4);
	assert_non_null(strstr(r.why, "deleted"));
}

/* A forged record with a well-formed row but a made-up hash. */
static void test_inserted_forged(void **state)
{
	struct fixture *f = *state;
	audit_verify_result r;

	append_n(f->s, 6);
	tamper(f, UNLOCK "UPDATE audit_event SET seq = -seq WHERE seq > 3; UPDATE audit_event SET seq = -seq + 1 "
		      "WHERE seq < 0; INSERT INTO audit_event SELECT 4, recorded_us, kind, status, 0, action, subtype, "
		      "outcome_desc, 'evil', subject, fhir_user, patient, entity_type, entity_id, address, observer, "
		      "issuer, query, hash, " RANDOM32 " FROM audit_event WHERE seq = 3");
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 4);
}

/* A forged record made by someone who knows how to hash: it chains to
 * record 3 correctly, the later ones are renumbered (not rehashed). */
static void test_inserted_valid_hash(void **state)
{
	struct fixture *f = *state;
	audit_verify_result r;
	store_audit_rec prev, forged;
	audit_event ev;
	char hex[2 * STORE_AUDIT_HASH + 1], phex[2 * STORE_AUDIT_HASH + 1];

	append_n(f->s, 6);
	assert_int_equal(store_audit_get(f->s, 3, &prev), 0);
	ev_init(&ev, 99);
	ev.client_id = "evil";
	assert_int_equal(audit_fill("http://h/fhir", "http://h/auth", prev.recorded_us + 1, &ev, &forged), 0);
	forged.seq = 4;
	audit_chain_hash(prev.hash, &forged, forged.hash);
	for (int i = 0; i < STORE_AUDIT_HASH; i++) {
		snprintf(hex + 2 * i, 3, "%02x", forged.hash[i]);
		snprintf(phex + 2 * i, 3, "%02x", prev.hash[i]);
	}
	tamper(f,
	       UNLOCK "UPDATE audit_event SET seq = -seq WHERE seq > 3; UPDATE audit_event SET seq = -seq + 1 WHERE seq < 0; "
		      "INSERT INTO audit_event VALUES(4, %lld, %d, %d, %d, '%s', '%s', '%s', '%s', '%s', '%s', '%s', '%s', "
		      "'%s', '%s', '%s', '%s', NULL, " HEXBLOB("%s") ", " HEXBLOB("%s") ")",
	       (long long)forged.recorded_us, forged.kind, forged.status, forged.outcome, forged.action, forged.subtype,
	       forged.outcome_desc, forged.client_id, forged.subject, forged.fhir_user, forged.patient, forged.entity_type,
	       forged.entity_id, forged.address, forged.observer, forged.issuer, phex, hex);
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 4);
	assert_non_null(strstr(r.why, "inserted"));
	store_audit_rec_clear(&prev);
	store_audit_rec_clear(&forged);
}

static void test_tail_cut(void **state)
{
	struct fixture *f = *state;
	audit_verify_result r;

	append_n(f->s, 8);
	tamper(f, UNLOCK "DELETE FROM audit_event WHERE seq > 6");
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 7);
	assert_non_null(strstr(r.why, "cut off"));

	/* appending afterwards keeps the gap visible (it continues from the
	 * checkpoint) instead of reusing 7 and 8 */
	append_n(f->s, 1);
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 7);
	assert_non_null(strstr(r.why, "deleted"));
}

/* Everything from record 5 on rewritten consistently, checkpoint
 * included: only a head kept outside the database shows it. */
static void test_rewritten_tail_needs_expect(void **state)
{
	struct fixture *f = *state;
	audit_verify_result r;
	unsigned char kept[STORE_AUDIT_HASH];

	append_n(f->s, 8);
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), 0);
	memcpy(kept, r.last_hash, sizeof kept); /* the operator keeps 8:<hash> */
	tamper(f, UNLOCK "DELETE FROM audit_event WHERE seq > 4; DELETE FROM audit_meta WHERE key = 'audit_head'");
	/* the attacker puts the head back at 4 and appends new history */
	{
		store_audit_rec rec;
		char hex[2 * STORE_AUDIT_HASH + 1];
		assert_int_equal(store_audit_get(f->s, 4, &rec), 0);
		for (int i = 0; i < STORE_AUDIT_HASH; i++)
			snprintf(hex + 2 * i, 3, "%02x", rec.hash[i]);
		tamper(f, "INSERT INTO audit_meta(key, value) VALUES('audit_head', '4 %s')", hex);
		store_audit_rec_clear(&rec);
	}
	append_n(f->s, 4);
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), 0); /* consistent again */
	assert_int_equal(audit_verify(f->s, 8, kept, &r), ERR_INVALID);
	assert_int_equal(r.bad_seq, 8);
}

static void test_render(void **state)
{
	(void)state;
	audit_event ev;
	store_audit_rec rec;
	json_t *o;
	char *out;
	size_t len;
	const char *q;

	ev_init(&ev, 1);
	ev.subtype = "search-type";
	ev.action = 'E';
	ev.entity_id = NULL;
	ev.query = "patient=pa&code=1234";
	ev.status = 403;
	assert_int_equal(audit_fill("http://h/fhir", "http://h/auth", 1700000000000001LL, &ev, &rec), 0);
	assert_int_equal(rec.outcome, 8);
	assert_string_equal(rec.subtype, "search-type");
	assert_string_equal(rec.fhir_user, "Patient/pa");
	assert_string_equal(rec.outcome_desc, "HTTP 403");
	assert_string_equal(rec.query, "patient=pa&code=1234");
	rec.seq = 42;
	assert_int_equal(audit_record_json(&rec, &out, &len), 0);
	o = json_loadb(out, len, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "resourceType")), "AuditEvent");
	assert_string_equal(json_string_value(json_object_get(o, "id")), "42");
	assert_string_equal(json_string_value(json_object_get(o, "recorded")), "2023-11-14T22:13:20.000001Z");
	assert_string_equal(json_string_value(json_object_get(o, "outcome")), "8");
	assert_string_equal(json_string_value(json_object_get(o, "action")), "E");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "type"), "code")), "rest");
	/* the query entity carries the query base64 */
	q = json_string_value(json_object_get(json_array_get(json_object_get(o, "entity"), 0), "query"));
	assert_string_equal(q, "cGF0aWVudD1wYSZjb2RlPTEyMzQ=");
	/* the patient entity */
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(json_object_get(o, "entity"), 1), "what"), "reference")),
			    "Patient/pa");
	/* user agent: requestor, fhirUser; client agent: client_id, address */
	{
		json_t *ag = json_object_get(o, "agent");
		assert_int_equal(json_array_size(ag), 3);
		assert_true(json_is_true(json_object_get(json_array_get(ag, 0), "requestor")));
		assert_string_equal(
			json_string_value(json_object_get(json_object_get(json_array_get(ag, 0), "who"), "reference")),
			"Patient/pa");
		assert_string_equal(json_string_value(json_object_get(
					    json_object_get(json_object_get(json_array_get(ag, 1), "who"), "identifier"),
					    "value")),
				    "app");
		assert_string_equal(json_string_value(json_object_get(
					    json_object_get(json_array_get(ag, 1), "network"), "address")),
				    "127.0.0.1");
	}
	json_decref(o);
	free(out);
	store_audit_rec_clear(&rec);

	/* text is escaped: what comes back is what went in */
	ev.subject = "a\"b\\c\td";
	assert_int_equal(audit_fill("http://h/fhir", "http://h/auth", 1, &ev, &rec), 0);
	rec.seq = 1;
	assert_int_equal(audit_record_json(&rec, &out, &len), 0);
	o = json_loadb(out, len, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
				    json_object_get(json_array_get(json_object_get(o, "agent"), 0), "who"), "identifier"),
							  "value")),
			    "a\"b\\c\td");
	json_decref(o);
	free(out);
	store_audit_rec_clear(&rec);
}

static void test_search(void **state)
{
	struct fixture *f = *state;
	store_audit_q q;
	store_audit_page p;

	append_n(f->s, 10);
	memset(&q, 0, sizeof q);
	q.date_lo = INT64_MIN;
	q.date_hi = INT64_MAX;
	q.outcome = -1;
	q.count = 3;
	q.patient = "pa";
	assert_int_equal(store_audit_search(f->s, &q, &p), 0);
	assert_int_equal(p.n, 3);
	assert_true(p.has_more);
	assert_int_equal(p.items[0].seq, 10); /* newest first: i = 9 -> pa */
	assert_int_equal(p.items[2].seq, 6);
	q.before_seq = p.items[2].seq;
	store_audit_page_clear(&p);
	assert_int_equal(store_audit_search(f->s, &q, &p), 0);
	assert_int_equal(p.n, 2);
	assert_false(p.has_more);
	store_audit_page_clear(&p);

	memset(&q, 0, sizeof q);
	q.date_lo = 1700000000000000LL + 2;
	q.date_hi = 1700000000000000LL + 4;
	q.outcome = 8;
	q.count = 10;
	q.agent = "Patient/pa";
	assert_int_equal(store_audit_search(f->s, &q, &p), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.items[0].seq, 5);
	store_audit_page_clear(&p);
}

/* ---- the queue ---- */

struct submitter {
	audit_t *a;
	int n;
};

static void *submit_many(void *arg)
{
	struct submitter *s = arg;
	for (int i = 0; i < s->n; i++) {
		audit_event ev;
		ev_init(&ev, i);
		audit_submit(s->a, &ev);
	}
	return NULL;
}

static void test_queue_flush_and_backpressure(void **state)
{
	struct fixture *f = *state;
	audit_options o = { 0 };
	audit_t *a = NULL;
	audit_stats st;
	audit_verify_result r;
	pthread_t th[4];
	struct submitter sub = { NULL, 200 };

	o.store = f->s;
	o.base_url = "http://h/fhir";
	o.issuer = "http://h/auth";
	o.queue_max = 4; /* tiny: submitters must wait for the writer */
	o.block_ms = 60000;
	assert_int_equal(audit_new(&o, &a), 0);
	sub.a = a;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, submit_many, &sub), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(audit_flush(a, 60000), 0);
	audit_stats_get(a, &st);
	assert_int_equal(st.submitted, 800);
	assert_int_equal(st.written, 800);
	assert_int_equal(st.dropped, 0);
	/* flushed: everything is readable now */
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), 0);
	assert_int_equal(r.count, 800);

	/* audit_free writes what is still queued */
	sub.n = 50;
	submit_many(&sub);
	audit_free(a);
	assert_int_equal(audit_verify(f->s, 0, NULL, &r), 0);
	assert_int_equal(r.count, 850);
	audit_free(NULL);
	audit_submit(NULL, NULL); /* auditing off: nothing happens */
	assert_int_equal(audit_flush(NULL, 1), 0);
}

static void test_outcome_of(void **state)
{
	(void)state;
	assert_int_equal(audit_outcome_of(200), 0);
	assert_int_equal(audit_outcome_of(304), 0);
	assert_int_equal(audit_outcome_of(401), 8);
	assert_int_equal(audit_outcome_of(403), 8);
	assert_int_equal(audit_outcome_of(404), 4);
	assert_int_equal(audit_outcome_of(500), 12);
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
		cmocka_unit_test_setup_teardown(test_append_verify_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_only_triggers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_altered_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_altered_column, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_middle_renumbered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inserted_forged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inserted_valid_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tail_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewritten_tail_needs_expect, setup, teardown),
		cmocka_unit_test(test_render),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_flush_and_backpressure, setup, teardown),
		cmocka_unit_test(test_outcome_of),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
