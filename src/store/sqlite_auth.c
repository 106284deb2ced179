/*
 * sqlite_auth.c - the authorization records of store.h (the SMART server's
 * clients, users, keys, codes, refresh tokens, launches, revocations) in
 * the auth_rec table of the SQLite backend.
 *
 * Workload: one revocation lookup on every authorized FHIR request (reads,
 * hot), a handful of small writes per OAuth exchange (cold, but each one
 * must be on disk before the HTTP answer leaves: a code or a refresh token
 * handed out and then lost would be a broken grant, a revocation lost would
 * be a security hole).
 *
 * Reads (get, list, revoked) borrow a connection of the reader pool, like
 * every other read: WAL readers see the last committed state and never
 * wait for a writer.
 *
 * Writes go through a connection of their own (s->adb), one caller at a
 * time (s->alock), rather than through the FHIR writer thread. Why:
 *   - the writer thread's queue carries store_op_t jobs whose failures are
 *     per-op savepoints inside a group commit; a take (read, then mark
 *     used) is a different transaction shape, and putting it in that queue
 *     would make every token exchange wait for a whole resource batch;
 *   - two connections of one process on one WAL database are serialised by
 *     SQLite's own write lock, which is also what keeps several fhird
 *     processes on one database consistent, so the auth connection needs
 *     no cooperation from the writer thread;
 *   - no deadlock: the writer thread never takes alock and an auth caller
 *     never takes wlock; each side holds at most SQLite's write lock while
 *     waiting (busy timeout, sq_open_conn) for nothing else, and every auth
 *     transaction is a few statements on one small table, so the writer's
 *     BEGIN IMMEDIATE waits microseconds plus one fsync at worst;
 *   - every multi-statement transaction starts with BEGIN IMMEDIATE, so it
 *     holds the write lock from the start: no read snapshot is ever
 *     upgraded (which in WAL fails with SQLITE_BUSY_SNAPSHOT without
 *     calling the busy handler); single statements are autocommit, which
 *     takes the read and write locks together;
 *   - synchronous=FULL on this connection (it is a per-connection setting):
 *     each commit syncs the WAL before the call returns.
 *
 * Expiry: a record with exp_us != 0 and exp_us <= now (CLOCK_REALTIME) is
 * absent for every call; the condition is in each statement so that an
 * expired row is never even read.
 */
#include "backend.h"
#include "sqlite_int.h"

#include "core/err.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQA_LIVE "(exp_us = 0 OR exp_us > ?3)"

/* Statements of the auth write connection, prepared once at open. */
enum sqa_write_stmt { SQA_PUT, SQA_TAKE_GET, SQA_TAKE_USE, SQA_DEL, SQA_EXPIRE_FAMILY, SQA_PURGE, SQA_NSTMT };

/* ?1 kind ?2 key ?3 now ?4 family ?5 value ?6 exp_us ?7 replace.
 * One statement, so the conflict check and the write are one step:
 * the DO UPDATE only happens when replacing or when the existing row has
 * expired (then it is a new record, with a new created_us; a live record
 * that is replaced keeps its created_us, so lists keep their order when a
 * record is updated in place). sqlite3_changes() is 0 on a conflict. */
static const char *const sqa_sql[SQA_NSTMT] = {
	[SQA_PUT] = "INSERT INTO auth_rec(kind, key, family, value, exp_us, created_us, used) "
		    "VALUES(?1, ?2, ?4, ?5, ?6, ?3, 0) "
		    "ON CONFLICT(kind, key) DO UPDATE SET family = excluded.family, value = excluded.value, "
		    "exp_us = excluded.exp_us, used = 0, "
		    "created_us = CASE WHEN auth_rec.exp_us != 0 AND auth_rec.exp_us <= ?3 "
		    "THEN excluded.created_us ELSE auth_rec.created_us END "
		    "WHERE ?7 != 0 OR (auth_rec.exp_us != 0 AND auth_rec.exp_us <= ?3)",
	[SQA_TAKE_GET] = "SELECT key, family, value, exp_us, created_us, used FROM auth_rec "
			 "WHERE kind = ?1 AND key = ?2 AND " SQA_LIVE,
	[SQA_TAKE_USE] = "UPDATE auth_rec SET used = 1 WHERE kind = ?1 AND key = ?2",
	[SQA_DEL] = "DELETE FROM auth_rec WHERE kind = ?1 AND key = ?2",
	/* ?1 family ?2 exp_us ?3 now */
	[SQA_EXPIRE_FAMILY] = "UPDATE auth_rec SET exp_us = ?2 WHERE family = ?1 AND " SQA_LIVE,
	/* ?1 now: "expired" as everywhere else, exp_us <= now */
	[SQA_PURGE] = "DELETE FROM auth_rec WHERE exp_us != 0 AND exp_us <= ?1",
};

