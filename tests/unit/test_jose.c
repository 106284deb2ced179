/*
 * test_jose.c - JOSE keys, our RS256 tokens and SMART client assertions
 * (auth/jose.h). Besides the round trips, every rule in jose.h's header
 * comment has a token built by hand that breaks exactly that rule and is
 * otherwise valid - usually correctly signed with the right key - so that
 * a rejection shows the rule, not an accident: alg "none" in several
 * casings, HS256 keyed with the public key (the algorithm-confusion
 * attack), RS384 with an RS256 signature, missing/unknown/ambiguous kid,
 * header-embedded keys, tampering, stripped or zero signatures, DER where
 * JWS wants raw r||s (RFC 7518 3.4), oversize input and non-object
 * payloads. Client assertions follow SMART App Launch
 * client-confidential-asymmetric (RS384 / ES384 against a JWK Set);
 * an external authorization server's tokens (jose_verify_jwks_alg) may
 * also be RS256 / ES256, each with its key type and curve.
 */
#include "auth/jose.h"
#include "core/b64url.h"
#include "core/err.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <rhonabwy.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Two server keys, and the first one's private half as a GnuTLS key so
 * that tests can sign arbitrary headers with it. */
static jose_key *K1, *K2;
static gnutls_privkey_t K1_PRIV;

/* Client keys for assertions. */
static gnutls_privkey_t C_RSA, C_EC, C_EC256;
static json_t *C_RSA_JWK, *C_EC_JWK, *C_EC256_JWK;

/* ---- helpers ---- */

static char *b64u(const void *data, size_t len)
{
	char *out = NULL;
	if (b64url_encode(data, len, &out, NULL))
		fail();
	return out;
}

static char *b64u_str(const char *s)
{
	return b64u(s, strlen(s));
}

/* "a.b" or "a.b.c" (c may be NULL: two parts joined). */
static char *join3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 3;
	char *out = malloc(n);
	assert_non_null(out);
	if (c)
		snprintf(out, n, "%s.%s.%s", a, b, c);
	else
		snprintf(out, n, "%s.%s", a, b);
	return out;
}

/* A compact JWS over header and payload (JSON texts), signed with key by
 * algo; for ECDSA the DER signature GnuTLS returns is converted to the
 * raw r||s of RFC 7518 3.4 unless der is set. */
static char *sign_with(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, const char *header, const char *payload,
		       int der)
{
	char *h = b64u_str(header), *p = b64u_str(payload), *input = join3(h, p, NULL), *s, *out;
	gnutls_datum_t d = { (unsigned char *)input, (unsigned int)strlen(input) }, sig = { NULL, 0 };

	assert_true(gnutls_privkey_sign_data2(key, algo, 0, &d, &sig) >= 0);
	if (gnutls_sign_get_pk_algorithm(algo) == GNUTLS_PK_ECDSA && !der) {
		gnutls_datum_t r, sv;
		unsigned char raw[96], *rp, *sp;
		unsigned rn, sn, bits = 0;
		size_t c;
		/* coordinates as long as the key's curve: 32 (P-256), 48 (P-384) */
		gnutls_privkey_get_pk_algorithm(key, &bits);
		c = bits <= 256 ? 32 : 48;
		assert_int_equal(gnutls_decode_rs_value(&sig, &r, &sv), 0);
		/* big-endian, left-padded to c octets each (GnuTLS may add a
		 * sign octet or drop leading zeros) */
		memset(raw, 0, sizeof raw);
		rp = r.data;
		rn = r.size;
		sp = sv.data;
		sn = sv.size;
		while (rn > c && rp[0] == 0) {
			rp++;
			rn--;
		}
		while (sn > c && sp[0] == 0) {
			sp++;
			sn--;
		}
		memcpy(raw + c - rn, rp, rn);
		memcpy(raw + 2 * c - sn, sp, sn);
		s = b64u(raw, 2 * c);
		gnutls_free(r.data);
		gnutls_free(sv.data);
	} else {
		s = b64u(sig.data, sig.size);
	}
	out = join3(h, p, s);
	gnutls_free(sig.data);
	free(h);
	free(p);
	free(input);
	free(s);
	return out;
}

/* RS256 with the first server key over any header. */
static char *k1_sign(const char *header, const char *payload)
{
	return sign_with(K1_PRIV, GNUTLS_SIGN_RSA_SHA256, header, payload, 0);
}

static char *k1_header(const char *alg_and_more)
{
	char *out = malloc(512);
	assert_non_null(out);
	snprintf(out, 512, "{%s,\"kid\":\"%s\"}", alg_and_more, jose_key_kid(K1));
	return out;
}

static const char *why;

static void verify_ok(const char *jwt, const jose_key *const *keys, size_t n)
{
	json_t *claims = NULL;
	int rc = jose_verify(jwt, keys, n, &claims, &why);
	if (rc != 0)
		fail_msg("expected a valid token, got %d (%s)", rc, why);
	assert_true(json_is_object(claims));
	json_decref(claims);
}

/* Expects ERR_UNAUTHORIZED; when sub is given, why contains it. */
static void verify_bad(const char *jwt, const jose_key *const *keys, size_t n, const char *sub)
{
	json_t *claims = (json_t *)1;
	int rc = jose_verify(jwt, keys, n, &claims, &why);
	if (rc != ERR_UNAUTHORIZED)
		fail_msg("expected rejection (%s), got %d", sub ? sub : "", rc);
	assert_null(claims);
	assert_non_null(why);
	assert_true(why[0] != '\0');
	if (sub && !strstr(why, sub))
		fail_msg("reason \"%s\" lacks \"%s\"", why, sub);
}

static void verify_k1_ok(const char *jwt)
{
	const jose_key *keys[] = { K1 };
	verify_ok(jwt, keys, 1);
}

