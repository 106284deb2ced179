/*
 * crypto.c - the small crypto helpers of jose.h: OS randomness, SHA-256
 * (nettle), base64url (core/b64url), constant-time comparison and argon2id
 * (libargon2). Nothing here is clever on purpose; the point is that every
 * caller uses the same few functions instead of its own.
 */
#include "jose.h"

#include "core/b64url.h"
#include "core/err.h"

#include <argon2.h>
#include <nettle/sha2.h>
#include <string.h>
#include <sys/random.h>

int jose_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got <= 0)
			return ERR_IO;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int jose_random_token(size_t nbytes, char *out, size_t cap)
{
	unsigned char raw[128];
	int rc;
	if (nbytes == 0 || nbytes > sizeof raw)
		return ERR_INVALID;
	rc = jose_random(raw, nbytes);
	if (rc == 0)
		rc = b64url_encode_to(raw, nbytes, out, cap, NULL);
	explicit_bzero(raw, sizeof raw);
	return rc;
}

void jose_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	struct sha256_ctx ctx;
	unsigned char d[SHA256_DIGEST_SIZE];
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, sizeof d, d);
	for (size_t i = 0; i < sizeof d; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

void jose_sha256_b64url(const void *data, size_t len, char out[44])
{
	struct sha256_ctx ctx;
	unsigned char d[SHA256_DIGEST_SIZE];
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, sizeof d, d);
	/* 32 bytes -> 43 characters + NUL; the buffer is exactly enough. */
	char tmp[64];
	b64url_encode_to(d, sizeof d, tmp, sizeof tmp, NULL);
	memcpy(out, tmp, 44);
	out[43] = '\0';
}

int jose_streq_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	/* Walk b's length whatever a is, reading a cyclically, so the time
	 * depends on the expected value's length only. */
	for (size_t i = 0; i < lb; i++)
		diff |= (unsigned char)(a[la ? i % la : 0] ^ b[i]);
	return diff == 0;
}

/* OWASP's argon2id recommendation range; 64 MiB keeps a login below
 * ~100 ms on one core here. */
#define CRYPTO_T_COST 3
#define CRYPTO_M_COST (64 * 1024)
#define CRYPTO_PARALLEL 1

int jose_password_hash(const char *password, char *out, size_t cap)
{
	unsigned char salt[16];
	int rc;
	if (!password || !*password)
		return ERR_INVALID;
	if (cap < argon2_encodedlen(CRYPTO_T_COST, CRYPTO_M_COST, CRYPTO_PARALLEL, sizeof salt, 32, Argon2_id))
		return ERR_TOOBIG;
	rc = jose_random(salt, sizeof salt);
	if (rc)
		return rc;
	rc = argon2id_hash_encoded(CRYPTO_T_COST, CRYPTO_M_COST, CRYPTO_PARALLEL, password, strlen(password), salt,
				   sizeof salt, 32, out, cap);
	return rc == ARGON2_OK ? 0 : ERR_INVALID;
}

int jose_password_verify(const char *password, const char *phc)
{
	if (!password || !phc || strncmp(phc, "$argon2id$", 10) != 0)
		return 0;
	return argon2id_verify(phc, password, strlen(password)) == ARGON2_OK;
}
