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

#include "backend.h"

#include "core/buf.h"
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

/* All the index rows of a version in ONE statement: each table's values
 * go as arrays (unnest; an empty array inserts nothing), the version's seq
 * ($28) and the resource's id ($29, for ix_ref.rid) as scalars, every
 * table's INSERT a data-modifying WITH clause. One round trip inside the
 * write lock however many rows and tables. "ON CONFLICT DO NOTHING" is
 * SQLite's "INSERT OR IGNORE": a version's rows may repeat a key (two
 * names with one family); the key says it once. */
#define PGX_MAXCOL 9
#define PGX_NARRAYS 27
static const int pgx_ncol[IX_N] = { 3, 3, 3, 3, 4, 2, 9 }; /* arrays per table, in parameter order */
static const char pgx_sql[] =
	"WITH t AS (INSERT INTO ix_tok(p, code, sys, seq) SELECT u.p, u.code, u.sys, $28::bigint FROM "
	"  unnest($1::bigint[], $2::text[], $3::text[]) AS u(p, code, sys) ON CONFLICT DO NOTHING), "
	"s AS (INSERT INTO ix_str(p, norm, exact, seq) SELECT u.p, u.norm, u.exact, $28::bigint FROM "
	"  unnest($4::bigint[], $5::text[], $6::text[]) AS u(p, norm, exact) ON CONFLICT DO NOTHING), "
	"r AS (INSERT INTO ix_ref(p, tid, tt, seq, rid) SELECT u.p, u.tid, u.tt, $28::bigint, $29::text FROM "
	"  unnest($7::bigint[], $8::text[], $9::text[]) AS u(p, tid, tt) ON CONFLICT DO NOTHING), "
	"d AS (INSERT INTO ix_date(p, lo, hi, seq) SELECT u.p, u.lo, u.hi, $28::bigint FROM "
	"  unnest($10::bigint[], $11::bigint[], $12::bigint[]) AS u(p, lo, hi) ON CONFLICT DO NOTHING), "
	"n AS (INSERT INTO ix_num(p, num, sys, code, seq) SELECT u.p, u.num, u.sys, u.code, $28::bigint FROM "
	"  unnest($13::bigint[], $14::float8[], $15::text[], $16::text[]) AS u(p, num, sys, code) "
	"  ON CONFLICT DO NOTHING), "
	"i AS (INSERT INTO ix_uri(p, uri, seq) SELECT u.p, u.uri, $28::bigint FROM "
	"  unnest($17::bigint[], $18::text[]) AS u(p, uri) ON CONFLICT DO NOTHING), "
	"c AS (INSERT INTO ix_comp(p, sys, code, sys2, code2, num, lo, hi, str, seq) "
	"  SELECT u.p, u.sys, u.code, u.sys2, u.code2, u.num, u.lo, u.hi, u.str, $28::bigint FROM "
	"  unnest($19::bigint[], $20::text[], $21::text[], $22::text[], $23::text[], $24::float8[], "
	"  $25::bigint[], $26::bigint[], $27::text[]) AS u(p, sys, code, sys2, code2, num, lo, hi, str)) "
	"SELECT 1";

/* A version's rows of one table, as array literals being built. */
#define PGX_ARR_MAX ((size_t)256 << 20)
struct pgx_cols {
	buf_t col[PGX_MAXCOL];
	size_t nrows;
};

/* Appends one element to an array literal: NULL, a number, or text in
 * double quotes with '"' and '\' escaped (array input syntax). */
static int pgx_el(buf_t *b, const char *text, int quote)
{
	int rc = buf_append_char(b, b->len > 0 ? ',' : '{');
	if (rc)
		return rc;
	if (!text)
		return buf_append_str(b, "NULL");
	if (!quote)
		return buf_append_str(b, text);
	rc = buf_append_char(b, '"');
	for (const char *p = text; !rc && *p; p++) {
		if (*p == '"' || *p == '\\')
			rc = buf_append_char(b, '\\');
		if (!rc)
			rc = buf_append_char(b, *p);
	}
	return rc ? rc : buf_append_char(b, '"');
}

