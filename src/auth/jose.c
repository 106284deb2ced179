/*
 * jose.c - the keys, signatures and tokens of jose.h: our RS256 signing
 * keys (generated with GnuTLS, kept as JWK text through rhonabwy), compact
 * JWS signing and verification of our own tokens, and verification
 * against a JWK Set: SMART Backend Services client assertions (RS384 /
 * ES384) and, with --auth external, another authorization server's
 * access tokens (RS256 / RS384 / ES256 / ES384).
 *
 * Verification is written out here on purpose instead of being handed to
 * a JOSE library's "parse and verify": the compact form is split and the
 * header decoded and judged (alg pinned, kid selects exactly one key,
 * header-embedded keys refused) before any signature work, and GnuTLS is
 * then asked to check one named signature algorithm with one chosen key.
 * No library ever picks the algorithm or the key from the token, and no
 * code path here fetches anything from the network (jku/x5u are never
 * dereferenced; client keys are rebuilt from their n/e or x/y members only).
 *
 * Work per call: a few small allocations, one base64url decode per part,
 * two JSON parses (header before, payload after the signature check) and
 * one RSA or ECDSA verification. Nothing is cached here (token.c caches).
 */
#include "jose.h"

#include "core/b64url.h"
#include "core/err.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <rhonabwy.h>
#include <stdlib.h>
#include <string.h>

/* A compact JWS longer than this is refused before any decoding: our own
 * tokens are < 2 KiB and client assertions smaller still. */
#define JOSE_MAX_LEN 16384
#define JOSE_KID_MAX 128
/* RFC 7518 3.3: RSA keys for RS* MUST be at least 2048 bits; the upper
 * bound keeps a hostile client key from making each verification slow. */
#define JOSE_RSA_MIN_BITS 2048
#define JOSE_RSA_MAX_BITS 8192
/* The algorithms a JWK Set verification may name (RFC 7518 3.1), each
 * tied to its key type and, for ECDSA, to its one curve (RFC 7518 3.4:
 * ES256 is P-256 with SHA-256, ES384 P-384 with SHA-384; R || S with
 * each half as long as a coordinate). */
typedef struct jose_alg {
	const char *name;
	int ec;
	gnutls_sign_algorithm_t sign;
	gnutls_ecc_curve_t curve;
	const char *crv;
	size_t coord;
} jose_alg;

static const jose_alg jose_algs[] = {
	{ "RS256", 0, GNUTLS_SIGN_RSA_SHA256, GNUTLS_ECC_CURVE_INVALID, NULL, 0 },
	{ "RS384", 0, GNUTLS_SIGN_RSA_SHA384, GNUTLS_ECC_CURVE_INVALID, NULL, 0 },
	{ "ES256", 1, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, GNUTLS_ECC_CURVE_SECP256R1, "P-256", 32 },
	{ "ES384", 1, GNUTLS_SIGN_ECDSA_SECP384R1_SHA384, GNUTLS_ECC_CURVE_SECP384R1, "P-384", 48 },
};

struct jose_key {
	char kid[JOSE_KID_MAX + 1];
	char *priv_json;        /* private JWK text; wiped at free */
	json_t *pub;            /* {kty, n, e, kid, alg, use} */
	gnutls_privkey_t priv;
	gnutls_pubkey_t pubk;
	size_t sig_len;         /* modulus length in bytes = RS256 signature length */
};

/* ---- small JSON helpers ---- */

/* v is a JSON string equal to s (byte for byte, whole length). */
static int jstr_eq(const json_t *v, const char *s)
{
	size_t n = strlen(s);
	return json_is_string(v) && json_string_length(v) == n && memcmp(json_string_value(v), s, n) == 0;
}

/* Overwrites the private members of a JWK object in place before it is
 * released: jansson frees without clearing, and these are the key. */
