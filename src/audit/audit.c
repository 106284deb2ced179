/*
 * audit.c - the queue between request threads and the audit writer (see
 * audit.h).
 *
 * Workload: one event per request, submitted by every worker thread at
 * request rate; one writer. A submit is a malloc and a few memcpy outside
 * the lock, then a list append under it; filling the record, finding the
 * patient of a body and hashing happen on the writer thread, so the
 * request thread pays for none of them (the JSON is only made when an
 * auditor reads the record).
 *
 * The writer takes up to AUDIT_BATCH_MAX events at a time and appends
 * them in one store transaction, at most one transaction every
 * AUDIT_COMMIT_MS (sooner when a batch is full or someone flushes): the
 * batches grow with the load and the fsyncs per event shrink (group
 * commit). A failed append is retried a few times (the database may be
 * locked by another process for a while); after that the batch is
 * dropped, counted and logged, so that a broken disk cannot block the
 * request path for good - only for block_ms per request once the queue
 * is full.
 *
 * Counters: `submitted` numbers the events queued, `done` those the
 * writer finished (written or dropped); events are finished in queue
 * order, so audit_flush() waits for done >= submitted-as-of-its-call.
 */
#include "audit.h"

#include "core/err.h"
#include "core/log.h"
#include "core/valid.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A queued event: the audit_event with its strings copied behind it. */
struct audit_item {
	struct audit_item *next;
	int64_t recorded_us;
	audit_event ev;
	char data[];
};

struct audit {
	store_t *store;
	char *base_url;
	char *issuer;
	unsigned queue_max;
	unsigned block_ms;
	audit_patient_fn patient_of;

	pthread_mutex_t lock;
	pthread_cond_t nonempty; /* writer waits for events (writer_idle) */
	pthread_cond_t pace;     /* writer waits out the commit interval */
	pthread_cond_t space;    /* submitters wait for room */
	pthread_cond_t done_cv;  /* flushers wait for progress */
	struct audit_item *head, *tail;
	size_t qlen;
	int closing;
	int writer_idle;         /* the writer sleeps on nonempty */
	int hurry;               /* a flush waits: skip the commit interval */
	int64_t last_commit_us;  /* CLOCK_MONOTONIC */
	uint64_t submitted, done, written, dropped, waited;
	int64_t last_warn_us;
	pthread_t thread;
	int started;
};

int audit_outcome_of(int status)
{
	if (status > 0 && status < 400)
		return 0;
	if (status == 401 || status == 403)
		return 8;
	if (status >= 400 && status < 500)
		return 4;
	return 12;
}

static int64_t audit_now_us(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Bytes of s that are copied: at most max, cut on a UTF-8 boundary. */
static size_t audit_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--; /* do not split a character */
	return n;
}

/* Copies s[0..n) to *pos as a NUL-terminated string and points *dst at
 * it. Control characters and, in text that is not UTF-8 (a username
 * typed into a form can be anything), bytes >= 0x80 become '?', so the
 * renderer always has valid JSON strings. */
static void audit_put(char **pos, const char **dst, const char *s, size_t n)
{
	char *d = *pos;
	int utf8 = valid_utf8(s, n);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		d[i] = (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80)) ? '?' : (char)c;
	}
	d[n] = '\0';
	*dst = d;
	*pos = d + n + 1;
}

/* One allocation holding ev and its strings; NULL on ENOMEM. */
static struct audit_item *audit_item_new(const audit_event *ev)
{
	const char *const src[] = { ev->subtype, ev->outcome_desc, ev->client_id, ev->subject, ev->fhir_user,
				    ev->patient, ev->entity_type, ev->entity_id, ev->query, ev->address };
	size_t len[sizeof src / sizeof src[0]], total = 0, blen = 0;
	struct audit_item *it;
	char *pos;

	for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
		len[i] = src[i] ? audit_len(src[i], src[i] == ev->query ? AUDIT_QUERY_MAX : 255) : 0;
		total += len[i] + 1;
	}
	if (ev->body && ev->body_len <= AUDIT_BODY_MAX)
		blen = ev->body_len;
	it = malloc(sizeof *it + total + blen + 1);
	if (!it)
		return NULL;
	memset(it, 0, sizeof *it);
	it->ev.kind = ev->kind;
	it->ev.action = ev->action;
	it->ev.status = ev->status;
	it->ev.outcome = ev->outcome;
	pos = it->data;
	{
		const char **out[] = { &it->ev.subtype,   &it->ev.outcome_desc, &it->ev.client_id, &it->ev.subject,
				       &it->ev.fhir_user, &it->ev.patient,      &it->ev.entity_type, &it->ev.entity_id,
				       &it->ev.query,     &it->ev.address };
		for (size_t i = 0; i < sizeof src / sizeof src[0]; i++)
			if (src[i])
				audit_put(&pos, out[i], src[i], len[i]);
	}
	if (blen) {
		memcpy(pos, ev->body, blen);
		pos[blen] = '\0';
		it->ev.body = pos;
		it->ev.body_len = blen;
	}
	return it;
}