static int pgx_int(buf_t *b, int64_t v)
{
	char n[24];
	snprintf(n, sizeof n, "%" PRId64, v);
	return pgx_el(b, n, 0);
}

static int pgx_real(buf_t *b, double v)
{
	char n[40];
	snprintf(n, sizeof n, "%.17g", v); /* round-trips a double exactly */
	return pgx_el(b, n, 0);
}

static const char *pgx_s(const char *v)
{
	return v ? v : "";
}

/* Adds row r to its table's arrays. */
static int pgx_add(struct pgx_cols *t, const search_row *r)
{
	struct pgx_cols *x;
	int rc;

	switch (r->kind) {
	case SEARCH_ROW_TOKEN:
	case SEARCH_ROW_OF_TYPE:
	case SEARCH_ROW_REF_IDENT:
		x = &t[IX_TOK];
		rc = pgx_int(&x->col[0], r->kind == SEARCH_ROW_TOKEN	   ? (int64_t)r->p
					 : r->kind == SEARCH_ROW_OF_TYPE ? PG_P_OFTYPE(r->p)
									 : PG_P_REFID(r->p));
		rc = rc ? rc : pgx_el(&x->col[1], pgx_s(r->code), 1);
		rc = rc ? rc : pgx_el(&x->col[2], pgx_s(r->sys), 1);
		break;
	case SEARCH_ROW_STRING:
	case SEARCH_ROW_TOKEN_TEXT:
		x = &t[IX_STR];
		rc = pgx_int(&x->col[0], r->kind == SEARCH_ROW_STRING ? (int64_t)r->p : PG_P_TEXT(r->p));
		rc = rc ? rc : pgx_el(&x->col[1], pgx_s(r->str), 1);
		rc = rc ? rc : pgx_el(&x->col[2], pgx_s(r->str2 ? r->str2 : r->str), 1);
		break;
	case SEARCH_ROW_REFERENCE:
		x = &t[IX_REF];
		rc = pgx_int(&x->col[0], r->p);
		rc = rc ? rc : pgx_el(&x->col[1], pgx_s(r->code), 1);
		rc = rc ? rc : pgx_el(&x->col[2], pgx_s(r->sys), 1);
		break;
	case SEARCH_ROW_DATE:
		x = &t[IX_DATE];
		rc = pgx_int(&x->col[0], r->p);
		rc = rc ? rc : pgx_int(&x->col[1], r->lo);
		rc = rc ? rc : pgx_int(&x->col[2], r->hi);
		break;
	case SEARCH_ROW_NUMBER:
	case SEARCH_ROW_QUANTITY:
		x = &t[IX_NUM];
		rc = pgx_int(&x->col[0], r->p);
		rc = rc ? rc : pgx_real(&x->col[1], r->num);
		rc = rc ? rc : pgx_el(&x->col[2], pgx_s(r->sys), 1);
		rc = rc ? rc : pgx_el(&x->col[3], pgx_s(r->code), 1);
		break;
	case SEARCH_ROW_URI:
		x = &t[IX_URI];
		rc = pgx_int(&x->col[0], r->p);
		rc = rc ? rc : pgx_el(&x->col[1], pgx_s(r->str), 1);
		break;
	case SEARCH_ROW_COMPOSITE:
		x = &t[IX_COMP];
		rc = pgx_int(&x->col[0], r->p);
		rc = rc ? rc : pgx_el(&x->col[1], pgx_s(r->sys), 1);
		rc = rc ? rc : pgx_el(&x->col[2], pgx_s(r->code), 1);
		/* the second component: whichever parts the extractor filled */
		rc = rc ? rc : pgx_el(&x->col[3], r->sys2 ? r->sys2 : r->sys3, 1);
		rc = rc ? rc : pgx_el(&x->col[4], r->code2 ? r->code2 : r->code3, 1);
		if (!rc)
			rc = r->sys3 || r->code3 ? pgx_real(&x->col[5], r->num) : pgx_el(&x->col[5], NULL, 0);
		if (!rc && (r->lo || r->hi)) {
			rc = pgx_int(&x->col[6], r->lo);
			rc = rc ? rc : pgx_int(&x->col[7], r->hi);
		} else if (!rc) {
			rc = pgx_el(&x->col[6], NULL, 0);
			rc = rc ? rc : pgx_el(&x->col[7], NULL, 0);
		}
		rc = rc ? rc : pgx_el(&x->col[8], r->str, 1);
		break;
	default:
		return 0;
	}
	if (!rc)
		x->nrows++;
	return rc;
}