static void jwk_wipe(json_t *jwk)
{
	static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi", "k" };
	if (!json_is_object(jwk))
		return;
	for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++) {
		json_t *v = json_object_get(jwk, priv[i]);
		if (json_is_string(v))
			explicit_bzero((char *)json_string_value(v), json_string_length(v));
	}
}

static void str_wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* ---- keys ---- */

void jose_key_free(jose_key *k)
{
	if (!k)
		return;
	str_wipe_free(k->priv_json);
	json_decref(k->pub);
	if (k->priv)
		gnutls_privkey_deinit(k->priv); /* GnuTLS clears the key's numbers */
	if (k->pubk)
		gnutls_pubkey_deinit(k->pubk);
	free(k);
}

const char *jose_key_kid(const jose_key *k)
{
	return k->kid;
}

/* Pairwise consistency test (as FIPS 140 asks of a loaded key pair): one
 * signature with the private half must verify with the public half. It
 * costs one RSA signature per key load and catches a damaged record
 * before it signs tokens nobody can verify. */
static int jose_key_selftest(const jose_key *k)
{
	static const char msg[] = "fhird jose key self-test";
	gnutls_datum_t d = { (unsigned char *)msg, sizeof msg - 1 }, sig = { NULL, 0 };
	int rc = ERR_INVALID;

	if (gnutls_privkey_sign_data2(k->priv, GNUTLS_SIGN_RSA_SHA256, 0, &d, &sig) >= 0 &&
	    gnutls_pubkey_verify_data2(k->pubk, GNUTLS_SIGN_RSA_SHA256, 0, &d, &sig) >= 0)
		rc = 0;
	gnutls_free(sig.data);
	return rc;
}

int jose_key_from_private_json(const char *json, jose_key **out)
{
	json_t *j = NULL, *kid, *alg, *use;
	jwk_t *jwk = NULL;
	char *text = NULL;
	jose_key *k = NULL;
	unsigned int bits = 0;
	int rc = ERR_INVALID, type;

	*out = NULL;
	if (!json)
		goto fail;
	j = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j))
		goto fail;
	kid = json_object_get(j, "kid");
	alg = json_object_get(j, "alg");
	use = json_object_get(j, "use");
	if (!jstr_eq(json_object_get(j, "kty"), "RSA") || !json_is_string(kid) || json_string_length(kid) == 0 ||
	    json_string_length(kid) > JOSE_KID_MAX || strlen(json_string_value(kid)) != json_string_length(kid) ||
	    !json_is_string(json_object_get(j, "d")) || (alg && !jstr_eq(alg, "RS256")) ||
	    (use && !jstr_eq(use, "sig")))
		goto fail;
	/* Our keys carry no certificates; a member that could make the
	 * library look elsewhere for key material is refused outright. */
	if (json_object_get(j, "x5u") || json_object_get(j, "x5c") || json_object_get(j, "jku"))
		goto fail;
	if (json_object_set_new(j, "alg", json_string("RS256")) || json_object_set_new(j, "use", json_string("sig"))) {
		rc = ERR_NOMEM;
		goto fail;
	}
	k = calloc(1, sizeof *k);
	if (!k) {
		rc = ERR_NOMEM;
		goto fail;
	}
	memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
	if (r_jwk_init(&jwk) != RHN_OK) {
		rc = ERR_NOMEM;
		goto fail;
	}
	if (r_jwk_import_from_json_t(jwk, j) != RHN_OK)
		goto fail;
	type = r_jwk_key_type(jwk, &bits, R_FLAG_IGNORE_REMOTE);
	if ((type & (R_KEY_TYPE_RSA | R_KEY_TYPE_PRIVATE)) != (R_KEY_TYPE_RSA | R_KEY_TYPE_PRIVATE) ||
	    bits < JOSE_RSA_MIN_BITS || bits > JOSE_RSA_MAX_BITS)
		goto fail;
	k->priv = r_jwk_export_to_gnutls_privkey(jwk);
	if (!k->priv)
		goto fail;
	/* n, e, d, p, q... must belong together: a damaged record must not
	 * become a key that signs garbage. */
	if (gnutls_privkey_verify_params(k->priv) < 0)
		goto fail;
	if (gnutls_pubkey_init(&k->pubk) < 0) {
		rc = ERR_NOMEM;
		goto fail;
	}
	if (gnutls_pubkey_import_privkey(k->pubk, k->priv, 0, 0) < 0)
		goto fail;
	bits = 0;
	if (gnutls_pubkey_get_pk_algorithm(k->pubk, &bits) != GNUTLS_PK_RSA || bits < JOSE_RSA_MIN_BITS)
		goto fail;
	k->sig_len = (bits + 7) / 8;
	if (jose_key_selftest(k) != 0)
		goto fail;
	k->pub = json_pack("{s:s, s:O, s:O, s:s, s:s, s:s}", "kty", "RSA", "n", json_object_get(j, "n"), "e",
			   json_object_get(j, "e"), "kid", k->kid, "alg", "RS256", "use", "sig");
	if (!k->pub) {
		rc = ERR_NOMEM;
		goto fail;
	}
	text = r_jwk_export_to_json_str(jwk, 0);
	if (!text) {
		rc = ERR_NOMEM;
		goto fail;
	}
	/* Copied so that jose_key_private_json and jose_key_free deal in
	 * malloc/free only (rhonabwy strings are r_free'd). */
	k->priv_json = strdup(text);
	if (!k->priv_json) {
		rc = ERR_NOMEM;
		goto fail;
	}
	*out = k;
	k = NULL;
	rc = 0;
