/*
 * test_http_client.c - the pure parts of the outbound HTTP client
 * (http/client.h): URL parsing with its refusals (plain http:// off
 * loopback, userinfo, fragments, bad ports), Cache-Control folding (RFC
 * 9111 5.2), and the incremental response parser: Content-Length,
 * chunked (RFC 9112 7.1) fed in every split, close-delimited bodies,
 * interim 1xx responses, and the ambiguities it must refuse (RFC 9112
 * 6.1, 6.3: Transfer-Encoding with Content-Length, differing lengths,
 * other codings; 5.1, 5.2: whitespace before the colon, obs-fold; 2.2:
 * bare CR) and the limits it must hold (head size, body size).
 */
#include "core/err.h"
#include "http/client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- URLs ---- */

static void test_url_ok(void **state)
{
	http_client_url u;

	assert_int_equal(http_client_url_parse("https://as.example.org/jwks.json", &u), 0);
	assert_true(u.tls);
	assert_int_equal(u.port, 443);
	assert_string_equal(u.host, "as.example.org");
	assert_string_equal(u.authority, "as.example.org");
	assert_string_equal(u.target, "/jwks.json");

	assert_int_equal(http_client_url_parse("HTTPS://AS.Example.ORG:8443?x=1&y=%20", &u), 0);
	assert_string_equal(u.host, "as.example.org");
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.authority, "as.example.org:8443");
	assert_string_equal(u.target, "/?x=1&y=%20");

	assert_int_equal(http_client_url_parse("https://h", &u), 0);
	assert_string_equal(u.target, "/");

	assert_int_equal(http_client_url_parse("https://[2001:db8::1]:444/k", &u), 0);
	assert_string_equal(u.host, "2001:db8::1");
	assert_string_equal(u.authority, "[2001:db8::1]:444");

	/* plain http only to loopback (tests, a sidecar) */
	assert_int_equal(http_client_url_parse("http://127.0.0.1:8080/introspect", &u), 0);
	assert_false(u.tls);
	assert_int_equal(u.port, 8080);
	assert_int_equal(http_client_url_parse("http://localhost/jwks", &u), 0);
	assert_int_equal(u.port, 80);
	assert_string_equal(u.authority, "localhost");
	assert_int_equal(http_client_url_parse("http://127.9.9.9/", &u), 0);
	assert_int_equal(http_client_url_parse("http://[::1]:9/x", &u), 0);
	assert_string_equal(u.authority, "[::1]:9");
}

static void test_url_refused(void **state)
{
	static const char *const invalid[] = {
		"ftp://h/x",
		"https:/h/x",
		"//h/x",
		"https://",
		"https:///x",
		"https://user:pw@h/x",     /* credentials in the URL */
		"https://h@evil.example/", /* a host in disguise */
		"https://h/x#frag",
		"https://h:0/",
		"https://h:65536/",
		"https://h:/",
		"https://h:12a/",
		"https://h:123456/",
		"https://h /x",
		"https://h/a b",
		"https://h/\x01",
		"https://h/\xc3\xa9",
		"https://[::1/",
		"https://[fe80::1%eth0]/",
		"https://[::1]x/",
		"https://h!x/",
		"",
	};
	http_client_url u;

	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		int rc = http_client_url_parse(invalid[i], &u);
		if (rc != ERR_INVALID)
			fail_msg("%s: expected ERR_INVALID, got %d", invalid[i], rc);
	}
	assert_int_equal(http_client_url_parse(NULL, &u), ERR_INVALID);
	/* plain http to anything but loopback: keys and introspection
	 * answers never cross a network in the clear */
	assert_int_equal(http_client_url_parse("http://as.example.org/jwks", &u), ERR_FORBIDDEN);
	assert_int_equal(http_client_url_parse("http://10.0.0.1/jwks", &u), ERR_FORBIDDEN);
	assert_int_equal(http_client_url_parse("http://[2001:db8::1]/jwks", &u), ERR_FORBIDDEN);
	assert_int_equal(http_client_url_parse("http://127.0.0.1.evil.example/", &u), ERR_FORBIDDEN);
	assert_int_equal(http_client_url_parse("http://localhost.evil.example/", &u), ERR_FORBIDDEN);
}

