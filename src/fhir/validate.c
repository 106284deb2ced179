/*
 * validate.c - see validate.h. One pass over an object's properties with
 * one binary search per property in the generated table, then one pass
 * over the table for required elements and choice groups. The same
 * routine checks a resource, a contained resource and its meta (a small
 * table below), so the rules cannot drift apart between them. It runs on
 * every create and update: no allocation, only small fixed buffers on the
 * stack, and the first problem found ends the walk.
 *
 * Messages name elements from the tables; the only client text they echo
 * is an unknown property name or resourceType, cut to 64 bytes
 * (valid_quote), because an OperationOutcome goes back to the client
 * and into logs.
 */
#include "validate.h"

#include "core/err.h"
#include "core/valid.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define VALIDATE_NAME_BUF 96                      /* "_" + a table name + "[index]" */
#define VALIDATE_PATH_BUF 128                     /* "Type.contained[i].meta" */

/* Meta (datatypes.html#Meta), the one datatype looked into: the server
 * reads and rewrites versionId and lastUpdated, and search will read
 * profile, tag and security. Sorted by name for fhir_type_element(). */
static const fhir_element validate_meta_elements[] = {
	{ "extension", FHIR_K_COMPLEX, 1, 0, NULL, 0 },
	{ "id", FHIR_K_STRING, 0, 0, NULL, 0 },
	{ "lastUpdated", FHIR_K_INSTANT, 0, 0, NULL, 0 },
	{ "profile", FHIR_K_STRING, 1, 0, NULL, 0 },
	{ "security", FHIR_K_COMPLEX, 1, 0, NULL, 0 },
	{ "source", FHIR_K_STRING, 0, 0, NULL, 0 },
	{ "tag", FHIR_K_COMPLEX, 1, 0, NULL, 0 },
	{ "versionId", FHIR_K_ID, 0, 0, NULL, 0 },
};
static const fhir_type validate_meta_type = {
	"Meta", validate_meta_elements, sizeof validate_meta_elements / sizeof validate_meta_elements[0]
};

enum validate_what { VALIDATE_RESOURCE, VALIDATE_CONTAINED, VALIDATE_META };

/* The object being checked and where it sits. */
struct validate_ctx {
	fhir_issue *issue;
	const json_t *obj;     /* its properties are checked against t */
	const fhir_type *t;
	const char *path;      /* FHIRPath-like location of obj: "Patient", "Patient.contained[0]" */
	enum validate_what what;
};

static int validate_value(const struct validate_ctx *c, const fhir_element *el, const json_t *v, const char *ex);
static int validate_props(const struct validate_ctx *c);

