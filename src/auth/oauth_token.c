/*
 * oauth_token.c - the token endpoint (RFC 6749 3.2, 4.1.3, 4.4, 5, 6;
 * RFC 7636 4.5-4.6; SMART App Launch 2.2 app-launch.html and
 * backend-services.html) and client authentication, which the
 * introspection and revocation endpoints share.
 *
 * Codes and refresh tokens are looked up by their SHA-256 and used up
 * with store_auth_take(), whose single-use flag makes "exactly once" hold
 * across threads and processes. A second use is the signature of theft
 * (RFC 6749 4.1.2 and 10.4, OAuth 2.0 Security BCP 4.14): the whole grant
 * family is revoked, so the access tokens it issued stop working at once
 * (auth_token_verify checks the family on every request) and its refresh
 * token ends.
 */
#include "oauth_int.h"

#include "auth/jose.h"
#include "core/err.h"
#include "core/log.h"
#include "http/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOK_ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
/* Bytes of a JWT we are willing to decode before verifying it. */
#define TOK_JWT_MAX (16 * 1024)

/* ---- client authentication ---- */

static int tok_b64val(unsigned char ch, int url)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == (url ? '-' : '+'))
		return 62;
	if (ch == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decodes base64 (url = 0, RFC 4648 4) or base64url (url = 1, 5) with or
 * without padding into out (NUL-terminated). ERR_INVALID / ERR_TOOBIG. */
static int tok_b64_decode(const char *s, size_t len, int url, char *out, size_t cap)
{
	unsigned acc = 0, bits = 0;
	size_t n = 0;

	while (len > 0 && s[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = tok_b64val((unsigned char)s[i], url);
		if (v < 0)
			return ERR_INVALID;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= cap)
				return ERR_TOOBIG;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return memchr(out, '\0', n) ? ERR_INVALID : 0;
}

/* client_secret_basic (RFC 6749 2.3.1): base64 of
 * form-urlencode(id) ":" form-urlencode(secret). */
static int tok_basic(arena_t *a, const char *value, char **id, char **secret)
{
	size_t len = strlen(value), cap = len + 4;
	char *raw = arena_alloc(a, cap), *colon;
	int rc;

	if (!raw)
		return ERR_TOOBIG;
	rc = tok_b64_decode(value, len, 0, raw, cap);
	if (rc)
		return rc;
	colon = strchr(raw, ':');
	if (!colon)
		return ERR_INVALID;
	rc = http_url_decode(a, raw, (size_t)(colon - raw), 1, id);
	if (rc == 0)
		rc = http_url_decode(a, colon + 1, strlen(colon + 1), 1, secret);
	explicit_bzero(raw, cap);
	return rc;
}

/* The iss of an assertion, read WITHOUT verification, only to find whose
 * keys verify it (RFC 7523 3: client_id may be absent). Nothing else of
 * the payload is trusted until jose_verify_assertion() has run. */
static int tok_peek_iss(arena_t *a, const char *jwt, char *out, size_t cap)
{
	const char *p1 = strchr(jwt, '.'), *p2;
	size_t len, dcap;
	char *dec;
	json_t *claims;
	const char *iss;
	int rc = ERR_INVALID;

	if (!p1 || !(p2 = strchr(p1 + 1, '.')) || strlen(jwt) > TOK_JWT_MAX)
		return ERR_INVALID;
	len = (size_t)(p2 - p1 - 1);
	dcap = len + 4;
	dec = arena_alloc(a, dcap);
	if (!dec || tok_b64_decode(p1 + 1, len, 1, dec, dcap))
		return ERR_INVALID;
	claims = json_loads(dec, JSON_REJECT_DUPLICATES, NULL);
	iss = json_string_value(json_object_get(claims, "iss"));
	if (iss && strlen(iss) < cap) {
		memcpy(out, iss, strlen(iss) + 1);
		rc = 0;
	}
	json_decref(claims);
	return rc;
}

/* aud of an assertion: our token URL, alone or in an array (RFC 7519
 * 4.1.3; RFC 7523 3 item 3). */
static int tok_aud_ok(const json_t *aud, const char *want)
{
	size_t i;
	json_t *e;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (!json_is_array(aud))
		return 0;
	json_array_foreach (aud, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), want) == 0)
			return 1;
	return 0;
}

/* The keys that verify c's assertions (a new reference): the registered
 * JWK Set, or else the one at the registered JWKS URL, fetched over
 * https and cached (jwks_cache.h; kid: refetched when it names a key the
 * cached set lacks - the client rotated). */
