/*
 * oauth_introspect.c - token introspection (RFC 7662) and revocation
 * (RFC 7009).
 *
 * Introspection is for resource servers and confidential clients: a
 * public client cannot authenticate, so it gets invalid_client. Anything
 * that is not a live token we issued - garbage, expired, revoked, a used
 * refresh token - is {"active": false} and nothing more (RFC 7662 2.2),
 * so that the answer says nothing about why.
 *
 * Revocation answers 200 for tokens it does not know (RFC 7009 2.2), and
 * revokes only tokens issued to the client asking. An access token is
 * revoked by its jti; a refresh token by its whole family, which also
 * ends the access tokens issued from it (RFC 7009 2.1 SHOULD).
 */
#include "oauth_int.h"

#include "auth/jose.h"
#include "core/err.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

/* The form and client of an introspection or revocation request. 0, or
 * -1 with the error response sent. */
static int intro_begin(oauth_t *o, http_request *req, http_response *resp, http_param **ps, size_t *n,
		       auth_client *c, enum oauth_cauth *method, const char **token)
{
	const char *error, *desc;
	int rc;

	http_response_header(resp, "Vary", "Origin");
	rc = oauth_form(req, ps, n);
	if (rc) {
		oauth_send_error(resp, 400, "invalid_request",
				 rc == ERR_MEDIATYPE ? "Content-Type must be application/x-www-form-urlencoded" :
						       "the form body could not be read");
		return -1;
	}
	if (oauth_param_dup(*ps, *n, NULL)) {
		oauth_send_error(resp, 400, "invalid_request", "a parameter is repeated");
		return -1;
	}
	rc = oauth_client_auth(o, req, *ps, *n, c, method, &error, &desc);
	if (rc) {
		oauth_send_error(resp, rc == ERR_DB ? 500 : 400, error, desc);
		return -1;
	}
	oauth_cors_client(req, resp, c);
	oauth_param(*ps, *n, "token", token);
	if (!*token) {
		oauth_send_error(resp, 400, "invalid_request", "token is required");
		auth_client_fini(c);
		return -1;
	}
	return 0;
}

static void intro_set_str(json_t *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_set_new(o, key, json_string(v));
}

/* A refresh token of client c, live, unused and of a family not revoked:
 * 0 with *rec filled, else ERR_NOTFOUND (or ERR_DB). */
static int intro_refresh(oauth_t *o, const char *token, const auth_client *c, store_auth_rec *rec, json_t **v)
{
	char hash[65];
	int revoked = 0, rc;

	*v = NULL;
	jose_sha256_hex(token, strlen(token), hash);
	rc = store_auth_get(o->store, STORE_AUTH_REFRESH, hash, rec);
	if (rc)
		return rc;
	rc = store_auth_revoked(o->store, rec->family, NULL, &revoked);
	if (rc)
		return rc;
	*v = json_loads(rec->value ? rec->value : "", 0, NULL);
	if (revoked || !*v || strcmp(oauth_jstr(*v, "client_id"), c->id) != 0)
		return ERR_NOTFOUND;
	return 0;
}

