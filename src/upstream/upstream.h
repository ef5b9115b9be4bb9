/*
 * upstream.h: a worker's view of the configured upstream pools: choosing
 * a server (round_robin, least_conn, client_hash), passive health
 * (max_fails within fail_timeout) and the active check (health_check),
 * connecting with the configured source address and PROXY header, the
 * wait for a server to come back (retry_wait), and the pool of idle
 * keep-alive connections (keepalive).
 *
 * The proxies (http_proxy.c, tcp_proxy.c, udp_proxy.c) call only this:
 *
 *	uc.dgram (UDP), uc.no_pool (a raw byte stream, which must not
 *	get an HTTP keep-alive connection) and uc.pool_recent_ms (a request
 *	that may not be retried takes only a kept connection used that
 *	recently: the server is unlikely to close it just then) are set
 *	before the start;
 *	upstream_connect_start(&uc, u, client, local, cb, arg):
 *	    1: uc.fd is connected now (non-blocking), uc.peer is the server,
 *	    uc.reused says it came from the idle pool; 0: cb comes later:
 *	... cb(&uc, UPSTREAM_OK): the same, connected;
 *	... cb(&uc, UPSTREAM_E502/E503/E504): no connection; uc.cause says why
 *	    (logged by the caller with uc.peer's address when there is one).
 *	A failure after the connection was made (the caller's to judge):
 *	    upstream_peer_failed(uc.peer) counts it, then either
 *	    upstream_connect_retry(&uc) (another server not tried yet: the
 *	    callback comes again) or give up. uc.resend_ok (the caller's:
 *	    an idempotent request that got no response byte) lets it go
 *	    once more to a server that had it, when no other is left and
 *	    retry_wait has time. upstream_done(&uc, keep) ends the use:
 *	    keep = 1 gives the connection to the idle pool.
 *
 * Verdicts: 503 when every server is down (held by the health check,
 * or by max_fails), at once if retry_wait is 0; else 504 if the last
 * try timed out, else 502.
 */
#ifndef DROVER_UPSTREAM_H
#define DROVER_UPSTREAM_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

struct event_base;
struct upstream_health;
struct upstream_idle;
struct upstream_conf;
struct upstream_server_conf;
struct config;

struct upstream_peer {
	const struct upstream_server_conf *conf;	/* address, text */
	struct upstream	*up;		/* its pool */
	unsigned	 index;
	unsigned	 active;	/* connections in use (least_conn) */
	int		 fails;		/* within the current fail_timeout */
	int64_t		 fail_start;	/* ms: first of them */
	int64_t		 down_until;	/* ms: passive health, 0: up */
	int		 check_down;	/* the active check failed */
	TAILQ_HEAD(upstream_idle_head, upstream_idle) idle;	/* kept connections */
	struct upstream_health	*health;	/* the active check's */
};

struct upstream;

enum upstream_result {
	UPSTREAM_OK = 0,
	UPSTREAM_E502 = 502,	/* no connection could be made */
	UPSTREAM_E503 = 503,	/* every server down, retry_wait ran out */
	UPSTREAM_E504 = 504,	/* the connect timed out */
};

struct upstream_connect;
typedef void (*upstream_cb)(struct upstream_connect *, enum upstream_result);

/* A connection being made; embedded in the proxy's own struct. */
struct upstream_connect {
	struct upstream		*u;
	struct upstream_peer	*peer;	/* being tried, or the last tried */
	int			 fd;	/* connected once UPSTREAM_OK; while
					 * connecting it is ours: never
					 * close it, call upstream_done */
	int			 reused;	/* from the idle pool */
	int			 dgram;	/* UDP: connect() a datagram socket */
	int			 no_pool;	/* never a kept HTTP connection */
	int			 resend_ok;	/* may go to a server once more
						 * (upstream_connect_retry) */
	int			 pool_recent_ms;	/* a kept connection only
						 * if idle less (0: any) */
	char			 cause[128];	/* of the last failure */
	/* private */
	struct sockaddr_storage	 client;	/* for client_hash, PROXY */
	struct sockaddr_storage	 local;		/* for source = listen, PROXY */
	socklen_t		 clientlen, locallen;
	uint64_t		 tried;		/* servers tried, a bit each */
	int64_t			 wait_until;	/* ms: retry_wait's end */
	int			 backoff_ms;
	int			 timed_out;	/* the last failure */
	int			 fresh_only;	/* not from the idle pool */
	int			 may_wait;	/* retry_wait applies */
	int			 resent;	/* resend_ok was used */
	struct upstream_peer	*again;		/* the next to try */
	struct event		 ev;		/* connect or backoff */
	int			 ev_set;
	upstream_cb		 cb;
	void			*arg;
	int			 active;	/* counted in peer->active */
};

/* Worker start-up: state for every upstream of conf; -1 with err. */
int	 upstream_init(struct event_base *, const struct config *,
	     char *, size_t);
/* Draining: idle connections closed, health checks stopped. */
void	 upstream_drain(void);
/* Worker exit: everything freed. */
void	 upstream_shutdown(void);
/* The worker's state of a configured upstream. */
struct upstream	*upstream_get(const struct upstream_conf *);
const struct upstream_conf *upstream_conf_of(const struct upstream *);

/*
 * Connect to a server of u for a client (client: its address, as the
 * PROXY protocol gave it if it did; local: the address it came to).
 * 1: connected at once (no callback); 0: the callback comes once,
 * never from inside the call; -1: no timer could be armed (rare): no
 * callback, answer 502.
 */
int	 upstream_connect_start(struct upstream_connect *, struct upstream *,
	     const struct sockaddr *, socklen_t,
	     const struct sockaddr *, socklen_t, upstream_cb, void *);
/* Another server not tried yet (the same one only for a dead reused
 * idle connection): 1, 0 as upstream_connect_start; -1: none left. */
int	 upstream_connect_retry(struct upstream_connect *);
/* Stop a connect in progress, or end the use of uc.fd: keep = 1 gives
 * it to the idle pool (HTTP, response read whole), else it is closed. */
void	 upstream_done(struct upstream_connect *, int);
/* A failure of the server after connecting (read error, timeout). */
void	 upstream_peer_failed(struct upstream_peer *);
/* A good exchange with it: its failure count starts again. */
void	 upstream_peer_ok(struct upstream_peer *);
/* "127.0.0.1:9000" or "unix:/run/app.sock". */
const char *upstream_peer_name(const struct upstream_peer *);

#endif
