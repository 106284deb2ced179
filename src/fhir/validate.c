/*
 * validate.c - see validate.h. A depth-first walk over the resource that
 * checks every JSON object against the generated table of its type
 * (types_gen.c): one binary search per property, the choice groups and the
 * required elements counted on the way, and a second look at the table only
 * when something required is missing. The same routine checks a resource,
 * a datatype, a BackboneElement, a contained resource and a resource inside
 * a Bundle, so the rules cannot drift apart between levels. It runs on every
 * create, update and patch and on every imported resource: no allocation,
 * one fixed path buffer per call, small frames per level, and the first
 * problem found ends the walk.
 *
 * Messages name elements from the tables; the only client text they echo
 * is an unknown property name or resourceType, cut to 64 bytes
 * (valid_quote), because an OperationOutcome goes back to the client and
 * into logs. No message contains an element's value.
 */
#include "validate.h"

#include "core/err.h"
#include "core/valid.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The longest location kept while walking; issue->expression (160 bytes)
 * gets a cut copy. Deeper than this only the message still names the
 * element. */
#define VALIDATE_PATH_BUF 256
/* "_" + the longest element name in the tables (about 40) */
#define VALIDATE_NAME_BUF 96

enum validate_what {
	VALIDATE_RESOURCE,  /* the resource itself, or one in Bundle.entry.resource, Parameters... */
	VALIDATE_CONTAINED, /* in contained: dom-2, dom-4, dom-5 */
	VALIDATE_ELEMENT    /* a datatype or BackboneElement */
};

/* One call of fhir_validate_resource(). */
struct validate_walk {
	fhir_issue *issue;
	unsigned flags;
	unsigned depth;            /* objects entered, FHIR_VALIDATE_MAX_DEPTH at most */
	const fhir_type *ext;      /* Extension, for the extensions of "_x" */
	const fhir_type *entry;    /* Bundle.entry, for FHIR_VALIDATE_ENTRIES_SHALLOW */
	size_t len;                /* strlen(path) */
	char path[VALIDATE_PATH_BUF]; /* FHIRPath-like location: "Patient.name[0].given[1]" */
};

/* An object being checked against its table. */
struct validate_obj {
	const json_t *obj;
	const fhir_type *t;
	enum validate_what what;
};

static int validate_object(struct validate_walk *w, const json_t *obj, const fhir_type *t, enum validate_what what);

/* Appends s[0..n) to the path, cut when it does not fit (on a UTF-8
 * boundary when copied out). */
static void validate_append(struct validate_walk *w, const char *s, size_t n)
{
	size_t room = sizeof w->path - 1 - w->len;

	if (n > room)
		n = room;
	memcpy(w->path + w->len, s, n);
	w->len += n;
	w->path[w->len] = '\0';
}

#define VALIDATE_NO_INDEX ((size_t)-1)

/* Appends ".name" or ".name[idx]" to the path; returns its length before,
 * for validate_pop(). Hand-made rather than snprintf: it runs for every
 * element of every resource written. */
static size_t validate_push(struct validate_walk *w, const char *name, size_t idx)
{
	size_t mark = w->len;
	char num[24];
	size_t at = sizeof num;

	validate_append(w, ".", 1);
	validate_append(w, name, strlen(name));
	if (idx != VALIDATE_NO_INDEX) {
		num[--at] = ']';
		do {
			num[--at] = (char)('0' + idx % 10);
			idx /= 10;
		} while (idx);
		num[--at] = '[';
		validate_append(w, num + at, sizeof num - at);
	}
	return mark;
}

static void validate_pop(struct validate_walk *w, size_t mark)
{
	w->len = mark;
	w->path[mark] = '\0';
}

/* The last segment pushed after mark, without its '.': "name[1]" of
 * "Patient.name[1]", for messages. */
static const char *validate_seg(const struct validate_walk *w, size_t mark)
{
	return mark < w->len ? w->path + mark + (w->path[mark] == '.') : "";
}

