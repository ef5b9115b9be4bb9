/*
 * http.h: the HTTP/1.1 service's private interface, shared by http.c (the
 * connection state machine and response writer), http_static.c (files)
 * and http_stats.c (status and metrics).
 */
#ifndef DROVER_HTTP_H
#define DROVER_HTTP_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "http_parser.h"

struct accesslog;
struct location_conf;
struct mime_table;
struct server_conf;
struct wserver;

enum http_state {
	HTTP_READ_HEAD = 0,	/* waiting for / reading a request head */
	HTTP_READ_BODY,		/* reading (and discarding) a request body */
	HTTP_WRITE,		/* sending a response */
	HTTP_IDLE,		/* keep-alive, between requests */
	HTTP_LINGER,		/* closing: our FIN sent, draining input */
	HTTP_NSTATES
};

struct http_server;

struct http_conn {
	TAILQ_ENTRY(http_conn)	 entry;
	struct http_server	*hs;
	int			 fd;
	enum http_state		 state;
	struct event		 ev;		/* socket readiness */
	short			 ev_what;	/* EV_READ or EV_WRITE added */
	struct event		 timer;

	/* Input: the request head is parsed in place. */
	char			*in;
	uint32_t		 in_cap;
	uint32_t		 in_len;	/* bytes in the buffer */
	uint32_t		 in_off;	/* next byte to process */
	uint32_t		 req_base;	/* start of the current request */
	struct http_parser	 parser;
	struct http_request	 req;
	struct http_header	*headers;
	int			 req_started;	/* bytes of a request seen */

	/* Request body being discarded. */
	int			 body_chunked;
	uint64_t		 body_left;
	struct http_chunked	 chunked;

	/* Output: status line, headers and small bodies, then a file. */
	char			*out;
	size_t			 out_cap;
	size_t			 out_len;
	size_t			 out_sent;
	int			 file_fd;
	off_t			 file_off;
	off_t			 file_end;

	int			 keep_alive;	/* after this response */
	int			 closing;	/* close once output is sent */

	/* For the access log and stats. */
	struct timespec		 req_start;
	int			 status;
	uint64_t		 body_bytes;	/* response body sent */
	char			 peer[48];
};

TAILQ_HEAD(http_conns, http_conn);

struct http_server {
	struct wserver			*sv;
	const struct server_conf	*conf;
	struct http_conns		 conns;
	struct http_limits		 limits;
	struct mime_table		*mime;
	struct accesslog		*alog;
	struct event			*ev_flush;	/* access log, 1 s */
	int				*root_fds;	/* per location */
	int				 draining;
	/* Buffers of idle connections come back here for reuse. */
	char				**free_in;
	unsigned			 nfree_in;
	struct http_header		**free_hdrs;
	unsigned			 nfree_hdrs;
};

/* Response building (http.c). */
int	 http_out_reserve(struct http_conn *, size_t);
void	 http_out_add(struct http_conn *, const void *, size_t);
void	 http_out_printf(struct http_conn *, const char *, ...)
	     __attribute__((format(printf, 2, 3)));
void	 http_response_head(struct http_conn *, int, const char *, int64_t);
void	 http_response_end_head(struct http_conn *);
void	 http_respond(struct http_conn *, int, const char *, const char *,
	     size_t);
void	 http_respond_error(struct http_conn *, int);
const char *http_status_text(int);
const char *http_req_str(const struct http_conn *, struct http_span);

/* Handlers. */
void	 http_static_serve(struct http_conn *, const struct location_conf *,
	     int, const char *, size_t);
void	 http_stats_serve(struct http_conn *, const struct location_conf *);

#endif
