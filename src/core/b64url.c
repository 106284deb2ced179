/*
 * b64url.c - base64url without padding: nettle's encoder, our strict
 * decoder (nettle's accepts padding, and non-zero unused bits, which would
 * give one value several spellings).
 */
#include "b64url.h"

#include "err.h"

#include <nettle/base64.h>
#include <stdint.h>
#include <stdlib.h>

int b64url_encode_to(const void *data, size_t len, char *out, size_t cap, size_t *outlen)
{
	struct base64_encode_ctx ctx;
	size_t n;

	/* nettle may write the padding too: BASE64_ENCODE_RAW_LENGTH, which
	 * B64URL_CAP is (with the NUL), counts it */
	if (len > (SIZE_MAX - 1) / 4 * 3 - 2 || cap < B64URL_CAP(len))
		return ERR_TOOBIG;
	base64url_encode_init(&ctx);
	n = base64_encode_update(&ctx, out, len, data);
	n += base64_encode_final(&ctx, out + n);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	if (outlen)
		*outlen = n;
	return 0;
}

int b64url_encode(const void *data, size_t len, char **out, size_t *outlen)
{
	char *buf;

	*out = NULL;
	if (len > (SIZE_MAX - 1) / 4 * 3 - 2 || !(buf = malloc(B64URL_CAP(len))))
		return ERR_NOMEM;
	b64url_encode_to(data, len, buf, B64URL_CAP(len), outlen); /* cannot fail: the cap is exact */
	*out = buf;
	return 0;
}

static int b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	size_t rem = len % 4, n = len / 4 * 3 + (rem ? rem - 1 : 0), o = 0;
	unsigned char *buf;
	uint32_t acc = 0;
	int bits = 0;

	*out = NULL;
	*outlen = 0;
	if (rem == 1)
		return ERR_INVALID;
	buf = malloc(n + 1);
	if (!buf)
		return ERR_NOMEM;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_val((unsigned char)in[i]);
		if (v < 0)
			goto fail;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		goto fail;
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
fail:
	free(buf);
	return ERR_INVALID;
}