fail:
	if (text) {
		explicit_bzero(text, strlen(text));
		r_free(text);
	}
	jwk_wipe(jwk);
	r_jwk_free(jwk);
	jwk_wipe(j);
	json_decref(j);
	jose_key_free(k);
	return rc;
}

int jose_key_generate(jose_key **out)
{
	gnutls_privkey_t gk = NULL;
	jwk_t *jwk = NULL;
	char kid[32], *text = NULL;
	int rc = ERR_INTERNAL;

	*out = NULL;
	if (gnutls_privkey_init(&gk) < 0) {
		rc = ERR_NOMEM;
		goto fail;
	}
	if (gnutls_privkey_generate2(gk, GNUTLS_PK_RSA, 2048, 0, NULL, 0) < 0)
		goto fail;
	if (r_jwk_init(&jwk) != RHN_OK) {
		rc = ERR_NOMEM;
		goto fail;
	}
	if (r_jwk_import_from_gnutls_privkey(jwk, gk) != RHN_OK)
		goto fail;
	/* rhonabwy names the key by its thumbprint; a random kid says nothing
	 * about the key and cannot collide with a client's. */
	rc = jose_random_token(16, kid, sizeof kid);
	if (rc)
		goto fail;
	rc = ERR_INTERNAL;
	if (r_jwk_set_property_str(jwk, "kid", kid) != RHN_OK || r_jwk_set_property_str(jwk, "alg", "RS256") != RHN_OK ||
	    r_jwk_set_property_str(jwk, "use", "sig") != RHN_OK)
		goto fail;
	text = r_jwk_export_to_json_str(jwk, 0);
	if (!text)
		goto fail;
	/* One way in for every key: the generated one goes through the same
	 * checks as one read back from the store. */
	rc = jose_key_from_private_json(text, out);
fail:
	if (text) {
		explicit_bzero(text, strlen(text));
		r_free(text);
	}
	jwk_wipe(jwk);
	r_jwk_free(jwk);
	if (gk)
		gnutls_privkey_deinit(gk);
	return rc;
}

int jose_key_private_json(const jose_key *k, char **out)
{
	*out = strdup(k->priv_json);
	return *out ? 0 : ERR_NOMEM;
}

