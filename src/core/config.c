/*
 * config.c - the settings table and the three sources that fill it.
 */
#include "config.h"

#include "err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum cfg_kind { CFG_STR, CFG_SIZE, CFG_UINT, CFG_BOOL, CFG_AUTH, CFG_AUDIT };

struct cfg_row {
	const char *key;
	enum cfg_kind kind;
	size_t off;
	unsigned long long min, max; /* numeric bounds */
	const char *def;
	const char *help;
};

#define O(f) offsetof(config_t, f)
static const struct cfg_row cfg_rows[] = {
	{ "listen", CFG_STR, O(listen), 0, 0, "127.0.0.1:8080", "address and port to listen on (ADDR:PORT, [v6]:PORT)" },
	{ "db", CFG_STR, O(db), 0, 0, "./data/fhird.db", "SQLite database file (created on first start; also sqlite:PATH), or a postgresql:// URL (docs/postgresql.md)" },
	{ "base_url", CFG_STR, O(base_url), 0, 0, "", "public FHIR base URL (default http(s)://LISTEN/fhir)" },
	{ "tls_cert", CFG_STR, O(tls_cert), 0, 0, "", "TLS certificate chain (PEM); enables HTTPS" },
	{ "tls_key", CFG_STR, O(tls_key), 0, 0, "", "TLS private key (PEM)" },
	{ "tls_priorities", CFG_STR, O(tls_priorities), 0, 0,
	  "SECURE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-AES-128-CBC:-AES-256-CBC:-CAMELLIA-128-CBC:-CAMELLIA-256-CBC:-SHA1:-RSA:-DHE-RSA:-DHE-DSS:%SERVER_PRECEDENCE",
	  "GnuTLS priority string (TLS 1.2/1.3, AEAD ciphers, forward secrecy)" },
	{ "port_file", CFG_STR, O(port_file), 0, 0, "", "write the bound port to this file once listening" },
	{ "auth", CFG_AUTH, O(auth), 0, 0, "smart", "authorization: smart (the built-in SMART App Launch server), external (tokens of another authorization server) or off (loopback only, development)" },
	{ "issuer", CFG_STR, O(issuer), 0, 0, "", "OAuth issuer URL (default: the base URL's origin + /auth)" },
	{ "access_ttl_s", CFG_UINT, O(access_ttl_s), 60, 86400, "3600", "access token lifetime in seconds" },
	{ "refresh_ttl_s", CFG_UINT, O(refresh_ttl_s), 60, 31536000, "2592000", "offline_access refresh token lifetime in seconds" },
	{ "online_ttl_s", CFG_UINT, O(online_ttl_s), 60, 604800, "28800", "online_access refresh token lifetime in seconds" },
	{ "code_ttl_s", CFG_UINT, O(code_ttl_s), 10, 600, "60", "authorization code lifetime in seconds" },
	{ "launch_ttl_s", CFG_UINT, O(launch_ttl_s), 10, 86400, "300", "EHR launch value lifetime in seconds" },
	{ "login_ttl_s", CFG_UINT, O(login_ttl_s), 60, 3600, "600", "time a user has to finish login and consent" },
	{ "external_issuer", CFG_STR, O(external_issuer), 0, 0, "", "auth external: the iss its tokens must carry (required)" },
	{ "external_audience", CFG_STR, O(external_audience), 0, 0, "", "auth external: the aud its tokens must carry (default: the FHIR base URL)" },
	{ "external_jwks_file", CFG_STR, O(external_jwks_file), 0, 0, "", "auth external: the authorization server's JWK Set, from a file" },
	{ "external_jwks_url", CFG_STR, O(external_jwks_url), 0, 0, "", "auth external: ... or from this https URL (cached per Cache-Control)" },
	{ "external_introspection_url", CFG_STR, O(external_introspection_url), 0, 0, "", "auth external: RFC 7662 introspection endpoint (for opaque tokens)" },
	{ "external_client_id", CFG_STR, O(external_client_id), 0, 0, "", "auth external: our client id at the introspection endpoint" },
	{ "external_client_secret", CFG_STR, O(external_client_secret), 0, 0, "", "auth external: our client secret there (prefer the config file or FHIRD_EXTERNAL_CLIENT_SECRET)" },
	{ "external_ca_file", CFG_STR, O(external_ca_file), 0, 0, "", "extra trusted CAs (PEM) for outbound fetches: external JWKS/introspection, client JWKS URLs" },
	{ "external_authorize_url", CFG_STR, O(external_authorize_url), 0, 0, "", "auth external: authorization endpoint to advertise in smart-configuration" },
	{ "external_token_url", CFG_STR, O(external_token_url), 0, 0, "", "auth external: token endpoint to advertise in smart-configuration" },
	{ "jwks_refetch_s", CFG_UINT, O(jwks_refetch_s), 1, 3600, "30", "a JWK Set fetched from a URL is fetched again for an unknown kid at most this often" },
	{ "fetch_timeout_ms", CFG_UINT, O(fetch_timeout_ms), 100, 60000, "5000", "outbound fetches (JWKS, introspection): time for the whole exchange" },
	{ "fetch_max_bytes", CFG_SIZE, O(fetch_max_bytes), 1024, 1 << 24, "1048576", "outbound fetches: largest response body" },
	{ "insecure_http", CFG_BOOL, O(insecure_http), 0, 1, "false", "allow plain HTTP on a non-loopback address" },
	{ "max_body_bytes", CFG_SIZE, O(max_body_bytes), 1024, 1ULL << 32, "16777216", "largest request body (413 beyond)" },
	{ "max_header_bytes", CFG_SIZE, O(max_header_bytes), 16384, 1 << 22, "65536", "per-connection memory for the request line, query and headers" },
	{ "max_url_bytes", CFG_SIZE, O(max_url_bytes), 256, 1 << 20, "8192", "longest request URL (414 beyond)" },
	{ "max_json_depth", CFG_UINT, O(max_json_depth), 4, 1000, "64", "deepest JSON nesting accepted (400 beyond)" },
	{ "max_conn_per_ip", CFG_UINT, O(max_conn_per_ip), 0, 100000, "128", "connections per client address (0 = unlimited)" },
	{ "max_connections", CFG_UINT, O(max_connections), 1, 1000000, "1024", "connections in total" },
	{ "conn_timeout_s", CFG_UINT, O(conn_timeout_s), 1, 3600, "30", "idle/slow connection timeout in seconds" },
	{ "header_timeout_s", CFG_UINT, O(header_timeout_s), 1, 3600, "20", "a request's line and headers must arrive within this many seconds of the connection opening or the previous response (slowloris)" },
	{ "body_min_rate", CFG_UINT, O(body_min_rate), 0, 1000000000, "500", "after header_timeout_s, a request body must average this many bytes per second (0 = only conn_timeout_s)" },
	{ "rate_api_addr", CFG_UINT, O(rate_api_addr), 0, 10000000, "1000", "FHIR requests per second per client address (429 beyond; 0 = no limit)" },
	{ "rate_api_addr_burst", CFG_UINT, O(rate_api_addr_burst), 1, 100000000, "2000", "burst of FHIR requests per client address" },
	{ "rate_api_client", CFG_UINT, O(rate_api_client), 0, 10000000, "2000", "FHIR requests per second per OAuth client (429 beyond; 0 = no limit)" },
	{ "rate_api_client_burst", CFG_UINT, O(rate_api_client_burst), 1, 100000000, "4000", "burst of FHIR requests per OAuth client" },
	{ "rate_auth_addr", CFG_UINT, O(rate_auth_addr), 0, 10000000, "20", "authorization server (/auth) requests per second per client address (0 = no limit)" },
	{ "rate_auth_addr_burst", CFG_UINT, O(rate_auth_addr_burst), 1, 100000000, "60", "burst of /auth requests per client address" },
	{ "rate_auth_client", CFG_UINT, O(rate_auth_client), 0, 10000000, "50", "token requests per second per OAuth client (0 = no limit)" },
	{ "rate_auth_client_burst", CFG_UINT, O(rate_auth_client_burst), 1, 100000000, "200", "burst of token requests per OAuth client" },
	{ "rate_exempt_loopback", CFG_BOOL, O(rate_exempt_loopback), 0, 1, "true", "loopback clients (local tools, benchmarks, a proxy on the same host) pass the rate limits and the per-address login backoff" },
	{ "limit_table_entries", CFG_UINT, O(limit_table_entries), 64, 16777216, "16384", "entries of each rate-limit and login-backoff table (least recently used evicted)" },
	{ "login_free_failures", CFG_UINT, O(login_free_failures), 1, 10000, "5", "failed logins per account after which each next attempt must wait (429)" },
	{ "login_addr_free_failures", CFG_UINT, O(login_addr_free_failures), 1, 100000, "20", "failed logins per client address after which each next attempt must wait (429)" },
	{ "login_backoff_ms", CFG_UINT, O(login_backoff_ms), 1, 3600000, "1000", "first login delay; doubles with each further failure" },
	{ "login_backoff_max_s", CFG_UINT, O(login_backoff_max_s), 1, 86400, "900", "longest login delay (no account is ever locked for longer)" },
	{ "login_window_s", CFG_UINT, O(login_window_s), 1, 604800, "900", "failed logins are forgotten this long after the last delay ended" },
	{ "login_max_concurrent", CFG_UINT, O(login_max_concurrent), 0, 4096, "0", "simultaneous password checks, 64 MiB each (0 = twice the CPUs)" },
	{ "login_queue_ms", CFG_UINT, O(login_queue_ms), 0, 60000, "1000", "how long a login waits for a password-check slot before 503" },
	{ "db_statement_timeout_ms", CFG_UINT, O(db_statement_timeout_ms), 0, 3600000, "10000", "database time one request may spend on read connections (400 too-costly beyond; 0 = no limit)" },
	{ "threads", CFG_UINT, O(threads), 1, 256, "16", "HTTP worker threads (writers wait on group commit: more threads, bigger batches)" },
	{ "db_readers", CFG_UINT, O(db_readers), 0, 1024, "0", "read connections; requests wait for a free one (0: twice the CPUs, at least 4)" },
	{ "page_default", CFG_UINT, O(page_default), 1, 100000, "20", "page size when _count is absent" },
	{ "page_max", CFG_UINT, O(page_max), 1, 100000, "1000", "largest page size honoured" },
	{ "search_max_clauses", CFG_UINT, O(search_max_clauses), 1, 10000, "64", "search parameters (AND clauses, chain hops included) in one query (400 beyond)" },
	{ "search_max_values", CFG_UINT, O(search_max_values), 1, 100000, "1000", "comma-separated OR values in one search parameter (400 beyond)" },
	{ "search_chain_depth", CFG_UINT, O(search_chain_depth), 1, 12, "4", "hops of chained parameters and nested _has (400 beyond)" },
	{ "search_max_includes", CFG_UINT, O(search_max_includes), 0, 1000, "16", "_include/_revinclude parameters in one query (400 beyond)" },
	{ "search_include_max", CFG_UINT, O(search_include_max), 1, 100000, "1000", "included resources in one page (the rest is left out, with a warning)" },
	{ "cursor_ttl_s", CFG_UINT, O(cursor_ttl_s), 1, 604800, "3600", "how long a search paging cursor stays valid" },
	{ "shutdown_grace_s", CFG_UINT, O(shutdown_grace_s), 0, 3600, "10", "how long shutdown waits for requests in flight" },
	{ "write_batch_max", CFG_UINT, O(write_batch_max), 1, 10000, "256", "writes committed together by one fsync" },
	{ "max_bundle_entries", CFG_UINT, O(max_bundle_entries), 1, 1000000, "10000", "entries in one batch/transaction Bundle (413 beyond)" },
	{ "max_bundle_response_bytes", CFG_SIZE, O(max_bundle_response_bytes), 1 << 20, 1ULL << 36, "268435456", "bytes of entry responses one batch/transaction collects; GET entries past it are not run (400 too-costly)" },
	{ "conditional_delete_multiple", CFG_BOOL, O(conditional_delete_multiple), 0, 1, "false", "a conditional delete may remove several matches (else 412)" },
	{ "audit", CFG_AUDIT, O(audit), 0, 0, "auto", "audit trail of every access as AuditEvents: on, off, or auto (on with --auth smart)" },
	{ "audit_queue_max", CFG_UINT, O(audit_queue_max), 1, 10000000, "16384", "audit events waiting to be written; when full, requests wait (up to 2 s) for the writer" },
	{ "log_level", CFG_STR, O(log_level), 0, 0, "info", "debug, info, warn or error" },
};
#undef O
#define CFG_NROWS (sizeof cfg_rows / sizeof cfg_rows[0])

