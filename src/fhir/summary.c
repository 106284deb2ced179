/*
 * summary.c - see summary.h. Runs once per returned resource of a read or
 * search page that asked for _summary or _elements: one pass over the
 * resource's top-level properties, each decided by a binary search in the
 * generated element table, plus the SUBSETTED tag. Nothing below the top
 * level is looked at, so the cost does not grow with the depth of the
 * resource.
 */
#include "summary.h"

#include "core/err.h"

#include <string.h>

#define SUMMARY_TAG_DISPLAY "Resource encoded in summary mode"

/* What one call keeps; built once, asked once per property. */
struct summary_ctx {
	const fhir_type *t;
	const unsigned char *flags; /* isSummary parallel to t->elements, or NULL */
	int mode;
	const char *const *elements;
	size_t nelements;
};

/* The isSummary table of t, or NULL when t is not one of fhir_types[]
 * (the validator's private Meta type, a test's own table). */
static const unsigned char *summary_flags(const fhir_type *t)
{
	const fhir_type *ft;

	if (!t || !t->name)
		return NULL;
	ft = fhir_type_find(t->name, strlen(t->name));
	if (ft != t)
		return NULL;
	return fhir_types_summary[ft - fhir_types];
}

int fhir_summary_element(const fhir_type *t, const fhir_element *el)
{
	const unsigned char *flags = summary_flags(t);

	/* Checking el against t's own lookup makes el - t->elements defined. */
	if (!flags || !el || !el->name || fhir_type_element(t, el->name) != el)
		return 0;
	return flags[el - t->elements];
}

/* 1 when _elements entry e names element el: its own name, its choice
 * group, or a dotted path whose first step is one of those. */
static int summary_listed(const fhir_element *el, const char *e)
{
	size_t n = strcspn(e, ".");

	if (strlen(el->name) == n && memcmp(el->name, e, n) == 0)
		return 1;
	return el->choice && strlen(el->choice) == n && memcmp(el->choice, e, n) == 0;
}

/* 1 when the top-level property key survives c's mode (not DATA). */
static int summary_keep(const struct summary_ctx *c, const char *key)
{
	const fhir_element *el;
	size_t i;

	if (key[0] == '_' && key[1] != '\0')
		key++; /* "_birthDate" goes with birthDate */
	if (strcmp(key, "resourceType") == 0 || strcmp(key, "id") == 0 || strcmp(key, "meta") == 0 ||
	    strcmp(key, "implicitRules") == 0 || strcmp(key, "modifierExtension") == 0)
		return 1;
	el = fhir_type_element(c->t, key);
	if (!el)
		return 0; /* not an element of t: nothing to keep it for */
	if (el->required || el->choice_required)
		return 1;
	switch (c->mode) {
	case FHIR_SUMMARY_TRUE:
		return c->flags && c->flags[el - c->t->elements];
	case FHIR_SUMMARY_TEXT:
		return strcmp(key, "text") == 0;
	case FHIR_SUMMARY_ELEMENTS:
		for (i = 0; i < c->nelements; i++)
			if (c->elements[i] && summary_listed(el, c->elements[i]))
				return 1;
		return 0;
	default:
		return 1;
	}
}

/* 1 when tags (an array) holds the SUBSETTED coding already. */
static int summary_tagged(const json_t *tags)
{
	const json_t *tag;
	size_t i;

	json_array_foreach(tags, i, tag)
	{
		const char *sys = json_string_value(json_object_get(tag, "system"));
		const char *code = json_string_value(json_object_get(tag, "code"));
		if (sys && code && strcmp(sys, FHIR_SUMMARY_TAG_SYSTEM) == 0 && strcmp(code, FHIR_SUMMARY_TAG_CODE) == 0)
			return 1;
	}
	return 0;
}

/* Adds the SUBSETTED coding to res.meta.tag (summary.h). */
static int summary_tag(json_t *res)
{
	json_t *meta = json_object_get(res, "meta");
	json_t *tags;
	json_t *tag;

	if (!meta) {
		meta = json_object();
		if (!meta || json_object_set_new(res, "meta", meta))
			return ERR_NOMEM; /* set_new released meta */
	} else if (!json_is_object(meta)) {
		return 0;
	}
	tags = json_object_get(meta, "tag");
	if (!tags) {
		tags = json_array();
		if (!tags || json_object_set_new(meta, "tag", tags))
			return ERR_NOMEM;
	} else if (!json_is_array(tags) || summary_tagged(tags)) {
		return 0;
	}
	tag = json_pack("{s:s, s:s, s:s}", "system", FHIR_SUMMARY_TAG_SYSTEM, "code", FHIR_SUMMARY_TAG_CODE, "display",
			SUMMARY_TAG_DISPLAY);
	if (!tag || json_array_append_new(tags, tag))
		return ERR_NOMEM;
	return 0;
}

int fhir_summary_apply(json_t *res, const fhir_type *t, int mode, const char *const *elements, size_t nelements,
		       int *subsetted)
{
	struct summary_ctx c = { t, summary_flags(t), mode, elements, nelements };
	const char *key;
	json_t *v;
	void *tmp;

	if (subsetted)
		*subsetted = 0;
	if (!json_is_object(res) || mode < FHIR_SUMMARY_ELEMENTS || mode > FHIR_SUMMARY_DATA ||
	    (mode == FHIR_SUMMARY_ELEMENTS && (!elements || nelements == 0)))
		return 0;
	if (mode == FHIR_SUMMARY_DATA) {
		json_object_del(res, "text");
	} else {
		json_object_foreach_safe(res, tmp, key, v)
		{
			if (!summary_keep(&c, key))
				json_object_del(res, key);
		}
	}
	if (subsetted)
		*subsetted = 1;
	return summary_tag(res);
}
