/*
 * bundle.c - batch and transaction (hl7.org/fhir/R4/http.html#transaction).
 *
 * batch: every entry is an independent sub-request that goes through
 * fhir_handle(), the same pipeline (routing, authorization, handlers) as a
 * direct request; one entry failing does not touch the others.
 *
 * transaction: all writes become store operations committed in ONE store
 * transaction, so either all of them are durable or none is. Before the
 * commit: ids are assigned (server ids for POST, the URL's for PUT, the
 * match for conditional ones), every Reference.reference naming an entry's
 * fullUrl (urn:uuid:, urn:oid:, absolute) is rewritten to "Type/id", each
 * entry is authorized and validated. Operations are handed to the store in
 * the order of http.html#trules (DELETE, POST, PUT), GET entries run as
 * sub-requests after the commit. The response lists entries in request order.
 * Any failure fails the whole transaction with that entry's status and an
 * OperationOutcome naming Bundle.entry[i].
 */
#include "fhir.h"

#include "auth/scope.h"

#include "core/err.h"
#include "core/valid.h"
#include "http/url.h"
#include "jsonpatch.h"
#include "refs.h"
#include "write.h"

#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *bundle_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 501: return "Not Implemented";
	default: return status >= 500 ? "Internal Server Error" : "";
	}
}

static json_t *bundle_status(int status)
{
	char s[48];
	snprintf(s, sizeof s, "%d %s", status, bundle_reason(status));
	return json_string(s);
}

/* Splits a request.url relative to our base: "Patient/1?x" or absolute
 * "<base_url>/Patient/1". Returns the target path+query for the router. */
static char *bundle_target(fhir_req *fr, const char *url)
{
	const char *base = fr->app->cfg->base_url;
	size_t bl = strlen(base);

	if (strncmp(url, base, bl) == 0 && (url[bl] == '/' || url[bl] == '?' || url[bl] == '\0'))
		url += bl;
	while (*url == '/')
		url++;
	return arena_printf(fr->http->arena, "%s/%s", fr->app->cfg->base_path, url);
}

/* Runs one entry through the whole pipeline as a sub-request and turns
 * the response into the entry's response (and resource/outcome). *used
 * counts the entry response bytes of the Bundle so far: once it has
 * reached max_bundle_response_bytes, a read entry is answered too-costly
 * without running. A read is where a few bytes of request buy a large
 * answer (GET metadata is ~300 KB, a search page up to page_max
 * resources): without the budget, a 16 MiB batch could make the server
 * build a response of many GiB. Writes answer with at most what they
 * were sent, which max_body_bytes already bounds. */