/* ---- Cache-Control ---- */

static long cc(const char *v)
{
	long m = -1;
	http_client_cache_control(v, strlen(v), &m);
	return m;
}

static void test_cache_control(void **state)
{
	long m;

	assert_int_equal(cc("max-age=300"), 300);
	assert_int_equal(cc("MAX-AGE=5"), 5);
	assert_int_equal(cc("public, max-age=60, must-revalidate"), 60);
	assert_int_equal(cc("max-age=\"120\""), 120);
	assert_int_equal(cc("  max-age = 7 "), 7);
	assert_int_equal(cc("no-store"), 0);
	assert_int_equal(cc("max-age=600, no-store"), 0);
	assert_int_equal(cc("no-cache"), 0);
	assert_int_equal(cc("no-cache=\"Set-Cookie\", max-age=10"), 0);
	assert_int_equal(cc("private"), -1);
	assert_int_equal(cc("s-maxage=10"), -1); /* for shared caches only */
	assert_int_equal(cc(""), -1);
	assert_int_equal(cc(",,,"), -1);
	/* RFC 9111 4.2.1: invalid freshness -> stale */
	assert_int_equal(cc("max-age=abc"), 0);
	assert_int_equal(cc("max-age=-5"), 0);
	assert_int_equal(cc("max-age="), 0);
	assert_int_equal(cc("max-age"), 0);
	/* RFC 9111 1.2.2: too large -> 2^31 */
	assert_int_equal(cc("max-age=99999999999999999999999"), 2147483648L);
	/* several directives, several fields: the most restrictive wins */
	assert_int_equal(cc("max-age=100, max-age=50"), 50);
	m = -1;
	http_client_cache_control("max-age=100", 11, &m);
	http_client_cache_control("max-age=30", 10, &m);
	http_client_cache_control("max-age=300", 11, &m);
	assert_int_equal(m, 30);
	/* only the given length counts */
	m = -1;
	http_client_cache_control("max-age=12345", 10, &m);
	assert_int_equal(m, 12);
	/* garbage does not hide a later directive */
	assert_int_equal(cc("@@@, max-age=9"), 9);
}

/* ---- responses ---- */

/* Feeds text in pieces of step bytes (0: all at once); eof: then the
 * connection closes. Returns the final parser result; r is left filled
 * (fini it). */
static int parse(http_client_resp *r, const char *text, size_t len, size_t max_body, size_t step, int eof)
{
	int rc = 0;
	size_t i = 0;

	http_client_resp_init(r, max_body);
	if (step == 0)
		step = len ? len : 1;
	while (i < len) {
		size_t n = len - i < step ? len - i : step;
		rc = http_client_resp_feed(r, text + i, n);
		if (rc != 0)
			return rc;
		i += n;
	}
	if (eof)
		rc = http_client_resp_eof(r);
	return rc;
}

/* Expects every split of text to parse to status and body. */
static void expect_ok(const char *text, int eof, int status, const char *body)
{
	size_t len = strlen(text);
	static const size_t steps[] = { 0, 1, 2, 3, 5, 7, 13 };

	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		http_client_resp r;
		int rc = parse(&r, text, len, 1 << 20, steps[s], eof);
		if (rc != 1)
			fail_msg("step %zu: expected a complete response, got %d", steps[s], rc);
		assert_int_equal(r.status, status);
		assert_int_equal(r.body.len, strlen(body));
		assert_memory_equal(r.body.data ? r.body.data : "", body, strlen(body));
		http_client_resp_fini(&r);
	}
}

static void expect_err(const char *text, size_t max_body, int eof, int err)
{
	size_t len = strlen(text);
	static const size_t steps[] = { 0, 1, 4 };

	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		http_client_resp r;
		int rc = parse(&r, text, len, max_body, steps[s], eof);
		if (rc != err)
			fail_msg("step %zu: expected %d, got %d for %.60s", steps[s], err, rc, text);
		http_client_resp_fini(&r);
	}
}

