/*
 * import.c - `fhird import` (import.h): the command line, the files, the
 * commits in input order, progress and the summary. This is the sequential
 * half of the pipeline; import_pipe.c is the parallel half.
 *
 * The main thread maps each file, cuts it into chunks of --batch items,
 * hands them to the workers and commits the oldest prepared chunk while
 * the next ones are prepared: a window of --threads + 2 chunks, so memory
 * does not grow with the input. Commits are made in input order (a later
 * line may be a newer version of an earlier one) and bad items are
 * reported in that order too. A chunk is first committed atomically (one
 * savepoint for all its resources: the fast path); only when the store
 * refuses one of them is it committed again with per-resource semantics
 * to find and report that one.
 */
#include "import.h"

#include "search/reindex.h"

#include "core/err.h"
#include "core/log.h"
#include "fhir/fhir.h"
#include "fhir/validate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IMPORT_DEFAULT_DB "./data/fhird.db"
#define IMPORT_BAR 20

enum { IMPORT_STOP = 0, IMPORT_SKIP = 1 };
enum { IMPORT_F_NDJSON = 1, IMPORT_F_DOC };
/* how a bad item is located in messages */
enum { IMPORT_AT_LINE = 1, IMPORT_AT_ENTRY, IMPORT_AT_FILE };

typedef struct import_opts {
	const char *db;
	int on_error;
	unsigned batch;
	unsigned max_depth;
	unsigned threads;
	int quiet;
} import_opts;

typedef struct import_file {
	const char *name;
	char *map;       /* the file's bytes (mmap), NULL when empty */
	size_t size;
	int kind;        /* IMPORT_F_* */
	int err;         /* errno when it cannot be read, else 0 */
	const char *why; /* what failed, with err */
	size_t total;    /* lines or entries, for progress */
	import_scan scan;
} import_file;

typedef struct import_ctx {
	import_opts o;
	store_t *store;
	import_pipe pipe;
	int tty;          /* stderr is a terminal: draw the progress line */
	int shown;        /* the progress line is on the screen */
	double t0, drawn;
	size_t total, done;
	size_t imported, skipped, files;
	int stopped;      /* --on-error stop met bad input */
	int fatal;        /* the store or memory failed */
	const import_file *f;
	int at;           /* IMPORT_AT_* for the current items */
	size_t f_imported, f_skipped;
} import_ctx;

typedef import_chunk *(*import_next_fn)(import_ctx *x, void *src);

static double import_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void import_usage(FILE *f)
{
	fprintf(f,
		"usage: fhird import [options] FILE...\n\n"
		"Loads FHIR resources into the database directly (no server needed; meant for\n"
		"offline loading). FILE is NDJSON (one resource per line; names ending in .ndjson\n"
		"or .jsonl always are) or one JSON document: a Bundle (transaction, batch,\n"
		"collection, searchset, history) is imported entry by entry, any other resource\n"
		"as itself. Resources with an id are stored as updates (importing again makes new\n"
		"versions); without one they get a new UUID. A transaction Bundle is all or nothing.\n\n"
		"  --db PATH              database file (default $FHIRD_DB, else " IMPORT_DEFAULT_DB ")\n"
		"  --on-error stop|skip   at bad input: stop after reporting it (default), or\n"
		"                         report it and go on\n"
		"  --batch N              resources per database transaction (default 2000)\n"
		"  --max-json-depth N     deepest JSON nesting accepted (default 64)\n"
		"  --threads N            threads that parse and validate (default: CPUs)\n"
		"  --quiet                no progress and no summary, only errors\n"
		"  --help                 this text\n\n"
		"Exit status: 0 everything imported, 1 some input was bad or not imported, 2 usage.\n");
}

static int import_opt_uint(const char *name, const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!*v || *v == '-' || *v == '+' || *end || errno || n < lo || n > hi) {
		fprintf(stderr, "fhird import: --%s must be a number from %u to %u\n", name, lo, hi);
		return ERR_INVALID;
	}
	*out = (unsigned)n;
	return 0;
}

