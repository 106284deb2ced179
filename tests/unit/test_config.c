/*
 * test_config.c - configuration (config.h): defaults, the three sources
 * (file, environment, flags) through the one settings table, bounds on
 * numbers, and the safety rules of config_finish (no unauthenticated or
 * plain-HTTP service off loopback unless asked for, TLS cert and key
 * together) plus the derived listen host/port and base URL/path.
 */
#include "core/config.h"
#include "core/err.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int setup(void **state)
{
	config_t *c = calloc(1, sizeof *c);
	if (!c || config_init(c) != 0)
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	config_t *c = *state;
	config_fini(c);
	free(c);
	return 0;
}

/* Writes text to a fresh temporary file; path receives its name. */
static void write_temp(char path[64], const char *text)
{
	FILE *f;
	int fd;

	snprintf(path, 64, "/tmp/fhird-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void test_config_defaults(void **state)
{
	config_t *c = *state;

	assert_string_equal(c->listen, "127.0.0.1:8080");
	assert_string_equal(c->db, "./data/fhird.db");
	assert_string_equal(c->base_url, "");
	assert_string_equal(c->tls_cert, "");
	assert_string_equal(c->tls_key, "");
	assert_int_equal(c->auth, CONFIG_AUTH_SMART); /* SMART is the default */
	assert_string_equal(c->issuer, "");
	assert_int_equal(c->access_ttl_s, 3600);
	assert_int_equal(c->code_ttl_s, 60);
	assert_int_equal(c->insecure_http, 0);
	assert_int_equal(c->max_body_bytes, 16777216);
	assert_int_equal(c->max_header_bytes, 65536);
	assert_int_equal(c->max_url_bytes, 8192);
	assert_int_equal(c->max_json_depth, 64);
	assert_int_equal(c->max_conn_per_ip, 128);
	assert_int_equal(c->max_connections, 1024);
	assert_int_equal(c->conn_timeout_s, 30);
	assert_int_equal(c->threads, 16);
	assert_int_equal(c->page_default, 20);
	assert_int_equal(c->page_max, 1000);
	assert_int_equal(c->write_batch_max, 256);
	assert_string_equal(c->log_level, "info");
	/* the defaults pass config_finish as they are */
	{
		char err[256] = "";
		assert_int_equal(config_finish(c, err, sizeof err), 0);
	}
}

static void test_config_set(void **state)
{
	config_t *c = *state;
	char err[256];

	assert_int_equal(config_set(c, "max_body_bytes", "2048", err, sizeof err), 0);
	assert_int_equal(c->max_body_bytes, 2048);
	assert_int_equal(config_set(c, "threads", "256", err, sizeof err), 0);
	assert_int_equal(c->threads, 256);
	assert_int_equal(config_set(c, "db", "/var/lib/fhird/x.db", err, sizeof err), 0);
	assert_string_equal(c->db, "/var/lib/fhird/x.db");
	assert_int_equal(config_set(c, "insecure_http", "yes", err, sizeof err), 0);
	assert_int_equal(c->insecure_http, 1);
	assert_int_equal(config_set(c, "insecure_http", "false", err, sizeof err), 0);
	assert_int_equal(c->insecure_http, 0);
	assert_int_equal(config_set(c, "auth", "smart", err, sizeof err), 0);
	assert_int_equal(c->auth, CONFIG_AUTH_SMART);
	assert_int_equal(config_set(c, "auth", "off", err, sizeof err), 0);
	assert_int_equal(c->auth, CONFIG_AUTH_OFF);

	err[0] = '\0';
	assert_int_equal(config_set(c, "no_such_setting", "1", err, sizeof err), ERR_INVALID);
	assert_non_null(strstr(err, "no_such_setting"));
	assert_int_equal(config_set(c, "auth", "none", err, sizeof err), ERR_INVALID);
	assert_int_equal(c->auth, CONFIG_AUTH_OFF);
	assert_int_equal(config_set(c, "insecure_http", "maybe", err, sizeof err), ERR_INVALID);
	assert_int_equal(c->insecure_http, 0);
}

/* Numbers: digits only, within the row's bounds; a bad value changes nothing. */
static void test_config_set_numbers(void **state)
{
	static const char *const bad[] = { "", "abc", "-1", "+5", " 5", "5 ", "12x", "0x400", "1e6", "1.5",
					   "99999999999999999999999999" };
	config_t *c = *state;
	char err[256];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (config_set(c, "max_body_bytes", bad[i], err, sizeof err) != ERR_INVALID)
			fail_msg("max_body_bytes accepted '%s'", bad[i]);
		assert_true(err[0] != '\0');
		assert_int_equal(c->max_body_bytes, 16777216);
	}
	/* bounds: max_body_bytes 1024..2^32, threads 1..256, max_json_depth 4..1000 */
	assert_int_equal(config_set(c, "max_body_bytes", "1023", err, sizeof err), ERR_INVALID);
	assert_non_null(strstr(err, "max_body_bytes"));
	assert_int_equal(config_set(c, "max_body_bytes", "1024", err, sizeof err), 0);
	assert_int_equal(config_set(c, "max_body_bytes", "4294967296", err, sizeof err), 0);
	assert_int_equal(c->max_body_bytes, 4294967296ULL);
	assert_int_equal(config_set(c, "max_body_bytes", "4294967297", err, sizeof err), ERR_INVALID);
	assert_int_equal(c->max_body_bytes, 4294967296ULL);
	assert_int_equal(config_set(c, "threads", "0", err, sizeof err), ERR_INVALID);
	assert_int_equal(config_set(c, "threads", "257", err, sizeof err), ERR_INVALID);
	assert_int_equal(config_set(c, "threads", "4294967297", err, sizeof err), ERR_INVALID);
	assert_int_equal(c->threads, 16);
	assert_int_equal(config_set(c, "max_json_depth", "3", err, sizeof err), ERR_INVALID);
	assert_int_equal(config_set(c, "max_json_depth", "1001", err, sizeof err), ERR_INVALID);
	assert_int_equal(c->max_json_depth, 64);
	assert_int_equal(config_set(c, "max_conn_per_ip", "0", err, sizeof err), 0); /* 0 = unlimited */
}

static void test_config_file(void **state)
{
	config_t *c = *state;
	char path[64], err[256] = "";

	write_temp(path, "# fhird configuration\n"
			 "\n"
			 "max_body_bytes = 2048\n"
			 "   threads=4   \n"
			 "\t# indented comment\n"
			 "db = /tmp/with spaces.db\n"
			 "auth = smart\n"
			 "page_max = 50"); /* no final newline */
	assert_int_equal(config_load_file(c, path, err, sizeof err), 0);
	assert_int_equal(c->max_body_bytes, 2048);
	assert_int_equal(c->threads, 4);
	assert_string_equal(c->db, "/tmp/with spaces.db");
	assert_int_equal(c->auth, CONFIG_AUTH_SMART);
	assert_int_equal(c->page_max, 50);
	unlink(path);
}

/* A bad line stops the load with ERR_INVALID, and err names the line. */
static void test_config_file_bad_line(void **state)
{
	config_t *c = *state;
	char path[64], err[256] = "", want[96];

	write_temp(path, "threads = 4\n# ok\nthreads = lots\nthreads = 6\n");
	assert_int_equal(config_load_file(c, path, err, sizeof err), ERR_INVALID);
	snprintf(want, sizeof want, "%s:3:", path);
	if (!strstr(err, want))
		fail_msg("err '%s' does not name line 3", err);
	assert_int_equal(c->threads, 4); /* lines before were applied, later ones not */
	unlink(path);

	err[0] = '\0';
	write_temp(path, "\n\n\njust words\n");
	assert_int_equal(config_load_file(c, path, err, sizeof err), ERR_INVALID);
	snprintf(want, sizeof want, "%s:4:", path);
	assert_non_null(strstr(err, want));
	unlink(path);

	err[0] = '\0';
	write_temp(path, "nosuchkey = 1\n");
	assert_int_equal(config_load_file(c, path, err, sizeof err), ERR_INVALID);
	assert_non_null(strstr(err, ":1:"));
	assert_non_null(strstr(err, "nosuchkey"));
	unlink(path);

	err[0] = '\0';
	assert_int_equal(config_load_file(c, "/nonexistent/fhird.conf", err, sizeof err), ERR_IO);
	assert_true(err[0] != '\0');
}

static void test_config_env(void **state)
{
	config_t *c = *state;
	char err[256] = "";
	char *envp[] = { "PATH=/usr/bin:/bin",
			 "FHIRD_THREADS=3",
			 "FHIRD_MAX_BODY_BYTES=4096",
			 "FHIRD_DB=/tmp/env.db",
			 "FHIRD_SOMETHING_ELSE=1", /* not a setting: ignored */
			 "FHIRD_=x",
			 "FHIRDTHREADS=9",
			 "fhird_threads=9",
			 "HOME=/root",
			 NULL };
	char *bad[] = { "FHIRD_PAGE_MAX=many", NULL };

	assert_int_equal(config_load_env(c, envp, err, sizeof err), 0);
	assert_int_equal(c->threads, 3);
	assert_int_equal(c->max_body_bytes, 4096);
	assert_string_equal(c->db, "/tmp/env.db");
	assert_int_equal(config_load_env(c, bad, err, sizeof err), ERR_INVALID);
	assert_non_null(strstr(err, "page_max"));
	assert_int_equal(c->page_max, 1000);
	assert_int_equal(config_load_env(c, NULL, err, sizeof err), 0);
}

static void test_config_flag_key(void **state)
{
	char key[64];
	int is_bool = -1;
	(void)state;

	assert_int_equal(config_flag_key("max-body-bytes", key, sizeof key, &is_bool), 0);
	assert_string_equal(key, "max_body_bytes");
	assert_int_equal(is_bool, 0);
	assert_int_equal(config_flag_key("insecure-http", key, sizeof key, &is_bool), 0);
	assert_string_equal(key, "insecure_http");
	assert_int_equal(is_bool, 1);
	assert_int_equal(config_flag_key("listen", key, sizeof key, &is_bool), 0);
	assert_string_equal(key, "listen");
	assert_int_equal(is_bool, 0);
	/* flags are spelled with dashes */
	assert_int_equal(config_flag_key("max_body_bytes", key, sizeof key, &is_bool), ERR_NOTFOUND);
	assert_int_equal(config_flag_key("no-such-flag", key, sizeof key, &is_bool), ERR_NOTFOUND);
	assert_int_equal(config_flag_key("", key, sizeof key, &is_bool), ERR_NOTFOUND);
	/* a key buffer too small is not an overflow */
	assert_int_equal(config_flag_key("max-body-bytes", key, 5, &is_bool), ERR_NOTFOUND);
}

static void test_config_finish_defaults(void **state)
{
	config_t *c = *state;
	char err[256] = "";

	assert_int_equal(config_finish(c, err, sizeof err), 0);
	assert_string_equal(c->listen_host, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_string_equal(c->base_url, "http://127.0.0.1:8080/fhir");
	assert_string_equal(c->base_path, "/fhir");
	assert_int_equal(c->base_url_auto, 1);
}

/* Returns config_finish() for a fresh default config with settings kv
 * (NULL-terminated key, value pairs) applied; *out (if given) keeps it. */
static int finish_with(const char *const *kv, config_t *out)
{
	config_t c;
	char err[256] = "";
	int rc;

	assert_int_equal(config_init(&c), 0);
	for (; kv && kv[0]; kv += 2)
		assert_int_equal(config_set(&c, kv[0], kv[1], err, sizeof err), 0);
	rc = config_finish(&c, err, sizeof err);
	if (rc)
		assert_true(err[0] != '\0'); /* every refusal explains itself */
	if (out)
		*out = c;
	else
		config_fini(&c);
	return rc;
}

static void test_config_finish_rules(void **state)
{
	config_t c;
	(void)state;

	/* cert without key, key without cert */
	assert_int_equal(finish_with((const char *const[]){ "tls_cert", "/x/cert.pem", NULL }, NULL), ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "tls_key", "/x/key.pem", NULL }, NULL), ERR_INVALID);
	/* auth off is loopback only */
	assert_int_equal(finish_with((const char *const[]){ "listen", "0.0.0.0:8080", "auth", "off", NULL }, NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "listen", "0.0.0.0:8080", "auth", "off", "insecure_http",
							    "true", NULL },
				     NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "listen", "[::]:8080", "auth", "off", NULL }, NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "listen", "10.1.2.3:8080", "auth", "off", NULL }, NULL),
			 ERR_INVALID);
	/* auth on, no TLS, not loopback: refused unless insecure_http */
	assert_int_equal(finish_with((const char *const[]){ "listen", "0.0.0.0:8080", "auth", "smart", NULL }, NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "listen", "0.0.0.0:8080", "auth", "smart",
							    "insecure_http", "true", NULL },
				     &c),
			 0);
	assert_string_equal(c.base_url, "http://0.0.0.0:8080/fhir");
	/* the OAuth issuer: the base URL's origin + /auth */
	assert_string_equal(c.issuer, "http://0.0.0.0:8080/auth");
	config_fini(&c);
	/* with TLS: https base URL */
	assert_int_equal(finish_with((const char *const[]){ "listen", "0.0.0.0:8443", "auth", "smart", "tls_cert",
							    "/x/c.pem", "tls_key", "/x/k.pem", NULL },
				     &c),
			 0);
	assert_string_equal(c.base_url, "https://0.0.0.0:8443/fhir");
	assert_string_equal(c.base_path, "/fhir");
	config_fini(&c);
	/* loopback with auth off and plain HTTP is the default and fine */
	assert_int_equal(finish_with((const char *const[]){ "listen", "127.0.0.2:9000", NULL }, NULL), 0);
	/* page_default must not exceed page_max */
	assert_int_equal(finish_with((const char *const[]){ "page_default", "100", "page_max", "50", NULL }, NULL),
			 ERR_INVALID);
}

