/*
 * http_request.c: a request's way from its parsed head to its response:
 * the location that serves it, the handler that answers it (now, or
 * later while the request is pending), and what follows the response.
 *
 * While a handler has the request (HTTP_HANDLER), http_request_run()
 * moves bytes for it: output out to the client, input in from the
 * client while the buffer has room (the body, or what a pipelining
 * client sends next, which waits its turn in the buffer), and calls its
 * resume(), until resume() says the response is complete. The client
 * closing or resetting the connection ends the request, as nginx does
 * for a request waiting on an upstream.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "event/service.h"
#include "http/http_core.h"
#include "http/http_path.h"

#define HTTP_HANDLER_ROUNDS	16	/* read/write/resume rounds a turn */
#define HTTP_MOVED_OUT		1
#define HTTP_MOVED_IN		2

/* Start parsing a new request at in_off. */
void
http_request_start(struct http_conn *c)
{
	struct http_xchg	*x = c->x;
	struct http_server	*hs = c->hs;

	if (x->in_off > 0 && x->in_off == x->in_len)
		x->in_off = x->in_len = 0;
	x->req_base = x->in_off;
	c->keep_alive = 0;
	c->closing = 0;
	c->linger = 1;
	http_parser_init(&x->parser, &hs->limits);
	http_request_init(&x->req, x->headers);
	x->req_started = 1;
	c->fresh = 0;
	x->status = 0;
	x->body_bytes = 0;
	x->out_chunked = 0;
	if (hs->alog != NULL)
		clock_gettime(CLOCK_MONOTONIC, &x->req_start);
	http_conn_set_state(c, HTTP_READ_HEAD);
	http_timeout(c, HTTP_TQ_HEADER);
}

/* A request's bytes (not NUL-terminated). */
const char *
http_request_str(const struct http_conn *c, struct http_span s)
{
	return (c->x->in + c->x->req_base + s.off);
}

/* The client's bytes past the request and its body, unparsed: what an
 * upgraded connection (a tunnel) says next. The handler reads them here
 * while it has the request; the core reads more while there is room. */
size_t
http_request_raw(struct http_conn *c, const char **data)
{
	struct http_xchg	*x = c->x;

	if (!x->body_done)
		return (0);
	*data = x->in + x->in_off;
	return (x->in_len - x->in_off);
}

void
http_request_raw_consume(struct http_conn *c, size_t n)
{
	struct http_xchg	*x = c->x;

	x->in_off += (uint32_t)n;
	if (x->in_off == x->in_len)	/* keep the head, for the log */
		x->in_len = x->in_off = x->req_base + x->req.head_len;
}

/*
 * The location with the longest prefix that matches whole path segments:
 * "/hello" serves "/hello" and "/hello/x" but not "/hello.txt".
 */
static const struct location_conf *
http_request_route(const struct server_conf *sc, const char *path, size_t len)
{
	const struct location_conf	*lc;
	size_t				 i;

	for (i = 0; i < sc->nlocations; i++) {
		lc = &sc->locations[i];
		if (lc->prefix_len > len ||
		    memcmp(lc->prefix, path, lc->prefix_len) != 0)
			continue;
		if (lc->prefix_len == len || lc->prefix[lc->prefix_len - 1] ==
		    '/' || path[lc->prefix_len] == '/')
			return (lc);
	}
	return (NULL);
}

/* The request's normalised path and its location: 0, or the status of
 * the error to answer. */
static int
http_request_locate(struct http_conn *c, char *path, size_t size, int *len,
    const struct location_conf **lcp)
{
	*len = http_path_normalize(http_request_str(c, c->x->req.path),
	    c->x->req.path.len, path, size);
	if (*len < 0)
		return (c->x->req.path.len >= size ? 414 : 400);
	*lcp = http_request_route(c->hs->conf, path, (size_t)*len);
	if (*lcp == NULL)
		return (404);
	return (0);
}

/* Does the request's handler read the body itself? */
static int
http_request_streams_body(struct http_conn *c)
{
	const struct location_conf	*lc;
	char				 path[HTTP_PATH_MAX];
	int				 len;

	if (http_request_locate(c, path, sizeof(path), &len, &lc) != 0)
		return (0);
	return (http_handler_find(lc)->reads_body);
}

/* The handler has answered: the body it did not read is not read. */
static void
http_request_answered(struct http_conn *c)
{
	if (!http_body_finished(c))
		c->keep_alive = 0;
	http_request_done(c);
}

