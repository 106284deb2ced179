/*
 * scope.c - see scope.h. SMART App Launch scopes (STU 2.2,
 * scopes-and-launch-context.html) parsed into rules, and the set algebra
 * the authorization server needs: what to grant (intersect), whether a
 * refresh may ask for it (covers), and which rules allow a request (match).
 *
 * Workload: a handful of tokens per authorize/token request and per access
 * token, so everything is linear scans over at most SCOPE_MAX_ITEMS rules;
 * only intersect is quadratic (requested x allowed). The input is hostile
 * (client-supplied), so the whole string is checked against the RFC 6749
 * character set and the bounds before any allocation.
 */
#include "scope.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

/* Flag names in SCOPE_F_* bit order: bit i is scope_flag_names[i]. The
 * order is also the canonical order of scope_format(). */
static const char *const scope_flag_names[] = {
	"openid",	  "fhirUser",	    "profile",	      "launch",
	"launch/patient", "launch/encounter", "offline_access", "online_access",
};
#define SCOPE_NFLAGS (sizeof scope_flag_names / sizeof scope_flag_names[0])

/* v2 permission letters in the only order the spec allows
 * (scopes-and-launch-context.html#scopes-for-requesting-fhir-resources:
 * "c, r, u, d, s ... in that order"), bit i is letter i. */
static const char scope_letters[] = "cruds";

/* A scope_set under construction, with the capacities scope_set lacks. */
typedef struct scope_build {
	scope_set set;
	size_t rcap;
	size_t ocap;
} scope_build;

/* RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). Everything
 * else (controls, DEL, non-ASCII, '"', '\\') is refused so that a scope
 * string can be echoed into JSON, HTML and logs without surprises. */