static void test_config_finish_listen(void **state)
{
	static const char *const bad[] = { "8080",        ":8080",           "127.0.0.1",       "127.0.0.1:",
					   "127.0.0.1:x", "127.0.0.1:70000", "127.0.0.1:65536", "127.0.0.1:-1",
					   "[::1]8080",   "[::1",            "[::1]:",          "" };
	config_t c;
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (finish_with((const char *const[]){ "listen", bad[i], NULL }, NULL) != ERR_INVALID)
			fail_msg("listen '%s' accepted", bad[i]);

	assert_int_equal(finish_with((const char *const[]){ "listen", "[::1]:8443", NULL }, &c), 0);
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 8443);
	assert_string_equal(c.base_url, "http://[::1]:8443/fhir");
	config_fini(&c);
	assert_int_equal(finish_with((const char *const[]){ "listen", "localhost:0", NULL }, &c), 0);
	assert_string_equal(c.listen_host, "localhost");
	assert_int_equal(c.listen_port, 0);
	config_fini(&c);
	assert_int_equal(finish_with((const char *const[]){ "listen", "127.0.0.1:65535", NULL }, &c), 0);
	assert_int_equal(c.listen_port, 65535);
	config_fini(&c);
}

static void test_config_finish_base_url(void **state)
{
	config_t c;
	(void)state;

	assert_int_equal(finish_with((const char *const[]){ "base_url", "https://fhir.example.org/r4/", NULL }, &c), 0);
	assert_string_equal(c.base_url, "https://fhir.example.org/r4");
	assert_string_equal(c.base_path, "/r4");
	assert_int_equal(c.base_url_auto, 0);
	config_fini(&c);
	assert_int_equal(finish_with((const char *const[]){ "base_url", "https://fhir.example.org", NULL }, &c), 0);
	assert_string_equal(c.base_path, "");
	config_fini(&c);
	assert_int_equal(finish_with((const char *const[]){ "base_url", "http://h:1/a/b/fhir", NULL }, &c), 0);
	assert_string_equal(c.base_path, "/a/b/fhir");
	config_fini(&c);
	assert_int_equal(finish_with((const char *const[]){ "base_url", "ftp://x/fhir", NULL }, NULL), ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "base_url", "fhir.example.org/fhir", NULL }, NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "base_url", "https://x/fhir?a=1", NULL }, NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "base_url", "https://x/fhir#top", NULL }, NULL),
			 ERR_INVALID);
}

