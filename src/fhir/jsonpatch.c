/*
 * jsonpatch.c - see jsonpatch.h. Two passes over the patch: the first
 * parses every operation into a small struct and checks everything that
 * does not depend on the document (RFC 6902 §4 members, RFC 6901 pointer
 * syntax, the move prefix rule); the second deep-copies the document once
 * and applies the operations to the copy, which replaces *doc only when all
 * of them succeeded. The workload is FHIR PATCH: a handful of operations on
 * one resource, typically a "test" of meta.versionId or a field followed by
 * a few add/replace/remove.
 *
 * Pointers are walked token by token without building a token list: each
 * reference token is decoded into one buffer in the context (tokens are
 * never longer than the pointer), and object members are looked up by
 * (bytes, length), so member names containing U+0000 work like any other.
 *
 * Recursion: measuring a value stops at FHIR_JSONPATCH_MAX_DEPTH levels;
 * comparing (test) follows the document, whose depth is the parser's limit
 * plus what this module lets operations add, which is also capped by
 * FHIR_JSONPATCH_MAX_DEPTH. Everything a client can repeat at no cost in
 * patch size (copying, moving, testing a large subtree) is charged to a
 * work budget.
 */
#include "jsonpatch.h"

#include "core/err.h"
#include "core/valid.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum jp_code { JP_ADD, JP_REMOVE, JP_REPLACE, JP_MOVE, JP_COPY, JP_TEST };

/* RFC 6902 §4: the six operations and the members each requires. */
static const struct jp_opdef {
	const char *name;
	enum jp_code code;
	int needs_from;
	int needs_value;
} jp_opdefs[] = {
	{ "add", JP_ADD, 0, 1 },
	{ "remove", JP_REMOVE, 0, 0 },
	{ "replace", JP_REPLACE, 0, 1 },
	{ "move", JP_MOVE, 1, 0 },
	{ "copy", JP_COPY, 1, 0 },
	{ "test", JP_TEST, 0, 1 },
};

/* One parsed operation; the strings and value belong to the patch. */
struct jp_op {
	const struct jp_opdef *def;
	const char *path;
	size_t path_len;
	const char *from;
	size_t from_len;
	const json_t *value;
};

struct jp_ctx {
	json_t *root;     /* the working copy, owned */
	size_t work;      /* nodes copied, moved or compared so far */
	char *diag;
	size_t diaglen;
	size_t index;     /* operation being checked or applied */
	const char *name; /* its "op", once known */
	char tok[FHIR_JSONPATCH_MAX_POINTER + 1]; /* last decoded reference token */
	size_t tok_len;
	size_t ntok;      /* reference tokens in the pointer last walked */
};


/* Writes "operation N (op): what[ pointer]" into diag and returns err;
 * what ends with its connector ("value differs at"). The root pointer ""
 * is shown as "". */
static int jp_fail(struct jp_ctx *c, int err, const char *what, const char *ptr, size_t ptr_len)
{
	char q[VALID_QUOTE_BUF];
	char name[24];

	if (!c->diag || c->diaglen == 0)
		goto out;
	if (c->name)
		snprintf(name, sizeof name, " (%s)", c->name);
	else
		name[0] = '\0';
	if (ptr) {
		if (ptr_len)
			valid_quote(ptr, ptr_len, q);
		else
			memcpy(q, "\"\"", 3);
		snprintf(c->diag, c->diaglen, "operation %zu%s: %s %s", c->index, name, what, q);
	} else {
		snprintf(c->diag, c->diaglen, "operation %zu%s: %s", c->index, name, what);
	}
	valid_utf8_trim(c->diag);
out:
	return err;
}

/* RFC 6901 §3: "" or a sequence of '/' + reference token, where '~' only
 * appears as "~0" or "~1". */
static int jp_pointer_check(const char *p, size_t len)
{
	int rc = ERR_INVALID;
	size_t i;

	if (len > FHIR_JSONPATCH_MAX_POINTER)
		goto out;
	if (len > 0 && p[0] != '/')
		goto out;
	for (i = 0; i < len; i++) {
		if (p[i] != '~')
			continue;
		if (i + 1 >= len || (p[i + 1] != '0' && p[i + 1] != '1'))
			goto out;
		i++;
	}
	rc = 0;
out:
	return rc;
}

