/*
 * fuzz_cursor.c - paging cursors: the HMAC'd keyset cursors of search
 * (fhir/search.c: base64url(JSON payload) "." hex MAC) and of history
 * (fhir/history.c: "snap.dir.seq" "." hex MAC), through the real request
 * path of an in-process fhird (app.h) holding a few Patients and
 * Observations: GET <query>&_cursor=<token> -> fhir_handle -> cursor
 * decode, MAC check, payload parse -> store_search / store_history with
 * the decoded position.
 *
 * Input: byte 0 chooses, the rest is the cursor material.
 *   bit 0      0: a search query, 1: a history query
 *   bit 1      0: the rest is the token as sent (random tokens: the MAC
 *              check must refuse them); 1: the rest is a payload, which
 *              is given a valid MAC under the fixed key (FZ_CURSOR_KEY),
 *              so that the parser behind the MAC and the store's use of
 *              a position it did not make are reached
 *   bits 2-4   which of the fixed queries below
 * The rest is cut at its first NUL (a parameter value is a C string).
 *
 * Checked: every response has a status and a JSON body; a cursor is
 * answered 200 or 400, never 5xx (a forged position is a client error);
 * a 200 is a Bundle; a validly MAC'd search cursor whose issue time is
 * past cursor_ttl_s or in the future is refused (400). At start the harness checks its MAC computation
 * against a cursor the server made, so the MAC'd mode cannot silently
 * drift from the server's format.
 *
 * FZ_CURSOR_SEEDS=dir: at start, also write the cursors of each query's
 * first page (raw and as payload) to dir as seed files.
 */
#include "app.h"

#include "core/b64url.h"
#include "core/err.h"

#include <jansson.h>
#include <nettle/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static fz_app fz;

static const char *const search_q[8] = {
	"/fhir/Patient?_count=1",
	"/fhir/Patient?_count=2&_sort=birthdate",
	"/fhir/Patient?_count=1&_sort=-family,given",
	"/fhir/Observation?_count=1&_sort=value-quantity",
	"/fhir/Observation?_count=1&_sort=-date&subject=Patient/p1",
	"/fhir/Patient/p1/Observation?_count=1",
	"/fhir?_type=Patient,Observation&_count=1",
	"/fhir/Patient/p1/$everything?_count=1",
};
static const char *const hist_q[8] = {
	"/fhir/_history?_count=1",
	"/fhir/Patient/_history?_count=1",
	"/fhir/Patient/p1/_history?_count=1",
	"/fhir/Observation/_history?_count=2&_since=2000-01-01T00:00:00Z",
	"/fhir/_history?_count=1&_at=2026",
	"/fhir/Patient/_history?_count=2",
	"/fhir/Patient/p1/_history?_count=1&_since=2001-01-01",
	"/fhir/_history?_count=3",
};

/* The seed data: enough rows that every query has a second page. */
static const char *const seed_res[] = {
	"{\"resourceType\":\"Patient\",\"id\":\"p1\",\"name\":[{\"family\":\"Alpha\",\"given\":[\"Ann\"]}],"
	"\"birthDate\":\"1970-01-01\",\"gender\":\"female\"}",
	"{\"resourceType\":\"Patient\",\"id\":\"p1\",\"name\":[{\"family\":\"Alpha\",\"given\":[\"Anne\"]}],"
	"\"birthDate\":\"1970-01-01\",\"gender\":\"female\",\"active\":true}",
	"{\"resourceType\":\"Patient\",\"id\":\"p2\",\"name\":[{\"family\":\"Beta\",\"given\":[\"Bo\"]}],"
	"\"birthDate\":\"1980-05\"}",
	"{\"resourceType\":\"Patient\",\"id\":\"p3\",\"name\":[{\"family\":\"Gamma\"}],\"birthDate\":\"1990\"}",
	"{\"resourceType\":\"Patient\",\"id\":\"p4\",\"name\":[{\"family\":\"\\u00e9t\\u00e9\",\"given\":[\"Zo\"]}]}",
	"{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"code\":{\"text\":\"hr\"},"
	"\"subject\":{\"reference\":\"Patient/p1\"},\"effectiveDateTime\":\"2020-01-01T10:00:00Z\","
	"\"valueQuantity\":{\"value\":72,\"unit\":\"/min\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"/min\"}}",
	"{\"resourceType\":\"Observation\",\"id\":\"o2\",\"status\":\"final\",\"code\":{\"text\":\"hr\"},"
	"\"subject\":{\"reference\":\"Patient/p1\"},\"effectiveDateTime\":\"2021-06\","
	"\"valueQuantity\":{\"value\":0.5e-3,\"unit\":\"g\"}}",
	"{\"resourceType\":\"Observation\",\"id\":\"o3\",\"status\":\"final\",\"code\":{\"text\":\"bp\"},"
	"\"subject\":{\"reference\":\"Patient/p2\"},\"effectivePeriod\":{\"start\":\"2019-01-01\"},"
	"\"valueQuantity\":{\"value\":-12.25}}",
	"{\"resourceType\":\"Observation\",\"id\":\"o4\",\"status\":\"final\",\"code\":{\"text\":\"bp\"},"
	"\"subject\":{\"reference\":\"Patient/p1\"}}",
};

