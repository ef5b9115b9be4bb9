/*
 * check_upstream.c: choosing a server, passive health, and connecting
 * (verdicts, retry_wait, the source address and its socket options, the
 * idle pool) against real loopback sockets in a real event loop.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/clock.h"
#include "core/conf.h"
#include "upstream/upstream.h"
#include "upstream/upstream_int.h"
#include "checklib.h"

#define NSERVERS	3

static struct config		 conf;
static struct upstream_conf	 uconf;
static struct upstream_server_conf servers[NSERVERS];
static struct event_base	*base;
static struct upstream		*u;

/* A loopback listener on a free port; its port in *port. */
static int
listener(int backlog, int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, backlog), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return (fd);
}

/* A port nobody listens on: bound, then closed. */
static int
dead_port(void)
{
	int	 port, fd = listener(1, &port);

	close(fd);
	return (port);
}

static void
set_server(int i, int port)
{
	char	 text[64], err[128];

	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	ck_assert_int_eq(addr_parse(text, &servers[i].addr, err, sizeof(err)),
	    0);
	snprintf(servers[i].text, sizeof(servers[i].text), "%s", text);
}

/* An upstream of n servers (ports), the rest as the defaults are. */
static void
setup_upstream(size_t n, const int *ports)
{
	char	 err[256];
	size_t	 i;

	memset(&uconf, 0, sizeof(uconf));
	snprintf(uconf.name, sizeof(uconf.name), "app");
	for (i = 0; i < n; i++)
		set_server((int)i, ports[i]);
	uconf.servers = servers;
	uconf.nservers = n;
	uconf.balance = BALANCE_ROUND_ROBIN;
	uconf.keepalive = 32;
	uconf.connect_timeout = 1;
	uconf.read_timeout = 60;
	uconf.send_timeout = 60;
	uconf.max_fails = 3;
	uconf.fail_timeout = 10;
	uconf.health_interval = 2;
	memset(&conf, 0, sizeof(conf));
	conf.upstreams = &uconf;
	conf.nupstreams = 1;
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(upstream_init(base, &conf, err, sizeof(err)), 0);
	u = upstream_get(&uconf);
	ck_assert_ptr_nonnull(u);
}

static void
teardown_upstream(void)
{
	upstream_shutdown();
	event_base_free(base);
}

/* -- choosing ----------------------------------------------------------- */

START_TEST(test_round_robin_skips_tried_and_down)
{
	int			 ports[NSERVERS] = { 1001, 1002, 1003 };
	struct upstream_connect	 uc;
	struct upstream_peer	*a, *b, *c;

	setup_upstream(NSERVERS, ports);
	memset(&uc, 0, sizeof(uc));
	a = upstream_pick(u, &uc);
	b = upstream_pick(u, &uc);
	c = upstream_pick(u, &uc);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_ne(b, c);
	ck_assert_ptr_ne(a, c);
	ck_assert_ptr_eq(upstream_pick(u, &uc), a);	/* around again */
	/* Tried ones are skipped, and then there is none. */
	uc.tried = UINT64_C(1) << a->index | UINT64_C(1) << b->index;
	ck_assert_ptr_eq(upstream_pick(u, &uc), c);
	uc.tried |= UINT64_C(1) << c->index;
	ck_assert_ptr_null(upstream_pick(u, &uc));
	/* Down by failures: passed over while another is up... */
	uc.tried = 0;
	upstream_peer_failed(b);
	upstream_peer_failed(b);
	ck_assert_int_eq(b->down_until, 0);
	upstream_peer_failed(b);
	ck_assert_int_ne(b->down_until, 0);
	for (int i = 0; i < 6; i++)
		ck_assert_ptr_ne(upstream_pick(u, &uc), b);
	/* ...but tried when nothing else is left (a restart), while the
	 * active check's verdict is never overruled. */
	uc.tried = UINT64_C(1) << a->index | UINT64_C(1) << c->index;
	ck_assert_ptr_eq(upstream_pick(u, &uc), b);
	b->check_down = 1;
	ck_assert_ptr_null(upstream_pick(u, &uc));
	/* A good answer makes it whole again. */
	b->check_down = 0;
	upstream_peer_ok(b);
	ck_assert_int_eq(b->down_until, 0);
	ck_assert_int_eq(b->fails, 0);
	teardown_upstream();
}
END_TEST

