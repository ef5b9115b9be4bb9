/*
 * http_conn.c: an HTTP connection from accept to close: its state
 * machine, reading and writing through its I/O operations (conn.h),
 * the lingering close, and the pool of per-request buffers.
 *
 * One struct http_conn per connection, moved between the states of enum
 * http_state by http_conn_set_state() only. Requests are parsed in place from
 * the connection's input buffer (http_parser.c); responses are assembled
 * in one output buffer (http_response.c) and sent with one send(),
 * followed by sendfile() for a large file body. The per-request state
 * and buffers (struct http_xchg) of idle connections go back to a
 * per-server pool, so a keep-alive connection between requests costs
 * only its struct http_conn, and the steady state allocates nothing.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "event/service.h"
#include "http/http_core.h"
#include "http/http_fcache.h"

#define HTTP_LINGER_READS	16	/* of 4 KiB per turn */
#define HTTP_IN_READ_MIN	2048	/* a body read, when there is room */

static const char *const http_state_names[HTTP_NSTATES] = {
	"read-head", "read-body", "handler", "write", "idle", "linger"
};

/* The one place a connection changes state. */
void
http_conn_set_state(struct http_conn *c, enum http_state s)
{
	if (s >= HTTP_NSTATES)
		fatalx("http: bad state %d", (int)s);
	if (c->state != s && log_wants(LOG_LEVEL_DEBUG))
		log_debug("http %s: %s -> %s", http_conn_peer(c),
		    http_state_names[c->state], http_state_names[s]);
	c->state = (uint8_t)s;
}

/* The peer's address, for logs (one static buffer). */
const char *
http_conn_peer(const struct http_conn *c)
{
	static char	 buf[INET6_ADDRSTRLEN];

	if (c->peer.sa.sa_family == AF_INET6)
		inet_ntop(AF_INET6, &c->peer.sin6.sin6_addr, buf, sizeof(buf));
	else if (c->peer.sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &c->peer.sin.sin_addr, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "-");
	return (buf);
}

/*
 * Wait for input, or for room to write (poller.c: edge-triggered, as
 * nginx does, with readiness flags). A read clears rready only when it
 * emptied the socket (EAGAIN, or fewer bytes than asked for and no FIN
 * seen), so a read that fills the buffer, or input that came while a
 * response was being written, or a FIN that came with the last bytes,
 * runs the connection again at once rather than waiting for an edge
 * that will not come. A write goes on until EAGAIN.
 */
void
http_conn_want_read(struct http_conn *c)
{
	poller_want_read(c->hs->poller, &c->io.pi);
}

void
http_conn_want_write(struct http_conn *c)
{
	poller_want_write(c->hs->poller, &c->io.pi);
}

static struct http_xchg *
http_conn_xchg_get(struct http_server *hs)
{
	struct http_xchg	*x;

	if ((x = hs->free_x) != NULL) {
		hs->free_x = x->next_free;
		hs->nfree_x--;
	} else {
		x = calloc(1, sizeof(*x) + hs->limits.max_headers *
		    sizeof(x->headers[0]));
		if (x == NULL)
			return (NULL);
		if ((x->in = malloc(HTTP_IN_DEFAULT)) == NULL) {
			free(x);
			return (NULL);
		}
		x->in_cap = HTTP_IN_DEFAULT;
	}
	x->in_len = x->in_off = x->req_base = 0;
	x->req_started = 0;
	x->out_len = x->out_sent = 0;
	x->out_chunked = 0;
	x->file_fd = -1;
	x->file = NULL;
	x->handler = NULL;
	x->hdata = NULL;
	x->pending = 0;
	x->status = 0;
	x->body_bytes = 0;
	return (x);
}

/* The file body is sent (or never will be): let its descriptor go. */
static void
http_conn_xchg_file_done(struct http_server *hs, struct http_xchg *x)
{
	if (x->file != NULL)
		fcache_release(hs->fcache, x->file);
	else if (x->file_fd != -1)
		close(x->file_fd);
	x->file = NULL;
	x->file_fd = -1;
}

void
http_conn_file_done(struct http_conn *c)
{
	http_conn_xchg_file_done(c->hs, c->x);
}

static void
http_conn_xchg_put(struct http_server *hs, struct http_xchg *x)
{
	http_conn_xchg_file_done(hs, x);
	if (x->in_cap != HTTP_IN_DEFAULT || x->out_cap > HTTP_OUT_KEEP ||
	    hs->nfree_x >= HTTP_POOL_MAX) {
		free(x->in);
		free(x->out);
		free(x);
		return;
	}
	x->next_free = hs->free_x;
	hs->free_x = x;
	hs->nfree_x++;
}

