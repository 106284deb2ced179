/*
 * oauth_authorize.c - the authorization endpoint (RFC 6749 4.1.1, RFC
 * 7636, SMART App Launch 2.2 app-launch.html) and the steps a person takes
 * behind it: login, patient picker, consent, then the code.
 *
 * The request is validated once, up front, in the order RFC 6749 4.1.2.1
 * demands: while the client or its redirect URI is in doubt nothing is
 * redirected (an open redirector is how codes get stolen), only an error
 * page is shown; after that every failure goes back to the registered
 * redirect URI with `error` and the exact `state`.
 *
 * The validated request becomes a STORE_AUTH_REQUEST record under a
 * random id, with a step (login -> [pick] -> consent) so that the pages
 * can only be walked forward and in order. Each POST must carry the id,
 * the record's CSRF token (checked in constant time) and a cookie whose
 * SHA-256 is the record's browser binding: the cookie is HttpOnly and
 * SameSite=Strict, and is named after the request so that two sign-ins in
 * two tabs do not overwrite each other. Strict suffices because every
 * form posts from our own page to our own origin; the first, cross-site
 * navigation from the app only needs to *set* the cookie.
 */
#include "oauth_int.h"

#include "auth/jose.h"
#include "core/err.h"
#include "core/log.h"
#include "core/valid.h"
#include "search/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTHZ_URL_MAX (64 * 1024)
#define AUTHZ_COOKIE_PREFIX "fhird_"

/* ---- responses ---- */

/* 302 to uri with the pairs added to its query (RFC 6749 4.1.2). */
static void authz_redirect(http_request *req, http_response *resp, const char *uri, const char *const *kv,
			   size_t npairs)
{
	buf_t b;
	char *loc = NULL;

	buf_init(&b, AUTHZ_URL_MAX);
	if (oauth_redirect_url(&b, uri, kv, npairs) == 0)
		loc = arena_strndup(req->arena, b.data, b.len);
	buf_fini(&b);
	if (!loc) {
		resp->status = 500;
		return;
	}
	resp->status = 302;
	http_response_header(resp, "Location", loc);
	http_response_header(resp, "Pragma", "no-cache");
	/* the Location carries the code: do not let the app's page leak it */
	http_response_header(resp, "Referrer-Policy", "no-referrer");
}

static void authz_redirect_error(http_request *req, http_response *resp, const char *uri, const char *error,
				 const char *desc, const char *state)
{
	const char *kv[] = { "error", error, "error_description", desc, "state", state };
	authz_redirect(req, resp, uri, kv, 3);
}

static char *authz_cookie_name(http_request *req, const char *reqid)
{
	return arena_printf(req->arena, AUTHZ_COOKIE_PREFIX "%s", reqid);
}

/* Set-Cookie for the browser binding; value NULL clears it. */
static void authz_cookie(oauth_t *o, http_request *req, http_response *resp, const char *reqid, const char *value)
{
	char *c = arena_printf(req->arena, AUTHZ_COOKIE_PREFIX "%s=%s; Path=%s; Max-Age=%u; HttpOnly; SameSite=Strict%s",
			       reqid, value ? value : "", *o->ipath_str ? o->ipath_str : "/",
			       value ? o->cfg->login_ttl_s : 0, o->secure ? "; Secure" : "");
	if (c)
		http_response_header(resp, "Set-Cookie", c);
}

/* ---- GET|POST /auth/authorize ---- */

/* Drops system/ rules: they belong to Backend Services (client
 * credentials), never to a person's sign-in. */
static void authz_drop_system(scope_set *s)
{
	size_t j = 0;
	for (size_t i = 0; i < s->nrules; i++) {
		if (s->rules[i].ctx == SCOPE_SYSTEM) {
			free(s->rules[i].query);
			continue;
		}
		s->rules[j++] = s->rules[i];
	}
	s->nrules = j;
}

static int authz_scope_empty(const scope_set *s)
{
	return s->nrules == 0 && s->flags == 0 && s->nother == 0;
}

/* The EHR launch value (SMART app-launch.html "launch"): single use,
 * bound to the client it was created for. Its context becomes ours. */
static int authz_launch(oauth_t *o, const char *launch, const char *client_id, json_t *v, const char **desc)
{
	char hash[65];
	store_auth_rec rec;
	json_t *lv = NULL;
	int rc;

	memset(&rec, 0, sizeof rec);
	jose_sha256_hex(launch, strlen(launch), hash);
	rc = store_auth_take(o->store, STORE_AUTH_LAUNCH, hash, &rec);
	if (rc) {
		*desc = "unknown or expired launch";
		goto fail;
	}
	rc = ERR_INVALID;
	if (rec.used) {
		*desc = "launch already used";
		goto fail;
	}
	lv = json_loads(rec.value ? rec.value : "", 0, NULL);
	if (!lv || strcmp(oauth_jstr(lv, "client_id"), client_id) != 0) {
		*desc = "launch belongs to another application";
		goto fail;
	}
	json_object_set_new(v, "patient", json_string(oauth_jstr(lv, "patient")));
	json_object_set_new(v, "encounter", json_string(oauth_jstr(lv, "encounter")));
	json_object_set_new(v, "ehr", json_true());
	rc = 0;
fail:
	json_decref(lv);
	store_auth_rec_clear(&rec);
	return rc;
}

