/*
 * fuzz_bundle.c - batch and transaction Bundles (fhir/bundle.c) through
 * the real request path: POST [base] of an in-process fhird (app.h) with
 * the SMART authorizer on, a SQLite store and a few resources to refer
 * to. Reached from here: Bundle and entry parsing, request.url routing,
 * fullUrl / urn:uuid / urn:oid rules and reference rewriting (refs.c),
 * conditional create / update / delete and conditional references
 * (a search on the writer), PATCH entries (Binary + JSON Patch), the
 * authorization of each entry, the transaction commit and GET entries and
 * batch entries as sub-requests through fhir_handle.
 *
 * Why the whole path and not bundle.c's pure parts: most of bundle.c is
 * the interplay of those steps with the store (ids assigned, matches
 * resolved before the commit, the writer re-checking them), and a copy of
 * it in the harness would test the copy.
 *
 * Input: byte 0 chooses the bearer token (issued at start), the rest is
 * the request body:
 *   0  system/<any type>.cruds (a backend service: everything)
 *   1  patient/<any type>.cruds, confined to Patient/p1
 *   2  patient/Observation.cs?category=laboratory patient/Patient.r (p1)
 *   3  user/<any type>.rs (read and search only)
 * FZ_DEBUG set: each response's status and the start of its body go to
 * stderr (to see what the seeds reach).
 *
 * State: the store grows with every committed transaction, so the
 * application is recreated (a new store, new keys, new tokens) every
 * FZ_RESET inputs; an input's outcome may therefore depend on what the
 * inputs since the last reset committed. A crash found so is replayed
 * alone on a fresh store to be kept as a regression.
 *
 * Checked: a response has a status and a JSON body; no 5xx (the store
 * is local and healthy: a 500 is a bug); a 200 answers with a
 * batch-response / transaction-response Bundle with one entry per
 * request entry.
 */
#include "app.h"

#include "core/err.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FZ_RESET 2000

static fz_app fz;
static char *fz_bearer[4];
static unsigned long fz_inputs;

static const char *const seed_res[] = {
	"{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[{\"system\":\"http://fz\",\"value\":\"1\"}],"
	"\"name\":[{\"family\":\"Alpha\"}],\"birthDate\":\"1970-01-01\"}",
	"{\"resourceType\":\"Patient\",\"id\":\"p2\",\"identifier\":[{\"system\":\"http://fz\",\"value\":\"2\"},"
	"{\"system\":\"http://fz\",\"value\":\"dup\"}],\"name\":[{\"family\":\"Beta\"}]}",
	"{\"resourceType\":\"Patient\",\"id\":\"p3\",\"identifier\":[{\"system\":\"http://fz\",\"value\":\"dup\"}],"
	"\"link\":[{\"other\":{\"reference\":\"Patient/p1\"},\"type\":\"seealso\"}]}",
	"{\"resourceType\":\"Practitioner\",\"id\":\"dr1\",\"identifier\":[{\"system\":\"http://hl7.org/fhir/sid/us-npi\","
	"\"value\":\"9941339100\"}],\"name\":[{\"family\":\"Torp\"}]}",
	"{\"resourceType\":\"Organization\",\"id\":\"org1\",\"identifier\":[{\"system\":\"http://fz/org\",\"value\":\"o\"}],"
	"\"name\":\"Clinic\"}",
	"{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"category\":[{\"coding\":[{\"system\":"
	"\"http://terminology.hl7.org/CodeSystem/observation-category\",\"code\":\"laboratory\"}]}],"
	"\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2345-7\"}]},"
	"\"subject\":{\"reference\":\"Patient/p1\"},\"valueQuantity\":{\"value\":5.1}}",
};

static char *fz_issue(const char *scope, const char *patient)
{
	auth_claims c;
	char *jwt = NULL;

	memset(&c, 0, sizeof c);
	snprintf(c.client_id, sizeof c.client_id, "fz-client");
	snprintf(c.sub, sizeof c.sub, patient ? "fz-user" : "fz-client");
	if (patient) {
		snprintf(c.patient, sizeof c.patient, "%s", patient);
		snprintf(c.fhir_user, sizeof c.fhir_user, "Patient/%s", patient);
	}
	c.scope = strdup(scope);
	c.iat = (int64_t)time(NULL);
	c.exp = c.iat + 10 * 366 * 86400LL; /* outlives any run */
	if (!c.scope || auth_token_issue(fz.tokens, &c, &jwt))
		abort();
	auth_claims_fini(&c);
	return jwt;
}

