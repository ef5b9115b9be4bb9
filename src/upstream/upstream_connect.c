/*
 * upstream_connect.c: making a connection to a server of an upstream.
 *
 * Each server is tried at most once per round, in the order the balance
 * gives. When a round ends with none connected and retry_wait has time
 * left, the next round starts after a short pause that grows (20 ms to
 * 0.5 s): an application that restarts refuses connections for a moment,
 * and the requests that came meanwhile wait for it rather than fail.
 * When the time is up, the answer is 503 if every server is down, 504 if
 * the last try timed out, else 502.
 *
 * Outgoing sockets carry neither SO_REUSEADDR nor SO_REUSEPORT unless
 * their source port is fixed (source = "IP:PORT" or "listen"): then both
 * are set, so the socket may share the port of a listener (ours, which
 * has them too); otherwise they would only make a bind fail later with
 * a 4-tuple already in use.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/proxyproto.h"
#include "upstream/upstream_int.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24
#endif

static int	upstream_connect_round(struct upstream_connect *);
static void	upstream_connect_resume(struct upstream_connect *);
static int	upstream_connect_connected(struct upstream_connect *, int);
static void	upstream_connect_release(struct upstream_connect *);

static void
upstream_connect_event_clear(struct upstream_connect *uc)
{
	if (uc->ev_set) {
		event_del(&uc->ev);
		uc->ev_set = 0;
	}
}

/* The answer when no server could be had. */
static enum upstream_result
upstream_connect_verdict(const struct upstream_connect *uc)
{
	if (upstream_all_down(uc->u, clock_now_ms()))
		return (UPSTREAM_E503);
	return (uc->timed_out ? UPSTREAM_E504 : UPSTREAM_E502);
}

static void
upstream_connect_deliver(struct upstream_connect *uc,
    enum upstream_result r)
{
	upstream_connect_event_clear(uc);
	if (r == UPSTREAM_OK) {
		uc->active = 1;
		uc->peer->active++;
	}
	uc->cb(uc, r);
}

static int
upstream_setopt(int fd, int level, int name)
{
	int	 one = 1;

	return (setsockopt(fd, level, name, &one, sizeof(one)));
}

