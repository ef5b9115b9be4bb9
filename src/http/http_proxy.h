/*
 * http_proxy.h: shared by the files of the HTTP reverse proxy only:
 * http_proxy.c (the request's state machine, the upstream's I/O),
 * http_proxy_head.c (the request head sent upstream) and
 * http_proxy_resp.c (the upstream's response head, read and passed on).
 */
#ifndef DROVER_HTTP_PROXY_H
#define DROVER_HTTP_PROXY_H

#include <stdint.h>

#include "event/conn.h"
#include "http/http.h"
#include "upstream/upstream.h"

#define HTTP_PROXY_IN		16384	/* response buffer: head, body */
#define HTTP_PROXY_BODY_HIGH	16384	/* request body queued upstream */
#define HTTP_PROXY_MAX_HEADERS	128	/* in a response head */

enum http_proxy_state {
	HTTP_PROXY_CONNECTING,	/* upstream_connect's callback to come */
	HTTP_PROXY_EXCHANGE,	/* request out, response in */
	HTTP_PROXY_TUNNEL,	/* after a 101: bytes both ways */
};

/* How the response body ends. */
enum http_proxy_framing {
	HTTP_PROXY_NONE,	/* no body: HEAD, 1xx, 204, 304 */
	HTTP_PROXY_LENGTH,	/* Content-Length */
	HTTP_PROXY_CHUNKED,
	HTTP_PROXY_CLOSE,	/* until the upstream closes */
};

struct http_proxy_hdr {
	uint16_t	 name, name_len;	/* offsets in in[] */
	uint16_t	 value, value_len;
};

/* The upstream's response head, as parsed. */
struct http_proxy_resp {
	int			 status;
	int			 version;	/* 10, 11 */
	int64_t			 content_length;	/* -1: none */
	int			 chunked;
	int			 te_other;	/* a coding but chunked last */
	int			 te;		/* Transfer-Encoding came */
	int			 conn_close;
	int			 conn_upgrade;
	int			 conn_keep;	/* Connection: keep-alive */
	unsigned		 nhdrs;
	unsigned		 nconn;		/* Connection fields */
	struct http_proxy_hdr	 hdrs[HTTP_PROXY_MAX_HEADERS];
	uint8_t			 conn[HTTP_PROXY_MAX_HEADERS];	/* their
						 * indices in hdrs[] */
};

/* One proxied request; reused from a free list (no malloc a request). */
struct http_proxy {
	struct http_proxy	*next_free;
	struct http_conn	*c;
	const struct upstream_conf *conf;
	struct upstream_connect	 uc;
	struct conn		 up;		/* uc.fd's I/O */
	struct event		 ev;		/* uc.fd: readiness, timeouts */
	int			 ev_set;
	short			 ev_what;	/* the mask it waits for */
	short			 ev_timer;	/* EV_WRITE: send_timeout runs,
						 * EV_READ: read_timeout, 0 */
	enum http_proxy_state	 state;
	int			 result;	/* of the connect, 0: none */
	int			 timed_out;	/* EV_READ or EV_WRITE's */
	const char		*cause;		/* of a failure, for the log */

	/* Out to the upstream: the head, then the body (chunks framed). */
	char			*out;
	size_t			 out_cap, out_len, out_sent;
	int			 req_chunked;	/* body sent in chunks */
	int			 req_body_done;	/* all of it queued */
	int			 body_taken;	/* body bytes consumed */
	int			 sent_any;	/* bytes went on this connection */
	int			 nodelay;	/* TCP_NODELAY set by this request */
	int			 replayable;	/* the whole request is still
						 * in out[0, out_len) */
	int			 upgrade;	/* the client asked to */

	/* In from the upstream: the response head, then the body. */
	char			*in;
	size_t			 in_len, in_off, head_scan;
	int			 got_byte;	/* of a response */
	int			 head_sent;	/* to the client */
	int			 up_eof;
	enum http_proxy_framing	 framing;
	uint64_t		 left;		/* HTTP_PROXY_LENGTH */
	struct http_chunked	 chunked;	/* HTTP_PROXY_CHUNKED */
	int			 resp_done;
	struct http_proxy_resp	 resp;
};

/* http_proxy_head.c */
int	 http_proxy_head_build(struct http_proxy *);
int	 http_proxy_out_reserve(struct http_proxy *, size_t);
int	 http_proxy_hop(const char *, size_t);
int	 http_proxy_named(const char *, size_t, const char *, size_t);

/* http_proxy_resp.c: parse: -1 bad head (p->cause), 0 more needed,
 * 1 parsed (p->in_off past it, p->framing set). */
int	 http_proxy_resp_parse(struct http_proxy *);
void	 http_proxy_resp_send(struct http_proxy *);
void	 http_proxy_resp_send_101(struct http_proxy *);

#endif
