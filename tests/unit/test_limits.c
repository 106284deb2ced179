/*
 * test_limits.c - the abuse-limit tables (core/ratelimit.h) and the policy
 * on top of them (http/limits.h), driven by a clock of the test's own:
 * nothing sleeps and nothing reads the wall clock.
 *
 *   - token bucket: a new key starts with `burst` tokens, refills at
 *     `rate` per second, never above the burst; an empty bucket answers
 *     ERR_THROTTLED with the exact wait; keys are independent;
 *   - backoff: `free` failures, then delays of base, 2 base, 4 base ...
 *     capped at max (never a permanent lock); checks during a delay
 *     change nothing; the count is forgotten `window` after the last delay
 *     ended; a success clears it; delays never shrink;
 *   - the tables stay at their size however many keys arrive, and a key
 *     in backoff outlives a flood of calm keys in its set;
 *   - policy: loopback exemption, IPv6 counted per /64, per-client
 *     buckets, account backoff independent of the address, device
 *     cookies (a MAC of the username; the owner's browser is counted
 *     apart from strangers guessing at the account), the password-check
 *     gate (slots, then ERR_BUSY at once with no queue).
 */
#include "core/config.h"
#include "core/err.h"
#include "core/ratelimit.h"
#include "http/limits.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S 1000000LL /* one second in microseconds */

static void test_bucket_burst_and_refill(void **state)
{
	ratelimit_table *t;
	int64_t now = 1000 * S, retry = 0;
	(void)state;

	assert_int_equal(ratelimit_table_new(64, &t), 0);
	/* rate 2/s, burst 3: three at once, the fourth waits half a second */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(t, "a", 1, 2, 3, now, &retry), 0);
	assert_int_equal(ratelimit_take(t, "a", 1, 2, 3, now, &retry), ERR_THROTTLED);
	assert_int_equal(retry, S / 2);
	/* 0.25 s later: half a token; the wait is the other half */
	assert_int_equal(ratelimit_take(t, "a", 1, 2, 3, now + S / 4, &retry), ERR_THROTTLED);
	assert_int_equal(retry, S / 4);
	/* 0.5 s after the first refusal: exactly one token */
	assert_int_equal(ratelimit_take(t, "a", 1, 2, 3, now + S / 2, &retry), 0);
	assert_int_equal(ratelimit_take(t, "a", 1, 2, 3, now + S / 2, &retry), ERR_THROTTLED);
	/* another key has its own bucket */
	assert_int_equal(ratelimit_take(t, "b", 1, 2, 3, now, &retry), 0);
	/* a long pause refills to the burst, not beyond */
	now += 3600 * S;
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(t, "a", 1, 2, 3, now, &retry), 0);
	assert_int_equal(ratelimit_take(t, "a", 1, 2, 3, now, &retry), ERR_THROTTLED);
	/* the clock going backwards (another thread's older reading) adds nothing */
	assert_int_equal(ratelimit_take(t, "a", 1, 2, 3, now - S, &retry), ERR_THROTTLED);
	ratelimit_table_free(t);
}

static void test_bucket_steady_rate(void **state)
{
	ratelimit_table *t;
	int64_t now = 5 * S, retry;
	int ok = 0;
	(void)state;

	assert_int_equal(ratelimit_table_new(64, &t), 0);
	/* 100 requests a second for 10 s against rate 10, burst 5:
	 * 5 + 10 * 10 = 105 pass */
	for (int i = 0; i < 1000; i++, now += S / 100)
		ok += ratelimit_take(t, "k", 1, 10, 5, now, &retry) == 0;
	assert_in_range(ok, 104, 105);
	/* rate 0 is no limit; burst 0 counts as 1 */
	for (int i = 0; i < 100; i++)
		assert_int_equal(ratelimit_take(t, "z", 1, 0, 0, now, &retry), 0);
	assert_int_equal(ratelimit_take(t, "y", 1, 1, 0, now, &retry), 0);
	assert_int_equal(ratelimit_take(t, "y", 1, 1, 0, now, &retry), ERR_THROTTLED);
	assert_int_equal(retry, S);
	ratelimit_table_free(t);
}

static const ratelimit_policy policy = { .free = 3, .base_us = S, .max_us = 8 * S, .window_us = 60 * S };

