/*
 * test_oauth_pages.c - the pure helpers of the authorization server
 * (src/auth/oauth_util.c) that its security rests on:
 *   - HTML escaping: every character that can end an element or a quoted
 *     attribute is a character reference, the rest is untouched;
 *   - redirect URLs (RFC 6749 4.1.2, 4.1.2.1): '?' or '&' depending on the
 *     registered URI's query, values percent-encoded so that `state` comes
 *     back byte for byte through any decoder;
 *   - OAuth parameters sent twice are refused (RFC 6749 3.1/3.2), empty
 *     ones count as absent;
 *   - form Content-Type, Cookie header parsing, PKCE syntax (RFC 7636 4.1,
 *     4.2), origins for the CSP, log-safe copies.
 */
#include "auth/oauth_int.h"
#include "core/err.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *esc(const char *s)
{
	buf_t b;
	size_t len;
	buf_init(&b, 1 << 16);
	assert_int_equal(oauth_html_escape(&b, s), 0);
	return buf_detach(&b, &len);
}

static void test_html_escape(void **state)
{
	char *r;
	(void)state;

	r = esc("plain text, nothing to do");
	assert_string_equal(r, "plain text, nothing to do");
	free(r);
	r = esc("");
	assert_string_equal(r, "");
	free(r);
	r = esc("<script>alert('x')</script>");
	assert_string_equal(r, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
	free(r);
	/* attribute breakouts, both quote kinds and the backtick */
	r = esc("\" onmouseover=\"x` '");
	assert_string_equal(r, "&quot; onmouseover=&quot;x&#96; &#39;");
	free(r);
	/* & first, so existing references are not half-escaped */
	r = esc("&lt;&amp;");
	assert_string_equal(r, "&amp;lt;&amp;amp;");
	free(r);
	/* UTF-8 passes through unchanged */
	r = esc("Zoë <Ω>");
	assert_string_equal(r, "Zoë &lt;Ω&gt;");
	free(r);
}

static void test_html_escape_cap(void **state)
{
	buf_t b;
	(void)state;

	buf_init(&b, 8);
	assert_int_equal(oauth_html_escape(&b, "<<<"), ERR_TOOBIG);
	buf_fini(&b);
}

static char *redirect(const char *uri, const char *const *kv, size_t n)
{
	buf_t b;
	size_t len;
	buf_init(&b, 1 << 16);
	assert_int_equal(oauth_redirect_url(&b, uri, kv, n), 0);
	return buf_detach(&b, &len);
}

static void test_redirect_url(void **state)
{
	const char *code[] = { "code", "abc-_.~", "state", "s1" };
	const char *err[] = { "error", "access_denied", "error_description", NULL, "state", "a b&c=d/é%+?#" };
	char *r;
	(void)state;

	r = redirect("https://app.example/cb", code, 2);
	assert_string_equal(r, "https://app.example/cb?code=abc-_.~&state=s1");
	free(r);
	/* a registered query is kept and extended with '&' */
	r = redirect("https://app.example/cb?x=1", code, 2);
	assert_string_equal(r, "https://app.example/cb?x=1&code=abc-_.~&state=s1");
	free(r);
	r = redirect("https://app.example/cb?", code, 2);
	assert_string_equal(r, "https://app.example/cb?code=abc-_.~&state=s1");
	free(r);
	r = redirect("https://app.example/cb?x=1&", code, 2);
	assert_string_equal(r, "https://app.example/cb?x=1&code=abc-_.~&state=s1");
	free(r);
	/* NULL values are skipped; state is percent-encoded byte for byte */
	r = redirect("http://127.0.0.1:9/cb", err, 3);
	assert_string_equal(r, "http://127.0.0.1:9/cb?error=access_denied&state=a%20b%26c%3Dd%2F%C3%A9%25%2B%3F%23");
	free(r);
}

static void test_url_encode(void **state)
{
	buf_t b;
	(void)state;

	buf_init(&b, 1024);
	assert_int_equal(oauth_url_encode(&b, "AZaz09-._~ !*'()"), 0);
	assert_string_equal(b.data, "AZaz09-._~%20%21%2A%27%28%29");
	buf_fini(&b);
}

static void test_param(void **state)
{
	http_param ps[] = {
		{ "client_id", "app" }, { "state", "" }, { "scope", "a" }, { "scope", "b" }, { "aud", "x" },
	};
	const char *v = "unchanged";
	(void)state;

	assert_int_equal(oauth_param(ps, 5, "client_id", &v), 0);
	assert_string_equal(v, "app");
	/* RFC 6749 3.1: sent without a value = omitted */
	assert_int_equal(oauth_param(ps, 5, "state", &v), 0);
	assert_null(v);
	assert_int_equal(oauth_param(ps, 5, "nonce", &v), 0);
	assert_null(v);
	/* RFC 6749 3.1: MUST NOT be included more than once */
	assert_int_equal(oauth_param(ps, 5, "scope", &v), ERR_INVALID);
	assert_null(v);
	assert_int_equal(oauth_param(NULL, 0, "scope", &v), 0);
	assert_null(v);
}

static void test_param_dup(void **state)
{
	http_param once[] = { { "a", "1" }, { "b", "2" }, { "c", "" } };
	http_param twice[] = { { "a", "1" }, { "scope", "x" }, { "b", "2" }, { "scope", "y" } };
	http_param empty_twice[] = { { "redirect_uri", "" }, { "redirect_uri", "https://x/" } };
	(void)state;

	assert_null(oauth_param_dup(once, 3, NULL));
	assert_string_equal(oauth_param_dup(twice, 4, NULL), "scope");
	/* the consent form's checkboxes share one name on purpose */
	assert_null(oauth_param_dup(twice, 4, "scope"));
	/* an empty duplicate still counts: which one would be meant? */
	assert_string_equal(oauth_param_dup(empty_twice, 2, NULL), "redirect_uri");
	assert_null(oauth_param_dup(NULL, 0, NULL));
}

static void test_form_type(void **state)
{
	(void)state;
	assert_true(oauth_form_type_ok("application/x-www-form-urlencoded"));
	assert_true(oauth_form_type_ok("Application/X-WWW-Form-URLEncoded; charset=UTF-8"));
	assert_true(oauth_form_type_ok("application/x-www-form-urlencoded;charset=utf-8"));
	assert_false(oauth_form_type_ok(NULL));
	assert_false(oauth_form_type_ok("application/json"));
	assert_false(oauth_form_type_ok("multipart/form-data; boundary=x"));
	assert_false(oauth_form_type_ok("application/x-www-form-urlencodedx"));
}

static void test_cookie(void **state)
{
	const char *h = "other=1; fhird_abc=first;fhird_ab=short;  fhird_abc=\"second\" ; fhird_abc=" "0123456789";
	char v[16];
	size_t pos = 0;
	(void)state;

	assert_int_equal(oauth_cookie_next(h, "fhird_abc", &pos, v, sizeof v), 0);
	assert_string_equal(v, "first");
	assert_int_equal(oauth_cookie_next(h, "fhird_abc", &pos, v, sizeof v), 0);
	assert_string_equal(v, "second");
	assert_int_equal(oauth_cookie_next(h, "fhird_abc", &pos, v, sizeof v), 0);
	assert_string_equal(v, "0123456789");
	assert_int_equal(oauth_cookie_next(h, "fhird_abc", &pos, v, sizeof v), ERR_NOTFOUND);
	/* a name that is a prefix of another is not confused with it */
	pos = 0;
	assert_int_equal(oauth_cookie_next(h, "fhird_ab", &pos, v, sizeof v), 0);
	assert_string_equal(v, "short");
	pos = 0;
	assert_int_equal(oauth_cookie_next(h, "fhird_a", &pos, v, sizeof v), ERR_NOTFOUND);
	pos = 0;
	assert_int_equal(oauth_cookie_next(NULL, "x", &pos, v, sizeof v), ERR_NOTFOUND);
	/* too long for the buffer: reported, and the next one is still found */
	pos = 0;
	assert_int_equal(oauth_cookie_next("k=0123456789abcdefXYZ; k=ok", "k", &pos, v, sizeof v), ERR_TOOBIG);
	assert_int_equal(oauth_cookie_next("k=0123456789abcdefXYZ; k=ok", "k", &pos, v, sizeof v), 0);
	assert_string_equal(v, "ok");
}

static void test_pkce(void **state)
{
	char v[130];
	(void)state;

	/* RFC 7636 appendix B */
	assert_true(oauth_pkce_verifier_ok("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
	assert_true(oauth_pkce_challenge_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
	memset(v, 'a', 42);
	v[42] = '\0';
	assert_false(oauth_pkce_verifier_ok(v)); /* 42: too short */
	memset(v, '~', 128);
	v[128] = '\0';
	assert_true(oauth_pkce_verifier_ok(v));
	v[128] = 'x';
	v[129] = '\0';
	assert_false(oauth_pkce_verifier_ok(v)); /* 129: too long */
	assert_false(oauth_pkce_verifier_ok("dBjftJeZ4CVP+mB92K27uhbUJU1p1r/wW1gFWFOEjXk"));
	assert_false(oauth_pkce_challenge_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="));
	assert_false(oauth_pkce_challenge_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw.cM"));
	assert_false(oauth_pkce_challenge_ok("short"));
	assert_true(oauth_rand_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
	assert_false(oauth_rand_ok("../../etc/passwd"));
}

static void test_origin(void **state)
{
	char o[64];
	(void)state;

	assert_int_equal(oauth_origin("https://app.example:8443/cb?x=1", o, sizeof o), 0);
	assert_string_equal(o, "https://app.example:8443");
	assert_int_equal(oauth_origin("http://[::1]:9/", o, sizeof o), 0);
	assert_string_equal(o, "http://[::1]:9");
	assert_int_equal(oauth_origin("http://localhost", o, sizeof o), 0);
	assert_string_equal(o, "http://localhost");
	assert_int_equal(oauth_origin("javascript:alert(1)", o, sizeof o), ERR_INVALID);
	assert_int_equal(oauth_origin("https:///cb", o, sizeof o), ERR_INVALID);
	/* characters that would end the CSP directive or smuggle a source */
	assert_int_equal(oauth_origin("https://a.example;script-src *", o, sizeof o), ERR_INVALID);
	assert_int_equal(oauth_origin("https://user@a.example/", o, sizeof o), ERR_INVALID);
	assert_int_equal(oauth_origin("https://a.example 'unsafe-inline'/", o, sizeof o), ERR_INVALID);
}

static void test_log_safe(void **state)
{
	char o[8];
	(void)state;

	oauth_log_safe("a\"b c=d\n", o, sizeof o);
	assert_string_equal(o, "a_b_c_d");
	oauth_log_safe(NULL, o, sizeof o);
	assert_string_equal(o, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html_escape), cmocka_unit_test(test_html_escape_cap),
		cmocka_unit_test(test_redirect_url), cmocka_unit_test(test_url_encode),
		cmocka_unit_test(test_param),       cmocka_unit_test(test_param_dup),
		cmocka_unit_test(test_form_type),   cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_pkce),        cmocka_unit_test(test_origin),
		cmocka_unit_test(test_log_safe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
