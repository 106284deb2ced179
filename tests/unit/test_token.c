/*
 * test_token.c - the server's signing keys and tokens (auth/token.h) on a
 * real store in a temporary directory: the first start generates a key
 * and later starts reuse it; access tokens round-trip every claim; the
 * checks of token.h (iss, aud, exp without leeway, iat/nbf with 60 s,
 * claim types and sizes, fhirUser on our base) each reject a token that
 * is otherwise valid and correctly signed; revocation of a jti or a grant
 * family applies on the very next call even when the token was cached;
 * rotation keeps old tokens verifying, signs new ones with the new key,
 * publishes both in the JWKS, and is noticed by another auth_tokens on
 * the same store through its unknown-kid reload; id_token claims.
 */
#include "auth/jose.h"
#include "auth/token.h"
#include "core/err.h"
#include "store/store.h"

#include <nettle/base64.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define ISS "https://fhir.example.org/auth"
#define AUD "https://fhir.example.org/r4"
#define TTL 3600

struct fixture {
	char dir[64];
	char path[96];
	store_t *s;
	auth_tokens *t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	store_options o = { 0 };
	snprintf(f->dir, sizeof f->dir, "/tmp/fhird-token-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	o.path = f->path;
	o.readers = 4;
	o.write_batch_max = 64;
	assert_int_equal(store_open(&o, &f->s), 0);
	assert_int_equal(auth_tokens_new(f->s, ISS, AUD, TTL, &f->t), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];
	auth_tokens_free(f->t);
	store_close(f->s);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* Claims with every member set. */
static auth_claims full_claims(void)
{
	auth_claims c;
	memset(&c, 0, sizeof c);
	snprintf(c.client_id, sizeof c.client_id, "app-1");
	snprintf(c.sub, sizeof c.sub, "alice");
	snprintf(c.fhir_user, sizeof c.fhir_user, "Practitioner/p-9");
	snprintf(c.patient, sizeof c.patient, "85");
	snprintf(c.encounter, sizeof c.encounter, "enc-1");
	snprintf(c.fam, sizeof c.fam, "fam-abc");
	c.scope = strdup("launch openid fhirUser patient/*.rs");
	c.iat = now_s();
	c.exp = c.iat + 300;
	return c;
}

static char *issue(auth_tokens *t, auth_claims *c)
{
	char *jwt = NULL;
	assert_int_equal(auth_token_issue(t, c, &jwt), 0);
	assert_non_null(jwt);
	return jwt;
}

static const char *why;

static void verify_ok(auth_tokens *t, const char *jwt, auth_claims *out)
{
	int rc = auth_token_verify(t, jwt, out, &why);
	if (rc != 0)
		fail_msg("expected a valid token, got %d (%s)", rc, why);
}

static void verify_bad(auth_tokens *t, const char *jwt, const char *sub)
{
	auth_claims out;
	int rc = auth_token_verify(t, jwt, &out, &why);
	if (rc != ERR_UNAUTHORIZED)
		fail_msg("expected rejection (%s), got %d", sub ? sub : "", rc);
	assert_null(out.scope);
	assert_string_equal(out.jti, "");
	if (sub && !strstr(why, sub))
		fail_msg("reason \"%s\" lacks \"%s\"", why, sub);
}

/* Part i (0 header, 1 payload) of a compact JWS, decoded and parsed. */
static json_t *part(const char *jwt, int i)
{
	const char *a = jwt, *b;
	for (int k = 0; k < i; k++)
		a = strchr(a, '.') + 1;
	b = strchr(a, '.');
	size_t n = (size_t)(b - a), m = n;
	char *in = malloc(n + 3);
	uint8_t *raw = malloc(n + 3);
	struct base64_decode_ctx ctx;
	memcpy(in, a, n);
	while (n % 4)
		in[n++] = '=';
	base64url_decode_init(&ctx);
	m = n;
	assert_true(base64_decode_update(&ctx, &m, raw, n, in));
	assert_true(base64_decode_final(&ctx));
	json_t *j = json_loadb((const char *)raw, m, 0, NULL);
	assert_non_null(j);
	free(in);
	free(raw);
	return j;
}

static char *header_kid(const char *jwt)
{
	json_t *h = part(jwt, 0);
	char *kid = strdup(json_string_value(json_object_get(h, "kid")));
	json_decref(h);
	return kid;
}

/* The stored key named kid, as a jose_key (to sign hand-made tokens). */
static jose_key *stored_key(store_t *s, const char *kid)
{
	store_auth_rec r;
	jose_key *k = NULL;
	memset(&r, 0, sizeof r);
	assert_int_equal(store_auth_get(s, STORE_AUTH_KEY, kid, &r), 0);
	json_t *v = json_loads(r.value, 0, NULL);
	char *txt = json_dumps(json_object_get(v, "jwk"), 0);
	assert_int_equal(jose_key_from_private_json(txt, &k), 0);
	free(txt);
	json_decref(v);
	store_auth_rec_clear(&r);
	return k;
}

static size_t key_count(store_t *s)
{
	store_auth_rec *recs = NULL;
	size_t n = 0;
	assert_int_equal(store_auth_list(s, STORE_AUTH_KEY, &recs, &n), 0);
	for (size_t i = 0; i < n; i++)
		store_auth_rec_clear(&recs[i]);
	free(recs);
	return n;
}

/* A correctly signed token with the fixture's key and these claims. */
static char *sign_claims(struct fixture *f, json_t *claims)
{
	auth_claims c = full_claims();
	char *jwt = issue(f->t, &c), *kid = header_kid(jwt), *out = NULL;
	jose_key *k = stored_key(f->s, kid);
	assert_int_equal(jose_sign(k, claims, &out), 0);
	jose_key_free(k);
	free(kid);
	free(jwt);
	auth_claims_fini(&c);
	return out;
}

static json_t *base_claims(void)
{
	int64_t now = now_s();
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "iss", ISS, "aud", AUD, "sub", "alice", "exp",
			 (json_int_t)(now + 300), "iat", (json_int_t)now, "jti", "jti-hand-1", "client_id", "app-1", "scope",
			 "patient/*.rs");
}

/* ---- tests ---- */

static void test_first_start_key(void **state)
{
	struct fixture *f = *state;
	auth_tokens *t2 = NULL;
	store_auth_rec *recs = NULL;
	size_t n = 0;
	char *j1 = NULL, *j2 = NULL;
	size_t l1, l2;

	/* the fixture's first start generated exactly one key, stored as
	 * {"jwk": private JWK}, never expiring */
	assert_int_equal(store_auth_list(f->s, STORE_AUTH_KEY, &recs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].exp_us, 0);
	json_t *v = json_loads(recs[0].value, 0, NULL);
	assert_non_null(json_object_get(json_object_get(v, "jwk"), "d"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "jwk"), "kid")), recs[0].key);
	json_decref(v);

	/* a second start reuses it */
	assert_int_equal(auth_tokens_new(f->s, ISS, AUD, TTL, &t2), 0);
	assert_int_equal(key_count(f->s), 1);
	assert_int_equal(auth_tokens_jwks(f->t, &j1, &l1), 0);
	assert_int_equal(auth_tokens_jwks(t2, &j2, &l2), 0);
	assert_string_equal(j1, j2);
	assert_int_equal(l1, strlen(j1));
	/* the JWKS is public: the one key, no private members */
	json_t *set = json_loads(j1, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(set, "keys")), 1);
	json_t *k0 = json_array_get(json_object_get(set, "keys"), 0);
	assert_string_equal(json_string_value(json_object_get(k0, "kid")), recs[0].key);
	assert_null(json_object_get(k0, "d"));
	assert_null(json_object_get(k0, "p"));
	json_decref(set);

	/* and a token from one verifies on the other */
	auth_claims c = full_claims(), out;
	char *jwt = issue(f->t, &c);
	verify_ok(t2, jwt, &out);
	auth_claims_fini(&out);
	auth_claims_fini(&c);
	free(jwt);

	assert_string_equal(auth_tokens_issuer(t2), ISS);
	assert_string_equal(auth_tokens_aud(t2), AUD);
	for (size_t i = 0; i < n; i++)
		store_auth_rec_clear(&recs[i]);
	free(recs);
	free(j1);
	free(j2);
	auth_tokens_free(t2);
	auth_tokens_free(NULL);
}

