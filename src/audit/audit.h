/*
 * audit.h - the audit trail: every FHIR interaction, login, token
 * issue/refresh/revoke and denied request becomes a FHIR R4 AuditEvent
 * modelled on IHE Basic Audit Log Patterns (BALP), appended to a hash
 * chain in the store (store.h, "audit trail"). docs/audit.md describes
 * what is recorded and how the chain is checked.
 *
 * Recording is off the request path: audit_submit() copies the few
 * strings of an event into a bounded in-memory queue and returns; one
 * background thread turns the queued events into records (fixed fields,
 * store.h) and appends them in batches, one store transaction (one fsync)
 * per batch. The AuditEvent JSON is made from a record when it is read.
 * When the queue is full, the submitting request waits (back-pressure)
 * up to block_ms for room; only past that is the event dropped, counted
 * and warned about in the log. audit_free() writes everything queued
 * before it returns.
 *
 * Threading: audit_submit(), audit_flush() and audit_stats() may be called
 * from any thread at any time between audit_new() and audit_free(); the
 * writer thread is the only one that appends to the store.
 *
 * Ownership: main owns the audit_t (audit_new/audit_free); it borrows the
 * store, which must outlive it. Events are copied at submit: the caller's
 * strings may die when audit_submit() returns. Never put a token, code,
 * password or secret in an event.
 */
#ifndef FHIRD_AUDIT_AUDIT_H
#define FHIRD_AUDIT_AUDIT_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* What happened (AuditEvent.type). */
enum audit_kind {
	AUDIT_REST = 1, /* a FHIR RESTful interaction (audit-event-type#rest) */
	AUDIT_LOGIN,    /* a user's sign-in at the authorization server (DCM 110114 / 110122) */
	AUDIT_TOKEN     /* token issue, refresh or revocation (DCM 110114) */
};

/* Subtype codes of AUDIT_TOKEN events (code system AUDIT_CS_FHIRD). */
#define AUDIT_TOKEN_ISSUE "token-issue"
#define AUDIT_TOKEN_REFRESH "token-refresh"
#define AUDIT_TOKEN_REVOKE "token-revoke"
#define AUDIT_TOKEN_INTROSPECT "token-introspect"
#define AUDIT_CS_FHIRD "urn:fhird:audit"

/* One event as the caller knows it. Every string is optional (NULL). */
typedef struct audit_event {
	enum audit_kind kind;
	const char *subtype;      /* AUDIT_REST: restful-interaction code ("read", "search-type", ...);
				     AUDIT_TOKEN: AUDIT_TOKEN_*; AUDIT_LOGIN: unused */
	char action;              /* 'C', 'R', 'U', 'D' or 'E' (AuditEvent.action) */
	int status;               /* the HTTP status answered; the outcome follows from it */
	int outcome;              /* -1: from status (audit_outcome_of); else 0, 4, 8 or 12 */
	const char *outcome_desc; /* short and client-safe (an OAuth error code, "HTTP 403") */
	const char *client_id;
	const char *subject;      /* the token's sub, or the username a login was tried with */
	const char *fhir_user;    /* "Practitioner/x", "Patient/y" */
	const char *patient;      /* the patient's id, when known */
	const char *entity_type;  /* the resource type the interaction is about */
	const char *entity_id;
	const char *query;        /* a search's query string (recorded base64, as BALP does) */
	const char *address;      /* the client's IP address */
	/* Optional: the resource the interaction read or wrote, when the
	 * patient is not known otherwise; the writer thread asks patient_of
	 * (audit_options) for it. Copied (bounded by AUDIT_BODY_MAX). */
	const char *body;
	size_t body_len;
} audit_event;

/* Finds the patient of a resource body (type, JSON text): copies the
 * patient's id into out and returns 0, or returns non-zero. Runs on the
 * writer thread. */
typedef int (*audit_patient_fn)(const char *type, const char *body, size_t len, char *out, size_t cap);

typedef struct audit_options {
	store_t *store;
	const char *base_url;     /* the FHIR base: the observer and server agent (copied) */
	const char *issuer;       /* the OAuth issuer: the system of client and subject identifiers (copied) */
	unsigned queue_max;       /* events queued at most (>= 1) */
	unsigned block_ms;        /* a submit waits at most this long for room */
	audit_patient_fn patient_of; /* may be NULL */
} audit_options;

typedef struct audit audit_t;