static const struct cfg_row *cfg_find(const char *key)
{
	for (size_t i = 0; i < CFG_NROWS; i++)
		if (strcmp(cfg_rows[i].key, key) == 0)
			return &cfg_rows[i];
	return NULL;
}

static int cfg_parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
		*out = 1;
	else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
		*out = 0;
	else
		return ERR_INVALID;
	return 0;
}

static int cfg_parse_ull(const char *v, unsigned long long *out)
{
	char *end;
	if (!*v || !isdigit((unsigned char)*v))
		return ERR_INVALID;
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || *end)
		return ERR_INVALID;
	return 0;
}

int config_set(config_t *c, const char *key, const char *value, char *err, size_t errlen)
{
	const struct cfg_row *r = cfg_find(key);
	char *base = (char *)c;
	unsigned long long n;
	int b;

	if (!r) {
		snprintf(err, errlen, "unknown setting '%s'", key);
		return ERR_INVALID;
	}
	switch (r->kind) {
	case CFG_STR: {
		char **slot = (char **)(base + r->off);
		char *dup = strdup(value);
		if (!dup)
			return ERR_NOMEM;
		free(*slot);
		*slot = dup;
		return 0;
	}
	case CFG_BOOL:
		if (cfg_parse_bool(value, &b))
			goto bad;
		*(int *)(base + r->off) = b;
		return 0;
	case CFG_AUTH:
		if (!strcmp(value, "off"))
			*(int *)(base + r->off) = CONFIG_AUTH_OFF;
		else if (!strcmp(value, "smart"))
			*(int *)(base + r->off) = CONFIG_AUTH_SMART;
		else if (!strcmp(value, "external"))
			*(int *)(base + r->off) = CONFIG_AUTH_EXTERNAL;
		else
			goto bad;
		return 0;
	case CFG_AUDIT:
		if (!strcmp(value, "auto"))
			*(int *)(base + r->off) = CONFIG_AUDIT_AUTO;
		else if (cfg_parse_bool(value, &b) == 0)
			*(int *)(base + r->off) = b ? CONFIG_AUDIT_ON : CONFIG_AUDIT_OFF;
		else
			goto bad;
		return 0;
	case CFG_SIZE:
	case CFG_UINT:
		if (cfg_parse_ull(value, &n) || n < r->min || n > r->max) {
			snprintf(err, errlen, "%s: '%s' is not a number in %llu..%llu", key, value, r->min, r->max);
			return ERR_INVALID;
		}
		if (r->kind == CFG_SIZE)
			*(size_t *)(base + r->off) = (size_t)n;
		else
			*(unsigned *)(base + r->off) = (unsigned)n;
		return 0;
	}
bad:
	snprintf(err, errlen, "%s: bad value '%s'", key, value);
	return ERR_INVALID;
}

