/*
 * test_buf.c - the bounded string buffer (buf.h): appends and printf keep
 * the data NUL-terminated; going past max fails with ERR_TOOBIG and
 * leaves the buffer exactly as it was (so the caller can still answer
 * 413); exactly max bytes fit; detach hands over the data and empties
 * the buffer; fini is NULL-safe and the buffer reusable.
 */
#include "core/buf.h"
#include "core/err.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_buf_append(void **state)
{
	buf_t b;
	(void)state;

	buf_init(&b, 1024);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	assert_int_equal(buf_append_str(&b, "def"), 0);
	assert_int_equal(buf_append_char(&b, 'g'), 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(b.len, 7);
	assert_string_equal(b.data, "abcdefg");
	assert_int_equal(b.data[b.len], '\0');
	/* binary data, NUL included, counts in len */
	assert_int_equal(buf_append(&b, "x\0y", 3), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(memcmp(b.data + 7, "x\0y\0", 4), 0);
	buf_fini(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

/* Growth across many reallocations keeps the content. */
static void test_buf_grow(void **state)
{
	buf_t b;
	(void)state;

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(buf_append_char(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 100000);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);
	assert_int_equal(b.data[100000], '\0');
	buf_fini(&b);
}

static void test_buf_printf(void **state)
{
	buf_t b;
	char *big;
	(void)state;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "%s/%d", "Patient", 42), 0);
	assert_int_equal(buf_printf(&b, "?_count=%u", 10u), 0);
	assert_string_equal(b.data, "Patient/42?_count=10");
	assert_int_equal(b.len, strlen("Patient/42?_count=10"));
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, strlen("Patient/42?_count=10"));
	/* larger than any initial capacity */
	big = malloc(5001);
	assert_non_null(big);
	memset(big, 'z', 5000);
	big[5000] = '\0';
	assert_int_equal(buf_printf(&b, "[%s]", big), 0);
	assert_int_equal(b.len, 20 + 5002);
	assert_int_equal(b.data[20], '[');
	assert_int_equal(b.data[b.len - 1], ']');
	assert_int_equal(b.data[b.len], '\0');
	free(big);
	buf_fini(&b);
}

/* Past max: ERR_TOOBIG, content and length untouched. Exactly max fits. */
static void test_buf_max(void **state)
{
	buf_t b;
	(void)state;

	buf_init(&b, 10);
	assert_int_equal(buf_append_str(&b, "12345"), 0);
	assert_int_equal(buf_append_str(&b, "678901"), ERR_TOOBIG);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "12345");
	assert_int_equal(buf_printf(&b, "%s", "abcdef"), ERR_TOOBIG);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "12345");
	assert_int_equal(buf_append_str(&b, "67890"), 0); /* exactly max */
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "1234567890");
	assert_int_equal(buf_append_char(&b, 'x'), ERR_TOOBIG);
	assert_int_equal(buf_printf(&b, "x"), ERR_TOOBIG);
	assert_int_equal(buf_append(&b, "", 0), 0); /* nothing more is still fine */
	assert_string_equal(b.data, "1234567890");
	/* lengths that would overflow a size computation */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), ERR_TOOBIG);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 5), ERR_TOOBIG);
	assert_int_equal(b.len, 10);
	buf_fini(&b);

	buf_init(&b, 0);
	assert_int_equal(buf_append_char(&b, 'x'), ERR_TOOBIG);
	assert_int_equal(b.len, 0);
	buf_fini(&b);
}

/* A large max is a limit, not an allocation size. */
static void test_buf_large_max(void **state)
{
	buf_t b;
	(void)state;

	buf_init(&b, SIZE_MAX / 2);
	assert_int_equal(buf_append_str(&b, "hello"), 0);
	assert_string_equal(b.data, "hello");
	buf_fini(&b);

	/* SIZE_MAX: "no limit" must not turn max + 1 into 0 */
	buf_init(&b, SIZE_MAX);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_append_str(&b, "0123456789"), 0);
	assert_int_equal(b.len, 1000);
	assert_int_equal(b.data[999], '9');
	assert_int_equal(b.data[1000], '\0');
	buf_fini(&b);
}

static void test_buf_reset(void **state)
{
	buf_t b;
	(void)state;

	buf_init(&b, 100);
	buf_reset(&b); /* on an empty buffer */
	assert_int_equal(buf_append_str(&b, "hello"), 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	/* the whole max is available again */
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_append_char(&b, 'x'), 0);
	assert_int_equal(buf_append_char(&b, 'x'), ERR_TOOBIG);
	buf_fini(&b);
}

static void test_buf_detach(void **state)
{
	buf_t b;
	size_t len = 99;
	char *p;
	(void)state;

	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "payload"), 0);
	p = buf_detach(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 7);
	assert_string_equal(p, "payload");
	/* the buffer is empty and usable again, and does not own p */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append_str(&b, "more"), 0);
	assert_string_equal(b.data, "more");
	assert_string_equal(p, "payload");
	free(p);
	buf_fini(&b);

	/* an empty buffer detaches as "" (never NULL on success) */
	buf_init(&b, 100);
	len = 99;
	p = buf_detach(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);
	/* len may be NULL */
	assert_int_equal(buf_append_str(&b, "x"), 0);
	p = buf_detach(&b, NULL);
	assert_string_equal(p, "x");
	free(p);
	buf_fini(&b);

	/* even with max 0 */
	buf_init(&b, 0);
	p = buf_detach(&b, &len);
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);
}

static void test_buf_fini_null(void **state)
{
	buf_t b;
	(void)state;

	buf_fini(NULL);
	buf_init(&b, 10);
	buf_fini(&b); /* never allocated */
	buf_fini(&b); /* twice */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append),
		cmocka_unit_test(test_buf_grow),
		cmocka_unit_test(test_buf_printf),
		cmocka_unit_test(test_buf_max),
		cmocka_unit_test(test_buf_large_max),
		cmocka_unit_test(test_buf_reset),
		cmocka_unit_test(test_buf_detach),
		cmocka_unit_test(test_buf_fini_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
