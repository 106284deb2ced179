/*
 * import.h - `fhird import`: loading FHIR resources from files straight
 * into the store, without HTTP. Meant for offline loading (demo data, bulk
 * exports, migrations): it opens the database itself; a server running on
 * the same file keeps working (SQLite locks), but its writes then wait for
 * import's transactions.
 *
 *   fhird import [--db PATH] [--on-error stop|skip] [--batch N]
 *                [--max-json-depth N] [--threads N] [--quiet] FILE...
 *
 * Input files (the rule, in order):
 *   1. a name ending in .ndjson or .jsonl (any case) is NDJSON: one resource
 *      per line, blank lines ignored, lines numbered from 1;
 *   2. otherwise a file whose whole content is one JSON object is a single
 *      document: a Bundle of type transaction, batch, collection, searchset
 *      or history is imported entry by entry, any other resource (including
 *      document and message Bundles) is imported as that one resource;
 *   3. anything else (several JSON values one after the other) is NDJSON.
 *
 * Every resource goes through the same checks as a REST write: bounded JSON
 * parse (UTF-8, nesting at most --max-json-depth), a known resourceType,
 * baseline validation (fhir/validate.h), then canonical serialization
 * (fhir/stamp.h; server-owned meta is dropped). Ids: a resource with a
 * valid id is stored as an update of that id (PUT: importing again makes
 * version 2, not a duplicate); without an id it gets a new random UUID
 * (POST). In Bundles, PUT entries take the id of request.url, DELETE
 * entries delete request.url, other entries take the uuid of a urn:uuid:
 * fullUrl, else the id of an absolute .../Type/id fullUrl, else their own
 * id, else a new UUID; every reference to an entry's fullUrl is rewritten
 * to "Type/id" (fhir/refs.h). A transaction Bundle is committed in one
 * atomic store transaction; NDJSON and other Bundles in store transactions
 * of --batch resources. Each resource is written whole or not at all, so a
 * crash leaves whole committed batches and nothing half-written.
 *
 * Bad input (a line or entry that does not parse, validate or resolve) is
 * reported on stderr as `FILE:LINE: message` (`FILE: Bundle.entry[i]:
 * message` in Bundles); messages name elements, never resource contents.
 * --on-error stop (default) ends the import at the first bad input, after
 * committing everything before it; --on-error skip reports it and goes on.
 * Exit status: 0 everything imported, 1 some input bad or not imported,
 * 2 usage error.
 *
 * The pipeline (import_pipe.c): the main thread cuts the input into chunks
 * of --batch items and hands them to worker threads that parse, validate
 * and serialize; meanwhile it commits the previous chunk (store_commit
 * blocks until durable, and the store's writer thread does the SQL). At
 * most --threads + 2 chunks are in flight, so memory stays bounded.
 */
#ifndef FHIRD_IMPORT_IMPORT_H
#define FHIRD_IMPORT_IMPORT_H

#include "core/arena.h"
#include "fhir/stamp.h"
#include "fhir/types.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

/* The `fhird import` command: argv[1] is "import". Returns the exit status
 * (0, 1, 2; see above). Prints to stdout/stderr; owns everything it opens. */
int import_main(int argc, char **argv);

/* ---- shared by the files of src/import/ only ---------------------------- */

/* One resource to import: an NDJSON line (text) or a Bundle entry (res). */
typedef struct import_item {
	const char *text;      /* the line, not NUL-terminated; NULL for entries */
	size_t len;
	json_t *res;           /* borrowed from the parsed Bundle; NULL for lines */
	size_t where;          /* 1-based line number, or 0-based entry index */
	/* settled before preparation (Bundles): */
	const fhir_type *type; /* NULL: from resourceType */
	int kind;              /* enum store_op_kind; 0: by the id */
	int ready;             /* 1: op complete already (DELETE entries) */
	char id[65];           /* "": the resource's own id, else a new one */
	/* results */
	int err;               /* 0, or the ERR_* that makes this item bad */
	char *msg;             /* malloc'd diagnostic when err (may be NULL) */
	fhir_stamp stamp;      /* the serialized resource */
	search_rows rows;      /* search index rows (extract.h) */
} import_item;

