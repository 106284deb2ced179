/*
 * query.c - see query.h. One left-to-right pass over the query string:
 * each name=value pair is percent-decoded, then either handled as a
 * result parameter (_count, _sort, _include, ...) or resolved into a
 * clause tree (chains, _has) whose leaves parse the value by their
 * parameter's type. The workload is a browser or app asking for a handful
 * of parameters; the defence is against a client sending a megabyte of
 * commas, ampersands or chain segments.
 *
 * Work bounds: every scan is linear in the text it looks at, and nothing
 * is rescanned per element of a list: OR lists are counted before they are
 * parsed (max_values), clause nodes are counted as they are made
 * (max_clauses, chain hops and the alternatives of an untyped chain
 * included), the hop count of a name is checked syntactically before it
 * is resolved (max_chain_depth), the candidate types an untyped chain
 * tries are charged to QP_CHAIN_WORK, and a value is parsed once for all
 * the alternatives of an untyped chain that share its type (the cache).
 * Names longer than QP_NAME_MAX cannot be a parameter and are not resolved.
 * Memory comes from the caller's arena; its cap stops the rest.
 */
#include "query.h"

#include "http/url.h"

#include "value.h"
#include "core/err.h"
#include "core/valid.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define QP_UNSUP 1            /* internal: the parameter is unsupported */
#define QP_NAME_MAX 512       /* longest name resolved; 4 hops of R4 names fit */
#define QP_CODE_MAX 64        /* longest code or type name looked up */
#define QP_CHAIN_WORK 20000   /* candidate types tried by untyped chains, per query */

/* Result parameters given at most once (a bit each in qp.once). */
enum {
	QP_ONCE_COUNT = 1u << 0,
	QP_ONCE_SORT = 1u << 1,
	QP_ONCE_TOTAL = 1u << 2,
	QP_ONCE_SUMMARY = 1u << 3,
	QP_ONCE_ELEMENTS = 1u << 4,
	QP_ONCE_CURSOR = 1u << 5,
	QP_ONCE_TYPE = 1u << 6,
	QP_ONCE_SINCE = 1u << 7
};

struct qp_slice {
	const char *s;
	size_t n;
};

/* A parameter kept for search_query.self, in the order received. */
struct qp_self {
	const char *name, *val;
};

/* Values parsed for the last leaf of the parameter at hand, reused by the
 * next alternative of an untyped chain when it would parse them the same
 * way (same type, modifier, :[type] and composite component types). */
struct qp_cache {
	int set;
	const search_param *param;
	enum search_mod mod;
	const char *mod_type;
	search_value *v;
	size_t nv;
};

struct qp {
	arena_t *a;
	const search_limits *lim;
	search_query *q;
	char *why;
	size_t whylen;
	const char *name;         /* decoded name of the parameter at hand */
	size_t namelen;
	const char *val;          /* its decoded value */
	size_t vallen;
	struct qp_slice *pieces;  /* its non-empty OR alternatives (search parameters) */
	size_t npieces;
	struct qp_cache cache;
	size_t nodes;             /* clause nodes kept so far */
	size_t work;              /* QP_CHAIN_WORK budget used */
	unsigned once;
	int count_zero;           /* _count=0: count only */
	char unsup[256];          /* why the parameter at hand is unsupported */
	size_t clauses_cap, inc_cap, ign_cap, sort_cap, self_cap;
	struct qp_self *self;
	size_t nself;
};

/* The six Resource-level parameters, the only ones known at system level. */
static const char *const qp_resource_codes[] = {
	"_id", "_lastUpdated", "_profile", "_security", "_source", "_tag", NULL
};

/* Parameters the spec defines that fhird does not implement. */
static const char *const qp_unsupported[] = {
	"_contained", "_containedType", "_content", "_filter", "_list", "_query", "_text", NULL
};

static const struct {
	const char *name;
	enum search_prefix pfx;
} qp_prefixes[] = {
	{ "eq", SEARCH_PFX_EQ }, { "ne", SEARCH_PFX_NE }, { "gt", SEARCH_PFX_GT },
	{ "lt", SEARCH_PFX_LT }, { "ge", SEARCH_PFX_GE }, { "le", SEARCH_PFX_LE },
	{ "sa", SEARCH_PFX_SA }, { "eb", SEARCH_PFX_EB }, { "ap", SEARCH_PFX_AP },
};

/* search.html#modifiers: the R4 modifiers fhird implements and the one
 * parameter type each applies to (0: every type). */
static const struct {
	const char *name;
	enum search_mod mod;
	enum search_type type;
} qp_mods[] = {
	{ "missing", SEARCH_MOD_MISSING, 0 },
	{ "exact", SEARCH_MOD_EXACT, SEARCH_T_STRING },
	{ "contains", SEARCH_MOD_CONTAINS, SEARCH_T_STRING },
	{ "text", SEARCH_MOD_TEXT, SEARCH_T_TOKEN },
	{ "not", SEARCH_MOD_NOT, SEARCH_T_TOKEN },
	{ "of-type", SEARCH_MOD_OF_TYPE, SEARCH_T_TOKEN },
	{ "above", SEARCH_MOD_ABOVE, SEARCH_T_URI },
	{ "below", SEARCH_MOD_BELOW, SEARCH_T_URI },
	{ "identifier", SEARCH_MOD_IDENTIFIER, SEARCH_T_REFERENCE },
};

static const char *const qp_type_names[] = {
	[SEARCH_T_NUMBER] = "number", [SEARCH_T_DATE] = "date", [SEARCH_T_STRING] = "string",
	[SEARCH_T_TOKEN] = "token", [SEARCH_T_REFERENCE] = "reference",
	[SEARCH_T_COMPOSITE] = "composite", [SEARCH_T_QUANTITY] = "quantity",
	[SEARCH_T_URI] = "uri", [SEARCH_T_SPECIAL] = "special",
};

static const char *qp_type_name(enum search_type t)
{
	return (unsigned)t < sizeof qp_type_names / sizeof qp_type_names[0] && qp_type_names[t]
		       ? qp_type_names[t]
		       : "?";
}

/* ---- messages ---------------------------------------------------------- */


/* valid_quote(), and then any byte of a text that is not UTF-8 (raw,
 * undecodable input) becomes '?', so a message is always valid UTF-8. */
static void qp_quote(const char *s, size_t n, char out[VALID_QUOTE_BUF])
{
	size_t i;

	valid_quote(s, n, out);
	if (valid_utf8(out, strlen(out)))
		return;
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] >= 0x80)
			out[i] = '?';
}