int config_init(config_t *c)
{
	char err[128];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < CFG_NROWS; i++) {
		int rc = config_set(c, cfg_rows[i].key, cfg_rows[i].def, err, sizeof err);
		if (rc)
			return rc;
	}
	return 0;
}

void config_fini(config_t *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CFG_NROWS; i++)
		if (cfg_rows[i].kind == CFG_STR) {
			char **slot = (char **)((char *)c + cfg_rows[i].off);
			free(*slot);
			*slot = NULL;
		}
	free(c->listen_host);
	free(c->base_path);
	c->listen_host = NULL;
	c->base_path = NULL;
}

static char *cfg_trim(char *s)
{
	char *e;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_load_file(config_t *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	unsigned lineno = 0;
	int rc = 0;

	if (!f) {
		snprintf(err, errlen, "cannot read config file '%s'", path);
		return ERR_IO;
	}
	while (fgets(line, sizeof line, f)) {
		char *k, *v, *eq, msg[160];
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			rc = ERR_INVALID;
			goto out;
		}
		k = cfg_trim(line);
		if (*k == '\0' || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
			rc = ERR_INVALID;
			goto out;
		}
		*eq = '\0';
		k = cfg_trim(k);
		v = cfg_trim(eq + 1);
		rc = config_set(c, k, v, msg, sizeof msg);
		if (rc) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			goto out;
		}
	}