/* Marks it bad with a printf-style message (malloc'd; NULL when out of
 * memory). Returns err. */
int import_item_fail(import_item *it, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Marks it bad (ERR_INVALID) with fhir_json_parse()'s diagnostic, worded
 * for a line (it->text set) or a whole file. Returns ERR_INVALID. */
int import_item_parse_fail(import_item *it, const char *diag);

/* Frees what an item owns (not text/res) and op's result body. NULL-safe. */
void import_item_fini(import_item *it, store_op_t *op);

/* A slice of items handed to a worker: items[i] is prepared into ops[i]. */
typedef struct import_chunk {
	import_item *items;
	store_op_t *ops;
	size_t n;
	const json_t *refmap;  /* Bundle: fullUrl -> "Type/id"; NULL for NDJSON */
	size_t lines;          /* input lines/entries covered (for progress) */
	int ready;             /* set by the worker under the pipe lock */
	int owns;              /* items and ops are the chunk's own arrays */
	struct import_chunk *next;  /* the pipe's work queue */
	struct import_chunk *after; /* the main thread's in-flight list */
} import_chunk;

typedef struct import_pipe {
	pthread_mutex_t lock;
	pthread_cond_t work;   /* workers: a chunk was queued, or closing */
	pthread_cond_t done;   /* main thread: a chunk became ready */
	import_chunk *qhead, *qtail;
	int closing;
	unsigned max_depth;
	pthread_t *threads;
	unsigned nthreads;
} import_pipe;

/* Starts nthreads (>= 1) workers. 0, ERR_NOMEM, ERR_INTERNAL. */
int import_pipe_start(import_pipe *p, unsigned nthreads, unsigned max_depth);

/* Queues c for preparation (c->ready must be 0). c must stay valid until
 * import_pipe_wait(c) returned. */
void import_pipe_submit(import_pipe *p, import_chunk *c);

/* Blocks until c is prepared. */
void import_pipe_wait(import_pipe *p, import_chunk *c);

/* Stops and joins the workers (after they finish what is queued). */
void import_pipe_stop(import_pipe *p);

/* Prepares one item into op (what a worker does; exposed for tests):
 * parse (lines), rewrite references (refmap), check type, validate,
 * settle the id, serialize, collect identifiers. On bad input it->err is
 * set and the function returns it. a is scratch for parse diagnostics. */
int import_item_prepare(import_item *it, store_op_t *op, const json_t *refmap, unsigned max_depth, arena_t *a);

/* What import_scan_text() learned about a file's text. */
typedef struct import_scan {
	int single;     /* exactly one JSON object, nothing but whitespace around */
	char rtype[32]; /* its top-level resourceType (when short and unescaped) */
	char btype[16]; /* Bundle.type, likewise */
	size_t entries; /* items of its top-level "entry" array */
	size_t lines;   /* lines, counting a last unterminated one */
} import_scan;

/* One linear pass over p[0..n) (no allocation; no JSON tree): counts lines
 * and, unless lines_only, the structure above. Malformed text gives
 * single = 0 or wrong counts, never a crash; the real parse decides. */
void import_scan_text(const char *p, size_t n, int lines_only, import_scan *out);

/* Settles the entries of a parsed Bundle of type btype into items[0..n)
 * and ops[0..n) (ids, kinds, DELETE ops) and builds *refmap (fullUrl ->
 * "Type/id", a new object). Entries that cannot be imported are marked
 * bad (items[i].err). n is the size of bundle.entry. 0 or ERR_NOMEM. */
int import_bundle_plan(json_t *bundle, const char *btype, import_item *items, store_op_t *ops, size_t n,
		       json_t **refmap);

#endif