void oauth_authorize(oauth_t *o, http_request *req, http_response *resp)
{
	http_param *ps = NULL;
	size_t n = 0;
	const char *client_id = NULL, *redirect = NULL, *state = NULL, *rtype, *aud, *method, *challenge, *scope,
		   *nonce, *launch, *dup, *error = "invalid_request", *desc = NULL;
	auth_client c;
	scope_set want, allowed, granted;
	char *granted_str = NULL, *text = NULL, logid[64], origin[256];
	char reqid[OAUTH_RAND_LEN], csrf[OAUTH_RAND_LEN], bind[OAUTH_RAND_LEN], bind_hash[65];
	json_t *v = NULL;
	oauth_page_ctx page;
	int rc;

	memset(&c, 0, sizeof c);
	memset(&want, 0, sizeof want);
	memset(&allowed, 0, sizeof allowed);
	memset(&granted, 0, sizeof granted);
	/* authorize-post (SMART 2.2): the same parameters as a form body */
	if (strcmp(req->method, "POST") == 0) {
		rc = oauth_form(req, &ps, &n);
	} else {
		ps = req->params;
		n = req->nparams;
		rc = 0;
	}
	if (rc) {
		oauth_page_error(o, resp, 400, "The authorization request could not be read.");
		return;
	}
	/* RFC 6749 4.1.2.1: an invalid or missing client_id or redirect_uri
	 * is told to the person, never redirected. */
	if (oauth_param(ps, n, "client_id", &client_id) || !client_id) {
		oauth_page_error(o, resp, 400, "The request does not name an application.");
		log_info("msg=\"oauth authorize\" client=- outcome=no_client");
		return;
	}
	oauth_log_safe(client_id, logid, sizeof logid);
	rc = auth_client_get(o->store, client_id, &c);
	if (rc) {
		oauth_page_error(o, resp, rc == ERR_NOTFOUND ? 400 : 500,
				 rc == ERR_NOTFOUND ? "The application is not registered here." :
						      "The server cannot look up the application now.");
		log_info("msg=\"oauth authorize\" client=%s outcome=%s", logid,
			 rc == ERR_NOTFOUND ? "unknown_client" : err_name(rc));
		return;
	}
	if (c.type == AUTH_CLIENT_BACKEND || oauth_param(ps, n, "redirect_uri", &redirect) || !redirect ||
	    !auth_client_redirect_ok(&c, redirect)) {
		oauth_page_error(o, resp, 400, "The redirect address is not registered for this application.");
		log_info("msg=\"oauth authorize\" client=%s outcome=bad_redirect_uri", logid);
		goto out;
	}
	if (oauth_origin(redirect, origin, sizeof origin))
		origin[0] = '\0';

	/* From here on, errors go back to the application. */
	if (oauth_param(ps, n, "state", &state)) {
		state = NULL; /* which one would we echo? none */
		desc = "state repeated";
		goto redirect_error;
	}
	if ((dup = oauth_param_dup(ps, n, NULL)) != NULL) {
		desc = "a parameter is repeated"; /* RFC 6749 3.1 */
		goto redirect_error;
	}
	oauth_param(ps, n, "response_type", &rtype);
	oauth_param(ps, n, "aud", &aud);
	oauth_param(ps, n, "code_challenge_method", &method);
	oauth_param(ps, n, "code_challenge", &challenge);
	oauth_param(ps, n, "scope", &scope);
	oauth_param(ps, n, "nonce", &nonce);
	oauth_param(ps, n, "launch", &launch);
	if (!rtype) {
		desc = "response_type is required";
		goto redirect_error;
	}
	if (strcmp(rtype, "code") != 0) {
		error = "unsupported_response_type";
		desc = "only response_type=code";
		goto redirect_error;
	}
	if (!state) {
		desc = "state is required"; /* SMART app-launch.html: REQUIRED */
		goto redirect_error;
	}
	/* SMART: aud names the FHIR server the app means to use; a code must
	 * not be issued for another one (a counterfeit server's token
	 * phishing). Exact comparison. */
	if (!aud || strcmp(aud, o->cfg->base_url) != 0) {
		desc = "aud must be this server's FHIR base URL";
		goto redirect_error;
	}
	/* SMART 2.2: PKCE is required, and S256 the only method ("plain"
	 * would hand the verifier to whoever saw the request). */
	if (!method || strcmp(method, "S256") != 0) {
		desc = "code_challenge_method=S256 is required";
		goto redirect_error;
	}
	if (!challenge || !oauth_pkce_challenge_ok(challenge)) {
		desc = "code_challenge must be a base64url SHA-256 (43 characters)";
		goto redirect_error;
	}
	error = "invalid_scope";
	if (!scope || scope_parse(scope, &want)) {
		desc = scope ? "scope is malformed" : "scope is required";
		goto redirect_error;
	}
	if (scope_parse(c.scope ? c.scope : "", &allowed)) {
		log_error("msg=\"oauth authorize: registered scope unparsable\" client=%s", logid);
		error = "server_error";
		goto redirect_error;
	}
	authz_drop_system(&allowed);
	if (scope_intersect(&want, &allowed, &granted) || scope_format(&granted, &granted_str)) {
		error = "server_error";
		goto redirect_error;
	}
	if (authz_scope_empty(&granted)) {
		desc = "none of the requested scopes may be granted to this application";
		goto redirect_error;
	}
	error = "invalid_request";

	v = json_pack("{ss ss ss ss ss ss ss ss ss ss sb ss ss si}", "step", "login", "client_id", c.id,
		      "client_name", c.name && *c.name ? c.name : c.id, "redirect_uri", redirect, "state", state,
		      "scope", granted_str, "code_challenge", challenge, "nonce", nonce ? nonce : "", "patient", "",
		      "encounter", "", "ehr", 0, "username", "", "fhir_user", "", "fails", 0);
	if (!v) {
		error = "server_error";
		goto redirect_error;
	}
	/* Last, because it uses the launch value up: a request that fails
	 * the checks above leaves it for a corrected retry. */
	if (launch && authz_launch(o, launch, c.id, v, &desc))
		goto redirect_error;
	if (jose_random_token(32, reqid, sizeof reqid) || jose_random_token(32, csrf, sizeof csrf) ||
	    jose_random_token(32, bind, sizeof bind)) {
		error = "server_error";
		goto redirect_error;
	}
	jose_sha256_hex(bind, strlen(bind), bind_hash);
	json_object_set_new(v, "csrf", json_string(csrf));
	json_object_set_new(v, "bind", json_string(bind_hash));
	text = json_dumps(v, JSON_COMPACT);
	rc = text ? store_auth_put(o->store, STORE_AUTH_REQUEST, reqid, NULL, text,
				   oauth_now_us() + (int64_t)o->cfg->login_ttl_s * 1000000, 0) :
		    ERR_NOMEM;
	if (rc) {
		log_error("msg=\"oauth authorize: cannot store the request\" client=%s err=%s", logid, err_name(rc));
		error = "server_error";
		desc = NULL;
		goto redirect_error;
	}
	authz_cookie(o, req, resp, reqid, bind);
	memset(&page, 0, sizeof page);
	page.reqid = reqid;
	page.csrf = csrf;
	page.client_name = oauth_jstr(v, "client_name");
	page.redirect_origin = origin;
	oauth_page_login(o, req, resp, &page);
	log_info("msg=\"oauth authorize\" client=%s outcome=login_page launch=%s", logid, launch ? "ehr" : "standalone");
	goto out;

redirect_error:
	authz_redirect_error(req, resp, redirect, error, desc, state);
	log_info("msg=\"oauth authorize\" client=%s outcome=%s", logid, error);
out:
	explicit_bzero(bind, sizeof bind);
	free(text);
	free(granted_str);
	json_decref(v);
	scope_set_fini(&want);
	scope_set_fini(&allowed);
	scope_set_fini(&granted);
	auth_client_fini(&c);
}

