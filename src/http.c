/*
 * http.c: the HTTP/1.1 service: connection state machine, request
 * dispatch, response writer, timeouts, draining and the access log.
 *
 * One struct http_conn per connection, moved between the states of enum
 * http_state by http_set_state() only. Requests are parsed in place from
 * the connection's input buffer (http_parser.c); responses are assembled
 * in one output buffer (pipelined responses too) and sent with one send(),
 * followed by sendfile() for a file body. Buffers of idle connections go
 * back to a per-server pool, so a keep-alive connection between requests
 * costs only its struct, and the steady state allocates nothing.
 */
#include "autoconf.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"
#include "conf.h"
#include "http.h"
#include "http_date.h"
#include "http_path.h"
#include "log.h"
#include "mime.h"
#include "service.h"
#include "stats.h"

#define HTTP_IN_DEFAULT		4096	/* input buffer to start with */
#define HTTP_OUT_DEFAULT	4096
#define HTTP_OUT_PIPELINE_MAX	(64 * 1024)	/* flush pipelined above */
#define HTTP_POOL_MAX		256	/* pooled buffers per server */
#define HTTP_LINGER_SECONDS	2	/* reading after our FIN */
#define HTTP_DRAIN_IDLE_MS	5000	/* idle keep-alive grace on drain */
#define HTTP_PATH_MAX		8192

static const char *const http_state_names[HTTP_NSTATES] = {
	"read-head", "read-body", "write", "idle", "linger"
};

static void	http_process(struct http_conn *);
static void	http_conn_close(struct http_conn *, const char *);
static void	http_io_cb(evutil_socket_t, short, void *);
static void	http_timer_cb(evutil_socket_t, short, void *);

/* The one place a connection changes state. */
static void
http_set_state(struct http_conn *c, enum http_state s)
{
	if (s >= HTTP_NSTATES)
		fatalx("http: bad state %d", (int)s);
	if (c->state != s)
		log_debug("http %s: %s -> %s", c->peer,
		    http_state_names[c->state], http_state_names[s]);
	c->state = s;
}

static void
http_timer_set_ms(struct http_conn *c, long ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(&c->timer, &tv);
}

static void
http_timer_set(struct http_conn *c, int seconds)
{
	http_timer_set_ms(c, seconds * 1000L);
}

/* Wait for readability or writability (not both). */
static void
http_want(struct http_conn *c, short what)
{
	if (c->ev_what == what)
		return;
	if (c->ev_what != 0)
		event_del(&c->ev);
	event_assign(&c->ev, c->hs->sv->base, c->fd, what | EV_PERSIST,
	    http_io_cb, c);
	event_add(&c->ev, NULL);
	c->ev_what = what;
}

/* -- buffers ------------------------------------------------------------ */

static int
http_take_buffers(struct http_conn *c)
{
	struct http_server	*hs = c->hs;

	if (c->in != NULL)
		return (0);
	if (hs->nfree_in > 0)
		c->in = hs->free_in[--hs->nfree_in];
	else if ((c->in = malloc(HTTP_IN_DEFAULT)) == NULL)
		return (-1);
	c->in_cap = HTTP_IN_DEFAULT;
	if (hs->nfree_hdrs > 0)
		c->headers = hs->free_hdrs[--hs->nfree_hdrs];
	else if ((c->headers = calloc(hs->limits.max_headers,
	    sizeof(*c->headers))) == NULL)
		return (-1);
	c->in_len = c->in_off = 0;
	return (0);
}

/* An idle connection with nothing buffered gives its buffers back. */
static void
http_release_buffers(struct http_conn *c)
{
	struct http_server	*hs = c->hs;

	if (c->in != NULL) {
		if (c->in_cap == HTTP_IN_DEFAULT && hs->nfree_in < HTTP_POOL_MAX)
			hs->free_in[hs->nfree_in++] = c->in;
		else
			free(c->in);
		c->in = NULL;
		c->in_cap = c->in_len = c->in_off = 0;
	}
	if (c->headers != NULL) {
		if (hs->nfree_hdrs < HTTP_POOL_MAX)
			hs->free_hdrs[hs->nfree_hdrs++] = c->headers;
		else
			free(c->headers);
		c->headers = NULL;
	}
	if (c->out != NULL && c->out_len == 0) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
}

