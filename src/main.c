/*
 * main.c - the command line and the wiring of the modules, nothing else.
 *
 *   fhird serve [options]   run the server (fhird serve --help)
 *   fhird reindex [--db F]  rebuild the search indexes
 *   fhird audit verify      check the audit trail's hash chain
 *   fhird version           print the version
 *   fhird --help            usage
 *
 * Exit status: 0 success, 1 runtime failure (cannot open the database,
 * cannot bind), 2 usage error (unknown flag, bad value, refused setting).
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "auth/cors.h"
#include "auth/external.h"
#include "auth/oauth.h"
#include "auth/registry.h"
#include "auth/secret.h"
#include "auth/token.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "fhir/fhir.h"
#include "http/http.h"
#include "http/limits.h"
#include "import/import.h"
#include "search/extract.h"
#include "search/reindex.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static void main_usage(FILE *f)
{
	fprintf(f, "usage: fhird <command> [options]\n\n"
		   "commands:\n"
		   "  serve      run the FHIR R4 server (fhird serve --help for options)\n"
		   "  import     load NDJSON / Bundle files into the database (fhird import --help)\n"
		   "  reindex    rebuild the search indexes (fhird reindex [--db FILE] [--base-url URL])\n"
		   "  client     add, list or remove OAuth clients (fhird client --help)\n"
		   "  user       add a user account (fhird user add --help)\n"
		   "  launch     print an EHR launch URL for a client (fhird launch --help)\n"
		   "  keys       rotate the token signing key (fhird keys rotate)\n"
		   "  audit      check the audit trail (fhird audit verify [--db FILE] [--expect SEQ:HASH])\n"
		   "  version    print the version\n"
		   "  help       this text\n");
}

static void main_serve_usage(void)
{
	printf("usage: fhird serve [options]\n\n"
	       "Every option can also be set in a config file (--config FILE, lines 'key = value')\n"
	       "or in the environment (FHIRD_<KEY>). Precedence: defaults < file < environment < flags.\n\n"
	       "  --config FILE          read settings from FILE\n");
	config_print_help();
}

/* Applies argv[from..) flags to c; --config was handled before. */
static int main_parse_flags(config_t *c, int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		char name[64], key[64], err[256];
		int is_bool = 0;
		size_t n;

		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "fhird: unexpected argument '%s'\n", a);
			return ERR_INVALID;
		}
		a += 2;
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		if (n >= sizeof name) {
			fprintf(stderr, "fhird: unknown option '--%.40s'\n", a);
			return ERR_INVALID;
		}
		memcpy(name, a, n);
		name[n] = '\0';
		if (strcmp(name, "config") == 0) {
			i += eq ? 0 : 1; /* already loaded */
			continue;
		}
		if (config_flag_key(name, key, sizeof key, &is_bool)) {
			fprintf(stderr, "fhird: unknown option '--%s'\n", name);
			return ERR_INVALID;
		}
		if (eq)
			val = eq + 1;
		else if (is_bool)
			val = "true";
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "fhird: option '--%s' needs a value\n", name);
			return ERR_INVALID;
		}
		if (config_set(c, key, val, err, sizeof err)) {
			fprintf(stderr, "fhird: %s\n", err);
			return ERR_INVALID;
		}
	}
	return 0;
}

static int main_load_config(config_t *c, int argc, char **argv)
{
	char err[512];
	const char *file = NULL;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "fhird: option '--config' needs a value\n");
				return ERR_INVALID;
			}
			file = argv[i + 1];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			file = argv[i] + 9;
		}
	}
	if (!file)
		file = getenv("FHIRD_CONFIG");
	if (file && config_load_file(c, file, err, sizeof err)) {
		fprintf(stderr, "fhird: %s\n", err);
		return ERR_INVALID;
	}
	if (config_load_env(c, environ, err, sizeof err)) {
		fprintf(stderr, "fhird: environment: %s\n", err);
		return ERR_INVALID;
	}
	if (main_parse_flags(c, argc, argv, 2))
		return ERR_INVALID;
	if (config_finish(c, err, sizeof err)) {
		fprintf(stderr, "fhird: %s\n", err);
		return ERR_INVALID;
	}
	return 0;
}

static int main_write_port(const char *file, unsigned port)
{
	char tmp[PATH_MAX];
	FILE *f;
	snprintf(tmp, sizeof tmp, "%s.tmp", file);
	f = fopen(tmp, "w");
	if (!f)
		return ERR_IO;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, file) != 0)
		return ERR_IO;
	return 0;
}

/* The listener's application: the authorization server's paths first
 * (discovery, /auth/...; they do their own CORS), FHIR for everything
 * else, with CORS for the origins registered for a client (cors.h).
 * oauth and cors are filled in after the store is open, before the
 * listener starts serving. */
typedef struct main_app {
	fhir_app *fhir;
	oauth_t *oauth;
	auth_cors *cors;
} main_app;

static void main_handle(void *app, http_request *req, http_response *resp)
{
	main_app *m = app;
	if (m->oauth && oauth_handle(m->oauth, req, resp))
		return;
	if (auth_cors_preflight(m->cors, req, resp))
		return;
	fhir_handle(m->fhir, req, resp);
	auth_cors_response(m->cors, req, resp);
}

