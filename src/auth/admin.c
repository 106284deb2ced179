/*
 * admin.c - the administration commands of registry.h: `fhird client
 * add|list|remove`, `fhird user add`, `fhird launch`, `fhird keys rotate`.
 *
 * Each opens the store the way `fhird reindex` does (no index check, one
 * read connection) and may run while a server uses the same database:
 * the records are shared through the store, and every write is durable
 * when the command prints its answer.
 *
 * Output is for people and simple scripts: one line per fact on stdout,
 * one-line errors on stderr. Secrets appear once (the client secret at
 * registration) and never again; `client list` prints no hashes.
 * Exit status: 0 ok, 1 runtime failure, 2 usage error.
 */
#include "auth/registry.h"
#include "auth/token.h"
#include "core/err.h"
#include "core/log.h"
#include "core/valid.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ADMIN_DEFAULT_DB "./data/fhird.db"
#define ADMIN_DEFAULT_BASE "http://127.0.0.1:8080/fhir"
#define ADMIN_MAX_ARGS 64
#define ADMIN_JWKS_MAX (256 * 1024)
#define ADMIN_PASSWORD_MAX 1024

/* ---- command line ---- */

struct admin_flag {
	const char *name;
	int has_value;
};

struct admin_args {
	const char *name[ADMIN_MAX_ARGS]; /* flag name without "--", or NULL: positional */
	const char *value[ADMIN_MAX_ARGS];
	int n;
};

/* Splits argv[from..) into flags (--name value, --name=value) and
 * positionals, accepting only the flags in allowed[] (NULL-terminated).
 * 2 (usage, message printed) or 0. */
static int admin_parse(const char *cmd, int argc, char **argv, int from, const struct admin_flag *allowed,
		       struct admin_args *a)
{
	a->n = 0;
	for (int i = from; i < argc; i++) {
		const char *arg = argv[i], *eq;
		const struct admin_flag *f = NULL;
		size_t len;

		if (a->n == ADMIN_MAX_ARGS) {
			fprintf(stderr, "fhird %s: too many arguments\n", cmd);
			return 2;
		}
		if (strncmp(arg, "--", 2) != 0) {
			a->name[a->n] = NULL;
			a->value[a->n++] = arg;
			continue;
		}
		arg += 2;
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		for (const struct admin_flag *k = allowed; k->name && !f; k++)
			if (strlen(k->name) == len && !strncmp(k->name, arg, len))
				f = k;
		if (!f) {
			fprintf(stderr, "fhird %s: unknown option '--%.*s' (try --help)\n", cmd, (int)(len > 64 ? 64 : len),
				arg);
			return 2;
		}
		a->name[a->n] = f->name;
		if (!f->has_value) {
			if (eq) {
				fprintf(stderr, "fhird %s: option '--%s' takes no value\n", cmd, f->name);
				return 2;
			}
			a->value[a->n++] = "";
		} else if (eq) {
			a->value[a->n++] = eq + 1;
		} else if (i + 1 < argc) {
			a->value[a->n++] = argv[++i];
		} else {
			fprintf(stderr, "fhird %s: option '--%s' needs a value\n", cmd, f->name);
			return 2;
		}
	}
	return 0;
}

/* The last value of flag name, or NULL. */
static const char *admin_get(const struct admin_args *a, const char *name)
{
	const char *v = NULL;
	for (int i = 0; i < a->n; i++)
		if (a->name[i] && !strcmp(a->name[i], name))
			v = a->value[i];
	return v;
}

static int admin_count(const struct admin_args *a, const char *name)
{
	int n = 0;
	for (int i = 0; i < a->n; i++)
		n += a->name[i] && !strcmp(a->name[i], name);
	return n;
}

/* The positional arguments into pos[0..max); their count. */
static int admin_positionals(const struct admin_args *a, const char **pos, int max)
{
	int n = 0;
	for (int i = 0; i < a->n; i++)
		if (!a->name[i]) {
			if (n < max)
				pos[n] = a->value[i];
			n++;
		}
	return n;
}

/* Flags that must be there and must not be empty. 2 (message) or 0. */
static int admin_require(const char *cmd, const struct admin_args *a, const char *const *names)
{
	for (; *names; names++) {
		const char *v = admin_get(a, *names);
		if (!v || !*v) {
			fprintf(stderr, "fhird %s: missing --%s\n", cmd, *names);
			return 2;
		}
	}
	return 0;
}

