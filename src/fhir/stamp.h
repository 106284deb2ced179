/*
 * stamp.h - a resource serialized once, before the write transaction, with
 * a hole where meta.versionId and meta.lastUpdated go.
 *
 * The store assigns the version id and lastUpdated inside its single
 * writer thread, and the stored bytes must contain them. Serializing the
 * whole resource there would put JSON work on the one serial path of every
 * write; instead the request's own thread does it here, and the writer
 * only splices two short strings into the bytes (fhir_stamp_render, a
 * store_render_fn).
 *
 * The canonical form puts resourceType, id and meta first, so the hole's
 * place is known exactly: it starts after `{"resourceType":"T","id":"` and
 * spans the id and `","meta":{"versionId":"0","lastUpdated":"0`.
 * Server-owned meta values sent by the client are dropped (http.html#create:
 * "the server SHALL ignore" them).
 */
#ifndef FHIRD_FHIR_STAMP_H
#define FHIRD_FHIR_STAMP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fhir_stamp {
	char *json;   /* malloc'd serialization with placeholders */
	size_t len;
	size_t hole;  /* offset of the placeholder run */
	size_t hole_len;
} fhir_stamp;

/* Serializes res (a parsed, validated resource) in canonical form with id
 * set to id. type and id must already be known-good (type from the table,
 * id valid_id). 0, ERR_NOMEM, ERR_INTERNAL. */
int fhir_stamp_prepare(const json_t *res, const char *type, const char *id, fhir_stamp *out);

/* store_render_fn: ctx is a fhir_stamp*. Produces the final bytes with
 * id (which replaces the one given to prepare), vid and last_updated. */
int fhir_stamp_render(void *ctx, const char *id, int64_t vid, const char *last_updated, char **out, size_t *len);

void fhir_stamp_fini(fhir_stamp *s);

#endif
