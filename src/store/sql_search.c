/*
 * sql_search.c - compiles a search plan (search/query.h) to SQL for either
 * backend (the dialects: sql_search.h). The backend prepares the text,
 * binds the values in order and runs it.
 *
 * The SQL text is assembled only from fixed fragments in this file; every
 * value from the request is a bound parameter. The shape of a query:
 *
 *   SELECT <version columns>, <sort keys>
 *   FROM [(<driver>) d CROSS JOIN] current c0 [ON c0.seq = d.seq]
 *        CROSS JOIN version v ON v.seq = c0.seq
 *   WHERE c0.type = ? AND c0.deleted = 0 AND <filters> AND <keyset>
 *   ORDER BY <sort keys>, c0.type, c0.id LIMIT ?
 *
 * The driver is one clause turned into the set of matching seqs, read
 * from the (p, value, seq) key of an index table; CROSS JOIN makes SQLite
 * start from it rather than from the resource table (PostgreSQL gets a
 * plain JOIN and picks the order itself). Every other clause is a filter:
 * an EXISTS probe through the (seq, p) index of its table, a few rows per
 * resource. Without a selective driver (or when the default sort can be
 * served by walking current in (type, id) order), current is scanned in
 * key order and LIMIT stops the scan after one page. Which driver to use
 * is the backend's choice (sqlite_search.c probes; pg_search.c lets the
 * planner choose): the set of rows and their order do not depend on it.
 *
 * The index tables hold the rows of current, live versions only (the
 * write that replaces or deletes a version drops its rows), so a filter's
 * rows need no check against current of their own; current is joined for
 * the resource's type, id and order.
 */
#include "sql_search.h"

#include "core/err.h"
#include "search/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SQS_UNION_MAX 32 /* OR values driven by one UNION arm each */
#define SQS_PG_MAX_PARAMS 65535 /* the protocol's limit on bound values of one statement */

void sqs_init(struct sqs *x, enum sqs_dialect d, const search_query *q, const char *confine)
{
	memset(x, 0, sizeof *x);
	x->dialect = d;
	x->q = q;
	x->confine = confine;
	buf_init(&x->sql, SQS_SQL_MAX);
}

void sqs_fini(struct sqs *x)
{
	buf_fini(&x->sql);
	free(x->b);
	for (size_t i = 0; i < x->nown; i++)
		free(x->own[i]);
	free(x->own);
	x->b = NULL;
	x->own = NULL;
	x->nb = x->cap = x->nown = x->capown = 0;
}

int sqs_end(struct sqs *x)
{
	if (x->err)
		return x->err;
	if (buf_append_char(&x->sql, '\0'))
		x->err = ERR_TOOBIG;
	return x->err;
}

void sqs_add(struct sqs *x, const char *s)
{
	if (!x->err && buf_append_str(&x->sql, s))
		x->err = ERR_TOOBIG;
}

void sqs_true(struct sqs *x)
{
	sqs_add(x, x->dialect == SQS_PG ? "TRUE" : "1");
}

void sqs_false(struct sqs *x)
{
	sqs_add(x, x->dialect == SQS_PG ? "FALSE" : "0");
}

void sqs_join(struct sqs *x)
{
	sqs_add(x, x->dialect == SQS_PG ? " JOIN " : " CROSS JOIN ");
}

/* A new bound value of kind k and its placeholder: "?" for SQLite;
 * "$n::type" for PostgreSQL, numbered in order of appearance (the bind
 * list's order) and cast so that the server knows each type when the
 * statement is prepared without a type list. */
static struct sqs_bind *sqs_bind_new(struct sqs *x, enum sqs_bind_kind k)
{
	struct sqs_bind *b;

	if (x->err)
		return NULL;
	if (x->dialect == SQS_PG && x->nb >= SQS_PG_MAX_PARAMS) {
		x->err = ERR_TOOBIG;
		return NULL;
	}
	if (x->nb == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 32;
		struct sqs_bind *nb = realloc(x->b, nc * sizeof *nb);
		if (!nb) {
			x->err = ERR_NOMEM;
			return NULL;
		}
		x->b = nb;
		x->cap = nc;
	}
	if (x->dialect == SQS_PG) {
		if (buf_printf(&x->sql, "$%zu::%s", x->nb + 1,
			       k == SQS_B_INT ? "bigint" : k == SQS_B_REAL ? "float8" : "text")) {
			x->err = ERR_TOOBIG;
			return NULL;
		}
	} else {
		sqs_add(x, "?");
	}
	if (x->err)
		return NULL;
	b = &x->b[x->nb++];
	memset(b, 0, sizeof *b);
	b->kind = k;
	return b;
}

void sqs_int(struct sqs *x, int64_t v)
{
	struct sqs_bind *b = sqs_bind_new(x, SQS_B_INT);
	if (b)
		b->i = v;
}

void sqs_real(struct sqs *x, double v)
{
	struct sqs_bind *b = sqs_bind_new(x, SQS_B_REAL);
	if (b)
		b->d = v;
}

void sqs_text(struct sqs *x, const char *s)
{
	struct sqs_bind *b = sqs_bind_new(x, SQS_B_TEXT);
	if (b) {
		b->s = s ? s : "";
		b->len = strlen(b->s);
	}
}

/* Keeps u (malloc'd) until sqs_fini, or frees it and fails. */
static int sqs_own(struct sqs *x, char *u)
{
	if (x->nown == x->capown) {
		size_t nc = x->capown ? x->capown * 2 : 8;
		char **no = realloc(x->own, nc * sizeof *no);
		if (!no) {
			free(u);
			x->err = ERR_NOMEM;
			return x->err;
		}
		x->own = no;
		x->capown = nc;
	}
	x->own[x->nown++] = u;
	return 0;
}

/* The smallest valid UTF-8 string above every string that starts with s
 * (s valid UTF-8: the query parser checks it), in code point order, which
 * is the byte order of UTF-8 and so the order of COLLATE "C": s with its
 * last code point replaced by the next one, dropping trailing U+10FFFF
 * (there is no next one) first. *len 0 and a NULL result when there is no
 * such string (s empty or only U+10FFFF): then "t >= s" alone already
 * means "t starts with s". Surrogates are not code points of UTF-8 text:
 * after U+D7FF comes U+E000. */
static char *sqs_utf8_successor(const char *s, size_t n, int *none)
{
	char *u = malloc(n + 1);
	size_t end = n;

	*none = 0;
	if (!u)
		return NULL;
	memcpy(u, s, n);
	while (end > 0) {
		size_t st = end - 1;
		uint32_t cp;
		size_t cl;
		while (st > 0 && ((unsigned char)u[st] & 0xC0) == 0x80)
			st--;
		cl = end - st;
		{
			const unsigned char *c = (const unsigned char *)u + st;
			cp = cl == 1   ? c[0]
			     : cl == 2 ? (uint32_t)(c[0] & 0x1F) << 6 | (c[1] & 0x3F)
			     : cl == 3 ? (uint32_t)(c[0] & 0x0F) << 12 | (uint32_t)(c[1] & 0x3F) << 6 | (c[2] & 0x3F)
				       : (uint32_t)(c[0] & 0x07) << 18 | (uint32_t)(c[1] & 0x3F) << 12 |
						 (uint32_t)(c[2] & 0x3F) << 6 | (c[3] & 0x3F);
		}
		if (cp >= 0x10FFFF) {
			end = st; /* no next code point here: carry into the one before */
			continue;
		}
		cp = cp == 0xD7FF ? 0xE000 : cp + 1;
		/* the next code point may need one byte more (0x7F -> 0x80 ...):
		 * room for 4 bytes past st */
		{
			char *w = realloc(u, st + 5);
			unsigned char *o;
			if (!w) {
				free(u);
				return NULL;
			}
			u = w;
			o = (unsigned char *)u + st;
			if (cp < 0x80) {
				o[0] = (unsigned char)cp;
				end = st + 1;
			} else if (cp < 0x800) {
				o[0] = (unsigned char)(0xC0 | cp >> 6);
				o[1] = (unsigned char)(0x80 | (cp & 0x3F));
				end = st + 2;
			} else if (cp < 0x10000) {
				o[0] = (unsigned char)(0xE0 | cp >> 12);
				o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
				o[2] = (unsigned char)(0x80 | (cp & 0x3F));
				end = st + 3;
			} else {
				o[0] = (unsigned char)(0xF0 | cp >> 18);
				o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
				o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
				o[3] = (unsigned char)(0x80 | (cp & 0x3F));
				end = st + 4;
			}
			u[end] = '\0';
			return u;
		}
	}
	free(u);
	*none = 1;
	return NULL;
}

