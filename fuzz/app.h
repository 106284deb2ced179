/*
 * app.h - an in-process fhird for the fuzz targets that need the whole
 * application (fuzz_authform, fuzz_cursor, fuzz_bundle): configuration,
 * a SQLite store in a temporary directory (under /dev/shm when it exists),
 * the signing keys, the authorizer, the authorization server and the FHIR
 * layer, wired as main.c wires them, without the listener. Requests are
 * built here and handed to oauth_handle() / fhir_handle() exactly as the
 * listener hands them (http/server.c http_dispatch): same arena cap, same
 * target parser, same parameter limit.
 *
 * Headers: a request of the listener reads its headers from the
 * libmicrohttpd connection (http_request_header ->
 * MHD_lookup_connection_value). app.c defines MHD_lookup_connection_value
 * itself, over the fz_conn below, so that a request made here is a
 * top-level request (is_sub 0: a Bundle is accepted, the deadline span
 * and rate-limit paths run) with the headers the fuzz input chose. The
 * definition in the executable takes precedence over libmicrohttpd's; no
 * server runs in these processes.
 *
 * Not thread-safe; one fz_app per process. Everything it holds is freed
 * by fz_app_close(), which also deletes the temporary directory.
 */
#ifndef FHIRD_FUZZ_APP_H
#define FHIRD_FUZZ_APP_H

#include "auth/auth.h"
#include "auth/oauth.h"
#include "auth/token.h"
#include "core/arena.h"
#include "core/config.h"
#include "fhir/fhir.h"
#include "http/http.h"
#include "store/store.h"

#include <stddef.h>

/* The headers of one request (names case-insensitive). */
#define FZ_MAX_HEADERS 16
typedef struct fz_conn {
	const char *name[FZ_MAX_HEADERS];
	const char *value[FZ_MAX_HEADERS];
	size_t n;
} fz_conn;

/* The fixed cursor key (fz_app.fhir.cursor_key): the targets compute
 * valid MACs with it, so that inputs reach what lies behind the MAC. */
#define FZ_CURSOR_KEY "fhird fuzz cursor key, 32 bytes"

typedef struct fz_app {
	char dir[64];      /* the temporary directory */
	char db[96];
	config_t cfg;
	store_t *store;
	auth_tokens *tokens; /* NULL with auth off */
	auth_t *auth;
	oauth_t *oauth;      /* NULL with auth off */
	fhir_app fhir;
} fz_app;

/* Opens a fresh application: auth "smart" (smart != 0) or "off", audit
 * off, log level error, base URL http://127.0.0.1:8080/fhir, issuer
 * http://127.0.0.1:8080/auth, cursor_ttl_s ten years (seeded cursors
 * keep verifying), cursor key FZ_CURSOR_KEY. Aborts on any failure: a
 * harness that cannot start must not look like a quiet target. */
void fz_app_open(fz_app *a, int smart);

/* Closes everything and deletes the temporary directory. */
void fz_app_close(fz_app *a);

/* One request as the listener would make it: target ("/fhir/Patient?x=1")
 * parsed by http_target_parse with HTTP_MAX_PARAMS (a parse failure
 * becomes pre_error as in the listener), body copied NUL-terminated into
 * the arena, headers from conn (may be NULL), and extra (may be NULL, n
 * entries) appended to the target's parameters after parsing (a value
 * that no URL could carry verbatim, such as a cursor of any bytes). The
 * authorization server first, then FHIR, as main_handle does. arena must
 * be initialised by the caller (arena_init(a, 8 MiB)) and outlives resp's
 * header strings; resp is zeroed here; the caller frees resp->body. */
void fz_app_request(fz_app *a, arena_t *arena, const char *method, const char *target, const fz_conn *conn,
		    const char *body, size_t len, const http_param *extra, size_t nextra, http_response *resp);

/* The value of response header name (case-insensitive) or NULL. */
const char *fz_resp_header(const http_response *resp, const char *name);

#endif