static void qp_vformat(char *dst, size_t cap, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void qp_vformat(char *dst, size_t cap, const char *fmt, va_list ap)
{
	if (!dst || cap == 0)
		return;
	vsnprintf(dst, cap, fmt, ap);
	valid_utf8_trim(dst);
}

/* Writes a client-safe message into why and returns err. */
static int qp_fail(struct qp *p, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int qp_fail(struct qp *p, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	qp_vformat(p->why, p->whylen, fmt, ap);
	va_end(ap);
	return err;
}

/* "parameter "NAME": WHAT "VALUE"" for a bad value of the parameter at
 * hand; s may be NULL. */
static int qp_bad(struct qp *p, int err, const char *what, const char *s, size_t n)
{
	char qn[VALID_QUOTE_BUF], qv[VALID_QUOTE_BUF];

	qp_quote(p->name, p->namelen, qn);
	if (!s)
		return qp_fail(p, err, "parameter \"%s\": %s", qn, what);
	qp_quote(s, n, qv);
	return qp_fail(p, err, "parameter \"%s\": %s \"%s\"", qn, what, qv);
}

/* Records why the parameter at hand is unsupported; returns QP_UNSUP.
 * Only strict handling shows the reason, so lenient handling does not pay
 * for formatting it (a query may carry thousands of unknown names). */
static int qp_unsup(struct qp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int qp_unsup(struct qp *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->lim->strict)
		goto out;
	va_start(ap, fmt);
	qp_vformat(p->unsup, sizeof p->unsup, fmt, ap);
	va_end(ap);
out:
	return QP_UNSUP;
}

static int qp_nomem(struct qp *p)
{
	return qp_fail(p, ERR_NOMEM, "the query needs more memory than one request may use");
}

/* ---- small helpers ----------------------------------------------------- */

/* Room for one more element in arr (n used, *cap allocated): arr itself,
 * a larger copy, or NULL. Doubling keeps appends linear. */
static void *qp_grow(arena_t *a, void *arr, size_t n, size_t *cap, size_t elem)
{
	size_t ncap;
	void *na;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 8;
	if (ncap > SIZE_MAX / elem)
		return NULL;
	na = arena_alloc(a, ncap * elem);
	if (!na)
		return NULL;
	if (n)
		memcpy(na, arr, n * elem);
	*cap = ncap;
	return na;
}

static int qp_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int qp_in(const char *const *list, const char *s, size_t n)
{
	for (; *list; list++)
		if (qp_eq(s, n, *list))
			return 1;
	return 0;
}

/* The static name of the resource type s[0..n), or NULL when it is not
 * one. Every type has rows (_id at least), so the table is the list. */
static const char *qp_type_known(const char *s, size_t n)
{
	char buf[QP_CODE_MAX];
	size_t first, cnt;

	if (n == 0 || n >= sizeof buf || search_nparams == 0)
		return NULL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	search_params_of(buf, &first, &cnt);
	return cnt ? search_params[first].rtype : NULL;
}

/* Iterates the resource types of the table: the type at *i, and *i moved
 * past its rows; NULL at the end. */
static const char *qp_type_next(size_t *i)
{
	const char *rt;
	size_t first, cnt;

	if (*i >= search_nparams)
		return NULL;
	rt = search_params[*i].rtype;
	search_params_of(rt, &first, &cnt);
	*i = cnt ? first + cnt : *i + 1;
	return rt;
}

/* The row of code s[0..n) on rt; at system level (rt NULL) only the
 * Resource-level codes, taken from the first type's rows (every type has
 * the same ones; the store maps them by code). */
static const search_param *qp_param(const char *rt, const char *s, size_t n)
{
	char buf[QP_CODE_MAX];

	if (n == 0 || n >= sizeof buf || search_nparams == 0)
		return NULL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!rt) {
		if (!qp_in(qp_resource_codes, s, n))
			return NULL;
		rt = search_params[0].rtype;
	}
	return search_param_find(rt, buf);
}

/* 1 when a reference parameter may point at type t (an empty target list
 * means any type). */
static int qp_targets_has(const search_param *p, const char *t)
{
	const char *const *x;

	if (!p->targets || !p->targets[0])
		return 1;
	for (x = p->targets; *x; x++)
		if (strcmp(*x, t) == 0)
			return 1;
	return 0;
}

/* 1 when the table knows how to search p (an expression, not special, a
 * composite with its components resolved). */
static int qp_searchable(const search_param *p)
{
	if (!p->expr || p->type == SEARCH_T_SPECIAL)
		return 0;
	if (p->type == SEARCH_T_COMPOSITE && (!p->comps || p->ncomps == 0))
		return 0;
	return 1;
}

/* ---- escapes (search.html#escaping) ------------------------------------ */

/* Splits s[0..n) on each sep that no '\' escapes; fills parts[0..max) and
 * returns the number of parts there are (which may exceed max). */
static size_t qp_split(const char *s, size_t n, char sep, struct qp_slice *parts, size_t max)
{
	size_t i, start = 0, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] != sep)
			continue;
		if (k < max) {
			parts[k].s = s + start;
			parts[k].n = i - start;
		}
		k++;
		start = i + 1;
	}
	if (k < max) {
		parts[k].s = s + start;
		parts[k].n = n - start;
	}
	return k + 1;
}

/* A NUL-terminated copy of s[0..n) with \, \| \$ \\ undone; NULL when the
 * arena is full. A '\' before any other character stays as it is:
 * search.html calls that value illegal, but refusing it would break
 * clients that put backslashes in codes and texts without thinking of
 * FHIR escapes. */
static char *qp_unesc(arena_t *a, const char *s, size_t n)
{
	char *o = arena_alloc(a, n + 1);
	size_t i, j = 0;

	if (!o)
		goto out;
	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n &&
		    (s[i + 1] == ',' || s[i + 1] == '|' || s[i + 1] == '$' || s[i + 1] == '\\'))
			i++;
		o[j++] = s[i];
	}
	o[j] = '\0';
out:
	return o;
}

/* qp_unesc() into *out, or ERR_NOMEM with the message. */
static int qp_unesc_to(struct qp *p, const char *s, size_t n, char **out)
{
	*out = qp_unesc(p->a, s, n);
	return *out ? 0 : qp_nomem(p);
}

/* search_norm() of the unescaped s[0..n), into the arena. */
static int qp_norm(struct qp *p, const char *s, size_t n, char **out)
{
	char *u = NULL, *b = NULL;
	size_t ul;
	int rc;

	if ((rc = qp_unesc_to(p, s, n, &u)))
		goto out;
	ul = strlen(u);
	b = arena_alloc(p->a, 2 * ul + 1);
	if (!b) {
		rc = qp_nomem(p);
		goto out;
	}
	/* the value was checked to be UTF-8 when decoded, and 2 * len + 1
	 * is always room enough (value.h) */
	if (search_norm_buf(u, ul, b, 2 * ul + 1))
		rc = qp_fail(p, ERR_INTERNAL, "string normalisation failed");
	else
		*out = b;
out:
	return rc;
}

/* ---- values ------------------------------------------------------------ */

/* search.html#prefix: two lowercase letters at the start are a prefix; two
 * that are none of the nine are an error, not part of the value. */
