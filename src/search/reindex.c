/*
 * reindex.c - the extraction callback the store uses to rebuild its
 * search indexes from stored bodies (store_reindex, and the automatic
 * rebuild at open when the parameter table changed). Bodies in the store
 * were validated when written, so they are parsed without extra limits.
 */
#include "reindex.h"

#include "core/err.h"

#include <jansson.h>

int search_extract_body(void *ctx, const char *type, const char *body, size_t len, search_rows *out)
{
	const char *base = ctx;
	json_t *r = json_loadb(body, len, 0, NULL);
	int rc;

	if (!r)
		return ERR_INVALID;
	rc = search_extract(type, r, base, out);
	json_decref(r);
	return rc;
}
