/*
 * test_jsonpatch.c - JSON Patch (jsonpatch.h) against RFC 6902: every
 * example of Appendix A, the operation rules of §4 (add/remove/replace/
 * move/copy/test, "-", index bounds, the move prefix rule, §4.6 equality)
 * and the error handling of §5 (the whole patch fails, the document is
 * untouched); JSON Pointer against RFC 6901 (the §5 examples, "~0"/"~1"
 * decoding, array-index syntax); and the limits jsonpatch.h promises.
 */
#include "core/err.h"
#include "core/valid.h"
#include "fhir/jsonpatch.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* JSON_ALLOW_NUL: pointers and "op" values containing U+0000 are tested */
#define PARSE_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, PARSE_FLAGS, &jerr);

	if (!v)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	return v;
}

static char *dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	assert_non_null(s);
	return s;
}

/* Applies patch to doc; expects success and a result equal to expect. */
static void ok(const char *doc, const char *patch, const char *expect)
{
	json_t *d = parse(doc), *p = parse(patch), *e = parse(expect);
	char *pbefore = dump(p), *pafter, *got;
	char diag[256] = "x";
	int rc = fhir_jsonpatch_apply(&d, p, diag, sizeof diag);

	if (rc != 0)
		fail_msg("expected success, got %d (%s)\n  doc   %s\n  patch %s", rc, diag, doc, patch);
	assert_string_equal(diag, "");
	if (!json_equal(d, e)) {
		got = dump(d);
		fail_msg("got %s\n  expected %s\n  doc   %s\n  patch %s", got, expect, doc, patch);
	}
	/* the patch is the caller's: never changed */
	pafter = dump(p);
	assert_string_equal(pbefore, pafter);
	free(pbefore);
	free(pafter);
	json_decref(d);
	json_decref(p);
	json_decref(e);
}

/* Expects err, a diag containing msg (when given, valid UTF-8), and the
 * document exactly as it was: same object, same bytes. */
static void bad(const char *doc, const char *patch, int err, const char *msg)
{
	json_t *d = parse(doc), *p = parse(patch), *orig = d;
	char *before = dump(d), *after;
	char diag[256];
	int rc = fhir_jsonpatch_apply(&d, p, diag, sizeof diag);

	if (rc != err)
		fail_msg("expected %d, got %d (%s)\n  doc   %s\n  patch %s", err, rc, diag, doc, patch);
	assert_ptr_equal(d, orig);
	after = dump(d);
	assert_string_equal(before, after);
	assert_true(diag[0] != '\0');
	assert_true(valid_utf8(diag, strlen(diag)));
	if (msg && !strstr(diag, msg))
		fail_msg("diag '%s' lacks '%s'\n  patch %s", diag, msg, patch);
	free(before);
	free(after);
	json_decref(d);
	json_decref(p);
}

/* ---- RFC 6902 Appendix A, in order ---- */

static void test_jsonpatch_a1_add_object_member(void **state)
{
	(void)state;
	ok("{\"foo\":\"bar\"}",
	   "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
	   "{\"baz\":\"qux\",\"foo\":\"bar\"}");
}

static void test_jsonpatch_a2_add_array_element(void **state)
{
	(void)state;
	ok("{\"foo\":[\"bar\",\"baz\"]}",
	   "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
	   "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
}

static void test_jsonpatch_a3_remove_object_member(void **state)
{
	(void)state;
	ok("{\"baz\":\"qux\",\"foo\":\"bar\"}",
	   "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
	   "{\"foo\":\"bar\"}");
}

static void test_jsonpatch_a4_remove_array_element(void **state)
{
	(void)state;
	ok("{\"foo\":[\"bar\",\"qux\",\"baz\"]}",
	   "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
	   "{\"foo\":[\"bar\",\"baz\"]}");
}

static void test_jsonpatch_a5_replace_value(void **state)
{
	(void)state;
	ok("{\"baz\":\"qux\",\"foo\":\"bar\"}",
	   "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
	   "{\"baz\":\"boo\",\"foo\":\"bar\"}");
}

static void test_jsonpatch_a6_move_value(void **state)
{
	(void)state;
	ok("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
	   "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
	   "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}");
}

/* The index of "path" is read after the element left "from" (§4.4:
 * remove, then add). */
static void test_jsonpatch_a7_move_array_element(void **state)
{
	(void)state;
	ok("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
	   "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
	   "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}");
}

static void test_jsonpatch_a8_test_success(void **state)
{
	(void)state;
	ok("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
	   "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
	   " {\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
	   "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}");
}

static void test_jsonpatch_a9_test_error(void **state)
{
	json_t *d = parse("{\"baz\":\"qux\"}");
	json_t *p = parse("[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]");
	char diag[128];
	(void)state;

	bad("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]",
	    ERR_PRECONDITION, NULL);
	/* the message format callers and clients see */
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), ERR_PRECONDITION);
	assert_string_equal(diag, "operation 0 (test): value differs at /baz");
	json_decref(d);
	json_decref(p);
}

static void test_jsonpatch_a10_add_nested_member(void **state)
{
	(void)state;
	ok("{\"foo\":\"bar\"}",
	   "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
	   "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}");
}

/* §4: "Members that are not explicitly defined for the operation in
 * question MUST be ignored." */
