/*
 * rest.c - the instance interactions of hl7.org/fhir/R4/http.html:
 * read, vread, create, update, delete.
 *
 * Writes share one shape: parse and check the body, put it in canonical
 * form (resourceType, id, meta first; server-owned meta values dropped),
 * hand a store_op to the store, and answer from the version it wrote.
 * meta.versionId and meta.lastUpdated are filled in by the render callback
 * inside the store's transaction, so they are exactly what was stored.
 */
#include "fhir.h"

#include "auth/scope.h"
#include "core/err.h"
#include "core/valid.h"
#include "http/url.h"
#include "jsonpatch.h"
#include "write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum prefer_return { PREFER_REPRESENTATION, PREFER_MINIMAL, PREFER_OUTCOME };

/* Prefer: return=... (http.html#ops, RFC 7240). Unknown values are ignored. */
static enum prefer_return rest_prefer(const fhir_req *fr)
{
	const char *p = http_request_header(fr->http, "Prefer");
	if (!p)
		return PREFER_REPRESENTATION;
	if (strstr(p, "return=minimal"))
		return PREFER_MINIMAL;
	if (strstr(p, "return=OperationOutcome"))
		return PREFER_OUTCOME;
	return PREFER_REPRESENTATION;
}


/* The answer to a successful create/update (http.html#create, #update). */
static void rest_write_response(fhir_req *fr, store_op_t *op, int status)
{
	enum prefer_return pref = rest_prefer(fr);

	/* Location on every successful write: it names the version written
	 * (required for 201, http.html#create; useful for 200 and in Bundles) */
	fhir_version_headers(fr, &op->result, 1);
	if (pref == PREFER_MINIMAL) {
		fr->resp->status = status;
	} else if (pref == PREFER_OUTCOME) {
		json_t *oo = fhir_outcome_new("information", "informational",
					      status == 201 ? "Resource created" : "Resource updated", NULL);
		if (oo) {
			fhir_send_json(fr, status, oo);
			json_decref(oo);
		} else {
			fr->resp->status = status;
		}
	} else {
		char *body = op->result.body;
		op->result.body = NULL;
		fhir_send_body(fr, status, body, op->result.body_len);
	}
}

static int rest_if_match(fhir_req *fr, int64_t *out)
{
	const char *im = http_request_header(fr->http, "If-Match");
	*out = 0;
	if (!im)
		return 0;
	if (fhir_etag_parse(im, out)) {
		fhir_send_error(fr, ERR_INVALID, "If-Match must be a version ETag such as W/\"3\"", NULL);
		return ERR_INVALID;
	}
	return 0;
}

/* Criteria of a conditional interaction: the If-None-Exist header for
 * create (http.html#ccreate), the URL's query for update/delete. */
static int rest_cond(fhir_req *fr, int from_header, store_cond *c, int *present)
{
	const char *diag = NULL, *h;
	http_param *ps = fr->http->params;
	size_t n = fr->http->nparams;
	int rc;

	*present = 0;
	if (from_header) {
		h = http_request_header(fr->http, "If-None-Exist");
		if (!h)
			return 0;
		/* the header holds the query part of a search URL */
		if (*h == '?')
			h++;
		rc = http_query_parse(fr->http->arena, h, strlen(h), 64, &ps, &n);
		if (rc) {
			fhir_send_error(fr, ERR_INVALID, "Malformed If-None-Exist", NULL);
			return ERR_INVALID;
		}
	}
	rc = fhir_cond_parse(fr->http->arena, fr->route.type->name, fr->app->cfg->base_url, ps, n, c, &diag);
	if (rc) {
		fhir_send_error(fr, rc, diag, NULL);
		return rc;
	}
	*present = 1;
	return 0;
}