out:
	fclose(f);
	return rc;
}

int config_load_env(config_t *c, char *const *envp, char *err, size_t errlen)
{
	for (; envp && *envp; envp++) {
		const char *e = *envp, *eq;
		char key[64];
		size_t n;
		int rc;

		if (strncmp(e, "FHIRD_", 6) != 0)
			continue;
		eq = strchr(e, '=');
		if (!eq)
			continue;
		n = (size_t)(eq - (e + 6));
		if (n == 0 || n >= sizeof key)
			continue;
		for (size_t i = 0; i < n; i++)
			key[i] = (char)tolower((unsigned char)e[6 + i]);
		key[n] = '\0';
		if (!cfg_find(key))
			continue; /* other FHIRD_ variables (e.g. for tests) are not ours */
		rc = config_set(c, key, eq + 1, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int config_flag_key(const char *flag, char *key, size_t keylen, int *is_bool)
{
	size_t n = strlen(flag);
	const struct cfg_row *r;

	if (n == 0 || n >= keylen)
		return ERR_NOTFOUND;
	for (size_t i = 0; i <= n; i++)
		key[i] = flag[i] == '-' ? '_' : flag[i];
	/* Flags are spelled with dashes only. */
	if (strchr(flag, '_'))
		return ERR_NOTFOUND;
	r = cfg_find(key);
	if (!r)
		return ERR_NOTFOUND;
	*is_bool = r->kind == CFG_BOOL;
	return 0;
}

int config_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	/* Only literal addresses count: a name that looks like 127.x could
	 * resolve anywhere. "localhost" is the one name trusted (RFC 6761 6.3). */
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* An outbound URL: https://, or http:// to a loopback host (tests,
 * a sidecar). The full parse happens when it is used (http/client.c). */
static int cfg_outbound_url_ok(const char *u)
{
	char host[256];
	const char *h, *e;

	if (strncasecmp(u, "https://", 8) == 0)
		return u[8] != '\0';
	if (strncasecmp(u, "http://", 7) != 0)
		return 0;
	h = u + 7;
	if (*h == '[') {
		h++;
		e = strchr(h, ']');
	} else {
		e = h + strcspn(h, ":/?#");
	}
	if (!e || e == h || (size_t)(e - h) >= sizeof host)
		return 0;
	memcpy(host, h, (size_t)(e - h));
	host[e - h] = '\0';
	return config_host_is_loopback(host);
}

/* The combinations --auth external needs (see config.h). */
static int cfg_external_check(const config_t *c, char *err, size_t errlen)
{
	const char *urls[] = { c->external_jwks_url, c->external_introspection_url };
	const char *names[] = { "external_jwks_url", "external_introspection_url" };

	if (!*c->external_issuer) {
		snprintf(err, errlen, "--auth external needs --external-issuer (the iss of its tokens)");
		return ERR_INVALID;
	}
	if (!*c->external_jwks_file && !*c->external_jwks_url && !*c->external_introspection_url) {
		snprintf(err, errlen,
			 "--auth external needs --external-jwks-file, --external-jwks-url or --external-introspection-url");
		return ERR_INVALID;
	}
	if (*c->external_jwks_file && *c->external_jwks_url) {
		snprintf(err, errlen, "give --external-jwks-file or --external-jwks-url, not both");
		return ERR_INVALID;
	}
	/* RFC 7662 2.1: the introspection endpoint requires authorization */
	if (*c->external_introspection_url && (!*c->external_client_id || !*c->external_client_secret)) {
		snprintf(err, errlen, "--external-introspection-url needs --external-client-id and --external-client-secret");
		return ERR_INVALID;
	}
	for (size_t i = 0; i < 2; i++)
		if (*urls[i] && !cfg_outbound_url_ok(urls[i])) {
			snprintf(err, errlen, "%s must be an https:// URL (http:// only to a loopback address)", names[i]);
			return ERR_INVALID;
		}
	return 0;
}

int config_finish(config_t *c, char *err, size_t errlen)
{
	const char *l = c->listen, *colon, *hs, *he;
	unsigned long long port;
	char *url = NULL;

	/* listen: HOST:PORT or [V6]:PORT */
	if (l[0] == '[') {
		he = strchr(l, ']');
		if (!he || he[1] != ':')
			goto bad_listen;
		hs = l + 1;
		colon = he + 1;
	} else {
		colon = strrchr(l, ':');
		if (!colon || colon == l)
			goto bad_listen;
		hs = l;
		he = colon;
	}
	if (cfg_parse_ull(colon + 1, &port) || port > 65535)
		goto bad_listen;
	free(c->listen_host);
	c->listen_host = strndup(hs, (size_t)(he - hs));
	if (!c->listen_host)
		return ERR_NOMEM;
	c->listen_port = (unsigned)port;

	if (!*c->tls_cert != !*c->tls_key) {
		snprintf(err, errlen, "--tls-cert and --tls-key must be given together");
		return ERR_INVALID;
	}
	if (!config_host_is_loopback(c->listen_host)) {
		if (c->auth == CONFIG_AUTH_OFF) {
			snprintf(err, errlen, "--auth off is only allowed on a loopback listen address");
			return ERR_INVALID;
		}
		if (!*c->tls_cert && !c->insecure_http) {
			snprintf(err, errlen, "refusing plain HTTP on a non-loopback address; give --tls-cert/--tls-key or --insecure-http");
			return ERR_INVALID;
		}
	}
	if (c->auth == CONFIG_AUTH_EXTERNAL && cfg_external_check(c, err, errlen))
		return ERR_INVALID;
	if (c->audit == CONFIG_AUDIT_AUTO)
		c->audit = c->auth == CONFIG_AUTH_OFF ? CONFIG_AUDIT_OFF : CONFIG_AUDIT_ON;
	if (c->page_default > c->page_max) {
		snprintf(err, errlen, "page_default must not exceed page_max");
		return ERR_INVALID;
	}

	/* base_url: default from the listen address; path part is the base path. */
	if (!*c->base_url) {
		size_t n = strlen(c->listen) + 32;
		url = malloc(n);
		if (!url)
			return ERR_NOMEM;
		snprintf(url, n, "%s://%s/fhir", *c->tls_cert ? "https" : "http", c->listen);
		free(c->base_url);
		c->base_url = url;
		c->base_url_auto = 1;
	}
	{
		char *u = c->base_url, *p;
		size_t n = strlen(u);
		while (n > 0 && u[n - 1] == '/')
			u[--n] = '\0';
		if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) {
			snprintf(err, errlen, "base_url must start with http:// or https://");
			return ERR_INVALID;
		}
		p = strchr(u + (u[4] == 's' ? 8 : 7), '/');
		if (p && (strchr(p, '?') || strchr(p, '#'))) {
			snprintf(err, errlen, "base_url must not have a query or fragment");
			return ERR_INVALID;
		}
		free(c->base_path);
		c->base_path = strdup(p ? p : "");
		if (!c->base_path)
			return ERR_NOMEM;
	}
	if (!*c->issuer || c->issuer_auto) {
		int rc = config_derive_issuer(c);
		if (rc)
			return rc;
	}
	return 0;

bad_listen:
	snprintf(err, errlen, "listen: '%s' is not ADDR:PORT", c->listen);
	return ERR_INVALID;
}

int config_derive_issuer(config_t *c)
{
	const char *u = c->base_url;
	const char *host = u + (strncmp(u, "https://", 8) == 0 ? 8 : 7);
	const char *slash = strchr(host, '/');
	size_t origin = slash ? (size_t)(slash - u) : strlen(u);
	size_t n = origin + sizeof "/auth";
	char *iss = malloc(n);
	if (!iss)
		return ERR_NOMEM;
	snprintf(iss, n, "%.*s/auth", (int)origin, u);
	free(c->issuer);
	c->issuer = iss;
	c->issuer_auto = 1;
	return 0;
}

void config_print_help(void)
{
	for (size_t i = 0; i < CFG_NROWS; i++) {
		char flag[64];
		const struct cfg_row *r = &cfg_rows[i];
		size_t j;
		for (j = 0; r->key[j] && j < sizeof flag - 1; j++)
			flag[j] = r->key[j] == '_' ? '-' : r->key[j];
		flag[j] = '\0';
		printf("  --%-18s %s%s\n", flag, r->kind == CFG_BOOL ? "" : "VALUE  ", r->help);
		printf("  %-20s (config key '%s', env FHIRD_", "", r->key);
		for (j = 0; r->key[j]; j++)
			putchar(toupper((unsigned char)r->key[j]));
		printf(", default '%s')\n", r->def);
	}
}