static void test_issue_verify_all_claims(void **state)
{
	struct fixture *f = *state;
	auth_claims c = full_claims(), out;
	char *jwt = issue(f->t, &c);

	/* jti generated when empty: 16 random octets, base64url */
	assert_int_equal(strlen(c.jti), 22);

	/* what travels: absolute fhirUser, aud the FHIR base, RS256 + kid */
	json_t *p = part(jwt, 1), *h = part(jwt, 0);
	assert_string_equal(json_string_value(json_object_get(p, "iss")), ISS);
	assert_string_equal(json_string_value(json_object_get(p, "aud")), AUD);
	assert_string_equal(json_string_value(json_object_get(p, "fhirUser")), AUD "/Practitioner/p-9");
	assert_string_equal(json_string_value(json_object_get(p, "jti")), c.jti);
	assert_string_equal(json_string_value(json_object_get(p, "client_id")), "app-1");
	assert_string_equal(json_string_value(json_object_get(p, "patient")), "85");
	assert_string_equal(json_string_value(json_object_get(p, "encounter")), "enc-1");
	assert_string_equal(json_string_value(json_object_get(p, "fam")), "fam-abc");
	assert_int_equal(json_integer_value(json_object_get(p, "exp")), c.exp);
	assert_int_equal(json_integer_value(json_object_get(p, "iat")), c.iat);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
	assert_non_null(json_object_get(h, "kid"));
	json_decref(p);
	json_decref(h);

	/* twice: the first verifies, the second comes from the cache */
	for (int round = 0; round < 2; round++) {
		verify_ok(f->t, jwt, &out);
		assert_string_equal(out.jti, c.jti);
		assert_string_equal(out.fam, "fam-abc");
		assert_string_equal(out.client_id, "app-1");
		assert_string_equal(out.sub, "alice");
		assert_string_equal(out.fhir_user, "Practitioner/p-9");
		assert_string_equal(out.patient, "85");
		assert_string_equal(out.encounter, "enc-1");
		assert_string_equal(out.scope, c.scope);
		assert_int_equal(out.iat, c.iat);
		assert_int_equal(out.exp, c.exp);
		auth_claims_fini(&out);
		assert_null(out.scope);
	}
	free(jwt);

	/* optional claims absent: not in the token, "" after verify; a jti
	 * given by the caller is kept */
	auth_claims m;
	memset(&m, 0, sizeof m);
	snprintf(m.client_id, sizeof m.client_id, "backend-1");
	snprintf(m.sub, sizeof m.sub, "backend-1");
	snprintf(m.jti, sizeof m.jti, "my-jti");
	m.scope = strdup("system/Observation.rs");
	m.iat = now_s();
	m.exp = m.iat + 60;
	jwt = issue(f->t, &m);
	p = part(jwt, 1);
	assert_null(json_object_get(p, "fhirUser"));
	assert_null(json_object_get(p, "patient"));
	assert_null(json_object_get(p, "encounter"));
	assert_null(json_object_get(p, "fam"));
	json_decref(p);
	verify_ok(f->t, jwt, &out);
	assert_string_equal(out.jti, "my-jti");
	assert_string_equal(out.fhir_user, "");
	assert_string_equal(out.patient, "");
	assert_string_equal(out.fam, "");
	assert_string_equal(out.scope, "system/Observation.rs");
	auth_claims_fini(&out);
	free(jwt);
	auth_claims_fini(&m);
	auth_claims_fini(&c);
}