void oauth_introspect(oauth_t *o, http_request *req, http_response *resp)
{
	http_param *ps = NULL;
	size_t n = 0;
	const char *token = NULL, *why = NULL;
	auth_client c;
	enum oauth_cauth method = OAUTH_CAUTH_NONE;
	auth_claims cl;
	store_auth_rec rec;
	json_t *out = NULL, *v = NULL;
	char logid[64];
	int rc;

	memset(&c, 0, sizeof c);
	memset(&cl, 0, sizeof cl);
	memset(&rec, 0, sizeof rec);
	if (intro_begin(o, req, resp, &ps, &n, &c, &method, &token))
		return;
	oauth_log_safe(c.id, logid, sizeof logid);
	/* RFC 7662 2.1: the endpoint requires authorization; a public
	 * client has no credentials to show. */
	if (method == OAUTH_CAUTH_NONE) {
		oauth_send_error(resp, 401, "invalid_client", "introspection needs a confidential client");
		log_info("msg=\"oauth introspect\" client=%s outcome=public_client", logid);
		goto out;
	}
	out = json_pack("{sb}", "active", 0);
	if (!out) {
		resp->status = 500;
		goto out;
	}
	if (strchr(token, '.')) {
		rc = auth_token_verify(o->tokens, token, &cl, &why);
		if (rc == 0) {
			json_object_set_new(out, "active", json_true());
			intro_set_str(out, "scope", cl.scope);
			intro_set_str(out, "client_id", cl.client_id);
			json_object_set_new(out, "exp", json_integer(cl.exp));
			json_object_set_new(out, "iat", json_integer(cl.iat));
			intro_set_str(out, "sub", cl.sub);
			intro_set_str(out, "iss", o->cfg->issuer);
			intro_set_str(out, "aud", o->cfg->base_url);
			intro_set_str(out, "jti", cl.jti);
			if (cl.fhir_user[0]) {
				char *u = NULL;
				if (asprintf(&u, "%s/%s", o->cfg->base_url, cl.fhir_user) >= 0) {
					json_object_set_new(out, "fhirUser", json_string(u));
					free(u);
				}
			}
			intro_set_str(out, "patient", cl.patient);
			intro_set_str(out, "encounter", cl.encounter);
			json_object_set_new(out, "token_type", json_string("Bearer"));
		} else if (rc != ERR_UNAUTHORIZED) {
			/* fail closed: an unchecked revocation is not active */
			log_error("msg=\"oauth introspect\" client=%s err=%s", logid, err_name(rc));
		}
	} else if (intro_refresh(o, token, &c, &rec, &v) == 0) {
		json_object_set_new(out, "active", json_true());
		intro_set_str(out, "scope", oauth_jstr(v, "scope"));
		intro_set_str(out, "client_id", c.id);
		json_object_set_new(out, "exp", json_integer(rec.exp_us / 1000000));
		json_object_set_new(out, "iat", json_integer(rec.created_us / 1000000));
		intro_set_str(out, "sub", oauth_jstr(v, "username"));
		intro_set_str(out, "iss", o->cfg->issuer);
		intro_set_str(out, "patient", oauth_jstr(v, "patient"));
		intro_set_str(out, "encounter", oauth_jstr(v, "encounter"));
	}
	log_info("msg=\"oauth introspect\" client=%s active=%s", logid,
		 json_is_true(json_object_get(out, "active")) ? "true" : "false");
	{
		/* An answer discloses a token's context (its patient, user and
		 * scopes) to the asking client: recorded like any disclosure,
		 * with that patient, never the token. */
		audit_event ev;
		int active = json_is_true(json_object_get(out, "active"));
		memset(&ev, 0, sizeof ev);
		ev.kind = AUDIT_TOKEN;
		ev.subtype = AUDIT_TOKEN_INTROSPECT;
		ev.status = 200; /* sent just below */
		ev.outcome = -1;
		ev.outcome_desc = active ? "active" : "inactive";
		ev.client_id = c.id;
		ev.patient = active ? json_string_value(json_object_get(out, "patient")) : NULL;
		oauth_audit(o, req, resp, &ev);
	}
	oauth_send_json(resp, 200, out);
	out = NULL;
out:
	json_decref(out);
	json_decref(v);
	store_auth_rec_clear(&rec);
	auth_claims_fini(&cl);
	auth_client_fini(&c);
}

void oauth_revoke(oauth_t *o, http_request *req, http_response *resp)
{
	http_param *ps = NULL;
	size_t n = 0;
	const char *token = NULL, *why = NULL, *what = "unknown";
	auth_client c;
	enum oauth_cauth method = OAUTH_CAUTH_NONE;
	auth_claims cl;
	store_auth_rec rec;
	json_t *v = NULL;
	char logid[64];
	int rc = 0;

	memset(&c, 0, sizeof c);
	memset(&cl, 0, sizeof cl);
	memset(&rec, 0, sizeof rec);
	if (intro_begin(o, req, resp, &ps, &n, &c, &method, &token))
		return;
	oauth_log_safe(c.id, logid, sizeof logid);
	/* token_type_hint (RFC 7009 2.1) is only a hint: the shape tells
	 * ours apart (access tokens are JWTs, refresh tokens have no dot). */
	if (strchr(token, '.')) {
		if (auth_token_verify(o->tokens, token, &cl, &why) == 0) {
			if (strcmp(cl.client_id, c.id) != 0) {
				what = "other_client";
			} else {
				/* kept until the token would have expired anyway */
				rc = store_auth_put(o->store, STORE_AUTH_REVOKED, cl.jti, NULL, "{}",
						    (cl.exp + 60) * 1000000, 1);
				what = "access_token";
			}
		}
	} else if (intro_refresh(o, token, &c, &rec, &v) == 0) {
		rc = oauth_revoke_family(o, rec.family);
		what = "refresh_token";
	}
	if (rc) {
		log_error("msg=\"oauth revoke\" client=%s err=%s", logid, err_name(rc));
		oauth_send_error(resp, 503, "temporarily_unavailable", NULL); /* RFC 7009 2.2.1 */
	} else {
		resp->status = 200;
	}
	log_info("msg=\"oauth revoke\" client=%s outcome=%s", logid, what);
	{
		/* whose grant ended (from the token's claims or the refresh
		 * record), never the token */
		audit_event ev;
		int access = !strcmp(what, "access_token"), refresh = !strcmp(what, "refresh_token");
		memset(&ev, 0, sizeof ev);
		ev.kind = AUDIT_TOKEN;
		ev.subtype = AUDIT_TOKEN_REVOKE;
		ev.outcome = -1;
		ev.outcome_desc = what;
		ev.client_id = c.id;
		ev.subject = access && strcmp(cl.sub, cl.client_id) ? cl.sub : refresh ? oauth_jstr(v, "username") : NULL;
		ev.fhir_user = access ? cl.fhir_user : refresh ? oauth_jstr(v, "fhir_user") : NULL;
		ev.patient = access ? cl.patient : refresh ? oauth_jstr(v, "patient") : NULL;
		oauth_audit(o, req, resp, &ev);
	}
	json_decref(v);
	store_auth_rec_clear(&rec);
	auth_claims_fini(&cl);
	auth_client_fini(&c);
}
