/*
 * tcp_proxy.c: the TCP proxy service (protocol = tcp_proxy): each client
 * connection is relayed to a server of the server's upstream.
 *
 * A client is accepted, then a connection to a server is made
 * (upstream.h: the balance, health and retry_wait); nothing is read from
 * the client meanwhile, so what it sends waits in the kernel, but it is
 * watched: one that closes or resets without having sent anything is
 * gone, and its connect stops. If no server can be had, the client is
 * closed and the cause logged. Then bytes move both ways (tcp_relay.c),
 * a FIN from either side is passed on to the other once what came before
 * it is sent, and the connection ends when both directions have ended,
 * or after idle_timeout with nothing moved either way.
 *
 * Failures end one direction, not the connection (HAProxy's and a direct
 * connection's behaviour): a side that cannot be written to any more
 * drops the direction towards it, and what the other side sends is read
 * and discarded while the direction from it goes on to its end, so an
 * answer sent before a server reset an unread upload still arrives
 * whole. A read error (a reset) ends the direction from that side after
 * what came before it is sent, and the other side gets a reset too
 * (SO_LINGER 0), so a cut transfer never looks complete; a write that
 * found a side reset (not after its FIN: EPIPE) says the same. A client
 * that may still be sending when the connection ends gets a lingering
 * close: our FIN, then reads discarded until its FIN or
 * TCP_PROXY_LINGER_SECONDS, so that our close does not reset what is
 * still queued to it.
 *
 * Both sockets are in the server's poller (poller.c), as echo's and
 * HTTP's connections are: each is added once, edge-triggered, and never
 * changed unless a send has to wait; libevent's events would cost an
 * epoll_ctl each time a direction turns from reading to waiting for
 * output, which a bulk transfer does all the time.
 *
 * On a reload connections are kept until they end (the worker exits at
 * the last one, or at shutdown_timeout); connects in progress go on.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
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
#include "stream/tcp_proxy.h"
#include "upstream/upstream.h"

#define TCP_PROXY_ROUNDS_MAX	16	/* read+write rounds per turn */
#define TCP_PROXY_LINGER_SECONDS 2	/* the lingering close's bound */

enum tcp_proxy_state {
	TCP_PROXY_CONNECTING = 0,	/* to a server of the upstream */
	TCP_PROXY_RELAYING,
	TCP_PROXY_LINGER,		/* the server closed, our FIN sent */
};

/* A socket of a proxied connection; its poller item leads back to it. */
struct tcp_proxy_side {
	struct conn		 io;
	struct tcp_proxy_conn	*pc;
};

struct tcp_proxy_conn {
	TAILQ_ENTRY(tcp_proxy_conn) entry;
	struct tcp_proxy_server	*ts;
	enum tcp_proxy_state	 state;
	struct tcp_proxy_side	 client;
	struct tcp_proxy_side	 server;	/* once connected */
	struct tcp_relay	 up;		/* client to server */
	struct tcp_relay	 down;		/* server to client */
	struct upstream_connect	 uc;
	struct event		 timer;		/* idle_timeout, linger */
};
TAILQ_HEAD(tcp_proxy_conns, tcp_proxy_conn);

struct tcp_proxy_server {
	struct wserver		*sv;
	struct upstream		*u;
	struct tcp_proxy_conns	 conns;
	struct poller		*poller;
	const struct timeval	*idle;		/* a common timeout: O(1) */
	const struct timeval	*linger;	/* another */
	struct tcp_relay_pipes	 pipes;
};

static void	tcp_proxy_ready(struct poller_item *, void *);

