/*
 * extract.c - see extract.h. search_extract_init() compiles the FHIRPath
 * expression of every row of search_params[] (fhirpath.h) into one table,
 * written once at start and read-only afterwards (the only process-wide
 * state of the search module; extraction threads share it). Extraction
 * then runs on every write, outside the write transaction: for each row
 * of the resource's type it evaluates the expression and turns each
 * selected node into rows by the datatype rules of extract.h.
 *
 * Two steps per node: the node becomes "values" (ex_val: slices of the
 * JSON strings plus numbers, no copies), and values become rows (the only
 * allocations: each row's own strings). Composites need the values of
 * both components of one item before any row exists, which is why the
 * steps are apart.
 *
 * Datatypes: a node reached through a choice element or a type operator
 * carries its type (fhirpath.h); any other node's type is inferred from
 * its JSON shape within what the parameter's type allows (a token is a
 * CodeableConcept, Coding, Identifier, ContactPoint or primitive; a date a
 * primitive, Period or Timing; ...). The generated type tables (types.h)
 * stop at top-level elements and carry no datatype names, and within one
 * parameter type the shapes do not overlap: a Coding has "code", an
 * Identifier a string "value" and a URI "system", a ContactPoint a string
 * "value" and a code "system" (contact-point-system has no ':').
 */
#include "extract.h"

#include "core/err.h"
#include "core/valid.h"
#include "fhir/types.h"
#include "fhirpath.h"
#include "params.h"
#include "value.h"

#include <stdlib.h>
#include <string.h>

/* Composite rows one item may produce (first component values times
 * second component values). A client controls both counts, and the
 * product is quadratic in the body size: an Observation with 5,000 codes
 * and a value with 5,000 codings would otherwise make 25 million rows.
 * ERR_TOOBIG beyond. */
#define EX_MAX_COMBOS 10000

enum ex_state {
	EX_NONE = 0,  /* no expression (or not initialised) */
	EX_FULL,      /* compiled; every branch indexed */
	EX_PARTIAL,   /* compiled and extracted; some branches cannot be (Range) */
	EX_SKIP       /* not extracted: see search_extract_init() */
};

struct ex_param {
	fhirpath_expr *expr;
	fhirpath_expr *comp[2];
	unsigned char state;
};

/* One per search_params[] row; NULL until search_extract_init(). */
static struct ex_param *ex_tab;

/* ------------------------------------------------------------- values */

typedef struct ex_str {
	const char *s;
	size_t n;
} ex_str;

/* A value about to become a row: slices point into the JSON or at static
 * text. */
typedef struct ex_val {
	enum search_row_kind kind;
	ex_str sys, code;
	ex_str code2;    /* OF_TYPE: the identifier value after "code|" */
	ex_str str;      /* STRING, TOKEN_TEXT: text to normalise; URI: as written */
	double num;
	int64_t lo, hi;
} ex_val;

typedef struct ex_vals {
	ex_val *v;
	size_t n, cap;
} ex_vals;

/* One search_extract() call. */
struct ex_run {
	const json_t *res;
	const char *base;
	size_t base_len;
	fhirpath_vec nodes;
	ex_vals vals, vals2;
	search_rows *out;
};

static const ex_str ex_empty = { "", 0 };
static const ex_str ex_true = { "true", 4 };
static const ex_str ex_false = { "false", 5 };
static const ex_str ex_iso4217 = { "urn:iso:std:iso:4217", 20 };

/* The non-empty string value of v without NUL bytes (a row string is a C
 * string; jansson refuses U+0000 unless asked, but be safe). */
static int ex_jstr(const json_t *v, ex_str *out)
{
	if (!json_is_string(v))
		return 0;
	out->s = json_string_value(v);
	out->n = json_string_length(v);
	return out->n > 0 && !memchr(out->s, '\0', out->n);
}

static int ex_get(const json_t *obj, const char *key, ex_str *out)
{
	return ex_jstr(json_object_get(obj, key), out);
}

static int ex_has(const json_t *obj, const char *key)
{
	return json_object_get(obj, key) != NULL;
}

static ex_val *ex_val_new(ex_vals *vs, enum search_row_kind kind)
{
	ex_val *v;

	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? vs->cap * 2 : 32;
		ex_val *nv = realloc(vs->v, cap * sizeof *nv);
		if (!nv)
			return NULL;
		vs->v = nv;
		vs->cap = cap;
	}
	v = &vs->v[vs->n++];
	memset(v, 0, sizeof *v);
	v->kind = kind;
	return v;
}

