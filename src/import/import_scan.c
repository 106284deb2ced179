/*
 * import_scan.c - a look at a file before it is imported: how many lines
 * (the progress total of NDJSON), whether it is one JSON document or one
 * value per line, and for a Bundle its type and number of entries (the
 * progress total of a Bundle) - all without building a JSON tree, so that
 * the totals of every file are known up front at the cost of one memchr()
 * or one byte loop over the text.
 *
 * The scan only steers: it never decides that input is valid. Whatever it
 * concludes, the real parse (fhir_json_parse) checks the text afterwards.
 */
#include "import.h"

#include <string.h>

enum { SCAN_K_NONE, SCAN_K_RTYPE, SCAN_K_TYPE, SCAN_K_ENTRY };

static int scan_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int scan_key(const char *s, size_t n)
{
	if (n == 12 && memcmp(s, "resourceType", 12) == 0)
		return SCAN_K_RTYPE;
	if (n == 4 && memcmp(s, "type", 4) == 0)
		return SCAN_K_TYPE;
	if (n == 5 && memcmp(s, "entry", 5) == 0)
		return SCAN_K_ENTRY;
	return SCAN_K_NONE;
}

/* Copies a short, escape-free string value into out (else leaves it ""). */
static void scan_value(const char *s, size_t n, int escaped, char *out, size_t outsz)
{
	if (escaped || n >= outsz)
		return;
	memcpy(out, s, n);
	out[n] = '\0';
}

void import_scan_text(const char *p, size_t n, int lines_only, import_scan *out)
{
	size_t i = 0, str_start = 0, commas = 0, first_nl;
	unsigned depth = 0;
	int in_str = 0, escaped = 0, expect_key = 0, key = SCAN_K_NONE, str_role = 0;
	int in_entry = 0, entry_items = 0;
	const char *nl;

	memset(out, 0, sizeof *out);
	for (const char *q = p; q && q < p + n; q = nl ? nl + 1 : NULL) {
		nl = memchr(q, '\n', (size_t)(p + n - q));
		out->lines++;
	}
	if (lines_only)
		return;
	if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < n && scan_ws(p[i]))
		i++;
	if (i >= n)
		return; /* only whitespace: NDJSON of blank lines, nothing to do */
	if (p[i] != '{') {
		/* not an object: NDJSON would report it line by line, a document
		 * once; one report is kinder */
		out->single = 1;
		return;
	}
	nl = memchr(p + i, '\n', n - i);
	first_nl = nl ? (size_t)(nl - p) : n;
	for (; i < n; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\') {
				escaped = 1;
				i++;
			} else if (c == '"') {
				in_str = 0;
				if (str_role == 1)
					key = scan_key(p + str_start, i - str_start);
				else if (str_role == SCAN_K_RTYPE + 10)
					scan_value(p + str_start, i - str_start, escaped, out->rtype, sizeof out->rtype);
				else if (str_role == SCAN_K_TYPE + 10)
					scan_value(p + str_start, i - str_start, escaped, out->btype, sizeof out->btype);
				str_role = 0;
			}
			continue;
		}
		switch (c) {
		case '"':
			in_str = 1;
			escaped = 0;
			str_start = i + 1;
			if (depth == 1 && expect_key) {
				str_role = 1;
				expect_key = 0;
			} else if (depth == 1 && (key == SCAN_K_RTYPE || key == SCAN_K_TYPE)) {
				str_role = key + 10;
			} else if (depth == 2 && in_entry) {
				entry_items = 1;
			}
			break;
		case '{':
		case '[':
			if (depth == 1 && key == SCAN_K_ENTRY && c == '[') {
				in_entry = 1;
				entry_items = 0;
				commas = 0;
			} else if (depth == 2 && in_entry) {
				entry_items = 1;
			}
			depth++;
			if (depth == 1)
				expect_key = 1;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return;
			depth--;
			if (depth == 1 && in_entry) {
				out->entries = entry_items ? commas + 1 : 0;
				in_entry = 0;
			}
			if (depth == 0) {
				/* the first value ends here: NDJSON when it ended on its
				 * first line and more follows, else one document */
				size_t j = i + 1;
				while (j < n && scan_ws(p[j]))
					j++;
				out->single = !(j < n && i < first_nl);
				return;
			}
			break;
		case ',':
			if (depth == 1) {
				expect_key = 1;
				key = SCAN_K_NONE;
			} else if (depth == 2 && in_entry) {
				commas++;
			}
			break;
		default:
			if (depth == 2 && in_entry && !scan_ws(c) && c != ':')
				entry_items = 1;
			break;
		}
	}
	/* the first value never ended: a truncated document, reported once */
	out->single = 1;
}
