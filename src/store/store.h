/*
 * store.h - the storage interface. Every backend (sqlite.c, pg.c)
 * implements the vtable below; nothing outside src/store/ speaks SQL.
 *
 * Model: a resource is identified by (type, id) and has versions 1, 2, ...
 * Each version is an immutable row: the JSON bytes as served (with id and
 * meta already in them), the version id, lastUpdated, the HTTP method that
 * made it (POST, PUT, DELETE) and a global sequence number that orders all
 * versions of the whole store (history paging walks it). A delete is a
 * version without a body.
 *
 * Writes: the caller describes a list of operations (store_op_t) and hands
 * them to store_commit(). The backend applies them in one database
 * transaction, assigning version ids and lastUpdated itself so that
 * concurrent writers can never produce two versions with the same number
 * or lose an update. Because the body must contain meta.versionId and
 * meta.lastUpdated, the body is rendered by a caller-supplied callback
 * inside the transaction once they are known. store_commit() returns only
 * when the transaction is durable on disk.
 *
 * Threading: a store_t is shared by all worker threads; every function is
 * thread-safe. The store owns its connections; results handed to the
 * caller (store_version_t bodies, history pages) are owned by the caller.
 */
#ifndef FHIRD_STORE_STORE_H
#define FHIRD_STORE_STORE_H

#include "search/extract.h"
#include "search/query.h"

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* One version of one resource. body is malloc'd and owned by whoever holds
 * the struct; store_version_clear() frees it. */
typedef struct store_version {
	char type[64];
	char id[65];
	int64_t vid;
	int64_t seq;          /* global order of all versions */
	int64_t updated_us;   /* lastUpdated, microseconds since the epoch */
	char method[8];       /* "POST", "PUT", "DELETE" */
	int deleted;          /* 1 for a delete version (body NULL) */
	char *body;
	size_t body_len;
} store_version_t;

void store_version_clear(store_version_t *v);

enum store_op_kind {
	STORE_OP_CREATE = 1, /* new resource, id chosen by the caller; ERR_CONFLICT if it exists */
	STORE_OP_UPDATE,     /* new version, or version 1 when absent or deleted */
	STORE_OP_DELETE      /* delete version; no-op when absent or already deleted */
};

/* Renders the body of a new version once id (which a conditional update
 * may only settle in the transaction), vid and lastUpdated are known.
 * Runs inside the write transaction: it must be quick and must not call
 * the store. *out is malloc'd; the store takes ownership. */
typedef int (*store_render_fn)(void *ctx, const char *id, int64_t vid, const char *last_updated, char **out,
			       size_t *out_len);

/* Criteria of a conditional interaction: a search (search/query.h) on
 * the op's type; only current, non-deleted resources match. */
typedef struct store_cond {
	const search_query *q;
	const char *comp_id;   /* non-NULL: only resources in Patient/[comp_id]'s compartment match */
} store_cond;

typedef struct store_op {
	/* in */
	enum store_op_kind kind;
	const char *type;
	const char *id;
	int64_t if_match;      /* >0: current version must be this, else ERR_PRECONDITION */
	store_render_fn render;/* CREATE and UPDATE */
	void *render_ctx;
	const char *method;    /* recorded in history: "POST" / "PUT" / "DELETE" */
	const search_row *rows;    /* search index rows of the new version (extract.h) */
	size_t nrows;
	/* Conditional interactions, resolved inside the transaction so that the
	 * match and the write are one atomic step:
	 *   CREATE: 0 matches -> create with id; 1 -> nothing written, noop=1,
	 *           result = the match's current version; more -> ERR_PRECONDITION.
	 *   UPDATE: 0 -> update-as-create with id; 1 -> update the match (if
	 *           id_fixed and id differs: ERR_INVALID); more -> ERR_PRECONDITION.
	 *   DELETE: 0 -> noop; 1 -> delete it; more -> delete all when
	 *           cond_multiple, else ERR_PRECONDITION. */
	const store_cond *cond;
	int id_fixed;          /* UPDATE with cond: the body named id */
	int cond_multiple;
	/* Transactions rewrite references before the commit, from a match made
	 * on a read connection; if the writer sees otherwise, the transaction
	 * must fail rather than point references at the wrong resource.
	 * 0: no expectation; 1: expect no match; 2: expect exactly one match
	 * (whose id is op->id). Mismatch: ERR_CONFLICT. */
	int cond_expect;
	/* Authorization guard of a patient-confined writer (auth.h): when set,
	 * an existing, non-deleted current version of the resource being
	 * updated or deleted must be in Patient/[guard_patient]'s compartment,
	 * checked in the transaction; otherwise the op fails with
	 * ERR_FORBIDDEN and nothing is written. */
	const char *guard_patient;
	/* out */
	int status;            /* 0 or the ERR_* that failed this op */
	int created;           /* 1 when this op created the resource (201) */
	int noop;              /* 1: nothing written (delete of nothing, create matched) */
	unsigned matches;      /* with cond: how many resources matched (capped at 2 unless multiple) */
	store_version_t result;/* the version written (body included) */
} store_op_t;

