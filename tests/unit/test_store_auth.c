/*
 * test_store_auth.c - the authorization records of store.h on the SQLite
 * backend: put/get/replace/conflict, expiry as absence, single-use take
 * (also under concurrency, within one store and across two stores on one
 * file, as two fhird processes would be), delete, list order, the
 * revocation check, family expiry, purge, durability across reopen, and
 * auth writes interleaved with the FHIR writer thread.
 */
#include "core/err.h"
#include "store/store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* schema versions: SQLite's user_version 5 adds ix_pt (sqlite.c), which
 * PostgreSQL does not have */
#ifdef FHIRD_TEST_PG_BACKEND
#define SCHEMA_NOW 4
#else
#define SCHEMA_NOW 5
#endif

#ifdef FHIRD_TEST_PG_BACKEND
#include "pgtest.h" /* test_store_auth_pg.c: the same tests on PostgreSQL */
#endif

struct fixture {
	char dir[64];
	char path[256];
	char schema[64];
	store_t *s;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int open_store(const char *path, store_t **out)
{
	store_options o = { 0 };
	o.path = path;
	o.readers = 4;
	o.write_batch_max = 64;
	return store_open(&o, out);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
#ifdef FHIRD_TEST_PG_BACKEND
	assert_int_equal(pgtest_new(f->schema, sizeof f->schema, f->path, sizeof f->path), 0);
#else
	snprintf(f->dir, sizeof f->dir, "/tmp/fhird-auth-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
#endif
	assert_int_equal(open_store(f->path, &f->s), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
#ifdef FHIRD_TEST_PG_BACKEND
	pgtest_drop(f->schema);
#else
	{
		char cmd[160];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			return -1;
	}
#endif
	free(f);
	return 0;
}

static void test_put_get_replace_conflict(void **state)
{
	struct fixture *f = *state;
	store_auth_rec r;
	int64_t created, exp = now_us() + 3600 * 1000000LL;
	char longkey[STORE_AUTH_KEY_MAX + 1];

	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CLIENT, "app", &r), ERR_NOTFOUND);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CLIENT, "app", NULL, "{\"a\":1}", 0, 0), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CLIENT, "app", &r), 0);
	assert_string_equal(r.key, "app");
	assert_string_equal(r.family, "");
	assert_string_equal(r.value, "{\"a\":1}");
	assert_int_equal(r.exp_us, 0);
	assert_int_equal(r.used, 0);
	assert_true(r.created_us > 0 && r.created_us <= now_us());
	created = r.created_us;
	store_auth_rec_clear(&r);
	assert_null(r.value);

	/* no replace: a live record is a conflict and stays as it was */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CLIENT, "app", NULL, "{\"a\":2}", 0, 0), ERR_CONFLICT);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CLIENT, "app", &r), 0);
	assert_string_equal(r.value, "{\"a\":1}");
	store_auth_rec_clear(&r);

	/* the same key under another kind is another record */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_USER, "app", "fam", "{}", exp, 0), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_USER, "app", &r), 0);
	assert_string_equal(r.family, "fam");
	assert_int_equal(r.exp_us, exp);
	store_auth_rec_clear(&r);

	/* replace overwrites value, family and expiry, resets used */
	assert_int_equal(store_auth_take(f->s, STORE_AUTH_CLIENT, "app", &r), 0);
	store_auth_rec_clear(&r);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CLIENT, "app", "g", "{\"a\":3}", exp, 1), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CLIENT, "app", &r), 0);
	assert_string_equal(r.value, "{\"a\":3}");
	assert_string_equal(r.family, "g");
	assert_int_equal(r.exp_us, exp);
	assert_int_equal(r.used, 0);
	assert_int_equal(r.created_us, created); /* updated in place */
	store_auth_rec_clear(&r);

	/* replace of an absent record inserts it */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_KEY, "k1", NULL, "{}", 0, 1), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_KEY, "k1", &r), 0);
	store_auth_rec_clear(&r);

	/* keys that do not fit the record are refused */
	memset(longkey, 'x', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, longkey, NULL, "{}", 0, 0), ERR_INVALID);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "", NULL, "{}", 0, 0), ERR_INVALID);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "c", longkey, "{}", 0, 0), ERR_INVALID);
	r.value = (char *)1; /* out is cleared even when the key could never exist */
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CODE, longkey, &r), ERR_NOTFOUND);
	assert_null(r.value);
	assert_int_equal(store_auth_take(f->s, STORE_AUTH_CODE, longkey, &r), ERR_NOTFOUND);
	assert_null(r.value);
	assert_int_equal(store_auth_del(f->s, STORE_AUTH_CODE, longkey), 0);
	longkey[STORE_AUTH_KEY_MAX - 1] = '\0'; /* exactly the maximum fits */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, longkey, longkey, "{}", 0, 0), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CODE, longkey, &r), 0);
	assert_string_equal(r.key, longkey);
	assert_string_equal(r.family, longkey);
	store_auth_rec_clear(&r);
}

