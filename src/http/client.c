/*
 * client.c - the outbound requests of client.h: resolution, a
 * non-blocking connection, TLS with GnuTLS (chain and name verified,
 * TLS 1.2+), one request with "Connection: close", and the response read
 * through the parser of client_parse.c until it is complete or a limit,
 * the deadline or the peer ends it.
 *
 * Workload: a handful of calls a minute at most (JWK Sets are cached,
 * introspection results too), so each call builds its own credentials
 * from the trust store and keeps nothing: no shared state, no locks, and
 * a CA file changed on disk is picked up by the next call.
 */
#include "client.h"

#include "core/err.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <nettle/base64.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* TLS 1.2 and 1.3 with GnuTLS's default ("NORMAL") cipher choice, which
 * excludes what is known broken; older protocol versions are removed. */
#define HC_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

typedef struct hc_conn {
	int fd;
	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
	int64_t deadline_ms;  /* CLOCK_MONOTONIC */
	const char *host;     /* for the log */
} hc_conn;

static int64_t hc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int hc_fail(const hc_conn *c, const char *why, int rc)
{
	log_warn("msg=\"outbound request failed\" host=\"%.255s\" why=\"%s\"", c->host, why);
	return rc;
}

/* Waits until fd is ready for events or the deadline passes. */
static int hc_wait(const hc_conn *c, short events)
{
	for (;;) {
		int64_t left = c->deadline_ms - hc_now_ms();
		struct pollfd p = { .fd = c->fd, .events = events, .revents = 0 };
		int n;
		if (left <= 0)
			return hc_fail(c, "timeout", ERR_IO);
		n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return hc_fail(c, "poll", ERR_IO);
	}
}

static int hc_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return 0;
}

/* Resolves and connects (non-blocking) to the first address that
 * answers before the deadline. */
static int hc_connect(hc_conn *c, const http_client_url *u)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int rc, gai;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof port, "%u", u->port);
	gai = getaddrinfo(u->host, port, &hints, &res);
	if (gai != 0)
		return hc_fail(c, gai_strerror(gai), ERR_IO);
	/* http:// was allowed for a loopback name; the addresses it resolves
	 * to must be loopback too, or "localhost" in a hostile /etc/hosts or
	 * resolver would carry keys in the clear. */
	if (!u->tls)
		for (ai = res; ai; ai = ai->ai_next)
			if (!hc_is_loopback(ai->ai_addr)) {
				freeaddrinfo(res);
				return hc_fail(c, "plain http to a non-loopback address", ERR_FORBIDDEN);
			}
	rc = ERR_IO;
	for (ai = res; ai; ai = ai->ai_next) {
		int err = 0;
		socklen_t el = sizeof err;
		c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			continue;
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && hc_wait(c, POLLOUT) == 0 &&
		     getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)) {
			rc = 0;
			break;
		}
		close(c->fd);
		c->fd = -1;
		if (hc_now_ms() >= c->deadline_ms)
			break;
	}
	freeaddrinfo(res);
	if (rc)
		return hc_fail(c, "cannot connect", rc);
	return 0;
}