#define AUDIT_BLOCK_MS 2000     /* default back-pressure bound */
#define AUDIT_BATCH_MAX 2048    /* events per store transaction at most */
#define AUDIT_COMMIT_MS 10      /* at most one audit transaction per interval */
#define AUDIT_QUERY_MAX 4096    /* bytes of a query recorded; longer ones are cut */
#define AUDIT_BODY_MAX 65536    /* larger bodies are not searched for a patient */

/* Starts the writer thread. ERR_NOMEM, ERR_INVALID (no store, queue_max
 * 0), ERR_INTERNAL (thread). */
int audit_new(const audit_options *o, audit_t **out);

/* Writes what is queued, stops the thread and frees a. NULL-safe. */
void audit_free(audit_t *a);

/* Queues a copy of ev (recorded now). May wait up to block_ms when the
 * queue is full; then drops the event, counts it and logs a warning.
 * Does nothing when a is NULL (auditing off). */
void audit_submit(audit_t *a, const audit_event *ev);

/* Waits until every event submitted before this call is written (or
 * dropped after a store failure): read-your-writes for the AuditEvent
 * endpoint. 0, or ERR_BUSY when timeout_ms passed first. NULL a: 0. */
int audit_flush(audit_t *a, unsigned timeout_ms);

typedef struct audit_stats {
	uint64_t submitted; /* events queued */
	uint64_t written;   /* appended to the store */
	uint64_t dropped;   /* lost: queue full past block_ms, or the store failed */
	uint64_t waited;    /* submits that had to wait for room */
} audit_stats;

void audit_stats_get(audit_t *a, audit_stats *out);

/* AuditEvent.outcome for an HTTP status: 0 success (< 400), 8 serious
 * failure (401, 403: the request was refused), 4 minor failure (other
 * 4xx: the client's error), 12 major failure (5xx). */
int audit_outcome_of(int status);

/* ---- audit_event.c: records and their AuditEvent ---- */

/* Fills out (every field but seq, prev and hash) from ev as recorded at
 * recorded_us by the server at base_url with issuer (audit_options).
 * Strings longer than their field are cut on a character boundary;
 * out->query is malloc'd (store_audit_rec_clear). 0 or ERR_NOMEM. */
int audit_fill(const char *base_url, const char *issuer, int64_t recorded_us, const audit_event *ev,
	       store_audit_rec *out);

/* The AuditEvent of a stored record, as served: id = seq, meta.versionId
 * 1, meta.lastUpdated = recorded. The same record always renders to the
 * same bytes. *out is malloc'd. ERR_NOMEM. */
int audit_record_json(const store_audit_rec *r, char **out, size_t *len);

/* ---- audit_chain.c: the hash chain and its verification ---- */

/* The chain hash (a store_audit_hash_fn): SHA-256 over prev and the
 * record's canonical bytes, a netstring ("<len>:<bytes>,") of each of:
 * "fhird-audit-1", seq, recorded_us, kind, status, outcome, action,
 * subtype, outcome_desc, client_id, subject, fhir_user, patient,
 * entity_type, entity_id, address, observer, issuer, whether there is a
 * query ("0" / "1", so that none and "" differ) and the query. */
void audit_chain_hash(const unsigned char prev[STORE_AUDIT_HASH], const store_audit_rec *r,
		      unsigned char out[STORE_AUDIT_HASH]);

typedef struct audit_verify_result {
	int64_t count;        /* records checked */
	int64_t bad_seq;      /* the first record found wrong (0 with why[0]: the checkpoint) */
	char why[256];        /* "" when the chain is intact */
	store_audit_head head;/* the checkpoint */
	int64_t last_seq;     /* the last record and its hash */
	unsigned char last_hash[STORE_AUDIT_HASH];
} audit_verify_result;

/* Walks the chain from the first record: each record's hash must match
 * its content and its predecessor, seqs must be contiguous from 1, and
 * the last record must be the head checkpoint; with expect_seq > 0, the
 * record expect_seq must still have expect_hash (a head printed earlier
 * and kept elsewhere). 0 when intact, ERR_INVALID when not (out->bad_seq
 * and out->why say where and why), ERR_DB. */
int audit_verify(store_t *s, int64_t expect_seq, const unsigned char *expect_hash, audit_verify_result *out);

/* `fhird audit verify [--db FILE] [--expect SEQ:HASH]`: exit status 0
 * (intact), 1 (broken, or the database cannot be read), 2 (usage). */
int audit_main(int argc, char **argv);

#endif
