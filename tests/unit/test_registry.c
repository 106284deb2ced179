/*
 * test_registry.c - clients, users and launch values (auth/registry.h) on
 * a real store: registration checks, the confidential secret shown once
 * and checked in constant time, exact redirect URI matching, CORS origins,
 * password logins (unknown users cost the same argon2 work) and EHR
 * launch records.
 */
#include "auth/jose.h"
#include "auth/registry.h"
#include "core/err.h"
#include "store/store.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
	char dir[64];
	char path[96];
	store_t *s;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	store_options o = { 0 };
	snprintf(f->dir, sizeof f->dir, "/tmp/fhird-reg-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	o.path = f->path;
	o.readers = 2;
	assert_int_equal(store_open(&o, &f->s), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];
	store_close(f->s);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* A client description over caller-owned strings (not to be fini'd). */
static auth_client mk(const char *id, enum auth_client_type type, char **uris, size_t n, const char *scope)
{
	auth_client c;
	memset(&c, 0, sizeof c);
	snprintf(c.id, sizeof c.id, "%s", id);
	c.type = type;
	c.redirect_uris = uris;
	c.nredirect = n;
	c.scope = (char *)scope;
	return c;
}

static int add(store_t *s, const auth_client *c)
{
	char secret[64];
	return auth_client_add(s, c, secret, sizeof secret);
}

static void test_client_add_get_remove(void **state)
{
	struct fixture *f = *state;
	char *uris[] = { "https://app.example.com/cb", "https://APP.example.com:443/other",
			 "http://localhost:9000/cb?x=1", "https://app.example.com:8443/cb" };
	auth_client c = mk("my-app_1.0~x", AUTH_CLIENT_PUBLIC, uris, 4, "launch openid fhirUser patient/*.rs");
	auth_client got;
	char secret[64] = "junk";

	c.name = "My App";
	c.launch_url = "https://app.example.com/launch";
	assert_int_equal(auth_client_add(f->s, &c, secret, sizeof secret), 0);
	assert_string_equal(secret, ""); /* public: no secret */
	assert_int_equal(add(f->s, &c), ERR_CONFLICT);

	assert_int_equal(auth_client_get(f->s, "my-app_1.0~x", &got), 0);
	assert_string_equal(got.id, "my-app_1.0~x");
	assert_int_equal(got.type, AUTH_CLIENT_PUBLIC);
	assert_string_equal(got.name, "My App");
	assert_string_equal(got.scope, "launch openid fhirUser patient/*.rs");
	assert_string_equal(got.launch_url, "https://app.example.com/launch");
	assert_null(got.jwks);
	assert_null(got.jwks_url);
	assert_string_equal(got.secret_hash, "");
	assert_int_equal(got.nredirect, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(got.redirect_uris[i], uris[i]);
	/* origins: lowercase, default port dropped, each once, in order */
	assert_int_equal(got.norigins, 3);
	assert_string_equal(got.origins[0], "https://app.example.com");
	assert_string_equal(got.origins[1], "http://localhost:9000");
	assert_string_equal(got.origins[2], "https://app.example.com:8443");
	auth_client_fini(&got);
	auth_client_fini(&got); /* fini twice is harmless */

	assert_int_equal(auth_client_remove(f->s, "my-app_1.0~x"), 0);
	assert_int_equal(auth_client_get(f->s, "my-app_1.0~x", &got), ERR_NOTFOUND);
	assert_int_equal(auth_client_remove(f->s, "my-app_1.0~x"), ERR_NOTFOUND);
	assert_int_equal(auth_client_get(f->s, "no such/id", &got), ERR_NOTFOUND);
	/* removed: the id can be registered again */
	assert_int_equal(add(f->s, &c), 0);
}

static void test_client_invalid(void **state)
{
	struct fixture *f = *state;
	char *ok_uri[] = { "https://app.example.com/cb" };
	char id129[130];
	auth_client c;
	json_t *priv, *pub;

	const char *bad_ids[] = { "", "has space", "a/b", "a:b", "é", "a\tb" };
	for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
		c = mk(bad_ids[i], AUTH_CLIENT_PUBLIC, ok_uri, 1, "openid");
		assert_int_equal(add(f->s, &c), ERR_INVALID);
	}
	memset(id129, 'a', 129);
	id129[129] = '\0';
	c = mk("", AUTH_CLIENT_PUBLIC, ok_uri, 1, "openid");
	memcpy(c.id, id129, 128); /* 128: the maximum */
	c.id[128] = '\0';
	assert_int_equal(add(f->s, &c), 0);

	const char *bad_uris[] = {
		"ftp://app.example.com/cb",   "/cb",
		"app.example.com/cb",	      "https://app.example.com/cb#frag",
		"https://user@app.example.com/cb", "https:///cb",
		"https://app.example.com:0/cb", "https://app.example.com:99999/cb",
		"https://app.example.com:/cb",  "https://app example.com/cb",
		"https://app.example.com/c b",  "https://good.com\\.evil.com/cb",
		"https://[::1/cb",	      "javascript:alert(1)",
		"",
	};
	for (size_t i = 0; i < sizeof bad_uris / sizeof bad_uris[0]; i++) {
		char *u[] = { (char *)bad_uris[i] };
		c = mk("bad-uri", AUTH_CLIENT_PUBLIC, u, 1, "openid");
		assert_int_equal(add(f->s, &c), ERR_INVALID);
	}
	{
		char *u[] = { "https://[::1]:8443/cb" };
		c = mk("v6", AUTH_CLIENT_PUBLIC, u, 1, "openid");
		assert_int_equal(add(f->s, &c), 0);
	}

	/* public and confidential clients need a redirect URI */
	c = mk("noredir", AUTH_CLIENT_PUBLIC, NULL, 0, "openid");
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	c = mk("noredir", AUTH_CLIENT_CONFIDENTIAL, NULL, 0, "openid");
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	/* scope: required and parsable */
	c = mk("badscope", AUTH_CLIENT_PUBLIC, ok_uri, 1, "");
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	c = mk("badscope", AUTH_CLIENT_PUBLIC, ok_uri, 1, NULL);
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	c = mk("badscope", AUTH_CLIENT_PUBLIC, ok_uri, 1, "patient/Patient.rr");
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	c = mk("badscope", AUTH_CLIENT_PUBLIC, ok_uri, 1, "openid \"quoted\"");
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	/* bad type */
	c = mk("badtype", (enum auth_client_type)9, ok_uri, 1, "openid");
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	/* bad launch URL */
	c = mk("badlaunch", AUTH_CLIENT_PUBLIC, ok_uri, 1, "openid");
	c.launch_url = "https://app.example.com/launch#x";
	assert_int_equal(add(f->s, &c), ERR_INVALID);

	/* backend: a key set or its URL, public keys only */
	c = mk("svc", AUTH_CLIENT_BACKEND, NULL, 0, "system/*.rs");
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	priv = json_pack("{s:[{s:s,s:s,s:s,s:s}]}", "keys", "kty", "RSA", "n", "AQAB", "e", "AQAB", "d", "AQAB");
	pub = json_pack("{s:[{s:s,s:s,s:s,s:s}]}", "keys", "kty", "RSA", "n", "AQAB", "e", "AQAB", "kid", "k1");
	assert_non_null(priv);
	assert_non_null(pub);
	c.jwks = priv;
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	c.jwks = json_pack("{s:[]}", "keys");
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	json_decref(c.jwks);
	c.jwks = NULL;
	c.jwks_url = "not a url";
	assert_int_equal(add(f->s, &c), ERR_INVALID);
	c.jwks_url = "https://svc.example.com/jwks.json";
	assert_int_equal(add(f->s, &c), 0);
	c = mk("svc2", AUTH_CLIENT_BACKEND, NULL, 0, "system/*.rs");
	c.jwks = pub;
	assert_int_equal(add(f->s, &c), 0);
	{
		auth_client got;
		assert_int_equal(auth_client_get(f->s, "svc2", &got), 0);
		assert_int_equal(got.type, AUTH_CLIENT_BACKEND);
		assert_non_null(got.jwks);
		assert_true(json_equal(got.jwks, pub));
		assert_int_equal(got.nredirect, 0);
		assert_int_equal(got.norigins, 0);
		auth_client_fini(&got);
	}
	json_decref(priv);
	json_decref(pub);
}

static void test_confidential_secret(void **state)
{
	struct fixture *f = *state;
	char *uris[] = { "https://app.example.com/cb" };
	auth_client c = mk("conf", AUTH_CLIENT_CONFIDENTIAL, uris, 1, "openid patient/*.rs");
	auth_client got, pubc;
	store_auth_rec r;
	char secret[64], wrong[80], small[16];

	/* the secret needs room (cap >= 64) */
	assert_int_equal(auth_client_add(f->s, &c, small, sizeof small), ERR_INVALID);
	assert_int_equal(auth_client_add(f->s, &c, secret, sizeof secret), 0);
	assert_int_equal(strlen(secret), 43); /* 32 random bytes, base64url */
	assert_int_equal(auth_client_get(f->s, "conf", &got), 0);
	assert_int_equal(strlen(got.secret_hash), 64);

	/* only the hash is stored */
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CLIENT, "conf", &r), 0);
	assert_null(strstr(r.value, secret));
	assert_non_null(strstr(r.value, got.secret_hash));
	store_auth_rec_clear(&r);

	assert_int_equal(auth_client_secret_ok(&got, secret), 1);
	snprintf(wrong, sizeof wrong, "%sx", secret);
	assert_int_equal(auth_client_secret_ok(&got, wrong), 0);
	snprintf(wrong, sizeof wrong, "%.42s", secret);
	assert_int_equal(auth_client_secret_ok(&got, wrong), 0);
	snprintf(wrong, sizeof wrong, "%s", secret);
	wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
	assert_int_equal(auth_client_secret_ok(&got, wrong), 0);
	assert_int_equal(auth_client_secret_ok(&got, ""), 0);
	assert_int_equal(auth_client_secret_ok(&got, NULL), 0);
	assert_int_equal(auth_client_secret_ok(&got, got.secret_hash), 0); /* the hash is not the secret */

	/* a second confidential client gets another secret */
	c = mk("conf2", AUTH_CLIENT_CONFIDENTIAL, uris, 1, "openid");
	assert_int_equal(auth_client_add(f->s, &c, wrong, sizeof wrong), 0);
	assert_string_not_equal(wrong, secret);

	/* a public client has no secret to match, whatever is presented */
	c = mk("pub", AUTH_CLIENT_PUBLIC, uris, 1, "openid");
	assert_int_equal(add(f->s, &c), 0);
	assert_int_equal(auth_client_get(f->s, "pub", &pubc), 0);
	assert_int_equal(auth_client_secret_ok(&pubc, ""), 0);
	assert_int_equal(auth_client_secret_ok(&pubc, secret), 0);
	auth_client_fini(&pubc);
	auth_client_fini(&got);
}