static int
tcp_proxy_init(struct wserver *sv, char *err, size_t errlen)
{
	struct tcp_proxy_server	*ts;
	struct timeval		 idle, linger;

	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	sv->svc_data = ts;
	ts->sv = sv;
	TAILQ_INIT(&ts->conns);
	/* HAProxy's maxpipes default: a quarter of the connections. */
	tcp_relay_pipes_init(&ts->pipes, sv->conf->max_connections / 4);
	if (sv->conf->upstream == NULL ||
	    (ts->u = upstream_get(sv->conf->upstream)) == NULL) {
		snprintf(err, errlen, "server %s: no upstream", sv->conf->name);
		return (-1);
	}
	idle.tv_sec = sv->conf->idle_timeout;
	idle.tv_usec = 0;
	linger.tv_sec = TCP_PROXY_LINGER_SECONDS;
	linger.tv_usec = 0;
	/* One duration for every connection: libevent keeps them in a
	 * queue rather than its heap. */
	if ((ts->idle = event_base_init_common_timeout(sv->base, &idle)) ==
	    NULL || (ts->linger = event_base_init_common_timeout(sv->base,
	    &linger)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	if ((ts->poller = poller_new(sv->base, tcp_proxy_ready, ts)) == NULL) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* The close of fd sends a reset, not a FIN: the abort of the other
 * side passed on. */
static void
tcp_proxy_abort(int fd)
{
	struct linger	 l = { 1, 0 };

	if (fd != -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/* Close both sockets: the one place a connection ends. */
static void
tcp_proxy_close(struct tcp_proxy_conn *pc, const char *why)
{
	struct tcp_proxy_server	*ts = pc->ts;

	if (pc->down.aborted)
		tcp_proxy_abort(pc->client.io.pi.fd);
	if (pc->up.aborted && pc->state == TCP_PROXY_RELAYING)
		tcp_proxy_abort(pc->server.io.pi.fd);
	log_debug("server %s: proxied connection closed: %s (%llu bytes up, "
	    "%llu down)", ts->sv->conf->name, why,
	    (unsigned long long)pc->up.moved,
	    (unsigned long long)pc->down.moved);
	TAILQ_REMOVE(&ts->conns, pc, entry);
	evtimer_del(&pc->timer);
	conn_close(&pc->client.io, ts->poller);
	if (pc->state == TCP_PROXY_RELAYING)
		conn_close(&pc->server.io, ts->poller);
	upstream_done(&pc->uc, 0);	/* a connect stops; counted no more */
	tcp_relay_free(&pc->up);
	tcp_relay_free(&pc->down);
	service_conn_closed(ts->sv);
	free(pc);
}

/* Nothing moved either way for idle_timeout, or the linger is over. */
static void
tcp_proxy_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_proxy_conn	*pc = arg;

	(void)fd;
	(void)what;
	tcp_proxy_close(pc, pc->state == TCP_PROXY_LINGER ? "linger timeout" :
	    "idle timeout");
}

/*
 * The server's socket failed, reading (reading: a reset) or writing. It
 * counts against the server's health only when a read failed before
 * its EOF and before any byte came from it: an application that accepts
 * and resets at once is as good as down, but one that answered, or
 * closed, and then refused what a client still sent is fine (and a
 * client must not be able to take a server out of rotation).
 */
static void
tcp_proxy_server_failed(struct tcp_proxy_conn *pc, int reading, int err)
{
	struct tcp_proxy_server	*ts = pc->ts;
	const char		*peer = upstream_peer_name(pc->uc.peer);

	if (reading && !pc->down.got && !pc->down.eof) {
		log_warnx("server %s: upstream %s: server %s: %s before it "
		    "sent anything", ts->sv->conf->name,
		    upstream_conf_of(ts->u)->name, peer, strerror(err));
		upstream_peer_failed(pc->uc.peer);
	} else
		log_info("server %s: upstream %s: server %s: %s %s",
		    ts->sv->conf->name, upstream_conf_of(ts->u)->name, peer,
		    reading ? "reading:" : "writing:", strerror(err));
}

/*
 * A relay's failure ends that direction, not the connection. A read
 * error: "from" is broken, so what it sent before is still delivered,
 * then the end is passed on as a reset, and nothing goes to it any more
 * (the direction towards it is dropped). A write error: "to" takes no
 * more, the direction is dropped; if "to" was reset (not after its FIN:
 * that is EPIPE), what it still sends is cut, and its end a reset too.
 * 0, or -1 when the connection had to be closed.
 */
static int
tcp_proxy_failed(struct tcp_proxy_conn *pc, struct tcp_relay *r,
    enum tcp_relay_result res)
{
	struct tcp_relay	*other = r == &pc->up ? &pc->down : &pc->up;
	int			 err = errno;
	int			 reading = res == TCP_RELAY_EFROM;

	if (res == TCP_RELAY_ENOMEM) {
		log_warnx("server %s: proxied connection closed: out of "
		    "memory", pc->ts->sv->conf->name);
		tcp_proxy_close(pc, "out of memory");
		return (-1);
	}
	if (reading == (r == &pc->down))
		tcp_proxy_server_failed(pc, reading, err);
	else
		log_debug("server %s: client %s: %s", pc->ts->sv->conf->name,
		    reading ? "reading" : "writing", strerror(err));
	if (reading) {
		r->eof = 1;
		r->aborted = 1;
		tcp_relay_drop(other);
	} else {
		tcp_relay_drop(r);
		if (err != EPIPE && !other->shut)
			other->aborted = 1;
	}
	return (0);
}

/* Count what moved; 1 if anything did. */
static int
tcp_proxy_count(struct tcp_proxy_conn *pc, uint64_t up0, uint64_t down0)
{
	struct wserver	*sv = pc->ts->sv;

	if (pc->up.moved != up0)
		STATS_ADD(sv->st, bytes_in, pc->up.moved - up0);
	if (pc->down.moved != down0) {
		if (down0 == 0)
			upstream_peer_ok(pc->uc.peer);	/* it answers */
		STATS_ADD(sv->st, bytes_out, pc->down.moved - down0);
	}
	return (pc->up.moved != up0 || pc->down.moved != down0);
}

/* Wait for output on the sockets a direction could not write to. */
static void
tcp_proxy_wait(struct tcp_proxy_conn *pc)
{
	struct poller	*p = pc->ts->poller;

	if (tcp_relay_pending(&pc->up) && !pc->server.io.pi.wready)
		poller_want_write(p, &pc->server.io.pi);
	if (tcp_relay_pending(&pc->down) && !pc->client.io.pi.wready)
		poller_want_write(p, &pc->client.io.pi);
}

/*
 * Both directions are done. A client that may still send (its FIN not
 * read: it uploads while the server has answered and gone) lingers:
 * closing it with unread input would send a reset, and a reset throws
 * away what is still queued to it, the end of the answer. The server's
 * side is closed now; the client gets our FIN (passed on already) and
 * its input is read and discarded until its FIN, an error or
 * TCP_PROXY_LINGER_SECONDS (the bound nginx's lingering_time sets).
 */
static void
tcp_proxy_end(struct tcp_proxy_conn *pc)
{
	struct tcp_proxy_server	*ts = pc->ts;

	if (pc->up.eof || !pc->down.shut || pc->down.aborted) {
		tcp_proxy_close(pc, "both sides closed");
		return;
	}
	conn_close(&pc->server.io, ts->poller);
	upstream_done(&pc->uc, 0);
	tcp_relay_free(&pc->down);
	tcp_relay_drop(&pc->up);	/* reads the client and discards */
	pc->state = TCP_PROXY_LINGER;
	evtimer_add(&pc->timer, ts->linger);
	poller_post(ts->poller, &pc->client.io.pi);
}

/* Lingering: the client's input read and discarded, a bounded amount
 * per turn, until its FIN or an error. */
static void
tcp_proxy_linger(struct tcp_proxy_conn *pc)
{
	enum tcp_relay_result	 r = TCP_RELAY_IDLE;
	int			 rounds;

	for (rounds = 0; rounds < TCP_PROXY_ROUNDS_MAX; rounds++)
		if ((r = tcp_relay_move(&pc->up)) != TCP_RELAY_MOVED)
			break;
	if (pc->up.eof || r >= TCP_RELAY_EFROM)
		tcp_proxy_close(pc, "closed after lingering");
	else if (r != TCP_RELAY_IDLE)
		poller_post(pc->ts->poller, &pc->client.io.pi);
}

/* Bytes both ways until neither direction can move, a bounded number of
 * rounds (then the connection goes after the others). A failure ends a
 * direction and counts as progress: the other goes on. */
static void
tcp_proxy_relay(struct tcp_proxy_conn *pc)
{
	struct tcp_proxy_server	*ts = pc->ts;
	enum tcp_relay_result	 ru, rd;
	uint64_t		 up0 = pc->up.moved, down0 = pc->down.moved;
	int			 rounds, fu, fd, intr = 0;

	for (rounds = 0; rounds < TCP_PROXY_ROUNDS_MAX; rounds++) {
		if ((ru = tcp_relay_move(&pc->up)) >= TCP_RELAY_EFROM) {
			if (tcp_proxy_failed(pc, &pc->up, ru) == -1)
				return;
			ru = TCP_RELAY_MOVED;
		}
		if ((rd = tcp_relay_move(&pc->down)) >= TCP_RELAY_EFROM) {
			if (tcp_proxy_failed(pc, &pc->down, rd) == -1)
				return;
			rd = TCP_RELAY_MOVED;
		}
		if (ru == TCP_RELAY_INTR || rd == TCP_RELAY_INTR)
			intr = 1;
		if (ru != TCP_RELAY_MOVED && rd != TCP_RELAY_MOVED)
			break;
	}
	if (tcp_proxy_count(pc, up0, down0))
		evtimer_add(&pc->timer, ts->idle);
	tcp_relay_idle(&pc->up);
	tcp_relay_idle(&pc->down);
	fu = tcp_relay_finish(&pc->up);
	fd = tcp_relay_finish(&pc->down);
	if (fu == -1 || fd == -1) {
		tcp_proxy_close(pc, "shutdown failed");
		return;
	}
	if (fu == 1 && fd == 1) {
		tcp_proxy_end(pc);
		return;
	}
	/* EINTR leaves the readiness as it was: no edge will come. */
	if (rounds == TCP_PROXY_ROUNDS_MAX || intr)
		poller_post(ts->poller, &pc->client.io.pi);
	else
		tcp_proxy_wait(pc);
}

/*
 * An edge on the client while its connect is made. Its bytes wait in
 * the kernel; a FIN or a reset is looked at (a peek, which takes
 * nothing): a client that closed or reset having sent nothing is gone,
 * and its connect stops; one whose FIN follows bytes still wants them
 * proxied (the FIN is passed on once connected).
 */
static void
tcp_proxy_watch(struct tcp_proxy_conn *pc)
{
	char	 c;
	ssize_t	 n;

	if (!pc->client.io.pi.rdhup)
		return;
	n = conn_peek(&pc->client.io, &c, 1);
	if (n > 0 || (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR)))
		return;
	log_debug("server %s: client gone before the upstream connected: %s",
	    pc->ts->sv->conf->name, n == 0 ? "closed" : strerror(errno));
	tcp_proxy_close(pc, "client gone while connecting");
}

/* An edge on either socket, or a posted connection. */
static void
tcp_proxy_ready(struct poller_item *it, void *arg)
{
	struct tcp_proxy_server	*ts = arg;
	struct tcp_proxy_conn	*pc;
	int			 err = it->error;

	pc = POLLER_OWNER(it, struct tcp_proxy_side, io.pi)->pc;
	(void)ts;
	if (err != 0) {
		log_warnx("server %s: proxied connection closed: epoll: %s",
		    pc->ts->sv->conf->name, strerror(err));
		tcp_proxy_close(pc, "epoll failed");
		return;
	}
	switch (pc->state) {
	case TCP_PROXY_CONNECTING:
		tcp_proxy_watch(pc);
		break;
	case TCP_PROXY_RELAYING:
		tcp_proxy_relay(pc);
		break;
	case TCP_PROXY_LINGER:
		tcp_proxy_linger(pc);
		break;
	}
}

/* TCP_NODELAY: bytes go on as they came, not held for a fuller segment
 * (the two ends' own writes say what belongs together). */
static void
tcp_proxy_nodelay(int fd)
{
	int	 one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The server's connection is made: relay. */
static void
tcp_proxy_connected(struct tcp_proxy_conn *pc)
{
	struct tcp_proxy_server	*ts = pc->ts;
	int			 fd = pc->uc.fd;

	pc->uc.fd = -1;		/* the connection's now; uc only counts it */
	conn_socket_init(&pc->server.io, fd);
	if (pc->uc.peer->conf->addr.ss.ss_family != AF_UNIX)
		tcp_proxy_nodelay(fd);
	tcp_proxy_nodelay(pc->client.io.pi.fd);
	pc->state = TCP_PROXY_RELAYING;
	evtimer_add(&pc->timer, ts->idle);
	/* Added edge-triggered: bytes already waiting give an edge now. */
	poller_want_read(ts->poller, &pc->client.io.pi);
	poller_want_read(ts->poller, &pc->server.io.pi);
}

/* No server could be had: the client is closed, the cause logged. */
static void
tcp_proxy_connect_failed(struct tcp_proxy_conn *pc, enum upstream_result r)
{
	struct tcp_proxy_server	*ts = pc->ts;

	log_warnx("server %s: upstream %s: no connection (%d): server %s: %s",
	    ts->sv->conf->name, upstream_conf_of(ts->u)->name, (int)r,
	    pc->uc.peer != NULL ? upstream_peer_name(pc->uc.peer) : "none",
	    pc->uc.cause[0] != '\0' ? pc->uc.cause : "every server is down");
	tcp_proxy_close(pc, "no upstream connection");
}

/* upstream_connect's answer, later than the start. */
static void
tcp_proxy_connect_cb(struct upstream_connect *uc, enum upstream_result r)
{
	struct tcp_proxy_conn	*pc = uc->arg;

	if (r == UPSTREAM_OK)
		tcp_proxy_connected(pc);
	else
		tcp_proxy_connect_failed(pc, r);
}

/* A new client: connect to a server for it; the client waits unread. */
static void
tcp_proxy_accept(struct wserver *sv, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct tcp_proxy_server	*ts = sv->svc_data;
	struct tcp_proxy_conn	*pc;
	struct sockaddr_storage	 local;
	socklen_t		 locallen = sizeof(local);
	int			 rc;

	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		log_warnx("server %s: out of memory: connection refused",
		    sv->conf->name);
		close(fd);
		return;
	}
	pc->ts = ts;
	pc->state = TCP_PROXY_CONNECTING;
	pc->client.pc = pc;
	conn_socket_init(&pc->client.io, fd);
	pc->server.pc = pc;
	conn_socket_init(&pc->server.io, -1);	/* none until connected */
	tcp_relay_init(&pc->up, &pc->client.io, &pc->server.io, &ts->pipes);
	tcp_relay_init(&pc->down, &pc->server.io, &pc->client.io,
	    &ts->pipes);
	pc->uc.fd = -1;
	pc->uc.no_pool = 1;	/* bytes, not HTTP: no kept connection */
	evtimer_assign(&pc->timer, sv->base, tcp_proxy_timeout_cb, pc);
	TAILQ_INSERT_TAIL(&ts->conns, pc, entry);
	service_conn_opened(sv);
	/* Watched while connecting: a client that leaves stops it. */
	poller_want_read(ts->poller, &pc->client.io.pi);
	/* For source = listen: the address and port the client came to. */
	if (getsockname(fd, (struct sockaddr *)&local, &locallen) == -1)
		locallen = 0;
	rc = upstream_connect_start(&pc->uc, ts->u, sa, salen,
	    (struct sockaddr *)&local, locallen, tcp_proxy_connect_cb, pc);
	if (rc == 1)
		tcp_proxy_connected(pc);
	else if (rc == -1)
		tcp_proxy_connect_failed(pc, UPSTREAM_E502);
}

/* Established connections are kept until they end; connects go on. */
static void
tcp_proxy_drain(struct wserver *sv)
{
	(void)sv;
}

static void
tcp_proxy_shutdown(struct wserver *sv)
{
	struct tcp_proxy_server	*ts = sv->svc_data;
	struct tcp_proxy_conn	*pc;

	if (ts == NULL)
		return;
	while ((pc = TAILQ_FIRST(&ts->conns)) != NULL)
		tcp_proxy_close(pc, "worker stopping");
	tcp_relay_pipes_free(&ts->pipes);
	poller_free(ts->poller);
	free(ts);
	sv->svc_data = NULL;
}

const struct service tcp_proxy_service = {
	.name = "tcp_proxy",
	.init = tcp_proxy_init,
	.accept = tcp_proxy_accept,
	.drain = tcp_proxy_drain,
	.shutdown = tcp_proxy_shutdown,
};