/* The request is in (with its body, unless the handler reads it):
 * produce its response, or hand it to a handler that answers later. */
static void
http_request_dispatch(struct http_conn *c)
{
	struct http_xchg		*x = c->x;
	const struct http_handler	*h;
	const struct location_conf	*lc;
	char				 path[HTTP_PATH_MAX];
	int				 len, status;

	STATS_ADD(c->hs->sv->st, requests, 1);
	/* A client that asked to close sends nothing more after the
	 * request, so its connection needs no lingering close; but some
	 * send a stray CRLF after a body. */
	c->linger = x->req.keep_alive || x->req.content_length > 0 ||
	    x->req.chunked;
	c->keep_alive = x->req.keep_alive && !HTTP_DRAIN_CLOSES(c->hs);
	x->body_bytes = 0;
	h = NULL;
	if (x->req.method == HTTP_METHOD_UNKNOWN)
		status = 501;
	else if ((status = http_request_locate(c, path, sizeof(path), &len,
	    &lc)) == 0)
		h = http_handler_find(lc);
	/* Other methods than GET and HEAD go only to a handler that takes
	 * them (echo_body); else 405 comes first, before a bad path or no
	 * location, as it always did. */
	if (status != 501 && x->req.method != HTTP_METHOD_GET &&
	    x->req.method != HTTP_METHOD_HEAD && (h == NULL || !h->any_method))
		status = 405;
	if (status != 0) {
		http_response_error(c, status);
		http_request_answered(c);
		return;
	}
	x->loc = lc;
	if (h->start(c, lc, path, (size_t)len) == HTTP_HANDLER_DONE) {
		http_request_answered(c);
		return;
	}
	x->handler = h;
	x->pending = 1;
	http_conn_set_state(c, HTTP_HANDLER);
}