static int scope_tokchar(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static int scope_type_ok(const char *t, size_t n)
{
	size_t i;

	if (n == 1 && t[0] == '*')
		return 1;
	/* FHIR resource type names are [A-Z][A-Za-z]*; whether the type exists
	 * is the caller's question. 63 keeps it (and its NUL) in rule.type. */
	if (n < 1 || n > sizeof ((scope_rule *)0)->type - 1 || t[0] < 'A' || t[0] > 'Z')
		return 0;
	for (i = 1; i < n; i++) {
		char c = t[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return 0;
	}
	return 1;
}

/* v2 letters: each at most once, in cruds order, at least one. Returns the
 * mask or 0 when the text is not a valid letter sequence. */
static unsigned scope_letters_parse(const char *p, size_t n)
{
	unsigned perms = 0;
	size_t i, next = 0; /* index in scope_letters the next letter may take */

	for (i = 0; i < n; i++) {
		const char *at = memchr(scope_letters, p[i], sizeof scope_letters - 1);
		size_t k;

		if (!at)
			return 0;
		k = (size_t)(at - scope_letters);
		/* k < next covers both a repeat and a letter out of order */
		if (k < next)
			return 0;
		perms |= 1u << k;
		next = k + 1;
	}
	return perms;
}

static int scope_query_eq(const char *a, const char *b, size_t blen)
{
	if (!a || !b)
		return !a && !b;
	return strlen(a) == blen && memcmp(a, b, blen) == 0;
}

/* Appends a rule unless an equal one (ctx, type, perms, constraint) is
 * already there: duplicates collapse, the first keeps its place and its
 * v1/v2 spelling. The constraint is copied (q may be unterminated). */
static int scope_rule_push(scope_build *b, enum scope_ctx ctx, const char *type, unsigned perms, int v1,
			   const char *q, size_t qlen)
{
	scope_set *s = &b->set;
	scope_rule *r;
	size_t i;

	for (i = 0; i < s->nrules; i++) {
		r = &s->rules[i];
		if (r->ctx == ctx && r->perms == perms && strcmp(r->type, type) == 0 &&
		    scope_query_eq(r->query, q, qlen))
			return 0;
	}
	if (s->nrules == b->rcap) {
		size_t ncap = b->rcap ? b->rcap * 2 : 8;
		scope_rule *nr = realloc(s->rules, ncap * sizeof *nr);
		if (!nr)
			return ERR_NOMEM;
		s->rules = nr;
		b->rcap = ncap;
	}
	r = &s->rules[s->nrules];
	memset(r, 0, sizeof *r);
	r->ctx = ctx;
	memcpy(r->type, type, strlen(type) + 1); /* type checked <= 63 bytes */
	r->perms = perms;
	r->v1 = v1;
	if (q) {
		r->query = malloc(qlen + 1);
		if (!r->query)
			return ERR_NOMEM;
		memcpy(r->query, q, qlen);
		r->query[qlen] = '\0';
	}
	s->nrules++;
	return 0;
}

static int scope_other_push(scope_build *b, const char *t, size_t n)
{
	scope_set *s = &b->set;
	char *copy;
	size_t i;

	for (i = 0; i < s->nother; i++)
		if (strlen(s->other[i]) == n && memcmp(s->other[i], t, n) == 0)
			return 0;
	if (s->nother == b->ocap) {
		size_t ncap = b->ocap ? b->ocap * 2 : 4;
		char **no = realloc(s->other, ncap * sizeof *no);
		if (!no)
			return ERR_NOMEM;
		s->other = no;
		b->ocap = ncap;
	}
	copy = malloc(n + 1);
	if (!copy)
		return ERR_NOMEM;
	memcpy(copy, t, n);
	copy[n] = '\0';
	s->other[s->nother++] = copy;
	return 0;
}

/* A token that starts with a context prefix is a resource scope and must
 * be well formed: silently keeping "patient/Observation.rc" as an "other"
 * scope would make a client believe it asked for something it did not get
 * and hide its bug, so the whole string is refused instead. */
static int scope_resource_parse(scope_build *b, enum scope_ctx ctx, const char *t, size_t n)
{
	const char *dot, *qm, *perm;
	char type[sizeof ((scope_rule *)0)->type];
	size_t tlen, plen;
	unsigned perms;
	int v1 = 0;

	dot = memchr(t, '.', n);
	if (!dot)
		return ERR_INVALID;
	tlen = (size_t)(dot - t);
	if (!scope_type_ok(t, tlen))
		return ERR_INVALID;
	memcpy(type, t, tlen);
	type[tlen] = '\0';
	perm = dot + 1;
	qm = memchr(perm, '?', n - tlen - 1);
	plen = qm ? (size_t)(qm - perm) : n - tlen - 1;
	/* v1 names (scopes-and-launch-context.html#scopes-for-requesting-
	 * clinical-data in 1.0): read = rs, write = cud, * = cruds. "read" and
	 * "write" contain letters outside cruds, so they never parse as v2. */
	if (plen == 4 && memcmp(perm, "read", 4) == 0) {
		perms = SCOPE_R | SCOPE_S;
		v1 = 1;
	} else if (plen == 5 && memcmp(perm, "write", 5) == 0) {
		perms = SCOPE_C | SCOPE_U | SCOPE_D;
		v1 = 1;
	} else if (plen == 1 && perm[0] == '*') {
		perms = SCOPE_ALL;
		v1 = 1;
	} else {
		perms = scope_letters_parse(perm, plen);
		if (!perms)
			return ERR_INVALID;
	}
	if (qm) {
		size_t qlen = n - tlen - 1 - plen - 1;
		/* Granular constraints are a v2 feature; an empty one would be an
		 * unconstrained rule spelled differently, so both are refused. */
		if (v1 || qlen == 0)
			return ERR_INVALID;
		return scope_rule_push(b, ctx, type, perms, 0, qm + 1, qlen);
	}
	return scope_rule_push(b, ctx, type, perms, v1, NULL, 0);
}

static int scope_token_add(scope_build *b, const char *t, size_t n)
{
	static const struct {
		const char *prefix;
		size_t len;
		enum scope_ctx ctx;
	} ctxs[] = {
		{ "patient/", 8, SCOPE_PATIENT },
		{ "user/", 5, SCOPE_USER },
		{ "system/", 7, SCOPE_SYSTEM },
	};
	size_t i;

	for (i = 0; i < SCOPE_NFLAGS; i++) {
		if (strlen(scope_flag_names[i]) == n && memcmp(scope_flag_names[i], t, n) == 0) {
			b->set.flags |= 1u << i;
			return 0;
		}
	}
	for (i = 0; i < sizeof ctxs / sizeof ctxs[0]; i++)
		if (n >= ctxs[i].len && memcmp(t, ctxs[i].prefix, ctxs[i].len) == 0)
			return scope_resource_parse(b, ctxs[i].ctx, t + ctxs[i].len, n - ctxs[i].len);
	/* Unknown scopes are not an error (RFC 6749 3.3 lets the server ignore
	 * them); they grant nothing here but survive a round trip. */
	return scope_other_push(b, t, n);
}

void scope_set_fini(scope_set *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nrules; i++)
		free(s->rules[i].query);
	free(s->rules);
	for (i = 0; i < s->nother; i++)
		free(s->other[i]);
	free(s->other);
	memset(s, 0, sizeof *s);
}

int scope_parse(const char *s, scope_set *out)
{
	scope_build b;
	size_t len, i, start, ntok = 0;
	int rc = 0;

	memset(&b, 0, sizeof b);
	memset(out, 0, sizeof *out);
	/* No scope parameter is the empty set: it grants nothing. */
	if (!s)
		return 0;
	/* Bounds and characters first, before anything is allocated. */
	len = strnlen(s, SCOPE_MAX_LEN + 1);
	if (len > SCOPE_MAX_LEN)
		return ERR_INVALID;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c != ' ' && !scope_tokchar(c))
			return ERR_INVALID;
		if (c != ' ' && (i == 0 || s[i - 1] == ' '))
			ntok++;
	}
	if (ntok > SCOPE_MAX_ITEMS)
		return ERR_INVALID;
	/* RFC 6749 separates tokens by one space; repeated, leading and
	 * trailing spaces are tolerated because they change no meaning. */
	i = 0;
	while (i < len) {
		while (i < len && s[i] == ' ')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && s[i] != ' ')
			i++;
		rc = scope_token_add(&b, s + start, i - start);
		if (rc)
			goto fail;
	}
	*out = b.set;
	return 0;
