/*
 * client_parse.c - the pure parts of the outbound client (client.h):
 * absolute URLs, Cache-Control values, and an incremental HTTP/1.1
 * response parser (status line, header fields, Content-Length, chunked
 * transfer coding, close-delimited bodies).
 *
 * The parser takes bytes as they arrive, in pieces of any size, and
 * never looks back further than the head it is collecting or the chunk
 * line it is reading, so its memory is bounded by the limits alone
 * (HTTP_CLIENT_MAX_HEADER for every head byte, max_body for the decoded
 * body). It is strict where leniency has been exploited: obs-fold, bare
 * CR, whitespace before the colon, Transfer-Encoding together with
 * Content-Length, differing Content-Lengths and transfer codings other
 * than chunked are errors (RFC 9112 2.2, 5.1, 5.2, 6.1, 6.3). It is
 * lenient only where RFC 9112 2.2 allows it: a bare LF ends a line.
 * No I/O here; fuzz/fuzz_http_client.c drives it with arbitrary bytes.
 */
#include "client.h"

#include "core/config.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A chunk-size line with its extensions (RFC 9112 7.1.1); real ones are
 * a few bytes. */
#define HC_CHUNK_LINE_MAX 1024
/* RFC 9111 1.2.2: a delta-seconds value too large is taken as 2^31. */
#define HC_DELTA_MAX 2147483648L

enum { HC_HEAD = 0, HC_LENGTH, HC_CHUNK_SIZE, HC_CHUNK_DATA, HC_CHUNK_CRLF, HC_TRAILER, HC_CLOSE, HC_DONE };

/* ---- URLs ---- */

static int hc_host_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_';
}

int http_client_url_parse(const char *url, http_client_url *out)
{
	const char *p, *auth, *auth_end, *host, *host_end, *port = NULL;
	size_t hl;
	unsigned long pv = 0;
	int rc;

	memset(out, 0, sizeof out[0]);
	if (!url)
		return ERR_INVALID;
	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return ERR_INVALID; /* RFC 3986 2: no spaces, controls or raw non-ASCII */
	if (strchr(url, '#'))
		return ERR_INVALID; /* a fragment never goes to a server (RFC 9110 7.1) */
	if (strncasecmp(url, "https://", 8) == 0) {
		out->tls = 1;
		out->port = 443;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		out->port = 80;
		auth = url + 7;
	} else {
		return ERR_INVALID;
	}
	auth_end = auth + strcspn(auth, "/?");
	if (memchr(auth, '@', (size_t)(auth_end - auth)))
		return ERR_INVALID;
	if (*auth == '[') {
		/* RFC 3986 3.2.2 IP-literal; zone ids and IPvFuture refused */
		char lit[INET6_ADDRSTRLEN + 1];
		struct in6_addr a6;
		host = auth + 1;
		host_end = memchr(host, ']', (size_t)(auth_end - host));
		if (!host_end || (size_t)(host_end - host) >= sizeof lit)
			return ERR_INVALID;
		memcpy(lit, host, (size_t)(host_end - host));
		lit[host_end - host] = '\0';
		if (inet_pton(AF_INET6, lit, &a6) != 1)
			return ERR_INVALID;
		p = host_end + 1;
		if (p < auth_end && *p != ':')
			return ERR_INVALID;
	} else {
		host = auth;
		host_end = memchr(auth, ':', (size_t)(auth_end - auth));
		if (!host_end)
			host_end = auth_end;
		for (p = host; p < host_end; p++)
			if (!hc_host_char((unsigned char)*p))
				return ERR_INVALID;
		p = host_end;
	}
	hl = (size_t)(host_end - host);
	if (hl == 0 || hl >= sizeof out->host)
		return ERR_INVALID;
	if (p < auth_end) {
		/* ":" port: 1-5 digits, 1..65535 (an empty port is refused) */
		port = p + 1;
		if (port == auth_end || auth_end - port > 5)
			return ERR_INVALID;
		for (p = port; p < auth_end; p++) {
			if (!isdigit((unsigned char)*p))
				return ERR_INVALID;
			pv = pv * 10 + (unsigned long)(*p - '0');
		}
		if (pv == 0 || pv > 65535)
			return ERR_INVALID;
		out->port = (unsigned)pv;
	}
	/* DNS names are case-insensitive (RFC 4343); one spelling from here on */
	for (size_t i = 0; i < hl; i++)
		out->host[i] = (char)tolower((unsigned char)host[i]);
	out->host[hl] = '\0';
	if (!out->tls && !config_host_is_loopback(out->host))
		return ERR_FORBIDDEN;
	if (out->port == (out->tls ? 443u : 80u))
		rc = snprintf(out->authority, sizeof out->authority, *auth == '[' ? "[%s]" : "%s", out->host);
	else
		rc = snprintf(out->authority, sizeof out->authority, *auth == '[' ? "[%s]:%u" : "%s:%u", out->host,
			      out->port);
	if (rc < 0 || (size_t)rc >= sizeof out->authority)
		return ERR_INVALID;
	rc = snprintf(out->target, sizeof out->target, "%s%s", *auth_end == '/' ? "" : "/", auth_end);
	if (rc < 0 || (size_t)rc >= sizeof out->target)
		return ERR_INVALID;
	return 0;
}

