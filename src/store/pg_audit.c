/*
 * pg_audit.c - the audit trail of store.h in the PostgreSQL database
 * (tables audit_event and audit_meta, created with the rest of the schema
 * in pg.c). Semantics are sqlite_audit.c's (read its header for the
 * workload and the chain); what differs:
 *
 * - Same database as the resources: PostgreSQL has no file-level cache
 *   invalidation for readers to suffer from, and several nodes must share
 *   one trail anyway.
 * - Appends of every node are serialised by the transaction-scoped
 *   advisory lock PG_LOCK_AUDIT taken before the head checkpoint is read,
 *   so the chain stays linear across nodes; the head moves in the same
 *   transaction. Resource writes (PG_LOCK_WRITE) do not wait for it.
 * - audit_event is append-only by triggers (UPDATE, DELETE, TRUNCATE raise
 *   an error for every session), as in SQLite.
 * - The walk reads in one REPEATABLE READ snapshot, in keyset pages, so
 *   the head and the rows agree and memory stays flat.
 */
#include "backend.h"
#include "pg_int.h"

#include "core/err.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PGU_COLS                                                                                                      \
	"seq, recorded_us, kind, status, outcome, action, subtype, outcome_desc, client_id, subject, fhir_user, "     \
	"patient, entity_type, entity_id, address, observer, issuer, query, prev, hash"

static const char pgu_head_sql[] = "SELECT value FROM audit_meta WHERE key = 'audit_head'";

static int pgu_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "<seq> <64 hex>" -> head. ERR_INVALID when malformed. */
static int pgu_head_parse(const char *v, store_audit_head *h)
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
		int hi = pgu_hexval(end[2 * i]), lo = pgu_hexval(end[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return ERR_INVALID;
		h->hash[i] = (unsigned char)(hi << 4 | lo);
	}
	h->seq = seq;
	h->present = 1;
	return 0;
}

static int pgu_head_read(struct pg_conn *c, store_audit_head *h)
{
	PGresult *r = NULL;
	int rc = pg_exec(c, pgu_head_sql, 0, NULL, NULL, NULL, &r);

	memset(h, 0, sizeof *h);
	if (!rc && PQntuples(r) > 0 && pgu_head_parse(PQgetvalue(r, 0, 0), h)) {
		/* a head we cannot read is treated as absent; verify says so */
		log_error("msg=\"audit head checkpoint is malformed\"");
		memset(h, 0, sizeof *h);
	}
	PQclear(r);
	return rc;
}

/* Reads, then writes, run without the read time limit: the auditor's
 * calls are rare and the appender must not be interrupted. */
static int pgu_no_timeout(struct pg_conn *c)
{
	PGresult *r = NULL;
	int rc;

	if (c->timeout_ms_set == 0)
		return 0;
	rc = pg_exec(c, "SELECT set_config('statement_timeout', '0', false)", 0, NULL, NULL, NULL, &r);
	PQclear(r);
	if (!rc)
		c->timeout_ms_set = 0;
	return rc;
}

static int pgu_insert(struct pg_conn *c, const store_audit_rec *r)
{
	static const char sql[] = "INSERT INTO audit_event(" PGU_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, "
				  "$10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";
	char n[5][24];
	const char *v[20];
	int lens[20] = { 0 }, bin[20] = { 0 };
	PGresult *res = NULL;
	int rc;

	snprintf(n[0], sizeof n[0], "%" PRId64, r->seq);
	snprintf(n[1], sizeof n[1], "%" PRId64, r->recorded_us);
	snprintf(n[2], sizeof n[2], "%d", r->kind);
	snprintf(n[3], sizeof n[3], "%d", r->status);
	snprintf(n[4], sizeof n[4], "%d", r->outcome);
	for (int i = 0; i < 5; i++)
		v[i] = n[i];
	v[5] = r->action;
	v[6] = r->subtype;
	v[7] = r->outcome_desc;
	v[8] = r->client_id;
	v[9] = r->subject;
	v[10] = r->fhir_user;
	v[11] = r->patient;
	v[12] = r->entity_type;
	v[13] = r->entity_id;
	v[14] = r->address;
	v[15] = r->observer;
	v[16] = r->issuer;
	v[17] = r->query; /* NULL: SQL NULL */
	v[18] = (const char *)r->prev;
	v[19] = (const char *)r->hash;
	lens[18] = lens[19] = STORE_AUDIT_HASH;
	bin[18] = bin[19] = 1;
	rc = pg_exec(c, sql, 20, v, lens, bin, &res);
	PQclear(res);
	return rc;
}

