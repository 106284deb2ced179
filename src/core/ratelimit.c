/*
 * ratelimit.c - the tables behind ratelimit.h: set-associative, salted,
 * one mutex per set. Expected load: one ratelimit_take per request on the
 * hot path (tens of thousands per second), a handful of backoff calls
 * per login; so the bucket path is a hash, a lock, a scan of eight slots
 * and integer arithmetic, with no allocation.
 */
#include "ratelimit.h"

#include "err.h"

#include <nettle/sha2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RL_KEY 16
/* Tokens are counted in millionths so that refill is integer arithmetic:
 * `rate` tokens per second is `rate` micro-tokens per microsecond. */
#define RL_UNIT 1000000LL

struct rl_entry {
	unsigned char key[RL_KEY];
	int live;
	int64_t used_us; /* last use: LRU within the set */
	int64_t t_us;    /* bucket: last refill; backoff: last failure */
	int64_t v;       /* bucket: micro-tokens; backoff: end of the delay */
	uint32_t n;      /* backoff: failures counted */
};

struct rl_set {
	pthread_mutex_t lock;
	struct rl_entry e[RATELIMIT_WAYS];
};

struct ratelimit_table {
	struct rl_set *sets;
	size_t nsets;           /* a power of two */
	struct sha256_ctx salted; /* the salt absorbed; copied per key */
};

int ratelimit_table_new(size_t entries, ratelimit_table **out)
{
	ratelimit_table *t = calloc(1, sizeof *t);
	unsigned char salt[32];
	size_t n = 1;

	*out = NULL;
	if (!t)
		return ERR_NOMEM;
	while (n * RATELIMIT_WAYS < entries && n < ((size_t)1 << 40))
		n <<= 1;
	t->sets = calloc(n, sizeof *t->sets);
	if (!t->sets) {
		free(t);
		return ERR_NOMEM;
	}
	t->nsets = n;
	for (size_t i = 0; i < n; i++)
		pthread_mutex_init(&t->sets[i].lock, NULL);
	if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt) {
		ratelimit_table_free(t);
		return ERR_IO;
	}
	sha256_init(&t->salted);
	sha256_update(&t->salted, sizeof salt, salt);
	explicit_bzero(salt, sizeof salt);
	*out = t;
	return 0;
}

void ratelimit_table_free(ratelimit_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nsets; i++)
		pthread_mutex_destroy(&t->sets[i].lock);
	free(t->sets);
	explicit_bzero(&t->salted, sizeof t->salted);
	free(t);
}

size_t ratelimit_table_size(const ratelimit_table *t)
{
	return t->nsets * RATELIMIT_WAYS;
}

/* The stored key and the set of a key: SHA-256(salt || key); 16 bytes are
 * kept (collisions are out of reach), 4 others pick the set. */
static struct rl_set *rl_locate(ratelimit_table *t, const void *key, size_t len, unsigned char k[RL_KEY])
{
	struct sha256_ctx c = t->salted;
	unsigned char d[SHA256_DIGEST_SIZE];
	uint32_t h;

	sha256_update(&c, len, key);
	sha256_digest(&c, sizeof d, d);
	memcpy(k, d, RL_KEY);
	h = (uint32_t)d[16] | (uint32_t)d[17] << 8 | (uint32_t)d[18] << 16 | (uint32_t)d[19] << 24;
	return &t->sets[h & (t->nsets - 1)];
}

static struct rl_entry *rl_find(struct rl_set *s, const unsigned char k[RL_KEY])
{
	for (int i = 0; i < RATELIMIT_WAYS; i++)
		if (s->e[i].live && memcmp(s->e[i].key, k, RL_KEY) == 0)
			return &s->e[i];
	return NULL;
}

/* A slot for a new key: an empty one, else the least recently used -
 * among backoff entries without a running delay first when `keep_delayed`
 * (see ratelimit.h). The slot is cleared and owned by k. */
static struct rl_entry *rl_claim(struct rl_set *s, const unsigned char k[RL_KEY], int keep_delayed, int64_t now_us)
{
	struct rl_entry *victim = NULL, *calm = NULL;

	for (int i = 0; i < RATELIMIT_WAYS; i++) {
		struct rl_entry *e = &s->e[i];
		if (!e->live) {
			victim = calm = e;
			break;
		}
		if (!victim || e->used_us < victim->used_us)
			victim = e;
		if (keep_delayed && e->v <= now_us && (!calm || e->used_us < calm->used_us))
			calm = e;
	}
	if (keep_delayed && calm)
		victim = calm;
	memset(victim, 0, sizeof *victim);
	memcpy(victim->key, k, RL_KEY);
	victim->live = 1;
	return victim;
}