static void test_jsonpatch_a11_ignore_unrecognized(void **state)
{
	(void)state;
	ok("{\"foo\":\"bar\"}",
	   "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
	   "{\"foo\":\"bar\",\"baz\":\"qux\"}");
	/* "from" means nothing to add, "value" nothing to remove */
	ok("{\"foo\":\"bar\"}",
	   "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":1,\"from\":\"/nowhere\"},"
	   " {\"op\":\"remove\",\"path\":\"/foo\",\"value\":\"ignored\"}]",
	   "{\"baz\":1}");
}

/* §4.1: the target's parent must exist. */
static void test_jsonpatch_a12_add_nonexistent_target(void **state)
{
	(void)state;
	bad("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
	    ERR_UNPROCESSABLE, "operation 0 (add): path not found: /baz/bat");
}

/* A.13: an operation with two "op" members is an error. A parsed json_t no
 * longer shows duplicates, so it is the parse that must reject them. */
static void test_jsonpatch_a13_invalid_document(void **state)
{
	json_error_t jerr;
	json_t *p;
	(void)state;

	p = json_loads("[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"op\":\"remove\"}]",
	               PARSE_FLAGS, &jerr);
	assert_null(p);
}

/* A.14: "~01" is "~1", not "/" (decode "~1" first, then "~0"). */
static void test_jsonpatch_a14_escape_ordering(void **state)
{
	(void)state;
	ok("{\"/\":9,\"~1\":10}",
	   "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
	   "{\"/\":9,\"~1\":10}");
}

/* A.15: the string "10" is not the number 10. */
static void test_jsonpatch_a15_strings_and_numbers(void **state)
{
	(void)state;
	bad("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]",
	    ERR_PRECONDITION, "value differs at /~01");
}

/* A.16: an array value is added as one element. */
static void test_jsonpatch_a16_add_array_value(void **state)
{
	(void)state;
	ok("{\"foo\":[\"bar\"]}",
	   "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
	   "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}");
}

/* ---- RFC 6901 ---- */

/* §5: every example pointer evaluated (through "test") against the
 * example document. */
static void test_jsonpatch_pointer_rfc6901_examples(void **state)
{
	static const char doc[] =
		"{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,\"e^f\":3,\"g|h\":4,"
		"\"i\\\\j\":5,\"k\\\"l\":6,\" \":7,\"m~n\":8}";
	static const struct { const char *ptr, *value; } ex[] = {
		{ "", NULL }, /* the whole document */
		{ "/foo", "[\"bar\",\"baz\"]" },
		{ "/foo/0", "\"bar\"" },
		{ "/", "0" },
		{ "/a~1b", "1" },
		{ "/c%d", "2" },
		{ "/e^f", "3" },
		{ "/g|h", "4" },
		{ "/i\\\\j", "5" },
		{ "/k\\\"l", "6" },
		{ "/ ", "7" },
		{ "/m~0n", "8" },
	};
	char patch[1024];
	size_t i;
	(void)state;

	for (i = 0; i < sizeof ex / sizeof ex[0]; i++) {
		snprintf(patch, sizeof patch, "[{\"op\":\"test\",\"path\":\"%s\",\"value\":%s}]",
		         ex[i].ptr, ex[i].value ? ex[i].value : doc);
		ok(doc, patch, doc);
	}
	/* and a different value fails each of them */
	for (i = 1; i < sizeof ex / sizeof ex[0]; i++) {
		snprintf(patch, sizeof patch, "[{\"op\":\"test\",\"path\":\"%s\",\"value\":\"other\"}]", ex[i].ptr);
		bad(doc, patch, ERR_PRECONDITION, "value differs at");
	}
}

/* §3/§4: "~0" -> '~', "~1" -> '/', as member names written by add. */
static void test_jsonpatch_pointer_escapes(void **state)
{
	(void)state;
	ok("{}",
	   "[{\"op\":\"add\",\"path\":\"/a~1b\",\"value\":1},"
	   " {\"op\":\"add\",\"path\":\"/m~0n\",\"value\":2},"
	   " {\"op\":\"add\",\"path\":\"/~01\",\"value\":3},"
	   " {\"op\":\"add\",\"path\":\"/~10\",\"value\":4},"
	   " {\"op\":\"add\",\"path\":\"/~0~0\",\"value\":5}]",
	   "{\"a/b\":1,\"m~n\":2,\"~1\":3,\"/0\":4,\"~~\":5}");
	/* "/" is the member named "" and "//" the member "" inside it */
	ok("{\"\":{}}",
	   "[{\"op\":\"add\",\"path\":\"//\",\"value\":1}]",
	   "{\"\":{\"\":1}}");
	/* member names containing U+0000 are names like any other (jansson's
	 * parser refuses them in keys, so add makes one) */
	ok("{\"a\":2}",
	   "[{\"op\":\"add\",\"path\":\"/a\\u0000b\",\"value\":1},"
	   " {\"op\":\"test\",\"path\":\"/a\\u0000b\",\"value\":1},"
	   " {\"op\":\"test\",\"path\":\"/a\",\"value\":2},"
	   " {\"op\":\"remove\",\"path\":\"/a\\u0000b\"}]",
	   "{\"a\":2}");
	bad("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\\u0000\",\"value\":1}]", ERR_UNPROCESSABLE, "path not found: /a?");
}