int jose_key_public(const jose_key *k, json_t **out)
{
	/* A deep copy: the caller may modify or extend its copy. */
	*out = json_deep_copy(k->pub);
	return *out ? 0 : ERR_NOMEM;
}

/* ---- compact serialization ---- */

struct jose_parts {
	const char *h, *p, *s; /* the three base64url parts */
	size_t hlen, plen, slen;
	size_t signed_len;     /* length of the signing input h '.' p */
};

/* Splits a compact JWS (RFC 7515 7.1) into its three parts. Bounded: the
 * length is measured only up to the limit. A JWE (five parts) or an
 * unsecured JWS with the signature stripped ("h.p.") is refused here. */
static int jose_split(const char *jwt, struct jose_parts *pt, const char **why)
{
	const char *d1, *d2;
	size_t len;

	if (!jwt) {
		*why = "no token";
		return ERR_UNAUTHORIZED;
	}
	len = strnlen(jwt, JOSE_MAX_LEN + 1);
	if (len > JOSE_MAX_LEN) {
		*why = "token too large";
		return ERR_UNAUTHORIZED;
	}
	d1 = memchr(jwt, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt))) {
		*why = "not a compact JWS";
		return ERR_UNAUTHORIZED;
	}
	pt->h = jwt;
	pt->hlen = (size_t)(d1 - jwt);
	pt->p = d1 + 1;
	pt->plen = (size_t)(d2 - pt->p);
	pt->s = d2 + 1;
	pt->slen = len - (size_t)(pt->s - jwt);
	pt->signed_len = (size_t)(d2 - jwt);
	if (pt->hlen == 0) {
		*why = "empty header";
		return ERR_UNAUTHORIZED;
	}
	if (pt->slen == 0) {
		*why = "empty signature";
		return ERR_UNAUTHORIZED;
	}
	return 0;
}

/* base64url part -> JSON object (duplicate members refused: two "alg"s
 * must not let two parsers see two different headers). */
static int jose_part_object(const char *b64, size_t len, json_t **out)
{
	unsigned char *raw = NULL;
	size_t n;
	json_t *j;
	int rc;

	*out = NULL;
	rc = b64url_decode(b64, len, &raw, &n);
	if (rc)
		return rc;
	j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (!json_is_object(j)) {
		json_decref(j);
		return ERR_INVALID;
	}
	*out = j;
	return 0;
}

/* The header rules common to our tokens and client assertions: an
 * object with a string alg and a non-empty string kid, and none of the
 * members that carry or point to a key or demand extensions (RFC 7515
 * 4.1.2-4.1.6, 4.1.11): the verifier chooses the key, never the token.
 * jku is allowed only for client assertions, where the caller compares
 * it with the client's registered JWKS URL (SMART client-confidential-
 * asymmetric); it is never fetched from here. */
static int jose_header_check(const json_t *h, int allow_jku, const char **alg, const char **kid, const char **why)
{
	const json_t *a = json_object_get(h, "alg"), *k = json_object_get(h, "kid");

	if (json_object_get(h, "jwk") || json_object_get(h, "x5u") || json_object_get(h, "x5c") ||
	    (!allow_jku && json_object_get(h, "jku"))) {
		*why = "header carries a key or key reference";
		return ERR_UNAUTHORIZED;
	}
	if (json_object_get(h, "crit")) {
		*why = "header has crit";
		return ERR_UNAUTHORIZED;
	}
	if (!json_is_string(a)) {
		*why = "no alg";
		return ERR_UNAUTHORIZED;
	}
	if (!json_is_string(k) || json_string_length(k) == 0 || json_string_length(k) > JOSE_KID_MAX ||
	    strlen(json_string_value(k)) != json_string_length(k)) {
		*why = "no kid";
		return ERR_UNAUTHORIZED;
	}
	*alg = json_string_value(a);
	*kid = json_string_value(k);
	return 0;
}

