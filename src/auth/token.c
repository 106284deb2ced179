/*
 * token.c - see token.h: the key ring kept in the store, SMART access
 * tokens and id_tokens, the JWKS, key rotation and the verification cache.
 *
 * Workload: auth_token_verify() runs on every API request, on all worker
 * threads at once; issuing is rare (token endpoint). So verification is
 * built to be cheap when it repeats: the first sight of a token costs an
 * RSA verification and a JSON parse, later ones a SHA-256, a cache probe
 * and the revocation query - which is never skipped, because revocation
 * must take effect on the next request, not when a cache entry ages out.
 *
 * Concurrency: the key ring is an immutable, reference-counted snapshot;
 * a reload builds a new one from the store outside any lock and swaps the
 * pointer, so readers never wait for the store. The cache is a fixed
 * 4-way set-associative table (4096 entries) under one mutex held only
 * for a probe or an insert.
 */
#include "token.h"

#include "auth/jose.h"
#include "core/err.h"
#include "core/log.h"

#include <nettle/sha2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOK_MAX_LEN 16384        /* as jose_verify's bound: checked first */
#define TOK_SKEW_S 60            /* leeway on iat/nbf only (token.h) */
#define TOK_RELOAD_S 60          /* periodic ring reload */
#define TOK_UNKNOWN_RELOAD_S 10  /* at most one reload per this for unknown kids */
#define TOK_CACHE_SETS 1024
#define TOK_CACHE_WAYS 4
#define TOK_KID_MAX 130
#define TOK_GEN_KID_LEN 22       /* kids of jose_key_generate */

/* An immutable snapshot of the keys in the store. */
typedef struct tok_ring {
	atomic_int refs;
	size_t n;
	jose_key **keys;
	int64_t *exp_us;     /* per key; 0: no expiry */
	jose_key *signing;   /* newest key without expiry, else newest */
	int has_unexpiring;  /* a key without expiry exists */
} tok_ring;

typedef struct tok_entry {
	unsigned char h[SHA256_DIGEST_SIZE]; /* SHA-256 of the token */
	int used;
	char kid[TOK_KID_MAX];               /* the key that verified it */
	auth_claims c;                       /* c.scope owned by the entry */
} tok_entry;

struct auth_tokens {
	store_t *s;
	char *issuer;
	char *aud;
	unsigned access_ttl_s;
	pthread_mutex_t ring_mu;   /* ring pointer and the reload clocks */
	pthread_mutex_t reload_mu; /* one reload at a time */
	tok_ring *ring;
	_Atomic int64_t loaded_at; /* monotonic seconds of the last reload */
	int64_t unknown_at;        /* monotonic seconds of the last unknown-kid reload; 0 never */
	pthread_mutex_t cache_mu;
	tok_entry *cache;          /* TOK_CACHE_SETS * TOK_CACHE_WAYS */
};

/* ---- time ---- */

static int64_t tok_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static int64_t tok_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reload intervals must not jump with the wall clock. */
static int64_t tok_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* ---- claims ---- */

void auth_claims_fini(auth_claims *c)
{
	if (!c)
		return;
	free(c->scope);
	c->scope = NULL;
}

static void tok_claims_clear(auth_claims *c)
{
	auth_claims_fini(c);
	memset(c, 0, sizeof *c);
}

/* A copy of src into dst with its own scope string. */
static int tok_claims_copy(auth_claims *dst, const auth_claims *src)
{
	*dst = *src;
	dst->scope = strdup(src->scope ? src->scope : "");
	return dst->scope ? 0 : ERR_NOMEM;
}

/* ---- the key ring ---- */

static void ring_free(tok_ring *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		jose_key_free(r->keys[i]);
	free(r->keys);
	free(r->exp_us);
	free(r);
}

static tok_ring *ring_get(auth_tokens *t)
{
	tok_ring *r;
	pthread_mutex_lock(&t->ring_mu);
	r = t->ring;
	if (r)
		atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&t->ring_mu);
	return r;
}

static void ring_put(tok_ring *r)
{
	if (r && atomic_fetch_sub(&r->refs, 1) == 1)
		ring_free(r);
}

static int ring_live(const tok_ring *r, size_t i, int64_t now_us)
{
	return r->exp_us[i] == 0 || r->exp_us[i] > now_us;
}