static int tok_client_keys(oauth_t *o, const auth_client *c, const json_t *hdr, json_t **keys, const char **why)
{
	int rc;

	*keys = NULL;
	if (c->jwks) {
		*keys = json_incref(c->jwks);
		return 0;
	}
	if (!c->jwks_url) {
		*why = "no keys are registered for this client";
		return ERR_UNAUTHORIZED;
	}
	rc = auth_jwks_cache_get(o->client_jwks, c->jwks_url, json_string_value(json_object_get(hdr, "kid")), keys);
	if (rc == ERR_NOMEM)
		return rc;
	if (rc) {
		*why = rc == ERR_FORBIDDEN ? "registered JWKS URL is not https" : "registered JWKS URL could not be fetched";
		return ERR_UNAUTHORIZED;
	}
	return 0;
}

/* private_key_jwt (RFC 7523 3, SMART client-confidential-asymmetric):
 * signature by one of the client's registered keys (alg, kid and kty
 * rules in jose.h), iss = sub = client_id, aud = token URL, exp in the
 * next five minutes, jti never seen for this client while it lives. */
static int tok_assertion(oauth_t *o, const auth_client *c, const char *jwt, const char **desc)
{
	json_t *hdr = NULL, *claims = NULL, *keys = NULL, *jku, *exp, *nbf;
	const char *why = NULL, *jti;
	char key[STORE_AUTH_KEY_MAX], hash[65];
	int64_t now = oauth_now_us() / 1000000, e;
	int rc = ERR_UNAUTHORIZED;

	*desc = "client assertion rejected";
	if (!c->jwks && !c->jwks_url) {
		*desc = "no keys are registered for this client";
		goto fail;
	}
	if (jose_peek_header(jwt, &hdr))
		goto fail;
	/* A jku is never fetched; it may only name what was registered
	 * (SMART client-confidential-asymmetric), and the keys then come
	 * from the registered URL, not from the header. */
	jku = json_object_get(hdr, "jku");
	if (jku && (!json_is_string(jku) || !c->jwks_url || strcmp(json_string_value(jku), c->jwks_url) != 0)) {
		why = "jku not registered";
		goto fail;
	}
	rc = tok_client_keys(o, c, hdr, &keys, &why);
	if (rc) {
		if (rc != ERR_UNAUTHORIZED) {
			/* our failure, not the client's: server_error (the
			 * caller's contract names it ERR_DB) */
			*desc = NULL;
			rc = ERR_DB;
		}
		goto fail;
	}
	rc = ERR_UNAUTHORIZED;
	if (jose_verify_assertion(jwt, keys, &claims, &why))
		goto fail;
	if (strcmp(oauth_jstr(claims, "iss"), c->id) != 0 || strcmp(oauth_jstr(claims, "sub"), c->id) != 0) {
		why = "iss/sub";
		goto fail;
	}
	if (!tok_aud_ok(json_object_get(claims, "aud"), o->token_url)) {
		why = "aud";
		goto fail;
	}
	exp = json_object_get(claims, "exp");
	e = json_is_integer(exp) ? (int64_t)json_integer_value(exp) : json_is_real(exp) ? (int64_t)json_real_value(exp) : 0;
	if (!exp || e <= now || e > now + OAUTH_ASSERTION_MAX_S) {
		why = "exp";
		goto fail;
	}
	nbf = json_object_get(claims, "nbf");
	if (nbf && (!json_is_number(nbf) || json_number_value(nbf) > (double)(now + 60))) {
		why = "nbf";
		goto fail;
	}
	jti = oauth_jstr(claims, "jti");
	if (!*jti) {
		why = "jti";
		goto fail;
	}
	/* Replay: the jti is remembered until the assertion expires. The
	 * key is "client_id jti", or its hash when that is too long. */
	{
		char *both = NULL;
		if (asprintf(&both, "%s %s", c->id, jti) < 0)
			goto fail;
		if (strlen(both) < sizeof key) {
			memcpy(key, both, strlen(both) + 1);
		} else {
			jose_sha256_hex(both, strlen(both), hash);
			memcpy(key, "sha256:", 7);
			memcpy(key + 7, hash, 65);
		}
		free(both);
	}
	rc = store_auth_put(o->store, STORE_AUTH_JTI, key, NULL, "{}", e * 1000000, 0);
	if (rc == ERR_CONFLICT) {
		why = "jti replayed";
		rc = ERR_UNAUTHORIZED;
		goto fail;
	}
	if (rc) {
		*desc = NULL;
		rc = ERR_DB;
		goto fail;
	}
fail:
	if (rc && why) {
		char id[64];
		oauth_log_safe(c->id, id, sizeof id);
		log_info("msg=\"oauth client assertion rejected\" client=%s why=\"%s\"", id, why);
	}
	json_decref(hdr);
	json_decref(keys);
	json_decref(claims);
	return rc;
}

