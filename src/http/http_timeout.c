/*
 * http_timeout.c: the HTTP connections' timeouts.
 *
 * Not one libevent timer per connection: each kind of timeout has one
 * queue per server, kept in deadline order by appending (every entry of
 * a queue has the same duration; connections handed over from another
 * worker are the exception, see http_timeout_until), and one timer per
 * server fires at the earliest deadline. Re-arming on every request is
 * then a move between two lists, not two heap operations and a timer
 * struct. Every connection is in exactly one queue; HTTP_TQ_WAIT has no
 * deadline (a pending handler keeps time itself).
 */
#include "autoconf.h"

#include <stdint.h>
#include <time.h>

#include "http/http_core.h"

#define HTTP_CLOCK_SLACK_MS	10	/* CLOCK_MONOTONIC_COARSE ticks */
#define HTTP_NO_DEADLINE	INT64_MAX

/* Milliseconds of a clock that costs no system call to read. */
int64_t
http_timeout_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
http_timeout_arm(struct http_server *hs, int64_t at)
{
	int64_t		 ms = at - http_timeout_now();
	struct timeval	 tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(hs->ev_sweep, &tv);
	hs->sweep_at = at;
}

/* (Re)start the connection's timeout of kind q, from now. */
void
http_timeout(struct http_conn *c, enum http_tq q)
{
	struct http_server	*hs = c->hs;

	TAILQ_REMOVE(&hs->tq[c->tq], c, tq_entry);
	c->tq = (uint8_t)q;
	TAILQ_INSERT_TAIL(&hs->tq[q], c, tq_entry);
	if (hs->tq_ms[q] < 0) {
		c->deadline = HTTP_NO_DEADLINE;
		return;
	}
	c->deadline = http_timeout_now() + hs->tq_ms[q];
	if (hs->sweep_at == 0 || c->deadline < hs->sweep_at)
		http_timeout_arm(hs, c->deadline);
}

/*
 * Put the connection in queue q with a deadline of its own, in order: a
 * connection handed over keeps the idle deadline it had. They come in
 * about the order of their deadlines (each sender hands on its idle
 * queue from the front), so the walk from the back is short.
 */
void
http_timeout_until(struct http_conn *c, enum http_tq q, int64_t deadline)
{
	struct http_server	*hs = c->hs;
	struct http_conn	*at;

	TAILQ_REMOVE(&hs->tq[c->tq], c, tq_entry);
	c->tq = (uint8_t)q;
	c->deadline = deadline;
	at = TAILQ_LAST(&hs->tq[q], http_conns);
	while (at != NULL && at->deadline > deadline)
		at = TAILQ_PREV(at, http_conns, tq_entry);
	if (at == NULL)
		TAILQ_INSERT_HEAD(&hs->tq[q], c, tq_entry);
	else
		TAILQ_INSERT_AFTER(&hs->tq[q], at, c, tq_entry);
	if (hs->sweep_at == 0 || deadline < hs->sweep_at)
		http_timeout_arm(hs, deadline);
}

/* The earliest deadline has come: expire what is due, re-arm. */
void
http_timeout_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server	*hs = arg;
	struct http_conn	*c;
	int64_t			 now = http_timeout_now(), next = 0;
	int			 q;

	(void)fd;
	(void)what;
	hs->sweep_at = 0;
	for (q = 0; q < HTTP_NTQ; q++) {
		while ((c = TAILQ_FIRST(&hs->tq[q])) != NULL &&
		    c->deadline <= now + HTTP_CLOCK_SLACK_MS) {
			http_conn_timeout(c);
			/* Every timeout closes or moves on; never spin. */
			if (TAILQ_FIRST(&hs->tq[q]) == c &&
			    c->deadline <= now + HTTP_CLOCK_SLACK_MS)
				http_conn_close(c, "timeout");
		}
	}
	for (q = 0; q < HTTP_NTQ; q++) {
		c = TAILQ_FIRST(&hs->tq[q]);
		if (c != NULL && c->deadline != HTTP_NO_DEADLINE &&
		    (next == 0 || c->deadline < next))
			next = c->deadline;
	}
	if (next != 0 && (hs->sweep_at == 0 || next < hs->sweep_at))
		http_timeout_arm(hs, next);
}