static int ex_val_token(ex_vals *vs, ex_str sys, ex_str code)
{
	ex_val *v = ex_val_new(vs, SEARCH_ROW_TOKEN);
	if (!v)
		return ERR_NOMEM;
	v->sys = sys;
	v->code = code;
	return 0;
}

static int ex_val_str(ex_vals *vs, enum search_row_kind kind, ex_str s)
{
	ex_val *v = ex_val_new(vs, kind);
	if (!v)
		return ERR_NOMEM;
	v->str = s;
	return 0;
}

/* Coding: (system, code) and display as text. */
static int ex_coding(ex_vals *vs, const json_t *c)
{
	ex_str sys, code, disp;
	int rc = 0;

	if (ex_get(c, "code", &code)) {
		if (!ex_get(c, "system", &sys))
			sys = ex_empty;
		rc = ex_val_token(vs, sys, code);
	}
	if (!rc && ex_get(c, "display", &disp))
		rc = ex_val_str(vs, SEARCH_ROW_TOKEN_TEXT, disp);
	return rc;
}

/* CodeableConcept: each coding, and text. */
static int ex_concept(ex_vals *vs, const json_t *cc)
{
	const json_t *codings = json_object_get(cc, "coding");
	ex_str text;
	size_t i;
	int rc = 0;

	for (i = 0; i < json_array_size(codings) && !rc; i++)
		rc = ex_coding(vs, json_array_get(codings, i));
	if (!rc && ex_get(cc, "text", &text))
		rc = ex_val_str(vs, SEARCH_ROW_TOKEN_TEXT, text);
	return rc;
}

/* Identifier: (system, value); type.text as text; (type.coding.system,
 * type.coding.code|value) for :of-type (search.html#token). */
static int ex_identifier(ex_vals *vs, const json_t *id)
{
	const json_t *type = json_object_get(id, "type"), *codings;
	ex_str sys, value, text;
	size_t i;
	int have_value = ex_get(id, "value", &value), rc = 0;

	if (have_value) {
		if (!ex_get(id, "system", &sys))
			sys = ex_empty;
		rc = ex_val_token(vs, sys, value);
	}
	if (!rc && ex_get(type, "text", &text))
		rc = ex_val_str(vs, SEARCH_ROW_TOKEN_TEXT, text);
	codings = json_object_get(type, "coding");
	for (i = 0; have_value && i < json_array_size(codings) && !rc; i++) {
		const json_t *c = json_array_get(codings, i);
		ex_str tsys, tcode;
		ex_val *v;
		if (!ex_get(c, "code", &tcode))
			continue;
		if (!ex_get(c, "system", &tsys))
			tsys = ex_empty;
		v = ex_val_new(vs, SEARCH_ROW_OF_TYPE);
		if (!v)
			return ERR_NOMEM;
		v->sys = tsys;
		v->code = tcode;
		v->code2 = value;
	}
	return rc;
}

static int ex_token(ex_vals *vs, fhirpath_node nd)
{
	const json_t *v = nd.v;
	ex_str s, sys;

	switch (nd.type) {
	case FHIRPATH_T_CODEABLECONCEPT:
		return ex_concept(vs, v);
	case FHIRPATH_T_CODING:
		return ex_coding(vs, v);
	case FHIRPATH_T_IDENTIFIER:
		return ex_identifier(vs, v);
	case FHIRPATH_T_CONTACTPOINT:
		return ex_get(v, "value", &s) ? ex_val_token(vs, ex_empty, s) : 0;
	case FHIRPATH_T_UNKNOWN:
		break;
	default:
		if (!json_is_string(v) && !json_is_boolean(v))
			return 0; /* Quantity, Range, Reference...: no token */
		break;
	}
	if (json_is_boolean(v))
		return ex_val_token(vs, ex_empty, json_is_true(v) ? ex_true : ex_false);
	if (json_is_string(v))
		return ex_jstr(v, &s) ? ex_val_token(vs, ex_empty, s) : 0;
	if (!json_is_object(v))
		return 0;
	/* shape (see the file comment) */
	if (ex_has(v, "coding") || (ex_has(v, "text") && !ex_has(v, "value") && !ex_has(v, "code")))
		return ex_concept(vs, v);
	if (ex_has(v, "code") && !ex_has(v, "value"))
		return ex_coding(vs, v);
	if (json_is_string(json_object_get(v, "value"))) {
		if (ex_get(v, "system", &sys) && !memchr(sys.s, ':', sys.n))
			return ex_get(v, "value", &s) ? ex_val_token(vs, ex_empty, s) : 0;
		return ex_identifier(vs, v);
	}
	return 0;
}