static int
http_conn_take_buffers(struct http_conn *c)
{
	if (c->x == NULL && (c->x = http_conn_xchg_get(c->hs)) == NULL)
		return (-1);
	return (0);
}

/* An idle connection with nothing buffered gives its exchange back. */
void
http_conn_release_buffers(struct http_conn *c)
{
	if (c->x != NULL) {
		http_conn_xchg_put(c->hs, c->x);
		c->x = NULL;
	}
}


/* The pool's exchanges, when the server stops. */
void
http_conn_free_pool(struct http_server *hs)
{
	struct http_xchg	*x;

	while ((x = hs->free_x) != NULL) {
		hs->free_x = x->next_free;
		free(x->in);
		free(x->out);
		free(x);
	}
	hs->nfree_x = 0;
}

/* -- I/O ---------------------------------------------------------------- */

/*
 * Make room at the end of the input buffer for a read: 1 room, 0 full
 * (a handler must take some of the body first), -1 out of memory. The
 * current request moves to the front (its spans are relative to
 * req_base, which moves too); a body's consumed bytes are given back;
 * the buffer grows to the limit. A body is read in pieces of at least
 * HTTP_IN_READ_MIN when the buffer can give that much: a head that ends
 * near the buffer's end must not leave room for a byte per recv().
 */
int
http_conn_in_room(struct http_conn *c)
{
	struct http_xchg	*x = c->x;
	uint32_t		 max = c->hs->limits.max_header_size + 4096;
	uint32_t		 want = 1, start, body;
	char			*p;

	if (c->state == HTTP_READ_BODY || c->state == HTTP_HANDLER)
		want = HTTP_IN_READ_MIN;
	if (x->in_cap - x->in_len >= want)
		return (1);
	start = x->req_started ? x->req_base : x->in_off;
	if (start > 0) {
		memmove(x->in, x->in + start, x->in_len - start);
		x->in_len -= start;
		x->in_off -= start;
		x->req_base = 0;
	}
	body = x->req_base + x->req.head_len;
	if (want > 1 && x->in_off > body) {
		memmove(x->in + body, x->in + x->in_off, x->in_len - x->in_off);
		x->in_len -= x->in_off - body;
		x->in_off = body;
	}
	if (x->in_cap - x->in_len >= want)
		return (1);
	if (x->in_cap < max) {
		if ((p = realloc(x->in, max)) == NULL)
			return (-1);
		x->in = p;
		x->in_cap = max;
	}
	return (x->in_len < x->in_cap);
}

/* Read once into the input buffer, making room first. */
enum http_io
http_conn_read(struct http_conn *c)
{
	struct http_xchg	*x;
	ssize_t			 n;

	if (http_conn_take_buffers(c) == -1)
		return (HTTP_IO_ERROR);
	x = c->x;
	if (http_conn_in_room(c) != 1)
		return (HTTP_IO_ERROR);	/* a head never fills it: limits */
	n = conn_recv(&c->io, x->in + x->in_len, x->in_cap - x->in_len);
	if (n > 0) {
		x->in_len += (uint32_t)n;
		STATS_ADD(c->hs->sv->st, bytes_in, (uint64_t)n);
		return (HTTP_IO_DONE);
	}
	if (n == 0)
		return (HTTP_IO_EOF);
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return (HTTP_IO_AGAIN);
	if (errno == EINTR)
		return (HTTP_IO_AGAIN);	/* rready kept: posted again */
	return (HTTP_IO_ERROR);
}

static enum http_io
http_conn_write_errno(void)
{
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return (HTTP_IO_ERROR);
	return (HTTP_IO_AGAIN);		/* wready is cleared */
}

