/*
 * pg_search.c - runs searches on PostgreSQL: the SQL comes from the shared
 * compiler (sql_search.c, PostgreSQL dialect), the values go as text
 * parameters of a per-connection prepared statement (pg_exec), and rows
 * come back as the SQLite backend returns them: same set, same order
 * (sort keys with NULLs last, then type, id, all text compared by bytes:
 * COLLATE "C"), same kinds of sort keys in the cursor positions (integer
 * for dates and _lastUpdated, real for numbers and quantities, text for
 * the rest), so that a cursor from one node pages on any other.
 *
 * What differs from sqlite_search.c is only how the work is done: SQLite
 * needs to be told which clause drives the query (a probe of its
 * selectivity, a lazy two-phase run for the default order); PostgreSQL's
 * planner turns the clauses' EXISTS filters into semi-joins and picks the
 * order itself from its statistics, so every clause is given as a filter
 * and only a compartment search has a driver (the compartment is the set
 * the query is written from).
 */
#include "pg_int.h"

#include "core/err.h"
#include "core/log.h"
#include "sql_search.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs of result columns (fixed in PostgreSQL's catalog, pg_type.dat;
 * the server-side header that names them is not part of libpq-dev). */
#define PGS_INT2OID 21
#define PGS_INT4OID 23
#define PGS_INT8OID 20
#define PGS_FLOAT4OID 700
#define PGS_FLOAT8OID 701
#define PGS_NUMERICOID 1700

/* The binds of a statement as pg_exec's text parameters. */
struct pgs_params {
	const char **vals;
	char (*num)[32];
};

static void pgs_params_fini(struct pgs_params *p)
{
	free(p->vals);
	free(p->num);
	p->vals = NULL;
	p->num = NULL;
}

/* A double as float8 input text that reads back as the same double:
 * 17 significant digits, and the spellings PostgreSQL accepts for the
 * non-finite values. */
static void pgs_real_text(double d, char *out, size_t cap)
{
	if (isnan(d))
		snprintf(out, cap, "NaN");
	else if (isinf(d))
		snprintf(out, cap, d > 0 ? "Infinity" : "-Infinity");
	else
		snprintf(out, cap, "%.17g", d);
}

static int pgs_params_make(const struct sqs *x, struct pgs_params *p)
{
	size_t n = x->nb ? x->nb : 1;

	p->vals = calloc(n, sizeof *p->vals);
	p->num = calloc(n, sizeof *p->num);
	if (!p->vals || !p->num) {
		pgs_params_fini(p);
		return ERR_NOMEM;
	}
	for (size_t i = 0; i < x->nb; i++) {
		const struct sqs_bind *b = &x->b[i];
		if (b->kind == SQS_B_INT) {
			snprintf(p->num[i], sizeof p->num[i], "%" PRId64, b->i);
			p->vals[i] = p->num[i];
		} else if (b->kind == SQS_B_REAL) {
			pgs_real_text(b->d, p->num[i], sizeof p->num[i]);
			p->vals[i] = p->num[i];
		} else {
			p->vals[i] = b->s; /* NUL-terminated: query values and owned bounds */
		}
	}
	return 0;
}

/* Ends x and runs it on c. *res to PQclear() (NULL after an error). */
static int pgs_exec(struct pg_conn *c, struct sqs *x, const char *what, PGresult **res)
{
	struct pgs_params p = { 0 };
	int rc;

	*res = NULL;
	if ((rc = sqs_end(x)) != 0)
		return rc;
	if ((rc = pgs_params_make(x, &p)) != 0)
		return rc;
	/* the SQL holds no request values (they are bound): safe to log */
	log_debug("msg=\"%s sql\" sql=\"%s\"", what, x->sql.data);
	rc = pg_exec(c, x->sql.data, (int)x->nb, p.vals, NULL, NULL, res);
	pgs_params_fini(&p);
	return rc;
}

/* One sort key of a result row, of the kind its column's type says (the
 * kinds the SQLite backend reads from the same expressions). */