_Static_assert(SQA_NSTMT <= sizeof ((struct sq *)0)->ast / sizeof ((struct sq *)0)->ast[0], "auth statement slots");

/* Read statements, on a reader's statement cache (by text). */
static const char sqa_get_sql[] = "SELECT key, family, value, exp_us, created_us, used FROM auth_rec "
				  "WHERE kind = ?1 AND key = ?2 AND " SQA_LIVE;
static const char sqa_list_sql[] = "SELECT key, family, value, exp_us, created_us, used FROM auth_rec "
				   "WHERE kind = ?1 AND " SQA_LIVE " ORDER BY created_us, key";
/* ?1, ?2 the keys (NULL matches nothing), ?4 the kind */
static const char sqa_revoked_sql[] = "SELECT 1 FROM auth_rec WHERE kind = ?4 AND key IN (?1, ?2) AND " SQA_LIVE
				      " LIMIT 1";

int sq_auth_open(struct sq *s, const char *path)
{
	int rc;

	if (pthread_mutex_init(&s->alock, NULL) != 0)
		return ERR_INTERNAL;
	s->alock_init = 1;
	rc = sq_open_conn(path, 0, &s->adb);
	if (rc)
		goto fail;
	rc = ERR_DB;
	/* synchronous is per connection: FULL so that a write is on disk when
	 * the call returns. Checkpoint as rarely as the writer does (a commit
	 * that runs the checkpoint pays an fsync of the main file). */
	if (sq_exec(s->adb, "PRAGMA synchronous = FULL") || sq_exec(s->adb, "PRAGMA wal_autocheckpoint = 8192"))
		goto fail;
	for (int k = 0; k < SQA_NSTMT; k++)
		if (sqlite3_prepare_v3(s->adb, sqa_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &s->ast[k], NULL) !=
		    SQLITE_OK) {
			log_error("msg=\"prepare failed\" err=\"%s\"", sqlite3_errmsg(s->adb));
			goto fail;
		}
	return 0;
fail:
	/* sq_close() calls sq_auth_close(), which releases what was made */
	return rc;
}

void sq_auth_close(struct sq *s)
{
	for (size_t k = 0; k < sizeof s->ast / sizeof s->ast[0]; k++) {
		sqlite3_finalize(s->ast[k]);
		s->ast[k] = NULL;
	}
	sqlite3_close(s->adb);
	s->adb = NULL;
	if (s->alock_init) {
		pthread_mutex_destroy(&s->alock);
		s->alock_init = 0;
	}
}

static void sqa_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Copies a row (key, family, value, exp_us, created_us, used) into out
 * (value malloc'd). */
static int sqa_row(sqlite3_stmt *st, store_auth_rec *out)
{
	const unsigned char *k = sqlite3_column_text(st, 0), *f = sqlite3_column_text(st, 1);
	const unsigned char *v = sqlite3_column_text(st, 2);
	int vlen = sqlite3_column_bytes(st, 2);

	memset(out, 0, sizeof *out);
	snprintf(out->key, sizeof out->key, "%s", k ? (const char *)k : "");
	snprintf(out->family, sizeof out->family, "%s", f ? (const char *)f : "");
	out->value = malloc((size_t)vlen + 1);
	if (!out->value)
		return ERR_NOMEM;
	if (vlen > 0)
		memcpy(out->value, v, (size_t)vlen);
	out->value[vlen] = '\0';
	out->exp_us = sqlite3_column_int64(st, 3);
	out->created_us = sqlite3_column_int64(st, 4);
	out->used = sqlite3_column_int(st, 5);
	return 0;
}

int sq_auth_put(void *impl, enum store_auth_kind kind, const char *key, const char *family, const char *value,
		int64_t exp_us, int replace)
{
	struct sq *s = impl;
	sqlite3_stmt *st = s->ast[SQA_PUT];
	int rc = 0, step;

	pthread_mutex_lock(&s->alock);
	sqlite3_bind_int(st, 1, (int)kind);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, sq_now_us());
	sqlite3_bind_text(st, 4, family ? family : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, exp_us);
	sqlite3_bind_int(st, 7, replace != 0);
	step = sqlite3_step(st);
	if (step != SQLITE_DONE) {
		log_error("msg=\"auth record write failed\" err=\"%s\"", sqlite3_errmsg(s->adb));
		rc = ERR_DB;
	} else if (sqlite3_changes(s->adb) == 0) {
		rc = ERR_CONFLICT; /* a live record and no replace: the upsert's WHERE said no */
	}
	sqa_done(st);
	pthread_mutex_unlock(&s->alock);
	return rc;
}

