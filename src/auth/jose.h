/*
 * jose.h - JSON Web Keys, signatures and tokens (RFC 7515/7517/7519) on
 * top of rhonabwy and GnuTLS, plus the small crypto helpers the
 * authorization server needs (OS randomness, SHA-256, constant-time
 * comparison, argon2id).
 *
 * The rules that the ONC Showdown server broke are enforced here, once:
 *   - a verification names the algorithms it accepts ("RS256" for our
 *     own tokens; RS384/ES384 for client assertions; RS256, RS384, ES256,
 *     ES384 for an external authorization server's tokens); the header's
 *     alg must equal one of them byte for byte, so "none" (any casing) and
 *     HS256 with a public key never reach a signature check;
 *   - each algorithm is tied to its key type (RS* to RSA keys of 2048 to
 *     8192 bits, ES256 to EC P-256, ES384 to EC P-384);
 *   - a symmetric algorithm is never accepted with an asymmetric key;
 *   - the key is chosen by kid among keys of the matching kty: no kid, an
 *     unknown kid, or a kid matching more than one key is a failure;
 *   - header-embedded keys (jwk, jku, x5u, x5c) are never used to verify.
 * Failures say why in a short static string for the log (never to clients
 * beyond "invalid_token"/"invalid_client").
 *
 * Ownership: jose_key objects are immutable after creation and may be
 * shared between threads; json_t results are new references.
 */
#ifndef FHIRD_AUTH_JOSE_H
#define FHIRD_AUTH_JOSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ---- crypto helpers ---- */

/* n random bytes from the OS (getrandom). ERR_IO when it fails. */
int jose_random(void *buf, size_t n);

/* A random token: nbytes from the OS, base64url without padding, into
 * out (cap >= 4*nbytes/3+2). ERR_IO, ERR_TOOBIG (cap). */
int jose_random_token(size_t nbytes, char *out, size_t cap);

/* SHA-256 of data as lowercase hex (out: 65 bytes) - the form in which
 * codes, refresh tokens, launch values and client secrets are stored. */
void jose_sha256_hex(const void *data, size_t len, char out[65]);

/* base64url(SHA-256(data)) without padding (out: 44 bytes): PKCE S256
 * (RFC 7636 4.2) and at_hash. */
void jose_sha256_b64url(const void *data, size_t len, char out[44]);

/* Constant-time equality of two NUL-terminated strings (the lengths may
 * differ; the time depends only on the length of b). */
int jose_streq_ct(const char *a, const char *b);

/* argon2id password hash in the PHC string format (t=3, m=64 MiB, p=1,
 * 16-byte random salt) into out (cap >= 128). ERR_IO / ERR_INVALID. */
int jose_password_hash(const char *password, char *out, size_t cap);

/* 1 when password matches the PHC string, else 0 (also for a malformed
 * hash). */
int jose_password_verify(const char *password, const char *phc);

/* ---- keys ---- */

typedef struct jose_key jose_key;

/* A new RSA 2048 signing key for alg "RS256" with a random kid. */
int jose_key_generate(jose_key **out);

/* A key from a private JWK (JSON text, as jose_key_private_json wrote it).
 * ERR_INVALID. */
int jose_key_from_private_json(const char *json, jose_key **out);

/* The private JWK as JSON text (malloc'd; for the store only). */
int jose_key_private_json(const jose_key *k, char **out);

/* The public JWK {kty, n, e, kid, alg, use: "sig"} (new reference). */
int jose_key_public(const jose_key *k, json_t **out);

const char *jose_key_kid(const jose_key *k);

void jose_key_free(jose_key *k);

/* ---- our own tokens ---- */

/* Signs claims (a JSON object) with k: header {"alg":"RS256","typ":"JWT",
 * "kid":kid}. *out is the compact serialization, malloc'd. */
int jose_sign(const jose_key *k, const json_t *claims, char **out);

/* Verifies a compact JWS against keys[0..n) with alg exactly "RS256",
 * selecting the key by the header's kid. Checks only the signature and
 * the header; claims (exp, aud, ...) are the caller's. *claims is a new
 * reference to the payload object. ERR_UNAUTHORIZED, with *why set. The
 * input is bounded (ERR_UNAUTHORIZED beyond 16 KiB). */
int jose_verify(const char *jwt, const jose_key *const *keys, size_t n, json_t **claims, const char **why);

/* ---- client assertions (private_key_jwt, SMART Backend Services) ---- */

/* Reads the header of a compact JWS without verifying anything (for the
 * caller's jku check). *header is a new reference. ERR_INVALID. */
int jose_peek_header(const char *jwt, json_t **header);

/* Verifies a compact JWS with a key from a client's JWK Set (a JSON
 * object {"keys": [...]}): the header's alg must be "RS384" (kty RSA) or
 * "ES384" (kty EC, crv P-384); the header's kid must select exactly one
 * key of that kty (keys whose "alg", when present, differs, whose "use"
 * is not "sig" or whose "key_ops" lack "verify" are skipped). A jku
 * header is tolerated (the caller compares it with the registered URL).
 * *claims is a new reference. ERR_UNAUTHORIZED with *why. */
int jose_verify_assertion(const char *jwt, const json_t *jwks, json_t **claims, const char **why);

/* ---- tokens of another authorization server (--auth external) ---- */

/* As jose_verify_assertion, with the header's alg one of algs[0..nalgs)
 * (each of "RS256", "RS384", "ES256", "ES384"; other names never match)
 * and no key reference at all in the header (jku included: the JWK Set
 * is the configured one). The claims are the caller's to check. */
int jose_verify_jwks_alg(const char *jwt, const json_t *jwks, const char *const *algs, size_t nalgs, json_t **claims,
			 const char **why);

/* 1 when some key of the JWK Set has this kid (whatever its type): tells
 * an unknown kid, worth a refetch of the set, from a bad token. */
int jose_jwks_has_kid(const json_t *jwks, const char *kid);

#endif