/* Send queued output, then the file body. */
enum http_io
http_conn_write(struct http_conn *c)
{
	struct http_xchg	*x = c->x;
	ssize_t	 n;
	size_t	 chunk;

	if (!c->io.pi.wready)
		return (HTTP_IO_AGAIN);
	while (x->out_sent < x->out_len) {
		n = conn_send(&c->io, x->out + x->out_sent,
		    x->out_len - x->out_sent, x->file_fd != -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (http_conn_write_errno());
		}
		x->out_sent += (size_t)n;
		STATS_ADD(c->hs->sv->st, bytes_out, (uint64_t)n);
	}
	x->out_len = x->out_sent = 0;
	while (x->file_fd != -1 && x->file_off < x->file_end) {
		chunk = (size_t)(x->file_end - x->file_off);
		if (chunk > (1U << 30))
			chunk = 1U << 30;
		n = conn_sendfile(&c->io, x->file_fd, &x->file_off, chunk);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (http_conn_write_errno());
		}
		if (n == 0)
			return (HTTP_IO_ERROR);	/* the file shrank */
		STATS_ADD(c->hs->sv->st, bytes_out, (uint64_t)n);
	}
	if (x->file_fd != -1) {
		http_conn_file_done(c);
		http_log_request(c);
	}
	return (HTTP_IO_DONE);
}

/* -- the state machine -------------------------------------------------- */

/* Half-close, then read until the client closes (RFC 9112 9.6). */
static void
http_conn_linger(struct http_conn *c)
{
	if (conn_shutdown(&c->io) == -1) {
		http_conn_close(c, "shutdown failed");
		return;
	}
	http_conn_set_state(c, HTTP_LINGER);
	http_timeout(c, HTTP_TQ_LINGER);
	http_conn_want_read(c);
}

/*
 * The last response is sent. Close at once when the client has nothing
 * more to send (it asked to close and all it sent is read), as nginx
 * does; else half-close and read what still comes, so that our close
 * does not turn into a reset that destroys the response in flight.
 * Unread bytes are a full buffer, or input that came while the response
 * was being written (rready): closing with them unread sends a reset.
 */
static void
http_conn_close_sent(struct http_conn *c)
{
	if (!c->linger && !c->io.pi.rready && (c->x == NULL ||
	    (c->x->in_off == c->x->in_len && c->x->in_len < c->x->in_cap)))
		http_conn_close(c, "done");
	else
		http_conn_linger(c);
}

/* Nothing to do until the client sends more. */
static void
http_conn_go_idle(struct http_conn *c)
{
	struct http_server	*hs = c->hs;

	http_conn_want_read(c);
	if (c->x == NULL || c->x->in_off == c->x->in_len) {
		http_conn_release_buffers(c);
		if (hs->draining)
			http_handover_idle(c, http_timeout_now() +
			    hs->tq_ms[HTTP_TQ_KEEPALIVE]);
		else
			http_timeout(c, HTTP_TQ_KEEPALIVE);
	}
}

/*
 * Send what is queued: 1 all of it is out, 0 the client must read first
 * (we wait for room, and the send timeout counts from now whether this
 * made progress or not), -1 the connection is closed.
 */
static int
http_conn_flush(struct http_conn *c)
{
	enum http_io	 io;

	io = http_conn_write(c);
	if (io == HTTP_IO_AGAIN) {
		http_conn_want_write(c);
		http_timeout(c, HTTP_TQ_SEND);
		return (0);
	}
	if (io != HTTP_IO_DONE) {
		http_conn_close(c, "write error");
		return (-1);
	}
	return (1);
}

/* The write state: 1 when the response is out and the next may come. */
static int
http_conn_process_write(struct http_conn *c)
{
	if (http_conn_flush(c) != 1)
		return (0);
	if (c->closing) {
		http_conn_close_sent(c);
		return (0);
	}
	http_conn_set_state(c, HTTP_IDLE);
	return (1);
}

/* A body the handler does not read: 1 when it is past, 0 wait for more. */
static int
http_conn_process_discard(struct http_conn *c)
{
	int	 rc;

	if ((rc = http_body_discard(c)) == 0)
		return (0);
	if (rc == -1) {
		http_response_error(c, c->x->body_error);
		http_request_done(c);
	} else
		http_request_body_done(c);
	return (1);
}

/* Parse what is buffered: 1 when a head was handled, 0 wait for more. */
static int
http_conn_process_head(struct http_conn *c)
{
	struct http_xchg	*x = c->x;
	enum http_parse_result	 r;

	if (x == NULL || x->in_off == x->in_len)
		return (0);
	if (!x->req_started)
		http_request_start(c);
	r = http_parse_request(&x->parser, &x->req, x->in + x->in_off,
	    x->in_len - x->in_off);
	if (r == HTTP_PARSE_AGAIN)
		return (0);
	if (r == HTTP_PARSE_ERROR) {
		x->in_off = x->in_len;	/* unusable now */
		http_response_error(c, x->parser.error_status ?
		    x->parser.error_status : 400);
		http_request_done(c);
		return (1);
	}
	http_request_head_done(c);
	return (1);
}