/* Seconds in [lo, hi] from text; 2 (message) or 0. No atoi: a typo must
 * not silently become 0. */
static int admin_uint(const char *cmd, const char *flag, const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end = NULL;
	unsigned long x;

	errno = 0;
	x = v && *v >= '0' && *v <= '9' ? strtoul(v, &end, 10) : 0;
	if (!v || !end || *end || errno || x < lo || x > hi) {
		fprintf(stderr, "fhird %s: --%s must be a number from %u to %u\n", cmd, flag, lo, hi);
		return 2;
	}
	*out = (unsigned)x;
	return 0;
}

/* The common start of a command: flags from argv[from..), no positional
 * arguments, the required flags present. 0, or the exit status (2). */
static int admin_begin(const char *cmd, int argc, char **argv, int from, const struct admin_flag *allowed,
		       const char *const *required, struct admin_args *a)
{
	const char *pos[1];
	int status = admin_parse(cmd, argc, argv, from, allowed, a);
	if (status)
		return status;
	if (admin_positionals(a, pos, 1) > 0) {
		fprintf(stderr, "fhird %s: unexpected argument '%s'\n", cmd, pos[0]);
		return 2;
	}
	if (required && admin_require(cmd, a, required))
		return 2;
	return 0;
}

/* ---- store ---- */

static int admin_open(const char *cmd, const struct admin_args *a, store_t **out)
{
	const char *db = admin_get(a, "db");
	store_options so;
	int rc;

	if (!db || !*db)
		db = ADMIN_DEFAULT_DB;
	memset(&so, 0, sizeof so);
	so.path = db;
	so.readers = 1;
	rc = store_open(&so, out);
	if (rc)
		fprintf(stderr, "fhird %s: cannot open the database '%s' (%s)\n", cmd, db, err_name(rc));
	return rc;
}

/* ---- client ---- */

static const struct admin_flag admin_client_add_flags[] = {
	{ "id", 1 },	    { "type", 1 },	 { "redirect-uri", 1 }, { "scope", 1 }, { "jwks-file", 1 },
	{ "jwks-url", 1 }, { "launch-url", 1 }, { "name", 1 },	      { "db", 1 },    { NULL, 0 },
};

/* Reads a JWK Set file: a JSON object with a "keys" array of public keys
 * (a private member means the wrong file was given: refused). 2 with a
 * message on stderr, or 0. */
static int admin_read_jwks(const char *path, json_t **out)
{
	static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi", "k" };
	json_error_t jerr;
	json_t *j, *keys, *k;
	size_t i;
	FILE *f;
	long size;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "fhird client add: cannot read --jwks-file '%s'\n", path);
		return 2;
	}
	/* bounded: a JWK Set is a few KiB */
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > ADMIN_JWKS_MAX || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		fprintf(stderr, "fhird client add: --jwks-file is not a readable file under %d bytes\n", ADMIN_JWKS_MAX);
		return 2;
	}
	j = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!j) {
		fprintf(stderr, "fhird client add: --jwks-file is not JSON (line %d: %s)\n", jerr.line, jerr.text);
		return 2;
	}
	keys = json_is_object(j) ? json_object_get(j, "keys") : NULL;
	if (!json_is_array(keys) || json_array_size(keys) == 0) {
		fprintf(stderr, "fhird client add: --jwks-file must be a JWK Set: an object with a \"keys\" array\n");
		json_decref(j);
		return 2;
	}
	json_array_foreach (keys, i, k) {
		if (!json_is_object(k) || !json_is_string(json_object_get(k, "kty"))) {
			fprintf(stderr, "fhird client add: --jwks-file: key %zu is not a JWK (no \"kty\")\n", i);
			json_decref(j);
			return 2;
		}
		for (size_t m = 0; m < sizeof priv / sizeof priv[0]; m++)
			if (json_object_get(k, priv[m])) {
				fprintf(stderr,
					"fhird client add: --jwks-file: key %zu holds private key material (\"%s\"); "
					"register the public keys only\n",
					i, priv[m]);
				json_decref(j);
				return 2;
			}
	}
	*out = j;
	return 0;
}