int
http_out_reserve(struct http_conn *c, size_t n)
{
	size_t	 cap;
	char	*p;

	if (c->out_cap - c->out_len >= n)
		return (0);
	cap = c->out_cap ? c->out_cap : HTTP_OUT_DEFAULT;
	while (cap - c->out_len < n)
		cap *= 2;
	if ((p = realloc(c->out, cap)) == NULL)
		return (-1);
	c->out = p;
	c->out_cap = cap;
	return (0);
}

void
http_out_add(struct http_conn *c, const void *data, size_t n)
{
	if (http_out_reserve(c, n) == -1) {
		c->closing = 1;		/* cannot answer properly: give up */
		return;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
}

void
http_out_printf(struct http_conn *c, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (http_out_reserve(c, 256) == -1) {
		c->closing = 1;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->out_len, c->out_cap - c->out_len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= c->out_cap - c->out_len) {
		if (http_out_reserve(c, (size_t)n + 1) == -1) {
			c->closing = 1;
			return;
		}
		va_start(ap, fmt);
		(void)vsnprintf(c->out + c->out_len, c->out_cap - c->out_len,
		    fmt, ap);
		va_end(ap);
	}
	c->out_len += (size_t)n;
}

/* -- responses ---------------------------------------------------------- */

const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return ("Continue");
	case 200: return ("OK");
	case 201: return ("Created");
	case 204: return ("No Content");
	case 206: return ("Partial Content");
	case 301: return ("Moved Permanently");
	case 302: return ("Found");
	case 303: return ("See Other");
	case 304: return ("Not Modified");
	case 307: return ("Temporary Redirect");
	case 308: return ("Permanent Redirect");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 408: return ("Request Timeout");
	case 411: return ("Length Required");
	case 413: return ("Content Too Large");
	case 414: return ("URI Too Long");
	case 416: return ("Range Not Satisfiable");
	case 431: return ("Request Header Fields Too Large");
	case 500: return ("Internal Server Error");
	case 501: return ("Not Implemented");
	case 503: return ("Service Unavailable");
	case 505: return ("HTTP Version Not Supported");
	}
	if (status >= 200 && status < 300)
		return ("OK");
	return ("Unknown");
}

/* A request's bytes (not NUL-terminated). */
const char *
http_req_str(const struct http_conn *c, struct http_span s)
{
	return (c->in + c->req_base + s.off);
}

/*
 * Status line and the headers every response has. clen < 0: no
 * Content-Length. The caller may add headers, then http_response_end_head.
 */
void
http_response_head(struct http_conn *c, int status, const char *ctype,
    int64_t clen)
{
	int	 i;

	c->status = status;
	i = status / 100 - 1;
	if (i >= 0 && i < STATS_NCLASSES)
		STATS_ADD(responses[i], 1);
	http_out_printf(c, "HTTP/1.1 %d %s\r\nServer: drover/%s\r\n"
	    "Date: %s\r\n", status, http_status_text(status), PACKAGE_VERSION,
	    http_date_now());
	if (ctype != NULL)
		http_out_printf(c, "Content-Type: %s\r\n", ctype);
	if (clen >= 0)
		http_out_printf(c, "Content-Length: %lld\r\n", (long long)clen);
	if (!c->keep_alive)
		http_out_add(c, "Connection: close\r\n", 19);
	else if (c->req.version == 10)
		http_out_add(c, "Connection: keep-alive\r\n", 24);
}

void
http_response_end_head(struct http_conn *c)
{
	http_out_add(c, "\r\n", 2);
}