static void verify_k1_bad(const char *jwt, const char *sub)
{
	const jose_key *keys[] = { K1, K2 };
	verify_bad(jwt, keys, 2, sub);
}

static gnutls_privkey_t priv_of(const jose_key *k)
{
	char *json = NULL;
	jwk_t *jwk = NULL;
	gnutls_privkey_t p;
	assert_int_equal(jose_key_private_json(k, &json), 0);
	assert_int_equal(r_jwk_init(&jwk), RHN_OK);
	assert_int_equal(r_jwk_import_from_json_str(jwk, json), RHN_OK);
	p = r_jwk_export_to_gnutls_privkey(jwk);
	assert_non_null(p);
	r_jwk_free(jwk);
	free(json);
	return p;
}

/* The public JWK of a client key, numbers padded to len octets (0: as
 * GnuTLS gives them without leading zeros). */
static json_t *client_jwk(gnutls_privkey_t priv, const char *kid, const char *alg, size_t coord_len)
{
	gnutls_pubkey_t pub;
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	json_t *j;
	char *sa, *sb;

	assert_int_equal(gnutls_pubkey_init(&pub), 0);
	assert_int_equal(gnutls_pubkey_import_privkey(pub, priv, 0, 0), 0);
	if (gnutls_pubkey_get_pk_algorithm(pub, NULL) == GNUTLS_PK_RSA) {
		assert_int_equal(gnutls_pubkey_export_rsa_raw2(pub, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ), 0);
		sa = b64u(a.data, a.size);
		sb = b64u(b.data, b.size);
		j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "n", sa, "e", sb, "kid", kid);
	} else {
		unsigned char x[66] = { 0 }, y[66] = { 0 };
		assert_int_equal(gnutls_pubkey_export_ecc_raw2(pub, &curve, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ), 0);
		assert_true(a.size <= coord_len && b.size <= coord_len);
		memcpy(x + coord_len - a.size, a.data, a.size);
		memcpy(y + coord_len - b.size, b.data, b.size);
		sa = b64u(x, coord_len);
		sb = b64u(y, coord_len);
		j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv",
			      curve == GNUTLS_ECC_CURVE_SECP384R1 ? "P-384" : "P-256", "x", sa, "y", sb, "kid", kid);
	}
	assert_non_null(j);
	if (alg)
		json_object_set_new(j, "alg", json_string(alg));
	free(sa);
	free(sb);
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_pubkey_deinit(pub);
	return j;
}

static json_t *jwks_of(json_t *a, json_t *b, json_t *c)
{
	json_t *keys = json_array();
	if (a)
		json_array_append(keys, a);
	if (b)
		json_array_append(keys, b);
	if (c)
		json_array_append(keys, c);
	return json_pack("{s:o}", "keys", keys);
}

static void assert_ok(const char *jwt, const json_t *jwks)
{
	json_t *claims = NULL;
	int rc = jose_verify_assertion(jwt, jwks, &claims, &why);
	if (rc != 0)
		fail_msg("expected a valid assertion, got %d (%s)", rc, why);
	assert_true(json_is_object(claims));
	assert_string_equal(json_string_value(json_object_get(claims, "iss")), "client-1");
	json_decref(claims);
}

static void assert_bad(const char *jwt, const json_t *jwks, const char *sub)
{
	json_t *claims = (json_t *)1;
	int rc = jose_verify_assertion(jwt, jwks, &claims, &why);
	if (rc != ERR_UNAUTHORIZED)
		fail_msg("expected rejection (%s), got %d", sub ? sub : "", rc);
	assert_null(claims);
	if (sub && !strstr(why, sub))
		fail_msg("reason \"%s\" lacks \"%s\"", why, sub);
}

#define ASSERTION "{\"iss\":\"client-1\",\"sub\":\"client-1\",\"aud\":\"https://x/token\",\"jti\":\"j1\"}"

static int group_setup(void **state)
{
	(void)state;
	if (jose_key_generate(&K1) || jose_key_generate(&K2))
		return -1;
	K1_PRIV = priv_of(K1);
	if (gnutls_privkey_init(&C_RSA) || gnutls_privkey_generate2(C_RSA, GNUTLS_PK_RSA, 2048, 0, NULL, 0))
		return -1;
	if (gnutls_privkey_init(&C_EC) ||
	    gnutls_privkey_generate2(C_EC, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0, NULL, 0))
		return -1;
	if (gnutls_privkey_init(&C_EC256) ||
	    gnutls_privkey_generate2(C_EC256, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL,
				     0))
		return -1;
	C_RSA_JWK = client_jwk(C_RSA, "rsa-1", "RS384", 0);
	C_EC_JWK = client_jwk(C_EC, "ec-1", "ES384", 48);
	C_EC256_JWK = client_jwk(C_EC256, "ec-256", NULL, 32);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	jose_key_free(K1);
	jose_key_free(K2);
	gnutls_privkey_deinit(K1_PRIV);
	gnutls_privkey_deinit(C_RSA);
	gnutls_privkey_deinit(C_EC);
	gnutls_privkey_deinit(C_EC256);
	json_decref(C_RSA_JWK);
	json_decref(C_EC_JWK);
	json_decref(C_EC256_JWK);
	return 0;
}

/* ---- our tokens ---- */