/* A TLS session on c->fd, handshake done and the peer verified. */
static int hc_tls(hc_conn *c, const http_client_url *u, const char *ca_file)
{
	struct in_addr a4;
	struct in6_addr a6;
	int rc;

	if (gnutls_certificate_allocate_credentials(&c->cred) < 0)
		return ERR_NOMEM;
	/* The system store (may be empty in a minimal container) plus the
	 * configured extra anchors. */
	if (gnutls_certificate_set_x509_system_trust(c->cred) < 0)
		log_warn("msg=\"outbound TLS: the system trust store could not be read\"");
	if (ca_file && *ca_file && gnutls_certificate_set_x509_trust_file(c->cred, ca_file, GNUTLS_X509_FMT_PEM) <= 0)
		return hc_fail(c, "cannot read the CA file", ERR_IO);
	if (gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0) {
		c->tls = NULL;
		return ERR_NOMEM;
	}
	if (gnutls_priority_set_direct(c->tls, HC_PRIORITIES, NULL) < 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred) < 0)
		return hc_fail(c, "TLS setup", ERR_INTERNAL);
	/* RFC 6066 3: server_name carries DNS names only, never literals. */
	if (inet_pton(AF_INET, u->host, &a4) != 1 && inet_pton(AF_INET6, u->host, &a6) != 1 &&
	    gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, u->host, strlen(u->host)) < 0)
		return hc_fail(c, "TLS setup", ERR_INTERNAL);
	/* Chain to a trusted anchor and the certificate's names against the
	 * host (RFC 6125; IP literals against iPAddress SANs), checked by
	 * GnuTLS during the handshake: a failure aborts it. */
	gnutls_session_set_verify_cert(c->tls, u->host, 0);
	gnutls_transport_set_int(c->tls, c->fd);
	do {
		rc = gnutls_handshake(c->tls);
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			int w = hc_wait(c, gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN);
			if (w)
				return w;
		}
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0) {
		if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
			gnutls_datum_t msg = { NULL, 0 };
			unsigned st = gnutls_session_get_verify_cert_status(c->tls);
			if (gnutls_certificate_verification_status_print(st, GNUTLS_CRT_X509, &msg, 0) == 0) {
				log_warn("msg=\"outbound TLS: certificate not trusted\" host=\"%.255s\" why=\"%s\"", c->host,
					 (const char *)msg.data);
				gnutls_free(msg.data);
			}
			return ERR_IO;
		}
		return hc_fail(c, gnutls_strerror(rc), ERR_IO);
	}
	return 0;
}

static int hc_send(hc_conn *c, const char *data, size_t n)
{
	while (n > 0) {
		ssize_t w;
		if (c->tls) {
			w = gnutls_record_send(c->tls, data, n);
			if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
				if (hc_wait(c, POLLOUT))
					return ERR_IO;
				continue;
			}
			if (w < 0)
				return hc_fail(c, gnutls_strerror((int)w), ERR_IO);
		} else {
			w = send(c->fd, data, n, MSG_NOSIGNAL);
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
				if (hc_wait(c, POLLOUT))
					return ERR_IO;
				continue;
			}
			if (w < 0)
				return hc_fail(c, "send", ERR_IO);
		}
		data += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until the parser has a complete response. */
static int hc_recv(hc_conn *c, http_client_resp *r)
{
	char chunk[16384];

	for (;;) {
		ssize_t n;
		int rc;
		if (c->tls) {
			n = gnutls_record_recv(c->tls, chunk, sizeof chunk);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				if (hc_wait(c, POLLIN))
					return ERR_IO;
				continue;
			}
			/* Without close_notify a close-delimited body may have
			 * been cut by an attacker (RFC 8446 6.1): not an end. */
			if (n == GNUTLS_E_PREMATURE_TERMINATION)
				return hc_fail(c, "connection closed without TLS close_notify", ERR_IO);
			if (n < 0)
				return hc_fail(c, gnutls_strerror((int)n), ERR_IO);
		} else {
			n = recv(c->fd, chunk, sizeof chunk, 0);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
				if (hc_wait(c, POLLIN))
					return ERR_IO;
				continue;
			}
			if (n < 0)
				return hc_fail(c, "recv", ERR_IO);
		}
		if (n == 0) {
			rc = http_client_resp_eof(r);
			return rc == 1 ? 0 : hc_fail(c, "response cut short", ERR_INVALID);
		}
		rc = http_client_resp_feed(r, chunk, (size_t)n);
		if (rc == 1)
			return 0;
		if (rc < 0)
			return hc_fail(c, rc == ERR_TOOBIG ? "response too large" : "malformed response", rc);
	}
}

/* One exchange: connect, optional TLS, send req, read the response. */
static int hc_exchange(const http_client_url *u, const char *ca_file, unsigned timeout_ms, size_t max_bytes,
		       const buf_t *req, int *status, char **body, size_t *len, long *max_age)
{
	hc_conn c;
	http_client_resp r;
	int rc;

	memset(&c, 0, sizeof c);
	c.fd = -1;
	c.host = u->host;
	c.deadline_ms = hc_now_ms() + (int64_t)timeout_ms;
	http_client_resp_init(&r, max_bytes);
	rc = hc_connect(&c, u);
	if (rc == 0 && u->tls)
		rc = hc_tls(&c, u, ca_file);
	if (rc == 0)
		rc = hc_send(&c, req->data, req->len);
	if (rc == 0)
		rc = hc_recv(&c, &r);
	if (rc)
		goto out;
	*body = buf_detach(&r.body, len);
	if (!*body) {
		rc = ERR_NOMEM;
		goto out;
	}
	*status = r.status;
	if (max_age)
		*max_age = r.max_age;
out:
	http_client_resp_fini(&r);
	if (c.tls)
		gnutls_deinit(c.tls);
	if (c.cred)
		gnutls_certificate_free_credentials(c.cred);
	if (c.fd >= 0)
		close(c.fd);
	return rc;
}