static json_t *bundle_subrequest(fhir_req *fr, const char *method, const char *url, const json_t *resource,
				 const json_t *request, size_t *used)
{
	static const char *const cond_fields[][2] = { { "ifMatch", "If-Match" },
						      { "ifNoneMatch", "If-None-Match" },
						      { "ifNoneExist", "If-None-Exist" },
						      { "ifModifiedSince", "If-Modified-Since" } };
	const char *hname[8], *hvalue[8];
	http_request sub;
	http_response resp;
	http_target t;
	json_t *entry = json_object(), *r = json_object(), *body = NULL;
	char *target, *payload = NULL;
	size_t nh = 0;
	int rc;

	memset(&sub, 0, sizeof sub);
	memset(&resp, 0, sizeof resp);
	json_object_set_new(entry, "response", r);
	if (*used >= fr->app->cfg->max_bundle_response_bytes && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
		json_object_set_new(r, "status", bundle_status(err_http_status(ERR_TOOCOSTLY)));
		json_object_set_new(r, "outcome", fhir_outcome_new("error", err_issue_code(ERR_TOOCOSTLY),
								   "Not run: the Bundle's entry responses reached "
								   "max_bundle_response_bytes",
								   NULL));
		return entry;
	}
	target = bundle_target(fr, url);
	rc = target ? http_target_parse(fr->http->arena, target, 256, &t) : ERR_TOOBIG;
	if (rc) {
		json_object_set_new(r, "status", bundle_status(err_http_status(rc)));
		json_object_set_new(r, "outcome", fhir_outcome_new("error", err_issue_code(rc), "Invalid request.url",
								   NULL));
		return entry;
	}
	for (size_t i = 0; i < sizeof cond_fields / sizeof cond_fields[0]; i++) {
		const char *v = json_string_value(json_object_get(request, cond_fields[i][0]));
		if (v) {
			hname[nh] = cond_fields[i][1];
			hvalue[nh++] = v;
		}
	}
	if (http_request_header(fr->http, "Prefer")) {
		hname[nh] = "Prefer";
		hvalue[nh++] = http_request_header(fr->http, "Prefer");
	}
	if (resource) {
		/* a PATCH body travels as the JSON Patch decoded from its Binary */
		int is_patch = json_is_array(resource);
		payload = fhir_json_dump(resource, 0, &sub.body_len);
		hname[nh] = "Content-Type";
		hvalue[nh++] = is_patch ? "application/json-patch+json" : "application/fhir+json";
	}
	sub.arena = fr->http->arena;
	sub.method = method;
	sub.path = t.path;
	sub.segments = t.segments;
	sub.nsegments = t.nsegments;
	sub.params = t.params;
	sub.nparams = t.nparams;
	sub.body = payload ? payload : "";
	sub.is_tls = fr->http->is_tls;
	sub.peer_text = fr->http->peer_text; /* for the audit trail */
	sub.conn = fr->http->conn;
	sub.is_sub = 1;
	sub.sub_hname = hname;
	sub.sub_hvalue = hvalue;
	sub.sub_nheaders = nh;
	fhir_handle(fr->app, &sub, &resp);
	free(payload);
	*used += resp.body_len;

	json_object_set_new(r, "status", bundle_status(resp.status));
	for (unsigned i = 0; i < resp.nheaders; i++) {
		if (strcasecmp(resp.hname[i], "ETag") == 0)
			json_object_set_new(r, "etag", json_string(resp.hvalue[i]));
		else if (strcasecmp(resp.hname[i], "Location") == 0)
			json_object_set_new(r, "location", json_string(resp.hvalue[i]));
	}
	for (unsigned i = 0; i < resp.nheaders; i++) {
		time_t when;
		char lu[40];
		/* without a body (return=minimal) the header is all there is */
		if (strcasecmp(resp.hname[i], "Last-Modified") == 0 &&
		    valid_http_date_parse(resp.hvalue[i], &when) == 0) {
			valid_instant_format((int64_t)when * 1000000, lu);
			json_object_set_new(r, "lastModified", json_string(lu));
		}
	}
	if (resp.body && resp.body_len)
		body = json_loadb(resp.body, resp.body_len, 0, NULL);
	free(resp.body);
	if (body) {
		const char *rt = json_string_value(json_object_get(body, "resourceType"));
		const char *lu = json_string_value(json_object_get(json_object_get(body, "meta"), "lastUpdated"));
		if (resp.status >= 400 || (rt && strcmp(rt, "OperationOutcome") == 0 && resp.status >= 300)) {
			json_object_set_new(r, "outcome", body);
		} else {
			if (lu && rt && strcmp(rt, "Bundle") != 0)
				json_object_set_new(r, "lastModified", json_string(lu));
			json_object_set_new(entry, "resource", body);
		}
	}
	return entry;
}

static int tx_patch_doc(fhir_req *fr, const json_t *res, json_t **out, const char **diag);

static json_t *bundle_new(const char *type)
{
	json_t *b = json_object();
	char id[37], lu[40];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	valid_instant_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, lu);
	json_object_set_new(b, "resourceType", json_string("Bundle"));
	if (fhir_write_new_id(id) == 0)
		json_object_set_new(b, "id", json_string(id));
	json_object_set_new(b, "meta", json_pack("{s:s}", "lastUpdated", lu));
	json_object_set_new(b, "type", json_string(type));
	return b;
}

static void bundle_batch(fhir_req *fr, json_t *entries)
{
	json_t *out = bundle_new("batch-response"), *oentries = json_array(), *e;
	size_t i, used = 0;

	json_array_foreach(entries, i, e)
	{
		const json_t *req = json_object_get(e, "request");
		const char *method = json_string_value(json_object_get(req, "method"));
		const char *url = json_string_value(json_object_get(req, "url"));
		json_t *res = json_object_get(e, "resource");
		json_t *oe;

		if (!method || !url) {
			oe = json_object();
			json_object_set_new(oe, "response",
					    json_pack("{s:o,s:o}", "status", bundle_status(400), "outcome",
						      fhir_outcome_new("error", "invalid",
								       "Entry needs request.method and request.url",
								       NULL)));
		} else if (!strcmp(method, "PATCH")) {
			json_t *patch = NULL;
			const char *diag = NULL;
			if (tx_patch_doc(fr, res, &patch, &diag)) {
				oe = json_object();
				json_object_set_new(oe, "response",
						    json_pack("{s:o,s:o}", "status", bundle_status(400), "outcome",
							      fhir_outcome_new("error", "invalid", diag, NULL)));
			} else {
				oe = bundle_subrequest(fr, method, url, patch, req, &used);
			}
			json_decref(patch);
		} else {
			int with_body = !strcmp(method, "POST") || !strcmp(method, "PUT");
			oe = bundle_subrequest(fr, method, url, with_body ? res : NULL, req, &used);
		}
		json_array_append_new(oentries, oe);
	}
	json_object_set_new(out, "entry", oentries);
	fhir_send_json(fr, 200, out);
	json_decref(out);
}

