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
 * own id, else a new random UUID. Conditional entries (a '?' in
 * request.url, ifNoneExist, ifMatch, ...) are refused rather than half
 * honoured: import has no search to resolve them with.
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

/* Settles one entry. Problems mark the item bad; returns 0 or ERR_NOMEM. */
static int bundle_entry_plan(json_t *e, int with_request, import_item *it, store_op_t *op)
{
	json_t *res = json_object_get(e, "resource"), *req = json_object_get(e, "request");
	const char *full = json_string_value(json_object_get(e, "fullUrl"));
	const char *method = NULL, *url = NULL, *rt, *own;
	const fhir_type *t = NULL, *ut = NULL;

	if (!json_is_object(e)) {
		import_item_fail(it, ERR_INVALID, "The entry is not an object");
		return 0;
	}
	if (with_request) {
		method = json_string_value(json_object_get(req, "method"));
		url = json_string_value(json_object_get(req, "url"));
		if (!method || !url) {
			import_item_fail(it, ERR_INVALID, "request.method and request.url are required");
			return 0;
		}
		if (strchr(url, '?') || bundle_has_conditions(req)) {
			import_item_fail(it, ERR_INVALID, "Conditional entries are not supported by import");
			return 0;
		}
		if (strcmp(method, "DELETE") == 0) {
			if (bundle_url_type_id(url, &ut, it->id)) {
				import_item_fail(it, ERR_INVALID, "request.url must be [type]/[id]");
				return 0;
			}
			it->type = ut;
			it->kind = STORE_OP_DELETE;
			it->ready = 1;
			memset(op, 0, sizeof *op);
			op->kind = STORE_OP_DELETE;
			op->type = ut->name;
			op->id = it->id;
			op->method = "DELETE";
			return 0;
		}
		if (strcmp(method, "PUT") != 0 && strcmp(method, "POST") != 0) {
			int known = !strcmp(method, "GET") || !strcmp(method, "HEAD") || !strcmp(method, "PATCH");
			import_item_fail(it, ERR_INVALID, "request.method %s is not supported by import (POST, PUT, DELETE)",
					 known ? method : "(unknown)");
			return 0;
		}
	}
	if (!json_is_object(res)) {
		import_item_fail(it, ERR_INVALID, "The entry has no resource");
		return 0;
	}
	rt = json_string_value(json_object_get(res, "resourceType"));
	t = rt ? fhir_type_find(rt, strlen(rt)) : NULL;
	if (!t) {
		import_item_fail(it, ERR_INVALID, rt ? "Unknown resourceType" : "The resource has no resourceType");
		return 0;
	}
	it->type = t;
	if (method && strcmp(method, "PUT") == 0) {
		if (bundle_url_type_id(url, &ut, it->id)) {
			import_item_fail(it, ERR_INVALID, "request.url must be [type]/[id]");
			return 0;
		}
		own = json_string_value(json_object_get(res, "id"));
		if (ut != t || (json_object_get(res, "id") && (!own || strcmp(own, it->id) != 0))) {
			import_item_fail(it, ERR_INVALID, "The resource's type and id must match request.url");
			it->id[0] = '\0';
			return 0;
		}
		it->kind = STORE_OP_UPDATE;
		return 0;
	}
	if (method && bundle_url_type(url) != t) {
		import_item_fail(it, ERR_INVALID, "request.url must name the resource's type");
		return 0;
	}
	bundle_entry_id(it, full, res, t); /* a failure marks the item */
	return 0;
}

int import_bundle_plan(json_t *bundle, const char *btype, import_item *items, store_op_t *ops, size_t n,
		       json_t **refmap)
{
	json_t *entries = json_object_get(bundle, "entry"), *map = json_object();
	int with_request = !strcmp(btype, "transaction") || !strcmp(btype, "batch") || !strcmp(btype, "history");
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
		rc = bundle_entry_plan(e, with_request, it, &ops[i]);
		if (rc)
			goto out;
		if (it->err || !full || !*full || !it->type || !it->id[0])
			continue;
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