static void test_backoff_grows_and_caps(void **state)
{
	ratelimit_table *t;
	int64_t now = 100 * S, retry = 0, delay = -1;
	(void)state;

	assert_int_equal(ratelimit_table_new(64, &t), 0);
	assert_int_equal(ratelimit_backoff_check(t, "alice", 5, now, &retry), 0);
	/* the first two failures are free; the third starts the first delay */
	ratelimit_backoff_fail(t, &policy, "alice", 5, now, &delay);
	assert_int_equal(delay, 0);
	ratelimit_backoff_fail(t, &policy, "alice", 5, now, &delay);
	assert_int_equal(delay, 0);
	assert_int_equal(ratelimit_backoff_check(t, "alice", 5, now, &retry), 0);
	ratelimit_backoff_fail(t, &policy, "alice", 5, now, &delay);
	assert_int_equal(delay, S);
	assert_int_equal(ratelimit_backoff_check(t, "alice", 5, now, &retry), ERR_THROTTLED);
	assert_int_equal(retry, S);
	/* checking during the delay changes nothing */
	for (int i = 0; i < 10; i++)
		assert_int_equal(ratelimit_backoff_check(t, "alice", 5, now + S / 2, &retry), ERR_THROTTLED);
	assert_int_equal(retry, S / 2);
	/* other keys are untouched */
	assert_int_equal(ratelimit_backoff_check(t, "bob", 3, now, &retry), 0);
	/* after the delay: one try; failing doubles, up to the cap */
	{
		static const int64_t want[] = { 2 * S, 4 * S, 8 * S, 8 * S, 8 * S };
		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
			assert_int_equal(ratelimit_backoff_check(t, "alice", 5, now, &retry), ERR_THROTTLED);
			now += retry;
			assert_int_equal(ratelimit_backoff_check(t, "alice", 5, now, &retry), 0);
			ratelimit_backoff_fail(t, &policy, "alice", 5, now, &delay);
			assert_int_equal(delay, want[i]);
		}
	}
	/* never locked for longer than the cap: after it, a try is allowed */
	now += 8 * S;
	assert_int_equal(ratelimit_backoff_check(t, "alice", 5, now, &retry), 0);
	/* a success clears everything */
	ratelimit_backoff_clear(t, "alice", 5);
	assert_int_equal(ratelimit_backoff_check(t, "alice", 5, now, &retry), 0);
	ratelimit_backoff_fail(t, &policy, "alice", 5, now, &delay);
	assert_int_equal(delay, 0);
	ratelimit_table_free(t);
}

static void test_backoff_window(void **state)
{
	ratelimit_table *t;
	int64_t now = 100 * S, retry, delay;
	(void)state;

	assert_int_equal(ratelimit_table_new(64, &t), 0);
	/* two failures, then a quiet window: forgotten */
	ratelimit_backoff_fail(t, &policy, "u", 1, now, &delay);
	ratelimit_backoff_fail(t, &policy, "u", 1, now, &delay);
	now += 61 * S;
	ratelimit_backoff_fail(t, &policy, "u", 1, now, &delay);
	assert_int_equal(delay, 0);
	/* within the window they add up */
	ratelimit_backoff_fail(t, &policy, "u", 1, now + 59 * S, &delay);
	assert_int_equal(delay, 0);
	ratelimit_backoff_fail(t, &policy, "u", 1, now + 59 * S, &delay);
	assert_int_equal(delay, S);
	/* the window counts from the end of the delay: with delays longer
	 * than the window the count still grows to the cap */
	{
		ratelimit_policy p = { .free = 1, .base_us = 100 * S, .max_us = 400 * S, .window_us = 10 * S };
		ratelimit_backoff_fail(t, &p, "v", 1, now, &delay);
		assert_int_equal(delay, 100 * S);
		now += 100 * S + 5 * S;
		ratelimit_backoff_fail(t, &p, "v", 1, now, &delay);
		assert_int_equal(delay, 200 * S);
		now += 200 * S + 11 * S; /* quiet for longer than the window after the delay */
		ratelimit_backoff_fail(t, &p, "v", 1, now, &delay);
		assert_int_equal(delay, 100 * S);
	}
	/* two failures racing past one check never shorten a running delay */
	{
		ratelimit_policy p = { .free = 1, .base_us = 10 * S, .max_us = 10 * S, .window_us = 10 * S };
		ratelimit_backoff_fail(t, &p, "w", 1, now, &delay);
		ratelimit_backoff_fail(t, &p, "w", 1, now - 5 * S, &delay);
		assert_int_equal(ratelimit_backoff_check(t, "w", 1, now, &retry), ERR_THROTTLED);
		assert_int_equal(retry, 10 * S);
	}
	ratelimit_table_free(t);
}

