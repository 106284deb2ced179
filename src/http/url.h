/*
 * url.h - request-target parsing (see url.c for why we do it ourselves).
 * Everything returned is allocated in the given arena.
 */
#ifndef FHIRD_HTTP_URL_H
#define FHIRD_HTTP_URL_H

#include "core/arena.h"
#include "core/buf.h"
#include "http.h"

typedef struct http_target {
	char *path;         /* whole path, decoded (for display only) */
	char **segments;    /* decoded, non-empty path segments */
	size_t nsegments;
	http_param *params; /* query parameters, decoded, in order */
	size_t nparams;
} http_target;

/* Percent-decodes s[0..len) into *out (NUL-terminated, in a).
 * ERR_INVALID for a malformed escape or an encoded NUL; ERR_TOOBIG when
 * the arena is full. */
int http_url_decode(arena_t *a, const char *s, size_t len, int plus_is_space, char **out);

/* Parses an x-www-form-urlencoded string (a query or a form body).
 * ERR_TOOBIG above max_params parameters. */
int http_query_parse(arena_t *a, const char *q, size_t len, size_t max_params, http_param **params, size_t *nparams);

/* Appends s percent-encoded: every byte outside RFC 3986 unreserved
 * (A-Z a-z 0-9 - . _ ~) as %XX, so that it decodes back to s exactly.
 * ERR_TOOBIG / ERR_NOMEM from the buffer. */
int http_url_encode(buf_t *b, const char *s);

/* Parses a raw request target "/a/b?x=1&y=2". ERR_INVALID / ERR_TOOBIG. */
int http_target_parse(arena_t *a, const char *target, size_t max_params, http_target *out);

#endif