/* Fills the issue: the expression is the current path, cut to fit. */
static int validate_vfail(struct validate_walk *w, const char *fmt, va_list ap)
{
	fhir_issue *is = w->issue;
	size_t n = w->len < sizeof is->expression - 1 ? w->len : sizeof is->expression - 1;

	is->err = ERR_UNPROCESSABLE;
	memcpy(is->expression, w->path, n);
	is->expression[n] = '\0';
	valid_utf8_trim(is->expression);
	vsnprintf(is->message, sizeof is->message, fmt, ap);
	valid_utf8_trim(is->message);
	return ERR_UNPROCESSABLE;
}

static int validate_fail(struct validate_walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int validate_fail(struct validate_walk *w, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = validate_vfail(w, fmt, ap);
	va_end(ap);
	return rc;
}

/* Fails at the child seg of the current path. */
static int validate_fail_at(struct validate_walk *w, const char *seg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int validate_fail_at(struct validate_walk *w, const char *seg, const char *fmt, ...)
{
	va_list ap;
	int rc;

	validate_push(w, seg, VALIDATE_NO_INDEX);
	va_start(ap, fmt);
	rc = validate_vfail(w, fmt, ap);
	va_end(ap);
	return rc;
}

static int validate_is_primitive(unsigned kind)
{
	return kind != FHIR_K_COMPLEX && kind != FHIR_K_RESOURCE;
}

/* "_" + name into buf (VALIDATE_NAME_BUF bytes); 0 when it does not fit,
 * which no table name makes happen. */
static int validate_underscore(const char *name, char *buf)
{
	size_t n = strlen(name);

	if (n + 2 > VALIDATE_NAME_BUF)
		return 0;
	buf[0] = '_';
	memcpy(buf + 1, name, n + 1);
	return 1;
}

/* An element counts as present through its value or its "_x" extensions
 * (json.html: a primitive may carry only extensions, e.g. data-absent-reason). */
static int validate_present(const json_t *obj, const char *name)
{
	char cname[VALIDATE_NAME_BUF];

	return json_object_get(obj, name) || (validate_underscore(name, cname) && json_object_get(obj, cname));
}

/* The "_x" property of element x when underscore is set, else "x" itself:
 * the partner array of a repeating primitive. */
static const json_t *validate_partner(const json_t *obj, const char *name, int underscore)
{
	char cname[VALIDATE_NAME_BUF];

	if (!underscore)
		return json_object_get(obj, name);
	return validate_underscore(name, cname) ? json_object_get(obj, cname) : NULL;
}

/* XML Schema's \s, which the R4 regular expressions use. */
static int validate_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* code: [^\s]+(\s[^\s]+)* - no leading, trailing or doubled whitespace. */
static int validate_code(const char *s, size_t len)
{
	if (validate_space(s[0]) || validate_space(s[len - 1]))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (validate_space(s[i]) && validate_space(s[i - 1]))
			return 0;
	return 1;
}

/* uri (and url, canonical): \S* */
static int validate_uri(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (validate_space(s[i]))
			return 0;
	return 1;
}

/* oid: urn:oid:[0-2](\.(0|[1-9][0-9]*))+ */
static int validate_oid(const char *s, size_t len)
{
	size_t i = 8, arcs = 0;

	if (len < 11 || memcmp(s, "urn:oid:", 8) != 0 || s[i] < '0' || s[i] > '2')
		return 0;
	i++;
	while (i < len) {
		size_t start;
		if (s[i] != '.')
			return 0;
		start = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start || (s[start] == '0' && i - start > 1))
			return 0;
		arcs++;
	}
	return arcs > 0;
}

/* uuid: urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} */
static int validate_uuid(const char *s, size_t len)
{
	if (len != 45 || memcmp(s, "urn:uuid:", 9) != 0)
		return 0;
	for (size_t i = 9; i < len; i++) {
		size_t k = i - 9;
		if (k == 8 || k == 13 || k == 18 || k == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

/* base64Binary: RFC 4648 base64, whitespace allowed between characters
 * (datatypes.html: (\s*([0-9a-zA-Z\+\=]){4}\s*)+ - the published pattern
 * lacks '/', which base64 needs, so '/' is accepted); padding only at the
 * end; whole 4-character groups. */
static int validate_base64(const char *s, size_t len)
{
	size_t n = 0, pad = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (validate_space(ch))
			continue;
		if (ch == '=') {
			pad++;
		} else if (pad || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
				    ch == '+' || ch == '/')) {
			return 0;
		}
		n++;
	}
	return n > 0 && n % 4 == 0 && pad <= 2;
}

/* xhtml: narrative.html - the content is one XHTML div element (txt-1 and
 * txt-2 need an XHTML parser and are not checked here). */
static int validate_xhtml(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && validate_space(s[i]))
		i++;
	return len - i > 4 && memcmp(s + i, "<div", 4) == 0 &&
	       (validate_space(s[i + 4]) || s[i + 4] == '>' || s[i + 4] == '/');
}

/* A string-based primitive: json.html "string property values can never
 * be empty"; the formats of datatypes.html. */
static int validate_string(struct validate_walk *w, unsigned kind, const json_t *v, const char *seg)
{
	const char *s;
	size_t len;
	int ok = 1, rc = 0;

	if (!json_is_string(v)) {
		rc = validate_fail(w, "Element '%s' must be a JSON string", seg);
		goto out;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0) {
		rc = validate_fail(w, "Element '%s' must not be an empty string", seg);
		goto out;
	}
	/* The format checkers read up to the first NUL; a NUL inside would let
	 * "2020-01-01\u0000junk" through. */
	if (strlen(s) != len) {
		rc = validate_fail(w, "Element '%s' must not contain NUL characters", seg);
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
	case FHIR_K_CODE:
		ok = validate_code(s, len);
		break;
	case FHIR_K_URI:
		ok = validate_uri(s, len);
		break;
	case FHIR_K_OID:
		ok = validate_oid(s, len);
		break;
	case FHIR_K_UUID:
		ok = validate_uuid(s, len);
		break;
	case FHIR_K_BASE64:
		ok = validate_base64(s, len);
		break;
	case FHIR_K_XHTML:
		ok = validate_xhtml(s, len);
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
			[FHIR_K_CODE] = "a code (no leading, trailing or repeated whitespace)",
			[FHIR_K_URI] = "a uri (no whitespace)",
			[FHIR_K_OID] = "an oid (urn:oid:...)",
			[FHIR_K_UUID] = "a uuid (urn:uuid: and lower-case hex)",
			[FHIR_K_BASE64] = "base64Binary",
			[FHIR_K_XHTML] = "xhtml (a <div> element)",
		};
		rc = validate_fail(w, "Element '%s' is not %s", seg, what[kind]);
	}
out:
	return rc;
}