/* 1 when kid names a key of r that is still valid. */
static int ring_has_live(const tok_ring *r, const char *kid, int64_t now_us)
{
	for (size_t i = 0; r && i < r->n; i++)
		if (ring_live(r, i, now_us) && strcmp(jose_key_kid(r->keys[i]), kid) == 0)
			return 1;
	return 0;
}

/* A key from a STORE_AUTH_KEY value {"jwk": <private JWK>}. */
static int tok_key_parse(const char *value, jose_key **out)
{
	json_t *v = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
	char *text = NULL;
	int rc = ERR_INVALID;

	*out = NULL;
	if (!json_is_object(json_object_get(v, "jwk")))
		goto fail;
	text = json_dumps(json_object_get(v, "jwk"), JSON_COMPACT);
	if (!text) {
		rc = ERR_NOMEM;
		goto fail;
	}
	rc = jose_key_from_private_json(text, out);
fail:
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	json_decref(v);
	return rc;
}

/* The record value for k, malloc'd; the caller wipes and frees it. */
static int tok_key_value(const jose_key *k, char **out)
{
	char *priv = NULL;
	json_t *jwk = NULL, *v = NULL;
	int rc;

	*out = NULL;
	rc = jose_key_private_json(k, &priv);
	if (rc)
		goto fail;
	rc = ERR_NOMEM;
	jwk = json_loads(priv, 0, NULL);
	if (!jwk)
		goto fail;
	v = json_pack("{s:O}", "jwk", jwk);
	if (!v)
		goto fail;
	*out = json_dumps(v, JSON_COMPACT);
	if (*out)
		rc = 0;
fail:
	/* jansson does not clear what it frees; the private members are
	 * wiped by hand (jwk is shared with v, so once is enough). */
	if (jwk) {
		static const char *const priv_members[] = { "d", "p", "q", "dp", "dq", "qi" };
		for (size_t i = 0; i < sizeof priv_members / sizeof priv_members[0]; i++) {
			json_t *m = json_object_get(jwk, priv_members[i]);
			if (json_is_string(m))
				explicit_bzero((char *)json_string_value(m), json_string_length(m));
		}
	}
	json_decref(v);
	json_decref(jwk);
	if (priv) {
		explicit_bzero(priv, strlen(priv));
		free(priv);
	}
	return rc;
}

static void tok_recs_free(store_auth_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (recs[i].value)
			explicit_bzero(recs[i].value, strlen(recs[i].value));
		store_auth_rec_clear(&recs[i]);
	}
	free(recs);
}

/* Reads every live key record into a new ring. ERR_NOTFOUND when the
 * store holds no usable key. A record that does not parse is logged and
 * skipped: one damaged key must not stop the others from verifying. */
static int tok_ring_load(store_t *s, tok_ring **out)
{
	store_auth_rec *recs = NULL;
	size_t n = 0;
	tok_ring *r = NULL;
	int rc;

	*out = NULL;
	rc = store_auth_list(s, STORE_AUTH_KEY, &recs, &n);
	if (rc) {
		rc = ERR_DB;
		goto fail;
	}
	rc = ERR_NOMEM;
	r = calloc(1, sizeof *r);
	if (!r)
		goto fail;
	atomic_init(&r->refs, 1);
	if (n) {
		r->keys = calloc(n, sizeof *r->keys);
		r->exp_us = calloc(n, sizeof *r->exp_us);
		if (!r->keys || !r->exp_us)
			goto fail;
	}
	/* store_auth_list orders by creation: the last unexpiring record is
	 * the newest signing key. */
	for (size_t i = 0; i < n; i++) {
		jose_key *k = NULL;
		int krc = tok_key_parse(recs[i].value, &k);
		if (krc == ERR_NOMEM)
			goto fail;
		if (krc) {
			log_warn("msg=\"unusable signing key record skipped\" kid=\"%.64s\" err=%s", recs[i].key,
				 err_name(krc));
			continue;
		}
		if (strcmp(jose_key_kid(k), recs[i].key) != 0) {
			log_warn("msg=\"signing key record kid mismatch, skipped\" kid=\"%.64s\"", recs[i].key);
			jose_key_free(k);
			continue;
		}
		r->keys[r->n] = k;
		r->exp_us[r->n] = recs[i].exp_us;
		if (recs[i].exp_us == 0) {
			r->signing = k;
			r->has_unexpiring = 1;
		}
		r->n++;
	}
	if (r->n == 0) {
		rc = ERR_NOTFOUND;
		goto fail;
	}
	if (!r->signing)
		r->signing = r->keys[r->n - 1];
	*out = r;
	r = NULL;
	rc = 0;
fail:
	ring_free(r);
	tok_recs_free(recs, n);
	return rc;
}