int oauth_client_auth(oauth_t *o, const http_request *req, const http_param *ps, size_t n, auth_client *c,
		      enum oauth_cauth *method, const char **error, const char **desc)
{
	const char *hdr = http_request_header(req, "Authorization");
	const char *p_id = NULL, *p_secret = NULL, *a_type = NULL, *a_jwt = NULL, *id = NULL, *secret = NULL;
	char *b_id = NULL, *b_secret = NULL, iss[130], logid[64];
	int nmethods, rc;

	memset(c, 0, sizeof *c);
	*error = "invalid_client";
	*desc = "client authentication failed";
	oauth_param(ps, n, "client_id", &p_id);
	oauth_param(ps, n, "client_secret", &p_secret);
	oauth_param(ps, n, "client_assertion_type", &a_type);
	oauth_param(ps, n, "client_assertion", &a_jwt);
	if (hdr && strncasecmp(hdr, "Basic ", 6) != 0) {
		*desc = "unsupported Authorization scheme";
		return ERR_UNAUTHORIZED;
	}
	/* RFC 6749 2.3: "MUST NOT use more than one authentication method
	 * in each request". */
	nmethods = (hdr != NULL) + (p_secret != NULL) + (a_type != NULL || a_jwt != NULL);
	if (nmethods > 1) {
		*error = "invalid_request";
		*desc = "more than one client authentication method";
		return ERR_INVALID;
	}
	if (hdr) {
		const char *v = hdr + 6;
		while (*v == ' ')
			v++;
		if (tok_basic(req->arena, v, &b_id, &b_secret) || !*b_id)
			return ERR_UNAUTHORIZED;
		if (p_id && strcmp(p_id, b_id) != 0)
			return ERR_UNAUTHORIZED;
		id = b_id;
		secret = b_secret;
		*method = OAUTH_CAUTH_SECRET;
	} else if (p_secret) {
		id = p_id;
		secret = p_secret;
		*method = OAUTH_CAUTH_SECRET;
	} else if (a_type || a_jwt) {
		if (!a_type || strcmp(a_type, TOK_ASSERTION_TYPE) != 0 || !a_jwt) {
			*desc = "client_assertion_type must be " TOK_ASSERTION_TYPE;
			return ERR_UNAUTHORIZED;
		}
		if (tok_peek_iss(req->arena, a_jwt, iss, sizeof iss))
			return ERR_UNAUTHORIZED;
		if (p_id && strcmp(p_id, iss) != 0)
			return ERR_UNAUTHORIZED;
		id = iss;
		*method = OAUTH_CAUTH_JWT;
	} else {
		id = p_id;
		*method = OAUTH_CAUTH_NONE;
	}
	if (!id)
		return ERR_UNAUTHORIZED;
	oauth_log_safe(id, logid, sizeof logid);
	rc = auth_client_get(o->store, id, c);
	if (rc == ERR_NOTFOUND) {
		log_info("msg=\"oauth client auth\" client=%s outcome=unknown_client", logid);
		rc = ERR_UNAUTHORIZED;
		goto fail;
	}
	if (rc) {
		*error = "server_error";
		*desc = NULL;
		rc = ERR_DB;
		goto fail;
	}
	rc = ERR_UNAUTHORIZED;
	switch (*method) {
	case OAUTH_CAUTH_SECRET:
		if (c->type != AUTH_CLIENT_CONFIDENTIAL || !auth_client_secret_ok(c, secret))
			goto fail;
		break;
	case OAUTH_CAUTH_JWT:
		rc = tok_assertion(o, c, a_jwt, desc);
		if (rc) {
			if (rc == ERR_DB)
				*error = "server_error";
			goto fail;
		}
		break;
	case OAUTH_CAUTH_NONE:
		/* Only a public client is identified by its id alone. */
		if (c->type != AUTH_CLIENT_PUBLIC)
			goto fail;
		break;
	}
	return 0;
fail:
	if (rc == ERR_UNAUTHORIZED && c->id[0])
		log_info("msg=\"oauth client auth\" client=%s outcome=rejected method=%s", logid,
			 *method == OAUTH_CAUTH_JWT ? "private_key_jwt" : *method == OAUTH_CAUTH_SECRET ? "client_secret" : "none");
	auth_client_fini(c);
	memset(c, 0, sizeof *c);
	return rc;
}

