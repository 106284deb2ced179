/*
 * sqlite_index.c - the search index tables of the SQLite backend: writing
 * the rows of a new version (inside the writer's transaction), rebuilding
 * every index (fhird reindex), and remembering which search-parameter
 * table the indexes were built with.
 *
 * Rows arrive already extracted (search/extract.h): extraction is CPU work
 * done by the request thread, so the single writer only inserts. Tables
 * and their keys are described with the migration in sqlite.c.
 */
#include "sqlite_int.h"

#include "backend.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "search/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* IX_PT first: its delete finds its rows through those of ix_tok and
 * ix_ref, so it runs before theirs (sq_index_drop). */
enum { IX_PT, IX_TOK, IX_STR, IX_REF, IX_DATE, IX_NUM, IX_URI, IX_COMP, IX_N };

/* The layout of the SQLite indexes: the shared one plus ix_pt (a database
 * built before ix_pt existed is reindexed at open, sq_index_check). */
#define SQ_INDEX_LAYOUT STORE_INDEX_LAYOUT "+pt"

static const char *const ix_sql[IX_N] = {
	[IX_PT] = "INSERT OR IGNORE INTO ix_pt(pat, p, code, rid, seq, sys) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[IX_TOK] = "INSERT OR IGNORE INTO ix_tok(p, code, seq, sys) VALUES(?1, ?2, ?3, ?4)",
	[IX_STR] = "INSERT OR IGNORE INTO ix_str(p, norm, seq, exact) VALUES(?1, ?2, ?3, ?4)",
	[IX_REF] = "INSERT OR IGNORE INTO ix_ref(p, tid, tt, seq, rid) VALUES(?1, ?2, ?3, ?4, ?5)",
	[IX_DATE] = "INSERT OR IGNORE INTO ix_date(p, lo, hi, seq) VALUES(?1, ?2, ?3, ?4)",
	[IX_NUM] = "INSERT OR IGNORE INTO ix_num(p, num, sys, code, seq) VALUES(?1, ?2, ?3, ?4, ?5)",
	[IX_URI] = "INSERT OR IGNORE INTO ix_uri(p, uri, seq) VALUES(?1, ?2, ?3)",
	[IX_COMP] = "INSERT INTO ix_comp(p, sys, code, seq, sys2, code2, num, lo, hi, str) "
		    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
};

/* each through the table's (seq, p) index; ix_pt has none (it would be
 * as large as the table): its keys are rebuilt from the version's ix_ref
 * rows to a Patient and its ix_tok rows, a superset of what ix_pt_write
 * wrote (keys that were never written delete nothing) */
static const char *const ix_del_sql[IX_N] = {
	[IX_PT] = "DELETE FROM ix_pt WHERE (pat, p, code, rid, seq, sys) IN (SELECT r.tid, t.p, t.code, r.rid, t.seq, "
		  "t.sys FROM ix_ref r JOIN ix_tok t ON t.seq = r.seq WHERE r.seq = ?1 AND r.tt = 'Patient')",
	[IX_TOK] = "DELETE FROM ix_tok WHERE seq = ?1",	 [IX_STR] = "DELETE FROM ix_str WHERE seq = ?1",
	[IX_REF] = "DELETE FROM ix_ref WHERE seq = ?1",	 [IX_DATE] = "DELETE FROM ix_date WHERE seq = ?1",
	[IX_NUM] = "DELETE FROM ix_num WHERE seq = ?1",	 [IX_URI] = "DELETE FROM ix_uri WHERE seq = ?1",
	[IX_COMP] = "DELETE FROM ix_comp WHERE seq = ?1",
};

int sq_index_prepare(struct sq *s)
{
	for (int k = 0; k < IX_N; k++)
		if (sqlite3_prepare_v3(s->wdb, ix_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &s->ist[k], NULL) !=
			    SQLITE_OK ||
		    sqlite3_prepare_v3(s->wdb, ix_del_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &s->idel[k], NULL) !=
			    SQLITE_OK) {
			log_error("msg=\"prepare failed\" err=\"%s\"", sqlite3_errmsg(s->wdb));
			return ERR_DB;
		}
	return 0;
}

