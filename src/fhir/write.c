/*
 * write.c - see write.h.
 */
#include "write.h"

#include "core/err.h"
#include "core/valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int fhir_write_new_id(char out[37])
{
	unsigned char r[16];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		return ERR_INTERNAL;
	r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
		 r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	return 0;
}

static int write_issue(fhir_issue *is, int err, const char *expr, const char *msg)
{
	is->err = err;
	snprintf(is->expression, sizeof is->expression, "%s", expr ? expr : "");
	snprintf(is->message, sizeof is->message, "%s", msg);
	return err;
}

int fhir_write_check(const json_t *res, const fhir_type *t, fhir_issue *issue)
{
	const char *rt = json_string_value(json_object_get(res, "resourceType"));

	memset(issue, 0, sizeof *issue);
	if (!json_is_object(res))
		return write_issue(issue, ERR_INVALID, NULL, "The resource must be a JSON object");
	if (!rt)
		return write_issue(issue, ERR_INVALID, NULL, "The resource has no resourceType");
	if (!fhir_type_find(rt, strlen(rt)))
		return write_issue(issue, ERR_INVALID, "resourceType", "Unknown resourceType");
	if (strcmp(rt, t->name) != 0)
		return write_issue(issue, ERR_INVALID, "resourceType", "resourceType does not match the type in the URL");
	return fhir_validate_resource(res, t, issue) ? ERR_UNPROCESSABLE : 0;
}


int fhir_write_prepare(fhir_write *w, enum store_op_kind kind, const fhir_type *t, const char *id, json_t *res,
		       const char *base)
{
	int rc;

	memset(w, 0, sizeof *w);
	/* AuditEvents live in the audit trail, written by the server alone
	 * (auditevent.c): never a resource version, whoever asks */
	if (!strcmp(t->name, "AuditEvent"))
		return ERR_METHOD;
	if (id)
		snprintf(w->id, sizeof w->id, "%s", id);
	else if (fhir_write_new_id(w->id))
		return ERR_INTERNAL;
	w->op.kind = kind;
	w->op.type = t->name;
	w->op.id = w->id;
	w->op.method = kind == STORE_OP_CREATE ? "POST" : kind == STORE_OP_DELETE ? "DELETE" : "PUT";
	if (kind == STORE_OP_DELETE || !res)
		return 0;
	w->resource = json_incref(res);
	rc = fhir_stamp_prepare(res, t->name, w->id, &w->stamp);
	if (rc)
		return rc;
	/* search index rows: CPU work done here, on the request's thread, so
	 * that the single writer only inserts them */
	rc = search_extract(t->name, res, base, &w->rows);
	if (rc)
		return rc;
	w->op.rows = w->rows.v;
	w->op.nrows = w->rows.n;
	w->op.render = fhir_stamp_render;
	w->op.render_ctx = &w->stamp;
	return 0;
}

void fhir_write_fini(fhir_write *w)
{
	if (!w)
		return;
	store_version_clear(&w->op.result);
	fhir_stamp_fini(&w->stamp);
	search_rows_clear(&w->rows);
	json_decref(w->resource);
	memset(w, 0, sizeof *w);
}

/* The criteria of a conditional interaction are a search
 * (http.html#ccreate: "a search URL"), parsed by the search engine's own
 * parser. Strict: a criterion we would ignore could make the write hit
 * resources the client did not mean, so unknown parameters are errors. */
int fhir_cond_parse(arena_t *a, const char *rtype, const char *base, const http_param *params, size_t n,
		    store_cond *c, const char **diag)
{
	search_limits lim = { .max_clauses = 64, .max_values = 100, .max_chain_depth = 4, .max_includes = 0,
			      .count_default = 2, .count_max = 2, .strict = 1, .base = base };
	search_query *q;
	char why[256];
	int rc;

	memset(c, 0, sizeof *c);
	*diag = NULL;
	q = arena_calloc(a, 1, sizeof *q);
	if (!q)
		return ERR_NOMEM;
	why[0] = '\0';
	rc = search_query_parse_params(a, rtype, params, n, &lim, q, why, sizeof why);
	if (rc) {
		*diag = why[0] ? arena_strdup(a, why) : "Invalid conditional criteria";
		return rc == ERR_NOMEM ? rc : ERR_INVALID;
	}
	if (q->nclauses == 0) {
		*diag = "A conditional interaction needs search criteria";
		return ERR_INVALID;
	}
	if (q->ninc || q->nsort) {
		*diag = "Conditional criteria take search parameters only";
		return ERR_INVALID;
	}
	c->q = q;
	return 0;
}

int fhir_etag_parse(const char *s, int64_t *out)
{
	char *end;
	long long v;
	size_t n;

	while (*s == ' ')
		s++;
	if (strncmp(s, "W/", 2) == 0)
		s += 2;
	n = strlen(s);
	while (n && s[n - 1] == ' ')
		n--;
	if (n < 3 || s[0] != '"' || s[n - 1] != '"' || s[1] < '1' || s[1] > '9' || n > 20)
		return ERR_INVALID;
	v = strtoll(s + 1, &end, 10);
	if (end != s + n - 1)
		return ERR_INVALID;
	*out = v;
	return 0;
}
