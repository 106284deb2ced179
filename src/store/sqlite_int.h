/*
 * sqlite_int.h - what the SQLite backend's files share (internal to
 * src/store/): the backend state, the reader pool and row decoding.
 * sqlite.c owns connections, the writer thread and migrations;
 * sqlite_search.c runs search plans (SQL from the shared compiler,
 * sql_search.h); sqlite_index.c writes and rebuilds the search index
 * tables.
 */
#ifndef FHIRD_STORE_SQLITE_INT_H
#define FHIRD_STORE_SQLITE_INT_H

#include "sql_search.h"
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>

#define SQ_NREAD_STMTS 8
#define SQ_NWRITE_STMTS 24

/* Prepared search statements of one connection, by SQL text: a search's
 * text depends only on the query's shape (values are bound), so the same
 * kind of request reuses its statement instead of compiling it again. */
#define SQ_STMT_CACHE 32
struct sq_stmt_cache {
	struct {
		char *sql;
		sqlite3_stmt *st;
		uint64_t used;
		int busy;
	} e[SQ_STMT_CACHE];
	uint64_t tick;
};

/* A statement for sql on db: from the cache (reset, bindings cleared) or
 * newly prepared; sq_stmt_release() gives it back. cache may be NULL
 * (prepare, and finalize at release). */
int sq_stmt_get(struct sq_stmt_cache *c, sqlite3 *db, const char *sql, sqlite3_stmt **out);
void sq_stmt_release(struct sq_stmt_cache *c, sqlite3_stmt *st);
void sq_stmt_cache_fini(struct sq_stmt_cache *c);

struct sq_reader {
	sqlite3 *db;
	int64_t deadline_us;   /* reads stop (SQLITE_INTERRUPT) past it; 0: none */
	struct sq_stmt_cache cache;
	sqlite3_stmt *st[SQ_NREAD_STMTS];
	struct sq_reader *next_free;
};

struct sq_job {
	store_op_t *ops;
	size_t n;
	int atomic;
	int rc;
	int done;
	pthread_cond_t cond; /* the submitter sleeps on its own condition: no herd */
	struct sq_job *next;
};

struct sq {
	int64_t timeout_us;        /* statement time limit (store.h); 0: none */
	/* readers */
	struct sq_reader *readers;
	unsigned nreaders;
	struct sq_reader *free_readers;
	pthread_mutex_t rlock;
	pthread_cond_t rcond;

	/* writer */
	sqlite3 *wdb;
	sqlite3_stmt *wst[SQ_NWRITE_STMTS];
	pthread_t wthread;
	int wthread_started;
	pthread_mutex_t wlock;
	pthread_cond_t wcond;      /* writer waits for jobs */
	struct sq_job *qhead, *qtail;
	int closing;
	unsigned batch_max;
	int64_t last_us;
	int schema_version;
	sqlite3_stmt *ist[8];      /* index inserts (sqlite_index.c) */
	sqlite3_stmt *idel[8];     /* index deletes by seq (sqlite_index.c) */
	int defer_rows;            /* the job's index rows are written at its end, sorted */
	int pt_bulk;               /* store_options.bulk: ix_pt is filled at close (sq_index_pt_*) */

	/* authorization records (sqlite_auth.c): their own write connection,
	 * one caller at a time (alock); see sqlite_auth.c for why */
	sqlite3 *adb;
	pthread_mutex_t alock;
	int alock_init;
	sqlite3_stmt *ast[8];

	/* the audit trail (sqlite_audit.c): a database file of its own, with
	 * one write connection (one appender at a time: ulock) and one read
	 * connection (one auditor query at a time: urlock) */
	sqlite3 *udb;
	pthread_mutex_t ulock;
	sqlite3_stmt *ust[4];
	sqlite3 *urdb;
	pthread_mutex_t urlock;
	struct sq_stmt_cache ucache;
	int ulocks_init;
};


struct sq_reader *sq_reader_get(struct sq *s);
void sq_reader_put(struct sq *s, struct sq_reader *r);

/* The error for a failed read on db: ERR_TOOCOSTLY when the statement
 * time limit interrupted it, else ERR_DB (logged with what). */
int sq_read_error(sqlite3 *db, const char *what);

/* Copies a row of SQ_COLS (type, id, vid, seq, updated_us, method,
 * deleted, body) starting at column 0 into out (body malloc'd). */
int sq_row_version(sqlite3_stmt *st, store_version_t *out);
int sq_exec(sqlite3 *db, const char *sql);
/* A connection to path (readonly or read-write, created when missing)
 * with the busy timeout every connection of the backend uses. */
int sq_open_conn(const char *path, int readonly, sqlite3 **out);
int64_t sq_now_us(void);