/* HumanName and Address parts (extract.h); the two share only "text". */
static int ex_name_parts(ex_vals *vs, const json_t *v)
{
	static const char *const parts[] = {
		"family", "given", "prefix", "suffix", "text",
		"line", "city", "district", "state", "postalCode", "country",
	};
	size_t i, k;
	int rc = 0;

	for (i = 0; i < sizeof parts / sizeof parts[0] && !rc; i++) {
		const json_t *x = json_object_get(v, parts[i]);
		ex_str s;
		if (json_is_array(x)) {
			for (k = 0; k < json_array_size(x) && !rc; k++)
				if (ex_jstr(json_array_get(x, k), &s))
					rc = ex_val_str(vs, SEARCH_ROW_STRING, s);
		} else if (ex_jstr(x, &s)) {
			rc = ex_val_str(vs, SEARCH_ROW_STRING, s);
		}
	}
	return rc;
}

static int ex_string(ex_vals *vs, fhirpath_node nd)
{
	ex_str s;

	if (json_is_string(nd.v))
		return ex_jstr(nd.v, &s) ? ex_val_str(vs, SEARCH_ROW_STRING, s) : 0;
	if (!json_is_object(nd.v))
		return 0;
	if (nd.type == FHIRPATH_T_UNKNOWN || nd.type == FHIRPATH_T_HUMANNAME || nd.type == FHIRPATH_T_ADDRESS)
		return ex_name_parts(vs, nd.v);
	return 0;
}

static int ex_date_val(ex_vals *vs, int64_t lo, int64_t hi)
{
	ex_val *v = ex_val_new(vs, SEARCH_ROW_DATE);
	if (!v)
		return ERR_NOMEM;
	v->lo = lo;
	v->hi = hi;
	return 0;
}

/* A date/dateTime/instant string (value.h); 1 when valid. */
static int ex_date_parse(const json_t *s, int64_t *lo, int64_t *hi)
{
	ex_str x;
	return ex_jstr(s, &x) && search_date_range(x.s, lo, hi) == 0;
}

static int ex_date(ex_vals *vs, fhirpath_node nd)
{
	const json_t *v = nd.v, *start, *end, *events;
	int64_t lo, hi, l2, h2;
	size_t i;
	int rc = 0;

	switch (nd.type) {
	case FHIRPATH_T_UNKNOWN:
	case FHIRPATH_T_DATE:
	case FHIRPATH_T_DATETIME:
	case FHIRPATH_T_INSTANT:
	case FHIRPATH_T_PERIOD:
	case FHIRPATH_T_TIMING:
		break;
	default:
		return 0; /* occurrenceString, onsetAge, ...: not a date */
	}
	if (json_is_string(v))
		return ex_date_parse(v, &lo, &hi) ? ex_date_val(vs, lo, hi) : 0;
	if (!json_is_object(v))
		return 0;
	start = json_object_get(v, "start");
	end = json_object_get(v, "end");
	if (nd.type == FHIRPATH_T_PERIOD || (nd.type == FHIRPATH_T_UNKNOWN && (start || end))) {
		/* Period: open ends are unbounded (search.html#date) */
		lo = SEARCH_DATE_MIN;
		hi = SEARCH_DATE_MAX;
		if (start && !ex_date_parse(start, &lo, &h2))
			return 0;
		if (end && !ex_date_parse(end, &l2, &hi))
			return 0;
		if (!start && !end)
			return 0;
		return ex_date_val(vs, lo, hi);
	}
	/* Timing: each event */
	events = json_object_get(v, "event");
	for (i = 0; i < json_array_size(events) && !rc; i++)
		if (ex_date_parse(json_array_get(events, i), &lo, &hi))
			rc = ex_date_val(vs, lo, hi);
	return rc;
}