/* ---- the steps: POST /auth/login, /auth/pick, /auth/consent ---- */

typedef struct authz_step {
	http_param *ps;
	size_t n;
	const char *reqid;
	store_auth_rec rec;
	json_t *v;           /* the request record's value */
	char origin[256];    /* of the redirect URI */
	char logid[64];
} authz_step;

static void authz_step_fini(authz_step *st)
{
	store_auth_rec_clear(&st->rec);
	json_decref(st->v);
}

/* Loads the pending request a form names and checks that this browser
 * started it (cookie), that the form is ours (CSRF) and that it is the
 * step expected now. 0, or -1 with an error page sent. Failures here are
 * never redirected: they may be forged by a third party. */
static int authz_step_begin(oauth_t *o, http_request *req, http_response *resp, const char *step, authz_step *st)
{
	const char *csrf = NULL, *cookies = http_request_header(req, "Cookie");
	char *cname, value[128], hash[65];
	size_t pos = 0;
	int rc, bound = 0;

	memset(st, 0, sizeof *st);
	if (oauth_form(req, &st->ps, &st->n) || oauth_param_dup(st->ps, st->n, "scope") ||
	    oauth_param(st->ps, st->n, "req", &st->reqid) || !st->reqid || !oauth_rand_ok(st->reqid)) {
		oauth_page_error(o, resp, 400, "The form could not be read.");
		return -1;
	}
	rc = store_auth_get(o->store, STORE_AUTH_REQUEST, st->reqid, &st->rec);
	if (rc) {
		oauth_page_error(o, resp, rc == ERR_NOTFOUND ? 400 : 500,
				 rc == ERR_NOTFOUND ? "This sign-in has expired or was already finished." :
						      "The server cannot continue the sign-in now.");
		log_info("msg=\"oauth %s\" client=- outcome=%s", step, rc == ERR_NOTFOUND ? "no_request" : err_name(rc));
		return -1;
	}
	st->v = json_loads(st->rec.value ? st->rec.value : "", 0, NULL);
	if (!json_is_object(st->v)) {
		oauth_page_error(o, resp, 500, "The server cannot continue the sign-in now.");
		return -1;
	}
	oauth_log_safe(oauth_jstr(st->v, "client_id"), st->logid, sizeof st->logid);
	if (oauth_origin(oauth_jstr(st->v, "redirect_uri"), st->origin, sizeof st->origin))
		st->origin[0] = '\0';
	cname = authz_cookie_name(req, st->reqid);
	while (cname && !bound && (rc = oauth_cookie_next(cookies, cname, &pos, value, sizeof value)) != ERR_NOTFOUND) {
		if (rc)
			continue;
		jose_sha256_hex(value, strlen(value), hash);
		bound = jose_streq_ct(hash, oauth_jstr(st->v, "bind"));
	}
	oauth_param(st->ps, st->n, "csrf", &csrf);
	if (!bound || !csrf || !jose_streq_ct(csrf, oauth_jstr(st->v, "csrf"))) {
		oauth_page_error(o, resp, 403, "This sign-in was not started in this browser, or the form is stale.");
		log_warn("msg=\"oauth %s\" client=%s outcome=%s", step, st->logid, bound ? "bad_csrf" : "bad_cookie");
		return -1;
	}
	if (strcmp(oauth_jstr(st->v, "step"), step) != 0) {
		oauth_page_error(o, resp, 400, "This form was already submitted.");
		log_info("msg=\"oauth %s\" client=%s outcome=wrong_step", step, st->logid);
		return -1;
	}
	return 0;
}