fail:
	scope_set_fini(&b.set);
	return rc;
}

/* Writes the text of one rule at dst + *pos (or only counts when dst is
 * NULL), so that scope_format() can size its buffer exactly. */
static void scope_put(char *dst, size_t *pos, const char *src, size_t n)
{
	if (dst)
		memcpy(dst + *pos, src, n);
	*pos += n;
}

static void scope_rule_put(char *dst, size_t *pos, const scope_rule *r)
{
	const char *ctx = r->ctx == SCOPE_PATIENT ? "patient/" : r->ctx == SCOPE_USER ? "user/" : "system/";
	char letters[sizeof scope_letters];
	size_t i, n = 0;

	scope_put(dst, pos, ctx, strlen(ctx));
	scope_put(dst, pos, r->type, strlen(r->type));
	scope_put(dst, pos, ".", 1);
	/* v1 spelling only when it means exactly these letters, so that a
	 * narrowed v1 rule (say read -> r) prints as what it now grants. A v1
	 * rule cannot carry a constraint (it would not parse back). */
	if (r->v1 && !r->query && r->perms == (SCOPE_R | SCOPE_S)) {
		scope_put(dst, pos, "read", 4);
		return;
	}
	if (r->v1 && !r->query && r->perms == (SCOPE_C | SCOPE_U | SCOPE_D)) {
		scope_put(dst, pos, "write", 5);
		return;
	}
	if (r->v1 && !r->query && r->perms == SCOPE_ALL) {
		scope_put(dst, pos, "*", 1);
		return;
	}
	for (i = 0; i < sizeof scope_letters - 1; i++)
		if (r->perms & (1u << i))
			letters[n++] = scope_letters[i];
	scope_put(dst, pos, letters, n);
	if (r->query) {
		scope_put(dst, pos, "?", 1);
		scope_put(dst, pos, r->query, strlen(r->query));
	}
}

static size_t scope_emit(const scope_set *s, char *dst)
{
	size_t i, pos = 0;
	int first = 1;

	for (i = 0; i < SCOPE_NFLAGS; i++) {
		if (!(s->flags & (1u << i)))
			continue;
		if (!first)
			scope_put(dst, &pos, " ", 1);
		scope_put(dst, &pos, scope_flag_names[i], strlen(scope_flag_names[i]));
		first = 0;
	}
	for (i = 0; i < s->nrules; i++) {
		/* a rule without letters grants nothing and would not parse */
		if (!(s->rules[i].perms & SCOPE_ALL))
			continue;
		if (!first)
			scope_put(dst, &pos, " ", 1);
		scope_rule_put(dst, &pos, &s->rules[i]);
		first = 0;
	}
	for (i = 0; i < s->nother; i++) {
		if (!first)
			scope_put(dst, &pos, " ", 1);
		scope_put(dst, &pos, s->other[i], strlen(s->other[i]));
		first = 0;
	}
	return pos;
}

int scope_format(const scope_set *s, char **out)
{
	size_t n = scope_emit(s, NULL);
	char *p;

	*out = NULL;
	p = malloc(n + 1);
	if (!p)
		return ERR_NOMEM;
	scope_emit(s, p);
	p[n] = '\0';
	*out = p;
	return 0;
}

/* Types a wildcard does not reach: a rule must name them. AuditEvent
 * (the audit trail, issue 6): a client registered for the wildcard
 * (system/[*].rs) may not obtain system/AuditEvent.rs by asking for it,
 * and asking for the wildcard does not yield it. */