/* A complete in-memory response (no body for HEAD). */
void
http_respond(struct http_conn *c, int status, const char *ctype,
    const char *body, size_t len)
{
	http_response_head(c, status, ctype, (int64_t)len);
	http_response_end_head(c);
	if (c->req.method != HTTP_METHOD_HEAD && len > 0) {
		http_out_add(c, body, len);
		c->body_bytes = len;
	}
}

/* An error page; errors that leave the stream unusable close it. */
void
http_respond_error(struct http_conn *c, int status)
{
	char	 body[96];
	int	 n;

	switch (status) {
	case 400: case 408: case 413: case 414: case 431: case 500:
	case 501: case 505:
		c->keep_alive = 0;
		break;
	}
	n = snprintf(body, sizeof(body), "%d %s\n", status,
	    http_status_text(status));
	http_response_head(c, status, "text/plain; charset=utf-8", n);
	if (status == 405)
		http_out_add(c, "Allow: GET, HEAD\r\n", 18);
	http_response_end_head(c);
	if (c->req.method != HTTP_METHOD_HEAD) {
		http_out_add(c, body, (size_t)n);
		c->body_bytes = (uint64_t)n;
	}
}

/* -- access log --------------------------------------------------------- */

/* Copy s into dst for a log line, escaping quotes, backslashes, controls. */
static size_t
http_log_escape(char *dst, size_t room, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0;
	unsigned char		 ch;

	if (len == 0 && room > 0) {
		dst[o++] = '-';
		return (o);
	}
	for (i = 0; i < len && o + 4 < room; i++) {
		ch = (unsigned char)s[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		} else
			dst[o++] = (char)ch;
	}
	return (o);
}

static const char *
http_log_time(void)
{
	static char	 buf[40];
	static time_t	 last = -1;
	time_t		 now = time(NULL);
	struct tm	 tm;

	if (now != last) {
		last = now;
		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	}
	return (buf);
}

/* One combined-format line plus the request time in seconds. */
static void
http_log_request(struct http_conn *c)
{
	struct http_server	*hs = c->hs;
	struct timespec		 now;
	char			*p;
	size_t			 room = 4096, o;
	double			 secs;
	int			 have = c->req.target.len > 0;

	if (hs->alog == NULL)
		return;
	if ((p = accesslog_reserve(hs->alog, room)) == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - c->req_start.tv_sec) +
	    (double)(now.tv_nsec - c->req_start.tv_nsec) / 1e9;
	o = (size_t)snprintf(p, room, "%s - - [%s] \"", c->peer,
	    http_log_time());
	if (have) {
		o += http_log_escape(p + o, 1024, http_req_str(c,
		    c->req.method_text), c->req.method_text.len);
		p[o++] = ' ';
		o += http_log_escape(p + o, 1500, http_req_str(c,
		    c->req.target), c->req.target.len);
		o += (size_t)snprintf(p + o, room - o, " HTTP/1.%d",
		    c->req.version == 10 ? 0 : 1);
	} else
		p[o++] = '-';
	o += (size_t)snprintf(p + o, room - o, "\" %d %llu \"", c->status,
	    (unsigned long long)c->body_bytes);
	o += http_log_escape(p + o, 600, have ? http_req_str(c,
	    c->req.referer) : "", have ? c->req.referer.len : 0);
	p[o++] = '"';
	p[o++] = ' ';
	p[o++] = '"';
	o += http_log_escape(p + o, 600, have ? http_req_str(c,
	    c->req.user_agent) : "", have ? c->req.user_agent.len : 0);
	o += (size_t)snprintf(p + o, room - o, "\" %.3f\n", secs);
	accesslog_commit(hs->alog, o < room ? o : room);
}

static void
http_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server	*hs = arg;

	accesslog_flush(hs->alog);
}

/* -- requests ----------------------------------------------------------- */