static int authz_step_save(oauth_t *o, authz_step *st)
{
	char *text = json_dumps(st->v, JSON_COMPACT);
	int rc = text ? store_auth_put(o->store, STORE_AUTH_REQUEST, st->reqid, NULL, text, st->rec.exp_us, 1) :
			ERR_NOMEM;
	free(text);
	if (rc)
		log_error("msg=\"oauth: cannot save the sign-in\" client=%s err=%s", st->logid, err_name(rc));
	return rc;
}

/* Ends the pending request and sends the person back to the app with an
 * error (RFC 6749 4.1.2.1; access_denied when they said no). */
static void authz_step_abandon(oauth_t *o, http_request *req, http_response *resp, authz_step *st,
			       const char *error, const char *desc)
{
	store_auth_del(o->store, STORE_AUTH_REQUEST, st->reqid);
	authz_cookie(o, req, resp, st->reqid, NULL);
	authz_redirect_error(req, resp, oauth_jstr(st->v, "redirect_uri"), error, desc, oauth_jstr(st->v, "state"));
}

/* "Given Family" (or name.text) of a Patient body, for the picker. */
static void authz_patient_label(const char *body, size_t len, char *out, size_t cap)
{
	json_t *r = json_loadb(body, len, 0, NULL), *n = json_array_get(json_object_get(r, "name"), 0);
	const char *text = oauth_jstr(n, "text"), *family = oauth_jstr(n, "family");
	const char *given = json_string_value(json_array_get(json_object_get(n, "given"), 0));

	if (*text)
		snprintf(out, cap, "%s", text);
	else
		snprintf(out, cap, "%s%s%s", given ? given : "", given && *family ? " " : "", family);
	json_decref(r);
}

/* The first OAUTH_PICK_MAX patients in id order, [{"id", "label"}], for
 * the picker (a new reference, or NULL when the search fails: the page
 * then offers the id field only). */