/* Fills o and files from argv[2..]. 0, 1 (--help given) or ERR_INVALID. */
static int import_args(int argc, char **argv, import_opts *o, const char **files, size_t *nfiles)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int only_files = 0;

	o->db = getenv("FHIRD_DB");
	if (!o->db || !*o->db)
		o->db = IMPORT_DEFAULT_DB;
	o->on_error = IMPORT_STOP;
	o->batch = 2000;
	o->max_depth = 64;
	o->threads = cpus < 1 ? 1 : cpus > 16 ? 16 : (unsigned)cpus;
	o->quiet = 0;
	*nfiles = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		char name[32];
		size_t n;

		if (only_files || a[0] != '-' || strcmp(a, "-") == 0) {
			files[(*nfiles)++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_files = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0)
			return 1;
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "fhird import: unknown option '%.40s' (try fhird import --help)\n", a);
			return ERR_INVALID;
		}
		a += 2;
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		if (n >= sizeof name) {
			fprintf(stderr, "fhird import: unknown option '--%.40s' (try fhird import --help)\n", a);
			return ERR_INVALID;
		}
		memcpy(name, a, n);
		name[n] = '\0';
		if (strcmp(name, "help") == 0)
			return 1;
		if (strcmp(name, "quiet") == 0) {
			if (eq) {
				fprintf(stderr, "fhird import: --quiet takes no value\n");
				return ERR_INVALID;
			}
			o->quiet = 1;
			continue;
		}
		if (strcmp(name, "db") && strcmp(name, "on-error") && strcmp(name, "batch") &&
		    strcmp(name, "max-json-depth") && strcmp(name, "threads")) {
			fprintf(stderr, "fhird import: unknown option '--%s' (try fhird import --help)\n", name);
			return ERR_INVALID;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "fhird import: option '--%s' needs a value\n", name);
			return ERR_INVALID;
		}
		if (strcmp(name, "db") == 0) {
			if (!*val) {
				fprintf(stderr, "fhird import: --db must not be empty\n");
				return ERR_INVALID;
			}
			o->db = val;
		} else if (strcmp(name, "on-error") == 0) {
			if (strcmp(val, "stop") == 0)
				o->on_error = IMPORT_STOP;
			else if (strcmp(val, "skip") == 0)
				o->on_error = IMPORT_SKIP;
			else {
				fprintf(stderr, "fhird import: --on-error must be stop or skip\n");
				return ERR_INVALID;
			}
		} else if (strcmp(name, "batch") == 0) {
			if (import_opt_uint(name, val, 1, 100000, &o->batch))
				return ERR_INVALID;
		} else if (strcmp(name, "max-json-depth") == 0) {
			if (import_opt_uint(name, val, 4, 1000, &o->max_depth))
				return ERR_INVALID;
		} else if (import_opt_uint(name, val, 1, 64, &o->threads)) {
			return ERR_INVALID;
		}
	}
	if (*nfiles == 0) {
		fprintf(stderr, "fhird import: no input files (try fhird import --help)\n");
		return ERR_INVALID;
	}
	return 0;
}

/* ---- output ------------------------------------------------------------- */

/* 1234567 -> "1,234,567" */
static const char *import_count(char out[32], size_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%zu", v), k = 0;

	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			out[k++] = ',';
		out[k++] = tmp[i];
	}
	out[k] = '\0';
	return out;
}

