/*
 * fuzz_url.c - request targets (path segments and query parameters) and
 * form bodies: http_target_parse() and http_query_parse() on arbitrary bytes.
 */
#include "core/arena.h"
#include "http/url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	arena_t a;
	http_target t;
	http_param *ps;
	size_t n;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	arena_init(&a, 1 << 20);
	http_target_parse(&a, s, 64, &t);
	http_query_parse(&a, (const char *)data, size, 64, &ps, &n);
	arena_fini(&a);
	free(s);
	return 0;
}