/* "(col >= s AND col < upper)": col starts with s. The upper bound is
 * exclusive and bound like s. SQLite compares text with memcmp (BINARY),
 * and s + byte 0xFF is above every string starting with s while no UTF-8
 * string that does not start with s lies in between (0xFF never occurs in
 * UTF-8). PostgreSQL text must be valid UTF-8, so it gets the successor
 * string of sqs_utf8_successor(), which bounds exactly the same set under
 * COLLATE "C". */
static void sqs_prefix(struct sqs *x, const char *col, const char *s)
{
	size_t n;
	char *u;
	struct sqs_bind *b;
	int none = 0;

	s = s ? s : "";
	n = strlen(s);
	sqs_add(x, "("), sqs_add(x, col), sqs_add(x, " >= "), sqs_text(x, s);
	if (x->err)
		return;
	if (x->dialect == SQS_PG) {
		u = sqs_utf8_successor(s, n, &none);
		if (none) {
			sqs_add(x, ")");
			return;
		}
		if (!u) {
			x->err = ERR_NOMEM;
			return;
		}
	} else {
		u = malloc(n + 2);
		if (!u) {
			x->err = ERR_NOMEM;
			return;
		}
		memcpy(u, s, n);
		u[n] = (char)0xFF;
		u[n + 1] = '\0';
	}
	if (sqs_own(x, u))
		return;
	sqs_add(x, " AND "), sqs_add(x, col), sqs_add(x, " < ");
	b = sqs_bind_new(x, SQS_B_TEXT);
	if (b) {
		b->s = u;
		b->len = strlen(u);
	}
	sqs_add(x, ")");
}

/* ---- what a parameter's values look like in SQL ----------------------- */

/* The index table of a parameter type (by row kind). */
static const char *sqs_table(enum search_type t, enum search_mod m)
{
	if (m == SEARCH_MOD_TEXT)
		return "ix_str";
	if (m == SEARCH_MOD_OF_TYPE || m == SEARCH_MOD_IDENTIFIER)
		return "ix_tok";
	switch (t) {
	case SEARCH_T_TOKEN:
		return "ix_tok";
	case SEARCH_T_STRING:
		return "ix_str";
	case SEARCH_T_REFERENCE:
		return "ix_ref";
	case SEARCH_T_DATE:
		return "ix_date";
	case SEARCH_T_NUMBER:
	case SEARCH_T_QUANTITY:
		return "ix_num";
	case SEARCH_T_URI:
		return "ix_uri";
	case SEARCH_T_COMPOSITE:
		return "ix_comp";
	default:
		return NULL;
	}
}

/* The p value rows of (param, modifier) carry. */
static int64_t sqs_pid(const search_param *p, enum search_mod m)
{
	uint32_t id = search_param_id(p);
	if (m == SEARCH_MOD_TEXT)
		return SQS_P_TEXT(id);
	if (m == SEARCH_MOD_OF_TYPE)
		return SQS_P_OFTYPE(id);
	if (m == SEARCH_MOD_IDENTIFIER)
		return SQS_P_REFID(id);
	return id;
}

/* "x.p = ?" or, at system level, "x.p IN (?, ...)" over every type
 * searched (a Resource-level parameter has one row per type). */
static void sqs_p(struct sqs *x, const char *alias, const search_param *p, enum search_mod m)
{
	const search_query *q = x->q;

	sqs_add(x, alias);
	if (q->rtype) {
		sqs_add(x, ".p = ");
		sqs_int(x, sqs_pid(p, m));
		return;
	}
	/* system level */
	sqs_add(x, ".p IN (");
	{
		int first = 1;
		if (q->ntypes) {
			for (size_t i = 0; i < q->ntypes; i++) {
				const search_param *tp = search_param_find(q->types[i], p->code);
				if (!tp)
					continue;
				if (!first)
					sqs_add(x, ", ");
				sqs_int(x, sqs_pid(tp, m));
				first = 0;
			}
		} else {
			for (size_t i = 0; i < search_nparams; i++) {
				if (strcmp(search_params[i].code, p->code) != 0)
					continue;
				if (!first)
					sqs_add(x, ", ");
				sqs_int(x, sqs_pid(&search_params[i], m));
				first = 0;
			}
		}
		if (first)
			sqs_add(x, "-1");
	}
	sqs_add(x, ")");
}

/* Token-shaped match on alias (sys / code columns). */
static void sqs_token_match(struct sqs *x, const char *a, const char *sys, const char *code, const char *syscol,
			    const char *codecol)
{
	int any = 0;
	sqs_add(x, "(");
	if (code) {
		sqs_add(x, a);
		sqs_add(x, ".");
		sqs_add(x, codecol);
		sqs_add(x, " = ");
		sqs_text(x, code);
		any = 1;
	}
	if (sys) {
		if (any)
			sqs_add(x, " AND ");
		sqs_add(x, a);
		sqs_add(x, ".");
		sqs_add(x, syscol);
		sqs_add(x, " = ");
		sqs_text(x, sys);
		any = 1;
	}
	if (!any)
		sqs_true(x);
	sqs_add(x, ")");
}

/* search.html#prefix for dates: the target range [lo, hi] against the
 * search range [qlo, qhi] (both inclusive, µs). */
