/*
 * search.c - the search interactions (hl7.org/fhir/R4/search.html):
 * GET [type]?, POST [type]/_search, GET [base]?_type=, compartment search
 * Patient/[id]/[type]?, and Patient/[id]/$everything.
 *
 * A request goes: query string (URL, plus the form body of POST _search)
 * -> search_query_parse() (search/query.h) -> store_search() (the backend
 * compiles it to SQL) -> includes -> _summary/_elements -> a searchset
 * Bundle. The Bundle is written as text around the stored resource bytes,
 * which are spliced in unparsed unless _summary/_elements must cut them.
 *
 * Paging is keyset paging: the next/previous links carry an opaque
 * `_cursor` holding the sort key of the last (first) row of the page, the
 * direction, the time it was issued and a digest of the query it belongs
 * to, authenticated with HMAC-SHA256 under the process's cursor key. A
 * cursor that was altered, that belongs to another query, or that is older
 * than cursor_ttl_s is a 400.
 */
#include "fhir.h"

#include "auth/scope.h"
#include "core/b64url.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/valid.h"
#include "http/url.h"
#include "search/extract.h"
#include "search/params.h"
#include "search/query.h"
#include "summary.h"
#include "write.h"

#include <inttypes.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SRCH_MAC_BYTES 16
#define SRCH_BODY_MAX ((size_t)1 << 30)

/* What a search request is about, settled before the query is parsed. */
struct srch {
	fhir_req *fr;
	const char *rtype;     /* searched type, NULL at system level / $everything */
	const char *comp_id;   /* Patient id of a compartment search / $everything */
	const char *confine;   /* the token's patient: chains/_has stay in its compartment */
	int everything;
	const char *path;      /* "Observation", "Patient/1/Observation", "", "Patient/1/$everything" */
	search_query q;
	char qdigest[17];      /* hex digest binding a cursor to path + query */
};

/* ---- the query string ------------------------------------------------ */

/* The parameters of the search: the URL's, then (POST _search) the form
 * body's, decoded by the same http_query_parse, in that order. */
static int srch_params(fhir_req *fr, const http_param **out, size_t *n)
{
	http_request *req = fr->http;
	http_param *body = NULL, *all;
	size_t nb = 0;
	int rc;

	*out = req->params;
	*n = req->nparams;
	if (strcmp(req->method, "POST") != 0 || !req->body_len)
		return 0;
	/* the same parameter limit as a URL's query */
	rc = http_query_parse(req->arena, req->body, req->body_len, HTTP_MAX_PARAMS, &body, &nb);
	if (rc)
		return rc;
	all = arena_calloc(req->arena, req->nparams + nb + 1, sizeof *all);
	if (!all)
		return ERR_TOOBIG;
	if (req->nparams) /* memcpy's source may not be NULL, even for 0 bytes */
		memcpy(all, req->params, req->nparams * sizeof *all);
	if (nb)
		memcpy(all + req->nparams, body, nb * sizeof *all);
	*out = all;
	*n = req->nparams + nb;
	return 0;
}

/* POST _search carries its parameters as a form (search.html#search). */
static int srch_check_form(fhir_req *fr)
{
	const char *ct;
	if (strcmp(fr->http->method, "POST") != 0 || !fr->http->body_len)
		return 0;
	ct = http_request_header(fr->http, "Content-Type");
	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
	    (ct[33] && ct[33] != ';' && ct[33] != ' '))
		return ERR_MEDIATYPE;
	return 0;
}

/* Prefer: handling=strict (search.html#errors; RFC 7240). */
static int srch_strict(fhir_req *fr)
{
	const char *p = http_request_header(fr->http, "Prefer");
	return p && strstr(p, "handling=strict") != NULL;
}

/* ---- cursors --------------------------------------------------------- */

static void srch_mac(const fhir_app *app, const char *payload, size_t len, unsigned char mac[SRCH_MAC_BYTES])
{
	struct hmac_sha256_ctx ctx;
	hmac_sha256_set_key(&ctx, sizeof app->cursor_key, app->cursor_key);
	hmac_sha256_update(&ctx, len, (const uint8_t *)payload);
	hmac_sha256_digest(&ctx, SRCH_MAC_BYTES, mac);
}