static int admin_client_add(int argc, char **argv)
{
	static const char *const required[] = { "id", "type", "scope", NULL };
	const char *cmd = "client add", *id, *type, *jwks_file;
	struct admin_args a;
	auth_client c;
	store_t *s = NULL;
	char secret[96];
	int status, rc, nuri = 0;

	memset(&c, 0, sizeof c);
	secret[0] = '\0';
	status = admin_begin(cmd, argc, argv, 3, admin_client_add_flags, required, &a);
	if (status)
		goto out;
	status = 2;
	id = admin_get(&a, "id");
	if (!id || strlen(id) >= sizeof c.id) {
		fprintf(stderr, "fhird %s: --id is longer than 128 characters\n", cmd);
		goto out;
	}
	memcpy(c.id, id, strlen(id) + 1);
	type = admin_get(&a, "type");
	if (!strcmp(type, "public"))
		c.type = AUTH_CLIENT_PUBLIC;
	else if (!strcmp(type, "confidential"))
		c.type = AUTH_CLIENT_CONFIDENTIAL;
	else if (!strcmp(type, "backend"))
		c.type = AUTH_CLIENT_BACKEND;
	else {
		fprintf(stderr, "fhird %s: --type must be public, confidential or backend\n", cmd);
		goto out;
	}
	jwks_file = admin_get(&a, "jwks-file");
	if (jwks_file && admin_get(&a, "jwks-url")) {
		fprintf(stderr, "fhird %s: give --jwks-file or --jwks-url, not both\n", cmd);
		goto out;
	}
	if (c.type == AUTH_CLIENT_BACKEND && !jwks_file && !admin_get(&a, "jwks-url")) {
		fprintf(stderr, "fhird %s: a backend client needs --jwks-file or --jwks-url\n", cmd);
		goto out;
	}
	if (c.type != AUTH_CLIENT_BACKEND && admin_count(&a, "redirect-uri") == 0) {
		fprintf(stderr, "fhird %s: a %s client needs at least one --redirect-uri\n", cmd, type);
		goto out;
	}
	if (jwks_file && admin_read_jwks(jwks_file, &c.jwks))
		goto out;
	/* the registry owns the validation; the strings here are argv's, so
	 * c's pointers are borrowed and cleared before auth_client_fini */
	c.redirect_uris = calloc((size_t)a.n + 1, sizeof *c.redirect_uris);
	if (!c.redirect_uris) {
		status = 1;
		goto out;
	}
	for (int i = 0; i < a.n; i++)
		if (a.name[i] && !strcmp(a.name[i], "redirect-uri"))
			c.redirect_uris[nuri++] = (char *)a.value[i];
	c.nredirect = (size_t)nuri;
	c.scope = (char *)admin_get(&a, "scope");
	c.jwks_url = (char *)admin_get(&a, "jwks-url");
	c.launch_url = (char *)admin_get(&a, "launch-url");
	c.name = (char *)admin_get(&a, "name");

	status = 1;
	if (admin_open(cmd, &a, &s))
		goto out;
	rc = auth_client_add(s, &c, secret, sizeof secret);
	if (rc == ERR_INVALID) {
		fprintf(stderr,
			"fhird %s: invalid registration: the id must be 1-128 of [A-Za-z0-9._~-], redirect and launch "
			"URLs absolute http(s) URLs without fragment or userinfo, the JWKS URL such an https URL, the "
			"scope a valid SMART scope "
			"string\n",
			cmd);
		status = 2;
		goto out;
	}
	if (rc == ERR_CONFLICT) {
		fprintf(stderr, "fhird %s: a client with id '%s' exists\n", cmd, c.id);
		goto out;
	}
	if (rc) {
		fprintf(stderr, "fhird %s: failed (%s)\n", cmd, err_name(rc));
		goto out;
	}
	printf("client %s added\n", c.id);
	if (*secret)
		printf("client_secret: %s\n"
		       "(shown once: only its hash is stored)\n",
		       secret);
	status = 0;
out:
	explicit_bzero(secret, sizeof secret);
	store_close(s);
	/* borrowed from argv: not the struct's to free */
	for (size_t i = 0; i < c.nredirect; i++)
		c.redirect_uris[i] = NULL;
	c.nredirect = 0;
	c.scope = c.jwks_url = c.launch_url = c.name = NULL;
	auth_client_fini(&c);
	return status;
}