static void test_expiry_and_times(void **state)
{
	struct fixture *f = *state;
	auth_claims c = full_claims(), out;
	char *jwt;
	int64_t now = now_s();

	/* exp in the past, and exp == now: no leeway on exp */
	c.exp = now - 1;
	jwt = issue(f->t, &c);
	verify_bad(f->t, jwt, "expired");
	free(jwt);
	c.jti[0] = '\0';
	c.exp = now;
	jwt = issue(f->t, &c);
	verify_bad(f->t, jwt, "expired");
	free(jwt);
	/* iat 2 minutes ahead: refused; 30 s ahead: within the leeway */
	c.jti[0] = '\0';
	c.exp = now + 600;
	c.iat = now + 120;
	jwt = issue(f->t, &c);
	verify_bad(f->t, jwt, "iat");
	free(jwt);
	c.jti[0] = '\0';
	c.iat = now + 30;
	jwt = issue(f->t, &c);
	verify_ok(f->t, jwt, &out);
	auth_claims_fini(&out);
	free(jwt);
	auth_claims_fini(&c);

	/* nbf ahead, by hand */
	json_t *cl = base_claims();
	json_object_set_new(cl, "nbf", json_integer(now + 300));
	jwt = sign_claims(f, cl);
	verify_bad(f->t, jwt, "not yet");
	free(jwt);
	json_decref(cl);
}