/* A JSON integer within [lo, INT32_MAX] (datatypes.html: integer is
 * 32-bit signed; unsignedInt and positiveInt are its subsets). */
static int validate_integer(struct validate_walk *w, const json_t *v, json_int_t lo, const char *seg)
{
	int rc = 0;

	if (!json_is_integer(v))
		rc = validate_fail(w, "Element '%s' must be a JSON integer", seg);
	else if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
		rc = validate_fail(w, "Element '%s' is out of range for a 32-bit integer", seg);
	else if (json_integer_value(v) < lo)
		rc = validate_fail(w, "Element '%s' must be %s", seg, lo > 0 ? "positive" : "zero or more");
	return rc;
}

/* The object of a "_x" companion (json.html "Representing primitive
 * elements"): Element's own id and extension only, and not empty. The path
 * is where x is, which FHIRPath also uses for x's extensions
 * ("Patient.birthDate.extension[0]"); cseg names "_x" in messages. */
static int validate_element_ext(struct validate_walk *w, const json_t *v, const char *cseg)
{
	const char *key;
	const json_t *item, *x;
	size_t i;
	int rc = 0;

	if (!json_is_object(v) || json_object_size(v) == 0) {
		rc = validate_fail(w, "Element '%s' must be an object with id or extension", cseg);
		goto out;
	}
	json_object_foreach((json_t *)v, key, x)
	{
		if (strcmp(key, "id") == 0) {
			if (!json_is_string(x) || json_string_length(x) == 0) {
				rc = validate_fail(w, "Element '%s.id' must be a non-empty string", cseg);
				goto out;
			}
		} else if (strcmp(key, "extension") == 0) {
			if (!json_is_array(x) || json_array_size(x) == 0) {
				rc = validate_fail(w, "Element '%s.extension' must be a non-empty array", cseg);
				goto out;
			}
			json_array_foreach(x, i, item)
			{
				size_t mark = validate_push(w, "extension", i);
				if (!json_is_object(item) || json_object_size(item) == 0) {
					rc = validate_fail(w, "Element '%s' must be a non-empty object",
							   validate_seg(w, mark));
					goto out;
				}
				rc = validate_object(w, item, w->ext, VALIDATE_ELEMENT);
				if (rc)
					goto out;
				validate_pop(w, mark);
			}
		} else {
			char q[VALID_QUOTE_BUF];
			valid_quote(key, strlen(key), q);
			rc = validate_fail(w, "Unknown element '%s' in '%s'", q, cseg);
			goto out;
		}
	}
out:
	return rc;
}

