/*
 * fuzz_datetime.c - FHIR date/dateTime/instant/time syntax, date ranges
 * (used by _since, _at and later date search) and HTTP dates
 * (If-Modified-Since), on arbitrary strings.
 */
#include "core/valid.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t lo, hi;
	time_t t;
	char out[40];

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	valid_date(s);
	valid_datetime(s);
	valid_instant(s);
	valid_time(s);
	if (valid_datetime_range(s, &lo, &hi, NULL) == 0) {
		/* a range is never empty or inverted */
		if (hi < lo)
			abort();
		valid_instant_format(lo, out);
	}
	if (valid_http_date_parse(s, &t) == 0)
		valid_http_date_format(t, out);
	valid_id(s, size);
	valid_utf8((const char *)data, size);
	free(s);
	return 0;
}