static void test_sign_verify_roundtrip(void **state)
{
	json_t *claims = json_pack("{s:s, s:i, s:s}", "sub", "alice", "exp", 2000000000, "uni", "h\xc3\xa9");
	json_t *out = NULL, *hdr = NULL;
	const jose_key *keys[] = { K2, K1 };
	char *jwt = NULL;

	assert_int_equal(jose_sign(K1, claims, &jwt), 0);
	assert_int_equal(jose_verify(jwt, keys, 2, &out, &why), 0);
	assert_true(json_equal(out, claims));
	/* the header is exactly what jose.h promises */
	assert_int_equal(jose_peek_header(jwt, &hdr), 0);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")), jose_key_kid(K1));
	assert_int_equal(json_object_size(hdr), 3);
	/* kids are random and distinct */
	assert_true(strlen(jose_key_kid(K1)) >= 16);
	assert_string_not_equal(jose_key_kid(K1), jose_key_kid(K2));
	/* only the key named by kid is used: with K2 alone it is unknown */
	verify_bad(jwt, keys, 1, "unknown kid");
	/* non-object claims are not signed */
	json_t *arr = json_array();
	char *bad = NULL;
	assert_int_equal(jose_sign(K1, arr, &bad), ERR_INVALID);
	assert_null(bad);
	json_decref(arr);
	json_decref(hdr);
	json_decref(out);
	json_decref(claims);
	free(jwt);
}

/* The hand-signing helper itself produces tokens jose_verify accepts, so
 * the rejections below are about the one thing each changes. */
static void test_hand_signed_control(void **state)
{
	char *h = k1_header("\"alg\":\"RS256\"");
	char *jwt = k1_sign(h, "{\"sub\":\"x\"}");
	verify_k1_ok(jwt);
	free(jwt);
	free(h);
}

static void test_alg_none(void **state)
{
	static const char *const algs[] = { "none", "None", "NONE", "nOnE", "", "rs256", "RS256 ", "ES256", "PS256" };
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		char hj[256], *h, *p, *jwt, *sig;
		snprintf(hj, sizeof hj, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", algs[i], jose_key_kid(K1));
		h = b64u_str(hj);
		p = b64u_str("{\"sub\":\"admin\"}");
		/* unsecured JWS (RFC 7519 6.1): empty signature */
		jwt = join3(h, p, "");
		verify_k1_bad(jwt, NULL);
		free(jwt);
		/* with some signature bytes, the alg itself is what fails */
		sig = b64u_str("garbage-signature");
		jwt = join3(h, p, sig);
		verify_k1_bad(jwt, "alg");
		free(jwt);
		free(sig);
		free(h);
		free(p);
	}
	/* no alg at all, and a non-string alg */
	char *h1 = k1_header("\"typ\":\"JWT\"");
	char *jwt1 = k1_sign(h1, "{}");
	verify_k1_bad(jwt1, "alg");
	free(jwt1);
	free(h1);
	h1 = k1_header("\"alg\":[\"RS256\"]");
	jwt1 = k1_sign(h1, "{}");
	verify_k1_bad(jwt1, "alg");
	free(jwt1);
	free(h1);
}

/* Algorithm confusion: HS256 "signed" with the server's public key as the
 * HMAC secret, in the forms an attacker would try (the public JWK text,
 * the modulus, the SubjectPublicKeyInfo PEM). */
static void test_hs256_with_public_key(void **state)
{
	json_t *pub = NULL;
	char *secrets[3];
	gnutls_pubkey_t gp;
	gnutls_datum_t pem = { NULL, 0 };

	assert_int_equal(jose_key_public(K1, &pub), 0);
	secrets[0] = json_dumps(pub, JSON_COMPACT);
	secrets[1] = strdup(json_string_value(json_object_get(pub, "n")));
	assert_int_equal(gnutls_pubkey_init(&gp), 0);
	assert_int_equal(gnutls_pubkey_import_privkey(gp, K1_PRIV, 0, 0), 0);
	assert_int_equal(gnutls_pubkey_export2(gp, GNUTLS_X509_FMT_PEM, &pem), 0);
	secrets[2] = strndup((const char *)pem.data, pem.size);

	for (int i = 0; i < 3; i++) {
		char *hj = k1_header("\"alg\":\"HS256\",\"typ\":\"JWT\"");
		char *h = b64u_str(hj), *p = b64u_str("{\"sub\":\"admin\"}"), *input = join3(h, p, NULL), *s, *jwt;
		struct hmac_sha256_ctx ctx;
		uint8_t mac[SHA256_DIGEST_SIZE];
		hmac_sha256_set_key(&ctx, strlen(secrets[i]), (const uint8_t *)secrets[i]);
		hmac_sha256_update(&ctx, strlen(input), (const uint8_t *)input);
		hmac_sha256_digest(&ctx, sizeof mac, mac);
		s = b64u(mac, sizeof mac);
		jwt = join3(h, p, s);
		verify_k1_bad(jwt, "alg");
		free(jwt);
		free(s);
		free(input);
		free(p);
		free(h);
		free(hj);
		free(secrets[i]);
	}
	gnutls_free(pem.data);
	gnutls_pubkey_deinit(gp);
	json_decref(pub);
}

/* A correct RS256 signature under a header that says RS384, and a
 * correct RS384 signature under RS384: both refused, alg is pinned. */
static void test_rs384_header(void **state)
{
	char *h = k1_header("\"alg\":\"RS384\",\"typ\":\"JWT\"");
	char *jwt = sign_with(K1_PRIV, GNUTLS_SIGN_RSA_SHA256, h, "{\"sub\":\"x\"}", 0);
	verify_k1_bad(jwt, "alg");
	free(jwt);
	jwt = sign_with(K1_PRIV, GNUTLS_SIGN_RSA_SHA384, h, "{\"sub\":\"x\"}", 0);
	verify_k1_bad(jwt, "alg");
	free(jwt);
	free(h);
	/* and an RS384 signature under an RS256 header fails the signature */
	h = k1_header("\"alg\":\"RS256\"");
	jwt = sign_with(K1_PRIV, GNUTLS_SIGN_RSA_SHA384, h, "{\"sub\":\"x\"}", 0);
	verify_k1_bad(jwt, "signature");
	free(jwt);
	free(h);
}