/* Applies ops[0..n) in one transaction and waits until it is durable.
 * atomic=1: all or nothing; the first failing op's error is returned and
 * nothing is written. atomic=0: each op succeeds or fails on its own
 * (op->status), and the function returns 0 unless the store itself failed.
 * Errors: ERR_DB, ERR_NOMEM, ERR_BUSY, or an op's ERR_CONFLICT /
 * ERR_PRECONDITION when atomic. */
int store_commit(store_t *s, store_op_t *ops, size_t n, int atomic);

/* Resources of type matching c (current, not deleted): their ids are
 * copied into ids[0..max), the total found (at most max) into *n.
 * A read-only look; the writer checks again when it matters. */
int store_match(store_t *s, const char *type, const store_cond *c, char (*ids)[65], size_t max, size_t *n);

/* Current version of (type, id). ERR_NOTFOUND when it never existed;
 * ERR_GONE when the newest version is a delete (out is filled, body NULL). */
int store_read(store_t *s, const char *type, const char *id, store_version_t *out);

/* A specific version. ERR_NOTFOUND when absent; ERR_GONE for a delete
 * version (out filled, body NULL). */
int store_vread(store_t *s, const char *type, const char *id, int64_t vid, store_version_t *out);

/* History query: instance (type and id set), type (type set) or system
 * (neither). Pages walk the global sequence newest first. */
typedef struct store_history_q {
	const char *type;
	const char *id;
	int64_t since_us;      /* INT64_MIN: no _since */
	int64_t at_lo_us;      /* _at range, INT64_MIN: none */
	int64_t at_hi_us;
	int64_t snapshot_seq;  /* 0: take the newest seq now (first page) */
	int64_t before_seq;    /* older than this seq (0: from the snapshot) */
	int64_t after_seq;     /* >0: the page just newer than this seq (previous link) */
	unsigned count;        /* page size, >= 1 */
} store_history_q;

typedef struct store_history_page {
	store_version_t *items; /* malloc'd array of n, newest first */
	size_t n;
	int64_t snapshot_seq;   /* the snapshot this page was cut from */
	int has_older;          /* more items after the last one */
	int has_newer;          /* more items before the first one (within snapshot) */
} store_history_page;

int store_history(store_t *s, const store_history_q *q, store_history_page *out);
void store_history_page_clear(store_history_page *p);

/* ---- search ----------------------------------------------------------
 *
 * A search compiles a parsed query (search/query.h) into the backend's
 * SQL: every clause becomes a condition on the index tables, every value a
 * bound parameter. Results come back in a total order: the _sort keys,
 * then (type, id) as the tie-breaker, so that paging is keyset paging: a
 * page starts strictly after (or, backwards, before) the key of a row of
 * the previous page. That costs the same on page 1,000 as on page 1 and no
 * row is repeated or skipped when other rows are inserted or deleted
 * between pages. */

/* One sort-key value of a row (the cursor carries them). */
typedef struct store_key {
	int kind;            /* 0 NULL, 1 integer, 2 real, 3 text */
	int64_t i;
	double d;
	char *s;             /* malloc'd for kind 3 */
} store_key;

#define STORE_MAX_SORT 8

/* A row position: its sort keys (nsort of them, as the query's _sort) and
 * the tie-breaker. */
typedef struct store_pos {
	store_key k[STORE_MAX_SORT];
	unsigned nk;
	char type[64];
	char id[65];
} store_pos;

void store_pos_clear(store_pos *p);

typedef struct store_search_q {
	const search_query *q;     /* clauses, sort, rtype, _type list */
	const char *comp_id;       /* compartment Patient/[comp_id]/[rtype]; or NULL */
	const char *confine;       /* authorization: chains and _has only see resources in
				      Patient/[confine]'s compartment (and types outside it); or NULL */
	int everything;            /* Patient/[comp_id]/$everything: the patient and
				      every resource in its compartment (types from
				      q->types when given); q->since_us applies */
	const store_pos *after;    /* keyset: rows strictly after this one; NULL: first page */
	int backward;              /* 1: the page just before `after` (previous link) */
	unsigned count;            /* page size; 0: no rows, only the total */
	int want_total;            /* 1: count every match */
} store_search_q;