/* §3: a pointer is "" or starts with '/'; '~' only as "~0" or "~1". */
static void test_jsonpatch_pointer_syntax(void **state)
{
	static const char *const badptr[] = { "a", "foo/bar", "/~2", "/~", "/a~", "/~a", "/a~/b", "#/a", " /a" };
	char patch[256];
	size_t i;
	(void)state;

	for (i = 0; i < sizeof badptr / sizeof badptr[0]; i++) {
		snprintf(patch, sizeof patch, "[{\"op\":\"add\",\"path\":\"%s\",\"value\":1}]", badptr[i]);
		bad("{\"a\":{\"b\":1}}", patch, ERR_INVALID, "\"path\" is not a JSON Pointer");
		snprintf(patch, sizeof patch, "[{\"op\":\"copy\",\"from\":\"%s\",\"path\":\"/c\"}]", badptr[i]);
		bad("{\"a\":{\"b\":1}}", patch, ERR_INVALID, "\"from\" is not a JSON Pointer");
	}
}

/* §4: array-index = "0" / %x31-39 *DIGIT; anything else is an error on an
 * array (and a plain member name on an object). */
static void test_jsonpatch_array_index_syntax(void **state)
{
	static const char *const badidx[] = { "01", "00", "-1", "+1", " 1", "1 ", "1e0", "0x1", "a", "" };
	char patch[256];
	size_t i;
	(void)state;

	for (i = 0; i < sizeof badidx / sizeof badidx[0]; i++) {
		snprintf(patch, sizeof patch, "[{\"op\":\"add\",\"path\":\"/a/%s\",\"value\":9}]", badidx[i]);
		bad("{\"a\":[1,2,3]}", patch, ERR_UNPROCESSABLE, "invalid array index");
		snprintf(patch, sizeof patch, "[{\"op\":\"replace\",\"path\":\"/a/%s\",\"value\":9}]", badidx[i]);
		bad("{\"a\":[1,2,3]}", patch, ERR_UNPROCESSABLE, NULL);
		snprintf(patch, sizeof patch, "[{\"op\":\"remove\",\"path\":\"/a/%s\"}]", badidx[i]);
		bad("{\"a\":[1,2,3]}", patch, ERR_UNPROCESSABLE, NULL);
		snprintf(patch, sizeof patch, "[{\"op\":\"test\",\"path\":\"/a/%s\",\"value\":1}]", badidx[i]);
		bad("{\"a\":[1,2,3]}", patch, ERR_UNPROCESSABLE, NULL);
		/* on the way to the target too */
		snprintf(patch, sizeof patch, "[{\"op\":\"add\",\"path\":\"/a/%s/x\",\"value\":9}]", badidx[i]);
		bad("{\"a\":[{},{},{}]}", patch, ERR_UNPROCESSABLE, NULL);
	}
	/* the same tokens are ordinary member names in an object */
	ok("{\"a\":{\"01\":1}}",
	   "[{\"op\":\"test\",\"path\":\"/a/01\",\"value\":1},{\"op\":\"add\",\"path\":\"/a/-\",\"value\":2}]",
	   "{\"a\":{\"01\":1,\"-\":2}}");
	/* an index far beyond any size is out of range, not a wrap-around */
	bad("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/99999999999999999999999\",\"value\":9}]",
	    ERR_UNPROCESSABLE, "out of range");
	bad("{\"a\":[1]}", "[{\"op\":\"remove\",\"path\":\"/a/18446744073709551616\"}]", ERR_UNPROCESSABLE, "not found");
}

/* ---- RFC 6902 §4 operation rules ---- */

/* §4.1: "-" appends; an index equal to the size appends; beyond is an
 * error; 0 prepends. */
static void test_jsonpatch_add_array_bounds(void **state)
{
	(void)state;
	ok("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/-\",\"value\":3}]", "{\"a\":[1,2,3]}");
	ok("{\"a\":[]}", "[{\"op\":\"add\",\"path\":\"/a/-\",\"value\":1}]", "{\"a\":[1]}");
	ok("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/2\",\"value\":3}]", "{\"a\":[1,2,3]}");
	ok("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/0\",\"value\":0}]", "{\"a\":[0,1,2]}");
	ok("{\"a\":[]}", "[{\"op\":\"add\",\"path\":\"/a/0\",\"value\":1}]", "{\"a\":[1]}");
	bad("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/3\",\"value\":3}]", ERR_UNPROCESSABLE,
	    "operation 0 (add): array index out of range in /a/3");
	bad("{\"a\":[]}", "[{\"op\":\"add\",\"path\":\"/a/1\",\"value\":3}]", ERR_UNPROCESSABLE, "out of range");
	/* "-" names no existing element: not a step on the way */
	bad("{\"a\":[{}]}", "[{\"op\":\"add\",\"path\":\"/a/-/x\",\"value\":3}]", ERR_UNPROCESSABLE, "not found");
}

/* §4.1: an existing member is replaced by add; a scalar cannot be a
 * parent; the root is replaced. */
static void test_jsonpatch_add_object_and_root(void **state)
{
	(void)state;
	ok("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":[2]}]", "{\"a\":[2]}");
	ok("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b\",\"value\":null}]", "{\"a\":1,\"b\":null}");
	ok("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}");
	ok("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/\",\"value\":2}]", "{\"a\":1,\"\":2}");
	bad("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":2}]", ERR_UNPROCESSABLE,
	    "parent is not an object or array: /a/b");
	bad("{\"a\":\"s\"}", "[{\"op\":\"add\",\"path\":\"/a/0\",\"value\":2}]", ERR_UNPROCESSABLE, NULL);
	bad("{\"a\":null}", "[{\"op\":\"add\",\"path\":\"/a/b/c\",\"value\":2}]", ERR_UNPROCESSABLE, "not found");
}