/* Bind fd as the source setting says; -1 with uc->cause. */
static int
upstream_connect_bind(struct upstream_connect *uc, int fd)
{
	const struct upstream_conf	*c = uc->u->conf;
	const struct sockaddr		*sa;
	socklen_t			 len;

	switch (c->source) {
	case SOURCE_NONE:
		return (0);
	case SOURCE_IP:
		(void)upstream_setopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT);
		sa = (const struct sockaddr *)&c->source_addr.ss;
		len = c->source_addr.len;
		break;
	case SOURCE_IP_PORT:
		sa = (const struct sockaddr *)&c->source_addr.ss;
		len = c->source_addr.len;
		goto reuse;
	case SOURCE_LISTEN:
	default:
		sa = (const struct sockaddr *)&uc->local;
		len = uc->locallen;
		if (len == 0 || sa->sa_family !=
		    uc->peer->conf->addr.ss.ss_family) {
			snprintf(uc->cause, sizeof(uc->cause), "source = "
			    "listen: the client's listener is not of the "
			    "server's address family");
			return (-1);
		}
	reuse:
		if (upstream_setopt(fd, SOL_SOCKET, SO_REUSEADDR) == -1 ||
		    upstream_setopt(fd, SOL_SOCKET, SO_REUSEPORT) == -1) {
			snprintf(uc->cause, sizeof(uc->cause), "source: "
			    "setsockopt: %s", strerror(errno));
			return (-1);
		}
		break;
	}
	if (bind(fd, sa, len) == -1) {
		snprintf(uc->cause, sizeof(uc->cause), "bind to the source "
		    "address: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* The PROXY header, first on a new connection when one is configured,
 * with the client's address (the one a PROXY header gave us, if any). */
static int
upstream_connect_proxy_header(struct upstream_connect *uc)
{
	char		 buf[PROXYPROTO_MAX];
	int		 n, version = uc->u->conf->proxy_protocol;
	ssize_t		 sent;

	if (version == 0)
		return (0);
	if (uc->dgram)
		version |= PROXYPROTO_DGRAM;
	n = proxyproto_build(version, (const struct sockaddr *)&uc->client,
	    (const struct sockaddr *)&uc->local, buf, sizeof(buf));
	if (n == -1) {
		snprintf(uc->cause, sizeof(uc->cause), "no PROXY header of "
		    "version %d for this kind of socket", version & 0xff);
		return (-1);
	}
	/* A new connection's send buffer is empty: it takes all of it. */
	sent = send(uc->fd, buf, (size_t)n, MSG_NOSIGNAL);
	if (sent == n)
		return (0);
	snprintf(uc->cause, sizeof(uc->cause), "sending the PROXY header: %s",
	    sent == -1 ? strerror(errno) : "short write");
	return (-1);
}

/* A round from the loop: its end goes to the callback. */
static void
upstream_connect_resume(struct upstream_connect *uc)
{
	switch (upstream_connect_round(uc)) {
	case 1:
		upstream_connect_deliver(uc, UPSTREAM_OK);
		break;
	case -1:
		snprintf(uc->cause, sizeof(uc->cause), "cannot arm a timer");
		uc->cb(uc, UPSTREAM_E502);
		break;
	}
}

/* This try failed (uc->cause says why); the next server, or a verdict. */
static void
upstream_connect_failed(struct upstream_connect *uc, int count)
{
	upstream_connect_event_clear(uc);
	if (uc->fd != -1)
		close(uc->fd);
	uc->fd = -1;
	log_debug("upstream %s: %s: %s", uc->u->conf->name,
	    upstream_peer_name(uc->peer), uc->cause);
	if (count)
		upstream_peer_failed(uc->peer);
	upstream_connect_resume(uc);
}

static void
upstream_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_connect	*uc = arg;
	socklen_t		 len = sizeof(int);
	int			 err = 0;

	uc->ev_set = 0;
	if (what & EV_TIMEOUT) {
		uc->timed_out = 1;
		snprintf(uc->cause, sizeof(uc->cause), "connect timed out "
		    "after %d s", uc->u->conf->connect_timeout);
		upstream_connect_failed(uc, 1);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		uc->timed_out = 0;
		snprintf(uc->cause, sizeof(uc->cause), "connect: %s",
		    strerror(err));
		upstream_connect_failed(uc, 1);
		return;
	}
	if (upstream_connect_proxy_header(uc) == -1) {
		upstream_connect_failed(uc, 1);
		return;
	}
	upstream_connect_deliver(uc, UPSTREAM_OK);
}

/* Try peer p: 1 connected, 0 waiting (event set), -1 failed at once
 * (count: 1 when it is the server's failure, 0 when ours). */
static int
upstream_connect_try(struct upstream_connect *uc, int *count)
{
	const struct addr	*a = &uc->peer->conf->addr;
	struct timeval		 tv = { uc->u->conf->connect_timeout, 0 };
	int			 fd;

	*count = 0;
	uc->reused = 0;
	if (!uc->dgram && !uc->no_pool && !uc->fresh_only &&
	    (fd = upstream_pool_take(uc->u, uc->peer, uc->pool_recent_ms)) !=
	    -1) {
		uc->fd = fd;
		uc->reused = 1;
		return (1);
	}
	uc->fresh_only = 0;
	fd = socket(a->ss.ss_family, (uc->dgram ? SOCK_DGRAM : SOCK_STREAM) |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(uc->cause, sizeof(uc->cause), "socket: %s",
		    strerror(errno));
		return (-1);
	}
	uc->fd = fd;
	if (a->ss.ss_family != AF_UNIX && upstream_connect_bind(uc, fd) == -1)
		return (-1);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return (upstream_connect_proxy_header(uc) == 0 ? 1 : -1);
	if (errno == EINPROGRESS) {
		event_assign(&uc->ev, uc->u->base, fd, EV_WRITE,
		    upstream_connect_cb, uc);
		if (event_add(&uc->ev, &tv) == 0) {
			uc->ev_set = 1;
			return (0);
		}
		snprintf(uc->cause, sizeof(uc->cause), "event_add failed");
		return (-1);
	}
	if ((errno == EADDRNOTAVAIL || errno == EADDRINUSE) &&
	    uc->u->conf->source != SOURCE_NONE)
		snprintf(uc->cause, sizeof(uc->cause), "connect: %s (the "
		    "source address and port are in use for this server)",
		    strerror(errno));
	else if (errno == EADDRNOTAVAIL)
		snprintf(uc->cause, sizeof(uc->cause), "connect: %s (no "
		    "local port free)", strerror(errno));
	else {
		*count = 1;
		snprintf(uc->cause, sizeof(uc->cause), "connect: %s",
		    strerror(errno));
	}
	return (-1);
}

static void
upstream_connect_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_connect	*uc = arg;

	(void)fd;
	(void)what;
	uc->ev_set = 0;
	uc->tried = 0;		/* a new round: every server again */
	upstream_connect_resume(uc);
}

static void
upstream_connect_verdict_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_connect	*uc = arg;

	(void)fd;
	(void)what;
	uc->ev_set = 0;
	uc->cb(uc, upstream_connect_verdict(uc));
}

/* Out of servers this round: a pause before the next, or the verdict
 * (from the loop too: a callback never comes from inside a call). */
static int
upstream_connect_wait(struct upstream_connect *uc)
{
	int64_t		 left = uc->wait_until - clock_now_ms();
	struct timeval	 tv = { 0, 0 };
	int		 ms;

	if (uc->may_wait && left > 0) {
		ms = uc->backoff_ms < left ? uc->backoff_ms : (int)left;
		uc->backoff_ms = uc->backoff_ms * 2 > UPSTREAM_BACKOFF_MAX_MS ?
		    UPSTREAM_BACKOFF_MAX_MS : uc->backoff_ms * 2;
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_assign(&uc->ev, uc->u->base,
		    upstream_connect_backoff_cb, uc);
	} else
		evtimer_assign(&uc->ev, uc->u->base,
		    upstream_connect_verdict_cb, uc);
	if (evtimer_add(&uc->ev, &tv) == -1)
		return (-1);
	uc->ev_set = 1;
	return (0);
}

