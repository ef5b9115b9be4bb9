/*
 * upstream_health.c: the active check (health_check = "/PATH"): every
 * health_interval seconds each worker sends each server
 * "GET PATH HTTP/1.1" on a new connection; a 2xx status line is up,
 * anything else (refused, a timeout, another status, a close before the
 * status line) is down. A server that expects a PROXY header gets one
 * that says "local" (the check's own connection, no client's). The first check runs at start, so a worker does
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
#include "core/proxyproto.h"
#include "upstream/upstream_int.h"

struct upstream_health {
	struct upstream		*u;
	struct upstream_peer	*p;
	struct event		 timer;		/* the next check */
	struct event		 io;		/* the check's connection */
	int			 fd;
	int			 sent;		/* the request is out */
	int			 io_set;	/* io is assigned */
	int			 status;	/* read, 0: not yet */
	size_t			 len;
	char			 buf[512];	/* "HTTP/1.1 200", then
						 * whatever follows */
};

static void	upstream_health_io_cb(evutil_socket_t, short, void *);

static void
upstream_health_end(struct upstream_health *h, int up, const char *why)
{
	struct timeval	 tv = { h->u->conf->health_interval, 0 };

	if (h->fd != -1) {
		if (h->io_set)
			event_del(&h->io);
		h->io_set = 0;
		close(h->fd);
		h->fd = -1;
	}
	upstream_peer_check(h->p, h->u, up, why);
	evtimer_add(&h->timer, &tv);
}

/* The request, after a PROXY header saying "a check of our own" when
 * the server expects one (it would close the connection otherwise). */
static int
upstream_health_request(struct upstream_health *h, char *buf, size_t len)
{
	struct sockaddr_storage	 none;
	int			 n = 0, m;

	if (h->u->conf->proxy_protocol != 0) {
		memset(&none, 0, sizeof(none));	/* AF_UNSPEC */
		n = proxyproto_build(h->u->conf->proxy_protocol,
		    (struct sockaddr *)&none, (struct sockaddr *)&none, buf,
		    len);
		if (n == -1)
			return (-1);
	}
	/* "unix:/path" is no Host; a unix server gets "localhost". */
	m = snprintf(buf + n, len - (size_t)n, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: drover-health-check\r\nConnection: close\r\n\r\n",
	    h->u->conf->health_check,
	    h->p->conf->addr.ss.ss_family == AF_UNIX ? "localhost" :
	    h->p->conf->text);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return (-1);
	return (n + m);
}

static void
upstream_health_send(struct upstream_health *h)
{
	char		 req[PROXYPROTO_MAX + 1024];
	int		 n, err = 0;
	socklen_t	 len = sizeof(err);

	if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		upstream_health_end(h, 0, strerror(err));
		return;
	}
	n = upstream_health_request(h, req, sizeof(req));
	if (n == -1 || send(h->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		upstream_health_end(h, 0, "cannot send the request");
		return;
	}
	h->sent = 1;
}

/* The status line's code, once enough of it is read; 0: not yet, -1:
 * not HTTP. */
static int
upstream_health_status(const struct upstream_health *h)
{
	int	 status;

	if (h->len < 12)
		return (0);
	if (strncmp(h->buf, "HTTP/1.", 7) != 0 || h->buf[8] != ' ' ||
	    sscanf(h->buf + 9, "%3d", &status) != 1 || status < 100)
		return (-1);
	return (status);
}

/* The verdict once the server closed (reading the rest first, so our
 * close sends no reset into its log). */
static void
upstream_health_verdict(struct upstream_health *h)
{
	char	 why[64];

	if (h->status <= 0) {
		upstream_health_end(h, 0, h->status == -1 ?
		    "not an HTTP response" : "closed before a status line");
		return;
	}
	snprintf(why, sizeof(why), "status %d", h->status);
	upstream_health_end(h, h->status >= 200 && h->status <= 299, why);
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
		if (h->status != 0)
			upstream_health_verdict(h);
		else
			upstream_health_end(h, 0, "timed out");
		return;
	}
	if (!h->sent) {
		upstream_health_send(h);
		if (h->fd != -1)
			upstream_health_wait_read(h);
		return;
	}
	if (h->status != 0)
		h->len = 0;	/* the rest is only read, not kept */
	n = recv(fd, h->buf + h->len, sizeof(h->buf) - 1 - h->len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1 && h->status == 0)
			upstream_health_end(h, 0, strerror(errno));
		else
			upstream_health_verdict(h);
		return;
	}
	h->len += (size_t)n;
	h->buf[h->len] = '\0';
	if (h->status == 0)
		h->status = upstream_health_status(h);
	if (h->status == 0 && h->len == sizeof(h->buf) - 1)
		h->status = -1;
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
	h->status = 0;
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
	h->io_set = 1;
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
		if (h->io_set)
			event_del(&h->io);
		if (h->fd != -1)
			close(h->fd);
		free(h);
		u->peers[i].health = NULL;
	}
}