static void rest_write(fhir_req *fr, enum store_op_kind kind)
{
	json_t *body = NULL;
	fhir_write w;
	fhir_issue issue;
	const char *diag = NULL, *id = fr->route.id, *bid;
	store_cond cond;
	int rc, has_cond = 0, status;

	memset(&w, 0, sizeof w);
	rc = fhir_format_parse_body(fr, &body, &diag);
	if (rc) {
		fhir_send_error(fr, rc, diag, NULL);
		goto out;
	}
	rc = fhir_write_check(body, fr->route.type, &issue);
	if (rc) {
		fhir_send_error(fr, rc, issue.message[0] ? issue.message : NULL,
				issue.expression[0] ? issue.expression : NULL);
		goto out;
	}
	bid = json_string_value(json_object_get(body, "id"));
	if (kind == STORE_OP_CREATE) {
		/* http.html#create: a client id is ignored; the server assigns one. */
		id = NULL;
		if (rest_cond(fr, 1, &cond, &has_cond))
			goto out;
	} else if (!id) {
		/* conditional update (http.html#cond-update): the match decides the
		 * id; a body id must agree with it; no match creates */
		if (rest_cond(fr, 0, &cond, &has_cond))
			goto out;
		if (bid && !valid_id(bid, strlen(bid))) {
			fhir_send_error(fr, ERR_INVALID, "Invalid id in the resource", "id");
			goto out;
		}
		id = bid;
	} else {
		/* http.html#update: the body SHALL have an id equal to the URL's. */
		if (!bid) {
			fhir_send_error(fr, ERR_INVALID, "The resource must have an id for update", "id");
			goto out;
		}
		if (strcmp(bid, id) != 0) {
			fhir_send_error(fr, ERR_INVALID, "The id in the resource does not match the URL", "id");
			goto out;
		}
	}
	rc = fhir_write_prepare(&w, kind, fr->route.type, id, body, fr->app->cfg->base_url);
	if (rc) {
		fhir_send_error(fr, rc, NULL, NULL);
		goto out;
	}
	if (kind == STORE_OP_UPDATE && rest_if_match(fr, &w.op.if_match))
		goto out;
	if (has_cond) {
		w.cond = cond;
		w.op.cond = &w.cond;
		w.op.id_fixed = bid != NULL && kind == STORE_OP_UPDATE;
	}
	rc = fhir_access_write(fr, fr->route.type->name, kind == STORE_OP_CREATE ? SCOPE_C : SCOPE_U, &w, &w.op,
			       has_cond ? &w.cond : NULL, &diag);
	if (rc) {
		fhir_send_error(fr, rc, diag, NULL);
		goto out;
	}
	rc = store_commit(fr->app->store, &w.op, 1, 1);
	if (rc) {
		if (rc == ERR_PRECONDITION && w.op.matches > 1)
			diag = "The search criteria matched more than one resource";
		else if (rc == ERR_PRECONDITION)
			diag = "The resource's current version does not match If-Match";
		else if (rc == ERR_INVALID)
			diag = "The id in the resource does not match the resource found by the criteria";
		else if (rc == ERR_FORBIDDEN)
			diag = "The resource being replaced is outside the access token's patient compartment";
		fhir_send_error(fr, rc, diag, NULL);
		goto out;
	}
	if (w.op.noop) {
		/* conditional create matched one: 200 with the existing resource */
		status = 200;
		fhir_version_headers(fr, &w.op.result, 1);
		if (rest_prefer(fr) == PREFER_MINIMAL) {
			fr->resp->status = 200;
		} else {
			char *b = w.op.result.body;
			w.op.result.body = NULL;
			fhir_send_body(fr, status, b, w.op.result.body_len);
		}
		goto out;
	}
	rest_write_response(fr, &w.op, w.op.created ? 201 : 200);
out:
	fhir_write_fini(&w);
	json_decref(body);
}

void fhir_rest_create(fhir_req *fr)
{
	rest_write(fr, STORE_OP_CREATE);
}

void fhir_rest_update(fhir_req *fr)
{
	rest_write(fr, STORE_OP_UPDATE);
}

void fhir_rest_delete(fhir_req *fr)
{
	store_op_t op;
	store_cond cond;
	int rc, has_cond = 0;

	memset(&op, 0, sizeof op);
	if (rest_if_match(fr, &op.if_match))
		return;
	if (!fr->route.id) {
		/* conditional delete (http.html#cdelete) */
		if (rest_cond(fr, 0, &cond, &has_cond))
			return;
		op.cond = &cond;
		op.cond_multiple = fr->app->cfg->conditional_delete_multiple;
	}
	op.kind = STORE_OP_DELETE;
	op.type = fr->route.type->name;
	op.id = fr->route.id;
	op.method = "DELETE";
	{
		const char *diag = NULL;
		rc = fhir_access_write(fr, op.type, SCOPE_D, NULL, &op, has_cond ? &cond : NULL, &diag);
		if (rc) {
			fhir_send_error(fr, rc, diag, NULL);
			goto out;
		}
	}
	rc = store_commit(fr->app->store, &op, 1, 1);
	if (rc) {
		fhir_send_error(fr, rc,
				rc == ERR_PRECONDITION && op.matches > 1
					? "The search criteria matched more than one resource"
					: NULL,
				NULL);
		goto out;
	}
	/* http.html#delete: 204 whether or not there was something to delete,
	 * so that deleting is idempotent. */
	if (!op.noop && op.result.vid > 0) {
		const char *etag = arena_printf(fr->http->arena, "W/\"%lld\"", (long long)op.result.vid);
		if (etag)
			http_response_header(fr->resp, "ETag", etag);
	}
	fr->resp->status = 204;
out:
	store_version_clear(&op.result);
}