static void test_content_length(void **state)
{
	http_client_resp r;

	expect_ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\nhello", 0, 200,
		  "hello");
	/* bytes after the message are not part of it */
	expect_ok("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 0, 200, "ok");
	expect_ok("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0, 404, "");
	/* the same length twice is one length (RFC 9110 8.6) */
	expect_ok("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc", 0, 200, "abc");
	/* a bare LF ends a line (RFC 9112 2.2) */
	expect_ok("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", 0, 200, "hi");
	/* no reason phrase; HTTP/1.0 */
	expect_ok("HTTP/1.0 200\r\nContent-Length: 1\r\n\r\nx", 0, 200, "x");
	/* 204 and 304 have no body whatever the fields say */
	expect_ok("HTTP/1.1 204 No Content\r\n\r\n", 0, 204, "");
	expect_ok("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0, 304, "");
	/* a redirect is returned, not followed */
	expect_ok("HTTP/1.1 302 Found\r\nLocation: https://evil.example/\r\nContent-Length: 0\r\n\r\n", 0, 302, "");
	/* interim responses come first */
	expect_ok("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
		  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		  0, 200, "ok");
	/* Cache-Control reaches the result */
	{
		static const char t[] = "HTTP/1.1 200 OK\r\nCache-Control: public, max-age=600\r\n"
					"Cache-Control: max-age=300\r\nContent-Length: 2\r\n\r\n{}";
		assert_int_equal(parse(&r, t, sizeof t - 1, 100, 0, 0), 1);
	}
	assert_int_equal(r.max_age, 300);
	http_client_resp_fini(&r);
	assert_int_equal(parse(&r, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38, 100, 0, 0), 1);
	assert_int_equal(r.max_age, -1);
	http_client_resp_fini(&r);
	/* cut short */
	expect_err("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100, 1, ERR_INVALID);
	expect_err("HTTP/1.1 200 OK\r\nContent-Len", 100, 1, ERR_INVALID);
	expect_err("", 100, 1, ERR_INVALID);
}

static void test_chunked(void **state)
{
	expect_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "5\r\nhello\r\n"
		  "1;ext=\"v\" ; e2\r\n,\r\n"
		  "A \r\n0123456789\r\n"
		  "0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n",
		  0, 200, "hello,0123456789");
	expect_ok("HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n", 0, 200, "");
	/* bare LFs */
	expect_ok("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n", 0, 200, "abc");
	/* hex digits in both cases, leading zeros */
	expect_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000b\r\n0123456789a\r\n0\r\n\r\n", 0, 200,
		  "0123456789a");
	/* not done before the last chunk and the trailer section end */
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", 100, 1, ERR_INVALID);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n", 100, 1, ERR_INVALID);
	/* malformed chunk lines and data */
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", 100, 0, ERR_INVALID);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 100, 0, ERR_INVALID);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 100, 0, ERR_INVALID);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n", 100, 0, ERR_INVALID);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n", 100, 0, ERR_INVALID);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", 100, 0, ERR_INVALID);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\r\n", 100, 0, ERR_INVALID);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\r\nabc\r\n", 100, 0, ERR_INVALID);
	/* sizes: past the body limit, and overflowing 64 bits */
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 100, 0, ERR_TOOBIG);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n", 100, 0, 0);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "32\r\n01234567890123456789012345678901234567890123456789\r\n"
		   "32\r\n01234567890123456789012345678901234567890123456789\r\n"
		   "1\r\n",
		   100, 0, ERR_TOOBIG);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 100, 0, ERR_TOOBIG);
	expect_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 100, 0, ERR_TOOBIG);
	/* an endless chunk-size line */
	{
		char big[4096];
		int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
		memset(big + n, 'a', sizeof big - (size_t)n - 1);
		big[sizeof big - 1] = '\0';
		expect_err(big, 100, 0, ERR_TOOBIG);
	}
}