static int qp_prefix(struct qp *p, const char *s, enum search_prefix *pfx, const char **rest)
{
	int rc = 0;
	size_t i;

	*pfx = SEARCH_PFX_EQ;
	*rest = s;
	if (!(s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'))
		goto out;
	for (i = 0; i < sizeof qp_prefixes / sizeof qp_prefixes[0]; i++) {
		if (s[0] == qp_prefixes[i].name[0] && s[1] == qp_prefixes[i].name[1]) {
			*pfx = qp_prefixes[i].pfx;
			*rest = s + 2;
			goto out;
		}
	}
	rc = qp_bad(p, ERR_INVALID, "unknown prefix in", s, strlen(s));
out:
	return rc;
}

/* search.html#date: [prefix]date, dateTime or instant. */
static int qp_date(struct qp *p, const char *s, size_t n, search_value *v)
{
	const char *rest;
	char *u = NULL, *fix;
	size_t i;
	int rc;

	if ((rc = qp_unesc_to(p, s, n, &u)) || (rc = qp_prefix(p, u, &v->prefix, &rest)))
		goto out;
	if (search_date_range(rest, &v->lo, &v->hi) == 0)
		goto out;
	/* A '+' of a time zone sent unencoded arrives as a space (form
	 * encoding); take it back rather than fail the client's query. */
	if (strchr(rest, ' ')) {
		fix = arena_strdup(p->a, rest);
		if (!fix) {
			rc = qp_nomem(p);
			goto out;
		}
		for (i = 0; fix[i]; i++)
			if (fix[i] == ' ')
				fix[i] = '+';
		if (search_date_range(fix, &v->lo, &v->hi) == 0)
			goto out;
	}
	rc = qp_bad(p, ERR_INVALID, "invalid date", u, strlen(u));
out:
	return rc;
}

/* search.html#number: [prefix]decimal, from the unescaped s[0..n). */
static int qp_number(struct qp *p, const char *s, size_t n, search_value *v)
{
	const char *rest;
	char *u = NULL;
	int rc;

	if ((rc = qp_unesc_to(p, s, n, &u)) || (rc = qp_prefix(p, u, &v->prefix, &rest)))
		goto out;
	if (search_number_parse(rest, &v->num, &v->nlo, &v->nhi))
		rc = qp_bad(p, ERR_INVALID, "invalid number", u, strlen(u));
out:
	return rc;
}

/* search.html#quantity: [prefix]number, or [prefix]number|system|code
 * where an empty system or code matches any. */
static int qp_quantity(struct qp *p, const char *s, size_t n, search_value *v)
{
	struct qp_slice part[3];
	size_t k = qp_split(s, n, '|', part, 3);
	int rc;

	if (k != 1 && k != 3) {
		rc = qp_bad(p, ERR_INVALID, "a quantity is number or number|system|code, not", s, n);
		goto out;
	}
	if ((rc = qp_number(p, part[0].s, part[0].n, v)) || k == 1)
		goto out;
	if (part[1].n && (rc = qp_unesc_to(p, part[1].s, part[1].n, &v->sys)))
		goto out;
	if (part[2].n)
		rc = qp_unesc_to(p, part[2].s, part[2].n, &v->code);
out:
	return rc;
}

/* :of-type (search.html#token): typesystem|typecode|value -> sys =
 * typesystem, code = typecode|value, the shape of extract.h's OF_TYPE
 * rows. */
static int qp_of_type(struct qp *p, const struct qp_slice part[3], search_value *v)
{
	char *t = NULL, *val = NULL;
	size_t tl, vl;
	int rc;

	if ((rc = qp_unesc_to(p, part[0].s, part[0].n, &v->sys)) ||
	    (rc = qp_unesc_to(p, part[1].s, part[1].n, &t)) || (rc = qp_unesc_to(p, part[2].s, part[2].n, &val)))
		goto out;
	tl = strlen(t);
	vl = strlen(val);
	v->code = arena_alloc(p->a, tl + vl + 2);
	if (!v->code) {
		rc = qp_nomem(p);
		goto out;
	}
	memcpy(v->code, t, tl);
	v->code[tl] = '|';
	memcpy(v->code + tl + 1, val, vl + 1);
out:
	return rc;
}

/* search.html#token: code, system|code, |code, system|; :of-type takes
 * typesystem|typecode|value; :text takes free text. */
static int qp_token(struct qp *p, enum search_mod mod, const char *s, size_t n, search_value *v)
{
	struct qp_slice part[3];
	size_t k;
	int rc = 0;

	if (mod == SEARCH_MOD_TEXT) {
		rc = qp_norm(p, s, n, &v->str);
		goto out;
	}
	k = qp_split(s, n, '|', part, 3);
	if (mod == SEARCH_MOD_OF_TYPE) {
		if (k != 3 || part[1].n == 0 || part[2].n == 0)
			rc = qp_bad(p, ERR_INVALID, ":of-type takes system|code|value, not", s, n);
		else
			rc = qp_of_type(p, part, v);
		goto out;
	}
	if (k > 2) {
		rc = qp_bad(p, ERR_INVALID, "a token is code or system|code (escape a literal '|' as \\|), not", s,
			    n);
		goto out;
	}
	if (k == 1) {
		rc = qp_unesc_to(p, s, n, &v->code);
		goto out;
	}
	if ((rc = qp_unesc_to(p, part[0].s, part[0].n, &v->sys)))
		goto out;
	if (part[1].n)
		rc = qp_unesc_to(p, part[1].s, part[1].n, &v->code);
out:
	return rc;
}

/* 1 when s starts with an RFC 3986 scheme and ':' (an absolute URI or a
 * URN); ids and Type/id never contain ':'. */
static int qp_is_absolute(const char *s)
{
	size_t i = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; s[i]; i++) {
		char c = s[i];
		if (c == ':')
			return 1;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
		      c == '-' || c == '.'))
			return 0;
	}
	return 0;
}

/* Type/id or Type/id/_history/vid -> (Type, id); 0, ERR_NOMEM, or
 * ERR_INVALID without a message (the caller decides what it means). */
static int qp_ref_relative(struct qp *p, const char *s, const char **type, char **id)
{
	const char *slash = strchr(s, '/'), *idp, *end, *vid;
	size_t idn;
	int rc = ERR_INVALID;

	if (!slash || !(*type = qp_type_known(s, (size_t)(slash - s))))
		goto out;
	idp = slash + 1;
	end = strchr(idp, '/');
	idn = end ? (size_t)(end - idp) : strlen(idp);
	if (!valid_id(idp, idn))
		goto out;
	vid = end ? end + 1 : NULL;
	if (vid && (strncmp(vid, "_history/", 9) != 0 || !valid_id(vid + 9, strlen(vid + 9))))
		goto out;
	*id = arena_strndup(p->a, idp, idn);
	rc = *id ? 0 : ERR_NOMEM;
out:
	return rc;
}

/* search.html#reference: id, Type/id, or an absolute URL; an URL on our
 * own base is the local reference it names. */
static int qp_ref(struct qp *p, const char *mod_type, const char *s, size_t n, search_value *v)
{
	char *u = NULL, *id = NULL;
	const char *type = NULL, *base = p->lim->base;
	size_t bl = base ? strlen(base) : 0;
	int rc;

	if ((rc = qp_unesc_to(p, s, n, &u)))
		goto out;
	if (qp_is_absolute(u)) {
		/* sys "" for a URL we cannot reduce to Type/id (extract.h) */
		v->sys = "";
		v->code = u;
		if (bl && strncmp(u, base, bl) == 0 && u[bl] == '/')
			rc = qp_ref_relative(p, u + bl + 1, &type, &id);
		if (rc == ERR_INVALID || !id) {
			rc = rc == ERR_NOMEM ? qp_nomem(p) : 0;
			goto out;
		}
	} else if (strchr(u, '/')) {
		rc = qp_ref_relative(p, u, &type, &id);
		if (rc == ERR_INVALID)
			rc = qp_bad(p, ERR_INVALID, "a reference is id, Type/id or an absolute URL, not", u,
				    strlen(u));
		if (rc == ERR_NOMEM)
			rc = qp_nomem(p);
		if (rc)
			goto out;
	} else {
		if (!valid_id(u, strlen(u))) {
			rc = qp_bad(p, ERR_INVALID, "invalid id", u, strlen(u));
			goto out;
		}
		type = mod_type;
		id = u;
	}
	if (mod_type && type && strcmp(mod_type, type) != 0) {
		rc = qp_bad(p, ERR_INVALID, "the reference's type differs from the :[type] modifier:", u, strlen(u));
		goto out;
	}
	v->sys = (char *)type;
	v->code = id;
out:
	return rc;
}

static int qp_value(struct qp *p, enum search_type type, enum search_mod mod, const char *mod_type,
		    const search_param *param, const char *s, size_t n, search_value *v);

/* search.html#composite: components split on '$', each parsed by its
 * component's type. */
static int qp_composite(struct qp *p, const search_param *param, const char *s, size_t n, search_value *v)
{
	struct qp_slice *part;
	size_t k = qp_split(s, n, '$', NULL, 0), i;
	enum search_type ct;
	char msg[96];
	int rc = 0;

	if (k != param->ncomps) {
		snprintf(msg, sizeof msg, "composite takes %u components separated by '$', not %zu in",
			 param->ncomps, k);
		rc = qp_bad(p, ERR_INVALID, msg, s, n);
		goto out;
	}
	part = arena_alloc(p->a, k * sizeof *part);
	v->comp = arena_calloc(p->a, k, sizeof *v->comp);
	if (!part || !v->comp) {
		rc = qp_nomem(p);
		goto out;
	}
	qp_split(s, n, '$', part, k);
	for (i = 0; i < k && !rc; i++) {
		ct = param->comps[i].type;
		if (part[i].n == 0)
			rc = qp_bad(p, ERR_INVALID, "empty composite component in", s, n);
		else if (ct == SEARCH_T_COMPOSITE || ct == SEARCH_T_SPECIAL)
			rc = qp_bad(p, ERR_INVALID, "unsupported composite component in", s, n);
		else
			rc = qp_value(p, ct, SEARCH_MOD_NONE, NULL, NULL, part[i].s, part[i].n, &v->comp[i]);
	}
	v->ncomp = (unsigned)k;
out:
	return rc;
}

