/*
 * upstream_health.c: the active check (health_check = "/PATH"): every
 * health_interval seconds each worker sends each server
 * "GET PATH HTTP/1.1" on a new connection; a 2xx status line is up,
 * anything else (refused, a timeout, another status, a close before the
 * status line) is down. The first check runs at start, so a worker does
 * not send requests to a server that was down when it started for long.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "upstream/upstream_int.h"

struct upstream_health {
	struct upstream		*u;
	struct upstream_peer	*p;
	struct event		 timer;		/* the next check */
	struct event		 io;		/* the check's connection */
	int			 fd;
	int			 sent;		/* the request is out */
	size_t			 len;
	char			 buf[32];	/* "HTTP/1.1 200" */
};

static void	upstream_health_io_cb(evutil_socket_t, short, void *);

static void
upstream_health_end(struct upstream_health *h, int up, const char *why)
{
	struct timeval	 tv = { h->u->conf->health_interval, 0 };

	if (h->fd != -1) {
		event_del(&h->io);
		close(h->fd);
		h->fd = -1;
	}
	upstream_peer_check(h->p, h->u, up, why);
	evtimer_add(&h->timer, &tv);
}

static void
upstream_health_send(struct upstream_health *h)
{
	char	 req[1024];
	int	 n, err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		upstream_health_end(h, 0, strerror(err));
		return;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: drover-health-check\r\nConnection: close\r\n\r\n",
	    h->u->conf->health_check, h->p->conf->text);
	if (n < 0 || (size_t)n >= sizeof(req) ||
	    send(h->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		upstream_health_end(h, 0, "cannot send the request");
		return;
	}
	h->sent = 1;
}

/* Enough of the status line read: 2xx or not. */
static void
upstream_health_status(struct upstream_health *h)
{
	char	 why[64];
	int	 status;

	if (h->len < 12 || strncmp(h->buf, "HTTP/1.", 7) != 0 ||
	    sscanf(h->buf + 9, "%3d", &status) != 1) {
		upstream_health_end(h, 0, "not an HTTP response");
		return;
	}
	snprintf(why, sizeof(why), "status %d", status);
	upstream_health_end(h, status >= 200 && status <= 299, why);
}

/* The request is out: the status line within what is left of the time
 * (another health_interval; the next check is armed only when this one ends). */
static void
upstream_health_wait_read(struct upstream_health *h)
{
	struct timeval	 tv = { h->u->conf->health_interval, 0 };

	event_del(&h->io);
	event_assign(&h->io, h->u->base, h->fd, EV_READ | EV_PERSIST,
	    upstream_health_io_cb, h);
	event_add(&h->io, &tv);
}

static void
upstream_health_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_health	*h = arg;
	ssize_t			 n;

	if (what & EV_TIMEOUT) {
		upstream_health_end(h, 0, "timed out");
		return;
	}
	if (!h->sent) {
		upstream_health_send(h);
		if (h->fd == -1)
			return;
		upstream_health_wait_read(h);
		return;
	}
	n = recv(fd, h->buf + h->len, sizeof(h->buf) - 1 - h->len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		upstream_health_end(h, 0, n == 0 ? "closed before a status "
		    "line" : strerror(errno));
		return;
	}
	h->len += (size_t)n;
	h->buf[h->len] = '\0';
	if (h->len >= 12 || h->len == sizeof(h->buf) - 1)
		upstream_health_status(h);
}

static void
upstream_health_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_health	*h = arg;
	const struct addr	*a = &h->p->conf->addr;
	struct timeval		 tv = { h->u->conf->health_interval, 0 };

	(void)fd;
	(void)what;
	h->sent = 0;
	h->len = 0;
	h->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (h->fd == -1) {
		log_warn("upstream %s: health check socket", h->u->conf->name);
		upstream_health_end(h, h->p->check_down == 0, "no socket");
		return;
	}
	if (connect(h->fd, (const struct sockaddr *)&a->ss, a->len) == -1 &&
	    errno != EINPROGRESS) {
		upstream_health_end(h, 0, strerror(errno));
		return;
	}
	event_assign(&h->io, h->u->base, h->fd, EV_WRITE,
	    upstream_health_io_cb, h);
	event_add(&h->io, &tv);
}

int
upstream_health_start(struct upstream *u)
{
	struct upstream_health	*h;
	struct timeval		 now = { 0, 0 };
	size_t			 i;

	if (u->conf->health_check == NULL)
		return (0);
	for (i = 0; i < u->npeers; i++) {
		if ((h = calloc(1, sizeof(*h))) == NULL)
			return (-1);
		h->u = u;
		h->p = &u->peers[i];
		h->fd = -1;
		u->peers[i].health = h;
		evtimer_assign(&h->timer, u->base, upstream_health_timer_cb, h);
		evtimer_add(&h->timer, &now);
	}
	return (0);
}

void
upstream_health_stop(struct upstream *u)
{
	struct upstream_health	*h;
	size_t			 i;

	for (i = 0; i < u->npeers; i++) {
		if ((h = u->peers[i].health) == NULL)
			continue;
		evtimer_del(&h->timer);
		if (h->fd != -1) {
			event_del(&h->io);
			close(h->fd);
		}
		free(h);
		u->peers[i].health = NULL;
	}
}