/* Replaces the ring with what the store holds now. Callers hold
 * reload_mu (or, in auth_tokens_new, are the only user of t). On failure
 * the old ring stays. */
static int tok_reload(auth_tokens *t)
{
	tok_ring *r = NULL, *old;
	int rc = tok_ring_load(t->s, &r);
	if (rc)
		return rc;
	pthread_mutex_lock(&t->ring_mu);
	old = t->ring;
	t->ring = r;
	atomic_store(&t->loaded_at, tok_mono_s());
	pthread_mutex_unlock(&t->ring_mu);
	ring_put(old);
	return 0;
}

/* The reload policy of token.h. unknown_kid=0: the periodic reload, done
 * by whichever thread notices first while the others carry on with the
 * current ring. unknown_kid=1: a token names a kid we do not know - maybe
 * another process rotated - so reload, but at most once per 10 s, or a
 * stream of made-up kids would turn into a stream of store reads. Such
 * callers wait for a reload in progress, so that they see its result. */
static void tok_maybe_reload(auth_tokens *t, int unknown_kid)
{
	int64_t now = tok_mono_s();
	int due, rc;

	/* The common case, on every request: not due, no lock taken. */
	if (!unknown_kid && now - atomic_load(&t->loaded_at) < TOK_RELOAD_S)
		return;
	if (unknown_kid)
		pthread_mutex_lock(&t->reload_mu);
	else if (pthread_mutex_trylock(&t->reload_mu) != 0)
		return;
	pthread_mutex_lock(&t->ring_mu);
	if (unknown_kid) {
		due = t->unknown_at == 0 || now - t->unknown_at >= TOK_UNKNOWN_RELOAD_S;
		if (due)
			t->unknown_at = now;
	} else {
		due = now - atomic_load(&t->loaded_at) >= TOK_RELOAD_S;
	}
	pthread_mutex_unlock(&t->ring_mu);
	if (due) {
		rc = tok_reload(t);
		if (rc) {
			log_warn("msg=\"signing key reload failed, keeping the current keys\" err=%s", err_name(rc));
			/* try again at the next interval, not on every request */
			atomic_store(&t->loaded_at, now);
		}
	}
	pthread_mutex_unlock(&t->reload_mu);
}

/* A new key, stored (never expiring). */
static int tok_key_create(store_t *s, jose_key **out)
{
	jose_key *k = NULL;
	char *value = NULL;
	int rc;

	*out = NULL;
	rc = jose_key_generate(&k);
	if (rc)
		goto fail;
	rc = tok_key_value(k, &value);
	if (rc)
		goto fail;
	rc = store_auth_put(s, STORE_AUTH_KEY, jose_key_kid(k), NULL, value, 0, 0);
	if (rc)
		goto fail;
	*out = k;
	k = NULL;
fail:
	if (value) {
		explicit_bzero(value, strlen(value));
		free(value);
	}
	jose_key_free(k);
	return rc;
}

/* ---- lifecycle ---- */

