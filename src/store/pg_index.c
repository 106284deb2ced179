/*
 * pg_index.c - the search index tables of the PostgreSQL backend: writing
 * the rows of a new version (inside the caller's write transaction),
 * rebuilding every index (fhird reindex, or at start when the parameter
 * table changed), the parameter-table hash in meta, and compartment
 * membership of one version.
 *
 * Tables, keys and row meanings are SQLite's (sqlite_index.c, and the
 * migration in sqlite.c): the shared search compiler reads both alike.
 */
#include "pg_int.h"

#include "core/err.h"
#include "core/log.h"
#include "search/params.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parameter ids of the derived row kinds, as SQ_P_* in sqlite_int.h (the
 * same numbers: the search compiler relies on them). */
#define PG_P_TEXT(p) ((int64_t)(p) + 0x1000000)
#define PG_P_OFTYPE(p) ((int64_t)(p) + 0x2000000)
#define PG_P_REFID(p) ((int64_t)(p) + 0x3000000)

enum { IX_TOK, IX_STR, IX_REF, IX_DATE, IX_NUM, IX_URI, IX_COMP, IX_N };

/* "INSERT OR IGNORE" of SQLite: a version's rows may repeat a key (two
 * names with one family); the key says it once. */
static const char *const pgx_sql[IX_N] = {
	[IX_TOK] = "INSERT INTO ix_tok(p, code, seq, sys) VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
	[IX_STR] = "INSERT INTO ix_str(p, norm, seq, exact) VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
	[IX_REF] = "INSERT INTO ix_ref(p, tid, tt, seq, rid) VALUES($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
	[IX_DATE] = "INSERT INTO ix_date(p, lo, hi, seq) VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
	[IX_NUM] = "INSERT INTO ix_num(p, num, sys, code, seq) VALUES($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
	[IX_URI] = "INSERT INTO ix_uri(p, uri, seq) VALUES($1, $2, $3) ON CONFLICT DO NOTHING",
	[IX_COMP] = "INSERT INTO ix_comp(p, sys, code, seq, sys2, code2, num, lo, hi, str) "
		    "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
};
static const int pgx_nparams[IX_N] = { 4, 4, 5, 4, 5, 3, 10 };

static const char *pgx_s(const char *v)
{
	return v ? v : "";
}

static int pgx_row(struct pg_conn *c, int64_t seq, const char *id, const search_row *r)
{
	char p[24], sseq[24], a[32], b[32], d[40];
	const char *v[10] = { p };
	PGresult *res = NULL;
	int t, rc;

	snprintf(sseq, sizeof sseq, "%" PRId64, seq);
	switch (r->kind) {
	case SEARCH_ROW_TOKEN:
	case SEARCH_ROW_OF_TYPE:
	case SEARCH_ROW_REF_IDENT:
		t = IX_TOK;
		snprintf(p, sizeof p, "%" PRId64,
			 r->kind == SEARCH_ROW_TOKEN	 ? (int64_t)r->p
			 : r->kind == SEARCH_ROW_OF_TYPE ? PG_P_OFTYPE(r->p)
							 : PG_P_REFID(r->p));
		v[1] = pgx_s(r->code);
		v[2] = sseq;
		v[3] = pgx_s(r->sys);
		break;
	case SEARCH_ROW_STRING:
	case SEARCH_ROW_TOKEN_TEXT:
		t = IX_STR;
		snprintf(p, sizeof p, "%" PRId64, r->kind == SEARCH_ROW_STRING ? (int64_t)r->p : PG_P_TEXT(r->p));
		v[1] = pgx_s(r->str);
		v[2] = sseq;
		v[3] = pgx_s(r->str2 ? r->str2 : r->str);
		break;
	case SEARCH_ROW_REFERENCE:
		t = IX_REF;
		snprintf(p, sizeof p, "%" PRIu32, r->p);
		v[1] = pgx_s(r->code);
		v[2] = pgx_s(r->sys);
		v[3] = sseq;
		v[4] = pgx_s(id);
		break;
	case SEARCH_ROW_DATE:
		t = IX_DATE;
		snprintf(p, sizeof p, "%" PRIu32, r->p);
		snprintf(a, sizeof a, "%" PRId64, r->lo);
		snprintf(b, sizeof b, "%" PRId64, r->hi);
		v[1] = a;
		v[2] = b;
		v[3] = sseq;
		break;
	case SEARCH_ROW_NUMBER:
	case SEARCH_ROW_QUANTITY:
		t = IX_NUM;
		snprintf(p, sizeof p, "%" PRIu32, r->p);
		snprintf(d, sizeof d, "%.17g", r->num); /* round-trips a double exactly */
		v[1] = d;
		v[2] = pgx_s(r->sys);
		v[3] = pgx_s(r->code);
		v[4] = sseq;
		break;
	case SEARCH_ROW_URI:
		t = IX_URI;
		snprintf(p, sizeof p, "%" PRIu32, r->p);
		v[1] = pgx_s(r->str);
		v[2] = sseq;
		break;
	case SEARCH_ROW_COMPOSITE:
		t = IX_COMP;
		snprintf(p, sizeof p, "%" PRIu32, r->p);
		v[1] = pgx_s(r->sys);
		v[2] = pgx_s(r->code);
		v[3] = sseq;
		/* the second component: whichever parts the extractor filled */
		v[4] = r->sys2 ? r->sys2 : r->sys3;
		v[5] = r->code2 ? r->code2 : r->code3;
		if (r->sys3 || r->code3) {
			snprintf(d, sizeof d, "%.17g", r->num);
			v[6] = d;
		}
		if (r->lo || r->hi) {
			snprintf(a, sizeof a, "%" PRId64, r->lo);
			snprintf(b, sizeof b, "%" PRId64, r->hi);
			v[7] = a;
			v[8] = b;
		}
		v[9] = r->str;
		break;
	default:
		return 0;
	}
	rc = pg_exec(c, pgx_sql[t], pgx_nparams[t], v, NULL, NULL, &res);
	PQclear(res);
	return rc;
}

