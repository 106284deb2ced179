/*
 * guard.c - the slow-client guard (see guard.h): a list of connections
 * with deadlines, and a thread that drops the ones past theirs.
 *
 * The request path only stores into a connection's atomics (its own
 * worker thread is the only writer); the list lock is taken when a
 * connection opens or closes and by the deadline thread, never per
 * request, so keep-alive traffic does not contend on it.
 */
#include "guard.h"

#include "core/err.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#define GUARD_TICK_MS 100

struct http_guard_conn {
	struct http_guard *g;
	MHD_socket fd;
	atomic_llong deadline_us;  /* monotonic; 0: none (the application has it) */
	int dropped;
	struct http_guard_conn *prev, *next;
};

struct http_guard {
	int64_t header_us;
	unsigned body_rate;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC: wakes the thread to stop */
	struct http_guard_conn *head;
	int stop;
	int started;
	pthread_t thread;
};

static int64_t guard_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int http_guard_new(unsigned header_timeout_s, unsigned body_min_rate, http_guard **out)
{
	http_guard *g = calloc(1, sizeof *g);
	pthread_condattr_t ca;

	*out = NULL;
	if (!g)
		return ERR_NOMEM;
	g->header_us = (int64_t)header_timeout_s * 1000000;
	g->body_rate = body_min_rate;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = g;
	return 0;
}

/* Drops every connection past its deadline. Under g->lock. */
static void guard_sweep(http_guard *g, int64_t now)
{
	for (struct http_guard_conn *c = g->head; c; c = c->next) {
		int64_t dl = atomic_load_explicit(&c->deadline_us, memory_order_relaxed);
		if (c->dropped || dl == 0 || now < dl)
			continue;
		/* shutdown, not close: the descriptor stays libmicrohttpd's, which
		 * now reads end-of-file and closes the connection itself */
		shutdown(c->fd, SHUT_RDWR);
		c->dropped = 1;
		/* debug: an idle keep-alive connection ends here too */
		log_debug("msg=\"connection past its request deadline closed\"");
	}
}

static void *guard_main(void *arg)
{
	http_guard *g = arg;
	struct timespec ts;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += GUARD_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g->cond, &g->lock, &ts);
		if (!g->stop)
			guard_sweep(g, guard_now_us());
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int http_guard_start(http_guard *g)
{
	if (pthread_create(&g->thread, NULL, guard_main, g) != 0)
		return ERR_IO;
	g->started = 1;
	return 0;
}

void http_guard_free(http_guard *g)
{
	struct http_guard_conn *c, *next;

	if (!g)
		return;
	if (g->started) {
		pthread_mutex_lock(&g->lock);
		g->stop = 1;
		pthread_cond_signal(&g->cond);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->thread, NULL);
	}
	/* normally empty: the daemon closed every connection */
	for (c = g->head; c; c = next) {
		next = c->next;
		free(c);
	}
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		       enum MHD_ConnectionNotificationCode toe)
{
	http_guard *g = cls;
	struct http_guard_conn *c;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context = NULL;
		if (!ci)
			return;
		c = calloc(1, sizeof *c);
		if (!c)
			return; /* unguarded; the idle timeout still applies */
		c->g = g;
		c->fd = ci->connect_fd;
		atomic_init(&c->deadline_us, guard_now_us() + g->header_us);
		pthread_mutex_lock(&g->lock);
		c->next = g->head;
		if (g->head)
			g->head->prev = c;
		g->head = c;
		pthread_mutex_unlock(&g->lock);
		*socket_context = c;
		return;
	}
	c = *socket_context;
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED || !c)
		return;
	pthread_mutex_lock(&g->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		g->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&g->lock);
	free(c);
	*socket_context = NULL;
}

static struct http_guard_conn *guard_conn(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void http_guard_headers(struct MHD_Connection *conn)
{
	struct http_guard_conn *c = guard_conn(conn);
	if (c)
		atomic_store_explicit(&c->deadline_us, c->g->body_rate ? guard_now_us() + c->g->header_us : 0,
				      memory_order_relaxed);
}

void http_guard_body(struct MHD_Connection *conn, size_t n)
{
	struct http_guard_conn *c = guard_conn(conn);
	int64_t dl;

	if (!c || !c->g->body_rate)
		return;
	dl = atomic_load_explicit(&c->deadline_us, memory_order_relaxed);
	if (dl)
		atomic_store_explicit(&c->deadline_us, dl + (int64_t)(n * 1000000.0 / c->g->body_rate),
				      memory_order_relaxed);
}

void http_guard_busy(struct MHD_Connection *conn)
{
	struct http_guard_conn *c = guard_conn(conn);
	if (c)
		atomic_store_explicit(&c->deadline_us, 0, memory_order_relaxed);
}

void http_guard_idle(struct MHD_Connection *conn)
{
	struct http_guard_conn *c = guard_conn(conn);
	if (c)
		atomic_store_explicit(&c->deadline_us, guard_now_us() + c->g->header_us, memory_order_relaxed);
}
