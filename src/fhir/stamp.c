/*
 * stamp.c - see stamp.h.
 */
#include "stamp.h"

#include "core/err.h"
#include "fhir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What follows the id up to the end of the placeholders. */
#define STAMP_AFTER_ID "\",\"meta\":{\"versionId\":\"0\",\"lastUpdated\":\"0"

int fhir_stamp_prepare(const json_t *res, const char *type, const char *id, fhir_stamp *out)
{
	json_t *canon = json_object(), *meta, *v, *client_meta;
	const char *k;
	char prefix[200];
	int n, rc = ERR_NOMEM;

	memset(out, 0, sizeof *out);
	if (!canon)
		return ERR_NOMEM;
	json_object_set_new(canon, "resourceType", json_string(type));
	json_object_set_new(canon, "id", json_string(id));
	meta = json_object();
	if (!meta)
		goto out;
	json_object_set_new(meta, "versionId", json_string("0"));
	json_object_set_new(meta, "lastUpdated", json_string("0"));
	client_meta = json_object_get(res, "meta");
	if (json_is_object(client_meta))
		json_object_foreach(client_meta, k, v)
		{
			if (strcmp(k, "versionId") && strcmp(k, "lastUpdated"))
				json_object_set(meta, k, v);
		}
	json_object_set_new(canon, "meta", meta);
	json_object_foreach((json_t *)res, k, v)
	{
		if (strcmp(k, "resourceType") && strcmp(k, "id") && strcmp(k, "meta"))
			json_object_set(canon, k, v);
	}
	out->json = fhir_json_dump(canon, 0, &out->len);
	if (!out->json)
		goto out;
	n = snprintf(prefix, sizeof prefix, "{\"resourceType\":\"%s\",\"id\":\"", type);
	/* The serializer keeps insertion order; if that ever changed, fail
	 * loudly rather than splice into the wrong place. */
	if (n <= 0 || (size_t)n >= sizeof prefix || out->len < (size_t)n + strlen(id) + strlen(STAMP_AFTER_ID) ||
	    memcmp(out->json, prefix, (size_t)n) != 0 || memcmp(out->json + n, id, strlen(id)) != 0 ||
	    memcmp(out->json + n + strlen(id), STAMP_AFTER_ID, strlen(STAMP_AFTER_ID)) != 0) {
		rc = ERR_INTERNAL;
		goto out;
	}
	/* the hole spans the id and the placeholders: a conditional update
	 * learns its id only inside the transaction */
	out->hole = (size_t)n;
	out->hole_len = strlen(id) + strlen(STAMP_AFTER_ID);
	rc = 0;
out:
	if (rc)
		fhir_stamp_fini(out);
	json_decref(canon);
	return rc;
}

int fhir_stamp_render(void *ctx, const char *id, int64_t vid, const char *last_updated, char **out, size_t *len)
{
	const fhir_stamp *s = ctx;
	char mid[200];
	/* id comes from the URL, the store or a match: always valid_id syntax,
	 * so it needs no JSON escaping */
	int m = snprintf(mid, sizeof mid, "%s\",\"meta\":{\"versionId\":\"%lld\",\"lastUpdated\":\"%s", id,
			 (long long)vid, last_updated);
	size_t tail = s->len - s->hole - s->hole_len, total;
	char *p;

	if (m <= 0 || (size_t)m >= sizeof mid)
		return ERR_INTERNAL;
	total = s->hole + (size_t)m + tail;
	p = malloc(total + 1);
	if (!p)
		return ERR_NOMEM;
	memcpy(p, s->json, s->hole);
	memcpy(p + s->hole, mid, (size_t)m);
	memcpy(p + s->hole + (size_t)m, s->json + s->hole + s->hole_len, tail);
	p[total] = '\0';
	*out = p;
	*len = total;
	return 0;
}

void fhir_stamp_fini(fhir_stamp *s)
{
	if (!s)
		return;
	free(s->json);
	memset(s, 0, sizeof *s);
}
