/*
 * sqlite.c - the embedded SQLite backend.
 *
 * Workload: many concurrent reads by (type, id), a steady stream of small
 * writes, occasional history scans. The design follows from that:
 *
 * - WAL mode, so readers never block the writer or each other. Each worker
 *   thread borrows a read-only connection from a pool with its statements
 *   already prepared; the read path is one indexed lookup returning the
 *   stored JSON bytes, which are served as they are.
 * - One writer connection owned by one writer thread. Writers hand their
 *   operations to it through a queue and sleep until it is done. The writer
 *   takes every job queued so far (up to write_batch_max operations), runs
 *   them in one transaction with a SAVEPOINT per job, and commits once:
 *   group commit. synchronous=FULL makes that commit durable (the WAL is
 *   fsync'ed) before any of those jobs is acknowledged, so a 2xx survives
 *   kill -9 and power loss, while one fsync is shared by many requests.
 * - Because a single thread assigns version ids inside the transaction,
 *   two versions with one number or a lost update cannot happen; If-Match
 *   is checked there too, atomically with the write.
 * - lastUpdated is strictly increasing over the whole store (one
 *   microsecond apart at least), so _since and _at are exact.
 *
 * Schema (user_version 4):
 *   version(seq INTEGER PRIMARY KEY, type, id, vid, updated_us, method,
 *           deleted, body)   every version of every resource, seq = order
 *   current(type, id, vid, seq, deleted)   newest version per resource
 *   ix_*                                   search indexes (sqlite_index.c)
 *   auth_rec(kind, key, family, value, exp_us, created_us, used)
 *                                          SMART server state (sqlite_auth.c)
 * The audit trail lives in a database file of its own (sqlite_audit.c).
 */
#include "backend.h"
#include "sqlite_int.h"
#include "sqlite_vfs.h"

#include "core/err.h"
#include "core/log.h"
#include "core/valid.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SQ_SCHEMA_VERSION 5

static const char *const sq_migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE version("
	"  seq INTEGER PRIMARY KEY,"
	"  type TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  vid INTEGER NOT NULL,"
	"  updated_us INTEGER NOT NULL,"
	"  method TEXT NOT NULL,"
	"  deleted INTEGER NOT NULL,"
	"  body BLOB,"
	"  UNIQUE(type, id, vid));"
	"CREATE INDEX version_type_seq ON version(type, seq);"
	"CREATE TABLE current("
	"  type TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  vid INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  deleted INTEGER NOT NULL,"
	"  PRIMARY KEY(type, id)) WITHOUT ROWID;"
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
	/* 1 -> 2: business identifiers, for conditional interactions (the
	 * search issue generalises this into token indexes). Append-only: a row
	 * belongs to one version (seq) and matches only while that version is
	 * current, so a write inserts and never deletes (the writer is the one
	 * serial path; every b-tree touched there costs every request). */
	"CREATE TABLE ident("
	"  type TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  system TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  id TEXT NOT NULL,"
	"  PRIMARY KEY(type, value, system, seq)) WITHOUT ROWID;",
	/* 2 -> 3: search indexes (sqlite_index.c). Like ident, append-only: a
	 * row belongs to one version (seq) and counts only while that seq is
	 * the current one of a live resource (delete versions have no rows),
	 * so current(seq) is the join that hides old and deleted versions.
	 * Each table is keyed (p, value.., seq) to drive a search from a value
	 * and indexed (seq, p) to test one resource's values. The identifier
	 * table of 1 -> 2 is covered by the token index and goes. */
	"DROP TABLE ident;"
	"CREATE UNIQUE INDEX current_seq ON current(seq, deleted);"
	"CREATE TABLE ix_tok(p INTEGER NOT NULL, code TEXT NOT NULL, seq INTEGER NOT NULL, sys TEXT NOT NULL,"
	"  PRIMARY KEY(p, code, seq, sys)) WITHOUT ROWID;"
	"CREATE INDEX ix_tok_seq ON ix_tok(seq, p);"
	"CREATE TABLE ix_str(p INTEGER NOT NULL, norm TEXT NOT NULL, seq INTEGER NOT NULL, exact TEXT NOT NULL,"
	"  PRIMARY KEY(p, norm, seq, exact)) WITHOUT ROWID;"
	"CREATE INDEX ix_str_seq ON ix_str(seq, p);"
	/* rid: the id of the resource the row belongs to, so that the matches
	 * of one reference come out of the key already in id order */
	"CREATE TABLE ix_ref(p INTEGER NOT NULL, tid TEXT NOT NULL, tt TEXT NOT NULL, rid TEXT NOT NULL,"
	"  seq INTEGER NOT NULL, PRIMARY KEY(p, tid, tt, rid, seq)) WITHOUT ROWID;"
	"CREATE INDEX ix_ref_seq ON ix_ref(seq, p);"
	"CREATE TABLE ix_date(p INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, seq INTEGER NOT NULL,"
	"  PRIMARY KEY(p, lo, hi, seq)) WITHOUT ROWID;"
	"CREATE INDEX ix_date_seq ON ix_date(seq, p);"
	"CREATE TABLE ix_num(p INTEGER NOT NULL, num REAL NOT NULL, sys TEXT NOT NULL, code TEXT NOT NULL,"
	"  seq INTEGER NOT NULL, PRIMARY KEY(p, num, sys, code, seq)) WITHOUT ROWID;"
	"CREATE INDEX ix_num_seq ON ix_num(seq, p);"
	"CREATE TABLE ix_uri(p INTEGER NOT NULL, uri TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  PRIMARY KEY(p, uri, seq)) WITHOUT ROWID;"
	"CREATE INDEX ix_uri_seq ON ix_uri(seq, p);"
	"CREATE TABLE ix_comp(p INTEGER NOT NULL, sys TEXT NOT NULL, code TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  sys2 TEXT, code2 TEXT, num REAL, lo INTEGER, hi INTEGER, str TEXT);"
	"CREATE INDEX ix_comp_code ON ix_comp(p, code, seq);"
	"CREATE INDEX ix_comp_seq ON ix_comp(seq, p);",
	/* 3 -> 4: authorization records (store.h, sqlite_auth.c). Keyed by
	 * (kind, key) for every lookup; family is indexed for revoking a whole
	 * grant at once. Not part of the resource tables: the FHIR writer never
	 * touches it. */
	"CREATE TABLE auth_rec("
	"  kind INTEGER NOT NULL,"
	"  key TEXT NOT NULL,"
	"  family TEXT NOT NULL DEFAULT '',"
	"  value TEXT NOT NULL,"
	"  exp_us INTEGER NOT NULL DEFAULT 0,"
	"  created_us INTEGER NOT NULL,"
	"  used INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(kind, key)) WITHOUT ROWID;"
	"CREATE INDEX auth_rec_family ON auth_rec(family);",
	/* 4 -> 5: ix_pt, the token rows of each resource again, keyed by the
	 * patient its `patient` parameter names and by resource id
	 * (sqlite_index.c, ix_pt_write). Patient-scoped searches with a token
	 * (Observation?patient=X&category=Y, the commonest of US Core) then
	 * read one range of this key instead of testing each of the patient's
	 * resources through ix_tok: at 1M resources those tests were ~40
	 * random pages per request. Filled by the reindex that the new index
	 * layout triggers at open. */
	"CREATE TABLE ix_pt(pat TEXT NOT NULL, p INTEGER NOT NULL, code TEXT NOT NULL, rid TEXT NOT NULL,"
	"  seq INTEGER NOT NULL, sys TEXT NOT NULL, PRIMARY KEY(pat, p, code, rid, seq, sys)) WITHOUT ROWID;",
};

