/*
 * config.h - server configuration: defaults, config file, environment,
 * command line, in that order of precedence (later wins).
 *
 * Every setting has one row in the table in config.c, which gives its
 * config-file key (`max_body_bytes`), its environment variable
 * (`FHIRD_MAX_BODY_BYTES`) and its flag (`--max-body-bytes`), so the three
 * sources can never drift apart. The struct is filled once at start and is
 * read-only afterwards; it owns its strings (config_fini frees them).
 */
#ifndef FHIRD_CORE_CONFIG_H
#define FHIRD_CORE_CONFIG_H

#include <stddef.h>

enum config_auth { CONFIG_AUTH_OFF = 0, CONFIG_AUTH_SMART = 1, CONFIG_AUTH_EXTERNAL = 2 };

/* audit: auto is on with --auth smart and off with --auth off (where
 * every request is anonymous and full-access anyway); config_finish()
 * settles it to on or off. */
enum config_audit { CONFIG_AUDIT_OFF = 0, CONFIG_AUDIT_ON = 1, CONFIG_AUDIT_AUTO = 2 };

typedef struct config {
	char *listen;          /* "ADDR:PORT" as given */
	char *listen_host;     /* parsed address, no brackets */
	unsigned listen_port;  /* parsed port (0 = let the kernel pick) */
	char *db;              /* database path */
	char *base_url;        /* public FHIR base URL, no trailing '/' */
	char *base_path;       /* path part of base_url, e.g. "/fhir" */
	int base_url_auto;     /* base_url was derived from listen (not given) */
	char *tls_cert;        /* PEM file or NULL */
	char *tls_key;         /* PEM file or NULL */
	char *tls_priorities;  /* GnuTLS priority string */
	char *port_file;       /* if set, the bound port is written here */
	int auth;              /* enum config_auth */
	char *issuer;          /* OAuth issuer URL, no trailing '/' */
	int issuer_auto;       /* issuer was derived from base_url */
	unsigned access_ttl_s; /* access token lifetime */
	unsigned refresh_ttl_s;/* offline_access refresh token lifetime */
	unsigned online_ttl_s; /* online_access refresh token lifetime */
	unsigned code_ttl_s;   /* authorization code lifetime */
	unsigned launch_ttl_s; /* EHR launch value lifetime */
	unsigned login_ttl_s;  /* pending authorization request lifetime */
	/* --auth external: tokens of another authorization server */
	char *external_issuer;            /* required iss */
	char *external_audience;          /* required aud ("" = base_url) */
	char *external_jwks_file;         /* its JWK Set, from a file */
	char *external_jwks_url;          /* ... or fetched from a URL */
	char *external_introspection_url; /* RFC 7662 endpoint */
	char *external_client_id;         /* our credentials there */
	char *external_client_secret;
	char *external_ca_file;           /* extra trust anchors for every outbound fetch */
	char *external_authorize_url;     /* advertised in smart-configuration */
	char *external_token_url;
	unsigned fetch_timeout_ms;        /* outbound fetches: whole exchange */
	unsigned jwks_refetch_s;          /* unknown kid: refetch a JWKS URL at most this often */
	size_t fetch_max_bytes;           /* outbound fetches: largest body */
	int insecure_http;     /* allow plain HTTP on non-loopback */
	size_t max_body_bytes;
	size_t max_header_bytes;
	size_t max_url_bytes;
	unsigned max_json_depth;
	unsigned max_conn_per_ip;
	unsigned max_connections;
	unsigned conn_timeout_s;
	/* abuse limits (docs/limits.md) */
	unsigned header_timeout_s;       /* request line + headers, from connection open / last response */
	unsigned body_min_rate;          /* body bytes per second a request must average (0: no deadline) */
	unsigned rate_api_addr;          /* FHIR requests per second per client address (0: no limit) */
	unsigned rate_api_addr_burst;
	unsigned rate_api_client;        /* FHIR requests per second per OAuth client */
	unsigned rate_api_client_burst;
	unsigned rate_auth_addr;         /* /auth requests per second per client address */
	unsigned rate_auth_addr_burst;
	unsigned rate_auth_client;       /* token requests per second per OAuth client */
	unsigned rate_auth_client_burst;
	int rate_exempt_loopback;        /* loopback clients pass the rate limits and address backoff */
	unsigned limit_table_entries;    /* entries per rate-limit / backoff table */
	unsigned login_free_failures;    /* failed logins per account before delays begin */
	unsigned login_addr_free_failures; /* failed logins per address before delays begin */
	unsigned login_backoff_ms;       /* first delay; doubles with each further failure */
	unsigned login_backoff_max_s;    /* longest delay */
	unsigned login_window_s;         /* failures forgotten this long after the last delay */
	unsigned login_max_concurrent;   /* simultaneous password checks (0: twice the CPUs) */
	unsigned login_queue_ms;         /* how long a login waits for a password-check slot */
	unsigned db_statement_timeout_ms;/* database time per request on read connections (0: none) */
	unsigned threads;
	unsigned db_readers;       /* read connections (0: automatic) */
	unsigned page_default;     /* _count when absent */
	unsigned page_max;         /* largest _count honoured */
	unsigned search_max_clauses;  /* AND clauses in one search */
	unsigned search_max_values;   /* OR values in one clause */
	unsigned search_chain_depth;  /* chain / _has hops */
	unsigned search_max_includes; /* _include + _revinclude parameters */
	unsigned search_include_max;  /* included resources per page */
	unsigned cursor_ttl_s;        /* search cursor lifetime */
	unsigned shutdown_grace_s; /* wait for in-flight requests */
	unsigned write_batch_max;  /* group commit: writes per fsync */
	unsigned max_bundle_entries;   /* entries per batch/transaction (413 beyond) */
	size_t max_bundle_response_bytes; /* entry response bytes one Bundle collects (GET entries past it: too-costly) */
	int conditional_delete_multiple; /* conditional delete may remove several */
	int audit;                 /* enum config_audit; on or off after config_finish */
	unsigned audit_queue_max;  /* events waiting for the audit writer */
	char *log_level;
} config_t;

