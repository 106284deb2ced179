/*
 * fuzz_jwt.c - compact JWS parsing and verification on arbitrary bytes:
 * jose_verify() against one fixed server key, jose_peek_header(), and
 * jose_verify_assertion() against a fixed client JWK Set (an RSA and a
 * P-384 key), on every input. The keys are generated once per process
 * (LLVMFuzzerInitialize) but their kids are fixed ("fuzz-k1", "c-rsa",
 * "c-ec"), so the corpus tokens get past kid selection into the signature
 * checks. An input that is itself a JSON object is also signed and
 * verified back: the round trip must give the same claims.
 *
 * Invariants checked: success returns an object, failure returns NULL and
 * a non-empty reason; nothing crashes or leaks (ASan/UBSan, LSan).
 */
#include "auth/jose.h"
#include "core/b64url.h"
#include "core/err.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static jose_key *fz_key;
static json_t *fz_jwks;

static char *fz_b64u(const void *data, size_t len)
{
	char *out = NULL;
	if (b64url_encode(data, len, &out, NULL))
		abort();
	return out;
}

/* The server key under the fixed kid "fuzz-k1". */
static jose_key *fz_server_key(void)
{
	jose_key *k = NULL, *k2 = NULL;
	char *priv = NULL, *text;
	json_t *j;
	if (jose_key_generate(&k) || jose_key_private_json(k, &priv))
		abort();
	j = json_loads(priv, 0, NULL);
	json_object_set_new(j, "kid", json_string("fuzz-k1"));
	text = json_dumps(j, JSON_COMPACT);
	if (!text || jose_key_from_private_json(text, &k2))
		abort();
	free(text);
	free(priv);
	json_decref(j);
	jose_key_free(k);
	return k2;
}

/* A P-384 public JWK from a freshly generated key. */
static json_t *fz_ec_jwk(void)
{
	gnutls_privkey_t priv;
	gnutls_pubkey_t pub;
	gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	unsigned char bx[48] = { 0 }, by[48] = { 0 };
	char *sx, *sy;
	json_t *j;

	if (gnutls_privkey_init(&priv) < 0 ||
	    gnutls_privkey_generate2(priv, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0, NULL,
				     0) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_privkey(pub, priv, 0, 0) < 0 ||
	    gnutls_pubkey_export_ecc_raw2(pub, &curve, &x, &y, GNUTLS_EXPORT_FLAG_NO_LZ) < 0 || x.size > 48 ||
	    y.size > 48)
		abort();
	memcpy(bx + 48 - x.size, x.data, x.size);
	memcpy(by + 48 - y.size, y.data, y.size);
	sx = fz_b64u(bx, 48);
	sy = fz_b64u(by, 48);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-384", "x", sx, "y", sy, "kid", "c-ec",
		      "alg", "ES384");
	free(sx);
	free(sy);
	gnutls_free(x.data);
	gnutls_free(y.data);
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(priv);
	return j;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	json_t *rsa = NULL, *keys;
	jose_key *ck = NULL;

	fz_key = fz_server_key();
	/* an RSA client key: a second generated key's public JWK, renamed */
	if (jose_key_generate(&ck) || jose_key_public(ck, &rsa))
		abort();
	json_object_set_new(rsa, "kid", json_string("c-rsa"));
	json_object_set_new(rsa, "alg", json_string("RS384"));
	jose_key_free(ck);
	keys = json_pack("[o, o]", rsa, fz_ec_jwk());
	fz_jwks = json_pack("{s:o}", "keys", keys);
	if (!fz_jwks)
		abort();
	return 0;
}

static void fz_check(int rc, json_t *claims, const char *why)
{
	if (rc == 0) {
		if (!json_is_object(claims))
			abort();
	} else if (claims || !why || !why[0]) {
		abort();
	}
	json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const jose_key *keys[] = { fz_key };
	json_t *claims = NULL, *hdr = NULL, *obj;
	const char *why = NULL;
	char *s = malloc(size + 1);
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	rc = jose_verify(s, keys, 1, &claims, &why);
	fz_check(rc, claims, why);

	claims = NULL;
	why = NULL;
	rc = jose_verify_assertion(s, fz_jwks, &claims, &why);
	fz_check(rc, claims, why);

	rc = jose_peek_header(s, &hdr);
	if ((rc == 0) != json_is_object(hdr))
		abort();
	json_decref(hdr);

	/* sign and verify back (bounded: an RSA signature per such input) */
	obj = size < 4096 ? json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (json_is_object(obj)) {
		char *jwt = NULL;
		if (jose_sign(fz_key, obj, &jwt) != 0)
			abort();
		claims = NULL;
		if (strlen(jwt) <= 16384) {
			if (jose_verify(jwt, keys, 1, &claims, &why) != 0 || !json_equal(claims, obj))
				abort();
		}
		json_decref(claims);
		free(jwt);
	}
	json_decref(obj);
	free(s);
	return 0;
}