static int scope_explicit_only(const char *type)
{
	return strcmp(type, "AuditEvent") == 0;
}

static int scope_type_covers(const char *have, const char *want)
{
	if (strcmp(have, want) == 0)
		return 1;
	return strcmp(have, "*") == 0 && !scope_explicit_only(want);
}

int scope_intersect(const scope_set *req, const scope_set *allowed, scope_set *out)
{
	scope_build b;
	size_t i, j;
	int rc = 0;

	/* out is only written once the result is complete; what it held is
	 * not freed ("filled fresh"), so it must not be one of the inputs */
	memset(&b, 0, sizeof b);
	for (i = 0; i < req->nrules; i++) {
		const scope_rule *r = &req->rules[i];

		for (j = 0; j < allowed->nrules; j++) {
			const scope_rule *a = &allowed->rules[j];
			const char *type, *q;
			unsigned perms = r->perms & a->perms & SCOPE_ALL;

			if (r->ctx != a->ctx || !perms)
				continue;
			/* "*" on either side matches; the grant names the concrete
			 * type when one side has it (the wildcard asked of a client
			 * allowed patient/Observation.rs yields patient/Observation.rs,
			 * never more than the client was allowed). */
			if (!scope_type_covers(a->type, r->type) && !scope_type_covers(r->type, a->type))
				continue;
			type = strcmp(r->type, "*") == 0 ? a->type : r->type;
			/* Two different constraints have no intersection we could
			 * write as one rule; an absent one is "everything", so the
			 * present one is the intersection. */
			if (r->query && a->query && strcmp(r->query, a->query) != 0)
				continue;
			q = r->query ? r->query : a->query;
			rc = scope_rule_push(&b, r->ctx, type, perms, r->v1, q, q ? strlen(q) : 0);
			if (rc)
				goto fail;
		}
	}
	b.set.flags = req->flags & allowed->flags;
	for (i = 0; i < req->nother; i++) {
		for (j = 0; j < allowed->nother; j++) {
			if (strcmp(req->other[i], allowed->other[j]) == 0) {
				rc = scope_other_push(&b, req->other[i], strlen(req->other[i]));
				if (rc)
					goto fail;
				break;
			}
		}
	}
	*out = b.set;
	return 0;
fail:
	scope_set_fini(&b.set);
	memset(out, 0, sizeof *out);
	return rc;
}

/* A wanted rule is covered letter by letter: each of its letters must be
 * granted by some rule of `have` in the same context whose type covers it
 * and whose constraint is absent or the same. Several rules may share the
 * work (have r and s separately covers want rs). */
static int scope_rule_covered(const scope_set *have, const scope_rule *w)
{
	unsigned got = 0;
	size_t i;

	for (i = 0; i < have->nrules; i++) {
		const scope_rule *h = &have->rules[i];

		if (h->ctx != w->ctx || !scope_type_covers(h->type, w->type))
			continue;
		if (h->query && (!w->query || strcmp(h->query, w->query) != 0))
			continue;
		got |= h->perms;
	}
	return (w->perms & ~got) == 0;
}

int scope_covers(const scope_set *have, const scope_set *want)
{
	size_t i, j;

	if (want->flags & ~have->flags)
		return 0;
	for (i = 0; i < want->nrules; i++)
		if (!scope_rule_covered(have, &want->rules[i]))
			return 0;
	for (i = 0; i < want->nother; i++) {
		for (j = 0; j < have->nother; j++)
			if (strcmp(want->other[i], have->other[j]) == 0)
				break;
		if (j == have->nother)
			return 0;
	}
	return 1;
}

size_t scope_match(const scope_set *s, const char *type, unsigned perm, unsigned ctx_mask, const scope_rule **out,
		   size_t max)
{
	size_t i, n = 0;

	/* perm 0 would match every rule; asking for nothing grants nothing. */
	if (!(perm & SCOPE_ALL))
		return 0;
	for (i = 0; i < s->nrules; i++) {
		const scope_rule *r = &s->rules[i];

		if (!((unsigned)r->ctx & ctx_mask) || (r->perms & perm) != perm)
			continue;
		/* A NULL type (a system-level interaction) is matched only by "*":
		 * a rule for one type says nothing about the others. */
		if (strcmp(r->type, "*") != 0 && (!type || strcmp(r->type, type) != 0))
			continue;
		if (!strcmp(r->type, "*") && type && scope_explicit_only(type))
			continue; /* see scope_explicit_only */
		if (n < max && out)
			out[n] = r;
		n++;
	}
	return n;
}