#define SQ_COLS "v.type, v.id, v.vid, v.seq, v.updated_us, v.method, v.deleted, v.body"

enum sq_read_stmt { SQ_READ, SQ_VREAD, SQ_NREAD };
static const char *const sq_read_sql[SQ_NREAD] = {
	[SQ_READ] = "SELECT " SQ_COLS " FROM current c JOIN version v ON v.seq = c.seq WHERE c.type = ?1 AND c.id = ?2",
	[SQ_VREAD] = "SELECT " SQ_COLS " FROM version v WHERE v.type = ?1 AND v.id = ?2 AND v.vid = ?3",
};

enum sq_write_stmt {
	SQ_W_CUR,
	SQ_W_INS_VER,
	SQ_W_UPS_CUR,
	SQ_W_READ,
	SQ_NWRITE
};
static const char *const sq_write_sql[SQ_NWRITE] = {
	[SQ_W_READ] = "SELECT " SQ_COLS " FROM current c JOIN version v ON v.seq = c.seq WHERE c.type = ?1 AND c.id = ?2",
	[SQ_W_CUR] = "SELECT vid, deleted, seq FROM current WHERE type = ?1 AND id = ?2",
	[SQ_W_INS_VER] = "INSERT INTO version(type, id, vid, updated_us, method, deleted, body) "
			 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SQ_W_UPS_CUR] = "INSERT INTO current(type, id, vid, seq, deleted) VALUES(?1, ?2, ?3, ?4, ?5) "
			 "ON CONFLICT(type, id) DO UPDATE SET vid = excluded.vid, seq = excluded.seq, "
			 "deleted = excluded.deleted",
};

int sq_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_error("msg=\"sqlite exec failed\" err=\"%s\"", msg ? msg : "?");
		sqlite3_free(msg);
		return ERR_DB;
	}
	return 0;
}

int sq_open_conn(const char *path, int readonly, sqlite3 **out)
{
	int flags = SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	sqlite3 *db = NULL;

	if (sq_vfs_register()) {
		log_error("msg=\"sqlite has no default vfs\"");
		return ERR_DB;
	}
	if (sqlite3_open_v2(path, &db, flags, SQ_VFS_NAME) != SQLITE_OK) {
		log_error("msg=\"cannot open database\" err=\"%s\"", db ? sqlite3_errmsg(db) : "?");
		sqlite3_close(db);
		return ERR_DB;
	}
	sqlite3_busy_timeout(db, 10000);
	sqlite3_extended_result_codes(db, 1);
	*out = db;
	return 0;
}

