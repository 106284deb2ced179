/*
 * pg_auth.c - the authorization records of store.h (the SMART server's
 * clients, users, keys, codes, refresh tokens, launches, revocations) in
 * the auth_rec table of the PostgreSQL backend. Semantics are those of
 * sqlite_auth.c (read its header for the workload).
 *
 * Every call borrows a pooled connection. Single statements run in
 * autocommit, durable when they return (synchronous_commit=on). The take
 * (read, then mark used) is one transaction whose SELECT ... FOR UPDATE
 * locks the row: a second taker, on this node or another, waits for the
 * first to commit and then reads used = 1, so exactly one sees 0.
 *
 * Expiry: a record with exp_us != 0 and exp_us <= now (CLOCK_REALTIME of
 * the calling node) is absent for every call; the condition is in each
 * statement.
 */
#include "backend.h"
#include "pg_int.h"

#include "core/err.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PGA_LIVE "(exp_us = 0 OR exp_us > $3)"
#define PGA_COLS "key, family, value, exp_us, created_us, used"

/* $1 kind $2 key $3 now $4 family $5 value $6 exp_us $7 replace: one
 * statement, so the conflict check and the write are one step (as
 * SQA_PUT); 0 rows affected is a conflict. */
static const char pga_put_sql[] =
	"INSERT INTO auth_rec(kind, key, family, value, exp_us, created_us, used) "
	"VALUES($1, $2, $4, $5, $6, $3, 0) "
	"ON CONFLICT(kind, key) DO UPDATE SET family = excluded.family, value = excluded.value, "
	"exp_us = excluded.exp_us, used = 0, "
	"created_us = CASE WHEN auth_rec.exp_us <> 0 AND auth_rec.exp_us <= $3 "
	"THEN excluded.created_us ELSE auth_rec.created_us END "
	"WHERE $7::bigint <> 0 OR (auth_rec.exp_us <> 0 AND auth_rec.exp_us <= $3)";
static const char pga_get_sql[] = "SELECT " PGA_COLS " FROM auth_rec WHERE kind = $1 AND key = $2 AND " PGA_LIVE;
static const char pga_take_sql[] =
	"SELECT " PGA_COLS " FROM auth_rec WHERE kind = $1 AND key = $2 AND " PGA_LIVE " FOR UPDATE";
static const char pga_use_sql[] = "UPDATE auth_rec SET used = 1 WHERE kind = $1 AND key = $2";
static const char pga_del_sql[] = "DELETE FROM auth_rec WHERE kind = $1 AND key = $2";
static const char pga_list_sql[] = "SELECT " PGA_COLS " FROM auth_rec WHERE kind = $1 AND (exp_us = 0 OR exp_us > $2) "
				   "ORDER BY created_us, key";
/* $1, $2 the keys (NULL matches nothing), $3 now, $4 the kind */
static const char pga_revoked_sql[] =
	"SELECT 1 FROM auth_rec WHERE kind = $4 AND key IN ($1, $2) AND " PGA_LIVE " LIMIT 1";
/* $1 family $2 exp_us $3 now */
static const char pga_expire_sql[] = "UPDATE auth_rec SET exp_us = $2 WHERE family = $1 AND " PGA_LIVE;
/* $1 now: "expired" as everywhere else, exp_us <= now */
static const char pga_purge_sql[] = "DELETE FROM auth_rec WHERE exp_us <> 0 AND exp_us <= $1";

/* A row of PGA_COLS into out (value malloc'd). */
static int pga_row(const PGresult *r, int row, store_auth_rec *out)
{
	const char *v = PQgetvalue(r, row, 2);
	size_t vlen = (size_t)PQgetlength(r, row, 2);

	memset(out, 0, sizeof *out);
	snprintf(out->key, sizeof out->key, "%s", PQgetvalue(r, row, 0));
	snprintf(out->family, sizeof out->family, "%s", PQgetvalue(r, row, 1));
	out->value = malloc(vlen + 1);
	if (!out->value)
		return ERR_NOMEM;
	memcpy(out->value, v, vlen);
	out->value[vlen] = '\0';
	out->exp_us = pg_int(r, row, 3);
	out->created_us = pg_int(r, row, 4);
	out->used = (int)pg_int(r, row, 5);
	return 0;
}