/* Decodes the reference token that starts after the '/' at p[*pos] into
 * c->tok and advances *pos to the next '/' or the end. One left-to-right
 * pass consuming each escape as a unit is RFC 6901 §4's "~1 first, then
 * ~0": "~01" becomes "~1", never "/". The pointer was checked. */
static void jp_token_next(struct jp_ctx *c, const char *p, size_t len, size_t *pos)
{
	size_t i = *pos + 1, n = 0;

	while (i < len && p[i] != '/') {
		if (p[i] == '~') {
			c->tok[n++] = p[i + 1] == '1' ? '/' : '~';
			i += 2;
		} else {
			c->tok[n++] = p[i++];
		}
	}
	c->tok[n] = '\0';
	c->tok_len = n;
	*pos = i;
}

/* RFC 6901 §4: array-index = "0" / %x31-39 *DIGIT. Values beyond SIZE_MAX
 * become SIZE_MAX, past the end of any array. ERR_INVALID for anything
 * else, including leading zeros and "-" (callers handle "-" first). */
static int jp_index_parse(const char *tok, size_t len, size_t *idx)
{
	int rc = ERR_INVALID;
	size_t v = 0, i;

	if (len == 0 || (tok[0] == '0' && len > 1))
		goto out;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned char)tok[i] - '0';
		if (d > 9)
			goto out;
		v = v > (SIZE_MAX - d) / 10 ? SIZE_MAX : v * 10 + d;
	}
	*idx = v;
	rc = 0;
out:
	return rc;
}

/* The child of v named by c->tok: 0 and *child (NULL when there is none,
 * including "-" and any token under a scalar), or ERR_INVALID for a token
 * that cannot be an array index at all. */
static int jp_child(struct jp_ctx *c, json_t *v, json_t **child)
{
	int rc = 0;
	size_t idx;

	*child = NULL;
	if (json_is_object(v)) {
		*child = json_object_getn(v, c->tok, c->tok_len);
	} else if (json_is_array(v)) {
		if (c->tok_len == 1 && c->tok[0] == '-')
			goto out; /* the element after the last: never exists */
		rc = jp_index_parse(c->tok, c->tok_len, &idx);
		if (rc == 0 && idx < json_array_size(v))
			*child = json_array_get(v, idx);
	}
out:
	return rc;
}

/* Follows every reference token of p but the last. *parent is the value
 * the last token applies to, or NULL when p is "" (the root itself); the
 * last token is in c->tok, the token count in c->ntok. ERR_INVALID when a
 * value on the way does not exist (RFC 6902 §4.1: the parent must). what
 * names the pointer in messages ("path" or "from"). */
static int jp_walk(struct jp_ctx *c, const char *what, const char *p, size_t len, json_t **parent)
{
	int rc = 0;
	size_t pos = 0;
	json_t *v = c->root, *next;
	char msg[32];

	*parent = NULL;
	c->ntok = 0;
	c->tok_len = 0;
	c->tok[0] = '\0';
	if (len == 0)
		goto out;
	for (;;) {
		jp_token_next(c, p, len, &pos);
		c->ntok++;
		if (pos == len)
			break;
		if (jp_child(c, v, &next)) {
			rc = jp_fail(c, ERR_INVALID, "invalid array index in", p, len);
			goto out;
		}
		if (!next) {
			snprintf(msg, sizeof msg, "%s not found:", what);
			rc = jp_fail(c, ERR_INVALID, msg, p, len);
			goto out;
		}
		v = next;
	}
	*parent = v;
out:
	return rc;
}

/* The value p points at (RFC 6901 §4) into *out, and its container into
 * *parent (NULL for the root); c->tok holds the last token. ERR_INVALID
 * when there is no such value. */
static int jp_get(struct jp_ctx *c, const char *what, const char *p, size_t len, json_t **parent, json_t **out)
{
	int rc;
	json_t *v = NULL;
	char msg[32];

	if ((rc = jp_walk(c, what, p, len, parent)))
		goto out;
	if (!*parent) {
		v = c->root;
		goto out;
	}
	if (jp_child(c, *parent, &v)) {
		rc = jp_fail(c, ERR_INVALID, "invalid array index in", p, len);
		goto out;
	}
	if (!v) {
		snprintf(msg, sizeof msg, "%s not found:", what);
		rc = jp_fail(c, ERR_INVALID, msg, p, len);
		goto out;
	}
out:
	*out = v;
	return rc;
}