static int sq_migrate(struct sq *s)
{
	sqlite3_stmt *st = NULL;
	int v = 0, rc = 0;
	char sql[64];

	if (sqlite3_prepare_v2(s->wdb, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return ERR_DB;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v > SQ_SCHEMA_VERSION) {
		log_error("msg=\"database schema is newer than this fhird\" schema=%d supported=%d", v,
			  SQ_SCHEMA_VERSION);
		return ERR_DB;
	}
	for (; v < SQ_SCHEMA_VERSION; v++) {
		rc = sq_exec(s->wdb, "BEGIN IMMEDIATE");
		if (rc)
			return rc;
		rc = sq_exec(s->wdb, sq_migrations[v]);
		if (!rc) {
			snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
			rc = sq_exec(s->wdb, sql);
		}
		if (rc) {
			sq_exec(s->wdb, "ROLLBACK");
			return rc;
		}
		rc = sq_exec(s->wdb, "COMMIT");
		if (rc)
			return rc;
		log_info("msg=\"database migrated\" schema=%d", v + 1);
	}
	s->schema_version = SQ_SCHEMA_VERSION;
	return 0;
}

int64_t sq_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- reads ------------------------------------------------------------ */

_Static_assert(SQ_NREAD <= SQ_NREAD_STMTS, "reader statement slots");
_Static_assert(SQ_NWRITE <= SQ_NWRITE_STMTS, "writer statement slots");

struct sq_reader *sq_reader_get(struct sq *s)
{
	struct sq_reader *r;
	int64_t dl = store_deadline_current();

	pthread_mutex_lock(&s->rlock);
	while (!s->free_readers)
		pthread_cond_wait(&s->rcond, &s->rlock);
	r = s->free_readers;
	s->free_readers = r->next_free;
	pthread_mutex_unlock(&s->rlock);
	/* the request's deadline, or a whole timeout for this call alone */
	r->deadline_us = dl ? dl : s->timeout_us ? store_mono_us() + s->timeout_us : 0;
	return r;
}

/* SQLite's progress handler on read connections: nonzero interrupts the
 * running statement (SQLITE_INTERRUPT). Called every SQ_PROGRESS_STEPS
 * virtual-machine instructions, i.e. every few microseconds of work: the
 * clock read is a vDSO call, cheap at that interval. */
#define SQ_PROGRESS_STEPS 1000
static int sq_progress(void *arg)
{
	const struct sq_reader *r = arg;
	return r->deadline_us != 0 && store_mono_us() >= r->deadline_us;
}

int sq_read_error(sqlite3 *db, const char *what)
{
	if (sqlite3_errcode(db) == SQLITE_INTERRUPT) {
		log_info("msg=\"statement time limit reached\" in=%s", what);
		return ERR_TOOCOSTLY;
	}
	log_error("msg=\"%s failed\" err=\"%s\"", what, sqlite3_errmsg(db));
	return ERR_DB;
}

void sq_reader_put(struct sq *s, struct sq_reader *r)
{
	pthread_mutex_lock(&s->rlock);
	r->next_free = s->free_readers;
	s->free_readers = r;
	pthread_cond_signal(&s->rcond);
	pthread_mutex_unlock(&s->rlock);
}

/* Copies a row of SQ_COLS into out (body malloc'd). */
int sq_row_version(sqlite3_stmt *st, store_version_t *out)
{
	const unsigned char *t = sqlite3_column_text(st, 0), *id = sqlite3_column_text(st, 1),
			    *m = sqlite3_column_text(st, 5);
	const void *body;
	int blen;

	memset(out, 0, sizeof *out);
	snprintf(out->type, sizeof out->type, "%s", t ? (const char *)t : "");
	snprintf(out->id, sizeof out->id, "%s", id ? (const char *)id : "");
	out->vid = sqlite3_column_int64(st, 2);
	out->seq = sqlite3_column_int64(st, 3);
	out->updated_us = sqlite3_column_int64(st, 4);
	snprintf(out->method, sizeof out->method, "%s", m ? (const char *)m : "");
	out->deleted = sqlite3_column_int(st, 6);
	body = sqlite3_column_blob(st, 7);
	blen = sqlite3_column_bytes(st, 7);
	if (body && !out->deleted) {
		out->body = malloc((size_t)blen + 1);
		if (!out->body)
			return ERR_NOMEM;
		memcpy(out->body, body, (size_t)blen);
		out->body[blen] = '\0';
		out->body_len = (size_t)blen;
	}
	return 0;
}

static int sq_read_common(struct sq *s, enum sq_read_stmt which, const char *type, const char *id, int64_t vid,
			  store_version_t *out)
{
	struct sq_reader *r = sq_reader_get(s);
	sqlite3_stmt *st = r->st[which];
	int rc, step;

	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (which == SQ_VREAD)
		sqlite3_bind_int64(st, 3, vid);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		rc = sq_row_version(st, out);
		if (!rc && out->deleted)
			rc = ERR_GONE;
	} else if (step == SQLITE_DONE) {
		rc = ERR_NOTFOUND;
	} else {
		rc = sq_read_error(r->db, "read");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sq_reader_put(s, r);
	return rc;
}

static int sq_read(void *impl, const char *type, const char *id, store_version_t *out)
{
	return sq_read_common(impl, SQ_READ, type, id, 0, out);
}

static int sq_vread(void *impl, const char *type, const char *id, int64_t vid, store_version_t *out)
{
	return sq_read_common(impl, SQ_VREAD, type, id, vid, out);
}

/* History: the WHERE clause is assembled from fixed fragments only; every
 * value is bound. Parameter numbers are fixed so that the same binding
 * code serves every combination. */
static int sq_history(void *impl, const store_history_q *q, store_history_page *out)
{
	struct sq *s = impl;
	struct sq_reader *r = sq_reader_get(s);
	sqlite3_stmt *st = NULL;
	char sql[1024];
	size_t cap, n = 0;
	int rc = 0, step, newer = q->after_seq > 0;
	int64_t snap = q->snapshot_seq;
	store_version_t *items = NULL;

	memset(out, 0, sizeof *out);
	if (snap <= 0) {
		/* First page: fix the snapshot so later pages do not shift. */
		if (sqlite3_prepare_v2(r->db, "SELECT COALESCE(MAX(seq), 0) FROM version", -1, &st, NULL) != SQLITE_OK)
			goto dberr;
		if (sqlite3_step(st) != SQLITE_ROW)
			goto dberr;
		snap = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
	}
	{
		const struct sq_frag frags[] = {
			{ q->type != NULL, " AND v.type = ?2" },
			{ q->id != NULL, " AND v.id = ?3" },
			{ q->since_us != INT64_MIN, " AND v.updated_us >= ?4" },
			{ q->at_lo_us != INT64_MIN,
			  " AND v.updated_us <= ?6 AND NOT EXISTS (SELECT 1 FROM version n WHERE n.type = v.type "
			  "AND n.id = v.id AND n.vid = v.vid + 1 AND n.updated_us <= ?5)" },
			{ newer, " AND v.seq > ?7" },
			{ !newer && q->before_seq > 0, " AND v.seq < ?8" },
		};
		if (sq_sql_build(sql, sizeof sql, "SELECT " SQ_COLS " FROM version v WHERE v.seq <= ?1", frags,
				 sizeof frags / sizeof frags[0],
				 newer ? " ORDER BY v.seq ASC LIMIT ?9" : " ORDER BY v.seq DESC LIMIT ?9"))
			goto dberr;
	}
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, snap);
	if (q->type)
		sqlite3_bind_text(st, 2, q->type, -1, SQLITE_STATIC);
	if (q->id)
		sqlite3_bind_text(st, 3, q->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, q->since_us);
	sqlite3_bind_int64(st, 5, q->at_lo_us);
	sqlite3_bind_int64(st, 6, q->at_hi_us);
	sqlite3_bind_int64(st, 7, q->after_seq);
	sqlite3_bind_int64(st, 8, q->before_seq);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)q->count + 1);

	cap = q->count + 1;
	items = calloc(cap, sizeof *items);
	if (!items) {
		rc = ERR_NOMEM;
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap)
			break;
		rc = sq_row_version(st, &items[n]);
		n++;
		if (rc)
			goto out;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		goto dberr;

	out->snapshot_seq = snap;
	if (n > q->count) {
		store_version_clear(&items[n - 1]);
		n--;
		if (newer)
			out->has_newer = 1;
		else
			out->has_older = 1;
	}
	if (newer) {
		/* Fetched ascending; pages are always newest first. */
		for (size_t i = 0; i < n / 2; i++) {
			store_version_t t = items[i];
			items[i] = items[n - 1 - i];
			items[n - 1 - i] = t;
		}
		out->has_older = 1; /* the page we came from */
	} else {
		out->has_newer = q->before_seq > 0;
	}
	out->items = items;
	out->n = n;
	items = NULL;
	goto out;

