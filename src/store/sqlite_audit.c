/*
 * sqlite_audit.c - the audit trail of store.h in a SQLite database of its
 * own, next to the main one ("fhird.db" -> "fhird-audit.db").
 *
 * Workload: one writer (the audit module's background thread) appending
 * batches of a few to a few thousand records, every 10 ms under load; rare
 * reads (an auditor's searches, `fhird audit verify` walking it all).
 *
 * Why a file of its own: every commit to a SQLite database makes every
 * other connection to it drop its page cache at its next transaction (WAL
 * readers check the WAL header and reset when it changed), so appending
 * the trail to the resources' file made every FHIR read re-read its
 * b-tree pages: measured on the token read of bench/run.sh at 2,700
 * requests/s, median latency 0.5 ms without the trail, 1.3 ms with it in
 * the same file, 0.5 ms with it in its own file. Nothing needs both in one
 * transaction: the trail is written after the answer anyway. The price: two
 * files to back up together (docs/audit.md).
 *
 * Writes go through one connection (s->udb, one appender at a time), with
 * synchronous=FULL: a batch is on disk when the call returns, and the
 * fsync is shared by the whole batch. Reads use one read-only connection
 * (s->urdb, one query at a time: they are rare), which never blocks the
 * writer (WAL).
 *
 * Schema (user_version 1): audit_event (below) and audit_meta(key, value)
 * for the head checkpoint ("audit_head": "<seq> <hex hash>").
 *
 * The chain: every append reads the head checkpoint inside its BEGIN
 * IMMEDIATE transaction, so appenders of several processes extend one
 * chain; the records get seq = head + 1, ... and hash = fn(prev, record);
 * the head moves in the same transaction. When the table does not end
 * where the head says (rows removed from or added to the tail by hand),
 * the append still continues from the head, numbering after the largest
 * seq present, so the damage stays visible to `fhird audit verify`
 * instead of being papered over.
 */
#include "backend.h"
#include "sqlite_int.h"

#include "core/err.h"
#include "core/log.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQU_SCHEMA_VERSION 1

static const char *const squ_migrations[SQU_SCHEMA_VERSION] = {
	/* 0 -> 1. seq is the chain's order and the AuditEvent id; it is given
	 * by the appender (not AUTOINCREMENT) because it continues from the
	 * head checkpoint, so that a cut-off tail leaves a gap instead of
	 * being silently reused. The triggers make the table append-only for
	 * every connection, ours included: changing a record takes a
	 * deliberate DROP TRIGGER first (which the hash chain then exposes).
	 * Indexes serve the search parameters, each ending in seq for the
	 * newest-first keyset pages. Every request inserts a row, so there
	 * are few, and all but one grow at their right edge (time; few
	 * clients; few types), dirtying a handful of pages per batch: only the
	 * patient index, the one auditors cannot do without ("who looked at
	 * my record"), takes inserts all over its pages. entity=Type/id is the
	 * type's index plus a filter on the id. */
	"CREATE TABLE audit_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE audit_event("
	"  seq INTEGER PRIMARY KEY,"
	"  recorded_us INTEGER NOT NULL,"
	"  kind INTEGER NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  outcome INTEGER NOT NULL,"
	"  action TEXT NOT NULL,"
	"  subtype TEXT NOT NULL,"
	"  outcome_desc TEXT NOT NULL,"
	"  client_id TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  fhir_user TEXT NOT NULL,"
	"  patient TEXT NOT NULL,"
	"  entity_type TEXT NOT NULL,"
	"  entity_id TEXT NOT NULL,"
	"  address TEXT NOT NULL,"
	"  observer TEXT NOT NULL,"
	"  issuer TEXT NOT NULL,"
	"  query TEXT,"
	"  prev BLOB NOT NULL,"
	"  hash BLOB NOT NULL);"
	"CREATE INDEX audit_event_patient ON audit_event(patient, seq) WHERE patient != '';"
	"CREATE INDEX audit_event_client ON audit_event(client_id, seq);"
	"CREATE INDEX audit_event_type ON audit_event(entity_type, seq) WHERE entity_type != '';"
	"CREATE INDEX audit_event_time ON audit_event(recorded_us);"
	"CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
	"  BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END;"
	"CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
	"  BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END;",
};