static void test_expiry(void **state)
{
	struct fixture *f = *state;
	store_auth_rec r, *items = NULL;
	size_t n = 9;
	int revoked = 1;
	int64_t past = now_us() - 1000000;

	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "old", "fam", "{\"x\":1}", past, 0), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CODE, "old", &r), ERR_NOTFOUND);
	assert_int_equal(store_auth_take(f->s, STORE_AUTH_CODE, "old", &r), ERR_NOTFOUND);
	assert_int_equal(store_auth_list(f->s, STORE_AUTH_CODE, &items, &n), 0);
	assert_int_equal(n, 0);
	assert_null(items);

	/* an expired record does not block a new one (replace=0) */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "old", NULL, "{\"x\":2}", 0, 0), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CODE, "old", &r), 0);
	assert_string_equal(r.value, "{\"x\":2}");
	assert_string_equal(r.family, "");
	store_auth_rec_clear(&r);

	/* an expired revocation revokes nothing */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REVOKED, "jti-old", NULL, "{}", past, 0), 0);
	assert_int_equal(store_auth_revoked(f->s, "jti-old", NULL, &revoked), 0);
	assert_int_equal(revoked, 0);

	/* a record that expires shortly is live, then absent */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_LAUNCH, "soon", NULL, "{}", now_us() + 200000, 0), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_LAUNCH, "soon", &r), 0);
	store_auth_rec_clear(&r);
	usleep(300000);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_LAUNCH, "soon", &r), ERR_NOTFOUND);
}

static void test_take_single_use(void **state)
{
	struct fixture *f = *state;
	store_auth_rec r;

	assert_int_equal(store_auth_take(f->s, STORE_AUTH_CODE, "none", &r), ERR_NOTFOUND);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "h1", "fam1", "{\"client\":\"c\"}", 0, 0), 0);
	assert_int_equal(store_auth_take(f->s, STORE_AUTH_CODE, "h1", &r), 0);
	assert_int_equal(r.used, 0);
	assert_string_equal(r.value, "{\"client\":\"c\"}");
	assert_string_equal(r.family, "fam1");
	store_auth_rec_clear(&r);
	/* the second taker learns it was used (code replay: RFC 6749 4.1.2) */
	assert_int_equal(store_auth_take(f->s, STORE_AUTH_CODE, "h1", &r), 0);
	assert_int_equal(r.used, 1);
	assert_string_equal(r.value, "{\"client\":\"c\"}");
	store_auth_rec_clear(&r);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CODE, "h1", &r), 0);
	assert_int_equal(r.used, 1);
	store_auth_rec_clear(&r);
}