/* The head is parsed: answer, or read the body first. */
void
http_request_head_done(struct http_conn *c)
{
	struct http_xchg	*x = c->x;

	http_body_init(c);
	if (x->req.content_length > 0 &&
	    (uint64_t)x->req.content_length > c->hs->conf->max_body_size) {
		c->keep_alive = 0;
		http_response_error(c, 413);
		http_request_done(c);
		return;
	}
	if (http_body_finished(c)) {
		http_request_dispatch(c);
		return;
	}
	if (x->req.expect_continue && x->req.version == 11 &&
	    x->in_off == x->in_len)
		http_response_add(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	http_timeout(c, HTTP_TQ_BODY);
	if (http_request_streams_body(c))
		http_request_dispatch(c);
	else
		http_conn_set_state(c, HTTP_READ_BODY);
}

/* A body the handler does not read has been discarded. */
void
http_request_body_done(struct http_conn *c)
{
	http_request_dispatch(c);
}

/* The response to the current request is queued: log it, move on. */
void
http_request_done(struct http_conn *c)
{
	struct http_xchg	*x = c->x;

	if (x->file_fd == -1)
		http_log_request(c);
	if (!c->keep_alive)
		c->closing = 1;
	else	/* later responses must not wait for this one's ACK */
		http_conn_nodelay(c);
	x->req_started = 0;
	if (c->closing || x->file_fd != -1 ||
	    x->out_len - x->out_sent > HTTP_OUT_PIPELINE_MAX)
		http_conn_set_state(c, HTTP_WRITE);
	else
		http_conn_set_state(c, HTTP_IDLE);
}

/* -- pending requests ---------------------------------------------------- */

void
http_request_wake(struct http_conn *c)
{
	poller_post(c->hs->poller, &c->io.pi);
}

void
http_request_set_handler(struct http_conn *c, const struct http_handler *h)
{
	c->x->handler = h;
}

struct event_base *
http_request_base(const struct http_conn *c)
{
	return (c->hs->sv->base);
}

/* The request ends before its handler finished: tell it, once. */
/*
 * A pending request whose connection closes is logged as it stands: the
 * status sent and the bytes so far, or 499 (nginx's "the client closed
 * the connection") when no response began, so an aborted download or an
 * ended WebSocket session still has its line.
 */
void
http_request_abandoned(struct http_conn *c)
{
	if (c->x == NULL || !c->x->pending)
		return;
	if (c->x->status == 0)
		c->x->status = 499;
	http_log_request(c);
}

void
http_request_cancel(struct http_conn *c, const char *why)
{
	const struct http_handler	*h;

	if (c->x == NULL || !c->x->pending)
		return;
	h = c->x->handler;
	if (log_wants(LOG_LEVEL_DEBUG))
		log_debug("http %s: %s request cancelled: %s",
		    http_conn_peer(c), h->name, why);
	c->x->pending = 0;
	c->x->handler = NULL;
	if (h->cancel != NULL)
		h->cancel(c);
}

/* The body turned out malformed while the handler read it: answer the
 * error if no response has begun, else close. 1: go on. */
static int
http_request_failed(struct http_conn *c)
{
	int	 status = c->x->body_error;

	if (c->x->status != 0)	/* it ends here: its line as it stands */
		http_request_abandoned(c);
	http_request_cancel(c, "bad request body");
	if (c->x->status != 0) {
		http_conn_close(c, "bad request body");
		return (0);
	}
	c->x->in_off = c->x->in_len;
	http_response_error(c, status);
	http_request_done(c);
	return (1);
}

/*
 * What the connection waits for while the handler has the request, and
 * its timeout: send_timeout while output waits for the client, counted
 * from the last byte that went out; body_timeout while the handler waits
 * for the body, from the last byte that came in; none while the handler
 * waits for something of its own. moved: the HTTP_MOVED_* of this run.
 * A run that yielded (more to do) keeps its deadline fresh the same way.
 */
static void
http_request_wait(struct http_conn *c, int yielded, int moved)
{
	struct http_xchg	*x = c->x;
	enum http_tq		 q;

	if (http_response_pending(c) > 0 && !c->io.pi.wready) {
		http_conn_want_write(c);
		q = HTTP_TQ_SEND;
	} else if (x->body_wanted)
		q = HTTP_TQ_BODY;	/* the client owes the body */
	else
		q = HTTP_TQ_WAIT;	/* the handler keeps time */
	if (q != c->tq || (q == HTTP_TQ_SEND && (moved & HTTP_MOVED_OUT)) ||
	    (q == HTTP_TQ_BODY && (moved & HTTP_MOVED_IN)))
		http_timeout(c, q);
	if (yielded)		/* more to do, after the others */
		http_request_wake(c);
	else if (http_conn_in_room(c) == 1)
		http_conn_want_read(c);
}

/* One round of I/O for a pending request: -1 the connection is closed,
 * else HTTP_MOVED_OUT and HTTP_MOVED_IN for the bytes that moved. */
static int
http_request_io(struct http_conn *c)
{
	size_t			 pending = http_response_pending(c);
	enum http_io		 io;
	int			 moved = 0;

	if (pending > 0) {
		if (http_conn_write(c) == HTTP_IO_ERROR) {
			http_conn_close(c, errno == ECONNRESET ||
			    errno == EPIPE ? "client reset" : "write error");
			return (-1);
		}
		if (http_response_pending(c) < pending)
			moved = HTTP_MOVED_OUT;
	}
	if (c->io.pi.rready && http_conn_in_room(c) == 1) {
		io = http_conn_read(c);
		if (io == HTTP_IO_EOF || io == HTTP_IO_ERROR) {
			http_conn_close(c, io == HTTP_IO_EOF ?
			    (http_body_finished(c) ? "client closed" :
			    "client closed mid-request") : errno == ECONNRESET ?
			    "client reset" : "read error");
			return (-1);
		}
		if (io == HTTP_IO_DONE)
			moved |= HTTP_MOVED_IN;
	}
	return (moved);
}

/* Run a pending request: 1 when its response is complete (the caller
 * goes on with the connection), 0 when it waits or is closed. */
int
http_request_run(struct http_conn *c)
{
	struct http_xchg	*x = c->x;
	uint32_t		 in_off, in_len;
	size_t			 out;
	int			 rounds, moved, moved_all = 0;

	for (rounds = 0; rounds < HTTP_HANDLER_ROUNDS; rounds++) {
		if ((moved = http_request_io(c)) == -1)
			return (0);
		moved_all |= moved;
		in_off = x->in_off;
		in_len = x->in_len;
		out = x->out_len;
		if (x->handler->resume(c) == HTTP_HANDLER_DONE) {
			x->pending = 0;
			x->handler = NULL;
			http_request_answered(c);
			return (1);
		}
		if (x->body_error != 0)
			return (http_request_failed(c));
		if (!moved && in_off == x->in_off && in_len == x->in_len &&
		    out == x->out_len)
			break;
	}
	http_request_wait(c, rounds == HTTP_HANDLER_ROUNDS, moved_all);
	return (0);
}