/* ---- token responses ---- */

typedef struct tok_grant {
	const char *grant_type; /* for the log */
	const char *client_id;
	const char *username;   /* sub; the client id for system tokens */
	const char *fhir_user;
	const char *patient;
	const char *encounter;
	const char *nonce;      /* NULL: no id_token */
	const char *family;
	const char *scope;      /* granted to the access token */
	const char *refresh_scope; /* kept by a refresh token (RFC 6749 6: unchanged on rotation) */
	int64_t refresh_exp_us; /* 0: no refresh token */
	int need_banner;
	int user;               /* a person's grant (patient/encounter context, banner, style) */
} tok_grant;

static void tok_copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* Issues what g describes and sends the RFC 6749 5.1 / SMART response. */
static void tok_respond(oauth_t *o, http_request *req, http_response *resp, const tok_grant *g)
{
	auth_claims cl;
	scope_set set;
	json_t *body = NULL, *rv = NULL;
	char *at = NULL, *idt = NULL, *rtext = NULL, rt[OAUTH_RAND_LEN], hash[65], logid[64];
	int64_t now = oauth_now_us() / 1000000;
	int rc;

	memset(&cl, 0, sizeof cl);
	memset(&set, 0, sizeof set);
	rt[0] = '\0';
	oauth_log_safe(g->client_id, logid, sizeof logid);
	tok_copy(cl.fam, sizeof cl.fam, g->family);
	tok_copy(cl.client_id, sizeof cl.client_id, g->client_id);
	tok_copy(cl.sub, sizeof cl.sub, g->username);
	tok_copy(cl.fhir_user, sizeof cl.fhir_user, g->fhir_user);
	tok_copy(cl.patient, sizeof cl.patient, g->patient);
	tok_copy(cl.encounter, sizeof cl.encounter, g->encounter);
	cl.scope = strdup(g->scope);
	cl.iat = now;
	cl.exp = now + (int64_t)o->cfg->access_ttl_s;
	rc = cl.scope ? scope_parse(g->scope, &set) : ERR_NOMEM;
	if (rc == 0)
		rc = auth_token_issue(o->tokens, &cl, &at);
	if (rc)
		goto fail;
	body = json_pack("{ss ss sI ss}", "access_token", at, "token_type", "Bearer", "expires_in",
			 (json_int_t)o->cfg->access_ttl_s, "scope", g->scope);
	if (!body) {
		rc = ERR_NOMEM;
		goto fail;
	}
	if (g->user) {
		/* SMART app-launch.html "Response": launch context */
		if (g->patient && *g->patient)
			json_object_set_new(body, "patient", json_string(g->patient));
		/* Not repeated in fhirContext: SMART 2.2 allows Patient and
		 * Encounter there only with a role other than "launch"
		 * (scopes-and-launch-context.html "fhirContext"), and we have
		 * no other context to give. */
		if (g->encounter && *g->encounter)
			json_object_set_new(body, "encounter", json_string(g->encounter));
		if (g->need_banner)
			json_object_set_new(body, "need_patient_banner", json_true());
		json_object_set_new(body, "smart_style_url", json_string(o->style_url));
	}
	/* OpenID Connect Core 3.1.3.3: an id_token when openid was granted
	 * to a person's sign-in; fhirUser only when asked for (SMART
	 * scopes-and-launch-context.html "fhirUser"). */
	if (g->nonce && (set.flags & SCOPE_F_OPENID) && g->username && *g->username) {
		auth_claims ic = cl;
		if (!(set.flags & (SCOPE_F_FHIRUSER | SCOPE_F_PROFILE)))
			ic.fhir_user[0] = '\0';
		rc = auth_token_id_token(o->tokens, &ic, *g->nonce ? g->nonce : NULL, &idt);
		if (rc)
			goto fail;
		json_object_set_new(body, "id_token", json_string(idt));
	}
	if (g->refresh_exp_us > 0) {
		rv = json_pack("{ss ss ss ss ss ss sb}", "client_id", g->client_id, "scope", g->refresh_scope,
			       "username", g->username ? g->username : "", "fhir_user", g->fhir_user ? g->fhir_user : "",
			       "patient", g->patient ? g->patient : "", "encounter", g->encounter ? g->encounter : "",
			       "need_patient_banner", g->need_banner);
		rtext = rv ? json_dumps(rv, JSON_COMPACT) : NULL;
		rc = rtext ? jose_random_token(32, rt, sizeof rt) : ERR_NOMEM;
		if (rc == 0) {
			jose_sha256_hex(rt, strlen(rt), hash);
			rc = store_auth_put(o->store, STORE_AUTH_REFRESH, hash, g->family, rtext, g->refresh_exp_us, 0);
		}
		if (rc)
			goto fail;
		json_object_set_new(body, "refresh_token", json_string(rt));
	}
	oauth_send_json(resp, 200, body);
	body = NULL;
	log_info("msg=\"oauth token issued\" grant=%s client=%s refresh=%s id_token=%s", g->grant_type, logid,
		 *rt ? "yes" : "no", idt ? "yes" : "no");
	{
		/* who got a token for whom; never the token itself */
		audit_event ev;
		memset(&ev, 0, sizeof ev);
		ev.kind = AUDIT_TOKEN;
		ev.subtype = strcmp(g->grant_type, "refresh_token") == 0 ? AUDIT_TOKEN_REFRESH : AUDIT_TOKEN_ISSUE;
		ev.outcome = 0;
		ev.client_id = g->client_id;
		ev.subject = g->user ? g->username : NULL;
		ev.fhir_user = g->user ? g->fhir_user : NULL;
		ev.patient = g->patient;
		oauth_audit(o, req, resp, &ev);
	}
fail:
	if (rc) {
		log_error("msg=\"oauth token: cannot issue\" client=%s err=%s", logid, err_name(rc));
		oauth_send_error(resp, 500, "server_error", NULL);
	}
	explicit_bzero(rt, sizeof rt);
	json_decref(body);
	json_decref(rv);
	free(rtext);
	free(at);
	free(idt);
	scope_set_fini(&set);
	auth_claims_fini(&cl);
}

