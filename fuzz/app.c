/*
 * app.c - the in-process fhird of the application-level fuzz targets
 * (see app.h). Wiring follows main.c main_serve(); request building
 * follows http/server.c http_dispatch().
 */
#include "app.h"

#include "core/err.h"
#include "core/log.h"
#include "http/url.h"
#include "search/extract.h"
#include "search/reindex.h"

#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

/* http_request_header() of a top-level request asks libmicrohttpd for
 * the connection's headers; here the "connection" is an fz_conn. */
const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key)
{
	const fz_conn *c = (const fz_conn *)connection;

	if (!c || kind != MHD_HEADER_KIND || !key)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (strcasecmp(c->name[i], key) == 0)
			return c->value[i];
	return NULL;
}

static void fz_die(const char *what)
{
	fprintf(stderr, "fuzz app: %s\n", what);
	abort();
}

static void fz_set(config_t *c, const char *key, const char *value)
{
	char err[256];
	if (config_set(c, key, value, err, sizeof err))
		fz_die(err);
}

/* Removes dir and the files in it (the databases and their WAL/SHM
 * files: the directory is ours alone). */
static void fz_rmdir(const char *dir)
{
	char path[340];
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* libFuzzer ends a run with _Exit (no atexit handlers), so directories
 * of finished runs stay behind: each names its process
 * (fhird-fuzz-<pid>-...), and one whose process is gone is removed. */
static void fz_sweep(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *e;
	char path[340];

	while (d && (e = readdir(d)) != NULL) {
		long pid;
		char *end;
		if (strncmp(e->d_name, "fhird-fuzz-", 11) != 0)
			continue;
		pid = strtol(e->d_name + 11, &end, 10);
		if (end == e->d_name + 11 || *end != '-' || pid <= 0)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* alive (or not ours to ask about) */
		snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
		fz_rmdir(path);
	}
	if (d)
		closedir(d);
}

void fz_app_open(fz_app *a, int smart)
{
	static int extract_ready;
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	store_options so;
	char err[256];

	memset(a, 0, sizeof *a);
	fz_sweep(shm);
	snprintf(a->dir, sizeof a->dir, "%s/fhird-fuzz-%ld-XXXXXX", shm, (long)getpid());
	if (!mkdtemp(a->dir))
		fz_die("mkdtemp");
	snprintf(a->db, sizeof a->db, "%s/fz.db", a->dir);
	if (config_init(&a->cfg))
		fz_die("config_init");
	fz_set(&a->cfg, "listen", "127.0.0.1:8080");
	fz_set(&a->cfg, "db", a->db);
	fz_set(&a->cfg, "auth", smart ? "smart" : "off");
	fz_set(&a->cfg, "audit", "off");
	fz_set(&a->cfg, "log_level", "error");
	if (config_finish(&a->cfg, err, sizeof err))
		fz_die(err);
	/* past config's own bound: seeded cursors from an earlier day keep
	 * verifying, so the corpus reaches the payload parser for years */
	a->cfg.cursor_ttl_s = 10u * 366 * 86400;
	log_init(LOG_ERROR);

	if (!extract_ready) { /* compiled once per process, like main */
		if (search_extract_init())
			fz_die("search_extract_init");
		extract_ready = 1;
	}
	memset(&so, 0, sizeof so);
	so.path = a->db;
	so.extract = search_extract_body;
	so.readers = 2;
	so.write_batch_max = a->cfg.write_batch_max;
	so.statement_timeout_ms = a->cfg.db_statement_timeout_ms;
	if (store_open(&so, &a->store))
		fz_die("store_open");
	if (smart && auth_tokens_new(a->store, a->cfg.issuer, a->cfg.base_url, a->cfg.access_ttl_s, &a->tokens))
		fz_die("auth_tokens_new");
	if (auth_new(&a->cfg, a->tokens, NULL, &a->auth))
		fz_die("auth_new");
	if (smart && oauth_new(&a->cfg, a->store, a->tokens, &a->oauth))
		fz_die("oauth_new");
	a->fhir.cfg = &a->cfg;
	a->fhir.store = a->store;
	a->fhir.auth = a->auth;
	memcpy(a->fhir.cursor_key, FZ_CURSOR_KEY, sizeof a->fhir.cursor_key);
	if (fhir_capability_build(&a->fhir))
		fz_die("fhir_capability_build");
}

void fz_app_close(fz_app *a)
{
	oauth_free(a->oauth);
	auth_free(a->auth);
	auth_tokens_free(a->tokens);
	store_close(a->store);
	free(a->fhir.capability);
	config_fini(&a->cfg);
	fz_rmdir(a->dir);
	memset(a, 0, sizeof *a);
}

void fz_app_request(fz_app *a, arena_t *arena, const char *method, const char *target, const fz_conn *conn,
		    const char *body, size_t len, const http_param *extra, size_t nextra, http_response *resp)
{
	http_request req;
	http_target t;
	char *b;
	int rc;

	memset(&req, 0, sizeof req);
	memset(resp, 0, sizeof *resp);
	req.arena = arena;
	req.method = method;
	req.conn = (void *)conn;
	req.peer_text = "127.0.0.1";
	req.peer[0] = 127;
	req.peer[3] = 1;
	req.peer_len = 4;
	rc = http_target_parse(arena, target, HTTP_MAX_PARAMS, &t);
	if (rc) {
		req.pre_error = rc == ERR_TOOBIG ? ERR_URITOOLONG : rc;
	} else {
		req.path = t.path;
		req.segments = t.segments;
		req.nsegments = t.nsegments;
		req.params = t.params;
		req.nparams = t.nparams;
		if (nextra) {
			http_param *all = arena_calloc(arena, t.nparams + nextra, sizeof *all);
			if (!all)
				fz_die("arena");
			if (t.nparams)
				memcpy(all, t.params, t.nparams * sizeof *all);
			memcpy(all + t.nparams, extra, nextra * sizeof *all);
			req.params = all;
			req.nparams = t.nparams + nextra;
		}
	}
	if (!req.path)
		req.path = "/";
	b = arena_alloc(arena, len + 1);
	if (!b) {
		req.pre_error = ERR_TOOBIG;
		b = "";
		len = 0;
	} else {
		if (len)
			memcpy(b, body, len);
		b[len] = '\0';
	}
	req.body = b;
	req.body_len = len;
	if (a->oauth && oauth_handle(a->oauth, &req, resp))
		goto done;
	fhir_handle(&a->fhir, &req, resp);
done:
	if (resp->status == 0)
		resp->status = 500;
}

const char *fz_resp_header(const http_response *resp, const char *name)
{
	for (unsigned i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->hname[i], name) == 0)
			return resp->hvalue[i];
	return NULL;
}