int sq_index_drop(struct sq *s, int64_t seq)
{
	for (int k = 0; k < IX_N; k++) {
		sqlite3_stmt *st = s->idel[k];
		int step;
		sqlite3_bind_int64(st, 1, seq);
		step = sqlite3_step(st);
		sqlite3_reset(st);
		if (step != SQLITE_DONE)
			return ERR_DB;
	}
	return 0;
}

static void ix_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

static void ix_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Runs a bound insert and makes the statement ready for the next row. */
static int ix_step(struct sq *s, sqlite3_stmt *st)
{
	int step = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (step != SQLITE_DONE) {
		log_error("msg=\"index write failed\" err=\"%s\"", sqlite3_errmsg(s->wdb));
		return ERR_DB;
	}
	return 0;
}

static int ix_row(struct sq *s, int64_t seq, const char *id, const search_row *r)
{
	sqlite3_stmt *st;

	switch (r->kind) {
	case SEARCH_ROW_TOKEN:
	case SEARCH_ROW_OF_TYPE:
	case SEARCH_ROW_REF_IDENT:
		st = s->ist[IX_TOK];
		sqlite3_bind_int64(st, 1, r->kind == SEARCH_ROW_TOKEN	  ? (int64_t)r->p
					  : r->kind == SEARCH_ROW_OF_TYPE ? SQ_P_OFTYPE(r->p)
									  : SQ_P_REFID(r->p));
		ix_text(st, 2, r->code);
		sqlite3_bind_int64(st, 3, seq);
		ix_text(st, 4, r->sys);
		break;
	case SEARCH_ROW_STRING:
	case SEARCH_ROW_TOKEN_TEXT:
		st = s->ist[IX_STR];
		sqlite3_bind_int64(st, 1, r->kind == SEARCH_ROW_STRING ? (int64_t)r->p : SQ_P_TEXT(r->p));
		ix_text(st, 2, r->str);
		sqlite3_bind_int64(st, 3, seq);
		ix_text(st, 4, r->str2 ? r->str2 : r->str);
		break;
	case SEARCH_ROW_REFERENCE:
		st = s->ist[IX_REF];
		sqlite3_bind_int64(st, 1, r->p);
		ix_text(st, 2, r->code);
		ix_text(st, 3, r->sys);
		sqlite3_bind_int64(st, 4, seq);
		ix_text(st, 5, id);
		break;
	case SEARCH_ROW_DATE:
		st = s->ist[IX_DATE];
		sqlite3_bind_int64(st, 1, r->p);
		sqlite3_bind_int64(st, 2, r->lo);
		sqlite3_bind_int64(st, 3, r->hi);
		sqlite3_bind_int64(st, 4, seq);
		break;
	case SEARCH_ROW_NUMBER:
	case SEARCH_ROW_QUANTITY:
		st = s->ist[IX_NUM];
		sqlite3_bind_int64(st, 1, r->p);
		sqlite3_bind_double(st, 2, r->num);
		ix_text(st, 3, r->sys);
		ix_text(st, 4, r->code);
		sqlite3_bind_int64(st, 5, seq);
		break;
	case SEARCH_ROW_URI:
		st = s->ist[IX_URI];
		sqlite3_bind_int64(st, 1, r->p);
		ix_text(st, 2, r->str);
		sqlite3_bind_int64(st, 3, seq);
		break;
	case SEARCH_ROW_COMPOSITE:
		st = s->ist[IX_COMP];
		sqlite3_bind_int64(st, 1, r->p);
		ix_text(st, 2, r->sys);
		ix_text(st, 3, r->code);
		sqlite3_bind_int64(st, 4, seq);
		/* the second component: whichever parts the extractor filled */
		ix_text_or_null(st, 5, r->sys2 ? r->sys2 : r->sys3);
		ix_text_or_null(st, 6, r->code2 ? r->code2 : r->code3);
		if (r->sys3 || r->code3)
			sqlite3_bind_double(st, 7, r->num);
		else
			sqlite3_bind_null(st, 7);
		if (r->lo || r->hi) {
			sqlite3_bind_int64(st, 8, r->lo);
			sqlite3_bind_int64(st, 9, r->hi);
		} else {
			sqlite3_bind_null(st, 8);
			sqlite3_bind_null(st, 9);
		}
		ix_text_or_null(st, 10, r->str);
		break;
	default:
		return 0;
	}
	return ix_step(s, st);
}