static void test_kid_rules(void **state)
{
	char *jwt;
	/* missing kid */
	jwt = k1_sign("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{}");
	verify_k1_bad(jwt, "kid");
	free(jwt);
	/* empty kid, non-string kid */
	jwt = k1_sign("{\"alg\":\"RS256\",\"kid\":\"\"}", "{}");
	verify_k1_bad(jwt, "kid");
	free(jwt);
	jwt = k1_sign("{\"alg\":\"RS256\",\"kid\":7}", "{}");
	verify_k1_bad(jwt, "kid");
	free(jwt);
	/* unknown kid */
	jwt = k1_sign("{\"alg\":\"RS256\",\"kid\":\"nope\"}", "{}");
	verify_k1_bad(jwt, "unknown kid");
	free(jwt);
	/* a kid naming K2 with K1's signature: the named key is used */
	char hj[256];
	snprintf(hj, sizeof hj, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", jose_key_kid(K2));
	jwt = k1_sign(hj, "{}");
	verify_k1_bad(jwt, "signature");
	free(jwt);
	/* a kid matching two keys is ambiguous */
	char *h = k1_header("\"alg\":\"RS256\"");
	const jose_key *twice[] = { K1, K1 };
	jwt = k1_sign(h, "{}");
	verify_bad(jwt, twice, 2, "more than one");
	/* and no keys at all */
	verify_bad(jwt, NULL, 0, "unknown kid");
	free(jwt);
	free(h);
}

static void test_tampering(void **state)
{
	json_t *claims = json_pack("{s:s, s:s}", "sub", "alice", "scope", "patient/*.read");
	char *jwt = NULL, *copy, *p2, *dot1, *dot2, *t;
	assert_int_equal(jose_sign(K1, claims, &jwt), 0);
	verify_k1_ok(jwt);
	dot1 = strchr(jwt, '.');
	dot2 = strchr(dot1 + 1, '.');

	/* payload replaced by another valid payload */
	p2 = b64u_str("{\"sub\":\"admin\",\"scope\":\"system/*.*\"}");
	*dot1 = '\0';
	t = join3(jwt, p2, dot2 + 1);
	*dot1 = '.';
	verify_k1_bad(t, "signature");
	free(t);
	free(p2);

	/* one character of the payload changed */
	copy = strdup(jwt);
	copy[dot1 - jwt + 3] = copy[dot1 - jwt + 3] == 'A' ? 'B' : 'A';
	verify_k1_bad(copy, NULL);
	free(copy);

	/* one character in the middle of the signature changed */
	copy = strdup(jwt);
	size_t mid = (size_t)(dot2 - jwt) + 100;
	copy[mid] = copy[mid] == 'A' ? 'B' : 'A';
	verify_k1_bad(copy, "signature");
	free(copy);

	/* signature truncated, extended */
	copy = strdup(jwt);
	copy[strlen(copy) - 4] = '\0';
	verify_k1_bad(copy, "signature");
	free(copy);
	t = malloc(strlen(jwt) + 5);
	snprintf(t, strlen(jwt) + 5, "%sAAAA", jwt);
	verify_k1_bad(t, "signature");
	free(t);

	/* signature stripped: "h.p." and "h.p" */
	copy = strdup(jwt);
	copy[dot2 - jwt + 1] = '\0';
	verify_k1_bad(copy, "empty signature");
	copy[dot2 - jwt] = '\0';
	verify_k1_bad(copy, "compact");
	free(copy);

	/* a fourth part, a JWE-shaped token, empty and garbage input */
	t = malloc(strlen(jwt) + 3);
	snprintf(t, strlen(jwt) + 3, "%s.x", jwt);
	verify_k1_bad(t, "compact");
	free(t);
	verify_k1_bad("a.b.c.d.e", "compact");
	verify_k1_bad("", NULL);
	verify_k1_bad("...", NULL);
	verify_k1_bad("!!!.???.***", NULL);
	verify_k1_bad(NULL, NULL);

	/* base64 with padding, or the standard alphabet, is not base64url */
	copy = malloc(strlen(jwt) + 2);
	memcpy(copy, jwt, (size_t)(dot1 - jwt));
	snprintf(copy + (dot1 - jwt), strlen(jwt) + 2 - (size_t)(dot1 - jwt), "=%s", dot1);
	verify_k1_bad(copy, NULL);
	free(copy);

	free(jwt);
	json_decref(claims);
}

/* Non-canonical base64url: changing the unused low bits of the last
 * signature character decodes to the same bytes in lax decoders. */
static void test_noncanonical_base64(void **state)
{
	json_t *claims = json_pack("{s:s}", "sub", "x");
	char *jwt = NULL;
	assert_int_equal(jose_sign(K1, claims, &jwt), 0);
	size_t n = strlen(jwt);
	/* 256 signature octets -> 342 characters, the last carries 4 unused bits */
	char *last = jwt + n - 1;
	const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int v = (int)(strchr(alpha, *last) - alpha);
	assert_int_equal(v & 15, 0);
	*last = alpha[v | 1];
	verify_k1_bad(jwt, "base64url");
	free(jwt);
	json_decref(claims);
}

static void test_header_keys_rejected(void **state)
{
	static const char *const extra[] = {
		"\"jwk\":{\"kty\":\"oct\",\"k\":\"AAAA\"}",
		"\"jku\":\"https://evil.example/jwks.json\"",
		"\"x5u\":\"https://evil.example/cert.pem\"",
		"\"x5c\":[\"MIIB\"]",
		"\"crit\":[\"exp\"]",
	};
	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
		char more[256];
		snprintf(more, sizeof more, "\"alg\":\"RS256\",%s", extra[i]);
		char *h = k1_header(more);
		char *jwt = k1_sign(h, "{\"sub\":\"x\"}");
		verify_k1_bad(jwt, NULL);
		free(jwt);
		free(h);
	}
	/* duplicate members: a second "alg" must not slip past */
	char *jwt = k1_sign("{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"x\"}", "{}");
	verify_k1_bad(jwt, "header");
	free(jwt);
	/* a header that is not an object */
	jwt = k1_sign("[\"RS256\"]", "{}");
	verify_k1_bad(jwt, "header");
	free(jwt);
}