static void test_table_bounded(void **state)
{
	ratelimit_table *t;
	int64_t now = 10 * S, retry, delay;
	char key[32];
	(void)state;

	assert_int_equal(ratelimit_table_new(100, &t), 0);
	/* rounded up to a power of two number of sets of RATELIMIT_WAYS */
	assert_int_equal(ratelimit_table_size(t), 128);
	/* a key in a delay, then a flood of 100,000 failing keys: the delayed
	 * key's entry is evicted last within its set, and every set holds at
	 * most RATELIMIT_WAYS - so the flood needs whole sets of delayed keys
	 * to push it out */
	{
		ratelimit_policy p = { .free = 1, .base_us = 3600 * S, .max_us = 3600 * S, .window_us = 3600 * S };
		ratelimit_policy calm = { .free = 1000, .base_us = S, .max_us = S, .window_us = S };
		ratelimit_backoff_fail(t, &p, "victim", 6, now, &delay);
		for (int i = 0; i < 100000; i++) {
			snprintf(key, sizeof key, "k%d", i);
			ratelimit_backoff_fail(t, &calm, key, strlen(key), now + i, &delay);
		}
		assert_int_equal(ratelimit_backoff_check(t, "victim", 6, now + 200000, &retry), ERR_THROTTLED);
	}
	ratelimit_table_free(t);
	ratelimit_table_free(NULL);

	/* buckets: a flood of new keys evicts old ones, which come back full
	 * (memory stays fixed) */
	assert_int_equal(ratelimit_table_new(8, &t), 0);
	assert_int_equal(ratelimit_take(t, "x", 1, 1, 1, now, &retry), 0);
	assert_int_equal(ratelimit_take(t, "x", 1, 1, 1, now, &retry), ERR_THROTTLED);
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof key, "n%d", i);
		assert_int_equal(ratelimit_take(t, key, strlen(key), 1, 1, now + 1 + i, &retry), 0);
	}
	assert_int_equal(ratelimit_take(t, "x", 1, 1, 1, now + 100, &retry), 0);
	ratelimit_table_free(t);
}

static void test_retry_seconds(void **state)
{
	(void)state;
	assert_int_equal(ratelimit_retry_s(0), 1);
	assert_int_equal(ratelimit_retry_s(1), 1);
	assert_int_equal(ratelimit_retry_s(S), 1);
	assert_int_equal(ratelimit_retry_s(S + 1), 2);
	assert_int_equal(ratelimit_retry_s(900 * S), 900);
}

/* ---- the policy (http/limits.h) ---- */

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static void req_v4(http_request *r, unsigned char a, unsigned char b, unsigned char c, unsigned char d)
{
	memset(r, 0, sizeof *r);
	r->peer[0] = a;
	r->peer[1] = b;
	r->peer[2] = c;
	r->peer[3] = d;
	r->peer_len = 4;
}

static void req_v6(http_request *r, unsigned last)
{
	memset(r, 0, sizeof *r);
	r->peer[0] = 0x20;
	r->peer[1] = 0x01;
	r->peer[2] = 0x0d;
	r->peer[3] = 0xb8;
	r->peer[15] = (unsigned char)last;
	r->peer_len = 16;
}

static void limits_cfg(config_t *c)
{
	assert_int_equal(config_init(c), 0);
	c->rate_api_addr = 1;
	c->rate_api_addr_burst = 2;
	c->rate_api_client = 1;
	c->rate_api_client_burst = 1;
	c->rate_auth_addr = 1;
	c->rate_auth_addr_burst = 1;
	c->rate_auth_client = 0; /* off */
	c->login_free_failures = 2;
	c->login_addr_free_failures = 4;
	c->login_backoff_ms = 1000;
	c->login_backoff_max_s = 4;
	c->login_window_s = 60;
	c->login_max_concurrent = 2;
	c->login_queue_ms = 0;
	c->limit_table_entries = 64;
}

