/*
 * echo.c: the TCP echo service, drover's plain TCP server.
 *
 * What is read is written back. Back-pressure: a connection reads into a
 * buffer of ECHO_BUF_SIZE and stops reading while it is full, until the
 * client has taken what is written back; a client that sends without
 * reading costs bounded memory (and TCP's flow control stops it). The
 * buffer is taken when bytes arrive and freed once it is empty, so an
 * idle connection costs only its struct. Half-close: after the client's
 * FIN, what is still queued is sent, then our side is shut down too.
 * idle_timeout closes a connection on which nothing moved.
 *
 * Connections are in the server's poller (poller.c), as HTTP's are.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "event/conn.h"
#include "event/poller.h"
#include "event/service.h"

#define ECHO_BUF_SIZE		(64 * 1024)
#define ECHO_ROUNDS_MAX		16	/* read+write rounds per turn */

struct echo_conn {
	TAILQ_ENTRY(echo_conn)	 entry;
	struct conn		 io;		/* the socket */
	struct echo_server	*es;
	struct event		 timer;		/* idle_timeout */
	char			*buf;		/* NULL while empty */
	size_t			 off;		/* next byte to write back */
	size_t			 len;		/* bytes in buf */
	int			 eof;		/* client sent FIN */
};
TAILQ_HEAD(echo_conns, echo_conn);

struct echo_server {
	struct wserver		*sv;
	struct echo_conns	 conns;
	struct poller		*poller;
	const struct timeval	*idle;		/* a common timeout: O(1) */
};

static void	echo_close(struct echo_conn *, const char *);
static void	echo_ready(struct poller_item *, void *);

static int
echo_init(struct wserver *sv, char *err, size_t errlen)
{
	struct echo_server	*es;
	struct timeval		 idle;

	if ((es = calloc(1, sizeof(*es))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	sv->svc_data = es;
	es->sv = sv;
	TAILQ_INIT(&es->conns);
	idle.tv_sec = sv->conf->idle_timeout;
	idle.tv_usec = 0;
	/* Every connection's timeout has this one duration: libevent then
	 * keeps them in a queue rather than its heap. */
	if ((es->idle = event_base_init_common_timeout(sv->base, &idle)) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	if ((es->poller = poller_new(sv->base, echo_ready, es)) == NULL) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* Close one connection: the one place a connection ends. */
static void
echo_close(struct echo_conn *c, const char *why)
{
	struct echo_server	*es = c->es;

	log_debug("server %s: echo connection closed: %s",
	    es->sv->conf->name, why);
	TAILQ_REMOVE(&es->conns, c, entry);
	evtimer_del(&c->timer);
	conn_close(&c->io, es->poller);
	free(c->buf);
	service_conn_closed(es->sv);
	free(c);
}

/* Client's FIN seen and everything sent: shut our side and close. */
static void
echo_finish(struct echo_conn *c)
{
	(void)conn_shutdown(&c->io);
	echo_close(c, "client closed");
}

/* Nothing moved for idle_timeout. */
static void
echo_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	echo_close(arg, "idle timeout");
}

/* Write back what is buffered: 1 progress (or try again), 0 none,
 * -1 error. */
static int
echo_write(struct echo_conn *c)
{
	ssize_t	 n;

	if (c->off == c->len || !c->io.pi.wready)
		return (0);
	n = conn_send(&c->io, c->buf + c->off, c->len - c->off, 0);
	if (n > 0) {
		STATS_ADD(c->es->sv->st, bytes_out, (uint64_t)n);
		c->off += (size_t)n;
		if (c->off == c->len)
			c->off = c->len = 0;	/* all of it is free again */
		return (1);
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return (0);	/* wready is cleared: wait for the edge */
	return (n == -1 && errno == EINTR ? 1 : -1);
}

/* Read into the free end of the buffer: 1 progress (or try again), 0
 * none, -1 error (-2: out of memory). */
static int
echo_read(struct echo_conn *c)
{
	ssize_t	 n;

	if (c->eof || !c->io.pi.rready || c->len == ECHO_BUF_SIZE)
		return (0);
	if (c->buf == NULL && (c->buf = malloc(ECHO_BUF_SIZE)) == NULL)
		return (-2);
	n = conn_recv(&c->io, c->buf + c->len, ECHO_BUF_SIZE - c->len);
	if (n > 0) {
		STATS_ADD(c->es->sv->st, bytes_in, (uint64_t)n);
		c->len += (size_t)n;
		return (1);
	}
	if (n == 0) {
		c->eof = 1;
		return (1);
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return (0);
	return (errno == EINTR ? 1 : -1);
}

/* An edge came or the connection was posted: move bytes both ways. */
static void
echo_ready(struct poller_item *it, void *arg)
{
	struct echo_server	*es = arg;
	struct echo_conn	*c = POLLER_OWNER(it, struct echo_conn, io.pi);
	int			 rounds, r, w, moved = 0;

	if (it->error != 0) {
		log_warnx("server %s: echo connection closed: epoll: %s",
		    es->sv->conf->name, strerror(it->error));
		echo_close(c, "epoll failed");
		return;
	}
	for (rounds = 0; rounds < ECHO_ROUNDS_MAX; rounds++) {
		if ((r = echo_read(c)) == -2) {
			log_warnx("server %s: echo connection closed: out of "
			    "memory", es->sv->conf->name);
			echo_close(c, "out of memory");
			return;
		}
		if (r == -1 || (w = echo_write(c)) == -1) {
			echo_close(c, "socket error");
			return;
		}
		if (r == 0 && w == 0)
			break;
		moved = 1;
	}
	if (c->len == 0 && c->buf != NULL) {	/* idle costs no buffer */
		free(c->buf);
		c->buf = NULL;
	}
	if (c->eof && c->off == c->len) {
		echo_finish(c);
		return;
	}
	if (moved)
		evtimer_add(&c->timer, es->idle);
	/* Input is watched all along (the edge runs us); output only once
	 * a send had to wait. */
	if (rounds == ECHO_ROUNDS_MAX)
		poller_post(es->poller, it);	/* more, after the others */
	else if (c->off < c->len)
		poller_want_write(es->poller, it);
}

/* A new connection: watch it for input, time it out if none comes. */
static void
echo_accept(struct wserver *sv, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct echo_server	*es = sv->svc_data;
	struct echo_conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("server %s: out of memory: connection refused",
		    sv->conf->name);
		close(fd);
		return;
	}
	c->es = es;
	conn_socket_init(&c->io, fd);
	evtimer_assign(&c->timer, sv->base, echo_timeout_cb, c);
	evtimer_add(&c->timer, es->idle);
	TAILQ_INSERT_TAIL(&es->conns, c, entry);
	service_conn_opened(sv);
	poller_want_read(es->poller, &c->io.pi);
	(void)sa;
	(void)salen;
}

/* Echo connections are kept until the client closes or they idle out. */
static void
echo_drain(struct wserver *sv)
{
	(void)sv;
}

static void
echo_shutdown(struct wserver *sv)
{
	struct echo_server	*es = sv->svc_data;
	struct echo_conn	*c;

	if (es == NULL)
		return;
	while ((c = TAILQ_FIRST(&es->conns)) != NULL)
		echo_close(c, "worker stopping");
	poller_free(es->poller);
	free(es);
	sv->svc_data = NULL;
}

const struct service echo_service = {
	.name = "echo",
	.init = echo_init,
	.accept = echo_accept,
	.drain = echo_drain,
	.shutdown = echo_shutdown,
};