static void srch_digest(struct srch *s)
{
	struct sha256_ctx c;
	uint8_t d[8];
	sha256_init(&c);
	sha256_update(&c, strlen(s->path), (const uint8_t *)s->path);
	sha256_update(&c, 1, (const uint8_t *)"?");
	sha256_update(&c, strlen(s->q.self), (const uint8_t *)s->q.self);
	sha256_digest(&c, sizeof d, d);
	for (size_t i = 0; i < sizeof d; i++)
		snprintf(s->qdigest + 2 * i, 3, "%02x", d[i]);
}

/* base64url(JSON payload) "." hex(HMAC(payload)) */
static char *srch_cursor_make(struct srch *s, const store_pos *pos, char dir)
{
	json_t *o = json_object(), *k = json_array();
	char *js = NULL, *out = NULL, *b64 = NULL;
	unsigned char mac[SRCH_MAC_BYTES];
	char hex[2 * SRCH_MAC_BYTES + 1];
	size_t bl;

	if (!o || !k)
		goto out;
	for (unsigned i = 0; i < pos->nk; i++) {
		const store_key *x = &pos->k[i];
		json_array_append_new(k, x->kind == 1   ? json_integer(x->i)
					 : x->kind == 2 ? json_real(x->d)
					 : x->kind == 3 ? json_string(x->s ? x->s : "")
							: json_null());
	}
	json_object_set_new(o, "q", json_string(s->qdigest));
	json_object_set_new(o, "t", json_integer((json_int_t)time(NULL)));
	json_object_set_new(o, "d", json_string(dir == 'p' ? "p" : "n"));
	json_object_set_new(o, "ty", json_string(pos->type));
	json_object_set_new(o, "id", json_string(pos->id));
	json_object_set_new(o, "k", k);
	k = NULL;
	js = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
	if (!js)
		goto out;
	/* unpadded: nothing to escape in a URL */
	if (b64url_encode(js, strlen(js), &b64, &bl))
		goto out;
	srch_mac(s->fr->app, b64, bl, mac);
	for (int i = 0; i < SRCH_MAC_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	out = arena_printf(s->fr->http->arena, "%s.%s", b64, hex);
out:
	json_decref(k);
	json_decref(o);
	free(js);
	free(b64);
	return out;
}

static int srch_cursor_parse(struct srch *s, const char *c, store_pos *pos, int *backward)
{
	const char *dot = strrchr(c, '.');
	unsigned char mac[SRCH_MAC_BYTES];
	char hex[2 * SRCH_MAC_BYTES + 1];
	unsigned char *js = NULL;
	size_t bl, jl;
	json_t *o = NULL, *k;
	const char *q, *d, *ty, *id;
	json_int_t t, now;
	int rc = ERR_INVALID;

	memset(pos, 0, sizeof *pos);
	if (!dot || strlen(dot + 1) != 2 * SRCH_MAC_BYTES)
		return ERR_INVALID;
	bl = (size_t)(dot - c);
	if (bl == 0 || bl > 4096)
		return ERR_INVALID;
	srch_mac(s->fr->app, c, bl, mac);
	for (int i = 0; i < SRCH_MAC_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	/* constant time: the MAC is derived from a secret */
	if (!memeql_sec(hex, dot + 1, 2 * SRCH_MAC_BYTES))
		return ERR_INVALID;
	if (b64url_decode(c, bl, &js, &jl))
		return ERR_INVALID;
	o = json_loadb((const char *)js, jl, 0, NULL);
	if (!o || json_unpack(o, "{s:s, s:I, s:s, s:s, s:s, s:o}", "q", &q, "t", &t, "d", &d, "ty", &ty, "id", &id,
			      "k", &k) != 0)
		goto out;
	if (strcmp(q, s->qdigest) != 0 || !json_is_array(k) || json_array_size(k) > STORE_MAX_SORT)
		goto out;
	/* t is compared, never subtracted from: now - t overflows for a t
	 * near INT64_MIN (UB; in practice a cursor that never expired) */
	now = (json_int_t)time(NULL);
	if (t < now - (json_int_t)s->fr->app->cfg->cursor_ttl_s || t > now + 60)
		goto out;
	snprintf(pos->type, sizeof pos->type, "%s", ty);
	snprintf(pos->id, sizeof pos->id, "%s", id);
	*backward = d[0] == 'p';
	for (size_t i = 0; i < json_array_size(k); i++) {
		json_t *v = json_array_get(k, i);
		store_key *x = &pos->k[i];
		if (json_is_integer(v)) {
			x->kind = 1;
			x->i = json_integer_value(v);
		} else if (json_is_real(v)) {
			x->kind = 2;
			x->d = json_real_value(v);
		} else if (json_is_string(v)) {
			x->kind = 3;
			x->s = strdup(json_string_value(v));
			if (!x->s) {
				rc = ERR_NOMEM;
				goto out;
			}
		}
		pos->nk = (unsigned)i + 1;
	}
	rc = 0;
out:
	json_decref(o);
	free(js);
	if (rc)
		store_pos_clear(pos);
	return rc;
}

/* ---- the Bundle ------------------------------------------------------ */

static int srch_link(struct srch *s, buf_t *b, int *first, const char *rel, const char *cursor)
{
	const char *base = s->fr->app->cfg->base_url;
	char *url;
	json_t *js;
	char *t;
	int rc;

	url = arena_printf(s->fr->http->arena, "%s%s%s%s%s%s%s%s", base, *s->path ? "/" : "", s->path,
			   *s->q.self || cursor ? "?" : "", s->q.self, cursor && *s->q.self ? "&" : "",
			   cursor ? "_cursor=" : "", cursor ? cursor : "");
	if (!url)
		return ERR_NOMEM;
	js = json_string(url);
	t = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
	json_decref(js);
	if (!t)
		return ERR_NOMEM;
	rc = buf_printf(b, "%s{\"relation\":\"%s\",\"url\":%s}", *first ? "" : ",", rel, t);
	free(t);
	*first = 0;
	return rc;
}

/* Appends one entry. body is the stored JSON text, used as it is unless
 * summary/elements ask for less. */
static int srch_entry(struct srch *s, buf_t *b, int *first, const store_version_t *v, const char *mode)
{
	const search_query *q = &s->q;
	const fhir_app *app = s->fr->app;
	int rc;

	/* plain appends: the entries are most of a search's output, and
	 * printf's format parsing showed in its profile */
	rc = buf_append_str(b, *first ? "{\"fullUrl\":\"" : ",{\"fullUrl\":\"");
	if (!rc)
		rc = buf_append_str(b, app->cfg->base_url);
	if (!rc)
		rc = buf_append_char(b, '/');
	if (!rc)
		rc = buf_append_str(b, v->type);
	if (!rc)
		rc = buf_append_char(b, '/');
	if (!rc)
		rc = buf_append_str(b, v->id);
	if (!rc)
		rc = buf_append_str(b, "\",\"resource\":");
	*first = 0;
	if (rc)
		return rc;
	if (q->summary == SEARCH_SUMMARY_FALSE && q->nelements == 0) {
		rc = buf_append(b, v->body, v->body_len);
	} else {
		json_t *r = json_loadb(v->body, v->body_len, 0, NULL);
		const fhir_type *t = fhir_type_find(v->type, strlen(v->type));
		int mode_sum = q->summary == SEARCH_SUMMARY_TRUE ? 1 : q->summary == SEARCH_SUMMARY_TEXT ? 2
				: q->summary == SEARCH_SUMMARY_DATA			? 3
											: 0;
		int subsetted = 0;
		char *t2;
		if (!r || !t)
			return ERR_INTERNAL;
		rc = fhir_summary_apply(r, t, mode_sum, q->elements, q->nelements, &subsetted);
		t2 = rc ? NULL : json_dumps(r, JSON_COMPACT);
		json_decref(r);
		if (!t2)
			return rc ? rc : ERR_NOMEM;
		rc = buf_append_str(b, t2);
		free(t2);
	}
	if (!rc)
		rc = buf_append_str(b, ",\"search\":{\"mode\":\"");
	if (!rc)
		rc = buf_append_str(b, mode);
	if (!rc)
		rc = buf_append_str(b, "\"}}");
	return rc;
}

/* ---- includes -------------------------------------------------------- */

struct srch_seen {
	char (*key)[130];
	size_t n, cap;
};

static int srch_seen_add(struct srch_seen *sn, const char *type, const char *id)
{
	char k[130];
	snprintf(k, sizeof k, "%s/%s", type, id);
	for (size_t i = 0; i < sn->n; i++)
		if (!strcmp(sn->key[i], k))
			return 0;
	if (sn->n == sn->cap) {
		size_t nc = sn->cap ? sn->cap * 2 : 64;
		char (*nk)[130] = realloc(sn->key, nc * sizeof *nk);
		if (!nk)
			return ERR_NOMEM;
		sn->key = nk;
		sn->cap = nc;
	}
	memcpy(sn->key[sn->n++], k, sizeof k);
	return 1;
}

struct srch_list {
	store_version_t *v;
	size_t n, cap;
};

static int srch_list_push(struct srch_list *l, store_version_t *v)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		store_version_t *nv = realloc(l->v, nc * sizeof *nv);
		if (!nv)
			return ERR_NOMEM;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = *v;
	memset(v, 0, sizeof *v);
	return 0;
}

static void srch_list_clear(struct srch_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		store_version_clear(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* ---- authorization (access.c explains the rules) ---------------------- */

/* Appends the clauses of qs (parsed for s->rtype) to the query: how a
 * confinement or a granular scope becomes part of the SQL. */
static int srch_and(struct srch *s, const search_limits *lim, const char *qs)
{
	search_query extra;
	search_clause *all;
	char why[128];
	int rc;

	memset(&extra, 0, sizeof extra);
	rc = search_query_parse(s->fr->http->arena, s->rtype, qs, strlen(qs), lim, &extra, why, sizeof why);
	if (rc)
		return ERR_FORBIDDEN; /* a constraint we cannot apply grants nothing */
	if (!extra.nclauses)
		return 0;
	all = arena_calloc(s->fr->http->arena, s->q.nclauses + extra.nclauses, sizeof *all);
	if (!all)
		return ERR_TOOBIG;
	if (s->q.nclauses)
		memcpy(all, s->q.clauses, s->q.nclauses * sizeof *all);
	memcpy(all + s->q.nclauses, extra.clauses, extra.nclauses * sizeof *all);
	s->q.clauses = all;
	s->q.nclauses += extra.nclauses;
	return 0;
}

/* 1 when the search names a patient other than pid: a reference clause
 * (not chained) whose value is Patient/[other], or a bare id on a
 * parameter that can only point at a Patient (patient=B). Such a search is
 * refused rather than silently answered from the token's own compartment. */
static int srch_names_other_patient(const struct srch *s, const char *pid)
{
	for (size_t i = 0; i < s->q.nclauses; i++) {
		const search_clause *c = &s->q.clauses[i];
		const char *const *tg;
		int only_patient;
		if (!c->param || c->param->type != SEARCH_T_REFERENCE || c->chain || c->mod == SEARCH_MOD_IDENTIFIER)
			continue;
		tg = c->param->targets;
		only_patient = (tg && tg[0] && !strcmp(tg[0], "Patient") && !tg[1]) ||
			       (c->mod == SEARCH_MOD_TYPE && c->mod_type && !strcmp(c->mod_type, "Patient"));
		for (size_t v = 0; v < c->nv; v++) {
			const search_value *x = &c->v[v];
			int patient_ref;
			if (x->missing || !x->code)
				continue;
			patient_ref = x->sys ? !strcmp(x->sys, "Patient") : only_patient;
			if (patient_ref && strcmp(x->code, pid) != 0)
				return 1;
		}
	}
	return 0;
}

/* Narrows the search to what the access token allows, or refuses it:
 * 0, ERR_FORBIDDEN with *diag, ERR_TOOBIG. */
static int srch_access(struct srch *s, const search_limits *lim, const char **diag)
{
	fhir_req *fr = s->fr;
	auth_decision d;
	int rc;

	*diag = "The access token does not allow this search";
	if (fr->access.full)
		return 0;
	if (s->everything) {
		/* $everything: the token's own patient only, and only the types
		 * it may search without a constraint. */
		const char **types = arena_calloc(fr->http->arena, 200, sizeof *types);
		size_t n = 0;
		rc = auth_decide(&fr->access, fr->http->arena, "Patient", SCOPE_S, &d);
		if (rc)
			return rc;
		if (d.patient && strcmp(d.patient, s->comp_id) != 0)
			return ERR_FORBIDDEN;
		if (!types)
			return ERR_TOOBIG;
		for (size_t t = 0; search_compartment_types[t] && n < 200; t++) {
			const char *type = search_compartment_types[t];
			int asked = s->q.ntypes == 0;
			for (size_t i = 0; i < s->q.ntypes; i++)
				asked |= !strcmp(s->q.types[i], type);
			if (!asked || auth_decide(&fr->access, fr->http->arena, type, SCOPE_S, &d) || d.nconstraints ||
			    (d.patient && strcmp(d.patient, s->comp_id) != 0))
				continue;
			types[n++] = type;
		}
		if (!n)
			return ERR_FORBIDDEN;
		s->q.types = types;
		s->q.ntypes = n;
		return 0;
	}
	if (!s->rtype) {
		/* System level: every _type must be open to the token without a
		 * confinement or constraint (a per-type compartment restriction of
		 * a mixed search is not built); type-level search narrows. */
		if (!s->q.ntypes) {
			*diag = "Give _type, or search one resource type: this access token is limited to some types";
			return ERR_FORBIDDEN;
		}
		for (size_t i = 0; i < s->q.ntypes; i++) {
			rc = auth_decide(&fr->access, fr->http->arena, s->q.types[i], SCOPE_S, &d);
			if (rc)
				return rc;
			if (d.patient || d.nconstraints) {
				*diag = "This access token is limited to a patient: search one resource type at a time";
				return ERR_FORBIDDEN;
			}
		}
		return 0;
	}
	rc = auth_decide(&fr->access, fr->http->arena, s->rtype, SCOPE_S, &d);
	if (rc)
		return rc;
	if (d.patient) {
		s->confine = d.patient;
		if (s->comp_id && strcmp(s->comp_id, d.patient) != 0) {
			*diag = "The access token is limited to another patient";
			return ERR_FORBIDDEN;
		}
		if (srch_names_other_patient(s, d.patient)) {
			*diag = "The access token is limited to another patient";
			return ERR_FORBIDDEN;
		}
		if (!strcmp(s->rtype, "Patient")) {
			/* the patient's own record (not those that link to it) */
			const char *qs = arena_printf(fr->http->arena, "_id=%s", d.patient);
			s->comp_id = NULL;
			rc = qs ? srch_and(s, lim, qs) : ERR_TOOBIG;
			if (rc)
				return rc;
		} else {
			s->comp_id = d.patient;
		}
	}
	if (d.nconstraints > 1) {
		*diag = "Several granular scopes apply to this type; this server applies one per search";
		return ERR_FORBIDDEN;
	}
	if (d.nconstraints == 1)
		return srch_and(s, lim, d.constraints[0]);
	return 0;
}

/* Whether an included resource may be shown: by the same rules as a read
 * (search letter, or read). */
static int srch_may_include(struct srch *s, const store_version_t *v)
{
	if (s->fr->access.full)
		return 1;
	return fhir_access_see(s->fr, v, SCOPE_S) == 0 || fhir_access_see(s->fr, v, SCOPE_R) == 0;
}

/* _include of one resource: the targets of its reference parameters
 * (search.html#include), found by extracting its index rows again. */
static int srch_include_one(struct srch *s, const search_include *inc, const store_version_t *src,
			    struct srch_seen *seen, struct srch_list *out, size_t max, int *capped)
{
	json_t *r;
	search_rows rows = { 0 };
	int rc = 0;

	if ((inc->src_type && strcmp(inc->src_type, src->type) != 0) || !src->body)
		return 0;
	r = json_loadb(src->body, src->body_len, 0, NULL);
	if (!r)
		return 0;
	rc = search_extract(src->type, r, s->fr->app->cfg->base_url, &rows);
	json_decref(r);
	for (size_t i = 0; !rc && i < rows.n; i++) {
		const search_row *w = &rows.v[i];
		const search_param *p = &search_params[w->p];
		store_version_t v;
		int added;

		if (w->kind != SEARCH_ROW_REFERENCE || !w->sys || !*w->sys || !w->code)
			continue;
		if (inc->param ? p != inc->param : p->type != SEARCH_T_REFERENCE)
			continue;
		if (inc->target && strcmp(inc->target, w->sys) != 0)
			continue;
		if (!fhir_type_find(w->sys, strlen(w->sys)) || !valid_id(w->code, strlen(w->code)))
			continue;
		added = srch_seen_add(seen, w->sys, w->code);
		if (added < 0) {
			rc = added;
			break;
		}
		if (!added)
			continue;
		if (out->n >= max) {
			*capped = 1;
			break;
		}
		memset(&v, 0, sizeof v);
		if (store_read(s->fr->app->store, w->sys, w->code, &v) == 0 && srch_may_include(s, &v))
			rc = srch_list_push(out, &v);
		store_version_clear(&v);
	}
	search_rows_clear(&rows);
	return rc;
}

/* _revinclude of one resource: who refers to it through inc->param. */
static int srch_revinclude_one(struct srch *s, const search_include *inc, const store_version_t *dst,
			       struct srch_seen *seen, struct srch_list *out, size_t max, int *capped)
{
	uint32_t ids[512];
	size_t np = 0, first, n, got = 0, limit;
	store_version_t *items = NULL;
	int rc;

	if (inc->param) {
		ids[np++] = search_param_id(inc->param);
	} else if (inc->src_type) {
		search_params_of(inc->src_type, &first, &n);
		for (size_t i = first; i < first + n && np < 512; i++)
			if (search_params[i].type == SEARCH_T_REFERENCE)
				ids[np++] = (uint32_t)i;
		if (!np)
			return 0;
	}
	if (inc->target && strcmp(inc->target, dst->type) != 0)
		return 0;
	/* never read more than the cap still allows (+1 to notice the cut) */
	limit = max - (out->n < max ? out->n : max) + 1;
	rc = store_referrers(s->fr->app->store, ids, np, dst->type, dst->id, limit, &items, &got);
	if (!rc && got >= limit)
		*capped = 1;
	for (size_t i = 0; !rc && i < got; i++) {
		int added;
		/* "_revinclude=*": every referring type (np = 0: any reference
		 * parameter); otherwise only the named source type */
		if (inc->src_type && strcmp(items[i].type, inc->src_type) != 0)
			continue;
		if (!srch_may_include(s, &items[i]))
			continue;
		added = srch_seen_add(seen, items[i].type, items[i].id);
		if (added < 0)
			rc = added;
		else if (added && out->n >= max)
			*capped = 1;
		else if (added)
			rc = srch_list_push(out, &items[i]);
	}
	for (size_t i = 0; i < got; i++)
		store_version_clear(&items[i]);
	free(items);
	return rc;
}

/* All includes of a page: first the non-iterating ones over the matches,
 * then :iterate ones over matches and what was included so far, until
 * nothing new appears (bounded by the include cap). */
static int srch_includes(struct srch *s, const store_search_page *page, struct srch_list *out, int *capped)
{
	const search_query *q = &s->q;
	struct srch_seen seen = { 0 };
	size_t max = s->fr->app->cfg->search_include_max, done = 0;
	int rc = 0;

	if (!q->ninc)
		return 0;
	for (size_t i = 0; i < page->n && !rc; i++)
		rc = srch_seen_add(&seen, page->items[i].type, page->items[i].id) < 0 ? ERR_NOMEM : 0;
	for (size_t k = 0; k < q->ninc && !rc; k++)
		for (size_t i = 0; i < page->n && !rc && !*capped; i++)
			rc = q->inc[k].rev ? srch_revinclude_one(s, &q->inc[k], &page->items[i], &seen, out, max, capped)
					   : srch_include_one(s, &q->inc[k], &page->items[i], &seen, out, max, capped);
	/* :iterate over what was included, breadth first */
	for (unsigned round = 0; round < 8 && !rc && !*capped && done < out->n; round++) {
		size_t end = out->n;
		for (size_t k = 0; k < q->ninc && !rc; k++) {
			if (!q->inc[k].iterate)
				continue;
			for (size_t i = done; i < end && !rc && !*capped; i++) {
				/* a copy of the entry, not a pointer into out->v, which
				 * may move as includes are appended; the body it shares
				 * stays owned by out */
				store_version_t src = out->v[i];
				rc = q->inc[k].rev ? srch_revinclude_one(s, &q->inc[k], &src, &seen, out, max, capped)
						   : srch_include_one(s, &q->inc[k], &src, &seen, out, max, capped);
			}
		}
		done = end;
	}
	free(seen.key);
	return rc;
}

/* ---- the handler ----------------------------------------------------- */

static void srch_run(struct srch *s)
{
	fhir_req *fr = s->fr;
	const config_t *cfg = fr->app->cfg;
	search_limits lim = {
		.max_clauses = cfg->search_max_clauses,
		.max_values = cfg->search_max_values,
		.max_chain_depth = cfg->search_chain_depth,
		.max_includes = cfg->search_max_includes,
		.count_default = cfg->page_default,
		.count_max = cfg->page_max,
		.strict = srch_strict(fr),
		.base = cfg->base_url,
	};
	store_search_q sq;
	store_search_page page;
	store_pos after;
	struct srch_list inc = { 0 };
	char why[256], *body = NULL, lu[40];
	const http_param *params;
	size_t nparams, blen;
	buf_t b;
	int rc, backward = 0, first, capped = 0, have_after = 0;
	struct timespec ts;

	memset(&page, 0, sizeof page);
	memset(&after, 0, sizeof after);
	buf_init(&b, SRCH_BODY_MAX);
	why[0] = '\0';
	rc = srch_check_form(fr);
	if (rc) {
		fhir_send_error(fr, rc, "POST _search takes an application/x-www-form-urlencoded body", NULL);
		goto out;
	}
	rc = srch_params(fr, &params, &nparams);
	if (rc) {
		fhir_send_error(fr, rc, rc == ERR_INVALID ? "Malformed form body" : NULL, NULL);
		goto out;
	}
	rc = search_query_parse_params(fr->http->arena, s->rtype, params, nparams, &lim, &s->q, why, sizeof why);
	if (rc == ERR_NOMEM)
		rc = ERR_TOOBIG; /* the request arena's cap: a query too big to hold */
	if (rc) {
		fhir_send_error(fr, rc, why[0] ? why : "Invalid search", NULL);
		goto out;
	}
	{
		const char *diag;
		rc = srch_access(s, &lim, &diag);
		if (rc) {
			fhir_send_error(fr, rc, rc == ERR_FORBIDDEN ? diag : NULL, NULL);
			goto out;
		}
	}
	srch_digest(s);
	if (s->q.cursor) {
		if (srch_cursor_parse(s, s->q.cursor, &after, &backward)) {
			fhir_send_error(fr, ERR_INVALID, "Invalid or expired paging cursor", "_cursor");
			goto out;
		}
		have_after = 1;
	}

	memset(&sq, 0, sizeof sq);
	sq.q = &s->q;
	sq.comp_id = s->comp_id;
	sq.confine = s->confine;
	sq.everything = s->everything;
	sq.after = have_after ? &after : NULL;
	sq.backward = backward;
	sq.count = s->q.summary == SEARCH_SUMMARY_COUNT ? 0 : s->q.count;
	sq.want_total = s->q.summary == SEARCH_SUMMARY_COUNT || s->q.total == SEARCH_TOTAL_ACCURATE ||
			s->q.total == SEARCH_TOTAL_ESTIMATE;
	rc = store_search(fr->app->store, &sq, &page, why, sizeof why);
	if (rc) {
		fhir_send_error(fr, rc, why[0] ? why : NULL, NULL);
		goto out;
	}
	/* The total is cheap when everything fit on the first page. */
	if (page.total < 0 && !have_after && !page.has_more && s->q.total != SEARCH_TOTAL_NONE &&
	    sq.count > 0)
		page.total = (int64_t)page.n;
	rc = srch_includes(s, &page, &inc, &capped);
	if (rc) {
		fhir_send_error(fr, rc, NULL, NULL);
		goto out;
	}

	clock_gettime(CLOCK_REALTIME, &ts);
	valid_instant_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, lu);
	{
		char id[37];
		if (fhir_write_new_id(id)) {
			fhir_send_error(fr, ERR_INTERNAL, NULL, NULL);
			goto out;
		}
		rc = buf_printf(&b,
				"{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"meta\":{\"lastUpdated\":\"%s\"},"
				"\"type\":\"searchset\"",
				id, lu);
	}
	if (!rc && page.total >= 0)
		rc = buf_printf(&b, ",\"total\":%" PRId64, page.total);
	if (!rc)
		rc = buf_append_str(&b, ",\"link\":[");
	first = 1;
	if (!rc)
		rc = srch_link(s, &b, &first, "self", NULL);
	/* next: after the last row in result order; previous: before the first.
	 * Going backward, "more" means more rows before this page. */
	if (!rc && page.n > 0 && (backward ? 1 : page.has_more)) {
		const char *c = srch_cursor_make(s, &page.pos[page.n - 1], 'n');
		rc = c ? srch_link(s, &b, &first, "next", c) : ERR_NOMEM;
	}
	if (!rc && page.n > 0 && (backward ? page.has_more : have_after)) {
		const char *c = srch_cursor_make(s, &page.pos[0], 'p');
		rc = c ? srch_link(s, &b, &first, "previous", c) : ERR_NOMEM;
	}
	if (!rc)
		rc = buf_append_char(&b, ']');
	if (!rc && (page.n || inc.n || capped)) {
		first = 1;
		rc = buf_append_str(&b, ",\"entry\":[");
		for (size_t i = 0; !rc && i < page.n; i++)
			rc = srch_entry(s, &b, &first, &page.items[i], "match");
		for (size_t i = 0; !rc && i < inc.n; i++)
			rc = srch_entry(s, &b, &first, &inc.v[i], "include");
		if (!rc && capped) {
			json_t *oo = fhir_outcome_new("warning", "too-costly",
						      "More resources matched _include/_revinclude than the server "
						      "returns in one page (search_include_max); some are left out",
						      NULL);
			char *t = oo ? json_dumps(oo, JSON_COMPACT) : NULL;
			json_decref(oo);
			rc = t ? buf_printf(&b, "%s{\"resource\":%s,\"search\":{\"mode\":\"outcome\"}}", first ? "" : ",",
					    t)
			       : ERR_NOMEM;
			free(t);
		}
		if (!rc)
			rc = buf_append_char(&b, ']');
	}
	if (!rc)
		rc = buf_append_char(&b, '}');
	if (rc) {
		fhir_send_error(fr, rc, NULL, NULL);
		goto out;
	}
	body = buf_detach(&b, &blen);
	if (!body) {
		fhir_send_error(fr, ERR_NOMEM, NULL, NULL);
		goto out;
	}
	fhir_send_body(fr, 200, body, blen);
	body = NULL;
out:
	free(body);
	buf_fini(&b);
	store_search_page_clear(&page);
	store_pos_clear(&after);
	srch_list_clear(&inc);
}

void fhir_search(fhir_req *fr)
{
	struct srch s;

	memset(&s, 0, sizeof s);
	s.fr = fr;
	switch (fr->route.interaction) {
	case FHIR_I_SEARCH_TYPE:
		s.rtype = fr->route.type->name;
		s.path = s.rtype;
		break;
	case FHIR_I_SEARCH_COMPARTMENT:
		s.rtype = fr->route.ctype->name;
		s.comp_id = fr->route.id;
		if (strcmp(s.rtype, "Patient") != 0 && !search_compartment_params(s.rtype)) {
			fhir_send_error(fr, ERR_NOTFOUND, "This resource type is not in the Patient compartment", NULL);
			return;
		}
		s.path = arena_printf(fr->http->arena, "Patient/%s/%s", fr->route.id, s.rtype);
		break;
	default:
		s.path = "";
		break;
	}
	if (!s.path) {
		fhir_send_error(fr, ERR_NOMEM, NULL, NULL);
		return;
	}
	srch_run(&s);
}

void fhir_everything(fhir_req *fr)
{
	struct srch s;
	store_version_t v;
	int rc;

	/* Another patient's $everything is refused from the URL alone, before
	 * the lookup, so a confined token cannot tell which ids exist. */
	rc = fhir_access_url(fr);
	if (rc) {
		fhir_send_error(fr, rc, "The access token is limited to another patient", NULL);
		return;
	}
	/* $everything of a patient that does not exist is a 404. */
	memset(&v, 0, sizeof v);
	rc = store_read(fr->app->store, "Patient", fr->route.id, &v);
	store_version_clear(&v);
	if (rc) {
		fhir_send_error(fr, rc, rc == ERR_NOTFOUND ? "Resource not found" : NULL, NULL);
		return;
	}
	memset(&s, 0, sizeof s);
	s.fr = fr;
	s.comp_id = fr->route.id;
	s.everything = 1;
	s.path = arena_printf(fr->http->arena, "Patient/%s/$everything", fr->route.id);
	if (!s.path) {
		fhir_send_error(fr, ERR_NOMEM, NULL, NULL);
		return;
	}
	srch_run(&s);
}