static const char *admin_type_name(enum auth_client_type t)
{
	return t == AUTH_CLIENT_PUBLIC ? "public" : t == AUTH_CLIENT_CONFIDENTIAL ? "confidential" : "backend";
}

static const struct admin_flag admin_db_flags[] = { { "db", 1 }, { NULL, 0 } };

static int admin_client_list(int argc, char **argv)
{
	const char *cmd = "client list";
	struct admin_args a;
	store_t *s = NULL;
	store_auth_rec *recs = NULL;
	size_t n = 0;
	int status, rc;

	status = admin_begin(cmd, argc, argv, 3, admin_db_flags, NULL, &a);
	if (status)
		return status;
	status = 1;
	if (admin_open(cmd, &a, &s))
		goto out;
	rc = store_auth_list(s, STORE_AUTH_CLIENT, &recs, &n);
	if (rc) {
		fprintf(stderr, "fhird %s: failed (%s)\n", cmd, err_name(rc));
		goto out;
	}
	/* id, type, redirect URIs (space-separated, "-" when none), scope:
	 * tab-separated, since a scope string has spaces. Read through
	 * auth_client_get so that only fields meant for display are printed. */
	for (size_t i = 0; i < n; i++) {
		auth_client c;
		rc = auth_client_get(s, recs[i].key, &c);
		if (rc == ERR_NOTFOUND)
			continue; /* removed meanwhile */
		if (rc) {
			fprintf(stderr, "fhird %s: client '%s' cannot be read (%s)\n", cmd, recs[i].key, err_name(rc));
			goto out;
		}
		printf("%s\t%s\t", c.id, admin_type_name(c.type));
		for (size_t k = 0; k < c.nredirect; k++)
			printf("%s%s", k ? " " : "", c.redirect_uris[k]);
		printf("%s\t%s\n", c.nredirect ? "" : "-", c.scope ? c.scope : "");
		auth_client_fini(&c);
	}
	status = 0;
out:
	for (size_t i = 0; i < n; i++)
		store_auth_rec_clear(&recs[i]);
	free(recs);
	store_close(s);
	return status;
}

static int admin_client_remove(int argc, char **argv)
{
	const char *cmd = "client remove";
	struct admin_args a;
	store_t *s = NULL;
	const char *pos[1] = { NULL };
	int status, rc;

	status = admin_parse(cmd, argc, argv, 3, admin_db_flags, &a);
	if (status)
		return status;
	if (admin_positionals(&a, pos, 1) != 1 || !*pos[0]) {
		fprintf(stderr, "usage: fhird client remove ID [--db FILE]\n");
		return 2;
	}
	if (admin_open(cmd, &a, &s))
		return 1;
	rc = auth_client_remove(s, pos[0]);
	store_close(s);
	if (rc == ERR_NOTFOUND) {
		fprintf(stderr, "fhird %s: no client '%s'\n", cmd, pos[0]);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "fhird %s: failed (%s)\n", cmd, err_name(rc));
		return 1;
	}
	printf("client %s removed\n", pos[0]);
	return 0;
}

/* ---- user ---- */

static const struct admin_flag admin_user_add_flags[] = {
	{ "username", 1 }, { "fhir-user", 1 }, { "password-stdin", 0 }, { "db", 1 }, { NULL, 0 },
};

/* One line from stdin without its newline: a password never goes on the
 * command line, where other users see it in ps(1). 0 or 2 (message). */