dberr:
	rc = sq_read_error(r->db, "history");
out:
	if (items) {
		for (size_t i = 0; i < n; i++)
			store_version_clear(&items[i]);
		free(items);
	}
	sqlite3_finalize(st);
	sq_reader_put(s, r);
	return rc;
}

/* Conditional matching runs the criteria as a search, on the connection
 * given (a reader's, or the writer's inside its transaction). */
static int sq_match_run(sqlite3 *db, const store_cond *c, char (*ids)[65], size_t max, size_t *n)
{
	*n = 0;
	if (!c->q || c->q->nclauses == 0)
		return ERR_INVALID; /* no criteria would match everything: refuse */
	return sq_search_ids(db, c->q, c->comp_id, ids, max, n);
}

static int sq_match(void *impl, const char *type, const store_cond *c, char (*ids)[65], size_t max, size_t *n)
{
	struct sq *s = impl;
	struct sq_reader *r = sq_reader_get(s);
	int rc = sq_match_run(r->db, c, ids, max, n);
	sq_reader_put(s, r);
	return rc;
}

/* ---- writes ----------------------------------------------------------- */

static void sq_op_reset(store_op_t *op)
{
	store_version_clear(&op->result);
	memset(&op->result, 0, sizeof op->result);
	op->status = 0;
	op->created = 0;
	op->noop = 0;
	op->matches = 0;
}


