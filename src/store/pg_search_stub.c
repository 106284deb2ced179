/*
 * pg_search_stub.c - TEMPORARY: the PostgreSQL backend's search entry
 * points (pg_int.h) until pg_search.c (shared compiler, sql_search.c)
 * lands; it replaces this file. Every search answers ERR_NOTIMPL, so
 * conditional interactions and searches on PostgreSQL fail cleanly with
 * 501 meanwhile.
 */
#include "pg_int.h"

#include "core/err.h"

#include <stdio.h>

int pg_search(void *impl, const store_search_q *q, store_search_page *out, char *why, size_t whylen)
{
	(void)impl;
	(void)q;
	out->items = NULL;
	out->pos = NULL;
	out->n = 0;
	out->has_more = 0;
	out->total = -1;
	if (why && whylen)
		snprintf(why, whylen, "search is not implemented on PostgreSQL yet");
	return ERR_NOTIMPL;
}

int pg_search_ids(struct pg_conn *c, const search_query *q, const char *comp_id, char (*ids)[65], size_t max,
		  size_t *n)
{
	(void)c;
	(void)q;
	(void)comp_id;
	(void)ids;
	(void)max;
	*n = 0;
	return ERR_NOTIMPL;
}

int pg_referrers(void *impl, const uint32_t *params, size_t np, const char *type, const char *id, size_t max,
		 store_version_t **items, size_t *n)
{
	(void)impl;
	(void)params;
	(void)np;
	(void)type;
	(void)id;
	(void)max;
	(void)items;
	(void)n;
	return ERR_NOTIMPL;
}