static void test_oversize(void **state)
{
	json_t *claims = json_object();
	char *pad = malloc(17000), *jwt = NULL;
	memset(pad, 'a', 16999);
	pad[16999] = '\0';
	json_object_set_new(claims, "pad", json_string(pad));
	assert_int_equal(jose_sign(K1, claims, &jwt), 0);
	verify_k1_bad(jwt, "too large");
	json_t *hdr = NULL;
	assert_int_equal(jose_peek_header(jwt, &hdr), ERR_INVALID);
	free(jwt);
	/* just under the limit still verifies */
	pad[11000] = '\0';
	json_object_set_new(claims, "pad", json_string(pad));
	assert_int_equal(jose_sign(K1, claims, &jwt), 0);
	assert_true(strlen(jwt) < 16384);
	verify_k1_ok(jwt);
	free(jwt);
	free(pad);
	json_decref(claims);
}

static void test_payload_not_object(void **state)
{
	static const char *const payloads[] = { "[1,2]", "\"sub\"", "123", "null", "", "{\"a\":1,\"a\":2}", "{" };
	char *h = k1_header("\"alg\":\"RS256\"");
	for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
		char *jwt = k1_sign(h, payloads[i]);
		verify_k1_bad(jwt, "payload");
		free(jwt);
	}
	free(h);
}

static void test_private_json_roundtrip(void **state)
{
	char *json = NULL, *json2 = NULL;
	jose_key *k = NULL, *bad = NULL;
	json_t *claims = json_pack("{s:s}", "sub", "x"), *j;
	char *jwt = NULL;

	assert_int_equal(jose_key_private_json(K1, &json), 0);
	j = json_loads(json, 0, NULL);
	assert_non_null(json_object_get(j, "d"));
	assert_string_equal(json_string_value(json_object_get(j, "kid")), jose_key_kid(K1));
	json_decref(j);
	assert_int_equal(jose_key_from_private_json(json, &k), 0);
	assert_string_equal(jose_key_kid(k), jose_key_kid(K1));
	/* same key: what one signs the other verifies */
	assert_int_equal(jose_sign(k, claims, &jwt), 0);
	verify_k1_ok(jwt);
	free(jwt);
	assert_int_equal(jose_key_private_json(k, &json2), 0);
	assert_string_equal(json, json2);

	/* not keys */
	assert_int_equal(jose_key_from_private_json("", &bad), ERR_INVALID);
	assert_int_equal(jose_key_from_private_json("[]", &bad), ERR_INVALID);
	assert_int_equal(jose_key_from_private_json("{\"kty\":\"oct\",\"k\":\"AAAA\",\"kid\":\"a\"}", &bad),
			 ERR_INVALID);
	/* the public half alone is not a signing key */
	json_t *pub = NULL;
	assert_int_equal(jose_key_public(K1, &pub), 0);
	char *ptxt = json_dumps(pub, 0);
	assert_int_equal(jose_key_from_private_json(ptxt, &bad), ERR_INVALID);
	free(ptxt);
	json_decref(pub);
	/* no kid, a damaged private exponent */
	j = json_loads(json, 0, NULL);
	json_object_del(j, "kid");
	ptxt = json_dumps(j, 0);
	assert_int_equal(jose_key_from_private_json(ptxt, &bad), ERR_INVALID);
	free(ptxt);
	json_decref(j);
	j = json_loads(json, 0, NULL);
	char *d = strdup(json_string_value(json_object_get(j, "d")));
	d[10] = d[10] == 'A' ? 'B' : 'A';
	json_object_set_new(j, "d", json_string(d));
	ptxt = json_dumps(j, 0);
	assert_int_equal(jose_key_from_private_json(ptxt, &bad), ERR_INVALID);
	assert_null(bad);
	free(ptxt);
	free(d);
	json_decref(j);

	jose_key_free(k);
	jose_key_free(NULL);
	free(json);
	free(json2);
	json_decref(claims);
}