/* Charges one node to the work budget. */
static int jp_charge(struct jp_ctx *c)
{
	int rc = 0;

	if (++c->work > FHIR_JSONPATCH_MAX_WORK)
		rc = jp_fail(c, ERR_TOOBIG, "patch copies, moves or compares too much data", NULL, 0);
	return rc;
}

/* Container nesting of v (0 for a scalar) into *depth, stopping with
 * ERR_TOOBIG (no message) as soon as above + nesting would pass
 * FHIR_JSONPATCH_MAX_DEPTH, so the recursion is bounded by that limit
 * whatever v is. Charges each node to the work budget when charge is set
 * (ERR_TOOBIG with a message when it runs out). */
static int jp_measure(struct jp_ctx *c, const json_t *v, size_t above, int charge, size_t *depth)
{
	int rc = 0;
	size_t d, max = 0, i;
	const char *key;
	size_t key_len;
	json_t *child;

	*depth = 0;
	if (charge && (rc = jp_charge(c)))
		goto out;
	if (!json_is_object(v) && !json_is_array(v))
		goto out;
	if (above + 1 > FHIR_JSONPATCH_MAX_DEPTH) {
		rc = ERR_TOOBIG;
		goto out;
	}
	if (json_is_object(v)) {
		json_object_keylen_foreach((json_t *)v, key, key_len, child) {
			(void)key_len;
			if ((rc = jp_measure(c, child, above + 1, charge, &d)))
				goto out;
			if (d > max)
				max = d;
		}
	} else {
		for (i = 0; i < json_array_size(v); i++) {
			if ((rc = jp_measure(c, json_array_get(v, i), above + 1, charge, &d)))
				goto out;
			if (d > max)
				max = d;
		}
	}
	*depth = max + 1;
out:
	return rc;
}

/* RFC 6902 §4.6: numbers are equal when their values are, whatever their
 * JSON spelling, so integer 1 equals real 1.0 (jansson's json_equal says
 * they differ). The real is compared exactly: converting the integer to
 * double instead would call 2^53 + 1 equal to 2^53. */
static int jp_number_equal(const json_t *a, const json_t *b)
{
	int eq = 0;
	json_int_t i, t;
	double d;

	if (json_is_integer(a) && json_is_integer(b)) {
		eq = json_integer_value(a) == json_integer_value(b);
	} else if (json_is_real(a) && json_is_real(b)) {
		eq = json_real_value(a) == json_real_value(b);
	} else {
		i = json_integer_value(json_is_integer(a) ? a : b);
		d = json_real_value(json_is_real(a) ? a : b);
		/* in json_int_t's range (NaN fails too), then integral and equal */
		if (d >= -0x1p63 && d < 0x1p63) {
			t = (json_int_t)d;
			eq = (double)t == d && t == i;
		}
	}
	return eq;
}

/* RFC 6902 §4.6 equality of a and b into *eq; each node of a visited is
 * charged to the work budget. The recursion follows a, a value of the
 * document, so it is as deep as the document. */
static int jp_equal(struct jp_ctx *c, const json_t *a, const json_t *b, int *eq)
{
	int rc;
	size_t i;
	const char *key;
	size_t key_len;
	json_t *va, *vb;

	*eq = 0;
	if ((rc = jp_charge(c)))
		goto out;
	if (json_is_number(a) && json_is_number(b)) {
		*eq = jp_number_equal(a, b);
		goto out;
	}
	if (json_typeof(a) != json_typeof(b))
		goto out;
	switch (json_typeof(a)) {
	case JSON_STRING:
		/* same code points byte by byte: no Unicode normalization */
		*eq = json_string_length(a) == json_string_length(b) &&
		      memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
		break;
	case JSON_ARRAY:
		/* same size, elements equal pairwise in order */
		if (json_array_size(a) != json_array_size(b))
			goto out;
		for (i = 0; i < json_array_size(a); i++) {
			if ((rc = jp_equal(c, json_array_get(a, i), json_array_get(b, i), eq)) || !*eq)
				goto out;
		}
		*eq = 1;
		break;
	case JSON_OBJECT:
		/* same number of members, each member of a equal to b's member of
		 * the same name: order does not matter */
		if (json_object_size(a) != json_object_size(b))
			goto out;
		json_object_keylen_foreach((json_t *)a, key, key_len, va) {
			vb = json_object_getn(b, key, key_len);
			if (!vb) {
				*eq = 0; /* the previous member may have set it */
				goto out;
			}
			if ((rc = jp_equal(c, va, vb, eq)) || !*eq)
				goto out;
		}
		*eq = 1;
		break;
	default: /* true, false, null: the type is the value */
		*eq = 1;
		break;
	}
out:
	return rc;
}

