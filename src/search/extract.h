/*
 * extract.h - index extraction: what a resource contributes to the search
 * indexes, computed by evaluating each search parameter's FHIRPath
 * expression (fhirpath.h) over the resource, outside the write
 * transaction (the store only inserts the rows).
 *
 * Row kinds and what they mean (the store has one table per kind):
 *   STRING     str = search_norm(value), str2 = the value as written
 *              (for :exact). HumanName yields one row per family, given,
 *              prefix, suffix and text; Address one per line, city,
 *              district, state, postalCode, country and text.
 *   TOKEN      sys = system ("" when none), code = code / value.
 *              Coding -> (system, code); CodeableConcept -> each coding;
 *              Identifier -> (system, value); ContactPoint -> ("", value);
 *              code/string/id/uri/boolean -> ("", value as text).
 *   TOKEN_TEXT str = search_norm(text): Coding.display,
 *              CodeableConcept.text, Identifier.type.text (for :text).
 *   OF_TYPE    sys = Identifier.type.coding.system, code =
 *              Identifier.type.coding.code + "|" + Identifier.value
 *              (for identifier :of-type).
 *   REFERENCE  sys = target type, code = target id, for a relative
 *              reference "Type/id" or an absolute one on our base (the
 *              version suffix /_history/n is dropped); sys = "" and
 *              code = the URL for any other absolute reference or a
 *              canonical. Contained ("#x") references yield nothing.
 *   REF_IDENT  Reference.identifier: sys = system, code = value (for
 *              :identifier).
 *   DATE       lo, hi: inclusive range, microseconds (value.h). date,
 *              dateTime, instant; Period (open ends MIN/MAX); Timing ->
 *              each event; 
 *   NUMBER     num = the value.
 *   QUANTITY   num = value, sys = system ("" when none), code = code, or
 *              unit when there is no code. A Quantity with both a code and
 *              a differing unit yields a second row with sys "" and code =
 *              unit. Range -> rows for low and high are NOT made; Range is
 *              a composite of two quantities and is skipped (listed as
 *              unsupported in the coverage test). Money -> (value, "urn:iso:std:iso:4217", currency).
 *   URI        str = the uri / url / canonical as written.
 *   COMPOSITE  a composite whose first component is a token: sys/code =
 *              the first component's token; the second component fills
 *              one of: sys2/code2 (token), num + sys3/code3 (quantity),
 *              lo/hi (date), str (string, normalised), or sys2/code2 as
 *              (type, id) (reference); one row per combination found
 *              within the same item. Composites with 3 components are not
 *              indexed (listed as unsupported).
 *
 * Ownership: every string in a row is owned by the search_rows it belongs
 * to and freed by search_rows_clear(). Thread-safe after
 * search_extract_init().
 */
#ifndef FHIRD_SEARCH_EXTRACT_H
#define FHIRD_SEARCH_EXTRACT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum search_row_kind {
	SEARCH_ROW_STRING = 1,
	SEARCH_ROW_TOKEN,
	SEARCH_ROW_TOKEN_TEXT,
	SEARCH_ROW_OF_TYPE,
	SEARCH_ROW_REFERENCE,
	SEARCH_ROW_REF_IDENT,
	SEARCH_ROW_DATE,
	SEARCH_ROW_NUMBER,
	SEARCH_ROW_QUANTITY,
	SEARCH_ROW_URI,
	SEARCH_ROW_COMPOSITE
};

typedef struct search_row {
	uint32_t p;                 /* search_param_id() of the parameter */
	enum search_row_kind kind;
	char *sys, *code;           /* token-like parts (see above) */
	char *sys2, *code2;         /* composite second component */
	char *sys3, *code3;         /* composite quantity system/code */
	char *str, *str2;           /* string-like parts */
	double num;
	int64_t lo, hi;
} search_row;

typedef struct search_rows {
	search_row *v;
	size_t n, cap;
} search_rows;

/* Compiles every parameter's expression once (call at start, before any
 * thread extracts). 0, ERR_NOMEM. Expressions the evaluator does not
 * support are skipped at extraction and reported by
 * search_extract_supported(). */
int search_extract_init(void);
void search_extract_fini(void);

/* Appends to out the rows of resource res (a parsed resource of type
 * rtype; meta included). base: our FHIR base URL without a trailing slash
 * ("http://host:port/fhir"), so absolute references to ourselves index as
 * local ones; may be NULL. Duplicate rows are removed. 0, ERR_NOMEM,
 * ERR_TOOBIG (a composite item pairing more than 10,000 values: the
 * product is quadratic in the body size), ERR_INTERNAL (not initialised).
 * On error out holds whatever was appended so far (clear it). */
int search_extract(const char *rtype, const json_t *res, const char *base, search_rows *out);

void search_rows_clear(search_rows *r);

/* 1 when the expression of param row i is fully supported by the
 * evaluator and the extractor (used by the coverage test). */
int search_extract_supported(size_t i);

#endif