static int ex_number(ex_vals *vs, fhirpath_node nd)
{
	ex_val *v;

	if (!json_is_number(nd.v))
		return 0;
	v = ex_val_new(vs, SEARCH_ROW_NUMBER);
	if (!v)
		return ERR_NOMEM;
	v->num = json_number_value(nd.v);
	return 0;
}

static int ex_quantity(ex_vals *vs, fhirpath_node nd)
{
	const json_t *v = nd.v, *value = json_object_get(v, "value");
	ex_str sys, code, unit, cur;
	int has_code, has_unit, money;
	ex_val *x;

	switch (nd.type) {
	case FHIRPATH_T_QUANTITY:
	case FHIRPATH_T_AGE:
	case FHIRPATH_T_COUNT:
	case FHIRPATH_T_DISTANCE:
	case FHIRPATH_T_DURATION:
	case FHIRPATH_T_MONEY:
	case FHIRPATH_T_UNKNOWN:
		break;
	default:
		return 0; /* Range, SampledData: no single value */
	}
	if (!json_is_object(v) || !json_is_number(value))
		return 0;
	money = nd.type == FHIRPATH_T_MONEY || (nd.type == FHIRPATH_T_UNKNOWN && ex_has(v, "currency"));
	x = ex_val_new(vs, SEARCH_ROW_QUANTITY);
	if (!x)
		return ERR_NOMEM;
	x->num = json_number_value(value);
	x->sys = ex_empty;
	x->code = ex_empty;
	if (money) {
		/* search.html#quantity: Money is searched by ISO 4217 currency */
		if (ex_get(v, "currency", &cur)) {
			x->sys = ex_iso4217;
			x->code = cur;
		}
		return 0;
	}
	has_code = ex_get(v, "code", &code);
	has_unit = ex_get(v, "unit", &unit);
	if (ex_get(v, "system", &sys))
		x->sys = sys;
	if (has_code)
		x->code = code;
	else if (has_unit)
		x->code = unit;
	if (has_code && has_unit && (code.n != unit.n || memcmp(code.s, unit.s, code.n) != 0)) {
		/* the unit as displayed is searchable too (value|""|unit) */
		double num = x->num;
		x = ex_val_new(vs, SEARCH_ROW_QUANTITY);
		if (!x)
			return ERR_NOMEM;
		x->num = num;
		x->sys = ex_empty;
		x->code = unit;
	}
	return 0;
}

/* A reference string: 1 with *type, *id for "Type/id[/_history/v]",
 * relative or on our base; 0 for anything else that is indexed as
 * written (absolute elsewhere, urn:, not parseable); -1 for nothing
 * (contained "#id"). */
static int ex_ref_parse(const struct ex_run *r, ex_str s, ex_str *type, ex_str *id)
{
	const char *rel = s.s, *slash, *idp, *tail;
	size_t rn = s.n, tl, rest, idl;

	if (s.s[0] == '#')
		return -1;
	if (r->base_len && s.n > r->base_len + 1 && memcmp(s.s, r->base, r->base_len) == 0 &&
	    s.s[r->base_len] == '/') {
		rel = s.s + r->base_len + 1;
		rn = s.n - r->base_len - 1;
	} else if (memmem(s.s, s.n, "://", 3) || (s.n > 4 && memcmp(s.s, "urn:", 4) == 0)) {
		return 0;
	}
	slash = memchr(rel, '/', rn);
	if (!slash)
		return 0;
	tl = (size_t)(slash - rel);
	if (!fhir_type_find(rel, tl))
		return 0;
	idp = slash + 1;
	rest = rn - tl - 1;
	tail = memchr(idp, '/', rest);
	idl = tail ? (size_t)(tail - idp) : rest;
	if (!valid_id(idp, idl))
		return 0;
	if (tail) {
		/* http.html#vread: a version-specific reference still refers
		 * to the resource; the version is dropped from the index */
		size_t tn = rest - idl;
		if (tn <= 10 || memcmp(tail, "/_history/", 10) != 0 || !valid_id(tail + 10, tn - 10))
			return 0;
	}
	type->s = rel;
	type->n = tl;
	id->s = idp;
	id->n = idl;
	return 1;
}