static void sqs_date_match(struct sqs *x, const char *a, const char *locol, const char *hicol, const search_value *v)
{
	char lo[48], hi[48];
	snprintf(lo, sizeof lo, "%s.%s", a, locol);
	snprintf(hi, sizeof hi, "%s.%s", a, hicol);

#define LO sqs_add(x, lo)
#define HI sqs_add(x, hi)
	sqs_add(x, "(");
	switch (v->prefix) {
	case SEARCH_PFX_EQ:
		LO, sqs_add(x, " >= "), sqs_int(x, v->lo), sqs_add(x, " AND "), HI, sqs_add(x, " <= "), sqs_int(x, v->hi);
		break;
	case SEARCH_PFX_NE:
		LO, sqs_add(x, " < "), sqs_int(x, v->lo), sqs_add(x, " OR "), HI, sqs_add(x, " > "), sqs_int(x, v->hi);
		break;
	case SEARCH_PFX_GT:
		HI, sqs_add(x, " > "), sqs_int(x, v->hi);
		break;
	case SEARCH_PFX_LT:
		LO, sqs_add(x, " < "), sqs_int(x, v->lo);
		break;
	case SEARCH_PFX_GE:
		/* above the search range, or within it */
		HI, sqs_add(x, " > "), sqs_int(x, v->hi), sqs_add(x, " OR ("), LO, sqs_add(x, " >= "),
			sqs_int(x, v->lo), sqs_add(x, " AND "), HI, sqs_add(x, " <= "), sqs_int(x, v->hi),
			sqs_add(x, ")");
		break;
	case SEARCH_PFX_LE:
		LO, sqs_add(x, " < "), sqs_int(x, v->lo), sqs_add(x, " OR ("), LO, sqs_add(x, " >= "),
			sqs_int(x, v->lo), sqs_add(x, " AND "), HI, sqs_add(x, " <= "), sqs_int(x, v->hi),
			sqs_add(x, ")");
		break;
	case SEARCH_PFX_SA:
		LO, sqs_add(x, " > "), sqs_int(x, v->hi);
		break;
	case SEARCH_PFX_EB:
		HI, sqs_add(x, " < "), sqs_int(x, v->lo);
		break;
	case SEARCH_PFX_AP: {
		/* "approximately": we take 10% of the distance from now, at
		 * least one day, either side (search.html leaves the margin to
		 * the server) */
		int64_t now = (int64_t)time(NULL) * 1000000;
		double dist = fabs((double)now - (double)v->lo) * 0.1;
		int64_t m = dist < 86400e6 ? (int64_t)86400e6 : dist > 9e18 ? (int64_t)9e18 : (int64_t)dist;
		int64_t qlo = v->lo > INT64_MIN + m ? v->lo - m : INT64_MIN;
		int64_t qhi = v->hi < INT64_MAX - m ? v->hi + m : INT64_MAX;
		LO, sqs_add(x, " <= "), sqs_int(x, qhi), sqs_add(x, " AND "), HI, sqs_add(x, " >= "), sqs_int(x, qlo);
		break;
	}
	}
	sqs_add(x, ")");
#undef LO
#undef HI
}

/* search.html#number / #quantity: eq/ne/ap use the implicit range of the
 * precision written; gt/lt/ge/le (and sa/eb) compare with the value. */
static void sqs_num_match(struct sqs *x, const char *a, const char *col, const search_value *v)
{
	char c[48];
	snprintf(c, sizeof c, "%s.%s", a, col);
	sqs_add(x, "(");
	switch (v->prefix) {
	case SEARCH_PFX_EQ:
		sqs_add(x, c), sqs_add(x, " >= "), sqs_real(x, v->nlo), sqs_add(x, " AND "), sqs_add(x, c),
			sqs_add(x, " < "), sqs_real(x, v->nhi);
		break;
	case SEARCH_PFX_NE:
		sqs_add(x, c), sqs_add(x, " < "), sqs_real(x, v->nlo), sqs_add(x, " OR "), sqs_add(x, c),
			sqs_add(x, " >= "), sqs_real(x, v->nhi);
		break;
	case SEARCH_PFX_GT:
	case SEARCH_PFX_SA:
		sqs_add(x, c), sqs_add(x, " > "), sqs_real(x, v->num);
		break;
	case SEARCH_PFX_LT:
	case SEARCH_PFX_EB:
		sqs_add(x, c), sqs_add(x, " < "), sqs_real(x, v->num);
		break;
	case SEARCH_PFX_GE:
		sqs_add(x, c), sqs_add(x, " >= "), sqs_real(x, v->num);
		break;
	case SEARCH_PFX_LE:
		sqs_add(x, c), sqs_add(x, " <= "), sqs_real(x, v->num);
		break;
	case SEARCH_PFX_AP: {
		double m = fabs(v->num) * 0.1;
		sqs_add(x, c), sqs_add(x, " >= "), sqs_real(x, v->num - m), sqs_add(x, " AND "), sqs_add(x, c),
			sqs_add(x, " <= "), sqs_real(x, v->num + m);
		break;
	}
	}
	sqs_add(x, ")");
}

/* The target type a reference value means: as written, or, for a bare id
 * on a parameter that can only point at one type, that type (so the
 * lookup uses the whole (p, tid, tt) key). */
const char *sqs_ref_type(const search_param *p, const search_value *v)
{
	if (v->sys)
		return v->sys;
	if (p->targets && p->targets[0] && !p->targets[1])
		return p->targets[0];
	return NULL;
}

/* 1 when the driver of cl yields every seq once: one value that fixes the
 * whole key prefix before seq, so the table's key makes it unique. */
static int sqs_driver_unique(const search_clause *cl)
{
	const search_value *v = cl->nv == 1 ? &cl->v[0] : NULL;
	if (!v || cl->mod != SEARCH_MOD_NONE || !cl->param)
		return 0;
	if (cl->param->type == SEARCH_T_REFERENCE)
		return sqs_ref_type(cl->param, v) != NULL && v->code != NULL;
	if (cl->param->type == SEARCH_T_TOKEN)
		return v->sys != NULL && v->code != NULL;
	return 0;
}

/* One value of a (non-chain, non-missing) clause as a condition on the
 * index row alias a. */
static void sqs_value(struct sqs *x, const char *a, const search_param *p, enum search_mod m, const search_value *v)
{
	char col[64];

	if (m == SEARCH_MOD_TEXT) {
		snprintf(col, sizeof col, "%s.norm", a);
		sqs_prefix(x, col, v->str);
		return;
	}
	if (m == SEARCH_MOD_OF_TYPE || m == SEARCH_MOD_IDENTIFIER) {
		sqs_token_match(x, a, v->sys, v->code, "sys", "code");
		return;
	}
	switch (p->type) {
	case SEARCH_T_TOKEN:
		sqs_token_match(x, a, v->sys, v->code, "sys", "code");
		break;
	case SEARCH_T_REFERENCE:
		sqs_token_match(x, a, sqs_ref_type(p, v), v->code, "tt", "tid");
		break;
	case SEARCH_T_STRING:
		snprintf(col, sizeof col, "%s.norm", a);
		if (m == SEARCH_MOD_EXACT) {
			sqs_add(x, "("), sqs_add(x, a), sqs_add(x, ".exact = "), sqs_text(x, v->str), sqs_add(x, ")");
		} else if (m == SEARCH_MOD_CONTAINS) {
			/* both search the UTF-8 bytes of col for those of the value */
			sqs_add(x, x->dialect == SQS_PG ? "(strpos(" : "(instr("), sqs_add(x, col), sqs_add(x, ", "),
				sqs_text(x, v->str), sqs_add(x, ") > 0)");
		} else {
			sqs_prefix(x, col, v->str);
		}
		break;
	case SEARCH_T_URI:
		snprintf(col, sizeof col, "%s.uri", a);
		if (m == SEARCH_MOD_BELOW) {
			sqs_prefix(x, col, v->str);
		} else if (m == SEARCH_MOD_ABOVE) {
			/* the stored uri is a prefix of the value */
			sqs_add(x, "(substr("), sqs_text(x, v->str), sqs_add(x, ", 1, length("), sqs_add(x, col),
				sqs_add(x, ")) = "), sqs_add(x, col), sqs_add(x, ")");
		} else {
			sqs_add(x, "("), sqs_add(x, col), sqs_add(x, " = "), sqs_text(x, v->str), sqs_add(x, ")");
		}
		break;
	case SEARCH_T_DATE:
		sqs_date_match(x, a, "lo", "hi", v);
		break;
	case SEARCH_T_NUMBER:
		sqs_num_match(x, a, "num", v);
		break;
	case SEARCH_T_QUANTITY:
		sqs_add(x, "(");
		sqs_num_match(x, a, "num", v);
		sqs_add(x, " AND ");
		sqs_token_match(x, a, v->sys, v->code, "sys", "code");
		sqs_add(x, ")");
		break;
	case SEARCH_T_COMPOSITE: {
		const search_value *c1 = v->ncomp > 0 ? &v->comp[0] : NULL, *c2 = v->ncomp > 1 ? &v->comp[1] : NULL;
		sqs_add(x, "(");
		if (c1)
			sqs_token_match(x, a, c1->sys, c1->code, "sys", "code");
		else
			sqs_true(x);
		if (c2 && p->ncomps > 1) {
			sqs_add(x, " AND ");
			switch (p->comps[1].type) {
			case SEARCH_T_TOKEN:
			case SEARCH_T_REFERENCE:
				sqs_token_match(x, a, c2->sys, c2->code, "sys2", "code2");
				break;
			case SEARCH_T_QUANTITY:
				sqs_add(x, "(");
				sqs_num_match(x, a, "num", c2);
				sqs_add(x, " AND ");
				sqs_token_match(x, a, c2->sys, c2->code, "sys2", "code2");
				sqs_add(x, ")");
				break;
			case SEARCH_T_NUMBER:
				sqs_num_match(x, a, "num", c2);
				break;
			case SEARCH_T_DATE:
				sqs_date_match(x, a, "lo", "hi", c2);
				break;
			case SEARCH_T_STRING:
				snprintf(col, sizeof col, "%s.str", a);
				sqs_prefix(x, col, c2->str);
				break;
			default:
				sqs_false(x);
			}
		}
		sqs_add(x, ")");
		break;
	}
	default:
		sqs_false(x);
	}
}