int auth_tokens_new(store_t *s, const char *issuer, const char *aud, unsigned access_ttl_s, auth_tokens **out)
{
	auth_tokens *t = NULL;
	jose_key *k = NULL;
	int rc = ERR_NOMEM;

	*out = NULL;
	if (!s || !issuer || !aud || !*issuer || !*aud)
		return ERR_INVALID;
	t = calloc(1, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	t->s = s;
	t->access_ttl_s = access_ttl_s;
	pthread_mutex_init(&t->ring_mu, NULL);
	pthread_mutex_init(&t->reload_mu, NULL);
	pthread_mutex_init(&t->cache_mu, NULL);
	t->issuer = strdup(issuer);
	t->aud = strdup(aud);
	t->cache = calloc(TOK_CACHE_SETS * TOK_CACHE_WAYS, sizeof *t->cache);
	if (!t->issuer || !t->aud || !t->cache)
		goto fail;
	rc = tok_reload(t);
	if (rc && rc != ERR_NOTFOUND)
		goto fail;
	/* There is no built-in key: the first start makes one. The same when
	 * every stored key is on its way out (a rotation cut short). */
	if (rc == ERR_NOTFOUND || !t->ring->has_unexpiring) {
		rc = tok_key_create(s, &k);
		if (rc)
			goto fail;
		log_info("msg=\"generated a signing key\" kid=%s", jose_key_kid(k));
		jose_key_free(k);
		rc = tok_reload(t);
		if (rc)
			goto fail;
	}
	*out = t;
	t = NULL;
fail:
	auth_tokens_free(t);
	return rc;
}

void auth_tokens_free(auth_tokens *t)
{
	if (!t)
		return;
	ring_put(t->ring);
	if (t->cache) {
		for (size_t i = 0; i < TOK_CACHE_SETS * TOK_CACHE_WAYS; i++)
			auth_claims_fini(&t->cache[i].c);
		free(t->cache);
	}
	pthread_mutex_destroy(&t->ring_mu);
	pthread_mutex_destroy(&t->reload_mu);
	pthread_mutex_destroy(&t->cache_mu);
	free(t->issuer);
	free(t->aud);
	free(t);
}

const char *auth_tokens_issuer(const auth_tokens *t)
{
	return t->issuer;
}

const char *auth_tokens_aud(const auth_tokens *t)
{
	return t->aud;
}

/* ---- the verification cache ---- */

static tok_entry *cache_set(auth_tokens *t, const unsigned char h[SHA256_DIGEST_SIZE])
{
	uint32_t x = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
	return &t->cache[(x % TOK_CACHE_SETS) * TOK_CACHE_WAYS];
}

/* 0 and a copy of the claims when the token was verified before, has not
 * expired and its key is still in the ring (a key removed from the store
 * takes its tokens with it); ERR_NOTFOUND otherwise. */
static int cache_get(auth_tokens *t, const unsigned char h[SHA256_DIGEST_SIZE], int64_t now, const tok_ring *r,
		     auth_claims *out)
{
	tok_entry *set = cache_set(t, h);
	int rc = ERR_NOTFOUND;

	pthread_mutex_lock(&t->cache_mu);
	for (int w = 0; w < TOK_CACHE_WAYS; w++) {
		tok_entry *e = &set[w];
		if (!e->used || memcmp(e->h, h, sizeof e->h) != 0)
			continue;
		if (e->c.exp > now && ring_has_live(r, e->kid, now * 1000000))
			rc = tok_claims_copy(out, &e->c) == 0 ? 0 : ERR_NOTFOUND;
		break;
	}
	pthread_mutex_unlock(&t->cache_mu);
	return rc;
}

/* Remembers a verified token: into a free or expired way, else over the
 * entry that expires first. A failed copy just leaves it uncached. */
static void cache_put(auth_tokens *t, const unsigned char h[SHA256_DIGEST_SIZE], int64_t now, const char *kid,
		      const auth_claims *c)
{
	tok_entry *set = cache_set(t, h), *victim = NULL;
	size_t kl = strlen(kid);

	if (kl >= TOK_KID_MAX)
		return;
	pthread_mutex_lock(&t->cache_mu);
	for (int w = 0; w < TOK_CACHE_WAYS; w++) {
		tok_entry *e = &set[w];
		if (!e->used || memcmp(e->h, h, sizeof e->h) == 0 || e->c.exp <= now) {
			victim = e;
			break;
		}
		if (!victim || e->c.exp < victim->c.exp)
			victim = e;
	}
	tok_claims_clear(&victim->c);
	victim->used = 0;
	if (tok_claims_copy(&victim->c, c) == 0) {
		memcpy(victim->h, h, sizeof victim->h);
		memcpy(victim->kid, kid, kl + 1);
		victim->used = 1;
	} else {
		tok_claims_clear(&victim->c);
	}
	pthread_mutex_unlock(&t->cache_mu);
}

/* ---- verification ---- */

static int jstr_is(const json_t *v, const char *s)
{
	size_t n = strlen(s);
	return json_is_string(v) && json_string_length(v) == n && memcmp(json_string_value(v), s, n) == 0;
}

/* Copies a string claim into a bounded field. Absent: "" unless required.
 * Not a string, empty when required, or too long: ERR_UNAUTHORIZED. */
static int tok_str(const json_t *claims, const char *name, char *dst, size_t cap, int required)
{
	const json_t *v = json_object_get(claims, name);
	size_t n;

	dst[0] = '\0';
	if (!v)
		return required ? ERR_UNAUTHORIZED : 0;
	if (!json_is_string(v))
		return ERR_UNAUTHORIZED;
	n = json_string_length(v);
	if (n >= cap || (required && n == 0) || strlen(json_string_value(v)) != n)
		return ERR_UNAUTHORIZED;
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

/* The claim checks of token.h, after the signature: iss, aud, exp (no
 * leeway), iat/nbf (60 s), then the required claims with their types and
 * the bounds of auth_claims. Fills c (scope malloc'd). */
static int tok_claims_check(const auth_tokens *t, const json_t *j, int64_t now, auth_claims *c, const char **why)
{
	const json_t *exp = json_object_get(j, "exp"), *iat = json_object_get(j, "iat");
	const json_t *nbf = json_object_get(j, "nbf"), *scope = json_object_get(j, "scope");
	const json_t *fu = json_object_get(j, "fhirUser");
	size_t al = strlen(t->aud);

	if (!jstr_is(json_object_get(j, "iss"), t->issuer)) {
		*why = "wrong iss";
		return ERR_UNAUTHORIZED;
	}
	/* We issue aud as one string, the FHIR base URL (SMART 2.0 app
	 * launch: aud is the resource server); anything else is not ours. */
	if (!jstr_is(json_object_get(j, "aud"), t->aud)) {
		*why = "wrong aud";
		return ERR_UNAUTHORIZED;
	}
	if (!json_is_integer(exp)) {
		*why = "no exp";
		return ERR_UNAUTHORIZED;
	}
	/* RFC 7519 4.1.4: the current time MUST be before exp. */
	if (json_integer_value(exp) <= now) {
		*why = "expired";
		return ERR_UNAUTHORIZED;
	}
	if (!json_is_integer(iat) || json_integer_value(iat) > now + TOK_SKEW_S) {
		*why = "bad iat";
		return ERR_UNAUTHORIZED;
	}
	if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now + TOK_SKEW_S)) {
		*why = "not yet valid";
		return ERR_UNAUTHORIZED;
	}
	c->exp = json_integer_value(exp);
	c->iat = json_integer_value(iat);
	if (tok_str(j, "jti", c->jti, sizeof c->jti, 1) || tok_str(j, "sub", c->sub, sizeof c->sub, 1) ||
	    tok_str(j, "client_id", c->client_id, sizeof c->client_id, 1) ||
	    tok_str(j, "fam", c->fam, sizeof c->fam, 0) || tok_str(j, "patient", c->patient, sizeof c->patient, 0) ||
	    tok_str(j, "encounter", c->encounter, sizeof c->encounter, 0)) {
		*why = "bad claim";
		return ERR_UNAUTHORIZED;
	}
	if (!json_is_string(scope) || strlen(json_string_value(scope)) != json_string_length(scope)) {
		*why = "bad scope";
		return ERR_UNAUTHORIZED;
	}
	/* fhirUser travels absolute (SMART: a FHIR resource URL) and is kept
	 * relative to our base; a user on another server is not ours. */
	if (fu) {
		const char *v = json_is_string(fu) ? json_string_value(fu) : "";
		size_t n = json_is_string(fu) ? json_string_length(fu) : 0;
		if (n <= al + 1 || strlen(v) != n || memcmp(v, t->aud, al) != 0 || v[al] != '/' ||
		    n - al - 1 >= sizeof c->fhir_user) {
			*why = "bad fhirUser";
			return ERR_UNAUTHORIZED;
		}
		memcpy(c->fhir_user, v + al + 1, n - al);
	}
	c->scope = strdup(json_string_value(scope));
	return c->scope ? 0 : ERR_NOMEM;
}