static int admin_read_password(const char *cmd, char *out, size_t cap)
{
	size_t n;

	if (!fgets(out, (int)cap, stdin)) {
		fprintf(stderr, "fhird %s: no password on stdin\n", cmd);
		return 2;
	}
	n = strlen(out);
	if (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	else if (!feof(stdin)) {
		fprintf(stderr, "fhird %s: password longer than %zu bytes\n", cmd, cap - 2);
		return 2;
	}
	if (n > 0 && out[n - 1] == '\r') /* typed on a terminal that sends CRLF */
		out[--n] = '\0';
	if (n == 0 || strlen(out) != n) {
		fprintf(stderr, "fhird %s: empty password or NUL byte in it\n", cmd);
		return 2;
	}
	return 0;
}

static int admin_user_add(int argc, char **argv)
{
	static const char *const required[] = { "username", "fhir-user", NULL };
	const char *cmd = "user add";
	struct admin_args a;
	store_t *s = NULL;
	char pw[ADMIN_PASSWORD_MAX + 2];
	int status, rc;

	pw[0] = '\0';
	status = admin_begin(cmd, argc, argv, 3, admin_user_add_flags, required, &a);
	if (status)
		goto out;
	status = 2;
	if (!admin_get(&a, "password-stdin")) {
		fprintf(stderr, "fhird %s: missing --password-stdin (the password is read from stdin)\n", cmd);
		goto out;
	}
	if (admin_read_password(cmd, pw, sizeof pw))
		goto out;
	status = 1;
	if (admin_open(cmd, &a, &s))
		goto out;
	rc = auth_user_add(s, admin_get(&a, "username"), admin_get(&a, "fhir-user"), pw);
	if (rc == ERR_INVALID) {
		fprintf(stderr,
			"fhird %s: invalid user: the username must be 1-128 of [A-Za-z0-9._@-], --fhir-user "
			"Patient/ID, Practitioner/ID, PractitionerRole/ID, RelatedPerson/ID or Person/ID\n",
			cmd);
		status = 2;
		goto out;
	}
	if (rc == ERR_CONFLICT) {
		fprintf(stderr, "fhird %s: user '%s' exists\n", cmd, admin_get(&a, "username"));
		goto out;
	}
	if (rc) {
		fprintf(stderr, "fhird %s: failed (%s)\n", cmd, err_name(rc));
		goto out;
	}
	printf("user %s added\n", admin_get(&a, "username"));
	status = 0;
out:
	explicit_bzero(pw, sizeof pw);
	store_close(s);
	return status;
}

/* ---- launch ---- */

static const struct admin_flag admin_launch_flags[] = {
	{ "client", 1 }, { "patient", 1 }, { "encounter", 1 }, { "base-url", 1 },
	{ "ttl", 1 },	 { "db", 1 },	   { NULL, 0 },
};

/* Percent-encodes s (RFC 3986 2.1: all but the unreserved characters)
 * into a new string. */
static char *admin_url_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), o = 0;
	char *out = malloc(3 * n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return out;
}

static int admin_launch(int argc, char **argv)
{
	static const char *const required[] = { "client", "patient", NULL };
	const char *cmd = "launch", *base, *enc, *pat;
	struct admin_args a;
	store_t *s = NULL;
	auth_client c;
	char value[64], *iss = NULL;
	unsigned ttl = 300;
	int status, rc;

	memset(&c, 0, sizeof c);
	value[0] = '\0';
	status = admin_begin(cmd, argc, argv, 2, admin_launch_flags, required, &a);
	if (status)
		goto out;
	status = 2;
	pat = admin_get(&a, "patient");
	enc = admin_get(&a, "encounter");
	if (!valid_id(pat, strlen(pat)) || (enc && !valid_id(enc, strlen(enc)))) {
		fprintf(stderr, "fhird %s: --patient and --encounter must be FHIR ids ([A-Za-z0-9-.]{1,64})\n", cmd);
		goto out;
	}
	if (admin_get(&a, "ttl") && admin_uint(cmd, "ttl", admin_get(&a, "ttl"), 10, 86400, &ttl))
		goto out;
	base = admin_get(&a, "base-url");
	if (!base)
		base = ADMIN_DEFAULT_BASE;
	if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
		fprintf(stderr, "fhird %s: --base-url must be an http(s) URL\n", cmd);
		goto out;
	}
	status = 1;
	iss = admin_url_encode(base);
	if (!iss || admin_open(cmd, &a, &s))
		goto out;
	rc = auth_client_get(s, admin_get(&a, "client"), &c);
	if (rc == ERR_NOTFOUND) {
		fprintf(stderr, "fhird %s: no client '%s'\n", cmd, admin_get(&a, "client"));
		goto out;
	}
	if (!rc && c.type == AUTH_CLIENT_BACKEND) {
		/* an EHR launch ends in an authorization code: a backend client
		 * (client_credentials only) could never use it */
		fprintf(stderr, "fhird %s: '%s' is a backend client; an EHR launch needs a public or confidential one\n",
			cmd, c.id);
		status = 2;
		goto out;
	}
	if (!rc)
		rc = auth_launch_new(s, c.id, pat, enc, ttl, value, sizeof value);
	if (rc) {
		fprintf(stderr, "fhird %s: failed (%s)\n", cmd, err_name(rc));
		goto out;
	}
	/* SMART EHR launch: the app's launch URL gets iss and launch as query
	 * parameters (app-launch.html#launch-app-ehr-launch); the value is
	 * base64url, safe in a query as it is. */
	if (c.launch_url)
		printf("%s%siss=%s&launch=%s\n", c.launch_url, strchr(c.launch_url, '?') ? "&" : "?", iss, value);
	else
		printf("iss=%s launch=%s\n", base, value);
	status = 0;