static void test_close_delimited(void **state)
{
	http_client_resp r;

	expect_ok("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"keys\":[]}", 1, 200, "{\"keys\":[]}");
	expect_ok("HTTP/1.0 200 OK\r\n\r\n", 1, 200, "");
	/* not complete until the close */
	assert_int_equal(parse(&r, "HTTP/1.1 200 OK\r\n\r\nabc", 22, 100, 0, 0), 0);
	http_client_resp_fini(&r);
	expect_err("HTTP/1.1 200 OK\r\n\r\n0123456789", 5, 0, ERR_TOOBIG);
}

/* What RFC 9112 says must not be guessed at. */
static void test_ambiguous(void **state)
{
	static const char *const bad[] = {
		/* 6.3 item 3: both framings */
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		/* 6.3 item 5: differing lengths, lists, signs, junk */
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789012\r\n\r\n",
		/* 6.1: only chunked, once; never in HTTP/1.0 */
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		/* 5.1: whitespace before the colon; 5.2: obs-fold */
		"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n",
		/* 2.2: bare CR; NUL and other controls in a value */
		"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: a\x01" "b\r\nContent-Length: 0\r\n\r\n",
		/* no name, no colon */
		"HTTP/1.1 200 OK\r\n: v\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nJunk\r\nContent-Length: 0\r\n\r\n",
		/* status lines */
		"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 600 High\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
		"http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"ICY 200 OK\r\nContent-Length: 0\r\n\r\n",
		"\r\n\r\n",
		/* 101 would switch to a protocol we never asked for */
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		http_client_resp r;
		int rc = parse(&r, bad[i], strlen(bad[i]), 100, 0, 1);
		if (rc != ERR_INVALID)
			fail_msg("case %zu: expected ERR_INVALID, got %d", i, rc);
		http_client_resp_fini(&r);
	}
}

static void test_limits(void **state)
{
	char *big = malloc(HTTP_CLIENT_MAX_HEADER * 2);
	http_client_resp r;
	int n;

	assert_non_null(big);
	/* a head over HTTP_CLIENT_MAX_HEADER */
	n = snprintf(big, 64, "HTTP/1.1 200 OK\r\nX-Big: ");
	memset(big + n, 'a', HTTP_CLIENT_MAX_HEADER);
	memcpy(big + n + HTTP_CLIENT_MAX_HEADER, "\r\n\r\n", 5);
	expect_err(big, 100, 0, ERR_TOOBIG);
	/* many interim responses count toward it too */
	big[0] = '\0';
	for (size_t used = 0; used + 40 < HTTP_CLIENT_MAX_HEADER + 100;)
		used += (size_t)snprintf(big + used, 64, "HTTP/1.1 100 Continue\r\n\r\n");
	expect_err(big, 100, 0, ERR_TOOBIG);
	/* so do trailers */
	n = snprintf(big, 128, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
	for (int i = 0; i < 1200; i++)
		n += snprintf(big + n, 32, "T%d: 0123456789\r\n", i);
	expect_err(big, 100, 0, ERR_TOOBIG);
	/* a head just within the limit is fine */
	{
		static const char tail[] = "\r\nContent-Length: 0\r\n\r\n";
		n = snprintf(big, 64, "HTTP/1.1 200 OK\r\nX-Big: ");
		memset(big + n, 'a', HTTP_CLIENT_MAX_HEADER - (size_t)n - (sizeof tail - 1));
		memcpy(big + HTTP_CLIENT_MAX_HEADER - (sizeof tail - 1), tail, sizeof tail);
	}
	assert_int_equal(strlen(big), HTTP_CLIENT_MAX_HEADER);
	assert_int_equal(parse(&r, big, strlen(big), 100, 0, 0), 1);
	http_client_resp_fini(&r);
	/* Content-Length past the body limit fails at once */
	expect_err("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100, 0, ERR_TOOBIG);
	expect_err("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 100, 0, 0);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_ok),
		cmocka_unit_test(test_url_refused),
		cmocka_unit_test(test_cache_control),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_close_delimited),
		cmocka_unit_test(test_ambiguous),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
