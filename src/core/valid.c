/*
 * valid.c - see valid.h. Hand-written scanners rather than regex: they run
 * on every write and they also need the calendar checks.
 */
#include "valid.h"

#include "err.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int valid_id(const char *s, size_t len)
{
	if (len < 1 || len > 64)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int dig(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's algorithm */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

struct dt {
	int y, mo, d, h, mi, s;
	int64_t frac_us;  /* fraction in micros (truncated) */
	int frac_digits;
	int has_tz;
	int tz_min;       /* offset east of UTC */
	enum valid_prec prec;
};

/* Parses a time "hh:mm:ss(.s+)?" at s; returns chars consumed or 0. */
static size_t parse_time(const char *s, struct dt *t)
{
	size_t n = 0;
	if (!dig(s, 2, &t->h) || s[2] != ':' || !dig(s + 3, 2, &t->mi) || s[5] != ':' || !dig(s + 6, 2, &t->s))
		return 0;
	/* FHIR allows 24:00:00? No: hh is 00-23 in R4's regex. */
	if (t->h > 23 || t->mi > 59 || t->s > 60)
		return 0;
	n = 8;
	t->frac_us = 0;
	t->frac_digits = 0;
	if (s[n] == '.') {
		int64_t scale = 100000;
		n++;
		if (!isdigit((unsigned char)s[n]))
			return 0;
		while (isdigit((unsigned char)s[n])) {
			if (t->frac_digits < 6)
				t->frac_us += (s[n] - '0') * scale, scale /= 10;
			t->frac_digits++;
			n++;
		}
	}
	return n;
}

/* kind: 0 date, 1 dateTime, 2 instant */
static int parse_dt(const char *s, int kind, struct dt *t)
{
	size_t n;
	memset(t, 0, sizeof *t);
	t->mo = 1;
	t->d = 1;
	/* R4's regex starts the year at 0001: "0000" is not a date */
	if (!dig(s, 4, &t->y) || t->y == 0)
		return 0;
	t->prec = VALID_PREC_YEAR;
	if (s[4] == '\0')
		return kind != 2;
	if (s[4] != '-' || !dig(s + 5, 2, &t->mo) || t->mo < 1 || t->mo > 12)
		return 0;
	t->prec = VALID_PREC_MONTH;
	if (s[7] == '\0')
		return kind != 2;
	if (s[7] != '-' || !dig(s + 8, 2, &t->d) || t->d < 1 || t->d > days_in(t->y, t->mo))
		return 0;
	t->prec = VALID_PREC_DAY;
	if (s[10] == '\0')
		return kind != 2;
	if (kind == 0 || s[10] != 'T')
		return 0;
	n = parse_time(s + 11, t);
	if (!n)
		return 0;
	s += 11 + n;
	t->prec = VALID_PREC_SECOND;
	if (*s == 'Z') {
		t->has_tz = 1;
		return s[1] == '\0';
	}
	if (*s == '+' || *s == '-') {
		int hh, mm;
		if (!dig(s + 1, 2, &hh) || s[3] != ':' || !dig(s + 4, 2, &mm) || s[6] != '\0')
			return 0;
		/* R4: (0[0-9]|1[0-3]):[0-5][0-9] or 14:00 */
		if (hh > 14 || mm > 59 || (hh == 14 && mm != 0))
			return 0;
		t->has_tz = 1;
		t->tz_min = (*s == '-' ? -1 : 1) * (hh * 60 + mm);
		return 1;
	}
	/* FHIR: "If hours and minutes are specified, a time zone SHALL be populated" */
	return 0;
}

int valid_date(const char *s)
{
	struct dt t;
	return parse_dt(s, 0, &t);
}

int valid_datetime(const char *s)
{
	struct dt t;
	return parse_dt(s, 1, &t);
}

int valid_instant(const char *s)
{
	struct dt t;
	return parse_dt(s, 2, &t);
}

int valid_time(const char *s)
{
	struct dt t;
	size_t n = parse_time(s, &t);
	return n && s[n] == '\0';
}

int valid_datetime_range(const char *s, int64_t *lo, int64_t *hi, enum valid_prec *prec)
{
	struct dt t;
	int64_t day, start, span;

	if (!parse_dt(s, 1, &t))
		return ERR_INVALID;
	day = days_from_civil(t.y, t.mo, t.d);
	start = ((day * 24 + t.h) * 60 + t.mi) * 60 + t.s;
	start -= (int64_t)t.tz_min * 60;
	switch (t.prec) {
	case VALID_PREC_YEAR:
		span = (days_from_civil(t.y + 1, 1, 1) - day) * 86400LL * 1000000LL;
		break;
	case VALID_PREC_MONTH:
		span = (int64_t)days_in(t.y, t.mo) * 86400LL * 1000000LL;
		break;
	case VALID_PREC_DAY:
		span = 86400LL * 1000000LL;
		break;
	default: {
		/* The precision of the fraction given: .5 covers 100 ms. */
		int64_t unit = 1000000;
		for (int i = 0; i < t.frac_digits && i < 6; i++)
			unit /= 10;
		span = unit;
		break;
	}
	}
	*lo = start * 1000000LL + t.frac_us;
	*hi = *lo + span - 1;
	if (prec)
		*prec = t.prec;
	return 0;
}

void valid_instant_format(int64_t us, char out[40])
{
	int64_t sec = us / 1000000, frac = us % 1000000;
	time_t t;
	struct tm tm;
	char day[32];

	if (frac < 0) {
		sec -= 1;
		frac += 1000000;
	}
	t = (time_t)sec;
	gmtime_r(&t, &tm);
	strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%.20s.%06dZ", day, (int)frac);
}

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void valid_http_date_format(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int valid_http_date_parse(const char *s, time_t *out)
{
	int d, y, h, mi, sec, mo = -1;
	/* "Sun, 06 Nov 1994 08:49:37 GMT" : exactly 29 characters */
	if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
	    s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
		return ERR_INVALID;
	if (!dig(s + 5, 2, &d) || !dig(s + 12, 4, &y) || !dig(s + 17, 2, &h) || !dig(s + 20, 2, &mi) ||
	    !dig(s + 23, 2, &sec))
		return ERR_INVALID;
	for (int i = 0; i < 12; i++)
		if (strncmp(s + 8, months[i], 3) == 0)
			mo = i + 1;
	if (mo < 0 || y < 1 || d < 1 || d > days_in(y, mo) || h > 23 || mi > 59 || sec > 60)
		return ERR_INVALID;
	{
		int64_t days = days_from_civil(y, mo, d);
		/* the weekday must be a real name and the right one: 1970-01-01 was a Thursday */
		int wd = (int)(((days % 7) + 11) % 7);
		if (strncmp(s, wdays[wd], 3) != 0)
			return ERR_INVALID;
		*out = (time_t)(((days * 24 + h) * 60 + mi) * 60 + sec);
	}
	return 0;
}

int valid_utf8(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		int n;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= (size_t)n)
			return 0;
		for (int k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += (size_t)n + 1;
	}
	return 1;
}

void valid_quote(const char *s, size_t len, char out[VALID_QUOTE_BUF])
{
	size_t cut = len, i;

	if (len > VALID_QUOTE_MAX) {
		cut = VALID_QUOTE_MAX;
		while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
			cut--;
	}
	for (i = 0; i < cut; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = ch < 0x20 || ch == 0x7F ? '?' : (char)ch;
	}
	if (cut < len) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

void valid_utf8_trim(char *s)
{
	size_t n = strlen(s), lead = n, need;
	unsigned char ch;

	while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	lead--; /* the byte before the continuation run */
	ch = (unsigned char)s[lead];
	if (ch < 0x80)
		return;
	need = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
	if (lead + need > n)
		s[lead] = '\0';
}
