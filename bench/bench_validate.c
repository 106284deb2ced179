/*
 * bench_validate.c - how many resources per second fhir_validate_resource()
 * checks, on already parsed JSON (parsing, storage and HTTP left out), so
 * that a change to the validator can be weighed on its own.
 *
 * Input: JSON files given on the command line, each a single resource, a
 * Bundle (its entries' resources are validated one by one, as an import of a
 * batch does) or NDJSON (one resource a line, e.g. bench/gen_obs.py output).
 * Every resource is validated ROUNDS times; the best of 5 runs is reported,
 * because the machine is shared and only the least disturbed run says
 * something about the code.
 *
 * Build and run from the repository root after `make`:
 *
 *   cc -std=c17 -D_GNU_SOURCE -O2 -Isrc bench/bench_validate.c build/libfhird.a \
 *      $(pkg-config --libs jansson) -o build/bench_validate
 *   python3 bench/gen_obs.py --patients 100 --observations 5000 --big 0 \
 *      --out /tmp/obs.ndjson
 *   build/bench_validate 20 data/demo/uscore_bundle_patient_85.json \
 *      data/demo/uscore_bundle_patient_355.json /tmp/obs.ndjson
 */
#include "fhir/validate.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX 200000

static json_t *bench_res[BENCH_MAX];
static size_t bench_n;

static void bench_add(json_t *res)
{
	if (bench_n < BENCH_MAX && json_is_object(res))
		bench_res[bench_n++] = json_incref(res);
}

static void bench_load(const char *path)
{
	json_error_t err;
	json_t *j = json_load_file(path, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &err);
	const char *rt = json_string_value(json_object_get(j, "resourceType"));
	FILE *f;
	char *line = NULL;
	size_t cap = 0;

	if (j && rt && strcmp(rt, "Bundle") == 0) {
		json_t *e;
		size_t i;
		json_array_foreach(json_object_get(j, "entry"), i, e)
			bench_add(json_object_get(e, "resource"));
		json_decref(j);
		return;
	}
	json_decref(j);
	/* NDJSON, or a single resource (a one-line file is the same thing) */
	f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(2);
	}
	while (getline(&line, &cap, f) > 0) {
		json_t *r = json_loads(line, 0, &err);
		if (r) {
			bench_add(r);
			json_decref(r);
		}
	}
	free(line);
	fclose(f);
}

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int rounds;
	double best = 0;
	size_t invalid = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s ROUNDS FILE...\n", argv[0]);
		return 2;
	}
	rounds = (int)strtol(argv[1], NULL, 10);
	if (rounds < 1)
		rounds = 1;
	for (int i = 2; i < argc; i++)
		bench_load(argv[i]);
	for (size_t i = 0; i < bench_n; i++) {
		const char *rt = json_string_value(json_object_get(bench_res[i], "resourceType"));
		fhir_issue is;
		if (!rt || fhir_validate_resource(bench_res[i], fhir_type_find(rt, strlen(rt)), &is)) {
			if (invalid++ < 5)
				fprintf(stderr, "invalid: %s: %s\n", is.expression, is.message);
		}
	}
	for (int run = 0; run < 5; run++) {
		double t0 = bench_now(), dt;
		for (int r = 0; r < rounds; r++)
			for (size_t i = 0; i < bench_n; i++) {
				const char *rt = json_string_value(json_object_get(bench_res[i], "resourceType"));
				fhir_validate_resource(bench_res[i], fhir_type_find(rt, strlen(rt)), NULL);
			}
		dt = bench_now() - t0;
		if (run == 0 || dt < best)
			best = dt;
	}
	printf("%zu resources (%zu invalid) x %d rounds: best of 5 %.3f s, %.0f resources/s, %.2f us each\n", bench_n,
	       invalid, rounds, best, (double)bench_n * rounds / best, best * 1e6 / ((double)bench_n * rounds));
	for (size_t i = 0; i < bench_n; i++)
		json_decref(bench_res[i]);
	return 0;
}