/* ---- clauses -------------------------------------------------------- */

static int sqs_set(struct sqs *x, int level, const char *type, const search_clause *cl, size_t n,
		   const char *what);

/* 1 when the clause is on _id or _lastUpdated: answered from current /
 * version columns, not from an index table. */
static int sqs_is_id(const search_clause *cl)
{
	return cl->param && !strcmp(cl->param->code, "_id");
}
static int sqs_is_lu(const search_clause *cl)
{
	return cl->param && !strcmp(cl->param->code, "_lastUpdated");
}

/* A chain (cl->param a reference, cl->chain the clause(s) on the target
 * type) as "the seqs whose reference points at a match":
 *   SELECT r.seq FROM ix_ref r WHERE r.p = ? AND r.tt = ? AND r.tid IN
 *     (SELECT cN.id FROM ... matches of the inner clause on the type ...) */
static void sqs_chain_seqs(struct sqs *x, int level, const search_clause *cl)
{
	char a[16];
	int first = 1;

	snprintf(a, sizeof a, "r%d", level);
	for (const search_clause *alt = cl->chain; alt; alt = alt->alt) {
		const char *tt = alt->mod_type ? alt->mod_type : alt->param ? alt->param->rtype : alt->has_type;
		if (!first)
			sqs_add(x, " UNION ");
		first = 0;
		sqs_add(x, "SELECT DISTINCT "), sqs_add(x, a), sqs_add(x, ".seq FROM ix_ref "), sqs_add(x, a),
			sqs_add(x, " WHERE ");
		sqs_p(x, a, cl->param, SEARCH_MOD_NONE);
		sqs_add(x, " AND "), sqs_add(x, a), sqs_add(x, ".tt = "), sqs_text(x, tt);
		sqs_add(x, " AND "), sqs_add(x, a), sqs_add(x, ".tid IN (");
		sqs_set(x, level + 1, tt, alt, 1, "id");
		sqs_add(x, ")");
	}
	if (first)
		sqs_add(x, x->dialect == SQS_PG ? "SELECT NULL::bigint WHERE FALSE" : "SELECT NULL WHERE 0");
}

/* _has:T:ref:... as "the ids referred to by a T (through ref) that matches
 * the inner clause": SELECT r.tid FROM ix_ref r WHERE r.p = ? AND r.tt = ?
 * AND r.seq IN (matches of the inner clause on T). */
static void sqs_has_ids(struct sqs *x, int level, const char *type, const search_clause *cl)
{
	char a[16];
	snprintf(a, sizeof a, "h%d", level);
	sqs_add(x, "SELECT "), sqs_add(x, a), sqs_add(x, ".tid FROM ix_ref "), sqs_add(x, a), sqs_add(x, " WHERE "),
		sqs_add(x, a), sqs_add(x, ".seq IN (");
	sqs_set(x, level + 1, cl->has_type, cl->chain, 1, "seq");
	sqs_add(x, ") AND "), sqs_add(x, a), sqs_add(x, ".p = "), sqs_int(x, search_param_id(cl->has_ref));
	sqs_add(x, " AND "), sqs_add(x, a), sqs_add(x, ".tt = "), sqs_text(x, type);
}

/* The separator before OR-ed value i: values go in groups of 32 inside
 * parentheses, "(a OR b ...) OR (c OR ...)", so that SQLite's expression
 * depth limit (1000, counting each OR) is never reached by a long list of
 * values (search_max_values allows 1000 and more). The caller opens with
 * "(" and closes with ")" around the whole list. */
static void sqs_or(struct sqs *x, size_t i)
{
	if (i == 0)
		return;
	sqs_add(x, i % 32 == 0 ? ") OR (" : " OR ");
}

/* A clause as a boolean condition on the resource row alias c (cN). */
void sqs_filter(struct sqs *x, int level, const char *type, const search_clause *cl)
{
	char c[16], a[16];
	const char *tab;

	snprintf(c, sizeof c, "c%d", level);
	snprintf(a, sizeof a, "x%d", level);
	if (cl->has_type) {
		sqs_add(x, "("), sqs_add(x, c), sqs_add(x, ".id IN (");
		sqs_has_ids(x, level, type, cl);
		sqs_add(x, "))");
		return;
	}
	if (cl->chain) {
		sqs_add(x, "("), sqs_add(x, c), sqs_add(x, ".seq IN (");
		sqs_chain_seqs(x, level, cl);
		sqs_add(x, "))");
		return;
	}
	if (sqs_is_id(cl) && cl->mod != SEARCH_MOD_MISSING) {
		sqs_add(x, "("), sqs_add(x, c), sqs_add(x, cl->mod == SEARCH_MOD_NOT ? ".id NOT IN (" : ".id IN (");
		for (size_t i = 0; i < cl->nv; i++) {
			if (i)
				sqs_add(x, ", ");
			sqs_text(x, cl->v[i].code ? cl->v[i].code : "");
		}
		sqs_add(x, "))");
		return;
	}
	if (sqs_is_lu(cl) && cl->mod != SEARCH_MOD_MISSING) {
		char vv[16];
		snprintf(vv, sizeof vv, "v%d", level);
		/* the version row of cN: join it in a subquery (level > 0) or use v */
		sqs_add(x, "(EXISTS (SELECT 1 FROM version "), sqs_add(x, vv), sqs_add(x, " WHERE "), sqs_add(x, vv),
			sqs_add(x, ".seq = "), sqs_add(x, c), sqs_add(x, ".seq AND ((");
		for (size_t i = 0; i < cl->nv; i++) {
			sqs_or(x, i);
			sqs_date_match(x, vv, "updated_us", "updated_us", &cl->v[i]);
		}
		sqs_add(x, "))))");
		return;
	}
	tab = sqs_table(cl->param->type, cl->mod == SEARCH_MOD_MISSING ? SEARCH_MOD_NONE : cl->mod);
	if (!tab) {
		sqs_false(x);
		return;
	}
	if (cl->mod == SEARCH_MOD_MISSING) {
		/* :missing=true ORed with :missing=false is everything */
		int t = 0, f = 0;
		for (size_t i = 0; i < cl->nv; i++)
			cl->v[i].missing ? (t = 1) : (f = 1);
		if (t && f) {
			sqs_true(x);
			return;
		}
		if (sqs_is_id(cl) || sqs_is_lu(cl)) {
			t ? sqs_false(x) : sqs_true(x);
			return;
		}
		sqs_add(x, t ? "(NOT EXISTS (SELECT 1 FROM " : "(EXISTS (SELECT 1 FROM ");
		sqs_add(x, tab), sqs_add(x, " "), sqs_add(x, a), sqs_add(x, " WHERE "), sqs_add(x, a),
			sqs_add(x, ".seq = "), sqs_add(x, c), sqs_add(x, ".seq AND ");
		sqs_p(x, a, cl->param, SEARCH_MOD_NONE);
		sqs_add(x, "))");
		return;
	}
	sqs_add(x, cl->mod == SEARCH_MOD_NOT ? "(NOT EXISTS (SELECT 1 FROM " : "(EXISTS (SELECT 1 FROM ");
	sqs_add(x, tab), sqs_add(x, " "), sqs_add(x, a), sqs_add(x, " WHERE "), sqs_add(x, a), sqs_add(x, ".seq = "),
		sqs_add(x, c), sqs_add(x, ".seq AND ");
	sqs_p(x, a, cl->param, cl->mod == SEARCH_MOD_NOT ? SEARCH_MOD_NONE : cl->mod);
	sqs_add(x, " AND ((");
	for (size_t i = 0; i < cl->nv; i++) {
		sqs_or(x, i);
		sqs_value(x, a, cl->param, cl->mod == SEARCH_MOD_NOT ? SEARCH_MOD_NONE : cl->mod, &cl->v[i]);
	}
	if (!cl->nv)
		sqs_true(x);
	sqs_add(x, "))))");
}