typedef struct store_search_page {
	store_version_t *items;    /* n rows in result order */
	store_pos *pos;            /* their positions (parallel to items) */
	size_t n;
	int has_more;              /* rows after the last one (in the paging direction) */
	int64_t total;             /* with want_total; else -1 */
} store_search_page;

/* Runs a search. ERR_INVALID when the query uses something the backend
 * cannot search (with a reason in why), ERR_DB, ERR_NOMEM. */
int store_search(store_t *s, const store_search_q *q, store_search_page *out, char *why, size_t whylen);
void store_search_page_clear(store_search_page *p);

/* Resources that refer to (type, id) through reference parameter row ids
 * params[0..np) (np = 0: any reference parameter), current and not
 * deleted, at most max: _revinclude. Appended to *items / *n (malloc'd
 * array grown as needed). */
int store_referrers(store_t *s, const uint32_t *params, size_t np, const char *type, const char *id, size_t max,
		    store_version_t **items, size_t *n);

/* *yes = 1 when the version with global sequence number seq (a resource
 * of type, not Patient) is in Patient/[patient]'s compartment: one of the
 * type's compartment parameters references Patient/[patient] in that
 * version's index rows. Only current, live versions have index rows
 * (STORE_INDEX_LAYOUT): for an older or a delete version *yes is 0, and a
 * caller that must judge an older version extracts its body itself. */
int store_compartment_member(store_t *s, const char *type, int64_t seq, const char *patient, int *yes);

/* Rebuilds every search index from the current versions, calling extract
 * on each body (a callback, so store/ needs no FHIR parsing of its own).
 * Runs in batches on the writer connection. *count = resources indexed. */
typedef int (*store_extract_fn)(void *ctx, const char *type, const char *body, size_t len, search_rows *out);
int store_reindex(store_t *s, store_extract_fn fn, void *ctx, size_t *count);

/* The hash of the search-parameter table the indexes were built with
 * (meta table), copied into out; "" when never recorded. */
int store_index_hash(store_t *s, char *out, size_t cap);

/* ---- authorization records ------------------------------------------
 *
 * The SMART server's state (src/auth/) kept next to the resources so that
 * several fhird processes on one database share it: signing keys, clients,
 * users, authorization codes, refresh tokens, launch contexts, pending
 * authorization requests, revocations and the client-assertion jtis seen.
 * Backend-neutral on purpose: a record is (kind, key) -> a JSON text, with
 * a family (a grant: revoking it revokes what it issued), an expiry and a
 * single-use flag. Secrets never arrive here in clear: callers pass hashes
 * of codes and tokens as keys.
 *
 * Every write is durable when the call returns. An expired record (exp_us
 * set and <= now) behaves as absent for every call. */

enum store_auth_kind {
	STORE_AUTH_KEY = 1,  /* server signing key: key = kid */
	STORE_AUTH_CLIENT,   /* registered client: key = client_id */
	STORE_AUTH_USER,     /* user account: key = username */
	STORE_AUTH_CODE,     /* authorization code: key = hash of the code */
	STORE_AUTH_REFRESH,  /* refresh token: key = hash of the token */
	STORE_AUTH_LAUNCH,   /* EHR launch context: key = hash of the launch value */
	STORE_AUTH_REQUEST,  /* pending authorization request (login/consent pages) */
	STORE_AUTH_REVOKED,  /* revoked access-token jti or grant family: key = that id */
	STORE_AUTH_JTI,      /* client assertion jti seen: key = client_id + " " + jti */
	STORE_AUTH_SECRET    /* a server secret every node must share (auth/secret.h): key = its name */
};

#define STORE_AUTH_KEY_MAX 160

typedef struct store_auth_rec {
	char key[STORE_AUTH_KEY_MAX];
	char family[STORE_AUTH_KEY_MAX]; /* "" when none */
	char *value;                     /* malloc'd JSON text (may be "{}") */
	int64_t exp_us;                  /* 0: never expires */
	int64_t created_us;
	int used;                        /* single-use flag (see store_auth_take) */
} store_auth_rec;

void store_auth_rec_clear(store_auth_rec *r);