static void test_public_jwk(void **state)
{
	json_t *pub = NULL;
	const char *key;
	json_t *v;
	assert_int_equal(jose_key_public(K1, &pub), 0);
	json_object_foreach(pub, key, v) {
		if (strcmp(key, "kty") && strcmp(key, "n") && strcmp(key, "e") && strcmp(key, "kid") &&
		    strcmp(key, "alg") && strcmp(key, "use"))
			fail_msg("unexpected member %s in the public JWK", key);
	}
	assert_string_equal(json_string_value(json_object_get(pub, "kty")), "RSA");
	assert_string_equal(json_string_value(json_object_get(pub, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(pub, "use")), "sig");
	assert_string_equal(json_string_value(json_object_get(pub, "kid")), jose_key_kid(K1));
	assert_string_equal(json_string_value(json_object_get(pub, "e")), "AQAB");
	assert_true(json_string_length(json_object_get(pub, "n")) >= 342);
	json_decref(pub);
}

static void test_peek_header(void **state)
{
	json_t *h = NULL;
	char *jwt = k1_sign("{\"alg\":\"RS384\",\"kid\":\"c\",\"jku\":\"https://app/jwks\"}", "{}");
	assert_int_equal(jose_peek_header(jwt, &h), 0);
	assert_string_equal(json_string_value(json_object_get(h, "jku")), "https://app/jwks");
	json_decref(h);
	free(jwt);
	assert_int_equal(jose_peek_header("abc", &h), ERR_INVALID);
	assert_null(h);
	assert_int_equal(jose_peek_header("W10.e30.AAAA", &h), ERR_INVALID); /* header [] */
	assert_int_equal(jose_peek_header(NULL, &h), ERR_INVALID);
}

/* ---- client assertions ---- */

static void test_assertion_rs384_es384(void **state)
{
	json_t *jwks = jwks_of(C_RSA_JWK, C_EC_JWK, NULL);
	char *jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\",\"typ\":\"JWT\"}",
			      ASSERTION, 0);
	assert_ok(jwt, jwks);
	free(jwt);
	jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384, "{\"alg\":\"ES384\",\"kid\":\"ec-1\",\"typ\":\"JWT\"}", ASSERTION,
			0);
	assert_ok(jwt, jwks);
	free(jwt);
	/* jku in the header is allowed (the caller checks it), never used */
	jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384,
			"{\"alg\":\"ES384\",\"kid\":\"ec-1\",\"jku\":\"https://127.0.0.1:1/jwks\"}", ASSERTION, 0);
	assert_ok(jwt, jwks);
	free(jwt);
	/* keys without alg (optional in a JWK) are candidates too */
	json_t *noalg = json_deep_copy(C_RSA_JWK);
	json_object_del(noalg, "alg");
	json_object_set_new(noalg, "use", json_string("sig"));
	json_t *jwks2 = jwks_of(noalg, NULL, NULL);
	jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	assert_ok(jwt, jwks2);
	free(jwt);
	json_decref(jwks2);
	json_decref(noalg);
	json_decref(jwks);
}

/* r or s with leading zero octets (1 in 128 signatures) must still be
 * accepted: the conversion to DER has to produce minimal INTEGERs. */
static void test_assertion_es384_leading_zero(void **state)
{
	json_t *jwks = jwks_of(C_EC_JWK, NULL, NULL);
	int found = 0;
	for (int i = 0; i < 4000 && found < 2; i++) {
		char payload[128];
		snprintf(payload, sizeof payload, "{\"iss\":\"client-1\",\"jti\":\"%d\"}", i);
		char *jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384, "{\"alg\":\"ES384\",\"kid\":\"ec-1\"}", payload, 0);
		unsigned char *raw;
		size_t n;
		const char *s = strrchr(jwt, '.') + 1;
		/* decode the signature (nettle, lax) to look at r[0], s[0] */
		struct base64_decode_ctx ctx;
		raw = malloc(strlen(s));
		base64url_decode_init(&ctx);
		n = strlen(s);
		assert_true(base64_decode_update(&ctx, &n, raw, strlen(s), s));
		assert_int_equal(n, 96);
		if (raw[0] == 0 || raw[48] == 0) {
			found++;
			assert_ok(jwt, jwks);
		}
		free(raw);
		free(jwt);
	}
	assert_true(found > 0);
	json_decref(jwks);
}

static void test_assertion_alg_kty_pairing(void **state)
{
	json_t *jwks = jwks_of(C_RSA_JWK, C_EC_JWK, NULL);
	char *jwt;
	/* RS384 naming the EC key, ES384 naming the RSA key */
	jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA384, "{\"alg\":\"RS384\",\"kid\":\"ec-1\"}", ASSERTION, 0);
	assert_bad(jwt, jwks, "unknown kid");
	free(jwt);
	jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384, "{\"alg\":\"ES384\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	assert_bad(jwt, jwks, "unknown kid");
	free(jwt);
	/* other algorithms, including ours and none */
	static const char *const algs[] = { "RS256", "ES256", "PS384", "HS384", "none", "rs384", "es384" };
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		char h[128];
		snprintf(h, sizeof h, "{\"alg\":\"%s\",\"kid\":\"rsa-1\"}", algs[i]);
		jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA384, h, ASSERTION, 0);
		assert_bad(jwt, jwks, "alg");
		free(jwt);
	}
	/* a key declared for another alg, or for encryption, is skipped */
	json_t *k256 = json_deep_copy(C_RSA_JWK), *kenc = json_deep_copy(C_EC_JWK);
	json_object_set_new(k256, "alg", json_string("RS256"));
	json_object_set_new(kenc, "use", json_string("enc"));
	json_t *jwks2 = jwks_of(k256, kenc, NULL);
	jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	assert_bad(jwt, jwks2, "unknown kid");
	free(jwt);
	jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384, "{\"alg\":\"ES384\",\"kid\":\"ec-1\"}", ASSERTION, 0);
	assert_bad(jwt, jwks2, "unknown kid");
	free(jwt);
	json_decref(jwks2);
	json_decref(k256);
	json_decref(kenc);
	/* ES384 against a P-256 key under the kid */
	json_t *p256 = json_deep_copy(C_EC256_JWK);
	json_object_set_new(p256, "kid", json_string("ec-1"));
	jwks2 = jwks_of(p256, NULL, NULL);
	jwt = sign_with(C_EC256, GNUTLS_SIGN_ECDSA_SHA256, "{\"alg\":\"ES384\",\"kid\":\"ec-1\"}", ASSERTION, 0);
	assert_bad(jwt, jwks2, NULL);
	free(jwt);
	json_decref(jwks2);
	json_decref(p256);
	/* header keys other than jku, and missing kid */
	static const char *const hdrs[] = {
		"{\"alg\":\"RS384\",\"kid\":\"rsa-1\",\"x5u\":\"https://x/c\"}",
		"{\"alg\":\"RS384\",\"kid\":\"rsa-1\",\"x5c\":[\"MIIB\"]}",
		"{\"alg\":\"RS384\",\"kid\":\"rsa-1\",\"crit\":[\"b64\"],\"b64\":false}",
		"{\"alg\":\"RS384\",\"kid\":\"rsa-1\",\"jwk\":{\"kty\":\"RSA\"}}",
		"{\"alg\":\"RS384\"}",
	};
	for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
		jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA384, hdrs[i], ASSERTION, 0);
		assert_bad(jwt, jwks, NULL);
		free(jwt);
	}
	/* no JWK Set */
	jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	json_t *empty = json_object();
	assert_bad(jwt, empty, "JWK Set");
	assert_bad(jwt, NULL, "JWK Set");
	json_decref(empty);
	free(jwt);
	json_decref(jwks);
}