/* A resource as the value of an element (references.html#contained,
 * bundle.html, parameters.html): a known resourceType, then the rules of
 * its own type. The path is already the element's. */
static int validate_inner_resource(struct validate_walk *w, const struct validate_obj *o, const fhir_element *el,
				   const json_t *v, const char *seg)
{
	const fhir_type *t, *want = fhir_element_type(el);
	const json_t *rt;
	int contained = strcmp(el->name, "contained") == 0, rc = 0;

	if (!json_is_object(v)) {
		rc = validate_fail(w, "Element '%s' must be a resource (a JSON object)", seg);
		goto out;
	}
	rt = json_object_get(v, "resourceType");
	if (!json_is_string(rt)) {
		rc = validate_fail(w, "Element '%s' must have a resourceType", seg);
		goto out;
	}
	t = fhir_type_find(json_string_value(rt), json_string_length(rt));
	if (!t) {
		char q[VALID_QUOTE_BUF];
		valid_quote(json_string_value(rt), json_string_length(rt), q);
		rc = validate_fail(w, "Element '%s' has an unknown resourceType '%s'", seg, q);
		goto out;
	}
	if (want && t != want) {
		rc = validate_fail(w, "Element '%s' must be a %s", seg, want->name);
		goto out;
	}
	/* fhird import checks each entry of a batch or transaction on its own,
	 * so that one bad entry fails alone. */
	if ((w->flags & FHIR_VALIDATE_ENTRIES_SHALLOW) && o->t == w->entry && strcmp(el->name, "resource") == 0)
		goto out;
	rc = validate_object(w, v, t, contained ? VALIDATE_CONTAINED : VALIDATE_RESOURCE);
out:
	return rc;
}

/* meta of a contained resource: resource.html dom-4 and dom-5. */
static int validate_contained_meta(struct validate_walk *w, const json_t *meta)
{
	int rc = 0;

	if (validate_present(meta, "versionId") || validate_present(meta, "lastUpdated"))
		rc = validate_fail(w, "A contained resource must not have meta.versionId or meta.lastUpdated (dom-4)");
	else if (validate_present(meta, "security"))
		rc = validate_fail(w, "A contained resource must not have meta.security (dom-5)");
	return rc;
}

