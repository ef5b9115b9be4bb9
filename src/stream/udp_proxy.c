/*
 * udp_proxy.c: the UDP proxy service: each client's datagrams go to an
 * upstream server on the client's own session socket (udp_session.c),
 * and what comes back on it goes to the client from the listening
 * socket, from the address the client wrote to (IP_PKTINFO, udp.h).
 *
 * Both ways move in batches: client datagrams are read with recvmmsg
 * and each run of them that belongs to one session goes out in one
 * sendmmsg on its connected socket; replies are read with recvmmsg and
 * relayed with one sendmmsg. Nothing waits: a datagram a socket has no
 * room for (EAGAIN, ENOBUFS) is dropped and counted (dropped_full), as
 * the network would drop it. The listening socket is level-triggered
 * and read at most UDP_PROXY_TURN batches a turn; the session sockets
 * are in the server's poller (edge-triggered), a session with more to
 * read than a turn is posted to run again after the others.
 *
 * On reload the old worker stops reading the listening sockets (they
 * go on to its successor, which reads them from then on: no datagram
 * is lost, keeper.c) and its sessions relay the replies still due
 * before they close (udp_session_drain()).
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "event/service.h"
#include "stream/udp_proxy.h"

static int
udp_proxy_init(struct wserver *sv, char *err, size_t errlen)
{
	struct udp_proxy	*px;

	if ((px = calloc(1, sizeof(*px))) == NULL ||
	    (px->bufs = malloc((size_t)UDP_PROXY_BATCH *
	    UDP_PROXY_BUF_SIZE)) == NULL) {
		free(px);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	sv->svc_data = px;
	px->sv = sv;
	px->idle_ms = (int64_t)sv->conf->idle_timeout * 1000;
	/* max_connections counts sessions: its open sockets. */
	px->max_sessions = (size_t)sv->conf->max_connections;
	if ((px->u = upstream_get(sv->conf->upstream)) == NULL) {
		snprintf(err, errlen, "no upstream state");
		return (-1);
	}
	if ((px->poller = poller_new(sv->base, udp_proxy_ready, px)) == NULL) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return (-1);
	}
	return (udp_session_table_init(px, err, errlen));
}

/*
 * The listening socket fd, as this server knows it: a duplicate is
 * made the first time, which the replies leave from. The worker's
 * descriptors of its listeners do not change until it drains (and
 * then none is read any more), so the number is the key.
 */
static struct udp_proxy_sock *
udp_proxy_sock(struct udp_proxy *px, int fd)
{
	struct udp_proxy_sock	*ls, **p;
	size_t			 i;

	for (i = 0; i < px->nsocks; i++)
		if (px->socks[i]->fd == fd)
			return (px->socks[i]);
	/* Each its own allocation: sessions point at it. */
	p = realloc(px->socks, (px->nsocks + 1) * sizeof(*p));
	if (p == NULL || (ls = calloc(1, sizeof(*ls))) == NULL) {
		if (p != NULL)
			px->socks = p;
		return (NULL);
	}
	px->socks = p;
	ls->fd = fd;
	ls->namelen = sizeof(ls->name);
	if ((ls->own = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ls->name, &ls->namelen) == -1) {
		log_warn("server %s: a listening socket", px->sv->conf->name);
		if (ls->own != -1)
			close(ls->own);
		free(ls);
		return (NULL);
	}
	px->socks[px->nsocks++] = ls;
	return (ls);
}

/*
 * Reset the receive headers, named: with the sender's address and the
 * control data (client side), or not (a session's connected socket).
 * recvmmsg changes only the headers of the datagrams it returned, so
 * only those are set again while the kind stays the same: a wake-up for
 * one datagram costs one header, not a batch's.
 */
static void
udp_proxy_rx_prepare(struct udp_proxy *px, int named)
{
	int			 i, n = UDP_PROXY_BATCH;

	if (px->rx_kind == named + 1)
		n = px->rx_used;
	px->rx_kind = named + 1;
	px->rx_used = 0;
	for (i = 0; i < n; i++)
		udp_dgram_rx(&px->d[i].io, &px->rx[i], px->bufs +
		    (size_t)i * UDP_PROXY_BUF_SIZE, UDP_PROXY_BUF_SIZE, named);
}