/* Puts v (stolen in every case) where parent/c->tok say; the array index
 * (from c->tok) was checked by the caller. */
static int jp_store(struct jp_ctx *c, json_t *parent, size_t idx, int insert, json_t *v)
{
	int rc;

	if (!parent) {
		json_decref(c->root);
		c->root = v;
		rc = 0;
	} else if (json_is_object(parent)) {
		rc = json_object_setn_new(parent, c->tok, c->tok_len, v) ? ERR_NOMEM : 0;
	} else if (insert) {
		rc = json_array_insert_new(parent, idx, v) ? ERR_NOMEM : 0;
	} else {
		rc = json_array_set_new(parent, idx, v) ? ERR_NOMEM : 0;
	}
	/* the jansson _new setters release v on failure too */
	if (rc)
		jp_fail(c, rc, "out of memory", NULL, 0);
	return rc;
}

/* RFC 6902 §4.1 add, also the second half of move and copy: v (stolen in
 * every case) goes to p. The root is replaced; an object member is added
 * or replaced; an array gets v inserted before the index, or appended for
 * "-" or an index equal to its size. depth is v's nesting. */
static int jp_add(struct jp_ctx *c, const char *p, size_t len, json_t *v, size_t depth)
{
	int rc;
	json_t *parent;
	size_t idx = 0;

	if ((rc = jp_walk(c, "path", p, len, &parent)))
		goto out;
	if (c->ntok + depth > FHIR_JSONPATCH_MAX_DEPTH) {
		rc = jp_fail(c, ERR_TOOBIG, "value would be nested too deeply at", p, len);
		goto out;
	}
	if (json_is_array(parent)) {
		if (c->tok_len == 1 && c->tok[0] == '-') {
			idx = json_array_size(parent);
		} else if (jp_index_parse(c->tok, c->tok_len, &idx)) {
			rc = jp_fail(c, ERR_INVALID, "invalid array index in", p, len);
			goto out;
		} else if (idx > json_array_size(parent)) {
			rc = jp_fail(c, ERR_INVALID, "array index out of range in", p, len);
			goto out;
		}
	} else if (parent && !json_is_object(parent)) {
		rc = jp_fail(c, ERR_INVALID, "parent is not an object or array:", p, len);
		goto out;
	}
	rc = jp_store(c, parent, idx, 1, v);
	v = NULL;
out:
	json_decref(v);
	return rc;
}

/* RFC 6902 §4.2 remove, also the first half of move: the value at p must
 * exist; *removed (optional) receives a reference to it. */
static int jp_remove(struct jp_ctx *c, const char *what, const char *p, size_t len, json_t **removed)
{
	int rc;
	json_t *parent, *v;
	size_t idx;

	if (removed)
		*removed = NULL;
	if ((rc = jp_get(c, what, p, len, &parent, &v)))
		goto out;
	if (!parent) {
		/* a document needs a root; "replace" is the way to change it */
		rc = jp_fail(c, ERR_INVALID, "cannot remove the whole document", NULL, 0);
		goto out;
	}
	if (removed)
		*removed = json_incref(v);
	if (json_is_object(parent)) {
		json_object_deln(parent, c->tok, c->tok_len);
	} else {
		jp_index_parse(c->tok, c->tok_len, &idx); /* valid: jp_get found it */
		json_array_remove(parent, idx);
	}
out:
	return rc;
}

/* RFC 6902 §4.3 replace: the target must exist (so an array index equal
 * to the size is no target) and is overwritten in place. */
static int jp_replace(struct jp_ctx *c, const char *p, size_t len, json_t *v, size_t depth)
{
	int rc;
	json_t *parent, *old;
	size_t idx = 0;

	if ((rc = jp_get(c, "path", p, len, &parent, &old)))
		goto out;
	if (c->ntok + depth > FHIR_JSONPATCH_MAX_DEPTH) {
		rc = jp_fail(c, ERR_TOOBIG, "value would be nested too deeply at", p, len);
		goto out;
	}
	if (json_is_array(parent))
		jp_index_parse(c->tok, c->tok_len, &idx); /* valid: jp_get found it */
	rc = jp_store(c, parent, idx, 0, v);
	v = NULL;
out:
	json_decref(v);
	return rc;
}