/* §4.2: the target must exist; arrays shift left; the root cannot go. */
static void test_jsonpatch_remove(void **state)
{
	(void)state;
	ok("{\"a\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/a/0\"}]", "{\"a\":[2,3]}");
	ok("{\"a\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/a/2\"}]", "{\"a\":[1,2]}");
	ok("{\"a\":{\"b\":null}}", "[{\"op\":\"remove\",\"path\":\"/a/b\"}]", "{\"a\":{}}");
	bad("{\"a\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/a/3\"}]", ERR_UNPROCESSABLE, "path not found: /a/3");
	bad("{\"a\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/a/-\"}]", ERR_UNPROCESSABLE, "path not found");
	bad("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", ERR_UNPROCESSABLE, "operation 0 (remove): path not found: /b");
	bad("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", ERR_UNPROCESSABLE, "cannot remove the whole document");
}

/* §4.3: replace needs an existing target; index == size and "-" are not
 * targets; the root may be replaced, by any JSON value. */
static void test_jsonpatch_replace(void **state)
{
	(void)state;
	ok("{\"a\":[1,2]}", "[{\"op\":\"replace\",\"path\":\"/a/1\",\"value\":9}]", "{\"a\":[1,9]}");
	ok("{\"a\":{\"b\":1}}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":{\"c\":[]}}]", "{\"a\":{\"c\":[]}}");
	ok("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1,2]}]", "[1,2]");
	ok("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":42}]", "42");
	ok("{\"a\":1}",
	   "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"x\":{}}},{\"op\":\"add\",\"path\":\"/x/y\",\"value\":1}]",
	   "{\"x\":{\"y\":1}}");
	bad("{\"a\":[1,2]}", "[{\"op\":\"replace\",\"path\":\"/a/2\",\"value\":9}]", ERR_UNPROCESSABLE, "path not found: /a/2");
	bad("{\"a\":[1,2]}", "[{\"op\":\"replace\",\"path\":\"/a/-\",\"value\":9}]", ERR_UNPROCESSABLE, "path not found");
	bad("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":9}]", ERR_UNPROCESSABLE, "path not found: /b");
}

/* §4.4: "from" must exist and must not be a proper prefix of "path";
 * equal pointers are allowed (nothing moves); "/a" is not a prefix of
 * "/ab" (tokens, not bytes). */
static void test_jsonpatch_move(void **state)
{
	(void)state;
	bad("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b\"}]", ERR_INVALID,
	    "operation 0 (move): \"from\" is a proper prefix of \"path\": /a");
	bad("{\"a\":{\"b\":{}}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]", ERR_INVALID, "proper prefix");
	bad("{\"a\":{}}", "[{\"op\":\"move\",\"from\":\"\",\"path\":\"/a/b\"}]", ERR_INVALID, "proper prefix");
	bad("{\"a\":{}}", "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/y\"}]", ERR_UNPROCESSABLE, "from not found: /x");
	bad("{\"a\":{}}", "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/x\"}]", ERR_UNPROCESSABLE, "from not found: /x");
	ok("{\"a\":1,\"ab\":2}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/ab\"}]", "{\"ab\":1}");
	ok("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]", "{\"a\":{\"b\":1}}");
	ok("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"\",\"path\":\"\"}]", "{\"a\":{\"b\":1}}");
	/* to an ancestor: "path" a prefix of "from" is fine */
	ok("{\"a\":{\"b\":{\"c\":1}}}", "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/a\"}]", "{\"a\":{\"c\":1}}");
	ok("{\"a\":{\"b\":[1]}}", "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"\"}]", "[1]");
	/* between arrays, and to the end */
	ok("{\"a\":[1,2],\"b\":[]}", "[{\"op\":\"move\",\"from\":\"/a/0\",\"path\":\"/b/-\"}]", "{\"a\":[2],\"b\":[1]}");
	ok("{\"a\":[1,2,3]}", "[{\"op\":\"move\",\"from\":\"/a/2\",\"path\":\"/a/0\"}]", "{\"a\":[3,1,2]}");
	/* the add half still needs a place to go */
	bad("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b/c\"}]", ERR_UNPROCESSABLE, "path not found: /b/c");
}

/* §4.5: copy needs "from"; the copy is independent of its source. */
static void test_jsonpatch_copy(void **state)
{
	(void)state;
	ok("{\"a\":{\"b\":1}}",
	   "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"},{\"op\":\"add\",\"path\":\"/c/b\",\"value\":2}]",
	   "{\"a\":{\"b\":1},\"c\":{\"b\":2}}");
	/* into itself: the value copied is the one before the copy */
	ok("{\"a\":{\"b\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/c\"}]", "{\"a\":{\"b\":1,\"c\":{\"b\":1}}}");
	ok("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"\",\"path\":\"/b\"}]", "{\"a\":1,\"b\":{\"a\":1}}");
	ok("{\"a\":[1,2]}", "[{\"op\":\"copy\",\"from\":\"/a/0\",\"path\":\"/a/-\"}]", "{\"a\":[1,2,1]}");
	bad("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/b\",\"path\":\"/c\"}]", ERR_UNPROCESSABLE, "operation 0 (copy): from not found: /b");
	bad("{\"a\":1}", "[{\"op\":\"copy\",\"path\":\"/c\"}]", ERR_INVALID, "missing or non-string \"from\"");
}

