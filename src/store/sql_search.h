/*
 * sql_search.h - the search SQL compiler both backends share (internal to
 * src/store/). It turns a search plan (search/query.h) into SQL text and a
 * typed list of bound values; the backend prepares the text, binds the
 * values in order and runs it (sqlite_search.c, pg_search.c).
 *
 * Why one compiler: issue 7 asks for the same results for the same query
 * on SQLite and PostgreSQL, same order and same paging cursors, so that a
 * cursor issued by one fhird node works on another. Both schemas have the
 * same tables and columns (pg_int.h), so the only differences are of
 * dialect, chosen by struct sqs.dialect:
 *   - placeholders: "?" (SQLite), "$n::bigint" / "$n::float8" / "$n::text"
 *     (PostgreSQL: numbered, and typed so that a statement prepared
 *     without parameter types knows them);
 *   - boolean literals 1 / 0 against TRUE / FALSE (PostgreSQL's WHERE
 *     wants a boolean);
 *   - "CROSS JOIN x ON" (SQLite's planner hint: start from the left side)
 *     against "JOIN x ON" (PostgreSQL has no ON after CROSS JOIN, and
 *     plans the join order itself);
 *   - instr() against strpos(); NULLs last in ORDER BY as "k IS NULL, k"
 *     against "k NULLS LAST" (PostgreSQL cannot use an output alias inside
 *     an ORDER BY expression);
 *   - the exclusive upper bound of "starts with s" (see sqs_text_upper in
 *     sql_search.c): s + byte 0xFF for SQLite's memcmp order; for
 *     PostgreSQL, whose text must be valid UTF-8, the next string after
 *     every string that starts with s, in code point order (= byte order of
 *     UTF-8 under COLLATE "C"). Both select exactly the strings that start
 *     with s.
 * The SQL text comes only from fixed fragments of sql_search.c; every
 * value from the request is a bound parameter, so the text depends only on
 * the shape of the query and prepared statements can be reused.
 */
#ifndef FHIRD_STORE_SQL_SEARCH_H
#define FHIRD_STORE_SQL_SEARCH_H

#include "core/buf.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* Index-row parameter ids of the derived row kinds (extract.h): text of
 * tokens lives in ix_str, of-type and reference identifiers in ix_tok.
 * Both backends write and search these ids. */
#define SQS_P_TEXT(p) ((int64_t)(p) + 0x1000000)
#define SQS_P_OFTYPE(p) ((int64_t)(p) + 0x2000000)
#define SQS_P_REFID(p) ((int64_t)(p) + 0x3000000)

#define SQS_SQL_MAX (1u << 20)

enum sqs_dialect {
	SQS_SQLITE = 0,
	SQS_PG = 1
};

enum sqs_bind_kind {
	SQS_B_INT = 1,
	SQS_B_REAL = 2,
	SQS_B_TEXT = 3
};

/* One bound value, in placeholder order. s is borrowed from the query or
 * the cursor (or owned by the struct sqs, for upper bounds): it lives as
 * long as they do. */
struct sqs_bind {
	enum sqs_bind_kind kind;
	int64_t i;
	double d;
	const char *s;
	size_t len;
};

/* A statement being assembled. The first failure is kept in err (later
 * appends do nothing): ERR_TOOBIG past SQS_SQL_MAX, ERR_NOMEM, ERR_INVALID
 * when chains / _has nest too deeply. */
struct sqs {
	enum sqs_dialect dialect;
	buf_t sql;
	struct sqs_bind *b;
	size_t nb, cap;
	int err;
	const search_query *q;  /* the query whose clauses are compiled (may be NULL for fixed statements) */
	const char *confine;    /* store_search_q.confine: inner sets stay in this patient's compartment */
	char **own;             /* owned strings (prefix upper bounds) */
	size_t nown, capown;
};

/* An empty statement for query q (borrowed) in dialect d. */
void sqs_init(struct sqs *x, enum sqs_dialect d, const search_query *q, const char *confine);
/* Frees what x owns; x may be zeroed; the binds' borrowed text is not
 * touched. */
void sqs_fini(struct sqs *x);
/* Ends the text (NUL): 0, or the first error met while assembling. */
int sqs_end(struct sqs *x);

/* Appends a fixed fragment / a bound value (with its placeholder). */
void sqs_add(struct sqs *x, const char *s);
void sqs_int(struct sqs *x, int64_t v);
void sqs_real(struct sqs *x, double v);
void sqs_text(struct sqs *x, const char *s);
/* The boolean literals and the join keyword of the dialect. */
void sqs_true(struct sqs *x);
void sqs_false(struct sqs *x);
void sqs_join(struct sqs *x);

/* ---- pieces of a search ------------------------------------------------ */