/* ---- transaction ------------------------------------------------------ */

enum { TX_GET, TX_DELETE, TX_POST, TX_PUT, TX_PATCH };

struct tx_entry {
	int kind;
	const fhir_type *type;
	const char *id;          /* target id (NULL: conditional, see cond) */
	store_cond cond;
	int has_cond;
	json_t *resource;        /* borrowed from the request Bundle */
	const char *full_url;
	const json_t *request;
	fhir_write w;
	int prepared;
	int matched;             /* conditional: the pre-commit match found one */
	json_t *patch;           /* PATCH: the JSON Patch document (owned) */
	json_t *patched;         /* PATCH: the resource after the patch (owned) */
	int64_t if_match_cur;    /* PATCH: the version the patch was applied to */
};

/* A PATCH entry carries its JSON Patch as a Binary (http.html#transaction:
 * "the body of a PATCH is a Binary"); decode and parse it. */
static int tx_patch_doc(fhir_req *fr, const json_t *res, json_t **out, const char **diag)
{
	const char *ct = json_string_value(json_object_get(res, "contentType"));
	const char *data = json_string_value(json_object_get(res, "data"));
	const char *rt = json_string_value(json_object_get(res, "resourceType"));
	struct base64_decode_ctx b64;
	size_t n, dlen;
	uint8_t *dst;
	int rc;

	*diag = "A PATCH entry needs a Binary with contentType application/json-patch+json and data";
	if (!rt || strcmp(rt, "Binary") || !ct || strncmp(ct, "application/json-patch+json", 27) || !data)
		return ERR_INVALID;
	n = strlen(data);
	dst = arena_alloc(fr->http->arena, BASE64_DECODE_LENGTH(n) + 1);
	if (!dst)
		return ERR_TOOBIG;
	base64_decode_init(&b64);
	dlen = BASE64_DECODE_LENGTH(n);
	if (!base64_decode_update(&b64, &dlen, dst, n, data) || !base64_decode_final(&b64)) {
		*diag = "Binary.data is not valid base64";
		return ERR_INVALID;
	}
	rc = fhir_json_parse_any((const char *)dst, dlen, fr->app->cfg->max_json_depth, fr->http->arena, out, diag);
	return rc;
}

static int tx_fail(fhir_req *fr, size_t i, int err, const char *msg)
{
	char expr[48];
	const char *d = arena_printf(fr->http->arena, "Bundle.entry[%zu]: %s", i, msg ? msg : err_message(err));
	snprintf(expr, sizeof expr, "Bundle.entry[%zu]", i);
	fhir_send_error(fr, err, d ? d : msg, arena_strdup(fr->http->arena, expr));
	return err;
}