/*
 * The location with the longest prefix that matches whole path segments:
 * "/hello" serves "/hello" and "/hello/x" but not "/hello.txt".
 */
static const struct location_conf *
http_route(const struct server_conf *sc, const char *path, size_t len)
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

static void
http_respond_return(struct http_conn *c, const struct location_conf *lc)
{
	if (lc->status == 301 || lc->status == 302 || lc->status == 303 ||
	    lc->status == 307 || lc->status == 308) {
		http_response_head(c, lc->status, NULL, 0);
		http_out_printf(c, "Location: %s\r\n", lc->text);
		http_response_end_head(c);
		return;
	}
	http_respond(c, lc->status, "text/plain; charset=utf-8", lc->text,
	    lc->text_len);
}

/* A complete request (head and body) is in: produce its response. */
static void
http_dispatch(struct http_conn *c)
{
	struct http_server		*hs = c->hs;
	const struct location_conf	*lc;
	char				 path[HTTP_PATH_MAX];
	int				 len, idx;

	STATS_ADD(requests, 1);
	c->keep_alive = c->req.keep_alive && !hs->draining;
	c->body_bytes = 0;
	if (c->req.method == HTTP_METHOD_UNKNOWN) {
		http_respond_error(c, 501);
		return;
	}
	if (c->req.method != HTTP_METHOD_GET &&
	    c->req.method != HTTP_METHOD_HEAD) {
		http_respond_error(c, 405);
		return;
	}
	len = http_path_normalize(http_req_str(c, c->req.path),
	    c->req.path.len, path, sizeof(path));
	if (len < 0) {
		http_respond_error(c, c->req.path.len >= sizeof(path) ? 414 :
		    400);
		return;
	}
	if ((lc = http_route(hs->conf, path, (size_t)len)) == NULL) {
		http_respond_error(c, 404);
		return;
	}
	switch (lc->handler) {
	case LOC_RETURN:
		http_respond_return(c, lc);
		break;
	case LOC_ROOT:
		idx = (int)(lc - hs->conf->locations);
		http_static_serve(c, lc, hs->root_fds[idx], path, (size_t)len);
		break;
	case LOC_STATS:
		http_stats_serve(c, lc);
		break;
	}
}

/* The response to the current request is queued: log it, move on. */
static void
http_request_done(struct http_conn *c)
{
	if (c->file_fd == -1)
		http_log_request(c);
	if (!c->keep_alive)
		c->closing = 1;
	c->req_started = 0;
	if (c->closing || c->file_fd != -1 ||
	    c->out_len - c->out_sent > HTTP_OUT_PIPELINE_MAX)
		http_set_state(c, HTTP_WRITE);
	else
		http_set_state(c, HTTP_IDLE);
}

/* Discard body bytes from the buffer; 1 done, 0 more needed, -1 error. */
static int
http_body_consume(struct http_conn *c)
{
	enum http_parse_result	 r;
	uint32_t		 avail = c->in_len - c->in_off;
	size_t			 used;

	if (c->body_chunked) {
		r = http_chunked_feed(&c->chunked, c->in + c->in_off, avail,
		    &used);
		c->in_off += (uint32_t)used;
		if (r == HTTP_PARSE_ERROR)
			return (-1);
		if (r == HTTP_PARSE_DONE)
			return (1);
	} else {
		used = avail < c->body_left ? avail : (size_t)c->body_left;
		c->in_off += (uint32_t)used;
		c->body_left -= used;
		if (c->body_left == 0)
			return (1);
	}
	/* Keep the head (for the response), reuse the space of the body. */
	if (c->in_off == c->in_len)
		c->in_len = c->in_off = c->req_base + c->req.head_len;
	return (0);
}