/* The value written by add is a copy: a later operation on it leaves the
 * patch (checked in ok()) and other copies alone. */
static void test_jsonpatch_values_are_copied(void **state)
{
	(void)state;
	ok("{}",
	   "[{\"op\":\"add\",\"path\":\"/a\",\"value\":{\"x\":[1]}},"
	   " {\"op\":\"add\",\"path\":\"/b\",\"value\":{\"x\":[1]}},"
	   " {\"op\":\"add\",\"path\":\"/a/x/-\",\"value\":2},"
	   " {\"op\":\"replace\",\"path\":\"/b/x/0\",\"value\":3}]",
	   "{\"a\":{\"x\":[1,2]},\"b\":{\"x\":[3]}}");
}

/* §4.6: test needs an existing target; objects compare unordered, arrays
 * in order, literals by type, strings bytewise. */
static void test_jsonpatch_test_equality(void **state)
{
	static const char doc[] =
		"{\"o\":{\"a\":1,\"b\":[true,false,null]},\"s\":\"caf\\u00e9\",\"n\":null,\"e\":[],\"eo\":{}}";
	(void)state;
	ok(doc,
	   "[{\"op\":\"test\",\"path\":\"/o\",\"value\":{\"b\":[true,false,null],\"a\":1}},"
	   " {\"op\":\"test\",\"path\":\"/s\",\"value\":\"caf\\u00e9\"},"
	   " {\"op\":\"test\",\"path\":\"/n\",\"value\":null},"
	   " {\"op\":\"test\",\"path\":\"/e\",\"value\":[]},"
	   " {\"op\":\"test\",\"path\":\"/eo\",\"value\":{}}]",
	   doc);
	bad(doc, "[{\"op\":\"test\",\"path\":\"/o/b\",\"value\":[false,true,null]}]", ERR_PRECONDITION, "value differs at /o/b");
	bad(doc, "[{\"op\":\"test\",\"path\":\"/o/b\",\"value\":[true,false]}]", ERR_PRECONDITION, NULL);
	bad(doc, "[{\"op\":\"test\",\"path\":\"/o\",\"value\":{\"a\":1}}]", ERR_PRECONDITION, NULL);
	bad(doc, "[{\"op\":\"test\",\"path\":\"/o\",\"value\":{\"a\":1,\"b\":[true,false,null],\"c\":1}}]", ERR_PRECONDITION, NULL);
	bad(doc, "[{\"op\":\"test\",\"path\":\"/o\",\"value\":{\"a\":1,\"c\":[true,false,null]}}]", ERR_PRECONDITION, NULL);
	bad(doc, "[{\"op\":\"test\",\"path\":\"/n\",\"value\":false}]", ERR_PRECONDITION, NULL);
	bad(doc, "[{\"op\":\"test\",\"path\":\"/e\",\"value\":{}}]", ERR_PRECONDITION, NULL);
	bad(doc, "[{\"op\":\"test\",\"path\":\"/o/a\",\"value\":true}]", ERR_PRECONDITION, NULL);
	/* no Unicode normalization: e + combining acute is another string */
	bad(doc, "[{\"op\":\"test\",\"path\":\"/s\",\"value\":\"cafe\\u0301\"}]", ERR_PRECONDITION, NULL);
	bad(doc, "[{\"op\":\"test\",\"path\":\"/s\",\"value\":\"caf\"}]", ERR_PRECONDITION, NULL);
	/* a missing target is not a value */
	bad(doc, "[{\"op\":\"test\",\"path\":\"/missing\",\"value\":null}]", ERR_UNPROCESSABLE, "path not found: /missing");
	/* the root */
	bad(doc, "[{\"op\":\"test\",\"path\":\"\",\"value\":{}}]", ERR_PRECONDITION, "value differs at \"\"");
}

/* §4.6: "numbers: are considered equal if their values are numerically
 * equal", whatever the spelling: 1, 1.0, 1e0 and 10E-1 are one value. */
static void test_jsonpatch_test_numbers(void **state)
{
	(void)state;
	ok("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1.0}]", "{\"a\":1}");
	ok("{\"a\":1.0}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1}]", "{\"a\":1.0}");
	ok("{\"a\":100}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1e2}]", "{\"a\":100}");
	ok("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":10E-1}]", "{\"a\":1}");
	ok("{\"a\":0}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":-0.0}]", "{\"a\":0}");
	ok("{\"a\":-3}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":-3.0}]", "{\"a\":-3}");
	ok("{\"a\":0.5}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":5e-1}]", "{\"a\":0.5}");
	/* inside containers too */
	ok("{\"a\":[1,{\"b\":2}]}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":[1.0,{\"b\":2.0}]}]",
	   "{\"a\":[1,{\"b\":2}]}");
	bad("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1.5}]", ERR_PRECONDITION, NULL);
	bad("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]", ERR_PRECONDITION, NULL);
	bad("{\"a\":1.25}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1.5}]", ERR_PRECONDITION, NULL);
	bad("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":\"1\"}]", ERR_PRECONDITION, NULL);
	bad("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":true}]", ERR_PRECONDITION, NULL);
	/* exact, not through double: 2^53 + 1 is not the double 2^53 */
	bad("{\"a\":9007199254740993}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":9007199254740992.0}]",
	    ERR_PRECONDITION, NULL);
	ok("{\"a\":9007199254740992}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":9007199254740992.0}]",
	   "{\"a\":9007199254740992}");
	/* beyond the integer range: a real never equals an integer there */
	bad("{\"a\":9223372036854775807}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":9223372036854775808.0}]",
	    ERR_PRECONDITION, NULL);
	bad("{\"a\":-9223372036854775807}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":-1e300}]",
	    ERR_PRECONDITION, NULL);
}

