/*
 * reindex.h - glue between stored bodies and index extraction.
 */
#ifndef FHIRD_SEARCH_REINDEX_H
#define FHIRD_SEARCH_REINDEX_H

#include "extract.h"

#include <stddef.h>

/* A store_extract_fn: parses body[0..len) (JSON of a resource of type)
 * and appends its index rows to out. ctx: the base URL (const char *) or
 * NULL. 0, ERR_INVALID (unparsable body), ERR_NOMEM. */
int search_extract_body(void *ctx, const char *type, const char *body, size_t len, search_rows *out);

#endif
