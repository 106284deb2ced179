/*
 * auditevent.c - AuditEvent over FHIR, served from the audit trail
 * (store.h "audit trail"), not from the resource tables: AuditEvents are
 * made by the server only, never change, and are numbered by their place
 * in the hash chain (id = seq).
 *
 *   GET AuditEvent/[id]                  read (vread of version 1 too)
 *   GET AuditEvent?date=&patient=&agent=&entity-type=&entity=&subtype=
 *       &action=&outcome=&_id=&_count=   search, newest first
 *   GET Patient/[id]/AuditEvent?...      the same with patient=[id]
 *   anything else                        405 (create, update, patch,
 *                                        delete, history)
 * Who may: auth_decide() grants AuditEvent only to an explicitly named
 * system/AuditEvent scope (auth.c); this file assumes the request was
 * authorized.
 *
 * Search is a practical subset: one value per parameter (no commas, no
 * modifiers), date with eq/ge/gt/le/lt (several date parameters make a
 * range), everything ANDed. Anything else is a 400 naming the supported
 * parameters: silently ignoring a criterion would hand an auditor more
 * records than asked for, and they would not know. Pages are keyset pages
 * on seq (_cursor = the last seq of the page before), so paging through a
 * growing trail neither repeats nor skips a record.
 *
 * Every answer first flushes the audit queue (audit_flush): an auditor
 * sees every event recorded before its request, its own earlier requests
 * included.
 */
#include "fhir.h"

#include "audit/audit.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/valid.h"
#include "http/url.h"
#include "write.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AE_SUPPORTED "date, patient, agent, entity-type, entity, subtype, action, outcome, _id, _count"
#define AE_FLUSH_MS 5000

/* A seq from an id: digits, no leading zero, fits. 0 when not one. */
static int64_t ae_seq(const char *s)
{
	int64_t v = 0;
	if (!s || *s < '1' || *s > '9' || strlen(s) > 18)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v;
}

static void ae_flush(fhir_req *fr)
{
	if (audit_flush(fr->app->audit, AE_FLUSH_MS))
		log_warn("msg=\"audit: the writer is behind; the answer may miss the newest events\"");
}

static void ae_read(fhir_req *fr)
{
	store_audit_rec r;
	store_version_t v;
	int64_t seq = ae_seq(fr->route.id);
	char *body = NULL;
	size_t len = 0;
	int rc;

	memset(&r, 0, sizeof r);
	ae_flush(fr);
	if (fr->route.interaction == FHIR_I_VREAD && fr->route.vid != 1)
		rc = ERR_NOTFOUND; /* an AuditEvent has one version */
	else
		rc = seq ? store_audit_get(fr->app->store, seq, &r) : ERR_NOTFOUND;
	if (!rc)
		rc = audit_record_json(&r, &body, &len);
	if (rc) {
		fhir_send_error(fr, rc, rc == ERR_NOTFOUND ? "AuditEvent not found" : NULL, NULL);
		goto out;
	}
	memset(&v, 0, sizeof v);
	v.vid = 1;
	v.updated_us = r.recorded_us;
	fhir_version_headers(fr, &v, 0);
	fhir_send_body(fr, 200, body, len);
	body = NULL;
out:
	free(body);
	store_audit_rec_clear(&r);
}

/* token "system|code" or "code": the code, when the system (if any) is
 * the one expected. */
static const char *ae_token(const char *v, const char *system)
{
	const char *bar = strchr(v, '|');
	if (!bar)
		return v;
	if (system && (size_t)(bar - v) == strlen(system) && !strncmp(v, system, (size_t)(bar - v)))
		return bar + 1;
	return bar == v ? bar + 1 : NULL; /* "|code": no system */
}

/* One date parameter into the range [q->date_lo, q->date_hi]. */
static int ae_date(const char *v, store_audit_q *q)
{
	char pfx[3] = "eq";
	int64_t lo, hi;
	enum valid_prec prec;

	if (v[0] >= 'a' && v[0] <= 'z') {
		memcpy(pfx, v, 2);
		v += 2;
	}
	if (valid_datetime_range(v, &lo, &hi, &prec))
		return ERR_INVALID;
	if (!strcmp(pfx, "eq")) {
		if (lo > q->date_lo)
			q->date_lo = lo;
		if (hi < q->date_hi)
			q->date_hi = hi;
	} else if (!strcmp(pfx, "ge") || !strcmp(pfx, "gt")) {
		int64_t from = pfx[1] == 'e' ? lo : hi + 1;
		if (from > q->date_lo)
			q->date_lo = from;
	} else if (!strcmp(pfx, "le") || !strcmp(pfx, "lt")) {
		int64_t to = pfx[1] == 'e' ? hi : lo - 1;
		if (to < q->date_hi)
			q->date_hi = to;
	} else {
		return ERR_INVALID;
	}
	return 0;
}