static int main_serve(int argc, char **argv)
{
	config_t cfg;
	store_t *store = NULL;
	auth_t *auth = NULL;
	auth_tokens *tokens = NULL;
	audit_t *audit = NULL;
	auth_external *ext = NULL;
	http_server *srv = NULL;
	http_limits *limits = NULL;
	main_app mapp;
	fhir_app app;
	store_options so;
	sigset_t sigs;
	enum log_level lvl;
	unsigned port = 0;
	int rc, sig = 0, status = 1, auto_base;

	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			main_serve_usage();
			return 0;
		}
	memset(&app, 0, sizeof app);
	memset(&mapp, 0, sizeof mapp);
	mapp.fhir = &app;
	if (config_init(&cfg)) {
		fprintf(stderr, "fhird: out of memory\n");
		return 1;
	}
	if (main_load_config(&cfg, argc, argv)) {
		config_fini(&cfg);
		return 2;
	}
	if (log_level_parse(cfg.log_level, &lvl)) {
		fprintf(stderr, "fhird: log_level: bad value '%s'\n", cfg.log_level);
		config_fini(&cfg);
		return 2;
	}
	log_init(lvl);
	auto_base = cfg.base_url_auto && cfg.listen_port == 0;

	/* Signals are taken by sigwait() below, in this thread only: block
	 * them before any thread starts so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	app.cfg = &cfg;
	if (search_extract_init()) {
		log_error("msg=\"cannot compile the search parameter expressions\"");
		goto out;
	}
	/* Bind first: a port in use must not leave a new, empty database behind. */
	rc = http_server_new(&cfg, main_handle, &mapp, &srv, &port);
	if (rc)
		goto out;
	memset(&so, 0, sizeof so);
	so.path = cfg.db;
	so.extract = search_extract_body;
	so.extract_ctx = NULL; /* base settled below; a rebuild at open indexes absolute self-references as URLs */
	/* Reads are CPU work: more connections than cores only contend, and
	 * each connection maps the database on its own (every page is faulted
	 * in once per connection). Writers do not use them. */
	if (cfg.db_readers) {
		so.readers = cfg.db_readers;
	} else {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		so.readers = ncpu > 0 ? 2 * (unsigned)ncpu : 4;
		if (so.readers < 4)
			so.readers = 4;
	}
	so.write_batch_max = cfg.write_batch_max;
	so.statement_timeout_ms = cfg.db_statement_timeout_ms;
	rc = store_open(&so, &store);
	if (rc) {
		log_error("msg=\"cannot open the database\" err=%s", err_name(rc));
		goto out;
	}
	app.store = store;
	/* Paging cursors carry a MAC: the key is shared through the database so
	 * that a next link made by one node is followed on another. */
	if (auth_secret_get(store, "cursor", app.cursor_key, sizeof app.cursor_key)) {
		log_error("msg=\"cannot load or create the cursor key\"");
		goto out;
	}

	if (auto_base) {
		/* Port 0: the base URL can only name the port the kernel chose. */
		char url[512], host[300];
		const char *h = cfg.listen_host;
		snprintf(host, sizeof host, strchr(h, ':') ? "[%s]" : "%s", h);
		snprintf(url, sizeof url, "%s://%s:%u%s", *cfg.tls_cert ? "https" : "http", host, port, cfg.base_path);
		free(cfg.base_url);
		cfg.base_url = strdup(url);
		if (!cfg.base_url)
			goto out;
		if (cfg.issuer_auto && config_derive_issuer(&cfg))
			goto out;
	}
	if (cfg.auth == CONFIG_AUTH_SMART) {
		/* Signing keys live in the database: the first start makes one. */
		rc = auth_tokens_new(store, cfg.issuer, cfg.base_url, cfg.access_ttl_s, &tokens);
		if (rc) {
			log_error("msg=\"cannot load or create the signing keys\" err=%s", err_name(rc));
			goto out;
		}
	} else if (cfg.auth == CONFIG_AUTH_EXTERNAL) {
		/* Another server issues the tokens: no keys of ours. */
		rc = auth_external_new(&cfg, &ext);
		if (rc) {
			log_error("msg=\"cannot set up external authorization\" err=%s", err_name(rc));
			goto out;
		}
	}
	if (auth_new(&cfg, tokens, ext, &auth))
		goto out;
	app.auth = auth;
	if (cfg.audit == CONFIG_AUDIT_ON) {
		audit_options ao;
		memset(&ao, 0, sizeof ao);
		ao.store = store;
		ao.base_url = cfg.base_url;
		/* the namespace of client ids and subjects: whoever issued the tokens */
		ao.issuer = cfg.auth == CONFIG_AUTH_EXTERNAL ? cfg.external_issuer : cfg.issuer;
		ao.queue_max = cfg.audit_queue_max;
		ao.block_ms = AUDIT_BLOCK_MS;
		ao.patient_of = fhir_audit_patient_of;
		if (audit_new(&ao, &audit)) {
			log_error("msg=\"cannot start the audit trail\"");
			goto out;
		}
		app.audit = audit;
	}
	/* smart: the authorization server, signing with the same keys;
	 * external: only the discovery document pointing elsewhere; off:
	 * nothing. */
	if (cfg.auth != CONFIG_AUTH_OFF && oauth_new(&cfg, store, tokens, &mapp.oauth))
		goto out;
	/* Rate limits, login backoff, the password-check gate: in memory,
	 * per process (docs/limits.md). */
	if (http_limits_new(&cfg, &limits)) {
		log_error("msg=\"cannot set up the rate limits\"");
		goto out;
	}
	app.limits = limits;
	{
		/* device cookies made on one node must be known on the others */
		unsigned char dk[32];
		rc = auth_secret_get(store, "device-cookie", dk, sizeof dk);
		if (!rc)
			http_limits_set_device_key(limits, dk, sizeof dk);
		explicit_bzero(dk, sizeof dk);
		if (rc) {
			log_error("msg=\"cannot load or create the device cookie key\"");
			goto out;
		}
	}
	if (mapp.oauth) {
		oauth_set_limits(mapp.oauth, limits);
		oauth_set_audit(mapp.oauth, audit);
	}
	if (auth_cors_new(store, &mapp.cors))
		goto out;
	if (fhir_capability_build(&app))
		goto out;
	if (http_server_start(srv))
		goto out;
	if (*cfg.port_file && main_write_port(cfg.port_file, port)) {
		log_error("msg=\"cannot write port file\"");
		goto out;
	}
	log_info("msg=listening addr=\"%s\" port=%u tls=%s auth=%s audit=%s base=\"%s\" threads=%u schema=%d",
		 cfg.listen_host, port, *cfg.tls_cert ? "on" : "off",
		 cfg.auth == CONFIG_AUTH_OFF ? "off" : cfg.auth == CONFIG_AUTH_SMART ? "smart" : "external",
		 audit ? "on" : "off", cfg.base_url, cfg.threads, store_schema_version(store));
	if (!audit && cfg.auth != CONFIG_AUTH_OFF)
		log_warn("msg=\"the audit trail is off: accesses are not recorded\"");
	if (!*cfg.tls_cert && !config_host_is_loopback(cfg.listen_host))
		log_warn("msg=\"plain HTTP on a non-loopback address (--insecure-http): put a TLS proxy in front\"");
	if (cfg.auth == CONFIG_AUTH_OFF)
		log_warn("msg=\"authorization is off (development only)\"");

	while (sigwait(&sigs, &sig) != 0)
		;
	log_info("msg=\"shutting down\" signal=%d", sig);
	status = 0;
