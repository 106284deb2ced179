/*
 * registry.c - registered OAuth clients, user accounts and EHR launch
 * values (registry.h), kept as JSON values in the store's authorization
 * records:
 *
 *   STORE_AUTH_CLIENT  key client_id  {"type", "name", "redirect_uris",
 *                      "scope", "secret_hash", "jwks", "jwks_url",
 *                      "launch_url"}
 *   STORE_AUTH_USER    key username   {"fhir_user", "phc"}
 *   STORE_AUTH_LAUNCH  key SHA-256 hex of the launch value
 *                      {"client_id", "patient", "encounter"}
 *
 * Everything a client registers is checked here once, so that the OAuth
 * endpoints can trust a record they read back: redirect URIs are absolute
 * http(s) URLs without fragment or userinfo (RFC 6749 3.1.2; SMART
 * requires exact matching, so they are compared byte for byte), a JWK Set
 * carries public keys only, a scope string parses.
 *
 * Secrets never reach the store in clear: a client secret is stored as
 * its SHA-256 (32 random bytes need no slow hash), a password as argon2id,
 * a launch value as its SHA-256.
 */
#include "registry.h"

#include "auth/jose.h"
#include "auth/scope.h"
#include "core/err.h"
#include "core/log.h"
#include "core/valid.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Bounds on what a client registers (an admin types these, but a record
 * is read on every authorization request, so it stays small). */
#define REG_URI_MAX 2048
#define REG_MAX_REDIRECTS 32
#define REG_NAME_MAX 256
#define REG_SECRET_BYTES 32

static int64_t reg_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* 1 when s is 1..max characters of the ASCII set extra + [A-Za-z0-9]. */
static int reg_name_ok(const char *s, size_t max, const char *extra)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++)
		if (n >= max || (!isalnum((unsigned char)s[n]) && !strchr(extra, s[n])))
			return 0;
	return n > 0;
}

static int reg_client_id_ok(const char *id)
{
	return reg_name_ok(id, 128, "._~-");
}

/* Splits an absolute http(s) URL into its origin (lowercase scheme and
 * host, the port unless it is the scheme's default: what a browser sends
 * in Origin, RFC 6454 6.1). origin may be NULL (check only). 0 or
 * ERR_INVALID for anything else: another scheme, no host, userinfo (a
 * classic way to make a URI look like another host), a fragment (RFC 6749
 * 3.1.2), spaces or control characters, a bad port. */
static int reg_url_origin(const char *uri, char *origin, size_t cap)
{
	const char *p, *auth, *end, *host_end, *port = NULL;
	size_t slen, hlen;
	int https;
	unsigned long pnum = 0;

	if (!uri || strlen(uri) > REG_URI_MAX)
		return ERR_INVALID;
	for (p = uri; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
			return ERR_INVALID;
	if (strncasecmp(uri, "https://", 8) == 0)
		https = 1;
	else if (strncasecmp(uri, "http://", 7) == 0)
		https = 0;
	else
		return ERR_INVALID;
	slen = https ? 5 : 4;
	auth = uri + slen + 3;
	end = auth + strcspn(auth, "/?");
	if (memchr(auth, '@', (size_t)(end - auth)) || end == auth)
		return ERR_INVALID;
	if (*auth == '[') { /* IPv6 literal */
		const char *rb = memchr(auth, ']', (size_t)(end - auth));
		if (!rb || rb == auth + 1)
			return ERR_INVALID;
		host_end = rb + 1;
		if (host_end != end && *host_end != ':')
			return ERR_INVALID;
	} else {
		host_end = memchr(auth, ':', (size_t)(end - auth));
		if (!host_end)
			host_end = end;
		if (host_end == auth)
			return ERR_INVALID;
	}
	/* Host characters: a reg-name or an IPv6 literal (RFC 3986 3.2.2).
	 * Anything else (a backslash, say) is where parsers disagree about
	 * which host a URL names. */
	for (p = auth; p < host_end; p++)
		if (!isalnum((unsigned char)*p) && !strchr(*auth == '[' ? "[]:." : ".-_~%", *p))
			return ERR_INVALID;
	if (host_end < end) {
		port = host_end + 1;
		if (port == end || end - port > 5)
			return ERR_INVALID;
		for (p = port; p < end; p++) {
			if (*p < '0' || *p > '9')
				return ERR_INVALID;
			pnum = pnum * 10 + (unsigned long)(*p - '0');
		}
		if (pnum == 0 || pnum > 65535)
			return ERR_INVALID;
	}
	if (!origin)
		return 0;
	hlen = (size_t)(host_end - auth);
	if (slen + 3 + hlen + 7 > cap)
		return ERR_INVALID;
	{
		size_t o = 0;
		memcpy(origin, https ? "https://" : "http://", slen + 3);
		o = slen + 3;
		for (size_t i = 0; i < hlen; i++)
			origin[o++] = (char)tolower((unsigned char)auth[i]);
		origin[o] = '\0';
		if (port && pnum != (https ? 443u : 80u))
			snprintf(origin + o, cap - o, ":%lu", pnum);
	}
	return 0;
}

static int reg_scope_ok(const char *scope)
{
	scope_set set;
	int rc;
	if (!scope || !*scope)
		return 0;
	memset(&set, 0, sizeof set);
	rc = scope_parse(scope, &set);
	scope_set_fini(&set);
	return rc == 0;
}

/* A JWK Set as registered: {"keys": [objects with a string kty]}, public
 * keys only. A private member (RFC 7518 6.2.2, 6.3.2, 6.4.1) means the
 * admin pasted the wrong file: the server must never hold a client's
 * private key, so it is refused rather than stripped. */
static int reg_jwks_ok(const json_t *jwks)
{
	static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };
	const json_t *keys = json_is_object(jwks) ? json_object_get(jwks, "keys") : NULL;
	size_t i;
	json_t *k;

	if (!json_is_array(keys) || json_array_size(keys) == 0)
		return 0;
	json_array_foreach (keys, i, k) {
		if (!json_is_object(k) || !json_is_string(json_object_get(k, "kty")))
			return 0;
		for (size_t m = 0; m < sizeof priv / sizeof priv[0]; m++)
			if (json_object_get(k, priv[m]))
				return 0;
	}
	return 1;
}