/* One OR alternative s[0..n) (still escaped) by parameter type. */
static int qp_value(struct qp *p, enum search_type type, enum search_mod mod, const char *mod_type,
		    const search_param *param, const char *s, size_t n, search_value *v)
{
	int rc = 0;

	if (mod == SEARCH_MOD_MISSING) {
		if (qp_eq(s, n, "true") || qp_eq(s, n, "false"))
			v->missing = s[0] == 't';
		else
			rc = qp_bad(p, ERR_INVALID, ":missing takes true or false, not", s, n);
		goto out;
	}
	switch (type) {
	case SEARCH_T_STRING:
		if (mod == SEARCH_MOD_EXACT)
			rc = qp_unesc_to(p, s, n, &v->str);
		else
			rc = qp_norm(p, s, n, &v->str);
		break;
	case SEARCH_T_URI:
		rc = qp_unesc_to(p, s, n, &v->str);
		break;
	case SEARCH_T_TOKEN:
		rc = qp_token(p, mod, s, n, v);
		break;
	case SEARCH_T_REFERENCE:
		if (mod == SEARCH_MOD_IDENTIFIER)
			rc = qp_token(p, SEARCH_MOD_NONE, s, n, v);
		else
			rc = qp_ref(p, mod == SEARCH_MOD_TYPE ? mod_type : NULL, s, n, v);
		break;
	case SEARCH_T_DATE:
		rc = qp_date(p, s, n, v);
		break;
	case SEARCH_T_NUMBER:
		rc = qp_number(p, s, n, v);
		break;
	case SEARCH_T_QUANTITY:
		rc = qp_quantity(p, s, n, v);
		break;
	case SEARCH_T_COMPOSITE:
	case SEARCH_T_SPECIAL:
	default:
		/* components never nest; special parameters never get here */
		if (type == SEARCH_T_COMPOSITE && param)
			rc = qp_composite(p, param, s, n, v);
		else
			rc = qp_bad(p, ERR_INVALID, "values of this parameter type cannot be searched", NULL, 0);
		break;
	}
	/* as long as the index rows' text may be (value.h) */
	if (!rc) {
		search_value_cap(v->sys);
		search_value_cap(v->code);
		search_value_cap(v->str);
	}
out:
	return rc;
}

/* Composites parse alike when their component types match. */
static int qp_comps_same(const search_param *x, const search_param *y)
{
	unsigned i;

	if (x->type != SEARCH_T_COMPOSITE)
		return 1;
	if (x->ncomps != y->ncomps)
		return 0;
	for (i = 0; i < x->ncomps; i++)
		if (x->comps[i].type != y->comps[i].type)
			return 0;
	return 1;
}

/* Counts the OR alternatives of the value at hand (search.html#combining)
 * into p->npieces, the empty ones left out; allocates nothing, so that an
 * unknown parameter costs no more than its text. A value ending in an
 * unpaired '\' escapes nothing and is refused. */
static int qp_pieces_count(struct qp *p)
{
	size_t i, k = 1, len = 0;
	char msg[96];
	int rc = 0;

	p->pieces = NULL;
	p->npieces = 0;
	for (i = 0; i < p->vallen; i++) {
		if (p->val[i] == ',') {
			p->npieces += len > 0;
			len = 0;
			k++;
			continue;
		}
		len++;
		if (p->val[i] != '\\')
			continue;
		if (i + 1 == p->vallen) {
			rc = qp_bad(p, ERR_INVALID, "value ends in an unpaired '\\'", NULL, 0);
			goto out;
		}
		i++;
	}
	p->npieces += len > 0;
	if (k > p->lim->max_values) {
		snprintf(msg, sizeof msg, "more than %u values separated by ',' (search_max_values)", p->lim->max_values);
		rc = qp_bad(p, ERR_TOOCOSTLY, msg, NULL, 0);
	}
out:
	return rc;
}

/* The non-empty OR alternatives into p->pieces, once per parameter. */
static int qp_pieces_fill(struct qp *p)
{
	size_t k = qp_split(p->val, p->vallen, ',', NULL, 0), i, n = 0;
	int rc = 0;

	if (p->pieces)
		goto out;
	p->pieces = arena_alloc(p->a, k * sizeof *p->pieces);
	if (!p->pieces) {
		rc = qp_nomem(p);
		goto out;
	}
	qp_split(p->val, p->vallen, ',', p->pieces, k);
	for (i = 0; i < k; i++)
		if (p->pieces[i].n)
			p->pieces[n++] = p->pieces[i];
out:
	return rc;
}

/* The values of leaf clause c from the OR alternatives of the parameter
 * at hand (counted and split once per parameter, parsed once per kind of
 * leaf). */
static int qp_values(struct qp *p, search_clause *c)
{
	struct qp_cache *k = &p->cache;
	search_value *v;
	size_t i;
	int rc = 0;

	if (k->set && k->param->type == c->param->type && k->mod == c->mod && k->mod_type == c->mod_type &&
	    qp_comps_same(k->param, c->param)) {
		c->v = k->v;
		c->nv = k->nv;
		goto out;
	}
	if ((rc = qp_pieces_fill(p)))
		goto out;
	v = arena_calloc(p->a, p->npieces, sizeof *v);
	if (!v) {
		rc = qp_nomem(p);
		goto out;
	}
	for (i = 0; i < p->npieces && !rc; i++)
		rc = qp_value(p, c->param->type, c->mod, c->mod_type, c->param, p->pieces[i].s, p->pieces[i].n,
			      &v[i]);
	if (rc)
		goto out;
	c->v = k->v = v;
	c->nv = k->nv = p->npieces;
	k->set = 1;
	k->param = c->param;
	k->mod = c->mod;
	k->mod_type = c->mod_type;
out:
	return rc;
}

/* ---- names: modifiers, chains, _has ------------------------------------ */

/* A new clause node, counted against max_clauses. */
static int qp_node(struct qp *p, search_clause **out)
{
	char qn[VALID_QUOTE_BUF];
	int rc = 0;

	if (p->nodes >= p->lim->max_clauses) {
		qp_quote(p->name, p->namelen, qn);
		rc = qp_fail(p, ERR_TOOCOSTLY,
			     "more than %u search clauses (search_max_clauses; at \"%s\"; each chain hop and "
			     "each target type of an untyped chain counts as one)",
			     p->lim->max_clauses, qn);
		goto out;
	}
	*out = arena_calloc(p->a, 1, sizeof **out);
	if (!*out) {
		rc = qp_nomem(p);
		goto out;
	}
	p->nodes++;
out:
	return rc;
}

/* Modifier s[0..n) on param: *mod (and *mod_type for :[type]); QP_UNSUP
 * when fhird does not implement it for this parameter type. */