/* A new grant family id. */
static int tok_family(char *out, size_t cap)
{
	return jose_random_token(32, out, cap);
}

/* grant_type=authorization_code (RFC 6749 4.1.3, RFC 7636 4.5-4.6). */
static void tok_code(oauth_t *o, http_request *req, http_response *resp, const http_param *ps, size_t n,
		     const auth_client *c)
{
	const char *code = NULL, *redirect = NULL, *verifier = NULL;
	store_auth_rec rec;
	json_t *v = NULL;
	char hash[65], challenge[44], logid[64];
	scope_set set;
	tok_grant g;
	int rc;

	memset(&rec, 0, sizeof rec);
	memset(&set, 0, sizeof set);
	oauth_log_safe(c->id, logid, sizeof logid);
	oauth_param(ps, n, "code", &code);
	oauth_param(ps, n, "redirect_uri", &redirect);
	oauth_param(ps, n, "code_verifier", &verifier);
	if (!code || !redirect) {
		oauth_send_error(resp, 400, "invalid_request", code ? "redirect_uri is required" : "code is required");
		goto out;
	}
	/* PKCE is mandatory for every client (SMART 2.2). */
	if (!verifier || !oauth_pkce_verifier_ok(verifier)) {
		oauth_send_error(resp, 400, "invalid_grant", "code_verifier missing or malformed");
		log_info("msg=\"oauth token\" grant=authorization_code client=%s outcome=bad_verifier", logid);
		goto out;
	}
	jose_sha256_hex(code, strlen(code), hash);
	rc = store_auth_take(o->store, STORE_AUTH_CODE, hash, &rec);
	if (rc) {
		if (rc == ERR_NOTFOUND)
			oauth_send_error(resp, 400, "invalid_grant", "unknown or expired code");
		else
			oauth_send_error(resp, 500, "server_error", NULL);
		log_info("msg=\"oauth token\" grant=authorization_code client=%s outcome=%s", logid,
			 rc == ERR_NOTFOUND ? "unknown_code" : err_name(rc));
		goto out;
	}
	if (rec.used) {
		/* RFC 6749 4.1.2: "If an authorization code is used more than
		 * once, the authorization server MUST deny the request and
		 * SHOULD revoke (when possible) all tokens previously issued
		 * based on that authorization code." */
		oauth_revoke_family(o, rec.family);
		oauth_send_error(resp, 400, "invalid_grant", "code already used");
		log_warn("msg=\"oauth token\" grant=authorization_code client=%s outcome=code_reuse_family_revoked",
			 logid);
		goto out;
	}
	v = json_loads(rec.value ? rec.value : "", 0, NULL);
	jose_sha256_b64url(verifier, strlen(verifier), challenge);
	if (!v || strcmp(oauth_jstr(v, "client_id"), c->id) != 0 ||
	    strcmp(oauth_jstr(v, "redirect_uri"), redirect) != 0 ||
	    !jose_streq_ct(challenge, oauth_jstr(v, "code_challenge"))) {
		oauth_send_error(resp, 400, "invalid_grant", "code does not match the client, redirect_uri or verifier");
		log_info("msg=\"oauth token\" grant=authorization_code client=%s outcome=code_mismatch", logid);
		goto out;
	}
	memset(&g, 0, sizeof g);
	g.grant_type = "authorization_code";
	g.client_id = c->id;
	g.username = oauth_jstr(v, "username");
	g.fhir_user = oauth_jstr(v, "fhir_user");
	g.patient = oauth_jstr(v, "patient");
	g.encounter = oauth_jstr(v, "encounter");
	g.nonce = oauth_jstr(v, "nonce");
	g.family = rec.family;
	g.scope = oauth_jstr(v, "scope");
	g.refresh_scope = g.scope;
	g.need_banner = json_is_true(json_object_get(v, "need_patient_banner"));
	g.user = 1;
	if (scope_parse(g.scope, &set) == 0) {
		int64_t now = oauth_now_us();
		if (set.flags & SCOPE_F_OFFLINE)
			g.refresh_exp_us = now + (int64_t)o->cfg->refresh_ttl_s * 1000000;
		else if (set.flags & SCOPE_F_ONLINE)
			g.refresh_exp_us = now + (int64_t)o->cfg->online_ttl_s * 1000000;
	}
	tok_respond(o, req, resp, &g);
out:
	json_decref(v);
	scope_set_fini(&set);
	store_auth_rec_clear(&rec);
}