/* Takes the progress line off the screen before other output. */
static void import_unshow(import_ctx *x)
{
	if (!x->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	x->shown = 0;
}

static void import_progress(import_ctx *x, int force)
{
	char bar[IMPORT_BAR + 1], d[32], t[32], r[32], eta[32];
	double now = import_now(), el = now - x->t0, rate, left;
	size_t done = x->done < x->total ? x->done : x->total;
	size_t fill;

	if (!x->tty || x->o.quiet || !x->total)
		return;
	if (!force && now - x->drawn < 0.1)
		return;
	x->drawn = now;
	fill = done * IMPORT_BAR / x->total;
	for (size_t i = 0; i < IMPORT_BAR; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[IMPORT_BAR] = '\0';
	rate = el > 0 ? (double)done / el : 0;
	left = rate > 0 ? (double)(x->total - done) / rate : 0;
	if (left >= 60)
		snprintf(eta, sizeof eta, "%um%02us", (unsigned)(left / 60), (unsigned)left % 60);
	else
		snprintf(eta, sizeof eta, "%us", (unsigned)(left + 0.5));
	fprintf(stderr, "\r[%s] %s/%s  %s/s  ETA %s\033[K", bar, import_count(d, done), import_count(t, x->total),
		import_count(r, (size_t)rate), eta);
	fflush(stderr);
	x->shown = 1;
}

/* One bad item: "FILE:LINE: msg", "FILE: Bundle.entry[i]: msg" or "FILE: msg". */
static void import_report(import_ctx *x, const import_item *it)
{
	const char *msg = it->msg ? it->msg : err_message(it->err);

	import_unshow(x);
	if (x->at == IMPORT_AT_LINE)
		fprintf(stderr, "%s:%zu: %s\n", x->f->name, it->where, msg);
	else if (x->at == IMPORT_AT_ENTRY)
		fprintf(stderr, "%s: Bundle.entry[%zu]: %s\n", x->f->name, it->where, msg);
	else
		fprintf(stderr, "%s: %s\n", x->f->name, msg);
}

static void import_fatal(import_ctx *x, int rc)
{
	import_unshow(x);
	fprintf(stderr, "fhird import: %s: the database failed (%s); stopping\n", x->f->name, err_name(rc));
	x->fatal = 1;
}

/* ---- commits ------------------------------------------------------------ */

static int import_store_failed(int rc)
{
	return rc == ERR_DB || rc == ERR_BUSY || rc == ERR_IO;
}

/* Commits the good items among items[0..n): atomically when txn, else
 * each on its own. A resource the store refuses becomes a bad item (and,
 * with --on-error stop, nothing after it is written). Returns 0 or the
 * store's own failure (nothing of this call is then written). */
static int import_commit(import_ctx *x, import_item *items, store_op_t *ops, size_t n, int txn)
{
	size_t *idx = NULL, k = 0, f;
	int rc = 0;

	if (n == 0)
		goto out;
	idx = malloc(n * sizeof *idx);
	if (!idx) {
		rc = ERR_NOMEM;
		goto out;
	}
	/* the store takes a contiguous array: move the good ops together
	 * (each still points into its own item) */
	for (size_t i = 0; i < n; i++) {
		if (items[i].err)
			continue;
		if (k != i)
			ops[k] = ops[i];
		idx[k++] = i;
	}
	if (k == 0)
		goto out;
	rc = store_commit(x->store, ops, k, 1);
	if (rc == 0)
		goto out;
	for (f = 0; f < k && ops[f].status == 0; f++)
		;
	if (f == k || import_store_failed(rc) || import_store_failed(ops[f].status))
		goto out;
	import_item_fail(&items[idx[f]], ops[f].status, "The store refused it: %s", err_message(ops[f].status));
	if (txn) {
		rc = 0;
		goto out;
	}
	if (x->o.on_error == IMPORT_STOP) {
		/* everything before the refused one, nothing after it */
		rc = store_commit(x->store, ops, f, 1);
		goto out;
	}
	rc = store_commit(x->store, ops, k, 0);
	if (rc)
		goto out;
	for (size_t j = 0; j < k; j++)
		if (ops[j].status && !items[idx[j]].err)
			import_item_fail(&items[idx[j]], ops[j].status, "The store refused it: %s",
					 err_message(ops[j].status));
out:
	for (size_t j = 0; j < k; j++)
		store_version_clear(&ops[j].result);
	free(idx);
	return rc;
}

/* Batch semantics for items[0..n) (NDJSON, batch/collection Bundles, a
 * single resource): commits the good ones, reports the bad ones in order,
 * and with --on-error stop ends at the first bad one. */
static void import_apply(import_ctx *x, import_item *items, store_op_t *ops, size_t n)
{
	size_t limit = n;
	int rc;

	if (x->o.on_error == IMPORT_STOP)
		for (limit = 0; limit < n && !items[limit].err; limit++)
			;
	rc = import_commit(x, items, ops, limit, 0);
	if (rc) {
		import_fatal(x, rc);
		goto out;
	}
	for (size_t i = 0; i < n && !x->stopped; i++) {
		if (!items[i].err) {
			x->imported++;
			x->f_imported++;
			continue;
		}
		import_report(x, &items[i]);
		x->skipped++;
		x->f_skipped++;
		x->stopped = x->o.on_error == IMPORT_STOP;
	}
out:;
}

/* Transaction semantics: all of items[0..n) or none. */
static void import_txn(import_ctx *x, import_item *items, store_op_t *ops, size_t n)
{
	size_t bad = 0;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (items[i].err)
			bad++;
	if (!bad) {
		rc = import_commit(x, items, ops, n, 1);
		if (rc) {
			import_fatal(x, rc);
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			if (items[i].err)
				bad++;
	}
	if (!bad) {
		x->imported += n;
		x->f_imported += n;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (items[i].err)
			import_report(x, &items[i]);
	import_unshow(x);
	fprintf(stderr, "%s: the transaction was not imported (%zu of its %zu entries are bad)\n", x->f->name, bad, n);
	x->skipped += n;
	x->f_skipped += n;
	x->stopped = x->o.on_error == IMPORT_STOP;
out:;
}

/* ---- chunks ------------------------------------------------------------- */

static void import_chunk_release(import_chunk *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		import_item_fini(&c->items[i], &c->ops[i]);
	if (c->owns) {
		free(c->items);
		free(c->ops);
	}
}

/* Streams chunks from next() through the workers, at most --threads + 2
 * in flight, and applies them in order. */
static void import_window(import_ctx *x, import_next_fn next, void *src)
{
	import_chunk *head = NULL, *tail = NULL, *c;
	size_t inflight = 0, window = (size_t)x->o.threads + 2;
	int more = 1;

	for (;;) {
		while (more && !x->stopped && !x->fatal && inflight < window) {
			c = next(x, src);
			if (!c) {
				more = 0;
				break;
			}
			import_pipe_submit(&x->pipe, c);
			c->after = NULL;
			if (tail)
				tail->after = c;
			else
				head = c;
			tail = c;
			inflight++;
		}
		if (!head)
			break;
		c = head;
		head = c->after;
		if (!head)
			tail = NULL;
		inflight--;
		import_pipe_wait(&x->pipe, c);
		if (!x->stopped && !x->fatal) {
			import_apply(x, c->items, c->ops, c->n);
			x->done += c->lines;
			import_progress(x, 0);
		}
		import_chunk_release(c);
		free(c);
	}
}

typedef struct import_lines {
	const char *p, *end;
	size_t line;
} import_lines;

static int import_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* The next --batch non-blank lines of an NDJSON file. */
static import_chunk *import_next_lines(import_ctx *x, void *src)
{
	import_lines *s = src;
	import_chunk *c;

	if (s->p >= s->end)
		return NULL;
	c = calloc(1, sizeof *c);
	if (c) {
		c->items = calloc(x->o.batch, sizeof *c->items);
		c->ops = calloc(x->o.batch, sizeof *c->ops);
		c->owns = 1;
	}
	if (!c || !c->items || !c->ops) {
		import_chunk_release(c);
		free(c);
		import_fatal(x, ERR_NOMEM);
		return NULL;
	}
	while (s->p < s->end && c->n < x->o.batch) {
		const char *nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
		size_t len = (size_t)((nl ? nl : s->end) - s->p);

		s->line++;
		c->lines++;
		if (len && s->p[len - 1] == '\r')
			len--;
		if (!import_blank(s->p, len)) {
			import_item *it = &c->items[c->n++];
			it->text = s->p;
			it->len = len;
			it->where = s->line;
		}
		s->p = nl ? nl + 1 : s->end;
	}
	return c;
}

typedef struct import_slices {
	import_item *items;
	store_op_t *ops;
	size_t n, off;
	const json_t *refmap;
} import_slices;

/* The next --batch entries of a Bundle (views into its arrays). */
static import_chunk *import_next_slice(import_ctx *x, void *src)
{
	import_slices *s = src;
	import_chunk *c;

	if (s->off >= s->n)
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c) {
		import_fatal(x, ERR_NOMEM);
		return NULL;
	}
	c->items = s->items + s->off;
	c->ops = s->ops + s->off;
	c->n = s->n - s->off < x->o.batch ? s->n - s->off : x->o.batch;
	c->lines = c->n;
	c->refmap = s->refmap;
	s->off += c->n;
	return c;
}

/* ---- files -------------------------------------------------------------- */

static int import_name_is_ndjson(const char *name)
{
	size_t n = strlen(name);
	return (n >= 7 && strcasecmp(name + n - 7, ".ndjson") == 0) ||
	       (n >= 6 && strcasecmp(name + n - 6, ".jsonl") == 0);
}

static int import_bundle_kind(const char *btype)
{
	static const char *const kinds[] = { "transaction", "batch", "collection", "searchset", "history" };
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(btype, kinds[i]) == 0)
			return 1;
	return 0;
}

/* Maps and scans a file. Failures are kept in f->err for their turn. */
static void import_file_open(import_file *f)
{
	struct stat st;
	int fd = open(f->name, O_RDONLY | O_CLOEXEC);
	void *m;

	if (fd < 0) {
		f->err = errno;
		f->why = "cannot open";
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		f->err = errno;
		f->why = "cannot read";
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		f->err = EINVAL;
		f->why = "not a regular file";
		goto out;
	}
	f->size = (size_t)st.st_size;
	if (f->size) {
		m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			f->err = errno;
			f->why = "cannot read";
			f->size = 0;
			goto out;
		}
		f->map = m;
		(void)madvise(m, f->size, MADV_SEQUENTIAL);
	}
	import_scan_text(f->map, f->size, import_name_is_ndjson(f->name), &f->scan);
	if (import_name_is_ndjson(f->name) || !f->scan.single) {
		f->kind = IMPORT_F_NDJSON;
		f->total = f->scan.lines;
	} else {
		f->kind = IMPORT_F_DOC;
		f->total = strcmp(f->scan.rtype, "Bundle") == 0 && import_bundle_kind(f->scan.btype) ? f->scan.entries : 1;
	}
out:
	if (fd >= 0)
		close(fd);
}

static void import_file_close(import_file *f)
{
	if (f->map)
		munmap(f->map, f->size);
	f->map = NULL;
}

static void import_ndjson(import_ctx *x, import_file *f)
{
	import_lines s = { .p = f->map, .end = f->map + f->size, .line = 0 };

	if (f->size >= 3 && memcmp(f->map, "\xEF\xBB\xBF", 3) == 0)
		s.p += 3; /* a UTF-8 byte order mark is not part of line 1 */
	x->at = IMPORT_AT_LINE;
	import_window(x, import_next_lines, &s);
}

/* A file-level problem of a document: reported once, counts once. */
static void import_doc_bad(import_ctx *x, import_item *it)
{
	x->at = IMPORT_AT_FILE;
	import_report(x, it);
	x->skipped++;
	x->f_skipped++;
	if (x->o.on_error == IMPORT_STOP)
		x->stopped = 1;
}

static void import_bundle(import_ctx *x, json_t *root, const char *btype)
{
	json_t *entries = json_object_get(root, "entry"), *refmap = NULL;
	size_t n = json_is_array(entries) ? json_array_size(entries) : 0, nchunks = 0;
	import_item *items = calloc(n ? n : 1, sizeof *items);
	store_op_t *ops = calloc(n ? n : 1, sizeof *ops);
	import_chunk *chunks = NULL;
	import_slices s;
	int rc;

	if (!items || !ops) {
		import_fatal(x, ERR_NOMEM);
		goto out;
	}
	rc = import_bundle_plan(root, btype, items, ops, n, &refmap);
	if (rc) {
		import_fatal(x, rc);
		goto out;
	}
	x->at = IMPORT_AT_ENTRY;
	s = (import_slices){ .items = items, .ops = ops, .n = n, .off = 0, .refmap = refmap };
	if (strcmp(btype, "transaction") != 0) {
		import_window(x, import_next_slice, &s);
		goto out;
	}
	/* a transaction: prepare every entry (in parallel), then one atomic
	 * commit; the whole Bundle is in memory anyway */
	nchunks = (n + x->o.batch - 1) / x->o.batch;
	chunks = calloc(nchunks ? nchunks : 1, sizeof *chunks);
	if (!chunks) {
		import_fatal(x, ERR_NOMEM);
		goto out;
	}
	for (size_t i = 0; i < nchunks; i++) {
		chunks[i].items = items + i * x->o.batch;
		chunks[i].ops = ops + i * x->o.batch;
		chunks[i].n = n - i * x->o.batch < x->o.batch ? n - i * x->o.batch : x->o.batch;
		chunks[i].refmap = refmap;
		import_pipe_submit(&x->pipe, &chunks[i]);
	}
	for (size_t i = 0; i < nchunks; i++)
		import_pipe_wait(&x->pipe, &chunks[i]);
	import_txn(x, items, ops, n);
out:
	for (size_t i = 0; items && ops && i < n; i++)
		import_item_fini(&items[i], &ops[i]);
	free(chunks);
	free(items);
	free(ops);
	json_decref(refmap);
}

static void import_doc(import_ctx *x, import_file *f)
{
	import_item it;
	store_op_t op;
	json_t *root = NULL;
	const char *diag = NULL, *rt, *btype;
	const fhir_type *bt;
	fhir_issue issue;
	arena_t a;

	memset(&it, 0, sizeof it);
	memset(&op, 0, sizeof op);
	arena_init(&a, 64 * 1024);
	if (fhir_json_parse(f->map, f->size, x->o.max_depth, &a, &root, &diag)) {
		import_item_parse_fail(&it, diag);
		import_doc_bad(x, &it);
		goto out;
	}
	rt = json_string_value(json_object_get(root, "resourceType"));
	btype = json_string_value(json_object_get(root, "type"));
	if (rt && strcmp(rt, "Bundle") == 0 && btype && import_bundle_kind(btype)) {
		bt = fhir_type_find("Bundle", 6);
		/* the entries' resources are checked one by one (import_pipe.c),
		 * so that a bad one in a batch fails alone */
		if (fhir_validate_resource_flags(root, bt, FHIR_VALIDATE_ENTRIES_SHALLOW, &issue)) {
			import_item_fail(&it, ERR_UNPROCESSABLE, "%s%s%s", issue.expression, *issue.expression ? ": " : "",
					 issue.message);
			import_doc_bad(x, &it);
			goto out;
		}
		import_bundle(x, root, btype);
		goto out;
	}
	/* one resource (also a document or message Bundle) */
	x->at = IMPORT_AT_FILE;
	it.res = root;
	import_item_prepare(&it, &op, NULL, x->o.max_depth, &a);
	import_apply(x, &it, &op, 1);
out:
	import_item_fini(&it, &op);
	json_decref(root);
	arena_fini(&a);
}

static void import_file_run(import_ctx *x, import_file *f)
{
	size_t done0 = x->done;
	double t = import_now();
	char n1[32], n2[32];

	x->f = f;
	x->f_imported = x->f_skipped = 0;
	x->files++;
	if (f->err) {
		import_unshow(x);
		fprintf(stderr, "%s: %s: %s\n", f->name, f->why, strerror(f->err));
		x->skipped++;
		x->f_skipped++;
		if (x->o.on_error == IMPORT_STOP)
			x->stopped = 1;
	} else if (f->kind == IMPORT_F_NDJSON) {
		import_ndjson(x, f);
	} else {
		import_doc(x, f);
	}
	x->done = done0 + f->total; /* the scan's count was an estimate */
	import_progress(x, 1);
	if (!x->o.quiet) {
		import_unshow(x);
		printf("%s: imported %s resource%s (%s skipped) in %.2f s\n", f->name, import_count(n1, x->f_imported),
		       x->f_imported == 1 ? "" : "s", import_count(n2, x->f_skipped), import_now() - t);
		fflush(stdout);
	}
}

/* Creates the directory of the database file when it is missing. */
static void import_db_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (strstr(path, "://"))
		return; /* a database URL (PostgreSQL), not a file */
	if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
		return;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		fprintf(stderr, "fhird import: cannot create %s: %s\n", dir, strerror(errno));
}