/* store_auth_get on a reader. */
static int sqa_get(struct sq *s, enum store_auth_kind kind, const char *key, store_auth_rec *out)
{
	struct sq_reader *r = sq_reader_get(s);
	sqlite3_stmt *st = NULL;
	int rc, step;

	if (sq_stmt_get(&r->cache, r->db, sqa_get_sql, &st)) {
		rc = ERR_DB;
		goto dberr;
	}
	sqlite3_bind_int(st, 1, (int)kind);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, sq_now_us());
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = sqa_row(st, out);
	else if (step == SQLITE_DONE)
		rc = ERR_NOTFOUND;
	else
		goto dberr;
	goto out;
dberr:
	log_error("msg=\"auth record read failed\" err=\"%s\"", sqlite3_errmsg(r->db));
	rc = ERR_DB;
out:
	sq_stmt_release(&r->cache, st);
	sq_reader_put(s, r);
	return rc;
}

/* store_auth_take: read and mark used in one IMMEDIATE transaction on the
 * auth connection. alock orders the callers of this process; the write
 * lock taken by BEGIN IMMEDIATE orders them against other processes (and
 * the FHIR writer), so exactly one taker reads used = 0. */
static int sqa_take(struct sq *s, enum store_auth_kind kind, const char *key, store_auth_rec *out)
{
	sqlite3_stmt *get = s->ast[SQA_TAKE_GET], *use = s->ast[SQA_TAKE_USE];
	int rc, step;

	pthread_mutex_lock(&s->alock);
	rc = sq_exec(s->adb, "BEGIN IMMEDIATE");
	if (rc)
		goto out;
	sqlite3_bind_int(get, 1, (int)kind);
	sqlite3_bind_text(get, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(get, 3, sq_now_us());
	step = sqlite3_step(get);
	if (step == SQLITE_ROW) {
		rc = sqa_row(get, out);
	} else if (step == SQLITE_DONE) {
		rc = ERR_NOTFOUND;
	} else {
		log_error("msg=\"auth record read failed\" err=\"%s\"", sqlite3_errmsg(s->adb));
		rc = ERR_DB;
	}
	sqa_done(get);
	if (!rc && !out->used) {
		sqlite3_bind_int(use, 1, (int)kind);
		sqlite3_bind_text(use, 2, key, -1, SQLITE_STATIC);
		if (sqlite3_step(use) != SQLITE_DONE) {
			log_error("msg=\"auth record write failed\" err=\"%s\"", sqlite3_errmsg(s->adb));
			rc = ERR_DB;
		}
		sqa_done(use);
	}
	if (!rc && !out->used) {
		rc = sq_exec(s->adb, "COMMIT");
		if (rc)
			sq_exec(s->adb, "ROLLBACK"); /* a failed COMMIT can leave it open */
	} else {
		sq_exec(s->adb, "ROLLBACK"); /* nothing written: absent, already used, or failed */
	}
out:
	pthread_mutex_unlock(&s->alock);
	if (rc)
		store_auth_rec_clear(out);
	return rc;
}

int sq_auth_get(void *impl, enum store_auth_kind kind, const char *key, int take, store_auth_rec *out)
{
	memset(out, 0, sizeof *out);
	return take ? sqa_take(impl, kind, key, out) : sqa_get(impl, kind, key, out);
}

int sq_auth_del(void *impl, enum store_auth_kind kind, const char *key)
{
	struct sq *s = impl;
	sqlite3_stmt *st = s->ast[SQA_DEL];
	int rc = 0;

	pthread_mutex_lock(&s->alock);
	sqlite3_bind_int(st, 1, (int)kind);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_error("msg=\"auth record delete failed\" err=\"%s\"", sqlite3_errmsg(s->adb));
		rc = ERR_DB;
	}
	sqa_done(st);
	pthread_mutex_unlock(&s->alock);
	return rc;
}

