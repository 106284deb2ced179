/*
 * route.c - from method and path segments to a FHIR interaction
 * (hl7.org/fhir/R4/http.html, the URL patterns of each interaction).
 *
 *   []                              POST batch/transaction, GET search-system
 *   [metadata]                      GET capabilities
 *   [_history]                      GET history-system
 *   [$op]                           operation
 *   [Type]                          POST create, GET search-type,
 *                                   PUT / DELETE with criteria: conditional
 *   [Type, _search]                 POST search-type
 *   [Type, _history]                GET history-type
 *   [Type, $op]                     operation
 *   [Type, id]                      GET read, PUT update, DELETE delete, PATCH patch
 *   [Type, id, _history]            GET history-instance
 *   [Type, id, _history, vid]       GET vread
 *   [Type, id, $op]                 operation
 * HEAD is GET without a body (RFC 9110 9.3.2; libmicrohttpd drops the body).
 */
#include "fhir.h"

#include "core/err.h"
#include "core/valid.h"

#include <stdlib.h>
#include <string.h>

static int route_is(const char *m, const char *want)
{
	return strcmp(m, want) == 0;
}

/* RFC 9110 15.5.6: a 405 lists the methods the target does support. */
static int route_refuse(fhir_route *out, const char *allow)
{
	out->allow = allow;
	return ERR_METHOD;
}

/* Search criteria in the query: parameters other than the format ones. */
static int route_has_criteria(const http_request *req)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, "_format") && strcmp(req->params[i].name, "_pretty"))
			return 1;
	return 0;
}

#define ALLOW_READ "GET, HEAD"
#define ALLOW_TYPE "GET, HEAD, POST"
#define ALLOW_INSTANCE "GET, HEAD, PUT, PATCH, DELETE"


int fhir_route_parse(const fhir_app *app, const http_request *req, fhir_route *out)
{
	const char *bp = app->cfg->base_path;
	char **seg = req->segments;
	size_t n = req->nsegments, skip = 0;
	const char *m = req->method;
	int get = route_is(m, "GET") || route_is(m, "HEAD");

	memset(out, 0, sizeof *out);
	/* Strip the base path's segments ("/fhir" -> one segment). */
	for (const char *p = bp; *p;) {
		const char *s;
		size_t l;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = p;
		l = strcspn(p, "/");
		if (skip >= n || strlen(seg[skip]) != l || strncmp(seg[skip], s, l) != 0)
			return ERR_NOTFOUND;
		skip++;
		p += l;
	}
	seg += skip;
	n -= skip;

	if (n == 0) {
		if (route_is(m, "POST"))
			out->interaction = FHIR_I_BATCH;
		else if (get)
			out->interaction = FHIR_I_SEARCH_SYSTEM;
		else
			return route_refuse(out, ALLOW_TYPE);
		return 0;
	}
	if (seg[0][0] == '$') {
		out->interaction = FHIR_I_OPERATION;
		out->operation = seg[0];
		return n == 1 ? 0 : ERR_NOTFOUND;
	}
	if (n == 1 && route_is(seg[0], "metadata")) {
		if (!get)
			return route_refuse(out, ALLOW_READ);
		out->interaction = FHIR_I_CAPABILITIES;
		return 0;
	}
	if (n == 1 && route_is(seg[0], "_search")) {
		if (!route_is(m, "POST"))
			return route_refuse(out, "POST");
		out->interaction = FHIR_I_SEARCH_SYSTEM;
		return 0;
	}
	if (n == 1 && route_is(seg[0], "_history")) {
		if (!get)
			return route_refuse(out, ALLOW_READ);
		out->interaction = FHIR_I_HISTORY_SYSTEM;
		return 0;
	}
	out->type = fhir_type_find(seg[0], strlen(seg[0]));
	if (!out->type)
		return ERR_NOTFOUND;
	if (n == 1) {
		if (route_is(m, "POST"))
			out->interaction = FHIR_I_CREATE;
		else if (get)
			out->interaction = FHIR_I_SEARCH_TYPE;
		else if (route_has_criteria(req) && route_is(m, "PUT"))
			out->interaction = FHIR_I_UPDATE; /* conditional: id stays NULL */
		else if (route_has_criteria(req) && route_is(m, "DELETE"))
			out->interaction = FHIR_I_DELETE;
		else
			return route_refuse(out, ALLOW_TYPE);
		return 0;
	}
	if (n == 2 && route_is(seg[1], "_search")) {
		if (!route_is(m, "POST"))
			return route_refuse(out, "POST");
		out->interaction = FHIR_I_SEARCH_TYPE;
		return 0;
	}
	if (n == 2 && route_is(seg[1], "_history")) {
		if (!get)
			return route_refuse(out, ALLOW_READ);
		out->interaction = FHIR_I_HISTORY_TYPE;
		return 0;
	}
	if (seg[1][0] == '$') {
		if (n != 2)
			return ERR_NOTFOUND;
		out->interaction = FHIR_I_OPERATION;
		out->operation = seg[1];
		return 0;
	}
	if (!valid_id(seg[1], strlen(seg[1])))
		return ERR_INVALID;
	out->id = seg[1];
	if (n == 2) {
		if (get)
			out->interaction = FHIR_I_READ;
		else if (route_is(m, "PUT"))
			out->interaction = FHIR_I_UPDATE;
		else if (route_is(m, "DELETE"))
			out->interaction = FHIR_I_DELETE;
		else if (route_is(m, "PATCH"))
			out->interaction = FHIR_I_PATCH;
		else
			return route_refuse(out, ALLOW_INSTANCE);
		return 0;
	}
	if (seg[2][0] == '$') {
		if (n != 3)
			return ERR_NOTFOUND;
		out->interaction = FHIR_I_OPERATION;
		out->operation = seg[2];
		return 0;
	}
	if (n == 3 && !route_is(seg[2], "_history")) {
		/* compartment search: Patient/[id]/[type] (search.html#compartments;
		 * the Patient compartment is the one we define) */
		out->ctype = fhir_type_find(seg[2], strlen(seg[2]));
		if (!out->ctype || strcmp(out->type->name, "Patient") != 0)
			return ERR_NOTFOUND;
		if (!get)
			return route_refuse(out, ALLOW_READ);
		out->interaction = FHIR_I_SEARCH_COMPARTMENT;
		return 0;
	}
	if (n == 4 && route_is(seg[3], "_search") && !route_is(seg[2], "_history")) {
		/* POST Patient/[id]/[type]/_search */
		out->ctype = fhir_type_find(seg[2], strlen(seg[2]));
		if (!out->ctype || strcmp(out->type->name, "Patient") != 0)
			return ERR_NOTFOUND;
		if (!route_is(m, "POST"))
			return route_refuse(out, "POST");
		out->interaction = FHIR_I_SEARCH_COMPARTMENT;
		return 0;
	}
	if (!route_is(seg[2], "_history") || n > 4)
		return ERR_NOTFOUND;
	if (!get)
		return route_refuse(out, ALLOW_READ);
	if (n == 3) {
		out->interaction = FHIR_I_HISTORY_INSTANCE;
		return 0;
	}
	{
		/* Our version ids are positive integers; anything else names no version. */
		const char *v = seg[3];
		char *end;
		long long vid;
		if (!valid_id(v, strlen(v)))
			return ERR_INVALID;
		if (v[0] < '1' || v[0] > '9' || strlen(v) > 18)
			return ERR_NOTFOUND;
		vid = strtoll(v, &end, 10);
		if (*end)
			return ERR_NOTFOUND;
		out->vid = vid;
		out->interaction = FHIR_I_VREAD;
	}
	return 0;
}