/* recvmmsg into px->rx: the datagrams read, or -1 with errno. */
static int
udp_proxy_recv(struct udp_proxy *px, int fd)
{
	int	 n;

	n = recvmmsg(fd, px->rx, UDP_PROXY_BATCH, MSG_DONTWAIT, NULL);
	px->rx_used = n > 0 ? n : 0;
	return (n);
}

/* tx[i] carries datagram i's payload, to dst (NULL: connected). */
static void
udp_proxy_tx_set(struct udp_proxy *px, int i, int k, void *dst,
    socklen_t dstlen, const struct udp_local *from)
{
	udp_dgram_tx(&px->d[i].io, &px->tx[k], px->rx[i].msg_len, dst, dstlen,
	    from);
}

/*
 * Send datagrams [i, j) of the batch, all s's, on its upstream socket:
 * the index of the first not handled (j, or less when the session
 * ended on an error: the rest will find a new one).
 */
static int
udp_proxy_forward(struct udp_proxy *px, struct udp_session *s, int i, int j,
    int64_t now)
{
	int	 k, n;

	for (k = i; k < j; k++)
		udp_proxy_tx_set(px, k, k, NULL, 0, NULL);
	udp_session_touch(s, now);
	while (i < j) {
		n = sendmmsg(s->uc.fd, px->tx + i, (unsigned)(j - i),
		    MSG_DONTWAIT);
		if (n > 0) {
			s->requests += (uint64_t)n;
			i += n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS)) {
			STATS_ADD(px->sv->st, dropped_full, (uint64_t)(j - i));
			return (j);
		}
		/* A refusal (ECONNREFUSED from an ICMP error of an earlier
		 * datagram) fails this send: that one and this one lost. */
		udp_session_upstream_failed(s, errno,
		    s->requests > 0 ? 2 : 1);
		return (i + 1);
	}
	return (j);
}

/* The n client datagrams received through ls: each to its session. */
static void
udp_proxy_requests(struct udp_proxy *px, struct udp_proxy_sock *ls, int n)
{
	struct udp_session	*s;
	struct udp_local	 local;
	struct msghdr		*h;
	uint64_t		 bytes = 0;
	int64_t			 now = clock_now_ms();
	int			 i, j;

	for (i = 0; i < n; i++) {
		h = &px->rx[i].msg_hdr;
		bytes += px->rx[i].msg_len;
		(void)udp_local_get(h, &local);
		udp_session_key_make(&px->d[i], h->msg_namelen, &local);
	}
	STATS_ADD(px->sv->st, datagrams_in, (uint64_t)n);
	STATS_ADD(px->sv->st, bytes_in, bytes);
	for (i = 0; i < n;) {
		h = &px->rx[i].msg_hdr;
		if ((s = udp_session_find(px, &px->d[i])) == NULL &&
		    (s = udp_session_open(px, &px->d[i], h->msg_namelen,
		    ls)) == NULL) {
			i++;	/* counted */
			continue;
		}
		for (j = i + 1; j < n && px->d[j].hash == s->hash &&
		    memcmp(&px->d[j].key, &s->key, sizeof(s->key)) == 0; j++)
			;
		i = udp_proxy_forward(px, s, i, j, now);
	}
}

/* The listening socket fd is readable: up to UDP_PROXY_TURN batches. */
static void
udp_proxy_datagrams(struct wserver *sv, int fd)
{
	struct udp_proxy	*px = sv->svc_data;
	struct udp_proxy_sock	*ls;
	int			 turn, n;

	/* Without a socket to answer from, nothing can be served; read
	 * anyway (the socket is level-triggered: it would spin). */
	ls = udp_proxy_sock(px, fd);
	for (turn = 0; turn < UDP_PROXY_TURN; turn++) {
		udp_proxy_rx_prepare(px, 1);
		n = udp_proxy_recv(px, fd);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("server %s: recvmmsg", sv->conf->name);
			return;
		}
		if (ls != NULL)
			udp_proxy_requests(px, ls, n);
		else {
			STATS_ADD(sv->st, datagrams_in, (uint64_t)n);
			STATS_ADD(sv->st, dropped_session, (uint64_t)n);
		}
		if (n < UDP_PROXY_BATCH)
			return;
	}
}