/* Try servers until one connects (1), or one is connecting or a timer
 * is set (0). */
static int
upstream_connect_round(struct upstream_connect *uc)
{
	struct upstream_peer	*p;
	int			 rc, count;

	while ((p = uc->again != NULL ? uc->again :
	    upstream_pick(uc->u, uc)) != NULL) {
		uc->again = NULL;
		uc->peer = p;
		uc->tried |= UINT64_C(1) << p->index;
		rc = upstream_connect_try(uc, &count);
		if (rc >= 0)
			return (rc);
		uc->timed_out = 0;
		if (uc->fd != -1)
			close(uc->fd);
		uc->fd = -1;
		log_debug("upstream %s: %s: %s", uc->u->conf->name,
		    upstream_peer_name(p), uc->cause);
		if (count)
			upstream_peer_failed(p);
	}
	if (upstream_connect_wait(uc) == -1) {
		/* No timer: nothing will call back, so fail now (rare). */
		log_warnx("upstream %s: cannot arm a timer", uc->u->conf->name);
		return (-1);
	}
	return (0);
}

int
upstream_connect_start(struct upstream_connect *uc, struct upstream *u,
    const struct sockaddr *client, socklen_t clientlen,
    const struct sockaddr *local, socklen_t locallen, upstream_cb cb,
    void *arg)
{
	int	 dgram = uc->dgram, no_pool = uc->no_pool;
	int	 resend_ok = uc->resend_ok, recent = uc->pool_recent_ms;

	memset(uc, 0, sizeof(*uc));
	uc->dgram = dgram;
	uc->no_pool = no_pool;
	uc->resend_ok = resend_ok;
	uc->pool_recent_ms = recent;
	uc->u = u;
	uc->fd = -1;
	uc->cb = cb;
	uc->arg = arg;
	if (client != NULL && clientlen <= sizeof(uc->client)) {
		memcpy(&uc->client, client, clientlen);
		uc->clientlen = clientlen;
	}
	if (local != NULL && locallen <= sizeof(uc->local)) {
		memcpy(&uc->local, local, locallen);
		uc->locallen = locallen;
	}
	uc->may_wait = 1;
	uc->wait_until = clock_now_ms() + (int64_t)u->conf->retry_wait * 1000;
	uc->backoff_ms = UPSTREAM_BACKOFF_MIN_MS;
	return (upstream_connect_connected(uc, upstream_connect_round(uc)));
}

/*
 * After a failure of the connection uc->fd (the caller counted it with
 * upstream_peer_failed if it was the server's). A kept connection that
 * died is the race of keep-alive, not the server's fault: the same
 * server again, on a new connection. Otherwise another server not tried
 * yet, with no waiting: a request that reached a server once is not sent
 * to it twice. The one exception is resend_ok (an idempotent request
 * that got no response byte, the server having gone away): when no
 * other server is left, the servers get it once more, after a pause and
 * within retry_wait, which is what makes a restart of the only server
 * cost nothing.
 */
int
upstream_connect_retry(struct upstream_connect *uc)
{
	upstream_connect_release(uc);
	uc->timed_out = 0;
	if (uc->reused) {
		uc->again = uc->peer;
		uc->fresh_only = 1;
		return (upstream_connect_connected(uc,
		    upstream_connect_round(uc)));
	}
	uc->may_wait = 0;
	if (upstream_pick_left(uc->u, uc))
		return (upstream_connect_connected(uc,
		    upstream_connect_round(uc)));
	if (!uc->resend_ok || uc->resent ||
	    clock_now_ms() >= uc->wait_until)
		return (-1);
	uc->resent = 1;
	uc->may_wait = 1;
	return (upstream_connect_wait(uc) == 0 ? 0 : -1);
}

/* A round's result to the caller: 1 counted as active, or 0, or -1. */
static int
upstream_connect_connected(struct upstream_connect *uc, int rc)
{
	if (rc == 1) {
		uc->active = 1;
		uc->peer->active++;
	}
	return (rc);
}

/* The connection's end: counted no more, its descriptor closed. */
static void
upstream_connect_release(struct upstream_connect *uc)
{
	if (uc->u == NULL)
		return;		/* never started */
	upstream_connect_event_clear(uc);
	if (uc->active) {
		uc->active = 0;
		uc->peer->active--;
	}
	if (uc->fd != -1)
		close(uc->fd);
	uc->fd = -1;
}

void
upstream_done(struct upstream_connect *uc, int keep)
{
	if (keep && uc->active && uc->fd != -1 &&
	    upstream_pool_put(uc->u, uc->peer, uc->fd) == 0)
		uc->fd = -1;
	upstream_connect_release(uc);
}