static int ex_reference(const struct ex_run *r, ex_vals *vs, fhirpath_node nd)
{
	const json_t *v = nd.v, *ident;
	ex_str s, type, id, sys, value;
	ex_val *x;
	int k;

	if (nd.type == FHIRPATH_T_RESOURCE)
		return 0;
	if (json_is_string(v)) {
		/* canonical / uri: the URL as written (extract.h) */
		return ex_jstr(v, &s) ? ex_val_token(vs, ex_empty, s) : 0;
	}
	if (!json_is_object(v))
		return 0;
	if (nd.type != FHIRPATH_T_UNKNOWN && nd.type != FHIRPATH_T_REFERENCE)
		return 0;
	if (ex_get(v, "reference", &s)) {
		k = ex_ref_parse(r, s, &type, &id);
		if (k >= 0) {
			if (ex_val_token(vs, k ? type : ex_empty, k ? id : s))
				return ERR_NOMEM;
		}
	}
	ident = json_object_get(v, "identifier");
	if (json_is_object(ident) && ex_get(ident, "value", &value)) {
		if (!ex_get(ident, "system", &sys))
			sys = ex_empty;
		x = ex_val_new(vs, SEARCH_ROW_REF_IDENT);
		if (!x)
			return ERR_NOMEM;
		x->sys = sys;
		x->code = value;
	}
	return 0;
}

/* The node nd of a parameter of type t -> values appended to vs. */
static int ex_values(const struct ex_run *r, enum search_type t, fhirpath_node nd, ex_vals *vs)
{
	size_t n0 = vs->n, i;
	ex_str s;
	int rc;

	switch (t) {
	case SEARCH_T_TOKEN:
		return ex_token(vs, nd);
	case SEARCH_T_STRING:
		return ex_string(vs, nd);
	case SEARCH_T_DATE:
		return ex_date(vs, nd);
	case SEARCH_T_NUMBER:
		return ex_number(vs, nd);
	case SEARCH_T_QUANTITY:
		return ex_quantity(vs, nd);
	case SEARCH_T_URI:
		return ex_jstr(nd.v, &s) ? ex_val_str(vs, SEARCH_ROW_URI, s) : 0;
	case SEARCH_T_REFERENCE:
		rc = ex_reference(r, vs, nd);
		/* references come out of ex_val_token; relabel them */
		for (i = n0; i < vs->n; i++)
			if (vs->v[i].kind == SEARCH_ROW_TOKEN)
				vs->v[i].kind = SEARCH_ROW_REFERENCE;
		return rc;
	default:
		return 0;
	}
}

/* --------------------------------------------------------------- rows */

static char *ex_dup(ex_str s)
{
	char *p = malloc(s.n + 1);
	if (p) {
		memcpy(p, s.s, s.n);
		p[s.n] = '\0';
	}
	return p;
}

static void ex_row_free(search_row *row)
{
	free(row->sys);
	free(row->code);
	free(row->sys2);
	free(row->code2);
	free(row->sys3);
	free(row->code3);
	free(row->str);
	free(row->str2);
}

/* Normalised text (value.h) into *out: 0, 1 when there is nothing to
 * index (invalid UTF-8, only blanks), ERR_NOMEM. */
static int ex_norm(ex_str s, char **out)
{
	int rc = search_norm(s.s, s.n, out);

	if (rc == ERR_NOMEM)
		return rc;
	if (rc || (*out)[0] == '\0') {
		free(*out);
		*out = NULL;
		return 1;
	}
	return 0;
}

/* Takes row (its strings, cut to SEARCH_VALUE_MAX: value.h) into out;
 * frees them on failure. */
static int ex_row_push(search_rows *out, search_row *row)
{
	search_value_cap(row->sys);
	search_value_cap(row->code);
	search_value_cap(row->sys2);
	search_value_cap(row->code2);
	search_value_cap(row->sys3);
	search_value_cap(row->code3);
	search_value_cap(row->str);
	search_value_cap(row->str2);
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 64;
		search_row *nv = realloc(out->v, cap * sizeof *nv);
		if (!nv) {
			ex_row_free(row);
			return ERR_NOMEM;
		}
		out->v = nv;
		out->cap = cap;
	}
	out->v[out->n++] = *row;
	return 0;
}