/* Parses entry i's request into e. Sends the error itself. */
static int tx_parse(fhir_req *fr, size_t i, json_t *entry, struct tx_entry *e)
{
	const json_t *req = json_object_get(entry, "request");
	const char *method = json_string_value(json_object_get(req, "method"));
	const char *url = json_string_value(json_object_get(req, "url"));
	char *target;
	http_target t;
	const char *diag = NULL;
	const fhir_type *type;
	size_t seg0;

	e->request = req;
	e->resource = json_object_get(entry, "resource");
	e->full_url = json_string_value(json_object_get(entry, "fullUrl"));
	if (!method || !url)
		return tx_fail(fr, i, ERR_INVALID, "request.method and request.url are required");
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
		e->kind = TX_GET;
		return 0;
	}
	if (!strcmp(method, "POST"))
		e->kind = TX_POST;
	else if (!strcmp(method, "PUT"))
		e->kind = TX_PUT;
	else if (!strcmp(method, "DELETE"))
		e->kind = TX_DELETE;
	else if (!strcmp(method, "PATCH"))
		e->kind = TX_PATCH;
	else
		return tx_fail(fr, i, ERR_INVALID, "Unknown request.method");
	target = bundle_target(fr, url);
	if (!target || http_target_parse(fr->http->arena, target, 64, &t))
		return tx_fail(fr, i, ERR_INVALID, "Invalid request.url");
	/* segments: base path segments, then Type[/id] */
	seg0 = 0;
	for (const char *p = fr->app->cfg->base_path; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			seg0++;
	if (t.nsegments < seg0 + 1 || t.nsegments > seg0 + 2)
		return tx_fail(fr, i, ERR_INVALID, "request.url must be Type, Type/id or Type?criteria");
	type = fhir_type_find(t.segments[seg0], strlen(t.segments[seg0]));
	if (!type)
		return tx_fail(fr, i, ERR_NOTFOUND, "Unknown resource type in request.url");
	e->type = type;
	if (!strcmp(type->name, "AuditEvent")) /* written by the server alone (auditevent.c) */
		return tx_fail(fr, i, ERR_METHOD, "AuditEvents are recorded by the server and cannot be written");
	if (t.nsegments == seg0 + 2) {
		e->id = t.segments[seg0 + 1];
		if (!valid_id(e->id, strlen(e->id)))
			return tx_fail(fr, i, ERR_INVALID, "Invalid id in request.url");
		if (e->kind == TX_POST)
			return tx_fail(fr, i, ERR_METHOD, "POST must name a type, not an instance");
	} else if (e->kind != TX_POST) {
		if (fhir_cond_parse(fr->http->arena, type->name, fr->app->cfg->base_url, t.params, t.nparams, &e->cond, &diag))
			return tx_fail(fr, i, ERR_INVALID, diag);
		e->has_cond = 1;
	}
	if (e->kind == TX_POST) {
		const char *ine = json_string_value(json_object_get(req, "ifNoneExist"));
		if (ine) {
			http_param *ps;
			size_t n;
			if (*ine == '?')
				ine++;
			if (http_query_parse(fr->http->arena, ine, strlen(ine), 64, &ps, &n) ||
			    fhir_cond_parse(fr->http->arena, type->name, fr->app->cfg->base_url, ps, n, &e->cond, &diag))
				return tx_fail(fr, i, ERR_INVALID, diag ? diag : "Malformed ifNoneExist");
			e->has_cond = 1;
		}
	}
	if (e->kind == TX_PATCH) {
		if (!e->id)
			return tx_fail(fr, i, ERR_INVALID, "PATCH entries must name Type/id");
		if (tx_patch_doc(fr, e->resource, &e->patch, &diag))
			return tx_fail(fr, i, ERR_INVALID, diag);
	}
	if ((e->kind == TX_POST || e->kind == TX_PUT) && !json_is_object(e->resource))
		return tx_fail(fr, i, ERR_INVALID, "POST and PUT entries need a resource");
	return 0;
}

static enum auth_interaction tx_auth_kind(int kind)
{
	switch (kind) {
	case TX_POST: return AUTH_I_CREATE;
	case TX_PUT: return AUTH_I_UPDATE;
	case TX_PATCH: return AUTH_I_UPDATE;
	case TX_DELETE: return AUTH_I_DELETE;
	default: return AUTH_I_READ;
	}
}

/* Conditional references (http.html#trules: "Patient?identifier=..."):
 * each must match exactly one resource, which the reference then names. */
struct tx_condref {
	fhir_req *fr;
	json_t *map;
	const char *failed;
	int err;
};