void sqs_filters(struct sqs *x, int level, const char *type, const search_clause *cl, size_t n, long skip1,
		 long skip2)
{
	for (size_t i = 0; i < n; i++) {
		if ((long)i == skip1 || (long)i == skip2)
			continue; /* a driver: its rows already are this condition */
		sqs_add(x, " AND ");
		sqs_filter(x, level, type, &cl[i]);
	}
}

/* How good a clause is as a driver (lower is better); 0: not usable. A
 * driver yields seqs from the (p, value) key of its table. */
int sqs_drive_rank(const search_clause *cl)
{
	if (cl->has_type)
		return 5;
	if (cl->chain)
		return 5;
	if (!cl->param || cl->mod == SEARCH_MOD_MISSING || cl->mod == SEARCH_MOD_NOT ||
	    cl->mod == SEARCH_MOD_CONTAINS || cl->mod == SEARCH_MOD_ABOVE || !cl->nv)
		return 0;
	if (sqs_is_id(cl))
		return 1;
	if (sqs_is_lu(cl))
		return 0;
	if (cl->mod == SEARCH_MOD_TEXT)
		return 7;
	switch (cl->param->type) {
	case SEARCH_T_REFERENCE:
		return 2;
	case SEARCH_T_TOKEN:
		for (size_t i = 0; i < cl->nv; i++)
			if (!cl->v[i].code)
				return 0; /* "system|": no code to seek on */
		return 4;
	case SEARCH_T_URI:
		return 6;
	case SEARCH_T_STRING:
		return 7;
	case SEARCH_T_COMPOSITE:
		for (size_t i = 0; i < cl->nv; i++)
			if (!cl->v[i].ncomp || !cl->v[i].comp[0].code)
				return 0;
		return 6;
	default:
		return 0;
	}
}

/* The driver of a clause: SELECT seq ... (one SELECT per OR value, UNION
 * de-duplicates and lets each use the (p, value) key). */
static void sqs_driver(struct sqs *x, int level, const char *type, const search_clause *cl)
{
	char a[16];
	const char *tab;

	snprintf(a, sizeof a, "d%d", level);
	if (cl->has_type) {
		char c[16];
		snprintf(c, sizeof c, "e%d", level);
		sqs_add(x, "SELECT "), sqs_add(x, c), sqs_add(x, ".seq FROM current "), sqs_add(x, c),
			sqs_add(x, " WHERE "), sqs_add(x, c), sqs_add(x, ".type = "), sqs_text(x, type);
		sqs_add(x, " AND "), sqs_add(x, c), sqs_add(x, ".id IN (");
		sqs_has_ids(x, level, type, cl);
		sqs_add(x, ")");
		return;
	}
	if (cl->chain) {
		sqs_chain_seqs(x, level, cl);
		return;
	}
	if (sqs_is_id(cl)) {
		/* one IN list per type: a seek per (type, id) in current's key; at
		 * system level without _type, a look at every type */
		size_t nt = type ? 1 : x->q->ntypes;
		for (size_t t = 0; t < nt || (!nt && t == 0); t++) {
			if (t)
				sqs_add(x, " UNION ");
			sqs_add(x, "SELECT seq FROM current WHERE ");
			if (nt) {
				sqs_add(x, "type = ");
				sqs_text(x, type ? type : x->q->types[t]);
				sqs_add(x, " AND ");
			}
			sqs_add(x, "id IN (");
			for (size_t i = 0; i < cl->nv; i++) {
				if (i)
					sqs_add(x, ", ");
				sqs_text(x, cl->v[i].code ? cl->v[i].code : "");
			}
			sqs_add(x, ")");
		}
		return;
	}
	tab = sqs_table(cl->param->type, cl->mod);
	if (cl->nv > SQS_UNION_MAX) {
		/* SQLite caps compound SELECTs (500); past a few dozen values one
		 * scan of the parameter's rows is as good anyway */
		sqs_add(x, "SELECT DISTINCT "), sqs_add(x, a), sqs_add(x, ".seq FROM "), sqs_add(x, tab),
			sqs_add(x, " "), sqs_add(x, a), sqs_add(x, " WHERE ");
		sqs_p(x, a, cl->param, cl->mod);
		sqs_add(x, " AND ((");
		for (size_t i = 0; i < cl->nv; i++) {
			sqs_or(x, i);
			sqs_value(x, a, cl->param, cl->mod, &cl->v[i]);
		}
		sqs_add(x, "))");
		return;
	}
	for (size_t i = 0; i < cl->nv; i++) {
		if (i)
			sqs_add(x, " UNION ");
		sqs_add(x, sqs_driver_unique(cl) ? "SELECT " : "SELECT DISTINCT "), sqs_add(x, a),
			sqs_add(x, ".seq FROM "), sqs_add(x, tab), sqs_add(x, " "), sqs_add(x, a), sqs_add(x, " WHERE ");
		sqs_p(x, a, cl->param, cl->mod);
		sqs_add(x, " AND ");
		sqs_value(x, a, cl->param, cl->mod, &cl->v[i]);
	}
}

/* The matches of clauses cl[0..n) on type as "SELECT cN.<what> FROM ...",
 * used for the inner side of chains and _has (no paging, no order). */