/* At most one warning a second: a full queue under load would otherwise
 * turn into a log flood. Called with the lock held. */
static void audit_warn(struct audit *a, const char *what)
{
	int64_t now = audit_now_us(CLOCK_MONOTONIC);
	if (now - a->last_warn_us < 1000000)
		return;
	a->last_warn_us = now;
	log_warn("msg=\"audit: %s\" queued=%zu queue_max=%u waited=%llu dropped=%llu", what, a->qlen, a->queue_max,
		 (unsigned long long)a->waited, (unsigned long long)a->dropped);
}

static void audit_deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void audit_submit(audit_t *a, const audit_event *ev)
{
	struct audit_item *it;

	if (!a || !ev)
		return;
	it = audit_item_new(ev);
	pthread_mutex_lock(&a->lock);
	if (!it) {
		a->dropped++;
		audit_warn(a, "out of memory: event dropped");
		pthread_mutex_unlock(&a->lock);
		return;
	}
	it->recorded_us = audit_now_us(CLOCK_REALTIME);
	if (a->qlen >= a->queue_max && !a->closing) {
		/* Back-pressure: every access must be recorded, so the request
		 * waits for the writer rather than losing its event - for a
		 * bounded time, so a stuck disk cannot hang the server. */
		struct timespec dl;
		a->waited++;
		audit_warn(a, "queue full: requests wait for the audit writer");
		audit_deadline(&dl, a->block_ms);
		while (a->qlen >= a->queue_max && !a->closing)
			if (pthread_cond_timedwait(&a->space, &a->lock, &dl) == ETIMEDOUT)
				break;
	}
	if (a->qlen >= a->queue_max || a->closing) {
		a->dropped++;
		audit_warn(a, "queue full past the wait bound: event dropped");
		pthread_mutex_unlock(&a->lock);
		free(it);
		return;
	}
	if (a->tail)
		a->tail->next = it;
	else
		a->head = it;
	a->tail = it;
	a->qlen++;
	a->submitted++;
	/* wake the writer only when it sleeps for lack of events, or when a
	 * full batch is waiting: a signal per event would cost a futex call
	 * and a context switch per request */
	if (a->writer_idle)
		pthread_cond_signal(&a->nonempty);
	else if (a->qlen == AUDIT_BATCH_MAX)
		pthread_cond_signal(&a->pace);
	pthread_mutex_unlock(&a->lock);
}