static void test_assertion_duplicate_kid(void **state)
{
	json_t *other = client_jwk(C_EC, "rsa-1", NULL, 48); /* EC: another kty, does not count */
	json_t *jwks = jwks_of(C_RSA_JWK, other, NULL);
	char *jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	assert_ok(jwt, jwks);
	json_decref(jwks);
	/* two RSA keys with one kid: refused even though one would verify */
	json_t *copy = json_deep_copy(C_RSA_JWK);
	jwks = jwks_of(C_RSA_JWK, copy, NULL);
	assert_bad(jwt, jwks, "more than one");
	json_decref(jwks);
	json_decref(copy);
	json_decref(other);
	free(jwt);
}

static void test_assertion_bad_signatures(void **state)
{
	json_t *jwks = jwks_of(C_RSA_JWK, C_EC_JWK, NULL);
	const char *h = "{\"alg\":\"ES384\",\"kid\":\"ec-1\"}";
	char *hb = b64u_str(h), *pb = b64u_str(ASSERTION), *sb, *jwt;
	unsigned char raw[96];

	/* all zero, r zero, s zero */
	memset(raw, 0, sizeof raw);
	sb = b64u(raw, sizeof raw);
	jwt = join3(hb, pb, sb);
	assert_bad(jwt, jwks, "zero");
	free(jwt);
	free(sb);
	memset(raw + 48, 0x11, 48);
	sb = b64u(raw, sizeof raw);
	jwt = join3(hb, pb, sb);
	assert_bad(jwt, jwks, "zero");
	free(jwt);
	free(sb);
	/* r = s = the order-sized garbage */
	memset(raw, 0xff, sizeof raw);
	sb = b64u(raw, sizeof raw);
	jwt = join3(hb, pb, sb);
	assert_bad(jwt, jwks, "signature");
	free(jwt);
	free(sb);
	/* a valid signature in DER, as GnuTLS and OpenSSL produce it */
	jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384, h, ASSERTION, 1);
	assert_bad(jwt, jwks, "length");
	free(jwt);
	/* the valid raw form, with a tampered payload */
	jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384, h, ASSERTION, 0);
	assert_ok(jwt, jwks);
	char *dot2 = strrchr(jwt, '.');
	char *p2 = b64u_str("{\"iss\":\"client-2\"}");
	char *t = join3(hb, p2, dot2 + 1);
	assert_bad(t, jwks, "signature");
	free(t);
	free(p2);
	/* signature stripped */
	dot2[1] = '\0';
	assert_bad(jwt, jwks, "empty signature");
	free(jwt);
	/* RS384: wrong length, another key's signature */
	jwt = sign_with(K1_PRIV, GNUTLS_SIGN_RSA_SHA384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	assert_bad(jwt, jwks, "signature");
	free(jwt);
	sb = b64u("abc", 3);
	free(hb);
	hb = b64u_str("{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}");
	jwt = join3(hb, pb, sb);
	assert_bad(jwt, jwks, "length");
	free(jwt);
	free(sb);
	free(hb);
	free(pb);
	json_decref(jwks);
}

static void test_assertion_bad_keys(void **state)
{
	char *jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384, "{\"alg\":\"ES384\",\"kid\":\"ec-1\"}", ASSERTION, 0);
	/* x shortened (not full length), y off the curve */
	json_t *k = json_deep_copy(C_EC_JWK);
	const char *x = json_string_value(json_object_get(C_EC_JWK, "x"));
	json_object_set_new(k, "x", json_stringn(x, 60));
	json_t *jwks = jwks_of(k, NULL, NULL);
	assert_bad(jwt, jwks, "EC key");
	json_decref(jwks);
	json_decref(k);
	k = json_deep_copy(C_EC_JWK);
	unsigned char y[48];
	memset(y, 0x42, sizeof y);
	char *yb = b64u(y, sizeof y);
	json_object_set_new(k, "y", json_string(yb));
	jwks = jwks_of(k, NULL, NULL);
	assert_bad(jwt, jwks, NULL);
	json_decref(jwks);
	json_decref(k);
	free(yb);
	free(jwt);
	/* a small RSA key is refused */
	gnutls_privkey_t small;
	assert_int_equal(gnutls_privkey_init(&small), 0);
	assert_int_equal(gnutls_privkey_generate2(small, GNUTLS_PK_RSA, 1024, 0, NULL, 0), 0);
	k = client_jwk(small, "rsa-1", NULL, 0);
	jwks = jwks_of(k, NULL, NULL);
	jwt = sign_with(small, GNUTLS_SIGN_RSA_SHA384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	assert_bad(jwt, jwks, "RSA key");
	free(jwt);
	json_decref(jwks);
	json_decref(k);
	gnutls_privkey_deinit(small);
}

/* ---- external tokens: jose_verify_jwks_alg ---- */

static const char *const EXT_ALGS[] = { "RS256", "RS384", "ES256", "ES384" };