#define SQU_COLS                                                                                                      \
	"seq, recorded_us, kind, status, outcome, action, subtype, outcome_desc, client_id, subject, fhir_user, "     \
	"patient, entity_type, entity_id, address, observer, issuer, query, prev, hash"

enum squ_stmt { SQU_HEAD, SQU_MAX, SQU_INSERT, SQU_SET_HEAD, SQU_NSTMT };

static const char *const squ_sql[SQU_NSTMT] = {
	[SQU_HEAD] = "SELECT value FROM audit_meta WHERE key = 'audit_head'",
	[SQU_MAX] = "SELECT COALESCE(MAX(seq), 0) FROM audit_event",
	[SQU_INSERT] = "INSERT INTO audit_event(" SQU_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
		       "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
	[SQU_SET_HEAD] = "INSERT INTO audit_meta(key, value) VALUES('audit_head', ?1) "
			 "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
};

_Static_assert(SQU_NSTMT <= sizeof ((struct sq *)0)->ust / sizeof ((struct sq *)0)->ust[0], "audit statement slots");

/* "dir/name.db" -> "dir/name-audit.db"; any other name gets "-audit.db"
 * appended. */
static int squ_path(const char *path, char *out, size_t cap)
{
	size_t n = strlen(path);
	int w;

	if (n > 3 && !strcmp(path + n - 3, ".db"))
		w = snprintf(out, cap, "%.*s-audit.db", (int)(n - 3), path);
	else
		w = snprintf(out, cap, "%s-audit.db", path);
	return w < 0 || (size_t)w >= cap ? ERR_INVALID : 0;
}

static int squ_migrate(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int v = 0, rc;
	char sql[64];

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return ERR_DB;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v > SQU_SCHEMA_VERSION) {
		log_error("msg=\"audit database schema is newer than this fhird\" schema=%d supported=%d", v,
			  SQU_SCHEMA_VERSION);
		return ERR_DB;
	}
	for (; v < SQU_SCHEMA_VERSION; v++) {
		rc = sq_exec(db, "BEGIN IMMEDIATE");
		if (rc)
			return rc;
		rc = sq_exec(db, squ_migrations[v]);
		if (!rc) {
			snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
			rc = sq_exec(db, sql);
		}
		if (rc) {
			sq_exec(db, "ROLLBACK");
			return rc;
		}
		rc = sq_exec(db, "COMMIT");
		if (rc)
			return rc;
		log_info("msg=\"audit database migrated\" schema=%d", v + 1);
	}
	return 0;
}