/* "127.0.0.0/8, ::1, localhost" and nothing else. */
static void test_config_loopback(void **state)
{
	(void)state;
	assert_true(config_host_is_loopback("127.0.0.1"));
	assert_true(config_host_is_loopback("127.1.2.3"));
	assert_true(config_host_is_loopback("127.255.255.255"));
	assert_true(config_host_is_loopback("::1"));
	assert_true(config_host_is_loopback("localhost"));
	assert_false(config_host_is_loopback("0.0.0.0"));
	assert_false(config_host_is_loopback("::"));
	assert_false(config_host_is_loopback("10.0.0.1"));
	assert_false(config_host_is_loopback("128.0.0.1"));
	assert_false(config_host_is_loopback("fhir.example.org"));
	assert_false(config_host_is_loopback(""));
	/* a host name that merely starts like a loopback address is resolved
	 * by getaddrinfo and may be any address */
	assert_false(config_host_is_loopback("127.example.org"));
	assert_false(config_host_is_loopback("127.0.0.1.nip.example"));
}

/* auth = external: the combinations config_finish refuses (config.h). */
static void test_config_finish_external(void **state)
{
#define ISS "external_issuer", "https://as.example/realm"
	(void)state;
	/* the minimal working setups */
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_jwks_url",
							    "https://as.example/jwks", NULL },
				     NULL),
			 0);
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_jwks_file", "/x/j.json",
							    NULL },
				     NULL),
			 0);
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_introspection_url",
							    "https://as.example/introspect", "external_client_id", "rs",
							    "external_client_secret", "s", NULL },
				     NULL),
			 0);
	/* http:// only to loopback */
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_jwks_url",
							    "http://127.0.0.1:9000/jwks", NULL },
				     NULL),
			 0);
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_jwks_url",
							    "http://[::1]:9000/jwks", NULL },
				     NULL),
			 0);
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_jwks_url",
							    "http://as.example/jwks", NULL },
				     NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_jwks_url",
							    "http://127.0.0.1.evil.example/jwks", NULL },
				     NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_introspection_url",
							    "file:///etc/passwd", "external_client_id", "rs",
							    "external_client_secret", "s", NULL },
				     NULL),
			 ERR_INVALID);
	/* no issuer; no source of trust; two key sources; introspection
	 * without credentials (RFC 7662 2.1) */
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", "external_jwks_url",
							    "https://as.example/jwks", NULL },
				     NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, NULL }, NULL), ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_jwks_url",
							    "https://as.example/jwks", "external_jwks_file", "/x/j.json",
							    NULL },
				     NULL),
			 ERR_INVALID);
	assert_int_equal(finish_with((const char *const[]){ "auth", "external", ISS, "external_introspection_url",
							    "https://as.example/introspect", "external_client_id", "rs",
							    NULL },
				     NULL),
			 ERR_INVALID);
	/* the external settings mean nothing to the other modes */
	assert_int_equal(finish_with((const char *const[]){ "auth", "smart", "external_jwks_url", "http://x/", NULL },
				     NULL),
			 0);
	/* and external follows the listen rules of smart */
	assert_int_equal(finish_with((const char *const[]){ "listen", "0.0.0.0:8080", "auth", "external", ISS,
							    "external_jwks_file", "/x/j.json", NULL },
				     NULL),
			 ERR_INVALID);
#undef ISS
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_set_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_file_bad_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_env, setup, teardown),
		cmocka_unit_test(test_config_flag_key),
		cmocka_unit_test_setup_teardown(test_config_finish_defaults, setup, teardown),
		cmocka_unit_test(test_config_finish_rules),
		cmocka_unit_test(test_config_finish_external),
		cmocka_unit_test(test_config_finish_listen),
		cmocka_unit_test(test_config_finish_base_url),
		cmocka_unit_test(test_config_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
