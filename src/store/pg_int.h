/*
 * pg_int.h - what the PostgreSQL backend's files share (internal to
 * src/store/). pg.c owns connections, migrations, reads, history and the
 * write path; pg_index.c writes and rebuilds the search index tables;
 * pg_search.c runs searches (SQL from the shared compiler, sql_search.h);
 * pg_auth.c and pg_audit.c keep the authorization records and the audit
 * trail.
 *
 * Why the design is what it is:
 * - Several fhird processes share one database and nothing else, so every
 *   piece of state lives in it, and every rule that SQLite gets from having
 *   one writer (versions numbered without gaps or duplicates, seq growing in
 *   commit order so that a history snapshot never misses a row committed
 *   later with a smaller seq, conditional interactions deciding on what the
 *   writer sees) comes here from one transaction-scoped advisory lock
 *   (PG_LOCK_WRITE) that every resource write takes before it reads
 *   anything. Writes are serial across all nodes, as they are in SQLite;
 *   reads are not.
 * - The schema mirrors the SQLite one (same tables, same columns, text
 *   columns COLLATE "C" so that order is byte order as in SQLite's BINARY
 *   collation), which is what lets one search compiler (sql_search.c)
 *   serve both backends and give the same results for the same query.
 * - A connection is used by one thread at a time (a pool); a broken one is
 *   reset when taken, and a request that cannot get a working connection
 *   fails with ERR_BUSY (503), never a crash.
 */
#ifndef FHIRD_STORE_PG_INT_H
#define FHIRD_STORE_PG_INT_H

#include "store.h"

#include <libpq-fe.h>
#include <pthread.h>

/* Advisory lock keys (pg_advisory_lock / pg_advisory_xact_lock). */
#define PG_LOCK_MIGRATE 0x66686972640001LL /* "fhird" + 1: schema migrations at start */
#define PG_LOCK_WRITE 0x66686972640002LL   /* every resource write transaction */
#define PG_LOCK_AUDIT 0x66686972640003LL   /* audit appends (the chain is linear) */

/* Prepared statements are named by the hash of their text and remembered
 * per connection (a search's text depends only on the query's shape). */
#define PG_STMT_CACHE 64

struct pg_conn {
	PGconn *c;
	int broken;                 /* set by a failed call: reset before the next use */
	int64_t timeout_ms_set;     /* the statement_timeout now set on the session (-1 unknown) */
	uint64_t stmt_hash[PG_STMT_CACHE]; /* prepared statement names "s<hash>" known to this session */
	unsigned nstmt;
	struct pg_conn *next_free;
};

/* A store_commit() waiting for its batch (pg.c: group commit). */
struct pg_job {
	store_op_t *ops;
	size_t n;
	int atomic;
	int rc;
	int done;
	pthread_cond_t cond;        /* the submitter sleeps on its own condition: no herd */
	struct pg_job *next;
};

struct pg {
	char *conninfo;             /* the --db URL or keyword string, as given */
	int64_t timeout_us;         /* statement time limit of reads (store.h); 0: none */
	struct pg_conn *conns;
	unsigned nconns;
	struct pg_conn *free_conns;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int schema_version;
	/* group commit (pg.c): queued jobs, and whether a leader is running a
	 * batch; wlock guards them */
	pthread_mutex_t wlock;
	struct pg_job *qhead, *qtail;
	int writing;
	unsigned batch_max;         /* write_batch_max operations per transaction */
};

/* A connection from the pool (waits while all are in use); reconnects a
 * broken one first. ERR_BUSY when the database cannot be reached. */
int pg_conn_get(struct pg *s, struct pg_conn **out);
void pg_conn_put(struct pg *s, struct pg_conn *c);

/* Runs sql with n text parameters (NULL = SQL NULL) as a prepared
 * statement of this connection (prepared on first use, by the hash of the
 * text). *res is the result to PQclear(); NULL after an error. Maps the
 * failure: SQLSTATE 57014 (statement timeout) -> ERR_TOOCOSTLY, 40001 /
 * 40P01 -> ERR_BUSY, 23505 (unique violation) -> ERR_CONFLICT, a lost
 * connection -> ERR_BUSY (and marks it broken), anything else -> ERR_DB
 * (logged without parameter values). Text parameters only: integers are
 * formatted by the caller, binary body bytes go as bytea text (PG_BYTEA). */
int pg_exec(struct pg_conn *c, const char *sql, int n, const char *const *vals, const int *lens,
	    const int *binary, PGresult **res);

/* Simple statement without parameters (BEGIN, COMMIT, DDL). */
int pg_cmd(struct pg_conn *c, const char *sql);