/* ---- Cache-Control ---- */

static int hc_tchar(unsigned char c)
{
	/* RFC 9110 5.6.2 tchar */
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int hc_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Parses delta-seconds (RFC 9111 1.2.2) from v[0..n): -1 when it is not
 * 1*DIGIT, capped at 2^31. */
static long hc_delta(const char *v, size_t n)
{
	long d = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return -1;
		if (d < HC_DELTA_MAX)
			d = d * 10 + (v[i] - '0');
	}
	return d > HC_DELTA_MAX ? HC_DELTA_MAX : d;
}

static void hc_lower(long *max_age, long v)
{
	if (*max_age < 0 || v < *max_age)
		*max_age = v;
}

void http_client_cache_control(const char *value, size_t len, long *max_age)
{
	size_t i = 0;

	while (i < len) {
		size_t ns, ne, vs = 0, ve = 0;
		while (i < len && (hc_ows((unsigned char)value[i]) || value[i] == ','))
			i++;
		ns = i;
		while (i < len && hc_tchar((unsigned char)value[i]))
			i++;
		ne = i;
		while (i < len && hc_ows((unsigned char)value[i]))
			i++;
		if (i < len && value[i] == '=') {
			i++;
			while (i < len && hc_ows((unsigned char)value[i]))
				i++;
			if (i < len && value[i] == '"') {
				/* quoted-string; a backslash escapes the next octet */
				vs = ++i;
				while (i < len && value[i] != '"')
					i += value[i] == '\\' && i + 1 < len ? 2 : 1;
				ve = i < len ? i : len;
				if (i < len)
					i++;
			} else {
				vs = i;
				while (i < len && hc_tchar((unsigned char)value[i]))
					i++;
				ve = i;
			}
		}
		if (ne == ns) {
			/* not a directive: skip to the next comma */
			while (i < len && value[i] != ',')
				i++;
			continue;
		}
		if ((ne - ns == 8 && strncasecmp(value + ns, "no-store", 8) == 0) ||
		    (ne - ns == 8 && strncasecmp(value + ns, "no-cache", 8) == 0)) {
			/* no-cache: stored but revalidated before each use - for
			 * us, who do not revalidate, the same as not stored */
			*max_age = 0;
		} else if (ne - ns == 7 && strncasecmp(value + ns, "max-age", 7) == 0) {
			long d = vs ? hc_delta(value + vs, ve - vs) : -1;
			hc_lower(max_age, d < 0 ? 0 : d);
		}
		/* anything left of a malformed directive up to the comma */
		while (i < len && value[i] != ',')
			i++;
	}
}

/* ---- response parser ---- */

void http_client_resp_init(http_client_resp *r, size_t max_body)
{
	memset(r, 0, sizeof *r);
	r->max_age = -1;
	r->max_header = HTTP_CLIENT_MAX_HEADER;
	buf_init(&r->body, max_body);
	buf_init(&r->head, HTTP_CLIENT_MAX_HEADER);
}

void http_client_resp_fini(http_client_resp *r)
{
	if (!r)
		return;
	buf_fini(&r->body);
	buf_fini(&r->head);
}

static int hc_ieq(const char *a, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(a, lit, n) == 0;
}

/* What a head says about the message that follows it. */
struct hc_frame {
	int te;                 /* Transfer-Encoding: chunked */
	int ncl;                /* Content-Length fields seen */
	unsigned long long cl;
	long max_age;
};