/* How good a clause is as a driver (lower is better); 0: not usable. */
int sqs_drive_rank(const search_clause *cl);
/* The best-ranked driver clause of sq (its rank in *rank), q->nclauses
 * when none is usable, -1 when the compartment drives (comp_id). */
long sqs_best_driver(const store_search_q *sq, int *rank);
/* The target type a reference value means (as written, or the only
 * target of the parameter), or NULL. */
const char *sqs_ref_type(const search_param *p, const search_value *v);
/* 1 when the driver is one reference value with a known target type on a
 * type-level search (ix_ref's key yields its candidates in id order). */
int sqs_ref_streams(const store_search_q *sq, long drv);

/* "SELECT count(*) FROM (<driver drv> LIMIT limit)": is a driver
 * selective? */
void sqs_probe(struct sqs *x, long drv, int64_t limit);
/* " FROM ... WHERE ..." of the top-level query (everything but keyset,
 * order and limit). drv: the driving clause, q->nclauses for none, -1 when
 * the compartment drives. with_filters 0: only the driver and the type. */
void sqs_from_where(struct sqs *x, const store_search_q *sq, long drv, int with_filters);
/* One clause as a boolean condition on the resource row c<level>. */
void sqs_filter(struct sqs *x, int level, const char *type, const search_clause *cl);
/* " AND <filter>" for each of cl[0..n) but the drivers skip1 and skip2
 * (-1: none). */
void sqs_filters(struct sqs *x, int level, const char *type, const search_clause *cl, size_t n, long skip1,
		 long skip2);
/* Keyset condition: rows strictly after (backward: before) pos in the
 * query's order (sort keys with NULLs last, then type, id). */
void sqs_keyset(struct sqs *x, const search_query *q, const store_pos *pos, int backward, int fixed_type);

/* The number of sort keys a page query carries (q->nsort, capped). */
size_t sqs_nsort(const search_query *q);
/* The whole count query of sq: one row, one integer column. */
void sqs_count(struct sqs *x, const store_search_q *sq, long drv);
/* The whole page query of sq: columns type, id, vid, seq, updated_us,
 * method, deleted, body (the backends' row layout), then the sqs_nsort()
 * sort keys; at most sq->count + 1 rows in the paging direction's order
 * (the caller reverses a backward page). A key is an integer for date and
 * _lastUpdated, a real for number and quantity, text for the others, NULL
 * when the resource has no value (composite: always). */
void sqs_page(struct sqs *x, const store_search_q *sq, long drv);

/* The page of the default order when the driver drv is one reference value
 * (sqs_ref_streams): the rows of ix_ref's key for the value, already in
 * resource id order, each tested against the other clauses, joined to its
 * version, at most sq->count + 1 (the extra row says there is more).
 * Columns as sqs_page's, without sort keys. Index rows belong to current,
 * live versions only (STORE_INDEX_LAYOUT) and a parameter to one resource
 * type, so a row of the driver needs no look at current: the row c0 the
 * other clauses test is made from the ix_ref row. */
void sqs_stream(struct sqs *x, const store_search_q *sq, long drv);

/* 1 when sq is a compartment search (Patient/X/[type], or a patient
 * token's search) that also asks patient=X, where the type's `patient`
 * parameter is one of its compartment parameters or the Patient-only part
 * of one: the clause alone selects the same resources, so the backends
 * drop comp_id and let the clause drive (and stream). */
int sqs_comp_implied(const store_search_q *sq);

/* SQLite only (its schema has ix_pt, sqlite.c): the token clause that
 * sqs_stream_pt can take together with the reference driver drv, or -1.
 * drv must be a `patient` parameter with one Patient value
 * (sqs_ref_streams), and the token clause one plain value with a code. */
long sqs_pt_token(const store_search_q *sq, long drv);
/* Like sqs_stream, but the candidates come from ix_pt, whose key is
 * (patient, token parameter, code, resource id): the resources of that
 * patient with that code, already in id order, next to each other in the
 * file. The two clauses drv and tok are answered by the key; the others
 * are tested as in sqs_stream. Same rows, same order as sqs_stream. */
void sqs_stream_pt(struct sqs *x, const store_search_q *sq, long drv, long tok);

/* Resources referring to (type, id) through params[0..np) (any when np
 * is 0), current and live, in (type, id) order, at most max: columns as
 * sqs_page without keys. */
void sqs_referrers(struct sqs *x, const uint32_t *params, size_t np, const char *type, const char *id, size_t max);
/* One row when the version seq of type is in Patient/[patient]'s
 * compartment, none otherwise. */
void sqs_comp_member(struct sqs *x, const char *type, int64_t seq, const char *patient);

#endif