/* 1 when parameter id p is a type's `patient` parameter, whose Patients
 * key ix_pt */
static int ix_is_patient_param(size_t p)
{
	return p < search_nparams && search_params[p].type == SEARCH_T_REFERENCE &&
	       !strcmp(search_params[p].code, "patient");
}

/* 1 when r places its resource in a patient's ix_pt rows: a value of
 * the type's `patient` parameter that is a Patient. */
static int ix_is_pat(const search_row *r)
{
	return r->kind == SEARCH_ROW_REFERENCE && ix_is_patient_param(r->p) && r->code && r->sys &&
	       !strcmp(r->sys, "Patient");
}

static int ix_pt_row(struct sq *s, const char *pat, int64_t seq, const char *id, const search_row *t)
{
	sqlite3_stmt *st = s->ist[IX_PT];

	ix_text(st, 1, pat);
	sqlite3_bind_int64(st, 2, t->p);
	ix_text(st, 3, t->code);
	ix_text(st, 4, id);
	sqlite3_bind_int64(st, 5, seq);
	ix_text(st, 6, t->sys);
	return ix_step(s, st);
}

/* ix_pt: one row per (patient of the resource, token row), so that
 * "this patient's resources with this code" is one range of the key
 * (sql_search.c, sqs_stream_pt). Plain token rows only: the :of-type and
 * :identifier rows are searched through ix_tok. */
static int ix_pt_write(struct sq *s, int64_t seq, const char *id, const search_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!ix_is_pat(&rows[i]))
			continue;
		for (size_t j = 0; j < n; j++) {
			int rc;
			if (rows[j].kind != SEARCH_ROW_TOKEN)
				continue;
			if ((rc = ix_pt_row(s, rows[i].code, seq, id, &rows[j])) != 0)
				return rc;
		}
	}
	return 0;
}

int sq_index_write(struct sq *s, int64_t seq, const char *id, const search_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = ix_row(s, seq, id, &rows[i]);
		if (rc)
			return rc;
	}
	return s->pt_bulk ? 0 : ix_pt_write(s, seq, id, rows, n);
}

struct ix_ref {
	int64_t seq;
	const char *id;
	const search_row *r;
};

static int ix_table_of(enum search_row_kind k)
{
	switch (k) {
	case SEARCH_ROW_TOKEN:
	case SEARCH_ROW_OF_TYPE:
	case SEARCH_ROW_REF_IDENT:
		return IX_TOK;
	case SEARCH_ROW_STRING:
	case SEARCH_ROW_TOKEN_TEXT:
		return IX_STR;
	case SEARCH_ROW_REFERENCE:
		return IX_REF;
	case SEARCH_ROW_DATE:
		return IX_DATE;
	case SEARCH_ROW_NUMBER:
	case SEARCH_ROW_QUANTITY:
		return IX_NUM;
	case SEARCH_ROW_URI:
		return IX_URI;
	default:
		return IX_COMP;
	}
}