int ratelimit_take(ratelimit_table *t, const void *key, size_t len, unsigned rate, unsigned burst, int64_t now_us,
		   int64_t *retry_us)
{
	unsigned char k[RL_KEY];
	struct rl_set *s;
	struct rl_entry *e;
	int64_t cap, elapsed;
	int rc = 0;

	if (rate == 0)
		return 0;
	if (burst == 0)
		burst = 1;
	cap = (int64_t)burst * RL_UNIT;
	s = rl_locate(t, key, len, k);
	pthread_mutex_lock(&s->lock);
	e = rl_find(s, k);
	if (!e) {
		e = rl_claim(s, k, 0, now_us);
		e->v = cap;
		e->t_us = now_us;
	}
	elapsed = now_us - e->t_us;
	if (elapsed > 0) {
		/* refill; past the time to fill up from empty it is simply full
		 * (and elapsed * rate cannot overflow) */
		if (elapsed >= cap / rate + 1 || e->v + elapsed * (int64_t)rate >= cap)
			e->v = cap;
		else
			e->v += elapsed * (int64_t)rate;
		e->t_us = now_us;
	}
	if (e->v > cap)
		e->v = cap; /* the burst setting shrank: never more than it allows */
	e->used_us = now_us;
	if (e->v >= RL_UNIT) {
		e->v -= RL_UNIT;
	} else {
		*retry_us = (RL_UNIT - e->v + rate - 1) / rate;
		if (*retry_us < 1)
			*retry_us = 1;
		rc = ERR_THROTTLED;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int ratelimit_backoff_check(ratelimit_table *t, const void *key, size_t len, int64_t now_us, int64_t *retry_us)
{
	unsigned char k[RL_KEY];
	struct rl_set *s = rl_locate(t, key, len, k);
	struct rl_entry *e;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	e = rl_find(s, k);
	if (e && e->v > now_us) {
		*retry_us = e->v - now_us;
		rc = ERR_THROTTLED;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* base * 2^k, saturating at max. */
static int64_t rl_delay(const ratelimit_policy *p, uint32_t k)
{
	int64_t d = p->base_us;

	if (d <= 0)
		return 0;
	for (uint32_t i = 0; i < k && d < p->max_us; i++)
		d = d > p->max_us / 2 ? p->max_us : d * 2;
	return d < p->max_us ? d : p->max_us;
}

void ratelimit_backoff_fail(ratelimit_table *t, const ratelimit_policy *p, const void *key, size_t len,
			    int64_t now_us, int64_t *delay_us)
{
	unsigned char k[RL_KEY];
	struct rl_set *s = rl_locate(t, key, len, k);
	struct rl_entry *e;
	int64_t delay = 0, quiet_from;

	pthread_mutex_lock(&s->lock);
	e = rl_find(s, k);
	if (!e)
		e = rl_claim(s, k, 1, now_us);
	/* The window counts from the end of the last delay, not from the
	 * last failure: otherwise delays longer than the window would reset
	 * the count each time and the cap would never be reached. */
	quiet_from = e->v > e->t_us ? e->v : e->t_us;
	if (e->n && now_us - quiet_from > p->window_us)
		e->n = 0;
	if (e->n < UINT32_MAX)
		e->n++;
	e->t_us = now_us;
	e->used_us = now_us;
	if (e->n >= (p->free ? p->free : 1)) {
		delay = rl_delay(p, e->n - (p->free ? p->free : 1));
		/* two failures racing past one check must not shorten a delay */
		if (now_us + delay > e->v)
			e->v = now_us + delay;
	}
	pthread_mutex_unlock(&s->lock);
	if (delay_us)
		*delay_us = delay;
}

void ratelimit_backoff_clear(ratelimit_table *t, const void *key, size_t len)
{
	unsigned char k[RL_KEY];
	struct rl_set *s = rl_locate(t, key, len, k);
	struct rl_entry *e;

	pthread_mutex_lock(&s->lock);
	e = rl_find(s, k);
	if (e)
		memset(e, 0, sizeof *e);
	pthread_mutex_unlock(&s->lock);
}

unsigned ratelimit_retry_s(int64_t retry_us)
{
	int64_t s = (retry_us + RL_UNIT - 1) / RL_UNIT;
	if (s < 1)
		s = 1;
	if (s > 86400)
		s = 86400;
	return (unsigned)s;
}