static json_t *authz_patients(oauth_t *o, http_request *req)
{
	const config_t *cfg = o->cfg;
	search_limits lim = {
		.max_clauses = cfg->search_max_clauses,
		.max_values = cfg->search_max_values,
		.max_chain_depth = cfg->search_chain_depth,
		.max_includes = cfg->search_max_includes,
		.count_default = OAUTH_PICK_MAX < cfg->page_max ? OAUTH_PICK_MAX : cfg->page_max,
		.count_max = cfg->page_max,
		.base = cfg->base_url,
	};
	search_query q;
	store_search_q sq;
	store_search_page page;
	json_t *list = NULL;
	char why[128];

	memset(&q, 0, sizeof q);
	memset(&sq, 0, sizeof sq);
	memset(&page, 0, sizeof page);
	if (search_query_parse(req->arena, "Patient", "", 0, &lim, &q, why, sizeof why))
		return NULL;
	sq.q = &q;
	sq.count = q.count;
	if (store_search(o->store, &sq, &page, why, sizeof why) == 0 && (list = json_array()) != NULL) {
		for (size_t i = 0; i < page.n; i++) {
			char label[200];
			const store_version_t *v = &page.items[i];
			if (!v->body)
				continue;
			authz_patient_label(v->body, v->body_len, label, sizeof label);
			json_array_append_new(list, json_pack("{ss ss}", "id", v->id, "label", label));
		}
	}
	store_search_page_clear(&page);
	return list;
}

static void authz_step_page(oauth_t *o, http_request *req, http_response *resp, authz_step *st, const char *msg)
{
	oauth_page_ctx p;
	const char *step = oauth_jstr(st->v, "step");
	json_t *patients = NULL;

	memset(&p, 0, sizeof p);
	p.reqid = st->reqid;
	p.csrf = oauth_jstr(st->v, "csrf");
	p.client_name = oauth_jstr(st->v, "client_name");
	p.redirect_origin = st->origin;
	p.username = oauth_jstr(st->v, "username");
	p.patient = oauth_jstr(st->v, "patient");
	p.scope = oauth_jstr(st->v, "scope");
	p.message = msg;
	if (strcmp(step, "login") == 0)
		oauth_page_login(o, req, resp, &p);
	else if (strcmp(step, "pick") == 0) {
		p.patients = patients = authz_patients(o, req);
		oauth_page_pick(o, req, resp, &p);
	} else {
		oauth_page_consent(o, req, resp, &p);
	}
	json_decref(patients);
}

static int authz_action_deny(const authz_step *st)
{
	const char *a = NULL;
	oauth_param(st->ps, st->n, "action", &a);
	return a && strcmp(a, "deny") == 0;
}

/* Whether the grant needs a patient in context: launch/patient asked
 * (standalone, SMART scopes-and-launch-context.html) or patient/ scopes
 * granted, which mean nothing without one. */
static int authz_needs_patient(const char *scope)
{
	scope_set s;
	int need = 0;

	memset(&s, 0, sizeof s);
	if (scope_parse(scope, &s) == 0) {
		need = (s.flags & SCOPE_F_LAUNCH_PATIENT) != 0;
		for (size_t i = 0; i < s.nrules && !need; i++)
			need = s.rules[i].ctx == SCOPE_PATIENT;
	}
	scope_set_fini(&s);
	return need;
}

/* The device cookie (http/limits.h): set after a successful sign-in, for
 * 30 days, to the issuer path only, never readable by scripts. */
#define AUTHZ_DEVICE_COOKIE "fhird_device"
#define AUTHZ_DEVICE_MAX_AGE (30 * 86400)

/* 1 when the request carries username's device cookie. */
static int authz_device(oauth_t *o, http_request *req, const char *username)
{
	const char *cookies = http_request_header(req, "Cookie");
	char value[HTTP_LIMITS_DEVICE_LEN + 1];
	size_t pos = 0;
	int rc;

	if (!o->limits || !username)
		return 0;
	while ((rc = oauth_cookie_next(cookies, AUTHZ_DEVICE_COOKIE, &pos, value, sizeof value)) != ERR_NOTFOUND)
		if (rc == 0 && http_limits_device_ok(o->limits, username, value))
			return 1;
	return 0;
}

static void authz_device_set(oauth_t *o, http_request *req, http_response *resp, const char *username)
{
	char value[HTTP_LIMITS_DEVICE_LEN];
	char *c;

	if (!o->limits)
		return;
	http_limits_device_value(o->limits, username, value);
	c = arena_printf(req->arena, AUTHZ_DEVICE_COOKIE "=%s; Path=%s; Max-Age=%u; HttpOnly; SameSite=Strict%s", value,
			 *o->ipath_str ? o->ipath_str : "/", AUTHZ_DEVICE_MAX_AGE, o->secure ? "; Secure" : "");
	if (c)
		http_response_header(resp, "Set-Cookie", c);
}

/* The login page again, with a notice, status and Retry-After: the
 * pending request stays, so the same form can be sent once the wait is
 * over. */
