/*
 * http.h: the HTTP/1.1 service's interface between its core (the
 * connection, the request's way through it, the response writer) and
 * the handlers that answer requests (http_handlers.c lists them).
 *
 * A handler is called through struct http_handler. It may answer at
 * once (HTTP_HANDLER_DONE), or take the request over and finish later
 * (HTTP_HANDLER_PENDING): the core then calls its resume() each time the
 * connection runs (bytes came, output drained, or the handler woke it
 * with http_request_wake() from an event of its own), until resume()
 * says DONE; cancel() is called once instead if the request ends first
 * (the client went away, a timeout, the worker stopping). Request data
 * is read through http_request_str(), valid until the handler returns.
 */
#ifndef DROVER_HTTP_H
#define DROVER_HTTP_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "event/conn.h"
#include "http/http_parser.h"

struct accesslog;
struct http_fcache;
struct http_file;
struct location_conf;
struct mime_table;
struct server_conf;
struct wserver;

enum http_state {
	HTTP_READ_HEAD = 0,	/* waiting for / reading a request head */
	HTTP_READ_BODY,		/* reading (and discarding) a request body */
	HTTP_HANDLER,		/* a handler has the request (pending) */
	HTTP_WRITE,		/* sending a response */
	HTTP_IDLE,		/* keep-alive, between requests */
	HTTP_LINGER,		/* closing: our FIN sent, draining input */
	HTTP_NSTATES
};

struct http_server;
struct http_handler;

/*
 * What a connection needs only while it has a request to work on: the
 * input buffer the head is parsed in, the parser, the request, its body
 * and the response being sent. Taken from the server's pool when bytes
 * arrive, given back when the connection goes idle with nothing
 * buffered, so an idle keep-alive connection costs only its struct
 * http_conn.
 */
struct http_xchg {
	struct http_xchg	*next_free;	/* in the pool */

	/* Input: the request head is parsed in place. */
	char			*in;
	uint32_t		 in_cap;
	uint32_t		 in_len;	/* bytes in the buffer */
	uint32_t		 in_off;	/* next byte to process */
	uint32_t		 req_base;	/* start of the current request */
	struct http_parser	 parser;
	struct http_request	 req;
	int			 req_started;	/* bytes of a request seen */

	/* Request body (discarded, or read by the handler). */
	int			 body_chunked;
	int			 body_error;	/* its status: 400, 413 */
	int			 body_done;	/* all of it read */
	int			 body_wanted;	/* the handler waits for it */
	uint64_t		 body_left;
	struct http_chunked	 chunked;

	/* The handler that has the request while it is pending. */
	const struct http_handler	*handler;
	const struct location_conf	*loc;
	void			*hdata;		/* the handler's own */
	int			 pending;

	/* Output: status line, headers and small bodies, then a file. */
	char			*out;
	size_t			 out_cap;
	size_t			 out_len;
	size_t			 out_sent;
	int			 out_chunked;	/* body in chunks */
	int			 file_fd;
	struct http_file	*file;		/* file_fd's cache entry */
	off_t			 file_off;
	off_t			 file_end;

	/* For the access log and stats. */
	struct timespec		 req_start;
	int			 status;
	uint64_t		 body_bytes;	/* response body sent */

	struct http_header	 headers[];	/* limits.max_headers */
};

/* Timeout queues: one per duration, so each stays sorted by deadline by
 * appending; HTTP_TQ_HANDED is sorted on insertion (http_timeout_until). */
enum http_tq {
	HTTP_TQ_HEADER,		/* header_timeout: the request head */
	HTTP_TQ_BODY,		/* body_timeout: between reads of a body */
	HTTP_TQ_KEEPALIVE,	/* keepalive_timeout */
	HTTP_TQ_SEND,		/* send_timeout */
	HTTP_TQ_LINGER,		/* reading after our FIN */
	HTTP_TQ_DRAIN,		/* idle, draining: to be handed on or closed */
	HTTP_TQ_WAIT,		/* a handler's own event: no deadline here */
	HTTP_TQ_HANDED,		/* idle, handed to us: the deadline it had */
	HTTP_NTQ
};

struct http_conn {
	TAILQ_ENTRY(http_conn)	 tq_entry;	/* in hs->tq[tq] */
	struct http_server	*hs;
	struct http_xchg	*x;		/* NULL while idle */
	struct conn		 io;		/* the socket, its readiness */
	int64_t			 deadline;	/* ms, http_timeout_now() */
	int64_t			 idle_deadline;	/* in HTTP_TQ_DRAIN: the idle
						 * timeout it had */
	uint8_t			 state;		/* enum http_state */
	uint8_t			 tq;		/* enum http_tq */
	unsigned		 keep_alive:1;	/* after this response */
	unsigned		 closing:1;	/* close once output is sent */
	unsigned		 linger:1;	/* the client may still send */
	unsigned		 nodelay:1;	/* TCP_NODELAY set */
	unsigned		 fresh:1;	/* no request yet */
	union {
		struct sockaddr		 sa;
		struct sockaddr_in	 sin;
		struct sockaddr_in6	 sin6;
	}			 peer;
};

