/*
 * capability.c - the CapabilityStatement (hl7.org/fhir/R4/capabilitystatement.html),
 * built once at start from the type tables and the configuration. It states
 * what is implemented and nothing more: as interactions land (search,
 * patch, batch, conditional operations), they are added here.
 */
#include "fhir.h"

#include "auth/oauth.h"
#include "core/err.h"
#include "core/valid.h"
#include "search/extract.h"
#include "search/params.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *cap_type_name(enum search_type t)
{
	static const char *const n[] = { [SEARCH_T_NUMBER] = "number",	   [SEARCH_T_DATE] = "date",
					 [SEARCH_T_STRING] = "string",	   [SEARCH_T_TOKEN] = "token",
					 [SEARCH_T_REFERENCE] = "reference", [SEARCH_T_COMPOSITE] = "composite",
					 [SEARCH_T_QUANTITY] = "quantity", [SEARCH_T_URI] = "uri",
					 [SEARCH_T_SPECIAL] = "special" };
	return t >= SEARCH_T_NUMBER && t <= SEARCH_T_SPECIAL ? n[t] : "special";
}

/* rest.resource.searchParam: every parameter of the type that the index
 * extraction supports (_id and _lastUpdated are answered from the resource
 * table itself). Parameters without an expression (_text, _content,
 * _query) and expressions the evaluator cannot run are left out. */
static json_t *cap_search_params(const char *type)
{
	json_t *a = json_array();
	size_t first, n;

	search_params_of(type, &first, &n);
	for (size_t i = first; i < first + n; i++) {
		const search_param *p = &search_params[i];
		json_t *o;
		int ok = !strcmp(p->code, "_id") || !strcmp(p->code, "_lastUpdated") ||
			 (p->expr && p->type != SEARCH_T_SPECIAL && search_extract_supported(i));
		if (!ok)
			continue;
		o = json_object();
		json_object_set_new(o, "name", json_string(p->code));
		json_object_set_new(o, "definition", json_string(p->url));
		json_object_set_new(o, "type", json_string(cap_type_name(p->type)));
		json_array_append_new(a, o);
	}
	return a;
}

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
					       "history-type", "create", "search-type" };
	static const char *const sys_ia[] = { "history-system", "batch", "transaction", "search-system" };
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
	if (app->cfg->auth != CONFIG_AUTH_OFF) {
		/* SMART App Launch 2.2 conformance: the SMART-on-FHIR service and
		 * the oauth-uris extension, the same URLs as
		 * .well-known/smart-configuration: ours, or with --auth external
		 * those configured for the other server. */
		const config_t *cfg = app->cfg;
		int ext = cfg->auth == CONFIG_AUTH_EXTERNAL;
		oauth_urls u;
		json_t *sec = json_object(), *ext_o = json_object(), *inner = json_array(), *svc = json_array();
		if (oauth_urls_make(cfg, &u) == 0) {
			const char *const named[4][2] = { { "authorize", u.authorize },
							  { "token", u.token },
							  { "introspect", u.introspect },
							  { "revoke", u.revoke } };
			for (int i = 0; i < 4; i++)
				if (named[i][1])
					json_array_append_new(inner, json_pack("{s:s,s:s}", "url", named[i][0], "valueUri",
									       named[i][1]));
			oauth_urls_clear(&u);
		}
		json_object_set_new(ext_o, "url",
				    json_string("http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"));
		json_object_set_new(ext_o, "extension", inner);
		if (json_array_size(inner))
			json_object_set_new(sec, "extension", json_pack("[o]", ext_o));
		else
			json_decref(ext_o);
		json_array_append_new(
			svc, json_pack("{s:[{s:s,s:s,s:s}],s:s}", "coding", "system",
				       "http://terminology.hl7.org/CodeSystem/restful-security-service", "code",
				       "SMART-on-FHIR", "display", "SMART-on-FHIR", "text", "OAuth2 using SMART-on-FHIR profile"));
		json_object_set_new(sec, "service", svc);
		json_object_set_new(sec, "cors", json_true());
		json_object_set_new(sec, "description",
				    json_string(ext ? "Access tokens of an external authorization server (SMART scopes, v1 "
						      "and v2). Every request but metadata and the discovery document needs a "
						      "bearer token." :
						      "SMART App Launch 2.2 (v1 and v2 scopes, PKCE S256, refresh token "
						      "rotation, OpenID Connect, Backend Services). Every request but metadata "
						      "and the discovery documents needs a bearer token."));
		json_object_set_new(rest, "security", sec);
	}
	json_object_set_new(rest, "documentation",
			    json_string("Search: every parameter type, modifiers :missing :exact :contains :text "
					":not :of-type :above :below :identifier :[type], prefixes eq ne gt lt ge le sa "
					"eb ap, chains, _has, _include/_revinclude (:iterate), _sort, _count, _total, "
					"_summary, _elements; keyset paging with opaque cursors. Not supported: _text, "
					"_content, _query, _filter, _list, _contained, :in/:not-in. Unknown parameters "
					"are ignored (and left out of the self link) unless Prefer: handling=strict. "
					"Conditional create/update/delete accept the criteria _id and identifier only. "
					"XML is not supported (406/415)."));
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
		json_object_set_new(r, "searchParam", cap_search_params(fhir_types[i].name));
		{
			json_t *inc = json_array(), *rev = json_array();
			json_array_append_new(inc, json_string("*"));
			json_array_append_new(rev, json_string("*"));
			json_object_set_new(r, "searchInclude", inc);
			json_object_set_new(r, "searchRevInclude", rev);
		}
		json_array_append_new(resources, r);
	}
	json_object_set_new(rest, "resource", resources);
	resources = NULL;
	json_object_set_new(rest, "interaction", cap_codes(sys_ia, sizeof sys_ia / sizeof sys_ia[0]));
	{
		/* system-level search parameters and the operation we define */
		static const char *const common[] = { "_id", "_lastUpdated", "_tag", "_profile", "_security",
						      "_source" };
		static const char *const ctype[] = { "token", "date", "token", "uri", "token", "uri" };
		json_t *sp = json_array(), *ops = json_array(), *op = json_object();
		for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "name", json_string(common[i]));
			json_object_set_new(o, "type", json_string(ctype[i]));
			json_array_append_new(sp, o);
		}
		json_object_set_new(rest, "searchParam", sp);
		json_object_set_new(op, "name", json_string("everything"));
		json_object_set_new(op, "definition",
				    json_string("http://hl7.org/fhir/OperationDefinition/Patient-everything"));
		json_array_append_new(ops, op);
		json_object_set_new(rest, "operation", ops);
	}
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