int sq_audit_open(struct sq *s, const char *path)
{
	char apath[PATH_MAX];
	int rc;

	if (pthread_mutex_init(&s->ulock, NULL) != 0)
		return ERR_INTERNAL;
	if (pthread_mutex_init(&s->urlock, NULL) != 0) {
		pthread_mutex_destroy(&s->ulock);
		return ERR_INTERNAL;
	}
	s->ulocks_init = 1;
	rc = squ_path(path, apath, sizeof apath);
	if (!rc)
		rc = sq_open_conn(apath, 0, &s->udb);
	if (rc)
		return rc; /* sq_close() releases what was made */
	/* 16 KiB pages (only a new file takes them): a record is ~300 bytes
	 * and every page written is a WAL frame and a pwrite(2), then another
	 * at the checkpoint - fewer, larger pages measured 10-15 % less work
	 * per event. FULL: a batch acknowledged by this call survives power
	 * loss, and the fsync is paid once per batch on the background
	 * thread. The patient index takes inserts all over its pages: keep
	 * them in memory, and read the file through a map rather than a
	 * pread(2) per page. */
	if (sq_exec(s->udb, "PRAGMA page_size = 16384") || sq_exec(s->udb, "PRAGMA journal_mode = WAL") ||
	    sq_exec(s->udb, "PRAGMA synchronous = FULL") || sq_exec(s->udb, "PRAGMA wal_autocheckpoint = 2048") ||
	    sq_exec(s->udb, "PRAGMA cache_size = -32768") || sq_exec(s->udb, "PRAGMA mmap_size = 2147418112"))
		return ERR_DB;
	rc = squ_migrate(s->udb);
	if (rc)
		return rc;
	for (int k = 0; k < SQU_NSTMT; k++)
		if (sqlite3_prepare_v3(s->udb, squ_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &s->ust[k], NULL) != SQLITE_OK) {
			log_error("msg=\"prepare failed\" err=\"%s\"", sqlite3_errmsg(s->udb));
			return ERR_DB;
		}
	rc = sq_open_conn(apath, 1, &s->urdb);
	if (rc)
		return rc;
	sqlite3_exec(s->urdb, "PRAGMA mmap_size = 2147418112", NULL, NULL, NULL);
	return 0;
}

void sq_audit_close(struct sq *s)
{
	for (size_t k = 0; k < sizeof s->ust / sizeof s->ust[0]; k++) {
		sqlite3_finalize(s->ust[k]);
		s->ust[k] = NULL;
	}
	sq_stmt_cache_fini(&s->ucache);
	sqlite3_close(s->urdb);
	s->urdb = NULL;
	/* last, so that the closing writer checkpoints the WAL */
	sqlite3_close(s->udb);
	s->udb = NULL;
	if (s->ulocks_init) {
		pthread_mutex_destroy(&s->ulock);
		pthread_mutex_destroy(&s->urlock);
		s->ulocks_init = 0;
	}
}

