/*
 * fuzz_jsonpatch.c - PATCH bodies: a document and a JSON Patch, split at
 * the first 0 byte of the input (or in half when there is none), both
 * parsed by jansson and given to fhir_jsonpatch_apply(). Besides memory
 * errors it checks the promises of jsonpatch.h: on failure the document
 * is the same object with the same bytes, and diag is valid UTF-8 within
 * its buffer.
 */
#include "core/valid.h"
#include "fhir/jsonpatch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *zero = memchr(data, 0, size);
	size_t dlen = zero ? (size_t)(zero - data) : size / 2;
	size_t poff = zero ? dlen + 1 : dlen;
	json_t *doc = json_loadb((const char *)data, dlen, 0, NULL);
	json_t *patch = json_loadb((const char *)data + poff, size - poff, 0, NULL);
	json_t *orig;
	char *before = NULL, *after = NULL;
	char diag[96];
	int rc;

	if (!doc || !patch)
		goto out;
	orig = doc;
	before = json_dumps(doc, JSON_COMPACT);
	memset(diag, 'Z', sizeof diag);
	rc = fhir_jsonpatch_apply(&doc, patch, diag, sizeof diag - 8);
	if (diag[sizeof diag - 8] != 'Z' || !memchr(diag, 0, sizeof diag - 8) ||
	    !valid_utf8(diag, strlen(diag)))
		__builtin_trap();
	if (rc != 0) {
		after = json_dumps(doc, JSON_COMPACT);
		if (doc != orig || !before || !after || strcmp(before, after) != 0)
			__builtin_trap();
	} else if (diag[0] != '\0') {
		__builtin_trap();
	}
out:
	free(before);
	free(after);
	json_decref(doc);
	json_decref(patch);
	return 0;
}
