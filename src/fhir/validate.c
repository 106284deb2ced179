/*
 * validate.c - see validate.h. One pass over the resource's properties,
 * one lookup per property in the generated table, then one pass over the
 * table for required elements. Messages name elements, never values.
 */
#include "validate.h"

#include "core/err.h"
#include "core/valid.h"

#include <stdio.h>
#include <string.h>

/* message = before + arg (at most 64 chars) + after */
static int vfail(fhir_issue *is, const char *type, const char *elem, const char *before, const char *arg,
		 const char *after)
{
	is->err = ERR_UNPROCESSABLE;
	snprintf(is->expression, sizeof is->expression, "%s%s%.64s", type, elem ? "." : "", elem ? elem : "");
	snprintf(is->message, sizeof is->message, "%s%.64s%s", before, arg, after);
	return ERR_UNPROCESSABLE;
}

static int is_primitive(unsigned char k)
{
	return k != FHIR_K_COMPLEX && k != FHIR_K_RESOURCE;
}

/* Checks one (non-array) value of kind k. */
static int vcheck_value(const json_t *v, unsigned char k, const char *type, const char *name, fhir_issue *is)
{
	const char *s;

	switch (k) {
	case FHIR_K_BOOLEAN:
		if (!json_is_boolean(v))
			return vfail(is, type, name, "Element '", name, "' must be a JSON boolean");
		return 0;
	case FHIR_K_INTEGER:
		if (!json_is_integer(v))
			return vfail(is, type, name, "Element '", name, "' must be a JSON integer");
		return 0;
	case FHIR_K_DECIMAL:
		if (!json_is_number(v))
			return vfail(is, type, name, "Element '", name, "' must be a JSON number");
		return 0;
	case FHIR_K_COMPLEX:
		if (!json_is_object(v))
			return vfail(is, type, name, "Element '", name, "' must be a JSON object");
		return 0;
	case FHIR_K_RESOURCE: {
		const char *rt;
		if (!json_is_object(v))
			return vfail(is, type, name, "Element '", name, "' must be a resource object");
		rt = json_string_value(json_object_get(v, "resourceType"));
		if (!rt || !fhir_type_find(rt, strlen(rt)))
			return vfail(is, type, name, "Element '", name, "' needs a known resourceType");
		return 0;
	}
	default:
		break;
	}
	/* string-based primitives */
	if (!json_is_string(v))
		return vfail(is, type, name, "Element '", name, "' must be a JSON string");
	s = json_string_value(v);
	if (json_string_length(v) == 0)
		return vfail(is, type, name, "Element '", name, "' must not be an empty string");
	if (strlen(s) != json_string_length(v))
		return vfail(is, type, name, "Element '", name, "' must not contain NUL characters");
	switch (k) {
	case FHIR_K_ID:
		if (!valid_id(s, strlen(s)))
			return vfail(is, type, name, "Element '", name, "' is not a valid id");
		break;
	case FHIR_K_DATE:
		if (!valid_date(s))
			return vfail(is, type, name, "Element '", name, "' is not a valid date");
		break;
	case FHIR_K_DATETIME:
		if (!valid_datetime(s))
			return vfail(is, type, name, "Element '", name, "' is not a valid dateTime");
		break;
	case FHIR_K_INSTANT:
		if (!valid_instant(s))
			return vfail(is, type, name, "Element '", name, "' is not a valid instant");
		break;
	case FHIR_K_TIME:
		if (!valid_time(s))
			return vfail(is, type, name, "Element '", name, "' is not a valid time");
		break;
	default:
		break;
	}
	return 0;
}

