/*
 * scope.h - SMART App Launch scopes (v1 and v2), parsed into rules.
 *
 * hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html:
 *   v2:  (patient|user|system)/(Type|*).[c][r][u][d][s][?param=value&...]
 *        letters in that order, each at most once, at least one
 *   v1:  (patient|user|system)/(Type|*).(read|write|*)
 *        read = rs, write = cud, * = cruds (the v2 equivalents)
 *   and the launch/identity scopes: openid, fhirUser, profile, launch,
 *   launch/patient, launch/encounter, offline_access, online_access.
 * Anything else is kept as an "other" scope: it grants nothing, but a
 * granted scope string round-trips it when the client was registered for it.
 *
 * This module is syntax and set algebra only: it does not know which
 * resource types exist (callers check types against their own table) and
 * it decides nothing about requests (auth.c does). Parsing is strict and
 * bounded because scope strings come from clients (authorize, token
 * requests) and from tokens.
 *
 * One exception to "*" matching every type: AuditEvent (the audit trail)
 * is only ever matched by a rule that names it (scope_intersect,
 * scope_covers, scope_match), so no wildcard grant reaches it.
 *
 * Ownership: a scope_set owns its rules and strings (scope_set_fini).
 */
#ifndef FHIRD_AUTH_SCOPE_H
#define FHIRD_AUTH_SCOPE_H

#include <stddef.h>

/* Permission letters (v2). */
#define SCOPE_C 0x01u
#define SCOPE_R 0x02u
#define SCOPE_U 0x04u
#define SCOPE_D 0x08u
#define SCOPE_S 0x10u
#define SCOPE_ALL 0x1fu

enum scope_ctx { SCOPE_PATIENT = 1, SCOPE_USER = 2, SCOPE_SYSTEM = 4 };

/* Launch and identity scopes. */
#define SCOPE_F_OPENID 0x01u
#define SCOPE_F_FHIRUSER 0x02u
#define SCOPE_F_PROFILE 0x04u
#define SCOPE_F_LAUNCH 0x08u          /* EHR launch */
#define SCOPE_F_LAUNCH_PATIENT 0x10u  /* standalone: pick a patient */
#define SCOPE_F_LAUNCH_ENCOUNTER 0x20u
#define SCOPE_F_OFFLINE 0x40u         /* offline_access */
#define SCOPE_F_ONLINE 0x80u          /* online_access */

/* Bounds (a longer/larger scope string is ERR_INVALID). */
#define SCOPE_MAX_LEN 4096
#define SCOPE_MAX_ITEMS 128

/* One resource scope. */
typedef struct scope_rule {
	enum scope_ctx ctx;
	char type[64];     /* resource type, or "*" */
	unsigned perms;    /* SCOPE_C | SCOPE_R | ... (v1 mapped to v2) */
	int v1;            /* written in v1 syntax */
	/* v2 granular constraint: the text after '?', or NULL. Kept as the
	 * client sent it (an x-www-form-urlencoded query, e.g.
	 * "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory");
	 * the caller parses it as search parameters. */
	char *query;
} scope_rule;

typedef struct scope_set {
	scope_rule *rules;
	size_t nrules;
	unsigned flags;    /* SCOPE_F_* */
	char **other;      /* unrecognised scope tokens, verbatim */
	size_t nother;
} scope_set;

/* Parses a space-separated scope string (RFC 6749 3.3: tokens of
 * %x21 / %x23-5B / %x5D-7E separated by single or repeated spaces) into
 * out (which the caller has zeroed or fini'd). Duplicates collapse.
 * ERR_INVALID for a malformed resource scope (bad context, empty type,
 * bad or repeated or out-of-order letters, empty constraint), a character
 * outside the RFC's set, more than SCOPE_MAX_ITEMS tokens or
 * SCOPE_MAX_LEN bytes; ERR_NOMEM. On error out is left empty. */
int scope_parse(const char *s, scope_set *out);

void scope_set_fini(scope_set *s);

/* Canonical string of s: flags first (fixed order), then rules, then the
 * other scopes, single spaces. Rules parsed in v1 syntax print in v1
 * syntax when their letters map back exactly (rs -> read, cud -> write,
 * cruds -> *), else as v2 letters. *out is malloc'd ("" for an empty set). */
int scope_format(const scope_set *s, char **out);

/* What may be granted when `req` is asked and `allowed` is what the client
 * is registered for (or what the user consents to): for every requested
 * rule and every allowed rule of the same context whose types match ("*"
 * on either side matches any type) and whose constraints are compatible
 * (either one absent, or both identical), the rule with the requested type
 * (or the allowed type when "*" was asked), the common letters (none ->
 * dropped) and the requested constraint (or the allowed one when none was
 * asked). Flags and other scopes: the common ones. out is filled fresh.
 * ERR_NOMEM. */
int scope_intersect(const scope_set *req, const scope_set *allowed, scope_set *out);

/* 1 when every rule, flag and other scope of `want` is covered by `have`
 * (the refresh-token rule that a scope may only narrow), else 0. */
int scope_covers(const scope_set *have, const scope_set *want);

/* The rules of s that grant perm (one letter) on type in one of the
 * contexts in ctx_mask (SCOPE_PATIENT | ...): a rule matches when its
 * type is type or "*". Pointers to at most max of them go to out, the
 * count (possibly more than max) to the return value. */
size_t scope_match(const scope_set *s, const char *type, unsigned perm, unsigned ctx_mask, const scope_rule **out,
		   size_t max);

#endif
