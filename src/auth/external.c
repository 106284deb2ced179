/*
 * external.c - see external.h: verification of another authorization
 * server's tokens, by its JWK Set or by RFC 7662 introspection, and the
 * mapping of their claims onto auth_claims.
 *
 * Workload: every API request with --auth external comes through here.
 * A JWT costs one signature check against the cached set (no network);
 * an opaque token costs one introspection round trip the first time and
 * a hash and a table probe while its answer is cached.
 */
#include "external.h"

#include "auth/jose.h"
#include "auth/jwks_cache.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/valid.h"
#include "http/client.h"

#include <ctype.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXT_SKEW_S 60              /* leeway on nbf only */
#define EXT_JWKS_MIN_TTL_S 60
#define EXT_JWKS_MAX_TTL_S 86400
#define EXT_JWKS_DEFAULT_TTL_S 300
#define EXT_INTRO_TTL_S 60         /* longest an introspection answer is trusted */
#define EXT_INTRO_SLOTS 1024       /* cached introspection answers (direct-mapped) */
#define EXT_JWKS_FILE_MAX (1 << 20)

typedef struct ext_slot {
	unsigned char h[SHA256_DIGEST_SIZE];
	int used;
	int64_t until;     /* wall-clock seconds */
	auth_claims c;     /* c.scope owned by the slot */
} ext_slot;

struct auth_external {
	char *issuer;
	char *audience;
	char *base;              /* our FHIR base URL: fhirUser is made relative to it */
	char *jwks_url;
	char *intro_url;
	char *client_id;
	char *client_secret;
	char *ca_file;
	unsigned timeout_ms;
	size_t max_bytes;
	json_t *file_jwks;       /* from external_jwks_file */
	auth_jwks_cache *cache;  /* for external_jwks_url */
	pthread_mutex_t mu;      /* the introspection slots */
	ext_slot *slots;
};