static int qp_mod(struct qp *p, const search_param *param, const char *s, size_t n, enum search_mod *mod,
		  const char **mod_type)
{
	char qm[VALID_QUOTE_BUF];
	size_t i;
	int rc = 0;

	qp_quote(s, n, qm);
	if (n > 0 && s[0] >= 'A' && s[0] <= 'Z') {
		/* search.html#reference: subject:Patient=23 */
		if (param->type != SEARCH_T_REFERENCE)
			rc = qp_unsup(p, "the type modifier \":%s\" applies to reference parameters only, "
					 "\"%s\" is a %s parameter",
				      qm, param->code, qp_type_name(param->type));
		else if (!(*mod_type = qp_type_known(s, n)))
			rc = qp_bad(p, ERR_INVALID, "unknown resource type in modifier", s, n);
		else if (!qp_targets_has(param, *mod_type))
			rc = qp_bad(p, ERR_INVALID, "not a target type of the reference:", s, n);
		else
			*mod = SEARCH_MOD_TYPE;
		goto out;
	}
	for (i = 0; i < sizeof qp_mods / sizeof qp_mods[0]; i++) {
		if (!qp_eq(s, n, qp_mods[i].name))
			continue;
		if (qp_mods[i].type && qp_mods[i].type != param->type)
			rc = qp_unsup(p, "the modifier \":%s\" does not apply to the %s parameter \"%s\"", qm,
				      qp_type_name(param->type), param->code);
		else
			*mod = qp_mods[i].mod;
		goto out;
	}
	rc = qp_unsup(p, "unsupported modifier \":%s\"", qm);
out:
	return rc;
}

static int qp_name(struct qp *p, const char *rt, const char *name, size_t len, unsigned depth,
		   search_clause **out);

/* search.html#chaining without a type: one alternative per target type of
 * ref that has the chained parameter, linked by alt. An alternative that
 * does not resolve, or whose value does not parse as its type, is left
 * out; none left is unsupported (or the last value error). */
static int qp_alts(struct qp *p, const search_param *ref, const char *rest, size_t rlen, unsigned depth,
		   search_clause **out)
{
	search_clause *head = NULL, *tail = NULL, *c;
	const char *t;
	char qr[VALID_QUOTE_BUF];
	size_t i = 0, ti = 0, nodes0;
	int rc = 0, bad = 0, any_target = !ref->targets || !ref->targets[0];

	for (;;) {
		if (any_target)
			t = qp_type_next(&i);
		else if ((t = ref->targets[ti]))
			ti++;
		if (!t)
			break;
		if (++p->work > QP_CHAIN_WORK) {
			rc = qp_bad(p, ERR_TOOCOSTLY, "chain has too many target types to try", NULL, 0);
			goto out;
		}
		nodes0 = p->nodes;
		c = NULL;
		rc = qp_name(p, t, rest, rlen, depth, &c);
		if (rc == QP_UNSUP || rc == ERR_INVALID) {
			bad |= rc == ERR_INVALID;
			p->nodes = nodes0;
			continue;
		}
		if (rc)
			goto out;
		if (tail)
			tail->alt = c;
		else
			head = c;
		tail = c;
	}
	rc = 0;
	if (head) {
		*out = head;
	} else if (bad) {
		rc = ERR_INVALID; /* why holds the last alternative's error */
	} else {
		qp_quote(rest, rlen, qr);
		rc = qp_unsup(p, "no target type of \"%s\" has a parameter for \"%s\"", ref->code, qr);
	}
out:
	return rc;
}

/* search.html#has: _has:Type:refparam:name, the resources of rt that some
 * Type refers to through refparam, where name holds on that Type. */
static int qp_has(struct qp *p, const char *rt, const char *name, size_t len, unsigned depth,
		  search_clause **out)
{
	const char *s = name + 5, *c1, *c2 = NULL, *htype;
	const search_param *ref = NULL;
	char qr[VALID_QUOTE_BUF];
	size_t n = len - 5, rn;
	search_clause *c = NULL;
	int rc;

	if (!rt) {
		rc = qp_unsup(p, "_has is not supported at system level");
		goto out;
	}
	c1 = memchr(s, ':', n);
	if (c1)
		c2 = memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - s));
	if (!c2 || c2 + 1 == s + n) {
		rc = qp_bad(p, ERR_INVALID, "_has takes _has:Type:reference:parameter", NULL, 0);
		goto out;
	}
	rn = (size_t)(c2 - c1 - 1);
	qp_quote(c1 + 1, rn, qr);
	if (!(htype = qp_type_known(s, (size_t)(c1 - s))))
		rc = qp_bad(p, ERR_INVALID, "unknown resource type in _has:", s, (size_t)(c1 - s));
	else if (!(ref = qp_param(htype, c1 + 1, rn)))
		rc = qp_unsup(p, "no parameter \"%s\" on %s", qr, htype);
	else if (ref->type != SEARCH_T_REFERENCE)
		rc = qp_bad(p, ERR_INVALID, "_has needs a reference parameter, not", c1 + 1, rn);
	else if (!qp_targets_has(ref, rt))
		rc = qp_fail(p, ERR_INVALID, "_has: %s.%s does not refer to %s", htype, ref->code, rt);
	else if (depth + 1 > p->lim->max_chain_depth)
		rc = qp_bad(p, ERR_INVALID, "chain or _has nesting too deep (search_chain_depth)", NULL, 0);
	else
		rc = qp_node(p, &c);
	if (rc)
		goto out;
	c->has_type = htype;
	c->has_ref = ref;
	if ((rc = qp_name(p, htype, c2 + 1, (size_t)(s + n - c2 - 1), depth + 1, &c->chain)))
		goto out;
	*out = c;
out:
	return rc;
}

/* Resolves name[0..len) on rt (NULL: system level) into a clause tree and
 * parses the values into its leaves. depth: hops above this name. 0,
 * QP_UNSUP (p->unsup says why), or an ERR_* (why says why). */
static int qp_name(struct qp *p, const char *rt, const char *name, size_t len, unsigned depth,
		   search_clause **out)
{
	const search_param *param;
	enum search_mod mod = SEARCH_MOD_NONE;
	const char *mod_type = NULL;
	search_clause *c = NULL;
	char qc[VALID_QUOTE_BUF];
	size_t ce, me;
	int rc = 0;

	if (len >= 5 && memcmp(name, "_has:", 5) == 0) {
		rc = qp_has(p, rt, name, len, depth, out);
		goto out;
	}
	for (ce = 0; ce < len && name[ce] != ':' && name[ce] != '.'; ce++)
		;
	param = qp_param(rt, name, ce);
	if (!param) {
		qp_quote(name, ce, qc);
		if (!rt)
			rc = qp_unsup(p, "only _id, _lastUpdated, _profile, _security, _source and _tag "
					 "are searched at system level, not \"%s\"",
				      qc);
		else
			rc = qp_unsup(p, "no parameter \"%s\" on %s", qc, rt);
		goto out;
	}
	if (!qp_searchable(param)) {
		rc = qp_unsup(p, "the parameter \"%s\" on %s is not supported", param->code, param->rtype);
		goto out;
	}
	me = ce;
	if (ce < len && name[ce] == ':') {
		for (me = ce + 1; me < len && name[me] != '.'; me++)
			;
		if ((rc = qp_mod(p, param, name + ce + 1, me - ce - 1, &mod, &mod_type)))
			goto out;
	}
	if (me < len) {
		/* name[me] == '.': a chain (search.html#chaining) */
		if (param->type != SEARCH_T_REFERENCE || (mod != SEARCH_MOD_NONE && mod != SEARCH_MOD_TYPE))
			rc = qp_unsup(p, "\"%s\" is not a reference, or has a modifier, and cannot be chained",
				      param->code);
		else if (depth + 1 > p->lim->max_chain_depth)
			rc = qp_bad(p, ERR_INVALID, "chain or _has nesting too deep (search_chain_depth)", NULL, 0);
		else
			rc = qp_node(p, &c);
		if (rc)
			goto out;
		c->param = param;
		c->mod = mod;
		c->mod_type = mod_type;
		if (mod_type)
			rc = qp_name(p, mod_type, name + me + 1, len - me - 1, depth + 1, &c->chain);
		else
			rc = qp_alts(p, param, name + me + 1, len - me - 1, depth + 1, &c->chain);
	} else if (!(rc = qp_node(p, &c))) {
		c->param = param;
		c->mod = mod;
		c->mod_type = mod_type;
		rc = qp_values(p, c);
	}
	if (rc)
		goto out;
	*out = c;
out:
	return rc;
}