out:
	http_server_stop(srv, cfg.shutdown_grace_s);
	http_limits_free(limits);
	oauth_free(mapp.oauth);
	audit_free(audit); /* after the last request: writes what is still queued */
	auth_cors_free(mapp.cors);
	auth_free(auth);
	auth_external_free(ext);
	auth_tokens_free(tokens);
	store_close(store);
	free(app.capability);
	search_extract_fini();
	if (status == 0)
		log_info("msg=stopped");
	config_fini(&cfg);
	return status;
}

/* fhird reindex [--db FILE] [--base-url URL]: rebuilds every search index
 * from the current versions. Run it on a database no server is using (the
 * rebuild holds the write lock for its whole run). */
static int main_reindex(int argc, char **argv)
{
	const char *db = "./data/fhird.db", *base = NULL;
	store_options so;
	store_t *store = NULL;
	size_t n = 0;
	int rc;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--db") && i + 1 < argc)
			db = argv[++i];
		else if (!strcmp(argv[i], "--base-url") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: fhird reindex [--db FILE] [--base-url URL]\n");
			return 0;
		} else {
			fprintf(stderr, "fhird reindex: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	log_init(LOG_WARN);
	if (search_extract_init()) {
		fprintf(stderr, "fhird reindex: cannot compile the search parameters\n");
		return 1;
	}
	memset(&so, 0, sizeof so);
	so.path = db;
	so.readers = 1;
	rc = store_open(&so, &store);
	if (!rc)
		rc = store_reindex(store, search_extract_body, (void *)base, &n);
	store_close(store);
	search_extract_fini();
	if (rc) {
		fprintf(stderr, "fhird reindex: failed (%s)\n", err_name(rc));
		return 1;
	}
	printf("reindexed %zu resources\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", FHIRD_NAME, FHIRD_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return main_serve(argc, argv);
	if (strcmp(argv[1], "import") == 0)
		return import_main(argc, argv);
	if (strcmp(argv[1], "reindex") == 0)
		return main_reindex(argc, argv);
	if (strcmp(argv[1], "audit") == 0)
		return audit_main(argc, argv);
	if (!strcmp(argv[1], "client") || !strcmp(argv[1], "user") || !strcmp(argv[1], "launch") ||
	    !strcmp(argv[1], "keys"))
		return auth_admin_main(argc, argv);
	fprintf(stderr, "fhird: unknown command '%s' (try fhird --help)\n", argv[1]);
	return 2;
}
