/*
 * fhirpath.c - see fhirpath.h. A recursive-descent parser builds a tree of
 * fhirpath_expr nodes, one malloc each, once per expression at start; the
 * evaluator walks it over a parsed resource for every write, so it is the
 * part that must be cheap.
 *
 * Evaluation is a stack discipline over one growable vector: a node is
 * evaluated with its input as a range [lo, hi) of the vector and appends
 * its result after the current end; anything it pushed while working
 * (its child's result, a where() criterion's result) is dropped or moved
 * down before it returns, so on return exactly its result sits at the end.
 * Ranges are indexes, never pointers, because pushing may move the vector.
 * Nothing is copied but (json_t pointer, type) pairs, and nothing is
 * allocated but the vector's growth.
 *
 * Operator precedence follows FHIRPath N1 §"Operator precedence": path and
 * indexer, then is/as, then |, then = and !=, then and.
 */
#include "fhirpath.h"

#include "core/err.h"
#include "fhir/types.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nesting the parser accepts (parentheses, function arguments). The
 * expressions come from the generated tables; the bound only keeps a
 * hostile one from exhausting the stack. */
#define FP_MAX_DEPTH 64

enum fp_op {
	FP_THIS,       /* the input collection itself ($this) */
	FP_ROOT,       /* %resource */
	FP_TYPE_ROOT,  /* leading type name: input items that are resources of type str */
	FP_MEMBER,     /* per item of a: element str (choice-aware), arrays flattened */
	FP_INDEX,      /* a[index] */
	FP_WHERE,      /* items of a for which b is true */
	FP_AS,         /* items of a that are of type `type` */
	FP_IS,         /* a (one item) is of type `type`: boolean */
	FP_EXTENSION,  /* per item of a: extension items with url = str */
	FP_EXISTS,     /* a is not empty: boolean */
	FP_RESOLVE,    /* resolve() on a; only valid under `is` (compile check) */
	FP_RESOLVE_IS, /* a (one Reference) points at a resource of type str: boolean */
	FP_UNION,      /* a | b */
	FP_AND,        /* a and b, three-valued */
	FP_EQ,         /* a = b */
	FP_NE,         /* a != b */
	FP_LITERAL     /* lit */
};

struct fhirpath_expr {
	enum fp_op op;
	struct fhirpath_expr *a;  /* input / left operand */
	struct fhirpath_expr *b;  /* where() criterion / right operand */
	enum fhirpath_type type;  /* FP_AS, FP_IS */
	size_t index;             /* FP_INDEX; FP_TYPE_ROOT: 1 for Resource/DomainResource;
				     FP_MEMBER: 1 when the element may hold resources */
	int choice;               /* FP_MEMBER: the name is a choice element somewhere */
	json_t *lit;              /* FP_LITERAL: owned string, or jansson's static true/false */
	size_t len;               /* of str */
	char str[];               /* NUL-terminated: element name, url, type name */
};

/* ---------------------------------------------------------------- types */

/* FHIR spelling, indexed by enum fhirpath_type. */
static const char *const fp_type_names[FHIRPATH_T__COUNT] = {
	"", "Address", "Age", "Annotation", "Attachment", "base64Binary",
	"boolean", "canonical", "code", "CodeableConcept", "Coding",
	"ContactDetail", "ContactPoint", "Contributor", "Count",
	"DataRequirement", "date", "dateTime", "decimal", "Distance", "Dosage",
	"Duration", "Expression", "HumanName", "id", "Identifier", "instant",
	"integer", "markdown", "Meta", "Money", "oid", "ParameterDefinition",
	"Period", "positiveInt", "Quantity", "Range", "Ratio", "Reference",
	"RelatedArtifact", "SampledData", "Signature", "string", "time",
	"Timing", "TriggerDefinition", "unsignedInt", "uri", "url",
	"UsageContext", "uuid", "xhtml", "Resource",
};

static int fp_upper(int ch)
{
	return ch >= 'a' && ch <= 'z' ? ch - 32 : ch;
}

/* name[0..len) against a type name, both read with the first letter
 * capitalised (the form of choice suffixes: valueDateTime). */
static int fp_type_cmp(const char *name, size_t len, const char *tn)
{
	size_t i;

	for (i = 0; i < len && tn[i]; i++) {
		int a = (unsigned char)name[i], b = (unsigned char)tn[i];
		if (i == 0) {
			a = fp_upper(a);
			b = fp_upper(b);
		}
		if (a != b)
			return a - b;
	}
	if (i < len)
		return 1;
	return tn[i] ? -1 : 0;
}

enum fhirpath_type fhirpath_type_find(const char *name, size_t len)
{
	size_t lo = FHIRPATH_T_ADDRESS, hi = FHIRPATH_T_XHTML + 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = fp_type_cmp(name, len, fp_type_names[mid]);

		if (d == 0)
			return (enum fhirpath_type)mid;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return FHIRPATH_T_UNKNOWN;
}

const char *fhirpath_type_name(enum fhirpath_type t)
{
	return (unsigned)t < FHIRPATH_T__COUNT ? fp_type_names[t] : "";
}

/* The type t specialises, or UNKNOWN: FHIRPath `as`/`is` match subtypes
 * (an Age is a Quantity; code, id and markdown are strings). */
