/*
 * jwks_cache.c - see jwks_cache.h: a small table of URL -> JWK Set with
 * expiry and refetch clocks, filled through the outbound HTTP client.
 *
 * Workload: a lookup per token that needs the set (a string compare or
 * a few), a fetch every few minutes to hours per URL. The table is a
 * plain array scanned linearly: it holds one entry with --auth external
 * and one per backend client using --jwks-url, bounded by max_entries.
 */
#include "jwks_cache.h"

#include "auth/jose.h"
#include "core/err.h"
#include "core/log.h"
#include "http/client.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct jc_entry {
	char *url;
	json_t *jwks;        /* NULL until a fetch succeeded */
	int64_t expires;     /* monotonic seconds */
	int64_t attempted;   /* monotonic seconds of the last fetch attempt */
	int64_t used;        /* monotonic seconds of the last lookup (LRU) */
} jc_entry;

struct auth_jwks_cache {
	auth_jwks_opts o;
	char *ca_file;
	pthread_mutex_t mu;       /* the table */
	pthread_mutex_t fetch_mu; /* one fetch at a time */
	jc_entry *e;
	size_t n;
};

/* Expiry must not move with the wall clock. */
static int64_t jc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int auth_jwks_cache_new(const auth_jwks_opts *o, auth_jwks_cache **out)
{
	auth_jwks_cache *c;

	*out = NULL;
	if (!o || o->max_entries == 0 || o->min_ttl_s > o->max_ttl_s)
		return ERR_INVALID;
	c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	c->o = *o;
	c->e = calloc(o->max_entries, sizeof *c->e);
	c->ca_file = o->ca_file && *o->ca_file ? strdup(o->ca_file) : NULL;
	if (!c->e || (o->ca_file && *o->ca_file && !c->ca_file)) {
		free(c->e);
		free(c->ca_file);
		free(c);
		return ERR_NOMEM;
	}
	c->o.ca_file = c->ca_file;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->fetch_mu, NULL);
	*out = c;
	return 0;
}

void auth_jwks_cache_free(auth_jwks_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].url);
		json_decref(c->e[i].jwks);
	}
	free(c->e);
	free(c->ca_file);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->fetch_mu);
	free(c);
}

/* The entry for url, or NULL. Caller holds mu. */
static jc_entry *jc_find(auth_jwks_cache *c, const char *url)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].url, url) == 0)
			return &c->e[i];
	return NULL;
}

/* A new entry for url, evicting the least recently used one when the
 * table is full. Caller holds mu. */
static jc_entry *jc_add(auth_jwks_cache *c, const char *url)
{
	jc_entry *e;
	char *u = strdup(url);

	if (!u)
		return NULL;
	if (c->n < c->o.max_entries) {
		e = &c->e[c->n++];
	} else {
		e = &c->e[0];
		for (size_t i = 1; i < c->n; i++)
			if (c->e[i].used < e->used)
				e = &c->e[i];
		free(e->url);
		json_decref(e->jwks);
	}
	memset(e, 0, sizeof *e);
	e->url = u;
	return e;
}

/* Whether the cached set will do for kid at now. */
static int jc_fresh(const jc_entry *e, const char *kid, int64_t now)
{
	return e && e->jwks && now < e->expires && (!kid || jose_jwks_has_kid(e->jwks, kid));
}

/* One fetch: *jwks (new reference) and *ttl_s from Cache-Control. */
static int jc_fetch(const auth_jwks_cache *c, const char *url, json_t **jwks, unsigned *ttl_s)
{
	char *body = NULL;
	size_t len = 0;
	long max_age = -1;
	int status = 0, rc;
	json_t *j = NULL;

	*jwks = NULL;
	rc = http_client_get(url, c->o.ca_file, c->o.timeout_ms, c->o.max_bytes, &status, &body, &len, &max_age);
	if (rc)
		goto out;
	rc = ERR_IO;
	if (status != 200) {
		log_warn("msg=\"JWKS fetch: unexpected status\" url=\"%.200s\" status=%d", url, status);
		goto out;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j) || !json_is_array(json_object_get(j, "keys"))) {
		log_warn("msg=\"JWKS fetch: not a JWK Set\" url=\"%.200s\"", url);
		goto out;
	}
	if (max_age < 0)
		*ttl_s = c->o.default_ttl_s;
	else if (max_age < (long)c->o.min_ttl_s)
		*ttl_s = c->o.min_ttl_s;
	else if (max_age > (long)c->o.max_ttl_s)
		*ttl_s = c->o.max_ttl_s;
	else
		*ttl_s = (unsigned)max_age;
	*jwks = j;
	j = NULL;
	rc = 0;
	log_info("msg=\"JWKS fetched\" url=\"%.200s\" keys=%zu ttl_s=%u", url,
		 json_array_size(json_object_get(*jwks, "keys")), *ttl_s);
out:
	json_decref(j);
	free(body);
	return rc;
}

int auth_jwks_cache_get(auth_jwks_cache *c, const char *url, const char *kid, json_t **jwks)
{
	jc_entry *e;
	json_t *fetched = NULL;
	unsigned ttl = 0;
	int64_t now = jc_now();
	int rc, frc;

	*jwks = NULL;
	if (!url)
		return ERR_INVALID;
	if (c->o.https_only && strncasecmp(url, "https://", 8) != 0)
		return ERR_FORBIDDEN;
	pthread_mutex_lock(&c->mu);
	e = jc_find(c, url);
	if (jc_fresh(e, kid, now)) {
		e->used = now;
		*jwks = json_incref(e->jwks);
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	pthread_mutex_unlock(&c->mu);

	/* Stale, missing, or without the kid: one thread fetches; the others
	 * wait here and then find its result. */
	pthread_mutex_lock(&c->fetch_mu);
	pthread_mutex_lock(&c->mu);
	now = jc_now();
	e = jc_find(c, url);
	if (!e && !(e = jc_add(c, url))) {
		rc = ERR_NOMEM;
		goto unlock;
	}
	e->used = now;
	if (jc_fresh(e, kid, now) || (e->attempted && now - e->attempted < (int64_t)c->o.refetch_s)) {
		/* fetched meanwhile, or fetched too recently to ask again: what
		 * is cached (possibly without the kid, or stale) is the answer */
		rc = e->jwks ? 0 : ERR_IO;
		if (e->jwks)
			*jwks = json_incref(e->jwks);
		goto unlock;
	}
	e->attempted = now;
	pthread_mutex_unlock(&c->mu);

	frc = jc_fetch(c, url, &fetched, &ttl);

	pthread_mutex_lock(&c->mu);
	/* the entry may have been evicted while we fetched */
	e = jc_find(c, url);
	if (!e && frc == 0 && !(e = jc_add(c, url))) {
		rc = ERR_NOMEM;
		goto unlock;
	}
	if (frc == 0) {
		json_decref(e->jwks);
		e->jwks = fetched;
		fetched = NULL;
		e->attempted = jc_now();
		e->expires = e->attempted + ttl;
	} else if (e && e->jwks) {
		log_warn("msg=\"JWKS refetch failed, keeping the cached keys\" url=\"%.200s\"", url);
	}
	if (e && e->jwks) {
		*jwks = json_incref(e->jwks);
		rc = 0;
	} else {
		rc = frc == ERR_FORBIDDEN || frc == ERR_NOMEM ? frc : ERR_IO;
	}
unlock:
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&c->fetch_mu);
	json_decref(fetched);
	return rc;
}
