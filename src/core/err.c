/*
 * err.c - the table behind err.h. One row per error; a new error gets a
 * row here and nowhere else.
 */
#include "err.h"

struct err_row {
	int err;
	int status;
	const char *code;
	const char *name;
	const char *message;
};

static const struct err_row err_rows[] = {
	{ ERR_OK, 200, "informational", "ERR_OK", "All OK" },
	{ ERR_NOMEM, 500, "exception", "ERR_NOMEM", "The server ran out of memory" },
	{ ERR_TOOBIG, 413, "too-costly", "ERR_TOOBIG", "The request is larger than this server accepts" },
	{ ERR_INVALID, 400, "invalid", "ERR_INVALID", "The request is not valid" },
	{ ERR_NOTFOUND, 404, "not-found", "ERR_NOTFOUND", "Not found" },
	{ ERR_GONE, 410, "deleted", "ERR_GONE", "The resource has been deleted" },
	{ ERR_CONFLICT, 409, "conflict", "ERR_CONFLICT", "Version conflict" },
	{ ERR_PRECONDITION, 412, "conflict", "ERR_PRECONDITION", "Precondition failed" },
	{ ERR_UNAUTHORIZED, 401, "login", "ERR_UNAUTHORIZED", "Authentication required" },
	{ ERR_FORBIDDEN, 403, "forbidden", "ERR_FORBIDDEN", "Access denied" },
	{ ERR_DB, 500, "exception", "ERR_DB", "Internal storage error" },
	{ ERR_UNPROCESSABLE, 422, "processing", "ERR_UNPROCESSABLE", "The resource failed validation" },
	{ ERR_METHOD, 405, "not-supported", "ERR_METHOD", "Method not allowed on this URL" },
	{ ERR_NOTACCEPTABLE, 406, "not-supported", "ERR_NOTACCEPTABLE", "Requested format is not supported" },
	{ ERR_MEDIATYPE, 415, "not-supported", "ERR_MEDIATYPE", "Unsupported media type" },
	{ ERR_NOTIMPL, 501, "not-supported", "ERR_NOTIMPL", "Not implemented" },
	{ ERR_IO, 500, "exception", "ERR_IO", "Internal I/O error" },
	{ ERR_INTERNAL, 500, "exception", "ERR_INTERNAL", "Internal server error" },
	{ ERR_BUSY, 503, "transient", "ERR_BUSY", "The server is busy; try again" },
	{ ERR_URITOOLONG, 414, "too-long", "ERR_URITOOLONG", "The request URL is too long" },
	/* RFC 6585 4; FHIR issue-type "throttled": load management */
	{ ERR_THROTTLED, 429, "throttled", "ERR_THROTTLED", "Too many requests; retry after the time in Retry-After" },
	/* The request itself is too expensive (retrying it would cost the
	 * same), so a client error rather than 503: narrow the search. */
	{ ERR_TOOCOSTLY, 400, "too-costly", "ERR_TOOCOSTLY",
	  "The request needs more database time than this server allows (db_statement_timeout_ms); narrow it" },
};

static const struct err_row *err_row_find(int err)
{
	for (unsigned i = 0; i < sizeof err_rows / sizeof err_rows[0]; i++)
		if (err_rows[i].err == err)
			return &err_rows[i];
	return &err_rows[ERR_INTERNAL * -1];
}

int err_http_status(int err) { return err_row_find(err)->status; }
const char *err_issue_code(int err) { return err_row_find(err)->code; }
const char *err_name(int err) { return err_row_find(err)->name; }
const char *err_message(int err) { return err_row_find(err)->message; }