/* One operation of the patch, parsed and checked against RFC 6902 §4 and
 * RFC 6901 §3 (nothing here looks at the document). */
static int jp_op_parse(struct jp_ctx *c, const json_t *o, struct jp_op *op)
{
	int rc = ERR_INVALID;
	const json_t *v;
	const char *name;
	size_t name_len, i;

	memset(op, 0, sizeof *op);
	c->name = NULL;
	if (!json_is_object(o)) {
		rc = jp_fail(c, ERR_INVALID, "not a JSON object", NULL, 0);
		goto out;
	}
	v = json_object_get(o, "op");
	if (!json_is_string(v)) {
		rc = jp_fail(c, ERR_INVALID, "missing or non-string \"op\"", NULL, 0);
		goto out;
	}
	name = json_string_value(v);
	name_len = json_string_length(v);
	for (i = 0; i < sizeof jp_opdefs / sizeof jp_opdefs[0]; i++)
		if (strlen(jp_opdefs[i].name) == name_len && memcmp(jp_opdefs[i].name, name, name_len) == 0)
			op->def = &jp_opdefs[i];
	if (!op->def) {
		rc = jp_fail(c, ERR_INVALID, "unknown \"op\" (add, remove, replace, move, copy or test)", NULL, 0);
		goto out;
	}
	c->name = op->def->name;

	v = json_object_get(o, "path");
	if (!json_is_string(v)) {
		rc = jp_fail(c, ERR_INVALID, "missing or non-string \"path\"", NULL, 0);
		goto out;
	}
	op->path = json_string_value(v);
	op->path_len = json_string_length(v);
	if (jp_pointer_check(op->path, op->path_len)) {
		rc = jp_fail(c, ERR_INVALID, op->path_len > FHIR_JSONPATCH_MAX_POINTER ?
		             "\"path\" is longer than 4096 bytes:" : "\"path\" is not a JSON Pointer:",
		             op->path, op->path_len);
		goto out;
	}

	if (op->def->needs_from) {
		v = json_object_get(o, "from");
		if (!json_is_string(v)) {
			rc = jp_fail(c, ERR_INVALID, "missing or non-string \"from\"", NULL, 0);
			goto out;
		}
		op->from = json_string_value(v);
		op->from_len = json_string_length(v);
		if (jp_pointer_check(op->from, op->from_len)) {
			rc = jp_fail(c, ERR_INVALID, op->from_len > FHIR_JSONPATCH_MAX_POINTER ?
			             "\"from\" is longer than 4096 bytes:" : "\"from\" is not a JSON Pointer:",
			             op->from, op->from_len);
			goto out;
		}
		/* RFC 6902 §4.4: a location cannot be moved into one of its
		 * children. Escapes are unique (only ~0 and ~1), so comparing the
		 * pointers as written compares their tokens. */
		if (op->def->code == JP_MOVE && op->path_len > op->from_len &&
		    memcmp(op->path, op->from, op->from_len) == 0 && op->path[op->from_len] == '/') {
			rc = jp_fail(c, ERR_INVALID, "\"from\" is a proper prefix of \"path\":", op->from, op->from_len);
			goto out;
		}
	}

	if (op->def->needs_value) {
		/* present with any value, null included (a JSON null is a value) */
		op->value = json_object_get(o, "value");
		if (!op->value) {
			rc = jp_fail(c, ERR_INVALID, "missing \"value\"", NULL, 0);
			goto out;
		}
	}
	rc = 0;
out:
	return rc;
}

