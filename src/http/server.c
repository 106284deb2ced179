/*
 * server.c - the libmicrohttpd listener: connection limits, TLS, bounded
 * request bodies, the access log and graceful shutdown.
 *
 * libmicrohttpd runs an epoll loop in each of `threads` worker threads
 * (MHD's internal thread pool); each request is handled synchronously on
 * the thread that read it. Per request we keep an http_ctx from the first
 * callback (the URI log hook, which sees the raw request target) to the
 * completion notice, where the access line is written and everything is
 * freed.
 *
 * Limits enforced here, before the application sees anything:
 *   - URL length (414), body size (413: at once from Content-Length, or
 *     as soon as a chunked body grows past it - written by us, since
 *     libmicrohttpd takes no response in the middle of a body);
 *   - request syntax libmicrohttpd lets through or mangles (400,
 *     http_line_check(): the request line, obs-fold, NULs, Host);
 *   - header memory (MHD_OPTION_CONNECTION_MEMORY_LIMIT; MHD answers 431),
 *   - connections in total and per client address, idle timeout, and a
 *     deadline for each request's headers and body (guard.h: slowloris).
 */
#include "http.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "guard.h"
#include "url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HTTP_ARENA_CAP (8u << 20)
#define HTTP_DRAIN_MIN ((size_t)64 << 20)

struct http_server {
	struct MHD_Daemon *d;
	const config_t *cfg;
	http_handler_fn fn;
	void *app;
	atomic_int inflight;
	atomic_int stopping; /* set by http_server_stop: new connections are closed */
	int lfd;
	char *cert_pem;
	char *key_pem;
	size_t key_len;
	http_guard *guard;
};

struct http_ctx {
	arena_t arena;
	buf_t body;
	struct timespec start;
	char *raw;        /* raw request target (arena) */
	const char *raw_at; /* where MHD keeps the target in its read buffer (see http_line_check) */
	size_t raw_len;   /* strlen of the target as the URI hook saw it */
	int started;
	int pre_error;
	size_t discarded; /* body bytes dropped after the limit */
	int answered_early; /* the 413 went out while the body was still arriving */
	int status;
	size_t bytes;
	char method[16];
};