/* Renders and appends one batch; returns how many were written. */
static size_t audit_write_batch(struct audit *a, struct audit_item *batch, size_t n, store_audit_rec *recs)
{
	static const unsigned retry_ms[] = { 10, 100, 1000 };
	size_t k = 0;
	int rc;

	for (struct audit_item *it = batch; it; it = it->next) {
		char patient[65];
		audit_event ev = it->ev;
		/* The patient of what was read or written, when the caller could
		 * not tell cheaply: found here, off the request path. */
		if (!ev.patient && ev.body && a->patient_of &&
		    a->patient_of(ev.entity_type ? ev.entity_type : "", ev.body, ev.body_len, patient, sizeof patient) == 0)
			ev.patient = patient;
		if (audit_fill(a->base_url, a->issuer, it->recorded_us, &ev, &recs[k]) == 0)
			k++;
		else
			log_error("msg=\"audit: out of memory: event dropped\"");
	}
	rc = store_audit_append(a->store, recs, k, audit_chain_hash);
	for (size_t t = 0; rc && t < sizeof retry_ms / sizeof retry_ms[0]; t++) {
		struct timespec ts = { retry_ms[t] / 1000, (long)(retry_ms[t] % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		rc = store_audit_append(a->store, recs, k, audit_chain_hash);
	}
	if (rc)
		log_error("msg=\"audit: cannot append to the audit trail: events dropped\" events=%zu err=%s", n,
			  err_name(rc));
	for (size_t i = 0; i < k; i++)
		store_audit_rec_clear(&recs[i]);
	return rc ? 0 : k;
}

static void *audit_main_loop(void *arg)
{
	struct audit *a = arg;
	store_audit_rec *recs = calloc(AUDIT_BATCH_MAX, sizeof *recs);

	for (;;) {
		struct audit_item *batch, *last, *it;
		size_t n = 1, written = 0;

		pthread_mutex_lock(&a->lock);
		a->writer_idle = 1;
		while (!a->head && !a->closing)
			pthread_cond_wait(&a->nonempty, &a->lock);
		a->writer_idle = 0;
		if (!a->head) {
			pthread_mutex_unlock(&a->lock);
			break; /* closing, and everything is written */
		}
		/* Commit at most every AUDIT_COMMIT_MS: events gather in the
		 * queue meanwhile and go in one transaction and one fsync, so a
		 * moderate load does not pay an fsync per event either. */
		{
			struct timespec dl;
			int64_t due = a->last_commit_us + AUDIT_COMMIT_MS * 1000;
			dl.tv_sec = (time_t)(due / 1000000);
			dl.tv_nsec = (long)(due % 1000000) * 1000;
			while (!a->closing && !a->hurry && a->qlen < AUDIT_BATCH_MAX &&
			       audit_now_us(CLOCK_MONOTONIC) < due)
				if (pthread_cond_timedwait(&a->pace, &a->lock, &dl) == ETIMEDOUT)
					break;
		}
		a->hurry = 0;
		batch = last = a->head;
		while (last->next && n < AUDIT_BATCH_MAX) {
			last = last->next;
			n++;
		}
		a->head = last->next;
		if (!a->head)
			a->tail = NULL;
		last->next = NULL;
		a->qlen -= n;
		pthread_cond_broadcast(&a->space);
		pthread_mutex_unlock(&a->lock);

		if (recs)
			written = audit_write_batch(a, batch, n, recs);
		a->last_commit_us = audit_now_us(CLOCK_MONOTONIC); /* only this thread */
		for (it = batch; it;) {
			struct audit_item *next = it->next;
			free(it);
			it = next;
		}
		pthread_mutex_lock(&a->lock);
		a->done += n;
		a->written += written;
		a->dropped += n - written;
		pthread_cond_broadcast(&a->done_cv);
		pthread_mutex_unlock(&a->lock);
	}
	free(recs);
	return NULL;
}

int audit_new(const audit_options *o, audit_t **out)
{
	struct audit *a;
	pthread_condattr_t ca;

	if (!o->store || o->queue_max == 0)
		return ERR_INVALID;
	a = calloc(1, sizeof *a);
	if (!a)
		return ERR_NOMEM;
	a->store = o->store;
	a->queue_max = o->queue_max;
	a->block_ms = o->block_ms;
	a->patient_of = o->patient_of;
	a->base_url = strdup(o->base_url ? o->base_url : "");
	a->issuer = strdup(o->issuer ? o->issuer : "");
	/* waits measure intervals: immune to wall-clock steps */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->nonempty, NULL);
	pthread_cond_init(&a->pace, &ca);
	pthread_cond_init(&a->space, &ca);
	pthread_cond_init(&a->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (!a->base_url || !a->issuer) {
		audit_free(a);
		return ERR_NOMEM;
	}
	if (pthread_create(&a->thread, NULL, audit_main_loop, a) != 0) {
		audit_free(a);
		return ERR_INTERNAL;
	}
	a->started = 1;
	*out = a;
	return 0;
}

void audit_free(audit_t *a)
{
	if (!a)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->lock);
		a->closing = 1;
		pthread_cond_broadcast(&a->nonempty);
		pthread_cond_broadcast(&a->pace);
		pthread_cond_broadcast(&a->space);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->thread, NULL); /* it drains the queue first */
		log_info("msg=\"audit trail closed\" written=%llu dropped=%llu waited=%llu",
			 (unsigned long long)a->written, (unsigned long long)a->dropped, (unsigned long long)a->waited);
	}
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->nonempty);
	pthread_cond_destroy(&a->pace);
	pthread_cond_destroy(&a->space);
	pthread_cond_destroy(&a->done_cv);
	free(a->base_url);
	free(a->issuer);
	free(a);
}

int audit_flush(audit_t *a, unsigned timeout_ms)
{
	struct timespec dl;
	uint64_t target;
	int rc = 0;

	if (!a)
		return 0;
	audit_deadline(&dl, timeout_ms);
	pthread_mutex_lock(&a->lock);
	target = a->submitted;
	if (a->done < target) {
		a->hurry = 1; /* someone is waiting: no commit interval */
		pthread_cond_signal(&a->pace);
	}
	while (a->done < target)
		if (pthread_cond_timedwait(&a->done_cv, &a->lock, &dl) == ETIMEDOUT) {
			rc = a->done < target ? ERR_BUSY : 0;
			break;
		}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void audit_stats_get(audit_t *a, audit_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	out->submitted = a->submitted;
	out->written = a->written;
	out->dropped = a->dropped;
	out->waited = a->waited;
	pthread_mutex_unlock(&a->lock);
}