static char *fz_b64u(const void *data, size_t len)
{
	char *out = NULL;

	if (b64url_encode(data, len, &out, NULL))
		abort();
	return out;
}

/* hex of the first 16 bytes of HMAC-SHA256(FZ_CURSOR_KEY, s[0..len)):
 * the MAC both cursor kinds carry. */
static void fz_mac_hex(const char *s, size_t len, char hex[33])
{
	struct hmac_sha256_ctx ctx;
	uint8_t mac[16];

	hmac_sha256_set_key(&ctx, 32, (const uint8_t *)FZ_CURSOR_KEY);
	hmac_sha256_update(&ctx, len, (const uint8_t *)s);
	hmac_sha256_digest(&ctx, sizeof mac, mac);
	for (size_t i = 0; i < sizeof mac; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

/* The token for mode "valid MAC": search payloads are base64url'd first. */
static char *fz_token(int history, const char *payload)
{
	char hex[33], *enc = history ? strdup(payload) : fz_b64u(payload, strlen(payload));
	size_t n;
	char *out;

	if (!enc)
		abort();
	fz_mac_hex(enc, strlen(enc), hex);
	n = strlen(enc) + 34;
	out = malloc(n);
	if (!out)
		abort();
	snprintf(out, n, "%s.%s", enc, hex);
	free(enc);
	return out;
}

/* Runs one request; checks the response; returns the parsed body (new
 * reference) when want_body, else NULL; *status (optional) gets the
 * status. */
static json_t *fz_get(const char *target, const char *cursor, int want_body, int *status)
{
	arena_t a;
	http_response resp;
	http_param extra = { "_cursor", cursor };
	json_t *body = NULL;
	const char *rt;

	arena_init(&a, 8u << 20);
	fz_app_request(&fz, &a, "GET", target, NULL, "", 0, cursor ? &extra : NULL, cursor ? 1 : 0, &resp);
	if (resp.status != 200 && resp.status != 400) {
		fprintf(stderr, "fuzz_cursor: status %d for %s\n%.*s\n", resp.status, target, (int)resp.body_len,
			resp.body ? resp.body : "");
		abort();
	}
	if (!resp.body || !(body = json_loadb(resp.body, resp.body_len, 0, NULL)))
		abort();
	rt = json_string_value(json_object_get(body, "resourceType"));
	if (resp.status == 200 && (!rt || strcmp(rt, "Bundle") != 0))
		abort();
	free(resp.body);
	arena_fini(&a);
	if (status)
		*status = resp.status;
	if (!want_body) {
		json_decref(body);
		body = NULL;
	}
	return body;
}

/* The _cursor of the Bundle's link with relation rel (malloc'd) or NULL. */
static char *fz_link_cursor(const json_t *bundle, const char *rel)
{
	size_t i;
	json_t *l;

	json_array_foreach (json_object_get(bundle, "link"), i, l) {
		const char *r = json_string_value(json_object_get(l, "relation"));
		const char *url = json_string_value(json_object_get(l, "url"));
		const char *c = url ? strstr(url, "_cursor=") : NULL;
		if (r && c && strcmp(r, rel) == 0)
			return strndup(c + 8, strcspn(c + 8, "&"));
	}
	return NULL;
}

static void fz_write_seed(const char *dir, const char *name, unsigned char mode, const char *s)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fputc(mode, f) == EOF || fputs(s, f) == EOF || fclose(f) != 0)
		abort();
}