static void test_redirect_exact(void **state)
{
	struct fixture *f = *state;
	char *uris[] = { "https://app.example.com/cb", "http://localhost:9000/callback?x=1" };
	auth_client c = mk("redir", AUTH_CLIENT_PUBLIC, uris, 2, "openid");
	auth_client got;
	const char *no[] = {
		"https://app.example.com/c",	   "https://app.example.com/",
		"https://app.example.com",	   "https://app.example.com/cb/",
		"https://app.example.com/cb/x",	   "https://app.example.com/cb?x=1",
		"https://app.example.com/cb#",	   "https://app.example.com/cbx",
		"https://APP.example.com/cb",	   "HTTPS://app.example.com/cb",
		"https://app.example.com/CB",	   "http://app.example.com/cb",
		"https://app.example.com:443/cb", "https://app.example.com/%63b",
		" https://app.example.com/cb",	   "https://app.example.com/cb ",
		"http://localhost:9000/callback",  "http://localhost:9000/callback?x=1&y=2",
		"",
	};

	assert_int_equal(add(f->s, &c), 0);
	assert_int_equal(auth_client_get(f->s, "redir", &got), 0);
	assert_int_equal(auth_client_redirect_ok(&got, "https://app.example.com/cb"), 1);
	assert_int_equal(auth_client_redirect_ok(&got, "http://localhost:9000/callback?x=1"), 1);
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_int_equal(auth_client_redirect_ok(&got, no[i]), 0);
	assert_int_equal(auth_client_redirect_ok(&got, NULL), 0);
	auth_client_fini(&got);
}

