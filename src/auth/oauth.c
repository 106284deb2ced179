/*
 * oauth.c - the authorization server's front: creation, routing of the
 * /auth/... and .well-known paths to the endpoint handlers, the discovery
 * documents (SMART App Launch 2.2 conformance.html; OpenID Connect
 * Discovery 1.0), the JWKS and style documents, and the helpers the
 * endpoint files share (JSON responses, form bodies, CORS, grant
 * revocation).
 *
 * The discovery documents depend only on the configuration, which is
 * read-only after start, so they are built once here and copied out.
 */
#include "oauth_int.h"

#include "core/err.h"
#include "core/log.h"
#include "http/url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t oauth_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *oauth_jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

void oauth_send_json(http_response *resp, int status, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!text) {
		resp->status = 500;
		return;
	}
	resp->status = status;
	/* RFC 6749 5.1: Cache-Control: no-store (the listener adds it to
	 * every response) and Pragma: no-cache. */
	http_response_header(resp, "Pragma", "no-cache");
	http_response_set_body(resp, "application/json", text, strlen(text));
}

void oauth_send_error(http_response *resp, int status, const char *error, const char *desc)
{
	json_t *o = json_pack("{ss}", "error", error);

	if (o && desc)
		json_object_set_new(o, "error_description", json_string(desc));
	if (strcmp(error, "invalid_client") == 0) {
		/* RFC 6749 5.2: 401 with WWW-Authenticate naming the scheme. */
		status = 401;
		http_response_header(resp, "WWW-Authenticate", "Basic realm=\"fhird\"");
	}
	oauth_send_json(resp, status, o);
}

void oauth_send_throttled(http_request *req, http_response *resp, oauth_t *o, int html, const char *why,
			  unsigned retry_s)
{
	if (html)
		oauth_page_error(o, resp, 429, why);
	else
		oauth_send_error(resp, 429, "temporarily_unavailable", why);
	http_response_header(resp, "Retry-After", http_limits_retry_after(req->arena, retry_s));
}

int oauth_form(const http_request *req, http_param **ps, size_t *n)
{
	if (!oauth_form_type_ok(http_request_header(req, "Content-Type")))
		return ERR_MEDIATYPE;
	*ps = NULL;
	*n = 0;
	if (req->body_len == 0)
		return 0;
	return http_query_parse(req->arena, req->body, req->body_len, HTTP_MAX_PARAMS, ps, n);
}

void oauth_cors_client(const http_request *req, http_response *resp, const auth_client *c)
{
	const char *origin = http_request_header(req, "Origin");

	if (!origin || !c)
		return;
	for (size_t i = 0; i < c->norigins; i++)
		if (strcmp(c->origins[i], origin) == 0) {
			/* the client record dies before the response is sent */
			char *v = arena_strdup(req->arena, origin);
			if (v)
				http_response_header(resp, "Access-Control-Allow-Origin", v);
			return;
		}
}

int oauth_revoke_family(oauth_t *o, const char *family)
{
	const config_t *cfg = o->cfg;
	unsigned ttl = cfg->refresh_ttl_s;
	int64_t now = oauth_now_us();
	int rc;

	if (!family || !*family)
		return 0;
	/* The REVOKED record must outlive everything the family can still
	 * have issued: refresh tokens (either lifetime) and access tokens. */
	if (cfg->online_ttl_s > ttl)
		ttl = cfg->online_ttl_s;
	if (cfg->access_ttl_s > ttl)
		ttl = cfg->access_ttl_s;
	rc = store_auth_put(o->store, STORE_AUTH_REVOKED, family, NULL, "{}", now + (int64_t)ttl * 1000000 + 60000000,
			    1);
	if (rc == 0)
		rc = store_auth_expire_family(o->store, family, now);
	if (rc)
		log_error("msg=\"oauth: cannot revoke a grant\" err=%s", err_name(rc));
	return rc;
}

void oauth_audit(oauth_t *o, http_request *req, const http_response *resp, audit_event *ev)
{
	if (!ev->status)
		ev->status = resp->status;
	if (!ev->action)
		ev->action = 'E';
	ev->address = req->peer_text;
	req->audited = 1;
	audit_submit(o->audit, ev);
}