/* Fills c with the defaults. 0 or ERR_NOMEM. */
int config_init(config_t *c);

/* Frees the strings. NULL-safe. */
void config_fini(config_t *c);

/* Sets one setting by config key ("max_body_bytes"). On ERR_INVALID an
 * explanation is written to err (one line, no trailing newline). */
int config_set(config_t *c, const char *key, const char *value, char *err, size_t errlen);

/* Reads a config file: `key = value` lines, '#' comments, blank lines.
 * 0, ERR_IO (cannot read), ERR_INVALID (bad line; err says which). */
int config_load_file(config_t *c, const char *path, char *err, size_t errlen);

/* Applies every FHIRD_<KEY> variable found in envp (NULL-terminated). */
int config_load_env(config_t *c, char *const *envp, char *err, size_t errlen);

/* Maps a flag name without dashes ("max-body-bytes") to its key, copying
 * into key. ERR_NOTFOUND if no such flag. *is_bool tells whether the flag
 * takes no value (boolean switches like --insecure-http). */
int config_flag_key(const char *flag, char *key, size_t keylen, int *is_bool);

/* Derives listen_host/port, base_url/base_path, and checks combinations
 * (cert without key, auth off on a non-loopback address, plain HTTP on a
 * non-loopback address without insecure_http; auth external without an
 * issuer, without any of jwks file/jwks URL/introspection URL, with both
 * a jwks file and URL, introspection without client credentials, an
 * outbound URL that is neither https:// nor http:// to loopback). */
int config_finish(config_t *c, char *err, size_t errlen);

/* Sets issuer to base_url's origin + "/auth" (again after main settles
 * an automatic base URL). 0 / ERR_NOMEM. */
int config_derive_issuer(config_t *c);

/* 1 when host is a loopback address (127.0.0.0/8, ::1, localhost). */
int config_host_is_loopback(const char *host);

/* Writes "key = value" lines describing every setting (for --help). */
void config_print_help(void);

#endif
