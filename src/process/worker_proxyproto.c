/*
 * worker_proxyproto.c: the PROXY header a load balancer sends first, on
 * a server with proxy_protocol = on, read before the service sees the
 * connection; the service then gets the client address the header
 * carries, as if it had accepted the connection from there, and every
 * byte after the header.
 *
 * Exactly the header is read: what has arrived is peeked at, and only
 * bytes the parser says are the header's are taken from the socket (all
 * of a prefix that needs more are: proxyproto.h's 0). The header must
 * come whole within header_timeout (http) or PP_TIMEOUT_MAX seconds,
 * idle_timeout if that is shorter (other protocols): a load balancer
 * sends it with the connection, so anything slower is not one. A
 * header that is malformed, missing (the first bytes are not a PROXY
 * signature), late or cut short by EOF closes the connection, logged
 * with the real peer and counted (proxy_header_errors).
 *
 * Pending connections count as the server's (service_conn_opened), so a
 * drain waits for them: the client sent its request with the header, the
 * listener it came in on is closed, and no other worker can answer it,
 * so it is served, and header_timeout bounds the wait (shutdown_timeout
 * too). A worker that stops closes them. They are few and brief: each
 * has its own libevent event.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/addr.h"
#include "core/clock.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/proxyproto.h"
#include "core/stats.h"
#include "event/service.h"
#include "process/worker_int.h"

#define PP_TIMEOUT_MAX	10	/* seconds, for protocols without a header
				 * timeout of their own */

/* A connection whose PROXY header is still coming. */
struct pp_conn {
	TAILQ_ENTRY(pp_conn)	 entry;
	struct wserver		*sv;
	int			 fd;
	struct event		*ev;
	int64_t			 deadline;	/* ms, clock_now_ms() */
	struct sockaddr_storage	 peer;		/* the socket's */
	socklen_t		 peerlen;
	size_t			 have;		/* header bytes taken */
	char			 buf[PROXYPROTO_MAX];
};
TAILQ_HEAD(pp_conns, pp_conn);

static struct pp_conns	 pp_pending = TAILQ_HEAD_INITIALIZER(pp_pending);

static void	pp_read_cb(evutil_socket_t, short, void *);

/* How long a server waits for the header, in seconds. */
static int
pp_timeout(const struct server_conf *sc)
{
	if (sc->protocol == PROTO_HTTP)
		return (sc->header_timeout);
	return (sc->idle_timeout < PP_TIMEOUT_MAX ? sc->idle_timeout :
	    PP_TIMEOUT_MAX);
}

/* The peer as text for the log. */
static void
pp_peer_text(const struct sockaddr_storage *ss, socklen_t len, char *buf,
    size_t buflen)
{
	struct addr	 a;

	memset(&a, 0, sizeof(a));
	memcpy(&a.ss, ss, len < sizeof(a.ss) ? len : sizeof(a.ss));
	a.len = len;
	addr_format(&a, buf, buflen);
}

/* Forget a pending connection; the caller has passed on or closed fd. */
static void
pp_free(struct pp_conn *c)
{
	struct wserver	*sv = c->sv;

	TAILQ_REMOVE(&pp_pending, c, entry);
	if (c->ev != NULL)
		event_free(c->ev);
	free(c);
	/* Last: on a drain this may end the loop. */
	service_conn_closed(sv);
}

/* No usable header: close, say why (quiet: at debug level), count it. */
static void
pp_fail(struct pp_conn *c, const char *why, int quiet)
{
	char	 peer[ADDR_STRLEN];

	pp_peer_text(&c->peer, c->peerlen, peer, sizeof(peer));
	if (quiet)
		log_debug("server %s: connection from %s closed: PROXY "
		    "header: %s", c->sv->conf->name, peer, why);
	else
		log_info("server %s: connection from %s closed: PROXY "
		    "header: %s", c->sv->conf->name, peer, why);
	STATS_ADD(c->sv->st, proxy_header_errors, 1);
	close(c->fd);
	c->fd = -1;
	pp_free(c);
}