/* One value (an array item or a single value) of element el of o; the
 * path already ends with it, seg is its last segment ("name[1]"). */
static int validate_value(struct validate_walk *w, const struct validate_obj *o, const fhir_element *el,
			  const json_t *v, const char *seg)
{
	int rc = 0;

	switch (el->kind) {
	case FHIR_K_BOOLEAN:
		if (!json_is_boolean(v))
			rc = validate_fail(w, "Element '%s' must be true or false", seg);
		break;
	case FHIR_K_INTEGER:
		rc = validate_integer(w, v, INT32_MIN, seg);
		break;
	case FHIR_K_UNSIGNED:
		rc = validate_integer(w, v, 0, seg);
		break;
	case FHIR_K_POSITIVE:
		rc = validate_integer(w, v, 1, seg);
		break;
	case FHIR_K_DECIMAL:
		/* json.html: a decimal is a JSON number (jansson keeps integers
		 * and reals apart; both are numbers). */
		if (!json_is_number(v))
			rc = validate_fail(w, "Element '%s' must be a JSON number", seg);
		break;
	case FHIR_K_COMPLEX:
		/* ele-1: every element has a value or children, so {} is not one. */
		if (!json_is_object(v))
			rc = validate_fail(w, "Element '%s' must be a JSON object", seg);
		else if (json_object_size(v) == 0)
			rc = validate_fail(w, "Element '%s' must not be an empty object", seg);
		else
			rc = validate_object(w, v, fhir_element_type(el), VALIDATE_ELEMENT);
		if (!rc && o->what == VALIDATE_CONTAINED && strcmp(el->name, "meta") == 0)
			rc = validate_contained_meta(w, v);
		break;
	case FHIR_K_RESOURCE:
		rc = validate_inner_resource(w, o, el, v, seg);
		break;
	default:
		rc = validate_string(w, el->kind, v, seg);
		break;
	}
	return rc;
}

/* A property "x" of a known element. */
static int validate_element(struct validate_walk *w, const struct validate_obj *o, const fhir_element *el,
			    const json_t *v)
{
	const json_t *item, *partner = NULL;
	size_t i, mark;
	int primitive = validate_is_primitive(el->kind), rc = 0;

	/* json.html: null only appears inside primitive arrays. */
	if (json_is_null(v)) {
		rc = validate_fail_at(w, el->name, "Element '%s' must not be null", el->name);
		goto out;
	}
	if (el->kind == FHIR_K_RESOURCE && o->what == VALIDATE_CONTAINED) {
		rc = validate_fail_at(w, el->name, "A contained resource must not contain resources (dom-2)");
		goto out;
	}
	if (!el->is_array) {
		mark = validate_push(w, el->name, VALIDATE_NO_INDEX);
		if (json_is_array(v))
			rc = validate_fail(w, "Element '%s' must be a single value, not an array", el->name);
		else
			rc = validate_value(w, o, el, v, el->name);
		if (!rc)
			validate_pop(w, mark);
		goto out;
	}
	if (!json_is_array(v)) {
		rc = validate_fail_at(w, el->name, "Element '%s' must be an array", el->name);
		goto out;
	}
	/* json.html: "arrays SHALL NOT be empty". */
	if (json_array_size(v) == 0) {
		rc = validate_fail_at(w, el->name, "Element '%s' must not be an empty array", el->name);
		goto out;
	}
	if (primitive) {
		partner = validate_partner(o->obj, el->name, 1);
		if (json_is_array(partner) && json_array_size(partner) != json_array_size(v)) {
			rc = validate_fail_at(w, el->name, "Elements '%s' and '_%s' must have the same number of items",
					      el->name, el->name);
			goto out;
		}
	}
	json_array_foreach(v, i, item)
	{
		mark = validate_push(w, el->name, i);
		if (json_is_null(item)) {
			/* A null value keeps its place only for the extensions
			 * at the same index of "_x". */
			const json_t *other = json_is_array(partner) ? json_array_get(partner, i) : NULL;
			if (!primitive || !other || json_is_null(other)) {
				rc = validate_fail(w, "Element '%s' must not be null", validate_seg(w, mark));
				goto out;
			}
		} else {
			rc = validate_value(w, o, el, item, validate_seg(w, mark));
			if (rc)
				goto out;
		}
		validate_pop(w, mark);
	}
out:
	return rc;
}