START_TEST(test_least_conn_and_client_hash)
{
	int			 ports[NSERVERS] = { 1001, 1002, 1003 };
	struct upstream_connect	 uc;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&uc.client;
	struct upstream_peer	*p, *q;

	setup_upstream(NSERVERS, ports);
	uconf.balance = BALANCE_LEAST_CONN;
	memset(&uc, 0, sizeof(uc));
	u->peers[0].active = 5;
	u->peers[1].active = 1;
	u->peers[2].active = 3;
	ck_assert_ptr_eq(upstream_pick(u, &uc), &u->peers[1]);
	u->peers[1].active = 9;
	ck_assert_ptr_eq(upstream_pick(u, &uc), &u->peers[2]);

	/* client_hash: one client, one server, whatever the port. */
	uconf.balance = BALANCE_CLIENT_HASH;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a000001);
	sin->sin_port = htons(1111);
	p = upstream_pick(u, &uc);
	sin->sin_port = htons(2222);
	ck_assert_ptr_eq(upstream_pick(u, &uc), p);
	/* When its server is down, the client goes to another one. */
	p->check_down = 1;
	q = upstream_pick(u, &uc);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_ne(q, p);
	teardown_upstream();
}
END_TEST

/* -- connecting ---------------------------------------------------------- */

static enum upstream_result	 got;
static int			 ncalls;

static void
connect_cb(struct upstream_connect *uc, enum upstream_result r)
{
	(void)uc;
	got = r;
	ncalls++;
	event_base_loopbreak(base);
}

/* Run the loop until the callback (bounded by a 10 s timer). */
static void
wait_callback(void)
{
	struct timeval	 tv = { 10, 0 };

	ncalls = 0;
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_int_eq(ncalls, 1);
}

static int
start(struct upstream_connect *uc, const struct sockaddr_in *local)
{
	struct sockaddr_in	 client;

	memset(&client, 0, sizeof(client));
	client.sin_family = AF_INET;
	client.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	client.sin_port = htons(4444);
	memset(uc, 0, sizeof(*uc));
	return (upstream_connect_start(uc, u, (struct sockaddr *)&client,
	    sizeof(client), (const struct sockaddr *)local,
	    local ? sizeof(*local) : 0, connect_cb, NULL));
}

/* Connected now or by the callback: the descriptor. */
static int
connected(struct upstream_connect *uc, int rc)
{
	if (rc == 0) {
		wait_callback();
		ck_assert_int_eq(got, UPSTREAM_OK);
	} else
		ck_assert_int_eq(rc, 1);
	ck_assert_int_ne(uc->fd, -1);
	return (uc->fd);
}

static int
sockopt(int fd, int name)
{
	int		 v = -1;
	socklen_t	 len = sizeof(v);

	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, name, &v, &len), 0);
	return (v);
}

static int
local_port(int fd)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return (ntohs(sin.sin_port));
}

START_TEST(test_connect_goes_to_the_live_server)
{
	struct upstream_connect	 uc;
	int			 ports[2], lfd, fd, i;

	lfd = listener(16, &ports[1]);
	ports[0] = dead_port();
	setup_upstream(2, ports);
	uconf.retry_wait = 0;
	for (i = 0; i < 4; i++) {
		fd = connected(&uc, start(&uc, NULL));
		ck_assert_ptr_eq(uc.peer, &u->peers[1]);
		ck_assert_uint_eq(u->peers[1].active, 1);
		/* No fixed source port: no reuse options. */
		ck_assert_int_eq(sockopt(fd, SO_REUSEADDR), 0);
		ck_assert_int_eq(sockopt(fd, SO_REUSEPORT), 0);
		upstream_done(&uc, 0);
		ck_assert_uint_eq(u->peers[1].active, 0);
	}
	close(lfd);
	teardown_upstream();
}
END_TEST