/* RFC 9110 13.1.2 / 13.1.3 for read: If-None-Match wins over
 * If-Modified-Since when both are present. */
static int rest_not_modified(fhir_req *fr, const store_version_t *v)
{
	const char *inm = http_request_header(fr->http, "If-None-Match");
	const char *ims = http_request_header(fr->http, "If-Modified-Since");

	if (inm) {
		for (const char *p = inm; *p;) {
			size_t n;
			int64_t vid;
			char tag[32];
			while (*p == ' ' || *p == ',')
				p++;
			n = strcspn(p, ",");
			if (n == 1 && *p == '*')
				return 1;
			if (n > 0 && n < sizeof tag) {
				memcpy(tag, p, n);
				tag[n] = '\0';
				if (fhir_etag_parse(tag, &vid) == 0 && vid == v->vid)
					return 1;
			}
			p += n;
		}
		return 0;
	}
	if (ims) {
		time_t t;
		if (valid_http_date_parse(ims, &t) == 0 && (int64_t)v->updated_us / 1000000 <= (int64_t)t)
			return 1;
	}
	return 0;
}

static void rest_read_common(fhir_req *fr, int is_vread)
{
	store_version_t v;
	int rc;

	memset(&v, 0, sizeof v);
	rc = fhir_access_url(fr);
	if (rc) {
		fhir_send_error(fr, rc, "The access token does not allow this resource", NULL);
		goto out;
	}
	rc = is_vread ? store_vread(fr->app->store, fr->route.type->name, fr->route.id, fr->route.vid, &v)
		      : store_read(fr->app->store, fr->route.type->name, fr->route.id, &v);
	/* A confined token sees a resource outside its compartment, or a
	 * deleted one, exactly as a missing one (no probing of ids). */
	if ((rc == 0 || rc == ERR_GONE) && !fr->access.full) {
		int arc = fhir_access_see(fr, &v, SCOPE_R);
		if (arc == ERR_NOTFOUND)
			rc = ERR_NOTFOUND;
		else if (arc) {
			fhir_send_error(fr, arc, arc == ERR_FORBIDDEN ? "The access token does not allow this resource" : NULL,
					NULL);
			goto out;
		}
	}
	if (rc == ERR_GONE) {
		fhir_version_headers(fr, &v, 0);
		fhir_send_error(fr, rc, "The resource has been deleted", NULL);
		goto out;
	}
	if (rc) {
		/* type and id passed the syntax checks: safe to echo */
		const char *msg = NULL;
		if (rc == ERR_NOTFOUND)
			msg = is_vread ? arena_printf(fr->http->arena, "Version %lld of %s/%s not found",
						      (long long)fr->route.vid, fr->route.type->name, fr->route.id)
				       : arena_printf(fr->http->arena, "Resource %s/%s not found", fr->route.type->name,
						      fr->route.id);
		fhir_send_error(fr, rc, msg, NULL);
		goto out;
	}
	fhir_version_headers(fr, &v, 0);
	if (!is_vread && rest_not_modified(fr, &v)) {
		fr->resp->status = 304;
		goto out;
	}
	fhir_send_body(fr, 200, v.body, v.body_len);
	v.body = NULL;
out:
	store_version_clear(&v);
}

void fhir_rest_read(fhir_req *fr)
{
	rest_read_common(fr, 0);
}

void fhir_rest_vread(fhir_req *fr)
{
	rest_read_common(fr, 1);
}

/* PATCH with a JSON Patch document (http.html#patch, RFC 6902). The
 * patched resource is checked and written like an update, guarded by the
 * version it was computed from, so a concurrent update can never be lost:
 * without If-Match the patch is recomputed on the newer version. */