static void authz_login_wait(oauth_t *o, http_request *req, http_response *resp, authz_step *st, int status,
			     const char *msg, unsigned retry_s)
{
	authz_step_page(o, req, resp, st, msg);
	if (resp->status == 200) {
		resp->status = status;
		http_response_header(resp, "Retry-After", http_limits_retry_after(req->arena, retry_s));
	}
}

/* A sign-in attempt for the audit trail (DCM 110122 Login): who tried
 * (the username as typed), for which client, how it went; never the
 * password. */
static void authz_audit_login(oauth_t *o, http_request *req, http_response *resp, const authz_step *st,
			      const char *username, const char *fhir_user, int outcome, const char *desc)
{
	audit_event ev;

	memset(&ev, 0, sizeof ev);
	ev.kind = AUDIT_LOGIN;
	ev.outcome = outcome;
	ev.outcome_desc = desc;
	ev.client_id = oauth_jstr(st->v, "client_id");
	ev.subject = username;
	ev.fhir_user = fhir_user && *fhir_user ? fhir_user : NULL;
	oauth_audit(o, req, resp, &ev);
}

void oauth_login(oauth_t *o, http_request *req, http_response *resp)
{
	authz_step st;
	const char *username = NULL, *password = NULL, *own = NULL, *patient;
	auth_user user;
	unsigned retry_s = 0;
	int rc, device;

	memset(&user, 0, sizeof user);
	if (authz_step_begin(o, req, resp, "login", &st))
		goto out;
	if (authz_action_deny(&st)) {
		authz_step_abandon(o, req, resp, &st, "access_denied", "the user cancelled");
		log_info("msg=\"oauth login\" client=%s outcome=cancelled", st.logid);
		goto out;
	}
	oauth_param(st.ps, st.n, "username", &username);
	oauth_param(st.ps, st.n, "password", &password);
	/* Backoff (docs/limits.md): while a delay runs for this account or
	 * this address the password is not looked at, so the right one gets
	 * the same answer as a wrong one and guessing during a delay learns
	 * nothing. The attempt costs nothing and counts for nothing. A
	 * browser that signed in as this user before is counted apart from
	 * everyone else guessing at the account (device cookie). */
	device = authz_device(o, req, username);
	if (http_limits_login_check(o->limits, req, username, device, &retry_s)) {
		const char *msg = arena_printf(req->arena,
					       "Too many failed sign-in attempts. Wait %u second%s, then try again.",
					       retry_s, retry_s == 1 ? "" : "s");
		authz_login_wait(o, req, resp, &st, 429, msg ? msg : "Too many failed sign-in attempts.", retry_s);
		log_warn("msg=\"oauth login\" client=%s outcome=backoff retry_s=%u", st.logid, retry_s);
		authz_audit_login(o, req, resp, &st, username, NULL, 8, "refused during a login backoff");
		goto out;
	}
	if (username && password) {
		/* Each check holds 64 MiB (argon2id): a bounded number at once. */
		if (http_limits_password_begin(o->limits)) {
			authz_login_wait(o, req, resp, &st, 503, "The server is busy. Try again in a moment.", 1);
			log_warn("msg=\"oauth login\" client=%s outcome=busy", st.logid);
			authz_audit_login(o, req, resp, &st, username, NULL, 12, "server busy");
			goto out;
		}
		rc = auth_user_login(o->store, username, password, &user);
		http_limits_password_end(o->limits);
	} else {
		rc = ERR_UNAUTHORIZED;
	}
	if (rc == 0 || rc == ERR_UNAUTHORIZED)
		http_limits_login_done(o->limits, req, username, device, rc == 0);
	if (rc == ERR_UNAUTHORIZED) {
		json_int_t fails = json_integer_value(json_object_get(st.v, "fails")) + 1;
		if (fails >= OAUTH_MAX_LOGIN_FAILS) {
			/* The request ends here, without a trip back to the app:
			 * guessing needs a new authorization request (and a new
			 * cookie) every few attempts. */
			store_auth_del(o->store, STORE_AUTH_REQUEST, st.reqid);
			authz_cookie(o, req, resp, st.reqid, NULL);
			oauth_page_error(o, resp, 403, "Too many failed sign-in attempts.");
			log_warn("msg=\"oauth login\" client=%s outcome=too_many_failures", st.logid);
			authz_audit_login(o, req, resp, &st, username, NULL, 8, "too many failed sign-in attempts");
			goto out;
		}
		json_object_set_new(st.v, "fails", json_integer(fails));
		if (authz_step_save(o, &st)) {
			oauth_page_error(o, resp, 500, "The server cannot continue the sign-in now.");
			goto out;
		}
		/* Never say which of the two was wrong. */
		authz_step_page(o, req, resp, &st, "Sign-in failed. Check the username and password and try again.");
		log_info("msg=\"oauth login\" client=%s outcome=bad_credentials", st.logid);
		authz_audit_login(o, req, resp, &st, username, NULL, 4, "wrong username or password");
		goto out;
	}
	if (rc) {
		oauth_page_error(o, resp, 500, "The server cannot continue the sign-in now.");
		log_error("msg=\"oauth login\" client=%s err=%s", st.logid, err_name(rc));
		authz_audit_login(o, req, resp, &st, username, NULL, 12, "server error");
		goto out;
	}
	if (strncmp(user.fhir_user, "Patient/", 8) == 0)
		own = user.fhir_user + 8;
	patient = oauth_jstr(st.v, "patient");
	/* A patient signs in as themselves: an EHR launch naming someone
	 * else cannot become their grant. */
	if (own && *patient && strcmp(patient, own) != 0) {
		authz_step_abandon(o, req, resp, &st, "access_denied", "the launch patient is not the signed-in user");
		log_warn("msg=\"oauth login\" client=%s outcome=launch_patient_mismatch", st.logid);
		authz_audit_login(o, req, resp, &st, user.username, user.fhir_user, 8,
				  "the launch patient is not the signed-in user");
		goto out;
	}
	json_object_set_new(st.v, "username", json_string(user.username));
	json_object_set_new(st.v, "fhir_user", json_string(user.fhir_user));
	json_object_set_new(st.v, "step", json_string("consent"));
	if (!*patient && authz_needs_patient(oauth_jstr(st.v, "scope"))) {
		if (own)
			json_object_set_new(st.v, "patient", json_string(own));
		else
			json_object_set_new(st.v, "step", json_string("pick"));
	}
	if (authz_step_save(o, &st)) {
		oauth_page_error(o, resp, 500, "The server cannot continue the sign-in now.");
		goto out;
	}
	authz_step_page(o, req, resp, &st, NULL);
	authz_device_set(o, req, resp, user.username);
	log_info("msg=\"oauth login\" client=%s outcome=ok next=%s", st.logid, oauth_jstr(st.v, "step"));
	authz_audit_login(o, req, resp, &st, user.username, user.fhir_user, 0, NULL);
out:
	explicit_bzero(&user, sizeof user);
	authz_step_fini(&st);
}