static void test_user_login(void **state)
{
	struct fixture *f = *state;
	auth_user u;

	assert_int_equal(auth_user_add(f->s, "alice@example.org", "Patient/85", "correct horse"), 0);
	assert_int_equal(auth_user_add(f->s, "alice@example.org", "Patient/86", "other"), ERR_CONFLICT);
	assert_int_equal(auth_user_add(f->s, "dr.bob", "Practitioner/x-1", "pw"), 0);

	assert_int_equal(auth_user_login(f->s, "alice@example.org", "correct horse", &u), 0);
	assert_string_equal(u.username, "alice@example.org");
	assert_string_equal(u.fhir_user, "Patient/85");
	assert_int_equal(strncmp(u.phc, "$argon2id$", 10), 0);
	assert_null(strstr(u.phc, "correct horse"));

	assert_int_equal(auth_user_login(f->s, "alice@example.org", "correct horsE", &u), ERR_UNAUTHORIZED);
	/* An unknown user is verified against a dummy argon2 hash (same work
	 * as a wrong password); the time is not asserted here (no timed
	 * tests) - registry.c's auth_user_login shows the dummy path. */
	assert_int_equal(auth_user_login(f->s, "mallory", "correct horse", &u), ERR_UNAUTHORIZED);
	assert_string_equal(u.username, "");
	assert_string_equal(u.fhir_user, "");

	assert_int_equal(auth_user_login(f->s, "alice@example.org", "", &u), ERR_UNAUTHORIZED);
	assert_int_equal(auth_user_login(f->s, "alice@example.org", NULL, &u), ERR_UNAUTHORIZED);
	assert_int_equal(auth_user_login(f->s, "bad name!", "pw", &u), ERR_UNAUTHORIZED);
	assert_int_equal(auth_user_login(f->s, "dr.bob", "pw", &u), 0);
	assert_string_equal(u.fhir_user, "Practitioner/x-1");

	/* invalid accounts */
	assert_int_equal(auth_user_add(f->s, "", "Patient/1", "pw"), ERR_INVALID);
	assert_int_equal(auth_user_add(f->s, "a b", "Patient/1", "pw"), ERR_INVALID);
	assert_int_equal(auth_user_add(f->s, "carol", "Patient/1", ""), ERR_INVALID);
	assert_int_equal(auth_user_add(f->s, "carol", "Patient/1", NULL), ERR_INVALID);
	assert_int_equal(auth_user_add(f->s, "carol", "Observation/1", "pw"), ERR_INVALID);
	assert_int_equal(auth_user_add(f->s, "carol", "Patient/", "pw"), ERR_INVALID);
	assert_int_equal(auth_user_add(f->s, "carol", "Patient", "pw"), ERR_INVALID);
	assert_int_equal(auth_user_add(f->s, "carol", "Patient/a/b", "pw"), ERR_INVALID);
	assert_int_equal(auth_user_add(f->s, "carol", "patient/1", "pw"), ERR_INVALID);
	assert_int_equal(auth_user_add(f->s, "carol", "PractitionerRole/r1", "pw"), 0);
}

