/*
 * capability.c - the CapabilityStatement (hl7.org/fhir/R4/capabilitystatement.html),
 * built once at start from the type tables and the configuration. It states
 * what is implemented and nothing more: as interactions land (search,
 * patch, batch, conditional operations), they are added here.
 */
#include "fhir.h"

#include "core/err.h"
#include "core/valid.h"

#include <string.h>
#include <time.h>

static json_t *cap_codes(const char *const *codes, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "code", json_string(codes[i]));
		json_array_append_new(a, o);
	}
	return a;
}

int fhir_capability_build(fhir_app *app)
{
	static const char *const type_ia[] = { "read", "vread", "update", "patch", "delete", "history-instance",
					       "history-type", "create" };
	static const char *const sys_ia[] = { "history-system", "batch", "transaction" };
	json_t *cs = json_object(), *rest = json_object(), *resources = json_array(), *sw = json_object(),
	       *impl = json_object(), *fmt = json_array(), *rests = json_array();
	char now[40];
	int rc = ERR_NOMEM;

	if (!cs || !rest || !resources || !sw || !impl || !fmt || !rests)
		goto out;
	valid_instant_format((int64_t)time(NULL) * 1000000, now);
	json_object_set_new(cs, "resourceType", json_string("CapabilityStatement"));
	json_object_set_new(cs, "status", json_string("active"));
	json_object_set_new(cs, "date", json_string(now));
	json_object_set_new(cs, "publisher", json_string("fhird"));
	json_object_set_new(cs, "kind", json_string("instance"));
	json_object_set_new(sw, "name", json_string(FHIRD_NAME));
	json_object_set_new(sw, "version", json_string(FHIRD_VERSION));
	json_object_set_new(cs, "software", sw);
	json_object_set_new(impl, "description", json_string("fhird FHIR R4 server"));
	json_object_set_new(impl, "url", json_string(app->cfg->base_url));
	json_object_set_new(cs, "implementation", impl);
	json_object_set_new(cs, "fhirVersion", json_string("4.0.1"));
	json_array_append_new(fmt, json_string("json"));
	json_array_append_new(fmt, json_string("application/fhir+json"));
	json_object_set_new(cs, "format", fmt);
	fmt = NULL;

	json_object_set_new(rest, "mode", json_string("server"));
	json_object_set_new(rest, "documentation",
			    json_string("Search is not implemented yet; conditional create/update/delete "
					"accept the criteria _id and identifier only. XML is not supported (406/415)."));
	for (unsigned i = 0; i < fhir_types_count; i++) {
		json_t *r = json_object();
		json_object_set_new(r, "type", json_string(fhir_types[i].name));
		json_object_set_new(r, "interaction", cap_codes(type_ia, sizeof type_ia / sizeof type_ia[0]));
		json_object_set_new(r, "versioning", json_string("versioned-update"));
		json_object_set_new(r, "readHistory", json_true());
		json_object_set_new(r, "updateCreate", json_true());
		/* conditional interactions: criteria _id and identifier only, for now */
		json_object_set_new(r, "conditionalCreate", json_true());
		json_object_set_new(r, "conditionalRead", json_string("full-support"));
		json_object_set_new(r, "conditionalUpdate", json_true());
		json_object_set_new(r, "conditionalDelete",
				    json_string(app->cfg->conditional_delete_multiple ? "multiple" : "single"));
		json_array_append_new(resources, r);
	}
	json_object_set_new(rest, "resource", resources);
	resources = NULL;
	json_object_set_new(rest, "interaction", cap_codes(sys_ia, sizeof sys_ia / sizeof sys_ia[0]));
	json_array_append_new(rests, rest);
	rest = NULL;
	json_object_set_new(cs, "rest", rests);
	rests = NULL;

	app->capability = fhir_json_dump(cs, 0, &app->capability_len);
	rc = app->capability ? 0 : ERR_NOMEM;
out:
	json_decref(cs);
	json_decref(rest);
	json_decref(resources);
	json_decref(fmt);
	json_decref(rests);
	return rc;
}