/* The header is read: the service takes the connection from its client. */
static void
pp_done(struct pp_conn *c, const struct proxyproto_result *r)
{
	const struct sockaddr	*peer = (const struct sockaddr *)&c->peer;
	socklen_t		 peerlen = c->peerlen;
	char			 from[ADDR_STRLEN], to[ADDR_STRLEN];

	if (!r->local) {
		peer = (const struct sockaddr *)&r->src;
		peerlen = r->srclen;
	}
	if (log_wants(LOG_LEVEL_DEBUG)) {
		pp_peer_text(&c->peer, c->peerlen, from, sizeof(from));
		pp_peer_text((const struct sockaddr_storage *)peer, peerlen,
		    to, sizeof(to));
		log_debug("server %s: PROXY v%d header from %s: client %s%s",
		    c->sv->conf->name, r->version, from, to,
		    r->local ? " (the connection's own)" : "");
	}
	/* Opened by the service before the pending one closes, so that a
	 * drain never sees the server empty in between. */
	c->sv->svc->accept(c->sv, c->fd, peer, peerlen);
	c->fd = -1;
	pp_free(c);
}

/*
 * Read what has come of the header: 1 the connection is passed on or
 * closed, 0 more is to come.
 */
static int
pp_read(struct pp_conn *c)
{
	struct proxyproto_result	 r;
	ssize_t				 n, got;
	int				 len;

	n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n == -1) {
		pp_fail(c, strerror(errno), 0);
		return (1);
	}
	if (n == 0) {
		/* A connect-and-close (a health check) is no news. */
		pp_fail(c, "closed before the header", c->have == 0);
		return (1);
	}
	len = proxyproto_parse(c->buf, c->have + (size_t)n, &r);
	if (len == -1) {
		pp_fail(c, r.error, 0);
		return (1);
	}
	/* All of a prefix that needs more is the header's: take it, else
	 * the level-triggered event would report the same bytes forever. */
	if (len > 0)
		n = (ssize_t)((size_t)len - c->have);
	got = recv(c->fd, c->buf + c->have, (size_t)n, 0);
	if (got != n) {
		pp_fail(c, got == -1 ? strerror(errno) : "short read", 0);
		return (1);
	}
	c->have += (size_t)n;
	if (len == 0)
		return (0);
	if (!r.local && r.socktype != SOCK_STREAM) {
		pp_fail(c, "a datagram flow's header on a TCP server", 0);
		return (1);
	}
	pp_done(c, &r);
	return (1);
}

/* Wait for more of the header, until the deadline. */
static void
pp_wait(struct pp_conn *c)
{
	struct timeval	 tv;
	int64_t		 left = c->deadline - clock_now_ms();

	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	if (event_add(c->ev, &tv) == -1)
		pp_fail(c, "cannot watch the connection", 0);
}

static void
pp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pp_conn	*c = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		pp_fail(c, "timed out", 0);
		return;
	}
	if (pp_read(c) == 0)
		pp_wait(c);
}

/* A new connection on a server with proxy_protocol = on. */
void
worker_proxyproto_accept(struct wserver *sv, int fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct pp_conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("server %s: out of memory: connection refused",
		    sv->conf->name);
		close(fd);
		return;
	}
	c->sv = sv;
	c->fd = fd;
	if (salen > sizeof(c->peer))
		salen = sizeof(c->peer);
	memcpy(&c->peer, sa, salen);
	c->peerlen = salen;
	c->deadline = clock_now_ms() + (int64_t)pp_timeout(sv->conf) * 1000;
	TAILQ_INSERT_TAIL(&pp_pending, c, entry);
	service_conn_opened(sv);
	if ((c->ev = event_new(sv->base, fd, EV_READ, pp_read_cb, c)) ==
	    NULL) {
		pp_fail(c, "out of memory", 0);
		return;
	}
	/* With defer_accept the header is there already. */
	if (!sv->conf->defer_accept || pp_read(c) == 0)
		pp_wait(c);
}

/* The worker stops: close what is still waiting for its header. */
void
worker_proxyproto_shutdown(void)
{
	struct pp_conn	*c;

	while ((c = TAILQ_FIRST(&pp_pending)) != NULL) {
		close(c->fd);
		c->fd = -1;
		pp_free(c);
	}
}
