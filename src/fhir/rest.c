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

#include "core/err.h"
#include "core/valid.h"
#include "stamp.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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

/* Parses an entity tag W/"n" (or "n") into n > 0. ERR_INVALID otherwise. */
static int rest_etag_parse(const char *s, int64_t *out)
{
	char *end;
	long long v;
	size_t n;

	while (*s == ' ')
		s++;
	if (strncmp(s, "W/", 2) == 0)
		s += 2;
	n = strlen(s);
	while (n && s[n - 1] == ' ')
		n--;
	if (n < 3 || s[0] != '"' || s[n - 1] != '"' || s[1] < '1' || s[1] > '9' || n > 20)
		return ERR_INVALID;
	v = strtoll(s + 1, &end, 10);
	if (end != s + n - 1)
		return ERR_INVALID;
	*out = v;
	return 0;
}

/* A version 4 UUID from the OS's randomness: unguessable, fits the id syntax. */
static int rest_new_id(char out[37])
{
	unsigned char r[16];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		return ERR_INTERNAL;
	r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
		 r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	return 0;
}

/* Checks the parsed body: resourceType known and equal to the URL's type,
 * then baseline validation. Sends the error itself; returns non-zero then. */
static int rest_check_body(fhir_req *fr, json_t *res)
{
	const char *rt = json_string_value(json_object_get(res, "resourceType"));
	fhir_issue issue;
	int rc;

	if (!rt) {
		fhir_send_error(fr, ERR_INVALID, "The resource has no resourceType", NULL);
		return ERR_INVALID;
	}
	if (!fhir_type_find(rt, strlen(rt))) {
		fhir_send_error(fr, ERR_INVALID, "Unknown resourceType", "resourceType");
		return ERR_INVALID;
	}
	if (strcmp(rt, fr->route.type->name) != 0) {
		fhir_send_error(fr, ERR_INVALID, "resourceType does not match the type in the URL", "resourceType");
		return ERR_INVALID;
	}
	memset(&issue, 0, sizeof issue);
	rc = fhir_validate_resource(res, fr->route.type, &issue);
	if (rc) {
		fhir_send_error(fr, issue.err ? issue.err : rc, issue.message[0] ? issue.message : NULL,
				issue.expression[0] ? issue.expression : NULL);
		return rc;
	}
	return 0;
}

/* The answer to a successful create/update (http.html#create, #update). */
static void rest_write_response(fhir_req *fr, store_op_t *op, int status)
{
	enum prefer_return pref = rest_prefer(fr);

	fhir_version_headers(fr, &op->result, status == 201);
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
	if (rest_etag_parse(im, out)) {
		fhir_send_error(fr, ERR_INVALID, "If-Match must be a version ETag such as W/\"3\"", NULL);
		return ERR_INVALID;
	}
	return 0;
}

static void rest_write(fhir_req *fr, enum store_op_kind kind)
{
	json_t *body = NULL;
	fhir_stamp stamp = { 0 };
	const char *diag = NULL;
	char newid[37];
	const char *id = fr->route.id;
	store_op_t op;
	int rc;

	memset(&op, 0, sizeof op);
	rc = fhir_format_parse_body(fr, &body, &diag);
	if (rc) {
		fhir_send_error(fr, rc, diag, NULL);
		goto out;
	}
	if (rest_check_body(fr, body))
		goto out;
	if (kind == STORE_OP_CREATE) {
		/* http.html#create: a client id is ignored; the server assigns one. */
		if (rest_new_id(newid)) {
			fhir_send_error(fr, ERR_INTERNAL, NULL, NULL);
			goto out;
		}
		id = newid;
	} else {
		/* http.html#update: the body SHALL have an id equal to the URL's. */
		const char *bid = json_string_value(json_object_get(body, "id"));
		if (!bid) {
			fhir_send_error(fr, ERR_INVALID, "The resource must have an id for update", "id");
			goto out;
		}
		if (strcmp(bid, id) != 0) {
			fhir_send_error(fr, ERR_INVALID, "The id in the resource does not match the URL", "id");
			goto out;
		}
		if (rest_if_match(fr, &op.if_match))
			goto out;
	}
	rc = fhir_stamp_prepare(body, fr->route.type->name, id, &stamp);
	if (rc) {
		fhir_send_error(fr, rc, NULL, NULL);
		goto out;
	}
	op.kind = kind;
	op.type = fr->route.type->name;
	op.id = id;
	op.render = fhir_stamp_render;
	op.render_ctx = &stamp;
	op.method = kind == STORE_OP_CREATE ? "POST" : "PUT";
	rc = store_commit(fr->app->store, &op, 1, 1);
	if (rc) {
		fhir_send_error(fr, rc,
				rc == ERR_PRECONDITION ? "The resource's current version does not match If-Match" : NULL,
				NULL);
		goto out;
	}
	rest_write_response(fr, &op, op.created ? 201 : 200);
out:
	store_version_clear(&op.result);
	fhir_stamp_fini(&stamp);
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
	int rc;

	memset(&op, 0, sizeof op);
	if (rest_if_match(fr, &op.if_match))
		return;
	op.kind = STORE_OP_DELETE;
	op.type = fr->route.type->name;
	op.id = fr->route.id;
	op.method = "DELETE";
	rc = store_commit(fr->app->store, &op, 1, 1);
	if (rc) {
		fhir_send_error(fr, rc, NULL, NULL);
		goto out;
	}
	/* http.html#delete: 204 whether or not there was something to delete,
	 * so that deleting is idempotent. */
	if (!op.noop) {
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
				if (rest_etag_parse(tag, &vid) == 0 && vid == v->vid)
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
	rc = is_vread ? store_vread(fr->app->store, fr->route.type->name, fr->route.id, fr->route.vid, &v)
		      : store_read(fr->app->store, fr->route.type->name, fr->route.id, &v);
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