static enum fhirpath_type fp_type_parent(enum fhirpath_type t)
{
	switch (t) {
	case FHIRPATH_T_AGE:
	case FHIRPATH_T_COUNT:
	case FHIRPATH_T_DISTANCE:
	case FHIRPATH_T_DURATION:
		return FHIRPATH_T_QUANTITY;
	case FHIRPATH_T_CODE:
	case FHIRPATH_T_ID:
	case FHIRPATH_T_MARKDOWN:
		return FHIRPATH_T_STRING;
	case FHIRPATH_T_CANONICAL:
	case FHIRPATH_T_URL:
	case FHIRPATH_T_OID:
	case FHIRPATH_T_UUID:
		return FHIRPATH_T_URI;
	case FHIRPATH_T_POSITIVEINT:
	case FHIRPATH_T_UNSIGNEDINT:
		return FHIRPATH_T_INTEGER;
	default:
		return FHIRPATH_T_UNKNOWN;
	}
}

/* 1 when a JSON value of unknown declared type can be a t. */
static int fp_shape_fits(const json_t *v, enum fhirpath_type t)
{
	switch (t) {
	case FHIRPATH_T_BOOLEAN:
		return json_is_boolean(v);
	case FHIRPATH_T_INTEGER:
	case FHIRPATH_T_POSITIVEINT:
	case FHIRPATH_T_UNSIGNEDINT:
		return json_is_integer(v);
	case FHIRPATH_T_DECIMAL:
		return json_is_number(v);
	case FHIRPATH_T_BASE64BINARY:
	case FHIRPATH_T_CANONICAL:
	case FHIRPATH_T_CODE:
	case FHIRPATH_T_DATE:
	case FHIRPATH_T_DATETIME:
	case FHIRPATH_T_ID:
	case FHIRPATH_T_INSTANT:
	case FHIRPATH_T_MARKDOWN:
	case FHIRPATH_T_OID:
	case FHIRPATH_T_STRING:
	case FHIRPATH_T_TIME:
	case FHIRPATH_T_URI:
	case FHIRPATH_T_URL:
	case FHIRPATH_T_UUID:
	case FHIRPATH_T_XHTML:
		return json_is_string(v);
	default:
		return json_is_object(v);
	}
}

/* The names of all choice elements ("value[x]" -> "value") of the R4
 * StructureDefinitions, resources and datatypes (profiles-resources.json
 * and profiles-types.json: every snapshot element path ending in "[x]"),
 * sorted. Only these names are looked up as choices when the element is
 * missing under its plain name, which spares the scan of an object's
 * members for every absent plain element. */
static const char *const fp_choice_names[] = {
	"abatement", "additive", "age", "allowed", "amount", "answer", "asNeeded",
	"author", "born", "bounds", "characteristic", "chargeItem", "code",
	"collected", "content", "created", "date", "deceased", "defaultValue",
	"definingSubstance", "definition", "detail", "diagnosis", "dose",
	"doseNumber", "due", "duration", "effective", "entity", "event", "example",
	"fastingStatus", "fixed", "identified", "indication", "instances", "item",
	"legallyBinding", "location", "manufacturer", "maxValue", "medication",
	"minValue", "minimumVolume", "module", "multipleBirth", "name", "occurred",
	"occurrence", "offset", "onset", "participantEffective", "pattern",
	"performed", "probability", "procedure", "product", "quantity", "rate",
	"reported", "scheduled", "seriesDoses", "serviced", "source", "start",
	"statusReason", "studyEffective", "subject", "substance", "target", "time",
	"timing", "topic", "used", "value", "when",
};

