/*
 * history.c - the history interaction at instance, type and system level
 * (hl7.org/fhir/R4/http.html#history).
 *
 * Pages are cut by keyset on the store's global sequence, newest first,
 * from a snapshot fixed when the first page is read: writes that happen
 * while a client pages do not shift, duplicate or skip entries, and page
 * 1,000 costs what page 1 costs. The position travels in an opaque
 * `_cursor` parameter, authenticated with HMAC-SHA256 under a key the
 * process draws at start, so a client cannot forge or alter one (a
 * tampered cursor, or one from before a restart, is a 400).
 */
#include "fhir.h"

#include "auth/scope.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/valid.h"

#include <inttypes.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HIST_MAC_BYTES 16

static void hist_mac(const fhir_app *app, const char *payload, unsigned char mac[HIST_MAC_BYTES])
{
	struct hmac_sha256_ctx ctx;
	hmac_sha256_set_key(&ctx, sizeof app->cursor_key, app->cursor_key);
	hmac_sha256_update(&ctx, strlen(payload), (const uint8_t *)payload);
	hmac_sha256_digest(&ctx, HIST_MAC_BYTES, mac);
}

/* payload "snap.dir.seq" (dir 'b' before / 'a' after) + "." + hex MAC */
static char *hist_cursor_make(fhir_req *fr, int64_t snap, char dir, int64_t seq)
{
	char payload[64];
	unsigned char mac[HIST_MAC_BYTES];
	char hex[2 * HIST_MAC_BYTES + 1];

	snprintf(payload, sizeof payload, "%" PRId64 ".%c.%" PRId64, snap, dir, seq);
	hist_mac(fr->app, payload, mac);
	for (int i = 0; i < HIST_MAC_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	return arena_printf(fr->http->arena, "%s.%s", payload, hex);
}

static int hist_cursor_parse(fhir_req *fr, const char *c, int64_t *snap, char *dir, int64_t *seq)
{
	const char *dot = strrchr(c, '.');
	char payload[64], hex[2 * HIST_MAC_BYTES + 1];
	unsigned char mac[HIST_MAC_BYTES];
	long long a, b;
	char d;
	int used = 0;

	if (!dot || (size_t)(dot - c) >= sizeof payload || strlen(dot + 1) != 2 * HIST_MAC_BYTES)
		return ERR_INVALID;
	memcpy(payload, c, (size_t)(dot - c));
	payload[dot - c] = '\0';
	hist_mac(fr->app, payload, mac);
	for (int i = 0; i < HIST_MAC_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	/* constant time: the MAC is a secret-derived value */
	if (!memeql_sec(hex, dot + 1, 2 * HIST_MAC_BYTES))
		return ERR_INVALID;
	if (sscanf(payload, "%lld.%c.%lld%n", &a, &d, &b, &used) != 3 || (size_t)used != strlen(payload) ||
	    (d != 'a' && d != 'b') || a < 0 || b < 0)
		return ERR_INVALID;
	*snap = a;
	*dir = d;
	*seq = b;
	return 0;
}

/* Appends "&name=value" with value percent-encoded (RFC 3986 unreserved kept). */
static int hist_append_param(buf_t *b, const char *name, const char *value)
{
	int rc = buf_printf(b, "%s%s=", b->len && memchr(b->data, '?', b->len) ? "&" : "?", name);
	for (const unsigned char *p = (const unsigned char *)value; !rc && *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '.' || *p == '_' || *p == '~')
			rc = buf_append_char(b, (char)*p);
		else
			rc = buf_printf(b, "%%%02X", *p);
	}
	return rc;
}

static char *hist_link(fhir_req *fr, const char *count, const char *since, const char *at, const char *cursor)
{
	buf_t b;
	size_t len;
	char *s, *out;
	int rc;

	buf_init(&b, 8192);
	rc = buf_printf(&b, "%s", fr->app->cfg->base_url);
	if (!rc && fr->route.type)
		rc = buf_printf(&b, "/%s", fr->route.type->name);
	if (!rc && fr->route.id)
		rc = buf_printf(&b, "/%s", fr->route.id);
	if (!rc)
		rc = buf_append_str(&b, "/_history");
	if (!rc && count)
		rc = hist_append_param(&b, "_count", count);
	if (!rc && since)
		rc = hist_append_param(&b, "_since", since);
	if (!rc && at)
		rc = hist_append_param(&b, "_at", at);
	if (!rc && cursor)
		rc = hist_append_param(&b, "_cursor", cursor);
	s = rc ? NULL : buf_detach(&b, &len);
	buf_fini(&b);
	if (!s)
		return NULL;
	out = arena_strdup(fr->http->arena, s);
	free(s);
	return out;
}

static void hist_add_link(json_t *links, const char *rel, const char *url)
{
	json_t *l = json_object();
	json_object_set_new(l, "relation", json_string(rel));
	json_object_set_new(l, "url", json_string(url));
	json_array_append_new(links, l);
}

static json_t *hist_entry(fhir_req *fr, const store_version_t *v)
{
	json_t *e = json_object(), *req = json_object(), *resp = json_object();
	const fhir_app *app = fr->app;
	char lu[40], *s;
	const char *status;

	s = arena_printf(fr->http->arena, "%s/%s/%s", app->cfg->base_url, v->type, v->id);
	json_object_set_new(e, "fullUrl", json_string(s ? s : ""));
	if (!v->deleted && v->body) {
		json_t *r = json_loadb(v->body, v->body_len, 0, NULL);
		if (r)
			json_object_set_new(e, "resource", r);
	}
	json_object_set_new(req, "method", json_string(v->method));
	if (strcmp(v->method, "POST") == 0)
		s = arena_strdup(fr->http->arena, v->type);
	else
		s = arena_printf(fr->http->arena, "%s/%s", v->type, v->id);
	json_object_set_new(req, "url", json_string(s ? s : ""));
	json_object_set_new(e, "request", req);
	if (v->deleted)
		status = "204 No Content";
	else if (strcmp(v->method, "POST") == 0 || v->vid == 1)
		status = "201 Created";
	else
		status = "200 OK";
	json_object_set_new(resp, "status", json_string(status));
	s = arena_printf(fr->http->arena, "W/\"%lld\"", (long long)v->vid);
	json_object_set_new(resp, "etag", json_string(s ? s : ""));
	valid_instant_format(v->updated_us, lu);
	json_object_set_new(resp, "lastModified", json_string(lu));
	json_object_set_new(e, "response", resp);
	return e;
}

static int hist_parse_count(const char *s, unsigned *out)
{
	char *end;
	long long v;
	if (!*s || *s < '0' || *s > '9' || strlen(s) > 9)
		return ERR_INVALID;
	v = strtoll(s, &end, 10);
	if (*end)
		return ERR_INVALID;
	*out = (unsigned)v;
	return 0;
}

void fhir_history(fhir_req *fr)
{
	const config_t *cfg = fr->app->cfg;
	const char *count_s = http_request_param(fr->http, "_count");
	const char *since_s = http_request_param(fr->http, "_since");
	const char *at_s = http_request_param(fr->http, "_at");
	const char *cursor_s = http_request_param(fr->http, "_cursor");
	store_history_q q;
	store_history_page page;
	json_t *bundle = NULL, *links, *entries;
	unsigned count = cfg->page_default;
	int64_t lo, hi, seq;
	char dir, lu[40], idbuf[40];
	const char *self;
	int rc;

	memset(&q, 0, sizeof q);
	memset(&page, 0, sizeof page);
	q.since_us = INT64_MIN;
	q.at_lo_us = INT64_MIN;
	q.at_hi_us = INT64_MIN;
	if (count_s) {
		if (hist_parse_count(count_s, &count)) {
			fhir_send_error(fr, ERR_INVALID, "_count must be a non-negative integer", "_count");
			return;
		}
		if (count > cfg->page_max)
			count = cfg->page_max;
		if (count == 0)
			count = 1; /* _count=0 asks for no entries; we still return one page */
	}
	if (since_s) {
		if (!valid_datetime(since_s) || valid_datetime_range(since_s, &lo, &hi, NULL)) {
			fhir_send_error(fr, ERR_INVALID, "_since must be an instant", "_since");
			return;
		}
		q.since_us = lo;
	}
	if (at_s) {
		if (valid_datetime_range(at_s, &lo, &hi, NULL)) {
			fhir_send_error(fr, ERR_INVALID, "_at must be a date or dateTime", "_at");
			return;
		}
		q.at_lo_us = lo;
		q.at_hi_us = hi;
	}
	if (cursor_s) {
		if (hist_cursor_parse(fr, cursor_s, &q.snapshot_seq, &dir, &seq)) {
			fhir_send_error(fr, ERR_INVALID, "Invalid or expired paging cursor", "_cursor");
			return;
		}
		if (dir == 'a')
			q.after_seq = seq;
		else
			q.before_seq = seq;
	}
	if (!fr->route.id && !fr->access.full && (!fr->route.type || fr->access.dec.patient || fr->access.dec.nconstraints)) {
		/* Type and system history walk every resource's versions; for a
		 * confined or constrained token that would need a compartment
		 * test per version. Refused instead (search narrows properly). */
		fhir_send_error(fr, ERR_FORBIDDEN,
				"History at type or system level is not available to this access token; use search", NULL);
		return;
	}
	if (fr->route.id) {
		/* The history of a resource that never existed is a 404. */
		store_version_t cur;
		memset(&cur, 0, sizeof cur);
		rc = fhir_access_url(fr);
		if (rc) {
			fhir_send_error(fr, rc, "The access token does not allow this resource", NULL);
			return;
		}
		rc = store_read(fr->app->store, fr->route.type->name, fr->route.id, &cur);
		if (rc == 0 && !fr->access.full) {
			/* confined: the current version must be visible (a deleted or
			 * foreign resource's history is a 404, like a missing one) */
			int arc = fhir_access_see(fr, &cur, SCOPE_S);
			if (arc)
				rc = arc == ERR_FORBIDDEN ? ERR_FORBIDDEN : ERR_NOTFOUND;
		} else if (rc == ERR_GONE && !fr->access.full && (fr->access.dec.patient || fr->access.dec.nconstraints)) {
			rc = ERR_NOTFOUND;
		}
		store_version_clear(&cur);
		if (rc == ERR_NOTFOUND || (rc && rc != ERR_GONE)) {
			fhir_send_error(fr, rc, rc == ERR_NOTFOUND ? "Resource not found" : NULL, NULL);
			return;
		}
	}
	q.type = fr->route.type ? fr->route.type->name : NULL;
	q.id = fr->route.id;
	q.count = count;
	rc = store_history(fr->app->store, &q, &page);
	if (rc) {
		fhir_send_error(fr, rc, NULL, NULL);
		return;
	}

	bundle = json_object();
	links = json_array();
	entries = json_array();
	if (!bundle || !links || !entries) {
		json_decref(links);
		json_decref(entries);
		fhir_send_error(fr, ERR_NOMEM, NULL, NULL);
		goto out;
	}
	json_object_set_new(bundle, "resourceType", json_string("Bundle"));
	{
		/* Bundle.id: any unique id will do; derive it from the clock and seq. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(idbuf, sizeof idbuf, "h%llx-%llx-%llx", (unsigned long long)ts.tv_sec,
			 (unsigned long long)ts.tv_nsec, (unsigned long long)page.snapshot_seq);
		json_object_set_new(bundle, "id", json_string(idbuf));
		valid_instant_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, lu);
	}
	{
		json_t *meta = json_object();
		json_object_set_new(meta, "lastUpdated", json_string(lu));
		json_object_set_new(bundle, "meta", meta);
	}
	json_object_set_new(bundle, "type", json_string("history"));

	self = hist_link(fr, count_s, since_s, at_s, cursor_s);
	if (self)
		hist_add_link(links, "self", self);
	if (page.n > 0 && page.has_older) {
		const char *c = hist_cursor_make(fr, page.snapshot_seq, 'b', page.items[page.n - 1].seq);
		const char *u = c ? hist_link(fr, count_s, since_s, at_s, c) : NULL;
		if (u)
			hist_add_link(links, "next", u);
	}
	if (page.n > 0 && page.has_newer) {
		const char *c = hist_cursor_make(fr, page.snapshot_seq, 'a', page.items[0].seq);
		const char *u = c ? hist_link(fr, count_s, since_s, at_s, c) : NULL;
		if (u)
			hist_add_link(links, "previous", u);
	}
	json_object_set_new(bundle, "link", links);
	for (size_t i = 0; i < page.n; i++) {
		/* each version by its own index rows: a resource that moved
		 * between patients does not show its other patient's versions */
		if (!fr->access.full && !page.items[i].deleted && fhir_access_see(fr, &page.items[i], SCOPE_S) != 0)
			continue;
		if (!fr->access.full && page.items[i].deleted && (fr->access.dec.patient || fr->access.dec.nconstraints))
			continue;
		json_array_append_new(entries, hist_entry(fr, &page.items[i]));
	}
	json_object_set_new(bundle, "entry", entries);
	fhir_send_json(fr, 200, bundle);
out:
	json_decref(bundle);
	store_history_page_clear(&page);
}