static void test_del(void **state)
{
	struct fixture *f = *state;
	store_auth_rec r;

	assert_int_equal(store_auth_put(f->s, STORE_AUTH_USER, "alice", NULL, "{}", 0, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CLIENT, "alice", NULL, "{}", 0, 0), 0);
	assert_int_equal(store_auth_del(f->s, STORE_AUTH_USER, "alice"), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_USER, "alice", &r), ERR_NOTFOUND);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CLIENT, "alice", &r), 0); /* other kind untouched */
	store_auth_rec_clear(&r);
	assert_int_equal(store_auth_del(f->s, STORE_AUTH_USER, "alice"), 0); /* absent: fine */
	assert_int_equal(store_auth_del(f->s, STORE_AUTH_USER, "nobody"), 0);
	/* deleted, so a new record with that key is no conflict */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_USER, "alice", NULL, "{\"v\":2}", 0, 0), 0);
}

static void test_list_order(void **state)
{
	struct fixture *f = *state;
	store_auth_rec *items = NULL;
	size_t n = 0;
	const char *order[] = { "c", "a", "d", "b" };

	assert_int_equal(store_auth_list(f->s, STORE_AUTH_CLIENT, &items, &n), 0);
	assert_int_equal(n, 0);
	assert_null(items);
	for (size_t i = 0; i < 4; i++) {
		char v[32];
		snprintf(v, sizeof v, "{\"i\":%zu}", i);
		assert_int_equal(store_auth_put(f->s, STORE_AUTH_CLIENT, order[i], NULL, v, 0, 0), 0);
		usleep(2000); /* distinct created_us */
	}
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_USER, "u", NULL, "{}", 0, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CLIENT, "gone", NULL, "{}", now_us() - 1, 0), 0);
	/* replacing a live record keeps its place */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CLIENT, "a", NULL, "{\"i\":9}", 0, 1), 0);

	assert_int_equal(store_auth_list(f->s, STORE_AUTH_CLIENT, &items, &n), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(items[i].key, order[i]);
		if (i > 0)
			assert_true(items[i].created_us >= items[i - 1].created_us);
	}
	assert_string_equal(items[1].value, "{\"i\":9}");
	for (size_t i = 0; i < n; i++)
		store_auth_rec_clear(&items[i]);
	free(items);
}

static void test_revoked(void **state)
{
	struct fixture *f = *state;
	int rv = 7;

	assert_int_equal(store_auth_revoked(f->s, NULL, NULL, &rv), 0);
	assert_int_equal(rv, 0);
	assert_int_equal(store_auth_revoked(f->s, "", "", &rv), 0);
	assert_int_equal(rv, 0);
	assert_int_equal(store_auth_revoked(f->s, "jti1", "fam1", &rv), 0);
	assert_int_equal(rv, 0);

	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REVOKED, "jti1", NULL, "{}", 0, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REVOKED, "fam2", NULL, "{}", now_us() + 60000000, 0), 0);
	/* a record of another kind under the same key is no revocation */
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REFRESH, "fam3", "fam3", "{}", 0, 0), 0);

	assert_int_equal(store_auth_revoked(f->s, "jti1", NULL, &rv), 0);
	assert_int_equal(rv, 1);
	assert_int_equal(store_auth_revoked(f->s, "jti1", "", &rv), 0);
	assert_int_equal(rv, 1);
	assert_int_equal(store_auth_revoked(f->s, NULL, "jti1", &rv), 0);
	assert_int_equal(rv, 1);
	assert_int_equal(store_auth_revoked(f->s, "", "fam2", &rv), 0);
	assert_int_equal(rv, 1);
	assert_int_equal(store_auth_revoked(f->s, "other", "fam2", &rv), 0);
	assert_int_equal(rv, 1);
	assert_int_equal(store_auth_revoked(f->s, "other", "fam1", &rv), 0);
	assert_int_equal(rv, 0);
	assert_int_equal(store_auth_revoked(f->s, "fam3", "fam3", &rv), 0);
	assert_int_equal(rv, 0);
	assert_int_equal(store_auth_revoked(f->s, "JTI1", NULL, &rv), 0); /* exact keys */
	assert_int_equal(rv, 0);
}