/* Writes one version of (type, id): the core of every operation. */
static int sq_write_version(struct sq *s, store_op_t *op, const char *id, int deleted)
{
	sqlite3_stmt *cur = s->wst[SQ_W_CUR], *ins = s->wst[SQ_W_INS_VER], *ups = s->wst[SQ_W_UPS_CUR];
	int64_t cur_vid = 0, cur_seq = 0, vid, now;
	int cur_deleted = 0, exists = 0, step, rc = 0;
	char lu[40];
	char *body = NULL;
	size_t blen = 0;

	sqlite3_bind_text(cur, 1, op->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(cur, 2, id, -1, SQLITE_STATIC);
	step = sqlite3_step(cur);
	if (step == SQLITE_ROW) {
		exists = 1;
		cur_vid = sqlite3_column_int64(cur, 0);
		cur_deleted = sqlite3_column_int(cur, 1);
		cur_seq = sqlite3_column_int64(cur, 2);
	}
	sqlite3_reset(cur);
	sqlite3_clear_bindings(cur);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		goto dberr;
	if (op->guard_patient && exists && !cur_deleted) {
		/* A confined writer may only change what is in its patient's
		 * compartment now - checked here, in the transaction, so no
		 * concurrent write can slip between the check and the write. */
		int member = 0;
		if (!strcmp(op->type, "Patient"))
			member = !strcmp(id, op->guard_patient);
		else if (sq_comp_member_db(s->wdb, op->type, cur_seq, op->guard_patient, &member))
			goto dberr;
		if (!member && deleted) {
			/* For this token the resource does not exist, and deleting
			 * what does not exist is a no-op (http.html#delete): the
			 * same answer as for a missing id, so ids cannot be probed. */
			op->noop = 1;
			return 0;
		}
		if (!member)
			return ERR_FORBIDDEN;
	}
	if (op->guard_patient && op->kind == STORE_OP_UPDATE && (!exists || cur_deleted)) {
		/* No update-as-create for a confined writer: a client-chosen id
		 * that is free (201) and one taken by another patient (403) would
		 * answer differently. It creates with POST instead. */
		return ERR_FORBIDDEN;
	}

	if (op->if_match > 0 && (!exists || cur_deleted || cur_vid != op->if_match))
		return ERR_PRECONDITION;
	if (op->kind == STORE_OP_CREATE && exists)
		return ERR_CONFLICT;
	if (deleted && (!exists || cur_deleted)) {
		op->noop = 1;
		return 0;
	}
	vid = exists ? cur_vid + 1 : 1;
	now = sq_now_us();
	if (now <= s->last_us)
		now = s->last_us + 1;
	s->last_us = now;
	valid_instant_format(now, lu);
	if (!deleted) {
		rc = op->render(op->render_ctx, id, vid, lu, &body, &blen);
		if (rc)
			goto out;
	}

	sqlite3_bind_text(ins, 1, op->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 3, vid);
	sqlite3_bind_int64(ins, 4, now);
	sqlite3_bind_text(ins, 5, op->method, -1, SQLITE_STATIC);
	sqlite3_bind_int(ins, 6, deleted);
	if (body)
		sqlite3_bind_blob(ins, 7, body, (int)blen, SQLITE_STATIC);
	else
		sqlite3_bind_null(ins, 7);
	step = sqlite3_step(ins);
	sqlite3_reset(ins);
	sqlite3_clear_bindings(ins);
	if (step != SQLITE_DONE)
		goto dberr;

	store_version_clear(&op->result);
	op->result.seq = sqlite3_last_insert_rowid(s->wdb);
	sqlite3_bind_text(ups, 1, op->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(ups, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ups, 3, vid);
	sqlite3_bind_int64(ups, 4, op->result.seq);
	sqlite3_bind_int(ups, 5, deleted);
	step = sqlite3_step(ups);
	sqlite3_reset(ups);
	sqlite3_clear_bindings(ups);
	if (step != SQLITE_DONE)
		goto dberr;
	/* the index holds current, live versions only (backend.h); with
	 * deferred rows, a version replaced within the same job never gets
	 * its rows (sq_index_write_ops) */
	if (exists && !cur_deleted && sq_index_drop(s, cur_seq))
		goto dberr;
	if (!deleted && !s->defer_rows && (rc = sq_index_write(s, op->result.seq, id, op->rows, op->nrows)) != 0)
		goto out;

	snprintf(op->result.type, sizeof op->result.type, "%s", op->type);
	snprintf(op->result.id, sizeof op->result.id, "%s", id);
	snprintf(op->result.method, sizeof op->result.method, "%s", op->method);
	op->result.vid = vid;
	op->result.updated_us = now;
	op->result.deleted = deleted;
	op->result.body = body;
	op->result.body_len = blen;
	body = NULL;
	op->created = !exists || cur_deleted;
	goto out;

dberr:
	log_error("msg=\"write failed\" err=\"%s\"", sqlite3_errmsg(s->wdb));
	rc = ERR_DB;
out:
	free(body);
	return rc;
}

/* The current version of (type, id) into op->result (conditional create
 * that matched: the answer is the existing resource). */
static int sq_read_current(struct sq *s, store_op_t *op, const char *id)
{
	sqlite3_stmt *st = s->wst[SQ_W_READ];
	int rc = ERR_NOTFOUND;

	sqlite3_bind_text(st, 1, op->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		store_version_clear(&op->result);
		rc = sq_row_version(st, &op->result);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Applies one operation inside the open transaction. */
static int sq_apply(struct sq *s, store_op_t *op)
{
	char ids[2][65];
	char (*many)[65] = NULL;
	size_t n = 0;
	const char *id = op->id;
	int rc = 0, deleted = op->kind == STORE_OP_DELETE;

	sq_op_reset(op);
	if (op->kind < STORE_OP_CREATE || op->kind > STORE_OP_DELETE) {
		rc = ERR_INTERNAL;
		goto out;
	}
	if (op->cond) {
		size_t max = deleted && op->cond_multiple ? 100000 : 2;
		char (*buf)[65] = ids;
		if (max > 2) {
			many = malloc(max * sizeof *many);
			if (!many) {
				rc = ERR_NOMEM;
				goto out;
			}
			buf = many;
		}
		rc = sq_match_run(s->wdb, op->cond, buf, max,
				  &n);
		if (rc)
			goto out;
		op->matches = (unsigned)n;
		if (op->cond_expect &&
		    ((op->cond_expect == 1 && n != 0) ||
		     (op->cond_expect == 2 && (n != 1 || !id || strcmp(buf[0], id) != 0)))) {
			rc = ERR_CONFLICT;
			goto out;
		}
		if (n > 1 && !(deleted && op->cond_multiple)) {
			rc = ERR_PRECONDITION;
			goto out;
		}
		if (n == 0 && deleted) {
			op->noop = 1;
			goto out;
		}
		if (n >= 1 && op->kind == STORE_OP_CREATE) {
			/* http.html#ccreate: one match -> nothing is written */
			op->noop = 1;
			rc = sq_read_current(s, op, buf[0]);
			goto out;
		}
		if (n == 1 && op->kind == STORE_OP_UPDATE) {
			if (op->id_fixed && id && strcmp(id, buf[0]) != 0) {
				rc = ERR_INVALID;
				goto out;
			}
		}
		if (deleted) {
			for (size_t i = 0; i < n && !rc; i++)
				rc = sq_write_version(s, op, buf[i], 1);
			goto out;
		}
		if (n == 1)
			id = buf[0]; /* UPDATE: the match is the resource to update */
	}
	if (!id) {
		rc = ERR_INTERNAL;
		goto out;
	}
	rc = sq_write_version(s, op, id, deleted);
out:
	free(many);
	op->status = rc;
	return rc;
}

/* Runs one job inside the batch transaction, isolated by a savepoint. */
static void sq_run_job(struct sq *s, struct sq_job *j)
{
	int rc = 0, failed = 0;

	if (sq_exec(s->wdb, "SAVEPOINT job")) {
		j->rc = ERR_DB;
		return;
	}
	/* A conditional op searches the indexes inside the transaction and
	 * must see the rows of the ops before it: write rows as we go then.
	 * Otherwise defer them to the end of the job and write them sorted. */
	s->defer_rows = j->n > 1;
	for (size_t i = 0; i < j->n && s->defer_rows; i++)
		if (j->ops[i].cond)
			s->defer_rows = 0;
	for (size_t i = 0; i < j->n; i++) {
		if (j->atomic) {
			rc = sq_apply(s, &j->ops[i]);
			if (rc)
				break;
			continue;
		}
		/* batch semantics: each op on its own */
		if (sq_exec(s->wdb, "SAVEPOINT op")) {
			rc = ERR_DB;
			break;
		}
		if (sq_apply(s, &j->ops[i])) {
			sq_exec(s->wdb, "ROLLBACK TO op");
			if (j->ops[i].status == ERR_DB)
				failed = 1;
		}
		sq_exec(s->wdb, "RELEASE op");
	}
	if (!rc && !failed && s->defer_rows) {
		rc = sq_index_write_ops(s, j->ops, j->n);
		if (rc)
			for (size_t i = 0; i < j->n; i++)
				j->ops[i].status = j->ops[i].status ? j->ops[i].status : rc;
	}
	s->defer_rows = 0;
	if (rc || failed) {
		sq_exec(s->wdb, "ROLLBACK TO job");
		for (size_t i = 0; i < j->n; i++) {
			int st = j->ops[i].status;
			unsigned matches = j->ops[i].matches; /* explains a 412 */
			sq_op_reset(&j->ops[i]);
			j->ops[i].status = st;
			j->ops[i].matches = matches;
		}
	}
	sq_exec(s->wdb, "RELEASE job");
	j->rc = rc ? rc : failed ? ERR_DB : 0;
}

static void *sq_writer_main(void *arg)
{
	struct sq *s = arg;

	for (;;) {
		struct sq_job *batch, *last, *j;
		size_t ops = 0;
		int rc;

		pthread_mutex_lock(&s->wlock);
		while (!s->qhead && !s->closing)
			pthread_cond_wait(&s->wcond, &s->wlock);
		if (!s->qhead) {
			pthread_mutex_unlock(&s->wlock);
			break;
		}
		/* Take whole jobs up to batch_max operations (at least one job). */
		batch = last = s->qhead;
		ops = last->n;
		while (last->next && ops + last->next->n <= s->batch_max) {
			last = last->next;
			ops += last->n;
		}
		s->qhead = last->next;
		if (!s->qhead)
			s->qtail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->wlock);

		rc = sq_exec(s->wdb, "BEGIN IMMEDIATE");
		if (!rc) {
			for (j = batch; j; j = j->next)
				sq_run_job(s, j);
			rc = sq_exec(s->wdb, "COMMIT");
			if (rc)
				sq_exec(s->wdb, "ROLLBACK");
		}
		if (rc) {
			/* Nothing of this batch is durable: fail every job. */
			for (j = batch; j; j = j->next) {
				for (size_t i = 0; i < j->n; i++) {
					sq_op_reset(&j->ops[i]);
					j->ops[i].status = ERR_DB;
				}
				j->rc = ERR_DB;
			}
		}

		pthread_mutex_lock(&s->wlock);
		for (j = batch; j;) {
			struct sq_job *next = j->next;
			j->done = 1;
			/* j lives on its submitter's stack; it cannot return before we
			 * release wlock, so signalling here is safe */
			pthread_cond_signal(&j->cond);
			j = next;
		}
		pthread_mutex_unlock(&s->wlock);
	}
	return NULL;
}

static int sq_commit(void *impl, store_op_t *ops, size_t n, int atomic)
{
	struct sq *s = impl;
	struct sq_job j = { .ops = ops, .n = n, .atomic = atomic };

	if (n == 0)
		return 0;
	pthread_cond_init(&j.cond, NULL);
	pthread_mutex_lock(&s->wlock);
	if (s->closing) {
		pthread_mutex_unlock(&s->wlock);
		pthread_cond_destroy(&j.cond);
		return ERR_BUSY;
	}
	if (s->qtail)
		s->qtail->next = &j;
	else
		s->qhead = &j;
	s->qtail = &j;
	pthread_cond_signal(&s->wcond);
	while (!j.done)
		pthread_cond_wait(&j.cond, &s->wlock);
	pthread_mutex_unlock(&s->wlock);
	pthread_cond_destroy(&j.cond);
	return j.rc;
}

/* ---- open / close ----------------------------------------------------- */

static void sq_close(void *impl)
{
	struct sq *s = impl;
	if (!s)
		return;
	if (s->wthread_started) {
		pthread_mutex_lock(&s->wlock);
		s->closing = 1;
		pthread_cond_broadcast(&s->wcond);
		pthread_mutex_unlock(&s->wlock);
		pthread_join(s->wthread, NULL);
	}
	for (unsigned i = 0; i < s->nreaders; i++) {
		sq_stmt_cache_fini(&s->readers[i].cache);
		for (int k = 0; k < SQ_NREAD; k++)
			sqlite3_finalize(s->readers[i].st[k]);
		sqlite3_close(s->readers[i].db);
	}
	free(s->readers);
	/* before the writer's connection, so that the last one to close (which
	 * checkpoints the WAL) is still the writer's */
	sq_auth_close(s);
	sq_audit_close(s);
	if (s->wdb && sq_index_pt_close(s))
		log_error("msg=\"the patient-token index is completed at the next open\"");
	for (int k = 0; k < SQ_NWRITE; k++)
		sqlite3_finalize(s->wst[k]);
	for (size_t k = 0; k < sizeof s->ist / sizeof s->ist[0]; k++) {
		sqlite3_finalize(s->ist[k]);
		sqlite3_finalize(s->idel[k]);
	}
	if (s->wdb) {
		/* A clean close checkpoints the WAL into the main file. */
		sqlite3_close(s->wdb);
	}
	pthread_mutex_destroy(&s->rlock);
	pthread_cond_destroy(&s->rcond);
	pthread_mutex_destroy(&s->wlock);
	pthread_cond_destroy(&s->wcond);
	free(s);
}

/* Creates the directory of the database file when it is missing (0700:
 * the database holds health data and signing keys), so that a first
 * `serve`, `import` or admin command on a fresh machine works. */
static void sq_db_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		log_warn("msg=\"cannot create database directory\" errno=%d", errno);
}

int sq_sql_build(char *out, size_t cap, const char *head, const struct sq_frag *frags, size_t n, const char *tail)
{
	size_t len = 0;
	const char *parts[2] = { head, tail };

	for (size_t i = 0; i <= n + 1; i++) {
		const char *t = i == 0 ? parts[0] : i == n + 1 ? parts[1] : frags[i - 1].on ? frags[i - 1].text : "";
		size_t l = strlen(t);
		if (len + l >= cap)
			return ERR_INTERNAL;
		memcpy(out + len, t, l + 1);
		len += l;
	}
	return 0;
}

/* Process-wide SQLite settings, once, before the first connection: no
 * memory statistics (they take a global mutex on every allocation, which
 * every reader thread would contend on). */
static pthread_once_t sq_global_once = PTHREAD_ONCE_INIT;
static void sq_global_init(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_open(const store_options *o, void **out)
{
	struct sq *s = calloc(1, sizeof *s);
	int rc = ERR_DB;

	if (!s)
		return ERR_NOMEM;
	pthread_once(&sq_global_once, sq_global_init);
	sq_db_dir(o->path);
	/* Before any connection maps it: see sqlite_vfs.h. */
	sq_vfs_recache(o->path);
	pthread_mutex_init(&s->rlock, NULL);
	pthread_cond_init(&s->rcond, NULL);
	pthread_mutex_init(&s->wlock, NULL);
	pthread_cond_init(&s->wcond, NULL);
	s->batch_max = o->write_batch_max ? o->write_batch_max : 256;

	if (sqlite3_threadsafe() == 0) {
		log_error("msg=\"sqlite built without thread support\"");
		goto fail;
	}
	rc = sq_open_conn(o->path, 0, &s->wdb);
	if (rc)
		goto fail;
	rc = ERR_DB;
	/* FULL: the WAL is synced at every commit, so a 2xx is on disk. */
	if (sq_exec(s->wdb, "PRAGMA journal_mode = WAL") || sq_exec(s->wdb, "PRAGMA synchronous = FULL") ||
	    sq_exec(s->wdb, "PRAGMA foreign_keys = OFF") ||
	    /* The writer touches a dozen index b-trees per resource: keep their
	     * hot pages in memory, and checkpoint less often (each checkpoint
	     * is an extra fsync of the main file on the commit path). */
	    sq_exec(s->wdb, "PRAGMA cache_size = -65536") || sq_exec(s->wdb, "PRAGMA wal_autocheckpoint = 8192") ||
	    sq_exec(s->wdb, "PRAGMA mmap_size = 2147418112"))
		goto fail;
	rc = sq_migrate(s);
	if (rc)
		goto fail;
	rc = sq_auth_open(s, o->path);
	if (rc)
		goto fail;
	rc = sq_audit_open(s, o->path);
	if (rc)
		goto fail;
	for (int k = 0; k < SQ_NWRITE; k++)
		if (sqlite3_prepare_v3(s->wdb, sq_write_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &s->wst[k], NULL) !=
		    SQLITE_OK) {
			log_error("msg=\"prepare failed\" err=\"%s\"", sqlite3_errmsg(s->wdb));
			rc = ERR_DB;
			goto fail;
		}
	{
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(s->wdb, "SELECT COALESCE(MAX(updated_us), 0) FROM version", -1, &st, NULL) ==
			    SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			s->last_us = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}

	rc = sq_index_prepare(s);
	if (rc)
		goto fail;
	if (o->extract && !sq_index_check(s)) {
		size_t n = 0;
		log_info("msg=\"search indexes are missing or were built with another parameter table: rebuilding\"");
		rc = sq_reindex(s, o->extract, o->extract_ctx, &n);
		if (rc)
			goto fail;
		log_info("msg=\"search indexes rebuilt\" resources=%zu", n);
	}
	rc = sq_index_pt_open(s, o->bulk);
	if (rc)
		goto fail;

	s->timeout_us = (int64_t)o->statement_timeout_ms * 1000;
	s->nreaders = o->readers ? o->readers : 4;
	s->readers = calloc(s->nreaders, sizeof *s->readers);
	if (!s->readers) {
		rc = ERR_NOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < s->nreaders; i++) {
		struct sq_reader *r = &s->readers[i];
		rc = sq_open_conn(o->path, 1, &r->db);
		if (rc)
			goto fail;
		/* Searches touch pages all over the index b-trees: read them
		 * through a memory map rather than one pread(2) per page miss. */
		sqlite3_exec(r->db, "PRAGMA mmap_size = 2147418112", NULL, NULL, NULL);
		sqlite3_exec(r->db, "PRAGMA cache_size = -8192", NULL, NULL, NULL);
		sqlite3_progress_handler(r->db, SQ_PROGRESS_STEPS, sq_progress, r);
		for (int k = 0; k < SQ_NREAD; k++)
			if (sqlite3_prepare_v3(r->db, sq_read_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &r->st[k], NULL) !=
			    SQLITE_OK) {
				log_error("msg=\"prepare failed\" err=\"%s\"", sqlite3_errmsg(r->db));
				rc = ERR_DB;
				goto fail;
			}
		r->next_free = s->free_readers;
		s->free_readers = r;
	}
	if (pthread_create(&s->wthread, NULL, sq_writer_main, s) != 0) {
		rc = ERR_INTERNAL;
		goto fail;
	}
	s->wthread_started = 1;
	*out = s;
	return 0;
fail:
	sq_close(s);
	return rc;
}

static int sq_schema_version(void *impl)
{
	return ((struct sq *)impl)->schema_version;
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.commit = sq_commit,
	.read = sq_read,
	.vread = sq_vread,
	.history = sq_history,
	.match = sq_match,
	.schema_version = sq_schema_version,
	.search = sq_search,
	.referrers = sq_referrers,
	.reindex = sq_reindex,
	.index_hash = sq_index_hash,
	.auth_put = sq_auth_put,
	.auth_get = sq_auth_get,
	.auth_del = sq_auth_del,
	.auth_list = sq_auth_list,
	.auth_revoked = sq_auth_revoked,
	.auth_expire_family = sq_auth_expire_family,
	.auth_purge = sq_auth_purge,
	.compartment_member = sq_compartment_member,
	.audit_append = sq_audit_append,
	.audit_get = sq_audit_get,
	.audit_search = sq_audit_search,
	.audit_walk = sq_audit_walk,
};
