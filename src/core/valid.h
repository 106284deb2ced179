/*
 * valid.h - syntax checks and conversions for FHIR primitive formats and
 * HTTP dates. Pure functions over NUL-terminated or (ptr,len) strings.
 *
 * The regular expressions are those of FHIR R4 datatypes.html:
 *   id        [A-Za-z0-9\-\.]{1,64}
 *   date      YYYY, YYYY-MM, YYYY-MM-DD
 *   dateTime  date, or YYYY-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)
 *   instant   YYYY-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)
 *   time      hh:mm:ss(.s+)?
 * with calendar checks (month 1-12, day in month, leap years) that the
 * regular expressions alone do not make.
 */
#ifndef FHIRD_CORE_VALID_H
#define FHIRD_CORE_VALID_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* 1 when s[0..len) is a valid FHIR id. */
int valid_id(const char *s, size_t len);

/* 1 when the string is a valid FHIR date / dateTime / instant / time. */
int valid_date(const char *s);
int valid_datetime(const char *s);
int valid_instant(const char *s);
int valid_time(const char *s);

/* Precision of a parsed FHIR date/dateTime/instant. */
enum valid_prec { VALID_PREC_YEAR, VALID_PREC_MONTH, VALID_PREC_DAY, VALID_PREC_SECOND };

/* Parses a date, dateTime or instant into the range it denotes in
 * microseconds since the epoch, UTC: [*lo, *hi] inclusive. A value without
 * a time zone is taken as UTC. 0 or ERR_INVALID. */
int valid_datetime_range(const char *s, int64_t *lo, int64_t *hi, enum valid_prec *prec);

/* Formats micros since the epoch as an instant with microseconds,
 * "YYYY-MM-DDThh:mm:ss.uuuuuuZ", into out (at least 40 bytes). fhird keeps
 * lastUpdated to the microsecond so the value a client sees is exactly the
 * one _since and _at compare against. */
void valid_instant_format(int64_t us, char out[40]);

/* Formats seconds since the epoch as an IMF-fixdate (RFC 9110 5.6.7),
 * "Sun, 06 Nov 1994 08:49:37 GMT", into out (at least 32 bytes). */
void valid_http_date_format(time_t t, char out[32]);

/* Parses an IMF-fixdate; 0 or ERR_INVALID. */
int valid_http_date_parse(const char *s, time_t *out);

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
int valid_utf8(const char *s, size_t len);

/* snprintf may cut a message inside a multi-byte character: drops an
 * incomplete UTF-8 sequence at the end of s, so the message stays valid
 * UTF-8 (for jansson and logs). */
void valid_utf8_trim(char *s);

/* Bytes of client text an error message may echo, and the buffer a
 * quote needs (+ "..." + NUL). */
#define VALID_QUOTE_MAX 64
#define VALID_QUOTE_BUF (VALID_QUOTE_MAX + 4)

/* Copies at most VALID_QUOTE_MAX bytes of client text s[0..len) into out,
 * cut on a UTF-8 character boundary (so valid UTF-8 stays valid for
 * jansson), control characters and NUL replaced by '?', "..." marking a
 * cut: the result may go into an OperationOutcome and into logs. */
void valid_quote(const char *s, size_t len, char out[VALID_QUOTE_BUF]);

#endif