/* The head is parsed: set up reading the body, if there is one. */
static void
http_head_done(struct http_conn *c)
{
	struct http_server	*hs = c->hs;

	c->in_off = c->req_base + c->req.head_len;
	c->body_chunked = c->req.chunked;
	c->body_left = c->req.content_length > 0 ?
	    (uint64_t)c->req.content_length : 0;
	if (c->req.content_length > 0 &&
	    (uint64_t)c->req.content_length > hs->conf->max_body_size) {
		c->keep_alive = 0;
		http_respond_error(c, 413);
		http_request_done(c);
		return;
	}
	if (c->body_chunked)
		http_chunked_init(&c->chunked, hs->conf->max_body_size);
	if (!c->body_chunked && c->body_left == 0) {
		http_dispatch(c);
		http_request_done(c);
		return;
	}
	http_set_state(c, HTTP_READ_BODY);
	if (c->req.expect_continue && c->req.version == 11 &&
	    c->in_off == c->in_len)
		http_out_add(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* Start parsing a new request at in_off. */
static void
http_request_start(struct http_conn *c)
{
	struct http_server	*hs = c->hs;

	if (c->in_off > 0 && c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	c->req_base = c->in_off;
	c->keep_alive = 0;
	c->closing = 0;
	http_parser_init(&c->parser, &hs->limits);
	http_request_init(&c->req, c->headers);
	c->req_started = 1;
	c->status = 0;
	c->body_bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &c->req_start);
	http_set_state(c, HTTP_READ_HEAD);
	http_timer_set(c, hs->conf->header_timeout);
}

/* -- I/O ---------------------------------------------------------------- */

enum http_io {
	HTTP_IO_DONE,
	HTTP_IO_AGAIN,
	HTTP_IO_EOF,
	HTTP_IO_ERROR,
};

/* Read once into the input buffer, making room first. */
static enum http_io
http_read(struct http_conn *c)
{
	struct http_server	*hs = c->hs;
	uint32_t		 max = hs->limits.max_header_size + 4096;
	uint32_t		 start;
	char			*p;
	ssize_t			 n;

	if (http_take_buffers(c) == -1)
		return (HTTP_IO_ERROR);
	if (c->in_len == c->in_cap) {
		start = c->req_started ? c->req_base : c->in_off;
		if (c->state != HTTP_READ_BODY && start > 0) {
			/* Move the request being read to the front; its
			 * spans are relative to req_base, which moves too. */
			memmove(c->in, c->in + start, c->in_len - start);
			c->in_len -= start;
			c->in_off -= start;
			c->req_base -= c->req_started ? start : 0;
			if (!c->req_started)
				c->req_base = 0;
		} else if (c->in_cap < max) {
			if ((p = realloc(c->in, max)) == NULL)
				return (HTTP_IO_ERROR);
			c->in = p;
			c->in_cap = max;
		} else
			return (HTTP_IO_ERROR);	/* cannot happen: limits */
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (n > 0) {
		c->in_len += (uint32_t)n;
		STATS_ADD(bytes_in, (uint64_t)n);
		return (HTTP_IO_DONE);
	}
	if (n == 0)
		return (HTTP_IO_EOF);
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return (HTTP_IO_AGAIN);
	return (HTTP_IO_ERROR);
}

static enum http_io
http_write_errno(void)
{
	return (errno == EAGAIN || errno == EWOULDBLOCK ? HTTP_IO_AGAIN :
	    HTTP_IO_ERROR);
}

/* Send queued output, then the file body. */
static enum http_io
http_write(struct http_conn *c)
{
	ssize_t	 n;
	size_t	 chunk;

	while (c->out_sent < c->out_len) {
		n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
		    MSG_NOSIGNAL | (c->file_fd != -1 ? MSG_MORE : 0));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (http_write_errno());
		}
		c->out_sent += (size_t)n;
		STATS_ADD(bytes_out, (uint64_t)n);
	}
	c->out_len = c->out_sent = 0;
	while (c->file_fd != -1 && c->file_off < c->file_end) {
		chunk = (size_t)(c->file_end - c->file_off);
		if (chunk > (1U << 30))
			chunk = 1U << 30;
		n = sendfile(c->fd, c->file_fd, &c->file_off, chunk);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (http_write_errno());
		}
		if (n == 0)
			return (HTTP_IO_ERROR);	/* the file shrank */
		STATS_ADD(bytes_out, (uint64_t)n);
	}
	if (c->file_fd != -1) {
		close(c->file_fd);
		c->file_fd = -1;
		http_log_request(c);
	}
	return (HTTP_IO_DONE);
}

