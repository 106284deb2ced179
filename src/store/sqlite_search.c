/*
 * sqlite_search.c - runs searches on SQLite: the SQL comes from the shared
 * compiler (sql_search.c, SQLite dialect); this file binds it, picks the
 * driving clause (with a probe of its selectivity), runs the default-order
 * page lazily when a driver and filters allow it (sqs_run_lazy), and reads
 * the rows on a reader connection.
 */
#include "sqlite_int.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "search/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SQS_DRIVER_PROBE 2000 /* a driver with more rows than this is not "selective" */

static int sqs_bind_all(struct sqs *x, sqlite3_stmt *st)
{
	for (size_t i = 0; i < x->nb; i++) {
		struct sqs_bind *b = &x->b[i];
		int k = (int)i + 1, rc;
		if (b->kind == SQS_B_INT)
			rc = sqlite3_bind_int64(st, k, b->i);
		else if (b->kind == SQS_B_REAL)
			rc = sqlite3_bind_double(st, k, b->d);
		else
			rc = sqlite3_bind_text(st, k, b->s, (int)b->len, SQLITE_STATIC);
		if (rc != SQLITE_OK)
			return ERR_DB;
	}
	return 0;
}

/* Runs "SELECT count(*) FROM (<driver> LIMIT n)" to see whether a driver
 * is selective. Returns the count, or -1 on error. */
static int64_t sqs_probe_run(sqlite3 *db, const search_query *q, const char *confine, long drv)
{
	struct sqs x;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	sqs_init(&x, SQS_SQLITE, q, confine);
	sqs_probe(&x, drv, SQS_DRIVER_PROBE + 1);
	if (sqs_end(&x))
		goto out;
	if (sqlite3_prepare_v2(db, x.sql.data, -1, &st, NULL) != SQLITE_OK || sqs_bind_all(&x, st))
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	sqs_fini(&x);
	return n;
}

/* Picks the driving clause: the best-ranked one; for weaker ranks, only
 * when it is selective (else a scan in key order finds a page sooner). */
static long sqs_pick_driver(sqlite3 *db, const store_search_q *sq)
{
	const search_query *q = sq->q;
	int rank;
	long best = sqs_best_driver(sq, &rank);

	if (best < 0 || (size_t)best >= q->nclauses || rank <= 2)
		return best;
	if (q->nsort == 0 && q->rtype) {
		int64_t n = sqs_probe_run(db, q, sq->confine, best);
		if (n < 0 || n > SQS_DRIVER_PROBE)
			return (long)q->nclauses; /* scan (type, id) in order */
	}
	return best;
}

static int sqs_key_read(sqlite3_stmt *st, int col, store_key *k)
{
	memset(k, 0, sizeof *k);
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		k->kind = 1;
		k->i = sqlite3_column_int64(st, col);
		break;
	case SQLITE_FLOAT:
		k->kind = 2;
		k->d = sqlite3_column_double(st, col);
		break;
	case SQLITE_NULL:
		break;
	default:
		k->kind = 3;
		k->s = strdup((const char *)sqlite3_column_text(st, col));
		if (!k->s)
			return ERR_NOMEM;
	}
	return 0;
}

/* Runs a search on connection db (a reader's, or the writer's for the
 * criteria of a conditional write, which must see its own transaction). */
int sq_stmt_get(struct sq_stmt_cache *c, sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
	size_t victim = SQ_STMT_CACHE;

	*out = NULL;
	if (!c)
		return sqlite3_prepare_v2(db, sql, -1, out, NULL) == SQLITE_OK ? 0 : ERR_DB;
	for (size_t i = 0; i < SQ_STMT_CACHE; i++) {
		if (c->e[i].sql && !c->e[i].busy && !strcmp(c->e[i].sql, sql)) {
			c->e[i].used = ++c->tick;
			c->e[i].busy = 1;
			*out = c->e[i].st;
			return 0;
		}
		if (!c->e[i].busy && (victim == SQ_STMT_CACHE || c->e[i].used < c->e[victim].used))
			victim = i; /* least recently used (empty slots have used 0) */
	}
	if (victim == SQ_STMT_CACHE) /* every slot in use: do without the cache */
		return sqlite3_prepare_v2(db, sql, -1, out, NULL) == SQLITE_OK ? 0 : ERR_DB;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
		return ERR_DB;
	free(c->e[victim].sql);
	sqlite3_finalize(c->e[victim].st);
	c->e[victim].sql = strdup(sql);
	c->e[victim].st = c->e[victim].sql ? *out : NULL;
	c->e[victim].used = ++c->tick;
	c->e[victim].busy = c->e[victim].sql != NULL;
	return 0;
}