/* The kid of a token's header, or "" (copied; the token is unverified). */
static void tok_peek_kid(const char *jwt, char *kid, size_t cap)
{
	json_t *h = NULL;
	kid[0] = '\0';
	if (jose_peek_header(jwt, &h) == 0) {
		const json_t *k = json_object_get(h, "kid");
		if (json_is_string(k) && json_string_length(k) < cap)
			memcpy(kid, json_string_value(k), json_string_length(k) + 1);
	}
	json_decref(h);
}

/* Signature and claims of a token not in the cache. *ring may be swapped
 * for a fresher one (unknown kid). kid receives the verifying key's kid. */
static int tok_verify_full(auth_tokens *t, tok_ring **ring, const char *jwt, int64_t now, auth_claims *c,
			   char kid[TOK_KID_MAX], const char **why)
{
	const jose_key **live = NULL;
	json_t *claims = NULL;
	size_t n = 0;
	int64_t now_us = now * 1000000;
	int rc;

	tok_peek_kid(jwt, kid, TOK_KID_MAX);
	if (kid[0] && !ring_has_live(*ring, kid, now_us)) {
		tok_ring *fresh;
		tok_maybe_reload(t, 1);
		fresh = ring_get(t);
		ring_put(*ring);
		*ring = fresh;
	}
	live = calloc((*ring)->n ? (*ring)->n : 1, sizeof *live);
	if (!live) {
		rc = ERR_NOMEM;
		goto fail;
	}
	/* Keys past their expiry no longer verify, even before the store
	 * drops them at the next reload. */
	for (size_t i = 0; i < (*ring)->n; i++)
		if (ring_live(*ring, i, now_us))
			live[n++] = (*ring)->keys[i];
	rc = jose_verify(jwt, live, n, &claims, why);
	if (rc)
		goto fail;
	rc = tok_claims_check(t, claims, now, c, why);
fail:
	json_decref(claims);
	free(live);
	return rc;
}

