/*
 * http_proxy.c: "proxy = NAME" in a location: the request goes to a
 * server of the upstream over HTTP/1.1 and its response comes back.
 *
 * The request is pending while it waits for the upstream. The upstream
 * socket has a libevent event of its own (its read_timeout while a
 * response is awaited, its send_timeout while the request cannot be
 * sent); the event wakes the request, and resume() does all the work
 * from the core's run, which also moves the client's bytes. Both bodies
 * stream with backpressure: the request body is taken from the client's
 * buffer only while little waits to go upstream, and the upstream is
 * read only while the client's output is below HTTP_OUT_HIGH; so memory
 * is bounded whatever the sizes.
 *
 * A connection that fails before any byte of a response (a kept one
 * the server closed meanwhile, or a server that died) is retried when
 * the request can be sent again: no body byte taken yet, or the whole
 * body still in the output buffer (a small one, which went out with the
 * head), and a kept connection or an idempotent method. After a 101 the two connections
 * are tunnelled (http_proxy_tunnel) until either side closes.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/log.h"
#include "http/http_handlers.h"
#include "http/http_proxy.h"

#define HTTP_PROXY_FREE_MAX	64	/* kept for reuse, per worker */
#define HTTP_PROXY_RECENT_MS	1000	/* pool_recent_ms: see init */

static struct http_proxy	*http_proxy_free_list;
static unsigned			 http_proxy_nfree;

static enum http_hres	http_proxy_exchange(struct http_proxy *);
static enum http_hres	http_proxy_tunnel(struct http_proxy *);

/* -- the proxy's state, reused ------------------------------------------ */

static struct http_proxy *
http_proxy_get(void)
{
	struct http_proxy	*p;

	if ((p = http_proxy_free_list) != NULL) {
		http_proxy_free_list = p->next_free;
		http_proxy_nfree--;
		return (p);
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	if ((p->in = malloc(HTTP_PROXY_IN)) == NULL) {
		free(p);
		return (NULL);
	}
	return (p);
}

/* Stop waiting on the upstream socket. */
static void
http_proxy_ev_clear(struct http_proxy *p)
{
	if (p->ev_set) {
		event_del(&p->ev);
		p->ev_set = 0;
	}
	p->ev_what = 0;
}

/* The request is over: the upstream connection kept or closed, the
 * state back to the free list. */
static void
http_proxy_release(struct http_proxy *p, int keep)
{
	http_proxy_ev_clear(p);
	upstream_done(&p->uc, keep);
	if (p->c->x->hdata == p)
		p->c->x->hdata = NULL;
	if (http_proxy_nfree >= HTTP_PROXY_FREE_MAX) {
		free(p->in);
		free(p->out);
		free(p);
		return;
	}
	if (p->out_cap > 4 * HTTP_PROXY_BODY_HIGH) {
		free(p->out);
		p->out = NULL;
		p->out_cap = 0;
	}
	p->next_free = http_proxy_free_list;
	http_proxy_free_list = p;
	http_proxy_nfree++;
}

/* -- events on the upstream socket -------------------------------------- */

static void
http_proxy_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_proxy	*p = arg;

	(void)fd;
	p->ev_set = 0;
	if (what & EV_TIMEOUT)
		p->timed_out = p->ev_timer;
	p->ev_what = 0;
	if (what & EV_READ)
		p->up.pi.rready = 1;
	if (what & EV_WRITE)
		p->up.pi.wready = 1;
	http_request_wake(p->c);
}

/* Wait for what the upstream socket must do next (what), with timer's
 * timeout: EV_WRITE send_timeout, EV_READ read_timeout, 0 none. The
 * timer starts again only when the wait changes or restart says so
 * (bytes moved the way it times). */
static void
http_proxy_ev_want(struct http_proxy *p, short what, short timer,
    int restart)
{
	const struct upstream_conf	*uc = p->conf;
	struct timeval			 tv = { uc->read_timeout, 0 };

	if (what == 0) {
		http_proxy_ev_clear(p);
		return;
	}
	if (p->ev_set && what == p->ev_what && timer == p->ev_timer &&
	    !restart)
		return;
	if (timer == EV_WRITE)
		tv.tv_sec = uc->send_timeout;
	if (p->ev_set)
		event_del(&p->ev);
	event_assign(&p->ev, http_request_base(p->c), p->uc.fd, what,
	    http_proxy_ev_cb, p);
	p->ev_set = event_add(&p->ev, timer != 0 ? &tv : NULL) == 0;
	p->ev_what = what;
	p->ev_timer = timer;
}