int import_main(int argc, char **argv)
{
	import_ctx x;
	import_file *files = NULL;
	const char **names = NULL;
	size_t nfiles = 0;
	store_options so;
	int rc, status = 1, pipe_started = 0;
	char n1[32], n2[32], n3[32];
	double el;

	memset(&x, 0, sizeof x);
	names = calloc((size_t)argc, sizeof *names);
	if (!names) {
		fprintf(stderr, "fhird import: out of memory\n");
		return 1;
	}
	rc = import_args(argc, argv, &x.o, names, &nfiles);
	if (rc) {
		if (rc == 1)
			import_usage(stdout);
		free(names);
		return rc == 1 ? 0 : 2;
	}
	log_init(LOG_WARN);
	x.tty = isatty(STDERR_FILENO);
	x.t0 = import_now();
	files = calloc(nfiles, sizeof *files);
	if (!files) {
		fprintf(stderr, "fhird import: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < nfiles; i++) {
		files[i].name = names[i];
		import_file_open(&files[i]);
		x.total += files[i].total;
	}

	import_db_dir(x.o.db);
	memset(&so, 0, sizeof so);
	so.path = x.o.db;
	so.readers = 1;
	so.write_batch_max = x.o.batch;
	so.extract = search_extract_body;
	so.bulk = 1;
	if (search_extract_init()) {
		fprintf(stderr, "fhird import: cannot compile the search parameters\n");
		goto out;
	}
	rc = store_open(&so, &x.store);
	if (rc) {
		fprintf(stderr, "fhird import: cannot open the database %s (%s)\n", x.o.db, err_name(rc));
		goto out;
	}
	/* jansson seeds its hash function on first use; do it before the
	 * workers race to it */
	json_object_seed(0);
	rc = import_pipe_start(&x.pipe, x.o.threads, x.o.max_depth);
	if (rc) {
		fprintf(stderr, "fhird import: cannot start threads (%s)\n", err_name(rc));
		goto out;
	}
	pipe_started = 1;

	for (size_t i = 0; i < nfiles && !x.stopped && !x.fatal; i++) {
		import_file_run(&x, &files[i]);
		import_file_close(&files[i]);
	}
	import_unshow(&x);
	el = import_now() - x.t0;
	if (!x.o.quiet) {
		printf("imported %s resource%s (%s skipped) from %zu file%s in %.2f s (%s/s)\n",
		       import_count(n1, x.imported), x.imported == 1 ? "" : "s", import_count(n2, x.skipped), x.files,
		       x.files == 1 ? "" : "s", el,
		       import_count(n3, el > 0 ? (size_t)((double)x.imported / el) : x.imported));
		fflush(stdout);
	}
	if (x.stopped)
		fprintf(stderr, "fhird import: stopped at the first bad input (--on-error stop); what was imported before "
				"it is committed, nothing after it was imported\n");
	status = x.skipped || x.stopped || x.fatal ? 1 : 0;
out:
	if (pipe_started)
		import_pipe_stop(&x.pipe);
	store_close(x.store);
	search_extract_fini();
	for (size_t i = 0; files && i < nfiles; i++)
		import_file_close(&files[i]);
	free(files);
	free(names);
	return status;
}