static void ext_ok(const char *jwt, const json_t *jwks)
{
	json_t *claims = NULL;
	int rc = jose_verify_jwks_alg(jwt, jwks, EXT_ALGS, 4, &claims, &why);
	if (rc != 0)
		fail_msg("expected a valid token, got %d (%s)", rc, why);
	assert_true(json_is_object(claims));
	json_decref(claims);
}

static void ext_bad(const char *jwt, const json_t *jwks, const char *const *algs, size_t n, const char *sub)
{
	json_t *claims = (json_t *)1;
	int rc = jose_verify_jwks_alg(jwt, jwks, algs, n, &claims, &why);
	if (rc != ERR_UNAUTHORIZED)
		fail_msg("expected rejection (%s), got %d", sub ? sub : "", rc);
	assert_null(claims);
	if (sub && !strstr(why, sub))
		fail_msg("reason \"%s\" lacks \"%s\"", why, sub);
}

static void test_jwks_alg_external(void **state)
{
	json_t *rsa = json_deep_copy(C_RSA_JWK), *p256 = json_deep_copy(C_EC256_JWK);
	json_t *jwks, *jwks2;
	char *jwt;

	json_object_del(rsa, "alg"); /* one RSA key for RS256 and RS384 */
	jwks = jwks_of(rsa, p256, C_EC_JWK);
	jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA256, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	ext_ok(jwt, jwks);
	/* a list without RS256 refuses it */
	{
		static const char *const only384[] = { "RS384", "ES384" };
		ext_bad(jwt, jwks, only384, 2, "alg");
	}
	free(jwt);
	jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	ext_ok(jwt, jwks);
	free(jwt);
	jwt = sign_with(C_EC256, GNUTLS_SIGN_ECDSA_SHA256, "{\"alg\":\"ES256\",\"kid\":\"ec-256\"}", ASSERTION, 0);
	ext_ok(jwt, jwks);
	free(jwt);
	jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384, "{\"alg\":\"ES384\",\"kid\":\"ec-1\"}", ASSERTION, 0);
	ext_ok(jwt, jwks);
	free(jwt);
	/* the alg must match the key's type and curve: ES384 naming the
	 * P-256 key, ES256 naming the P-384 key, RS256 naming an EC key */
	jwt = sign_with(C_EC256, GNUTLS_SIGN_ECDSA_SHA256, "{\"alg\":\"ES384\",\"kid\":\"ec-256\"}", ASSERTION, 0);
	ext_bad(jwt, jwks, EXT_ALGS, 4, "curve");
	free(jwt);
	jwt = sign_with(C_EC, GNUTLS_SIGN_ECDSA_SHA384, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", ASSERTION, 0);
	ext_bad(jwt, jwks, EXT_ALGS, 4, NULL);
	free(jwt);
	jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA256, "{\"alg\":\"RS256\",\"kid\":\"ec-256\"}", ASSERTION, 0);
	ext_bad(jwt, jwks, EXT_ALGS, 4, "unknown kid");
	free(jwt);
	/* none, HS256, PS256, ES512 - even when a caller lists them */
	{
		static const char *const lax[] = { "none", "HS256", "PS256", "ES512", "RS256" };
		static const char *const hdrs[] = {
			"{\"alg\":\"none\",\"kid\":\"rsa-1\"}", "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}",
			"{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}", "{\"alg\":\"ES512\",\"kid\":\"ec-256\"}",
			"{\"alg\":\"rs256\",\"kid\":\"rsa-1\"}",
		};
		for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
			jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA256, hdrs[i], ASSERTION, 0);
			ext_bad(jwt, jwks, lax, 5, "alg");
			free(jwt);
		}
	}
	/* no key reference in the header, jku included (unlike assertions) */
	jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA256,
			"{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"jku\":\"https://as.example/jwks\"}", ASSERTION, 0);
	ext_bad(jwt, jwks, EXT_ALGS, 4, "key");
	free(jwt);
	/* a key declared for RS384 is not a candidate for RS256 */
	json_object_set_new(rsa, "alg", json_string("RS384"));
	jwks2 = jwks_of(rsa, NULL, NULL);
	jwt = sign_with(C_RSA, GNUTLS_SIGN_RSA_SHA256, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", ASSERTION, 0);
	ext_bad(jwt, jwks2, EXT_ALGS, 4, "unknown kid");
	free(jwt);
	/* has_kid looks at every key, whatever its type */
	assert_true(jose_jwks_has_kid(jwks, "rsa-1"));
	assert_true(jose_jwks_has_kid(jwks, "ec-256"));
	assert_false(jose_jwks_has_kid(jwks, "nope"));
	assert_false(jose_jwks_has_kid(NULL, "rsa-1"));
	json_decref(jwks2);
	json_decref(jwks);
	json_decref(rsa);
	json_decref(p256);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify_roundtrip),
		cmocka_unit_test(test_hand_signed_control),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_hs256_with_public_key),
		cmocka_unit_test(test_rs384_header),
		cmocka_unit_test(test_kid_rules),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_noncanonical_base64),
		cmocka_unit_test(test_header_keys_rejected),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_payload_not_object),
		cmocka_unit_test(test_private_json_roundtrip),
		cmocka_unit_test(test_public_jwk),
		cmocka_unit_test(test_peek_header),
		cmocka_unit_test(test_assertion_rs384_es384),
		cmocka_unit_test(test_assertion_es384_leading_zero),
		cmocka_unit_test(test_assertion_alg_kty_pairing),
		cmocka_unit_test(test_assertion_duplicate_kid),
		cmocka_unit_test(test_assertion_bad_signatures),
		cmocka_unit_test(test_assertion_bad_keys),
		cmocka_unit_test(test_jwks_alg_external),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