void sq_stmt_release(struct sq_stmt_cache *c, sqlite3_stmt *st)
{
	if (!st)
		return;
	for (size_t i = 0; c && i < SQ_STMT_CACHE; i++) {
		if (c->e[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			c->e[i].busy = 0;
			return;
		}
	}
	sqlite3_finalize(st);
}

void sq_stmt_cache_fini(struct sq_stmt_cache *c)
{
	for (size_t i = 0; i < SQ_STMT_CACHE; i++) {
		sqlite3_finalize(c->e[i].st);
		free(c->e[i].sql);
		c->e[i].st = NULL;
		c->e[i].sql = NULL;
	}
}

/* The page for the default order when a driver narrows the candidates
 * and other clauses filter them: rather than test every candidate and
 * sort the survivors, take the candidates in (type, id) order (one look at
 * current each) and test them one by one until the page is full. Page 1
 * of a 1,000-match search then tests ~page-size candidates, not 1,000. */
static int sqs_run_lazy(sqlite3 *db, struct sq_stmt_cache *cache, const store_search_q *sq, long drv,
			store_search_page *out)
{
	const search_query *q = sq->q;
	struct sqs cx, fx;
	sqlite3_stmt *cst = NULL, *fst = NULL, *vst = NULL;
	int rc = 0, step;
	size_t cap = (size_t)sq->count + 1, n = 0;

	sqs_init(&cx, SQS_SQLITE, q, sq->confine);
	sqs_init(&fx, SQS_SQLITE, q, sq->confine);
	sqs_add(&cx, "SELECT c0.seq");
	sqs_from_where(&cx, sq, drv, 0);
	if (sq->after) {
		sqs_add(&cx, " AND ");
		sqs_keyset(&cx, q, sq->after, sq->backward, q->rtype && !sq->everything);
	}
	sqs_add(&cx, sq->backward ? " ORDER BY c0.type DESC, c0.id DESC" : " ORDER BY c0.type, c0.id");
	sqs_add(&fx, "SELECT 1 FROM current c0 WHERE c0.seq = ");
	sqs_int(&fx, 0); /* parameter 1: rebound to each candidate's seq */
	sqs_filters(&fx, 0, q->rtype, q->clauses, q->nclauses, drv, -1);
	if ((rc = sqs_end(&cx)) != 0 || (rc = sqs_end(&fx)) != 0)
		goto out;
	log_debug("msg=\"search sql (lazy)\" candidates=\"%s\" filter=\"%s\"", cx.sql.data, fx.sql.data);
	if (sq_stmt_get(cache, db, cx.sql.data, &cst) || sqs_bind_all(&cx, cst) ||
	    sq_stmt_get(cache, db, fx.sql.data, &fst) || sqs_bind_all(&fx, fst) ||
	    sq_stmt_get(cache, db,
			"SELECT v.type, v.id, v.vid, v.seq, v.updated_us, v.method, v.deleted, v.body FROM version v "
			"WHERE v.seq = ?1",
			&vst)) {
		rc = ERR_DB;
		goto out;
	}
	out->items = calloc(cap, sizeof *out->items);
	out->pos = calloc(cap, sizeof *out->pos);
	if (!out->items || !out->pos) {
		rc = ERR_NOMEM;
		goto out;
	}
	while ((step = sqlite3_step(cst)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(cst, 0);
		int hit;

		sqlite3_reset(fst);
		sqlite3_bind_int64(fst, 1, seq);
		hit = sqlite3_step(fst);
		if (hit == SQLITE_DONE)
			continue;
		if (hit != SQLITE_ROW) {
			rc = ERR_DB;
			goto out;
		}
		if (n == cap - 1) {
			out->has_more = 1;
			break;
		}
		sqlite3_reset(vst);
		sqlite3_bind_int64(vst, 1, seq);
		if (sqlite3_step(vst) != SQLITE_ROW) {
			rc = ERR_DB;
			goto out;
		}
		rc = sq_row_version(vst, &out->items[n]);
		if (!rc) {
			snprintf(out->pos[n].type, sizeof out->pos[n].type, "%s", out->items[n].type);
			snprintf(out->pos[n].id, sizeof out->pos[n].id, "%s", out->items[n].id);
		}
		n++;
		out->n = n;
		if (rc)
			goto out;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = ERR_DB;
out:
	if (rc == ERR_DB)
		rc = sq_read_error(db, "search");
	sq_stmt_release(cache, cst);
	sq_stmt_release(cache, fst);
	sq_stmt_release(cache, vst);
	sqs_fini(&cx);
	sqs_fini(&fx);
	return rc;
}

static int sqs_run(sqlite3 *db, struct sq_stmt_cache *cache, const store_search_q *sq, store_search_page *out,
		   char *why, size_t whylen)
{
	const search_query *q = sq->q;
	struct sqs x;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;
	long drv;
	size_t cap, n = 0, nsort = sqs_nsort(q);
	store_search_q plain;

	if (sqs_comp_implied(sq)) {
		plain = *sq;
		plain.comp_id = NULL;
		sq = &plain;
	}
	sqs_init(&x, SQS_SQLITE, q, sq->confine);
	memset(out, 0, sizeof *out);
	out->total = -1;
	if (why && whylen)
		why[0] = '\0';
	drv = sqs_pick_driver(db, sq);

	if (sq->want_total) {
		sqs_count(&x, sq, drv);
		if ((rc = sqs_end(&x)) != 0)
			goto out;
		if (sq_stmt_get(cache, db, x.sql.data, &st) || sqs_bind_all(&x, st))
			goto dberr;
		if (sqlite3_step(st) != SQLITE_ROW)
			goto dberr;
		out->total = sqlite3_column_int64(st, 0);
		sq_stmt_release(cache, st);
		st = NULL;
		sqs_fini(&x);
		sqs_init(&x, SQS_SQLITE, q, sq->confine);
	}
	if (sq->count == 0)
		goto out;
	if (nsort == 0 && sqs_ref_streams(sq, drv)) {
		/* one reference value drives (patient=X&category=Y): one
		 * statement that stops at the page size (sqs_stream); with a
		 * token clause next to a patient, from the (patient, token) key
		 * of ix_pt, which reads the page's candidates from one place
		 * instead of testing each of the patient's resources */
		long tok = sqs_pt_token(sq, drv);
		if (tok >= 0 && sq_index_pt_ready(cache, db))
			sqs_stream_pt(&x, sq, drv, tok);
		else
			sqs_stream(&x, sq, drv);
	} else if (nsort == 0 && (sq->comp_id || (drv >= 0 && (size_t)drv < q->nclauses)) &&
		   q->nclauses > (sq->comp_id ? 0u : 1u)) {
		rc = sqs_run_lazy(db, cache, sq, sq->comp_id ? -1 : drv, out);
		if (rc)
			goto out;
		goto reorder;
	} else {
		sqs_page(&x, sq, drv);
	}
	if ((rc = sqs_end(&x)) != 0)
		goto out;
	/* the SQL holds no request values (they are bound): safe to log */
	log_debug("msg=\"search sql\" sql=\"%s\"", x.sql.data);
	if (sq_stmt_get(cache, db, x.sql.data, &st) || sqs_bind_all(&x, st))
		goto dberr;

	cap = (size_t)sq->count + 1;
	out->items = calloc(cap, sizeof *out->items);
	out->pos = calloc(cap, sizeof *out->pos);
	if (!out->items || !out->pos) {
		rc = ERR_NOMEM;
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap - 1) {
			out->has_more = 1;
			break;
		}
		rc = sq_row_version(st, &out->items[n]);
		if (!rc) {
			store_pos *p = &out->pos[n];
			snprintf(p->type, sizeof p->type, "%s", out->items[n].type);
			snprintf(p->id, sizeof p->id, "%s", out->items[n].id);
			p->nk = (unsigned)nsort;
			for (size_t i = 0; i < nsort && !rc; i++)
				rc = sqs_key_read(st, 8 + (int)i, &p->k[i]);
		}
		n++;
		out->n = n;
		if (rc)
			goto out;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		goto dberr;
reorder:
	n = out->n;
	if (sq->backward) {
		for (size_t i = 0; i < n / 2; i++) {
			store_version_t t = out->items[i];
			store_pos tp = out->pos[i];
			out->items[i] = out->items[n - 1 - i];
			out->items[n - 1 - i] = t;
			out->pos[i] = out->pos[n - 1 - i];
			out->pos[n - 1 - i] = tp;
		}
	}
	goto out;

dberr:
	rc = sq_read_error(db, "search");
out:
	if (x.err == ERR_INVALID && why && whylen)
		snprintf(why, whylen, "The search is nested too deeply");
	sq_stmt_release(cache, st);
	sqs_fini(&x);
	if (rc)
		store_search_page_clear(out);
	return rc;
}

int sq_search(void *impl, const store_search_q *sq, store_search_page *out, char *why, size_t whylen)
{
	struct sq *s = impl;
	struct sq_reader *r = sq_reader_get(s);
	int rc = sqs_run(r->db, &r->cache, sq, out, why, whylen);
	sq_reader_put(s, r);
	return rc;
}

int sq_search_ids(sqlite3 *db, const search_query *q, const char *comp_id, char (*ids)[65], size_t max, size_t *n)
{
	store_search_q sq = { .q = q, .comp_id = comp_id, .count = (unsigned)max };
	store_search_page page;
	int rc;

	*n = 0;
	rc = sqs_run(db, NULL, &sq, &page, NULL, 0);
	if (rc)
		return rc;
	for (size_t i = 0; i < page.n && i < max; i++) {
		snprintf(ids[i], 65, "%s", page.items[i].id);
		(*n)++;
	}
	store_search_page_clear(&page);
	return 0;
}

int sq_comp_member_db(sqlite3 *db, const char *type, int64_t seq, const char *patient, int *yes)
{
	struct sqs x;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	*yes = 0;
	if (!search_compartment_params(type))
		return 0;
	sqs_init(&x, SQS_SQLITE, NULL, NULL);
	sqs_comp_member(&x, type, seq, patient);
	if ((rc = sqs_end(&x)) != 0)
		goto out;
	if (sqlite3_prepare_v2(db, x.sql.data, -1, &st, NULL) != SQLITE_OK || sqs_bind_all(&x, st)) {
		rc = ERR_DB;
		goto out;
	}
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*yes = 1;
	else if (step != SQLITE_DONE)
		rc = sq_read_error(db, "compartment check");
out:
	sqlite3_finalize(st);
	sqs_fini(&x);
	return rc;
}

int sq_compartment_member(void *impl, const char *type, int64_t seq, const char *patient, int *yes)
{
	struct sq *s = impl;
	struct sq_reader *r = sq_reader_get(s);
	int rc = sq_comp_member_db(r->db, type, seq, patient, yes);
	sq_reader_put(s, r);
	return rc;
}

int sq_referrers(void *impl, const uint32_t *params, size_t np, const char *type, const char *id, size_t max,
		 store_version_t **items, size_t *n)
{
	struct sq *s = impl;
	struct sq_reader *r = sq_reader_get(s);
	struct sqs x;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;
	size_t cap = *n;

	sqs_init(&x, SQS_SQLITE, NULL, NULL);
	sqs_referrers(&x, params, np, type, id, max);
	if ((rc = sqs_end(&x)) != 0)
		goto out;
	if (sqlite3_prepare_v2(r->db, x.sql.data, -1, &st, NULL) != SQLITE_OK || sqs_bind_all(&x, st)) {
		rc = ERR_DB;
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
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
		rc = sq_row_version(st, &(*items)[*n]);
		(*n)++;
		if (rc)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = ERR_DB;
out:
	if (rc == ERR_DB)
		rc = sq_read_error(r->db, "referrers query");
	sqlite3_finalize(st);
	sqs_fini(&x);
	sq_reader_put(s, r);
	return rc;
}