static const char *reg_type_name(enum auth_client_type t)
{
	switch (t) {
	case AUTH_CLIENT_PUBLIC:
		return "public";
	case AUTH_CLIENT_CONFIDENTIAL:
		return "confidential";
	case AUTH_CLIENT_BACKEND:
		return "backend";
	}
	return NULL;
}

static int reg_type_parse(const char *s, enum auth_client_type *out)
{
	if (!s)
		return ERR_INVALID;
	if (!strcmp(s, "public"))
		*out = AUTH_CLIENT_PUBLIC;
	else if (!strcmp(s, "confidential"))
		*out = AUTH_CLIENT_CONFIDENTIAL;
	else if (!strcmp(s, "backend"))
		*out = AUTH_CLIENT_BACKEND;
	else
		return ERR_INVALID;
	return 0;
}

void auth_client_fini(auth_client *c)
{
	if (!c)
		return;
	free(c->name);
	for (size_t i = 0; i < c->nredirect; i++)
		free(c->redirect_uris[i]);
	free(c->redirect_uris);
	free(c->scope);
	json_decref(c->jwks);
	free(c->jwks_url);
	free(c->launch_url);
	for (size_t i = 0; i < c->norigins; i++)
		free(c->origins[i]);
	free(c->origins);
	memset(c, 0, sizeof *c);
}

/* strdup of an optional string member (NULL stays NULL). */
static int reg_dup_opt(const json_t *o, const char *name, char **out)
{
	const json_t *v = json_object_get(o, name);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return ERR_INVALID;
	*out = strdup(json_string_value(v));
	return *out ? 0 : ERR_NOMEM;
}

/* The CORS origins of c's redirect URIs, each once. */
static int reg_client_origins(auth_client *c)
{
	char origin[REG_URI_MAX + 16];

	if (c->nredirect == 0)
		return 0;
	c->origins = calloc(c->nredirect, sizeof *c->origins);
	if (!c->origins)
		return ERR_NOMEM;
	for (size_t i = 0; i < c->nredirect; i++) {
		int dup = 0;
		if (reg_url_origin(c->redirect_uris[i], origin, sizeof origin))
			return ERR_INVALID;
		for (size_t k = 0; k < c->norigins && !dup; k++)
			dup = !strcmp(c->origins[k], origin);
		if (dup)
			continue;
		c->origins[c->norigins] = strdup(origin);
		if (!c->origins[c->norigins])
			return ERR_NOMEM;
		c->norigins++;
	}
	return 0;
}