const char *http_request_header(const http_request *req, const char *name)
{
	if (req->is_sub) {
		for (size_t i = 0; i < req->sub_nheaders; i++)
			if (strcasecmp(req->sub_hname[i], name) == 0)
				return req->sub_hvalue[i];
		if (strcasecmp(name, "Authorization") != 0 || !req->conn)
			return NULL;
	}
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_param(const http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

int http_response_header(http_response *resp, const char *name, const char *value)
{
	if (resp->nheaders >= HTTP_MAX_HEADERS)
		return ERR_TOOBIG;
	resp->hname[resp->nheaders] = name;
	resp->hvalue[resp->nheaders] = value;
	resp->nheaders++;
	return 0;
}

void http_response_set_body(http_response *resp, const char *content_type, char *body, size_t len)
{
	free(resp->body);
	resp->content_type = content_type;
	resp->body = body;
	resp->body_len = len;
}

/* RFC 9110 5.6.2: tchar, the characters of a token (methods, field names). */
static int http_is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The first callback of a request: MHD has split the request line (the
 * target ends where MHD put a NUL for the space before the version) and
 * has not yet touched the target. */
static void *http_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *s = cls;
	struct http_ctx *c = calloc(1, sizeof *c);
	char *q;

	if (!c)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	arena_init(&c->arena, HTTP_ARENA_CAP);
	buf_init(&c->body, s->cfg->max_body_bytes);
	atomic_fetch_add(&s->inflight, 1);
	if (!uri) {
		c->pre_error = ERR_INVALID;
		return c;
	}
	c->raw_at = uri;
	c->raw_len = strlen(uri);
	if (c->raw_len > s->cfg->max_url_bytes) {
		c->pre_error = ERR_URITOOLONG;
	} else {
		/* RFC 9112 3.2 / RFC 3986: a request target is visible ASCII
		 * (everything else percent-encoded). A space, a control
		 * character or a raw 8-bit byte makes the request line invalid:
		 * 400 (RFC 9112 3: no guessing at what was meant). MHD would
		 * pass a space along (strict mode drops the connection without
		 * an answer instead), and a NUL ends the string it gives us;
		 * http_line_check() finds that one. */
		for (size_t i = 0; i < c->raw_len && !c->pre_error; i++)
			if ((unsigned char)uri[i] <= 0x20 || (unsigned char)uri[i] >= 0x7f)
				c->pre_error = ERR_INVALID;
		c->raw = arena_strdup(&c->arena, uri);
	}
	/* After this hook MHD 0.9.75 copies every query parameter into the
	 * connection's memory pool (max_header_bytes), ~50 bytes each: about
	 * a thousand of them overflow it and MHD drops the connection
	 * without an answer (finding F7). We parse the query ourselves from
	 * the copy above (url.c) and never ask MHD for it, so its copy is
	 * cut off here: MHD then sees an empty query. The buffer is MHD's
	 * writable read buffer; its parser runs after this hook ("log
	 * callback before we modify URI *or* args", connection.c). */
	q = strchr((char *)(uintptr_t)uri, '?');
	if (q)
		q[1] = '\0';
	return c;
}

/* State of http_header_check() while it walks the header list. */
struct http_hwalk {
	const char *expect; /* where the previous line ended (before its CRLF/LF) */
	unsigned hosts;     /* Host fields seen */
	unsigned lengths;   /* Content-Length fields seen */
	int bad;
};

/* One field line, as MHD stored it. MHD parses the header block in place:
 * "name: value CRLF" becomes "name\0 value\0\0", in wire order. A field
 * whose name and value are not laid out like that is one MHD rebuilt or
 * cut: obs-fold (MHD 0.9.75 glues the continuation line onto the *name*,
 * so "If-Match: W/\"1\"" followed by " x" arrives as a field "If-Matchx" -
 * the precondition silently lost, finding F8), or a NUL inside a value
 * (MHD ends the value there). RFC 9112 5.2: a server MUST reject obs-fold
 * with 400 or unfold it; RFC 9110 5.5: CR, LF and NUL in a value are
 * rejected or replaced. We reject. */
static enum MHD_Result http_header_check(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
					 const char *value, size_t value_size)
{
	struct http_hwalk *w = cls;
	const char *p;

	(void)kind;
	/* the line starts right after the previous one's CRLF (or bare LF,
	 * which RFC 9112 2.2 lets a recipient accept and MHD does) */
	if (key != w->expect + 2 && key != w->expect + 1)
		goto bad;
	/* RFC 9110 5.1: field-name = token; also refuses whitespace before
	 * the colon (RFC 9112 5.1: MUST reject with 400) */
	if (key_size == 0 || key[key_size] != '\0')
		goto bad;
	for (size_t i = 0; i < key_size; i++)
		if (!http_is_tchar((unsigned char)key[i]))
			goto bad;
	/* between the colon and the value only optional whitespace */
	if (value < key + key_size + 1)
		goto bad;
	for (p = key + key_size + 1; p < value; p++)
		if (*p != ' ' && *p != '\t')
			goto bad;
	/* RFC 9110 5.5: field-content is visible characters, SP, HTAB and
	 * obs-text; a bare CR (which MHD keeps) or another control is not */
	for (size_t i = 0; i < value_size; i++) {
		unsigned char ch = (unsigned char)value[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			goto bad;
	}
	if (key_size == 4 && strncasecmp(key, "Host", 4) == 0)
		w->hosts++;
	if (key_size == 14 && strncasecmp(key, "Content-Length", 14) == 0)
		w->lengths++;
	w->expect = value + value_size;
	return MHD_YES;
bad:
	w->bad = 1;
	return MHD_NO;
}

/* Checks what MHD made of the request line and header block, where it
 * lost information we need to refuse the request (RFC 9112 3, 5).
 * method, target and version are consecutive strings in MHD's read
 * buffer, each separated by the one SP of the wire format (which MHD
 * turned into a NUL): a second SP or a NUL inside the method or target
 * leaves a gap. 0 or ERR_INVALID. */
static int http_line_check(struct http_ctx *c, struct MHD_Connection *conn, const char *method, const char *version)
{
	struct http_hwalk w;
	size_t mlen = strlen(method);

	if (!c->raw_at || mlen == 0 || method + mlen + 1 != c->raw_at || c->raw_at + c->raw_len + 1 != version)
		return ERR_INVALID;
	for (size_t i = 0; i < mlen; i++)
		if (!http_is_tchar((unsigned char)method[i]))
			return ERR_INVALID;
	memset(&w, 0, sizeof w);
	w.expect = version + strlen(version);
	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, http_header_check, &w);
	if (w.bad)
		return ERR_INVALID;
	/* the last field line ends with CRLF (or LF), then the empty line:
	 * anything but NULs after its value means a NUL cut the value short */
	if (w.expect != version + strlen(version) && (w.expect[0] != '\0' || w.expect[1] != '\0'))
		return ERR_INVALID;
	/* RFC 9112 3.2: 400 for an HTTP/1.1 request without a Host field, and
	 * for any request with more than one */
	if (w.hosts > 1 || (w.hosts == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0))
		return ERR_INVALID;
	/* RFC 9112 6.3: several Content-Length fields make the framing
	 * invalid (MHD would take the first and read the rest as the next
	 * request: a smuggling shape) */
	if (w.lengths > 1)
		return ERR_INVALID;
	return 0;
}

/* Writes one access line: no query values, no headers, no body. */
static void http_log_access(struct http_ctx *c)
{
	char path[256], query[256];
	size_t pn = 0, qn = 0;
	const char *r = c->raw ? c->raw : "";
	struct timespec end;
	long long us;
	int in_name = 1;

	/* path up to '?', printable ASCII only, no quotes or spaces */
	for (; *r && *r != '?' && pn < sizeof path - 1; r++)
		path[pn++] = (*r > 32 && *r < 127 && *r != '"') ? *r : '_';
	path[pn] = '\0';
	if (*r == '?')
		r++;
	else
		r = "";
	/* parameter names only, comma separated */
	for (; *r && qn < sizeof query - 1; r++) {
		if (*r == '&') {
			if (qn && query[qn - 1] != ',')
				query[qn++] = ',';
			in_name = 1;
		} else if (*r == '=') {
			in_name = 0;
		} else if (in_name) {
			query[qn++] = (*r > 32 && *r < 127 && *r != '"') ? *r : '_';
		}
	}
	query[qn] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &end);
	us = (long long)(end.tv_sec - c->start.tv_sec) * 1000000LL + (end.tv_nsec - c->start.tv_nsec) / 1000;
	log_info("msg=access method=%s path=\"%s\" query=\"%s\" status=%d bytes=%zu dur_us=%lld",
		 c->method[0] ? c->method : "-", path, query, c->status, c->bytes, us);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_ctx *c = *con_cls;

	if (!c)
		return;
	http_guard_idle(conn);
	if (c->status == 0)
		c->status = 499; /* client went away before a response */
	http_log_access(c);
	buf_fini(&c->body);
	arena_fini(&c->arena);
	free(c);
	*con_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

static int http_resp_has(const http_response *resp, const char *name)
{
	for (unsigned i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->hname[i], name) == 0)
			return 1;
	return 0;
}

