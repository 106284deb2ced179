/*
 * value.h - the value conventions shared by index extraction (extract.c)
 * and query parsing (query.c), so that what is written and what is
 * searched for are normalised by the same code.
 *
 * - Strings: search_norm() folds case and strips accents (Latin-1
 *   Supplement and Latin Extended-A letters map to their base letter,
 *   ß -> ss, æ -> ae, ...; other code points are kept as they are), and
 *   collapses runs of whitespace to one space, trimmed. The string search
 *   default (starts-with, case- and accent-insensitive, search.html#string)
 *   is then a byte prefix match on normalised text.
 * - Dates: an inclusive range [lo, hi] in microseconds since the epoch,
 *   UTC; a value without a time zone is taken as UTC. Open ends of a
 *   Period are SEARCH_DATE_MIN / SEARCH_DATE_MAX.
 * - Numbers: doubles, with the implicit range of the precision written
 *   (search.html#number: "100" means [99.5, 100.5)).
 */
#ifndef FHIRD_SEARCH_VALUE_H
#define FHIRD_SEARCH_VALUE_H

#include <stddef.h>
#include <stdint.h>

#define SEARCH_DATE_MIN INT64_MIN
#define SEARCH_DATE_MAX INT64_MAX

/* Normalises s[0..len) (valid UTF-8) into a malloc'd, NUL-terminated
 * string in *out. 0, ERR_NOMEM, or ERR_INVALID for invalid UTF-8. */
int search_norm(const char *s, size_t len, char **out);

/* Same, into a caller buffer of cap bytes (ERR_TOOBIG when it does not
 * fit). The result is never longer than 2 * len + 1 bytes. */
int search_norm_buf(const char *s, size_t len, char *out, size_t cap);

/* Index text is at most SEARCH_VALUE_MAX bytes per value, on both sides:
 * extraction cuts every text part of an index row to it, and the query
 * parser cuts every text part of a search value the same way. The reason
 * is PostgreSQL: a B-tree entry holds at most ~2.7 kB, so a longer value
 * (two text columns share one entry) would make the write fail there,
 * while SQLite has no such limit; cutting on both backends keeps their
 * results identical. The cost, documented in docs/search.md: values
 * longer than this compare on their first SEARCH_VALUE_MAX bytes only. */
#define SEARCH_VALUE_MAX 1000

/* Cuts the NUL-terminated, writable s (may be NULL) to at most
 * SEARCH_VALUE_MAX bytes, on a UTF-8 character boundary. */
void search_value_cap(char *s);

/* A FHIR date, dateTime or instant -> [*lo, *hi]. 0 or ERR_INVALID. */
int search_date_range(const char *s, int64_t *lo, int64_t *hi);

/* A decimal as written ("100", "1e2", "0.50", "-3") -> its value and the
 * implicit range [*lo, *hi) of its precision: half a unit of the last
 * significant digit either side. Refuses NaN, infinities, hex, empty
 * input, and values whose magnitude exceeds 1e300. 0 or ERR_INVALID. */
int search_number_parse(const char *s, double *val, double *lo, double *hi);

#endif