/* The row of value v for parameter p. */
static int ex_row_of(search_rows *out, uint32_t p, const ex_val *v)
{
	search_row row;
	int rc;

	memset(&row, 0, sizeof row);
	row.p = p;
	row.kind = v->kind;
	switch (v->kind) {
	case SEARCH_ROW_STRING:
		rc = ex_norm(v->str, &row.str);
		if (rc)
			return rc < 0 ? rc : 0;
		row.str2 = ex_dup(v->str);
		if (!row.str2)
			goto nomem;
		break;
	case SEARCH_ROW_TOKEN_TEXT:
		rc = ex_norm(v->str, &row.str);
		if (rc)
			return rc < 0 ? rc : 0;
		break;
	case SEARCH_ROW_URI:
		row.str = ex_dup(v->str);
		if (!row.str)
			goto nomem;
		break;
	case SEARCH_ROW_OF_TYPE:
		row.sys = ex_dup(v->sys);
		row.code = malloc(v->code.n + 1 + v->code2.n + 1);
		if (!row.sys || !row.code)
			goto nomem;
		memcpy(row.code, v->code.s, v->code.n);
		row.code[v->code.n] = '|';
		memcpy(row.code + v->code.n + 1, v->code2.s, v->code2.n);
		row.code[v->code.n + 1 + v->code2.n] = '\0';
		break;
	case SEARCH_ROW_TOKEN:
	case SEARCH_ROW_REFERENCE:
	case SEARCH_ROW_REF_IDENT:
	case SEARCH_ROW_QUANTITY:
		row.sys = ex_dup(v->sys);
		row.code = ex_dup(v->code);
		if (!row.sys || !row.code)
			goto nomem;
		row.num = v->num;
		break;
	case SEARCH_ROW_NUMBER:
		row.num = v->num;
		break;
	case SEARCH_ROW_DATE:
		row.lo = v->lo;
		row.hi = v->hi;
		break;
	default:
		return 0;
	}
	return ex_row_push(out, &row);
nomem:
	ex_row_free(&row);
	return ERR_NOMEM;
}

/* The composite row of first-component token a and second-component
 * value b (second component of type t). */
static int ex_row_composite(search_rows *out, uint32_t p, const ex_val *a, enum search_type t, const ex_val *b)
{
	search_row row;
	int rc;

	memset(&row, 0, sizeof row);
	row.p = p;
	row.kind = SEARCH_ROW_COMPOSITE;
	switch (t) {
	case SEARCH_T_TOKEN:
	case SEARCH_T_REFERENCE:
		row.sys2 = ex_dup(b->sys);
		row.code2 = ex_dup(b->code);
		if (!row.sys2 || !row.code2)
			goto nomem;
		break;
	case SEARCH_T_QUANTITY:
		row.num = b->num;
		row.sys3 = ex_dup(b->sys);
		row.code3 = ex_dup(b->code);
		if (!row.sys3 || !row.code3)
			goto nomem;
		break;
	case SEARCH_T_DATE:
		row.lo = b->lo;
		row.hi = b->hi;
		break;
	case SEARCH_T_STRING:
		rc = ex_norm(b->str, &row.str);
		if (rc)
			return rc < 0 ? rc : 0;
		break;
	default:
		return 0;
	}
	row.sys = ex_dup(a->sys);
	row.code = ex_dup(a->code);
	if (!row.sys || !row.code)
		goto nomem;
	return ex_row_push(out, &row);
nomem:
	ex_row_free(&row);
	return ERR_NOMEM;
}

/* The row kind a composite takes from a component of type t. */
static enum search_row_kind ex_comp_kind(enum search_type t)
{
	switch (t) {
	case SEARCH_T_TOKEN: return SEARCH_ROW_TOKEN;
	case SEARCH_T_REFERENCE: return SEARCH_ROW_REFERENCE;
	case SEARCH_T_QUANTITY: return SEARCH_ROW_QUANTITY;
	case SEARCH_T_DATE: return SEARCH_ROW_DATE;
	case SEARCH_T_STRING: return SEARCH_ROW_STRING;
	default: return 0;
	}
}

/* Values of component expression ce over item into vs (emptied first). */
static int ex_comp_values(struct ex_run *r, const fhirpath_expr *ce, enum search_type t, fhirpath_node item,
			  ex_vals *vs)
{
	size_t n0 = r->nodes.n, i, k = 0;
	enum search_row_kind want = ex_comp_kind(t);
	int rc;

	vs->n = 0;
	rc = fhirpath_eval(ce, r->res, item, &r->nodes);
	for (i = n0; i < r->nodes.n && !rc; i++)
		rc = ex_values(r, t, r->nodes.v[i], vs);
	r->nodes.n = n0;
	if (rc)
		return rc;
	/* only the component's own kind: no :text or :identifier parts */
	for (i = 0; i < vs->n; i++)
		if (vs->v[i].kind == want)
			vs->v[k++] = vs->v[i];
	vs->n = k;
	return 0;
}

