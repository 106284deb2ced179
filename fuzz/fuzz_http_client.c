/*
 * fuzz_http_client.c - the outbound client's response parser
 * (http/client.h): status lines, header fields, Content-Length, chunked
 * bodies and trailers, interim responses, close-delimited bodies, from
 * arbitrary bytes - the part of fhird that reads what another server
 * sends.
 *
 * The first byte picks the body limit and the size of the pieces the
 * rest is fed in. Besides the sanitizers, two properties are checked:
 * the result does not depend on how the bytes were split (the same
 * status, body and freshness, or the same error, as when fed at once),
 * and a complete body never exceeds the limit and is NUL-terminated.
 * Cache-Control parsing and URL parsing also run on the input.
 */
#include "core/err.h"
#include "http/client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Feeds data in pieces of step bytes (then the close when still
 * incomplete) and returns the outcome; r is left for inspection. */
static int fuzz_run(http_client_resp *r, const uint8_t *data, size_t size, size_t max, size_t step)
{
	int rc = 0;

	http_client_resp_init(r, max);
	for (size_t i = 0; i < size && rc == 0; i += step) {
		size_t n = size - i < step ? size - i : step;
		rc = http_client_resp_feed(r, (const char *)data + i, n);
	}
	if (rc == 0)
		rc = http_client_resp_eof(r);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = { 0, 1, 16, 100, 4096, 1 << 20 };
	http_client_resp whole, split;
	http_client_url u;
	size_t max, step;
	long age = -1;
	int a, b;

	if (size == 0)
		return 0;
	max = maxes[(data[0] & 7) % (sizeof maxes / sizeof maxes[0])];
	step = (size_t)(data[0] >> 3) + 1;
	data++;
	size--;

	a = fuzz_run(&whole, data, size, max, size ? size : 1);
	b = fuzz_run(&split, data, size, max, step);
	if (a != b)
		abort();
	if (a == 1) {
		if (whole.status < 200 || whole.status > 599 || whole.status != split.status ||
		    whole.max_age != split.max_age || whole.body.len != split.body.len || whole.body.len > max ||
		    (whole.body.len && memcmp(whole.body.data, split.body.data, whole.body.len) != 0) ||
		    (whole.body.data && whole.body.data[whole.body.len] != '\0'))
			abort();
	} else if (a != ERR_INVALID && a != ERR_TOOBIG) {
		abort(); /* ERR_NOMEM aside, nothing else may come out */
	}
	http_client_resp_fini(&whole);
	http_client_resp_fini(&split);

	/* Cache-Control never yields an age below "none given" */
	http_client_cache_control((const char *)data, size, &age);
	if (age < -1)
		abort();
	/* URL parsing on the bytes as a string */
	if (size < 4096) {
		char *s = malloc(size + 1);
		if (s) {
			memcpy(s, data, size);
			s[size] = '\0';
			if (http_client_url_parse(s, &u) == 0 && (u.port == 0 || u.target[0] != '/' || !u.host[0]))
				abort();
			free(s);
		}
	}
	return 0;
}