/* Writes a record. replace=1: insert or overwrite (used reset to 0).
 * replace=0: ERR_CONFLICT when a live record with that key exists (an
 * expired one is overwritten). family may be NULL. exp_us 0: never.
 * Keys longer than STORE_AUTH_KEY_MAX-1: ERR_INVALID. ERR_DB. */
int store_auth_put(store_t *s, enum store_auth_kind kind, const char *key, const char *family, const char *value,
		   int64_t exp_us, int replace);

/* Reads a live record into out. ERR_NOTFOUND when absent or expired. */
int store_auth_get(store_t *s, enum store_auth_kind kind, const char *key, store_auth_rec *out);

/* Single use, atomically: reads the live record and marks it used in one
 * transaction. out->used is the flag as it was BEFORE this call, so of
 * two concurrent takers exactly one sees 0. ERR_NOTFOUND when absent or
 * expired. */
int store_auth_take(store_t *s, enum store_auth_kind kind, const char *key, store_auth_rec *out);

/* Removes a record (no error when absent). */
int store_auth_del(store_t *s, enum store_auth_kind kind, const char *key);

/* Live records of a kind, ordered by created_us then key: *out is a
 * malloc'd array of *n (each to be cleared), NULL when none. */
int store_auth_list(store_t *s, enum store_auth_kind kind, store_auth_rec **out, size_t *n);

/* The per-request revocation check, on a read connection: *revoked = 1
 * when a live STORE_AUTH_REVOKED record exists for key a or key b (either
 * may be NULL or ""). */
int store_auth_revoked(store_t *s, const char *a, const char *b, int *revoked);

/* Sets exp_us on every live record of the family (all kinds): used to end
 * a grant's refresh tokens at once. */
int store_auth_expire_family(store_t *s, const char *family, int64_t exp_us);

/* Deletes records that expired before now_us. *n = how many. */
int store_auth_purge(store_t *s, int64_t now_us, size_t *n);

/* ---- audit trail ----------------------------------------------------
 *
 * The AuditEvents of src/audit/, kept apart from the resources (they are
 * never versions, never in a search index, never written through
 * store_commit; the SQLite backend keeps them in a file of its own so that
 * appending them does not disturb the resources' readers). A record is the facts of one event in fixed fields, not
 * its JSON: src/audit/ renders the AuditEvent when it is read (auditors
 * read rarely; every request writes), which keeps a record a few hundred
 * bytes in a table that only grows.
 *
 * Append-only: records are numbered 1, 2, ... (seq) and each carries a
 * hash that chains it to the one before:
 *   hash = fn(prev, record)   (src/audit/ defines fn: SHA-256 over prev
 *                              and the record's canonical bytes)
 * so that the chain's definition is the same for every backend. The head
 * of the chain (last seq and hash) is also kept apart from the rows (a
 * checkpoint), moved in the same transaction as every append: a tail cut
 * off the table no longer matches it. */

#define STORE_AUDIT_HASH 32

typedef struct store_audit_rec {
	int64_t seq;                /* assigned by store_audit_append */
	int64_t recorded_us;        /* microseconds since the epoch */
	int kind;                   /* enum audit_kind (audit.h) */
	int status;                 /* the HTTP status answered, 0 when none */
	int outcome;                /* 0, 4, 8, 12 (AuditEvent.outcome) */
	char action[2];             /* "C", "R", "U", "D", "E" */
	char subtype[32];           /* restful-interaction code, "110122" (login), "token-issue"... */
	char outcome_desc[128];
	char client_id[160];        /* "" when unknown */
	char subject[160];          /* the token's sub or a login's username */
	char fhir_user[160];        /* "Practitioner/x" */
	char patient[65];           /* the patient's id, or "" */
	char entity_type[64];       /* resource type of the data or query entity, or "" */
	char entity_id[65];         /* id of the data entity, or "" */
	char address[64];           /* the client's IP address */
	char observer[256];         /* the recording server's FHIR base URL */
	char issuer[256];           /* its OAuth issuer (namespace of client_id and subject) */
	char *query;                /* a search's query string or NULL: borrowed by append,
				       malloc'd by reads (store_audit_rec_clear) */
	unsigned char prev[STORE_AUDIT_HASH]; /* the hash of seq - 1 (zeros for the first) */
	unsigned char hash[STORE_AUDIT_HASH];
} store_audit_rec;

void store_audit_rec_clear(store_audit_rec *r);

/* Computes a record's chain hash from the previous hash (r->prev is not
 * read: prev is given) and the record's fields, seq included. */
typedef void (*store_audit_hash_fn)(const unsigned char prev[STORE_AUDIT_HASH], const store_audit_rec *r,
				    unsigned char out[STORE_AUDIT_HASH]);