static void test_wrong_aud_iss(void **state)
{
	struct fixture *f = *state;
	auth_tokens *other_aud = NULL, *other_iss = NULL;
	auth_claims c = full_claims(), out;
	char *jwt;

	/* same store, so the same key: only the claim differs */
	assert_int_equal(auth_tokens_new(f->s, ISS, "https://other.example.org/r4", TTL, &other_aud), 0);
	assert_int_equal(auth_tokens_new(f->s, "https://evil.example.org/auth", AUD, TTL, &other_iss), 0);
	assert_int_equal(key_count(f->s), 1);

	jwt = issue(other_aud, &c);
	verify_ok(other_aud, jwt, &out);
	auth_claims_fini(&out);
	verify_bad(f->t, jwt, "aud");
	free(jwt);

	c.jti[0] = '\0';
	jwt = issue(other_iss, &c);
	verify_bad(f->t, jwt, "iss");
	free(jwt);

	/* aud as an array, aud a prefix of ours, fhirUser on another base */
	json_t *cl = base_claims();
	json_object_set_new(cl, "aud", json_pack("[s]", AUD));
	jwt = sign_claims(f, cl);
	verify_bad(f->t, jwt, "aud");
	free(jwt);
	json_object_set_new(cl, "aud", json_string("https://fhir.example.org/r"));
	jwt = sign_claims(f, cl);
	verify_bad(f->t, jwt, "aud");
	free(jwt);
	json_object_set_new(cl, "aud", json_string(AUD));
	json_object_set_new(cl, "fhirUser", json_string("https://other.example.org/r4/Patient/1"));
	jwt = sign_claims(f, cl);
	verify_bad(f->t, jwt, "fhirUser");
	free(jwt);
	json_object_set_new(cl, "fhirUser", json_string(AUD "Patient/1"));
	jwt = sign_claims(f, cl);
	verify_bad(f->t, jwt, "fhirUser");
	free(jwt);
	json_object_set_new(cl, "fhirUser", json_string(AUD "/"));
	jwt = sign_claims(f, cl);
	verify_bad(f->t, jwt, "fhirUser");
	free(jwt);
	/* control: the hand-made token with our claims verifies */
	json_object_set_new(cl, "fhirUser", json_string(AUD "/Patient/1"));
	jwt = sign_claims(f, cl);
	verify_ok(f->t, jwt, &out);
	assert_string_equal(out.fhir_user, "Patient/1");
	auth_claims_fini(&out);
	free(jwt);
	json_decref(cl);

	auth_claims_fini(&c);
	auth_tokens_free(other_aud);
	auth_tokens_free(other_iss);
}

static void test_claim_types_and_sizes(void **state)
{
	struct fixture *f = *state;
	char big[200];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	struct {
		const char *name;
		json_t *value; /* NULL: removed */
	} cases[] = {
		{ "jti", NULL },
		{ "jti", json_integer(5) },
		{ "jti", json_string("") },
		{ "jti", json_stringn(big, 48) },
		{ "sub", NULL },
		{ "client_id", NULL },
		{ "client_id", json_stringn(big, 129) },
		{ "scope", NULL },
		{ "scope", json_pack("[s]", "patient/*.rs") },
		{ "exp", NULL },
		{ "exp", json_string("9999999999") },
		{ "exp", json_real(9999999999.0) },
		{ "iat", NULL },
		{ "iss", NULL },
		{ "aud", NULL },
		{ "patient", json_integer(85) },
		{ "patient", json_stringn(big, 65) },
		{ "encounter", json_stringn(big, 65) },
		{ "fam", json_stringn(big, 48) },
		{ "fhirUser", json_integer(1) },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *cl = base_claims();
		if (cases[i].value)
			json_object_set_new(cl, cases[i].name, cases[i].value);
		else
			json_object_del(cl, cases[i].name);
		char *jwt = sign_claims(f, cl);
		verify_bad(f->t, jwt, NULL);
		free(jwt);
		json_decref(cl);
	}
	/* at the bounds: accepted */
	json_t *cl = base_claims();
	json_object_set_new(cl, "jti", json_stringn(big, 47));
	json_object_set_new(cl, "patient", json_stringn(big, 64));
	auth_claims out;
	char *jwt = sign_claims(f, cl);
	verify_ok(f->t, jwt, &out);
	assert_int_equal(strlen(out.jti), 47);
	auth_claims_fini(&out);
	free(jwt);
	json_decref(cl);
}