TAILQ_HEAD(http_conns, http_conn);

struct http_server {
	struct wserver			*sv;
	const struct server_conf	*conf;
	struct http_conns		 tq[HTTP_NTQ];	/* every connection */
	int				 tq_ms[HTTP_NTQ];	/* -1: none */
	struct event			*ev_sweep;	/* earliest deadline */
	int64_t				 sweep_at;	/* 0: not armed */
	struct poller			*poller;	/* the connections */
	struct http_limits		 limits;
	struct mime_table		*mime;
	struct http_fcache		*fcache;
	struct accesslog		*alog;
	struct event			*ev_flush;	/* access log, 1 s */
	int				*root_fds;	/* per location */
	int				 draining;
	int				 handover;	/* draining: idle ones go */
	struct event			*ev_handover;	/* their next batch */
	/* Exchanges of idle connections come back here for reuse. */
	struct http_xchg		*free_x;
	unsigned			 nfree_x;
};

/* -- handlers ------------------------------------------------------------ */

enum http_hres {
	HTTP_HANDLER_DONE,	/* the whole response is queued */
	HTTP_HANDLER_PENDING,	/* resume() or cancel() will follow */
};

struct http_handler {
	const char	*name;
	/* 1: the handler reads the request body (http_body_next); else the
	 * core discards it before start(). */
	int		 reads_body;
	/* 1: any method; else the core answers 405 to all but GET, HEAD. */
	int		 any_method;
	enum http_hres	(*start)(struct http_conn *,
			    const struct location_conf *, const char *, size_t);
	enum http_hres	(*resume)(struct http_conn *);	/* when pending */
	void		(*cancel)(struct http_conn *);	/* when pending */
};

const struct http_handler *http_handler_find(const struct location_conf *);
const struct http_handler *http_handler_base(const struct location_conf *);

/* The request (http_request.c). */
/* Run the pending handler's resume() soon, from the loop. */
void	 http_request_wake(struct http_conn *);
/* The pending request goes on with another handler (its resume/cancel). */
void	 http_request_set_handler(struct http_conn *,
	     const struct http_handler *);
struct event_base *http_request_base(const struct http_conn *);
/* A span of the request's bytes (not NUL-terminated). */
const char *http_request_str(const struct http_conn *, struct http_span);
/* After a 101 (a tunnel): the bytes the client sent past the request,
 * raw, and how many of them the handler took. */
size_t	 http_request_raw(struct http_conn *, const char **);
void	 http_request_raw_consume(struct http_conn *, size_t);

/* The connection (http_conn.c) and the clock (http_timeout.c). */
const char *http_conn_peer(const struct http_conn *);
void	 http_conn_file_done(struct http_conn *);
int64_t	 http_timeout_now(void);

/* -- the request body, for a handler that reads it (http_body.c) -------- */

enum http_body {
	HTTP_BODY_DATA,		/* *data, *len: bytes to take */
	HTTP_BODY_END,		/* the whole body is read */
	HTTP_BODY_WAIT,		/* more is to come: return PENDING */
	HTTP_BODY_ERROR,	/* bad framing: the core answers, return */
};

enum http_body	 http_body_next(struct http_conn *, const char **, size_t *);
void		 http_body_consume(struct http_conn *, size_t);

/* -- responses (http_response.c) ----------------------------------------- */

#define HTTP_OUT_HIGH	(64 * 1024)	/* a streaming handler waits above */

int	 http_response_reserve(struct http_conn *, size_t);
void	 http_response_add(struct http_conn *, const void *, size_t);
void	 http_response_printf(struct http_conn *, const char *, ...)
	     __attribute__((format(printf, 2, 3)));
size_t	 http_response_pending(const struct http_conn *);
void	 http_response_chunked(struct http_conn *);
void	 http_response_body(struct http_conn *, const void *, size_t);
void	 http_response_body_end(struct http_conn *);
void	 http_response_head(struct http_conn *, int, const char *, int64_t);
void	 http_response_end_head(struct http_conn *);
void	 http_response_simple(struct http_conn *, int, const char *,
	     const char *, size_t);
void	 http_response_error(struct http_conn *, int);
const char *http_response_status_text(int);

#endif