static int sqs_set(struct sqs *x, int level, const char *type, const search_clause *cl, size_t n,
		   const char *what)
{
	char c[16];
	size_t drv = n;
	int best = 0;

	snprintf(c, sizeof c, "c%d", level);
	if (level > 12) {
		x->err = ERR_INVALID;
		return x->err;
	}
	for (size_t i = 0; i < n; i++) {
		int r = sqs_drive_rank(&cl[i]);
		if (r && (!best || r < best)) {
			best = r;
			drv = i;
		}
	}
	sqs_add(x, "SELECT "), sqs_add(x, c), sqs_add(x, "."), sqs_add(x, what), sqs_add(x, " FROM ");
	if (drv < n) {
		sqs_add(x, "(");
		sqs_driver(x, level, type, &cl[drv]);
		sqs_add(x, ") dd"), sqs_add(x, c), sqs_join(x), sqs_add(x, "current "), sqs_add(x, c),
			sqs_add(x, " ON "), sqs_add(x, c), sqs_add(x, ".seq = dd"), sqs_add(x, c), sqs_add(x, ".seq");
	} else {
		sqs_add(x, "current "), sqs_add(x, c);
	}
	sqs_add(x, " WHERE "), sqs_add(x, c), sqs_add(x, ".type = "), sqs_text(x, type);
	sqs_add(x, " AND "), sqs_add(x, c), sqs_add(x, ".deleted = 0");
	if (x->confine) {
		/* A confined search's chains and _has look only at resources in
		 * the patient's compartment (or shared, patient-free types). */
		const char *const *codes = search_compartment_params(type);
		if (!strcmp(type, "Patient")) {
			sqs_add(x, " AND "), sqs_add(x, c), sqs_add(x, ".id = "), sqs_text(x, x->confine);
		} else if (codes) {
			int first = 1;
			sqs_add(x, " AND EXISTS (SELECT 1 FROM ix_ref kc WHERE kc.seq = "), sqs_add(x, c),
				sqs_add(x, ".seq AND kc.p IN (");
			for (size_t i = 0; codes[i]; i++) {
				const search_param *cp = search_param_find(type, codes[i]);
				if (!cp)
					continue;
				if (!first)
					sqs_add(x, ", ");
				sqs_int(x, search_param_id(cp));
				first = 0;
			}
			if (first)
				sqs_add(x, "-1");
			sqs_add(x, ") AND kc.tt = 'Patient' AND kc.tid = "), sqs_text(x, x->confine), sqs_add(x, ")");
		}
	}
	sqs_filters(x, level, type, cl, n, drv < n ? (long)drv : -1, -1);
	return x->err;
}

/* ---- the top-level query ---------------------------------------------- */

/* The sort key expression of s on c0 / v. */
static void sqs_sort_expr(struct sqs *x, const search_sort *so)
{
	const search_param *p = so->param;
	const char *agg = so->desc ? "max" : "min";

	if (!strcmp(p->code, "_id")) {
		sqs_add(x, "c0.id");
		return;
	}
	if (!strcmp(p->code, "_lastUpdated")) {
		sqs_add(x, "(SELECT lv.updated_us FROM version lv WHERE lv.seq = c0.seq)");
		return;
	}
	sqs_add(x, "(SELECT "), sqs_add(x, agg), sqs_add(x, "(");
	switch (p->type) {
	case SEARCH_T_STRING:
		sqs_add(x, "k.norm) FROM ix_str k");
		break;
	case SEARCH_T_TOKEN:
		sqs_add(x, "k.code) FROM ix_tok k");
		break;
	case SEARCH_T_REFERENCE:
		sqs_add(x, "k.tt || '/' || k.tid) FROM ix_ref k");
		break;
	case SEARCH_T_DATE:
		sqs_add(x, so->desc ? "k.hi) FROM ix_date k" : "k.lo) FROM ix_date k");
		break;
	case SEARCH_T_NUMBER:
	case SEARCH_T_QUANTITY:
		sqs_add(x, "k.num) FROM ix_num k");
		break;
	case SEARCH_T_URI:
		sqs_add(x, "k.uri) FROM ix_uri k");
		break;
	default:
		/* no order on composites: NULL for every row (typed for PostgreSQL,
		 * where min(NULL) is ambiguous) */
		sqs_add(x, x->dialect == SQS_PG ? "NULL::bigint) FROM ix_comp k" : "NULL) FROM ix_comp k");
		break;
	}
	sqs_add(x, " WHERE k.seq = c0.seq AND ");
	sqs_p(x, "k", p, SEARCH_MOD_NONE);
	sqs_add(x, ")");
}

static void sqs_key_bind(struct sqs *x, const store_key *k)
{
	if (k->kind == 1)
		sqs_int(x, k->i);
	else if (k->kind == 2)
		sqs_real(x, k->d);
	else
		sqs_text(x, k->s ? k->s : "");
}

/* Keyset condition: rows strictly after (forward) or before (backward)
 * position pos in the order "for each sort key: nulls last, value in its
 * direction; then type, id". Lexicographic: OR over i of (all earlier
 * components equal AND component i beyond). */
void sqs_keyset(struct sqs *x, const search_query *q, const store_pos *pos, int backward, int fixed_type)
{
	size_t ns = q->nsort < pos->nk ? q->nsort : pos->nk;

	if (ns == 0) {
		/* row values let SQLite seek in the (type, id) key directly */
		if (fixed_type) {
			sqs_add(x, backward ? "c0.id < " : "c0.id > ");
			sqs_text(x, pos->id);
		} else {
			sqs_add(x, backward ? "(c0.type, c0.id) < (" : "(c0.type, c0.id) > (");
			sqs_text(x, pos->type);
			sqs_add(x, ", ");
			sqs_text(x, pos->id);
			sqs_add(x, ")");
		}
		return;
	}
	sqs_add(x, "(");
	/* components: 2 per sort key (null flag, value), then type, id */
	for (size_t i = 0; i < 2 * ns + 2; i++) {
		if (i)
			sqs_add(x, " OR ");
		sqs_add(x, "(");
		for (size_t j = 0; j <= i; j++) {
			int beyond = j == i;
			if (j)
				sqs_add(x, " AND ");
			if (j < 2 * ns) {
				const search_sort *so = &q->sort[j / 2];
				const store_key *k = &pos->k[j / 2];
				int pnull = k->kind == 0;
				if (j % 2 == 0) { /* null flag: non-null (0) before null (1) */
					if (!beyond) {
						sqs_add(x, "(");
						sqs_sort_expr(x, so);
						sqs_add(x, pnull ? ") IS NULL" : ") IS NOT NULL");
					} else if (!backward) {
						if (pnull)
							sqs_false(x);
						else
							sqs_add(x, "("), sqs_sort_expr(x, so), sqs_add(x, ") IS NULL");
					} else {
						if (pnull)
							sqs_add(x, "("), sqs_sort_expr(x, so), sqs_add(x, ") IS NOT NULL");
						else
							sqs_false(x);
					}
				} else { /* value */
					if (pnull) {
						beyond ? sqs_false(x) : sqs_true(x);
					} else {
						int up = so->desc ? backward : !backward;
						sqs_add(x, "(");
						sqs_sort_expr(x, so);
						sqs_add(x, !beyond ? ") = " : up ? ") > " : ") < ");
						sqs_key_bind(x, k);
					}
				}
			} else if (j == 2 * ns) {
				sqs_add(x, !beyond ? "c0.type = " : backward ? "c0.type < " : "c0.type > ");
				sqs_text(x, pos->type);
			} else {
				sqs_add(x, !beyond ? "c0.id = " : backward ? "c0.id < " : "c0.id > ");
				sqs_text(x, pos->id);
			}
		}
		sqs_add(x, ")");
	}
	sqs_add(x, ")");
}

/* The compartment driver: seqs of resources whose compartment parameters
 * point at Patient/comp_id, for rtype or (everything) every type. */
static void sqs_compartment(struct sqs *x, const store_search_q *sq)
{
	const search_query *q = sq->q;
	int first = 1, self = 0;

	sqs_add(x, "SELECT DISTINCT k.seq FROM ix_ref k WHERE k.p IN (");
	for (size_t t = 0; search_compartment_types[t]; t++) {
		const char *type = search_compartment_types[t];
		const char *const *codes;
		int wanted = 0;
		if (sq->everything) {
			wanted = q->ntypes == 0;
			for (size_t i = 0; i < q->ntypes; i++)
				wanted |= !strcmp(q->types[i], type);
		} else {
			wanted = q->rtype && !strcmp(q->rtype, type);
		}
		if (!wanted)
			continue;
		if (!strcmp(type, "Patient"))
			self = 1;
		codes = search_compartment_params(type);
		for (size_t i = 0; codes && codes[i]; i++) {
			const search_param *p = search_param_find(type, codes[i]);
			if (!p)
				continue;
			if (!first)
				sqs_add(x, ", ");
			sqs_int(x, search_param_id(p));
			first = 0;
		}
	}
	if (first)
		sqs_add(x, "-1");
	sqs_add(x, ") AND k.tid = "), sqs_text(x, sq->comp_id), sqs_add(x, " AND k.tt = 'Patient'");
	if (self || (sq->everything && q->ntypes == 0)) {
		/* the patient is in its own compartment */
		sqs_add(x, " UNION SELECT seq FROM current WHERE type = 'Patient' AND id = ");
		sqs_text(x, sq->comp_id);
	}
}

