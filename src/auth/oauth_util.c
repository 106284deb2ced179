/*
 * oauth_util.c - the pure string helpers of the authorization server:
 * HTML escaping, percent-encoding, redirect URLs with error/code/state,
 * OAuth parameter lookup with the single-occurrence rule, Cookie header
 * parsing and the PKCE syntax checks. No I/O and no state, so that the
 * rules an attacker probes (escaping, duplicated parameters, state echo)
 * can be unit-tested on their own (tests/unit/test_oauth_pages.c).
 */
#include "oauth_int.h"

#include "core/err.h"

#include <string.h>
#include <strings.h>

int oauth_html_escape(buf_t *b, const char *s)
{
	const char *run = s;
	int rc = 0;

	for (; *s && rc == 0; s++) {
		const char *ent;
		switch (*s) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		case '`': ent = "&#96;"; break; /* old IE attribute quoting */
		default: continue;
		}
		rc = buf_append(b, run, (size_t)(s - run));
		if (rc == 0)
			rc = buf_append_str(b, ent);
		run = s + 1;
	}
	if (rc == 0)
		rc = buf_append(b, run, strlen(run));
	return rc;
}

static int util_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

int oauth_url_encode(buf_t *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
		if (util_unreserved(*p)) {
			rc = buf_append_char(b, (char)*p);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			rc = buf_append(b, e, 3);
		}
	}
	return rc;
}

int oauth_redirect_url(buf_t *b, const char *uri, const char *const *kv, size_t npairs)
{
	size_t len = strlen(uri);
	const char *q = strchr(uri, '?');
	/* RFC 6749 3.1.2: the endpoint URI "MAY include a query component,
	 * which MUST be retained when adding additional query parameters". */
	int need = q == NULL ? '?' : (uri[len - 1] == '?' || uri[len - 1] == '&') ? 0 : '&';
	int rc = buf_append(b, uri, len);

	for (size_t i = 0; i < npairs && rc == 0; i++) {
		const char *name = kv[2 * i], *value = kv[2 * i + 1];
		if (!value)
			continue;
		if (need)
			rc = buf_append_char(b, (char)need);
		if (rc == 0)
			rc = oauth_url_encode(b, name);
		if (rc == 0)
			rc = buf_append_char(b, '=');
		if (rc == 0)
			rc = oauth_url_encode(b, value);
		need = '&';
	}
	return rc;
}

int oauth_param(const http_param *ps, size_t n, const char *name, const char **out)
{
	const char *found = NULL;
	int seen = 0;

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ps[i].name, name) != 0)
			continue;
		if (seen++)
			return ERR_INVALID;
		found = ps[i].value;
	}
	if (found && *found)
		*out = found;
	return 0;
}

const char *oauth_param_dup(const http_param *ps, size_t n, const char *except)
{
	/* Quadratic, but n is bounded by HTTP_MAX_PARAMS and OAuth requests
	 * carry a dozen parameters. */
	for (size_t i = 0; i < n; i++) {
		if (except && strcmp(ps[i].name, except) == 0)
			continue;
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(ps[i].name, ps[j].name) == 0)
				return ps[i].name;
	}
	return NULL;
}

int oauth_form_type_ok(const char *ct)
{
	static const char want[] = "application/x-www-form-urlencoded";
	size_t n = sizeof want - 1;

	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

int oauth_cookie_next(const char *header, const char *name, size_t *pos, char *out, size_t cap)
{
	size_t nlen = strlen(name), hlen;

	if (!header)
		return ERR_NOTFOUND;
	hlen = strlen(header);
	while (*pos < hlen) {
		const char *p = header + *pos, *end = strchr(p, ';'), *eq;
		size_t plen = end ? (size_t)(end - p) : strlen(p);

		*pos += plen + (end ? 1 : 0);
		while (plen > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			plen--;
		}
		eq = memchr(p, '=', plen);
		if (!eq || (size_t)(eq - p) != nlen || memcmp(p, name, nlen) != 0)
			continue;
		eq++;
		plen -= nlen + 1;
		while (plen > 0 && (eq[plen - 1] == ' ' || eq[plen - 1] == '\t'))
			plen--;
		if (plen >= 2 && eq[0] == '"' && eq[plen - 1] == '"') { /* RFC 6265 4.1.1 DQUOTE form */
			eq++;
			plen -= 2;
		}
		if (plen >= cap)
			return ERR_TOOBIG;
		memcpy(out, eq, plen);
		out[plen] = '\0';
		return 0;
	}
	return ERR_NOTFOUND;
}

int oauth_pkce_verifier_ok(const char *v)
{
	size_t n = strlen(v);
	if (n < 43 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!util_unreserved((unsigned char)v[i]))
			return 0;
	return 1;
}

static int util_b64url_len(const char *s, size_t want)
{
	size_t n = 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			return 0;
	}
	return n == want;
}

int oauth_pkce_challenge_ok(const char *s)
{
	return util_b64url_len(s, 43);
}

int oauth_rand_ok(const char *s)
{
	return util_b64url_len(s, 43);
}

int oauth_origin(const char *uri, char *out, size_t cap)
{
	size_t skip, n;

	if (strncmp(uri, "https://", 8) == 0)
		skip = 8;
	else if (strncmp(uri, "http://", 7) == 0)
		skip = 7;
	else
		return ERR_INVALID;
	n = skip + strcspn(uri + skip, "/?#");
	if (n == skip || n >= cap)
		return ERR_INVALID;
	for (size_t i = skip; i < n; i++) {
		unsigned char c = (unsigned char)uri[i];
		/* host (reg-name, IPv4, [IPv6]) and port; no userinfo, no
		 * percent-encoding, nothing that could end a CSP directive */
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.' || c == ':' || c == '[' || c == ']'))
			return ERR_INVALID;
	}
	memcpy(out, uri, n);
	out[n] = '\0';
	return 0;
}

void oauth_log_safe(const char *s, char *out, size_t cap)
{
	size_t i = 0;
	if (cap == 0)
		return;
	for (; s && s[i] && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 strchr("._~@/-", c) != NULL;
		out[i] = ok ? (char)c : '_';
	}
	out[i] = '\0';
}
