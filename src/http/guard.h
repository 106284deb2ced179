/*
 * guard.h - the slow-client guard (internal to src/http/; server.c is
 * its only user).
 *
 * libmicrohttpd's connection timeout (conn_timeout_s) is an idle timeout:
 * every byte received starts it again, so a client that sends one header
 * byte every few seconds (slowloris) or one body byte every few seconds
 * (slow POST) would keep its connection - a slot of max_connections and
 * of max_conn_per_ip - for ever. The guard gives every request a deadline
 * instead:
 *
 *   - its request line and headers must be complete header_timeout_s
 *     after the connection opened (TLS handshake included) or after the
 *     previous response was sent on it; an idle keep-alive connection is
 *     therefore closed after at most min(conn_timeout_s, header_timeout_s);
 *   - once the headers are in, the body gets header_timeout_s plus one
 *     second for every body_min_rate bytes received (body_min_rate 0:
 *     no deadline for the body, only the idle timeout);
 *   - while the application handles the request and while the response
 *     is sent there is no deadline (the idle timeout still applies).
 *
 * A thread wakes every GUARD_TICK_MS, and shuts down (shutdown(2)) the
 * socket of every connection past its deadline; libmicrohttpd then sees
 * the connection fail and closes it like any other. The socket is shut
 * down under the guard's lock, and libmicrohttpd reports a connection
 * closed (MHD_CONNECTION_NOTIFY_CLOSED, which takes the same lock) before
 * it closes the socket, so the descriptor cannot have been reused by then.
 *
 * Ownership: the server owns the guard; the per-connection state is
 * libmicrohttpd's socket context, freed when the connection closes.
 */
#ifndef FHIRD_HTTP_GUARD_H
#define FHIRD_HTTP_GUARD_H

#include <microhttpd.h>
#include <stddef.h>

typedef struct http_guard http_guard;

/* 0 or ERR_NOMEM. The thread starts with http_guard_start. */
int http_guard_new(unsigned header_timeout_s, unsigned body_min_rate, http_guard **out);

/* Starts the deadline thread: 0 or ERR_IO. */
int http_guard_start(http_guard *g);

/* Stops the thread (if started) and frees the guard. Call after the
 * daemon stopped (every connection is closed by then). NULL-safe. */
void http_guard_free(http_guard *g);

/* The MHD_OPTION_NOTIFY_CONNECTION callback (cls = the guard): tracks
 * new connections, forgets closed ones. */
void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		       enum MHD_ConnectionNotificationCode toe);

/* The request on conn has all its headers (the body deadline starts). */
void http_guard_headers(struct MHD_Connection *conn);

/* n body bytes arrived: the deadline moves by n / body_min_rate. */
void http_guard_body(struct MHD_Connection *conn, size_t n);

/* The application has the request: no deadline until the response is done. */
void http_guard_busy(struct MHD_Connection *conn);

/* The response is done: the next request's headers are due. */
void http_guard_idle(struct MHD_Connection *conn);

#endif
