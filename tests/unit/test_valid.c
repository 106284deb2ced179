/*
 * test_valid.c - the primitive format checks and conversions (valid.h)
 * against their specifications: FHIR R4 datatypes.html (the regular
 * expressions of id, date, dateTime, instant and time, plus the calendar),
 * RFC 9110 5.6.7 (IMF-fixdate) and RFC 3629 (UTF-8).
 */
#include "core/err.h"
#include "core/valid.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define US 1000000LL

static int id_ok(const char *s)
{
	return valid_id(s, strlen(s));
}

/* id: [A-Za-z0-9\-\.]{1,64} */
static void test_valid_id(void **state)
{
	char s[80];
	(void)state;

	assert_true(id_ok("a"));
	assert_true(id_ok("123"));
	assert_true(id_ok("Patient-1.2"));
	assert_true(id_ok("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
	assert_true(id_ok("-"));
	assert_true(id_ok("."));
	memset(s, 'x', 64);
	assert_true(valid_id(s, 64));
	assert_false(valid_id(s, 65));
	s[64] = 'x';
	assert_false(valid_id(s, 65));

	assert_false(id_ok(""));
	assert_false(valid_id("abc", 0));
	assert_false(id_ok("a b"));
	assert_false(id_ok("a_b"));
	assert_false(id_ok("a/b"));
	assert_false(id_ok("a:b"));
	assert_false(id_ok("a+b"));
	assert_false(id_ok("a%20b"));
	assert_false(id_ok("a\tb"));
	assert_false(id_ok("\xC3\xA9")); /* é: letters are ASCII only */
	assert_false(valid_id("a\0b", 3));
	/* only [0..len) is looked at */
	assert_true(valid_id("ab/cd", 2));
}

/* date: YYYY, YYYY-MM, YYYY-MM-DD with a real calendar */
static void test_valid_date(void **state)
{
	(void)state;
	assert_true(valid_date("2020"));
	assert_true(valid_date("2020-02"));
	assert_true(valid_date("2020-12-31"));
	assert_true(valid_date("2020-02-29"));  /* leap year */
	assert_true(valid_date("2000-02-29"));  /* divisible by 400 */
	assert_false(valid_date("2019-02-29")); /* not leap */
	assert_false(valid_date("1900-02-29")); /* divisible by 100 */
	assert_false(valid_date("2021-02-30"));
	assert_false(valid_date("2021-04-31"));
	assert_true(valid_date("2021-01-31"));
	assert_false(valid_date("2021-13"));
	assert_false(valid_date("2021-13-01"));
	assert_false(valid_date("2021-00"));
	assert_false(valid_date("2021-01-00"));
	assert_false(valid_date("2021-01-32"));
	assert_false(valid_date("2021-1-01"));
	assert_false(valid_date("2021-01-1"));
	assert_false(valid_date("21-01-01"));
	assert_false(valid_date("20210101"));
	assert_false(valid_date("2021/01/01"));
	assert_false(valid_date(""));
	assert_false(valid_date("2021-"));
	assert_false(valid_date("2021-01-01 "));
	assert_false(valid_date(" 2021"));
	assert_false(valid_date("2021-01-01T10:00:00Z")); /* a dateTime, not a date */
	/* the R4 regex has no year 0000: ([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000) */
	assert_false(valid_date("0000"));
	assert_true(valid_date("0001"));
}

/* dateTime: a date, or YYYY-MM-DDThh:mm:ss(.s+)? with a zone */
static void test_valid_datetime(void **state)
{
	(void)state;
	assert_true(valid_datetime("2020"));
	assert_true(valid_datetime("2020-02"));
	assert_true(valid_datetime("2020-02-29"));
	assert_true(valid_datetime("2020-02-29T10:00:00Z"));
	assert_true(valid_datetime("2020-02-29T10:00:00+05:30"));
	assert_true(valid_datetime("2020-02-29T10:00:00-03:00"));
	assert_true(valid_datetime("2020-02-29T10:00:00.1Z"));
	assert_true(valid_datetime("2020-02-29T10:00:00.123456789Z"));
	assert_true(valid_datetime("2020-02-29T00:00:00+14:00"));
	assert_true(valid_datetime("2020-02-29T23:59:60Z")); /* leap second: ss is ([0-5][0-9]|60) */
	assert_true(valid_datetime("2020-02-29T23:59:59-00:00"));
	/* "If hours and minutes are specified, a time zone SHALL be populated" */
	assert_false(valid_datetime("2020-02-29T10:00:00"));
	assert_false(valid_datetime("2020-02-29T10:00:00.5"));
	assert_false(valid_datetime("2020-02-29T10:00Z"));  /* seconds required */
	assert_false(valid_datetime("2020-02-29T10Z"));
	assert_false(valid_datetime("2020-02-29T24:00:00Z")); /* hh is 00-23 */
	assert_false(valid_datetime("2020-02-29T23:60:00Z"));
	assert_false(valid_datetime("2020-02-29T23:59:61Z"));
	assert_false(valid_datetime("2019-02-29T10:00:00Z"));
	assert_false(valid_datetime("2020-13-01T10:00:00Z"));
	assert_false(valid_datetime("2020-02-29t10:00:00Z"));
	assert_false(valid_datetime("2020-02-29 10:00:00Z"));
	assert_false(valid_datetime("2020-02-29T10:00:00z"));
	assert_false(valid_datetime("2020-02-29T10:00:00.Z"));
	assert_false(valid_datetime("2020-02-29T10:00:00+0530"));
	assert_false(valid_datetime("2020-02-29T10:00:00+5:30"));
	assert_false(valid_datetime("2020-02-29T10:00:00+05:30:00"));
	assert_false(valid_datetime("2020-02-29T10:00:00Z "));
	assert_false(valid_datetime("2020-02T10:00:00Z"));
	assert_false(valid_datetime("2020T10:00:00Z"));
	assert_false(valid_datetime(""));
	/* zone is (Z|(+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)) */
	assert_false(valid_datetime("2020-02-29T10:00:00+14:30"));
	assert_false(valid_datetime("2020-02-29T10:00:00+15:00"));
	assert_false(valid_datetime("2020-02-29T10:00:00+05:60"));
}

/* instant: always to the second, always with a zone */
static void test_valid_instant(void **state)
{
	(void)state;
	assert_true(valid_instant("2015-02-07T13:28:17.239+02:00"));
	assert_true(valid_instant("2017-01-01T00:00:00Z"));
	assert_true(valid_instant("2017-01-01T00:00:00.000000Z"));
	assert_false(valid_instant("2017-01-01T00:00:00"));
	assert_false(valid_instant("2017-01-01"));
	assert_false(valid_instant("2017-01"));
	assert_false(valid_instant("2017"));
	assert_false(valid_instant("2017-01-01T00:00Z"));
	assert_false(valid_instant("2017-02-29T00:00:00Z"));
	assert_false(valid_instant("2017-01-01T24:00:00Z"));
	assert_false(valid_instant(""));
}

/* time: hh:mm:ss(.s+)?, 00-23 hours, no zone */
static void test_valid_time(void **state)
{
	(void)state;
	assert_true(valid_time("00:00:00"));
	assert_true(valid_time("23:59:59"));
	assert_true(valid_time("12:30:00.5"));
	assert_true(valid_time("12:30:00.123456789"));
	assert_true(valid_time("23:59:60"));
	assert_false(valid_time("24:00:00"));
	assert_false(valid_time("23:60:00"));
	assert_false(valid_time("23:59:61"));
	assert_false(valid_time("12:30"));
	assert_false(valid_time("12"));
	assert_false(valid_time("1:30:00"));
	assert_false(valid_time("12:30:00Z"));
	assert_false(valid_time("12:30:00+01:00"));
	assert_false(valid_time("12:30:00."));
	assert_false(valid_time("12-30-00"));
	assert_false(valid_time(" 12:30:00"));
	assert_false(valid_time(""));
}

static void range(const char *s, int64_t lo, int64_t hi, enum valid_prec prec)
{
	int64_t l = 0, h = 0;
	enum valid_prec p = VALID_PREC_YEAR;

	if (valid_datetime_range(s, &l, &h, &p) != 0)
		fail_msg("'%s' rejected", s);
	if (l != lo || h != hi)
		fail_msg("'%s': [%lld, %lld], expected [%lld, %lld]", s, (long long)l, (long long)h, (long long)lo,
			 (long long)hi);
	assert_int_equal(p, prec);
}

/* A value denotes the whole span of its precision (search.html#date):
 * [start, end] inclusive, in microseconds since the epoch, UTC. */
static void test_valid_datetime_range(void **state)
{
	int64_t lo, hi;
	const int64_t y2020 = 1577836800; /* 2020-01-01T00:00:00Z */
	(void)state;

	range("2020", y2020 * US, 1609459200LL * US - 1, VALID_PREC_YEAR);
	range("2021", 1609459200LL * US, 1640995200LL * US - 1, VALID_PREC_YEAR);
	/* February of a leap and a common year */
	range("2020-02", 1580515200LL * US, 1583020800LL * US - 1, VALID_PREC_MONTH);
	range("2019-02", 1548979200LL * US, 1551398400LL * US - 1, VALID_PREC_MONTH);
	range("2020-12", 1606780800LL * US, 1609459200LL * US - 1, VALID_PREC_MONTH);
	range("2020-02-29", 1582934400LL * US, 1583020800LL * US - 1, VALID_PREC_DAY);
	range("1970-01-01", 0, 86400 * US - 1, VALID_PREC_DAY);
	range("1969-12-31", -86400 * US, -1, VALID_PREC_DAY);
	/* seconds: the span of one second */
	range("2020-01-01T10:00:00Z", (y2020 + 36000) * US, (y2020 + 36001) * US - 1, VALID_PREC_SECOND);
	/* zone offsets move the instant: 10:00+02:00 is 08:00Z, 10:00-05:30 is 15:30Z */
	range("2020-01-01T10:00:00+02:00", (y2020 + 8 * 3600) * US, (y2020 + 8 * 3600 + 1) * US - 1,
	      VALID_PREC_SECOND);
	range("2020-01-01T10:00:00-05:30", (y2020 + 15 * 3600 + 1800) * US, (y2020 + 15 * 3600 + 1801) * US - 1,
	      VALID_PREC_SECOND);
	/* across the year boundary */
	range("2020-01-01T00:30:00+01:00", (y2020 - 1800) * US, (y2020 - 1799) * US - 1, VALID_PREC_SECOND);
	/* a fraction narrows the span to its own precision */
	range("2020-01-01T00:00:00.5Z", y2020 * US + 500000, y2020 * US + 600000 - 1, VALID_PREC_SECOND);
	range("2020-01-01T00:00:00.123456Z", y2020 * US + 123456, y2020 * US + 123456, VALID_PREC_SECOND);
	/* a date without a zone is taken as UTC */
	range("2020-01-01", y2020 * US, (y2020 + 86400) * US - 1, VALID_PREC_DAY);

	assert_int_equal(valid_datetime_range("2020-01-01T10:00:00Z", &lo, &hi, NULL), 0);
	assert_int_equal(valid_datetime_range("2020-13", &lo, &hi, NULL), ERR_INVALID);
	assert_int_equal(valid_datetime_range("2019-02-29", &lo, &hi, NULL), ERR_INVALID);
	assert_int_equal(valid_datetime_range("2020-01-01T10:00:00", &lo, &hi, NULL), ERR_INVALID);
	assert_int_equal(valid_datetime_range("yesterday", &lo, &hi, NULL), ERR_INVALID);
	assert_int_equal(valid_datetime_range("", &lo, &hi, NULL), ERR_INVALID);
}

static void test_valid_instant_format(void **state)
{
	char out[40];
	(void)state;

	valid_instant_format(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
	valid_instant_format(1582934400LL * US + 123456, out);
	assert_string_equal(out, "2020-02-29T00:00:00.123456Z");
	valid_instant_format(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
	/* what it writes is an instant, and parses back to itself */
	valid_instant_format(1700000000LL * US + 42, out);
	assert_true(valid_instant(out));
	{
		int64_t lo, hi;
		assert_int_equal(valid_datetime_range(out, &lo, &hi, NULL), 0);
		assert_int_equal(lo, 1700000000LL * US + 42);
		assert_int_equal(hi, lo);
	}
}

/* RFC 9110 5.6.7: IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" */
static void test_valid_http_date(void **state)
{
	static const time_t samples[] = { 0, 784111777, 951782400 /* 2000-02-29 */, 1000000000, 2147483647,
					  4102444800LL /* 2100-01-01 */, 253402300799LL /* 9999-12-31T23:59:59 */ };
	char out[32];
	time_t t;
	(void)state;

	valid_http_date_format(784111777, out);
	assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
	valid_http_date_format(0, out);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	assert_int_equal(valid_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	assert_int_equal(t, 784111777);
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		valid_http_date_format(samples[i], out);
		assert_int_equal(strlen(out), 29);
		assert_int_equal(valid_http_date_parse(out, &t), 0);
		assert_int_equal(t, samples[i]);
	}
}

static void test_valid_http_date_reject(void **state)
{
	static const char *const bad[] = {
		"",
		"Sunday, 06-Nov-94 08:49:37 GMT", /* RFC 850: obsolete, not IMF-fixdate */
		"Sun Nov  6 08:49:37 1994",       /* asctime: obsolete */
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"Sun, 06 Nov 1994 08:49:37 gmt",
		"Sun, 06 Nov 1994 08:49:37 GMT ",
		" Sun, 06 Nov 1994 08:49:37 GMT",
		"Sun, 6 Nov 1994 08:49:37 GMT",
		"Sun, 06 nov 1994 08:49:37 GMT",
		"Sun, 06 Foo 1994 08:49:37 GMT",
		"Sun, 31 Feb 1994 08:49:37 GMT",
		"Sun, 29 Feb 1994 08:49:37 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:00 GMT",
		"Sun, 06 Nov 1994 08:49:61 GMT",
		"Sun, 06 Nov 94 08:49:37 GMT",
		"Sun, 06 Nov 1994 8:49:37 GMT",
		"Sun; 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:3x GMT",
		"Xyz, 06 Nov 1994 08:49:37 GMT", /* day-name is one of seven */
	};
	time_t t;
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (valid_http_date_parse(bad[i], &t) != ERR_INVALID)
			fail_msg("accepted '%s'", bad[i]);
	/* leap year Feb 29 is fine */
	assert_int_equal(valid_http_date_parse("Tue, 29 Feb 2000 00:00:00 GMT", &t), 0);
	assert_int_equal(t, 951782400);
}

static int u8(const char *s)
{
	return valid_utf8(s, strlen(s));
}

/* RFC 3629: shortest form only, no surrogates, nothing above U+10FFFF. */
static void test_valid_utf8(void **state)
{
	(void)state;
	assert_true(valid_utf8("", 0));
	assert_true(u8("plain ASCII ~"));
	assert_true(u8("\xC3\xA9"));         /* U+00E9 */
	assert_true(u8("\xC2\x80"));         /* U+0080, smallest 2-byte */
	assert_true(u8("\xDF\xBF"));         /* U+07FF */
	assert_true(u8("\xE0\xA0\x80"));     /* U+0800, smallest 3-byte */
	assert_true(u8("\xE2\x82\xAC"));     /* U+20AC */
	assert_true(u8("\xED\x9F\xBF"));     /* U+D7FF, just below surrogates */
	assert_true(u8("\xEE\x80\x80"));     /* U+E000, just above */
	assert_true(u8("\xEF\xBF\xBF"));     /* U+FFFF */
	assert_true(u8("\xF0\x90\x80\x80")); /* U+10000 */
	assert_true(u8("\xF0\x9F\x98\x80")); /* U+1F600 */
	assert_true(u8("\xF4\x8F\xBF\xBF")); /* U+10FFFF */
	assert_true(valid_utf8("a\0b", 3));  /* U+0000 is a character */

	/* overlong forms */
	assert_false(u8("\xC0\x80"));
	assert_false(u8("\xC0\xAF"));
	assert_false(u8("\xC1\xBF"));
	assert_false(u8("\xE0\x80\x80"));
	assert_false(u8("\xE0\x9F\xBF"));
	assert_false(u8("\xF0\x80\x80\x80"));
	assert_false(u8("\xF0\x8F\xBF\xBF"));
	/* UTF-16 surrogates */
	assert_false(u8("\xED\xA0\x80"));
	assert_false(u8("\xED\xBF\xBF"));
	assert_false(u8("\xED\xA0\xBD\xED\xB8\x80")); /* CESU-8 pair */
	/* beyond U+10FFFF, and bytes that never occur */
	assert_false(u8("\xF4\x90\x80\x80"));
	assert_false(u8("\xF5\x80\x80\x80"));
	assert_false(u8("\xF8\x88\x80\x80\x80"));
	assert_false(u8("\xFE"));
	assert_false(u8("\xFF"));
	/* stray continuation bytes */
	assert_false(u8("\x80"));
	assert_false(u8("a\xBF"));
	/* truncated sequences: at the end and followed by ASCII */
	assert_false(u8("\xC3"));
	assert_false(u8("\xE2\x82"));
	assert_false(u8("\xF0\x9F\x98"));
	assert_false(u8("\xE2\x82" "A"));
	assert_false(u8("\xF0\x9F" "AB"));
	/* the length is respected: a sequence cut by len is truncated */
	assert_false(valid_utf8("\xC3\xA9", 1));
	assert_true(valid_utf8("ab\xC3\xA9", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_id),
		cmocka_unit_test(test_valid_date),
		cmocka_unit_test(test_valid_datetime),
		cmocka_unit_test(test_valid_instant),
		cmocka_unit_test(test_valid_time),
		cmocka_unit_test(test_valid_datetime_range),
		cmocka_unit_test(test_valid_instant_format),
		cmocka_unit_test(test_valid_http_date),
		cmocka_unit_test(test_valid_http_date_reject),
		cmocka_unit_test(test_valid_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