/* Runs one statement on a pooled connection; *res for the caller. */
static int pga_run(struct pg *s, int read, const char *sql, int n, const char *const *vals, PGresult **res)
{
	struct pg_conn *c = NULL;
	int rc;

	*res = NULL;
	rc = pg_conn_get(s, &c);
	if (rc)
		return rc;
	/* reads are bounded like every read; writes are not interrupted */
	rc = read ? pg_read_timeout(s, c) : 0;
	if (!rc && !read && c->timeout_ms_set != 0) {
		PGresult *r = NULL;
		rc = pg_exec(c, "SELECT set_config('statement_timeout', '0', false)", 0, NULL, NULL, NULL, &r);
		PQclear(r);
		if (!rc)
			c->timeout_ms_set = 0;
	}
	if (!rc)
		rc = pg_exec(c, sql, n, vals, NULL, NULL, res);
	pg_conn_put(s, c);
	return rc;
}

int pg_auth_put(void *impl, enum store_auth_kind kind, const char *key, const char *family, const char *value,
		int64_t exp_us, int replace)
{
	char k[8], now[24], exp[24], rep[4];
	const char *v[7] = { k, key, now, family ? family : "", value, exp, rep };
	PGresult *r = NULL;
	int rc;

	snprintf(k, sizeof k, "%d", (int)kind);
	snprintf(now, sizeof now, "%" PRId64, pg_now_us());
	snprintf(exp, sizeof exp, "%" PRId64, exp_us);
	snprintf(rep, sizeof rep, "%d", replace != 0);
	rc = pga_run(impl, 0, pga_put_sql, 7, v, &r);
	if (!rc && !strcmp(PQcmdTuples(r), "0"))
		rc = ERR_CONFLICT; /* a live record and no replace: the upsert's WHERE said no */
	PQclear(r);
	return rc;
}

/* store_auth_take: read with the row locked, mark used, commit. */
static int pga_take(struct pg *s, const char *const *v, store_auth_rec *out)
{
	struct pg_conn *c = NULL;
	PGresult *r = NULL;
	int rc;

	rc = pg_conn_get(s, &c);
	if (rc)
		return rc;
	if (c->timeout_ms_set != 0) {
		rc = pg_exec(c, "SELECT set_config('statement_timeout', '0', false)", 0, NULL, NULL, NULL, &r);
		PQclear(r);
		r = NULL;
		if (!rc)
			c->timeout_ms_set = 0;
	}
	if (!rc)
		rc = pg_cmd(c, "BEGIN");
	if (rc)
		goto out;
	rc = pg_exec(c, pga_take_sql, 3, v, NULL, NULL, &r);
	if (!rc && PQntuples(r) == 0)
		rc = ERR_NOTFOUND;
	if (!rc)
		rc = pga_row(r, 0, out);
	PQclear(r);
	r = NULL;
	if (!rc && !out->used) {
		rc = pg_exec(c, pga_use_sql, 2, v, NULL, NULL, &r);
		PQclear(r);
		r = NULL;
		if (!rc)
			rc = pg_cmd(c, "COMMIT");
	} else {
		pg_cmd(c, "ROLLBACK"); /* nothing written: absent, already used, or failed */
	}
out:
	pg_conn_put(s, c); /* rolls back whatever is still open */
	if (rc)
		store_auth_rec_clear(out);
	return rc;
}