int pg_index_write(struct pg_conn *c, int64_t seq, const char *id, const search_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = pgx_row(c, seq, id, &rows[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* The compartment parameters of type as an array parameter ("{1,2}"):
 * one statement text for every type. */
int pg_comp_member_conn(struct pg_conn *c, const char *type, int64_t seq, const char *patient, int *yes)
{
	const char *const *codes = search_compartment_params(type);
	char arr[1024], sseq[24];
	const char *v[3] = { sseq, arr, patient };
	size_t len = 0;
	PGresult *r = NULL;
	int rc;

	*yes = 0;
	if (!codes)
		return 0;
	arr[len++] = '{';
	for (size_t i = 0; codes[i]; i++) {
		const search_param *p = search_param_find(type, codes[i]);
		int w;
		if (!p)
			continue;
		w = snprintf(arr + len, sizeof arr - len, "%s%" PRIu32, len > 1 ? "," : "", search_param_id(p));
		if (w < 0 || (size_t)w >= sizeof arr - len - 1)
			return ERR_INTERNAL;
		len += (size_t)w;
	}
	arr[len++] = '}';
	arr[len] = '\0';
	snprintf(sseq, sizeof sseq, "%" PRId64, seq);
	rc = pg_exec(c,
		     "SELECT 1 FROM ix_ref k WHERE k.seq = $1 AND k.p = ANY($2::bigint[]) AND k.tt = 'Patient' "
		     "AND k.tid = $3 LIMIT 1",
		     3, v, NULL, NULL, &r);
	if (!rc)
		*yes = PQntuples(r) > 0;
	PQclear(r);
	return rc;
}

int pg_compartment_member(void *impl, const char *type, int64_t seq, const char *patient, int *yes)
{
	struct pg *s = impl;
	struct pg_conn *c = NULL;
	int rc;

	*yes = 0;
	rc = pg_conn_get(s, &c);
	if (rc)
		return rc;
	rc = pg_read_timeout(s, c);
	if (!rc)
		rc = pg_comp_member_conn(c, type, seq, patient, yes);
	pg_conn_put(s, c);
	return rc;
}

static int pgx_meta_get(struct pg_conn *c, const char *key, char *out, size_t cap)
{
	const char *v[1] = { key };
	PGresult *r = NULL;
	int rc;

	out[0] = '\0';
	rc = pg_exec(c, "SELECT value FROM meta WHERE key = $1", 1, v, NULL, NULL, &r);
	if (!rc && PQntuples(r) > 0)
		snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

int pg_index_hash(void *impl, char *out, size_t cap)
{
	struct pg *s = impl;
	struct pg_conn *c = NULL;
	int rc;

	out[0] = '\0';
	rc = pg_conn_get(s, &c);
	if (rc)
		return rc;
	rc = pgx_meta_get(c, "search_params_hash", out, cap);
	pg_conn_put(s, c);
	return rc;
}

int pg_index_check_conn(struct pg_conn *c)
{
	char h[128];
	if (pgx_meta_get(c, "search_params_hash", h, sizeof h))
		return 0;
	return strcmp(h, search_params_hash) == 0;
}

/* One transaction holding PG_LOCK_WRITE, so that no node writes a version
 * meanwhile (its rows would be wiped or missed). Current versions are read
 * in keyset pages of seq, so memory stays flat; the hash is recorded in
 * the same transaction, so an interrupted rebuild is redone at the next
 * start. */
#define PGX_REINDEX_PAGE 500
int pg_reindex(void *impl, store_extract_fn fn, void *ctx, size_t *count)
{
	struct pg *s = impl;
	struct pg_conn *c = NULL;
	PGresult *r = NULL;
	char lock[24], after[24];
	const char *lv[1] = { lock }, *pv[1] = { after };
	int64_t last = 0;
	size_t n = 0;
	int rc;

	*count = 0;
	rc = pg_conn_get(s, &c);
	if (rc)
		return rc;
	snprintf(lock, sizeof lock, "%lld", (long long)PG_LOCK_WRITE);
	rc = pg_exec(c, "SELECT set_config('statement_timeout', '0', false)", 0, NULL, NULL, NULL, &r);
	PQclear(r);
	r = NULL;
	c->timeout_ms_set = 0;
	if (!rc)
		rc = pg_cmd(c, "BEGIN");
	if (rc)
		goto out;
	rc = pg_exec(c, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lv, NULL, NULL, &r);
	PQclear(r);
	r = NULL;
	if (!rc)
		rc = pg_cmd(c, "DELETE FROM ix_tok; DELETE FROM ix_str; DELETE FROM ix_ref; DELETE FROM ix_date; "
			       "DELETE FROM ix_num; DELETE FROM ix_uri; DELETE FROM ix_comp");
	for (;;) {
		int rows;
		if (rc)
			goto out;
		snprintf(after, sizeof after, "%" PRId64, last);
		rc = pg_exec(c,
			     "SELECT c.type, c.seq, v.body, c.id FROM current c JOIN version v ON v.seq = c.seq "
			     "WHERE c.deleted = 0 AND c.seq > $1 ORDER BY c.seq LIMIT 500",
			     1, pv, NULL, NULL, &r);
		if (rc)
			goto out;
		rows = PQntuples(r);
		if (rows == 0)
			break;
		for (int i = 0; i < rows && !rc; i++) {
			int64_t seq = pg_int(r, i, 1);
			search_rows xr = { 0 };
			char *body = NULL;
			size_t blen = 0;

			last = seq;
			rc = pg_bytea(r, i, 2, &body, &blen);
			if (rc || !body) {
				free(body);
				continue;
			}
			rc = fn(ctx, PQgetvalue(r, i, 0), body, blen, &xr);
			if (!rc)
				rc = pg_index_write(c, seq, PQgetvalue(r, i, 3), xr.v, xr.n);
			search_rows_clear(&xr);
			free(body);
			if (rc == ERR_INVALID || rc == ERR_UNPROCESSABLE) {
				/* a stored body we can no longer parse: keep going, say so */
				log_error("msg=\"reindex skipped a resource\" seq=%" PRId64, seq);
				rc = 0;
				continue;
			}
			if (!rc)
				n++;
		}
		PQclear(r);
		r = NULL;
	}
	{
		const char *v[2] = { "search_params_hash", search_params_hash };
		rc = pg_exec(c,
			     "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT(key) DO UPDATE SET "
			     "value = excluded.value",
			     2, v, NULL, NULL, &r);
	}
	if (!rc)
		rc = pg_cmd(c, "COMMIT");
out:
	PQclear(r);
	if (rc)
		pg_cmd(c, "ROLLBACK");
	pg_conn_put(s, c);
	if (!rc)
		*count = n;
	return rc;
}