static void squ_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int squ_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "<seq> <64 hex>" -> head. ERR_INVALID when malformed. */
static int squ_head_parse(const char *v, store_audit_head *h)
{
	char *end;
	long long seq;

	memset(h, 0, sizeof *h);
	if (!v || *v < '0' || *v > '9')
		return ERR_INVALID;
	seq = strtoll(v, &end, 10);
	if (*end != ' ' || strlen(end + 1) != 2 * STORE_AUDIT_HASH || seq < 0)
		return ERR_INVALID;
	end++;
	for (size_t i = 0; i < STORE_AUDIT_HASH; i++) {
		int hi = squ_hexval(end[2 * i]), lo = squ_hexval(end[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return ERR_INVALID;
		h->hash[i] = (unsigned char)(hi << 4 | lo);
	}
	h->seq = seq;
	h->present = 1;
	return 0;
}

/* The checkpoint through statement st (SQU_HEAD's text) on any connection. */
static int squ_head_read(sqlite3 *db, sqlite3_stmt *st, store_audit_head *h)
{
	int step = sqlite3_step(st), rc = 0;

	memset(h, 0, sizeof *h);
	if (step == SQLITE_ROW) {
		if (squ_head_parse((const char *)sqlite3_column_text(st, 0), h)) {
			/* a head we cannot read is treated as absent; verify says so */
			log_error("msg=\"audit head checkpoint is malformed\"");
			memset(h, 0, sizeof *h);
		}
	} else if (step != SQLITE_DONE) {
		log_error("msg=\"audit head read failed\" err=\"%s\"", sqlite3_errmsg(db));
		rc = ERR_DB;
	}
	sqlite3_reset(st);
	return rc;
}

static int squ_insert(struct sq *s, const store_audit_rec *r)
{
	sqlite3_stmt *st = s->ust[SQU_INSERT];
	const char *const text[] = { r->action,	    r->subtype,	  r->outcome_desc, r->client_id, r->subject,
				     r->fhir_user,  r->patient,	  r->entity_type,  r->entity_id, r->address,
				     r->observer,   r->issuer };
	int step;

	sqlite3_bind_int64(st, 1, r->seq);
	sqlite3_bind_int64(st, 2, r->recorded_us);
	sqlite3_bind_int(st, 3, r->kind);
	sqlite3_bind_int(st, 4, r->status);
	sqlite3_bind_int(st, 5, r->outcome);
	for (int i = 0; i < (int)(sizeof text / sizeof text[0]); i++)
		sqlite3_bind_text(st, 6 + i, text[i], -1, SQLITE_STATIC);
	if (r->query)
		sqlite3_bind_text(st, 18, r->query, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 18);
	sqlite3_bind_blob(st, 19, r->prev, STORE_AUDIT_HASH, SQLITE_STATIC);
	sqlite3_bind_blob(st, 20, r->hash, STORE_AUDIT_HASH, SQLITE_STATIC);
	step = sqlite3_step(st);
	squ_done(st);
	return step == SQLITE_DONE ? 0 : ERR_DB;
}

int sq_audit_append(void *impl, store_audit_rec *recs, size_t n, store_audit_hash_fn fn)
{
	struct sq *s = impl;
	store_audit_head head;
	unsigned char prev[STORE_AUDIT_HASH];
	char hv[40 + 2 * STORE_AUDIT_HASH];
	int64_t max = 0, next;
	int rc, step;
	size_t k;

	pthread_mutex_lock(&s->ulock);
	rc = sq_exec(s->udb, "BEGIN IMMEDIATE");
	if (rc)
		goto out;
	rc = squ_head_read(s->udb, s->ust[SQU_HEAD], &head);
	if (rc)
		goto rollback;
	step = sqlite3_step(s->ust[SQU_MAX]);
	if (step == SQLITE_ROW)
		max = sqlite3_column_int64(s->ust[SQU_MAX], 0);
	sqlite3_reset(s->ust[SQU_MAX]);
	if (step != SQLITE_ROW)
		goto dberr;
	if (max != head.seq)
		log_error("msg=\"audit table does not end at its head checkpoint: records were removed or added "
			  "outside fhird (fhird audit verify tells which)\" head=%" PRId64 " last=%" PRId64,
			  head.seq, max);
	memcpy(prev, head.hash, sizeof prev); /* zeros when absent */
	next = (max > head.seq ? max : head.seq) + 1;
	for (k = 0; k < n; k++) {
		store_audit_rec *r = &recs[k];
		r->seq = next++;
		memcpy(r->prev, prev, sizeof prev);
		fn(prev, r, r->hash);
		if (squ_insert(s, r))
			goto dberr;
		memcpy(prev, r->hash, sizeof prev);
	}
	{
		int pos = snprintf(hv, sizeof hv, "%" PRId64 " ", recs[n - 1].seq);
		for (k = 0; k < STORE_AUDIT_HASH; k++)
			snprintf(hv + pos + 2 * k, 3, "%02x", prev[k]);
	}
	sqlite3_bind_text(s->ust[SQU_SET_HEAD], 1, hv, -1, SQLITE_STATIC);
	step = sqlite3_step(s->ust[SQU_SET_HEAD]);
	squ_done(s->ust[SQU_SET_HEAD]);
	if (step != SQLITE_DONE)
		goto dberr;
	rc = sq_exec(s->udb, "COMMIT");
	if (rc)
		goto rollback;
	goto out;
dberr:
	log_error("msg=\"audit append failed\" err=\"%s\"", sqlite3_errmsg(s->udb));
	rc = ERR_DB;
rollback:
	sq_exec(s->udb, "ROLLBACK");
out:
	pthread_mutex_unlock(&s->ulock);
	return rc;
}

static void squ_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static void squ_blob32(sqlite3_stmt *st, int col, unsigned char out[STORE_AUDIT_HASH])
{
	const void *b = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);

	/* a hash of another length (tampering) compares unequal: zeros and the
	 * bytes there are, so verify reports it rather than reading past it */
	memset(out, 0, STORE_AUDIT_HASH);
	if (b && n > 0)
		memcpy(out, b, n < STORE_AUDIT_HASH ? (size_t)n : STORE_AUDIT_HASH);
}

/* A row of SQU_COLS into out (query malloc'd). */
static int squ_row(sqlite3_stmt *st, store_audit_rec *out)
{
	struct {
		char *dst;
		size_t cap;
	} text[] = {
		{ out->action, sizeof out->action },	     { out->subtype, sizeof out->subtype },
		{ out->outcome_desc, sizeof out->outcome_desc }, { out->client_id, sizeof out->client_id },
		{ out->subject, sizeof out->subject },	     { out->fhir_user, sizeof out->fhir_user },
		{ out->patient, sizeof out->patient },	     { out->entity_type, sizeof out->entity_type },
		{ out->entity_id, sizeof out->entity_id },	     { out->address, sizeof out->address },
		{ out->observer, sizeof out->observer },	     { out->issuer, sizeof out->issuer },
	};
	const unsigned char *q;

	memset(out, 0, sizeof *out);
	out->seq = sqlite3_column_int64(st, 0);
	out->recorded_us = sqlite3_column_int64(st, 1);
	out->kind = sqlite3_column_int(st, 2);
	out->status = sqlite3_column_int(st, 3);
	out->outcome = sqlite3_column_int(st, 4);
	for (int i = 0; i < (int)(sizeof text / sizeof text[0]); i++)
		squ_text(st, 5 + i, text[i].dst, text[i].cap);
	q = sqlite3_column_text(st, 17);
	if (q && !(out->query = strdup((const char *)q)))
		return ERR_NOMEM;
	squ_blob32(st, 18, out->prev);
	squ_blob32(st, 19, out->hash);
	return 0;
}

int sq_audit_get(void *impl, int64_t seq, store_audit_rec *out)
{
	static const char sql[] = "SELECT " SQU_COLS " FROM audit_event WHERE seq = ?1";
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	int rc, step;

	pthread_mutex_lock(&s->urlock);
	if (sq_stmt_get(&s->ucache, s->urdb, sql, &st))
		goto dberr;
	sqlite3_bind_int64(st, 1, seq);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = squ_row(st, out);
	else if (step == SQLITE_DONE)
		rc = ERR_NOTFOUND;
	else
		goto dberr;
	goto out;
dberr:
	log_error("msg=\"audit read failed\" err=\"%s\"", sqlite3_errmsg(s->urdb));
	rc = ERR_DB;
out:
	sq_stmt_release(&s->ucache, st);
	pthread_mutex_unlock(&s->urlock);
	return rc;
}

/* The WHERE clause is assembled from fixed fragments; every value is
 * bound, at a fixed parameter number per condition. */
int sq_audit_search(void *impl, const store_audit_q *q, store_audit_page *out)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	char sql[1024];
	size_t cap = (size_t)q->count + 1, n = 0;
	int rc = 0, step;

	/* Only these literals ever enter the SQL text (values are bound). */
	const struct sq_frag conds[] = {
		{ q->seq > 0, " AND seq = ?1" },
		{ q->before_seq > 0, " AND seq < ?2" },
		{ q->date_lo != INT64_MIN, " AND recorded_us >= ?3" },
		{ q->date_hi != INT64_MAX, " AND recorded_us <= ?4" },
		{ q->patient != NULL, " AND patient = ?5" },
		{ q->agent != NULL, " AND (client_id = ?6 OR fhir_user = ?6 OR subject = ?6)" },
		{ q->entity_type != NULL, " AND entity_type = ?7" },
		{ q->entity_id != NULL, " AND entity_id = ?8" },
		{ q->subtype != NULL, " AND subtype = ?9" },
		{ q->action != NULL, " AND action = ?10" },
		{ q->outcome >= 0, " AND outcome = ?11" },
	};

	if (sq_sql_build(sql, sizeof sql, "SELECT " SQU_COLS " FROM audit_event WHERE 1", conds,
			 sizeof conds / sizeof conds[0], " ORDER BY seq DESC LIMIT ?12"))
		return ERR_INTERNAL;
	out->items = calloc(cap, sizeof *out->items);
	if (!out->items)
		return ERR_NOMEM;
	pthread_mutex_lock(&s->urlock);
	if (sq_stmt_get(&s->ucache, s->urdb, sql, &st))
		goto dberr;
	sqlite3_bind_int64(st, 1, q->seq);
	sqlite3_bind_int64(st, 2, q->before_seq);
	sqlite3_bind_int64(st, 3, q->date_lo);
	sqlite3_bind_int64(st, 4, q->date_hi);
	if (q->patient)
		sqlite3_bind_text(st, 5, q->patient, -1, SQLITE_STATIC);
	if (q->agent)
		sqlite3_bind_text(st, 6, q->agent, -1, SQLITE_STATIC);
	if (q->entity_type)
		sqlite3_bind_text(st, 7, q->entity_type, -1, SQLITE_STATIC);
	if (q->entity_id)
		sqlite3_bind_text(st, 8, q->entity_id, -1, SQLITE_STATIC);
	if (q->subtype)
		sqlite3_bind_text(st, 9, q->subtype, -1, SQLITE_STATIC);
	if (q->action)
		sqlite3_bind_text(st, 10, q->action, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, q->outcome);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)cap);
	while (n < cap && (step = sqlite3_step(st)) == SQLITE_ROW) {
		rc = squ_row(st, &out->items[n]);
		n++;
		if (rc)
			goto out;
	}
	if (n < cap && step != SQLITE_DONE)
		goto dberr;
	if (n > q->count) {
		store_audit_rec_clear(&out->items[--n]);
		out->has_more = 1;
	}
	goto out;