/* A property "_x": the id/extensions of primitive element el. */
static int validate_companion(struct validate_walk *w, const struct validate_obj *o, const fhir_element *el,
			      const json_t *v)
{
	const json_t *item, *partner;
	char cseg[VALIDATE_NAME_BUF + 24];
	size_t i, mark;
	int rc = 0;

	snprintf(cseg, sizeof cseg, "_%s", el->name);
	if (json_is_null(v)) {
		rc = validate_fail_at(w, el->name, "Element '%s' must not be null", cseg);
		goto out;
	}
	if (!el->is_array) {
		mark = validate_push(w, el->name, VALIDATE_NO_INDEX);
		if (json_is_array(v))
			rc = validate_fail(w, "Element '%s' must be an object, not an array", cseg);
		else
			rc = validate_element_ext(w, v, cseg);
		if (!rc)
			validate_pop(w, mark);
		goto out;
	}
	if (!json_is_array(v) || json_array_size(v) == 0) {
		rc = validate_fail_at(w, el->name, "Element '%s' must be a non-empty array", cseg);
		goto out;
	}
	partner = validate_partner(o->obj, el->name, 0);
	if (json_is_array(partner) && json_array_size(partner) != json_array_size(v)) {
		rc = validate_fail_at(w, el->name, "Elements '%s' and '%s' must have the same number of items", el->name,
				      cseg);
		goto out;
	}
	json_array_foreach(v, i, item)
	{
		const json_t *other = json_is_array(partner) ? json_array_get(partner, i) : NULL;

		mark = validate_push(w, el->name, i);
		snprintf(cseg, sizeof cseg, "_%s[%zu]", el->name, i);
		if (json_is_null(item)) {
			if (!other || json_is_null(other)) {
				rc = validate_fail(w, "Element '%s' must not be null", cseg);
				goto out;
			}
		} else {
			rc = validate_element_ext(w, item, cseg);
			if (rc)
				goto out;
		}
		validate_pop(w, mark);
	}
out:
	return rc;
}

/* After the properties: the first required element or required choice
 * group of t that obj lacks, in table order. Only called when the count
 * says one is missing. */
static int validate_missing(struct validate_walk *w, const struct validate_obj *o,
			    const fhir_element *const *choices)
{
	const fhir_type *t = o->t;
	int rc = 0;

	for (unsigned i = 0; i < t->n_elements && !rc; i++) {
		const fhir_element *el = &t->elements[i];
		char grp[VALIDATE_NAME_BUF];

		if (el->required && !validate_present(o->obj, el->name)) {
			rc = validate_fail_at(w, el->name, "Missing required element '%s'", el->name);
		} else if (el->choice_group && el->choice_required && !choices[el->choice_group - 1]) {
			snprintf(grp, sizeof grp, "%s[x]", el->choice);
			rc = validate_fail_at(w, grp, "Missing required element '%s'", grp);
		}
	}
	/* The count and the table disagree only if the generator is wrong. */
	if (!rc)
		rc = validate_fail(w, "Missing required element");
	return rc;
}

/* Every property of obj against t, then the required elements of t; the
 * path is obj's location. */