void oauth_pick(oauth_t *o, http_request *req, http_response *resp)
{
	authz_step st;
	const char *patient = NULL, *typed = NULL;
	store_version_t ver;
	int rc;

	memset(&ver, 0, sizeof ver);
	if (authz_step_begin(o, req, resp, "pick", &st))
		goto out;
	if (authz_action_deny(&st)) {
		authz_step_abandon(o, req, resp, &st, "access_denied", "the user cancelled");
		log_info("msg=\"oauth pick\" client=%s outcome=cancelled", st.logid);
		goto out;
	}
	/* a listed patient (radio) or an id typed in; not two different ones */
	oauth_param(st.ps, st.n, "patient", &patient);
	oauth_param(st.ps, st.n, "patient_id", &typed);
	if (patient && typed && strcmp(patient, typed) != 0) {
		authz_step_page(o, req, resp, &st, "Choose one patient: from the list or by id, not both.");
		goto out;
	}
	if (!patient)
		patient = typed;
	if (!patient || !valid_id(patient, strlen(patient))) {
		authz_step_page(o, req, resp, &st, "Enter a patient id (letters, digits, '-' and '.').");
		goto out;
	}
	rc = store_read(o->store, "Patient", patient, &ver);
	if (rc == ERR_NOTFOUND || rc == ERR_GONE) {
		authz_step_page(o, req, resp, &st, "There is no patient with that id.");
		goto out;
	}
	if (rc) {
		oauth_page_error(o, resp, 500, "The server cannot continue the sign-in now.");
		log_error("msg=\"oauth pick\" client=%s err=%s", st.logid, err_name(rc));
		goto out;
	}
	json_object_set_new(st.v, "patient", json_string(patient));
	json_object_set_new(st.v, "step", json_string("consent"));
	if (authz_step_save(o, &st)) {
		oauth_page_error(o, resp, 500, "The server cannot continue the sign-in now.");
		goto out;
	}
	authz_step_page(o, req, resp, &st, NULL);
	log_info("msg=\"oauth pick\" client=%s outcome=ok", st.logid);
out:
	store_version_clear(&ver);
	authz_step_fini(&st);
}

/* The scopes the person left ticked, of those offered (anything else a
 * form may carry is ignored), as a scope string. */