static void test_garbage_and_foreign_keys(void **state)
{
	struct fixture *f = *state;
	jose_key *foreign = NULL;
	json_t *cl = base_claims();
	char *jwt = NULL;

	verify_bad(f->t, NULL, NULL);
	verify_bad(f->t, "", NULL);
	verify_bad(f->t, "not.a.token", NULL);
	char *huge = malloc(20000);
	memset(huge, 'a', 19999);
	huge[19999] = '\0';
	verify_bad(f->t, huge, "too large");
	free(huge);

	/* right claims, a key that is not ours (an unknown kid: one reload,
	 * still unknown) */
	assert_int_equal(jose_key_generate(&foreign), 0);
	assert_int_equal(jose_sign(foreign, cl, &jwt), 0);
	verify_bad(f->t, jwt, "unknown kid");
	verify_bad(f->t, jwt, "unknown kid");
	free(jwt);
	jose_key_free(foreign);

	/* a verified, cached token altered by one character is not served
	 * from the cache */
	auth_claims c = full_claims(), out;
	jwt = issue(f->t, &c);
	verify_ok(f->t, jwt, &out);
	auth_claims_fini(&out);
	char *dot = strchr(jwt, '.');
	dot[5] = dot[5] == 'A' ? 'B' : 'A';
	verify_bad(f->t, jwt, NULL);
	free(jwt);
	auth_claims_fini(&c);
	json_decref(cl);
}

static void test_revocation(void **state)
{
	struct fixture *f = *state;
	auth_claims c = full_claims(), out;
	char *jwt = issue(f->t, &c), *jwt2, *jwt3;

	verify_ok(f->t, jwt, &out); /* now cached */
	auth_claims_fini(&out);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REVOKED, c.jti, NULL, "{}", 0, 1), 0);
	verify_bad(f->t, jwt, "revoked");
	verify_bad(f->t, jwt, "revoked");
	free(jwt);

	/* the grant family: every token of the grant, cached or not */
	c.jti[0] = '\0';
	snprintf(c.fam, sizeof c.fam, "fam-2");
	jwt = issue(f->t, &c);
	c.jti[0] = '\0';
	jwt2 = issue(f->t, &c);
	/* a token of another family, and one without a family */
	c.jti[0] = '\0';
	snprintf(c.fam, sizeof c.fam, "fam-3");
	jwt3 = issue(f->t, &c);
	verify_ok(f->t, jwt, &out);
	auth_claims_fini(&out);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REVOKED, "fam-2", NULL, "{}", 0, 1), 0);
	verify_bad(f->t, jwt, "revoked");
	verify_bad(f->t, jwt2, "revoked");
	verify_ok(f->t, jwt3, &out);
	auth_claims_fini(&out);
	c.jti[0] = '\0';
	c.fam[0] = '\0';
	char *jwt4 = issue(f->t, &c);
	verify_ok(f->t, jwt4, &out);
	auth_claims_fini(&out);

	free(jwt);
	free(jwt2);
	free(jwt3);
	free(jwt4);
	auth_claims_fini(&c);
}

static int kid_in_jwks(auth_tokens *t, const char *kid)
{
	char *json = NULL;
	size_t len;
	int found = 0;
	assert_int_equal(auth_tokens_jwks(t, &json, &len), 0);
	json_t *set = json_loads(json, 0, NULL), *k;
	size_t i;
	json_array_foreach(json_object_get(set, "keys"), i, k) found |=
		strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0;
	json_decref(set);
	free(json);
	return found;
}