static void test_launch(void **state)
{
	struct fixture *f = *state;
	char v1[48], v2[48], hash[65];
	store_auth_rec r;
	json_t *o;
	int64_t before = now_us();

	assert_int_equal(auth_launch_new(f->s, "app", "85", "enc-1", 300, v1, sizeof v1), 0);
	assert_int_equal(strlen(v1), 43);
	jose_sha256_hex(v1, strlen(v1), hash);
	/* stored under its hash only */
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_LAUNCH, v1, &r), ERR_NOTFOUND);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_LAUNCH, hash, &r), 0);
	assert_true(r.exp_us >= before + 300 * 1000000LL && r.exp_us <= now_us() + 300 * 1000000LL);
	o = json_loads(r.value, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "client_id")), "app");
	assert_string_equal(json_string_value(json_object_get(o, "patient")), "85");
	assert_string_equal(json_string_value(json_object_get(o, "encounter")), "enc-1");
	json_decref(o);
	store_auth_rec_clear(&r);
	/* single use through the store */
	assert_int_equal(store_auth_take(f->s, STORE_AUTH_LAUNCH, hash, &r), 0);
	assert_int_equal(r.used, 0);
	store_auth_rec_clear(&r);

	assert_int_equal(auth_launch_new(f->s, "app", "85", NULL, 60, v2, sizeof v2), 0);
	assert_string_not_equal(v1, v2);
	jose_sha256_hex(v2, strlen(v2), hash);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_LAUNCH, hash, &r), 0);
	assert_true(r.exp_us <= now_us() + 60 * 1000000LL);
	o = json_loads(r.value, 0, NULL);
	assert_null(json_object_get(o, "encounter"));
	json_decref(o);
	store_auth_rec_clear(&r);

	assert_int_equal(auth_launch_new(f->s, "app", "85", NULL, 0, v2, sizeof v2), ERR_INVALID);
	assert_int_equal(auth_launch_new(f->s, "app", "bad id!", NULL, 60, v2, sizeof v2), ERR_INVALID);
	assert_int_equal(auth_launch_new(f->s, "app", "85", "bad/enc", 60, v2, sizeof v2), ERR_INVALID);
	assert_int_equal(auth_launch_new(f->s, "bad client", "85", NULL, 60, v2, sizeof v2), ERR_INVALID);
	assert_int_equal(auth_launch_new(f->s, "app", "85", NULL, 60, v2, 20), ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_client_add_get_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confidential_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
