/*
 * replay.c - a fuzz target without libFuzzer, as a unit test: `make
 * unit-bins` links each fuzz/fuzz_<name>.c with this file into
 * build/tests/test_fuzz_<name> (built with the suite's compiler and
 * flags, and under `make asan` with ASan + UBSan), and tests/run.py runs
 * it with the other unit tests. Every file of fuzz/regressions/<name>/
 * (the inputs that once crashed the target: docs/fuzzing.md) and of
 * fuzz/corpus/<name>/ (the seeds: the target must keep accepting them) is
 * one cmocka test that hands the file to LLVMFuzzerTestOneInput().
 *
 * A target reports a broken property by abort() or a sanitizer report,
 * which ends the process: run.py then fails the binary as a whole and
 * the TAP lines printed so far name the input that was running (each
 * test's name is printed before it runs, by cmocka).
 *
 * FUZZ_DIR (the fuzz/ directory, an absolute path) and FUZZ_NAME come
 * from the Makefile.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* optional in a target */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static void replay_one(void **state)
{
	const char *path = *state;
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t n = 0, cap = 0;

	assert_non_null(f);
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			data = realloc(data, cap);
			assert_non_null(data);
		}
		size_t got = fread(data + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	assert_int_equal(ferror(f), 0);
	fclose(f);
	/* libFuzzer hands over exactly size bytes: a copy of that size lets
	 * ASan see a read past the input */
	uint8_t *exact = malloc(n ? n : 1);
	assert_non_null(exact);
	if (n)
		memcpy(exact, data, n);
	free(data);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
}

/* Adds one test per regular file of dir (sorted), named "<kind>/<file>". */
static void replay_add(struct CMUnitTest **tests, size_t *n, const char *kind)
{
	char dir[4096];
	struct dirent **ents = NULL;
	int k;

	snprintf(dir, sizeof dir, "%s/%s/%s", FUZZ_DIR, kind, FUZZ_NAME);
	k = scandir(dir, &ents, NULL, alphasort);
	for (int i = 0; i < k; i++) {
		char *path, *name;
		size_t pl = strlen(dir) + strlen(ents[i]->d_name) + 2;
		size_t nl = strlen(kind) + strlen(ents[i]->d_name) + 2;
		if (ents[i]->d_name[0] == '.') {
			free(ents[i]);
			continue;
		}
		path = malloc(pl);
		name = malloc(nl);
		*tests = realloc(*tests, (*n + 1) * sizeof **tests);
		if (!path || !name || !*tests)
			abort();
		snprintf(path, pl, "%s/%s", dir, ents[i]->d_name);
		snprintf(name, nl, "%s/%s", kind, ents[i]->d_name);
		memset(&(*tests)[*n], 0, sizeof **tests);
		(*tests)[*n].name = name;
		(*tests)[*n].test_func = replay_one;
		(*tests)[*n].initial_state = path;
		(*n)++;
		free(ents[i]);
	}
	free(ents);
}

int main(int argc, char **argv)
{
	struct CMUnitTest *tests = NULL;
	size_t n = 0;
	int rc;

	replay_add(&tests, &n, "regressions");
	replay_add(&tests, &n, "corpus");
	if (n == 0) {
		fprintf(stderr, "no inputs under %s for %s\n", FUZZ_DIR, FUZZ_NAME);
		return 1;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	rc = _cmocka_run_group_tests("fuzz_" FUZZ_NAME, tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++) {
		free((void *)tests[i].name);
		free(tests[i].initial_state);
	}
	free(tests);
	return rc;
}