static int hc_start(const char *url, http_client_url *u, int *status, char **body, size_t *len)
{
	int rc = http_client_url_parse(url, u);
	*status = 0;
	*body = NULL;
	*len = 0;
	if (rc)
		log_warn("msg=\"outbound request refused\" why=\"%s\"",
			 rc == ERR_FORBIDDEN ? "plain http to a non-loopback host" : "not an absolute http(s) URL");
	return rc;
}

int http_client_get(const char *url, const char *ca_file, unsigned timeout_ms, size_t max_bytes, int *status,
		    char **body, size_t *len, long *cache_max_age_s)
{
	http_client_url u;
	buf_t req;
	int rc;

	if (cache_max_age_s)
		*cache_max_age_s = -1;
	rc = hc_start(url, &u, status, body, len);
	if (rc)
		return rc;
	buf_init(&req, sizeof u.target + sizeof u.authority + 256);
	rc = buf_printf(&req,
			"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fhird\r\nAccept: application/json\r\n"
			"Connection: close\r\n\r\n",
			u.target, u.authority);
	if (rc == 0)
		rc = hc_exchange(&u, ca_file, timeout_ms, max_bytes, &req, status, body, len, cache_max_age_s);
	buf_fini(&req);
	return rc;
}

/* Appends s form-urlencoded: unreserved characters (RFC 3986 2.3) as
 * they are, every other octet as %XX. */
static int hc_form_encode(buf_t *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int rc;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~') {
			rc = buf_append_char(b, (char)ch);
		} else {
			char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
			rc = buf_append(b, e, 3);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int http_client_post_form(const char *url, const char *ca_file, unsigned timeout_ms, size_t max_bytes,
			  const char *user, const char *password, const char *form, int *status, char **body,
			  size_t *len)
{
	http_client_url u;
	buf_t cred, req;
	struct base64_encode_ctx ctx;
	char *b64 = NULL;
	size_t n;
	int rc;

	rc = hc_start(url, &u, status, body, len);
	if (rc)
		return rc;
	buf_init(&cred, 4096);
	buf_init(&req, sizeof u.target + sizeof u.authority + 8192 + strlen(form));
	/* RFC 6749 2.3.1: Basic over the form-encoded id and secret */
	rc = hc_form_encode(&cred, user);
	if (rc == 0)
		rc = buf_append_char(&cred, ':');
	if (rc == 0)
		rc = hc_form_encode(&cred, password);
	if (rc)
		goto out;
	b64 = malloc(BASE64_ENCODE_LENGTH(cred.len) + BASE64_ENCODE_FINAL_LENGTH + 1);
	if (!b64) {
		rc = ERR_NOMEM;
		goto out;
	}
	base64_encode_init(&ctx);
	n = base64_encode_update(&ctx, b64, cred.len, (const uint8_t *)cred.data);
	n += base64_encode_final(&ctx, b64 + n);
	b64[n] = '\0';
	rc = buf_printf(&req,
			"POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fhird\r\nAccept: application/json\r\n"
			"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n"
			"Authorization: Basic %s\r\nConnection: close\r\n\r\n",
			u.target, u.authority, strlen(form), b64);
	if (rc == 0)
		rc = buf_append_str(&req, form);
	if (rc == 0)
		rc = hc_exchange(&u, ca_file, timeout_ms, max_bytes, &req, status, body, len, NULL);
out:
	/* the secret and the token must not linger in freed memory */
	if (b64) {
		explicit_bzero(b64, strlen(b64));
		free(b64);
	}
	if (cred.data)
		explicit_bzero(cred.data, cred.len);
	if (req.data)
		explicit_bzero(req.data, req.len);
	buf_fini(&cred);
	buf_fini(&req);
	return rc;
}
