/*
 * write.h - turning a parsed resource into a store operation, shared by
 * the REST handlers (rest.c), Bundles (bundle.c) and import: the body
 * checks of http.html#create/#update, canonical serialization (stamp.h),
 * the search index rows the store writes with the version, and the
 * criteria of conditional interactions (a search).
 *
 * Ownership: a fhir_write owns its stamp, its index rows and a reference
 * to the resource; fhir_write_fini() releases them. store_op_t inside it
 * points into it, so it must not move while the op is in use.
 */
#ifndef FHIRD_FHIR_WRITE_H
#define FHIRD_FHIR_WRITE_H

#include "core/arena.h"
#include "http/http.h"
#include "search/query.h"
#include "stamp.h"
#include "store/store.h"
#include "types.h"
#include "validate.h"

#include <jansson.h>

typedef struct fhir_write {
	store_op_t op;
	fhir_stamp stamp;
	search_rows rows;
	store_cond cond;
	char id[65];
	json_t *resource;
} fhir_write;

/* Checks a parsed body for type t: resourceType present, known and equal
 * to t (ERR_INVALID), then baseline validation (ERR_UNPROCESSABLE).
 * *issue says what and where (client-safe). */
int fhir_write_check(const json_t *res, const fhir_type *t, fhir_issue *issue);

/* Prepares w for kind on (t, id): serializes res with id, extracts its
 * search index rows (base: our base URL, for absolute
 * references to ourselves), fills w->op (render = stamp). For DELETE, res is NULL.
 * id NULL for CREATE means "a new random id". Takes a new reference to
 * res. 0, ERR_NOMEM, ERR_INTERNAL, ERR_METHOD (AuditEvent: only the
 * audit trail makes those). */
int fhir_write_prepare(fhir_write *w, enum store_op_kind kind, const fhir_type *t, const char *id, json_t *res,
		       const char *base);

void fhir_write_fini(fhir_write *w);

/* Parses a version entity tag W/"n" (or "n") into n > 0, as used by
 * If-Match, If-None-Match and Bundle entry.request.ifMatch. ERR_INVALID. */
int fhir_etag_parse(const char *s, int64_t *out);

/* A new UUID v4 (an id nobody can guess) into out. */
int fhir_write_new_id(char out[37]);

/* Parses the criteria of a conditional interaction from parameters
 * (already decoded) as a search on rtype (search/query.h), strictly:
 * unknown or unsupported parameters are ERR_INVALID, and so is a query
 * without criteria; _format/_pretty are ignored. base: our base URL (for
 * absolute references). The query lives in the arena. *diag says why
 * (client-safe). */
int fhir_cond_parse(arena_t *a, const char *rtype, const char *base, const http_param *params, size_t n,
		    store_cond *c, const char **diag);

#endif