/* The checkpoint: the last record appended (present = 0 when nothing was
 * ever appended). */
typedef struct store_audit_head {
	int present;
	int64_t seq;
	unsigned char hash[STORE_AUDIT_HASH];
} store_audit_head;

/* Appends recs[0..n) in ONE transaction, after the head checkpoint: each
 * gets seq (head + 1, ...), prev and hash = fn(prev, rec); the checkpoint
 * moves to the last one. Durable when it returns. The query strings are
 * borrowed. ERR_DB (nothing appended, recs' seq/hash undefined). */
int store_audit_append(store_t *s, store_audit_rec *recs, size_t n, store_audit_hash_fn fn);

/* One record by seq. ERR_NOTFOUND, ERR_DB. out->query is malloc'd. */
int store_audit_get(store_t *s, int64_t seq, store_audit_rec *out);

/* A search of the audit records, newest first (seq descending). Every
 * condition given must hold; strings NULL: no condition. */
typedef struct store_audit_q {
	int64_t seq;                /* > 0: only this record */
	int64_t date_lo, date_hi;   /* recorded_us in [lo, hi]; INT64_MIN / INT64_MAX: open */
	const char *patient;        /* patient id */
	const char *agent;          /* client_id, subject or fhir_user */
	const char *entity_type;
	const char *entity_id;
	const char *subtype;
	const char *action;
	int outcome;                /* -1: any */
	int64_t before_seq;         /* keyset paging: seq < before_seq (0: from the newest) */
	unsigned count;             /* page size, >= 1 */
} store_audit_q;

typedef struct store_audit_page {
	store_audit_rec *items;     /* malloc'd array of n */
	size_t n;
	int has_more;               /* older records match too */
} store_audit_page;

int store_audit_search(store_t *s, const store_audit_q *q, store_audit_page *out);
void store_audit_page_clear(store_audit_page *p);

/* Walks every record in seq order, oldest first, in one read snapshot
 * that also gives the checkpoint (*head, filled before the first call).
 * fn returning non-zero stops the walk and is returned. ERR_DB. */
typedef int (*store_audit_walk_fn)(void *ctx, const store_audit_rec *r);
int store_audit_walk(store_t *s, store_audit_head *head, store_audit_walk_fn fn, void *ctx);

typedef struct store_options {
	const char *path;         /* SQLite file (or sqlite:PATH), or a postgresql:// or
				     postgres:// URL (docs/postgresql.md) */
	/* Used at open when the indexes were built with another parameter
	 * table (or never): they are rebuilt before the store is used. NULL:
	 * no check (tools that do not search). */
	store_extract_fn extract;
	void *extract_ctx;
	unsigned readers;         /* read connections (one per worker thread) */
	unsigned write_batch_max; /* group commit size */
	unsigned statement_timeout_ms; /* database time limit of reads (see below); 0: none */
	/* 1: a bulk load (`fhird import`). SQLite builds its (patient, token)
	 * index (ix_pt, sqlite_index.c) for the whole load at store_close, in
	 * key order, instead of row by row; until then searches do without it,
	 * and a load cut short is completed at the next open. */
	int bulk;
} store_options;

/* Opens (creating and migrating when needed) the store. ERR_DB / ERR_IO. */
int store_open(const store_options *o, store_t **out);

/* Waits for pending writes, closes every connection. NULL-safe. */
void store_close(store_t *s);

/* Schema version of the opened database (for `fhird version` and tests). */
int store_schema_version(store_t *s);

/* ---- the statement time limit ------------------------------------------
 *
 * Reads on the read connections stop with ERR_TOOCOSTLY once their
 * deadline has passed (a SQLite progress handler looks at the clock every
 * few hundred virtual-machine steps), so one expensive search cannot hold
 * a connection and a core for ever. store_deadline_begin() sets one
 * deadline, statement_timeout_ms from now, for the calling thread: every
 * read it makes until store_deadline_end() shares it, so a request is
 * bounded as a whole however many statements it runs (a search with
 * includes, a batch of entries). A read outside such a span (the
 * authorization server's, the tools') gets the full timeout for itself.
 * Writes are never interrupted: the writer's transaction carries other
 * requests' writes (group commit).
 *
 * The deadline is per thread because a request is handled on one thread
 * from start to end (http.h), and it must reach reads made deep inside
 * the FHIR layer without a parameter on every store call. */
void store_deadline_begin(store_t *s);
void store_deadline_end(store_t *s);

#endif