static int jose_sig_verify(gnutls_pubkey_t key, gnutls_sign_algorithm_t algo, const struct jose_parts *pt,
			   const unsigned char *sig, size_t slen)
{
	gnutls_datum_t d = { (unsigned char *)pt->h, (unsigned int)pt->signed_len };
	gnutls_datum_t s = { (unsigned char *)sig, (unsigned int)slen };
	return gnutls_pubkey_verify_data2(key, algo, 0, &d, &s) >= 0 ? 0 : ERR_UNAUTHORIZED;
}

int jose_sign(const jose_key *k, const json_t *claims, char **out)
{
	json_t *hdr = NULL;
	char *hs = NULL, *ps = NULL, *hb = NULL, *pb = NULL, *sb = NULL, *res = NULL;
	size_t hbl, pbl, sbl;
	gnutls_datum_t d, sig = { NULL, 0 };
	int rc = ERR_NOMEM;

	*out = NULL;
	if (!json_is_object(claims)) {
		rc = ERR_INVALID;
		goto fail;
	}
	hdr = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", k->kid);
	if (!hdr)
		goto fail;
	hs = json_dumps(hdr, JSON_COMPACT);
	ps = json_dumps(claims, JSON_COMPACT);
	if (!hs || !ps)
		goto fail;
	if (b64url_encode(hs, strlen(hs), &hb, &hbl) || b64url_encode(ps, strlen(ps), &pb, &pbl))
		goto fail;
	/* Room for "h.p." and the encoded signature (4/3 of the modulus). */
	res = malloc(hbl + pbl + 2 + k->sig_len * 2 + 4);
	if (!res)
		goto fail;
	memcpy(res, hb, hbl);
	res[hbl] = '.';
	memcpy(res + hbl + 1, pb, pbl);
	d.data = (unsigned char *)res;
	d.size = (unsigned int)(hbl + 1 + pbl);
	/* RS256 = RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 3.3), named
	 * explicitly rather than derived from the key. */
	if (gnutls_privkey_sign_data2(k->priv, GNUTLS_SIGN_RSA_SHA256, 0, &d, &sig) < 0) {
		rc = ERR_INTERNAL;
		goto fail;
	}
	if (b64url_encode(sig.data, sig.size, &sb, &sbl) || sbl > k->sig_len * 2 + 2) {
		rc = sb ? ERR_INTERNAL : ERR_NOMEM;
		goto fail;
	}
	res[d.size] = '.';
	memcpy(res + d.size + 1, sb, sbl + 1);
	*out = res;
	res = NULL;
	rc = 0;
fail:
	gnutls_free(sig.data);
	free(sb);
	free(res);
	free(hb);
	free(pb);
	free(hs);
	free(ps);
	json_decref(hdr);
	return rc;
}

int jose_verify(const char *jwt, const jose_key *const *keys, size_t n, json_t **claims, const char **why)
{
	struct jose_parts pt;
	json_t *h = NULL, *payload = NULL;
	unsigned char *sig = NULL;
	size_t slen;
	const jose_key *k = NULL;
	const char *alg, *kid;
	int rc;

	*claims = NULL;
	*why = "";
	rc = jose_split(jwt, &pt, why);
	if (rc)
		goto fail;
	rc = ERR_UNAUTHORIZED;
	if (jose_part_object(pt.h, pt.hlen, &h) != 0) {
		*why = "header is not a JSON object";
		goto fail;
	}
	if (jose_header_check(h, 0, &alg, &kid, why) != 0)
		goto fail;
	/* Byte for byte: "none", "None", "HS256" (a public key used as an
	 * HMAC secret), "RS384"... all stop here, before any key is touched. */
	if (strcmp(alg, "RS256") != 0) {
		*why = "alg is not RS256";
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		if (!keys[i] || strcmp(keys[i]->kid, kid) != 0)
			continue;
		if (k) {
			*why = "kid matches more than one key";
			goto fail;
		}
		k = keys[i];
	}
	if (!k) {
		*why = "unknown kid";
		goto fail;
	}
	if (b64url_decode(pt.s, pt.slen, &sig, &slen) != 0) {
		*why = "signature is not base64url";
		goto fail;
	}
	/* RFC 8017 8.2.2 step 1: a PKCS#1 v1.5 signature is exactly as long
	 * as the modulus; anything else would be a second spelling of it. */
	if (slen != k->sig_len) {
		*why = "signature length";
		goto fail;
	}
	if (jose_sig_verify(k->pubk, GNUTLS_SIGN_RSA_SHA256, &pt, sig, slen) != 0) {
		*why = "bad signature";
		goto fail;
	}
	if (jose_part_object(pt.p, pt.plen, &payload) != 0) {
		*why = "payload is not a JSON object";
		goto fail;
	}
	*claims = payload;
	payload = NULL;
	rc = 0;
fail:
	free(sig);
	json_decref(h);
	json_decref(payload);
	return rc;
}