/* sqlite_auth.c: opens / closes the authorization-record connection (after
 * the migrations ran); the backend entry points of store.h's auth calls. */
int sq_auth_open(struct sq *s, const char *path);
void sq_auth_close(struct sq *s);
int sq_auth_put(void *impl, enum store_auth_kind kind, const char *key, const char *family, const char *value,
		int64_t exp_us, int replace);
int sq_auth_get(void *impl, enum store_auth_kind kind, const char *key, int take, store_auth_rec *out);
int sq_auth_del(void *impl, enum store_auth_kind kind, const char *key);
int sq_auth_list(void *impl, enum store_auth_kind kind, store_auth_rec **out, size_t *n);
int sq_auth_revoked(void *impl, const char *a, const char *b, int *revoked);
int sq_auth_expire_family(void *impl, const char *family, int64_t exp_us);
int sq_auth_purge(void *impl, int64_t now_us, size_t *n);

/* sqlite_audit.c: the audit trail's database next to path (created and
 * migrated at open), and the backend entry points of store.h's audit
 * calls. */
int sq_audit_open(struct sq *s, const char *path);
void sq_audit_close(struct sq *s);
int sq_audit_append(void *impl, store_audit_rec *recs, size_t n, store_audit_hash_fn fn);
int sq_audit_get(void *impl, int64_t seq, store_audit_rec *out);
int sq_audit_search(void *impl, const store_audit_q *q, store_audit_page *out);
int sq_audit_walk(void *impl, store_audit_head *head, store_audit_walk_fn fn, void *ctx);

/* sqlite_index.c */
int sq_index_write(struct sq *s, int64_t seq, const char *id, const search_row *rows, size_t n);
/* The rows of every op of a job that wrote a live version, sorted by
 * table and key first: neighbouring inserts land on the same b-tree pages,
 * so a big job (an import batch) dirties far fewer pages. */
int sq_index_write_ops(struct sq *s, const store_op_t *ops, size_t n);
int sq_index_prepare(struct sq *s);
/* Removes the index rows of version seq: called when a newer version (or a
 * delete) replaces it, so that the index tables hold only the rows of
 * current, live versions (see SQ_INDEX_LAYOUT). */
int sq_index_drop(struct sq *s, int64_t seq);
int sq_reindex(void *impl, store_extract_fn fn, void *ctx, size_t *count);
int sq_index_hash(void *impl, char *out, size_t cap);

/* SQL text from fixed fragments only: head, then each fragment whose `on`
 * is set, then tail, into out. Which fragments appear depends on the shape
 * of a query, never on its values (those are bound). ERR_INTERNAL when
 * out is too small (the fragments are literals: a programming error). */
struct sq_frag {
	int on;
	const char *text;
};
int sq_sql_build(char *out, size_t cap, const char *head, const struct sq_frag *frags, size_t n, const char *tail);
/* Compartment membership of one version (store.h), on connection db. */
int sq_comp_member_db(sqlite3 *db, const char *type, int64_t seq, const char *patient, int *yes);
int sq_compartment_member(void *impl, const char *type, int64_t seq, const char *patient, int *yes);
int sq_index_check(struct sq *s);

/* ix_pt of a bulk load (store_options.bulk). The load's first seq is kept
 * in meta('ix_pt_pending') from its open until its close fills ix_pt from
 * ix_ref and ix_tok for every seq from there on, in key order, in one
 * transaction with the marker's removal. sq_index_pt_open: with bulk, sets
 * the marker (unless one is there) and makes the writer skip ix_pt; without,
 * completes the ix_pt of a load that was cut short. sq_index_pt_close:
 * the fill of a bulk load. Both on the writer's connection, with no writer
 * thread running. */
int sq_index_pt_open(struct sq *s, int bulk);
int sq_index_pt_close(struct sq *s);
/* 1 when searches may use ix_pt on db: no bulk load is filling it. */
int sq_index_pt_ready(struct sq_stmt_cache *c, sqlite3 *db);

/* sqlite_search.c */
int sq_search(void *impl, const store_search_q *q, store_search_page *out, char *why, size_t whylen);
int sq_search_ids(sqlite3 *db, const search_query *q, const char *comp_id, char (*ids)[65], size_t max, size_t *n);
int sq_referrers(void *impl, const uint32_t *params, size_t np, const char *type, const char *id, size_t max,
		 store_version_t **items, size_t *n);

/* Index-row parameter ids of the derived row kinds: the shared ones of
 * sql_search.h, by their older names. */
#define SQ_P_TEXT(p) SQS_P_TEXT(p)
#define SQ_P_OFTYPE(p) SQS_P_OFTYPE(p)
#define SQ_P_REFID(p) SQS_P_REFID(p)

#endif