/* FROM ... WHERE ... of the top-level query (everything but keyset, order
 * and limit). drv: index of the driving clause, or nclauses for none;
 * -1 when the compartment drives. */
void sqs_from_where(struct sqs *x, const store_search_q *sq, long drv, int with_filters)
{
	const search_query *q = sq->q;

	sqs_add(x, " FROM ");
	if (sq->comp_id) {
		sqs_add(x, "(");
		sqs_compartment(x, sq);
		sqs_add(x, ") d"), sqs_join(x), sqs_add(x, "current c0 ON c0.seq = d.seq");
	} else if (drv >= 0 && (size_t)drv < q->nclauses) {
		sqs_add(x, "(");
		sqs_driver(x, 0, q->rtype, &q->clauses[drv]);
		sqs_add(x, ") d"), sqs_join(x), sqs_add(x, "current c0 ON c0.seq = d.seq");
	} else {
		sqs_add(x, "current c0");
	}
	sqs_add(x, " WHERE c0.deleted = 0");
	if (q->rtype && !sq->everything) {
		sqs_add(x, " AND c0.type = ");
		sqs_text(x, q->rtype);
	} else if (q->ntypes && !sq->everything) {
		sqs_add(x, " AND c0.type IN (");
		for (size_t i = 0; i < q->ntypes; i++) {
			if (i)
				sqs_add(x, ", ");
			sqs_text(x, q->types[i]);
		}
		sqs_add(x, ")");
	}
	if (sq->everything && q->since_us != INT64_MIN) {
		sqs_add(x, " AND (SELECT sv.updated_us FROM version sv WHERE sv.seq = c0.seq) >= ");
		sqs_int(x, q->since_us);
	}
	if (with_filters)
		sqs_filters(x, 0, q->rtype, q->clauses, q->nclauses, drv, -1);
}

long sqs_best_driver(const store_search_q *sq, int *rank)
{
	const search_query *q = sq->q;
	long best = -1;

	*rank = 0;
	if (sq->comp_id)
		return -1;
	for (size_t i = 0; i < q->nclauses; i++) {
		int r = sqs_drive_rank(&q->clauses[i]);
		if (r && (!*rank || r < *rank)) {
			*rank = r;
			best = (long)i;
		}
	}
	return best < 0 ? (long)q->nclauses : best;
}

int sqs_ref_streams(const store_search_q *sq, long drv)
{
	const search_query *q = sq->q;
	const search_clause *cl;

	if (sq->comp_id || sq->everything || !q->rtype || drv < 0 || (size_t)drv >= q->nclauses)
		return 0;
	cl = &q->clauses[drv];
	return cl->param && cl->param->type == SEARCH_T_REFERENCE && !cl->chain && !cl->has_type &&
	       cl->mod == SEARCH_MOD_NONE && cl->nv == 1 && cl->v[0].code && sqs_ref_type(cl->param, &cl->v[0]);
}

void sqs_probe(struct sqs *x, long drv, int64_t limit)
{
	const search_query *q = x->q;

	sqs_add(x, "SELECT count(*) FROM (");
	sqs_driver(x, 0, q->rtype, &q->clauses[drv]);
	sqs_add(x, " LIMIT ");
	sqs_int(x, limit);
	sqs_add(x, x->dialect == SQS_PG ? ") t" : ")");
}

size_t sqs_nsort(const search_query *q)
{
	return q->nsort < STORE_MAX_SORT ? q->nsort : STORE_MAX_SORT;
}

void sqs_count(struct sqs *x, const store_search_q *sq, long drv)
{
	sqs_add(x, "SELECT count(*)");
	sqs_from_where(x, sq, drv, 1);
}

/* The ORDER BY entry of sort key column col: NULLs last in the paging
 * direction's order ("nulls last, value in its direction" forward; the
 * exact reverse backward). */
static void sqs_order_key(struct sqs *x, const char *col, int desc, int backward)
{
	if (x->dialect == SQS_PG) {
		/* an output alias may not appear inside an ORDER BY expression
		 * in PostgreSQL, so the NULL flag is NULLS FIRST / LAST */
		sqs_add(x, col);
		sqs_add(x, desc ? " DESC" : " ASC");
		sqs_add(x, backward ? " NULLS FIRST, " : " NULLS LAST, ");
		return;
	}
	sqs_add(x, col), sqs_add(x, backward ? " IS NULL DESC, " : " IS NULL, "), sqs_add(x, col),
		sqs_add(x, desc ? " DESC, " : " ASC, ");
}

/* The end of a streamed page (sqs_stream, sqs_stream_pt), after the
 * candidates' conditions on index alias a (whose rid is the resource id):
 * the keyset on rid, the version join, the clauses other than drv and tok
 * as filters, the id order and the limit. */
static void sqs_stream_rest(struct sqs *x, const store_search_q *sq, const char *a, long drv, long tok)
{
	const search_query *q = sq->q;

	if (sq->after) {
		sqs_add(x, " AND "), sqs_add(x, a), sqs_add(x, sq->backward ? ".rid < " : ".rid > ");
		sqs_text(x, sq->after->id);
	}
	sqs_add(x, ") c0");
	sqs_join(x);
	sqs_add(x, "version v ON v.seq = c0.seq WHERE ");
	sqs_true(x);
	sqs_filters(x, 0, q->rtype, q->clauses, q->nclauses, drv, tok);
	sqs_add(x, sq->backward ? " ORDER BY c0.rid DESC LIMIT " : " ORDER BY c0.rid LIMIT ");
	sqs_int(x, (int64_t)sq->count + 1);
}

void sqs_stream(struct sqs *x, const store_search_q *sq, long drv)
{
	const search_query *q = sq->q;
	const search_clause *cl = &q->clauses[drv];

	sqs_add(x, "SELECT v.type, v.id, v.vid, v.seq, v.updated_us, v.method, v.deleted, v.body "
		   "FROM (SELECT r.seq AS seq, r.rid AS id, r.rid AS rid, ");
	sqs_text(x, q->rtype);
	sqs_add(x, " AS type, 0 AS deleted FROM ix_ref r WHERE r.p = ");
	sqs_int(x, search_param_id(cl->param));
	sqs_add(x, " AND r.tid = "), sqs_text(x, cl->v[0].code);
	sqs_add(x, " AND r.tt = "), sqs_text(x, sqs_ref_type(cl->param, &cl->v[0]));
	sqs_stream_rest(x, sq, "r", drv, -1);
}

/* 1 when the type's `patient` parameter places a resource in the
 * patient's compartment: it is one of the compartment parameters, or the
 * Patient-only restriction of one (Observation.subject.where(resolve() is
 * Patient) of the compartment parameter subject). */
static int sqs_patient_in_comp(const char *rtype, const search_param *pp)
{
	static const char where[] = ".where(resolve() is Patient)";
	const char *const *codes = search_compartment_params(rtype);
	size_t n;

	for (size_t i = 0; codes && codes[i]; i++) {
		const search_param *cp = search_param_find(rtype, codes[i]);
		if (!cp)
			continue;
		if (cp == pp)
			return 1;
		if (!cp->expr || !pp->expr)
			continue;
		n = strlen(cp->expr);
		if (!strncmp(pp->expr, cp->expr, n) && !strcmp(pp->expr + n, where))
			return 1;
	}
	return 0;
}

