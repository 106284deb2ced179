/*
 * value.c - normalisation of string, date and number values, shared by
 * index extraction and query parsing (see value.h for the conventions).
 */
#include "value.h"

#include "core/err.h"
#include "core/valid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Base letters of U+00C0..U+017F (Latin-1 Supplement and Latin Extended-A)
 * after case folding and removal of combining marks (NFD), plus the
 * letters that do not decompose (ß, æ, ø, ł, þ, œ, ...). NULL: keep the
 * character as it is (× and ÷). */
static const char *const value_fold[0x180 - 0xC0] = {
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e",
	"i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", NULL,
	"o", "u", "u", "u", "u", "y", "th", "ss", "a", "a", "a", "a",
	"a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", NULL, "o", "u", "u", "u",
	"u", "y", "th", "y", "a", "a", "a", "a", "a", "a", "c", "c",
	"c", "c", "c", "c", "c", "c", "d", "d", "d", "d", "e", "e",
	"e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g",
	"g", "g", "g", "g", "h", "h", "h", "h", "i", "i", "i", "i",
	"i", "i", "i", "i", "i", "i", "ij", "ij", "j", "j", "k", "k",
	"k", "l", "l", "l", "l", "l", "l", "l", "l", "l", "l", "n",
	"n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o",
	"o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s",
	"s", "s", "s", "s", "s", "s", "t", "t", "t", "t", "t", "t",
	"u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u",
	"w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s",
};

int search_norm_buf(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0, i = 0;
	int space = 0; /* a whitespace run is pending */

	if (!valid_utf8(s, len))
		return ERR_INVALID;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = NULL;
		char one[2] = { 0, 0 };
		size_t clen = 1, rlen;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = o > 0;
			i++;
			continue;
		}
		if (c < 0x80) {
			one[0] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			rep = one;
		} else {
			clen = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
			if (clen == 2) {
				unsigned cp = ((c & 0x1Fu) << 6) | ((unsigned char)s[i + 1] & 0x3Fu);
				if (cp >= 0xC0 && cp < 0x180)
					rep = value_fold[cp - 0xC0];
			}
		}
		/* replacements are 1 to 2 bytes long ("a", "ss", "th") */
		rlen = rep ? (rep[1] ? 2 : 1) : clen;
		if (o + space + rlen + 1 > cap)
			return ERR_TOOBIG;
		if (space) {
			out[o++] = ' ';
			space = 0;
		}
		memcpy(out + o, rep ? rep : s + i, rlen);
		o += rlen;
		i += clen;
	}
	out[o] = '\0';
	return 0;
}

int search_norm(const char *s, size_t len, char **out)
{
	size_t cap = 2 * len + 1;
	char *b = malloc(cap);
	int rc;

	*out = NULL;
	if (!b)
		return ERR_NOMEM;
	rc = search_norm_buf(s, len, b, cap);
	if (rc) {
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

int search_date_range(const char *s, int64_t *lo, int64_t *hi)
{
	enum valid_prec prec;
	return valid_datetime_range(s, lo, hi, &prec);
}

/* search.html#number: the precision written is the precision meant, so
 * "100" is [99.5, 100.5). With an exponent, the spec's example reads "1e2"
 * as [95, 105): half a unit of one digit below the last written one. */
int search_number_parse(const char *s, double *val, double *lo, double *hi)
{
	const char *p = s;
	long frac = 0, ex = 0;
	int digits = 0, has_exp = 0;
	char *end = NULL;
	double v, half;

	if (*p == '-' || *p == '+')
		p++;
	while (*p >= '0' && *p <= '9') {
		p++;
		digits++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			p++;
			frac++;
			digits++;
		}
	}
	if (!digits || frac > 300)
		return ERR_INVALID;
	if (*p == 'e' || *p == 'E') {
		int ed = 0;
		p++;
		has_exp = 1;
		if (*p == '-' || *p == '+')
			p++;
		while (*p >= '0' && *p <= '9') {
			if (ex < 10000)
				ex = ex * 10 + (*p - '0');
			p++;
			ed++;
		}
		if (!ed)
			return ERR_INVALID;
		if (p[-1 - ed] == '-')
			ex = -ex;
	}
	if (*p)
		return ERR_INVALID;
	v = strtod(s, &end);
	if (end != p || !isfinite(v) || fabs(v) > 1e300)
		return ERR_INVALID;
	half = 0.5 * pow(10.0, (double)(ex - frac - (has_exp ? 1 : 0)));
	*val = v;
	*lo = v - half;
	*hi = v + half;
	return 0;
}

void search_value_cap(char *s)
{
	size_t n;

	if (!s)
		return;
	n = strnlen(s, SEARCH_VALUE_MAX + 1);
	if (n <= SEARCH_VALUE_MAX)
		return;
	n = SEARCH_VALUE_MAX;
	/* back off continuation bytes (10xxxxxx) so that a character is
	 * never split */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = '\0';
}