/* grant_type=refresh_token (RFC 6749 6) with rotation: the presented
 * token is used up and a new one of the same family, ending when the old
 * one would have, comes back. A second use of a used token is theft or a
 * replay: the family ends (OAuth 2.0 Security BCP 4.14.2). */
static void tok_refresh(oauth_t *o, http_request *req, http_response *resp, const http_param *ps, size_t n,
			const auth_client *c)
{
	const char *rt = NULL, *scope = NULL;
	store_auth_rec rec, taken;
	json_t *v = NULL;
	scope_set have, want;
	char hash[65], *narrowed = NULL, logid[64];
	tok_grant g;
	int rc, revoked = 0;

	memset(&rec, 0, sizeof rec);
	memset(&taken, 0, sizeof taken);
	memset(&have, 0, sizeof have);
	memset(&want, 0, sizeof want);
	oauth_log_safe(c->id, logid, sizeof logid);
	oauth_param(ps, n, "refresh_token", &rt);
	oauth_param(ps, n, "scope", &scope);
	if (!rt) {
		oauth_send_error(resp, 400, "invalid_request", "refresh_token is required");
		goto out;
	}
	jose_sha256_hex(rt, strlen(rt), hash);
	rc = store_auth_get(o->store, STORE_AUTH_REFRESH, hash, &rec);
	if (rc == 0)
		rc = store_auth_revoked(o->store, rec.family, NULL, &revoked);
	if (rc || revoked) {
		if (rc && rc != ERR_NOTFOUND)
			oauth_send_error(resp, 500, "server_error", NULL);
		else
			oauth_send_error(resp, 400, "invalid_grant", "unknown, expired or revoked refresh token");
		log_info("msg=\"oauth token\" grant=refresh_token client=%s outcome=%s", logid,
			 revoked ? "revoked" : rc == ERR_NOTFOUND ? "unknown_token" : err_name(rc));
		goto out;
	}
	v = json_loads(rec.value ? rec.value : "", 0, NULL);
	/* Checked before the token is used up, so that another client (or
	 * a bad scope) cannot spend someone's refresh token. */
	if (!v || strcmp(oauth_jstr(v, "client_id"), c->id) != 0) {
		oauth_send_error(resp, 400, "invalid_grant", "refresh token of another client");
		log_warn("msg=\"oauth token\" grant=refresh_token client=%s outcome=other_client", logid);
		goto out;
	}
	if (scope) {
		/* RFC 6749 6: the scope may only narrow */
		if (scope_parse(oauth_jstr(v, "scope"), &have) || scope_parse(scope, &want) ||
		    !scope_covers(&have, &want) || scope_format(&want, &narrowed) || !*narrowed) {
			oauth_send_error(resp, 400, "invalid_scope", "scope exceeds the original grant");
			log_info("msg=\"oauth token\" grant=refresh_token client=%s outcome=invalid_scope", logid);
			goto out;
		}
	}
	rc = store_auth_take(o->store, STORE_AUTH_REFRESH, hash, &taken);
	if (rc) {
		oauth_send_error(resp, rc == ERR_NOTFOUND ? 400 : 500, rc == ERR_NOTFOUND ? "invalid_grant" : "server_error",
				 NULL);
		goto out;
	}
	if (taken.used) {
		oauth_revoke_family(o, taken.family);
		oauth_send_error(resp, 400, "invalid_grant", "refresh token already used");
		log_warn("msg=\"oauth token\" grant=refresh_token client=%s outcome=reuse_family_revoked", logid);
		goto out;
	}
	memset(&g, 0, sizeof g);
	g.grant_type = "refresh_token";
	g.client_id = c->id;
	g.username = oauth_jstr(v, "username");
	g.fhir_user = oauth_jstr(v, "fhir_user");
	g.patient = oauth_jstr(v, "patient");
	g.encounter = oauth_jstr(v, "encounter");
	g.family = taken.family;
	g.scope = narrowed ? narrowed : oauth_jstr(v, "scope");
	g.refresh_scope = oauth_jstr(v, "scope");
	g.refresh_exp_us = taken.exp_us; /* never beyond the grant's first expiry */
	g.need_banner = json_is_true(json_object_get(v, "need_patient_banner"));
	g.user = 1;
	tok_respond(o, req, resp, &g);
out:
	free(narrowed);
	json_decref(v);
	scope_set_fini(&have);
	scope_set_fini(&want);
	store_auth_rec_clear(&rec);
	store_auth_rec_clear(&taken);
}