/* A client record's JSON into out (id set by the caller). */
static int reg_client_from_json(const json_t *o, auth_client *out)
{
	const json_t *uris = json_object_get(o, "redirect_uris"), *jwks = json_object_get(o, "jwks");
	const json_t *hash = json_object_get(o, "secret_hash");
	size_t i;
	json_t *u;
	int rc;

	if (!json_is_object(o) || reg_type_parse(json_string_value(json_object_get(o, "type")), &out->type))
		return ERR_INVALID;
	if ((rc = reg_dup_opt(o, "name", &out->name)) || (rc = reg_dup_opt(o, "scope", &out->scope)) ||
	    (rc = reg_dup_opt(o, "jwks_url", &out->jwks_url)) || (rc = reg_dup_opt(o, "launch_url", &out->launch_url)))
		return rc;
	if (!out->scope && !(out->scope = strdup("")))
		return ERR_NOMEM;
	if (json_is_string(hash))
		snprintf(out->secret_hash, sizeof out->secret_hash, "%s", json_string_value(hash));
	if (json_is_object(jwks))
		out->jwks = json_deep_copy(jwks);
	if (json_is_array(uris) && json_array_size(uris) > 0) {
		out->redirect_uris = calloc(json_array_size(uris), sizeof *out->redirect_uris);
		if (!out->redirect_uris)
			return ERR_NOMEM;
		json_array_foreach (uris, i, u) {
			if (!json_is_string(u))
				return ERR_INVALID;
			out->redirect_uris[out->nredirect] = strdup(json_string_value(u));
			if (!out->redirect_uris[out->nredirect])
				return ERR_NOMEM;
			out->nredirect++;
		}
	}
	return reg_client_origins(out);
}

int auth_client_get(store_t *s, const char *id, auth_client *out)
{
	store_auth_rec r = { 0 };
	json_t *o = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	if (!reg_client_id_ok(id))
		return ERR_NOTFOUND;
	rc = store_auth_get(s, STORE_AUTH_CLIENT, id, &r);
	if (rc)
		goto out;
	o = json_loads(r.value, 0, NULL);
	snprintf(out->id, sizeof out->id, "%s", id);
	rc = o ? reg_client_from_json(o, out) : ERR_INVALID;
	if (rc == ERR_INVALID) {
		log_error("msg=\"client record is damaged\" client_id=\"%s\"", id);
		rc = ERR_INTERNAL;
	}
out:
	if (rc)
		auth_client_fini(out);
	json_decref(o);
	store_auth_rec_clear(&r);
	return rc;
}

/* Checks c as registry.h says and builds its record (without secret). */
static int reg_client_to_json(const auth_client *c, json_t **out)
{
	json_t *o = json_object(), *uris = json_array();
	int rc = ERR_INVALID;

	*out = NULL;
	if (!o || !uris) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (!reg_client_id_ok(c->id) || !reg_type_name(c->type) || !reg_scope_ok(c->scope))
		goto out;
	if (c->nredirect > REG_MAX_REDIRECTS || (c->nredirect && !c->redirect_uris))
		goto out;
	/* Public and confidential clients receive codes at a redirect URI;
	 * a backend client (client_credentials) has none to receive them. */
	if (c->type != AUTH_CLIENT_BACKEND && c->nredirect == 0)
		goto out;
	if (c->type == AUTH_CLIENT_BACKEND && !c->jwks && !c->jwks_url)
		goto out;
	for (size_t i = 0; i < c->nredirect; i++) {
		if (reg_url_origin(c->redirect_uris[i], NULL, 0))
			goto out;
		if (json_array_append_new(uris, json_string(c->redirect_uris[i])))
			goto out;
	}
	if (c->jwks && !reg_jwks_ok(c->jwks))
		goto out;
	/* The keys are fetched from a JWKS URL (oauth_token.c): https only,
	 * as SMART client-confidential-asymmetric registers it. */
	if (c->jwks_url && (strncasecmp(c->jwks_url, "https://", 8) != 0 || reg_url_origin(c->jwks_url, NULL, 0)))
		goto out;
	if (c->launch_url && reg_url_origin(c->launch_url, NULL, 0))
		goto out;
	if (c->name && (strlen(c->name) > REG_NAME_MAX || !valid_utf8(c->name, strlen(c->name))))
		goto out;
	rc = ERR_NOMEM;
	if (json_object_set_new(o, "type", json_string(reg_type_name(c->type))) ||
	    json_object_set_new(o, "scope", json_string(c->scope)) || json_object_set(o, "redirect_uris", uris) ||
	    (c->name && json_object_set_new(o, "name", json_string(c->name))) ||
	    (c->jwks && json_object_set_new(o, "jwks", json_deep_copy(c->jwks))) ||
	    (c->jwks_url && json_object_set_new(o, "jwks_url", json_string(c->jwks_url))) ||
	    (c->launch_url && json_object_set_new(o, "launch_url", json_string(c->launch_url))))
		goto out;
	*out = o;
	o = NULL;
	rc = 0;
out:
	json_decref(uris);
	json_decref(o);
	return rc;
}