/* search.html#composite: the components are evaluated per item of the
 * composite's expression, so that code and value pair up within one
 * Observation.component rather than across them. */
static int ex_composite(struct ex_run *r, uint32_t p, const struct ex_param *ep)
{
	const search_param *sp = &search_params[p];
	size_t nitems = r->nodes.n, i, a, b;
	int rc = 0;

	for (i = 0; i < nitems && !rc; i++) {
		fhirpath_node item = r->nodes.v[i];
		rc = ex_comp_values(r, ep->comp[0], sp->comps[0].type, item, &r->vals);
		if (!rc && r->vals.n)
			rc = ex_comp_values(r, ep->comp[1], sp->comps[1].type, item, &r->vals2);
		if (rc || !r->vals.n || !r->vals2.n)
			continue;
		if (r->vals.n > EX_MAX_COMBOS / r->vals2.n)
			return ERR_TOOBIG;
		for (a = 0; a < r->vals.n && !rc; a++)
			for (b = 0; b < r->vals2.n && !rc; b++)
				rc = ex_row_composite(r->out, p, &r->vals.v[a], sp->comps[1].type, &r->vals2.v[b]);
	}
	return rc;
}

static int ex_param_run(struct ex_run *r, uint32_t p, const struct ex_param *ep)
{
	const search_param *sp = &search_params[p];
	fhirpath_node root = { r->res, FHIRPATH_T_RESOURCE };
	size_t i;
	int rc;

	r->nodes.n = 0;
	rc = fhirpath_eval(ep->expr, r->res, root, &r->nodes);
	if (rc || r->nodes.n == 0)
		return rc;
	if (sp->type == SEARCH_T_COMPOSITE)
		return ex_composite(r, p, ep);
	r->vals.n = 0;
	for (i = 0; i < r->nodes.n && !rc; i++)
		rc = ex_values(r, sp->type, r->nodes.v[i], &r->vals);
	for (i = 0; i < r->vals.n && !rc; i++)
		rc = ex_row_of(r->out, p, &r->vals.v[i]);
	return rc;
}

/* ------------------------------------------------------------ dedupe */

static int ex_strcmp(const char *a, const char *b)
{
	if (a == b)
		return 0;
	if (!a)
		return -1;
	if (!b)
		return 1;
	return strcmp(a, b);
}

static int ex_row_cmp(const void *x, const void *y)
{
	const search_row *a = x, *b = y;
	int d;

	if (a->p != b->p)
		return a->p < b->p ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if ((d = ex_strcmp(a->sys, b->sys)) || (d = ex_strcmp(a->code, b->code)) ||
	    (d = ex_strcmp(a->sys2, b->sys2)) || (d = ex_strcmp(a->code2, b->code2)) ||
	    (d = ex_strcmp(a->sys3, b->sys3)) || (d = ex_strcmp(a->code3, b->code3)) ||
	    (d = ex_strcmp(a->str, b->str)) || (d = ex_strcmp(a->str2, b->str2)))
		return d;
	if (a->num != b->num)
		return a->num < b->num ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	return 0;
}

/* Sorts out->v[start..n) and drops duplicates (a coding repeated, a
 * union whose branches overlap, Patient.name and Patient.name.family
 * style overlaps within one parameter). */
static void ex_dedupe(search_rows *out, size_t start)
{
	size_t i, k;

	if (out->n - start < 2)
		return;
	qsort(out->v + start, out->n - start, sizeof *out->v, ex_row_cmp);
	k = start + 1;
	for (i = start + 1; i < out->n; i++) {
		if (ex_row_cmp(&out->v[k - 1], &out->v[i]) == 0)
			ex_row_free(&out->v[i]);
		else
			out->v[k++] = out->v[i];
	}
	out->n = k;
}

/* -------------------------------------------------------------- public */

/* The R4 SearchParameter DocumentReference-relationship pairs the
 * component definitions (relatesto: reference, relation: token) with each
 * other's expressions (code, target), so its first component is a
 * reference over a code. Any composite that is not token + one of these
 * types is left out. */
