/*
 * write.c - see write.h.
 */
#include "write.h"

#include "core/err.h"
#include "core/valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int fhir_write_new_id(char out[37])
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

static int write_issue(fhir_issue *is, int err, const char *expr, const char *msg)
{
	is->err = err;
	snprintf(is->expression, sizeof is->expression, "%s", expr ? expr : "");
	snprintf(is->message, sizeof is->message, "%s", msg);
	return err;
}

int fhir_write_check(const json_t *res, const fhir_type *t, fhir_issue *issue)
{
	const char *rt = json_string_value(json_object_get(res, "resourceType"));

	memset(issue, 0, sizeof *issue);
	if (!json_is_object(res))
		return write_issue(issue, ERR_INVALID, NULL, "The resource must be a JSON object");
	if (!rt)
		return write_issue(issue, ERR_INVALID, NULL, "The resource has no resourceType");
	if (!fhir_type_find(rt, strlen(rt)))
		return write_issue(issue, ERR_INVALID, "resourceType", "Unknown resourceType");
	if (strcmp(rt, t->name) != 0)
		return write_issue(issue, ERR_INVALID, "resourceType", "resourceType does not match the type in the URL");
	return fhir_validate_resource(res, t, issue) ? ERR_UNPROCESSABLE : 0;
}

/* Resource.identifier[] -> (system, value) pairs; strings borrowed from res. */
static int write_idents(const json_t *res, store_ident **out, size_t *n)
{
	const json_t *arr = json_object_get(res, "identifier"), *it;
	size_t i, k = 0;
	store_ident *v;

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return 0;
	v = calloc(json_array_size(arr), sizeof *v);
	if (!v)
		return ERR_NOMEM;
	json_array_foreach(arr, i, it)
	{
		const char *val = json_string_value(json_object_get(it, "value"));
		const char *sys = json_string_value(json_object_get(it, "system"));
		if (!val)
			continue;
		v[k].system = sys ? sys : "";
		v[k].value = val;
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

int fhir_write_prepare(fhir_write *w, enum store_op_kind kind, const fhir_type *t, const char *id, json_t *res)
{
	int rc;

	memset(w, 0, sizeof *w);
	if (id)
		snprintf(w->id, sizeof w->id, "%s", id);
	else if (fhir_write_new_id(w->id))
		return ERR_INTERNAL;
	w->op.kind = kind;
	w->op.type = t->name;
	w->op.id = w->id;
	w->op.method = kind == STORE_OP_CREATE ? "POST" : kind == STORE_OP_DELETE ? "DELETE" : "PUT";
	if (kind == STORE_OP_DELETE || !res)
		return 0;
	w->resource = json_incref(res);
	rc = fhir_stamp_prepare(res, t->name, w->id, &w->stamp);
	if (rc)
		return rc;
	rc = write_idents(res, &w->idents, &w->op.nidents);
	if (rc)
		return rc;
	w->op.idents = w->idents;
	w->op.render = fhir_stamp_render;
	w->op.render_ctx = &w->stamp;
	return 0;
}

void fhir_write_fini(fhir_write *w)
{
	if (!w)
		return;
	store_version_clear(&w->op.result);
	fhir_stamp_fini(&w->stamp);
	free(w->idents);
	json_decref(w->resource);
	memset(w, 0, sizeof *w);
}

/* Splits "system|value" at the first unescaped '|' (search.html#escaping). */
static int cond_split_ident(arena_t *a, const char *v, store_cond *c)
{
	size_t n = strlen(v);
	const char *bar = NULL;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\\' && i + 1 < n) {
			i++;
			continue;
		}
		if (v[i] == '|') {
			bar = v + i;
			break;
		}
	}
	c->has_ident = 1;
	if (!bar) {
		c->system = NULL; /* any system */
		c->value = v;
	} else {
		c->system = arena_strndup(a, v, (size_t)(bar - v));
		c->value = bar[1] ? bar + 1 : NULL; /* "system|": any value */
		if (!c->system)
			return ERR_NOMEM;
	}
	if (!c->value && (!c->system || !*c->system))
		return ERR_INVALID;
	/* unescape \| \, \$ \\ in the parts */
	for (int part = 0; part < 2; part++) {
		const char *src = part ? c->value : c->system;
		char *dst, *d;
		if (!src || !strchr(src, '\\'))
			continue;
		dst = arena_alloc(a, strlen(src) + 1);
		if (!dst)
			return ERR_NOMEM;
		d = dst;
		for (const char *p = src; *p; p++) {
			if (*p == '\\' && p[1])
				p++;
			*d++ = *p;
		}
		*d = '\0';
		if (part)
			c->value = dst;
		else
			c->system = dst;
	}
	return 0;
}

int fhir_cond_parse(arena_t *a, const http_param *params, size_t n, store_cond *c, const char **diag)
{
	int seen_id = 0, seen_ident = 0;

	memset(c, 0, sizeof *c);
	*diag = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *k = params[i].name, *v = params[i].value;
		if (!strcmp(k, "_format") || !strcmp(k, "_pretty"))
			continue;
		if (!strcmp(k, "_id")) {
			if (seen_id++ || !valid_id(v, strlen(v))) {
				*diag = "Conditional _id must be one valid id";
				return ERR_INVALID;
			}
			c->id = v;
		} else if (!strcmp(k, "identifier")) {
			if (seen_ident++ || !*v || strchr(v, ',') || cond_split_ident(a, v, c)) {
				*diag = "Conditional identifier must be one [system]|[value] token";
				return ERR_INVALID;
			}
		} else {
			/* the full search engine is a later issue; be explicit rather
			 * than ignore a criterion and match too much */
			*diag = "Only _id and identifier are supported in conditional interactions for now";
			return ERR_INVALID;
		}
	}
	if (!seen_id && !seen_ident) {
		*diag = "A conditional interaction needs search criteria";
		return ERR_INVALID;
	}
	return 0;
}

int fhir_etag_parse(const char *s, int64_t *out)
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