int auth_token_verify(auth_tokens *t, const char *jwt, auth_claims *out, const char **why)
{
	unsigned char h[SHA256_DIGEST_SIZE];
	struct sha256_ctx sha;
	char kid[TOK_KID_MAX];
	tok_ring *ring = NULL;
	int64_t now = tok_now_s();
	size_t len;
	int rc = ERR_UNAUTHORIZED, revoked = 0;

	memset(out, 0, sizeof *out);
	*why = "";
	if (!jwt) {
		*why = "no token";
		goto fail;
	}
	len = strnlen(jwt, TOK_MAX_LEN + 1);
	if (len > TOK_MAX_LEN) {
		*why = "token too large";
		goto fail;
	}
	sha256_init(&sha);
	sha256_update(&sha, len, (const uint8_t *)jwt);
	sha256_digest(&sha, sizeof h, h);

	tok_maybe_reload(t, 0);
	ring = ring_get(t);
	if (cache_get(t, h, now, ring, out) != 0) {
		rc = tok_verify_full(t, &ring, jwt, now, out, kid, why);
		if (rc)
			goto fail;
		cache_put(t, h, now, kid, out);
	}
	/* Every call, cached or not: a revoked token or grant stops working
	 * at once (RFC 7009 2.2). A failed check fails closed. */
	if (store_auth_revoked(t->s, out->jti, out->fam[0] ? out->fam : NULL, &revoked) != 0) {
		*why = "revocation check failed";
		rc = ERR_DB;
		goto fail;
	}
	if (revoked) {
		*why = "revoked";
		rc = ERR_UNAUTHORIZED;
		goto fail;
	}
	ring_put(ring);
	return 0;
fail:
	ring_put(ring);
	tok_claims_clear(out);
	return rc;
}

/* ---- issuing ---- */

/* aud + "/" + rel, malloc'd. */
static char *tok_abs_url(const char *aud, const char *rel)
{
	size_t a = strlen(aud), r = strlen(rel);
	char *s = malloc(a + r + 2);
	if (!s)
		return NULL;
	memcpy(s, aud, a);
	s[a] = '/';
	memcpy(s + a + 1, rel, r + 1);
	return s;
}

static int tok_set_str(json_t *o, const char *name, const char *v)
{
	return json_object_set_new(o, name, json_string(v)) == 0 ? 0 : ERR_NOMEM;
}

/* Signs claims with the current signing key. */
static int tok_sign(auth_tokens *t, const json_t *claims, char **jwt)
{
	tok_ring *ring;
	int rc;

	tok_maybe_reload(t, 0);
	ring = ring_get(t);
	rc = ring && ring->signing ? jose_sign(ring->signing, claims, jwt) : ERR_INTERNAL;
	ring_put(ring);
	return rc;
}

int auth_token_issue(auth_tokens *t, auth_claims *c, char **jwt)
{
	json_t *j = NULL;
	char *fu = NULL;
	int rc;

	*jwt = NULL;
	if (!c->jti[0]) {
		rc = jose_random_token(16, c->jti, sizeof c->jti);
		if (rc)
			goto fail;
	}
	rc = ERR_NOMEM;
	j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "iss", t->issuer, "aud", t->aud, "sub", c->sub, "exp",
		      (json_int_t)c->exp, "iat", (json_int_t)c->iat, "jti", c->jti, "client_id", c->client_id, "scope",
		      c->scope ? c->scope : "");
	if (!j)
		goto fail;
	if (c->patient[0] && tok_set_str(j, "patient", c->patient))
		goto fail;
	if (c->encounter[0] && tok_set_str(j, "encounter", c->encounter))
		goto fail;
	if (c->fhir_user[0]) {
		fu = tok_abs_url(t->aud, c->fhir_user);
		if (!fu || tok_set_str(j, "fhirUser", fu))
			goto fail;
	}
	if (c->fam[0] && tok_set_str(j, "fam", c->fam))
		goto fail;
	rc = tok_sign(t, j, jwt);