/* §5: "evaluation of the JSON Patch document SHOULD terminate and
 * application of the entire patch document SHALL NOT be deemed
 * successful": a patch failing at its 3rd operation leaves the document
 * exactly as it was (bad() checks the object and its bytes). */
static void test_jsonpatch_atomic(void **state)
{
	static const char doc[] = "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Chalmers\"}],\"active\":true}";
	(void)state;
	bad(doc,
	    "[{\"op\":\"add\",\"path\":\"/gender\",\"value\":\"male\"},"
	    " {\"op\":\"remove\",\"path\":\"/active\"},"
	    " {\"op\":\"replace\",\"path\":\"/birthDate\",\"value\":\"1974\"}]",
	    ERR_UNPROCESSABLE, "operation 2 (replace): path not found: /birthDate");
	bad(doc,
	    "[{\"op\":\"replace\",\"path\":\"/name/0/family\",\"value\":\"Smith\"},"
	    " {\"op\":\"replace\",\"path\":\"\",\"value\":{}},"
	    " {\"op\":\"test\",\"path\":\"/name/0/family\",\"value\":\"Smith\"}]",
	    ERR_UNPROCESSABLE, "operation 2 (test): path not found: /name/0/family");
	bad(doc,
	    "[{\"op\":\"replace\",\"path\":\"/name/0/family\",\"value\":\"Smith\"},"
	    " {\"op\":\"move\",\"from\":\"/active\",\"path\":\"/x\"},"
	    " {\"op\":\"test\",\"path\":\"/name/0/family\",\"value\":\"Chalmers\"}]",
	    ERR_PRECONDITION, "operation 2 (test): value differs at /name/0/family");
	/* operations see the results of the earlier ones */
	ok(doc,
	   "[{\"op\":\"test\",\"path\":\"/name/0/family\",\"value\":\"Chalmers\"},"
	   " {\"op\":\"replace\",\"path\":\"/name/0/family\",\"value\":\"Smith\"},"
	   " {\"op\":\"test\",\"path\":\"/name/0/family\",\"value\":\"Smith\"},"
	   " {\"op\":\"remove\",\"path\":\"/active\"}]",
	   "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Smith\"}]}");
}

/* §4 members: "op" one of six (case-sensitive), "path" a string, "value"
 * present (null counts), "from" a string. A malformed operation anywhere
 * makes the patch malformed, even after a failing test. */
static void test_jsonpatch_malformed(void **state)
{
	static const char doc[] = "{\"a\":1}";
	(void)state;
	bad(doc, "{\"op\":\"add\",\"path\":\"/b\",\"value\":1}", ERR_INVALID, "JSON array");
	bad(doc, "\"add\"", ERR_INVALID, NULL);
	bad(doc, "null", ERR_INVALID, NULL);
	bad(doc, "[1]", ERR_INVALID, "operation 0: not a JSON object");
	bad(doc, "[[]]", ERR_INVALID, "not a JSON object");
	bad(doc, "[{\"path\":\"/a\"}]", ERR_INVALID, "operation 0: missing or non-string \"op\"");
	bad(doc, "[{\"op\":1,\"path\":\"/a\"}]", ERR_INVALID, "missing or non-string \"op\"");
	bad(doc, "[{\"op\":\"delete\",\"path\":\"/a\"}]", ERR_INVALID, "unknown \"op\"");
	bad(doc, "[{\"op\":\"Add\",\"path\":\"/b\",\"value\":1}]", ERR_INVALID, "unknown \"op\"");
	bad(doc, "[{\"op\":\"add\\u0000\",\"path\":\"/b\",\"value\":1}]", ERR_INVALID, "unknown \"op\"");
	bad(doc, "[{\"op\":\"\",\"path\":\"/b\",\"value\":1}]", ERR_INVALID, "unknown \"op\"");
	bad(doc, "[{\"op\":\"add\",\"value\":1}]", ERR_INVALID, "operation 0 (add): missing or non-string \"path\"");
	bad(doc, "[{\"op\":\"remove\",\"path\":null}]", ERR_INVALID, "missing or non-string \"path\"");
	bad(doc, "[{\"op\":\"remove\",\"path\":[\"a\"]}]", ERR_INVALID, "missing or non-string \"path\"");
	bad(doc, "[{\"op\":\"add\",\"path\":\"/b\"}]", ERR_INVALID, "operation 0 (add): missing \"value\"");
	bad(doc, "[{\"op\":\"replace\",\"path\":\"/a\"}]", ERR_INVALID, "missing \"value\"");
	bad(doc, "[{\"op\":\"test\",\"path\":\"/a\"}]", ERR_INVALID, "missing \"value\"");
	bad(doc, "[{\"op\":\"move\",\"path\":\"/b\"}]", ERR_INVALID, "missing or non-string \"from\"");
	bad(doc, "[{\"op\":\"move\",\"path\":\"/b\",\"from\":7}]", ERR_INVALID, "missing or non-string \"from\"");
	/* the index names the bad operation */
	bad(doc, "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1},{\"op\":\"test\",\"path\":\"/a\",\"value\":1},"
	         " {\"op\":\"nope\",\"path\":\"/a\"}]", ERR_INVALID, "operation 2: unknown \"op\"");
	/* checked before anything is applied */
	bad(doc, "[{\"op\":\"test\",\"path\":\"/a\",\"value\":2},{\"op\":\"add\",\"path\":\"/b\"}]",
	    ERR_INVALID, "operation 1 (add): missing \"value\"");
	/* a null value is a value */
	ok(doc, "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":null},{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]",
	   "{\"a\":null}");
	/* the empty patch changes nothing */
	ok(doc, "[]", doc);
}