int pg_audit_append(void *impl, store_audit_rec *recs, size_t n, store_audit_hash_fn fn)
{
	struct pg *s = impl;
	struct pg_conn *c = NULL;
	PGresult *r = NULL;
	store_audit_head head;
	unsigned char prev[STORE_AUDIT_HASH];
	char hv[40 + 2 * STORE_AUDIT_HASH], lock[24];
	const char *lv[1] = { lock }, *hvv[1] = { hv };
	int64_t max = 0, next;
	int rc;

	rc = pg_conn_get(s, &c);
	if (rc)
		return rc == ERR_BUSY ? ERR_DB : rc;
	rc = pgu_no_timeout(c);
	if (!rc)
		rc = pg_cmd(c, "BEGIN");
	if (rc)
		goto out;
	snprintf(lock, sizeof lock, "%lld", (long long)PG_LOCK_AUDIT);
	rc = pg_exec(c, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lv, NULL, NULL, &r);
	PQclear(r);
	r = NULL;
	if (!rc)
		rc = pgu_head_read(c, &head);
	if (!rc)
		rc = pg_exec(c, "SELECT COALESCE(MAX(seq), 0) FROM audit_event", 0, NULL, NULL, NULL, &r);
	if (rc)
		goto out;
	max = pg_int(r, 0, 0);
	PQclear(r);
	r = NULL;
	if (max != head.seq)
		log_error("msg=\"audit table does not end at its head checkpoint: records were removed or added "
			  "outside fhird (fhird audit verify tells which)\" head=%" PRId64 " last=%" PRId64,
			  head.seq, max);
	memcpy(prev, head.hash, sizeof prev); /* zeros when absent */
	next = (max > head.seq ? max : head.seq) + 1;
	for (size_t k = 0; k < n && !rc; k++) {
		store_audit_rec *x = &recs[k];
		x->seq = next++;
		memcpy(x->prev, prev, sizeof prev);
		fn(prev, x, x->hash);
		rc = pgu_insert(c, x);
		memcpy(prev, x->hash, sizeof prev);
	}
	if (rc)
		goto out;
	{
		int pos = snprintf(hv, sizeof hv, "%" PRId64 " ", recs[n - 1].seq);
		for (size_t k = 0; k < STORE_AUDIT_HASH; k++)
			snprintf(hv + pos + 2 * k, 3, "%02x", prev[k]);
	}
	rc = pg_exec(c,
		     "INSERT INTO audit_meta(key, value) VALUES('audit_head', $1) "
		     "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
		     1, hvv, NULL, NULL, &r);
	PQclear(r);
	r = NULL;
	if (!rc)
		rc = pg_cmd(c, "COMMIT");
out:
	PQclear(r);
	if (rc) {
		log_error("msg=\"audit append failed\" err=%d", rc);
		rc = ERR_DB; /* store.h: nothing appended */
	}
	pg_conn_put(s, c); /* rolls back what is still open */
	return rc;
}

/* A row of PGU_COLS into out (query malloc'd). */
static int pgu_row(const PGresult *r, int row, store_audit_rec *out)
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
	char *b = NULL;
	size_t blen = 0;
	int rc;

	memset(out, 0, sizeof *out);
	out->seq = pg_int(r, row, 0);
	out->recorded_us = pg_int(r, row, 1);
	out->kind = (int)pg_int(r, row, 2);
	out->status = (int)pg_int(r, row, 3);
	out->outcome = (int)pg_int(r, row, 4);
	for (int i = 0; i < (int)(sizeof text / sizeof text[0]); i++)
		snprintf(text[i].dst, text[i].cap, "%s", PQgetvalue(r, row, 5 + i));
	if (!PQgetisnull(r, row, 17) && !(out->query = strdup(PQgetvalue(r, row, 17))))
		return ERR_NOMEM;
	/* a hash of another length (tampering) compares unequal: zeros and
	 * the bytes there are, so verify reports it rather than reading past */
	for (int col = 18; col <= 19; col++) {
		unsigned char *dst = col == 18 ? out->prev : out->hash;
		rc = pg_bytea(r, row, col, &b, &blen);
		if (rc)
			return rc;
		memset(dst, 0, STORE_AUDIT_HASH);
		if (b)
			memcpy(dst, b, blen < STORE_AUDIT_HASH ? blen : STORE_AUDIT_HASH);
		free(b);
		b = NULL;
	}
	return 0;
}

int pg_audit_get(void *impl, int64_t seq, store_audit_rec *out)
{
	struct pg *s = impl;
	struct pg_conn *c = NULL;
	PGresult *r = NULL;
	char sq[24];
	const char *v[1] = { sq };
	int rc;

	snprintf(sq, sizeof sq, "%" PRId64, seq);
	rc = pg_conn_get(s, &c);
	if (rc)
		return rc;
	rc = pgu_no_timeout(c);
	if (!rc)
		rc = pg_exec(c, "SELECT " PGU_COLS " FROM audit_event WHERE seq = $1", 1, v, NULL, NULL, &r);
	if (!rc && PQntuples(r) == 0)
		rc = ERR_NOTFOUND;
	if (!rc)
		rc = pgu_row(r, 0, out);
	if (rc)
		store_audit_rec_clear(out);
	PQclear(r);
	pg_conn_put(s, c);
	return rc;
}

