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

enum config_auth { CONFIG_AUTH_OFF = 0, CONFIG_AUTH_SMART = 1 };

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
	int insecure_http;     /* allow plain HTTP on non-loopback */
	size_t max_body_bytes;
	size_t max_header_bytes;
	size_t max_url_bytes;
	unsigned max_json_depth;
	unsigned max_conn_per_ip;
	unsigned max_connections;
	unsigned conn_timeout_s;
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
 * non-loopback address without insecure_http). */
int config_finish(config_t *c, char *err, size_t errlen);

/* Sets issuer to base_url's origin + "/auth" (again after main settles
 * an automatic base URL). 0 / ERR_NOMEM. */
int config_derive_issuer(config_t *c);

/* 1 when host is a loopback address (127.0.0.0/8, ::1, localhost). */
int config_host_is_loopback(const char *host);

/* Writes "key = value" lines describing every setting (for --help). */
void config_print_help(void);

#endif