/* Send the k replies in tx to s's client: dropped and counted when the
 * listening socket has no room. */
static void
udp_proxy_reply_send(struct udp_proxy *px, struct udp_session *s, int k)
{
	uint64_t	 bytes;
	int		 i = 0, n, m;

	while (i < k) {
		n = sendmmsg(s->ls->own, px->tx + i, (unsigned)(k - i),
		    MSG_DONTWAIT);
		if (n > 0) {
			for (bytes = 0, m = i; m < i + n; m++)
				bytes += px->tx[m].msg_len;
			STATS_ADD(px->sv->st, datagrams_out, (uint64_t)n);
			STATS_ADD(px->sv->st, bytes_out, bytes);
			i += n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS)) {
			STATS_ADD(px->sv->st, dropped_full, (uint64_t)(k - i));
			return;
		}
		/* This reply failed (the client's address unroutable, the
		 * local one gone): the others may still go. */
		udp_session_warn(px, "reply not sent", strerror(errno));
		i++;
	}
}

/*
 * The n replies read: relayed to the client, as many as are due with
 * udp_responses (more are not the client's: they are not relayed).
 * 1 when the session has all its replies and ended.
 */
static int
udp_proxy_replies(struct udp_proxy *px, struct udp_session *s, int n)
{
	uint64_t	 due;
	int		 i, k, limited;

	limited = udp_session_due(s, &due);
	k = limited && due < (uint64_t)n ? (int)due : n;
	if (k < n)
		log_debug("server %s: %d replies more than udp_responses "
		    "allow: not relayed", px->sv->conf->name, n - k);
	for (i = 0; i < k; i++)
		udp_proxy_tx_set(px, i, i, &s->client, s->clientlen,
		    &s->key.local);
	udp_proxy_reply_send(px, s, k);
	s->replies += (uint64_t)k;
	upstream_peer_ok(s->uc.peer);
	udp_session_touch(s, clock_now_ms());
	if (limited && udp_session_due(s, &due) && due == 0) {
		udp_session_close(s, "every reply due came");
		return (1);
	}
	return (0);
}

/* A session's upstream socket has replies (or an error): relay them. */
void
udp_proxy_ready(struct poller_item *it, void *arg)
{
	struct udp_proxy	*px = arg;
	struct udp_session	*s = POLLER_OWNER(it, struct udp_session, pi);
	int			 turn, n;

	if (it->error != 0) {
		log_warnx("server %s: session closed: epoll: %s",
		    px->sv->conf->name, strerror(it->error));
		udp_session_close(s, "epoll failed");
		return;
	}
	for (turn = 0; turn < UDP_PROXY_TURN; turn++) {
		udp_proxy_rx_prepare(px, 0);
		n = udp_proxy_recv(px, it->fd);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				it->rready = 0;	/* the next edge says more */
				return;
			}
			udp_session_upstream_failed(s, errno, 1);
			return;
		}
		if (udp_proxy_replies(px, s, n))
			return;
		if (n < UDP_PROXY_BATCH) {
			it->rready = 0;	/* read empty: a new one is an edge */
			return;
		}
	}
	poller_post(px->poller, it);	/* more, after the others */
}

/* Client datagrams stop (the worker no longer reads the listening
 * sockets); the sessions wait for the replies still due. */
static void
udp_proxy_drain(struct wserver *sv)
{
	struct udp_proxy	*px = sv->svc_data;

	if (px != NULL)
		udp_session_drain(px);
}

static void
udp_proxy_shutdown(struct wserver *sv)
{
	struct udp_proxy	*px = sv->svc_data;
	size_t			 i;

	if (px == NULL)
		return;
	udp_session_table_free(px);
	if (px->poller != NULL)
		poller_free(px->poller);
	for (i = 0; i < px->nsocks; i++) {
		close(px->socks[i]->own);
		free(px->socks[i]);
	}
	free(px->socks);
	free(px->bufs);
	free(px);
	sv->svc_data = NULL;
}

const struct service udp_proxy_service = {
	.name = "udp_proxy",
	.init = udp_proxy_init,
	.drain = udp_proxy_drain,
	.shutdown = udp_proxy_shutdown,
	.datagrams = udp_proxy_datagrams,
};