/* Hops a name asks for: one per '.' and one per "_has:" (codes, types and
 * modifiers contain neither). Counted before resolving, so that the error
 * does not depend on which types happen to have the parameters. */
static size_t qp_hops(const char *s, size_t n)
{
	size_t i, h = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '.')
			h++;
		else if (s[i] == '_' && n - i >= 5 && memcmp(s + i, "_has:", 5) == 0)
			h++;
	}
	return h;
}

/* A search parameter (not a result parameter): one AND clause; *kept = 0
 * when every OR alternative was empty (the parameter is ignored). */
static int qp_clause(struct qp *p, int *kept)
{
	search_query *q = p->q;
	search_clause *c = NULL, *arr;
	int rc = 0;

	*kept = 0;
	if (qp_hops(p->name, p->namelen) > p->lim->max_chain_depth)
		rc = qp_bad(p, ERR_INVALID, "chain or _has nesting deeper than the server allows (search_chain_depth)", NULL, 0);
	else if (p->namelen > QP_NAME_MAX)
		rc = qp_unsup(p, "parameter name longer than %d bytes", QP_NAME_MAX);
	else
		rc = qp_pieces_count(p);
	/* all alternatives empty: ignored (search.html#search) */
	if (rc || p->npieces == 0)
		goto out;
	memset(&p->cache, 0, sizeof p->cache);
	if ((rc = qp_name(p, q->rtype, p->name, p->namelen, 0, &c)))
		goto out;
	arr = qp_grow(p->a, q->clauses, q->nclauses, &p->clauses_cap, sizeof *q->clauses);
	if (!arr) {
		rc = qp_nomem(p);
		goto out;
	}
	q->clauses = arr;
	q->clauses[q->nclauses++] = *c;
	*kept = 1;
out:
	return rc;
}

/* ---- result parameters ------------------------------------------------- */

static int qp_once(struct qp *p, unsigned bit)
{
	int rc = 0;

	if (p->once & bit)
		rc = qp_bad(p, ERR_INVALID, "given more than once", NULL, 0);
	p->once |= bit;
	return rc;
}

/* Calls fn on each non-empty item of the parameter's value split on ','
 * (no escapes in these lists); ERR_TOOBIG above max items. */
static int qp_items(struct qp *p, size_t max, int (*fn)(struct qp *, const char *, size_t, void *), void *ctx)
{
	const char *s = p->val, *e = p->val + p->vallen, *c;
	size_t nitems = 0;
	char msg[64];
	int rc = 0;

	for (; !rc; s = c + 1) {
		c = memchr(s, ',', (size_t)(e - s));
		if (!c)
			c = e;
		if (c > s && ++nitems > max) {
			snprintf(msg, sizeof msg, "more than %zu items", max);
			rc = qp_bad(p, ERR_TOOBIG, msg, NULL, 0);
		} else if (c > s) {
			rc = fn(p, s, (size_t)(c - s), ctx);
		}
		if (c == e)
			break;
	}
	return rc;
}

/* _count: a non-negative integer, capped at count_max; 0 asks for the
 * total only (search.html#count, #summary). */
static int qp_count(struct qp *p)
{
	uint64_t v = 0;
	size_t i;
	unsigned d;
	int rc = 0;

	for (i = 0; i < p->vallen; i++) {
		d = (unsigned char)p->val[i] - '0';
		if (d > 9) {
			rc = qp_bad(p, ERR_INVALID, "takes a non-negative integer, not", p->val, p->vallen);
			goto out;
		}
		if (v <= UINT32_MAX) /* larger is capped anyway */
			v = v * 10 + d;
	}
	p->q->count = v > p->lim->count_max ? p->lim->count_max : (unsigned)v;
	p->count_zero = v == 0;
out:
	return rc;
}

struct qp_sortctx {
	char *text;      /* accepted keys, for self */
	size_t len;
	int dropped;
};

static int qp_sort_item(struct qp *p, const char *s, size_t n, void *ctx)
{
	struct qp_sortctx *sc = ctx;
	search_query *q = p->q;
	const search_param *param;
	search_sort *arr;
	int desc = s[0] == '-', rc = 0;
	char qc[VALID_QUOTE_BUF];

	param = qp_param(q->rtype, s + desc, n - (size_t)desc);
	if (!param || !qp_searchable(param) || param->type == SEARCH_T_COMPOSITE) {
		qp_quote(s + desc, n - (size_t)desc, qc);
		qp_unsup(p, "cannot sort by \"%s\"", qc);
		sc->dropped = 1;
		goto out;
	}
	arr = qp_grow(p->a, q->sort, q->nsort, &p->sort_cap, sizeof *q->sort);
	if (!arr) {
		rc = qp_nomem(p);
		goto out;
	}
	q->sort = arr;
	q->sort[q->nsort].param = param;
	q->sort[q->nsort].desc = desc;
	q->nsort++;
	if (sc->len)
		sc->text[sc->len++] = ',';
	memcpy(sc->text + sc->len, s, n);
	sc->len += n;
	sc->text[sc->len] = '\0';
out:
	return rc;
}

/* _elements (search.html#elements): element names, a letter and then
 * letters, digits and '_'. */