static int tx_condref_one(void *ctx, const char *ref)
{
	struct tx_condref *c = ctx;
	const char *q = strchr(ref, '?');
	const fhir_type *t;
	http_param *ps;
	size_t n, m = 0;
	store_cond cond;
	const char *diag = NULL;
	char ids[2][65];

	if (!q || json_object_get(c->map, ref))
		return 0;
	t = fhir_type_find(ref, (size_t)(q - ref));
	if (!t)
		return 0; /* not a conditional reference of ours (e.g. an absolute URL) */
	if (http_query_parse(c->fr->http->arena, q + 1, strlen(q + 1), 64, &ps, &n) ||
	    fhir_cond_parse(c->fr->http->arena, t->name, c->fr->app->cfg->base_url, ps, n, &cond, &diag)) {
		c->failed = diag ? diag : "Malformed conditional reference";
		return c->err = ERR_INVALID;
	}
	if (!c->fr->access.full) {
		/* A confined token resolves references only to what it may see:
		 * criteria naming another patient's record match nothing, exactly
		 * like criteria that match nothing (no lookup oracle). */
		auth_decision d;
		if (auth_decide(&c->fr->access, c->fr->http->arena, t->name, SCOPE_S, &d)) {
			c->failed = "The access token does not allow searching this resource type";
			return c->err = ERR_FORBIDDEN;
		}
		cond.comp_id = d.patient;
	}
	if (store_match(c->fr->app->store, t->name, &cond, ids, 2, &m))
		return c->err = ERR_DB;
	if (m >= 1 && cond.comp_id && !strcmp(t->name, "Patient")) {
		/* the Patient compartment of a Patient search also holds the
		 * patients that link to it: only the token's own record counts */
		size_t k = 0;
		for (size_t i = 0; i < m; i++)
			if (!strcmp(ids[i], cond.comp_id))
				memmove(ids[k++], ids[i], sizeof ids[i]);
		m = k;
	}
	if (m != 1) {
		c->failed = m ? "A conditional reference matched more than one resource"
			      : "A conditional reference matched no resource";
		return c->err = ERR_PRECONDITION;
	}
	json_object_set_new(c->map, ref, json_string(arena_printf(c->fr->http->arena, "%s/%s", t->name, ids[0])));
	return 0;
}