int sq_auth_list(void *impl, enum store_auth_kind kind, store_auth_rec **out, size_t *n)
{
	struct sq *s = impl;
	struct sq_reader *r = sq_reader_get(s);
	sqlite3_stmt *st = NULL;
	store_auth_rec *items = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0, step;

	*out = NULL;
	*n = 0;
	if (sq_stmt_get(&r->cache, r->db, sqa_list_sql, &st))
		goto dberr;
	sqlite3_bind_int(st, 1, (int)kind);
	sqlite3_bind_int64(st, 3, sq_now_us());
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			store_auth_rec *t = realloc(items, ncap * sizeof *t);
			if (!t) {
				rc = ERR_NOMEM;
				goto out;
			}
			items = t;
			cap = ncap;
		}
		rc = sqa_row(st, &items[cnt]);
		cnt++; /* cleared on failure below, like the others */
		if (rc)
			goto out;
	}
	if (step != SQLITE_DONE)
		goto dberr;
	*out = items;
	*n = cnt;
	items = NULL;
	goto out;
dberr:
	log_error("msg=\"auth record list failed\" err=\"%s\"", sqlite3_errmsg(r->db));
	rc = ERR_DB;
out:
	if (items) {
		for (size_t i = 0; i < cnt; i++)
			store_auth_rec_clear(&items[i]);
		free(items);
	}
	sq_stmt_release(&r->cache, st);
	sq_reader_put(s, r);
	return rc;
}

int sq_auth_revoked(void *impl, const char *a, const char *b, int *revoked)
{
	struct sq *s = impl;
	struct sq_reader *r;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	*revoked = 0;
	if ((!a || !*a) && (!b || !*b))
		return 0; /* nothing to look up: spare the pool */
	r = sq_reader_get(s);
	if (sq_stmt_get(&r->cache, r->db, sqa_revoked_sql, &st))
		goto dberr;
	/* NULL never equals anything in SQL, so an absent key matches no row
	 * (and "" must not match a record stored under "" either). */
	if (a && *a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 1);
	if (b && *b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, sq_now_us());
	sqlite3_bind_int(st, 4, STORE_AUTH_REVOKED);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*revoked = 1;
	else if (step != SQLITE_DONE)
		goto dberr;
	goto out;
dberr:
	/* the caller fails closed on ERR_DB (token.h) */
	log_error("msg=\"revocation check failed\" err=\"%s\"", sqlite3_errmsg(r->db));
	rc = ERR_DB;
out:
	sq_stmt_release(&r->cache, st);
	sq_reader_put(s, r);
	return rc;
}

int sq_auth_expire_family(void *impl, const char *family, int64_t exp_us)
{
	struct sq *s = impl;
	sqlite3_stmt *st = s->ast[SQA_EXPIRE_FAMILY];
	int rc = 0;

	pthread_mutex_lock(&s->alock);
	sqlite3_bind_text(st, 1, family, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, exp_us);
	sqlite3_bind_int64(st, 3, sq_now_us());
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_error("msg=\"auth family expiry failed\" err=\"%s\"", sqlite3_errmsg(s->adb));
		rc = ERR_DB;
	}
	sqa_done(st);
	pthread_mutex_unlock(&s->alock);
	return rc;
}

int sq_auth_purge(void *impl, int64_t now_us, size_t *n)
{
	struct sq *s = impl;
	sqlite3_stmt *st = s->ast[SQA_PURGE];
	int rc = 0;

	*n = 0;
	pthread_mutex_lock(&s->alock);
	sqlite3_bind_int64(st, 1, now_us);
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_error("msg=\"auth record purge failed\" err=\"%s\"", sqlite3_errmsg(s->adb));
		rc = ERR_DB;
	} else {
		*n = (size_t)sqlite3_changes(s->adb);
	}
	sqa_done(st);
	pthread_mutex_unlock(&s->alock);
	return rc;
}