/* ---- client assertions ---- */

int jose_peek_header(const char *jwt, json_t **header)
{
	struct jose_parts pt;
	const char *why;

	*header = NULL;
	if (jose_split(jwt, &pt, &why) != 0)
		return ERR_INVALID;
	return jose_part_object(pt.h, pt.hlen, header) == 0 ? 0 : ERR_INVALID;
}

/* A JWK member holding a base64url big-endian number, decoded. */
static int jwk_num(const json_t *jwk, const char *name, unsigned char **out, size_t *len)
{
	const json_t *v = json_object_get(jwk, name);
	if (!json_is_string(v) || json_string_length(v) == 0)
		return ERR_INVALID;
	return b64url_decode(json_string_value(v), json_string_length(v), out, len);
}

/* Builds a GnuTLS public key from the selected JWK's own numbers: RSA
 * n/e, or EC x/y on the algorithm's curve. Nothing else in the JWK (x5c,
 * x5u) is used. */
static int jose_set_pubkey(const json_t *jwk, const jose_alg *alg, gnutls_pubkey_t *out, const char **why)
{
	unsigned char *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	gnutls_pubkey_t key = NULL;
	gnutls_datum_t da, db;
	unsigned int bits = 0;
	int rc = ERR_UNAUTHORIZED;

	*out = NULL;
	if (gnutls_pubkey_init(&key) < 0) {
		rc = ERR_NOMEM;
		goto fail;
	}
	if (alg->ec) {
		if (!jstr_eq(json_object_get(jwk, "crv"), alg->crv)) {
			*why = "key is not on the algorithm's curve";
			goto fail;
		}
		/* RFC 7518 6.2.1.2-3: x and y are full-length coordinates. */
		if (jwk_num(jwk, "x", &a, &al) != 0 || jwk_num(jwk, "y", &b, &bl) != 0 || al != alg->coord ||
		    bl != alg->coord) {
			*why = "bad EC key";
			goto fail;
		}
		da = (gnutls_datum_t){ a, (unsigned int)al };
		db = (gnutls_datum_t){ b, (unsigned int)bl };
		if (gnutls_pubkey_import_ecc_raw(key, alg->curve, &da, &db) < 0) {
			*why = "bad EC key";
			goto fail;
		}
	} else {
		if (jwk_num(jwk, "n", &a, &al) != 0 || jwk_num(jwk, "e", &b, &bl) != 0 || al > JOSE_RSA_MAX_BITS / 8 + 1 ||
		    bl > 8 || (b[bl - 1] & 1) == 0 || (bl == 1 && b[0] < 3)) {
			*why = "bad RSA key";
			goto fail;
		}
		da = (gnutls_datum_t){ a, (unsigned int)al };
		db = (gnutls_datum_t){ b, (unsigned int)bl };
		if (gnutls_pubkey_import_rsa_raw(key, &da, &db) < 0 ||
		    gnutls_pubkey_get_pk_algorithm(key, &bits) != GNUTLS_PK_RSA || bits < JOSE_RSA_MIN_BITS ||
		    bits > JOSE_RSA_MAX_BITS) {
			*why = "bad RSA key";
			goto fail;
		}
	}
	*out = key;
	key = NULL;
	rc = 0;
fail:
	if (key)
		gnutls_pubkey_deinit(key);
	free(a);
	free(b);
	return rc;
}

