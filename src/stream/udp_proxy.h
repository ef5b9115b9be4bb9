/*
 * udp_proxy.h: shared by udp_proxy.c (the service: datagrams both ways)
 * and udp_session.c (a session per client: its table, its upstream
 * socket, its end).
 *
 * A session is keyed by the client's address and port and the local
 * address its datagrams came to (two clients behind one wildcard
 * listener that wrote to different addresses are two sessions: each
 * reply must leave from the address its client wrote to). It owns a
 * connected upstream UDP socket, so the upstream sees one source port
 * per client while the session lives, and whatever comes back on that
 * socket is the client's.
 */
#ifndef DROVER_UDP_PROXY_H
#define DROVER_UDP_PROXY_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "event/poller.h"
#include "stream/udp.h"
#include "upstream/upstream.h"

#define UDP_PROXY_BATCH		64	/* datagrams per recvmmsg */
#define UDP_PROXY_BUF_SIZE	65536	/* > any UDP payload */
#define UDP_PROXY_TURN		4	/* batches per readable event */
#define UDP_PROXY_GRACE_MS	2000	/* drain: replies still due */

/* What tells two clients apart (compared and hashed as bytes). */
struct udp_session_key {
	uint8_t		 family;
	uint8_t		 pad;
	uint16_t	 port;		/* network order */
	uint32_t	 scope;
	uint8_t		 addr[16];
	struct udp_local local;		/* the address it wrote to */
};

/*
 * A listening socket the server read from. Replies leave from a
 * duplicate of our own: the worker closes its descriptor when it
 * drains, and the sessions of a draining worker still answer (the
 * socket itself lives on in the master and the successor).
 */
struct udp_proxy_sock {
	int			 fd;	/* the worker's (the key) */
	int			 own;	/* ours: replies go out from it */
	struct sockaddr_storage	 name;	/* as bound (its port) */
	socklen_t		 namelen;
};

struct udp_session {
	struct poller_item	 pi;	/* the upstream socket, uc.fd */
	struct upstream_connect	 uc;
	struct udp_proxy	*px;
	struct udp_session	*hnext;	/* in its hash bucket */
	TAILQ_ENTRY(udp_session) lru;	/* least recent traffic first */
	uint32_t		 hash;
	struct udp_session_key	 key;
	struct sockaddr_storage	 client;
	socklen_t		 clientlen;
	struct udp_proxy_sock	*ls;	/* replies leave from it */
	uint64_t		 requests;	/* datagrams sent upstream */
	uint64_t		 replies;	/* relayed to the client */
	int64_t			 last;	/* ms: the last datagram either way */
};
TAILQ_HEAD(udp_sessions, udp_session);

/* One received or relayed datagram's headers, and its session's key. */
struct udp_proxy_dgram {
	struct udp_dgram	 io;
	struct udp_session_key	 key;
	uint32_t		 hash;
};

struct udp_proxy {
	struct wserver		*sv;
	struct upstream		*u;
	struct poller		*poller;	/* the sessions' sockets */
	struct udp_session	**buckets;
	uint32_t		 mask;
	struct udp_sessions	 lru;
	struct event		 idle_ev;	/* the oldest session's end */
	struct event		 grace_ev;	/* drain: the last replies */
	int64_t			 idle_ms;
	size_t			 max_sessions;
	int			 draining;
	struct udp_proxy_sock	**socks;
	size_t			 nsocks;
	time_t			 last_warn;
	int			 rx_kind;	/* 0, 1 + named: rx's set-up */
	int			 rx_used;	/* headers recvmmsg changed */
	char			*bufs;	/* UDP_PROXY_BATCH payloads */
	struct udp_proxy_dgram	 d[UDP_PROXY_BATCH];
	struct mmsghdr		 rx[UDP_PROXY_BATCH];
	struct mmsghdr		 tx[UDP_PROXY_BATCH];
};

/* udp_session.c */
int	 udp_session_table_init(struct udp_proxy *, char *, size_t);
void	 udp_session_table_free(struct udp_proxy *);
void	 udp_session_key_make(struct udp_proxy_dgram *, socklen_t,
	     const struct udp_local *);
struct udp_session *udp_session_find(struct udp_proxy *,
	     const struct udp_proxy_dgram *);
struct udp_session *udp_session_open(struct udp_proxy *,
	     const struct udp_proxy_dgram *, socklen_t,
	     struct udp_proxy_sock *);
void	 udp_session_touch(struct udp_session *, int64_t);
int	 udp_session_due(const struct udp_session *, uint64_t *);
void	 udp_session_close(struct udp_session *, const char *);
void	 udp_session_upstream_failed(struct udp_session *, int, uint64_t);
void	 udp_session_drain(struct udp_proxy *);
void	 udp_session_warn(struct udp_proxy *, const char *, const char *);

/* udp_proxy.c */
void	 udp_proxy_ready(struct poller_item *, void *);

#endif
