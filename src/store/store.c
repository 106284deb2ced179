/*
 * store.c - picks the backend for a database location (a postgresql://
 * URL or a SQLite path) and forwards every call to it. Also the backend-independent helpers (clearing results).
 */
#include "store.h"

#include "backend.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct store {
	const struct store_backend *be;
	void *impl;
	int64_t timeout_us; /* statement_timeout_ms */
};

/* The deadline of the request this thread is running (store.h). */
static _Thread_local int64_t store_deadline_tls;

int64_t store_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void store_deadline_begin(store_t *s)
{
	store_deadline_tls = s && s->timeout_us ? store_mono_us() + s->timeout_us : 0;
}

void store_deadline_end(store_t *s)
{
	(void)s;
	store_deadline_tls = 0;
}

int64_t store_deadline_current(void)
{
	return store_deadline_tls;
}

void store_version_clear(store_version_t *v)
{
	if (!v)
		return;
	free(v->body);
	v->body = NULL;
	v->body_len = 0;
}

void store_history_page_clear(store_history_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		store_version_clear(&p->items[i]);
	free(p->items);
	p->items = NULL;
	p->n = 0;
}

int store_open(const store_options *o, store_t **out)
{
	store_options local;
	store_t *s;
	int rc;

	s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	/* postgresql:// and postgres:// URLs name a PostgreSQL database (the
	 * libpq environment variables fill in what they leave out);
	 * sqlite:PATH or any other PATH is a SQLite file. */
	if (store_pg_location(o->path)) {
		s->be = &store_pg_backend;
	} else {
		s->be = &store_sqlite_backend;
		if (!strncmp(o->path, "sqlite:", 7)) {
			local = *o;
			local.path = o->path + 7;
			o = &local;
		}
	}
	s->timeout_us = (int64_t)o->statement_timeout_ms * 1000;
	rc = s->be->open(o, &s->impl);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void store_close(store_t *s)
{
	if (!s)
		return;
	s->be->close(s->impl);
	free(s);
}

int store_commit(store_t *s, store_op_t *ops, size_t n, int atomic)
{
	return s->be->commit(s->impl, ops, n, atomic);
}

int store_read(store_t *s, const char *type, const char *id, store_version_t *out)
{
	return s->be->read(s->impl, type, id, out);
}

int store_vread(store_t *s, const char *type, const char *id, int64_t vid, store_version_t *out)
{
	return s->be->vread(s->impl, type, id, vid, out);
}

int store_history(store_t *s, const store_history_q *q, store_history_page *out)
{
	return s->be->history(s->impl, q, out);
}

int store_match(store_t *s, const char *type, const store_cond *c, char (*ids)[65], size_t max, size_t *n)
{
	return s->be->match(s->impl, type, c, ids, max, n);
}

int store_schema_version(store_t *s)
{
	return s->be->schema_version(s->impl);
}

void store_pos_clear(store_pos *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nk && i < STORE_MAX_SORT; i++) {
		free(p->k[i].s);
		p->k[i].s = NULL;
	}
	p->nk = 0;
}

void store_search_page_clear(store_search_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		store_version_clear(&p->items[i]);
		if (p->pos)
			store_pos_clear(&p->pos[i]);
	}
	free(p->items);
	free(p->pos);
	p->items = NULL;
	p->pos = NULL;
	p->n = 0;
}

int store_search(store_t *s, const store_search_q *q, store_search_page *out, char *why, size_t whylen)
{
	return s->be->search(s->impl, q, out, why, whylen);
}

int store_referrers(store_t *s, const uint32_t *params, size_t np, const char *type, const char *id, size_t max,
		    store_version_t **items, size_t *n)
{
	return s->be->referrers(s->impl, params, np, type, id, max, items, n);
}

int store_reindex(store_t *s, store_extract_fn fn, void *ctx, size_t *count)
{
	return s->be->reindex(s->impl, fn, ctx, count);
}

int store_index_hash(store_t *s, char *out, size_t cap)
{
	return s->be->index_hash(s->impl, out, cap);
}

