/*
 * url.c - splitting a raw request target into decoded path segments and
 * query parameters.
 *
 * We parse the raw target ourselves instead of using libmicrohttpd's
 * decoded URL, because decoding the path as a whole would turn
 * "/Patient/a%2Fb" into "/Patient/a/b" and silently change which resource
 * is meant. Each segment is decoded on its own; a "%2F" stays inside its
 * segment (and then fails the id syntax check, as it should).
 * Query strings are application/x-www-form-urlencoded ('+' is a space).
 * Malformed escapes and NUL bytes are rejected rather than guessed at.
 */
#include "url.h"

#include "core/err.h"

#include <string.h>

static int url_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_url_decode(arena_t *a, const char *s, size_t len, int plus_is_space, char **out)
{
	char *d = arena_alloc(a, len + 1), *p = d;
	if (!d)
		return ERR_TOOBIG;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			int hi, lo;
			if (len - i < 3)
				return ERR_INVALID;
			hi = url_hex(s[i + 1]);
			lo = url_hex(s[i + 2]);
			if (hi < 0 || lo < 0)
				return ERR_INVALID;
			c = (char)(hi * 16 + lo);
			if (c == '\0')
				return ERR_INVALID;
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		} else if (c == '\0') {
			return ERR_INVALID;
		}
		*p++ = c;
	}
	*p = '\0';
	*out = d;
	return 0;
}

int http_query_parse(arena_t *a, const char *q, size_t len, size_t max_params, http_param **params, size_t *nparams)
{
	size_t n = 0, cap = 1, i;
	http_param *ps;
	int rc;

	for (i = 0; i < len; i++)
		if (q[i] == '&')
			cap++;
	if (cap > max_params)
		return ERR_TOOBIG;
	ps = arena_calloc(a, cap, sizeof *ps);
	if (!ps)
		return ERR_TOOBIG;
	i = 0;
	while (i < len) {
		const char *part = q + i, *amp = memchr(part, '&', len - i), *eq;
		size_t plen = amp ? (size_t)(amp - part) : len - i;
		char *name, *value;

		i += plen + 1;
		if (plen == 0)
			continue;
		eq = memchr(part, '=', plen);
		rc = http_url_decode(a, part, eq ? (size_t)(eq - part) : plen, 1, &name);
		if (rc)
			return rc;
		rc = http_url_decode(a, eq ? eq + 1 : "", eq ? plen - (size_t)(eq + 1 - part) : 0, 1, &value);
		if (rc)
			return rc;
		ps[n].name = name;
		ps[n].value = value;
		n++;
	}
	*params = ps;
	*nparams = n;
	return 0;
}

int http_target_parse(arena_t *a, const char *target, size_t max_params, http_target *out)
{
	const char *q = strchr(target, '?'), *frag;
	size_t plen = q ? (size_t)(q - target) : strlen(target), nseg = 0, cap = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (plen == 0 || target[0] != '/')
		return ERR_INVALID;
	for (size_t i = 0; i < plen; i++)
		if (target[i] == '/')
			cap++;
	out->segments = arena_calloc(a, cap + 1, sizeof *out->segments);
	if (!out->segments)
		return ERR_TOOBIG;
	rc = http_url_decode(a, target, plen, 0, &out->path);
	if (rc)
		return rc;
	/* Segments between slashes; empty segments (from "//" or a trailing
	 * slash) are dropped, which is what clients mean by them. */
	for (size_t i = 1; i <= plen;) {
		const char *s = target + i, *slash = memchr(s, '/', plen - i);
		size_t sl = slash ? (size_t)(slash - s) : plen - i;
		if (sl > 0) {
			rc = http_url_decode(a, s, sl, 0, &out->segments[nseg]);
			if (rc)
				return rc;
			nseg++;
		}
		i += sl + 1;
	}
	out->nsegments = nseg;
	if (q) {
		size_t qlen = strlen(q + 1);
		frag = memchr(q + 1, '#', qlen);
		if (frag)
			qlen = (size_t)(frag - (q + 1));
		rc = http_query_parse(a, q + 1, qlen, max_params, &out->params, &out->nparams);
		if (rc)
			return rc;
	}
	return 0;
}

int http_url_encode(buf_t *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			rc = buf_append_char(b, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			rc = buf_append(b, e, 3);
		}
	}
	return rc;
}
