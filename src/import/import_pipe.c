/*
 * import_pipe.c - the parallel half of `fhird import`: worker threads that
 * turn items (NDJSON lines, Bundle entries) into store operations.
 *
 * Workload: hundreds of thousands of ~1 KB resources. Per resource the
 * costly steps are the JSON parse, validation and the canonical
 * serialization (tens of microseconds together), while the store's single
 * writer thread spends a similar time per resource in SQLite. So the
 * workers run beside the writer: the main thread commits chunk k while the
 * workers prepare chunks k+1.. . A worker also frees the parsed tree of
 * each line itself, after extracting the search index rows the store
 * writes, so that only the serialized bytes and the rows wait for the commit (memory per
 * chunk stays close to the size of its text).
 */
#include "import.h"

#include "core/err.h"
#include "core/valid.h"
#include "fhir/fhir.h"
#include "fhir/refs.h"
#include "fhir/validate.h"
#include "fhir/write.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int import_item_fail(import_item *it, int err, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	free(it->msg);
	it->msg = strdup(text);
	it->err = err;
	return err;
}

void import_item_fini(import_item *it, store_op_t *op)
{
	if (op)
		store_version_clear(&op->result);
	if (!it)
		return;
	fhir_stamp_fini(&it->stamp);
	search_rows_clear(&it->rows);
	free(it->msg);
	it->msg = NULL;
}

/* The parser's diagnostics speak of a request body; an import speaks of
 * lines. Column numbers stay: they point into the line without quoting it. */
int import_item_parse_fail(import_item *it, const char *diag)
{
	static const char body[] = "The request body ";
	static const char at_line1[] = "Invalid JSON at line 1, column ";

	if (!diag)
		return import_item_fail(it, ERR_INVALID, "Invalid JSON");
	if (it->text && strncmp(diag, at_line1, sizeof at_line1 - 1) == 0)
		return import_item_fail(it, ERR_INVALID, "Invalid JSON at column %s", diag + sizeof at_line1 - 1);
	if (strncmp(diag, body, sizeof body - 1) == 0)
		return import_item_fail(it, ERR_INVALID, "The %s %s", it->text ? "line" : "input",
					diag + sizeof body - 1);
	if (strcmp(diag, "The body must be a JSON object") == 0)
		return import_item_fail(it, ERR_INVALID, "Not a JSON object");
	return import_item_fail(it, ERR_INVALID, "%s", diag);
}