int pg_auth_get(void *impl, enum store_auth_kind kind, const char *key, int take, store_auth_rec *out)
{
	char k[8], now[24];
	const char *v[3] = { k, key, now };
	PGresult *r = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	snprintf(k, sizeof k, "%d", (int)kind);
	snprintf(now, sizeof now, "%" PRId64, pg_now_us());
	if (take)
		return pga_take(impl, v, out);
	rc = pga_run(impl, 1, pga_get_sql, 3, v, &r);
	if (!rc && PQntuples(r) == 0)
		rc = ERR_NOTFOUND;
	if (!rc)
		rc = pga_row(r, 0, out);
	PQclear(r);
	if (rc)
		store_auth_rec_clear(out);
	return rc;
}

int pg_auth_del(void *impl, enum store_auth_kind kind, const char *key)
{
	char k[8];
	const char *v[2] = { k, key };
	PGresult *r = NULL;
	int rc;

	snprintf(k, sizeof k, "%d", (int)kind);
	rc = pga_run(impl, 0, pga_del_sql, 2, v, &r);
	PQclear(r);
	return rc;
}

int pg_auth_list(void *impl, enum store_auth_kind kind, store_auth_rec **out, size_t *n)
{
	char k[8], now[24];
	const char *v[2] = { k, now };
	PGresult *r = NULL;
	store_auth_rec *items = NULL;
	size_t cnt = 0, rows;
	int rc;

	*out = NULL;
	*n = 0;
	snprintf(k, sizeof k, "%d", (int)kind);
	snprintf(now, sizeof now, "%" PRId64, pg_now_us());
	rc = pga_run(impl, 1, pga_list_sql, 2, v, &r);
	if (rc)
		goto out;
	rows = (size_t)PQntuples(r);
	if (rows == 0)
		goto out;
	items = calloc(rows, sizeof *items);
	if (!items) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (; cnt < rows; cnt++) {
		rc = pga_row(r, (int)cnt, &items[cnt]);
		if (rc) {
			cnt++; /* cleared below, like the others */
			goto out;
		}
	}
	*out = items;
	*n = cnt;
	items = NULL;
out:
	if (items) {
		for (size_t i = 0; i < cnt; i++)
			store_auth_rec_clear(&items[i]);
		free(items);
	}
	PQclear(r);
	return rc;
}

int pg_auth_revoked(void *impl, const char *a, const char *b, int *revoked)
{
	char k[8], now[24];
	/* NULL never equals anything in SQL, so an absent key matches no row
	 * (and "" must not match a record stored under "" either) */
	const char *v[4] = { a && *a ? a : NULL, b && *b ? b : NULL, now, k };
	PGresult *r = NULL;
	int rc;

	*revoked = 0;
	if (!v[0] && !v[1])
		return 0; /* nothing to look up: spare the pool */
	snprintf(k, sizeof k, "%d", STORE_AUTH_REVOKED);
	snprintf(now, sizeof now, "%" PRId64, pg_now_us());
	rc = pga_run(impl, 1, pga_revoked_sql, 4, v, &r);
	if (!rc)
		*revoked = PQntuples(r) > 0;
	else if (rc != ERR_BUSY)
		rc = ERR_DB; /* the caller fails closed on ERR_DB (token.h) */
	PQclear(r);
	return rc;
}

int pg_auth_expire_family(void *impl, const char *family, int64_t exp_us)
{
	char exp[24], now[24];
	const char *v[3] = { family, exp, now };
	PGresult *r = NULL;
	int rc;

	snprintf(exp, sizeof exp, "%" PRId64, exp_us);
	snprintf(now, sizeof now, "%" PRId64, pg_now_us());
	rc = pga_run(impl, 0, pga_expire_sql, 3, v, &r);
	PQclear(r);
	return rc;
}

int pg_auth_purge(void *impl, int64_t now_us, size_t *n)
{
	char now[24];
	const char *v[1] = { now };
	PGresult *r = NULL;
	int rc;

	*n = 0;
	snprintf(now, sizeof now, "%" PRId64, now_us);
	rc = pga_run(impl, 0, pga_purge_sql, 1, v, &r);
	if (!rc)
		*n = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return rc;
}
