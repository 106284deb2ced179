/*
 * headers.c - the version headers of http.html#versioning: ETag (weak,
 * the version id), Last-Modified (IMF-fixdate of meta.lastUpdated) and
 * Location (absolute URL of the version, http.html#create).
 */
#include "fhir.h"

#include "core/valid.h"

void fhir_version_headers(fhir_req *fr, const store_version_t *v, int with_location)
{
	arena_t *a = fr->http->arena;
	char date[32];
	const char *etag, *loc;

	valid_http_date_format((time_t)(v->updated_us / 1000000), date);
	etag = arena_printf(a, "W/\"%lld\"", (long long)v->vid);
	if (etag)
		http_response_header(fr->resp, "ETag", etag);
	http_response_header(fr->resp, "Last-Modified", arena_strdup(a, date));
	if (with_location) {
		loc = arena_printf(a, "%s/%s/%s/_history/%lld", fr->app->cfg->base_url, v->type, v->id,
				   (long long)v->vid);
		if (loc)
			http_response_header(fr->resp, "Location", loc);
	}
}