static int ix_strcmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* Roughly the order of each table's key: table, p, first value column. */
static int ix_ref_cmp(const void *pa, const void *pb)
{
	const struct ix_ref *a = pa, *b = pb;
	int ta = ix_table_of(a->r->kind), tb = ix_table_of(b->r->kind), c;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	if (a->r->kind != b->r->kind)
		return a->r->kind < b->r->kind ? -1 : 1;
	if (a->r->p != b->r->p)
		return a->r->p < b->r->p ? -1 : 1;
	switch (ta) {
	case IX_TOK:
	case IX_REF:
	case IX_COMP:
		c = ix_strcmp(a->r->code, b->r->code);
		break;
	case IX_STR:
	case IX_URI:
		c = ix_strcmp(a->r->str, b->r->str);
		break;
	case IX_DATE:
		c = a->r->lo < b->r->lo ? -1 : a->r->lo > b->r->lo;
		break;
	default:
		c = a->r->num < b->r->num ? -1 : a->r->num > b->r->num;
		break;
	}
	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* (type, id, seq) order of the ops that wrote a version */
static int ix_op_cmp(const void *pa, const void *pb)
{
	const store_op_t *a = *(const store_op_t *const *)pa, *b = *(const store_op_t *const *)pb;
	int c = strcmp(a->result.type, b->result.type);

	if (!c)
		c = strcmp(a->result.id, b->result.id);
	if (!c)
		c = a->result.seq < b->result.seq ? -1 : a->result.seq > b->result.seq;
	return c;
}

/* live[i] = 1 when op i wrote a live version that no later op of the job
 * replaced (a job may create a resource and update it again). */
static int ix_live_ops(const store_op_t *ops, size_t n, unsigned char *live)
{
	const store_op_t **w = malloc((n ? n : 1) * sizeof *w);
	size_t m = 0;

	if (!w)
		return ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		live[i] = 0;
		if (!ops[i].status && !ops[i].noop && ops[i].result.seq > 0)
			w[m++] = &ops[i];
	}
	qsort(w, m, sizeof *w, ix_op_cmp);
	for (size_t i = 0; i < m; i++) {
		int last = i + 1 == m || strcmp(w[i]->result.type, w[i + 1]->result.type) ||
			   strcmp(w[i]->result.id, w[i + 1]->result.id);
		if (last && !w[i]->result.deleted)
			live[w[i] - ops] = 1;
	}
	free(w);
	return 0;
}

int sq_index_write_ops(struct sq *s, const store_op_t *ops, size_t n)
{
	struct ix_ref *v = NULL;
	unsigned char *live;
	size_t total = 0, k = 0;
	int rc = 0;

	live = malloc(n ? n : 1);
	if (!live)
		return ERR_NOMEM;
	if ((rc = ix_live_ops(ops, n, live)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (live[i])
			total += ops[i].nrows;
	if (!total)
		goto out;
	v = malloc(total * sizeof *v);
	if (!v) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!live[i])
			continue;
		for (size_t r = 0; r < ops[i].nrows; r++) {
			v[k].seq = ops[i].result.seq;
			v[k].id = ops[i].result.id;
			v[k].r = &ops[i].rows[r];
			k++;
		}
	}
	qsort(v, k, sizeof *v, ix_ref_cmp);
	for (size_t i = 0; i < k && !rc; i++)
		rc = ix_row(s, v[i].seq, v[i].id, v[i].r);
	/* ix_pt row by row: sorting a job's rows by ix_pt's key measured no
	 * faster (the cost is the pages dirtied all over the key; the bulk
	 * load avoids them altogether) */
	for (size_t i = 0; i < n && !rc && !s->pt_bulk; i++)
		if (live[i])
			rc = ix_pt_write(s, ops[i].result.seq, ops[i].result.id, ops[i].rows, ops[i].nrows);
out:
	free(v);
	free(live);
	return rc;
}

static int ix_meta_get(sqlite3 *db, const char *key, char *out, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	out[0] = '\0';
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		return ERR_DB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = ERR_DB;
	}
	sqlite3_finalize(st);
	return rc;
}

static int ix_meta_set(sqlite3 *db, const char *key, const char *value)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(db, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET "
				   "value = excluded.value",
			       -1, &st, NULL) != SQLITE_OK)
		return ERR_DB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ERR_DB;
	sqlite3_finalize(st);
	return rc;
}

int sq_index_hash(void *impl, char *out, size_t cap)
{
	struct sq *s = impl;
	return ix_meta_get(s->wdb, "search_params_hash", out, cap);
}

/* The reindex runs on the writer connection before the writer thread
 * starts or, for `fhird reindex`, on a store no server is using; either
 * way nothing else writes meanwhile. One transaction per batch of
 * resources keeps memory flat; the hash is recorded in the last one, so
 * an interrupted reindex is redone at the next start. */
