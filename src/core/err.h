/*
 * err.h - the one error enum of fhird and its mapping to HTTP.
 *
 * Every function that can fail returns 0 or one of these negative values.
 * The table in err.c maps each to an HTTP status and an OperationOutcome
 * issue.code, so that handlers never pick statuses by hand and the same
 * failure always looks the same to a client.
 */
#ifndef FHIRD_CORE_ERR_H
#define FHIRD_CORE_ERR_H

enum {
	ERR_OK = 0,
	ERR_NOMEM = -1,         /* allocation failed                     500 */
	ERR_TOOBIG = -2,        /* a configured size limit was exceeded  413 */
	ERR_INVALID = -3,       /* malformed input                       400 */
	ERR_NOTFOUND = -4,      /* no such type or resource              404 */
	ERR_GONE = -5,          /* resource was deleted                  410 */
	ERR_CONFLICT = -6,      /* version conflict                      409 */
	ERR_PRECONDITION = -7,  /* If-Match and friends failed           412 */
	ERR_UNAUTHORIZED = -8,  /* no or bad credentials                 401 */
	ERR_FORBIDDEN = -9,     /* credentials do not allow this         403 */
	ERR_DB = -10,           /* storage failure                       500 */
	ERR_UNPROCESSABLE = -11,/* resource fails validation             422 */
	ERR_METHOD = -12,       /* method not allowed on this URL        405 */
	ERR_NOTACCEPTABLE = -13,/* cannot produce the requested format   406 */
	ERR_MEDIATYPE = -14,    /* cannot read the body's format         415 */
	ERR_NOTIMPL = -15,      /* interaction not implemented           501 */
	ERR_IO = -16,           /* file or socket failure                500 */
	ERR_INTERNAL = -17,     /* bug or unexpected library failure     500 */
	ERR_BUSY = -18,         /* overloaded, try again                 503 */
	ERR_URITOOLONG = -19,   /* request URL over the limit            414 */
	ERR_THROTTLED = -20,    /* a rate limit or login backoff applies 429 */
	ERR_TOOCOSTLY = -21,    /* the database statement time limit     400 */
	ERR__COUNT = 22
};

/* HTTP status for an error (200 for ERR_OK, 500 for unknown values). */
int err_http_status(int err);

/* FHIR OperationOutcome issue.code (valueset issue-type) for an error. */
const char *err_issue_code(int err);

/* Short stable name ("ERR_NOTFOUND") for logs; never NULL. */
const char *err_name(int err);

/* Generic, client-safe text for an error; never contains internals. */
const char *err_message(int err);

#endif