/* jsonpatch.h limits: 10,000 operations, 4096-byte pointers. */
static void test_jsonpatch_limits(void **state)
{
	json_t *d, *p, *op;
	char *ptr;
	char diag[128];
	size_t i;
	(void)state;

	d = parse("{\"a\":1}");
	p = json_array();
	for (i = 0; i < FHIR_JSONPATCH_MAX_OPS; i++) {
		op = parse("{\"op\":\"test\",\"path\":\"/a\",\"value\":1}");
		assert_int_equal(json_array_append_new(p, op), 0);
	}
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), 0);
	json_array_append_new(p, parse("{\"op\":\"test\",\"path\":\"/a\",\"value\":1}"));
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), ERR_INVALID);
	assert_non_null(strstr(diag, "at most 10000 operations"));
	json_decref(p);

	/* a 4096-byte pointer is fine, 4097 is not (echoed cut to 64 bytes) */
	ptr = malloc(FHIR_JSONPATCH_MAX_POINTER + 2);
	assert_non_null(ptr);
	ptr[0] = '/';
	memset(ptr + 1, 'k', FHIR_JSONPATCH_MAX_POINTER - 1);
	ptr[FHIR_JSONPATCH_MAX_POINTER] = '\0';
	p = json_pack("[{s:s, s:s, s:i}]", "op", "add", "path", ptr, "value", 1);
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), 0);
	assert_non_null(json_object_get(d, ptr + 1));
	json_decref(p);
	ptr[FHIR_JSONPATCH_MAX_POINTER] = 'k';
	ptr[FHIR_JSONPATCH_MAX_POINTER + 1] = '\0';
	p = json_pack("[{s:s, s:s, s:i}]", "op", "add", "path", ptr, "value", 1);
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), ERR_INVALID);
	assert_non_null(strstr(diag, "longer than 4096 bytes"));
	assert_non_null(strstr(diag, "kkk..."));
	assert_true(strlen(diag) < 130);
	json_decref(p);
	p = json_pack("[{s:s, s:s, s:s}]", "op", "copy", "path", "/x", "from", ptr);
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), ERR_INVALID);
	assert_non_null(strstr(diag, "\"from\" is longer than 4096 bytes"));
	json_decref(p);
	free(ptr);
	json_decref(d);
}

/* Each copy of the root into itself doubles the document: the work
 * budget stops it long before memory runs out, and nothing changes. */
static void test_jsonpatch_copy_amplification(void **state)
{
	json_t *d = parse("{\"a\":[1,2,3,4,5,6,7,8]}"), *orig = d, *p = json_array();
	char diag[128];
	size_t i;
	(void)state;

	for (i = 0; i < 60; i++)
		json_array_append_new(p, parse("{\"op\":\"copy\",\"from\":\"\",\"path\":\"/a/-\"}"));
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), ERR_TOOBIG);
	assert_ptr_equal(d, orig);
	assert_int_equal(json_array_size(json_object_get(d, "a")), 8);
	assert_non_null(strstr(diag, "too much data"));
	json_decref(p);
	json_decref(d);
}

/* Repeated tests of a large value are charged too. */
static void test_jsonpatch_test_amplification(void **state)
{
	json_t *d = json_object(), *arr = json_array(), *p = json_array();
	char diag[128];
	size_t i;
	(void)state;

	for (i = 0; i < 100000; i++)
		json_array_append_new(arr, json_integer((json_int_t)i));
	json_object_set_new(d, "a", arr);
	for (i = 0; i < 20; i++)
		json_array_append_new(p, json_pack("{s:s, s:s, s:O}", "op", "test", "path", "/a", "value", arr));
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), ERR_TOOBIG);
	/* a few are fine */
	while (json_array_size(p) > 5)
		json_array_remove(p, 0);
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), 0);
	json_decref(p);
	json_decref(d);
}

/* Values may not end up nested deeper than FHIR_JSONPATCH_MAX_DEPTH,
 * whether added, copied or moved there. */