/* -- failures ------------------------------------------------------------ */

static const char *
http_proxy_peer(const struct http_proxy *p)
{
	return (p->uc.peer != NULL ? upstream_peer_name(p->uc.peer) : "-");
}

/* Answer status for a failure before the response began, or cut the
 * client off after (it sees a truncated body). */
static enum http_hres
http_proxy_fail(struct http_proxy *p, int status, const char *cause)
{
	struct http_conn	*c = p->c;

	int			 head_sent = p->head_sent;

	log_warnx("upstream %s: %s: %s %s: %s", p->conf->name,
	    http_proxy_peer(p), http_method_name(c->x->req.method),
	    head_sent ? "response cut off" : "failed", cause);
	http_proxy_release(p, 0);	/* p may be freed: not used after */
	/* The body ends short, or the client's is left unread: close
	 * (said in the error's head). */
	if (head_sent || !c->x->body_done)
		c->keep_alive = 0;
	if (!head_sent)
		http_response_error(c, status);
	return (HTTP_HANDLER_DONE);
}

/* A method whose request may be sent twice (RFC 9110 9.2.2). */
static int
http_proxy_idempotent(enum http_method m)
{
	return (m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD ||
	    m == HTTP_METHOD_OPTIONS || m == HTTP_METHOD_PUT ||
	    m == HTTP_METHOD_DELETE || m == HTTP_METHOD_TRACE);
}

/* May the request go on another connection? An idempotent one may; any
 * other only if no byte of it went out on this one (a POST the server
 * may have acted on is never sent twice: the client decides). */
static int
http_proxy_resendable(const struct http_proxy *p)
{
	return (http_proxy_idempotent(p->c->x->req.method) || !p->sent_any);
}

static void	http_proxy_connect_cb(struct upstream_connect *,
		    enum upstream_result);
static enum http_hres	http_proxy_connected(struct http_proxy *);

/*
 * The connection failed before any byte of a response: again on a new
 * connection (a kept one: the keep-alive race) or another server, if
 * the request can be sent again; else 502 (504 on a timeout).
 */
static enum http_hres
http_proxy_upstream_failed(struct http_proxy *p, const char *cause)
{
	static char		 buf[192];
	struct http_conn	*c = p->c;
	int			 timed_out = p->timed_out;
	int			 rc;

	p->cause = cause;
	if (p->got_byte || p->head_sent || timed_out || (p->body_taken &&
	    !(p->replayable && p->req_body_done)) ||
	    !http_proxy_resendable(p)) {
		if (!p->uc.reused || p->got_byte)
			upstream_peer_failed(p->uc.peer);
		if (!p->got_byte && !timed_out && !http_proxy_resendable(p)) {
			snprintf(buf, sizeof(buf), "%s (a %s is not sent twice)",
			    cause, http_method_name(c->x->req.method));
			cause = buf;
		}
		return (http_proxy_fail(p, timed_out ? 504 : 502, cause));
	}
	if (p->uc.reused)
		log_debug("upstream %s: %s: kept connection: %s, again",
		    p->conf->name, http_proxy_peer(p), cause);
	else {
		log_warnx("upstream %s: %s: %s, trying another server",
		    p->conf->name, http_proxy_peer(p), cause);
		upstream_peer_failed(p->uc.peer);
	}
	http_proxy_ev_clear(p);
	p->state = HTTP_PROXY_CONNECTING;
	p->result = 0;
	if ((rc = upstream_connect_retry(&p->uc)) == 1)
		return (http_proxy_connected(p));
	if (rc == 0)
		return (HTTP_HANDLER_PENDING);
	return (http_proxy_fail(p, 502, cause));
}

/* A system call's failure as the cause, in a static buffer. */
static const char *
http_proxy_errno(const char *what)
{
	static char	 buf[128];

	snprintf(buf, sizeof(buf), "%s: %s", what, strerror(errno));
	return (buf);
}

/* -- the request out ---------------------------------------------------- */

/* No Nagle from now on: a send that follows another of this exchange
 * (a body's next piece, a chunk's end, tunnelled bytes) must not wait
 * for the ACK of the one before. A request's first send needs none:
 * nothing of ours is unacknowledged then (the last response acked it),
 * so a small request costs no setsockopt. */
