/*
 * import_bundle.c - what each entry of an imported Bundle becomes: which
 * type and id it writes, whether it is an update, a create or a delete,
 * and the map from every entry's fullUrl to its "Type/id" with which the
 * workers rewrite references (http.html#trules).
 *
 * Ids are settled here, on the main thread and before any resource is
 * prepared, because a reference may point to an entry that comes later.
 * The rules (import.h): PUT and DELETE take request.url's Type/id; other
 * entries take the uuid of a urn:uuid: fullUrl (a valid FHIR id, and the
 * same on every import, so importing again updates instead of
 * duplicating), else the id of an absolute .../Type/id fullUrl, else their
 * own id, else a new random UUID. A fullUrl used by two entries is refused
 * (bdl-7; history Bundles and differing meta.versionId excepted).
 * Conditional entries (a '?' in request.url, ifNoneExist, ifMatch, ...)
 * are refused rather than half honoured: import has no search to resolve
 * them with.
 */
#include "import.h"

#include "core/err.h"
#include "core/valid.h"
#include "fhir/write.h"

#include <stdio.h>
#include <string.h>

/* "Type/id", "/Type/id" or an absolute URL ending in /Type/id. */
static int bundle_url_type_id(const char *url, const fhir_type **t, char id[65])
{
	const char *slash, *tstart, *abs = strstr(url, "://");
	size_t tlen, ilen;

	if (strchr(url, '?') || strchr(url, '#'))
		return ERR_INVALID;
	while (!abs && *url == '/')
		url++;
	slash = strrchr(url, '/');
	if (!slash)
		return ERR_INVALID;
	if (abs) {
		tstart = slash;
		while (tstart > url && tstart[-1] != '/')
			tstart--;
	} else {
		tstart = url;
	}
	tlen = (size_t)(slash - tstart);
	ilen = strlen(slash + 1);
	if (!ilen || !valid_id(slash + 1, ilen))
		return ERR_INVALID;
	*t = fhir_type_find(tstart, tlen);
	if (!*t)
		return ERR_INVALID;
	memcpy(id, slash + 1, ilen + 1);
	return 0;
}

/* The type named by a POST request.url ("Type", "/Type" or absolute). */
static const fhir_type *bundle_url_type(const char *url)
{
	const char *s;

	if (strchr(url, '?') || strchr(url, '#'))
		return NULL;
	while (*url == '/')
		url++;
	s = strrchr(url, '/');
	if (s && strstr(url, "://"))
		url = s + 1;
	else if (s)
		return NULL;
	return fhir_type_find(url, strlen(url));
}

/* The id of a resource created by an entry (POST or collection). */
static int bundle_entry_id(import_item *it, const char *full, const json_t *res, const fhir_type *t)
{
	const fhir_type *ft;
	const char *own = json_string_value(json_object_get(res, "id"));
	char fid[65];

	it->kind = STORE_OP_UPDATE;
	if (full && strncmp(full, "urn:uuid:", 9) == 0 && valid_id(full + 9, strlen(full + 9))) {
		memcpy(it->id, full + 9, strlen(full + 9) + 1);
		return 0;
	}
	if (full && strstr(full, "://") && bundle_url_type_id(full, &ft, fid) == 0 && ft == t) {
		memcpy(it->id, fid, strlen(fid) + 1);
		return 0;
	}
	if (own && valid_id(own, strlen(own))) {
		memcpy(it->id, own, strlen(own) + 1);
		return 0;
	}
	it->kind = STORE_OP_CREATE;
	if (fhir_write_new_id(it->id))
		return import_item_fail(it, ERR_INTERNAL, "No randomness from the OS");
	return 0;
}

static int bundle_has_conditions(const json_t *req)
{
	static const char *const cond[] = { "ifNoneExist", "ifMatch", "ifNoneMatch", "ifModifiedSince" };
	for (size_t i = 0; i < sizeof cond / sizeof cond[0]; i++)
		if (json_object_get(req, cond[i]))
			return 1;
	return 0;
}

/* Why a method cannot be imported; names the method only when it is one
 * we know, so no input is echoed. */
static const char *bundle_method_refused(const char *method)
{
	if (strcmp(method, "GET") == 0)
		return "request.method GET is not supported by import (POST, PUT, DELETE)";
	if (strcmp(method, "HEAD") == 0)
		return "request.method HEAD is not supported by import (POST, PUT, DELETE)";
	if (strcmp(method, "PATCH") == 0)
		return "request.method PATCH is not supported by import (POST, PUT, DELETE)";
	return "Unknown request.method (import takes POST, PUT, DELETE)";
}

