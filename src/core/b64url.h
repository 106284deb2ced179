/*
 * b64url.h - base64url without padding (RFC 4648 5, as JOSE uses it, RFC
 * 7515 2): what tokens, signatures and the search cursors are written in.
 * The encoder is nettle's; the decoder is strict, so that every byte
 * string has exactly one encoding.
 */
#ifndef FHIRD_CORE_B64URL_H
#define FHIRD_CORE_B64URL_H

#include <stddef.h>

/* Room b64url_encode_to() needs for len bytes (with the NUL). */
#define B64URL_CAP(len) (((len) + 2) / 3 * 4 + 1)

/* base64url of data[0..len), no '=', into out[0..cap) with a NUL; *outlen
 * (may be NULL) its length. 0, or ERR_TOOBIG (cap < B64URL_CAP(len)). */
int b64url_encode_to(const void *data, size_t len, char *out, size_t cap, size_t *outlen);

/* The same, malloc'd: *out NUL-terminated, *outlen (may be NULL) its
 * length. 0 or ERR_NOMEM. */
int b64url_encode(const void *data, size_t len, char **out, size_t *outlen);

/* Decodes in[0..len): only the URL alphabet, no '=', no whitespace, and
 * the unused low bits of the last character zero. *out is malloc'd with
 * one spare byte, set to NUL. 0, ERR_INVALID or ERR_NOMEM (*out NULL). */
int b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

#endif
