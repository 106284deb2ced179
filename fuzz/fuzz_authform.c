/*
 * fuzz_authform.c - the form bodies (and the few headers) of the
 * authorization server's endpoints, through oauth_handle() of an
 * in-process fhird (app.h): POST /auth/token (every grant type, client
 * authentication by client_secret_basic / client_secret_post /
 * private_key_jwt / none), /auth/introspect, /auth/revoke, GET and POST
 * /auth/authorize (RFC 6749 4.1.1 parameter rules, PKCE, scopes, aud,
 * launch), and the sign-in forms /auth/login, /auth/pick, /auth/consent.
 * What parses them is the real code: http_query_parse() on the body,
 * oauth_param() / oauth_param_dup() (RFC 6749 3.1, 3.2), Basic
 * credentials, cookies, PKCE and random-value syntax (oauth_util.c),
 * scope_parse() and the rest of each endpoint.
 *
 * Input: a small HTTP request in text, as the seeds show:
 *   METHOD SP TARGET LF
 *   (Name: value LF)*        at most FZ_MAX_HEADERS lines
 *   LF
 *   body
 * An input without the blank line is not a request and is skipped.
 *
 * Live values: random ids and secrets cannot be guessed, so before the
 * request is split these placeholders are replaced (each at most 8 times):
 *   @SECRET@  the confidential client fz-conf's secret
 *   @BASIC@   base64("fz-conf:" secret), for client_secret_basic
 *   @TOKEN@   a fresh access token (system/ *.rs for fz-conf), so that
 *             introspection and revocation see a live one
 *   @REQ@ @CSRF@ @BIND@  the id, CSRF token and cookie value of a fresh
 *             pending authorization request (GET /auth/authorize by
 *             fz-public), so that the sign-in forms get past their
 *             checks. A login with a username and a password costs an
 *             argon2id check (64 MiB): such inputs run at a few per
 *             second, which is the real cost.
 * Authorization codes and refresh tokens are not provided (each needs a
 * full sign-in); their grants are reached up to the lookup.
 *
 * Checked: every response has a status, none is 5xx (a local, healthy
 * store: a 500 is a bug); the JSON endpoints answer JSON, and an OAuth
 * error (RFC 6749 5.2) names one of the registered error codes; a
 * redirect (302) goes only to a registered redirect URI (no open
 * redirector, RFC 6749 4.1.2.1); every cookie set is HttpOnly.
 *
 * The application is recreated every FZ_RESET inputs (the endpoints
 * write records: pending requests, revocations, seen jtis).
 */
#include "app.h"

#include "auth/jose.h"
#include "auth/registry.h"
#include "core/err.h"

#include <jansson.h>
#include <nettle/base64.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FZ_RESET 5000
#define FZ_REDIRECT_PUB "https://app.example/cb"
#define FZ_REDIRECT_CONF "https://conf.example/cb?x=1"

static fz_app fz;
static char fz_secret[64];
static char fz_basic[256];
static unsigned long fz_inputs;

static void fz_add_client(const char *id, enum auth_client_type type, const char *redirect, const char *scope,
			  json_t *jwks, char *secret_out)
{
	auth_client c;
	char *uris[1] = { (char *)redirect };
	char secret[64];

	memset(&c, 0, sizeof c);
	snprintf(c.id, sizeof c.id, "%s", id);
	c.type = type;
	c.redirect_uris = redirect ? uris : NULL;
	c.nredirect = redirect ? 1 : 0;
	c.scope = (char *)scope;
	c.name = "Fuzz <App> & \"co\"";
	c.jwks = jwks;
	if (auth_client_add(fz.store, &c, secret, sizeof secret))
		abort();
	if (secret_out)
		memcpy(secret_out, secret, sizeof secret);
}