/* Half-close, then read until the client closes (RFC 9112 9.6). */
static void
http_linger(struct http_conn *c)
{
	if (shutdown(c->fd, SHUT_WR) == -1) {
		http_conn_close(c, "shutdown failed");
		return;
	}
	http_set_state(c, HTTP_LINGER);
	http_want(c, EV_READ);
	http_timer_set(c, HTTP_LINGER_SECONDS);
}

/* Nothing to do until the client sends more. */
static void
http_go_idle(struct http_conn *c)
{
	struct http_server	*hs = c->hs;

	http_want(c, EV_READ);
	if (c->in_off == c->in_len) {
		http_release_buffers(c);
		if (hs->draining)
			http_timer_set_ms(c, HTTP_DRAIN_IDLE_MS);
		else
			http_timer_set(c, hs->conf->keepalive_timeout);
	}
}

/* Run the connection as far as it can go without blocking. */
static void
http_process(struct http_conn *c)
{
	enum http_parse_result	 r;
	enum http_io		 io;
	int			 rc;

	for (;;) {
		switch (c->state) {
		case HTTP_WRITE:
			io = http_write(c);
			if (io == HTTP_IO_AGAIN) {
				http_want(c, EV_WRITE);
				http_timer_set(c, c->hs->conf->send_timeout);
				return;
			}
			if (io != HTTP_IO_DONE) {
				http_conn_close(c, "write error");
				return;
			}
			if (c->closing) {
				http_linger(c);
				return;
			}
			http_set_state(c, HTTP_IDLE);
			break;
		case HTTP_READ_BODY:
			rc = http_body_consume(c);
			if (rc == 0)
				goto wait_input;
			if (rc == -1) {
				http_respond_error(c,
				    c->chunked.error_status ?
				    c->chunked.error_status : 400);
				http_request_done(c);
				break;
			}
			http_dispatch(c);
			http_request_done(c);
			break;
		case HTTP_IDLE:
		case HTTP_READ_HEAD:
			if (c->in == NULL || c->in_off == c->in_len)
				goto wait_input;
			if (!c->req_started)
				http_request_start(c);
			r = http_parse_request(&c->parser, &c->req,
			    c->in + c->in_off, c->in_len - c->in_off);
			if (r == HTTP_PARSE_AGAIN)
				goto wait_input;
			if (r == HTTP_PARSE_ERROR) {
				c->in_off = c->in_len;	/* unusable now */
				http_respond_error(c, c->parser.error_status ?
				    c->parser.error_status : 400);
				http_request_done(c);
				break;
			}
			http_head_done(c);
			break;
		case HTTP_LINGER:
		default:
			return;
		}
	}

wait_input:
	/* Pipelined responses and 100 Continue go out before we wait. */
	if (c->out_len > c->out_sent) {
		io = http_write(c);
		if (io == HTTP_IO_ERROR) {
			http_conn_close(c, "write error");
			return;
		}
		if (io == HTTP_IO_AGAIN) {
			/* The client reads slowly: read nothing more from it
			 * until what is queued has gone (http_io_cb). */
			http_want(c, EV_WRITE);
			http_timer_set(c, c->hs->conf->send_timeout);
			return;
		}
	}
	if (c->state == HTTP_IDLE && !c->req_started)
		http_go_idle(c);
	else
		http_want(c, EV_READ);
}

