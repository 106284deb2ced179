/*
 * jsonpatch.h - RFC 6902 JSON Patch over RFC 6901 JSON Pointer, the body
 * format `application/json-patch+json` of the FHIR patch interaction
 * (hl7.org/fhir/R4/http.html#patch). The server applies the operations to
 * its own copy of the resource and then treats the result as an update
 * (validation, versioning, If-Match), which is the caller's job.
 *
 * The patch comes from a client, so every limit is enforced here rather
 * than trusted: the number of operations, the pointer length, how deep a
 * value may end up in the document, and how much copying and comparing a
 * patch may cause (a few "copy" operations of the root into itself would
 * otherwise double the document each time).
 */
#ifndef FHIRD_FHIR_JSONPATCH_H
#define FHIRD_FHIR_JSONPATCH_H

#include <jansson.h>
#include <stddef.h>

/* Operations in one patch (ERR_INVALID beyond). */
#define FHIR_JSONPATCH_MAX_OPS 10000
/* Bytes in one JSON Pointer, as written in the patch (ERR_INVALID beyond). */
#define FHIR_JSONPATCH_MAX_POINTER 4096
/* Container nesting a value may reach where an operation puts it: the
 * containers above the target plus the value's own (ERR_TOOBIG beyond).
 * Above the largest configurable parse depth (max_json_depth, 1000), so a
 * document the parser accepted is never refused for where it already is;
 * it keeps the recursive jansson code that later serializes, copies and
 * frees the result off deep stacks. */
#define FHIR_JSONPATCH_MAX_DEPTH 1024
/* JSON values a patch may copy (copy), relocate (move) or compare (test)
 * in total, counting each node of each subtree once per operation
 * (ERR_TOOBIG beyond). Values written in the patch itself (add, replace)
 * do not count: they are bounded by the request body size. */
#define FHIR_JSONPATCH_MAX_WORK 1000000

/* Applies the JSON Patch document `patch` (a JSON array of operation
 * objects, RFC 6902 §3) to *doc.
 *
 * Atomic: the operations run on a deep copy of *doc; on success the old
 * *doc is released (one reference) and *doc is the patched copy, so the
 * pointer changes even when the root is not replaced (except for an empty
 * patch, which changes nothing). On any error *doc and what it points to
 * are exactly as they were. patch is not modified and no reference to it
 * is kept (values are copied). Not thread-safe on the same *doc; no
 * global state.
 *
 * The whole patch is checked for well-formedness before any operation is
 * applied, so a malformed patch is reported as such even when an earlier
 * "test" would have failed. Then the operations run in order and the first
 * failure ends the patch (RFC 6902 §5).
 *
 * Duplicate member names in an operation (RFC 6902 A.13) must be rejected
 * when the patch is parsed (JSON_REJECT_DUPLICATES / fhir_json_parse): a
 * parsed json_t no longer shows them.
 *
 * Returns 0, or
 *   ERR_INVALID       malformed patch: not an array, more than
 *                     FHIR_JSONPATCH_MAX_OPS operations, an operation that
 *                     is not an object, unknown "op", missing or non-string
 *                     "path"/"from", missing "value", a pointer that is not
 *                     RFC 6901 syntax ("~2", no leading '/') or is longer
 *                     than FHIR_JSONPATCH_MAX_POINTER, "from" a proper
 *                     prefix of "path" in a move (nothing was applied);
 *   ERR_UNPROCESSABLE a well-formed patch that cannot be applied to this
 *                     document: a path (or "from") that does not exist for
 *                     remove/replace/move/copy/test, an add whose parent
 *                     does not exist or is not a container, an array index
 *                     with leading zeros or not a number, an add index
 *                     beyond the array's size, removing the root (422:
 *                     http.html#patch, RFC 5789 2.2);
 *   ERR_PRECONDITION  a "test" operation found a different value (RFC 6902
 *                     §4.6 equality: numbers by value, so 1 equals 1.0;
 *                     objects unordered; arrays ordered; strings bytewise);
 *   ERR_TOOBIG        FHIR_JSONPATCH_MAX_DEPTH or FHIR_JSONPATCH_MAX_WORK
 *                     exceeded;
 *   ERR_NOMEM.
 *
 * diag (optional, diaglen bytes) receives a NUL-terminated, client-safe,
 * valid UTF-8 message naming the failing operation by its 0-based index in
 * the patch array, e.g. "operation 2 (test): value differs at
 * /name/0/family". Pointers are echoed cut to 64 bytes with control
 * characters replaced. On success diag is the empty string. */
int fhir_jsonpatch_apply(json_t **doc, const json_t *patch, char *diag, size_t diaglen);

#endif