/* The one key of the JWK Set that alg and kid select (see jose.h). */
static int jose_set_key(const json_t *jwks, const char *alg, const char *kid, int ec, const json_t **out,
			const char **why)
{
	const json_t *keys = json_is_object(jwks) ? json_object_get(jwks, "keys") : NULL, *k, *found = NULL;
	size_t i;

	*out = NULL;
	if (!json_is_array(keys)) {
		*why = "no JWK Set";
		return ERR_UNAUTHORIZED;
	}
	json_array_foreach(keys, i, k) {
		const json_t *a = json_object_get(k, "alg"), *u = json_object_get(k, "use");
		const json_t *ops = json_object_get(k, "key_ops");
		if (!json_is_object(k) || !jstr_eq(json_object_get(k, "kty"), ec ? "EC" : "RSA") ||
		    !jstr_eq(json_object_get(k, "kid"), kid))
			continue;
		/* RFC 7517 4.2-4.4: a key declared for another algorithm or
		 * another use is not a candidate. */
		if ((a && !jstr_eq(a, alg)) || (u && !jstr_eq(u, "sig")))
			continue;
		if (ops) {
			const json_t *op;
			size_t j;
			int verify = 0;
			if (!json_is_array(ops))
				continue;
			json_array_foreach(ops, j, op) verify |= jstr_eq(op, "verify");
			if (!verify)
				continue;
		}
		if (found) {
			*why = "kid matches more than one key";
			return ERR_UNAUTHORIZED;
		}
		found = k;
	}
	if (!found) {
		*why = "unknown kid";
		return ERR_UNAUTHORIZED;
	}
	*out = found;
	return 0;
}

/* A big-endian number without its leading zero octets (at least one
 * octet left), as DER wants INTEGER contents minimal. */
static gnutls_datum_t be_trim(unsigned char *p, size_t len)
{
	while (len > 1 && p[0] == 0) {
		p++;
		len--;
	}
	return (gnutls_datum_t){ p, (unsigned int)len };
}