/* One header field line (without its line end). RFC 9110 5, RFC 9112 5. */
static int hc_field(const char *line, size_t n, struct hc_frame *f)
{
	size_t colon = 0, vs, ve;

	while (colon < n && hc_tchar((unsigned char)line[colon]))
		colon++;
	/* RFC 9112 5.1: no whitespace between name and colon; an empty name
	 * or a line starting with whitespace (obs-fold, 5.2) is refused */
	if (colon == 0 || colon >= n || line[colon] != ':')
		return ERR_INVALID;
	vs = colon + 1;
	ve = n;
	while (vs < ve && hc_ows((unsigned char)line[vs]))
		vs++;
	while (ve > vs && hc_ows((unsigned char)line[ve - 1]))
		ve--;
	for (size_t i = vs; i < ve; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return ERR_INVALID; /* field-value: VCHAR, obs-text, SP, HTAB */
	}
	if (hc_ieq(line, colon, "Content-Length")) {
		/* RFC 9110 8.6: 1*DIGIT; a repeated field must repeat the value */
		unsigned long long v = 0;
		if (ve == vs || ve - vs > 18)
			return ERR_INVALID;
		for (size_t i = vs; i < ve; i++) {
			if (!isdigit((unsigned char)line[i]))
				return ERR_INVALID;
			v = v * 10 + (unsigned long long)(line[i] - '0');
		}
		if (f->ncl && f->cl != v)
			return ERR_INVALID;
		f->cl = v;
		f->ncl++;
	} else if (hc_ieq(line, colon, "Transfer-Encoding")) {
		/* We send no TE, so only chunked may be applied, once
		 * (RFC 9112 6.1, 7.4). A second field would extend the list. */
		if (f->te || !hc_ieq(line + vs, ve - vs, "chunked"))
			return ERR_INVALID;
		f->te = 1;
	} else if (hc_ieq(line, colon, "Cache-Control")) {
		http_client_cache_control(line + vs, ve - vs, &f->max_age);
	}
	return 0;
}

/* Parses a complete head h[0..n) (its blank line included). *interim is
 * set for a 1xx response. */
static int hc_head(http_client_resp *r, const char *h, size_t n, int *interim)
{
	struct hc_frame f;
	const char *line = h, *end = h + n;
	int first = 1, status = 0, http10 = 0;

	memset(&f, 0, sizeof f);
	f.max_age = -1;
	*interim = 0;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len;
		if (!nl)
			return ERR_INVALID;
		len = (size_t)(nl - line);
		if (len && line[len - 1] == '\r')
			len--;
		if (memchr(line, '\r', len) || memchr(line, '\0', len))
			return ERR_INVALID; /* RFC 9112 2.2: bare CR; and no NULs anywhere */
		if (first) {
			/* status-line = HTTP-version SP status-code SP [reason] */
			if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
			    line[8] != ' ' || !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10]) ||
			    !isdigit((unsigned char)line[11]) || (len > 12 && line[12] != ' '))
				return ERR_INVALID;
			http10 = line[7] == '0';
			status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
			if (status < 100 || status > 599)
				return ERR_INVALID;
			first = 0;
		} else if (len == 0) {
			break;
		} else if (hc_field(line, len, &f) != 0) {
			return ERR_INVALID;
		}
		line = nl + 1;
	}
	if (first)
		return ERR_INVALID;
	if (status < 200) {
		/* RFC 9110 15.2: interim responses come before the final one;
		 * 101 would switch protocols we never asked for. */
		if (status == 101)
			return ERR_INVALID;
		*interim = 1;
		return 0;
	}
	r->status = status;
	r->http10 = http10;
	r->max_age = f.max_age;
	/* RFC 9112 6.3: how the body is delimited */
	if (f.te && (f.ncl || http10))
		return ERR_INVALID; /* 6.3 item 3 and 6.1: a smuggling signature */
	if (status == 204 || status == 304) {
		r->state = HC_DONE;
	} else if (f.te) {
		r->state = HC_CHUNK_SIZE;
	} else if (f.ncl) {
		if (f.cl > r->body.max)
			return ERR_TOOBIG;
		r->remaining = f.cl;
		r->state = f.cl ? HC_LENGTH : HC_DONE;
	} else {
		r->state = HC_CLOSE;
	}
	return 0;
}

/* Collects head bytes; returns the bytes of data consumed, or an error. */
static long hc_feed_head(http_client_resp *r, const char *data, size_t n)
{
	size_t l0 = r->head.len, avail = r->max_header - r->head_total - r->head.len, take = n < avail ? n : avail;
	size_t end = 0, j;
	int interim = 0, rc;

	if (take == 0)
		return ERR_TOOBIG;
	rc = buf_append(&r->head, data, take);
	if (rc)
		return rc;
	for (j = r->scan; j < r->head.len; j++) {
		const char *h = r->head.data;
		if (h[j] != '\n')
			continue;
		if (j + 1 < r->head.len && h[j + 1] == '\n') {
			end = j + 2;
			break;
		}
		if (j + 2 < r->head.len && h[j + 1] == '\r' && h[j + 2] == '\n') {
			end = j + 3;
			break;
		}
		if (j + 1 == r->head.len || (h[j + 1] == '\r' && j + 2 == r->head.len))
			break; /* undecided until more bytes come */
	}
	r->scan = j;
	if (!end) {
		if (r->head_total + r->head.len >= r->max_header)
			return ERR_TOOBIG;
		return (long)take;
	}
	r->head.len = end;
	r->head.data[end] = '\0';
	rc = hc_head(r, r->head.data, end, &interim);
	if (rc)
		return rc;
	r->head_total += end;
	buf_reset(&r->head);
	r->scan = 0;
	return (long)(end - l0);
}

