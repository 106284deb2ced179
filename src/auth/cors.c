/*
 * cors.c - CORS for the FHIR API (cors.h): a cache of the origins the
 * registered clients' redirect URIs name, and the preflight and response
 * headers built from it.
 *
 * Workload: a browser app sends a preflight now and then (Max-Age keeps
 * the browser from repeating it) and an Origin header on every request;
 * server-to-server clients send no Origin and never get here past one
 * header lookup. The client list is small (tens), so a linear scan of a
 * string array under a mutex is enough; the store is read only when the
 * cache is stale or misses (rate-limited, see cors.h).
 */
#include "auth/cors.h"

#include "auth/registry.h"
#include "core/err.h"
#include "core/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct auth_cors {
	store_t *store;
	pthread_mutex_t mu;
	char **origins;     /* each once */
	size_t n;
	int loaded;
	int64_t loaded_ms;  /* CLOCK_MONOTONIC of the last load */
};

/* What a FHIR client may send (http.html): the bearer token, bodies,
 * Prefer, the conditional headers. Accept is listed because a long or
 * unusual Accept value is not CORS-safelisted. */
static const char cors_allow_headers[] = "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, "
					 "If-Modified-Since, If-None-Exist";
static const char cors_allow_methods[] = "GET, HEAD, POST, PUT, PATCH, DELETE";
/* Retry-After: an app must be able to read how long a 429 asks it to wait */
static const char cors_expose_headers[] = "Location, ETag, Last-Modified, Content-Location, WWW-Authenticate, Retry-After";

static int64_t cors_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cors_clear(auth_cors *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->origins[i]);
	free(c->origins);
	c->origins = NULL;
	c->n = 0;
}

static int cors_has(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* Reads every client's origins into a new array and swaps it in; on
 * failure the old cache stays (and is retried at the next miss). Called
 * with c->mu held. */
static int cors_load(auth_cors *c)
{
	store_auth_rec *recs = NULL;
	size_t nrec = 0, n = 0, cap = 0;
	char **v = NULL;
	int rc;

	rc = store_auth_list(c->store, STORE_AUTH_CLIENT, &recs, &nrec);
	if (rc)
		goto out;
	for (size_t i = 0; i < nrec && !rc; i++) {
		auth_client cl;
		memset(&cl, 0, sizeof cl);
		/* a client removed since the list was read is simply skipped */
		if (auth_client_get(c->store, recs[i].key, &cl) == 0) {
			for (size_t j = 0; j < cl.norigins && !rc; j++) {
				if (cors_has((const char *const *)v, n, cl.origins[j]))
					continue;
				if (n == cap) {
					size_t ncap = cap ? 2 * cap : 8;
					char **nv = realloc(v, ncap * sizeof *v);
					if (!nv) {
						rc = ERR_NOMEM;
						break;
					}
					v = nv;
					cap = ncap;
				}
				v[n] = strdup(cl.origins[j]);
				if (!v[n])
					rc = ERR_NOMEM;
				else
					n++;
			}
		}
		auth_client_fini(&cl);
	}
out:
	for (size_t i = 0; i < nrec; i++)
		store_auth_rec_clear(&recs[i]);
	free(recs);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		log_warn("msg=\"cors: cannot read the clients' origins\" err=%s", err_name(rc));
		return rc;
	}
	cors_clear(c);
	c->origins = v;
	c->n = n;
	return 0;
}

int auth_cors_registered(auth_cors *c, const char *origin)
{
	int64_t now = cors_now_ms();
	int ok;

	/* "null" (opaque origins: file:, sandboxed frames, data:) can never be
	 * a redirect URI's origin; an over-long value cannot either. */
	if (!*origin || strcmp(origin, "null") == 0 || strlen(origin) > 512)
		return 0;
	pthread_mutex_lock(&c->mu);
	if (!c->loaded || now - c->loaded_ms >= AUTH_CORS_TTL_S * 1000) {
		c->loaded = 1;
		c->loaded_ms = now;
		cors_load(c);
	}
	ok = cors_has((const char *const *)c->origins, c->n, origin);
	if (!ok && now - c->loaded_ms >= AUTH_CORS_MISS_S * 1000) {
		c->loaded_ms = now;
		cors_load(c);
		ok = cors_has((const char *const *)c->origins, c->n, origin);
	}
	pthread_mutex_unlock(&c->mu);
	return ok;
}

int auth_cors_new(store_t *store, auth_cors **out)
{
	auth_cors *c = calloc(1, sizeof *c);

	*out = NULL;
	if (!c)
		return ERR_NOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return ERR_NOMEM;
	}
	c->store = store;
	*out = c;
	return 0;
}

void auth_cors_free(auth_cors *c)
{
	if (!c)
		return;
	cors_clear(c);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int auth_cors_preflight(auth_cors *c, http_request *req, http_response *resp)
{
	const char *origin, *acrm;
	char *v;

	if (!c || req->pre_error || strcmp(req->method, "OPTIONS") != 0)
		return 0;
	origin = http_request_header(req, "Origin");
	acrm = http_request_header(req, "Access-Control-Request-Method");
	if (!origin || !acrm || !auth_cors_registered(c, origin))
		return 0;
	v = arena_strdup(req->arena, origin);
	if (!v)
		return 0;
	/* Fetch standard 3.2.3: a successful preflight is an ok status with
	 * the allow headers; 204 has no body to send. */
	resp->status = 204;
	http_response_header(resp, "Access-Control-Allow-Origin", v);
	http_response_header(resp, "Access-Control-Allow-Methods", cors_allow_methods);
	http_response_header(resp, "Access-Control-Allow-Headers", cors_allow_headers);
	http_response_header(resp, "Access-Control-Max-Age", "600");
	http_response_header(resp, "Vary", "Origin");
	return 1;
}

void auth_cors_response(auth_cors *c, http_request *req, http_response *resp)
{
	const char *origin;
	char *v;

	if (!c)
		return;
	origin = http_request_header(req, "Origin");
	if (!origin)
		return;
	/* The answer depends on Origin (Cache-Control: no-store is on every
	 * response anyway; this is for anything that caches regardless). */
	http_response_header(resp, "Vary", "Origin");
	if (!auth_cors_registered(c, origin))
		return;
	v = arena_strdup(req->arena, origin);
	if (!v)
		return;
	/* No Access-Control-Allow-Credentials: the API is authorized by the
	 * bearer token, never by cookies. */
	http_response_header(resp, "Access-Control-Allow-Origin", v);
	http_response_header(resp, "Access-Control-Expose-Headers", cors_expose_headers);
}