static int all_zero(const unsigned char *p, size_t len)
{
	unsigned char acc = 0;
	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* Checks the signature of pt (decoded: sig[0..slen)) with key for alg. */
static int jose_set_sig(gnutls_pubkey_t key, const jose_alg *alg, const struct jose_parts *pt,
			unsigned char *sig, size_t slen, const char **why)
{
	gnutls_datum_t der = { NULL, 0 };
	int rc = ERR_UNAUTHORIZED;

	if (alg->ec) {
		gnutls_datum_t r, s;
		/* RFC 7518 3.4: R || S, not the DER SEQUENCE GnuTLS speaks;
		 * zero values are never valid (a classic ECDSA bypass). */
		if (slen != 2 * alg->coord) {
			*why = "signature length";
			goto out;
		}
		if (all_zero(sig, alg->coord) || all_zero(sig + alg->coord, alg->coord)) {
			*why = "zero signature";
			goto out;
		}
		r = be_trim(sig, alg->coord);
		s = be_trim(sig + alg->coord, alg->coord);
		if (gnutls_encode_rs_value(&der, &r, &s) < 0) {
			rc = ERR_NOMEM;
			goto out;
		}
		if (jose_sig_verify(key, alg->sign, pt, der.data, der.size) != 0) {
			*why = "bad signature";
			goto out;
		}
	} else {
		unsigned int bits = 0;
		gnutls_pubkey_get_pk_algorithm(key, &bits);
		/* RFC 8017 8.2.2 step 1: exactly the modulus length */
		if (slen != (bits + 7) / 8) {
			*why = "signature length";
			goto out;
		}
		if (jose_sig_verify(key, alg->sign, pt, sig, slen) != 0) {
			*why = "bad signature";
			goto out;
		}
	}
	rc = 0;
out:
	gnutls_free(der.data);
	return rc;
}

/* Verification against a JWK Set with the header's alg one of algs
 * (exact comparison). allow_jku: a jku header is tolerated (client
 * assertions; the caller compares it with the registration). */
static int jose_verify_set(const char *jwt, const json_t *jwks, const char *const *algs, size_t nalgs, int allow_jku,
			   json_t **claims, const char **why)
{
	struct jose_parts pt;
	json_t *h = NULL, *payload = NULL;
	const json_t *jwk;
	const jose_alg *alg = NULL;
	unsigned char *sig = NULL;
	size_t slen;
	gnutls_pubkey_t key = NULL;
	const char *halg, *kid;
	int rc;

	*claims = NULL;
	*why = "";
	rc = jose_split(jwt, &pt, why);
	if (rc)
		goto fail;
	rc = ERR_UNAUTHORIZED;
	if (jose_part_object(pt.h, pt.hlen, &h) != 0) {
		*why = "header is not a JSON object";
		goto fail;
	}
	if (jose_header_check(h, allow_jku, &halg, &kid, why) != 0)
		goto fail;
	/* Byte for byte against the caller's list, and then against our
	 * table: "none", "HS256" (a public key as an HMAC secret), "rs256"
	 * never get further, whatever the caller listed. */
	for (size_t i = 0; i < nalgs && !alg; i++) {
		if (strcmp(halg, algs[i]) != 0)
			continue;
		for (size_t j = 0; j < sizeof jose_algs / sizeof jose_algs[0]; j++)
			if (strcmp(halg, jose_algs[j].name) == 0)
				alg = &jose_algs[j];
	}
	if (!alg) {
		*why = "alg not allowed";
		goto fail;
	}
	rc = jose_set_key(jwks, alg->name, kid, alg->ec, &jwk, why);
	if (rc)
		goto fail;
	rc = jose_set_pubkey(jwk, alg, &key, why);
	if (rc)
		goto fail;
	rc = ERR_UNAUTHORIZED;
	if (b64url_decode(pt.s, pt.slen, &sig, &slen) != 0) {
		*why = "signature is not base64url";
		goto fail;
	}
	rc = jose_set_sig(key, alg, &pt, sig, slen, why);
	if (rc)
		goto fail;
	rc = ERR_UNAUTHORIZED;
	if (jose_part_object(pt.p, pt.plen, &payload) != 0) {
		*why = "payload is not a JSON object";
		goto fail;
	}
	*claims = payload;
	payload = NULL;
	rc = 0;
fail:
	if (key)
		gnutls_pubkey_deinit(key);
	free(sig);
	json_decref(h);
	json_decref(payload);
	return rc;
}

int jose_verify_assertion(const char *jwt, const json_t *jwks, json_t **claims, const char **why)
{
	/* SMART client-confidential-asymmetric: RS384 and ES384 only. */
	static const char *const algs[] = { "RS384", "ES384" };
	return jose_verify_set(jwt, jwks, algs, 2, 1, claims, why);
}

int jose_verify_jwks_alg(const char *jwt, const json_t *jwks, const char *const *algs, size_t nalgs, json_t **claims,
			 const char **why)
{
	return jose_verify_set(jwt, jwks, algs, nalgs, 0, claims, why);
}

int jose_jwks_has_kid(const json_t *jwks, const char *kid)
{
	const json_t *keys = json_is_object(jwks) ? json_object_get(jwks, "keys") : NULL, *k;
	size_t i;

	json_array_foreach(keys, i, k) {
		if (jstr_eq(json_object_get(k, "kid"), kid))
			return 1;
	}
	return 0;
}