static int fp_is_choice_name(const char *name, size_t len)
{
	size_t lo = 0, hi = sizeof fp_choice_names / sizeof fp_choice_names[0];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *c = fp_choice_names[mid];
		size_t cl = strlen(c);
		int d = memcmp(name, c, len < cl ? len : cl);
		if (d == 0)
			d = len < cl ? -1 : len > cl;
		if (d == 0)
			return 1;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* ------------------------------------------------------------- compiler */

enum fp_tok {
	TK_END, TK_IDENT, TK_STRING, TK_INT, TK_VAR, TK_DOT, TK_LPAREN, TK_RPAREN,
	TK_LBRACK, TK_RBRACK, TK_PIPE, TK_EQ, TK_NE, TK_COMMA
};

struct fp_parser {
	const char *src;
	const char *p;        /* next unread byte */
	enum fp_tok tok;      /* current token */
	const char *ts;       /* its text: identifier / variable name / raw string body */
	size_t tl;
	size_t ival;          /* TK_INT */
	int depth;
	int err;              /* first error, 0 while none */
	char *diag;
	size_t diaglen;
};

__attribute__((format(printf, 2, 3)))
static void fp_fail(struct fp_parser *ps, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->err)
		return;
	ps->err = ERR_INVALID;
	if (!ps->diag || ps->diaglen == 0)
		return;
	n = snprintf(ps->diag, ps->diaglen, "at %zu: ", (size_t)(ps->ts - ps->src));
	if (n < 0 || (size_t)n >= ps->diaglen)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->diag + n, ps->diaglen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void fp_nomem(struct fp_parser *ps)
{
	if (!ps->err)
		ps->err = ERR_NOMEM;
	if (ps->diag && ps->diaglen)
		snprintf(ps->diag, ps->diaglen, "out of memory");
}

static int fp_is_ident_start(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int fp_is_ident_char(int c)
{
	return fp_is_ident_start(c) || (c >= '0' && c <= '9');
}

static void fp_skip_space(struct fp_parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

/* Reads the next token into ps->tok. */
static void fp_next(struct fp_parser *ps)
{
	const char *p;

	fp_skip_space(ps);
	p = ps->p;
	ps->ts = p;
	ps->tl = 0;
	if (*p == '\0') {
		ps->tok = TK_END;
		return;
	}
	if (fp_is_ident_start((unsigned char)*p)) {
		while (fp_is_ident_char((unsigned char)*p))
			p++;
		ps->tok = TK_IDENT;
		ps->tl = (size_t)(p - ps->ts);
		ps->p = p;
		return;
	}
	if (*p == '`') { /* delimited identifier */
		const char *e = strchr(p + 1, '`');
		if (!e || e == p + 1) {
			fp_fail(ps, "bad delimited identifier");
			ps->tok = TK_END;
			return;
		}
		ps->tok = TK_IDENT;
		ps->ts = p + 1;
		ps->tl = (size_t)(e - p - 1);
		ps->p = e + 1;
		return;
	}
	if (*p == '%') {
		p++;
		ps->ts = p;
		while (fp_is_ident_char((unsigned char)*p))
			p++;
		ps->tok = TK_VAR;
		ps->tl = (size_t)(p - ps->ts);
		ps->p = p;
		return;
	}
	if (*p == '\'') {
		p++;
		ps->ts = p;
		while (*p && *p != '\'') {
			if (*p == '\\' && p[1])
				p++;
			p++;
		}
		if (*p != '\'') {
			fp_fail(ps, "unterminated string");
			ps->tok = TK_END;
			return;
		}
		ps->tok = TK_STRING;
		ps->tl = (size_t)(p - ps->ts);
		ps->p = p + 1;
		return;
	}
	if (*p >= '0' && *p <= '9') {
		size_t v = 0;
		while (*p >= '0' && *p <= '9') {
			if (v > 100000) {
				fp_fail(ps, "index too large");
				ps->tok = TK_END;
				return;
			}
			v = v * 10 + (size_t)(*p - '0');
			p++;
		}
		if (*p == '.' || fp_is_ident_start((unsigned char)*p)) {
			fp_fail(ps, "only integer literals are supported");
			ps->tok = TK_END;
			return;
		}
		ps->tok = TK_INT;
		ps->ival = v;
		ps->tl = (size_t)(p - ps->ts);
		ps->p = p;
		return;
	}
	ps->p = p + 1;
	ps->tl = 1;
	switch (*p) {
	case '.': ps->tok = TK_DOT; return;
	case '(': ps->tok = TK_LPAREN; return;
	case ')': ps->tok = TK_RPAREN; return;
	case '[': ps->tok = TK_LBRACK; return;
	case ']': ps->tok = TK_RBRACK; return;
	case '|': ps->tok = TK_PIPE; return;
	case '=': ps->tok = TK_EQ; return;
	case ',': ps->tok = TK_COMMA; return;
	case '!':
		if (p[1] == '=') {
			ps->p = p + 2;
			ps->tl = 2;
			ps->tok = TK_NE;
			return;
		}
		break;
	default:
		break;
	}
	fp_fail(ps, "unsupported character '%c'", *p >= 0x20 && *p < 0x7f ? *p : '?');
	ps->tok = TK_END;
}

/* The current token is the identifier word. */
static int fp_word(const struct fp_parser *ps, const char *word)
{
	size_t n = strlen(word);
	return ps->tok == TK_IDENT && ps->tl == n && memcmp(ps->ts, word, n) == 0;
}

/* The byte after the current token, skipping blanks, is '('. */
static int fp_call_follows(const struct fp_parser *ps)
{
	const char *p = ps->p;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return *p == '(';
}

static void fp_expect(struct fp_parser *ps, enum fp_tok t, const char *what)
{
	if (ps->tok != t)
		fp_fail(ps, "expected %s", what);
	else
		fp_next(ps);
}

/* Elements whose items are resources (Bundle.entry.resource,
 * DomainResource.contained, ...): their nodes are typed Resource. */
static int fp_holds_resources(const char *name, size_t n)
{
	return (n == 8 && memcmp(name, "resource", 8) == 0) ||
	       (n == 9 && memcmp(name, "contained", 9) == 0) ||
	       (n == 7 && memcmp(name, "outcome", 7) == 0);
}

/* A node with str = s[0..n); a and b become the node's (freed on failure). */
static fhirpath_expr *fp_node(struct fp_parser *ps, enum fp_op op, fhirpath_expr *a, fhirpath_expr *b,
			      const char *s, size_t n)
{
	fhirpath_expr *e;

	if (ps->err)
		goto fail;
	e = calloc(1, sizeof *e + n + 1);
	if (!e) {
		fp_nomem(ps);
		goto fail;
	}
	e->op = op;
	e->a = a;
	e->b = b;
	e->len = n;
	if (n)
		memcpy(e->str, s, n);
	e->str[n] = '\0';
	if (op == FP_MEMBER) {
		e->choice = fp_is_choice_name(s, n);
		e->index = (size_t)fp_holds_resources(s, n);
	}
	return e;
fail:
	fhirpath_free(a);
	fhirpath_free(b);
	return NULL;
}

static fhirpath_expr *fp_this(struct fp_parser *ps)
{
	return fp_node(ps, FP_THIS, NULL, NULL, NULL, 0);
}

/* A string literal: the body ps->ts[0..tl) with FHIRPath escapes undone. */
static fhirpath_expr *fp_string(struct fp_parser *ps)
{
	char *buf;
	size_t i, o = 0;
	fhirpath_expr *e = NULL;

	buf = malloc(ps->tl + 1);
	if (!buf) {
		fp_nomem(ps);
		return NULL;
	}
	for (i = 0; i < ps->tl; i++) {
		char ch = ps->ts[i];
		if (ch == '\\') {
			i++;
			switch (ps->ts[i]) {
			case '\'': case '"': case '`': case '\\': case '/': ch = ps->ts[i]; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'f': ch = '\f'; break;
			default:
				fp_fail(ps, "unsupported escape in string");
				goto out;
			}
		}
		buf[o++] = ch;
	}
	e = fp_node(ps, FP_LITERAL, NULL, NULL, NULL, 0);
	if (!e)
		goto out;
	e->lit = json_stringn(buf, o);
	if (!e->lit) {
		/* not UTF-8: the tables are ASCII, so this is a broken literal */
		fhirpath_free(e);
		e = NULL;
		fp_fail(ps, "string literal is not UTF-8");
	}
out:
	free(buf);
	return e;
}

/* A type specifier: Name or FHIR.Name / System.Name. */
static enum fhirpath_type fp_type_spec(struct fp_parser *ps)
{
	enum fhirpath_type t;

	if (ps->tok != TK_IDENT) {
		fp_fail(ps, "expected a type name");
		return FHIRPATH_T_UNKNOWN;
	}
	if ((fp_word(ps, "FHIR") || fp_word(ps, "System")) && *ps->p == '.') {
		fp_next(ps);
		fp_next(ps);
		if (ps->tok != TK_IDENT) {
			fp_fail(ps, "expected a type name");
			return FHIRPATH_T_UNKNOWN;
		}
	}
	t = fhirpath_type_find(ps->ts, ps->tl);
	if (t == FHIRPATH_T_UNKNOWN)
		fp_fail(ps, "unknown type '%.*s'", (int)(ps->tl > 64 ? 64 : ps->tl), ps->ts);
	else
		fp_next(ps);
	return t;
}

static fhirpath_expr *fp_parse_expr(struct fp_parser *ps);

/* name(args) applied to input; the current token is the name. */
static fhirpath_expr *fp_parse_call(struct fp_parser *ps, fhirpath_expr *input)
{
	const char *name = ps->ts;
	size_t nl = ps->tl;
	fhirpath_expr *e = NULL, *arg = NULL;

#define FP_IS_NAME(w) (nl == sizeof(w) - 1 && memcmp(name, w, nl) == 0)
	fp_next(ps); /* name */
	fp_next(ps); /* ( */
	if (FP_IS_NAME("where") || FP_IS_NAME("exists")) {
		int is_where = FP_IS_NAME("where");
		if (ps->tok != TK_RPAREN || is_where) {
			arg = fp_parse_expr(ps);
			if (!arg)
				goto fail;
		}
		if (arg) {
			input = fp_node(ps, FP_WHERE, input, arg, NULL, 0);
			arg = NULL; /* owned by the node, or freed with it */
		}
		e = is_where ? input : fp_node(ps, FP_EXISTS, input, NULL, NULL, 0);
		input = NULL;
	} else if (FP_IS_NAME("as") || FP_IS_NAME("ofType") || FP_IS_NAME("is")) {
		enum fhirpath_type t = fp_type_spec(ps);
		e = fp_node(ps, FP_IS_NAME("is") ? FP_IS : FP_AS, input, NULL, NULL, 0);
		input = NULL;
		if (e)
			e->type = t;
	} else if (FP_IS_NAME("extension")) {
		if (ps->tok != TK_STRING) {
			fp_fail(ps, "extension() takes a url string");
			goto fail;
		}
		arg = fp_string(ps);
		if (!arg)
			goto fail;
		fp_next(ps);
		e = fp_node(ps, FP_EXTENSION, input, NULL, json_string_value(arg->lit),
			    json_string_length(arg->lit));
		input = NULL;
		fhirpath_free(arg);
		arg = NULL;
	} else if (FP_IS_NAME("first")) {
		e = fp_node(ps, FP_INDEX, input, NULL, NULL, 0);
		input = NULL;
	} else if (FP_IS_NAME("resolve")) {
		e = fp_node(ps, FP_RESOLVE, input, NULL, NULL, 0);
		input = NULL;
	} else {
		fp_fail(ps, "unsupported function '%.*s'", (int)(nl > 64 ? 64 : nl), name);
		goto fail;
	}
#undef FP_IS_NAME
	if (!e)
		goto fail;
	fp_expect(ps, TK_RPAREN, "')'");
	if (ps->err)
		goto fail;
	return e;
fail:
	fhirpath_free(e);
	fhirpath_free(input);
	fhirpath_free(arg);
	return NULL;
}

/* term: (expr) | 'string' | true | false | %resource | Type | name | name(args) */
static fhirpath_expr *fp_parse_term(struct fp_parser *ps)
{
	fhirpath_expr *e;

	switch (ps->tok) {
	case TK_LPAREN:
		fp_next(ps);
		e = fp_parse_expr(ps);
		if (!e)
			return NULL;
		fp_expect(ps, TK_RPAREN, "')'");
		if (ps->err) {
			fhirpath_free(e);
			return NULL;
		}
		return e;
	case TK_STRING:
		e = fp_string(ps);
		if (e)
			fp_next(ps);
		return e;
	case TK_VAR:
		if (ps->tl == 8 && memcmp(ps->ts, "resource", 8) == 0) {
			fp_next(ps);
			return fp_node(ps, FP_ROOT, NULL, NULL, NULL, 0);
		}
		fp_fail(ps, "unsupported variable %%%.*s", (int)(ps->tl > 64 ? 64 : ps->tl), ps->ts);
		return NULL;
	case TK_IDENT:
		if (fp_word(ps, "true") || fp_word(ps, "false")) {
			e = fp_node(ps, FP_LITERAL, NULL, NULL, NULL, 0);
			if (e)
				e->lit = fp_word(ps, "true") ? json_true() : json_false();
			fp_next(ps);
			return e;
		}
		if (fp_call_follows(ps))
			return fp_parse_call(ps, fp_this(ps));
		if (ps->ts[0] >= 'A' && ps->ts[0] <= 'Z') {
			/* FHIRPath §"Path selection": a leading type name selects
			 * the context when it is of that type. */
			int any = (ps->tl == 8 && memcmp(ps->ts, "Resource", 8) == 0) ||
				  (ps->tl == 14 && memcmp(ps->ts, "DomainResource", 14) == 0);
			if (!any && !fhir_type_find(ps->ts, ps->tl)) {
				fp_fail(ps, "unknown resource type '%.*s'", (int)(ps->tl > 64 ? 64 : ps->tl), ps->ts);
				return NULL;
			}
			e = fp_node(ps, FP_TYPE_ROOT, NULL, NULL, ps->ts, ps->tl);
			if (e)
				e->index = (size_t)any;
			fp_next(ps);
			return e;
		}
		e = fp_node(ps, FP_MEMBER, fp_this(ps), NULL, ps->ts, ps->tl);
		fp_next(ps);
		return e;
	default:
		fp_fail(ps, "expected a path");
		return NULL;
	}
}

/* postfix: term ('.' name | '.' name(args) | '[' int ']')* */
static fhirpath_expr *fp_parse_postfix(struct fp_parser *ps)
{
	fhirpath_expr *e = fp_parse_term(ps);

	while (e && !ps->err) {
		if (ps->tok == TK_DOT) {
			fp_next(ps);
			if (ps->tok != TK_IDENT) {
				fp_fail(ps, "expected a name after '.'");
				break;
			}
			if (fp_call_follows(ps)) {
				e = fp_parse_call(ps, e);
			} else {
				e = fp_node(ps, FP_MEMBER, e, NULL, ps->ts, ps->tl);
				fp_next(ps);
			}
		} else if (ps->tok == TK_LBRACK) {
			fp_next(ps);
			if (ps->tok != TK_INT) {
				fp_fail(ps, "expected an integer index");
				break;
			}
			e = fp_node(ps, FP_INDEX, e, NULL, NULL, 0);
			if (e)
				e->index = ps->ival;
			fp_next(ps);
			fp_expect(ps, TK_RBRACK, "']'");
		} else {
			break;
		}
	}
	if (ps->err) {
		fhirpath_free(e);
		return NULL;
	}
	return e;
}

/* typeop: postfix (('as' | 'is') type)* ; `resolve() is T` takes a
 * resource type. */
static fhirpath_expr *fp_parse_typeop(struct fp_parser *ps)
{
	fhirpath_expr *e = fp_parse_postfix(ps);

	while (e && (fp_word(ps, "as") || fp_word(ps, "is"))) {
		int is = fp_word(ps, "is");
		fp_next(ps);
		if (is && e->op == FP_RESOLVE) {
			fhirpath_expr *in = e->a;
			if (ps->tok != TK_IDENT || !fhir_type_find(ps->ts, ps->tl)) {
				fp_fail(ps, "resolve() is: expected a resource type");
				fhirpath_free(e);
				return NULL;
			}
			e->a = NULL;
			fhirpath_free(e);
			e = fp_node(ps, FP_RESOLVE_IS, in, NULL, ps->ts, ps->tl);
			fp_next(ps);
			continue;
		}
		enum fhirpath_type t = fp_type_spec(ps);
		e = fp_node(ps, is ? FP_IS : FP_AS, e, NULL, NULL, 0);
		if (e)
			e->type = t;
	}
	if (ps->err) {
		fhirpath_free(e);
		return NULL;
	}
	return e;
}

static fhirpath_expr *fp_parse_union(struct fp_parser *ps)
{
	fhirpath_expr *e = fp_parse_typeop(ps);

	while (e && ps->tok == TK_PIPE) {
		fp_next(ps);
		fhirpath_expr *r = fp_parse_typeop(ps);
		if (!r) {
			fhirpath_free(e);
			return NULL;
		}
		e = fp_node(ps, FP_UNION, e, r, NULL, 0);
	}
	return e;
}

static fhirpath_expr *fp_parse_eq(struct fp_parser *ps)
{
	fhirpath_expr *e = fp_parse_union(ps);

	if (e && (ps->tok == TK_EQ || ps->tok == TK_NE)) {
		enum fp_op op = ps->tok == TK_EQ ? FP_EQ : FP_NE;
		fp_next(ps);
		fhirpath_expr *r = fp_parse_union(ps);
		if (!r) {
			fhirpath_free(e);
			return NULL;
		}
		e = fp_node(ps, op, e, r, NULL, 0);
	}
	return e;
}

static fhirpath_expr *fp_parse_expr(struct fp_parser *ps)
{
	fhirpath_expr *e;

	if (++ps->depth > FP_MAX_DEPTH) {
		fp_fail(ps, "nested too deeply");
		return NULL;
	}
	e = fp_parse_eq(ps);
	while (e && fp_word(ps, "and")) {
		fp_next(ps);
		fhirpath_expr *r = fp_parse_eq(ps);
		if (!r) {
			fhirpath_free(e);
			return NULL;
		}
		e = fp_node(ps, FP_AND, e, r, NULL, 0);
	}
	ps->depth--;
	return e;
}

/* 1 when a bare resolve() (not under `is`) is left in e. */
static int fp_has_resolve(const fhirpath_expr *e)
{
	if (!e)
		return 0;
	return e->op == FP_RESOLVE || fp_has_resolve(e->a) || fp_has_resolve(e->b);
}

int fhirpath_compile(const char *src, fhirpath_expr **out, char *diag, size_t diaglen)
{
	struct fp_parser ps = { .src = src, .p = src, .ts = src, .diag = diag, .diaglen = diaglen };
	fhirpath_expr *e = NULL;

	*out = NULL;
	if (diag && diaglen)
		diag[0] = '\0';
	if (strnlen(src, FHIRPATH_MAX_SOURCE + 1) > FHIRPATH_MAX_SOURCE) {
		fp_fail(&ps, "expression longer than %d bytes", FHIRPATH_MAX_SOURCE);
		return ps.err;
	}
	fp_next(&ps);
	if (!ps.err)
		e = fp_parse_expr(&ps);
	if (!ps.err && ps.tok != TK_END)
		fp_fail(&ps, "unexpected '%.*s'", (int)(ps.tl > 64 ? 64 : ps.tl), ps.ts);
	if (!ps.err && fp_has_resolve(e))
		fp_fail(&ps, "resolve() is only supported as `resolve() is Type`");
	if (ps.err) {
		fhirpath_free(e);
		return ps.err;
	}
	*out = e;
	return 0;
}

void fhirpath_free(fhirpath_expr *e)
{
	if (!e)
		return;
	fhirpath_free(e->a);
	fhirpath_free(e->b);
	json_decref(e->lit); /* no-op on the static true/false */
	free(e);
}

int fhirpath_uses_type(const fhirpath_expr *e, enum fhirpath_type t)
{
	if (!e)
		return 0;
	if ((e->op == FP_AS || e->op == FP_IS) && e->type == t)
		return 1;
	return fhirpath_uses_type(e->a, t) || fhirpath_uses_type(e->b, t);
}

/* ------------------------------------------------------------ evaluator */

struct fp_ctx {
	fhirpath_vec *vec;
	const json_t *root;
};

void fhirpath_vec_fini(fhirpath_vec *vec)
{
	free(vec->v);
	vec->v = NULL;
	vec->n = vec->cap = 0;
}

static int fp_push(struct fp_ctx *c, const json_t *v, enum fhirpath_type t)
{
	fhirpath_vec *vec = c->vec;

	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 64;
		fhirpath_node *nv;

		if (cap > FHIRPATH_MAX_NODES) {
			if (vec->cap >= FHIRPATH_MAX_NODES)
				return ERR_TOOBIG;
			cap = FHIRPATH_MAX_NODES;
		}
		nv = realloc(vec->v, cap * sizeof *nv);
		if (!nv)
			return ERR_NOMEM;
		vec->v = nv;
		vec->cap = cap;
	}
	vec->v[vec->n].v = v;
	vec->v[vec->n].type = t;
	vec->n++;
	return 0;
}

static int fp_push_bool(struct fp_ctx *c, int b)
{
	return fp_push(c, b ? json_true() : json_false(), FHIRPATH_T_BOOLEAN);
}

/* Pushes v unless it is null (the gap of a primitive array whose
 * extensions are in "_name": no value). A resource-holding element's
 * objects are typed Resource. */
static int fp_push_item(struct fp_ctx *c, const json_t *v, enum fhirpath_type t, int resources)
{
	if (json_is_null(v))
		return 0;
	if (resources && json_is_object(v) && json_is_string(json_object_get(v, "resourceType")))
		t = FHIRPATH_T_RESOURCE;
	return fp_push(c, v, t);
}

/* An element's value: each item of an array (FHIR JSON has no arrays of
 * arrays, so an array inside one is not a value and is skipped), or the
 * value itself. */
static int fp_push_flat(struct fp_ctx *c, const json_t *v, enum fhirpath_type t, int resources)
{
	size_t i;
	int rc = 0;

	if (!json_is_array(v))
		return fp_push_item(c, v, t, resources);
	for (i = 0; i < json_array_size(v) && !rc; i++) {
		const json_t *x = json_array_get(v, i);
		if (!json_is_array(x))
			rc = fp_push_item(c, x, t, resources);
	}
	return rc;
}

/* Element name of obj, choice-aware (FHIR R4 formats: "value[x]" appears
 * as valueQuantity, valueString, ...): an exact member wins; otherwise
 * every member spelled name + a FHIR type name is selected, typed. */
static int fp_member(struct fp_ctx *c, const json_t *obj, const fhirpath_expr *e)
{
	const json_t *x = json_object_getn(obj, e->str, e->len);
	void *it;
	int rc;

	if (x)
		return fp_push_flat(c, x, FHIRPATH_T_UNKNOWN, (int)e->index);
	if (!e->choice)
		return 0;
	for (it = json_object_iter((json_t *)obj); it; it = json_object_iter_next((json_t *)obj, it)) {
		const char *key = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		enum fhirpath_type t;

		if (klen <= e->len || key[0] != e->str[0] || memcmp(key, e->str, e->len) != 0)
			continue;
		if (key[e->len] < 'A' || key[e->len] > 'Z')
			continue;
		t = fhirpath_type_find(key + e->len, klen - e->len);
		if (t == FHIRPATH_T_UNKNOWN)
			continue;
		rc = fp_push_flat(c, json_object_iter_value(it), t, 0);
		if (rc)
			return rc;
	}
	return 0;
}

/* Boolean value of the collection [lo, hi) (FHIRPath §"Singleton
 * evaluation of collections"): -1 empty (or more than one item), else
 * the boolean, a single non-boolean counting as true. */
static int fp_bool(const struct fp_ctx *c, size_t lo, size_t hi)
{
	const json_t *v;

	if (hi - lo != 1)
		return -1;
	v = c->vec->v[lo].v;
	if (json_is_boolean(v))
		return json_is_true(v);
	return 1;
}

static int fp_equal(const json_t *x, const json_t *y)
{
	if (json_is_string(x) && json_is_string(y))
		return json_string_length(x) == json_string_length(y) &&
		       memcmp(json_string_value(x), json_string_value(y), json_string_length(x)) == 0;
	if (json_is_number(x) && json_is_number(y))
		return json_number_value(x) == json_number_value(y);
	return json_equal(x, y);
}

/* Target resource type of Reference ref, for resolve() is T, without
 * resolving anything: the "Type/id" of a relative or absolute reference
 * (a version suffix dropped), the contained resource a "#id" names, or
 * else Reference.type. 1 and *t, *tl when known. */
static int fp_ref_type(const struct fp_ctx *c, const json_t *ref, const char **t, size_t *tl)
{
	const json_t *r, *ty;
	const char *s, *end, *slash, *h;
	size_t n, i;

	if (!json_is_object(ref))
		return 0;
	r = json_object_get(ref, "reference");
	if (json_is_string(r) && (n = json_string_length(r)) > 0) {
		s = json_string_value(r);
		if (s[0] == '#') {
			const json_t *cont = json_object_get(c->root, "contained");
			for (i = 0; i < json_array_size(cont); i++) {
				const json_t *res = json_array_get(cont, i), *id = json_object_get(res, "id");
				const json_t *rt = json_object_get(res, "resourceType");
				if (json_is_string(id) && json_is_string(rt) && json_string_length(id) == n - 1 &&
				    memcmp(json_string_value(id), s + 1, n - 1) == 0) {
					*t = json_string_value(rt);
					*tl = json_string_length(rt);
					return 1;
				}
			}
			return 0;
		}
		end = s + n;
		h = memmem(s, n, "/_history/", 10);
		if (h)
			end = h;
		slash = end;
		while (slash > s && slash[-1] != '/')
			slash--; /* start of the id */
		if (slash > s + 1 && slash < end) {
			const char *ts = slash - 1;
			while (ts > s && ts[-1] != '/')
				ts--;
			if (fhir_type_find(ts, (size_t)(slash - 1 - ts))) {
				*t = ts;
				*tl = (size_t)(slash - 1 - ts);
				return 1;
			}
		}
	}
	/* Reference.type: a type name, or a StructureDefinition URL */
	ty = json_object_get(ref, "type");
	if (json_is_string(ty) && json_string_length(ty) > 0) {
		s = json_string_value(ty);
		n = json_string_length(ty);
		slash = s + n;
		while (slash > s && slash[-1] != '/')
			slash--;
		if (fhir_type_find(slash, (size_t)(s + n - slash))) {
			*t = slash;
			*tl = (size_t)(s + n - slash);
			return 1;
		}
	}
	return 0;
}

static int fp_eval(const fhirpath_expr *e, struct fp_ctx *c, size_t lo, size_t hi);

/* The input of a per-item node: its child's result at [*ilo, *ihi), or
 * for $this the caller's range itself (no copy). */
static int fp_input(const fhirpath_expr *e, struct fp_ctx *c, size_t lo, size_t hi, size_t *ilo, size_t *ihi)
{
	int rc;

	if (e->a->op == FP_THIS) {
		*ilo = lo;
		*ihi = hi;
		return 0;
	}
	*ilo = c->vec->n;
	rc = fp_eval(e->a, c, lo, hi);
	*ihi = c->vec->n;
	return rc;
}

/* Moves the result [from, vec->n) down to start (where the node's own
 * pushes began), dropping the scratch between. */
static void fp_settle(struct fp_ctx *c, size_t start, size_t from)
{
	fhirpath_vec *vec = c->vec;

	if (from != start) {
		memmove(vec->v + start, vec->v + from, (vec->n - from) * sizeof *vec->v);
		vec->n = start + (vec->n - from);
	}
}

static int fp_eval(const fhirpath_expr *e, struct fp_ctx *c, size_t lo, size_t hi)
{
	fhirpath_vec *vec = c->vec;
	size_t start = vec->n, ilo, ihi, i, from = vec->n, mid;
	int rc = 0, x, y;

	switch (e->op) {
	case FP_THIS:
		for (i = lo; i < hi && !rc; i++) {
			fhirpath_node nd = vec->v[i];
			rc = fp_push(c, nd.v, nd.type);
		}
		return rc;
	case FP_ROOT:
		return fp_push(c, c->root, FHIRPATH_T_RESOURCE);
	case FP_LITERAL:
		return fp_push(c, e->lit, json_is_boolean(e->lit) ? FHIRPATH_T_BOOLEAN : FHIRPATH_T_STRING);
	case FP_TYPE_ROOT:
		for (i = lo; i < hi && !rc; i++) {
			fhirpath_node nd = vec->v[i];
			const json_t *rt = json_object_get(nd.v, "resourceType");
			if (!json_is_string(rt))
				continue;
			if (e->index || (json_string_length(rt) == e->len &&
					 memcmp(json_string_value(rt), e->str, e->len) == 0))
				rc = fp_push(c, nd.v, FHIRPATH_T_RESOURCE);
		}
		return rc;
	case FP_MEMBER:
		rc = fp_input(e, c, lo, hi, &ilo, &ihi);
		from = vec->n;
		for (i = ilo; i < ihi && !rc; i++) {
			const json_t *v = vec->v[i].v;
			if (json_is_object(v))
				rc = fp_member(c, v, e);
		}
		break;
	case FP_EXTENSION:
		rc = fp_input(e, c, lo, hi, &ilo, &ihi);
		from = vec->n;
		for (i = ilo; i < ihi && !rc; i++) {
			const json_t *ext = json_object_get(vec->v[i].v, "extension");
			size_t k;
			for (k = 0; k < json_array_size(ext) && !rc; k++) {
				const json_t *it = json_array_get(ext, k), *url = json_object_get(it, "url");
				if (json_is_string(url) && json_string_length(url) == e->len &&
				    memcmp(json_string_value(url), e->str, e->len) == 0)
					rc = fp_push(c, it, FHIRPATH_T_UNKNOWN);
			}
		}
		break;
	case FP_AS:
		rc = fp_input(e, c, lo, hi, &ilo, &ihi);
		from = vec->n;
		for (i = ilo; i < ihi && !rc; i++) {
			fhirpath_node nd = vec->v[i];
			if (nd.type != FHIRPATH_T_UNKNOWN) {
				if (nd.type == e->type || fp_type_parent(nd.type) == e->type)
					rc = fp_push(c, nd.v, nd.type);
			} else if (fp_shape_fits(nd.v, e->type)) {
				rc = fp_push(c, nd.v, e->type);
			}
		}
		break;
	case FP_WHERE:
		rc = fp_input(e, c, lo, hi, &ilo, &ihi);
		from = vec->n;
		for (i = ilo; i < ihi && !rc; i++) {
			fhirpath_node nd = vec->v[i];
			size_t mark = vec->n;
			rc = fp_push(c, nd.v, nd.type);
			if (!rc)
				rc = fp_eval(e->b, c, mark, mark + 1);
			if (rc)
				break;
			x = fp_bool(c, mark + 1, vec->n);
			vec->n = mark;
			if (x == 1)
				rc = fp_push(c, nd.v, nd.type);
		}
		break;
	case FP_INDEX:
		rc = fp_eval(e->a, c, lo, hi);
		if (rc)
			break;
		if (e->index < vec->n - start) {
			vec->v[start] = vec->v[start + e->index];
			vec->n = start + 1;
		} else {
			vec->n = start;
		}
		return 0;
	case FP_EXISTS:
		rc = fp_eval(e->a, c, lo, hi);
		if (rc)
			break;
		x = vec->n > start;
		vec->n = start;
		return fp_push_bool(c, x);
	case FP_IS:
		rc = fp_input(e, c, lo, hi, &ilo, &ihi);
		if (rc)
			break;
		x = -1;
		if (ihi - ilo == 1) {
			fhirpath_node nd = vec->v[ilo];
			x = nd.type != FHIRPATH_T_UNKNOWN
				    ? nd.type == e->type || fp_type_parent(nd.type) == e->type
				    : fp_shape_fits(nd.v, e->type);
		}
		vec->n = start;
		return x < 0 ? 0 : fp_push_bool(c, x);
	case FP_RESOLVE_IS:
		rc = fp_input(e, c, lo, hi, &ilo, &ihi);
		if (rc)
			break;
		x = -1;
		if (ihi - ilo == 1) {
			const char *t;
			size_t tl;
			x = fp_ref_type(c, vec->v[ilo].v, &t, &tl) && tl == e->len && memcmp(t, e->str, tl) == 0;
		}
		vec->n = start;
		return x < 0 ? 0 : fp_push_bool(c, x);
	case FP_UNION:
		rc = fp_eval(e->a, c, lo, hi);
		if (!rc)
			rc = fp_eval(e->b, c, lo, hi);
		break;
	case FP_EQ:
	case FP_NE:
		rc = fp_eval(e->a, c, lo, hi);
		mid = vec->n;
		if (!rc)
			rc = fp_eval(e->b, c, lo, hi);
		if (rc)
			break;
		/* FHIRPath §"Equality": empty if either side is empty; equal
		 * collections have the same items in the same order. */
		x = -1;
		if (mid > start && vec->n > mid) {
			x = vec->n - mid == mid - start;
			for (i = 0; x && i < mid - start; i++)
				x = fp_equal(vec->v[start + i].v, vec->v[mid + i].v);
		}
		vec->n = start;
		if (x < 0)
			return 0;
		return fp_push_bool(c, e->op == FP_EQ ? x : !x);
	case FP_AND:
		rc = fp_eval(e->a, c, lo, hi);
		if (rc)
			break;
		x = fp_bool(c, start, vec->n);
		vec->n = start;
		rc = fp_eval(e->b, c, lo, hi);
		if (rc)
			break;
		y = fp_bool(c, start, vec->n);
		vec->n = start;
		if (x == 0 || y == 0)
			return fp_push_bool(c, 0);
		if (x == 1 && y == 1)
			return fp_push_bool(c, 1);
		return 0;
	case FP_RESOLVE: /* refused by the compiler */
	default:
		return ERR_INTERNAL;
	}
	if (rc)
		return rc;
	if (e->op != FP_UNION)
		fp_settle(c, start, from);
	return 0;
}

int fhirpath_eval(const fhirpath_expr *e, const json_t *resource, fhirpath_node ctx, fhirpath_vec *vec)
{
	struct fp_ctx c = { vec, resource };
	size_t n0 = vec->n;
	int rc;

	/* the context item sits just below the result: push it, evaluate
	 * over it, then move the result down over it */
	rc = fp_push(&c, ctx.v, ctx.type);
	if (!rc)
		rc = fp_eval(e, &c, n0, n0 + 1);
	if (rc) {
		vec->n = n0;
		return rc;
	}
	fp_settle(&c, n0, n0 + 1);
	return 0;
}