/* The parameters into q; *why (client-safe, arena) on ERR_INVALID. */
static int ae_parse(fhir_req *fr, store_audit_q *q, const char **why)
{
	const http_request *req = fr->http;
	const config_t *cfg = fr->app->cfg;
	arena_t *a = req->arena;

	memset(q, 0, sizeof q[0]);
	q->date_lo = INT64_MIN;
	q->date_hi = INT64_MAX;
	q->outcome = -1;
	q->count = cfg->page_default;
	if (fr->route.interaction == FHIR_I_SEARCH_COMPARTMENT)
		q->patient = fr->route.id;
	for (size_t i = 0; i < req->nparams; i++) {
		const char *n = req->params[i].name, *v = req->params[i].value, *c;
		int64_t num;

		if (!strcmp(n, "_format") || !strcmp(n, "_pretty"))
			continue;
		if (!*v || strchr(v, ',')) {
			*why = arena_printf(a, "AuditEvent search takes one non-empty value per parameter (%s)", n);
			return ERR_INVALID;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(req->params[j].name, n) && strcmp(n, "date") != 0) {
				*why = arena_printf(a, "Parameter %s is given twice", n);
				return ERR_INVALID;
			}
		if (!strcmp(n, "date")) {
			if (ae_date(v, q)) {
				*why = "date takes a FHIR date or dateTime with an optional eq, ge, gt, le or lt prefix";
				return ERR_INVALID;
			}
		} else if (!strcmp(n, "_count")) {
			num = ae_seq(v);
			if (!num) {
				*why = "_count must be a positive integer";
				return ERR_INVALID;
			}
			q->count = num > cfg->page_max ? cfg->page_max : (unsigned)num;
		} else if (!strcmp(n, "_cursor") || !strcmp(n, "_id")) {
			num = ae_seq(v);
			if (!num) {
				*why = arena_printf(a, "%s must be an AuditEvent id", n);
				return ERR_INVALID;
			}
			if (n[1] == 'c')
				q->before_seq = num;
			else
				q->seq = num;
		} else if (!strcmp(n, "patient")) {
			c = !strncmp(v, "Patient/", 8) ? v + 8 : v;
			if (!valid_id(c, strlen(c))) {
				*why = "patient takes Patient/[id] or [id]";
				return ERR_INVALID;
			}
			if (q->patient && strcmp(q->patient, c) != 0) {
				*why = "patient contradicts the compartment searched";
				return ERR_INVALID;
			}
			q->patient = c;
		} else if (!strcmp(n, "entity")) {
			const char *slash = strchr(v, '/');
			if (!slash || !fhir_type_find(v, (size_t)(slash - v)) || !valid_id(slash + 1, strlen(slash + 1))) {
				*why = "entity takes [type]/[id]";
				return ERR_INVALID;
			}
			q->entity_type = arena_strndup(a, v, (size_t)(slash - v));
			q->entity_id = slash + 1;
		} else if (!strcmp(n, "entity-type")) {
			c = ae_token(v, "http://hl7.org/fhir/resource-types");
			if (!c || !fhir_type_find(c, strlen(c))) {
				*why = "entity-type takes a resource type (http://hl7.org/fhir/resource-types)";
				return ERR_INVALID;
			}
			if (q->entity_type && strcmp(q->entity_type, c) != 0) {
				*why = "entity-type contradicts entity";
				return ERR_INVALID;
			}
			q->entity_type = c;
		} else if (!strcmp(n, "outcome")) {
			c = ae_token(v, "http://hl7.org/fhir/audit-event-outcome");
			if (!c || (strcmp(c, "0") && strcmp(c, "4") && strcmp(c, "8") && strcmp(c, "12"))) {
				*why = "outcome is one of 0, 4, 8, 12";
				return ERR_INVALID;
			}
			q->outcome = (int)strtol(c, NULL, 10);
		} else if (!strcmp(n, "action")) {
			c = ae_token(v, "http://hl7.org/fhir/audit-event-action");
			if (!c || strlen(c) != 1 || !strchr("CRUDE", c[0])) {
				*why = "action is one of C, R, U, D, E";
				return ERR_INVALID;
			}
			q->action = c;
		} else if (!strcmp(n, "subtype")) {
			/* codes of several systems (restful-interaction, DCM,
			 * urn:fhird:audit) share the column; the code decides */
			q->subtype = strchr(v, '|') ? strchr(v, '|') + 1 : v;
		} else if (!strcmp(n, "agent")) {
			q->agent = v; /* a client_id, or the user: Practitioner/x, a subject */
		} else {
			*why = arena_printf(a, "Unsupported search parameter '%s' for AuditEvent; supported: " AE_SUPPORTED,
					    strchr(n, ':') ? "with a modifier" : n);
			return ERR_INVALID;
		}
	}
	return 0;
}