/* Applies one parsed operation to c->root. */
static int jp_op_apply(struct jp_ctx *c, const struct jp_op *op)
{
	int rc = 0, eq;
	json_t *v = NULL, *src, *parent;
	size_t depth;

	c->name = op->def->name;
	switch (op->def->code) {
	case JP_ADD:
	case JP_REPLACE:
		/* the patch's value is copied: later operations may change the
		 * document under it, and the patch is the caller's */
		if ((rc = jp_measure(c, op->value, 0, 0, &depth))) {
			rc = jp_fail(c, rc, "\"value\" is too deeply nested", NULL, 0);
			goto out;
		}
		v = json_deep_copy(op->value);
		if (!v) {
			rc = jp_fail(c, ERR_NOMEM, "out of memory", NULL, 0);
			goto out;
		}
		if (op->def->code == JP_ADD)
			rc = jp_add(c, op->path, op->path_len, v, depth);
		else
			rc = jp_replace(c, op->path, op->path_len, v, depth);
		v = NULL;
		break;
	case JP_REMOVE:
		rc = jp_remove(c, "path", op->path, op->path_len, NULL);
		break;
	case JP_MOVE:
		if ((rc = jp_get(c, "from", op->from, op->from_len, &parent, &src)))
			goto out;
		/* moving a value onto itself changes nothing (and keeps the
		 * member's place in its object) */
		if (op->from_len == op->path_len && memcmp(op->from, op->path, op->path_len) == 0)
			goto out;
		if ((rc = jp_measure(c, src, 0, 1, &depth))) {
			if (rc == ERR_TOOBIG && c->work <= FHIR_JSONPATCH_MAX_WORK)
				rc = jp_fail(c, rc, "value too deeply nested at", op->from, op->from_len);
			goto out;
		}
		if ((rc = jp_remove(c, "from", op->from, op->from_len, &v)))
			goto out;
		rc = jp_add(c, op->path, op->path_len, v, depth);
		v = NULL;
		break;
	case JP_COPY:
		if ((rc = jp_get(c, "from", op->from, op->from_len, &parent, &src)))
			goto out;
		if ((rc = jp_measure(c, src, 0, 1, &depth))) {
			if (rc == ERR_TOOBIG && c->work <= FHIR_JSONPATCH_MAX_WORK)
				rc = jp_fail(c, rc, "value too deeply nested at", op->from, op->from_len);
			goto out;
		}
		v = json_deep_copy(src);
		if (!v) {
			rc = jp_fail(c, ERR_NOMEM, "out of memory", NULL, 0);
			goto out;
		}
		rc = jp_add(c, op->path, op->path_len, v, depth);
		v = NULL;
		break;
	case JP_TEST:
		if ((rc = jp_get(c, "path", op->path, op->path_len, &parent, &src)))
			goto out;
		if ((rc = jp_equal(c, src, op->value, &eq)))
			goto out;
		if (!eq)
			rc = jp_fail(c, ERR_PRECONDITION, "value differs at", op->path, op->path_len);
		break;
	}
out:
	json_decref(v);
	return rc;
}

int fhir_jsonpatch_apply(json_t **doc, const json_t *patch, char *diag, size_t diaglen)
{
	struct jp_ctx *c;
	struct jp_op *ops = NULL;
	size_t n = 0, i;
	int rc;

	assert(doc && *doc);
	if (diag && diaglen)
		diag[0] = '\0';
	/* the context holds a pointer-sized token buffer: keep it off the stack */
	c = calloc(1, sizeof *c);
	if (!c) {
		rc = ERR_NOMEM;
		if (diag && diaglen)
			snprintf(diag, diaglen, "out of memory");
		goto out;
	}
	c->diag = diag;
	c->diaglen = diaglen;

	if (!json_is_array(patch)) {
		rc = ERR_INVALID;
		if (diag && diaglen)
			snprintf(diag, diaglen, "a JSON Patch document is a JSON array of operations");
		goto out;
	}
	n = json_array_size(patch);
	if (n > FHIR_JSONPATCH_MAX_OPS) {
		rc = ERR_INVALID;
		if (diag && diaglen)
			snprintf(diag, diaglen, "a patch may have at most %d operations", FHIR_JSONPATCH_MAX_OPS);
		goto out;
	}
	if (n == 0) {
		rc = 0; /* nothing to do; *doc stays the same object */
		goto out;
	}
	ops = calloc(n, sizeof *ops);
	if (!ops) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		c->index = i;
		if ((rc = jp_op_parse(c, json_array_get(patch, i), &ops[i])))
			goto out;
	}

	c->root = json_deep_copy(*doc);
	if (!c->root) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		c->index = i;
		/* Every operation was well-formed (checked above): one that
		 * fails now fails for this document, which is unprocessable
		 * (422), not a bad request (http.html#patch, RFC 5789 2.2). */
		if ((rc = jp_op_apply(c, &ops[i]))) {
			if (rc == ERR_INVALID)
				rc = ERR_UNPROCESSABLE;
			goto out;
		}
	}
	json_decref(*doc);
	*doc = c->root;
	c->root = NULL;
	rc = 0;
out:
	if (rc == ERR_NOMEM && diag && diaglen && !diag[0])
		snprintf(diag, diaglen, "out of memory");
	if (c)
		json_decref(c->root);
	free(c);
	free(ops);
	return rc;
}