static void test_expire_family(void **state)
{
	struct fixture *f = *state;
	store_auth_rec r;
	int64_t later = now_us() + 3600 * 1000000LL;

	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REFRESH, "r1", "F", "{}", 0, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REFRESH, "r2", "F", "{}", later + 5, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "c1", "F", "{}", 0, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REFRESH, "r3", "G", "{}", 0, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REFRESH, "r4", NULL, "{}", 0, 0), 0);

	/* a future expiry is set and the records stay live until then */
	assert_int_equal(store_auth_expire_family(f->s, "F", later), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_REFRESH, "r1", &r), 0);
	assert_int_equal(r.exp_us, later);
	store_auth_rec_clear(&r);

	/* now: every kind of the family is gone, others stay */
	assert_int_equal(store_auth_expire_family(f->s, "F", now_us() - 1), 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_REFRESH, "r1", &r), ERR_NOTFOUND);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_REFRESH, "r2", &r), ERR_NOTFOUND);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CODE, "c1", &r), ERR_NOTFOUND);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_REFRESH, "r3", &r), 0);
	store_auth_rec_clear(&r);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_REFRESH, "r4", &r), 0);
	store_auth_rec_clear(&r);

	/* "no family" must never select the records without one */
	assert_int_equal(store_auth_expire_family(f->s, "", now_us() - 1), ERR_INVALID);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_REFRESH, "r4", &r), 0);
	store_auth_rec_clear(&r);
}

static void test_purge(void **state)
{
	struct fixture *f = *state;
	store_auth_rec r;
	size_t n = 99;
	int64_t past = now_us() - 1000000;

	assert_int_equal(store_auth_purge(f->s, now_us(), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "e1", NULL, "{}", past, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_JTI, "c e2", NULL, "{}", past, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_REQUEST, "e3", NULL, "{}", past - 5, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "l1", NULL, "{}", 0, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "l2", NULL, "{}", now_us() + 60000000, 0), 0);
	assert_int_equal(store_auth_purge(f->s, now_us(), &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_auth_purge(f->s, now_us(), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CODE, "l1", &r), 0);
	store_auth_rec_clear(&r);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CODE, "l2", &r), 0);
	store_auth_rec_clear(&r);
}

/* ---- concurrency ---- */

#define NTAKERS 8

struct taker {
	store_t *s;
	pthread_barrier_t *go;
	const char *key;
	int rc;
	int used;
};

static void *take_thread(void *a)
{
	struct taker *t = a;
	store_auth_rec r = { 0 };
	pthread_barrier_wait(t->go);
	t->rc = store_auth_take(t->s, STORE_AUTH_CODE, t->key, &r);
	t->used = r.used;
	store_auth_rec_clear(&r);
	return NULL;
}

/* Runs NTAKERS threads taking key at once, alternating between stores
 * s[0..ns); exactly one must see used == 0. */
static void race_takers(store_t **s, int ns, const char *key)
{
	pthread_t th[NTAKERS];
	struct taker t[NTAKERS];
	pthread_barrier_t go;
	int fresh = 0;

	pthread_barrier_init(&go, NULL, NTAKERS);
	for (int i = 0; i < NTAKERS; i++) {
		t[i] = (struct taker){ .s = s[i % ns], .go = &go, .key = key };
		assert_int_equal(pthread_create(&th[i], NULL, take_thread, &t[i]), 0);
	}
	for (int i = 0; i < NTAKERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].rc, 0);
		fresh += t[i].used == 0;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(fresh, 1);
}

static void test_take_concurrent(void **state)
{
	struct fixture *f = *state;
	store_t *two[2];

	for (int round = 0; round < 5; round++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", round);
		assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, key, NULL, "{}", 0, 0), 0);
		race_takers(&f->s, 1, key);
	}
	/* two stores on one file stand for two fhird processes: their auth
	 * connections are ordered by SQLite's write lock alone */
	two[0] = f->s;
	assert_int_equal(open_store(f->path, &two[1]), 0);
	for (int round = 0; round < 5; round++) {
		char key[16];
		snprintf(key, sizeof key, "x%d", round);
		assert_int_equal(store_auth_put(two[round % 2], STORE_AUTH_CODE, key, NULL, "{}", 0, 0), 0);
		race_takers(two, 2, key);
	}
	store_close(two[1]);
}

