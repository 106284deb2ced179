/*
 * query.h - search query parsing (hl7.org/fhir/R4/search.html) into a
 * backend-neutral plan that each store backend compiles to its own SQL.
 *
 * Input is either the decoded parameters (search_query_parse_params: what
 * the HTTP layer hands over) or a raw application/x-www-form-urlencoded
 * string (search_query_parse: decoded with http_query_parse first). The
 * parser splits ORs on unescaped ',' and AND on repeated names, components on unescaped
 * '|' and '$', and then undoes the escapes \, \| \$ \\ (search.html#escaping).
 * Every value is parsed by its parameter's type here, so a malformed
 * value (bad date, unknown prefix, non-number) is ERR_INVALID whatever the
 * handling mode.
 *
 * Unknown parameters, unknown modifiers on known parameters, and
 * parameters without an expression (_text, _content, _query, near) are
 * "unsupported": under lenient handling they are listed in ignored[] and
 * left out of self; under strict handling (lim->strict) they are
 * ERR_INVALID. Also unsupported: a modifier that does not apply to the
 * parameter's type (:exact on a token, :not on a date, :in/:not-in/
 * :above/:below on tokens, :iterate outside _include), chaining a
 * parameter that is not a reference, an untyped chain that no target type
 * can continue, _has at system level, _type at type level, _sort keys
 * that are not parameters of the type (or composite), and _contained,
 * _containedType, _list, _filter. ignored[] keeps at most
 * lim->max_clauses names; further unsupported parameters are still
 * ignored, unlisted. Unknown resource types (in :[type], _has, _include,
 * _type, Type/id values) are ERR_INVALID, not unsupported.
 *
 * Choices where search.html leaves room:
 * - "If the value is empty, the parameter is ignored": so is a name with
 *   no '=', and a value whose OR alternatives are all empty ("a,,b" is
 *   a OR b). Such parameters are neither in ignored[] nor in self, and
 *   are no error even under strict handling.
 * - A '\' before any character other than , | $ \ is kept as it is
 *   (search.html calls "xx\xx" illegal; refusing it breaks clients that
 *   do not know the escapes); a value ending in an unpaired '\' is
 *   ERR_INVALID.
 * - An unencoded '+' in a date's time zone arrives as a space; a date
 *   that only parses with its spaces read as '+' is accepted.
 * - _count, _sort, _total, _summary, _elements, _cursor, _type and
 *   _since given twice are ERR_INVALID. _count=0 asks for the total only:
 *   count = 0 and summary = SEARCH_SUMMARY_COUNT. _format and _pretty are
 *   accepted silently (the REST layer reads them), never in self.
 * - _include without :iterate must name the searched type (at system
 *   level, any type); "*" and "Type:*" mean every reference parameter;
 *   :recurse is read as :iterate. _include and _revinclude values are not
 *   comma lists.
 * - _elements items: a letter, then letters, digits and '_'.
 *
 * Ownership: everything in a search_query (strings, arrays) is allocated
 * from the arena passed in and lives as long as it does, or is static
 * (resource type names come from the tables, "" literals). search_param
 * pointers point into the static tables. Nothing is to be written to.
 */
#ifndef FHIRD_SEARCH_QUERY_H
#define FHIRD_SEARCH_QUERY_H

#include "core/arena.h"
#include "http/http.h"
#include "params.h"

#include <stddef.h>
#include <stdint.h>

enum search_mod {
	SEARCH_MOD_NONE = 0,
	SEARCH_MOD_MISSING,
	SEARCH_MOD_EXACT,      /* string */
	SEARCH_MOD_CONTAINS,   /* string, uri? (string only here) */
	SEARCH_MOD_TEXT,       /* token */
	SEARCH_MOD_NOT,        /* token */
	SEARCH_MOD_ABOVE,      /* uri */
	SEARCH_MOD_BELOW,      /* uri */
	SEARCH_MOD_OF_TYPE,    /* token on an Identifier parameter */
	SEARCH_MOD_IDENTIFIER, /* reference */
	SEARCH_MOD_TYPE        /* reference :[type]; the type is in mod_type */
};