static int vcheck_meta(const json_t *meta, const char *type, fhir_issue *is)
{
	static const char *const arrays[] = { "profile", "tag", "security" };
	const json_t *v;

	v = json_object_get(meta, "versionId");
	if (v && (!json_is_string(v) || !valid_id(json_string_value(v), json_string_length(v))))
		return vfail(is, type, "meta.versionId", "meta.versionId must be an id", "", "");
	v = json_object_get(meta, "lastUpdated");
	if (v && (!json_is_string(v) || !valid_instant(json_string_value(v))))
		return vfail(is, type, "meta.lastUpdated", "meta.lastUpdated must be an instant", "", "");
	for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
		v = json_object_get(meta, arrays[i]);
		if (v && (!json_is_array(v) || json_array_size(v) == 0))
			return vfail(is, type, "meta", "meta.", arrays[i], " must be a non-empty array");
	}
	return 0;
}

int fhir_validate_resource(const json_t *res, const fhir_type *t, fhir_issue *is)
{
	const char *key;
	const json_t *v;
	int rc;

	memset(is, 0, sizeof *is);
	json_object_foreach((json_t *)res, key, v)
	{
		const fhir_element *el;
		int companion = key[0] == '_';

		if (strcmp(key, "resourceType") == 0)
			continue;
		el = fhir_type_element(t, companion ? key + 1 : key);
		if (!el || (companion && !is_primitive(el->kind)))
			return vfail(is, t->name, NULL, "Unknown element '", key, "'");
		if (json_is_null(v))
			return vfail(is, t->name, key, "Element '", key, "' must not be null");
		if (el->is_array) {
			size_t i;
			const json_t *item, *other;
			char oname[80];

			/* the array paired with this one: "_x" for "x", "x" for "_x" */
			snprintf(oname, sizeof oname, "%s%s", companion ? "" : "_", companion ? key + 1 : key);
			other = json_object_get(res, oname);
			if (!json_is_array(v))
				return vfail(is, t->name, key, "Element '", key, "' must be a JSON array");
			if (json_array_size(v) == 0)
				return vfail(is, t->name, key, "Element '", key, "' must not be an empty array");
			json_array_foreach(v, i, item)
			{
				/* json.html: in primitive arrays, null keeps positions aligned
				 * between "x" and "_x"; it needs the other array to exist. */
				if (json_is_null(item)) {
					if (!is_primitive(el->kind) || !json_is_array(other))
						return vfail(is, t->name, key, "Element '", key, "' has a null item");
					continue;
				}
				if (companion)
					rc = json_is_object(item)
						     ? 0
						     : vfail(is, t->name, key, "Element '", key, "' must hold objects");
				else
					rc = vcheck_value(item, el->kind, t->name, key, is);
				if (rc)
					return rc;
			}
			continue;
		}
		if (json_is_array(v))
			return vfail(is, t->name, key, "Element '", key, "' must not be an array");
		if (companion) {
			if (!json_is_object(v))
				return vfail(is, t->name, key, "Element '", key, "' must be a JSON object");
			continue;
		}
		rc = vcheck_value(v, el->kind, t->name, key, is);
		if (rc)
			return rc;
		if (strcmp(key, "meta") == 0) {
			rc = vcheck_meta(v, t->name, is);
			if (rc)
				return rc;
		}
	}

	/* Required elements and required choice groups. A primitive may be
	 * present only through its "_x" extensions; that counts. */
	for (unsigned i = 0; i < t->n_elements; i++) {
		const fhir_element *el = &t->elements[i];
		char cname[80];
		int present;

		if (el->required) {
			snprintf(cname, sizeof cname, "_%s", el->name);
			present = json_object_get(res, el->name) || json_object_get(res, cname);
			if (!present)
				return vfail(is, t->name, el->name, "Missing required element '", el->name, "'");
		}
		if (el->choice && el->choice_required) {
			present = 0;
			for (unsigned j = 0; j < t->n_elements && !present; j++)
				if (t->elements[j].choice && strcmp(t->elements[j].choice, el->choice) == 0) {
					snprintf(cname, sizeof cname, "_%s", t->elements[j].name);
					present = json_object_get(res, t->elements[j].name) ||
						  json_object_get(res, cname);
				}
			if (!present)
				return vfail(is, t->name, el->choice, "Missing required element '", el->choice, "[x]'");
		}
	}
	return 0;
}