/* grant_type=client_credentials (SMART backend-services.html): asymmetric
 * client authentication only, system/ scopes only. */
static void tok_client_credentials(oauth_t *o, http_request *req, http_response *resp, const http_param *ps,
				   size_t n, const auth_client *c, enum oauth_cauth method)
{
	const char *scope = NULL;
	scope_set want, allowed, granted;
	char *str = NULL, family[OAUTH_RAND_LEN], logid[64];
	tok_grant g;
	size_t j = 0;

	memset(&want, 0, sizeof want);
	memset(&allowed, 0, sizeof allowed);
	memset(&granted, 0, sizeof granted);
	oauth_log_safe(c->id, logid, sizeof logid);
	if (c->type != AUTH_CLIENT_BACKEND || method != OAUTH_CAUTH_JWT) {
		oauth_send_error(resp, 400, "unauthorized_client", "client_credentials is for Backend Services clients");
		log_info("msg=\"oauth token\" grant=client_credentials client=%s outcome=unauthorized_client", logid);
		goto out;
	}
	oauth_param(ps, n, "scope", &scope);
	if (!scope) {
		/* RFC 6749 3.3: no default scope here, so "invalid scope" */
		oauth_send_error(resp, 400, "invalid_scope", "scope is required");
		goto out;
	}
	if (scope_parse(scope, &want) || want.flags || want.nother || want.nrules == 0) {
		oauth_send_error(resp, 400, "invalid_scope", "only system/ scopes");
		log_info("msg=\"oauth token\" grant=client_credentials client=%s outcome=invalid_scope", logid);
		goto out;
	}
	for (size_t i = 0; i < want.nrules; i++)
		if (want.rules[i].ctx != SCOPE_SYSTEM) {
			oauth_send_error(resp, 400, "invalid_scope", "only system/ scopes");
			goto out;
		}
	if (scope_parse(c->scope ? c->scope : "", &allowed)) {
		oauth_send_error(resp, 500, "server_error", NULL);
		goto out;
	}
	for (size_t i = 0; i < allowed.nrules; i++) {
		if (allowed.rules[i].ctx != SCOPE_SYSTEM) {
			free(allowed.rules[i].query);
			continue;
		}
		allowed.rules[j++] = allowed.rules[i];
	}
	allowed.nrules = j;
	if (scope_intersect(&want, &allowed, &granted) || scope_format(&granted, &str)) {
		oauth_send_error(resp, 500, "server_error", NULL);
		goto out;
	}
	if (granted.nrules == 0) {
		oauth_send_error(resp, 400, "invalid_scope", "none of the requested scopes is registered for this client");
		log_info("msg=\"oauth token\" grant=client_credentials client=%s outcome=invalid_scope", logid);
		goto out;
	}
	if (tok_family(family, sizeof family)) {
		oauth_send_error(resp, 500, "server_error", NULL);
		goto out;
	}
	memset(&g, 0, sizeof g);
	g.grant_type = "client_credentials";
	g.client_id = c->id;
	g.username = c->id;
	g.family = family;
	g.scope = str;
	tok_respond(o, req, resp, &g);
out:
	free(str);
	scope_set_fini(&want);
	scope_set_fini(&allowed);
	scope_set_fini(&granted);
}