/* Date/number/quantity prefixes (search.html#prefix); EQ when absent. */
enum search_prefix {
	SEARCH_PFX_EQ = 0,
	SEARCH_PFX_NE,
	SEARCH_PFX_GT,
	SEARCH_PFX_LT,
	SEARCH_PFX_GE,
	SEARCH_PFX_LE,
	SEARCH_PFX_SA,
	SEARCH_PFX_EB,
	SEARCH_PFX_AP
};

/* One value (one OR alternative) of a clause, parsed by parameter type:
 *   :missing   missing = 1 (true) or 0 (false); nothing else is set.
 *   string     str = search_norm(value) (also for :contains);
 *              :exact -> str = the value as written.
 *   token      sys: NULL = any system, "" = no system ("|code"), else the
 *              system; code: NULL = any code ("system|"), else the code.
 *              :text -> str = search_norm(value), sys/code NULL.
 *              :of-type -> sys = type system, code = type code + "|" +
 *              value (the shape extract.h's OF_TYPE rows have).
 *   reference  sys = target type (NULL when the value is a bare id and no
 *              :[type] modifier), code = id; an absolute URL on our base
 *              ([base]/Type/id) is reduced to Type/id; any other absolute
 *              URL: sys = "", code = the URL. :identifier -> sys = system
 *              (NULL any, "" none), code = value, as for tokens.
 *   date       prefix; [lo, hi] inclusive, microseconds (value.h).
 *   number     prefix; num = value, [nlo, nhi) its implicit range.
 *   quantity   prefix; num/nlo/nhi as number; sys (NULL = any) and code
 *              (NULL = any) from "value|system|code".
 *   uri        str = the value as written.
 *   composite  comp[0..ncomp) = the components split on '$', each parsed
 *              as above by its component type.
 */
typedef struct search_value {
	enum search_prefix prefix;
	int missing;
	char *sys, *code, *str;
	double num, nlo, nhi;
	int64_t lo, hi;
	struct search_value *comp;
	unsigned ncomp;
} search_value;

/* One AND-ed clause: its values are OR-ed.
 *
 * Chains (search.html#chaining): "subject:Patient.name=x" is a clause on
 * the reference parameter `subject` whose chain is a clause on
 * Patient.name holding the values; several hops nest. A typed hop has
 * mod = SEARCH_MOD_TYPE and mod_type = the type. When the type is not
 * given (mod NONE), chain is a list of alternatives linked by alt, one
 * per target type of the reference (every type when its target list is
 * empty) that has the chained parameter with the same modifier and whose
 * value parses as its type (ORed); each alternative's type is
 * chain->param->rtype. Alternatives of the same parameter type share one
 * values array.
 *
 * Reverse chains (search.html#has): "_has:Observation:patient:code=x" is
 * a clause with has_type = "Observation", has_ref = Observation.patient,
 * and chain = the clause on Observation (code=x, or a nested _has).
 * param is NULL for a _has clause. */
typedef struct search_clause {
	const search_param *param;
	enum search_mod mod;
	const char *mod_type;          /* :[type], and the type a chain hop is on */
	struct search_clause *chain;   /* chained / _has inner clause, or NULL */
	struct search_clause *alt;     /* next alternative target type of a chain */
	const char *has_type;          /* _has: the referring resource type */
	const search_param *has_ref;   /* _has: its reference parameter */
	search_value *v;               /* nv values, ORed (none for a chain hop) */
	size_t nv;
} search_clause;

typedef struct search_sort {
	const search_param *param;     /* a row of the searched type (_id, _lastUpdated included) */
	int desc;
} search_sort;

/* _include / _revinclude (search.html#include). For _include:
 * src_type:param[:target]; param NULL for "*". For _revinclude the same
 * shape names the referring type and its parameter. */
typedef struct search_include {
	const char *src_type;
	const search_param *param;     /* NULL: every reference parameter ("*") */
	const char *target;            /* optional target type, or NULL */
	int rev;                       /* 1: _revinclude */
	int iterate;                   /* :iterate (or R4's :recurse) */
} search_include;