static void fz_start(void)
{
	struct base64_encode_ctx ec;
	char raw[200];
	size_t n;
	jose_key *k = NULL;
	json_t *pub = NULL, *jwks;

	fz_app_open(&fz, 1);
	fz_add_client("fz-public", AUTH_CLIENT_PUBLIC, FZ_REDIRECT_PUB,
		      "launch launch/patient openid fhirUser offline_access online_access patient/*.rs user/*.rs",
		      NULL, NULL);
	fz_add_client("fz-conf", AUTH_CLIENT_CONFIDENTIAL, FZ_REDIRECT_CONF,
		      "openid fhirUser offline_access patient/*.cruds user/*.cruds system/*.rs", NULL, fz_secret);
	/* a backend client with a registered RSA key (RS384 assertions) */
	if (jose_key_generate(&k) || jose_key_public(k, &pub))
		abort();
	json_object_set_new(pub, "kid", json_string("fz-bk"));
	json_object_set_new(pub, "alg", json_string("RS384"));
	jose_key_free(k);
	jwks = json_pack("{s:[o]}", "keys", pub);
	fz_add_client("fz-backend", AUTH_CLIENT_BACKEND, NULL, "system/*.rs system/Observation.c", jwks, NULL);
	json_decref(jwks);
	if (auth_user_add(fz.store, "fz-user", "Patient/p1", "fz-password"))
		abort();
	n = (size_t)snprintf(raw, sizeof raw, "fz-conf:%s", fz_secret);
	base64_encode_init(&ec);
	n = base64_encode_update(&ec, fz_basic, n, (const uint8_t *)raw);
	n += base64_encode_final(&ec, fz_basic + n);
	fz_basic[n] = '\0';
}

static void fz_stop(void)
{
	fz_app_close(&fz);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_start();
	atexit(fz_stop);
	return 0;
}

/* ---- live values ---- */

struct fz_live {
	char token[4096];
	char req[80], csrf[80], bind[80];
};

static void fz_live_token(struct fz_live *l)
{
	auth_claims c;
	char *jwt = NULL;

	memset(&c, 0, sizeof c);
	snprintf(c.client_id, sizeof c.client_id, "fz-conf");
	snprintf(c.sub, sizeof c.sub, "fz-conf");
	snprintf(c.fam, sizeof c.fam, "fzfam%lu", fz_inputs);
	c.scope = strdup("system/*.rs");
	c.iat = (int64_t)time(NULL);
	c.exp = c.iat + 3600;
	if (!c.scope || auth_token_issue(fz.tokens, &c, &jwt) || strlen(jwt) >= sizeof l->token)
		abort();
	memcpy(l->token, jwt, strlen(jwt) + 1);
	free(jwt);
	auth_claims_fini(&c);
}