static int authz_ticked(const authz_step *st, buf_t *out)
{
	const char *offered = oauth_jstr(st->v, "scope");
	int rc = 0;

	for (const char *s = offered; *s && rc == 0;) {
		size_t l = strcspn(s, " ");
		int ticked = 0;
		for (size_t i = 0; i < st->n && !ticked && l > 0; i++)
			ticked = strcmp(st->ps[i].name, "scope") == 0 && strlen(st->ps[i].value) == l &&
				 memcmp(st->ps[i].value, s, l) == 0;
		if (ticked) {
			if (out->len)
				rc = buf_append_char(out, ' ');
			if (rc == 0)
				rc = buf_append(out, s, l);
		}
		s += l;
		while (*s == ' ')
			s++;
	}
	return rc;
}

void oauth_consent(oauth_t *o, http_request *req, http_response *resp)
{
	authz_step st;
	store_auth_rec taken;
	const char *action = NULL, *patient;
	buf_t ticked;
	scope_set set;
	char *scope = NULL, *text = NULL, code[OAUTH_RAND_LEN], family[OAUTH_RAND_LEN], hash[65];
	json_t *cv = NULL;
	int rc;

	memset(&taken, 0, sizeof taken);
	memset(&set, 0, sizeof set);
	buf_init(&ticked, SCOPE_MAX_LEN + 1);
	code[0] = '\0';
	if (authz_step_begin(o, req, resp, "consent", &st))
		goto out;
	/* One decision per request, even when the form is posted twice at
	 * once: of two takers exactly one sees used == 0. */
	rc = store_auth_take(o->store, STORE_AUTH_REQUEST, st.reqid, &taken);
	if (rc || taken.used) {
		oauth_page_error(o, resp, 400, "This form was already submitted.");
		log_info("msg=\"oauth consent\" client=%s outcome=already_decided", st.logid);
		goto out;
	}
	oauth_param(st.ps, st.n, "action", &action);
	if (!action || strcmp(action, "approve") != 0) {
		authz_step_abandon(o, req, resp, &st, "access_denied", "the user denied access");
		log_info("msg=\"oauth consent\" client=%s outcome=denied", st.logid);
		goto out;
	}
	if (authz_ticked(&st, &ticked) || scope_parse(ticked.data ? ticked.data : "", &set) ||
	    scope_format(&set, &scope)) {
		authz_step_abandon(o, req, resp, &st, "server_error", NULL);
		goto out;
	}
	if (!*scope) {
		authz_step_abandon(o, req, resp, &st, "access_denied", "the user granted no scope");
		log_info("msg=\"oauth consent\" client=%s outcome=nothing_granted", st.logid);
		goto out;
	}
	patient = oauth_jstr(st.v, "patient");
	cv = json_pack("{ss ss ss ss ss ss ss ss ss sb ss}", "client_id", oauth_jstr(st.v, "client_id"), "redirect_uri",
		       oauth_jstr(st.v, "redirect_uri"), "scope", scope, "code_challenge",
		       oauth_jstr(st.v, "code_challenge"), "nonce", oauth_jstr(st.v, "nonce"), "username",
		       oauth_jstr(st.v, "username"), "fhir_user", oauth_jstr(st.v, "fhir_user"), "patient", patient,
		       "encounter", oauth_jstr(st.v, "encounter"), "need_patient_banner", *patient != '\0',
		       "smart_style_url", o->style_url);
	text = cv ? json_dumps(cv, JSON_COMPACT) : NULL;
	rc = text ? 0 : ERR_NOMEM;
	if (rc == 0)
		rc = jose_random_token(32, code, sizeof code);
	if (rc == 0)
		rc = jose_random_token(32, family, sizeof family);
	if (rc == 0) {
		/* Stored under its hash only: a database reader cannot redeem it. */
		jose_sha256_hex(code, strlen(code), hash);
		rc = store_auth_put(o->store, STORE_AUTH_CODE, hash, family, text,
				    oauth_now_us() + (int64_t)o->cfg->code_ttl_s * 1000000, 0);
	}
	if (rc) {
		log_error("msg=\"oauth consent: cannot issue a code\" client=%s err=%s", st.logid, err_name(rc));
		authz_step_abandon(o, req, resp, &st, "server_error", NULL);
		goto out;
	}
	store_auth_del(o->store, STORE_AUTH_REQUEST, st.reqid);
	authz_cookie(o, req, resp, st.reqid, NULL);
	{
		const char *kv[] = { "code", code, "state", oauth_jstr(st.v, "state") };
		authz_redirect(req, resp, oauth_jstr(st.v, "redirect_uri"), kv, 2);
	}
	log_info("msg=\"oauth consent\" client=%s outcome=code_issued patient_context=%s", st.logid,
		 *patient ? "yes" : "no");
out:
	explicit_bzero(code, sizeof code);
	buf_fini(&ticked);
	free(scope);
	free(text);
	json_decref(cv);
	scope_set_fini(&set);
	store_auth_rec_clear(&taken);
	authz_step_fini(&st);
}