static int pgs_key_read(const PGresult *r, int row, int col, store_key *k)
{
	const char *v;

	memset(k, 0, sizeof *k);
	if (PQgetisnull(r, row, col))
		return 0;
	v = PQgetvalue(r, row, col);
	switch (PQftype(r, col)) {
	case PGS_INT2OID:
	case PGS_INT4OID:
	case PGS_INT8OID:
		k->kind = 1;
		k->i = strtoll(v, NULL, 10);
		break;
	case PGS_FLOAT4OID:
	case PGS_FLOAT8OID:
	case PGS_NUMERICOID:
		k->kind = 2;
		k->d = strtod(v, NULL); /* also reads "NaN", "Infinity" */
		break;
	default:
		k->kind = 3;
		k->s = strdup(v);
		if (!k->s)
			return ERR_NOMEM;
	}
	return 0;
}

/* Searches are planned for their values, every time (the session is set
 * up with plan_cache_mode = force_custom_plan in pg.c). A search's
 * selectivity depends on them (patient=X matches 10 rows, category=Y
 * 20,000), and PostgreSQL's generic plan of a prepared statement, which it
 * switches to after five executions when its estimate looks no worse,
 * guesses "a few rows" for every "p = $1 AND code = $2": it then drives
 * Observation?patient=X&category=Y from the category and takes half a
 * second instead of a millisecond (measured on 40,000 Observations). */

/* The driver PostgreSQL gets: none (the planner orders the semi-joins),
 * except the compartment, which is what a compartment search is written
 * from. */
static long pgs_driver(const store_search_q *sq)
{
	return sq->comp_id ? -1 : (long)sq->q->nclauses;
}

static int pgs_run(struct pg_conn *c, const store_search_q *sq, store_search_page *out, char *why, size_t whylen)
{
	const search_query *q = sq->q;
	struct sqs x;
	PGresult *r = NULL;
	long drv;
	size_t nsort = sqs_nsort(q), cap, rows;
	int rc = 0, rank;
	long best;
	store_search_q plain;

	if (sqs_comp_implied(sq)) {
		plain = *sq;
		plain.comp_id = NULL;
		sq = &plain;
	}
	drv = pgs_driver(sq);
	sqs_init(&x, SQS_PG, q, sq->confine);
	memset(out, 0, sizeof *out);
	out->total = -1;
	if (why && whylen)
		why[0] = '\0';
	if (sq->want_total) {
		sqs_count(&x, sq, drv);
		if ((rc = pgs_exec(c, &x, "search count", &r)) != 0)
			goto out;
		if (PQntuples(r) != 1) {
			rc = ERR_DB;
			goto out;
		}
		out->total = pg_int(r, 0, 0);
		PQclear(r);
		r = NULL;
		sqs_fini(&x);
		sqs_init(&x, SQS_PG, q, sq->confine);
	}
	if (sq->count == 0)
		goto out;

	/* One reference value drives (patient=X&category=Y): walk its rows
	 * in id order and stop at the page size (sqs_stream), as SQLite does;
	 * the planner cannot see that a LIMIT over the general form may stop
	 * early. Otherwise the general form, ordered by the planner. */
	best = nsort == 0 ? sqs_best_driver(sq, &rank) : -1;
	if (best >= 0 && sqs_ref_streams(sq, best))
		sqs_stream(&x, sq, best);
	else
		sqs_page(&x, sq, drv);
	if ((rc = pgs_exec(c, &x, "search", &r)) != 0)
		goto out;
	if (PQnfields(r) != 8 + (int)nsort) {
		rc = ERR_DB;
		goto out;
	}
	cap = (size_t)sq->count + 1;
	out->items = calloc(cap, sizeof *out->items);
	out->pos = calloc(cap, sizeof *out->pos);
	if (!out->items || !out->pos) {
		rc = ERR_NOMEM;
		goto out;
	}
	rows = (size_t)PQntuples(r);
	for (size_t n = 0; n < rows; n++) {
		store_pos *p;
		if (n == cap - 1) {
			out->has_more = 1;
			break;
		}
		rc = pg_row_version(r, (int)n, 0, &out->items[n]);
		out->n = n + 1;
		if (rc)
			goto out;
		p = &out->pos[n];
		snprintf(p->type, sizeof p->type, "%s", out->items[n].type);
		snprintf(p->id, sizeof p->id, "%s", out->items[n].id);
		p->nk = (unsigned)nsort;
		for (size_t i = 0; i < nsort && !rc; i++)
			rc = pgs_key_read(r, (int)n, 8 + (int)i, &p->k[i]);
		if (rc)
			goto out;
	}
	if (sq->backward) {
		size_t n = out->n;
		for (size_t i = 0; i < n / 2; i++) {
			store_version_t t = out->items[i];
			store_pos tp = out->pos[i];
			out->items[i] = out->items[n - 1 - i];
			out->items[n - 1 - i] = t;
			out->pos[i] = out->pos[n - 1 - i];
			out->pos[n - 1 - i] = tp;
		}
	}
out:
	if (x.err == ERR_INVALID && why && whylen)
		snprintf(why, whylen, "The search is nested too deeply");
	PQclear(r);
	sqs_fini(&x);
	if (rc)
		store_search_page_clear(out);
	return rc;
}