/* The headers every response we make carries (SECURITY.md, "Response
 * headers"), whatever path made it:
 *   - Cache-Control: no-store: responses carry health data or tokens, and
 *     the few public documents (CapabilityStatement, discovery, JWKS) are
 *     not worth a second rule that could be applied to the wrong path;
 *   - X-Content-Type-Options: nosniff: browsers must not sniff JSON into
 *     something executable;
 *   - Referrer-Policy: no-referrer: URLs carry ids and search values (and
 *     on the authorization server codes and state);
 *   - a Content-Security-Policy with frame-ancestors 'none' and
 *     X-Frame-Options: DENY (for browsers without CSP 2): the HTML pages
 *     set their own policy (oauth_page_headers()); everything else is not
 *     meant to be rendered at all, so it gets "default-src 'none'";
 *   - Strict-Transport-Security over TLS only (RFC 6797 7.2: not over
 *     plain HTTP): one year, subdomains included. */
typedef void (*http_header_sink)(void *ctx, const char *name, const char *value);

static void http_security_headers(http_header_sink add, void *ctx, const http_response *resp, int tls)
{
	add(ctx, "Cache-Control", "no-store");
	add(ctx, "X-Content-Type-Options", "nosniff");
	if (!http_resp_has(resp, "Referrer-Policy"))
		add(ctx, "Referrer-Policy", "no-referrer");
	if (!http_resp_has(resp, "Content-Security-Policy"))
		add(ctx, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	if (!http_resp_has(resp, "X-Frame-Options"))
		add(ctx, "X-Frame-Options", "DENY");
	if (tls)
		add(ctx, "Strict-Transport-Security", "max-age=31536000; includeSubDomains");
}

static void http_sink_mhd(void *r, const char *name, const char *value)
{
	MHD_add_response_header(r, name, value);
}

static enum MHD_Result http_queue(struct MHD_Connection *conn, struct http_ctx *c, http_response *resp, int tls)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (resp->body)
		r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
	else
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(resp->body);
		resp->body = NULL;
		return MHD_NO;
	}
	resp->body = NULL; /* now MHD's */
	if (resp->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	for (unsigned i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(r, resp->hname[i], resp->hvalue[i]);
	http_security_headers(http_sink_mhd, r, resp, tls);
	c->status = resp->status;
	c->bytes = resp->body_len;
	ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The client address of conn into req->peer (see http.h). */
static void http_peer(struct MHD_Connection *conn, http_request *req)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (sa && sa->sa_family == AF_INET) {
		memcpy(req->peer, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		req->peer_len = 4;
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		/* a dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d */
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(req->peer, a6->s6_addr + 12, 4);
			req->peer_len = 4;
		} else {
			memcpy(req->peer, a6->s6_addr, 16);
			req->peer_len = 16;
		}
	}
}

/* req->peer as text for the audit trail, in the arena ("" if unknown). */
static const char *http_peer_text(arena_t *a, const http_request *req)
{
	char buf[INET6_ADDRSTRLEN];
	const char *p = NULL;

	if (req->peer_len == 4)
		p = inet_ntop(AF_INET, req->peer, buf, sizeof buf);
	else if (req->peer_len == 16)
		p = inet_ntop(AF_INET6, req->peer, buf, sizeof buf);
	p = p ? arena_strdup(a, p) : NULL;
	return p ? p : "";
}

/* Runs the application on the request read so far: fills *req and *resp
 * (resp->body is then the caller's to send or free). */
static void http_run(struct http_server *s, struct MHD_Connection *conn, struct http_ctx *c, http_request *req,
		     http_response *resp)
{
	http_target t;
	const union MHD_ConnectionInfo *ci;
	int rc = 0;

	http_guard_busy(conn); /* no deadline while we work and the response goes out */
	memset(req, 0, sizeof *req);
	memset(resp, 0, sizeof *resp);
	req->arena = &c->arena;
	req->method = c->method;
	req->conn = conn;
	req->pre_error = c->pre_error;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_PROTOCOL);
	req->is_tls = s->cert_pem != NULL && ci != NULL;
	http_peer(conn, req);
	req->peer_text = http_peer_text(&c->arena, req);
	if (!req->pre_error) {
		rc = http_target_parse(&c->arena, c->raw ? c->raw : "/", HTTP_MAX_PARAMS, &t);
		if (rc) {
			/* too many parameters is a URL problem, not a body one */
			req->pre_error = rc == ERR_TOOBIG ? ERR_URITOOLONG : rc;
		} else {
			req->path = t.path;
			req->segments = t.segments;
			req->nsegments = t.nsegments;
			req->params = t.params;
			req->nparams = t.nparams;
		}
	}
	if (!req->path)
		req->path = "/";
	req->body = c->body.data ? c->body.data : "";
	req->body_len = c->body.len;
	s->fn(s->app, req, resp);
	if (resp->status == 0)
		resp->status = 500;
}

