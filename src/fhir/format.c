/*
 * format.c - content negotiation and JSON in/out (hl7.org/fhir/R4/http.html#mime,
 * json.html).
 *
 * Only JSON exists for now: a request that can only take XML gets 406 and
 * an XML body 415, as the spec asks of a server without XML support.
 * Parsing is bounded before jansson sees the bytes: a linear pre-scan
 * checks UTF-8 and the nesting depth (jansson's own limit is 2048 and not
 * configurable), then jansson parses with duplicate keys rejected (the
 * FHIR JSON format does not allow them).
 */
#include "fhir.h"

#include "core/err.h"
#include "core/valid.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FHIR_CT_JSON "application/fhir+json; charset=utf-8"

/* 1 json, 0 xml or other known-unsupported, -1 unknown */
static int format_kind(const char *v, size_t n)
{
	static const char *const json[] = { "json", "application/json", "application/fhir+json",
					    "application/fhir json", /* '+' decoded as space in a query */
					    "application/json+fhir", "application/*", "*/*" };
	for (size_t i = 0; i < sizeof json / sizeof json[0]; i++)
		if (strlen(json[i]) == n && strncasecmp(v, json[i], n) == 0)
			return 1;
	return 0;
}

int fhir_format_negotiate(fhir_req *fr)
{
	const char *f = http_request_param(fr->http, "_format");
	const char *pretty = http_request_param(fr->http, "_pretty");
	const char *accept;

	fr->pretty = pretty && strcmp(pretty, "true") == 0;
	if (f) {
		/* _format overrides Accept (http.html#mime). Parameters such as
		 * "; charset=utf-8" may follow the type. */
		size_t n = strcspn(f, ";");
		while (n && f[n - 1] == ' ')
			n--;
		return format_kind(f, n) == 1 ? 0 : ERR_NOTACCEPTABLE;
	}
	accept = http_request_header(fr->http, "Accept");
	if (!accept || !*accept)
		return 0;
	/* Acceptable when any listed media range is one we produce. */
	for (const char *p = accept; *p;) {
		size_t n;
		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ",;");
		while (n && p[n - 1] == ' ')
			n--;
		if (n && format_kind(p, n) == 1)
			return 0;
		p += strcspn(p, ",");
	}
	return ERR_NOTACCEPTABLE;
}

/* Walks the JSON text once: depth of {} / [] outside strings. */
static int format_depth_ok(const char *s, size_t len, unsigned max)
{
	unsigned depth = 0;
	int in_str = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return 0;
		} else if (c == '}' || c == ']') {
			if (depth)
				depth--;
		}
	}
	return 1;
}

int fhir_format_parse_body(fhir_req *fr, json_t **out, const char **diag)
{
	const char *ct = http_request_header(fr->http, "Content-Type");

	*out = NULL;
	*diag = NULL;
	if (ct && *ct) {
		size_t n = strcspn(ct, ";");
		const char *cs;
		while (n && ct[n - 1] == ' ')
			n--;
		if (!format_kind(ct, n) || strncmp(ct, "*/*", 3) == 0 || strncmp(ct, "application/*", 13) == 0) {
			*diag = "Unsupported Content-Type; use application/fhir+json";
			return ERR_MEDIATYPE;
		}
		cs = strcasestr(ct, "charset=");
		if (cs && strncasecmp(cs + 8, "utf-8", 5) != 0 && strncasecmp(cs + 8, "\"utf-8\"", 7) != 0) {
			*diag = "Only the UTF-8 charset is supported";
			return ERR_MEDIATYPE;
		}
	}
	return fhir_json_parse(fr->http->body, fr->http->body_len, fr->app->cfg->max_json_depth, fr->http->arena, out,
			       diag);
}

static int format_json_parse(const char *body, size_t len, unsigned max_depth, arena_t *a, int allow_any,
			     json_t **out, const char **diag)
{
	json_error_t jerr;
	json_t *v;

	*out = NULL;
	*diag = NULL;
	if (len == 0) {
		*diag = "The request body is empty";
		return ERR_INVALID;
	}
	if (!valid_utf8(body, len)) {
		*diag = "The request body is not valid UTF-8";
		return ERR_INVALID;
	}
	if (!format_depth_ok(body, len, max_depth)) {
		*diag = "The JSON is nested too deeply (max_json_depth)";
		return ERR_INVALID;
	}
	v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		/* jerr.text may quote input or name internals: keep it to ourselves. */
		char *msg = a ? arena_printf(a, "Invalid JSON at line %d, column %d", jerr.line, jerr.column) : NULL;
		*diag = msg ? msg : "Invalid JSON";
		return ERR_INVALID;
	}
	if (!json_is_object(v) && !allow_any) {
		json_decref(v);
		*diag = "The body must be a JSON object";
		return ERR_INVALID;
	}
	*out = v;
	return 0;
}

int fhir_json_parse(const char *body, size_t len, unsigned max_depth, arena_t *a, json_t **out, const char **diag)
{
	return format_json_parse(body, len, max_depth, a, 0, out, diag);
}

int fhir_json_parse_any(const char *body, size_t len, unsigned max_depth, arena_t *a, json_t **out, const char **diag)
{
	return format_json_parse(body, len, max_depth, a, 1, out, diag);
}

char *fhir_json_dump(const json_t *v, int pretty, size_t *len)
{
	/* JSON_REAL_PRECISION(15): shortest form for decimals as clients
	 * write them (0.1 stays 0.1, not 0.10000000000000001). */
	size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(15) | (pretty ? JSON_INDENT(2) : 0);
	char *s;
	if (pretty)
		flags &= ~(size_t)JSON_COMPACT;
	s = json_dumps(v, flags);
	if (s && len)
		*len = strlen(s);
	return s;
}

void fhir_send_json(fhir_req *fr, int status, const json_t *v)
{
	size_t len = 0;
	char *s = fhir_json_dump(v, fr->pretty, &len);
	if (!s) {
		fr->resp->status = 500;
		return;
	}
	fr->resp->status = status;
	http_response_set_body(fr->resp, FHIR_CT_JSON, s, len);
}

void fhir_send_body(fhir_req *fr, int status, char *body, size_t len)
{
	if (fr->pretty) {
		json_t *v = json_loadb(body, len, 0, NULL);
		free(body);
		if (!v) {
			fhir_send_error(fr, ERR_INTERNAL, NULL, NULL);
			return;
		}
		fhir_send_json(fr, status, v);
		json_decref(v);
		return;
	}
	fr->resp->status = status;
	http_response_set_body(fr->resp, FHIR_CT_JSON, body, len);
}
