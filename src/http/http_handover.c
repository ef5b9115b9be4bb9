/*
 * http_handover.c: idle connections of a draining worker go on to a
 * worker of the serving generation instead of being closed.
 *
 * RFC 9112 9.6: a server that closes an idle keep-alive connection races
 * with a client that may be sending its next request on it, and the
 * client cannot tell whether that request was processed. So a drain
 * closes nothing that is healthy: a connection that is idle (nothing
 * read, nothing to send, no request in flight: its exchange is given
 * back) is handed on with SCM_RIGHTS (process/handover.c), and what the
 * client sends meanwhile waits in the socket for the next worker. A
 * connection busy with a request is answered as usual, keep-alive and
 * all, and handed on once it is idle again.
 *
 * Only when it cannot be handed on (a stop, no serving generation, the
 * inbox full for the whole grace) is an idle connection closed, and then
 * only while nothing of a new request has been read: close() with input
 * unread, or arriving later, makes the kernel answer with a reset, which
 * the client sees as "not processed". A request that was read is always
 * answered. The same holds for the keep-alive timeout (http_conn.c).
 */
#include "autoconf.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "event/service.h"
#include "http/http_core.h"

#define HTTP_HANDOVER_BATCH	64	/* connections per turn of the loop */
#define HTTP_HANDOVER_RETRY_MS	10	/* the inbox is full: try again */

/* An idle connection's wait for its handover, or for the grace's end. */
void
http_handover_idle(struct http_conn *c, int64_t idle_deadline)
{
	struct http_server	*hs = c->hs;

	c->idle_deadline = idle_deadline;
	http_timeout(c, HTTP_TQ_DRAIN);
	if (hs->handover && hs->ev_handover != NULL &&
	    !evtimer_pending(hs->ev_handover, NULL))
		event_active(hs->ev_handover, EV_TIMEOUT, 1);
}

/* One connection to the inbox: 1 sent, 0 try later, -1 never. */
static int
http_handover_send(struct http_conn *c)
{
	struct http_server	*hs = c->hs;
	struct service_handoff	 h;
	size_t			 len;
	int			 fd;

	memset(&h, 0, sizeof(h));
	h.deadline = c->idle_deadline;
	h.fresh = c->fresh;
	h.nodelay = c->nodelay;
	len = c->peer.sa.sa_family == AF_INET6 ? sizeof(c->peer.sin6) :
	    sizeof(c->peer.sin);
	memcpy(&h.peer, &c->peer, len);
	h.peerlen = (uint16_t)len;
	if (service_handover(hs->sv, c->io.pi.fd, &h) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS || errno == ETOOMANYREFS ||
		    errno == EINTR)
			return (0);
		log_warn("server %s: handing connections on", hs->conf->name);
		return (-1);
	}
	/* The other worker has it: out of our poller, then our copy. */
	fd = conn_detach(&c->io, hs->poller);
	close(fd);
	STATS_ADD(hs->sv->st, handoff_out, 1);
	http_conn_close(c, "handed over");
	return (1);
}

/* The next batch of idle connections goes; the rest next turn. */
static void
http_handover_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server	*hs = arg;
	struct http_conn	*c, *next;
	struct timeval		 tv = { 0, 0 };
	int			 n = 0, rc = 1;

	(void)fd;
	(void)what;
	c = TAILQ_FIRST(&hs->tq[HTTP_TQ_DRAIN]);
	while (c != NULL) {
		next = TAILQ_NEXT(c, tq_entry);
		/* One reading a request comes back here once idle. */
		if (c->state == HTTP_IDLE && c->x != NULL &&
		    !c->x->req_started && c->x->in_off == c->x->in_len &&
		    c->x->out_len == c->x->out_sent)
			http_conn_release_buffers(c);
		if (c->state == HTTP_IDLE && c->x == NULL) {
			if (n++ == HTTP_HANDOVER_BATCH ||
			    (rc = http_handover_send(c)) != 1)
				break;
		}
		c = next;
	}
	if (rc == -1) {
		hs->handover = 0;	/* the grace closes the rest */
		return;
	}
	if (c == NULL)
		return;
	if (rc == 0)
		tv.tv_usec = HTTP_HANDOVER_RETRY_MS * 1000;
	evtimer_add(hs->ev_handover, &tv);
}

/* The drain begins: hand on what is idle now, the rest once idle. */
int
http_handover_start(struct http_server *hs)
{
	hs->handover = hs->sv->handover && hs->sv->svc->adopt != NULL;
	if (!hs->handover)
		return (0);
	hs->ev_handover = evtimer_new(hs->sv->base, http_handover_cb, hs);
	if (hs->ev_handover == NULL) {
		hs->handover = 0;
		return (-1);
	}
	return (0);
}

void
http_handover_free(struct http_server *hs)
{
	if (hs->ev_handover != NULL)
		event_free(hs->ev_handover);
	hs->ev_handover = NULL;
}

/* An idle connection handed to us: it goes on as one of ours. */
void
http_handover_adopt(struct wserver *sv, int fd, const struct service_handoff *h)
{
	struct http_server	*hs = sv->svc_data;
	struct http_conn	*c;
	int64_t			 limit;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("server %s: out of memory: a connection handed "
		    "over is closed", sv->conf->name);
		close(fd);	/* nothing of it was read */
		STATS_ADD(sv->st, drain_closed, 1);
		return;
	}
	c->hs = hs;
	conn_socket_adopt(&c->io, fd);
	c->state = HTTP_IDLE;
	memcpy(&c->peer, &h->peer, h->peerlen < sizeof(c->peer) ?
	    h->peerlen : sizeof(c->peer));
	c->fresh = h->fresh;
	c->nodelay = h->nodelay;
	c->tq = HTTP_TQ_HANDED;
	TAILQ_INSERT_TAIL(&hs->tq[c->tq], c, tq_entry);
	service_conn_opened(sv);
	STATS_ADD(sv->st, handoff_in, 1);
	/* Its idle time runs on, and not past what this config allows. */
	limit = http_timeout_now() + hs->tq_ms[h->fresh ? HTTP_TQ_HEADER :
	    HTTP_TQ_KEEPALIVE];
	if (hs->draining)
		http_handover_idle(c, h->deadline < limit ? h->deadline : limit);
	else
		http_timeout_until(c, HTTP_TQ_HANDED, h->deadline < limit ?
		    h->deadline : limit);
	/* The client may have sent its next request during the handover. */
	c->io.pi.rready = 1;
	http_conn_ready(&c->io.pi, hs);
}
