/*
 * echo.c: the TCP echo service, drover's plain TCP server.
 *
 * What is read is written back. Back-pressure: when the output buffer grows
 * past ECHO_OUTPUT_MAX the connection stops reading until the output has
 * drained, so a client that sends without reading costs bounded memory.
 * Half-close: after the client's FIN, what is still queued is sent, then our
 * side is shut down too. idle_timeout closes a connection on which nothing
 * moved (no read while reading, no write progress while writing).
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "service.h"

#define ECHO_OUTPUT_MAX		(256 * 1024)

struct echo_conn {
	TAILQ_ENTRY(echo_conn)	 entry;
	struct bufferevent	*bev;
	struct wserver		*sv;
	int			 eof;		/* client sent FIN */
};
TAILQ_HEAD(echo_conns, echo_conn);

static void	echo_close(struct echo_conn *, const char *);

static int
echo_init(struct wserver *sv, char *err, size_t errlen)
{
	struct echo_conns	*list;

	if ((list = calloc(1, sizeof(*list))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	TAILQ_INIT(list);
	sv->svc_data = list;
	return (0);
}

/* Close one connection: the one place a connection ends. */
static void
echo_close(struct echo_conn *c, const char *why)
{
	struct echo_conns	*list = c->sv->svc_data;

	log_debug("server %s: echo connection closed: %s",
	    c->sv->conf->name, why);
	TAILQ_REMOVE(list, c, entry);
	bufferevent_free(c->bev);
	service_conn_closed(c->sv);
	free(c);
}

/* Client's FIN seen and everything sent: shut our side and close. */
static void
echo_finish(struct echo_conn *c)
{
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	echo_close(c, "client closed");
}

static void
echo_read_cb(struct bufferevent *bev, void *arg)
{
	struct echo_conn	*c = arg;
	struct evbuffer		*out = bufferevent_get_output(bev);

	evbuffer_add_buffer(out, bufferevent_get_input(bev));
	if (evbuffer_get_length(out) >= ECHO_OUTPUT_MAX)
		bufferevent_disable(bev, EV_READ);
	(void)c;
}

/* Called when the output buffer has been flushed completely. */
static void
echo_write_cb(struct bufferevent *bev, void *arg)
{
	struct echo_conn	*c = arg;

	if (c->eof) {
		echo_finish(c);
		return;
	}
	if (!(bufferevent_get_enabled(bev) & EV_READ))
		bufferevent_enable(bev, EV_READ);
}

static void
echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct echo_conn	*c = arg;

	if (what & BEV_EVENT_EOF) {
		c->eof = 1;
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			echo_finish(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		echo_close(c, "idle timeout");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		echo_close(c, "socket error");
		return;
	}
}

static void
echo_accept(struct wserver *sv, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct echo_conns	*list = sv->svc_data;
	struct echo_conn	*c;
	struct timeval		 tv;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("server %s: out of memory: connection refused",
		    sv->conf->name);
		close(fd);
		return;
	}
	c->sv = sv;
	c->bev = bufferevent_socket_new(sv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("server %s: cannot set up connection",
		    sv->conf->name);
		close(fd);
		free(c);
		return;
	}
	tv.tv_sec = sv->conf->idle_timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_setcb(c->bev, echo_read_cb, echo_write_cb, echo_event_cb,
	    c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(list, c, entry);
	service_conn_opened(sv);
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
	struct echo_conns	*list = sv->svc_data;
	struct echo_conn	*c;

	if (list == NULL)
		return;
	while ((c = TAILQ_FIRST(list)) != NULL)
		echo_close(c, "worker stopping");
	free(list);
	sv->svc_data = NULL;
}

const struct service echo_service = {
	.name = "echo",
	.init = echo_init,
	.accept = echo_accept,
	.drain = echo_drain,
	.shutdown = echo_shutdown,
};