START_TEST(test_verdicts)
{
	struct upstream_connect	 uc;
	int			 ports[1], lfd, hold, port;

	ports[0] = dead_port();
	setup_upstream(1, ports);
	uconf.retry_wait = 0;
	uconf.max_fails = 0;
	ck_assert_int_eq(start(&uc, NULL), 0);
	wait_callback();
	ck_assert_int_eq(got, UPSTREAM_E502);
	ck_assert_ptr_nonnull(strstr(uc.cause, "refused"));
	upstream_done(&uc, 0);

	/* Every server held down by the active check: 503. */
	u->peers[0].check_down = 1;
	ck_assert_int_eq(start(&uc, NULL), 0);
	wait_callback();
	ck_assert_int_eq(got, UPSTREAM_E503);
	upstream_done(&uc, 0);
	u->peers[0].check_down = 0;
	teardown_upstream();

	/* A server whose accept queue is full drops the SYN: 504. */
	lfd = listener(0, &port);
	hold = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in sin = { .sin_family = AF_INET,
		    .sin_port = htons(port),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		ck_assert_int_eq(connect(hold, (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
	}
	ports[0] = port;
	setup_upstream(1, ports);
	uconf.retry_wait = 0;
	/* backlog 0 holds one connection (hold's); the next SYN is dropped
	 * while the queue is full, so the connect can only time out. */
	ck_assert_int_eq(start(&uc, NULL), 0);
	wait_callback();
	ck_assert_int_eq(got, UPSTREAM_E504);
	ck_assert_ptr_nonnull(strstr(uc.cause, "timed out"));
	upstream_done(&uc, 0);
	close(hold);
	close(lfd);
	teardown_upstream();
}
END_TEST

/* The application is back while the request waits: it goes through. */
static int	 late_port;
static int	 late_fd = -1;

static void
late_listen_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sockaddr_in	 sin;
	int			 one = 1;

	(void)fd;
	(void)what;
	(void)arg;
	late_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(late_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(late_port);
	ck_assert_int_eq(bind(late_fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	ck_assert_int_eq(listen(late_fd, 16), 0);
}

START_TEST(test_retry_wait_outlasts_a_restart)
{
	struct upstream_connect	 uc;
	struct event		*ev;
	struct timeval		 tv = { 0, 300000 };
	int			 ports[1];

	late_port = ports[0] = dead_port();
	setup_upstream(1, ports);
	uconf.retry_wait = 5;
	ev = evtimer_new(base, late_listen_cb, NULL);
	evtimer_add(ev, &tv);
	ck_assert_int_eq(start(&uc, NULL), 0);
	wait_callback();
	ck_assert_int_eq(got, UPSTREAM_OK);
	ck_assert_int_ne(late_fd, -1);
	/* Refused a few times meanwhile: down by count, tried anyway. */
	upstream_done(&uc, 0);
	event_free(ev);
	close(late_fd);
	late_fd = -1;
	teardown_upstream();
}
END_TEST

START_TEST(test_source_forms)
{
	struct upstream_connect	 uc;
	struct sockaddr_in	 local;
	char			 err[128];
	int			 ports[1], lfd, fd, lport;

	lfd = listener(16, &ports[0]);
	setup_upstream(1, ports);

	/* "IP": the address only, no reuse options. */
	uconf.source = SOURCE_IP;
	ck_assert_int_eq(addr_parse("127.0.0.1:1", &uconf.source_addr, err,
	    sizeof(err)), 0);
	addr_set_port(&uconf.source_addr, 0);
	fd = connected(&uc, start(&uc, NULL));
	ck_assert_int_eq(sockopt(fd, SO_REUSEADDR), 0);
	ck_assert_int_eq(sockopt(fd, SO_REUSEPORT), 0);
	upstream_done(&uc, 0);

	/* "IP:PORT": that port, with both options. */
	uconf.source = SOURCE_IP_PORT;
	lport = dead_port();
	addr_set_port(&uconf.source_addr, lport);
	fd = connected(&uc, start(&uc, NULL));
	ck_assert_int_eq(local_port(fd), lport);
	ck_assert_int_eq(sockopt(fd, SO_REUSEADDR), 1);
	ck_assert_int_eq(sockopt(fd, SO_REUSEPORT), 1);
	upstream_done(&uc, 0);

	/* "listen": the port of the client's listener, shared with it. */
	uconf.source = SOURCE_LISTEN;
	memset(&local, 0, sizeof(local));
	local.sin_family = AF_INET;
	local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	local.sin_port = htons(dead_port());
	fd = connected(&uc, start(&uc, &local));
	ck_assert_int_eq(local_port(fd), ntohs(local.sin_port));
	ck_assert_int_eq(sockopt(fd, SO_REUSEPORT), 1);
	upstream_done(&uc, 0);
	close(lfd);
	teardown_upstream();
}
END_TEST

static void
idle_check_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (u->nidle == 0)
		event_base_loopbreak(base);
}

/* The loop runs until the pool is empty (the sweep, every 5 s), or 20 s. */
static void
run_until_no_idle(void)
{
	struct timeval	 tick = { 0, 10000 }, limit = { 20, 0 };
	struct event	*ev;

	ev = event_new(base, -1, EV_PERSIST, idle_check_cb, NULL);
	event_add(ev, &tick);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	event_free(ev);
}

START_TEST(test_idle_pool)
{
	struct upstream_connect	 uc;
	int			 ports[1], lfd, fd, afd;

	lfd = listener(16, &ports[0]);
	setup_upstream(1, ports);
	fd = connected(&uc, start(&uc, NULL));
	ck_assert_int_eq(uc.reused, 0);
	upstream_done(&uc, 1);			/* kept */
	ck_assert_int_eq(u->nidle, 1);
	ck_assert_int_eq(start(&uc, NULL), 1);	/* taken at once */
	ck_assert_int_eq(uc.reused, 1);
	ck_assert_int_eq(uc.fd, fd);
	ck_assert_int_eq(u->nidle, 0);

	/* A kept connection the server closes leaves the pool. */
	upstream_done(&uc, 1);
	afd = accept(lfd, NULL, NULL);
	ck_assert_int_ne(afd, -1);
	close(afd);
	run_until_no_idle();
	ck_assert_int_eq(u->nidle, 0);
	/* Draining keeps nothing. */
	fd = connected(&uc, start(&uc, NULL));
	upstream_drain();
	upstream_done(&uc, 1);
	ck_assert_int_eq(u->nidle, 0);
	close(lfd);
	teardown_upstream();
}
END_TEST

/* A retry goes to a server not tried yet, and to none twice. */
START_TEST(test_retry_once_per_server)
{
	struct upstream_connect	 uc;
	struct upstream_peer	*first;
	int			 ports[2], lfd[2];

	lfd[0] = listener(16, &ports[0]);
	lfd[1] = listener(16, &ports[1]);
	setup_upstream(2, ports);
	uconf.retry_wait = 5;
	connected(&uc, start(&uc, NULL));
	first = uc.peer;
	/* The request failed on it: the other server. */
	connected(&uc, upstream_connect_retry(&uc));
	ck_assert_ptr_ne(uc.peer, first);
	/* And then none: both had it (retry_wait does not apply). */
	ck_assert_int_eq(upstream_connect_retry(&uc), -1);
	upstream_done(&uc, 0);
	ck_assert_uint_eq(u->peers[0].active + u->peers[1].active, 0);

	/* An idempotent request nobody answered goes once more, after a
	 * pause, to a server that had it: the only one restarted. */
	connected(&uc, start(&uc, NULL));
	uc.resend_ok = 1;
	connected(&uc, upstream_connect_retry(&uc));
	ck_assert_int_eq(upstream_connect_retry(&uc), 0);
	wait_callback();
	ck_assert_int_eq(got, UPSTREAM_OK);
	/* That new round gives each server its once more, no more. */
	connected(&uc, upstream_connect_retry(&uc));
	ck_assert_int_eq(upstream_connect_retry(&uc), -1);
	upstream_done(&uc, 0);
	close(lfd[0]);
	close(lfd[1]);
	teardown_upstream();
}
END_TEST

/* A kept connection that died goes back to the same server, fresh. */
START_TEST(test_retry_of_a_kept_connection)
{
	struct upstream_connect	 uc;
	struct upstream_peer	*first;
	int			 ports[2], lfd[2], fd;

	lfd[0] = listener(16, &ports[0]);
	lfd[1] = listener(16, &ports[1]);
	setup_upstream(2, ports);
	fd = connected(&uc, start(&uc, NULL));
	first = uc.peer;
	upstream_done(&uc, 1);
	/* The next request goes round-robin to the other server; the one
	 * after to the first, kept connection. */
	connected(&uc, start(&uc, NULL));
	upstream_done(&uc, 0);
	ck_assert_int_eq(start(&uc, NULL), 1);
	ck_assert_int_eq(uc.reused, 1);
	ck_assert_int_eq(uc.fd, fd);
	ck_assert_ptr_eq(uc.peer, first);
	connected(&uc, upstream_connect_retry(&uc));
	ck_assert_int_eq(uc.reused, 0);
	ck_assert_ptr_eq(uc.peer, first);
	upstream_done(&uc, 0);
	close(lfd[0]);
	close(lfd[1]);
	teardown_upstream();
}
END_TEST

/* A kept connection whose FIN came before the loop saw it is not handed
 * out. */
START_TEST(test_pool_skips_a_closed_connection)
{
	struct upstream_connect	 uc;
	int			 ports[1], lfd, fd, afd;

	lfd = listener(16, &ports[0]);
	setup_upstream(1, ports);
	fd = connected(&uc, start(&uc, NULL));
	upstream_done(&uc, 1);
	afd = accept(lfd, NULL, NULL);
	close(afd);		/* the loop does not run meanwhile */
	{
		char	 c;

		/* The FIN is there before the pool is asked. */
		ck_assert_int_eq(recv(fd, &c, 1, MSG_PEEK), 0);
	}
	connected(&uc, start(&uc, NULL));
	ck_assert_int_eq(uc.reused, 0);
	upstream_done(&uc, 0);
	close(lfd);
	teardown_upstream();
}
END_TEST

static int	 want_idle;

static void
idle_n_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (u->nidle == want_idle)
		event_base_loopbreak(base);
}

/* keepalive is what stays; a burst's surplus, up to twice as many, is
 * kept a moment for the next burst, then closed. */
START_TEST(test_pool_surplus)
{
	struct upstream_connect	 uc[5];
	struct timeval		 tick = { 0, 20000 }, limit = { 20, 0 };
	struct event		*ev;
	int			 ports[1], lfd, i;

	lfd = listener(16, &ports[0]);
	setup_upstream(1, ports);
	uconf.keepalive = 2;
	for (i = 0; i < 5; i++)
		connected(&uc[i], start(&uc[i], NULL));
	for (i = 0; i < 5; i++)
		upstream_done(&uc[i], 1);
	ck_assert_int_eq(u->nidle, 4);		/* 2 x keepalive at most */
	want_idle = 2;
	ev = event_new(base, -1, EV_PERSIST, idle_n_cb, NULL);
	event_add(ev, &tick);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	event_free(ev);
	ck_assert_int_eq(u->nidle, 2);
	close(lfd);
	teardown_upstream();
}
END_TEST

/* A request that may not be retried takes only a recently used kept
 * connection. */
START_TEST(test_pool_recent_only)
{
	struct upstream_connect	 uc;
	int			 ports[1], lfd, fd;
	int64_t			 t;

	lfd = listener(16, &ports[0]);
	setup_upstream(1, ports);
	fd = connected(&uc, start(&uc, NULL));
	upstream_done(&uc, 1);
	memset(&uc, 0, sizeof(uc));
	uc.pool_recent_ms = 60000;
	ck_assert_int_eq(upstream_connect_start(&uc, u, NULL, 0, NULL, 0,
	    connect_cb, NULL), 1);
	ck_assert_int_eq(uc.reused, 1);
	ck_assert_int_eq(uc.fd, fd);
	upstream_done(&uc, 1);
	/* Kept 2 ms ago or more: too old for a 1 ms limit. */
	for (t = clock_now_ms(); clock_now_ms() - t < 2;)
		;
	memset(&uc, 0, sizeof(uc));
	uc.pool_recent_ms = 1;
	fd = connected(&uc, upstream_connect_start(&uc, u, NULL, 0, NULL, 0,
	    connect_cb, NULL));
	ck_assert_int_eq(uc.reused, 0);
	ck_assert_int_eq(u->nidle, 1);		/* the old one stays kept */
	upstream_done(&uc, 0);
	close(lfd);
	teardown_upstream();
}
END_TEST

/* -- the active check ------------------------------------------------------ */

static int	 hc_status = 500;
static int	 hc_requests;

/* A tiny HTTP server in the loop: each request gets hc_status. */
static void
hc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct event	*ev = arg;
	char		 buf[512], resp[128];
	int		 n;

	(void)what;
	n = (int)recv(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		if (strncmp(buf, "GET /healthz HTTP/1.1\r\n", 23) == 0)
			hc_requests++;
		n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n",
		    hc_status);
		(void)send(fd, resp, (size_t)n, MSG_NOSIGNAL);
	}
	event_free(ev);
	close(fd);
}

static void
hc_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct event	*ev;
	int		 fd;

	(void)what;
	(void)arg;
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return;
	ev = event_new(base, fd, EV_READ, hc_read_cb, event_self_cbarg());
	event_add(ev, NULL);
}