static void bundle_transaction(fhir_req *fr, json_t *entries)
{
	size_t n = json_array_size(entries), nops = 0, used = 0;
	struct tx_entry *tx = calloc(n ? n : 1, sizeof *tx);
	store_op_t *ops = NULL;
	size_t *op_entry = NULL;
	json_t *map = json_object(), *out = NULL, *oentries = NULL;
	int rc = 0, minimal;
	const char *prefer = http_request_header(fr->http, "Prefer");

	minimal = prefer && strstr(prefer, "return=minimal");
	if (!tx || !map) {
		fhir_send_error(fr, ERR_NOMEM, NULL, NULL);
		goto out;
	}
	/* 1. parse every entry */
	for (size_t i = 0; i < n; i++)
		if (tx_parse(fr, i, json_array_get(entries, i), &tx[i]))
			goto out;
	/* 2. resolve ids and authorize: DELETEs first, because they run first
	 * (http.html#trules) and a conditional create or update after them
	 * must not match what they delete */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			struct tx_entry *e = &tx[i];
			auth_target target;
			auth_access access;
			char ids[4][65];
			size_t m = 0, live = 0;
			const char *found = NULL;

			if (e->kind == TX_GET || (pass == 0) != (e->kind == TX_DELETE))
				continue;
			if (e->has_cond && !fr->access.full) {
				/* a confined token's criteria match inside its compartment only */
				auth_decision d;
				rc = auth_decide(&fr->access, fr->http->arena, e->type->name,
						 e->kind == TX_POST ? SCOPE_C : e->kind == TX_DELETE ? SCOPE_D : SCOPE_U, &d);
				if (rc) {
					tx_fail(fr, i, rc, NULL);
					goto out;
				}
				e->cond.comp_id = d.patient;
			}
			if (e->has_cond) {
				rc = store_match(fr->app->store, e->type->name, &e->cond, ids, 4, &m);
				if (rc) {
					tx_fail(fr, i, rc, NULL);
					goto out;
				}
				for (size_t k = 0; k < m; k++) {
					int gone = 0;
					for (size_t j = 0; j < n && pass == 1; j++)
						if (tx[j].kind == TX_DELETE && tx[j].id && tx[j].type == e->type &&
						    strcmp(tx[j].id, ids[k]) == 0)
							gone = 1;
					if (!gone) {
						live++;
						found = ids[k];
					}
				}
				if (live > 1) {
					tx_fail(fr, i, ERR_PRECONDITION, "The criteria matched more than one resource");
					goto out;
				}
				e->matched = live == 1;
			}
			if (e->kind == TX_POST) {
				if (found)
					e->id = arena_strdup(fr->http->arena, found);
			} else if (e->kind == TX_PUT && e->has_cond) {
				const char *bid = json_string_value(json_object_get(e->resource, "id"));
				if (found && bid && strcmp(bid, found) != 0) {
					tx_fail(fr, i, ERR_INVALID, "The resource id does not match the resource found");
					goto out;
				}
				e->id = found ? arena_strdup(fr->http->arena, found) : bid;
			} else if (e->kind == TX_DELETE && e->has_cond) {
				e->id = found ? arena_strdup(fr->http->arena, found) : NULL;
			}
			if ((e->kind == TX_POST || e->kind == TX_PUT) && !e->id) {
				char nid[37];
				if (fhir_write_new_id(nid)) {
					tx_fail(fr, i, ERR_INTERNAL, NULL);
					goto out;
				}
				e->id = arena_strdup(fr->http->arena, nid);
			}
			target.interaction = tx_auth_kind(e->kind);
			target.type = e->type->name;
			target.id = e->id;
			rc = auth_request_authorize(fr->app->auth, fr->http, &target, &access);
			if (rc) {
				tx_fail(fr, i, rc, NULL);
				goto out;
			}
			if (e->full_url && e->id && (e->kind == TX_POST || e->kind == TX_PUT)) {
				const char *ref = arena_printf(fr->http->arena, "%s/%s", e->type->name, e->id);
				/* bdl-7: fullUrl is unique, else references are ambiguous */
				if (json_object_get(map, e->full_url)) {
					tx_fail(fr, i, ERR_INVALID, "Two entries have the same fullUrl");
					goto out;
				}
				json_object_set_new(map, e->full_url, json_string(ref));
			}
		}
	/* 3. identities may not overlap (http.html#trules) */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n && tx[i].kind != TX_GET; j++)
			if (tx[j].kind != TX_GET && tx[i].id && tx[j].id && tx[i].type == tx[j].type &&
			    strcmp(tx[i].id, tx[j].id) == 0) {
				tx_fail(fr, j, ERR_INVALID, "Two entries write the same resource");
				goto out;
			}
	/* 4. references, validation */
	for (size_t i = 0; i < n; i++) {
		struct tx_entry *e = &tx[i];
		fhir_issue issue;
		struct tx_condref cr = { fr, map, NULL, 0 };
		if (e->kind == TX_PATCH) {
			store_version_t cur;
			char pdiag[200], want[24];
			const char *pid, *prt, *pvid, *im;
			int64_t imv = 0;
			memset(&cur, 0, sizeof cur);
			rc = store_read(fr->app->store, e->type->name, e->id, &cur);
			if (rc == 0 && !fr->access.full) {
				rc = fhir_access_see(fr, &cur, SCOPE_U);
				if (rc == ERR_FORBIDDEN)
					rc = ERR_NOTFOUND;
			}
			if (rc) {
				store_version_clear(&cur);
				tx_fail(fr, i, rc, NULL);
				goto out;
			}
			im = json_string_value(json_object_get(e->request, "ifMatch"));
			e->patched = json_loadb(cur.body, cur.body_len, 0, NULL);
			snprintf(want, sizeof want, "%lld", (long long)cur.vid);
			e->if_match_cur = cur.vid;
			store_version_clear(&cur);
			if (!e->patched) {
				tx_fail(fr, i, ERR_INTERNAL, NULL);
				goto out;
			}
			if (im && (fhir_etag_parse(im, &imv) || imv != e->if_match_cur)) {
				tx_fail(fr, i, ERR_PRECONDITION, "ifMatch does not match the current version");
				goto out;
			}
			pdiag[0] = '\0';
			rc = fhir_jsonpatch_apply(&e->patched, e->patch, pdiag, sizeof pdiag);
			if (rc) {
				tx_fail(fr, i, rc == ERR_PRECONDITION ? ERR_UNPROCESSABLE : rc, pdiag[0] ? pdiag : NULL);
				goto out;
			}
			pid = json_string_value(json_object_get(e->patched, "id"));
			prt = json_string_value(json_object_get(e->patched, "resourceType"));
			pvid = json_string_value(json_object_get(json_object_get(e->patched, "meta"), "versionId"));
			if (!pid || strcmp(pid, e->id) || !prt || strcmp(prt, e->type->name) || !pvid || strcmp(pvid, want)) {
				tx_fail(fr, i, ERR_INVALID, "A patch may not change id, resourceType or meta.versionId");
				goto out;
			}
			rc = fhir_write_check(e->patched, e->type, &issue);
			if (rc) {
				tx_fail(fr, i, rc, issue.message[0] ? issue.message : NULL);
				goto out;
			}
			continue;
		}
		if (e->kind != TX_POST && e->kind != TX_PUT)
			continue;
		if (fhir_refs_each(e->resource, tx_condref_one, &cr)) {
			tx_fail(fr, i, cr.err, cr.failed);
			goto out;
		}
		if (fhir_refs_rewrite(e->resource, map, NULL)) {
			tx_fail(fr, i, ERR_NOMEM, NULL);
			goto out;
		}
		if (e->kind == TX_PUT && !e->has_cond) {
			const char *bid = json_string_value(json_object_get(e->resource, "id"));
			if (!bid || strcmp(bid, e->id) != 0) {
				tx_fail(fr, i, ERR_INVALID, "The resource id must match request.url");
				goto out;
			}
		}
		rc = fhir_write_check(e->resource, e->type, &issue);
		if (rc) {
			tx_fail(fr, i, rc, issue.message[0] ? issue.message : NULL);
			goto out;
		}
	}
	ops = calloc(n ? n : 1, sizeof *ops);
	op_entry = calloc(n ? n : 1, sizeof *op_entry);
	if (!ops || !op_entry) {
		fhir_send_error(fr, ERR_NOMEM, NULL, NULL);
		goto out;
	}
	/* 5. operations in the order of http.html#trules: DELETE, POST, PUT */
	for (int pass = TX_DELETE; pass <= TX_PATCH; pass++) {
		for (size_t i = 0; i < n; i++) {
			struct tx_entry *e = &tx[i];
			enum store_op_kind k;
			const char *im;
			if (e->kind != pass)
				continue;
			if (e->kind == TX_DELETE && !e->id)
				continue; /* conditional delete matching nothing: nothing to do */
			k = e->kind == TX_POST				  ? STORE_OP_CREATE
			    : e->kind == TX_PUT || e->kind == TX_PATCH ? STORE_OP_UPDATE
								   : STORE_OP_DELETE;
			rc = fhir_write_prepare(&e->w, k, e->type, e->id,
						e->kind == TX_DELETE  ? NULL
						: e->kind == TX_PATCH ? e->patched
								      : e->resource,
						fr->app->cfg->base_url);
			e->prepared = 1;
			if (rc) {
				tx_fail(fr, i, rc, NULL);
				goto out;
			}
			im = json_string_value(json_object_get(e->request, "ifMatch"));
			if (e->kind == TX_PATCH) {
				/* the patch was computed on this version: nothing may slip in */
				e->w.op.if_match = e->if_match_cur;
			} else if (im && fhir_etag_parse(im, &e->w.op.if_match)) {
				tx_fail(fr, i, ERR_INVALID, "Malformed ifMatch");
				goto out;
			}
			if (e->has_cond && e->kind != TX_DELETE) {
				/* References were rewritten from the match made above; the
				 * writer checks it still holds, or the transaction fails. */
				e->w.cond = e->cond;
				e->w.op.cond = &e->w.cond;
				e->w.op.cond_expect = e->matched ? 2 : 1;
			}
			{
				const char *adiag = NULL;
				rc = fhir_access_write(fr, e->type->name,
						       k == STORE_OP_CREATE ? SCOPE_C : k == STORE_OP_UPDATE ? SCOPE_U : SCOPE_D,
						       k == STORE_OP_DELETE ? NULL : &e->w, &e->w.op,
						       e->w.op.cond ? &e->w.cond : NULL, &adiag);
				if (rc) {
					tx_fail(fr, i, rc, adiag);
					goto out;
				}
			}
			ops[nops] = e->w.op;
			op_entry[nops++] = i;
		}
	}
	/* 6. one atomic, durable commit */
	rc = store_commit(fr->app->store, ops, nops, 1);
	if (rc) {
		size_t bad = 0;
		for (size_t k = 0; k < nops; k++)
			if (ops[k].status) {
				bad = op_entry[k];
				break;
			}
		tx_fail(fr, bad, rc,
			rc == ERR_PRECONDITION ? "Version or criteria precondition failed"
			: rc == ERR_CONFLICT   ? "Concurrent change to a matched resource; retry"
					       : NULL);
		for (size_t k = 0; k < nops; k++)
			store_version_clear(&ops[k].result);
		goto out;
	}
	for (size_t k = 0; k < nops; k++)
		tx[op_entry[k]].w.op = ops[k]; /* results back to their entries */

	/* 7. the response, in request order; GETs run now, after the writes */
	out = bundle_new("transaction-response");
	oentries = json_array();
	/* the writes' own answers are bounded by the request: only the GETs
	 * are charged to max_bundle_response_bytes */
	for (size_t i = 0; i < n; i++) {
		struct tx_entry *e = &tx[i];
		json_t *oe, *r;
		store_op_t *op = &e->w.op;
		char lu[40];

		if (e->kind == TX_GET) {
			const char *url = json_string_value(json_object_get(e->request, "url"));
			json_array_append_new(oentries, bundle_subrequest(fr, "GET", url, NULL, e->request, &used));
			continue;
		}
		oe = json_object();
		r = json_object();
		if (!e->prepared || op->noop) {
			json_object_set_new(r, "status", bundle_status(e->kind == TX_DELETE ? 204 : 200));
		} else {
			json_object_set_new(r, "status",
					    bundle_status(e->kind == TX_DELETE ? 204 : op->created ? 201 : 200));
			/* the entries did not pass through fhir_handle: each write
			 * is recorded here, the transaction itself there */
			fhir_audit_tx_entry(fr, op, e->kind == TX_DELETE ? 204 : op->created ? 201 : 200);
		}
		if (op->result.vid > 0 && op->result.id[0]) {
			json_object_set_new(r, "location",
					    json_string(arena_printf(fr->http->arena, "%s/%s/%s/_history/%lld",
								     fr->app->cfg->base_url, op->result.type,
								     op->result.id, (long long)op->result.vid)));
			json_object_set_new(r, "etag",
					    json_string(arena_printf(fr->http->arena, "W/\"%lld\"",
								     (long long)op->result.vid)));
			valid_instant_format(op->result.updated_us, lu);
			json_object_set_new(r, "lastModified", json_string(lu));
			if (e->full_url && e->kind != TX_DELETE)
				json_object_set_new(oe, "fullUrl",
						    json_string(arena_printf(fr->http->arena, "%s/%s/%s",
									     fr->app->cfg->base_url, op->result.type,
									     op->result.id)));
			if (!minimal && op->result.body) {
				json_t *res = json_loadb(op->result.body, op->result.body_len, 0, NULL);
				if (res)
					json_object_set_new(oe, "resource", res);
			}
		}
		json_object_set_new(oe, "response", r);
		json_array_append_new(oentries, oe);
	}
	json_object_set_new(out, "entry", oentries);
	fhir_send_json(fr, 200, out);