int auth_client_add(store_t *s, const auth_client *c, char *secret_out, size_t cap)
{
	json_t *o = NULL;
	char secret[64], hash[65];
	char *text = NULL;
	int rc;

	if (secret_out && cap)
		secret_out[0] = '\0';
	rc = reg_client_to_json(c, &o);
	if (rc)
		goto out;
	if (c->type == AUTH_CLIENT_CONFIDENTIAL) {
		if (!secret_out || cap < 64) {
			rc = ERR_INVALID;
			goto out;
		}
		rc = jose_random_token(REG_SECRET_BYTES, secret, sizeof secret);
		if (rc)
			goto out;
		jose_sha256_hex(secret, strlen(secret), hash);
		if (json_object_set_new(o, "secret_hash", json_string(hash))) {
			rc = ERR_NOMEM;
			goto out;
		}
	}
	text = json_dumps(o, JSON_COMPACT);
	if (!text) {
		rc = ERR_NOMEM;
		goto out;
	}
	rc = store_auth_put(s, STORE_AUTH_CLIENT, c->id, NULL, text, 0, 0);
	if (rc)
		goto out;
	/* only now that it is stored: a secret handed out for a client that
	 * was never registered would be a confusing failure */
	if (c->type == AUTH_CLIENT_CONFIDENTIAL)
		snprintf(secret_out, cap, "%s", secret);
out:
	explicit_bzero(secret, sizeof secret);
	free(text);
	json_decref(o);
	return rc;
}

int auth_client_remove(store_t *s, const char *id)
{
	store_auth_rec r = { 0 };
	int rc;

	if (!reg_client_id_ok(id))
		return ERR_NOTFOUND;
	/* tell the admin when there was nothing to remove (a typo) */
	rc = store_auth_get(s, STORE_AUTH_CLIENT, id, &r);
	store_auth_rec_clear(&r);
	if (rc)
		return rc;
	return store_auth_del(s, STORE_AUTH_CLIENT, id);
}

int auth_client_secret_ok(const auth_client *c, const char *secret)
{
	char hash[65];
	int ok;

	if (!c || !secret || c->type != AUTH_CLIENT_CONFIDENTIAL || strlen(c->secret_hash) != 64)
		return 0;
	/* Hashing first makes the comparison independent of the secret's
	 * length and content; jose_streq_ct then compares in constant time. */
	jose_sha256_hex(secret, strlen(secret), hash);
	ok = jose_streq_ct(hash, c->secret_hash);
	explicit_bzero(hash, sizeof hash);
	return ok;
}

int auth_client_redirect_ok(const auth_client *c, const char *uri)
{
	if (!c || !uri)
		return 0;
	/* SMART App Launch: exact match, byte for byte - no prefix, no
	 * case folding, no normalisation (open redirects live there). */
	for (size_t i = 0; i < c->nredirect; i++)
		if (!strcmp(c->redirect_uris[i], uri))
			return 1;
	return 0;
}

/* ---- users ---- */

static int reg_username_ok(const char *u)
{
	return reg_name_ok(u, 128, "._@-");
}

static int reg_fhir_user_ok(const char *fu)
{
	static const char *const types[] = { "Patient", "Practitioner", "PractitionerRole", "RelatedPerson",
					     "Person" };
	const char *slash = fu ? strchr(fu, '/') : NULL;

	if (!slash || strlen(fu) >= sizeof ((auth_user *)0)->fhir_user)
		return 0;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strlen(types[i]) == (size_t)(slash - fu) && !strncmp(fu, types[i], (size_t)(slash - fu)))
			return valid_id(slash + 1, strlen(slash + 1));
	return 0;
}