dberr:
	log_error("msg=\"audit search failed\" err=\"%s\"", sqlite3_errmsg(s->urdb));
	rc = ERR_DB;
out:
	out->n = n;
	if (rc)
		store_audit_page_clear(out);
	sq_stmt_release(&s->ucache, st);
	pthread_mutex_unlock(&s->urlock);
	return rc;
}

int sq_audit_walk(void *impl, store_audit_head *head, store_audit_walk_fn fn, void *ctx)
{
	static const char rows_sql[] = "SELECT " SQU_COLS " FROM audit_event ORDER BY seq";
	struct sq *s = impl;
	sqlite3 *db = s->urdb;
	sqlite3_stmt *hst = NULL, *st = NULL;
	store_audit_rec rec;
	int rc = 0, step, began = 0;

	memset(&rec, 0, sizeof rec);
	pthread_mutex_lock(&s->urlock);
	/* One read transaction: the head and the rows are one snapshot, so a
	 * server appending meanwhile cannot make them disagree. */
	if (sq_exec(db, "BEGIN"))
		goto dberr;
	began = 1;
	if (sqlite3_prepare_v2(db, squ_sql[SQU_HEAD], -1, &hst, NULL) != SQLITE_OK)
		goto dberr;
	rc = squ_head_read(db, hst, head);
	if (rc)
		goto out;
	if (sqlite3_prepare_v2(db, rows_sql, -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		rc = squ_row(st, &rec);
		if (!rc)
			rc = fn(ctx, &rec);
		store_audit_rec_clear(&rec);
		if (rc)
			goto out;
	}
	if (step != SQLITE_DONE)
		goto dberr;
	goto out;
dberr:
	log_error("msg=\"audit walk failed\" err=\"%s\"", sqlite3_errmsg(db));
	rc = ERR_DB;
out:
	sqlite3_finalize(hst);
	sqlite3_finalize(st);
	if (began)
		sq_exec(db, "COMMIT");
	pthread_mutex_unlock(&s->urlock);
	return rc;
}
