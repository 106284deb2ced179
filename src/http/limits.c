/*
 * limits.c - the policy of limits.h on top of core/ratelimit.h: which
 * table a request is charged to, under which key, with which settings,
 * and the password-check gate.
 */
#include "limits.h"

#include "core/err.h"
#include "core/log.h"
#include "core/ratelimit.h"

#include <errno.h>
#include <nettle/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct http_limits {
	const config_t *cfg;
	ratelimit_table *addr[2];   /* by enum http_limit_scope; NULL: no limit */
	ratelimit_table *client[2];
	ratelimit_table *login_user;
	ratelimit_table *login_addr;
	ratelimit_policy user_policy;
	ratelimit_policy addr_policy;
	http_limits_clock_fn clock;
	void *clock_ctx;
	unsigned char device_key[32]; /* MAC key of device cookies */

	/* the password gate */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;   /* on CLOCK_MONOTONIC */
	unsigned running, waiting, slots;
};

static int64_t limits_mono_us(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int limits_table(unsigned rate, const config_t *cfg, ratelimit_table **out)
{
	*out = NULL;
	return rate ? ratelimit_table_new(cfg->limit_table_entries, out) : 0;
}

int http_limits_new(const config_t *cfg, http_limits **out)
{
	http_limits *l = calloc(1, sizeof *l);
	pthread_condattr_t ca;
	long ncpu;
	int rc;

	*out = NULL;
	if (!l)
		return ERR_NOMEM;
	l->cfg = cfg;
	l->clock = limits_mono_us;
	pthread_mutex_init(&l->gate_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->gate_cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = limits_table(cfg->rate_api_addr, cfg, &l->addr[HTTP_LIMIT_API]);
	if (!rc)
		rc = limits_table(cfg->rate_auth_addr, cfg, &l->addr[HTTP_LIMIT_AUTH]);
	if (!rc)
		rc = limits_table(cfg->rate_api_client, cfg, &l->client[HTTP_LIMIT_API]);
	if (!rc)
		rc = limits_table(cfg->rate_auth_client, cfg, &l->client[HTTP_LIMIT_AUTH]);
	if (!rc)
		rc = ratelimit_table_new(cfg->limit_table_entries, &l->login_user);
	if (!rc)
		rc = ratelimit_table_new(cfg->limit_table_entries, &l->login_addr);
	if (!rc && getrandom(l->device_key, sizeof l->device_key, 0) != (ssize_t)sizeof l->device_key)
		rc = ERR_IO;
	if (rc) {
		http_limits_free(l);
		return rc;
	}
	l->user_policy.free = cfg->login_free_failures;
	l->user_policy.base_us = (int64_t)cfg->login_backoff_ms * 1000;
	l->user_policy.max_us = (int64_t)cfg->login_backoff_max_s * 1000000;
	l->user_policy.window_us = (int64_t)cfg->login_window_s * 1000000;
	l->addr_policy = l->user_policy;
	l->addr_policy.free = cfg->login_addr_free_failures;
	/* argon2id takes 64 MiB per check (auth/crypto.c): twice the CPUs
	 * keeps every core busy while bounding memory to a few hundred MiB. */
	l->slots = cfg->login_max_concurrent;
	if (!l->slots) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		l->slots = ncpu > 0 ? 2 * (unsigned)ncpu : 2;
	}
	*out = l;
	return 0;
}

void http_limits_set_device_key(http_limits *l, const unsigned char *key, size_t len)
{
	if (!l || !key || len == 0 || len > sizeof l->device_key)
		return;
	explicit_bzero(l->device_key, sizeof l->device_key);
	memcpy(l->device_key, key, len);
}

void http_limits_free(http_limits *l)
{
	if (!l)
		return;
	for (int i = 0; i < 2; i++) {
		ratelimit_table_free(l->addr[i]);
		ratelimit_table_free(l->client[i]);
	}
	ratelimit_table_free(l->login_user);
	ratelimit_table_free(l->login_addr);
	pthread_cond_destroy(&l->gate_cond);
	pthread_mutex_destroy(&l->gate_lock);
	explicit_bzero(l->device_key, sizeof l->device_key);
	free(l);
}

void http_limits_set_clock(http_limits *l, http_limits_clock_fn fn, void *ctx)
{
	l->clock = fn ? fn : limits_mono_us;
	l->clock_ctx = fn ? ctx : NULL;
}

int http_limits_is_loopback(const http_request *req)
{
	static const unsigned char v6_loop[16] = { [15] = 1 };

	if (req->peer_len == 4)
		return req->peer[0] == 127;
	return req->peer_len == 16 && memcmp(req->peer, v6_loop, 16) == 0;
}

/* The key of req's address: a family byte, then the IPv4 address or the
 * IPv6 /64 (see limits.h). 0 when there is no address. */
static size_t limits_addr_key(const http_request *req, unsigned char key[9])
{
	if (req->peer_len == 4) {
		key[0] = 4;
		memcpy(key + 1, req->peer, 4);
		return 5;
	}
	if (req->peer_len == 16) {
		key[0] = 6;
		memcpy(key + 1, req->peer, 8);
		return 9;
	}
	return 0;
}

/* 1 when req's address is not limited at all. */
static int limits_addr_exempt(const http_limits *l, const http_request *req)
{
	return req->peer_len == 0 || (l->cfg->rate_exempt_loopback && http_limits_is_loopback(req));
}

static int limits_charge(http_limits *l, ratelimit_table *t, const void *key, size_t len, unsigned rate,
			 unsigned burst, unsigned *retry_s)
{
	int64_t retry_us = 0;
	int rc = ratelimit_take(t, key, len, rate, burst, l->clock(l->clock_ctx), &retry_us);

	if (rc == ERR_THROTTLED)
		*retry_s = ratelimit_retry_s(retry_us);
	return rc;
}

int http_limits_addr(http_limits *l, enum http_limit_scope scope, const http_request *req, unsigned *retry_s)
{
	unsigned char key[9];
	size_t len;
	const config_t *cfg;

	if (!l || !l->addr[scope] || limits_addr_exempt(l, req))
		return 0;
	cfg = l->cfg;
	len = limits_addr_key(req, key);
	if (scope == HTTP_LIMIT_API)
		return limits_charge(l, l->addr[scope], key, len, cfg->rate_api_addr, cfg->rate_api_addr_burst, retry_s);
	return limits_charge(l, l->addr[scope], key, len, cfg->rate_auth_addr, cfg->rate_auth_addr_burst, retry_s);
}

int http_limits_client(http_limits *l, enum http_limit_scope scope, const http_request *req, const char *client_id,
		       unsigned *retry_s)
{
	const config_t *cfg;

	/* Exempt by address too: a loopback client (the benchmark's backend
	 * service) is the operator's own. */
	if (!l || !l->client[scope] || !client_id || (l->cfg->rate_exempt_loopback && http_limits_is_loopback(req)))
		return 0;
	cfg = l->cfg;
	if (scope == HTTP_LIMIT_API)
		return limits_charge(l, l->client[scope], client_id, strlen(client_id), cfg->rate_api_client,
				     cfg->rate_api_client_burst, retry_s);
	return limits_charge(l, l->client[scope], client_id, strlen(client_id), cfg->rate_auth_client,
			     cfg->rate_auth_client_burst, retry_s);
}

/* The backoff key of username into key: the name itself, or on a device
 * with its cookie a 0x01 byte (in no username) and the name. Its length;
 * 0 when it does not fit (usernames are at most 128 bytes). */
static size_t limits_user_key(const char *username, int device, char *key, size_t cap)
{
	int n = snprintf(key, cap, "%s%s", device ? "\x01" : "", username);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int http_limits_login_check(http_limits *l, const http_request *req, const char *username, int device,
			    unsigned *retry_s)
{
	unsigned char key[9];
	char ukey[160];
	size_t len, ulen;
	int64_t now, r1 = 0, r2 = 0;
	int rc = 0;

	if (!l)
		return 0;
	now = l->clock(l->clock_ctx);
	/* Keyed by the name as typed, whether or not such a user exists, so
	 * that the answer says nothing about which accounts exist. */
	if (username && (ulen = limits_user_key(username, device, ukey, sizeof ukey)) > 0 &&
	    ratelimit_backoff_check(l->login_user, ukey, ulen, now, &r1) == ERR_THROTTLED)
		rc = ERR_THROTTLED;
	/* A device that signed in as this user before passes the address's
	 * delay too: someone guessing from the same network (a hospital's
	 * NAT) must not keep known users out. Its own failures are limited
	 * by its device key above. */
	if (!device && !limits_addr_exempt(l, req) && (len = limits_addr_key(req, key)) > 0 &&
	    ratelimit_backoff_check(l->login_addr, key, len, now, &r2) == ERR_THROTTLED)
		rc = ERR_THROTTLED;
	if (rc)
		*retry_s = ratelimit_retry_s(r1 > r2 ? r1 : r2);
	return rc;
}

void http_limits_login_done(http_limits *l, const http_request *req, const char *username, int device, int ok)
{
	unsigned char key[9];
	char ukey[160];
	size_t len, ulen = 0;
	int64_t now, delay = 0;

	if (!l)
		return;
	if (username)
		ulen = limits_user_key(username, device, ukey, sizeof ukey);
	if (ok) {
		/* Only the account is cleared (and with a device cookie only the
		 * account on that device: the stranger's failures stay theirs).
		 * Not the address: a success on an account of one's own must not
		 * reset the address's count of guesses at others. */
		if (ulen)
			ratelimit_backoff_clear(l->login_user, ukey, ulen);
		return;
	}
	now = l->clock(l->clock_ctx);
	if (ulen)
		ratelimit_backoff_fail(l->login_user, &l->user_policy, ukey, ulen, now, &delay);
	if (delay)
		log_warn("msg=\"login backoff\" key=account delay_ms=%lld", (long long)(delay / 1000));
	delay = 0;
	if (!limits_addr_exempt(l, req) && (len = limits_addr_key(req, key)) > 0)
		ratelimit_backoff_fail(l->login_addr, &l->addr_policy, key, len, now, &delay);
	if (delay)
		log_warn("msg=\"login backoff\" key=address delay_ms=%lld", (long long)(delay / 1000));
}

int http_limits_password_begin(http_limits *l)
{
	struct timespec dl;
	int rc = 0;

	if (!l)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += l->cfg->login_queue_ms / 1000;
	dl.tv_nsec += (long)(l->cfg->login_queue_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->gate_lock);
	if (l->running >= l->slots) {
		/* Waiters hold worker threads: no more of them than slots, so a
		 * login flood leaves the other threads to the FHIR API. */
		if (l->waiting >= l->slots || l->cfg->login_queue_ms == 0) {
			rc = ERR_BUSY;
			goto out;
		}
		l->waiting++;
		while (l->running >= l->slots && rc == 0)
			if (pthread_cond_timedwait(&l->gate_cond, &l->gate_lock, &dl) == ETIMEDOUT &&
			    l->running >= l->slots)
				rc = ERR_BUSY;
		l->waiting--;
		if (rc)
			goto out;
	}
	l->running++;
out:
	pthread_mutex_unlock(&l->gate_lock);
	if (rc)
		log_warn("msg=\"password checks busy\" slots=%u", l->slots);
	return rc;
}

void http_limits_password_end(http_limits *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->gate_lock);
	if (l->running)
		l->running--;
	pthread_cond_signal(&l->gate_cond);
	pthread_mutex_unlock(&l->gate_lock);
}

void http_limits_device_value(const http_limits *l, const char *username, char out[HTTP_LIMITS_DEVICE_LEN])
{
	static const char hex[] = "0123456789abcdef";
	struct hmac_sha256_ctx c;
	unsigned char mac[SHA256_DIGEST_SIZE];

	hmac_sha256_set_key(&c, sizeof l->device_key, l->device_key);
	hmac_sha256_update(&c, sizeof "fhird device cookie", (const uint8_t *)"fhird device cookie");
	hmac_sha256_update(&c, strlen(username), (const uint8_t *)username);
	hmac_sha256_digest(&c, sizeof mac, mac);
	/* 128 bits are plenty for a MAC that is only ever checked online */
	for (size_t i = 0; i < (HTTP_LIMITS_DEVICE_LEN - 1) / 2; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[HTTP_LIMITS_DEVICE_LEN - 1] = '\0';
	explicit_bzero(&c, sizeof c);
}

int http_limits_device_ok(const http_limits *l, const char *username, const char *value)
{
	char want[HTTP_LIMITS_DEVICE_LEN];
	unsigned char diff = 0;

	if (!l || !username || !value || strlen(value) != HTTP_LIMITS_DEVICE_LEN - 1)
		return 0;
	http_limits_device_value(l, username, want);
	for (size_t i = 0; i < HTTP_LIMITS_DEVICE_LEN - 1; i++)
		diff |= (unsigned char)(want[i] ^ value[i]);
	return diff == 0;
}

const char *http_limits_retry_after(arena_t *a, unsigned retry_s)
{
	char *s = arena_printf(a, "%u", retry_s);
	return s ? s : "1";
}