/* base/path?params (without _cursor) [&_cursor=cursor] as a JSON link. */
static int ae_link(fhir_req *fr, buf_t *b, const char *path, const char *rel, int64_t cursor)
{
	const http_request *req = fr->http;
	buf_t u;
	char *url = NULL, *t = NULL;
	json_t *js = NULL;
	size_t len;
	int rc = 0, sep = '?';

	buf_init(&u, 1 << 16);
	rc = buf_printf(&u, "%s/%s", fr->app->cfg->base_url, path);
	for (size_t i = 0; !rc && i < req->nparams; i++) {
		if (!strcmp(req->params[i].name, "_cursor"))
			continue;
		rc = buf_append_char(&u, (char)sep);
		if (!rc)
			rc = http_url_encode(&u, req->params[i].name);
		if (!rc)
			rc = buf_append_char(&u, '=');
		if (!rc)
			rc = http_url_encode(&u, req->params[i].value);
		sep = '&';
	}
	if (!rc && cursor)
		rc = buf_printf(&u, "%c_cursor=%" PRId64, sep, cursor);
	if (!rc && !(url = buf_detach(&u, &len)))
		rc = ERR_NOMEM;
	if (!rc) {
		js = json_string(url);
		t = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
		rc = t ? buf_printf(b, "%s{\"relation\":\"%s\",\"url\":%s}", strcmp(rel, "self") ? "," : "", rel, t)
		       : ERR_NOMEM;
	}
	json_decref(js);
	free(t);
	free(url);
	buf_fini(&u);
	return rc;
}

static void ae_search(fhir_req *fr)
{
	store_audit_q q;
	store_audit_page page;
	const char *why = NULL, *path;
	char id[37], lu[40], *body = NULL;
	struct timespec ts;
	size_t blen;
	buf_t b;
	int rc;

	memset(&page, 0, sizeof page);
	buf_init(&b, (size_t)1 << 30);
	if (!strcmp(fr->http->method, "POST")) {
		http_response_header(fr->resp, "Allow", "GET, HEAD");
		fhir_send_error(fr, ERR_METHOD, "Search AuditEvents with GET", NULL);
		goto out;
	}
	rc = ae_parse(fr, &q, &why);
	if (rc) {
		fhir_send_error(fr, rc, why, NULL);
		goto out;
	}
	ae_flush(fr);
	rc = store_audit_search(fr->app->store, &q, &page);
	if (rc) {
		fhir_send_error(fr, rc, NULL, NULL);
		goto out;
	}
	path = fr->route.interaction == FHIR_I_SEARCH_COMPARTMENT
		       ? arena_printf(fr->http->arena, "Patient/%s/AuditEvent", fr->route.id)
		       : "AuditEvent";
	clock_gettime(CLOCK_REALTIME, &ts);
	valid_instant_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, lu);
	rc = path && !fhir_write_new_id(id) ? 0 : ERR_NOMEM;
	if (!rc)
		rc = buf_printf(&b,
				"{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"meta\":{\"lastUpdated\":\"%s\"},"
				"\"type\":\"searchset\",\"link\":[",
				id, lu);
	if (!rc)
		rc = ae_link(fr, &b, path, "self", 0);
	if (!rc && page.has_more && page.n)
		rc = ae_link(fr, &b, path, "next", page.items[page.n - 1].seq);
	if (!rc)
		rc = buf_append_str(&b, "]");
	for (size_t i = 0; !rc && i < page.n; i++) {
		char *res = NULL;
		size_t rl;
		rc = audit_record_json(&page.items[i], &res, &rl);
		if (!rc)
			rc = buf_printf(&b, "%s{\"fullUrl\":\"%s/AuditEvent/%" PRId64 "\",\"resource\":", i ? "," : ",\"entry\":[",
					fr->app->cfg->base_url, page.items[i].seq);
		if (!rc)
			rc = buf_append(&b, res, rl);
		if (!rc)
			rc = buf_append_str(&b, ",\"search\":{\"mode\":\"match\"}}");
		free(res);
	}
	if (!rc && page.n)
		rc = buf_append_char(&b, ']');
	if (!rc)
		rc = buf_append_char(&b, '}');
	if (!rc && !(body = buf_detach(&b, &blen)))
		rc = ERR_NOMEM;
	if (rc) {
		fhir_send_error(fr, rc, NULL, NULL);
		goto out;
	}
	fhir_send_body(fr, 200, body, blen);
	body = NULL;
out:
	free(body);
	buf_fini(&b);
	store_audit_page_clear(&page);
}

void fhir_auditevent(fhir_req *fr)
{
	switch (fr->route.interaction) {
	case FHIR_I_READ:
	case FHIR_I_VREAD:
		ae_read(fr);
		return;
	case FHIR_I_SEARCH_TYPE:
	case FHIR_I_SEARCH_COMPARTMENT:
		ae_search(fr);
		return;
	default:
		/* The trail is append-only and written by the server alone: no
		 * create, update, patch or delete through the API, for anyone. */
		http_response_header(fr->resp, "Allow", "GET, HEAD");
		fhir_send_error(fr, ERR_METHOD, "AuditEvents are recorded by the server and cannot be written", NULL);
		return;
	}
}