/* Sets the session statement_timeout for a read from the calling thread's
 * deadline (store_deadline_current(), else the full limit); only when it
 * differs from what is set. */
int pg_read_timeout(struct pg *s, struct pg_conn *c);

/* Copies a row of PG_COLS starting at column col0 into out (body malloc'd). */
#define PG_COLS "v.type, v.id, v.vid, v.seq, v.updated_us, v.method, v.deleted, v.body"
int pg_row_version(const PGresult *r, int row, int col0, store_version_t *out);

int64_t pg_now_us(void);

/* Column values of a text-format result: an integer (0 for NULL), and a
 * bytea (hex) decoded into a malloc'd buffer with a NUL after it (*out
 * NULL for SQL NULL). */
int64_t pg_int(const PGresult *r, int row, int col);
int pg_bytea(const PGresult *r, int row, int col, char **out, size_t *len);

/* SQL text from fixed fragments, each value a parameter numbered in the
 * order added ($1, $2, ...): PostgreSQL wants every parameter number up
 * to the largest used, so conditions that are absent must not leave holes.
 * Values are borrowed (integers are formatted into num). An overflow of
 * sql or of the parameters sets err (ERR_INTERNAL: the fragments are
 * literals, a programming error). */
#define PG_Q_MAXP 16
struct pg_q {
	char sql[2048];
	size_t len;
	int n;
	const char *vals[PG_Q_MAXP];
	char num[PG_Q_MAXP][24];
	int err;
};
void pg_q_lit(struct pg_q *q, const char *text);
void pg_q_text(struct pg_q *q, const char *pre, const char *val); /* pre, then "$k" */
void pg_q_int(struct pg_q *q, const char *pre, int64_t v);
int pg_q_exec(struct pg_conn *c, const struct pg_q *q, PGresult **res);

/* pg_index.c: the index rows of one version, inside the caller's write
 * transaction on c; reindex; the parameter-table hash in meta; compartment
 * membership of a version. */
int pg_index_write(struct pg_conn *c, int64_t seq, const char *id, const search_row *rows, size_t n);
/* Removes the index rows of version seq, replaced by a newer version or a
 * delete (STORE_INDEX_LAYOUT in backend.h). */
int pg_index_drop(struct pg_conn *c, int64_t seq);
int pg_reindex(void *impl, store_extract_fn fn, void *ctx, size_t *count);
int pg_index_hash(void *impl, char *out, size_t cap);
int pg_comp_member_conn(struct pg_conn *c, const char *type, int64_t seq, const char *patient, int *yes);
int pg_compartment_member(void *impl, const char *type, int64_t seq, const char *patient, int *yes);
/* 1 when the indexes were built with this binary's parameter table. */
int pg_index_check_conn(struct pg_conn *c);

/* pg_search.c */
int pg_search(void *impl, const store_search_q *q, store_search_page *out, char *why, size_t whylen);
/* Conditional-interaction matching on connection c (the writer's, inside
 * its transaction, or a reader's for store_match). */
int pg_search_ids(struct pg_conn *c, const search_query *q, const char *comp_id, char (*ids)[65], size_t max,
		  size_t *n);
int pg_referrers(void *impl, const uint32_t *params, size_t np, const char *type, const char *id, size_t max,
		 store_version_t **items, size_t *n);

/* pg_auth.c: store.h's authorization records */
int pg_auth_put(void *impl, enum store_auth_kind kind, const char *key, const char *family, const char *value,
		int64_t exp_us, int replace);
int pg_auth_get(void *impl, enum store_auth_kind kind, const char *key, int take, store_auth_rec *out);
int pg_auth_del(void *impl, enum store_auth_kind kind, const char *key);
int pg_auth_list(void *impl, enum store_auth_kind kind, store_auth_rec **out, size_t *n);
int pg_auth_revoked(void *impl, const char *a, const char *b, int *revoked);
int pg_auth_expire_family(void *impl, const char *family, int64_t exp_us);
int pg_auth_purge(void *impl, int64_t now_us, size_t *n);

/* pg_audit.c: store.h's audit trail (tables audit_event / audit_meta in
 * the same database; appends serialised by PG_LOCK_AUDIT) */
int pg_audit_append(void *impl, store_audit_rec *recs, size_t n, store_audit_hash_fn fn);
int pg_audit_get(void *impl, int64_t seq, store_audit_rec *out);
int pg_audit_search(void *impl, const store_audit_q *q, store_audit_page *out);
int pg_audit_walk(void *impl, store_audit_head *head, store_audit_walk_fn fn, void *ctx);

#endif
