/*
 * cors.h - CORS (Fetch standard, "CORS protocol") for the FHIR API, so
 * that a browser app launched through SMART (a page on another origin
 * using fhirclient, say) can read the responses.
 *
 * SMART App Launch 2.2: discovery documents are open to any origin (done
 * in oauth.c); the token and FHIR endpoints only to the origins
 * registered for a client. A registered origin is the scheme://host[:port]
 * of one of a client's redirect URIs (auth_client.origins, registry.h).
 * The FHIR API does not know which client a request comes from before it
 * has verified the token, and a preflight carries no token at all, so an
 * origin registered for ANY client is allowed here; the bearer token
 * still decides what the request may touch. Unregistered origins get no
 * CORS headers at all, and the request is handled as it would be without
 * an Origin header.
 *
 * The origins are read from the store (STORE_AUTH_CLIENT records) and
 * cached: the cache is reloaded when it is older than AUTH_CORS_TTL_S
 * seconds (a removed client's origin stops working within that time) and,
 * at most once per AUTH_CORS_MISS_S seconds, when an origin is not in it
 * (a client registered with `fhird client add` while the server runs
 * works at once; random origins cannot make every request read the
 * store).
 *
 * Ownership: main owns the auth_cors; it borrows the store, which must
 * outlive it. Thread-safe (one mutex around the cache).
 */
#ifndef FHIRD_AUTH_CORS_H
#define FHIRD_AUTH_CORS_H

#include "http/http.h"
#include "store/store.h"

#define AUTH_CORS_TTL_S 10
#define AUTH_CORS_MISS_S 1

typedef struct auth_cors auth_cors;

/* ERR_NOMEM. Nothing is read from the store until the first request with
 * an Origin header. */
int auth_cors_new(store_t *store, auth_cors **out);

/* NULL-safe. */
void auth_cors_free(auth_cors *c);

/* 1 when origin is registered for some client (from the cache, reloaded
 * as described above), else 0. */
int auth_cors_registered(auth_cors *c, const char *origin);

/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)
 * from a registered origin: fills resp (204, Access-Control-Allow-Origin:
 * <origin>, -Allow-Methods, -Allow-Headers, -Max-Age, Vary: Origin) and
 * returns 1. Anything else (no preflight, unregistered origin, a request
 * the listener already refused): returns 0 and leaves resp alone. */
int auth_cors_preflight(auth_cors *c, http_request *req, http_response *resp);

/* After the request was handled: when it carries an Origin header that is
 * registered, adds Access-Control-Allow-Origin: <origin> and
 * Access-Control-Expose-Headers (Location, ETag, Last-Modified,
 * Content-Location, WWW-Authenticate, Retry-After) to resp, whatever its
 * status (an app must be able to read a 401, 404 or 429). Vary: Origin
 * whenever the request has an Origin header. */
void auth_cors_response(auth_cors *c, http_request *req, http_response *resp);

#endif