/* Settles one entry; problems mark the item bad (it->err). */
static void bundle_entry_plan(json_t *e, int with_request, import_item *it, store_op_t *op)
{
	json_t *res = json_object_get(e, "resource"), *req = json_object_get(e, "request");
	const char *full = json_string_value(json_object_get(e, "fullUrl"));
	const char *method = NULL, *url = NULL, *rt, *own, *bad = NULL;
	const fhir_type *t = NULL, *ut = NULL;

	if (!json_is_object(e)) {
		bad = "The entry is not an object";
		goto out;
	}
	if (with_request) {
		method = json_string_value(json_object_get(req, "method"));
		url = json_string_value(json_object_get(req, "url"));
		if (!method || !url) {
			bad = "request.method and request.url are required";
		} else if (strchr(url, '?') || bundle_has_conditions(req)) {
			bad = "Conditional entries are not supported by import";
		} else if (strcmp(method, "DELETE") == 0) {
			if (bundle_url_type_id(url, &ut, it->id)) {
				bad = "request.url must be [type]/[id]";
				goto out;
			}
			it->type = ut;
			it->kind = STORE_OP_DELETE;
			it->ready = 1;
			memset(op, 0, sizeof *op);
			op->kind = STORE_OP_DELETE;
			op->type = ut->name;
			op->id = it->id;
			op->method = "DELETE";
		} else if (strcmp(method, "PUT") != 0 && strcmp(method, "POST") != 0) {
			bad = bundle_method_refused(method);
		}
		if (bad || it->ready)
			goto out;
	}
	if (!json_is_object(res)) {
		bad = "The entry has no resource";
		goto out;
	}
	rt = json_string_value(json_object_get(res, "resourceType"));
	t = rt ? fhir_type_find(rt, strlen(rt)) : NULL;
	if (!t) {
		bad = rt ? "Unknown resourceType" : "The resource has no resourceType";
		goto out;
	}
	it->type = t;
	if (method && strcmp(method, "PUT") == 0) {
		own = json_string_value(json_object_get(res, "id"));
		if (bundle_url_type_id(url, &ut, it->id))
			bad = "request.url must be [type]/[id]";
		else if (ut != t || (json_object_get(res, "id") && (!own || strcmp(own, it->id) != 0)))
			bad = "The resource's type and id must match request.url";
		else
			it->kind = STORE_OP_UPDATE;
		goto out;
	}
	if (method && bundle_url_type(url) != t) {
		bad = "request.url must name the resource's type";
		goto out;
	}
	bundle_entry_id(it, full, res, t); /* a failure marks the item */
out:
	if (bad) {
		import_item_fail(it, ERR_INVALID, "%s", bad);
		it->id[0] = '\0';
		it->ready = 0;
	}
}

int import_bundle_plan(json_t *bundle, const char *btype, import_item *items, store_op_t *ops, size_t n,
		       json_t **refmap)
{
	json_t *entries = json_object_get(bundle, "entry"), *map = json_object();
	int history = !strcmp(btype, "history");
	int with_request = history || !strcmp(btype, "transaction") || !strcmp(btype, "batch");
	int rc = ERR_NOMEM;
	char ref[200];

	*refmap = NULL;
	if (!map)
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(entries, i);
		const char *full = json_string_value(json_object_get(e, "fullUrl"));
		import_item *it = &items[i];

		it->where = i;
		it->res = json_is_object(e) ? json_object_get(e, "resource") : NULL;
		bundle_entry_plan(e, with_request, it, &ops[i]);
		if (it->err || !full || !*full || !it->type || !it->id[0])
			continue;
		/* bdl-7: fullUrl unique, unless the versions differ (history) */
		if (json_object_get(map, full) && !history &&
		    !json_object_get(json_object_get(it->res, "meta"), "versionId")) {
			import_item_fail(it, ERR_INVALID, "fullUrl repeats an earlier entry's (bdl-7)");
			it->ready = 0;
			continue;
		}
		snprintf(ref, sizeof ref, "%s/%s", it->type->name, it->id);
		if (json_object_set_new(map, full, json_string(ref))) {
			rc = ERR_NOMEM;
			goto out;
		}
	}
	*refmap = map;
	map = NULL;
	rc = 0;
out:
	json_decref(map);
	return rc;
}