int sq_reindex(void *impl, store_extract_fn fn, void *ctx, size_t *count)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	int rc = 0, step, in_tx = 0;
	size_t n = 0;
	static const char *const wipe = "DELETE FROM ix_tok; DELETE FROM ix_str; DELETE FROM ix_ref; "
					"DELETE FROM ix_date; DELETE FROM ix_num; DELETE FROM ix_uri; "
					"DELETE FROM ix_comp; DELETE FROM ix_pt;";

	*count = 0;
	if ((rc = sq_exec(s->wdb, "BEGIN IMMEDIATE")) != 0)
		return rc;
	in_tx = 1;
	if ((rc = sq_exec(s->wdb, wipe)) != 0)
		goto out;
	if (sqlite3_prepare_v2(s->wdb,
			       "SELECT c.type, c.seq, v.body, c.id FROM current c JOIN version v ON v.seq = c.seq "
			       "WHERE c.deleted = 0 ORDER BY c.seq",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = ERR_DB;
		goto out;
	}
	/* One read cursor over the snapshot of this transaction; inserting
	 * index rows does not disturb it (different tables). */
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		int64_t seq = sqlite3_column_int64(st, 1);
		const char *body = sqlite3_column_blob(st, 2);
		size_t blen = (size_t)sqlite3_column_bytes(st, 2);
		search_rows rows = { 0 };

		if (!body)
			continue;
		rc = fn(ctx, type, body, blen, &rows);
		if (!rc)
			rc = sq_index_write(s, seq, (const char *)sqlite3_column_text(st, 3), rows.v, rows.n);
		search_rows_clear(&rows);
		if (rc == ERR_INVALID || rc == ERR_UNPROCESSABLE) {
			/* a stored body we can no longer parse: keep going, say so */
			log_error("msg=\"reindex skipped a resource\" seq=%lld", (long long)seq);
			rc = 0;
			continue;
		}
		if (rc)
			goto out;
		n++;
	}
	if (step != SQLITE_DONE) {
		rc = ERR_DB;
		goto out;
	}
	rc = ix_meta_set(s->wdb, "search_params_hash", search_params_hash);
	if (!rc)
		rc = ix_meta_set(s->wdb, "index_layout", SQ_INDEX_LAYOUT);
	if (!rc && !s->pt_bulk)
		rc = sq_exec(s->wdb, "DELETE FROM meta WHERE key = 'ix_pt_pending'"); /* ix_pt is whole again */
out:
	sqlite3_finalize(st);
	if (in_tx) {
		if (!rc)
			rc = sq_exec(s->wdb, "COMMIT");
		if (rc)
			sq_exec(s->wdb, "ROLLBACK");
	}
	if (!rc)
		*count = n;
	return rc;
}

/* 1 when the indexes were built with this binary's parameter table. */
int sq_index_check(struct sq *s)
{
	char h[128];
	if (ix_meta_get(s->wdb, "search_params_hash", h, sizeof h) || strcmp(h, search_params_hash) != 0)
		return 0;
	if (ix_meta_get(s->wdb, "index_layout", h, sizeof h))
		return 0;
	return strcmp(h, SQ_INDEX_LAYOUT) == 0;
}

/* ---- ix_pt of a bulk load ------------------------------------------------ */

#define IX_PT_PENDING "ix_pt_pending"

/* Fills ix_pt for every seq >= from from the rows of ix_ref (the type's
 * `patient` parameter, to a Patient) and ix_tok (plain token rows: their p
 * is a parameter id, below the derived kinds' SQS_P_* offsets), what
 * ix_pt_write would have written row by row, sorted by ix_pt's key so that
 * the b-tree is appended to or merged into in order; and drops the marker,
 * in the same transaction. */