int auth_user_add(store_t *s, const char *username, const char *fhir_user, const char *password)
{
	char phc[sizeof ((auth_user *)0)->phc];
	json_t *o = NULL;
	char *text = NULL;
	int rc = ERR_INVALID;

	phc[0] = '\0';
	if (!reg_username_ok(username) || !reg_fhir_user_ok(fhir_user) || !password || !*password)
		goto out;
	rc = jose_password_hash(password, phc, sizeof phc);
	if (rc)
		goto out;
	o = json_pack("{s:s, s:s}", "fhir_user", fhir_user, "phc", phc);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!text) {
		rc = ERR_NOMEM;
		goto out;
	}
	rc = store_auth_put(s, STORE_AUTH_USER, username, NULL, text, 0, 0);
out:
	free(text);
	json_decref(o);
	return rc;
}

/* The hash an unknown username is verified against, so that a login for
 * a name that does not exist costs the same argon2 work as one that does
 * (no username enumeration by timing). Computed once per process with
 * jose_password_hash itself, so its cost parameters are always the ones
 * real hashes use; after that it is read-only. */
static pthread_once_t reg_dummy_once = PTHREAD_ONCE_INIT;
static char reg_dummy_phc[192];

static void reg_dummy_init(void)
{
	char pw[48];
	if (jose_random_token(24, pw, sizeof pw) || jose_password_hash(pw, reg_dummy_phc, sizeof reg_dummy_phc))
		reg_dummy_phc[0] = '\0';
	explicit_bzero(pw, sizeof pw);
}

int auth_user_login(store_t *s, const char *username, const char *password, auth_user *out)
{
	store_auth_rec r = { 0 };
	json_t *o = NULL;
	const char *phc = NULL, *fu = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	pthread_once(&reg_dummy_once, reg_dummy_init);
	rc = reg_username_ok(username) ? store_auth_get(s, STORE_AUTH_USER, username, &r) : ERR_NOTFOUND;
	if (rc && rc != ERR_NOTFOUND)
		goto out; /* the store failed: a server error, not a wrong password */
	if (!rc) {
		o = json_loads(r.value, 0, NULL);
		phc = json_string_value(json_object_get(o, "phc"));
		fu = json_string_value(json_object_get(o, "fhir_user"));
	}
	if (!phc || !fu) {
		if (!reg_dummy_phc[0]) {
			log_error("msg=\"no dummy password hash: cannot answer unknown logins in constant time\"");
			rc = ERR_INTERNAL;
			goto out;
		}
		jose_password_verify(password ? password : "", reg_dummy_phc);
		rc = ERR_UNAUTHORIZED;
		goto out;
	}
	if (!password || !jose_password_verify(password, phc)) {
		rc = ERR_UNAUTHORIZED;
		goto out;
	}
	snprintf(out->username, sizeof out->username, "%s", username);
	snprintf(out->fhir_user, sizeof out->fhir_user, "%s", fu);
	snprintf(out->phc, sizeof out->phc, "%s", phc);
	rc = 0;
out:
	json_decref(o);
	store_auth_rec_clear(&r);
	return rc;
}

/* ---- EHR launch ---- */

int auth_launch_new(store_t *s, const char *client_id, const char *patient, const char *encounter, unsigned ttl_s,
		    char *out, size_t cap)
{
	char value[64], hash[65];
	json_t *o = NULL;
	char *text = NULL;
	int rc = ERR_INVALID;

	value[0] = '\0';
	if (out && cap)
		out[0] = '\0';
	if (!out || cap < 48 || ttl_s == 0 || !reg_client_id_ok(client_id) || !patient ||
	    !valid_id(patient, strlen(patient)) || (encounter && *encounter && !valid_id(encounter, strlen(encounter))))
		goto out;
	rc = jose_random_token(REG_SECRET_BYTES, value, sizeof value);
	if (rc)
		goto out;
	jose_sha256_hex(value, strlen(value), hash);
	o = json_pack("{s:s, s:s}", "client_id", client_id, "patient", patient);
	if (!o || (encounter && *encounter && json_object_set_new(o, "encounter", json_string(encounter))) ||
	    !(text = json_dumps(o, JSON_COMPACT))) {
		rc = ERR_NOMEM;
		goto out;
	}
	rc = store_auth_put(s, STORE_AUTH_LAUNCH, hash, NULL, text, reg_now_us() + (int64_t)ttl_s * 1000000, 0);
	if (rc)
		goto out;
	snprintf(out, cap, "%s", value);
out:
	explicit_bzero(value, sizeof value);
	free(text);
	json_decref(o);
	return rc;
}