int pg_search(void *impl, const store_search_q *q, store_search_page *out, char *why, size_t whylen)
{
	struct pg *s = impl;
	struct pg_conn *c = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	out->total = -1;
	rc = pg_conn_get(s, &c);
	if (rc)
		return rc;
	rc = pg_read_timeout(s, c);
	if (!rc)
		rc = pgs_run(c, q, out, why, whylen);
	pg_conn_put(s, c);
	return rc;
}

/* Only the ids, in the order a search returns them ((type, id)): the
 * bodies of every match are not needed to decide a conditional write. */
int pg_search_ids(struct pg_conn *c, const search_query *q, const char *comp_id, char (*ids)[65], size_t max,
		  size_t *n)
{
	store_search_q sq = { .q = q, .comp_id = comp_id, .count = (unsigned)max };
	struct sqs x;
	PGresult *r = NULL;
	int rc;

	*n = 0;
	if (max == 0)
		return 0;
	sqs_init(&x, SQS_PG, q, NULL);
	sqs_add(&x, "SELECT c0.id");
	sqs_from_where(&x, &sq, pgs_driver(&sq), 1);
	sqs_add(&x, " ORDER BY c0.type, c0.id LIMIT ");
	sqs_int(&x, (int64_t)max);
	rc = pgs_exec(c, &x, "match", &r);
	if (rc)
		goto out;
	for (int i = 0; i < PQntuples(r) && *n < max; i++) {
		snprintf(ids[*n], 65, "%s", PQgetvalue(r, i, 0));
		(*n)++;
	}
out:
	PQclear(r);
	sqs_fini(&x);
	return rc;
}

int pg_referrers(void *impl, const uint32_t *params, size_t np, const char *type, const char *id, size_t max,
		 store_version_t **items, size_t *n)
{
	struct pg *s = impl;
	struct pg_conn *c = NULL;
	struct sqs x;
	PGresult *r = NULL;
	size_t cap = *n;
	int rc;

	sqs_init(&x, SQS_PG, NULL, NULL);
	sqs_referrers(&x, params, np, type, id, max);
	rc = pg_conn_get(s, &c);
	if (rc)
		goto out;
	rc = pg_read_timeout(s, c);
	if (!rc)
		rc = pgs_exec(c, &x, "referrers", &r);
	if (rc)
		goto out;
	for (int i = 0; i < PQntuples(r); i++) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			store_version_t *ni = realloc(*items, nc * sizeof *ni);
			if (!ni) {
				rc = ERR_NOMEM;
				goto out;
			}
			*items = ni;
			cap = nc;
		}
		rc = pg_row_version(r, i, 0, &(*items)[*n]);
		(*n)++;
		if (rc)
			goto out;
	}
out:
	PQclear(r);
	if (c)
		pg_conn_put(s, c);
	sqs_fini(&x);
	return rc;
}
