/*
 * backend.h - what a storage backend provides to store.c (internal to
 * src/store/). store.c owns the dispatch; a backend owns its connections.
 */
#ifndef FHIRD_STORE_BACKEND_H
#define FHIRD_STORE_BACKEND_H

#include "store.h"

struct store_backend {
	const char *name;
	int (*open)(const store_options *o, void **impl);
	void (*close)(void *impl);
	int (*commit)(void *impl, store_op_t *ops, size_t n, int atomic);
	int (*read)(void *impl, const char *type, const char *id, store_version_t *out);
	int (*vread)(void *impl, const char *type, const char *id, int64_t vid, store_version_t *out);
	int (*history)(void *impl, const store_history_q *q, store_history_page *out);
	int (*match)(void *impl, const char *type, const store_cond *c, char (*ids)[65], size_t max, size_t *n);
	int (*schema_version)(void *impl);
	int (*search)(void *impl, const store_search_q *q, store_search_page *out, char *why, size_t whylen);
	int (*referrers)(void *impl, const uint32_t *params, size_t np, const char *type, const char *id, size_t max,
			 store_version_t **items, size_t *n);
	int (*reindex)(void *impl, store_extract_fn fn, void *ctx, size_t *count);
	int (*index_hash)(void *impl, char *out, size_t cap);
	int (*compartment_member)(void *impl, const char *type, int64_t seq, const char *patient, int *yes);
	/* authorization records (store.h) */
	int (*auth_put)(void *impl, enum store_auth_kind kind, const char *key, const char *family, const char *value,
			int64_t exp_us, int replace);
	int (*auth_get)(void *impl, enum store_auth_kind kind, const char *key, int take, store_auth_rec *out);
	int (*auth_del)(void *impl, enum store_auth_kind kind, const char *key);
	int (*auth_list)(void *impl, enum store_auth_kind kind, store_auth_rec **out, size_t *n);
	int (*auth_revoked)(void *impl, const char *a, const char *b, int *revoked);
	int (*auth_expire_family)(void *impl, const char *family, int64_t exp_us);
	int (*auth_purge)(void *impl, int64_t now_us, size_t *n);
	/* audit trail (store.h) */
	int (*audit_append)(void *impl, store_audit_rec *recs, size_t n, store_audit_hash_fn fn);
	int (*audit_get)(void *impl, int64_t seq, store_audit_rec *out);
	int (*audit_search)(void *impl, const store_audit_q *q, store_audit_page *out);
	int (*audit_walk)(void *impl, store_audit_head *head, store_audit_walk_fn fn, void *ctx);
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

/* The layout of the search index tables, kept in meta next to the search
 * parameter table's hash; a database whose indexes were written with
 * another layout is reindexed at open, like one built with another table.
 * "live": the tables hold the rows of current, live versions only (a new
 * version or a delete removes the rows of the one it replaces), so a search
 * driven by an index table needs no look at `current` to drop old
 * versions. Before it (no value), rows of every version stayed. */
#define STORE_INDEX_LAYOUT "live"

/* 1 when path names a PostgreSQL database: a postgresql:// or
 * postgres:// URL (pg.c). */
int store_pg_location(const char *path);

/* The calling thread's deadline from store_deadline_begin() (CLOCK_MONOTONIC
 * microseconds), or 0 when none is set. */
int64_t store_deadline_current(void);

/* CLOCK_MONOTONIC in microseconds (the clock of deadlines). */
int64_t store_mono_us(void);

#endif