static void test_policy_rates(void **state)
{
	config_t cfg;
	http_limits *l;
	http_request a, b, lo, v6a, v6b, sub;
	unsigned retry = 0;
	(void)state;

	limits_cfg(&cfg);
	assert_int_equal(http_limits_new(&cfg, &l), 0);
	fake_now = 50 * S;
	http_limits_set_clock(l, fake_clock, NULL);
	req_v4(&a, 192, 0, 2, 1);
	req_v4(&b, 192, 0, 2, 2);
	req_v4(&lo, 127, 0, 0, 1);
	req_v6(&v6a, 1);
	req_v6(&v6b, 2);
	memset(&sub, 0, sizeof sub); /* no address: a Bundle entry */

	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &a, &retry), 0);
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &a, &retry), 0);
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &a, &retry), ERR_THROTTLED);
	assert_int_equal(retry, 1);
	/* the scopes have separate buckets; other addresses too */
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_AUTH, &a, &retry), 0);
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_AUTH, &a, &retry), ERR_THROTTLED);
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &b, &retry), 0);
	/* loopback is exempt by default; no address passes */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &lo, &retry), 0);
		assert_int_equal(http_limits_client(l, HTTP_LIMIT_API, &lo, "app", &retry), 0);
		assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &sub, &retry), 0);
	}
	/* IPv6: one /64 is one client */
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &v6a, &retry), 0);
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &v6b, &retry), 0);
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &v6a, &retry), ERR_THROTTLED);
	/* per client, whatever the address; a limit of 0 is none */
	assert_int_equal(http_limits_client(l, HTTP_LIMIT_API, &a, "app", &retry), 0);
	assert_int_equal(http_limits_client(l, HTTP_LIMIT_API, &b, "app", &retry), ERR_THROTTLED);
	assert_int_equal(http_limits_client(l, HTTP_LIMIT_API, &b, "other", &retry), 0);
	assert_int_equal(http_limits_client(l, HTTP_LIMIT_API, &b, NULL, &retry), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(http_limits_client(l, HTTP_LIMIT_AUTH, &a, "app", &retry), 0);
	/* time heals */
	fake_now += S;
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &a, &retry), 0);
	assert_int_equal(http_limits_client(l, HTTP_LIMIT_API, &b, "app", &retry), 0);
	http_limits_free(l);

	/* exemption off: loopback is limited like anyone */
	cfg.rate_exempt_loopback = 0;
	assert_int_equal(http_limits_new(&cfg, &l), 0);
	http_limits_set_clock(l, fake_clock, NULL);
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &lo, &retry), 0);
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &lo, &retry), 0);
	assert_int_equal(http_limits_addr(l, HTTP_LIMIT_API, &lo, &retry), ERR_THROTTLED);
	http_limits_free(l);
	http_limits_free(NULL);
	/* no limits object: everything passes */
	assert_int_equal(http_limits_addr(NULL, HTTP_LIMIT_API, &a, &retry), 0);
	config_fini(&cfg);
}

static void test_policy_login(void **state)
{
	config_t cfg;
	http_limits *l;
	http_request a, b, c;
	unsigned retry = 0;
	(void)state;

	limits_cfg(&cfg);
	assert_int_equal(http_limits_new(&cfg, &l), 0);
	fake_now = 500 * S;
	http_limits_set_clock(l, fake_clock, NULL);
	req_v4(&a, 198, 51, 100, 1);
	req_v4(&b, 198, 51, 100, 2);
	req_v4(&c, 198, 51, 100, 3);

	/* one account guessed from many addresses: the account waits */
	http_limits_login_done(l, &a, "alice", 0, 0);
	assert_int_equal(http_limits_login_check(l, &b, "alice", 0, &retry), 0);
	http_limits_login_done(l, &b, "alice", 0, 0);
	assert_int_equal(http_limits_login_check(l, &c, "alice", 0, &retry), ERR_THROTTLED);
	assert_int_equal(retry, 1);
	/* ... and only that account: the same addresses may sign in others */
	assert_int_equal(http_limits_login_check(l, &a, "bob", 0, &retry), 0);
	assert_int_equal(http_limits_login_check(l, &c, "carol", 0, &retry), 0);
	/* the delay passes; a success clears the account */
	fake_now += S;
	assert_int_equal(http_limits_login_check(l, &c, "alice", 0, &retry), 0);
	http_limits_login_done(l, &c, "alice", 0, 1);
	http_limits_login_done(l, &c, "alice", 0, 0);
	assert_int_equal(http_limits_login_check(l, &c, "alice", 0, &retry), 0);

	/* one address guessing many accounts: the address waits (its fourth
	 * failure), for every account; a success elsewhere does not reset it */
	fake_now += 100 * S;
	http_limits_login_done(l, &b, "u1", 0, 0);
	http_limits_login_done(l, &b, "u2", 0, 0);
	http_limits_login_done(l, &b, "mine", 0, 1);
	http_limits_login_done(l, &b, "u3", 0, 0);
	assert_int_equal(http_limits_login_check(l, &b, "u4", 0, &retry), 0);
	http_limits_login_done(l, &b, "u4", 0, 0);
	assert_int_equal(http_limits_login_check(l, &b, "u5", 0, &retry), ERR_THROTTLED);
	assert_int_equal(http_limits_login_check(l, &a, "u5", 0, &retry), 0);
	http_limits_free(l);
	config_fini(&cfg);
}