/* All that can be done is done: send what is queued, wait for input. */
static void
http_conn_wait_input(struct http_conn *c)
{
	/* Pipelined responses and 100 Continue go out before we wait; a
	 * client that reads slowly gets nothing more read from it until
	 * what is queued has gone (http_conn_ready). */
	if (c->x != NULL && c->x->out_len > c->x->out_sent &&
	    http_conn_flush(c) != 1)
		return;
	if (c->state == HTTP_IDLE && (c->x == NULL || !c->x->req_started))
		http_conn_go_idle(c);
	else
		http_conn_want_read(c);
}

/* Run the connection as far as it can go without blocking. */
void
http_conn_process(struct http_conn *c)
{
	for (;;) {
		switch (c->state) {
		case HTTP_WRITE:
			if (!http_conn_process_write(c))
				return;
			break;
		case HTTP_READ_BODY:
			if (!http_conn_process_discard(c)) {
				http_conn_wait_input(c);
				return;
			}
			break;
		case HTTP_HANDLER:
			if (!http_request_run(c))
				return;
			break;
		case HTTP_IDLE:
		case HTTP_READ_HEAD:
			if (!http_conn_process_head(c)) {
				http_conn_wait_input(c);
				return;
			}
			break;
		case HTTP_LINGER:
		default:
			return;
		}
	}
}

/* A request timed out before its response: 408, then close. */
static void
http_conn_request_timeout(struct http_conn *c)
{
	c->keep_alive = 0;
	c->x->in_off = c->x->in_len;
	http_response_error(c, 408);
	http_log_request(c);
	c->closing = 1;
	c->x->req_started = 0;
	http_conn_set_state(c, HTTP_WRITE);
	http_conn_process(c);
}

void
http_conn_timeout(struct http_conn *c)
{
	switch (c->state) {
	case HTTP_HANDLER:
		if (c->tq == HTTP_TQ_SEND) {
			http_conn_close(c, "send timeout");
			return;
		}
		if (c->x->status != 0)		/* the response has begun */
			http_request_abandoned(c);
		http_request_cancel(c, "timeout");
		if (c->x->status != 0) {
			http_conn_close(c, "body timeout");
			return;
		}
		http_conn_request_timeout(c);
		return;
	case HTTP_READ_HEAD:
	case HTTP_READ_BODY:
		if (!c->x->req_started)
			break;
		http_conn_request_timeout(c);
		return;
	case HTTP_WRITE:
		http_conn_close(c, "send timeout");
		return;
	case HTTP_IDLE:
		if (c->x != NULL && c->x->out_len > c->x->out_sent) {
			http_conn_close(c, "send timeout");
			return;
		}
		/* Nothing of a next request is read: close() now, and
		 * one that comes meets a reset (http_handover.c). */
		if (c->tq == HTTP_TQ_DRAIN) {
			STATS_ADD(c->hs->sv->st, drain_closed, 1);
			http_conn_close(c, "drain: not handed over");
			return;
		}
		http_conn_close(c, "keep-alive timeout");
		return;
	default:
		break;
	}
	http_conn_close(c, "timeout");
}

/* epoll_ctl failed (ENOMEM, or ENOSPC: fs.epoll.max_user_watches). */
static void
http_conn_poll_failed(struct http_conn *c)
{
	static time_t	 last;
	time_t		 now = time(NULL);

	if (now != last) {	/* at most once a second */
		last = now;
		log_warnx("server %s: connection from %s closed: epoll: %s",
		    c->hs->conf->name, http_conn_peer(c),
		    strerror(c->io.pi.error));
	}
	http_conn_close(c, "epoll failed");
}

/* The lingering close: read and drop until the client's FIN, a bounded
 * amount per turn (a client that keeps sending must not hold the loop,
 * nor the linger timeout from firing). */
static void
http_conn_linger_read(struct http_conn *c)
{
	char		 sink[4096];
	ssize_t		 n;
	int		 i;

	for (i = 0; i < HTTP_LINGER_READS; i++) {
		if ((n = conn_recv(&c->io, sink, sizeof(sink))) <= 0)
			break;
		/* read, not served */
		STATS_ADD(c->hs->sv->st, bytes_in, (uint64_t)n);
	}
	if (i == HTTP_LINGER_READS || (n == -1 && errno == EINTR))
		poller_post(c->hs->poller, &c->io.pi);
	else if (n == 0 || errno != EAGAIN)
		http_conn_close(c, "closed");
}