static void test_rotation(void **state)
{
	struct fixture *f = *state;
	auth_claims c = full_claims(), out;
	auth_tokens *t2 = NULL;
	char new_kid[64], small[8];
	char *old = issue(f->t, &c), *old_kid = header_kid(old), *jwt, *kid;

	assert_int_equal(auth_keys_rotate(f->s, TTL, small, sizeof small), ERR_TOOBIG);
	assert_int_equal(key_count(f->s), 1);
	assert_int_equal(auth_keys_rotate(f->s, TTL, new_kid, sizeof new_kid), 0);
	assert_string_not_equal(new_kid, old_kid);

	/* the old key expires one token lifetime (+60 s) from now, the new
	 * one never */
	store_auth_rec r;
	memset(&r, 0, sizeof r);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_KEY, old_kid, &r), 0);
	int64_t expect = (now_s() + TTL + 60) * 1000000;
	assert_true(r.exp_us > expect - 5000000 && r.exp_us <= expect + 1000000);
	store_auth_rec_clear(&r);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_KEY, new_kid, &r), 0);
	assert_int_equal(r.exp_us, 0);
	store_auth_rec_clear(&r);

	/* a process started after the rotation: signs with the new key,
	 * still verifies the old token, publishes both */
	assert_int_equal(auth_tokens_new(f->s, ISS, AUD, TTL, &t2), 0);
	assert_int_equal(key_count(f->s), 2);
	c.jti[0] = '\0';
	jwt = issue(t2, &c);
	kid = header_kid(jwt);
	assert_string_equal(kid, new_kid);
	free(kid);
	verify_ok(t2, old, &out);
	auth_claims_fini(&out);
	assert_true(kid_in_jwks(t2, old_kid));
	assert_true(kid_in_jwks(t2, new_kid));

	/* the process that was running: its old token still verifies; a
	 * token with the new kid makes it reload, after which it signs with
	 * the new key and publishes both */
	verify_ok(f->t, old, &out);
	auth_claims_fini(&out);
	verify_ok(f->t, jwt, &out);
	auth_claims_fini(&out);
	free(jwt);
	c.jti[0] = '\0';
	jwt = issue(f->t, &c);
	kid = header_kid(jwt);
	assert_string_equal(kid, new_kid);
	free(kid);
	free(jwt);
	assert_true(kid_in_jwks(f->t, old_kid));
	assert_true(kid_in_jwks(f->t, new_kid));

	/* a second rotation does not push the first old key's expiry back */
	char kid3[64];
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_KEY, old_kid, &r), 0);
	int64_t old_exp = r.exp_us;
	store_auth_rec_clear(&r);
	assert_int_equal(auth_keys_rotate(f->s, TTL, kid3, sizeof kid3), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_KEY, old_kid, &r), 0);
	assert_int_equal(r.exp_us, old_exp);
	store_auth_rec_clear(&r);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_KEY, new_kid, &r), 0);
	assert_true(r.exp_us > 0);
	store_auth_rec_clear(&r);

	free(old);
	free(old_kid);
	auth_claims_fini(&c);
	auth_tokens_free(t2);
}

static void test_id_token(void **state)
{
	struct fixture *f = *state;
	auth_claims c = full_claims();
	char *jwt = NULL, *kid;
	json_t *claims = NULL;

	assert_int_equal(auth_token_id_token(f->t, &c, "n-0S6_WzA2Mj", &jwt), 0);
	/* signed with our key, RS256 */
	kid = header_kid(jwt);
	jose_key *k = stored_key(f->s, kid);
	const jose_key *keys[] = { k };
	assert_int_equal(jose_verify(jwt, keys, 1, &claims, &why), 0);
	assert_string_equal(json_string_value(json_object_get(claims, "iss")), ISS);
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), "alice");
	assert_string_equal(json_string_value(json_object_get(claims, "aud")), "app-1");
	assert_string_equal(json_string_value(json_object_get(claims, "fhirUser")), AUD "/Practitioner/p-9");
	assert_string_equal(json_string_value(json_object_get(claims, "nonce")), "n-0S6_WzA2Mj");
	assert_int_equal(json_integer_value(json_object_get(claims, "exp")), c.exp);
	assert_int_equal(json_integer_value(json_object_get(claims, "iat")), c.iat);
	/* not an access token: no scope, no aud of the FHIR server */
	assert_null(json_object_get(claims, "scope"));
	json_decref(claims);
	free(jwt);
	/* an id_token is not accepted as an access token (aud is the client) */
	assert_int_equal(auth_token_id_token(f->t, &c, NULL, &jwt), 0);
	json_t *p = part(jwt, 1);
	assert_null(json_object_get(p, "nonce"));
	json_decref(p);
	verify_bad(f->t, jwt, "aud");
	free(jwt);
	jose_key_free(k);
	free(kid);
	auth_claims_fini(&c);
}

struct worker {
	auth_tokens *t;
	char **tokens;
	size_t n;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < w->n; i++) {
			auth_claims out;
			const char *y;
			if (auth_token_verify(w->t, w->tokens[i], &out, &y) != 0)
				w->failures++;
			auth_claims_fini(&out);
		}
	}
	return NULL;
}

/* Several threads verifying the same tokens at once (run under ASan and
 * TSan builds to see the cache and the ring shared safely). */
static void test_concurrent_verify(void **state)
{
	struct fixture *f = *state;
	char *tokens[8];
	pthread_t th[4];
	struct worker w[4];
	for (size_t i = 0; i < 8; i++) {
		auth_claims c = full_claims();
		tokens[i] = issue(f->t, &c);
		auth_claims_fini(&c);
	}
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ f->t, tokens, 8, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	for (size_t i = 0; i < 8; i++)
		free(tokens[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_start_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_verify_all_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_and_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_aud_iss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_types_and_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_and_foreign_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revocation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_verify, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