static int ix_pt_fill(struct sq *s, int64_t from)
{
	buf_t sql;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 rows;
	int rc = 0, k = 1;

	buf_init(&sql, 1 << 16);
	rc = buf_append_str(&sql, "INSERT OR IGNORE INTO ix_pt(pat, p, code, rid, seq, sys) SELECT r.tid, t.p, t.code, "
				  "r.rid, t.seq, t.sys FROM ix_ref r JOIN ix_tok t ON t.seq = r.seq WHERE r.seq >= ?1 "
				  "AND r.tt = 'Patient' AND t.p < ?2 AND r.p IN (-1");
	for (size_t i = 0; i < search_nparams && !rc; i++)
		if (ix_is_patient_param(i))
			rc = buf_append_str(&sql, ", ?");
	if (!rc)
		rc = buf_append_str(&sql, ") ORDER BY 1, 2, 3, 4, 5, 6");
	if (!rc)
		rc = buf_append_char(&sql, '\0');
	if (rc)
		goto out;
	if ((rc = sq_exec(s->wdb, "BEGIN IMMEDIATE")) != 0)
		goto out;
	if (sqlite3_prepare_v2(s->wdb, sql.data, -1, &st, NULL) != SQLITE_OK) {
		rc = ERR_DB;
		goto rollback;
	}
	sqlite3_bind_int64(st, k++, from);
	sqlite3_bind_int64(st, k++, SQS_P_TEXT(0));
	for (size_t i = 0; i < search_nparams; i++)
		if (ix_is_patient_param(i))
			sqlite3_bind_int64(st, k++, (int64_t)i);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = ERR_DB;
		goto rollback;
	}
	rows = sqlite3_changes64(s->wdb);
	if (sq_exec(s->wdb, "DELETE FROM meta WHERE key = '" IX_PT_PENDING "'") || sq_exec(s->wdb, "COMMIT")) {
		rc = ERR_DB;
		goto rollback;
	}
	log_info("msg=\"patient-token index filled\" rows=%lld", (long long)rows);
	goto out;
rollback:
	log_error("msg=\"filling the patient-token index failed\" err=\"%s\"", sqlite3_errmsg(s->wdb));
	sq_exec(s->wdb, "ROLLBACK");
out:
	sqlite3_finalize(st);
	buf_fini(&sql);
	return rc;
}

static int ix_pt_pending(struct sq *s, int64_t *from, int *has)
{
	char v[32];
	int rc = ix_meta_get(s->wdb, IX_PT_PENDING, v, sizeof v);

	*has = !rc && v[0];
	*from = *has ? strtoll(v, NULL, 10) : 0;
	return rc;
}

int sq_index_pt_open(struct sq *s, int bulk)
{
	int64_t from;
	int has, rc = ix_pt_pending(s, &from, &has);

	if (rc)
		return rc;
	if (!bulk) {
		if (!has)
			return 0;
		log_info("msg=\"completing the patient-token index of an import that was cut short\"");
		return ix_pt_fill(s, from);
	}
	if (!has) {
		sqlite3_stmt *st = NULL;
		char v[32];
		if (sqlite3_prepare_v2(s->wdb, "SELECT COALESCE(MAX(seq), 0) + 1 FROM version", -1, &st, NULL) !=
			    SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_finalize(st);
			return ERR_DB;
		}
		snprintf(v, sizeof v, "%lld", (long long)sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
		/* autocommit: on disk before the first row of the load */
		if ((rc = ix_meta_set(s->wdb, IX_PT_PENDING, v)) != 0)
			return rc;
	}
	s->pt_bulk = 1;
	return 0;
}

int sq_index_pt_close(struct sq *s)
{
	int64_t from;
	int has, rc;

	if (!s->pt_bulk)
		return 0;
	rc = ix_pt_pending(s, &from, &has);
	if (rc || !has)
		return rc;
	return ix_pt_fill(s, from);
}

int sq_index_pt_ready(struct sq_stmt_cache *c, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int step;

	if (sq_stmt_get(c, db, "SELECT 1 FROM meta WHERE key = '" IX_PT_PENDING "'", &st))
		return 0;
	step = sqlite3_step(st);
	sq_stmt_release(c, st);
	return step == SQLITE_DONE;
}