void oauth_token(oauth_t *o, http_request *req, http_response *resp)
{
	http_param *ps = NULL;
	size_t n = 0;
	const char *grant = NULL, *error, *desc;
	auth_client c;
	enum oauth_cauth method = OAUTH_CAUTH_NONE;
	int rc;

	memset(&c, 0, sizeof c);
	http_response_header(resp, "Vary", "Origin");
	rc = oauth_form(req, &ps, &n);
	if (rc) {
		oauth_send_error(resp, 400, "invalid_request",
				 rc == ERR_MEDIATYPE ? "Content-Type must be application/x-www-form-urlencoded" :
						       "the form body could not be read");
		goto out;
	}
	if (oauth_param_dup(ps, n, NULL)) {
		oauth_send_error(resp, 400, "invalid_request", "a parameter is repeated"); /* RFC 6749 3.2 */
		goto out;
	}
	oauth_param(ps, n, "grant_type", &grant);
	if (!grant) {
		oauth_send_error(resp, 400, "invalid_request", "grant_type is required");
		goto out;
	}
	rc = oauth_client_auth(o, req, ps, n, &c, &method, &error, &desc);
	if (rc) {
		oauth_send_error(resp, rc == ERR_DB ? 500 : 400, error, desc);
		goto out;
	}
	oauth_cors_client(req, resp, &c);
	/* Per client only once the client proved who it is: a public
	 * client's id is no credential, and charging it would let anyone
	 * spend a popular app's budget (its requests are limited per
	 * address instead). */
	if (method != OAUTH_CAUTH_NONE) {
		unsigned retry_s = 0;
		if (http_limits_client(o->limits, HTTP_LIMIT_AUTH, req, c.id, &retry_s)) {
			char logid[64];
			oauth_send_throttled(req, resp, o, 0, "too many token requests for this client (rate_auth_client)",
					     retry_s);
			oauth_log_safe(c.id, logid, sizeof logid);
			log_info("msg=\"oauth token\" client=%s outcome=throttled limit=rate_auth_client", logid);
			auth_client_fini(&c);
			return;
		}
	}
	if (strcmp(grant, "authorization_code") == 0) {
		tok_code(o, req, resp, ps, n, &c);
	} else if (strcmp(grant, "refresh_token") == 0) {
		tok_refresh(o, req, resp, ps, n, &c);
	} else if (strcmp(grant, "client_credentials") == 0) {
		tok_client_credentials(o, req, resp, ps, n, &c, method);
	} else {
		char logid[64];
		oauth_log_safe(c.id, logid, sizeof logid);
		oauth_send_error(resp, 400, "unsupported_grant_type", NULL);
		log_info("msg=\"oauth token\" client=%s outcome=unsupported_grant_type", logid);
	}
out:
	if (!req->audited) {
		/* every refused token request: the client as authenticated, or
		 * as claimed when it failed to authenticate (the outcome says so) */
		audit_event ev;
		const char *claimed = NULL;
		memset(&ev, 0, sizeof ev);
		ev.kind = AUDIT_TOKEN;
		ev.subtype = grant && !strcmp(grant, "refresh_token") ? AUDIT_TOKEN_REFRESH : AUDIT_TOKEN_ISSUE;
		ev.outcome = -1;
		if (!c.id[0] && ps)
			oauth_param(ps, n, "client_id", &claimed);
		ev.client_id = c.id[0] ? c.id : claimed;
		ev.outcome_desc = oauth_audit_error(req, resp);
		oauth_audit(o, req, resp, &ev);
	}
	auth_client_fini(&c);
}