/* A chunk-size line (RFC 9112 7.1): chunk-size [chunk-ext]. */
static int hc_chunk_line(http_client_resp *r, const char *line, size_t len)
{
	unsigned long long v = 0;
	size_t i = 0;

	while (i < len && isxdigit((unsigned char)line[i])) {
		if (v > (ULLONG_MAX >> 4))
			return ERR_TOOBIG;
		v = (v << 4) | (unsigned long long)(isdigit((unsigned char)line[i]) ? line[i] - '0' :
										   (tolower((unsigned char)line[i]) - 'a' + 10));
		i++;
	}
	if (i == 0)
		return ERR_INVALID;
	while (i < len && hc_ows((unsigned char)line[i]))
		i++;
	if (i < len && line[i] != ';')
		return ERR_INVALID;
	for (; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			return ERR_INVALID;
	if (v > r->body.max - r->body.len)
		return ERR_TOOBIG;
	r->remaining = v;
	r->state = v ? HC_CHUNK_DATA : HC_TRAILER;
	return 0;
}

/* Collects one line (chunk size or trailer field) into r->head; returns
 * bytes consumed and sets *done when the line is complete (the line is
 * then r->head.data without its line end, *len long). */
static long hc_line(http_client_resp *r, const char *data, size_t n, size_t cap, int *done, size_t *len)
{
	const char *nl = memchr(data, '\n', n);
	size_t take = nl ? (size_t)(nl - data) + 1 : n;
	int rc;

	*done = 0;
	if (r->head.len + take > cap)
		return ERR_TOOBIG;
	rc = buf_append(&r->head, data, take);
	if (rc)
		return rc;
	if (nl) {
		size_t l = r->head.len - 1;
		if (l && r->head.data[l - 1] == '\r')
			l--;
		if (memchr(r->head.data, '\r', l) || memchr(r->head.data, '\0', l))
			return ERR_INVALID;
		*len = l;
		*done = 1;
	}
	return (long)take;
}

int http_client_resp_feed(http_client_resp *r, const char *data, size_t n)
{
	size_t i = 0;

	while (i < n && r->state != HC_DONE) {
		long used = 0;
		int done = 0, rc = 0;
		size_t len = 0, take;

		switch (r->state) {
		case HC_HEAD:
			used = hc_feed_head(r, data + i, n - i);
			break;
		case HC_LENGTH:
		case HC_CHUNK_DATA:
			take = n - i < r->remaining ? n - i : (size_t)r->remaining;
			rc = buf_append(&r->body, data + i, take);
			used = (long)take;
			r->remaining -= take;
			if (rc == 0 && r->remaining == 0)
				r->state = r->state == HC_LENGTH ? HC_DONE : HC_CHUNK_CRLF;
			break;
		case HC_CHUNK_CRLF:
			/* the CRLF after chunk-data (a bare LF accepted, RFC 9112 2.2) */
			if (data[i] == '\r' && !r->cr) {
				r->cr = 1;
			} else if (data[i] == '\n') {
				r->cr = 0;
				r->state = HC_CHUNK_SIZE;
			} else {
				rc = ERR_INVALID;
			}
			used = 1;
			break;
		case HC_CHUNK_SIZE:
			used = hc_line(r, data + i, n - i, HC_CHUNK_LINE_MAX, &done, &len);
			if (used > 0 && done) {
				rc = hc_chunk_line(r, r->head.data, len);
				buf_reset(&r->head);
			}
			break;
		case HC_TRAILER:
			/* trailer fields (RFC 9112 7.1.2) count as head and are
			 * otherwise ignored: nothing we use may come late */
			if (r->head_total >= r->max_header)
				return ERR_TOOBIG;
			used = hc_line(r, data + i, n - i, r->max_header - r->head_total, &done, &len);
			if (used > 0 && done) {
				r->head_total += r->head.len;
				if (len == 0)
					r->state = HC_DONE;
				buf_reset(&r->head);
			}
			break;
		case HC_CLOSE:
			rc = buf_append(&r->body, data + i, n - i);
			used = (long)(n - i);
			break;
		}
		if (used < 0)
			return (int)used;
		if (rc)
			return rc;
		i += (size_t)used;
	}
	return r->state == HC_DONE ? 1 : 0;
}

int http_client_resp_eof(http_client_resp *r)
{
	if (r->state == HC_CLOSE)
		r->state = HC_DONE;
	return r->state == HC_DONE ? 1 : ERR_INVALID;
}