static int64_t ext_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static char *ext_dup(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

void auth_external_free(auth_external *x)
{
	if (!x)
		return;
	free(x->issuer);
	free(x->audience);
	free(x->base);
	free(x->jwks_url);
	free(x->intro_url);
	free(x->client_id);
	if (x->client_secret) {
		explicit_bzero(x->client_secret, strlen(x->client_secret));
		free(x->client_secret);
	}
	free(x->ca_file);
	json_decref(x->file_jwks);
	auth_jwks_cache_free(x->cache);
	if (x->slots) {
		for (size_t i = 0; i < EXT_INTRO_SLOTS; i++)
			auth_claims_fini(&x->slots[i].c);
		free(x->slots);
		pthread_mutex_destroy(&x->mu);
	}
	free(x);
}

static int ext_load_file(auth_external *x, const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (!json_is_object(j) || !json_is_array(json_object_get(j, "keys"))) {
		log_error("msg=\"external_jwks_file is not a JWK Set\" path=\"%.200s\"", path);
		json_decref(j);
		return ERR_INVALID;
	}
	x->file_jwks = j;
	return 0;
}

int auth_external_new(const config_t *cfg, auth_external **out)
{
	auth_external *x;
	http_client_url u;
	int rc = ERR_NOMEM;

	*out = NULL;
	x = calloc(1, sizeof *x);
	if (!x)
		return ERR_NOMEM;
	x->issuer = ext_dup(cfg->external_issuer);
	x->audience = ext_dup(*cfg->external_audience ? cfg->external_audience : cfg->base_url);
	x->base = ext_dup(cfg->base_url);
	x->jwks_url = ext_dup(cfg->external_jwks_url);
	x->intro_url = ext_dup(cfg->external_introspection_url);
	x->client_id = ext_dup(cfg->external_client_id);
	x->client_secret = ext_dup(cfg->external_client_secret);
	x->ca_file = ext_dup(cfg->external_ca_file);
	x->timeout_ms = cfg->fetch_timeout_ms;
	x->max_bytes = cfg->fetch_max_bytes;
	if (!x->issuer || !x->audience || !x->base)
		goto fail;
	rc = ERR_INVALID;
	if ((x->jwks_url && http_client_url_parse(x->jwks_url, &u)) ||
	    (x->intro_url && http_client_url_parse(x->intro_url, &u)))
		goto fail;
	if (x->intro_url && (!x->client_id || !x->client_secret))
		goto fail;
	if (*cfg->external_jwks_file && (rc = ext_load_file(x, cfg->external_jwks_file)) != 0)
		goto fail;
	if (x->jwks_url) {
		auth_jwks_opts o = {
			.ca_file = x->ca_file,
			.timeout_ms = x->timeout_ms,
			.max_bytes = x->max_bytes,
			.min_ttl_s = EXT_JWKS_MIN_TTL_S,
			.max_ttl_s = EXT_JWKS_MAX_TTL_S,
			.default_ttl_s = EXT_JWKS_DEFAULT_TTL_S,
			.refetch_s = cfg->jwks_refetch_s,
			.max_entries = 1,
			.https_only = 0, /* http:// only to loopback: the client refuses the rest */
		};
		rc = auth_jwks_cache_new(&o, &x->cache);
		if (rc)
			goto fail;
	}
	if (!x->file_jwks && !x->jwks_url && !x->intro_url) {
		rc = ERR_INVALID;
		goto fail;
	}
	if (x->intro_url) {
		x->slots = calloc(EXT_INTRO_SLOTS, sizeof *x->slots);
		if (!x->slots) {
			rc = ERR_NOMEM;
			goto fail;
		}
		pthread_mutex_init(&x->mu, NULL);
	}
	*out = x;
	return 0;
fail:
	auth_external_free(x);
	return rc;
}

/* ---- claims ---- */

/* A string claim into a bounded field; absent -> "". Not a string, with
 * a NUL inside, or too long: ERR_UNAUTHORIZED. */
static int ext_str(const json_t *j, const char *name, char *dst, size_t cap)
{
	const json_t *v = json_object_get(j, name);
	size_t n;

	dst[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return ERR_UNAUTHORIZED;
	n = json_string_length(v);
	if (n >= cap || strlen(json_string_value(v)) != n)
		return ERR_UNAUTHORIZED;
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

/* aud: the string, or an array holding it (RFC 7519 4.1.3). */
static int ext_aud_ok(const json_t *aud, const char *want)
{
	size_t i;
	json_t *e;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, e) {
		if (json_is_string(e) && strcmp(json_string_value(e), want) == 0)
			return 1;
	}
	return 0;
}

/* "Type/id" of an absolute fhirUser URL on our base, else "" (SMART
 * scopes-and-launch-context "fhirUser": a resource URL; one on another
 * server names nobody here). */
static void ext_fhir_user(const auth_external *x, const char *v, char *out, size_t cap)
{
	size_t bl = strlen(x->base), tl = 0;
	const char *rel, *id;

	out[0] = '\0';
	if (strncmp(v, x->base, bl) != 0 || v[bl] != '/')
		return;
	rel = v + bl + 1;
	/* resource type: an upper-case letter, then letters */
	if (!isupper((unsigned char)rel[0]))
		return;
	while (isalpha((unsigned char)rel[tl]))
		tl++;
	if (rel[tl] != '/' || tl > 64)
		return;
	id = rel + tl + 1;
	if (!valid_id(id, strlen(id)) || strlen(rel) >= cap)
		return;
	memcpy(out, rel, strlen(rel) + 1);
}

/* The claims of a verified token or an active introspection answer
 * onto c (scope malloc'd). */
static int ext_claims_map(const auth_external *x, const json_t *j, auth_claims *c, const char **why)
{
	const json_t *scope = json_object_get(j, "scope"), *exp = json_object_get(j, "exp");
	const json_t *iat = json_object_get(j, "iat"), *fu = json_object_get(j, "fhirUser");
	char jti[256];

	if (ext_str(j, "client_id", c->client_id, sizeof c->client_id) ||
	    (!c->client_id[0] && ext_str(j, "azp", c->client_id, sizeof c->client_id)) ||
	    ext_str(j, "sub", c->sub, sizeof c->sub) || ext_str(j, "patient", c->patient, sizeof c->patient) ||
	    ext_str(j, "encounter", c->encounter, sizeof c->encounter) || ext_str(j, "jti", jti, sizeof jti)) {
		*why = "bad claim";
		return ERR_UNAUTHORIZED;
	}
	/* a context that is not a FHIR id would confine to nothing sensible */
	if ((c->patient[0] && !valid_id(c->patient, strlen(c->patient))) ||
	    (c->encounter[0] && !valid_id(c->encounter, strlen(c->encounter)))) {
		*why = "bad patient or encounter";
		return ERR_UNAUTHORIZED;
	}
	/* jti is only logged: a long one is kept as a hash prefix */
	if (strlen(jti) < sizeof c->jti) {
		memcpy(c->jti, jti, strlen(jti) + 1);
	} else {
		char hex[65];
		jose_sha256_hex(jti, strlen(jti), hex);
		snprintf(c->jti, sizeof c->jti, "sha256:%.40s", hex);
	}
	if (fu && !json_is_string(fu)) {
		*why = "bad fhirUser";
		return ERR_UNAUTHORIZED;
	}
	if (fu) {
		const char *v = json_string_value(fu), *slash = strrchr(v, '/');
		size_t n = slash ? (size_t)(slash - v) : 0;
		ext_fhir_user(x, v, c->fhir_user, sizeof c->fhir_user);
		/* A Patient we cannot name here must not become "a user who is
		 * no patient": auth.c would then leave user/ scopes unconfined.
		 * Such a token is refused instead of widened. */
		if (!c->fhir_user[0] && n >= 7 && memcmp(v + n - 7, "Patient", 7) == 0 &&
		    (n == 7 || v[n - 8] == '/')) {
			*why = "fhirUser is a Patient not on this server";
			return ERR_UNAUTHORIZED;
		}
	}
	if (scope && (!json_is_string(scope) || strlen(json_string_value(scope)) != json_string_length(scope))) {
		*why = "bad scope";
		return ERR_UNAUTHORIZED;
	}
	c->exp = json_is_integer(exp) ? (int64_t)json_integer_value(exp) : 0;
	c->iat = json_is_integer(iat) ? (int64_t)json_integer_value(iat) : 0;
	c->scope = strdup(scope ? json_string_value(scope) : "");
	return c->scope ? 0 : ERR_NOMEM;
}

/* exp: an integer or a number (NumericDate, RFC 7519 2); 0 when absent
 * or of another type. */
static int64_t ext_numeric_date(const json_t *v, int *present)
{
	*present = v != NULL;
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return 0;
}

/* ---- JWT ---- */

static int ext_verify_jwt(auth_external *x, const char *token, auth_claims *c, const char **why)
{
	static const char *const algs[] = { "RS256", "RS384", "ES256", "ES384" };
	json_t *hdr = NULL, *jwks = NULL, *claims = NULL;
	const char *kid = NULL;
	int64_t now = ext_now(), exp, nbf;
	int rc, has_exp, has_nbf;

	if (jose_peek_header(token, &hdr) != 0) {
		*why = "header";
		rc = ERR_UNAUTHORIZED;
		goto out;
	}
	kid = json_string_value(json_object_get(hdr, "kid"));
	if (x->file_jwks) {
		jwks = json_incref(x->file_jwks);
	} else {
		rc = auth_jwks_cache_get(x->cache, x->jwks_url, kid, &jwks);
		if (rc) {
			*why = "external JWK Set unavailable";
			rc = rc == ERR_NOMEM ? rc : ERR_IO;
			goto out;
		}
	}
	rc = jose_verify_jwks_alg(token, jwks, algs, sizeof algs / sizeof algs[0], &claims, why);
	if (rc)
		goto out;
	rc = ERR_UNAUTHORIZED;
	if (!json_is_string(json_object_get(claims, "iss")) ||
	    strcmp(json_string_value(json_object_get(claims, "iss")), x->issuer) != 0) {
		*why = "wrong iss";
		goto out;
	}
	if (!ext_aud_ok(json_object_get(claims, "aud"), x->audience)) {
		*why = "wrong aud";
		goto out;
	}
	exp = ext_numeric_date(json_object_get(claims, "exp"), &has_exp);
	if (!has_exp || !json_is_number(json_object_get(claims, "exp"))) {
		*why = "no exp";
		goto out;
	}
	if (exp <= now) {
		*why = "expired";
		goto out;
	}
	nbf = ext_numeric_date(json_object_get(claims, "nbf"), &has_nbf);
	if (has_nbf && (!json_is_number(json_object_get(claims, "nbf")) || nbf > now + EXT_SKEW_S)) {
		*why = "not yet valid";
		goto out;
	}
	rc = ext_claims_map(x, claims, c, why);
	if (rc == 0)
		c->exp = exp;
out:
	json_decref(hdr);
	json_decref(jwks);
	json_decref(claims);
	return rc;
}

/* ---- introspection ---- */

static ext_slot *ext_slot_of(auth_external *x, const unsigned char h[SHA256_DIGEST_SIZE])
{
	unsigned idx = ((unsigned)h[0] << 8 | h[1]) % EXT_INTRO_SLOTS;
	return &x->slots[idx];
}

static int ext_cache_get(auth_external *x, const unsigned char h[SHA256_DIGEST_SIZE], auth_claims *c)
{
	ext_slot *s;
	int hit = 0;

	pthread_mutex_lock(&x->mu);
	s = ext_slot_of(x, h);
	if (s->used && memcmp(s->h, h, SHA256_DIGEST_SIZE) == 0 && s->until > ext_now()) {
		*c = s->c;
		c->scope = strdup(s->c.scope ? s->c.scope : "");
		hit = c->scope ? 1 : 0;
	}
	pthread_mutex_unlock(&x->mu);
	return hit;
}

static void ext_cache_put(auth_external *x, const unsigned char h[SHA256_DIGEST_SIZE], const auth_claims *c,
			  int64_t until)
{
	char *scope = strdup(c->scope ? c->scope : "");
	ext_slot *s;

	if (!scope)
		return;
	pthread_mutex_lock(&x->mu);
	s = ext_slot_of(x, h);
	auth_claims_fini(&s->c);
	s->c = *c;
	s->c.scope = scope;
	memcpy(s->h, h, SHA256_DIGEST_SIZE);
	s->until = until;
	s->used = 1;
	pthread_mutex_unlock(&x->mu);
}

/* Appends s form-urlencoded (every octet outside RFC 3986 unreserved as
 * %XX). */
static int ext_form_value(buf_t *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;
	for (; *s && rc == 0; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			rc = buf_append_char(b, (char)ch);
		} else {
			char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
			rc = buf_append(b, e, 3);
		}
	}
	return rc;
}

static int ext_introspect(auth_external *x, const char *token, auth_claims *c, const char **why)
{
	unsigned char h[SHA256_DIGEST_SIZE];
	struct sha256_ctx sha;
	buf_t form;
	char *body = NULL;
	size_t len = 0;
	json_t *j = NULL, *active;
	int64_t now = ext_now(), exp, until;
	int status = 0, rc, has_exp;

	sha256_init(&sha);
	sha256_update(&sha, strlen(token), (const uint8_t *)token);
	sha256_digest(&sha, sizeof h, h);
	if (ext_cache_get(x, h, c))
		return 0;
	buf_init(&form, 32 + 3 * strlen(token));
	rc = buf_append_str(&form, "token=");
	if (rc == 0)
		rc = ext_form_value(&form, token);
	if (rc == 0)
		rc = buf_append_str(&form, "&token_type_hint=access_token");
	if (rc == 0)
		rc = http_client_post_form(x->intro_url, x->ca_file, x->timeout_ms, x->max_bytes, x->client_id,
					   x->client_secret, form.data, &status, &body, &len);
	if (form.data)
		explicit_bzero(form.data, form.len);
	buf_fini(&form);
	if (rc) {
		*why = "introspection failed";
		rc = rc == ERR_NOMEM ? rc : ERR_IO;
		goto out;
	}
	if (status != 200) {
		/* RFC 7662 2.3: 401 means our own credentials were refused */
		log_error("msg=\"introspection endpoint answered an error\" status=%d", status);
		*why = "introspection failed";
		rc = ERR_IO;
		goto out;
	}
	rc = ERR_UNAUTHORIZED;
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		log_error("msg=\"introspection answer is not a JSON object\"");
		*why = "introspection failed";
		rc = ERR_IO;
		goto out;
	}
	/* RFC 7662 2.2: "active" is REQUIRED and a boolean; only true counts */
	active = json_object_get(j, "active");
	if (!json_is_true(active)) {
		*why = "inactive";
		goto out;
	}
	if (json_object_get(j, "iss") && (!json_is_string(json_object_get(j, "iss")) ||
					  strcmp(json_string_value(json_object_get(j, "iss")), x->issuer) != 0)) {
		*why = "wrong iss";
		goto out;
	}
	/* RFC 7662 4: a token meant for another resource server is not ours */
	if (json_object_get(j, "aud") && !ext_aud_ok(json_object_get(j, "aud"), x->audience)) {
		*why = "wrong aud";
		goto out;
	}
	exp = ext_numeric_date(json_object_get(j, "exp"), &has_exp);
	if (has_exp && (!json_is_number(json_object_get(j, "exp")) || exp <= now)) {
		*why = "expired";
		goto out;
	}
	rc = ext_claims_map(x, j, c, why);
	if (rc)
		goto out;
	c->exp = has_exp ? exp : 0;
	until = now + EXT_INTRO_TTL_S;
	if (has_exp && exp < until)
		until = exp;
	ext_cache_put(x, h, c, until);
out:
	json_decref(j);
	free(body);
	return rc;
}

/* A compact JWS has exactly two dots; an opaque token usually none. */
static int ext_is_jws(const char *t)
{
	const char *d1 = strchr(t, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	return d2 && !strchr(d2 + 1, '.');
}

int auth_external_verify(auth_external *x, const char *token, auth_claims *out, const char **why)
{
	int rc;

	memset(out, 0, sizeof *out);
	*why = "";
	if (!token || !*token) {
		*why = "no token";
		return ERR_UNAUTHORIZED;
	}
	if ((x->file_jwks || x->jwks_url) && ext_is_jws(token))
		rc = ext_verify_jwt(x, token, out, why);
	else if (x->intro_url)
		rc = ext_introspect(x, token, out, why);
	else {
		*why = "not a JWT";
		rc = ERR_UNAUTHORIZED;
	}
	if (rc) {
		auth_claims_fini(out);
		memset(out, 0, sizeof *out);
	}
	return rc;
}