static void fz_start(void)
{
	static const char *const scopes[4][2] = {
		{ "system/*.cruds", NULL },
		{ "launch/patient patient/*.cruds", "p1" },
		{ "launch/patient patient/Observation.cs?category=laboratory patient/Patient.r", "p1" },
		{ "user/*.rs", NULL },
	};
	fz_app_open(&fz, 1);
	for (int i = 0; i < 4; i++) {
		char *jwt = fz_issue(scopes[i][0], scopes[i][1]);
		size_t n = strlen(jwt) + 8;
		fz_bearer[i] = malloc(n);
		if (!fz_bearer[i])
			abort();
		snprintf(fz_bearer[i], n, "Bearer %s", jwt);
		free(jwt);
	}
	for (size_t i = 0; i < sizeof seed_res / sizeof seed_res[0]; i++) {
		json_t *r = json_loads(seed_res[i], 0, NULL);
		fz_conn h = { { "Authorization", "Content-Type" }, { fz_bearer[0], "application/fhir+json" }, 2 };
		char target[128];
		arena_t a;
		http_response resp;
		if (!r)
			abort();
		snprintf(target, sizeof target, "/fhir/%s/%s", json_string_value(json_object_get(r, "resourceType")),
			 json_string_value(json_object_get(r, "id")));
		arena_init(&a, 8u << 20);
		fz_app_request(&fz, &a, "PUT", target, &h, seed_res[i], strlen(seed_res[i]), NULL, 0, &resp);
		if (resp.status != 200 && resp.status != 201) {
			fprintf(stderr, "fuzz_bundle: seeding %s: %d %.*s\n", target, resp.status, (int)resp.body_len,
				resp.body ? resp.body : "");
			abort();
		}
		free(resp.body);
		arena_fini(&a);
		json_decref(r);
	}
}

static void fz_stop(void)
{
	for (int i = 0; i < 4; i++) {
		free(fz_bearer[i]);
		fz_bearer[i] = NULL;
	}
	fz_app_close(&fz);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_start();
	atexit(fz_stop);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_conn h = { { "Authorization", "Content-Type" }, { NULL, "application/fhir+json" }, 2 };
	arena_t a;
	http_response resp;
	json_t *in, *out = NULL;
	const char *type, *rtype;
	size_t nin = 0;

	if (size == 0)
		return 0;
	if (++fz_inputs % FZ_RESET == 0) {
		fz_stop();
		fz_start();
	}
	h.value[0] = fz_bearer[data[0] & 3];
	arena_init(&a, 8u << 20);
	fz_app_request(&fz, &a, "POST", "/fhir", &h, (const char *)data + 1, size - 1, NULL, 0, &resp);
	if (resp.status < 200 || resp.status >= 500 || !resp.body ||
	    !(out = json_loadb(resp.body, resp.body_len, 0, NULL))) {
		fprintf(stderr, "fuzz_bundle: status %d\n%.*s\n", resp.status, (int)resp.body_len,
			resp.body ? resp.body : "");
		abort();
	}
	if (getenv("FZ_DEBUG"))
		fprintf(stderr, "fuzz_bundle: %d %.*s\n", resp.status, (int)(resp.body_len < 600 ? resp.body_len : 600),
			resp.body);
	if (resp.status == 200) {
		in = json_loadb((const char *)data + 1, size - 1, 0, NULL);
		type = json_string_value(json_object_get(in, "type"));
		nin = json_array_size(json_object_get(in, "entry"));
		rtype = json_string_value(json_object_get(out, "type"));
		if (!type || !rtype || strncmp(rtype, type, strlen(type)) != 0 || strcmp(rtype + strlen(type), "-response") ||
		    json_array_size(json_object_get(out, "entry")) != nin)
			abort();
		json_decref(in);
	}
	json_decref(out);
	free(resp.body);
	arena_fini(&a);
	return 0;
}