out:
	explicit_bzero(value, sizeof value);
	free(iss);
	auth_client_fini(&c);
	store_close(s);
	return status;
}

/* ---- keys ---- */

static const struct admin_flag admin_keys_flags[] = { { "db", 1 }, { "access-ttl", 1 }, { NULL, 0 } };

static int admin_keys(int argc, char **argv)
{
	const char *cmd = "keys rotate";
	struct admin_args a;
	store_t *s = NULL;
	char kid[128];
	unsigned ttl = 3600;
	int status, rc;

	if (argc < 3 || strcmp(argv[2], "rotate") != 0) {
		fprintf(stderr, "usage: fhird keys rotate [--db FILE] [--access-ttl SECONDS]\n");
		return 2;
	}
	status = admin_begin(cmd, argc, argv, 3, admin_keys_flags, NULL, &a);
	if (status)
		return status;
	/* The old keys must outlive every token they signed: give the
	 * server's access_ttl_s when it is not the default. */
	if (admin_get(&a, "access-ttl") && admin_uint(cmd, "access-ttl", admin_get(&a, "access-ttl"), 60, 86400, &ttl))
		return 2;
	if (admin_open(cmd, &a, &s))
		return 1;
	rc = auth_keys_rotate(s, ttl, kid, sizeof kid);
	store_close(s);
	if (rc) {
		fprintf(stderr, "fhird %s: failed (%s)\n", cmd, err_name(rc));
		return 1;
	}
	printf("new signing key %s; older keys expire in %u s\n", kid, ttl + 60);
	return 0;
}

/* ---- entry ---- */

static void admin_usage(FILE *f)
{
	fprintf(f, "usage:\n"
		   "  fhird client add --id ID --type public|confidential|backend [--redirect-uri URI ...]\n"
		   "                   --scope \"...\" [--jwks-file F | --jwks-url URL] [--launch-url URL]\n"
		   "                   [--name NAME] [--db FILE]\n"
		   "  fhird client list [--db FILE]\n"
		   "  fhird client remove ID [--db FILE]\n"
		   "  fhird user add --username U --fhir-user Patient/ID|Practitioner/ID --password-stdin [--db FILE]\n"
		   "  fhird launch --client ID --patient ID [--encounter ID] [--base-url URL] [--ttl SECONDS]\n"
		   "               [--db FILE]\n"
		   "  fhird keys rotate [--db FILE] [--access-ttl SECONDS]\n"
		   "--db defaults to " ADMIN_DEFAULT_DB ", --base-url to " ADMIN_DEFAULT_BASE ", --ttl to 300,\n"
		   "--access-ttl to 3600 (the server's access_ttl_s).\n");
}

int auth_admin_main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "", *sub = argc > 2 ? argv[2] : "";

	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			admin_usage(stdout);
			return 0;
		}
	/* migrations and the like are info; an admin command prints its own */
	log_init(LOG_WARN);
	if (!strcmp(what, "client")) {
		if (!strcmp(sub, "add"))
			return admin_client_add(argc, argv);
		if (!strcmp(sub, "list"))
			return admin_client_list(argc, argv);
		if (!strcmp(sub, "remove"))
			return admin_client_remove(argc, argv);
	} else if (!strcmp(what, "user")) {
		if (!strcmp(sub, "add"))
			return admin_user_add(argc, argv);
	} else if (!strcmp(what, "launch")) {
		return admin_launch(argc, argv);
	} else if (!strcmp(what, "keys")) {
		return admin_keys(argc, argv);
	}
	fprintf(stderr, "fhird: unknown command '%s%s%.40s' (try fhird %s --help)\n", what, *sub ? " " : "", sub, what);
	return 2;
}