/* ---- authorization records ---- */

void store_auth_rec_clear(store_auth_rec *r)
{
	if (!r)
		return;
	free(r->value);
	r->value = NULL;
}

int store_auth_put(store_t *s, enum store_auth_kind kind, const char *key, const char *family, const char *value,
		   int64_t exp_us, int replace)
{
	/* The length limits are the interface's (fixed-size fields in
	 * store_auth_rec), so they are checked here for every backend. */
	if (!key || !*key || strlen(key) >= STORE_AUTH_KEY_MAX || (family && strlen(family) >= STORE_AUTH_KEY_MAX) ||
	    !value)
		return ERR_INVALID;
	return s->be->auth_put(s->impl, kind, key, family, value, exp_us, replace);
}

int store_auth_get(store_t *s, enum store_auth_kind kind, const char *key, store_auth_rec *out)
{
	memset(out, 0, sizeof *out); /* clearable whatever happens */
	if (!key || strlen(key) >= STORE_AUTH_KEY_MAX)
		return ERR_NOTFOUND; /* could never have been stored */
	return s->be->auth_get(s->impl, kind, key, 0, out);
}

int store_auth_take(store_t *s, enum store_auth_kind kind, const char *key, store_auth_rec *out)
{
	memset(out, 0, sizeof *out);
	if (!key || strlen(key) >= STORE_AUTH_KEY_MAX)
		return ERR_NOTFOUND;
	return s->be->auth_get(s->impl, kind, key, 1, out);
}

int store_auth_del(store_t *s, enum store_auth_kind kind, const char *key)
{
	if (!key || strlen(key) >= STORE_AUTH_KEY_MAX)
		return 0; /* absent by construction */
	return s->be->auth_del(s->impl, kind, key);
}

int store_auth_list(store_t *s, enum store_auth_kind kind, store_auth_rec **out, size_t *n)
{
	return s->be->auth_list(s->impl, kind, out, n);
}

int store_auth_revoked(store_t *s, const char *a, const char *b, int *revoked)
{
	return s->be->auth_revoked(s->impl, a, b, revoked);
}

int store_auth_expire_family(store_t *s, const char *family, int64_t exp_us)
{
	/* An empty family is "none": it must not select every record that
	 * has no family. */
	if (!family || !*family)
		return ERR_INVALID;
	return s->be->auth_expire_family(s->impl, family, exp_us);
}

int store_auth_purge(store_t *s, int64_t now_us, size_t *n)
{
	return s->be->auth_purge(s->impl, now_us, n);
}

int store_compartment_member(store_t *s, const char *type, int64_t seq, const char *patient, int *yes)
{
	return s->be->compartment_member(s->impl, type, seq, patient, yes);
}

/* ---- audit trail ---- */

void store_audit_rec_clear(store_audit_rec *r)
{
	if (!r)
		return;
	free(r->query);
	r->query = NULL;
}

void store_audit_page_clear(store_audit_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		store_audit_rec_clear(&p->items[i]);
	free(p->items);
	p->items = NULL;
	p->n = 0;
}

int store_audit_append(store_t *s, store_audit_rec *recs, size_t n, store_audit_hash_fn fn)
{
	if (n == 0)
		return 0;
	if (!fn)
		return ERR_INVALID;
	return s->be->audit_append(s->impl, recs, n, fn);
}

int store_audit_get(store_t *s, int64_t seq, store_audit_rec *out)
{
	memset(out, 0, sizeof *out);
	if (seq <= 0)
		return ERR_NOTFOUND;
	return s->be->audit_get(s->impl, seq, out);
}

int store_audit_search(store_t *s, const store_audit_q *q, store_audit_page *out)
{
	memset(out, 0, sizeof *out);
	if (q->count == 0)
		return ERR_INVALID;
	return s->be->audit_search(s->impl, q, out);
}

int store_audit_walk(store_t *s, store_audit_head *head, store_audit_walk_fn fn, void *ctx)
{
	memset(head, 0, sizeof *head);
	return s->be->audit_walk(s->impl, head, fn, ctx);
}