static void
http_proxy_nodelay(struct http_proxy *p)
{
	int	 one = 1;

	if (p->nodelay)
		return;
	p->nodelay = 1;
	(void)setsockopt(p->uc.fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
}

/* A piece of the request body into the output, framed: 1 taken, 0 none
 * to take now (or the core answers a bad body). */
static int
http_proxy_take_body(struct http_proxy *p)
{
	const char	*data;
	size_t		 len;
	char		 line[24];
	int		 n;

	switch (http_body_next(p->c, &data, &len)) {
	case HTTP_BODY_DATA:
		if (len > HTTP_PROXY_BODY_HIGH)
			len = HTTP_PROXY_BODY_HIGH;
		if (http_proxy_out_reserve(p, len + sizeof(line) + 2) == -1)
			return (0);
		if (p->req_chunked) {
			n = snprintf(line, sizeof(line), "%zx\r\n", len);
			memcpy(p->out + p->out_len, line, (size_t)n);
			p->out_len += (size_t)n;
		}
		memcpy(p->out + p->out_len, data, len);
		p->out_len += len;
		if (p->req_chunked) {
			memcpy(p->out + p->out_len, "\r\n", 2);
			p->out_len += 2;
		}
		http_body_consume(p->c, len);
		p->body_taken = 1;
		return (1);
	case HTTP_BODY_END:
		if (p->req_chunked && http_proxy_out_reserve(p, 5) == 0) {
			memcpy(p->out + p->out_len, "0\r\n\r\n", 5);
			p->out_len += 5;
		}
		p->req_body_done = 1;
		return (1);
	default:
		return (0);
	}
}

/* Send the head and as much of the body as goes, the body's first
 * piece with the head (one send for a small request, which stays whole
 * in out[] for a retry): 0, -1 failed. */
static int
http_proxy_send(struct http_proxy *p, short *moved)
{
	ssize_t	 n;

	for (;;) {
		if (!p->req_body_done && !p->resp_done &&
		    p->out_len - p->out_sent < HTTP_PROXY_BODY_HIGH &&
		    http_proxy_take_body(p))
			continue;
		if (p->out_sent < p->out_len) {
			if (!p->up.pi.wready)
				return (0);
			if (p->sent_any)
				http_proxy_nodelay(p);
			n = conn_send(&p->up, p->out + p->out_sent,
			    p->out_len - p->out_sent, 0);
			if (n >= 0) {
				p->out_sent += (size_t)n;
				p->sent_any = 1;
				*moved |= EV_WRITE;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (0);
			p->cause = http_proxy_errno("send");
			return (-1);
		}
		return (0);
	}
}

/* -- the response in ---------------------------------------------------- */

/* The body bytes in the buffer, to the client. 0, or -1 a bad chunk. */
static int
http_proxy_pass_body(struct http_proxy *p)
{
	enum http_parse_result	 r;
	size_t			 avail, take, used;

	while (!p->resp_done && (avail = p->in_len - p->in_off) > 0) {
		if (p->framing == HTTP_PROXY_CHUNKED) {
			r = http_chunked_frame(&p->chunked, p->in + p->in_off,
			    avail, &used);
			p->in_off += used;
			avail -= used;
			if (r == HTTP_PARSE_ERROR)
				return (-1);
			if (r == HTTP_PARSE_DONE)
				p->resp_done = 1;
			take = (size_t)http_chunked_data_left(&p->chunked);
		} else if (p->framing == HTTP_PROXY_LENGTH)
			take = p->left;
		else
			take = avail;
		if (take > avail)
			take = avail;
		if (take == 0)
			continue;
		http_response_body(p->c, p->in + p->in_off, take);
		p->in_off += take;
		if (p->framing == HTTP_PROXY_CHUNKED)
			http_chunked_take(&p->chunked, take);
		else if (p->framing == HTTP_PROXY_LENGTH &&
		    (p->left -= take) == 0)
			p->resp_done = 1;
	}
	return (0);
}

/* A whole head came: 1 go on, 0 wait for another (after a 1xx), -1
 * bad (p->cause). */
static int
http_proxy_head_in(struct http_proxy *p)
{
	int	 rc;

	for (;;) {
		if ((rc = http_proxy_resp_parse(p)) != 1)
			return (rc);
		if (p->resp.status == 101) {
			if (!p->upgrade || !p->resp.conn_upgrade) {
				p->cause = "a 101 the client did not ask for";
				return (-1);
			}
			http_proxy_resp_send_101(p);
			http_proxy_nodelay(p);
			p->state = HTTP_PROXY_TUNNEL;
			return (1);
		}
		if (p->resp.status >= 200)
			break;
		/* 100 Continue (the core sent its own to a client that
		 * asked), 102, 103: interim, not passed on; the final head
		 * follows on the same connection. */
	}
	/* A response before the whole body came: the rest of the body is
	 * not read, so the client must be told this connection ends. */
	if (!p->c->x->body_done)
		p->c->keep_alive = 0;
	http_proxy_resp_send(p);
	return (1);
}

/* What the read brought: 0 go on, -1 failed (p->cause). */
static int
http_proxy_process_in(struct http_proxy *p)
{
	int	 rc;

	if (!p->head_sent) {
		if ((rc = http_proxy_head_in(p)) <= 0) {
			if (rc == 0 && p->up_eof)
				p->cause = "closed before a whole response head";
			return (rc == -1 || p->up_eof ? -1 : 0);
		}
		if (p->state == HTTP_PROXY_TUNNEL)
			return (0);
	}
	if (http_proxy_pass_body(p) == -1) {
		p->cause = "a bad chunk in the response body";
		return (-1);
	}
	if (p->up_eof && !p->resp_done) {
		if (p->framing != HTTP_PROXY_CLOSE) {
			p->cause = "closed before the end of the body";
			return (-1);
		}
		p->resp_done = 1;
	}
	return (0);
}

/* Read from the upstream while the client can take more: 1 read, 0
 * nothing to read now, -1 failed (p->cause). */
static int
http_proxy_recv(struct http_proxy *p)
{
	ssize_t	 n;

	if (p->in_off == p->in_len && (p->head_sent || p->in_off > 0))
		p->in_off = p->in_len = p->head_scan = 0;
	else if (p->in_off > 0 && p->in_len == HTTP_PROXY_IN) {
		memmove(p->in, p->in + p->in_off, p->in_len - p->in_off);
		p->in_len -= p->in_off;
		p->head_scan -= p->in_off;
		p->in_off = 0;
	}
	if (!p->up.pi.rready || p->in_len == HTTP_PROXY_IN)
		return (0);
	n = conn_recv(&p->up, p->in + p->in_len, HTTP_PROXY_IN - p->in_len);
	if (n > 0) {
		p->in_len += (size_t)n;
		p->got_byte = 1;
		return (1);
	}
	if (n == 0) {
		p->up_eof = 1;
		p->up.pi.rready = 0;
		return (1);
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return (0);
	p->cause = http_proxy_errno("recv");
	return (-1);
}

/* The request went out whole: what is left is the upstream's answer. */
static int
http_proxy_sent_all(const struct http_proxy *p)
{
	return (p->req_body_done && p->out_sent == p->out_len);
}

/* The final response is in whole: keep the connection if it can serve
 * another request (the request out whole, nothing past the response). */
static enum http_hres
http_proxy_finish(struct http_proxy *p)
{
	struct http_proxy_resp	*r = &p->resp;
	int			 keep;

	keep = p->framing != HTTP_PROXY_CLOSE && !r->conn_close &&
	    (r->version == 11 || r->conn_keep) && http_proxy_sent_all(p) &&
	    p->in_off == p->in_len && !p->up_eof;
	http_response_body_end(p->c);
	upstream_peer_ok(p->uc.peer);
	http_proxy_release(p, keep);
	return (HTTP_HANDLER_DONE);
}

/* Request out, response in, as far as both can go now. */
static enum http_hres
http_proxy_exchange(struct http_proxy *p)
{
	short	 moved = 0, want = 0, timer;
	int	 rc;

	if (p->timed_out)
		return (http_proxy_upstream_failed(p, p->timed_out == EV_WRITE
		    ? "send timed out" : "read timed out"));
	for (;;) {
		if (http_proxy_send(p, &moved) == -1)
			return (http_proxy_upstream_failed(p, p->cause));
		if (http_response_pending(p->c) >= HTTP_OUT_HIGH)
			break;	/* resume() comes when it drained */
		if ((rc = http_proxy_recv(p)) == -1)
			return (http_proxy_upstream_failed(p, p->cause));
		if (rc == 0)
			break;
		moved |= EV_READ;
		if (http_proxy_process_in(p) == -1)
			return (http_proxy_upstream_failed(p, p->cause));
		if (p->state == HTTP_PROXY_TUNNEL)
			return (http_proxy_tunnel(p));
		if (p->resp_done && p->head_sent)
			return (http_proxy_finish(p));
	}
	if (p->out_sent < p->out_len && !p->up.pi.wready) {
		want |= EV_WRITE;
		p->c->x->body_wanted = 0;	/* the upstream owes, not the
						 * client: send_timeout counts */
	}
	if (!p->up.pi.rready && http_response_pending(p->c) < HTTP_OUT_HIGH)
		want |= EV_READ;
	/* read_timeout only once the request is out whole (a slow upload
	 * is no slow server); while it goes, send_timeout between writes,
	 * and the client's body_timeout while its body is awaited. */
	if (http_proxy_sent_all(p))
		timer = want & EV_READ;
	else
		timer = want & EV_WRITE;
	http_proxy_ev_want(p, want, timer, (moved & timer) != 0);
	return (HTTP_HANDLER_PENDING);
}

/* -- the tunnel after a 101 --------------------------------------------- */

/* The client's bytes to the upstream: 0, -1 failed. */
static int
http_proxy_tunnel_out(struct http_proxy *p, short *moved)
{
	const char	*data;
	size_t		 len;
	ssize_t		 n;

	while (p->up.pi.wready &&
	    (len = http_request_raw(p->c, &data)) > 0) {
		n = conn_send(&p->up, data, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (0);
			p->cause = http_proxy_errno("send");
			return (-1);
		}
		http_request_raw_consume(p->c, (size_t)n);
		*moved |= EV_WRITE;
	}
	return (0);
}

/* Bytes both ways until either side closes or it idles read_timeout. */
static enum http_hres
http_proxy_tunnel(struct http_proxy *p)
{
	const char	*data;
	short		 moved = 0, want = 0;
	int		 rc;

	if (p->timed_out)
		return (http_proxy_fail(p, 504, "tunnel idle"));
	for (;;) {
		if (http_proxy_tunnel_out(p, &moved) == -1)
			return (http_proxy_fail(p, 502, p->cause));
		if (p->in_off < p->in_len) {
			http_response_body(p->c, p->in + p->in_off,
			    p->in_len - p->in_off);
			p->in_off = p->in_len;
		}
		if (p->up_eof) {	/* the upstream ended it */
			p->c->keep_alive = 0;
			http_proxy_release(p, 0);
			return (HTTP_HANDLER_DONE);
		}
		if (http_response_pending(p->c) >= HTTP_OUT_HIGH ||
		    (rc = http_proxy_recv(p)) == 0)
			break;
		if (rc == -1)
			return (http_proxy_fail(p, 502, p->cause));
		moved |= EV_READ;
	}
	if (http_request_raw(p->c, &data) > 0 && !p->up.pi.wready)
		want |= EV_WRITE;
	if (!p->up.pi.rready && http_response_pending(p->c) < HTTP_OUT_HIGH)
		want |= EV_READ;
	/* Idle is neither way: any byte restarts the timer. */
	http_proxy_ev_want(p, want, EV_READ, moved != 0);
	return (HTTP_HANDLER_PENDING);
}

/* -- the handler --------------------------------------------------------- */

/* Connected: the head goes out with the body's first bytes. */
static enum http_hres
http_proxy_connected(struct http_proxy *p)
{
	p->state = HTTP_PROXY_EXCHANGE;
	conn_socket_init(&p->up, p->uc.fd);
	p->nodelay = 0;		/* on a kept one perhaps; set again if need be */
	p->up.pi.wready = 1;
	p->in_len = p->in_off = p->head_scan = 0;
	p->got_byte = p->up_eof = p->timed_out = 0;
	/* A PROXY header went out first (upstream_connect): the head is a
	 * second send, which Nagle would hold for the header's ACK. */
	p->sent_any = !p->uc.reused && p->conf->proxy_protocol != 0;
	if (p->body_taken)	/* a retry: all of it is still in out[] */
		p->out_sent = 0;
	else {
		p->req_body_done = 0;	/* its end is framed again */
		if (http_proxy_head_build(p) == -1)
			return (http_proxy_fail(p, 502, "out of memory"));
	}
	return (http_proxy_exchange(p));
}

static void
http_proxy_connect_cb(struct upstream_connect *uc, enum upstream_result r)
{
	struct http_proxy	*p = uc->arg;

	p->result = r == UPSTREAM_OK ? 1 : (int)r;
	http_request_wake(p->c);
}

/* Why no connection could be had, for the log. */
static const char *
http_proxy_verdict(const struct http_proxy *p)
{
	if (p->uc.cause[0] != '\0' && p->result != UPSTREAM_E503)
		return (p->uc.cause);
	switch (p->result) {
	case UPSTREAM_E503:
		return (p->conf->retry_wait > 0 ? "every server is down, "
		    "retry_wait ran out" : "every server is down");
	case UPSTREAM_E504:
		return ("connect timed out");
	default:
		return ("no connection");
	}
}

static enum http_hres
http_proxy_resume(struct http_conn *c)
{
	struct http_proxy	*p = c->x->hdata;

	switch (p->state) {
	case HTTP_PROXY_CONNECTING:
		if (p->result == 0)
			return (HTTP_HANDLER_PENDING);
		if (p->result != 1)
			return (http_proxy_fail(p, p->result,
			    http_proxy_verdict(p)));
		return (http_proxy_connected(p));
	case HTTP_PROXY_EXCHANGE:
		return (http_proxy_exchange(p));
	case HTTP_PROXY_TUNNEL:
	default:
		return (http_proxy_tunnel(p));
	}
}

/* The address the client came to: only for source = listen and the
 * PROXY header, so a plain proxy makes no getsockname() a request. */
static socklen_t
http_proxy_local(struct http_proxy *p, struct sockaddr_storage *ss)
{
	socklen_t	 len = sizeof(*ss);

	if (p->conf->source != SOURCE_LISTEN && p->conf->proxy_protocol == 0)
		return (0);
	if (getsockname(p->c->io.pi.fd, (struct sockaddr *)ss, &len) == -1)
		return (0);
	return (len);
}

static void
http_proxy_init(struct http_proxy *p, struct http_conn *c,
    const struct location_conf *lc)
{
	p->c = c;
	p->conf = lc->proxy;
	p->state = HTTP_PROXY_CONNECTING;
	p->ev_set = 0;
	p->ev_what = p->ev_timer = 0;
	p->result = 0;
	p->timed_out = 0;
	p->cause = NULL;
	p->out_len = p->out_sent = 0;
	p->req_body_done = p->body_taken = p->upgrade = p->replayable = 0;
	p->in_len = p->in_off = p->head_scan = 0;
	p->got_byte = p->head_sent = p->up_eof = p->resp_done = 0;
	p->uc.dgram = 0;
	p->uc.no_pool = 0;
	/* A request that got no response byte may go to a server that had
	 * it once more (the only server, restarting), if it may be sent
	 * twice: an idempotent method, no body byte taken (checked before
	 * any retry). */
	p->uc.resend_ok = http_proxy_idempotent(c->x->req.method);
	/* One that may not be sent twice takes only a kept connection used
	 * within the last second: the server is unlikely to close it just
	 * as the request comes (the race of keep-alive). */
	p->uc.pool_recent_ms = p->uc.resend_ok ? 0 : HTTP_PROXY_RECENT_MS;
}

static enum http_hres
http_proxy_start(struct http_conn *c, const struct location_conf *lc,
    const char *path, size_t len)
{
	struct http_proxy	*p;
	struct upstream		*u = upstream_get(lc->proxy);
	struct sockaddr_storage	 local;
	socklen_t		 locallen, peerlen;
	int			 rc;

	(void)path;
	(void)len;
	if (u == NULL || (p = http_proxy_get()) == NULL) {
		log_warnx("location %s: no memory to proxy a request",
		    lc->prefix);
		http_response_error(c, 503);
		return (HTTP_HANDLER_DONE);
	}
	http_proxy_init(p, c, lc);
	c->x->hdata = p;
	locallen = http_proxy_local(p, &local);
	peerlen = c->peer.sa.sa_family == AF_INET6 ?
	    sizeof(c->peer.sin6) : sizeof(c->peer.sin);
	rc = upstream_connect_start(&p->uc, u, &c->peer.sa, peerlen,
	    locallen ? (struct sockaddr *)&local : NULL, locallen,
	    http_proxy_connect_cb, p);
	if (rc == 1)
		return (http_proxy_connected(p));
	if (rc == -1)		/* no callback will come */
		return (http_proxy_fail(p, 502, p->uc.cause[0] != '\0' ?
		    p->uc.cause : "no connection"));
	return (HTTP_HANDLER_PENDING);
}

/* The client went away, or the worker stops: the upstream connection
 * is closed (a response half read cannot be kept). */
static void
http_proxy_cancel(struct http_conn *c)
{
	struct http_proxy	*p = c->x->hdata;

	if (p != NULL)
		http_proxy_release(p, 0);
}

const struct http_handler http_proxy_handler = {
	.name = "proxy",
	.reads_body = 1,
	.any_method = 1,
	.start = http_proxy_start,
	.resume = http_proxy_resume,
	.cancel = http_proxy_cancel,
};