void fhir_rest_patch(fhir_req *fr)
{
	const char *ct = http_request_header(fr->http, "Content-Type"), *diag = NULL;
	json_t *patch = NULL, *doc = NULL, *orig = NULL;
	store_version_t cur;
	fhir_write w;
	fhir_issue issue;
	int64_t if_match = 0;
	char pdiag[200];
	int rc, attempt;

	memset(&cur, 0, sizeof cur);
	memset(&w, 0, sizeof w);
	if (!ct || strncasecmp(ct, "application/json-patch+json", 27) != 0) {
		fhir_send_error(fr, ERR_MEDIATYPE,
				"PATCH needs Content-Type application/json-patch+json (FHIRPath Patch is not supported)",
				NULL);
		return;
	}
	if (rest_if_match(fr, &if_match))
		return;
	rc = fhir_json_parse_any(fr->http->body, fr->http->body_len, fr->app->cfg->max_json_depth, fr->http->arena,
				 &patch, &diag);
	if (rc) {
		fhir_send_error(fr, rc, diag, NULL);
		return;
	}
	for (attempt = 0; attempt < 5; attempt++) {
		const char *id, *rt, *vid;
		char want[24];

		store_version_clear(&cur);
		json_decref(doc);
		doc = NULL;
		fhir_write_fini(&w);
		rc = store_read(fr->app->store, fr->route.type->name, fr->route.id, &cur);
		if (rc == 0 && !fr->access.full) {
			/* nothing of another patient's resource may come back, not
			 * even a patch error about its content */
			rc = fhir_access_see(fr, &cur, SCOPE_U);
			if (rc == ERR_FORBIDDEN)
				rc = ERR_NOTFOUND;
		}
		if (rc) {
			fhir_send_error(fr, rc, rc == ERR_NOTFOUND ? "Resource not found" : NULL, NULL);
			goto out;
		}
		if (if_match && if_match != cur.vid) {
			fhir_send_error(fr, ERR_PRECONDITION, "The resource's current version does not match If-Match",
					NULL);
			goto out;
		}
		json_decref(orig);
		orig = json_loadb(cur.body, cur.body_len, 0, NULL);
		doc = orig ? json_deep_copy(orig) : NULL;
		if (!doc) {
			fhir_send_error(fr, ERR_INTERNAL, NULL, NULL);
			goto out;
		}
		pdiag[0] = '\0';
		rc = fhir_jsonpatch_apply(&doc, patch, pdiag, sizeof pdiag);
		if (rc) {
			/* http.html#patch: a patch that cannot be applied, or whose
			 * test fails, is unprocessable (422); a malformed one is 400 */
			fhir_send_error(fr, rc == ERR_PRECONDITION ? ERR_UNPROCESSABLE : rc, pdiag[0] ? pdiag : NULL,
					NULL);
			goto out;
		}
		/* Server-owned identity may not be patched. */
		id = json_string_value(json_object_get(doc, "id"));
		rt = json_string_value(json_object_get(doc, "resourceType"));
		vid = json_string_value(json_object_get(json_object_get(doc, "meta"), "versionId"));
		snprintf(want, sizeof want, "%lld", (long long)cur.vid);
		if (!id || strcmp(id, fr->route.id) || !rt || strcmp(rt, fr->route.type->name) || !vid ||
		    strcmp(vid, want)) {
			fhir_send_error(fr, ERR_INVALID, "A patch may not change id, resourceType or meta.versionId",
					NULL);
			goto out;
		}
		if (json_equal(doc, orig)) {
			/* nothing changed (e.g. an empty patch): no new version */
			char *b = cur.body;
			cur.body = NULL;
			fhir_version_headers(fr, &cur, 1);
			fhir_send_body(fr, 200, b, cur.body_len);
			goto out;
		}
		rc = fhir_write_check(doc, fr->route.type, &issue);
		if (rc) {
			fhir_send_error(fr, rc, issue.message[0] ? issue.message : NULL,
					issue.expression[0] ? issue.expression : NULL);
			goto out;
		}
		rc = fhir_write_prepare(&w, STORE_OP_UPDATE, fr->route.type, fr->route.id, doc, fr->app->cfg->base_url);
		if (rc) {
			fhir_send_error(fr, rc, NULL, NULL);
			goto out;
		}
		w.op.if_match = cur.vid;
		rc = fhir_access_write(fr, fr->route.type->name, SCOPE_U, &w, &w.op, NULL, &diag);
		if (rc) {
			fhir_send_error(fr, rc, diag, NULL);
			goto out;
		}
		rc = store_commit(fr->app->store, &w.op, 1, 1);
		if (rc == ERR_PRECONDITION && !if_match)
			continue; /* someone wrote in between: patch the newer version */
		if (rc) {
			fhir_send_error(fr, rc, NULL, NULL);
			goto out;
		}
		rest_write_response(fr, &w.op, 200);
		goto out;
	}
	fhir_send_error(fr, ERR_CONFLICT, "The resource kept changing; retry the patch", NULL);
out:
	fhir_write_fini(&w);
	store_version_clear(&cur);
	json_decref(doc);
	json_decref(orig);
	json_decref(patch);
}