const char *oauth_audit_error(http_request *req, const http_response *resp)
{
	json_t *b = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	const char *e = json_string_value(json_object_get(b, "error"));
	char *out = e ? arena_strdup(req->arena, e) : NULL;
	json_decref(b);
	return out;
}

/* A refusal (401, 403) of an endpoint whose handler recorded nothing
 * itself: a sign-in form from another browser or with a stale CSRF
 * token, a client that failed to authenticate at introspection or
 * revocation. issue 6: every denied request is recorded. */
static void oauth_audit_denied(oauth_t *o, http_request *req, const http_response *resp, const char *endpoint)
{
	audit_event ev;

	if (req->audited || (resp->status != 401 && resp->status != 403))
		return;
	memset(&ev, 0, sizeof ev);
	ev.outcome = -1;
	if (!strcmp(endpoint, "revoke")) {
		ev.kind = AUDIT_TOKEN;
		ev.subtype = AUDIT_TOKEN_REVOKE;
	} else if (!strcmp(endpoint, "introspect") || !strcmp(endpoint, "token")) {
		ev.kind = AUDIT_TOKEN;
		ev.subtype = !strcmp(endpoint, "token") ? AUDIT_TOKEN_ISSUE : AUDIT_TOKEN_INTROSPECT;
	} else {
		ev.kind = AUDIT_LOGIN; /* authorize and its pages */
	}
	ev.outcome_desc = oauth_audit_error(req, resp);
	oauth_audit(o, req, resp, &ev);
}

/* ---- discovery ---- */