static int qp_elements_item(struct qp *p, const char *s, size_t n, void *ctx)
{
	search_query *q = p->q;
	size_t *cap = ctx, i;
	const char **arr;
	int rc = 0, ok = n <= QP_CODE_MAX && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'));

	for (i = 1; i < n && ok; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		     s[i] == '_';
	if (!ok) {
		rc = qp_bad(p, ERR_INVALID, "invalid element name", s, n);
		goto out;
	}
	arr = qp_grow(p->a, q->elements, q->nelements, cap, sizeof *q->elements);
	if (!arr || !(arr[q->nelements] = arena_strndup(p->a, s, n))) {
		rc = qp_nomem(p);
		goto out;
	}
	q->elements = arr;
	q->nelements++;
out:
	return rc;
}

/* _type (system level): known types, duplicates dropped; at most one
 * entry per type, so the duplicate check is bounded. */
static int qp_type_item(struct qp *p, const char *s, size_t n, void *ctx)
{
	search_query *q = p->q;
	size_t *cap = ctx, i;
	const char *t = qp_type_known(s, n), **arr;
	int rc = 0;

	if (!t) {
		rc = qp_bad(p, ERR_INVALID, "unknown resource type", s, n);
		goto out;
	}
	for (i = 0; i < q->ntypes; i++)
		if (q->types[i] == t)
			goto out;
	arr = qp_grow(p->a, q->types, q->ntypes, cap, sizeof *q->types);
	if (!arr) {
		rc = qp_nomem(p);
		goto out;
	}
	q->types = arr;
	q->types[q->ntypes++] = t;
out:
	return rc;
}

/* The Type:param[:target] of an _include / _revinclude value into inc. */
static int qp_include_spec(struct qp *p, search_include *inc)
{
	search_query *q = p->q;
	const char *s = p->val, *e = p->val + p->vallen, *c1, *c2, *ps;
	char qc[VALID_QUOTE_BUF];
	size_t pn;
	int rc = 0;

	if (qp_eq(s, p->vallen, "*")) {
		inc->src_type = inc->rev ? NULL : q->rtype;
		goto out;
	}
	c1 = memchr(s, ':', p->vallen);
	if (!c1) {
		rc = qp_bad(p, ERR_INVALID, "takes Type:parameter[:targetType], not", s, p->vallen);
		goto out;
	}
	c2 = memchr(c1 + 1, ':', (size_t)(e - c1 - 1));
	ps = c1 + 1;
	pn = (size_t)((c2 ? c2 : e) - ps);
	inc->src_type = qp_type_known(s, (size_t)(c1 - s));
	if (!inc->src_type) {
		rc = qp_bad(p, ERR_INVALID, "unknown resource type", s, (size_t)(c1 - s));
		goto out;
	}
	if (!inc->rev && !inc->iterate && q->rtype && strcmp(inc->src_type, q->rtype) != 0) {
		rc = qp_bad(p, ERR_INVALID, "without :iterate, _include names the searched type, not", s,
			    (size_t)(c1 - s));
		goto out;
	}
	if (!qp_eq(ps, pn, "*")) {
		inc->param = qp_param(inc->src_type, ps, pn);
		qp_quote(ps, pn, qc);
		if (!inc->param || !qp_searchable(inc->param))
			rc = qp_unsup(p, "no parameter \"%s\" on %s", qc, inc->src_type);
		else if (inc->param->type != SEARCH_T_REFERENCE)
			rc = qp_bad(p, ERR_INVALID, "not a reference parameter:", ps, pn);
		if (rc)
			goto out;
	}
	if (!c2)
		goto out;
	inc->target = qp_type_known(c2 + 1, (size_t)(e - c2 - 1));
	if (!inc->target)
		rc = qp_bad(p, ERR_INVALID, "unknown target type", c2 + 1, (size_t)(e - c2 - 1));
	else if (inc->param && !qp_targets_has(inc->param, inc->target))
		rc = qp_bad(p, ERR_INVALID, "not a target type of the parameter:", c2 + 1, (size_t)(e - c2 - 1));
out:
	return rc;
}

/* _include / _revinclude (search.html#include): Type:param[:target], or
 * "*" / Type:* for every reference parameter. mods: the name's modifier. */
static int qp_include(struct qp *p, int rev, const char *mods, size_t modn)
{
	search_query *q = p->q;
	search_include inc = { 0 };
	search_include *arr;
	char qm[VALID_QUOTE_BUF];
	int rc = 0;

	inc.rev = rev;
	/* :recurse is R3's name for R4's :iterate */
	if (mods && !qp_eq(mods, modn, "iterate") && !qp_eq(mods, modn, "recurse")) {
		qp_quote(mods, modn, qm);
		rc = qp_unsup(p, "unsupported modifier \":%s\"", qm);
		goto out;
	}
	inc.iterate = mods != NULL;
	if (q->ninc >= p->lim->max_includes) {
		rc = qp_fail(p, ERR_INVALID, "more than %u _include and _revinclude parameters (search_max_includes)",
			     p->lim->max_includes);
		goto out;
	}
	if ((rc = qp_include_spec(p, &inc)))
		goto out;
	arr = qp_grow(p->a, q->inc, q->ninc, &p->inc_cap, sizeof *q->inc);
	if (!arr) {
		rc = qp_nomem(p);
		goto out;
	}
	q->inc = arr;
	q->inc[q->ninc++] = inc;
out:
	return rc;
}

/* Appends (name, val) to self. */
static int qp_self_add(struct qp *p, const char *name, const char *val)
{
	struct qp_self *arr = qp_grow(p->a, p->self, p->nself, &p->self_cap, sizeof *p->self);
	int rc = 0;

	if (!arr) {
		rc = qp_nomem(p);
		goto out;
	}
	p->self = arr;
	p->self[p->nself].name = name;
	p->self[p->nself].val = val;
	p->nself++;
out:
	return rc;
}

/* One of the keywords of _total / _summary: its index in words, or
 * ERR_INVALID listing them. */
static int qp_keyword(struct qp *p, const char *const *words, const char *msg, int *out)
{
	int i, rc = 0;

	for (i = 0; words[i] && !qp_eq(p->val, p->vallen, words[i]); i++)
		;
	if (words[i])
		*out = i;
	else
		rc = qp_bad(p, ERR_INVALID, msg, p->val, p->vallen);
	return rc;
}

/* A result parameter (search.html#return) other than _include /
 * _revinclude, by its name without modifier; 0 and *self when it goes
 * into self, QP_UNSUP, or an ERR_*. */
static int qp_result(struct qp *p, const char *name, size_t bl, int *self)
{
	static const char *const totals[] = { "", "none", "estimate", "accurate", NULL };
	static const char *const summaries[] = { "false", "true", "text", "data", "count", NULL };
	struct qp_sortctx sc = { 0 };
	search_query *q = p->q;
	size_t cap = 0;
	int64_t lo, hi;
	char *num;
	int rc, k;

	*self = 1;
	if (qp_eq(name, bl, "_count")) {
		if ((rc = qp_once(p, QP_ONCE_COUNT)) || (rc = qp_count(p)))
			goto out;
		/* self shows the page size used, after the cap */
		*self = 0;
		num = arena_printf(p->a, "%u", q->count);
		rc = num ? qp_self_add(p, "_count", num) : qp_nomem(p);
	} else if (qp_eq(name, bl, "_sort")) {
		*self = 0;
		if ((rc = qp_once(p, QP_ONCE_SORT)))
			goto out;
		if (!(sc.text = arena_alloc(p->a, p->vallen + 1))) {
			rc = qp_nomem(p);
			goto out;
		}
		sc.text[0] = '\0';
		if ((rc = qp_items(p, p->lim->max_clauses, qp_sort_item, &sc)))
			goto out;
		if (sc.len && (rc = qp_self_add(p, "_sort", sc.text)))
			goto out;
		rc = sc.dropped ? QP_UNSUP : 0;
	} else if (qp_eq(name, bl, "_total")) {
		if (!(rc = qp_once(p, QP_ONCE_TOTAL)) &&
		    !(rc = qp_keyword(p, totals + 1, "takes none, estimate or accurate, not", &k)))
			q->total = (enum search_total)(k + 1);
	} else if (qp_eq(name, bl, "_summary")) {
		if (!(rc = qp_once(p, QP_ONCE_SUMMARY)) &&
		    !(rc = qp_keyword(p, summaries, "takes true, text, data, count or false, not", &k)))
			q->summary = (enum search_summary)k;
	} else if (qp_eq(name, bl, "_elements")) {
		if (!(rc = qp_once(p, QP_ONCE_ELEMENTS)))
			rc = qp_items(p, p->lim->max_values, qp_elements_item, &cap);
	} else if (qp_eq(name, bl, "_cursor")) {
		*self = 0;
		if (!(rc = qp_once(p, QP_ONCE_CURSOR)))
			q->cursor = p->val;
	} else if (qp_eq(name, bl, "_type")) {
		if (q->rtype)
			rc = qp_unsup(p, "_type applies to system-level searches only");
		else if (!(rc = qp_once(p, QP_ONCE_TYPE)))
			rc = qp_items(p, p->lim->max_values, qp_type_item, &cap);
	} else {
		/* _since ($everything, history): an instant or dateTime */
		if (!(rc = qp_once(p, QP_ONCE_SINCE))) {
			if (search_date_range(p->val, &lo, &hi))
				rc = qp_bad(p, ERR_INVALID, "takes an instant, not", p->val, p->vallen);
			else
				q->since_us = lo;
		}
	}
out:
	return rc;
}

/* One parameter, decoded into p->name / p->val: 0 (handled), QP_UNSUP,
 * or an ERR_*. */
static int qp_one(struct qp *p)
{
	static const char *const results[] = {
		"_count", "_cursor", "_elements", "_since", "_sort", "_summary", "_total", "_type", NULL
	};
	const char *name = p->name, *mods = NULL, *colon;
	size_t bl = p->namelen, modn = 0;
	char qm[VALID_QUOTE_BUF];
	int rc = 0, self = 0;

	if (name[0] != '_' || (p->namelen >= 5 && memcmp(name, "_has:", 5) == 0))
		goto search;
	colon = memchr(name, ':', p->namelen);
	if (colon) {
		bl = (size_t)(colon - name);
		mods = colon + 1;
		modn = p->namelen - bl - 1;
	}
	if (qp_eq(name, bl, "_format") || qp_eq(name, bl, "_pretty")) {
		/* search.html#format, http.html#pretty: presentation, read by
		 * the REST layer; never in self, never "ignored" */
	} else if (qp_in(qp_unsupported, name, bl)) {
		rc = qp_unsup(p, "the parameter \"%.*s\" is not supported", (int)bl, name);
	} else if (qp_eq(name, bl, "_include") || qp_eq(name, bl, "_revinclude")) {
		self = !(rc = qp_include(p, name[1] == 'r', mods, modn));
	} else if (!qp_in(results, name, bl)) {
		goto search;
	} else if (mods) {
		qp_quote(mods, modn, qm);
		rc = qp_unsup(p, "the parameter \"%.*s\" takes no modifier \":%s\"", (int)bl, name, qm);
	} else {
		rc = qp_result(p, name, bl, &self);
		self = self && !rc;
	}
	goto out;
search:
	rc = qp_clause(p, &self);
out:
	if (!rc && self)
		rc = qp_self_add(p, p->name, p->val);
	return rc;
}

/* ---- self -------------------------------------------------------------- */

/* Kept as they are in self: RFC 3986 unreserved, plus ':' '/' ',' '|' '$'
 * '@' '*', which are legal in a query and carry FHIR syntax that is easier
 * to read unescaped. Everything else, including '%', '&', '=', '+', '#',
 * '\', space and non-ASCII, is %XX. */
static int qp_keep(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_' || c == '~' || c == ':' || c == '/' || c == ',' || c == '|' || c == '$' || c == '@' ||
	       c == '*';
}

/* Percent-encodes s into d (NULL: only measures); the length written. */
static size_t qp_enc(char *d, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	unsigned char c;

	for (; *s; s++) {
		c = (unsigned char)*s;
		if (qp_keep(c)) {
			if (d)
				d[n] = (char)c;
			n++;
			continue;
		}
		if (d) {
			d[n] = '%';
			d[n + 1] = hex[c >> 4];
			d[n + 2] = hex[c & 15];
		}
		n += 3;
	}
	return n;
}

/* search_query.self from the parameters kept, measured first so that it
 * is one allocation. */
static int qp_self_build(struct qp *p)
{
	size_t i, n = 1, o = 0;
	char *s;
	int rc = 0;

	for (i = 0; i < p->nself; i++)
		n += qp_enc(NULL, p->self[i].name) + 1 + qp_enc(NULL, p->self[i].val) + 1;
	s = arena_alloc(p->a, n);
	if (!s) {
		rc = qp_nomem(p);
		goto out;
	}
	for (i = 0; i < p->nself; i++) {
		if (i)
			s[o++] = '&';
		o += qp_enc(s + o, p->self[i].name);
		s[o++] = '=';
		o += qp_enc(s + o, p->self[i].val);
	}
	s[o] = '\0';
	p->q->self = s;
out:
	return rc;
}

/* ---- entry ------------------------------------------------------------- */

/* An unsupported parameter: listed (lenient) or refused (strict). The list
 * keeps at most max_clauses names; further ones are ignored unlisted, so
 * that a flood of unknown names costs no memory beyond the query itself. */
static int qp_ignore(struct qp *p)
{
	search_query *q = p->q;
	const char **arr;
	char qn[VALID_QUOTE_BUF];
	int rc = 0;

	if (p->lim->strict) {
		qp_quote(p->name, p->namelen, qn);
		rc = qp_fail(p, ERR_INVALID, "unsupported parameter \"%s\": %s", qn, p->unsup);
		goto out;
	}
	if (q->nignored >= p->lim->max_clauses)
		goto out;
	arr = qp_grow(p->a, q->ignored, q->nignored, &p->ign_cap, sizeof *q->ignored);
	if (!arr) {
		rc = qp_nomem(p);
		goto out;
	}
	q->ignored = arr;
	q->ignored[q->nignored++] = p->name;
out:
	return rc;
}

/* One decoded name=value pair into p->name / p->val. Names and values
 * are text: valid UTF-8 (the HTTP layer already refused encoded NULs). */
static int qp_pair(struct qp *p, const http_param *ps)
{
	char qn[VALID_QUOTE_BUF];

	p->name = ps->name;
	p->namelen = strlen(ps->name);
	p->val = ps->value;
	p->vallen = strlen(ps->value);
	if (!valid_utf8(p->name, p->namelen)) {
		qp_quote(p->name, p->namelen, qn);
		return qp_fail(p, ERR_INVALID, "non-UTF-8 text in parameter name \"%s\"", qn);
	}
	if (!valid_utf8(p->val, p->vallen))
		return qp_bad(p, ERR_INVALID, "non-UTF-8 text in the value", NULL, 0);
	return 0;
}

int search_query_parse_params(arena_t *a, const char *rtype, const http_param *params, size_t n,
			      const search_limits *lim, search_query *out, char *why, size_t whylen)
{
	struct qp p;
	size_t nodes0;
	int rc = 0;

	memset(out, 0, sizeof *out);
	memset(&p, 0, sizeof p);
	p.a = a;
	p.lim = lim;
	p.q = out;
	p.why = why;
	p.whylen = whylen;
	if (why && whylen)
		why[0] = '\0';
	/* the table's own spelling of the type: static, and comparable */
	if (rtype && qp_type_known(rtype, strlen(rtype)))
		rtype = qp_type_known(rtype, strlen(rtype));
	out->rtype = rtype;
	out->count = lim->count_default < lim->count_max ? lim->count_default : lim->count_max;
	out->since_us = INT64_MIN;
	out->self = "";
	for (size_t i = 0; i < n; i++) {
		/* "If the value is empty, the parameter is ignored"
		 * (search.html#search); so is a name with no '=' at all. */
		if (!*params[i].value)
			continue;
		if ((rc = qp_pair(&p, &params[i])))
			goto out;
		p.unsup[0] = '\0';
		nodes0 = p.nodes;
		rc = qp_one(&p);
		if (rc == QP_UNSUP) {
			p.nodes = nodes0;
			rc = qp_ignore(&p);
		}
		if (rc)
			goto out;
	}
	if (p.count_zero)
		out->summary = SEARCH_SUMMARY_COUNT;
	if ((rc = qp_self_build(&p)))
		goto out;
	if (why && whylen)
		why[0] = '\0';
out:
	return rc;
}

int search_query_parse(arena_t *a, const char *rtype, const char *qs, size_t len, const search_limits *lim,
		       search_query *out, char *why, size_t whylen)
{
	http_param *ps = NULL;
	size_t n = 0, amps = 1;
	int rc;

	memset(out, 0, sizeof *out);
	if (why && whylen)
		why[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (qs[i] == '\0') {
			if (why && whylen)
				snprintf(why, whylen, "the query contains a NUL byte");
			return ERR_INVALID;
		}
		amps += qs[i] == '&';
	}
	/* application/x-www-form-urlencoded, decoded by the HTTP layer's own
	 * parser; its only ERR_TOOBIG here is the arena's cap */
	rc = len ? http_query_parse(a, qs, len, amps, &ps, &n) : 0;
	if (rc) {
		if (why && whylen)
			snprintf(why, whylen, rc == ERR_INVALID ? "invalid percent-encoding or an encoded NUL in the query"
								: "the query needs more memory than one request may use");
		return rc == ERR_INVALID ? rc : ERR_NOMEM;
	}
	return search_query_parse_params(a, rtype, ps, n, lim, out, why, whylen);
}