static enum MHD_Result http_dispatch(struct http_server *s, struct MHD_Connection *conn, struct http_ctx *c)
{
	http_request req;
	http_response resp;

	http_run(s, conn, c, &req, &resp);
	return http_queue(conn, c, &resp, req.is_tls);
}

static void http_sink_buf(void *b, const char *name, const char *value)
{
	/* our own names and values; a line break would split the head */
	if (strpbrk(name, "\r\n") || strpbrk(value, "\r\n"))
		return;
	buf_printf(b, "%s: %s\r\n", name, value);
}

/* Writes all of p[0..n) to the connection (through its TLS session when
 * there is one). The socket is non-blocking: 0 only when everything went
 * out at once, which a short response on an idle connection does (MHD has
 * nothing of its own in flight while it reads a request body). */
static int http_send_raw(struct MHD_Connection *conn, const char *p, size_t n)
{
	const union MHD_ConnectionInfo *ti = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	while (n > 0) {
		ssize_t w;
		if (ti && ti->tls_session)
			w = gnutls_record_send((gnutls_session_t)ti->tls_session, p, n);
		else if (fi)
			w = send(fi->connect_fd, p, n, MSG_NOSIGNAL);
		else
			return ERR_IO;
		if (w <= 0)
			return ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A chunked body has just grown past max_body_bytes (finding F9). MHD
 * 0.9.75 takes a response only before the body is read or after all of
 * it has arrived (MHD_queue_response() refuses one in between), and a
 * chunked body may never end. So the 413 is written on the connection
 * here, by us, with "Connection: close"; MHD never sends anything on
 * this request afterwards (http_access() ends the connection instead of
 * answering). The rest of the body is read and thrown away for a bounded
 * amount, so that the client reads our answer instead of a reset.
 * 0, or ERR_IO when it could not all be written at once (the caller
 * closes the connection then, as before). */
static int http_answer_early(struct http_server *s, struct MHD_Connection *conn, struct http_ctx *c)
{
	http_request req;
	http_response resp;
	buf_t b;
	char date[64];
	struct tm tm;
	time_t now = time(NULL);
	const char *reason;
	int rc;

	http_run(s, conn, c, &req, &resp);
	reason = MHD_get_reason_phrase_for((unsigned)resp.status);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
	buf_init(&b, 65536 + resp.body_len);
	rc = buf_printf(&b, "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: close\r\n", resp.status,
			reason && *reason ? reason : "Error", date);
	if (!rc && resp.content_type)
		rc = buf_printf(&b, "Content-Type: %s\r\n", resp.content_type);
	for (unsigned i = 0; !rc && i < resp.nheaders; i++)
		http_sink_buf(&b, resp.hname[i], resp.hvalue[i]);
	if (!rc)
		http_security_headers(http_sink_buf, &b, &resp, req.is_tls);
	if (!rc)
		rc = buf_printf(&b, "Content-Length: %zu\r\n\r\n", resp.body_len);
	if (!rc && resp.body_len)
		rc = buf_append(&b, resp.body, resp.body_len);
	if (!rc)
		rc = http_send_raw(conn, b.data, b.len);
	c->status = resp.status;
	c->bytes = resp.body_len;
	c->answered_early = 1;
	free(resp.body);
	buf_fini(&b);
	return rc;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				   const char *version, const char *upload_data, size_t *upload_data_size,
				   void **con_cls)
{
	struct http_server *s = cls;
	struct http_ctx *c = *con_cls;

	if (!c)
		return MHD_NO; /* allocation failed in the URI hook: drop the connection */
	if (!c->started) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		c->started = 1;
		http_guard_headers(conn);
		snprintf(c->method, sizeof c->method, "%s", method);
		if (!c->pre_error)
			c->pre_error = http_line_check(c, conn, method, version);
		if (cl && !c->pre_error) {
			char *end;
			unsigned long long n = strtoull(cl, &end, 10);
			if (*end == '\0' && n > s->cfg->max_body_bytes)
				c->pre_error = ERR_TOOBIG;
		}
		/* Answer limit violations before reading a body we will not use;
		 * MHD then closes the connection instead of draining it. */
		if (c->pre_error)
			return http_dispatch(s, conn, c);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		http_guard_body(conn, *upload_data_size);
		if (!c->pre_error) {
			int rc = buf_append(&c->body, upload_data, *upload_data_size);
			if (rc) {
				c->pre_error = rc;
				buf_fini(&c->body);
				/* a chunked body past the limit: answer now (F9) */
				if (http_answer_early(s, conn, c))
					return MHD_NO;
				/* the rest of the body gets a deadline again */
				http_guard_headers(conn);
			}
		} else {
			/* After the early 413: read and drop what the client sent
			 * before it saw the answer - up to 4x max_body_bytes, and at
			 * least what a TCP connection holds in flight (socket
			 * buffers on both ends, a few MiB) - so that it reads our
			 * answer rather than a reset; a client still sending after
			 * that is cut off. Nothing is kept, and the body deadline
			 * (guard.h) bounds the time. */
			size_t cap = 4 * s->cfg->max_body_bytes;
			if (cap < HTTP_DRAIN_MIN)
				cap = HTTP_DRAIN_MIN;
			c->discarded += *upload_data_size;
			if (c->discarded > cap)
				return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (c->answered_early)
		return MHD_NO; /* the body ended after our 413: nothing more to say */
	if (c->status)
		return MHD_YES; /* already answered */
	return http_dispatch(s, conn, c);
}

static int http_read_file(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	buf_t b;
	char tmp[4096];
	size_t n;
	int rc = 0;

	if (!f)
		return ERR_IO;
	buf_init(&b, max);
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
		rc = buf_append(&b, tmp, n);
		if (rc)
			break;
	}
	if (!rc && ferror(f))
		rc = ERR_IO;
	fclose(f);
	if (rc) {
		explicit_bzero(b.data, b.cap);
		buf_fini(&b);
		return rc;
	}
	*out = buf_detach(&b, len);
	return *out ? 0 : ERR_NOMEM;
}

static int http_listen_socket(const config_t *cfg, int *fd_out, unsigned *port_out)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char port[8];
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof port, "%u", cfg->listen_port);
	rc = getaddrinfo(cfg->listen_host, port, &hints, &ai);
	if (rc != 0) {
		log_error("msg=\"cannot resolve listen address\" addr=\"%s\" err=\"%s\"", cfg->listen_host,
			  gai_strerror(rc));
		return ERR_IO;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)
		goto fail;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto fail;
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	freeaddrinfo(ai);
	*fd_out = fd;
	return 0;
fail:
	log_error("msg=\"cannot listen\" addr=\"%s\" errno=%d", cfg->listen, errno);
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return ERR_IO;
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (msg[i] == '"' || (unsigned char)msg[i] < 32)
			msg[i] = '\'';
	log_debug("msg=\"http: %s\"", msg);
}

