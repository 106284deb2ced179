/*
 * test_secret.c - shared server secrets (auth/secret.h): made once, the
 * same for every store opened on the database (as every fhird node on it),
 * different per name, refused when the stored record is not a secret of
 * the asked length.
 */
#include "auth/secret.h"
#include "core/err.h"
#include "store/store.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
	char dir[64];
	char path[96];
};

static int open_store(const char *path, store_t **out)
{
	store_options o = { 0 };
	o.path = path;
	o.readers = 2;
	o.write_batch_max = 16;
	return store_open(&o, out);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/fhird-secret-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_same_secret_for_every_store(void **state)
{
	struct fixture *f = *state;
	store_t *a = NULL, *b = NULL;
	unsigned char x[32], y[32], z[32], zero[32] = { 0 };

	assert_int_equal(open_store(f->path, &a), 0);
	assert_int_equal(open_store(f->path, &b), 0);
	assert_int_equal(auth_secret_get(a, "cursor", x, sizeof x), 0);
	assert_memory_not_equal(x, zero, sizeof x);
	assert_int_equal(auth_secret_get(b, "cursor", y, sizeof y), 0);
	assert_memory_equal(x, y, sizeof x);
	/* another name is another secret */
	assert_int_equal(auth_secret_get(b, "device-cookie", z, sizeof z), 0);
	assert_memory_not_equal(x, z, sizeof x);
	store_close(a);
	store_close(b);
	/* and it survives a restart */
	assert_int_equal(open_store(f->path, &a), 0);
	assert_int_equal(auth_secret_get(a, "cursor", y, sizeof y), 0);
	assert_memory_equal(x, y, sizeof x);
	store_close(a);
}

static void test_bad_records_and_arguments(void **state)
{
	struct fixture *f = *state;
	store_t *s = NULL;
	unsigned char x[64];

	assert_int_equal(open_store(f->path, &s), 0);
	assert_int_equal(auth_secret_get(s, "k", x, 0), ERR_INVALID);
	assert_int_equal(auth_secret_get(s, "k", x, AUTH_SECRET_MAX + 1), ERR_INVALID);
	/* a 16-byte secret is not a 32-byte one */
	assert_int_equal(auth_secret_get(s, "short", x, 16), 0);
	assert_int_equal(auth_secret_get(s, "short", x, 32), ERR_INVALID);
	/* a damaged record is refused, not replaced by a fresh secret */
	assert_int_equal(store_auth_put(s, STORE_AUTH_SECRET, "bad", NULL, "{\"k\":\"zz\"}", 0, 1), 0);
	assert_int_equal(auth_secret_get(s, "bad", x, 1), ERR_INVALID);
	assert_int_equal(store_auth_put(s, STORE_AUTH_SECRET, "bad2", NULL, "{}", 0, 1), 0);
	assert_int_equal(auth_secret_get(s, "bad2", x, 8), ERR_INVALID);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_secret_for_every_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_records_and_arguments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