static void
http_on_timeout(struct http_conn *c)
{
	switch (c->state) {
	case HTTP_READ_HEAD:
	case HTTP_READ_BODY:
		if (!c->req_started)
			break;
		c->keep_alive = 0;
		c->in_off = c->in_len;
		http_respond_error(c, 408);
		http_log_request(c);
		c->closing = 1;
		c->req_started = 0;
		http_set_state(c, HTTP_WRITE);
		http_process(c);
		return;
	case HTTP_WRITE:
		http_conn_close(c, "send timeout");
		return;
	case HTTP_IDLE:
		if (c->hs->draining) {
			http_linger(c);
			return;
		}
		http_conn_close(c, "keep-alive timeout");
		return;
	default:
		break;
	}
	http_conn_close(c, "timeout");
}

static void
http_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	http_on_timeout(arg);
}

static void
http_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn	*c = arg;
	enum http_io		 io;
	char			 sink[4096];
	ssize_t			 n;

	if (c->state == HTTP_LINGER) {
		do {
			n = recv(c->fd, sink, sizeof(sink), 0);
		} while (n > 0);
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			http_conn_close(c, "closed");
		return;
	}
	if (c->state == HTTP_WRITE) {
		http_process(c);
		return;
	}
	if (c->out_len > c->out_sent) {
		io = http_write(c);
		if (io == HTTP_IO_AGAIN)
			return;
		if (io != HTTP_IO_DONE) {
			http_conn_close(c, "write error");
			return;
		}
		if (c->req_started)
			http_timer_set(c, c->hs->conf->header_timeout);
		http_process(c);
		return;
	}
	io = http_read(c);
	if (io == HTTP_IO_EOF) {
		if (c->req_started && c->in_off < c->in_len)
			http_conn_close(c, "client closed mid-request");
		else
			http_conn_close(c, "client closed");
		return;
	}
	if (io == HTTP_IO_ERROR) {
		http_conn_close(c, "read error");
		return;
	}
	if (io == HTTP_IO_AGAIN)
		return;
	if (c->state == HTTP_IDLE && !c->req_started)
		evtimer_del(&c->timer);
	http_process(c);
}

/* -- connections -------------------------------------------------------- */

static void
http_conn_close(struct http_conn *c, const char *why)
{
	struct http_server	*hs = c->hs;

	log_debug("http %s: closed: %s", c->peer, why);
	if (c->ev_what != 0)
		event_del(&c->ev);
	evtimer_del(&c->timer);
	close(c->fd);
	if (c->file_fd != -1)
		close(c->file_fd);
	c->out_len = 0;
	http_release_buffers(c);
	free(c->out);
	TAILQ_REMOVE(&hs->conns, c, entry);
	free(c);
	service_conn_closed(hs->sv);
}

static void
http_format_peer(const struct sockaddr *sa, char *buf, size_t len)
{
	if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    buf, (socklen_t)len);
	else if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    buf, (socklen_t)len);
	else
		snprintf(buf, len, "-");
}

static void
http_accept(struct wserver *sv, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct http_server	*hs = sv->svc_data;
	struct http_conn	*c;
	int			 one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("server %s: out of memory: connection refused",
		    sv->conf->name);
		close(fd);
		return;
	}
	c->hs = hs;
	c->fd = fd;
	c->file_fd = -1;
	c->state = HTTP_IDLE;
	http_format_peer(sa, c->peer, sizeof(c->peer));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evtimer_assign(&c->timer, sv->base, http_timer_cb, c);
	TAILQ_INSERT_TAIL(&hs->conns, c, entry);
	service_conn_opened(sv);
	http_want(c, EV_READ);
	/* Until the first byte: the header timeout, not keep-alive's. */
	http_timer_set(c, hs->conf->header_timeout);
	(void)salen;
}