static int ex_composite_ok(const search_param *sp)
{
	if (sp->ncomps != 2 || sp->comps[0].type != SEARCH_T_TOKEN)
		return 0;
	return ex_comp_kind(sp->comps[1].type) != 0;
}

/* Parameters whose expression compiles but selects nothing this index
 * can hold. Bundle composition and message (Bundle.entry[0].resource)
 * select the embedded first resource itself, not a reference to one:
 * searching them means chaining into a resource that has no identity
 * and no rows of its own here. */
static int ex_refused(const search_param *sp)
{
	static const char *const urls[] = {
		"http://hl7.org/fhir/SearchParameter/Bundle-composition",
		"http://hl7.org/fhir/SearchParameter/Bundle-message",
	};
	size_t i;

	for (i = 0; i < sizeof urls / sizeof urls[0]; i++)
		if (sp->url && strcmp(sp->url, urls[i]) == 0)
			return 1;
	return 0;
}

int search_extract_init(void)
{
	size_t i, k;
	char diag[160];

	if (ex_tab)
		return 0;
	ex_tab = calloc(search_nparams ? search_nparams : 1, sizeof *ex_tab);
	if (!ex_tab)
		return ERR_NOMEM;
	for (i = 0; i < search_nparams; i++) {
		const search_param *sp = &search_params[i];
		struct ex_param *ep = &ex_tab[i];
		int rc;

		if (!sp->expr)
			continue;
		ep->state = EX_SKIP;
		if (sp->type == SEARCH_T_SPECIAL || (sp->type == SEARCH_T_COMPOSITE && !ex_composite_ok(sp)))
			continue;
		rc = fhirpath_compile(sp->expr, &ep->expr, diag, sizeof diag);
		for (k = 0; !rc && sp->type == SEARCH_T_COMPOSITE && k < 2; k++)
			rc = fhirpath_compile(sp->comps[k].expr, &ep->comp[k], diag, sizeof diag);
		if (rc == ERR_NOMEM)
			goto nomem;
		if (rc)
			continue; /* reported by search_extract_supported() */
		if (ex_refused(sp))
			continue;
		ep->state = EX_FULL;
		/* extract.h: Range is not indexed as a quantity */
		if ((sp->type == SEARCH_T_QUANTITY && fhirpath_uses_type(ep->expr, FHIRPATH_T_RANGE)) ||
		    (sp->type == SEARCH_T_COMPOSITE && fhirpath_uses_type(ep->comp[1], FHIRPATH_T_RANGE)))
			ep->state = EX_PARTIAL;
	}
	return 0;
nomem:
	search_extract_fini();
	return ERR_NOMEM;
}

void search_extract_fini(void)
{
	size_t i;

	if (!ex_tab)
		return;
	for (i = 0; i < search_nparams; i++) {
		fhirpath_free(ex_tab[i].expr);
		fhirpath_free(ex_tab[i].comp[0]);
		fhirpath_free(ex_tab[i].comp[1]);
	}
	free(ex_tab);
	ex_tab = NULL;
}

int search_extract_supported(size_t i)
{
	return ex_tab && i < search_nparams && ex_tab[i].state == EX_FULL;
}

int search_extract(const char *rtype, const json_t *res, const char *base, search_rows *out)
{
	struct ex_run r;
	size_t first, n, i, start = out->n;
	int rc = 0;

	if (!ex_tab)
		return ERR_INTERNAL;
	memset(&r, 0, sizeof r);
	r.res = res;
	r.out = out;
	r.base = base;
	r.base_len = base ? strlen(base) : 0;
	while (r.base_len && base[r.base_len - 1] == '/')
		r.base_len--;
	search_params_of(rtype, &first, &n);
	for (i = first; i < first + n && !rc; i++) {
		const struct ex_param *ep = &ex_tab[i];
		if (ep->state == EX_FULL || ep->state == EX_PARTIAL)
			rc = ex_param_run(&r, (uint32_t)i, ep);
	}
	fhirpath_vec_fini(&r.nodes);
	free(r.vals.v);
	free(r.vals2.v);
	if (!rc)
		ex_dedupe(out, start);
	return rc;
}

void search_rows_clear(search_rows *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		ex_row_free(&r->v[i]);
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}