static void test_jsonpatch_depth(void **state)
{
	json_t *d = parse("{}"), *chain, *p, *orig;
	char *path;
	char diag[128];
	size_t i, n = 600;
	(void)state;

	/* a chain {"a":{"a":...{}}} of n objects, and the path down it */
	chain = json_object();
	for (i = 1; i < n; i++)
		chain = json_pack("{s:o}", "a", chain);
	path = malloc(2 * n + 3);
	assert_non_null(path);
	memcpy(path, "/x", 2);
	for (i = 0; i < n - 1; i++)
		memcpy(path + 2 + 2 * i, "/a", 2);
	path[2 + 2 * (n - 1)] = '\0';

	p = json_pack("[{s:s, s:s, s:O}]", "op", "add", "path", "/x", "value", chain);
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), 0);
	json_decref(p);
	/* 600 containers above the target + 600 in the value */
	orig = d;
	p = json_pack("[{s:s, s:s, s:O}]", "op", "add", "path", path, "value", chain);
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), ERR_TOOBIG);
	assert_non_null(strstr(diag, "nested too deeply"));
	assert_ptr_equal(d, orig);
	json_decref(p);
	p = json_pack("[{s:s, s:s, s:s}]", "op", "copy", "path", path, "from", "/x");
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), ERR_TOOBIG);
	json_decref(p);
	/* moving a part of the chain down the chain: from /y, a copy */
	p = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "op", "copy", "path", "/y", "from", "/x",
	              "op", "move", "path", path, "from", "/y");
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), ERR_TOOBIG);
	assert_ptr_equal(d, orig);
	assert_null(json_object_get(d, "y"));
	json_decref(p);
	/* shallow values still go there */
	p = json_pack("[{s:s, s:s, s:i}]", "op", "add", "path", path, "value", 1);
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, sizeof diag), 0);
	json_decref(p);
	free(path);
	json_decref(chain);
	json_decref(d);
}

/* diag: optional; always NUL-terminated, valid UTF-8 and within diaglen,
 * even when the cut falls inside a multi-byte character. */
static void test_jsonpatch_diag(void **state)
{
	json_t *d = parse("{\"a\":1}");
	json_t *p = parse("[{\"op\":\"test\",\"path\":\"/\\u00e9\\u00e9\\u20ac\\u20ac\\ud83d\\ude00x\",\"value\":1}]");
	json_t *p2 = parse("[{\"op\":\"remove\",\"path\":\"/\\u0001\\n\\u007f\"}]");
	char diag[128];
	size_t len;
	(void)state;

	assert_int_equal(fhir_jsonpatch_apply(&d, p, NULL, 0), ERR_UNPROCESSABLE);
	assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, 0), ERR_UNPROCESSABLE);
	for (len = 1; len < sizeof diag; len++) {
		memset(diag, 'Z', sizeof diag);
		assert_int_equal(fhir_jsonpatch_apply(&d, p, diag, len), ERR_UNPROCESSABLE);
		assert_true(strlen(diag) < len);
		assert_true(valid_utf8(diag, strlen(diag)));
		assert_int_equal(diag[len], 'Z'); /* nothing written past diaglen */
	}
	/* control characters are not echoed */
	assert_int_equal(fhir_jsonpatch_apply(&d, p2, diag, sizeof diag), ERR_UNPROCESSABLE);
	assert_string_equal(diag, "operation 0 (remove): path not found: /???");
	json_decref(p);
	json_decref(p2);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonpatch_a1_add_object_member),
		cmocka_unit_test(test_jsonpatch_a2_add_array_element),
		cmocka_unit_test(test_jsonpatch_a3_remove_object_member),
		cmocka_unit_test(test_jsonpatch_a4_remove_array_element),
		cmocka_unit_test(test_jsonpatch_a5_replace_value),
		cmocka_unit_test(test_jsonpatch_a6_move_value),
		cmocka_unit_test(test_jsonpatch_a7_move_array_element),
		cmocka_unit_test(test_jsonpatch_a8_test_success),
		cmocka_unit_test(test_jsonpatch_a9_test_error),
		cmocka_unit_test(test_jsonpatch_a10_add_nested_member),
		cmocka_unit_test(test_jsonpatch_a11_ignore_unrecognized),
		cmocka_unit_test(test_jsonpatch_a12_add_nonexistent_target),
		cmocka_unit_test(test_jsonpatch_a13_invalid_document),
		cmocka_unit_test(test_jsonpatch_a14_escape_ordering),
		cmocka_unit_test(test_jsonpatch_a15_strings_and_numbers),
		cmocka_unit_test(test_jsonpatch_a16_add_array_value),
		cmocka_unit_test(test_jsonpatch_pointer_rfc6901_examples),
		cmocka_unit_test(test_jsonpatch_pointer_escapes),
		cmocka_unit_test(test_jsonpatch_pointer_syntax),
		cmocka_unit_test(test_jsonpatch_array_index_syntax),
		cmocka_unit_test(test_jsonpatch_add_array_bounds),
		cmocka_unit_test(test_jsonpatch_add_object_and_root),
		cmocka_unit_test(test_jsonpatch_remove),
		cmocka_unit_test(test_jsonpatch_replace),
		cmocka_unit_test(test_jsonpatch_move),
		cmocka_unit_test(test_jsonpatch_copy),
		cmocka_unit_test(test_jsonpatch_values_are_copied),
		cmocka_unit_test(test_jsonpatch_test_equality),
		cmocka_unit_test(test_jsonpatch_test_numbers),
		cmocka_unit_test(test_jsonpatch_atomic),
		cmocka_unit_test(test_jsonpatch_malformed),
		cmocka_unit_test(test_jsonpatch_limits),
		cmocka_unit_test(test_jsonpatch_copy_amplification),
		cmocka_unit_test(test_jsonpatch_test_amplification),
		cmocka_unit_test(test_jsonpatch_depth),
		cmocka_unit_test(test_jsonpatch_diag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