static void test_policy_device(void **state)
{
	config_t cfg;
	http_limits *l, *l2;
	http_request a;
	char v[HTTP_LIMITS_DEVICE_LEN], w[HTTP_LIMITS_DEVICE_LEN], v2[HTTP_LIMITS_DEVICE_LEN];
	unsigned retry = 0;
	(void)state;

	limits_cfg(&cfg);
	assert_int_equal(http_limits_new(&cfg, &l), 0);
	assert_int_equal(http_limits_new(&cfg, &l2), 0);
	fake_now = 900 * S;
	http_limits_set_clock(l, fake_clock, NULL);
	req_v4(&a, 203, 0, 113, 9);

	/* a MAC of the username: stable, per account, per key */
	http_limits_device_value(l, "alice", v);
	http_limits_device_value(l, "alice", w);
	assert_string_equal(v, w);
	assert_int_equal(strlen(v), HTTP_LIMITS_DEVICE_LEN - 1);
	assert_true(http_limits_device_ok(l, "alice", v));
	assert_false(http_limits_device_ok(l, "bob", v));
	http_limits_device_value(l2, "alice", v2);
	assert_string_not_equal(v, v2);
	assert_false(http_limits_device_ok(l, "alice", v2));
	w[0] = w[0] == '0' ? '1' : '0';
	assert_false(http_limits_device_ok(l, "alice", w));
	assert_false(http_limits_device_ok(l, "alice", ""));
	assert_false(http_limits_device_ok(l, "alice", NULL));

	/* strangers put the account in a delay; its owner's browser (with the
	 * cookie) is counted apart and may still try */
	http_limits_login_done(l, &a, "alice", 0, 0);
	http_limits_login_done(l, &a, "alice", 0, 0);
	assert_int_equal(http_limits_login_check(l, &a, "alice", 0, &retry), ERR_THROTTLED);
	assert_int_equal(http_limits_login_check(l, &a, "alice", 1, &retry), 0);
	/* a wrong password on the device counts against the device only */
	http_limits_login_done(l, &a, "alice", 1, 0);
	http_limits_login_done(l, &a, "alice", 1, 0);
	assert_int_equal(http_limits_login_check(l, &a, "alice", 1, &retry), ERR_THROTTLED);
	/* the address is in a delay now too (its fourth failure) */
	assert_int_equal(http_limits_login_check(l, &a, "carol", 0, &retry), ERR_THROTTLED);
	fake_now += 2 * S;
	/* strangers on the same address keep it in a delay, which the
	 * owner's device passes and nobody else does */
	http_limits_login_done(l, &a, "carol", 0, 0);
	http_limits_login_done(l, &a, "dave", 0, 0);
	assert_int_equal(http_limits_login_check(l, &a, "erin", 0, &retry), ERR_THROTTLED);
	assert_int_equal(http_limits_login_check(l, &a, "alice", 1, &retry), 0);
	/* the owner's success clears the device, not the strangers' count */
	http_limits_login_done(l, &a, "alice", 1, 1);
	assert_int_equal(http_limits_login_check(l, &a, "alice", 1, &retry), 0);
	http_limits_login_done(l, &a, "alice", 0, 0);
	assert_int_equal(http_limits_login_check(l, &a, "alice", 0, &retry), ERR_THROTTLED);
	http_limits_free(l);
	http_limits_free(l2);
	config_fini(&cfg);
}

static void test_password_gate(void **state)
{
	config_t cfg;
	http_limits *l;
	(void)state;

	limits_cfg(&cfg);
	assert_int_equal(http_limits_new(&cfg, &l), 0);
	/* two slots; with login_queue_ms 0 the third is refused at once */
	assert_int_equal(http_limits_password_begin(l), 0);
	assert_int_equal(http_limits_password_begin(l), 0);
	assert_int_equal(http_limits_password_begin(l), ERR_BUSY);
	http_limits_password_end(l);
	assert_int_equal(http_limits_password_begin(l), 0);
	http_limits_password_end(l);
	http_limits_password_end(l);
	http_limits_free(l);
	assert_int_equal(http_limits_password_begin(NULL), 0);
	http_limits_password_end(NULL);
	config_fini(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_burst_and_refill),
		cmocka_unit_test(test_bucket_steady_rate),
		cmocka_unit_test(test_backoff_grows_and_caps),
		cmocka_unit_test(test_backoff_window),
		cmocka_unit_test(test_table_bounded),
		cmocka_unit_test(test_retry_seconds),
		cmocka_unit_test(test_policy_rates),
		cmocka_unit_test(test_policy_login),
		cmocka_unit_test(test_policy_device),
		cmocka_unit_test(test_password_gate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