enum search_total { SEARCH_TOTAL_DEFAULT = 0, SEARCH_TOTAL_NONE, SEARCH_TOTAL_ESTIMATE, SEARCH_TOTAL_ACCURATE };
enum search_summary {
	SEARCH_SUMMARY_FALSE = 0,      /* also when absent */
	SEARCH_SUMMARY_TRUE,
	SEARCH_SUMMARY_TEXT,
	SEARCH_SUMMARY_DATA,
	SEARCH_SUMMARY_COUNT
};

typedef struct search_query {
	const char *rtype;             /* NULL at system level */
	const char **types;            /* system level _type list */
	size_t ntypes;
	search_clause *clauses;        /* nclauses, ANDed */
	size_t nclauses;
	search_sort *sort;
	size_t nsort;
	unsigned count;                /* page size: _count capped at lim->count_max, or count_default */
	enum search_total total;
	enum search_summary summary;
	const char **elements;         /* _elements, top-level names */
	size_t nelements;
	search_include *inc;
	size_t ninc;
	const char *cursor;            /* _cursor as received, or NULL */
	int64_t since_us;              /* $everything _since; INT64_MIN when absent */
	char *self;                    /* the recognised parameters re-encoded (no _cursor), "" when none;
					  see search_query_parse() */
	const char **ignored;          /* names of parameters not used (lenient) */
	size_t nignored;
} search_query;

/* max_clauses counts every clause node: each AND clause, each chain hop,
 * each _has, and each alternative of an untyped chain. */
typedef struct search_limits {
	unsigned max_clauses;          /* AND clauses incl. chains (default 64) */
	unsigned max_values;           /* OR values in one clause (default 1000) */
	unsigned max_chain_depth;      /* hops of chains / nested _has (default 4) */
	unsigned max_includes;         /* _include + _revinclude parameters (default 16) */
	unsigned count_default;        /* _count when absent */
	unsigned count_max;            /* largest _count honoured */
	int strict;                    /* Prefer: handling=strict */
	const char *base;              /* our FHIR base URL, no trailing slash */
} search_limits;

/* Parses qs[0..len) for a search on rtype (NULL: system level, where only
 * the Resource-level parameters, _type and result parameters are known).
 * qs need not be NUL-terminated; a NUL inside it is ERR_INVALID.
 * out->rtype is the generated table's spelling of rtype (static).
 *
 * System level: only _id, _lastUpdated, _profile, _security, _source and
 * _tag are searched (and sorted by); their clauses' param is the row of
 * the first type of the table (every type has the same six), so the store
 * maps them by param->code, not by row id. _include there may name any
 * type.
 *
 * self: the recognised search and result parameters in the order
 * received, as name=value joined by '&', both percent-encoded from their
 * decoded text; kept unencoded are RFC 3986 unreserved characters and
 * : / , | $ @ * (legal in a query, and FHIR syntax reads better plain);
 * everything else, '\' and space included, is %XX. _count shows the page
 * size after the cap; _sort only its accepted keys. Parsing self again
 * (same rtype and limits) gives an equal query and the same self.
 *
 * On any error, why (whylen bytes; NULL/0 allowed) holds a client-safe
 * message, valid UTF-8, naming the offending parameter (client text
 * quoted with valid_quote). 0, ERR_INVALID, ERR_TOOBIG (a limit
 * exceeded), ERR_NOMEM (arena cap). */
int search_query_parse(arena_t *a, const char *rtype, const char *qs, size_t len, const search_limits *lim,
		       search_query *out, char *why, size_t whylen);

/* The same from parameters the HTTP layer already decoded (names and
 * values as received, in order): what request handlers call, so that a
 * query is percent-decoded exactly once. */
int search_query_parse_params(arena_t *a, const char *rtype, const http_param *params, size_t n,
			      const search_limits *lim, search_query *out, char *why, size_t whylen);

#endif