static void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->lfd >= 0)
		close(s->lfd);
	http_guard_free(s->guard);
	free(s->cert_pem);
	if (s->key_pem) {
		explicit_bzero(s->key_pem, s->key_len);
		free(s->key_pem);
	}
	free(s);
}

int http_server_new(const config_t *cfg, http_handler_fn fn, void *app, http_server **out, unsigned *port_out)
{
	struct http_server *s = calloc(1, sizeof *s);
	size_t cert_len = 0;
	int rc;

	if (!s)
		return ERR_NOMEM;
	s->cfg = cfg;
	s->fn = fn;
	s->app = app;
	s->lfd = -1;
	atomic_init(&s->inflight, 0);
	atomic_init(&s->stopping, 0);
	if (*cfg->tls_cert) {
		rc = http_read_file(cfg->tls_cert, 1 << 20, &s->cert_pem, &cert_len);
		if (!rc)
			rc = http_read_file(cfg->tls_key, 1 << 20, &s->key_pem, &s->key_len);
		if (rc) {
			log_error("msg=\"cannot read TLS certificate or key\"");
			rc = ERR_INVALID;
			goto fail;
		}
	}
	rc = http_listen_socket(cfg, &s->lfd, port_out);
	if (!rc)
		rc = http_guard_new(cfg->header_timeout_s, cfg->body_min_rate, &s->guard);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	http_server_free(s);
	return rc;
}

