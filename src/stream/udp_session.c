/*
 * udp_session.c: udp_proxy's sessions, one per client (udp_proxy.h):
 * the table that finds a client's session, opening one (a connected
 * upstream socket, counted as a connection of the server), and every
 * way one ends: idle_timeout without traffic, udp_responses replies
 * for each datagram sent, the upstream refusing (an ICMP error on the
 * connected socket), and the drain of an old worker.
 *
 * Idle sessions are found without a timer each: sessions sit in a list
 * ordered by their last traffic (a datagram moves its session to the
 * end), so one timer per server, set for the oldest session's end,
 * closes what ran out and is set again for the next oldest.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/addr.h"
#include "core/clock.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "event/service.h"
#include "stream/udp_proxy.h"

#define UDP_SESSION_BUCKETS_MIN	64
#define UDP_SESSION_BUCKETS_MAX	65536

static void	udp_session_idle_cb(evutil_socket_t, short, void *);
static void	udp_session_grace_cb(evutil_socket_t, short, void *);

/* Buckets for the session limit (a power of two), and the timers. */
int
udp_session_table_init(struct udp_proxy *px, char *err, size_t errlen)
{
	uint32_t	 n = UDP_SESSION_BUCKETS_MIN;

	while (n < px->max_sessions && n < UDP_SESSION_BUCKETS_MAX)
		n <<= 1;
	if ((px->buckets = calloc(n, sizeof(*px->buckets))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	px->mask = n - 1;
	TAILQ_INIT(&px->lru);
	evtimer_assign(&px->idle_ev, px->sv->base, udp_session_idle_cb, px);
	evtimer_assign(&px->grace_ev, px->sv->base, udp_session_grace_cb, px);
	return (0);
}

/* Every session closed, the timers stopped. */
void
udp_session_table_free(struct udp_proxy *px)
{
	struct udp_session	*s;

	while ((s = TAILQ_FIRST(&px->lru)) != NULL)
		udp_session_close(s, "worker stopping");
	if (px->buckets != NULL) {
		evtimer_del(&px->idle_ev);
		evtimer_del(&px->grace_ev);
	}
	free(px->buckets);
	px->buckets = NULL;
}

/* FNV-1a over the key's bytes (the key is zeroed before it is set). */
static uint32_t
udp_session_hash(const struct udp_session_key *k)
{
	const unsigned char	*p = (const unsigned char *)k;
	uint32_t		 h = 2166136261u;
	size_t			 i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 16777619u;
	return (h);
}

/* d's key and hash from its sender (d->io.peer, len bytes) and the local
 * address it came to. Only what names the client counts: a v6 flow
 * label may change from one datagram to the next. */
void
udp_session_key_make(struct udp_proxy_dgram *d, socklen_t len,
    const struct udp_local *local)
{
	const struct sockaddr_in	*sin = (const void *)&d->io.peer;
	const struct sockaddr_in6	*sin6 = (const void *)&d->io.peer;
	struct udp_session_key		*k = &d->key;

	memset(k, 0, sizeof(*k));
	k->local = *local;
	if (d->io.peer.ss_family == AF_INET && len >= sizeof(*sin)) {
		k->family = AF_INET;
		k->port = sin->sin_port;
		memcpy(k->addr, &sin->sin_addr, sizeof(sin->sin_addr));
	} else if (d->io.peer.ss_family == AF_INET6 && len >= sizeof(*sin6)) {
		k->family = AF_INET6;
		k->port = sin6->sin6_port;
		k->scope = sin6->sin6_scope_id;
		memcpy(k->addr, &sin6->sin6_addr, sizeof(sin6->sin6_addr));
	}
	d->hash = udp_session_hash(k);
}

struct udp_session *
udp_session_find(struct udp_proxy *px, const struct udp_proxy_dgram *d)
{
	struct udp_session	*s;

	for (s = px->buckets[d->hash & px->mask]; s != NULL; s = s->hnext)
		if (s->hash == d->hash &&
		    memcmp(&s->key, &d->key, sizeof(d->key)) == 0)
			return (s);
	return (NULL);
}

/* The local address as a sockaddr, for upstream's source = listen. */
static socklen_t
udp_session_local(const struct udp_session *s, struct sockaddr_storage *ss)
{
	const struct udp_local	*l = &s->key.local;
	struct sockaddr_in	*sin = (void *)ss;
	struct sockaddr_in6	*sin6 = (void *)ss;
	in_port_t		 port;

	memset(ss, 0, sizeof(*ss));
	if (l->family == 0 || s->ls->name.ss_family != l->family) {
		memcpy(ss, &s->ls->name, s->ls->namelen);
		return (s->ls->namelen);
	}
	if (l->family == AF_INET) {
		port = ((const struct sockaddr_in *)(const void *)
		    &s->ls->name)->sin_port;
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		sin->sin_addr = l->addr.v4;
		return (sizeof(*sin));
	}
	port = ((const struct sockaddr_in6 *)(const void *)
	    &s->ls->name)->sin6_port;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = port;
	sin6->sin6_addr = l->addr.v6;
	sin6->sin6_scope_id = l->ifindex;
	return (sizeof(*sin6));
}

/* A connect that does not finish at once: never asked for (a session
 * that cannot connect at once is given up, udp_session_open()). */
static void
udp_session_connect_cb(struct upstream_connect *uc, enum upstream_result r)
{
	(void)uc;
	(void)r;
}

/* Log now and then (once a second per server) why datagrams are lost. */
void
udp_session_warn(struct udp_proxy *px, const char *what, const char *cause)
{
	time_t	 now = time(NULL);

	if (now == px->last_warn) {
		log_debug("server %s: %s: %s", px->sv->conf->name, what,
		    cause);
		return;
	}
	px->last_warn = now;
	log_warnx("server %s: %s: %s", px->sv->conf->name, what, cause);
}

/*
 * A session for the client of datagram d (len: its address length),
 * which came through ls; NULL when there is none to be had (counted:
 * the session limit, or no upstream server to connect to). A UDP
 * connect() only sets the destination, so it is done at once or not at
 * all: there is no waiting for retry_wait, which would only hold stale
 * datagrams that the client sends again anyway.
 */
struct udp_session *
udp_session_open(struct udp_proxy *px, const struct udp_proxy_dgram *d,
    socklen_t len, struct udp_proxy_sock *ls)
{
	struct wserver		*sv = px->sv;
	struct udp_session	*s;
	struct sockaddr_storage	 local;
	socklen_t		 locallen;
	int			 rc;

	if (sv->nconns >= px->max_sessions) {
		STATS_ADD(sv->st, dropped_session, 1);
		udp_session_warn(px, "datagram dropped", "the session limit "
		    "(max_connections) is reached");
		return (NULL);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		STATS_ADD(sv->st, dropped_session, 1);
		udp_session_warn(px, "datagram dropped", "out of memory");
		return (NULL);
	}
	s->px = px;
	s->key = d->key;
	s->hash = d->hash;
	s->ls = ls;
	memcpy(&s->client, &d->io.peer, len);
	s->clientlen = len;
	locallen = udp_session_local(s, &local);
	s->uc.dgram = 1;	/* kept by upstream_connect_start() */
	rc = upstream_connect_start(&s->uc, px->u,
	    (const struct sockaddr *)&s->client, len,
	    (const struct sockaddr *)&local, locallen,
	    udp_session_connect_cb, s);
	if (rc != 1) {
		STATS_ADD(sv->st, dropped_upstream, 1);
		udp_session_warn(px, "datagram dropped", s->uc.cause[0] ?
		    s->uc.cause : "no upstream server to send to");
		upstream_done(&s->uc, 0);	/* no callback comes */
		free(s);
		return (NULL);
	}
	poller_item_init(&s->pi, s->uc.fd);
	poller_want_read(px->poller, &s->pi);
	s->hnext = px->buckets[s->hash & px->mask];
	px->buckets[s->hash & px->mask] = s;
	s->last = clock_now_ms();
	TAILQ_INSERT_TAIL(&px->lru, s, lru);
	if (!evtimer_pending(&px->idle_ev, NULL))
		udp_session_idle_cb(-1, 0, px);	/* sets it */
	service_conn_opened(sv);
	if (log_wants(LOG_LEVEL_DEBUG)) {
		struct addr	 a;
		char		 peer[ADDR_STRLEN];

		memset(&a, 0, sizeof(a));
		memcpy(&a.ss, &s->client, len);
		a.len = len;
		addr_format(&a, peer, sizeof(peer));
		log_debug("server %s: session of %s to %s", sv->conf->name,
		    peer, upstream_peer_name(s->uc.peer));
	}
	return (s);
}

/* Traffic at now: the session's idle time starts again. */
void
udp_session_touch(struct udp_session *s, int64_t now)
{
	s->last = now;
	if (TAILQ_NEXT(s, lru) != NULL) {
		TAILQ_REMOVE(&s->px->lru, s, lru);
		TAILQ_INSERT_TAIL(&s->px->lru, s, lru);
	}
}

/*
 * With udp_responses: 1 and the replies still due in *due (each
 * datagram sent is owed that many). 0 without: any number may come.
 */
int
udp_session_due(const struct udp_session *s, uint64_t *due)
{
	uint64_t	 owed;
	int		 n = s->px->sv->conf->udp_responses;

	if (n <= 0)
		return (0);
	owed = s->requests * (uint64_t)n;
	*due = owed > s->replies ? owed - s->replies : 0;
	return (1);
}

/* The one place a session ends. */
void
udp_session_close(struct udp_session *s, const char *why)
{
	struct udp_proxy	*px = s->px;
	struct udp_session	**pp;

	log_debug("server %s: session closed (%llu datagrams, %llu replies): "
	    "%s", px->sv->conf->name, (unsigned long long)s->requests,
	    (unsigned long long)s->replies, why);
	for (pp = &px->buckets[s->hash & px->mask]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	TAILQ_REMOVE(&px->lru, s, lru);
	poller_forget(px->poller, &s->pi);
	upstream_done(&s->uc, 0);
	service_conn_closed(px->sv);
	free(s);
}

/*
 * The upstream refused (err: an ICMP error reported on the connected
 * socket, or a send that failed): lost datagrams counted, the server's
 * failure counted for passive health, and the session ends, so the
 * client's next datagram may go to another server.
 */
void
udp_session_upstream_failed(struct udp_session *s, int err, uint64_t lost)
{
	char	 why[160];

	STATS_ADD(s->px->sv->st, dropped_upstream, lost);
	upstream_peer_failed(s->uc.peer);
	snprintf(why, sizeof(why), "upstream %s: %s",
	    upstream_peer_name(s->uc.peer), strerror(err));
	udp_session_warn(s->px, "datagram lost", why);
	udp_session_close(s, why);
}

/* The oldest sessions ran out of idle_timeout; set for the next one. */
static void
udp_session_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_proxy	*px = arg;
	struct udp_session	*s;
	struct timeval		 tv;
	int64_t			 now = clock_now_ms(), left;

	(void)fd;
	(void)what;
	while ((s = TAILQ_FIRST(&px->lru)) != NULL &&
	    s->last + px->idle_ms <= now)
		udp_session_close(s, "idle timeout");
	if (s == NULL)
		return;
	left = s->last + px->idle_ms - now;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	evtimer_add(&px->idle_ev, &tv);
}

/* Drain's grace is over for the sessions whose dues are unknown; those
 * owed a counted reply keep their idle_timeout. */
static void
udp_session_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_proxy	*px = arg;
	struct udp_session	*s, *next;
	uint64_t		 due;

	(void)fd;
	(void)what;
	for (s = TAILQ_FIRST(&px->lru); s != NULL; s = next) {
		next = TAILQ_NEXT(s, lru);
		if (!udp_session_due(s, &due))
			udp_session_close(s, "drained");
	}
}

/*
 * The worker drains: no datagram of a client comes any more (the
 * listening sockets are its successor's to read), so what a session
 * still waits for is the replies to what it sent. With udp_responses
 * those are counted: a session owed none ends now, one owed some waits
 * for them as long as its idle_timeout allows (and the worker's
 * shutdown_timeout). Without, nothing says what is due: the session gets
 * UDP_PROXY_GRACE_MS (or its idle_timeout, if sooner), not idle_timeout
 * alone, since with a HUP every few seconds minutes-long sessions would
 * keep a worker per reload alive.
 */
void
udp_session_drain(struct udp_proxy *px)
{
	struct udp_session	*s, *next;
	struct timeval		 tv = { UDP_PROXY_GRACE_MS / 1000,
				    (UDP_PROXY_GRACE_MS % 1000) * 1000 };
	uint64_t		 due;

	px->draining = 1;
	for (s = TAILQ_FIRST(&px->lru); s != NULL; s = next) {
		next = TAILQ_NEXT(s, lru);
		if (udp_session_due(s, &due) && due == 0)
			udp_session_close(s, "drained: no reply due");
	}
	if (!TAILQ_EMPTY(&px->lru))
		evtimer_add(&px->grace_ev, &tv);
}
