/*
 * tcp_proxy.c: the TCP proxy service (protocol = tcp_proxy): each client
 * connection is relayed to a server of the server's upstream.
 *
 * A client is accepted, then a connection to a server is made
 * (upstream.h: the balance, health and retry_wait); nothing is read from
 * the client meanwhile, so what it sends waits in the kernel. If none
 * can be had, the client is closed and the cause logged. Then bytes move
 * both ways (tcp_relay.c), a FIN from either side is passed on to the
 * other once what came before it is sent, and the connection ends when
 * both directions have ended, on an error of either socket, or after
 * idle_timeout with nothing moved either way.
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

enum tcp_proxy_state {
	TCP_PROXY_CONNECTING = 0,	/* to a server of the upstream */
	TCP_PROXY_RELAYING,
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
	struct event		 timer;		/* idle_timeout */
};
TAILQ_HEAD(tcp_proxy_conns, tcp_proxy_conn);

struct tcp_proxy_server {
	struct wserver		*sv;
	struct upstream		*u;
	struct tcp_proxy_conns	 conns;
	struct poller		*poller;
	const struct timeval	*idle;		/* a common timeout: O(1) */
	struct tcp_relay_pipes	 pipes;
};

static void	tcp_proxy_ready(struct poller_item *, void *);

static int
tcp_proxy_init(struct wserver *sv, char *err, size_t errlen)
{
	struct tcp_proxy_server	*ts;
	struct timeval		 idle;

	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	sv->svc_data = ts;
	ts->sv = sv;
	TAILQ_INIT(&ts->conns);
	if (sv->conf->upstream == NULL ||
	    (ts->u = upstream_get(sv->conf->upstream)) == NULL) {
		snprintf(err, errlen, "server %s: no upstream", sv->conf->name);
		return (-1);
	}
	idle.tv_sec = sv->conf->idle_timeout;
	idle.tv_usec = 0;
	/* One duration for every connection: libevent keeps them in a
	 * queue rather than its heap. */
	if ((ts->idle = event_base_init_common_timeout(sv->base, &idle)) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	if ((ts->poller = poller_new(sv->base, tcp_proxy_ready, ts)) == NULL) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* Close both sockets: the one place a connection ends. */
static void
tcp_proxy_close(struct tcp_proxy_conn *pc, const char *why)
{
	struct tcp_proxy_server	*ts = pc->ts;

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

/* Nothing moved either way for idle_timeout. */
static void
tcp_proxy_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tcp_proxy_close(arg, "idle timeout");
}

/*
 * The server's socket failed (a reset, most often). It counts against
 * the server's health only when nothing ever came back from it: an
 * application that accepts and resets at once is as good as down, but
 * one that served a while and then broke a connection may be fine.
 */
static void
tcp_proxy_server_failed(struct tcp_proxy_conn *pc, int err)
{
	struct tcp_proxy_server	*ts = pc->ts;
	const char		*peer = upstream_peer_name(pc->uc.peer);

	if (pc->down.moved == 0 && pc->down.len == 0 && pc->down.piped == 0) {
		log_warnx("server %s: upstream %s: server %s: %s before it "
		    "sent anything", ts->sv->conf->name,
		    upstream_conf_of(ts->u)->name, peer, strerror(err));
		upstream_peer_failed(pc->uc.peer);
	} else
		log_info("server %s: upstream %s: server %s: %s",
		    ts->sv->conf->name, upstream_conf_of(ts->u)->name, peer,
		    strerror(err));
	tcp_proxy_close(pc, "server connection failed");
}

/* A relay's failure, by the side it came from: the connection ends. */
static void
tcp_proxy_failed(struct tcp_proxy_conn *pc, struct tcp_relay *r,
    enum tcp_relay_result res)
{
	int	 err = errno;
	int	 server_side;

	if (res == TCP_RELAY_ENOMEM) {
		log_warnx("server %s: proxied connection closed: out of "
		    "memory", pc->ts->sv->conf->name);
		tcp_proxy_close(pc, "out of memory");
		return;
	}
	server_side = (res == TCP_RELAY_EFROM) == (r == &pc->down);
	if (server_side)
		tcp_proxy_server_failed(pc, err);
	else
		tcp_proxy_close(pc, "client connection failed");
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

/* Bytes both ways until neither direction can move, a bounded number of
 * rounds (then the connection goes after the others). */
static void
tcp_proxy_relay(struct tcp_proxy_conn *pc)
{
	struct tcp_proxy_server	*ts = pc->ts;
	enum tcp_relay_result	 ru, rd;
	uint64_t		 up0 = pc->up.moved, down0 = pc->down.moved;
	int			 rounds, fu, fd;

	for (rounds = 0; rounds < TCP_PROXY_ROUNDS_MAX; rounds++) {
		if ((ru = tcp_relay_move(&pc->up)) >= TCP_RELAY_EFROM) {
			tcp_proxy_failed(pc, &pc->up, ru);
			return;
		}
		if ((rd = tcp_relay_move(&pc->down)) >= TCP_RELAY_EFROM) {
			tcp_proxy_failed(pc, &pc->down, rd);
			return;
		}
		if (ru == TCP_RELAY_IDLE && rd == TCP_RELAY_IDLE)
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
		tcp_proxy_close(pc, "both sides closed");
		return;
	}
	if (rounds == TCP_PROXY_ROUNDS_MAX)
		poller_post(ts->poller, &pc->client.io.pi);
	else
		tcp_proxy_wait(pc);
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
	tcp_proxy_relay(pc);
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