/* Accept policy: once stopping, a new connection is closed as soon as it
 * is accepted (the client sees the connection end without a response and
 * can retry another node), so the backlog drains instead of waiting for
 * the final close. This replaces MHD_quiesce_daemon(): with epoll worker
 * threads it races with the workers removing the listen socket from their
 * epoll sets and MHD aborts the process ("Failed to remove listen FD from
 * epoll set", libmicrohttpd 0.9.75, seen in CI about once in a thousand
 * stops). */
static enum MHD_Result http_accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http_server *s = cls;

	(void)addr;
	(void)addrlen;
	return atomic_load(&s->stopping) ? MHD_NO : MHD_YES;
}

int http_server_start(http_server *s)
{
	const config_t *cfg = s->cfg;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;

	/* The TLS options close the list early (MHD_OPTION_END at [n]) when
	 * there is no certificate; one option array serves both cases. */
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, s->key_pem },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, cfg->tls_priorities },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (s->cert_pem)
		flags |= MHD_USE_TLS;
	else
		tls[0].option = MHD_OPTION_END;
	if (http_guard_start(s->guard)) {
		log_error("msg=\"cannot start the slow-client guard\"");
		return ERR_IO;
	}
	s->d = MHD_start_daemon(flags, 0, http_accept_policy, s, http_access, s,
				MHD_OPTION_LISTEN_SOCKET, s->lfd,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->max_header_bytes,
				MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conn_per_ip,
				MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout_s,
				/* Not MHD's strict mode: it drops a request line with a
				 * space in the target without an answer. http_line_check()
				 * applies RFC 9112 3 and 5 itself (Host required, one SP
				 * between the parts, no space or control in the target,
				 * no obs-fold) and answers 400 with an OperationOutcome. */
				MHD_OPTION_STRICT_FOR_CLIENT, (int)0,
				MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, s,
				MHD_OPTION_NOTIFY_COMPLETED, http_completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, s->guard,
				MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, s,
				MHD_OPTION_ARRAY, tls,
				MHD_OPTION_END);
	if (!s->d) {
		log_error("msg=\"cannot start HTTP daemon (check TLS certificate, key and priorities)\"");
		return ERR_IO;
	}
	return 0;
}

void http_server_stop(http_server *s, unsigned grace_s)
{
	struct timespec start, now;

	if (!s)
		return;
	if (!s->d) {
		http_server_free(s);
		return;
	}
	/* Stop taking connections (http_accept_policy); requests already
	 * started keep being served. */
	atomic_store(&s->stopping, 1);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (atomic_load(&s->inflight) > 0) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= (time_t)grace_s) {
			log_warn("msg=\"shutdown grace period over\" inflight=%d", atomic_load(&s->inflight));
			break;
		}
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(s->d);
	s->lfd = -1; /* MHD_stop_daemon closed the listen socket it was given */
	http_server_free(s);
}