/* Queued output (pipelined responses) waits for room before we read. */
static void
http_conn_ready_output(struct http_conn *c)
{
	if (http_conn_flush(c) != 1)
		return;
	if (c->x->req_started)
		http_timeout(c, c->state == HTTP_READ_BODY ? HTTP_TQ_BODY :
		    HTTP_TQ_HEADER);
	http_conn_process(c);
}

/* Input has come: read it and go on. */
static void
http_conn_ready_input(struct http_conn *c)
{
	enum http_io	 io;

	io = http_conn_read(c);
	if (io == HTTP_IO_EOF) {
		if (c->x->req_started && c->x->in_off < c->x->in_len)
			http_conn_close(c, "client closed mid-request");
		else
			http_conn_close(c, "client closed");
		return;
	}
	if (io == HTTP_IO_ERROR) {
		http_conn_close(c, "read error");
		return;
	}
	if (io == HTTP_IO_AGAIN) {
		if (c->state == HTTP_IDLE && c->x->in_len == 0)
			http_conn_release_buffers(c);
		http_conn_want_read(c);	/* first read at accept: add it */
		return;
	}
	if (c->state == HTTP_READ_BODY)		/* time between reads */
		http_timeout(c, HTTP_TQ_BODY);
	/* If the buffer filled, rready is still set and waiting for input
	 * posts the connection again (http_conn_want_read). */
	http_conn_process(c);
}

/* An edge came for the connection, or it was posted: do what can be
 * done with the readiness it has. */
void
http_conn_ready(struct poller_item *it, void *arg)
{
	struct http_conn	*c = POLLER_OWNER(it, struct http_conn, io.pi);

	(void)arg;
	if (it->error != 0) {
		http_conn_poll_failed(c);
		return;
	}
	switch (c->state) {
	case HTTP_LINGER:
		if (it->rready)
			http_conn_linger_read(c);
		return;
	case HTTP_WRITE:
		if (it->wready)
			http_conn_process(c);
		return;
	case HTTP_HANDLER:
		http_conn_process(c);
		return;
	default:
		break;
	}
	if (c->x != NULL && c->x->out_len > c->x->out_sent) {
		if (it->wready)
			http_conn_ready_output(c);
		return;
	}
	if (it->rready)
		http_conn_ready_input(c);
}

/* -- connections -------------------------------------------------------- */

/* The one place a connection ends; a pending handler is told first. */
void
http_conn_close(struct http_conn *c, const char *why)
{
	struct http_server	*hs = c->hs;

	if (log_wants(LOG_LEVEL_DEBUG))
		log_debug("http %s: closed: %s", http_conn_peer(c), why);
	http_request_abandoned(c);
	http_request_cancel(c, why);
	conn_close(&c->io, hs->poller);
	http_conn_release_buffers(c);
	TAILQ_REMOVE(&hs->tq[c->tq], c, tq_entry);
	free(c);
	service_conn_closed(hs->sv);
}

/* TCP_NODELAY once, when a connection is kept alive. */
void
http_conn_nodelay(struct http_conn *c)
{
	int	 one = 1;

	if (c->nodelay)
		return;
	(void)setsockopt(c->io.pi.fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	c->nodelay = 1;
}

void
http_conn_accept(struct wserver *sv, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct http_server	*hs = sv->svc_data;
	struct http_conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("server %s: out of memory: connection refused",
		    sv->conf->name);
		close(fd);
		return;
	}
	c->hs = hs;
	conn_socket_init(&c->io, fd);
	c->state = HTTP_IDLE;
	if (salen > sizeof(c->peer))
		salen = sizeof(c->peer);
	memcpy(&c->peer, sa, salen);
	c->fresh = 1;
	c->tq = HTTP_TQ_HEADER;
	TAILQ_INSERT_TAIL(&hs->tq[c->tq], c, tq_entry);
	service_conn_opened(sv);
	/* Until the first byte: the header timeout, not keep-alive's. */
	http_timeout(c, HTTP_TQ_HEADER);
	/*
	 * With defer_accept the request is there already: read it now,
	 * without adding the connection to epoll first, so one answered
	 * with Connection: close never is. Without, it has usually not
	 * arrived yet (measured: reading at once costs a wasted recv).
	 */
	if (sv->conf->defer_accept) {
		c->io.pi.rready = 1;
		http_conn_ready(&c->io.pi, hs);
	} else
		http_conn_want_read(c);
}