static int render_fixed(void *ctx, const char *id, int64_t vid, const char *lu, char **out, size_t *len)
{
	char buf[128];
	int n = snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"v\":%lld}", id, (long long)vid);
	*out = strdup(buf);
	*len = (size_t)n;
	return *out ? 0 : ERR_NOMEM;
}

struct mixer {
	store_t *s;
	int fhir;
	int failures;
};

#define NMIX 100

static void *mix_thread(void *a)
{
	struct mixer *m = a;
	for (int i = 0; i < NMIX; i++) {
		char key[32];
		int rc;
		snprintf(key, sizeof key, "p%d", i);
		if (m->fhir) {
			store_op_t op;
			memset(&op, 0, sizeof op);
			op.kind = STORE_OP_UPDATE;
			op.type = "Patient";
			op.id = key;
			op.render = render_fixed;
			op.method = "PUT";
			rc = store_commit(m->s, &op, 1, 1);
			store_version_clear(&op.result);
		} else {
			store_auth_rec r = { 0 };
			rc = store_auth_put(m->s, STORE_AUTH_REFRESH, key, "fam", "{}", 0, 0);
			if (!rc)
				rc = store_auth_take(m->s, STORE_AUTH_REFRESH, key, &r);
			if (!rc && r.used != 0)
				rc = ERR_INTERNAL;
			store_auth_rec_clear(&r);
		}
		m->failures += rc != 0;
	}
	return NULL;
}

/* The FHIR writer thread and the auth connection share SQLite's write
 * lock: interleaved, neither fails nor waits forever. */
static void test_auth_with_fhir_writer(void **state)
{
	struct fixture *f = *state;
	pthread_t th[3];
	struct mixer m[3] = { { f->s, 1, 0 }, { f->s, 0, 0 }, { f->s, 1, 0 } };
	store_version_t v;
	store_auth_rec *items = NULL;
	size_t n = 0;

	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mix_thread, &m[i]), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(m[i].failures, 0);
	}
	assert_int_equal(store_read(f->s, "Patient", "p99", &v), 0);
	assert_int_equal(v.vid, 2);
	store_version_clear(&v);
	assert_int_equal(store_auth_list(f->s, STORE_AUTH_REFRESH, &items, &n), 0);
	assert_int_equal(n, NMIX);
	for (size_t i = 0; i < n; i++)
		store_auth_rec_clear(&items[i]);
	free(items);
}

static void test_reopen_keeps_records(void **state)
{
	struct fixture *f = *state;
	store_auth_rec r;

	assert_int_equal(store_auth_put(f->s, STORE_AUTH_KEY, "kid1", NULL, "{\"jwk\":{}}", 0, 0), 0);
	assert_int_equal(store_auth_put(f->s, STORE_AUTH_CODE, "code", NULL, "{}", 0, 0), 0);
	assert_int_equal(store_auth_take(f->s, STORE_AUTH_CODE, "code", &r), 0);
	store_auth_rec_clear(&r);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(open_store(f->path, &f->s), 0);
	assert_int_equal(store_schema_version(f->s), SCHEMA_NOW);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_KEY, "kid1", &r), 0);
	assert_string_equal(r.value, "{\"jwk\":{}}");
	store_auth_rec_clear(&r);
	assert_int_equal(store_auth_get(f->s, STORE_AUTH_CODE, "code", &r), 0);
	assert_int_equal(r.used, 1); /* the take was durable too */
	store_auth_rec_clear(&r);
}

int main(void)
{
#ifdef FHIRD_TEST_PG_BACKEND
	if (!pgtest_available()) {
		printf("# SKIP no PostgreSQL cluster (FHIRD_TEST_PG; tests/run.py --pg)\n");
		return 0;
	}
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_replace_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_single_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_with_fhir_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_records, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