int import_item_prepare(import_item *it, store_op_t *op, const json_t *refmap, unsigned max_depth, arena_t *a)
{
	json_t *owned = NULL, *res = it->res;
	const json_t *idv;
	const char *rt, *diag = NULL;
	const fhir_type *t;
	fhir_issue issue;
	int rc = 0, kind = it->kind;

	if (it->err || it->ready)
		return it->err;
	if (!res) {
		if (fhir_json_parse(it->text, it->len, max_depth, a, &owned, &diag)) {
			rc = import_item_parse_fail(it, diag);
			goto out;
		}
		res = owned;
	}
	if (refmap && fhir_refs_rewrite(res, refmap, NULL)) {
		rc = import_item_fail(it, ERR_NOMEM, "Out of memory");
		goto out;
	}
	rt = json_string_value(json_object_get(res, "resourceType"));
	if (!rt) {
		rc = import_item_fail(it, ERR_INVALID, "The resource has no resourceType");
		goto out;
	}
	t = fhir_type_find(rt, strlen(rt));
	if (!t) {
		rc = import_item_fail(it, ERR_INVALID, "Unknown resourceType");
		goto out;
	}
	if (it->type && it->type != t) {
		rc = import_item_fail(it, ERR_INVALID, "resourceType does not match request.url");
		goto out;
	}
	if (fhir_validate_resource(res, t, &issue)) {
		rc = *issue.expression ? import_item_fail(it, ERR_UNPROCESSABLE, "%s: %s", issue.expression, issue.message)
				       : import_item_fail(it, ERR_UNPROCESSABLE, "%s", issue.message);
		goto out;
	}
	if (!it->id[0]) {
		/* NDJSON: keep a valid id (an update: importing again makes a
		 * new version), else mint one (a create) */
		idv = json_object_get(res, "id");
		if (idv) {
			const char *s = json_string_value(idv);
			if (!s || json_string_length(idv) != strlen(s) || !valid_id(s, strlen(s))) {
				rc = import_item_fail(it, ERR_INVALID, "%s.id: not a valid id", t->name);
				goto out;
			}
			memcpy(it->id, s, strlen(s) + 1);
			if (!kind)
				kind = STORE_OP_UPDATE;
		} else {
			char uuid[37];
			if (fhir_write_new_id(uuid)) {
				rc = import_item_fail(it, ERR_INTERNAL, "No randomness from the OS");
				goto out;
			}
			memcpy(it->id, uuid, sizeof uuid);
			if (!kind)
				kind = STORE_OP_CREATE;
		}
	}
	if (!kind)
		kind = STORE_OP_UPDATE;
	rc = fhir_stamp_prepare(res, t->name, it->id, &it->stamp);
	if (rc) {
		import_item_fail(it, rc, "%s", err_message(rc));
		goto out;
	}
	/* Absolute references to a server's own base are indexed as they are
	 * written: import does not know the base URL it will be served at. */
	rc = search_extract(t->name, res, NULL, &it->rows);
	if (rc) {
		import_item_fail(it, rc, "Out of memory");
		goto out;
	}
	memset(op, 0, sizeof *op);
	op->kind = (enum store_op_kind)kind;
	op->type = t->name;
	op->id = it->id;
	op->method = kind == STORE_OP_CREATE ? "POST" : "PUT";
	op->render = fhir_stamp_render;
	op->render_ctx = &it->stamp;
	op->rows = it->rows.v;
	op->nrows = it->rows.n;
out:
	json_decref(owned);
	return rc;
}

static void *pipe_worker(void *arg)
{
	import_pipe *p = arg;
	arena_t a;

	arena_init(&a, 64 * 1024);
	for (;;) {
		import_chunk *c;

		pthread_mutex_lock(&p->lock);
		while (!p->qhead && !p->closing)
			pthread_cond_wait(&p->work, &p->lock);
		c = p->qhead;
		if (c) {
			p->qhead = c->next;
			if (!p->qhead)
				p->qtail = NULL;
			c->next = NULL;
		}
		pthread_mutex_unlock(&p->lock);
		if (!c)
			break;
		for (size_t i = 0; i < c->n; i++) {
			import_item_prepare(&c->items[i], &c->ops[i], c->refmap, p->max_depth, &a);
			if (a.head) /* only parse errors use it */
				arena_fini(&a);
		}
		pthread_mutex_lock(&p->lock);
		c->ready = 1;
		pthread_cond_broadcast(&p->done);
		pthread_mutex_unlock(&p->lock);
	}
	arena_fini(&a);
	return NULL;
}

int import_pipe_start(import_pipe *p, unsigned nthreads, unsigned max_depth)
{
	int rc = 0;

	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->max_depth = max_depth;
	p->threads = calloc(nthreads ? nthreads : 1, sizeof *p->threads);
	if (!p->threads) {
		rc = ERR_NOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < (nthreads ? nthreads : 1); i++) {
		if (pthread_create(&p->threads[i], NULL, pipe_worker, p) != 0) {
			rc = ERR_INTERNAL;
			goto fail;
		}
		p->nthreads++;
	}
	return 0;
fail:
	import_pipe_stop(p);
	return rc;
}

void import_pipe_submit(import_pipe *p, import_chunk *c)
{
	c->ready = 0;
	c->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->qtail)
		p->qtail->next = c;
	else
		p->qhead = c;
	p->qtail = c;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

void import_pipe_wait(import_pipe *p, import_chunk *c)
{
	pthread_mutex_lock(&p->lock);
	while (!c->ready)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void import_pipe_stop(import_pipe *p)
{
	pthread_mutex_lock(&p->lock);
	p->closing = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	p->threads = NULL;
	p->nthreads = 0;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
}
