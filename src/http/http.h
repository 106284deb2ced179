/*
 * http.h - the HTTP listener (libmicrohttpd) and the request/response
 * values it hands to the application.
 *
 * The listener owns connections, reads headers and a bounded body, and
 * calls the application's handler once per complete request on one of its
 * worker threads. It knows nothing of FHIR: limits it enforces itself
 * (body size, URL length) arrive at the handler as req->pre_error so that
 * the application renders them like every other error.
 *
 * Ownership: a request and everything in it (strings, params, body) lives
 * in req->arena and dies when the response has been sent. The handler
 * fills an http_response; a body it sets with http_response_set_body() is
 * handed to libmicrohttpd, which frees it.
 */
#ifndef FHIRD_HTTP_HTTP_H
#define FHIRD_HTTP_HTTP_H

#include "core/arena.h"
#include "core/config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct http_param {
	const char *name;  /* decoded */
	const char *value; /* decoded, "" when absent */
} http_param;

typedef struct http_request {
	arena_t *arena;
	const char *method;      /* "GET", "POST", ... */
	const char *path;        /* decoded path, no query (display only) */
	char **segments;         /* decoded non-empty path segments */
	size_t nsegments;
	http_param *params;      /* query parameters in request order */
	size_t nparams;
	const char *body;        /* NUL-terminated; body_len excludes the NUL */
	size_t body_len;
	int pre_error;           /* 0, or an ERR_* the listener detected (400, 413, 414) */
	int is_tls;
	const char *peer_text;   /* peer (below) as text ("" when unknown), for the audit
				    trail; a Bundle entry has its Bundle's */
	int audited;             /* set by whoever recorded an audit event for this request */
	void *conn;              /* the libmicrohttpd connection (for headers) */
	/* The client's address as the socket sees it (with a proxy in front:
	 * the proxy's): IPv4 in 4 bytes (IPv4-mapped IPv6 too), IPv6 in 16;
	 * peer_len 0 when unknown (a Bundle entry). */
	unsigned char peer[16];
	unsigned peer_len;
	/* A sub-request (a Bundle entry) carries its own headers; of the
	 * enclosing request's it sees only Authorization, so that entries are
	 * authorized exactly like the request that carried them. */
	int is_sub;
	const char *const *sub_hname;
	const char *const *sub_hvalue;
	size_t sub_nheaders;
} http_request;

#define HTTP_MAX_HEADERS 16

/* Query parameters of one request (a URL's, or a form body's). */
#define HTTP_MAX_PARAMS 256

typedef struct http_response {
	int status;
	const char *content_type;             /* NULL: no body */
	char *body;                           /* malloc'd; NULL for none */
	size_t body_len;
	const char *hname[HTTP_MAX_HEADERS];  /* extra headers (strings must outlive the call) */
	const char *hvalue[HTTP_MAX_HEADERS];
	unsigned nheaders;
} http_response;

/* Value of request header name (case-insensitive) or NULL. */
const char *http_request_header(const http_request *req, const char *name);

/* First query parameter called name, or NULL. */
const char *http_request_param(const http_request *req, const char *name);

/* Adds a header; the strings must live until the response is sent (use
 * the request arena or literals). ERR_TOOBIG past HTTP_MAX_HEADERS. */
int http_response_header(http_response *resp, const char *name, const char *value);

/* Takes ownership of a malloc'd body. */
void http_response_set_body(http_response *resp, const char *content_type, char *body, size_t len);

/* The application: called once per request on a worker thread. It must
 * fill resp (status at least). Its return value is ignored; errors are
 * expressed as responses. */
typedef void (*http_handler_fn)(void *app, http_request *req, http_response *resp);

typedef struct http_server http_server;

/* Reads the TLS files and binds the listen address from cfg; nothing is
 * served yet. *port_out receives the bound port (useful with port 0, so
 * the caller can settle its base URL before the first request). Errors
 * are logged; returns ERR_IO (bind/listen), ERR_INVALID (TLS files),
 * ERR_NOMEM. cfg must outlive the server. */
int http_server_new(const config_t *cfg, http_handler_fn fn, void *app, http_server **out, unsigned *port_out);

/* Starts the worker threads; requests are served from now on. ERR_IO. */
int http_server_start(http_server *s);

/* Graceful stop: stops accepting, waits up to grace_s for requests in
 * flight to finish, then closes everything and frees the server.
 * Also frees a server that was never started. NULL-safe. */
void http_server_stop(http_server *s, unsigned grace_s);

#endif