int sqs_comp_implied(const store_search_q *sq)
{
	const search_query *q = sq->q;
	const search_param *pp;

	if (!sq->comp_id || sq->everything || !q->rtype)
		return 0;
	pp = search_param_find(q->rtype, "patient");
	if (!pp || pp->type != SEARCH_T_REFERENCE || !sqs_patient_in_comp(q->rtype, pp))
		return 0;
	for (size_t i = 0; i < q->nclauses; i++) {
		const search_clause *cl = &q->clauses[i];
		const char *tt;
		if (cl->param != pp || cl->mod != SEARCH_MOD_NONE || cl->chain || cl->has_type || cl->nv != 1 ||
		    !cl->v[0].code)
			continue;
		tt = sqs_ref_type(pp, &cl->v[0]);
		if (tt && !strcmp(tt, "Patient") && !strcmp(cl->v[0].code, sq->comp_id))
			return 1;
	}
	return 0;
}

long sqs_pt_token(const store_search_q *sq, long drv)
{
	const search_query *q = sq->q;
	const search_clause *d;
	const search_param *pp;

	if (!sqs_ref_streams(sq, drv))
		return -1;
	d = &q->clauses[drv];
	pp = search_param_find(q->rtype, "patient");
	if (!pp || pp != d->param || strcmp(sqs_ref_type(d->param, &d->v[0]), "Patient") != 0)
		return -1;
	for (size_t i = 0; i < q->nclauses; i++) {
		const search_clause *cl = &q->clauses[i];
		if ((long)i == drv || !cl->param || cl->chain || cl->has_type || cl->mod != SEARCH_MOD_NONE ||
		    cl->param->type != SEARCH_T_TOKEN || sqs_is_id(cl) || cl->nv != 1 || !cl->v[0].code)
			continue;
		return (long)i;
	}
	return -1;
}

void sqs_stream_pt(struct sqs *x, const store_search_q *sq, long drv, long tok)
{
	const search_query *q = sq->q;
	const search_clause *d = &q->clauses[drv], *t = &q->clauses[tok];

	sqs_add(x, "SELECT v.type, v.id, v.vid, v.seq, v.updated_us, v.method, v.deleted, v.body "
		   "FROM (SELECT t.seq AS seq, t.rid AS id, t.rid AS rid, ");
	sqs_text(x, q->rtype);
	sqs_add(x, " AS type, 0 AS deleted FROM ix_pt t WHERE t.pat = ");
	sqs_text(x, d->v[0].code);
	sqs_add(x, " AND ");
	sqs_p(x, "t", t->param, t->mod);
	sqs_add(x, " AND ");
	sqs_value(x, "t", t->param, t->mod, &t->v[0]);
	if (!t->v[0].sys) {
		/* any system: a resource with the code in two systems has two
		 * rows; the one with the smallest system stands for it. (With a
		 * system, or none, "|code", the key holds one row per resource.)
		 * The probe reads the row next to this one. */
		sqs_add(x, " AND NOT EXISTS (SELECT 1 FROM ix_pt u WHERE u.pat = t.pat AND u.p = t.p AND "
			   "u.code = t.code AND u.rid = t.rid AND u.seq = t.seq AND u.sys < t.sys)");
	}
	sqs_stream_rest(x, sq, "t", drv, tok);
}

void sqs_page(struct sqs *x, const store_search_q *sq, long drv)
{
	const search_query *q = sq->q;
	size_t nsort = sqs_nsort(q);
	int fixed_type = q->rtype && !sq->everything;

	/* The page is cut on (seq, sort keys, type, id) alone; only its rows'
	 * bodies are read (the outer join), not those of every match. */
	sqs_add(x, "SELECT v.type, v.id, v.vid, v.seq, v.updated_us, v.method, v.deleted, v.body");
	for (size_t i = 0; i < nsort; i++) {
		char col[16];
		snprintf(col, sizeof col, ", s.k%zu", i);
		sqs_add(x, col);
	}
	sqs_add(x, " FROM (SELECT c0.seq AS sseq, c0.type AS stype, c0.id AS sid");
	for (size_t i = 0; i < nsort; i++) {
		char alias[16];
		snprintf(alias, sizeof alias, " AS k%zu", i);
		sqs_add(x, ", ");
		sqs_sort_expr(x, &q->sort[i]);
		sqs_add(x, alias);
	}
	sqs_from_where(x, sq, drv, 1);
	if (sq->after) {
		sqs_add(x, " AND ");
		sqs_keyset(x, q, sq->after, sq->backward, fixed_type);
	}
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: the inner ORDER BY + LIMIT; pass 1: the same order for
		 * the outer query (a join does not keep its input's order) */
		sqs_add(x, " ORDER BY ");
		for (size_t i = 0; i < nsort; i++) {
			char col[16];
			snprintf(col, sizeof col, "%sk%zu", pass ? "s." : "", i);
			sqs_order_key(x, col, q->sort[i].desc ^ sq->backward, sq->backward);
		}
		if (!pass) {
			sqs_add(x, sq->backward ? "c0.type DESC, c0.id DESC LIMIT " : "c0.type, c0.id LIMIT ");
			sqs_int(x, (int64_t)sq->count + 1);
			sqs_add(x, ") s"), sqs_join(x), sqs_add(x, "version v ON v.seq = s.sseq");
		} else {
			sqs_add(x, sq->backward ? "s.stype DESC, s.sid DESC" : "s.stype, s.sid");
		}
	}
}

void sqs_referrers(struct sqs *x, const uint32_t *params, size_t np, const char *type, const char *id, size_t max)
{
	sqs_add(x, "SELECT v.type, v.id, v.vid, v.seq, v.updated_us, v.method, v.deleted, v.body FROM "
		   "(SELECT DISTINCT k.seq FROM ix_ref k WHERE k.tid = ");
	sqs_text(x, id);
	sqs_add(x, " AND k.tt = ");
	sqs_text(x, type);
	if (np) {
		sqs_add(x, " AND k.p IN (");
		for (size_t i = 0; i < np; i++) {
			if (i)
				sqs_add(x, ", ");
			sqs_int(x, params[i]);
		}
		sqs_add(x, ")");
	}
	sqs_add(x, ") d"), sqs_join(x), sqs_add(x, "current c0 ON c0.seq = d.seq"), sqs_join(x),
		sqs_add(x, "version v ON v.seq = c0.seq WHERE c0.deleted = 0 ORDER BY c0.type, c0.id LIMIT ");
	sqs_int(x, (int64_t)max);
}

/* The compartment parameters of type become fixed integers in the SQL
 * (they come from the generated table, not from the request). */
void sqs_comp_member(struct sqs *x, const char *type, int64_t seq, const char *patient)
{
	const char *const *codes = search_compartment_params(type);
	int first = 1;

	sqs_add(x, "SELECT 1 FROM ix_ref k WHERE k.seq = ");
	sqs_int(x, seq);
	sqs_add(x, " AND k.p IN (");
	for (size_t i = 0; codes && codes[i]; i++) {
		const search_param *p = search_param_find(type, codes[i]);
		if (!p)
			continue;
		if (!first)
			sqs_add(x, ", ");
		sqs_int(x, search_param_id(p));
		first = 0;
	}
	if (first)
		sqs_add(x, "-1");
	sqs_add(x, ") AND k.tt = 'Patient' AND k.tid = ");
	sqs_text(x, patient);
	sqs_add(x, " LIMIT 1");
}