static int validate_object(struct validate_walk *w, const json_t *obj, const fhir_type *t, enum validate_what what)
{
	const fhir_element *choices[FHIR_MAX_CHOICE_GROUPS];
	struct validate_obj o = { obj, t, what };
	const char *key;
	const json_t *v;
	unsigned n_required = 0;
	int rc = 0;

	/* The parser caps JSON depth and a patch result is capped too; this
	 * keeps the recursion bounded whatever the caller did. */
	if (++w->depth > FHIR_VALIDATE_MAX_DEPTH) {
		rc = validate_fail(w, "The resource is nested too deeply");
		goto out;
	}
	if (!t) {
		rc = validate_fail(w, "No definition for this element");
		goto out;
	}
	memset(choices, 0, t->n_choices * sizeof choices[0]);
	json_object_foreach((json_t *)obj, key, v)
	{
		const fhir_element *el;
		int companion = key[0] == '_';

		/* resourceType was checked by whoever picked t; anywhere
		 * else it is not an element (json.html). */
		if (t->is_resource && strcmp(key, "resourceType") == 0)
			continue;
		el = fhir_type_element(t, companion ? key + 1 : key);
		if (!el || (companion && (!validate_is_primitive(el->kind) || el->kind == FHIR_K_XHTML))) {
			/* xhtml has no id or extensions (narrative.html) */
			char q[VALID_QUOTE_BUF];
			valid_quote(key, strlen(key), q);
			rc = validate_fail_at(w, q, "Unknown element '%s'", q);
			goto out;
		}
		if (el->choice_group) {
			/* A choice x[x] has max 1: at most one of its types. */
			const fhir_element **seen = &choices[el->choice_group - 1];
			if (*seen && *seen != el) {
				char grp[VALIDATE_NAME_BUF];
				snprintf(grp, sizeof grp, "%s[x]", el->choice);
				rc = validate_fail_at(w, grp, "Only one type of '%s' may be present", grp);
				goto out;
			}
			if (!*seen && el->choice_required)
				n_required++;
			*seen = el;
		} else if (el->required && (!companion || !json_object_get(obj, el->name))) {
			n_required++; /* x and _x count once */
		}
		rc = companion ? validate_companion(w, &o, el, v) : validate_element(w, &o, el, v);
		if (rc)
			goto out;
	}
	if (n_required < t->n_required) {
		rc = validate_missing(w, &o, choices);
		goto out;
	}
	/* ext-1 (extensibility.html): an extension has nested extensions or a
	 * value, not both, and not neither. */
	if (t == w->ext && !json_object_get(obj, "extension") == !choices[0])
		rc = validate_fail(w, "An extension must have either extensions or a value[x], not both (ext-1)");
out:
	w->depth--;
	return rc;
}

int fhir_validate_resource_flags(const json_t *res, const fhir_type *t, unsigned flags, fhir_issue *issue)
{
	fhir_issue scratch;
	struct validate_walk w;
	const json_t *rt;
	int rc;

	if (!issue)
		issue = &scratch;
	memset(issue, 0, sizeof *issue);
	if (!res || !t || !t->is_resource) {
		rc = ERR_INTERNAL;
		issue->err = rc;
		goto out;
	}
	w.issue = issue;
	w.flags = flags;
	w.depth = 0;
	w.ext = fhir_struct_extension;
	w.entry = fhir_struct_bundle_entry;
	w.len = 0;
	w.path[0] = '\0';
	validate_append(&w, t->name, strlen(t->name));
	if (!json_is_object(res)) {
		rc = validate_fail(&w, "A resource must be a JSON object");
		goto out;
	}
	rt = json_object_get(res, "resourceType");
	if (!json_is_string(rt) || json_string_length(rt) != strlen(t->name) ||
	    memcmp(json_string_value(rt), t->name, json_string_length(rt)) != 0) {
		rc = validate_fail_at(&w, "resourceType", "resourceType must be '%s'", t->name);
		goto out;
	}
	rc = validate_object(&w, res, t, VALIDATE_RESOURCE);
out:
	return rc;
}

int fhir_validate_resource(const json_t *res, const fhir_type *t, fhir_issue *issue)
{
	return fhir_validate_resource_flags(res, t, 0, issue);
}