static int	 want_down;

static void
hc_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (u->peers[0].check_down == want_down)
		event_base_loopbreak(base);
}

static void
run_until_check(int down)
{
	struct timeval	 tick = { 0, 20000 }, limit = { 15, 0 };
	struct event	*ev;

	want_down = down;
	ev = event_new(base, -1, EV_PERSIST, hc_watch_cb, NULL);
	event_add(ev, &tick);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	event_free(ev);
	ck_assert_int_eq(u->peers[0].check_down, down);
}

START_TEST(test_health_check)
{
	struct upstream_connect	 uc;
	struct event		*ev;
	char			 err[256];
	int			 ports[1], lfd;

	lfd = listener(16, &ports[0]);
	setup_upstream(1, ports);
	upstream_shutdown();		/* again, with the check on */
	uconf.health_check = "/healthz";
	uconf.health_interval = 1;
	uconf.retry_wait = 0;
	ck_assert_int_eq(upstream_init(base, &conf, err, sizeof(err)), 0);
	u = upstream_get(&uconf);
	ev = event_new(base, lfd, EV_READ | EV_PERSIST, hc_accept_cb, NULL);
	event_add(ev, NULL);
	hc_status = 500;
	run_until_check(1);
	ck_assert_int_ge(hc_requests, 1);
	/* Held down: no connection, 503 at once with retry_wait 0. */
	ck_assert_int_eq(start(&uc, NULL), 0);
	wait_callback();
	ck_assert_int_eq(got, UPSTREAM_E503);
	upstream_done(&uc, 0);
	hc_status = 204;
	run_until_check(0);
	/* A drain stops the checks and forgets their verdicts. */
	hc_status = 500;
	run_until_check(1);
	upstream_drain();
	ck_assert_int_eq(u->peers[0].check_down, 0);
	event_free(ev);
	uconf.health_check = NULL;
	close(lfd);
	teardown_upstream();
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("upstream");
	TCase	*tc = tcase_create("upstream");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_robin_skips_tried_and_down);
	tcase_add_test(tc, test_least_conn_and_client_hash);
	tcase_add_test(tc, test_connect_goes_to_the_live_server);
	tcase_add_test(tc, test_verdicts);
	tcase_add_test(tc, test_retry_wait_outlasts_a_restart);
	tcase_add_test(tc, test_source_forms);
	tcase_add_test(tc, test_idle_pool);
	tcase_add_test(tc, test_retry_once_per_server);
	tcase_add_test(tc, test_retry_of_a_kept_connection);
	tcase_add_test(tc, test_pool_skips_a_closed_connection);
	tcase_add_test(tc, test_health_check);
	tcase_add_test(tc, test_pool_recent_only);
	tcase_add_test(tc, test_pool_surplus);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