/* Each query's first page must have a next cursor that verifies under
 * our MAC computation (the server and the harness agree on the format). */
static void fz_check_and_seed(const char *dir)
{
	for (int h = 0; h < 2; h++) {
		for (unsigned qi = 0; qi < 8; qi++) {
			json_t *b = fz_get(h ? hist_q[qi] : search_q[qi], NULL, 1, NULL);
			char *c = fz_link_cursor(b, "next"), *dot, hex[33], name[64];
			if (!c) {
				fprintf(stderr, "fuzz_cursor: no next link for %s\n", h ? hist_q[qi] : search_q[qi]);
				abort();
			}
			dot = strrchr(c, '.');
			fz_mac_hex(c, (size_t)(dot - c), hex);
			if (strcmp(hex, dot + 1) != 0)
				abort();
			if (dir) {
				unsigned char mode = (unsigned char)(h | (qi << 2));
				snprintf(name, sizeof name, "%s%u-raw", h ? "hist" : "search", qi);
				fz_write_seed(dir, name, mode, c);
				*dot = '\0';
				if (!h) {
					/* the payload: base64url-decode what precedes the MAC */
					unsigned char *js = NULL;
					size_t jl;
					if (b64url_decode(c, strlen(c), &js, &jl))
						abort();
					snprintf(name, sizeof name, "search%u-payload", qi);
					fz_write_seed(dir, name, mode | 2, (char *)js);
					free(js);
				} else {
					snprintf(name, sizeof name, "hist%u-payload", qi);
					fz_write_seed(dir, name, mode | 2, c);
				}
			}
			free(c);
			json_decref(b);
		}
	}
}

/* 1 when payload is a search cursor payload whose issue time "t" is
 * clearly (5 s of slack either way, so the clock moving on during the
 * request cannot matter) older than cursor_ttl_s or more than 60 s in the
 * future: search.c must refuse such a cursor, whatever else it holds. */
static int fz_expired(const char *payload)
{
	json_t *o = json_loads(payload, 0, NULL), *t = json_object_get(o, "t");
	json_int_t now = (json_int_t)time(NULL), v;
	int expired = 0;

	if (json_is_integer(t)) {
		v = json_integer_value(t);
		expired = v < now - (json_int_t)fz.cfg.cursor_ttl_s - 5 || v > now + 65;
	}
	json_decref(o);
	return expired;
}

static void fz_stop(void)
{
	fz_app_close(&fz);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_app_open(&fz, 0);
	for (size_t i = 0; i < sizeof seed_res / sizeof seed_res[0]; i++) {
		json_t *r = json_loads(seed_res[i], 0, NULL);
		const char *type = json_string_value(json_object_get(r, "resourceType"));
		const char *id = json_string_value(json_object_get(r, "id"));
		char target[128];
		arena_t a;
		http_response resp;
		if (!r)
			abort();
		snprintf(target, sizeof target, "/fhir/%s/%s", type, id);
		arena_init(&a, 8u << 20);
		fz_app_request(&fz, &a, "PUT", target, NULL, seed_res[i], strlen(seed_res[i]), NULL, 0, &resp);
		if (resp.status != 200 && resp.status != 201)
			abort();
		free(resp.body);
		arena_fini(&a);
		json_decref(r);
	}
	fz_check_and_seed(getenv("FZ_CURSOR_SEEDS"));
	atexit(fz_stop);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int history, mac, status;
	unsigned qi;
	char *s, *token;

	if (size == 0)
		return 0;
	history = data[0] & 1;
	mac = (data[0] >> 1) & 1;
	qi = (data[0] >> 2) & 7;
	s = strndup((const char *)data + 1, size - 1);
	if (!s)
		return 0;
	token = mac ? fz_token(history, s) : s;
	fz_get(history ? hist_q[qi] : search_q[qi], token, 0, &status);
	if (mac && !history && status != 400 && fz_expired(s))
		abort(); /* an expired or future cursor was honoured */
	if (token != s)
		free(token);
	free(s);
	return 0;
}