/* Fills the issue: expression is c->path, or c->path + "." + elem. */
static int validate_fail(const struct validate_ctx *c, const char *elem, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int validate_fail(const struct validate_ctx *c, const char *elem, const char *fmt, ...)
{
	fhir_issue *is = c->issue;
	va_list ap;

	is->err = ERR_UNPROCESSABLE;
	if (elem)
		snprintf(is->expression, sizeof is->expression, "%s.%s", c->path, elem);
	else
		snprintf(is->expression, sizeof is->expression, "%s", c->path);
	va_start(ap, fmt);
	vsnprintf(is->message, sizeof is->message, fmt, ap);
	va_end(ap);
	return ERR_UNPROCESSABLE;
}

static int validate_is_primitive(unsigned kind)
{
	return kind != FHIR_K_COMPLEX && kind != FHIR_K_RESOURCE;
}

/* An element counts as present through its value or its "_x" extensions
 * (json.html: a primitive may carry only extensions, e.g. data-absent-reason). */
static int validate_present(const json_t *obj, const char *name)
{
	char cname[VALIDATE_NAME_BUF];
	int n = snprintf(cname, sizeof cname, "_%s", name);

	return json_object_get(obj, name) || (n > 0 && (size_t)n < sizeof cname && json_object_get(obj, cname));
}

/* The "_x" property of element x when underscore is set, else "x" itself:
 * the partner array of a repeating primitive. */
static const json_t *validate_partner(const json_t *obj, const char *name, int underscore)
{
	char cname[VALIDATE_NAME_BUF];
	int n = snprintf(cname, sizeof cname, "_%s", name);

	return n > 0 && (size_t)n < sizeof cname ? json_object_get(obj, underscore ? cname : name) : NULL;
}

/* A string-based primitive: json.html "string property values can never
 * be empty"; the formats of datatypes.html for id and the date/time types. */
static int validate_string(const struct validate_ctx *c, unsigned kind, const json_t *v, const char *ex)
{
	const char *s;
	size_t len;
	int ok = 1, rc = 0;

	if (!json_is_string(v)) {
		rc = validate_fail(c, ex, "Element '%s' must be a JSON string", ex);
		goto out;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0) {
		rc = validate_fail(c, ex, "Element '%s' must not be an empty string", ex);
		goto out;
	}
	/* The date checkers read up to the first NUL; a NUL inside would let
	 * "2020-01-01\u0000junk" through. */
	if (strlen(s) != len) {
		rc = validate_fail(c, ex, "Element '%s' must not contain NUL characters", ex);
		goto out;
	}
	switch (kind) {
	case FHIR_K_ID:
		ok = valid_id(s, len);
		break;
	case FHIR_K_DATE:
		ok = valid_date(s);
		break;
	case FHIR_K_DATETIME:
		ok = valid_datetime(s);
		break;
	case FHIR_K_INSTANT:
		ok = valid_instant(s);
		break;
	case FHIR_K_TIME:
		ok = valid_time(s);
		break;
	default:
		break;
	}
	if (!ok) {
		static const char *const what[] = {
			[FHIR_K_ID] = "an id ([A-Za-z0-9-.]{1,64})",
			[FHIR_K_DATE] = "a date (YYYY, YYYY-MM or YYYY-MM-DD)",
			[FHIR_K_DATETIME] = "a dateTime (a date, or YYYY-MM-DDThh:mm:ss with a time zone)",
			[FHIR_K_INSTANT] = "an instant (YYYY-MM-DDThh:mm:ss with a time zone)",
			[FHIR_K_TIME] = "a time (hh:mm:ss)",
		};
		rc = validate_fail(c, ex, "Element '%s' is not %s", ex, what[kind]);
	}
out:
	return rc;
}

/* Extension (extensibility.html): an object whose url is required. */
static int validate_extension(const struct validate_ctx *c, const json_t *v, const char *ex)
{
	const json_t *url = json_object_get(v, "url");
	int rc = 0;

	if (!json_is_object(v) || !json_is_string(url) || json_string_length(url) == 0)
		rc = validate_fail(c, ex, "Element '%s' must be an extension object with a url", ex);
	return rc;
}

/* The object of a "_x" companion: Element's own id and extension only
 * (json.html "Representing primitive elements"), and not empty. */
static int validate_element_ext(const struct validate_ctx *c, const json_t *v, const char *ex, const char *cex)
{
	const char *key;
	const json_t *item, *x;
	size_t i;
	int rc = 0;

	if (!json_is_object(v) || json_object_size(v) == 0) {
		rc = validate_fail(c, ex, "Element '%s' must be an object with id or extension", cex);
		goto out;
	}
	json_object_foreach((json_t *)v, key, x)
	{
		if (strcmp(key, "id") == 0) {
			if (!json_is_string(x) || json_string_length(x) == 0) {
				rc = validate_fail(c, ex, "Element '%s.id' must be a non-empty string", cex);
				goto out;
			}
		} else if (strcmp(key, "extension") == 0) {
			if (!json_is_array(x) || json_array_size(x) == 0) {
				rc = validate_fail(c, ex, "Element '%s.extension' must be a non-empty array", cex);
				goto out;
			}
			json_array_foreach(x, i, item)
			{
				/* FHIRPath reaches a primitive's extensions as x.extension */
				char iex[VALIDATE_NAME_BUF + 24];
				snprintf(iex, sizeof iex, "%s.extension[%zu]", ex, i);
				rc = validate_extension(c, item, iex);
				if (rc)
					goto out;
			}
		} else {
			char q[VALID_QUOTE_BUF];
			valid_quote(key, strlen(key), q);
			rc = validate_fail(c, ex, "Unknown element '%s' in '%s'", q, cex);
			goto out;
		}
	}
out:
	return rc;
}

/* A contained resource (references.html#contained): a known resourceType,
 * then the rules of its own type. */
static int validate_contained(const struct validate_ctx *c, const json_t *v, const char *ex)
{
	struct validate_ctx sub;
	char path[VALIDATE_PATH_BUF];
	const json_t *rt;
	int rc;

	if (!json_is_object(v)) {
		rc = validate_fail(c, ex, "Element '%s' must be a resource (a JSON object)", ex);
		goto out;
	}
	rt = json_object_get(v, "resourceType");
	if (!json_is_string(rt)) {
		rc = validate_fail(c, ex, "Element '%s' must have a resourceType", ex);
		goto out;
	}
	sub.t = fhir_type_find(json_string_value(rt), json_string_length(rt));
	if (!sub.t) {
		char q[VALID_QUOTE_BUF];
		valid_quote(json_string_value(rt), strlen(json_string_value(rt)), q);
		rc = validate_fail(c, ex, "Element '%s' has an unknown resourceType '%s'", ex, q);
		goto out;
	}
	snprintf(path, sizeof path, "%s.%s", c->path, ex);
	sub.issue = c->issue;
	sub.obj = v;
	sub.path = path;
	sub.what = VALIDATE_CONTAINED;
	rc = validate_props(&sub);
out:
	return rc;
}

/* meta: Meta's elements, then the constraints of resource.html on
 * contained resources. */
static int validate_meta(const struct validate_ctx *c, const json_t *v)
{
	struct validate_ctx sub;
	char path[VALIDATE_PATH_BUF];
	int rc;

	snprintf(path, sizeof path, "%s.meta", c->path);
	sub.issue = c->issue;
	sub.obj = v;
	sub.t = &validate_meta_type;
	sub.path = path;
	sub.what = VALIDATE_META;
	rc = validate_props(&sub);
	if (rc || c->what != VALIDATE_CONTAINED)
		goto out;
	if (validate_present(v, "versionId") || validate_present(v, "lastUpdated")) {
		rc = validate_fail(c, "meta",
				   "A contained resource must not have meta.versionId or meta.lastUpdated (dom-4)");
		goto out;
	}
	if (validate_present(v, "security"))
		rc = validate_fail(c, "meta", "A contained resource must not have meta.security (dom-5)");
out:
	return rc;
}

/* One value (an array item or a single value) of element el; ex is its
 * expression relative to c->path ("birthDate", "name[1]"). */
static int validate_value(const struct validate_ctx *c, const fhir_element *el, const json_t *v, const char *ex)
{
	int rc = 0;

	switch (el->kind) {
	case FHIR_K_BOOLEAN:
		if (!json_is_boolean(v))
			rc = validate_fail(c, ex, "Element '%s' must be true or false", ex);
		break;
	case FHIR_K_INTEGER:
		/* datatypes.html: integer is 32-bit signed; unsignedInt and
		 * positiveInt are subsets of it. */
		if (!json_is_integer(v))
			rc = validate_fail(c, ex, "Element '%s' must be a JSON integer", ex);
		else if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
			rc = validate_fail(c, ex, "Element '%s' is out of range for a 32-bit integer", ex);
		break;
	case FHIR_K_DECIMAL:
		if (!json_is_number(v))
			rc = validate_fail(c, ex, "Element '%s' must be a JSON number", ex);
		break;
	case FHIR_K_COMPLEX:
		/* ele-1: every element has a value or children, so {} is not one. */
		if (!json_is_object(v))
			rc = validate_fail(c, ex, "Element '%s' must be a JSON object", ex);
		else if (json_object_size(v) == 0)
			rc = validate_fail(c, ex, "Element '%s' must not be an empty object", ex);
		else if (!strcmp(el->name, "extension") || !strcmp(el->name, "modifierExtension"))
			rc = validate_extension(c, v, ex);
		else if (c->what != VALIDATE_META && !strcmp(el->name, "meta"))
			rc = validate_meta(c, v);
		break;
	case FHIR_K_RESOURCE:
		rc = validate_contained(c, v, ex);
		break;
	default:
		rc = validate_string(c, el->kind, v, ex);
		break;
	}
	return rc;
}

/* A property "x" of a known element. */
static int validate_element(const struct validate_ctx *c, const fhir_element *el, const json_t *v)
{
	const json_t *item, *partner = NULL;
	char ex[VALIDATE_NAME_BUF];
	size_t i;
	int primitive = validate_is_primitive(el->kind), rc = 0;

	/* json.html: null only appears inside primitive arrays. */
	if (json_is_null(v)) {
		rc = validate_fail(c, el->name, "Element '%s' must not be null", el->name);
		goto out;
	}
	if (el->kind == FHIR_K_RESOURCE && c->what == VALIDATE_CONTAINED) {
		rc = validate_fail(c, el->name, "A contained resource must not contain resources (dom-2)");
		goto out;
	}
	if (!el->is_array) {
		if (json_is_array(v))
			rc = validate_fail(c, el->name, "Element '%s' must be a single value, not an array", el->name);
		else
			rc = validate_value(c, el, v, el->name);
		goto out;
	}
	if (!json_is_array(v)) {
		rc = validate_fail(c, el->name, "Element '%s' must be an array", el->name);
		goto out;
	}
	/* json.html: "arrays SHALL NOT be empty". */
	if (json_array_size(v) == 0) {
		rc = validate_fail(c, el->name, "Element '%s' must not be an empty array", el->name);
		goto out;
	}
	if (primitive) {
		partner = validate_partner(c->obj, el->name, 1);
		if (json_is_array(partner) && json_array_size(partner) != json_array_size(v)) {
			rc = validate_fail(c, el->name, "Elements '%s' and '_%s' must have the same number of items",
					   el->name, el->name);
			goto out;
		}
	}
	json_array_foreach(v, i, item)
	{
		snprintf(ex, sizeof ex, "%s[%zu]", el->name, i);
		if (json_is_null(item)) {
			/* A null value keeps its place only for the extensions
			 * at the same index of "_x". */
			const json_t *other = json_is_array(partner) ? json_array_get(partner, i) : NULL;
			if (!primitive || !other || json_is_null(other)) {
				rc = validate_fail(c, ex, "Element '%s' must not be null", ex);
				goto out;
			}
			continue;
		}
		rc = validate_value(c, el, item, ex);
		if (rc)
			goto out;
	}
out:
	return rc;
}

/* A property "_x": the id/extensions of primitive element el. */
static int validate_companion(const struct validate_ctx *c, const fhir_element *el, const json_t *v)
{
	const json_t *item, *partner;
	char cex[VALIDATE_NAME_BUF], ex[VALIDATE_NAME_BUF];
	size_t i;
	int rc = 0;

	snprintf(cex, sizeof cex, "_%s", el->name);
	if (json_is_null(v)) {
		rc = validate_fail(c, el->name, "Element '%s' must not be null", cex);
		goto out;
	}
	if (!el->is_array) {
		if (json_is_array(v))
			rc = validate_fail(c, el->name, "Element '%s' must be an object, not an array", cex);
		else
			rc = validate_element_ext(c, v, el->name, cex);
		goto out;
	}
	if (!json_is_array(v) || json_array_size(v) == 0) {
		rc = validate_fail(c, el->name, "Element '%s' must be a non-empty array", cex);
		goto out;
	}
	partner = validate_partner(c->obj, el->name, 0);
	if (json_is_array(partner) && json_array_size(partner) != json_array_size(v)) {
		rc = validate_fail(c, el->name, "Elements '%s' and '%s' must have the same number of items", el->name,
				   cex);
		goto out;
	}
	json_array_foreach(v, i, item)
	{
		const json_t *other = json_is_array(partner) ? json_array_get(partner, i) : NULL;

		snprintf(ex, sizeof ex, "%s[%zu]", el->name, i);
		if (json_is_null(item)) {
			if (!other || json_is_null(other)) {
				rc = validate_fail(c, ex, "Element '%s[%zu]' must not be null", cex, i);
				goto out;
			}
			continue;
		}
		rc = validate_element_ext(c, item, ex, cex);
		if (rc)
			goto out;
	}
out:
	return rc;
}

/* 1 when t->elements[i] is the first row of its choice group. */
static int validate_choice_first(const fhir_type *t, unsigned i)
{
	unsigned j = 0;

	while (j < i && !(t->elements[j].choice && !strcmp(t->elements[j].choice, t->elements[i].choice)))
		j++;
	return j == i;
}

/* How many types of the choice group are present (value or extensions). */
static unsigned validate_choice_count(const json_t *obj, const fhir_type *t, const char *choice)
{
	unsigned n = 0;

	for (unsigned j = 0; j < t->n_elements; j++)
		if (t->elements[j].choice && !strcmp(t->elements[j].choice, choice) &&
		    validate_present(obj, t->elements[j].name))
			n++;
	return n;
}

/* Every property of c->obj, then the required elements and choice groups of c->t. */
static int validate_props(const struct validate_ctx *c)
{
	const char *key;
	const json_t *v;
	int rc = 0;

	json_object_foreach((json_t *)c->obj, key, v)
	{
		const fhir_element *el;
		int companion = key[0] == '_';

		/* resourceType was checked by whoever picked c->t. */
		if (c->what != VALIDATE_META && strcmp(key, "resourceType") == 0)
			continue;
		el = fhir_type_element(c->t, companion ? key + 1 : key);
		if (!el || (companion && !validate_is_primitive(el->kind))) {
			char q[VALID_QUOTE_BUF];
			valid_quote(key, strlen(key), q);
			rc = validate_fail(c, q, "Unknown element '%s'", q);
			goto out;
		}
		rc = companion ? validate_companion(c, el, v) : validate_element(c, el, v);
		if (rc)
			goto out;
	}

	for (unsigned i = 0; i < c->t->n_elements; i++) {
		const fhir_element *el = &c->t->elements[i];
		char grp[VALIDATE_NAME_BUF];
		unsigned n;

		if (el->required && !validate_present(c->obj, el->name)) {
			rc = validate_fail(c, el->name, "Missing required element '%s'", el->name);
			goto out;
		}
		if (!el->choice || !validate_choice_first(c->t, i))
			continue;
		/* A choice x[x] has max 1: at most one of its types, and one
		 * when the group's min is 1. */
		n = validate_choice_count(c->obj, c->t, el->choice);
		snprintf(grp, sizeof grp, "%s[x]", el->choice);
		if (n == 0 && el->choice_required) {
			rc = validate_fail(c, grp, "Missing required element '%s'", grp);
			goto out;
		}
		if (n > 1) {
			rc = validate_fail(c, grp, "Only one type of '%s' may be present", grp);
			goto out;
		}
	}
out:
	return rc;
}

int fhir_validate_resource(const json_t *res, const fhir_type *t, fhir_issue *issue)
{
	fhir_issue scratch;
	struct validate_ctx c;
	const json_t *rt;
	int rc;

	if (!issue)
		issue = &scratch;
	memset(issue, 0, sizeof *issue);
	if (!res || !t) {
		rc = ERR_INTERNAL;
		issue->err = rc;
		goto out;
	}
	c.issue = issue;
	c.obj = res;
	c.t = t;
	c.path = t->name;
	c.what = VALIDATE_RESOURCE;
	if (!json_is_object(res)) {
		rc = validate_fail(&c, NULL, "A resource must be a JSON object");
		goto out;
	}
	rt = json_object_get(res, "resourceType");
	if (!json_is_string(rt) || json_string_length(rt) != strlen(t->name) ||
	    memcmp(json_string_value(rt), t->name, json_string_length(rt)) != 0) {
		rc = validate_fail(&c, "resourceType", "resourceType must be '%s'", t->name);
		goto out;
	}
	rc = validate_props(&c);
out:
	return rc;
}