fail:
	free(fu);
	json_decref(j);
	return rc;
}

int auth_token_id_token(auth_tokens *t, const auth_claims *c, const char *nonce, char **jwt)
{
	json_t *j = NULL;
	char *fu = NULL;
	int rc = ERR_NOMEM;

	*jwt = NULL;
	/* OpenID Connect Core 2 / SMART scopes-and-launch-context: aud is the
	 * client, fhirUser an absolute URL, nonce echoed as sent. */
	j = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", t->issuer, "sub", c->sub, "aud", c->client_id, "exp",
		      (json_int_t)c->exp, "iat", (json_int_t)c->iat);
	if (!j)
		goto fail;
	if (c->fhir_user[0]) {
		fu = tok_abs_url(t->aud, c->fhir_user);
		if (!fu || tok_set_str(j, "fhirUser", fu))
			goto fail;
	}
	if (nonce && tok_set_str(j, "nonce", nonce))
		goto fail;
	rc = tok_sign(t, j, jwt);
fail:
	free(fu);
	json_decref(j);
	return rc;
}

int auth_tokens_jwks(auth_tokens *t, char **json, size_t *len)
{
	json_t *keys = NULL, *set = NULL, *pub;
	tok_ring *ring;
	int64_t now_us = tok_now_us();
	int rc = ERR_NOMEM;

	*json = NULL;
	*len = 0;
	tok_maybe_reload(t, 0);
	ring = ring_get(t);
	keys = json_array();
	if (!keys || !ring)
		goto fail;
	for (size_t i = 0; i < ring->n; i++) {
		if (!ring_live(ring, i, now_us))
			continue;
		rc = jose_key_public(ring->keys[i], &pub);
		if (rc)
			goto fail;
		rc = ERR_NOMEM;
		if (json_array_append_new(keys, pub))
			goto fail;
	}
	set = json_pack("{s:O}", "keys", keys);
	if (!set)
		goto fail;
	*json = json_dumps(set, JSON_COMPACT);
	if (!*json)
		goto fail;
	*len = strlen(*json);
	rc = 0;
fail:
	json_decref(set);
	json_decref(keys);
	ring_put(ring);
	return rc;
}

int auth_keys_rotate(store_t *s, unsigned access_ttl_s, char *new_kid, size_t cap)
{
	store_auth_rec *recs = NULL;
	size_t n = 0, kl;
	jose_key *k = NULL;
	int64_t exp_us;
	int rc;

	/* Checked before anything changes; jose_key_generate's kids are the
	 * base64url of 16 random octets, 22 characters. */
	if (!new_kid || cap < TOK_GEN_KID_LEN + 1)
		return ERR_TOOBIG;
	rc = store_auth_list(s, STORE_AUTH_KEY, &recs, &n);
	if (rc) {
		rc = ERR_DB;
		goto fail;
	}
	/* The new key first, so that there is never a moment without an
	 * unexpiring signing key. */
	rc = tok_key_create(s, &k);
	if (rc)
		goto fail;
	/* Old keys keep verifying the tokens they signed until the longest
	 * of those has expired (plus a minute of clock skew), then vanish. */
	exp_us = tok_now_us() + ((int64_t)access_ttl_s + 60) * 1000000;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].exp_us != 0)
			continue;
		rc = store_auth_put(s, STORE_AUTH_KEY, recs[i].key, recs[i].family[0] ? recs[i].family : NULL,
				    recs[i].value, exp_us, 1);
		if (rc)
			goto fail;
	}
	kl = strlen(jose_key_kid(k));
	if (kl >= cap) {
		rc = ERR_INTERNAL;
		goto fail;
	}
	memcpy(new_kid, jose_key_kid(k), kl + 1);
	rc = 0;
fail:
	jose_key_free(k);
	tok_recs_free(recs, n);
	return rc;
}