out:
	if (tx)
		for (size_t i = 0; i < n; i++) {
			fhir_write_fini(&tx[i].w);
			json_decref(tx[i].patch);
			json_decref(tx[i].patched);
		}
	free(tx);
	free(ops);
	free(op_entry);
	json_decref(map);
	json_decref(out);
}

void fhir_bundle(fhir_req *fr)
{
	json_t *body = NULL, *entries;
	const char *diag = NULL, *rt, *type;
	int rc;

	if (fr->http->is_sub) {
		fhir_send_error(fr, ERR_INVALID, "Bundles cannot be nested in a batch or transaction", NULL);
		return;
	}
	rc = fhir_format_parse_body(fr, &body, &diag);
	if (rc) {
		fhir_send_error(fr, rc, diag, NULL);
		return;
	}
	rt = json_string_value(json_object_get(body, "resourceType"));
	type = json_string_value(json_object_get(body, "type"));
	entries = json_object_get(body, "entry");
	if (!rt || strcmp(rt, "Bundle") != 0) {
		fhir_send_error(fr, ERR_INVALID, "POST to the base needs a Bundle", "resourceType");
		goto out;
	}
	if (!type || (strcmp(type, "batch") && strcmp(type, "transaction"))) {
		fhir_send_error(fr, ERR_INVALID, "Bundle.type must be batch or transaction", "Bundle.type");
		goto out;
	}
	if (entries && !json_is_array(entries)) {
		fhir_send_error(fr, ERR_INVALID, "Bundle.entry must be an array", "Bundle.entry");
		goto out;
	}
	if (json_array_size(entries) > fr->app->cfg->max_bundle_entries) {
		fhir_send_error(fr, ERR_TOOBIG, "The Bundle has more entries than this server accepts (max_bundle_entries)", "Bundle.entry");
		goto out;
	}
	if (!entries) {
		entries = json_array();
		json_object_set_new(body, "entry", entries);
	}
	/* restful-interaction code for the audit trail: a literal, since
	 * type dies with the body before the request is recorded */
	fr->audit.subtype = strcmp(type, "batch") == 0 ? "batch" : "transaction";
	if (strcmp(type, "batch") == 0)
		bundle_batch(fr, entries);
	else
		bundle_transaction(fr, entries);
out:
	json_decref(body);
}