int pg_index_write(struct pg_conn *c, int64_t seq, const char *id, const search_row *rows, size_t n)
{
	struct pgx_cols t[IX_N];
	const char *v[PGX_NARRAYS + 2];
	char sseq[24];
	PGresult *res = NULL;
	int rc = 0, nv = 0;

	if (n == 0)
		return 0;
	for (int k = 0; k < IX_N; k++) {
		t[k].nrows = 0;
		for (int j = 0; j < PGX_MAXCOL; j++)
			buf_init(&t[k].col[j], PGX_ARR_MAX);
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = pgx_add(t, &rows[i]);
	for (int k = 0; k < IX_N && !rc; k++)
		for (int j = 0; j < pgx_ncol[k] && !rc; j++) {
			buf_t *b = &t[k].col[j];
			rc = b->len ? buf_append_char(b, '}') : buf_append_str(b, "{}");
			v[nv++] = b->data; /* NUL-terminated (buf.h) */
		}
	if (!rc) {
		snprintf(sseq, sizeof sseq, "%" PRId64, seq);
		v[nv++] = sseq;
		v[nv++] = pgx_s(id);
		rc = pg_exec(c, pgx_sql, nv, v, NULL, NULL, &res);
		PQclear(res);
	}
	for (int k = 0; k < IX_N; k++)
		for (int j = 0; j < PGX_MAXCOL; j++)
			buf_fini(&t[k].col[j]);
	return rc;
}

int pg_index_drop(struct pg_conn *c, int64_t seq)
{
	/* one round trip for the seven tables, each through its (seq, p) index */
	static const char sql[] = "WITH a AS (DELETE FROM ix_tok WHERE seq = $1), b AS (DELETE FROM ix_str WHERE seq = $1), "
				  "d AS (DELETE FROM ix_ref WHERE seq = $1), e AS (DELETE FROM ix_date WHERE seq = $1), "
				  "f AS (DELETE FROM ix_num WHERE seq = $1), g AS (DELETE FROM ix_uri WHERE seq = $1) "
				  "DELETE FROM ix_comp WHERE seq = $1";
	char sseq[24];
	const char *v[1] = { sseq };
	PGresult *res = NULL;
	int rc;

	snprintf(sseq, sizeof sseq, "%" PRId64, seq);
	rc = pg_exec(c, sql, 1, v, NULL, NULL, &res);
	PQclear(res);
	return rc;
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
	if (pgx_meta_get(c, "search_params_hash", h, sizeof h) || strcmp(h, search_params_hash) != 0)
		return 0;
	if (pgx_meta_get(c, "index_layout", h, sizeof h))
		return 0;
	return strcmp(h, STORE_INDEX_LAYOUT) == 0;
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
		if (rows == 0) {
			PQclear(r);
			r = NULL;
			break;
		}
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
		const char *v[4] = { "search_params_hash", search_params_hash, "index_layout", STORE_INDEX_LAYOUT };
		rc = pg_exec(c,
			     "INSERT INTO meta(key, value) VALUES($1, $2), ($3, $4) ON CONFLICT(key) DO UPDATE SET "
			     "value = excluded.value",
			     4, v, NULL, NULL, &r);
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