/* copies the value after key in s up to a delimiter into out */
static int fz_grab(const char *s, const char *key, const char *stop, char *out, size_t cap)
{
	const char *p = s ? strstr(s, key) : NULL;
	size_t n;

	if (!p)
		return -1;
	p += strlen(key);
	n = strcspn(p, stop);
	if (n >= cap)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* A fresh pending authorization request: its id, CSRF token and cookie. */
static void fz_live_request(struct fz_live *l)
{
	arena_t a;
	http_response resp;
	const char *cookie;

	arena_init(&a, 8u << 20);
	fz_app_request(&fz, &a, "GET",
		       "/auth/authorize?response_type=code&client_id=fz-public&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
		       "&scope=launch%2Fpatient+openid+fhirUser+patient%2F*.rs&state=st&aud=http%3A%2F%2F127.0.0.1%3A8080%2Ffhir"
		       "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
		       NULL, "", 0, NULL, 0, &resp);
	cookie = fz_resp_header(&resp, "Set-Cookie");
	if (resp.status != 200 || fz_grab(cookie, "fhird_", "=", l->req, sizeof l->req) ||
	    fz_grab(cookie, "=", ";", l->bind, sizeof l->bind) ||
	    fz_grab(resp.body, "name=\"csrf\" value=\"", "\"", l->csrf, sizeof l->csrf)) {
		fprintf(stderr, "fuzz_authform: no pending request: %d %.*s\n", resp.status, (int)resp.body_len,
			resp.body ? resp.body : "");
		abort();
	}
	free(resp.body);
	arena_fini(&a);
}

/* s with every placeholder replaced (malloc'd; *len updated). */
static char *fz_substitute(const char *s, size_t *len)
{
	static const char *const names[] = { "@SECRET@", "@BASIC@", "@TOKEN@", "@REQ@", "@CSRF@", "@BIND@" };
	struct fz_live *l = calloc(1, sizeof *l);
	const char *vals[6];
	size_t cap = *len + 1, n = 0;
	int uses = 0, need_req = 0, need_tok = 0;
	char *out;

	if (!l)
		abort();
	for (int i = 0; i < 6; i++) {
		if (memmem(s, *len, names[i], strlen(names[i]))) {
			need_tok |= i == 2;
			need_req |= i >= 3;
		}
	}
	if (need_tok)
		fz_live_token(l);
	if (need_req)
		fz_live_request(l);
	vals[0] = fz_secret;
	vals[1] = fz_basic;
	vals[2] = l->token;
	vals[3] = l->req;
	vals[4] = l->csrf;
	vals[5] = l->bind;
	cap += 8 * 6 * sizeof l->token;
	out = malloc(cap);
	if (!out)
		abort();
	for (size_t i = 0; i < *len;) {
		int hit = -1;
		for (int k = 0; k < 6 && uses < 48 && hit < 0; k++)
			if (s[i] == '@' && *len - i >= strlen(names[k]) && memcmp(s + i, names[k], strlen(names[k])) == 0)
				hit = k;
		if (hit >= 0) {
			memcpy(out + n, vals[hit], strlen(vals[hit]));
			n += strlen(vals[hit]);
			i += strlen(names[hit]);
			uses++;
		} else {
			out[n++] = s[i++];
		}
	}
	out[n] = '\0';
	*len = n;
	free(l);
	return out;
}

/* ---- checks ---- */

static void fz_fail(const char *why, const http_response *r)
{
	fprintf(stderr, "fuzz_authform: %s: status %d\n%.*s\n", why, r->status, (int)r->body_len, r->body ? r->body : "");
	abort();
}

static void fz_check(const char *target, const http_response *r)
{
	static const char *const errors[] = { "invalid_request", "invalid_client", "invalid_grant",
					      "unauthorized_client", "unsupported_grant_type", "invalid_scope",
					      "temporarily_unavailable", "server_error" };
	const char *ct = r->content_type;

	if (r->status < 200 || r->status >= 500)
		fz_fail("server error", r);
	for (unsigned i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->hname[i], "Location") == 0 && strncmp(r->hvalue[i], FZ_REDIRECT_PUB "?", strlen(FZ_REDIRECT_PUB "?")) != 0 &&
		    strncmp(r->hvalue[i], FZ_REDIRECT_CONF "&", strlen(FZ_REDIRECT_CONF "&")) != 0)
			fz_fail("redirect to an unregistered URI", r);
		if (strcasecmp(r->hname[i], "Set-Cookie") == 0 && !strstr(r->hvalue[i], "; HttpOnly"))
			fz_fail("cookie without HttpOnly", r);
	}
	if (r->status == 302 && !fz_resp_header(r, "Location"))
		fz_fail("302 without Location", r);
	if (ct && strcmp(ct, "application/json") == 0) {
		json_t *j = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
		const char *e;
		int known = 0;
		if (!json_is_object(j))
			fz_fail("JSON endpoint without a JSON object", r);
		e = json_string_value(json_object_get(j, "error"));
		for (size_t i = 0; e && i < sizeof errors / sizeof errors[0]; i++)
			known |= strcmp(e, errors[i]) == 0;
		if (json_object_get(j, "error") && !known)
			fz_fail("unknown OAuth error code", r);
		if (r->status >= 400 && !e && strstr(target, "/auth/"))
			fz_fail("OAuth error without an error code", r);
		json_decref(j);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_conn h;
	arena_t a;
	http_response resp;
	char *s, *line, *sp, *hdrs, *body, *end;
	size_t len = size;

	if (!memmem(data, size, "\n\n", 2) || memchr(data, '\0', size))
		return 0;
	if (++fz_inputs % FZ_RESET == 0) {
		fz_stop();
		fz_start();
	}
	s = fz_substitute((const char *)data, &len);
	memset(&h, 0, sizeof h);
	body = strstr(s, "\n\n");
	*body = '\0';
	body += 2;
	line = s;
	hdrs = strchr(line, '\n');
	if (hdrs)
		*hdrs++ = '\0';
	sp = strchr(line, ' ');
	if (!sp)
		goto out;
	*sp = '\0';
	while (hdrs && *hdrs && h.n < FZ_MAX_HEADERS) {
		char *colon;
		end = strchr(hdrs, '\n');
		if (end)
			*end = '\0';
		colon = strchr(hdrs, ':');
		if (colon) {
			*colon = '\0';
			h.name[h.n] = hdrs;
			h.value[h.n++] = colon[1] == ' ' ? colon + 2 : colon + 1;
		}
		hdrs = end ? end + 1 : NULL;
	}
	arena_init(&a, 8u << 20);
	fz_app_request(&fz, &a, line, sp + 1, &h, body, len - (size_t)(body - s), NULL, 0, &resp);
	if (getenv("FZ_DEBUG"))
		fprintf(stderr, "fuzz_authform: %s %s -> %d %.*s\n", line, sp + 1, resp.status,
			(int)(resp.body_len < 400 ? resp.body_len : 400), resp.body ? resp.body : "");
	fz_check(sp + 1, &resp);
	free(resp.body);
	arena_fini(&a);
out:
	free(s);
	return 0;
}
