/*
 * test_b64url.c - base64url without padding (src/core/b64url.c): the RFC
 * 4648 section 10 vectors in the URL alphabet without '=', the two
 * characters that differ from base64, the fixed-buffer bound, and a
 * decoder that takes exactly one spelling per value.
 */
#include "core/b64url.h"
#include "core/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const struct {
	const char *raw, *enc;
} vectors[] = {
	{ "", "" },	    { "f", "Zg" },	   { "fo", "Zm8" },	  { "foo", "Zm9v" },
	{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
};

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		char *e = NULL, buf[16];
		unsigned char *d = NULL;
		size_t n = 99, dl = 99;
		size_t rl = strlen(vectors[i].raw);

		assert_int_equal(b64url_encode(vectors[i].raw, rl, &e, &n), 0);
		assert_string_equal(e, vectors[i].enc);
		assert_int_equal(n, strlen(vectors[i].enc));
		assert_int_equal(b64url_encode_to(vectors[i].raw, rl, buf, B64URL_CAP(rl), &n), 0);
		assert_string_equal(buf, vectors[i].enc);
		assert_int_equal(b64url_decode(e, n, &d, &dl), 0);
		assert_int_equal(dl, rl);
		assert_memory_equal(d, vectors[i].raw, rl);
		assert_int_equal(d[dl], '\0');
		free(e);
		free(d);
	}
}

static void test_url_alphabet(void **state)
{
	const unsigned char raw[] = { 0xfb, 0xff, 0xbf };
	char *e = NULL;
	unsigned char *d = NULL;
	size_t dl = 0;

	(void)state;
	/* base64 would say "+/+/" */
	assert_int_equal(b64url_encode(raw, sizeof raw, &e, NULL), 0);
	assert_string_equal(e, "-_-_");
	assert_int_equal(b64url_decode("+/+/", 4, &d, &dl), ERR_INVALID);
	assert_null(d);
	assert_int_equal(b64url_decode(e, 4, &d, &dl), 0);
	assert_memory_equal(d, raw, sizeof raw);
	free(e);
	free(d);
}

static void test_fixed_buffer_bound(void **state)
{
	char buf[9];
	size_t n = 0;

	(void)state;
	/* 6 bytes -> 8 characters and the NUL: 9 fits, 8 does not */
	assert_int_equal(B64URL_CAP(6), 9);
	assert_int_equal(b64url_encode_to("foobar", 6, buf, 9, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(b64url_encode_to("foobar", 6, buf, 8, &n), ERR_TOOBIG);
	/* 5 bytes -> 7 characters (RFC 4648 "Zm9vYmE="), but the encoder
	 * writes the '=' before it is cut: the bound must leave room for it */
	assert_int_equal(b64url_encode_to("fooba", 5, buf, B64URL_CAP(5), &n), 0);
	assert_string_equal(buf, "Zm9vYmE");
	assert_int_equal(n, 7);
	assert_int_equal(b64url_encode_to("fooba", 5, buf, 8, &n), ERR_TOOBIG);
}

static void test_one_spelling_only(void **state)
{
	static const char *bad[] = {
		"Zg==",	 /* padding */
		"Zh",	 /* same bytes as "Zg", unused low bits set */
		"Zm9vY",  /* a length that is 1 mod 4 */
		"Zm9v\n", /* whitespace */
		"Zm 9v", "Zm9v.",
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		unsigned char *d = (unsigned char *)"x";
		size_t dl = 7;
		assert_int_equal(b64url_decode(bad[i], strlen(bad[i]), &d, &dl), ERR_INVALID);
		assert_null(d);
		assert_int_equal(dl, 0);
	}
}

static void test_round_trip_all_bytes(void **state)
{
	unsigned char raw[256];
	(void)state;
	for (int i = 0; i < 256; i++)
		raw[i] = (unsigned char)i;
	for (size_t len = 0; len <= sizeof raw; len += 37) {
		char *e = NULL;
		unsigned char *d = NULL;
		size_t n = 0, dl = 0;
		assert_int_equal(b64url_encode(raw, len, &e, &n), 0);
		assert_null(strchr(e, '='));
		assert_int_equal(b64url_decode(e, n, &d, &dl), 0);
		assert_int_equal(dl, len);
		assert_memory_equal(d, raw, len);
		free(e);
		free(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),	   cmocka_unit_test(test_url_alphabet),
		cmocka_unit_test(test_fixed_buffer_bound), cmocka_unit_test(test_one_spelling_only),
		cmocka_unit_test(test_round_trip_all_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