static int
http_init(struct wserver *sv, char *err, size_t errlen)
{
	const struct server_conf	*sc = sv->conf;
	struct http_server		*hs;
	struct timeval			 sec = { 1, 0 };
	size_t				 i;

	if ((hs = calloc(1, sizeof(*hs))) == NULL)
		goto oom;
	sv->svc_data = hs;
	hs->sv = sv;
	hs->conf = sc;
	TAILQ_INIT(&hs->conns);
	hs->limits.max_request_line = sc->max_request_line;
	hs->limits.max_header_size = sc->max_header_size;
	hs->limits.max_headers = sc->max_headers;
	hs->free_in = calloc(HTTP_POOL_MAX, sizeof(*hs->free_in));
	hs->free_hdrs = calloc(HTTP_POOL_MAX, sizeof(*hs->free_hdrs));
	hs->root_fds = calloc(sc->nlocations + 1, sizeof(*hs->root_fds));
	if (hs->free_in == NULL || hs->free_hdrs == NULL ||
	    hs->root_fds == NULL)
		goto oom;
	for (i = 0; i < sc->nlocations; i++) {
		hs->root_fds[i] = -1;
		if (sc->locations[i].handler != LOC_ROOT)
			continue;
		hs->root_fds[i] = open(sc->locations[i].root,
		    O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (hs->root_fds[i] == -1) {
			snprintf(err, errlen, "location %s: root %s: %s",
			    sc->locations[i].prefix, sc->locations[i].root,
			    strerror(errno));
			return (-1);
		}
	}
	hs->mime = mime_load(sc->mime_types);
	if (hs->mime == NULL)
		goto oom;
	if (sc->access_log_fd != -1) {
		if ((hs->alog = accesslog_new(sc->access_log_fd)) == NULL)
			goto oom;
		hs->ev_flush = event_new(sv->base, -1, EV_PERSIST,
		    http_flush_cb, hs);
		if (hs->ev_flush == NULL || event_add(hs->ev_flush, &sec) == -1)
			goto oom;
	}
	return (0);
oom:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

/* Stop taking new requests: answer what is in flight with Connection:
 * close, give idle keep-alive connections a moment, then close them. */
static void
http_drain(struct wserver *sv)
{
	struct http_server	*hs = sv->svc_data;
	struct http_conn	*c;

	hs->draining = 1;
	TAILQ_FOREACH(c, &hs->conns, entry) {
		if (c->state == HTTP_IDLE && !c->req_started &&
		    c->out_len == 0)
			http_timer_set_ms(c, HTTP_DRAIN_IDLE_MS);
	}
}

static void
http_shutdown(struct wserver *sv)
{
	struct http_server	*hs = sv->svc_data;
	struct http_conn	*c;
	unsigned		 i;

	if (hs == NULL)
		return;
	while ((c = TAILQ_FIRST(&hs->conns)) != NULL)
		http_conn_close(c, "worker stopping");
	for (i = 0; i < hs->nfree_in; i++)
		free(hs->free_in[i]);
	for (i = 0; i < hs->nfree_hdrs; i++)
		free(hs->free_hdrs[i]);
	free(hs->free_in);
	free(hs->free_hdrs);
	for (i = 0; hs->root_fds != NULL && i < hs->conf->nlocations; i++)
		if (hs->root_fds[i] != -1)
			close(hs->root_fds[i]);
	free(hs->root_fds);
	if (hs->ev_flush != NULL)
		event_free(hs->ev_flush);
	accesslog_free(hs->alog);
	mime_free(hs->mime);
	free(hs);
	sv->svc_data = NULL;
}

/* USR1: the master reopened this server's access log. */
static void
http_reopen(struct wserver *sv, int fd)
{
	struct http_server	*hs = sv->svc_data;

	if (hs == NULL || hs->alog == NULL) {
		close(fd);
		return;
	}
	accesslog_flush(hs->alog);
	accesslog_set_fd(hs->alog, fd);
}

const struct service http_service = {
	.name = "http",
	.init = http_init,
	.accept = http_accept,
	.drain = http_drain,
	.shutdown = http_shutdown,
	.reopen = http_reopen,
};