/* The WHERE clause from fixed fragments; every value bound. */
int pg_audit_search(void *impl, const store_audit_q *q, store_audit_page *out)
{
	struct pg *s = impl;
	struct pg_conn *c = NULL;
	PGresult *r = NULL;
	struct pg_q x = { 0 };
	size_t cap = (size_t)q->count + 1, n = 0, rows;
	int rc;

	pg_q_lit(&x, "SELECT " PGU_COLS " FROM audit_event WHERE true");
	if (q->seq > 0)
		pg_q_int(&x, " AND seq = ", q->seq);
	if (q->before_seq > 0)
		pg_q_int(&x, " AND seq < ", q->before_seq);
	if (q->date_lo != INT64_MIN)
		pg_q_int(&x, " AND recorded_us >= ", q->date_lo);
	if (q->date_hi != INT64_MAX)
		pg_q_int(&x, " AND recorded_us <= ", q->date_hi);
	if (q->patient)
		pg_q_text(&x, " AND patient = ", q->patient);
	if (q->agent) {
		/* one value, three columns: the same parameter three times */
		char tail[64];
		pg_q_text(&x, " AND (client_id = ", q->agent);
		snprintf(tail, sizeof tail, " OR fhir_user = $%d OR subject = $%d)", x.n, x.n);
		pg_q_lit(&x, tail);
	}
	if (q->entity_type)
		pg_q_text(&x, " AND entity_type = ", q->entity_type);
	if (q->entity_id)
		pg_q_text(&x, " AND entity_id = ", q->entity_id);
	if (q->subtype)
		pg_q_text(&x, " AND subtype = ", q->subtype);
	if (q->action)
		pg_q_text(&x, " AND action = ", q->action);
	if (q->outcome >= 0)
		pg_q_int(&x, " AND outcome = ", q->outcome);
	pg_q_int(&x, " ORDER BY seq DESC LIMIT ", (int64_t)cap);

	out->items = calloc(cap, sizeof *out->items);
	if (!out->items)
		return ERR_NOMEM;
	rc = pg_conn_get(s, &c);
	if (rc)
		goto out;
	rc = pgu_no_timeout(c); /* as SQLite's audit reads: the auditor's, not a request's budget */
	if (!rc)
		rc = pg_q_exec(c, &x, &r);
	if (rc)
		goto out;
	rows = (size_t)PQntuples(r);
	for (; n < rows && n < cap; n++) {
		rc = pgu_row(r, (int)n, &out->items[n]);
		if (rc) {
			n++;
			goto out;
		}
	}
	if (n > q->count) {
		store_audit_rec_clear(&out->items[--n]);
		out->has_more = 1;
	}
out:
	out->n = n;
	if (rc)
		store_audit_page_clear(out);
	PQclear(r);
	pg_conn_put(s, c);
	return rc;
}

#define PGU_WALK_PAGE "1000"
int pg_audit_walk(void *impl, store_audit_head *head, store_audit_walk_fn fn, void *ctx)
{
	struct pg *s = impl;
	struct pg_conn *c = NULL;
	PGresult *r = NULL;
	store_audit_rec rec;
	char after[24];
	const char *v[1] = { after };
	int64_t last = INT64_MIN;
	int rc;

	memset(&rec, 0, sizeof rec);
	rc = pg_conn_get(s, &c);
	if (rc)
		return rc == ERR_BUSY ? ERR_DB : rc;
	rc = pgu_no_timeout(c);
	/* One snapshot: the head and the rows agree even while a server
	 * appends meanwhile. */
	if (!rc)
		rc = pg_cmd(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (!rc)
		rc = pgu_head_read(c, head);
	while (!rc) {
		int rows;
		snprintf(after, sizeof after, "%" PRId64, last);
		rc = pg_exec(c, "SELECT " PGU_COLS " FROM audit_event WHERE seq > $1 ORDER BY seq LIMIT " PGU_WALK_PAGE,
			     1, v, NULL, NULL, &r);
		if (rc)
			break;
		rows = PQntuples(r);
		if (rows == 0)
			break;
		for (int i = 0; i < rows && !rc; i++) {
			rc = pgu_row(r, i, &rec);
			last = rec.seq;
			if (!rc)
				rc = fn(ctx, &rec);
			store_audit_rec_clear(&rec);
		}
		PQclear(r);
		r = NULL;
	}
	PQclear(r);
	if (c)
		pg_cmd(c, "COMMIT");
	pg_conn_put(s, c);
	if (rc == ERR_BUSY || rc == ERR_TOOCOSTLY)
		rc = ERR_DB;
	return rc;
}