static json_t *oauth_strings(const char *const *v)
{
	json_t *a = json_array();
	for (; a && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static const char *const oauth_scopes[] = {
	"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter", "offline_access",
	"online_access", "patient/*.cruds", "patient/*.rs", "user/*.cruds", "user/*.rs", "system/*.cruds",
	"system/*.rs", "patient/*.read", "patient/*.write", "user/*.read", "user/*.write", "system/*.read",
	"system/*.write", NULL
};

static char *oauth_url(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *u = malloc(la + lb + 1);
	if (u) {
		memcpy(u, a, la);
		memcpy(u + la, b, lb + 1);
	}
	return u;
}

/* A copy of a configured URL, NULL when it is empty; *failed when the
 * copy could not be made. */
static char *oauth_url_opt(const char *u, int *failed)
{
	char *c;
	if (!u || !*u)
		return NULL;
	c = strdup(u);
	if (!c)
		*failed = 1;
	return c;
}

int oauth_urls_make(const config_t *cfg, oauth_urls *u)
{
	int failed = 0;

	memset(u, 0, sizeof *u);
	if (cfg->auth == CONFIG_AUTH_EXTERNAL) {
		u->authorize = oauth_url_opt(cfg->external_authorize_url, &failed);
		u->token = oauth_url_opt(cfg->external_token_url, &failed);
		u->introspect = oauth_url_opt(cfg->external_introspection_url, &failed);
		u->jwks = oauth_url_opt(cfg->external_jwks_url, &failed);
	} else {
		u->authorize = oauth_url(cfg->issuer, "/authorize");
		u->token = oauth_url(cfg->issuer, "/token");
		u->introspect = oauth_url(cfg->issuer, "/introspect");
		u->revoke = oauth_url(cfg->issuer, "/revoke");
		u->jwks = oauth_url(cfg->issuer, "/jwks");
		failed = !u->authorize || !u->token || !u->introspect || !u->revoke || !u->jwks;
	}
	if (failed) {
		oauth_urls_clear(u);
		return ERR_NOMEM;
	}
	return 0;
}

void oauth_urls_clear(oauth_urls *u)
{
	free(u->authorize);
	free(u->token);
	free(u->introspect);
	free(u->revoke);
	free(u->jwks);
	memset(u, 0, sizeof *u);
}

static int oauth_build_docs(oauth_t *o)
{
	static const char *const grants[] = { "authorization_code", "refresh_token", "client_credentials", NULL };
	static const char *const methods[] = { "client_secret_basic", "client_secret_post", "private_key_jwt", NULL };
	static const char *const algs[] = { "RS384", "ES384", NULL };
	static const char *const code[] = { "code", NULL };
	static const char *const s256[] = { "S256", NULL };
	static const char *const caps[] = {
		"launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
		"client-confidential-asymmetric", "sso-openid-connect", "context-banner", "context-style",
		"context-ehr-patient", "context-ehr-encounter", "context-standalone-patient", "permission-offline",
		"permission-online", "permission-patient", "permission-user", "permission-v1", "permission-v2",
		"authorize-post", NULL
	};
	static const char *const claims[] = { "iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser", NULL };
	const char *iss = o->cfg->issuer;
	oauth_urls u;
	json_t *smart = NULL, *oidc = NULL;
	int rc = oauth_urls_make(o->cfg, &u);

	if (rc)
		return rc;
	rc = ERR_NOMEM;
	/* SMART App Launch 2.2, conformance.html "Metadata": every REQUIRED
	 * and RECOMMENDED field. code_challenge_methods_supported lists S256
	 * only ("SHALL NOT include plain"). */
	smart = json_pack("{ss ss ss ss ss ss so so so so so so so}", "issuer", iss, "jwks_uri", u.jwks,
			  "authorization_endpoint", u.authorize, "token_endpoint", u.token, "introspection_endpoint",
			  u.introspect, "revocation_endpoint", u.revoke, "grant_types_supported", oauth_strings(grants),
			  "token_endpoint_auth_methods_supported", oauth_strings(methods),
			  "token_endpoint_auth_signing_alg_values_supported", oauth_strings(algs),
			  "scopes_supported", oauth_strings(oauth_scopes), "response_types_supported",
			  oauth_strings(code), "code_challenge_methods_supported", oauth_strings(s256),
			  "capabilities", oauth_strings(caps));
	if (!smart)
		goto fail;
	/* OpenID Connect Discovery 1.0 section 3 (sso-openid-connect). */
	oidc = json_pack("{ss ss ss ss so so so so so so so so}", "issuer", iss, "authorization_endpoint", u.authorize,
			 "token_endpoint", u.token, "jwks_uri", u.jwks, "response_types_supported",
			 oauth_strings(code), "subject_types_supported", json_pack("[s]", "public"),
			 "id_token_signing_alg_values_supported", json_pack("[s]", "RS256"), "scopes_supported",
			 oauth_strings(oauth_scopes), "claims_supported", oauth_strings(claims),
			 "grant_types_supported", oauth_strings(grants), "token_endpoint_auth_methods_supported",
			 oauth_strings(methods), "code_challenge_methods_supported", oauth_strings(s256));
	if (!oidc)
		goto fail;
	o->smart = json_dumps(smart, JSON_COMPACT);
	o->oidc = json_dumps(oidc, JSON_COMPACT);
	if (!o->smart || !o->oidc)
		goto fail;
	o->smart_len = strlen(o->smart);
	o->oidc_len = strlen(o->oidc);
	rc = 0;
fail:
	json_decref(smart);
	json_decref(oidc);
	oauth_urls_clear(&u);
	return rc;
}

/* --auth external: the discovery document points at the other server
 * (SMART 2.2 conformance.html); only what is configured is named. */
static int oauth_build_external_doc(oauth_t *o)
{
	static const char *const caps[] = { "permission-patient", "permission-user", "permission-v1", "permission-v2",
					    NULL };
	const config_t *c = o->cfg;
	oauth_urls u;
	json_t *smart = NULL;
	int rc = oauth_urls_make(c, &u);

	if (rc)
		return rc;
	rc = ERR_NOMEM;
	{
		const char *opt[][2] = { { "jwks_uri", u.jwks },
					 { "authorization_endpoint", u.authorize },
					 { "token_endpoint", u.token },
					 { "introspection_endpoint", u.introspect } };
		smart = json_pack("{ss so}", "issuer", c->external_issuer, "capabilities", oauth_strings(caps));
		if (!smart)
			goto fail;
		for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
			if (opt[i][1] && json_object_set_new(smart, opt[i][0], json_string(opt[i][1])))
				goto fail;
	}
	o->smart = json_dumps(smart, JSON_COMPACT);
	if (!o->smart)
		goto fail;
	o->smart_len = strlen(o->smart);
	rc = 0;
fail:
	json_decref(smart);
	oauth_urls_clear(&u);
	return rc;
}

/* Splits the issuer URL's path into segments: the endpoints are served
 * under it ("/auth" by default; a proxy may map another origin here). */
static int oauth_issuer_path(oauth_t *o)
{
	const char *iss = o->cfg->issuer;
	const char *host = strstr(iss, "://");
	const char *p = host ? strchr(host + 3, '/') : NULL;
	size_t cap = 1;

	o->ipath_str = strdup(p ? p : "");
	if (!o->ipath_str)
		return ERR_NOMEM;
	for (const char *q = o->ipath_str; *q; q++)
		if (*q == '/')
			cap++;
	o->ipath = calloc(cap, sizeof *o->ipath);
	if (!o->ipath)
		return ERR_NOMEM;
	for (const char *q = o->ipath_str; *q;) {
		size_t l;
		while (*q == '/')
			q++;
		l = strcspn(q, "/");
		if (l == 0)
			break;
		o->ipath[o->nipath] = strndup(q, l);
		if (!o->ipath[o->nipath])
			return ERR_NOMEM;
		o->nipath++;
		q += l;
	}
	/* "/auth/" and "/auth" name the same place */
	while (*o->ipath_str && o->ipath_str[strlen(o->ipath_str) - 1] == '/')
		o->ipath_str[strlen(o->ipath_str) - 1] = '\0';
	return 0;
}

int oauth_new(const config_t *cfg, store_t *store, auth_tokens *tokens, oauth_t **out)
{
	oauth_t *o = calloc(1, sizeof *o);
	int rc = ERR_NOMEM;

	*out = NULL;
	if (!o)
		return ERR_NOMEM;
	o->cfg = cfg;
	o->store = store;
	o->tokens = tokens;
	o->secure = cfg->tls_cert && *cfg->tls_cert;
	if (cfg->auth == CONFIG_AUTH_EXTERNAL) {
		o->external = 1;
		rc = oauth_build_external_doc(o);
		if (rc)
			goto fail;
		*out = o;
		return 0;
	}
	{
		/* Client JWKS URLs: https only (a client's keys come from the
		 * internet, never in the clear), cached per Cache-Control within
		 * a minute and a day, refetched for an unknown kid at most every
		 * jwks_refetch_s (30 s); 256 clients' sets at most. */
		auth_jwks_opts jo = {
			.ca_file = cfg->external_ca_file,
			.timeout_ms = cfg->fetch_timeout_ms,
			.max_bytes = cfg->fetch_max_bytes,
			.min_ttl_s = 60,
			.max_ttl_s = 86400,
			.default_ttl_s = 300,
			.refetch_s = cfg->jwks_refetch_s,
			.max_entries = 256,
			.https_only = 1,
		};
		rc = auth_jwks_cache_new(&jo, &o->client_jwks);
		if (rc)
			goto fail;
		rc = auth_cors_new(store, &o->cors);
		if (rc)
			goto fail;
		rc = ERR_NOMEM;
	}
	o->token_url = oauth_url(cfg->issuer, "/token");
	o->style_url = oauth_url(cfg->issuer, "/style.json");
	if (!o->token_url || !o->style_url)
		goto fail;
	rc = oauth_issuer_path(o);
	if (rc == 0)
		rc = oauth_build_docs(o);
	if (rc)
		goto fail;
	*out = o;
	return 0;
fail:
	oauth_free(o);
	return rc;
}

void oauth_set_limits(oauth_t *o, http_limits *limits)
{
	o->limits = limits;
}

void oauth_set_audit(oauth_t *o, struct audit *audit)
{
	o->audit = audit;
}

void oauth_free(oauth_t *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->nipath; i++)
		free(o->ipath[i]);
	free(o->ipath);
	free(o->ipath_str);
	free(o->token_url);
	free(o->style_url);
	free(o->smart);
	free(o->oidc);
	auth_jwks_cache_free(o->client_jwks);
	auth_cors_free(o->cors);
	free(o);
}

int oauth_smart_configuration(const oauth_t *o, char **json, size_t *len)
{
	char *c = malloc(o->smart_len + 1);
	if (!c)
		return ERR_NOMEM;
	memcpy(c, o->smart, o->smart_len + 1);
	*json = c;
	*len = o->smart_len;
	return 0;
}

/* ---- routing ---- */

/* Number of leading segments of req that equal the path p's segments, or
 * -1 when req is not under p. */
static long oauth_under(const http_request *req, char **segs, size_t nsegs)
{
	if (req->nsegments < nsegs)
		return -1;
	for (size_t i = 0; i < nsegs; i++)
		if (strcmp(req->segments[i], segs[i]) != 0)
			return -1;
	return (long)nsegs;
}

static long oauth_under_path(const http_request *req, const char *path)
{
	size_t i = 0;
	for (const char *p = path; *p;) {
		size_t l;
		while (*p == '/')
			p++;
		l = strcspn(p, "/");
		if (l == 0)
			break;
		if (i >= req->nsegments || strlen(req->segments[i]) != l || strncmp(req->segments[i], p, l) != 0)
			return -1;
		i++;
		p += l;
	}
	return (long)i;
}

static int oauth_is(const http_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

static void oauth_send_static(http_response *resp, const char *text, size_t len, const char *type)
{
	char *c = malloc(len + 1);
	if (!c) {
		resp->status = 500;
		return;
	}
	memcpy(c, text, len + 1);
	resp->status = 200;
	http_response_set_body(resp, type, c, len);
}

static void oauth_method_not_allowed(http_response *resp, const char *allow)
{
	http_response_header(resp, "Allow", allow);
	oauth_send_error(resp, 405, "invalid_request", "method not allowed");
}

/* CORS preflight for the token, introspection and revocation endpoints
 * (Fetch standard, CORS protocol). The client is not known before the
 * body arrives, so the origin must be registered for some client (the
 * same cached list as the FHIR API's, cors.h: a preflight costs no store
 * read); the real response then allows it only for the client it
 * authenticated. */
static void oauth_preflight(oauth_t *o, http_request *req, http_response *resp)
{
	const char *origin = http_request_header(req, "Origin");

	resp->status = 204;
	http_response_header(resp, "Vary", "Origin");
	if (!origin || !auth_cors_registered(o->cors, origin))
		return;
	http_response_header(resp, "Access-Control-Allow-Origin", arena_strdup(req->arena, origin));
	http_response_header(resp, "Access-Control-Allow-Methods", "POST");
	http_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
	http_response_header(resp, "Access-Control-Max-Age", "600");
}

static void oauth_jwks(oauth_t *o, http_response *resp)
{
	char *json = NULL;
	size_t len = 0;
	int rc = auth_tokens_jwks(o->tokens, &json, &len);

	if (rc) {
		log_error("msg=\"oauth: jwks\" err=%s", err_name(rc));
		oauth_send_error(resp, 500, "server_error", NULL);
		return;
	}
	resp->status = 200;
	http_response_header(resp, "Access-Control-Allow-Origin", "*");
	http_response_set_body(resp, "application/json", json, len);
}

/* SMART styling (scopes-and-launch-context.html#styling): a small fixed
 * document so that apps asking for smart_style_url get something valid. */
static const char oauth_style[] =
	"{\"color_background\":\"#edeae3\",\"color_error\":\"#9e2d2d\",\"color_highlight\":\"#69b5ce\","
	"\"color_modal_backdrop\":\"\",\"color_success\":\"#498e49\",\"color_text\":\"#303030\","
	"\"dim_border_radius\":\"6px\",\"dim_font_size\":\"13px\",\"dim_spacing_size\":\"20px\","
	"\"font_family_body\":\"Georgia, Times, 'Times New Roman', serif\","
	"\"font_family_heading\":\"'HelveticaNeue-Light', Helvetica, Arial, 'Lucida Grande', sans-serif;\"}";

/* rate_auth_addr for the endpoints that do work per request (records
 * written, passwords or signatures checked, clients listed); the static
 * documents are left alone. 1 when resp holds the 429. */
static int oauth_addr_limited(oauth_t *o, http_request *req, http_response *resp, const char *name)
{
	static const char *const pages[] = { "authorize", "login", "pick", "consent", NULL };
	static const char *const apis[] = { "token", "introspect", "revoke", NULL };
	unsigned retry_s = 0;
	int html = -1;

	for (size_t i = 0; pages[i] && html < 0; i++)
		if (strcmp(name, pages[i]) == 0)
			html = 1;
	for (size_t i = 0; apis[i] && html < 0; i++)
		if (strcmp(name, apis[i]) == 0)
			html = 0;
	if (html < 0 || !http_limits_addr(o->limits, HTTP_LIMIT_AUTH, req, &retry_s))
		return 0;
	oauth_send_throttled(req, resp, o, html,
			     html ? "Too many requests from your network; wait a moment and try again." :
				    "too many requests from this address (rate_auth_addr)",
			     retry_s);
	log_info("msg=\"oauth %s\" outcome=throttled limit=rate_auth_addr", name);
	return 1;
}

static int oauth_endpoint(oauth_t *o, http_request *req, http_response *resp, const char *name)
{
	int get = oauth_is(req, "GET") || oauth_is(req, "HEAD"), post = oauth_is(req, "POST");

	if (oauth_addr_limited(o, req, resp, name))
		return 1;

	if (strcmp(name, "authorize") == 0) {
		if (get || post)
			oauth_authorize(o, req, resp);
		else
			oauth_method_not_allowed(resp, "GET, HEAD, POST");
		return 1;
	}
	if (strcmp(name, "jwks") == 0 || strcmp(name, "style.json") == 0) {
		if (!get) {
			oauth_method_not_allowed(resp, "GET, HEAD");
		} else if (name[0] == 'j') {
			oauth_jwks(o, resp);
		} else {
			http_response_header(resp, "Access-Control-Allow-Origin", "*");
			oauth_send_static(resp, oauth_style, sizeof oauth_style - 1, "application/json");
		}
		return 1;
	}
	if (strcmp(name, "login") == 0 || strcmp(name, "pick") == 0 || strcmp(name, "consent") == 0) {
		if (!post) {
			http_response_header(resp, "Allow", "POST");
			oauth_page_error(o, resp, 405, "This address only takes the sign-in forms.");
		} else if (name[0] == 'l') {
			oauth_login(o, req, resp);
		} else if (name[0] == 'p') {
			oauth_pick(o, req, resp);
		} else {
			oauth_consent(o, req, resp);
		}
		return 1;
	}
	if (strcmp(name, "token") == 0 || strcmp(name, "introspect") == 0 || strcmp(name, "revoke") == 0) {
		if (oauth_is(req, "OPTIONS"))
			oauth_preflight(o, req, resp);
		else if (!post)
			oauth_method_not_allowed(resp, "POST, OPTIONS");
		else if (name[0] == 't')
			oauth_token(o, req, resp);
		else if (name[0] == 'i')
			oauth_introspect(o, req, resp);
		else
			oauth_revoke(o, req, resp);
		return 1;
	}
	return 0;
}

int oauth_handle(oauth_t *o, http_request *req, http_response *resp)
{
	long k;
	int get = oauth_is(req, "GET") || oauth_is(req, "HEAD");

	/* Listener-level failures (413, 414) are rendered by the FHIR layer
	 * like every other such error; the segments may not even exist. */
	if (req->pre_error || !req->segments)
		return 0;

	/* [base]/.well-known/smart-configuration (SMART 2.2 conformance.html) */
	k = oauth_under_path(req, o->cfg->base_path);
	if (k >= 0 && req->nsegments == (size_t)k + 2 && strcmp(req->segments[k], ".well-known") == 0 &&
	    strcmp(req->segments[k + 1], "smart-configuration") == 0) {
		if (!get) {
			oauth_method_not_allowed(resp, "GET, HEAD");
			return 1;
		}
		http_response_header(resp, "Access-Control-Allow-Origin", "*");
		oauth_send_static(resp, o->smart, o->smart_len, "application/json");
		return 1;
	}
	if (o->external)
		return 0; /* no authorization server of ours */

	k = oauth_under(req, o->ipath, o->nipath);
	if (k < 0 || req->nsegments == (size_t)k)
		return 0;
	if (req->nsegments == (size_t)k + 2 && strcmp(req->segments[k], ".well-known") == 0 &&
	    strcmp(req->segments[k + 1], "openid-configuration") == 0) {
		if (!get) {
			oauth_method_not_allowed(resp, "GET, HEAD");
			return 1;
		}
		http_response_header(resp, "Access-Control-Allow-Origin", "*");
		oauth_send_static(resp, o->oidc, o->oidc_len, "application/json");
		return 1;
	}
	if (req->nsegments == (size_t)k + 1 && oauth_endpoint(o, req, resp, req->segments[k])) {
		oauth_audit_denied(o, req, resp, req->segments[k]);
		return 1;
	}
	/* With the default issuer nothing but us lives under /auth; with an
	 * issuer path of "" (issuer = origin) the rest belongs to FHIR. */
	if (o->nipath == 0)
		return 0;
	oauth_send_error(resp, 404, "invalid_request", "no such endpoint");
	return 1;
}
