/*
 * http.c: the HTTP/1.1 service: connection state machine, request
 * dispatch, response writer, timeouts, draining and the access log.
 *
 * One struct http_conn per connection, moved between the states of enum
 * http_state by http_set_state() only. Requests are parsed in place from
 * the connection's input buffer (http_parser.c); responses are assembled
 * in one output buffer (pipelined responses and small files too) and sent
 * with one send(), followed by sendfile() for a large file body. The
 * per-request state and buffers (struct http_xchg) of idle connections go
 * back to a per-server pool, so a keep-alive connection between requests
 * costs only its struct http_conn, and the steady state allocates nothing.
 *
 * Timeouts are not one libevent timer per connection: each kind of timeout
 * has one queue per server, kept in deadline order by appending (every
 * entry of a queue has the same duration), and one timer per server fires
 * at the earliest deadline. Re-arming on every request is then a move
 * between two lists, not two heap operations and a timer struct.
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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/accesslog.h"
#include "core/conf.h"
#include "http/http.h"
#include "http/http_date.h"
#include "http/http_fcache.h"
#include "http/http_path.h"
#include "core/log.h"
#include "http/mime.h"
#include "event/service.h"
#include "core/stats.h"

#define HTTP_IN_DEFAULT		4096	/* input buffer to start with */
#define HTTP_OUT_DEFAULT	4096
#define HTTP_OUT_KEEP		(64 * 1024)	/* larger: not pooled */
#define HTTP_OUT_PIPELINE_MAX	(64 * 1024)	/* flush pipelined above */
#define HTTP_POOL_MAX		256	/* pooled exchanges per server */
#define HTTP_LINGER_SECONDS	2	/* reading after our FIN */
#define HTTP_LINGER_READS	16	/* of 4 KiB per turn */
#define HTTP_DRAIN_IDLE_MS	5000	/* idle keep-alive grace on drain */
#define HTTP_CLOCK_SLACK_MS	10	/* CLOCK_MONOTONIC_COARSE ticks */
#define HTTP_PATH_MAX		8192

static const char *const http_state_names[HTTP_NSTATES] = {
	"read-head", "read-body", "write", "idle", "linger"
};

static void	http_process(struct http_conn *);
static void	http_conn_close(struct http_conn *, const char *);
static void	http_ready(struct poller_item *, void *);
static void	http_on_timeout(struct http_conn *);

/* The one place a connection changes state. */
static void
http_set_state(struct http_conn *c, enum http_state s)
{
	if (s >= HTTP_NSTATES)
		fatalx("http: bad state %d", (int)s);
	if (c->state != s && log_wants(LOG_LEVEL_DEBUG))
		log_debug("http %s: %s -> %s", http_peer(c),
		    http_state_names[c->state], http_state_names[s]);
	c->state = (uint8_t)s;
}

/* The peer's address, for logs (one static buffer). */
const char *
http_peer(const struct http_conn *c)
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

/* -- timeouts ----------------------------------------------------------- */

/* Milliseconds of a clock that costs no system call to read. */
int64_t
http_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
http_sweep_arm(struct http_server *hs, int64_t at)
{
	int64_t		 ms = at - http_now_ms();
	struct timeval	 tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(hs->ev_sweep, &tv);
	hs->sweep_at = at;
}

/* (Re)start the connection's timeout of kind q, from now. */
static void
http_timeout(struct http_conn *c, enum http_tq q)
{
	struct http_server	*hs = c->hs;

	TAILQ_REMOVE(&hs->tq[c->tq], c, tq_entry);
	c->tq = (uint8_t)q;
	c->deadline = http_now_ms() + hs->tq_ms[q];
	TAILQ_INSERT_TAIL(&hs->tq[q], c, tq_entry);
	if (hs->sweep_at == 0 || c->deadline < hs->sweep_at)
		http_sweep_arm(hs, c->deadline);
}

/* The earliest deadline has come: expire what is due, re-arm. */
static void
http_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server	*hs = arg;
	struct http_conn	*c;
	int64_t			 now = http_now_ms(), next = 0;
	int			 q;

	hs->sweep_at = 0;
	for (q = 0; q < HTTP_NTQ; q++) {
		while ((c = TAILQ_FIRST(&hs->tq[q])) != NULL &&
		    c->deadline <= now + HTTP_CLOCK_SLACK_MS) {
			http_on_timeout(c);
			/* Every timeout closes or moves on; never spin. */
			if (TAILQ_FIRST(&hs->tq[q]) == c &&
			    c->deadline <= now + HTTP_CLOCK_SLACK_MS)
				http_conn_close(c, "timeout");
		}
	}
	for (q = 0; q < HTTP_NTQ; q++) {
		c = TAILQ_FIRST(&hs->tq[q]);
		if (c != NULL && (next == 0 || c->deadline < next))
			next = c->deadline;
	}
	if (next != 0 && (hs->sweep_at == 0 || next < hs->sweep_at))
		http_sweep_arm(hs, next);
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
static void
http_want_read(struct http_conn *c)
{
	poller_want_read(c->hs->poller, &c->pi);
}

static void
http_want_write(struct http_conn *c)
{
	poller_want_write(c->hs->poller, &c->pi);
}

/* -- exchanges (per-request state and buffers) --------------------------- */

static struct http_xchg *
http_xchg_get(struct http_server *hs)
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
	x->file_fd = -1;
	x->file = NULL;
	x->status = 0;
	x->body_bytes = 0;
	return (x);
}

/* The file body is sent (or never will be): let its descriptor go. */
static void
http_xchg_file_done(struct http_server *hs, struct http_xchg *x)
{
	if (x->file != NULL)
		fcache_release(hs->fcache, x->file);
	else if (x->file_fd != -1)
		close(x->file_fd);
	x->file = NULL;
	x->file_fd = -1;
}

void
http_file_done(struct http_conn *c)
{
	http_xchg_file_done(c->hs, c->x);
}

static void
http_xchg_put(struct http_server *hs, struct http_xchg *x)
{
	http_xchg_file_done(hs, x);
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
http_take_buffers(struct http_conn *c)
{
	if (c->x == NULL && (c->x = http_xchg_get(c->hs)) == NULL)
		return (-1);
	return (0);
}

/* An idle connection with nothing buffered gives its exchange back. */
static void
http_release_buffers(struct http_conn *c)
{
	if (c->x != NULL) {
		http_xchg_put(c->hs, c->x);
		c->x = NULL;
	}
}

int
http_out_reserve(struct http_conn *c, size_t n)
{
	struct http_xchg	*x = c->x;
	size_t			 cap;
	char			*p;

	if (x->out_cap - x->out_len >= n)
		return (0);
	cap = x->out_cap ? x->out_cap : HTTP_OUT_DEFAULT;
	while (cap - x->out_len < n)
		cap *= 2;
	if ((p = realloc(x->out, cap)) == NULL)
		return (-1);
	x->out = p;
	x->out_cap = cap;
	return (0);
}

void
http_out_add(struct http_conn *c, const void *data, size_t n)
{
	if (http_out_reserve(c, n) == -1) {
		c->closing = 1;		/* cannot answer properly: give up */
		return;
	}
	memcpy(c->x->out + c->x->out_len, data, n);
	c->x->out_len += n;
}

void
http_out_printf(struct http_conn *c, const char *fmt, ...)
{
	struct http_xchg	*x = c->x;
	va_list			 ap;
	int			 n;

	if (http_out_reserve(c, 256) == -1) {
		c->closing = 1;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(x->out + x->out_len, x->out_cap - x->out_len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= x->out_cap - x->out_len) {
		if (http_out_reserve(c, (size_t)n + 1) == -1) {
			c->closing = 1;
			return;
		}
		va_start(ap, fmt);
		(void)vsnprintf(x->out + x->out_len, x->out_cap - x->out_len,
		    fmt, ap);
		va_end(ap);
	}
	x->out_len += (size_t)n;
}

/* Unsigned decimal at p; returns the end. */
static char *
http_put_u64(char *p, uint64_t v)
{
	char	 tmp[20];
	size_t	 i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(p, tmp + i, sizeof(tmp) - i);
	return (p + sizeof(tmp) - i);
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
	return (c->x->in + c->x->req_base + s.off);
}

#define HTTP_PUT(p, lit)	(memcpy((p), (lit), sizeof(lit) - 1), \
				    (p) + sizeof(lit) - 1)

/*
 * Status line and the headers every response has. clen < 0: no
 * Content-Length. The caller may add headers, then http_response_end_head.
 * This runs for every response: it copies, it does not format.
 */
void
http_response_head(struct http_conn *c, int status, const char *ctype,
    int64_t clen)
{
	struct http_xchg	*x = c->x;
	const char		*text = http_status_text(status);
	size_t			 tlen = strlen(text);
	size_t			 clen_ct = ctype != NULL ? strlen(ctype) : 0;
	char			*p, *start;
	int			 i;

	x->status = status;
	i = status / 100 - 1;
	if (i >= 0 && i < STATS_NCLASSES)
		STATS_ADD(responses[i], 1);
	if (status < 100 || status > 999)
		status = 500;
	if (http_out_reserve(c, 192 + tlen + clen_ct) == -1) {
		c->closing = 1;
		return;
	}
	p = start = x->out + x->out_len;
	p = HTTP_PUT(p, "HTTP/1.1 ");
	*p++ = (char)('0' + status / 100);
	*p++ = (char)('0' + status / 10 % 10);
	*p++ = (char)('0' + status % 10);
	*p++ = ' ';
	memcpy(p, text, tlen);
	p += tlen;
	p = HTTP_PUT(p, "\r\nServer: drover/" PACKAGE_VERSION "\r\nDate: ");
	memcpy(p, http_date_now(), HTTP_DATE_LEN);
	p += HTTP_DATE_LEN;
	p = HTTP_PUT(p, "\r\n");
	if (ctype != NULL) {
		p = HTTP_PUT(p, "Content-Type: ");
		memcpy(p, ctype, clen_ct);
		p += clen_ct;
		p = HTTP_PUT(p, "\r\n");
	}
	if (clen >= 0) {
		p = HTTP_PUT(p, "Content-Length: ");
		p = http_put_u64(p, (uint64_t)clen);
		p = HTTP_PUT(p, "\r\n");
	}
	if (!c->keep_alive)
		p = HTTP_PUT(p, "Connection: close\r\n");
	else if (x->req.version == 10)
		p = HTTP_PUT(p, "Connection: keep-alive\r\n");
	x->out_len += (size_t)(p - start);
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
	if (c->x->req.method != HTTP_METHOD_HEAD && len > 0) {
		http_out_add(c, body, len);
		c->x->body_bytes = len;
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
	if (c->x->req.method != HTTP_METHOD_HEAD) {
		http_out_add(c, body, (size_t)n);
		c->x->body_bytes = (uint64_t)n;
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
	struct http_xchg	*x = c->x;
	struct http_server	*hs = c->hs;
	struct timespec		 now;
	char			*p;
	size_t			 room = 4096, o;
	double			 secs;
	int			 have = c->x->req.target.len > 0;

	if (hs->alog == NULL)
		return;
	if ((p = accesslog_reserve(hs->alog, room)) == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - x->req_start.tv_sec) +
	    (double)(now.tv_nsec - x->req_start.tv_nsec) / 1e9;
	o = (size_t)snprintf(p, room, "%s - - [%s] \"", http_peer(c),
	    http_log_time());
	if (have) {
		o += http_log_escape(p + o, 1024, http_req_str(c,
		    x->req.method_text), x->req.method_text.len);
		p[o++] = ' ';
		o += http_log_escape(p + o, 1500, http_req_str(c,
		    x->req.target), x->req.target.len);
		o += (size_t)snprintf(p + o, room - o, " HTTP/1.%d",
		    x->req.version == 10 ? 0 : 1);
	} else
		p[o++] = '-';
	o += (size_t)snprintf(p + o, room - o, "\" %d %llu \"", x->status,
	    (unsigned long long)x->body_bytes);
	o += http_log_escape(p + o, 600, have ? http_req_str(c,
	    x->req.referer) : "", have ? x->req.referer.len : 0);
	p[o++] = '"';
	p[o++] = ' ';
	p[o++] = '"';
	o += http_log_escape(p + o, 600, have ? http_req_str(c,
	    x->req.user_agent) : "", have ? x->req.user_agent.len : 0);
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
	int				 len;

	STATS_ADD(requests, 1);
	/* The whole request is in. A client that asked to close sends
	 * nothing more, so its connection needs no lingering close; but
	 * some send a stray CRLF after a body. */
	c->linger = c->x->req.keep_alive || c->x->req.content_length > 0 ||
	    c->x->req.chunked;
	c->keep_alive = c->x->req.keep_alive && !hs->draining;
	c->x->body_bytes = 0;
	if (c->x->req.method == HTTP_METHOD_UNKNOWN) {
		http_respond_error(c, 501);
		return;
	}
	if (c->x->req.method != HTTP_METHOD_GET &&
	    c->x->req.method != HTTP_METHOD_HEAD) {
		http_respond_error(c, 405);
		return;
	}
	len = http_path_normalize(http_req_str(c, c->x->req.path),
	    c->x->req.path.len, path, sizeof(path));
	if (len < 0) {
		http_respond_error(c, c->x->req.path.len >= sizeof(path) ? 414 :
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
		http_static_serve(c, lc, (int)(lc - hs->conf->locations), path,
		    (size_t)len);
		break;
	case LOC_STATS:
		http_stats_serve(c, lc);
		break;
	case LOC_ECHO_BODY:	/* needs the handler interface: next commit */
		http_respond_error(c, 501);
		break;
	}
}

/* The response to the current request is queued: log it, move on. */
static void
http_request_done(struct http_conn *c)
{
	struct http_xchg	*x = c->x;
	int			 one = 1;

	if (x->file_fd == -1)
		http_log_request(c);
	if (!c->keep_alive)
		c->closing = 1;
	else if (!c->nodelay) {
		/* Keep-alive: later responses must not wait for the ACK of
		 * this one (Nagle). A closing connection never needs it. */
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		c->nodelay = 1;
	}
	x->req_started = 0;
	if (c->closing || x->file_fd != -1 ||
	    x->out_len - x->out_sent > HTTP_OUT_PIPELINE_MAX)
		http_set_state(c, HTTP_WRITE);
	else
		http_set_state(c, HTTP_IDLE);
}

/* Discard body bytes from the buffer; 1 done, 0 more needed, -1 error. */
static int
http_body_consume(struct http_conn *c)
{
	struct http_xchg	*x = c->x;
	enum http_parse_result	 r;
	uint32_t		 avail = c->x->in_len - c->x->in_off;
	size_t			 used;

	if (x->body_chunked) {
		r = http_chunked_feed(&x->chunked, x->in + x->in_off, avail,
		    &used);
		x->in_off += (uint32_t)used;
		if (r == HTTP_PARSE_ERROR)
			return (-1);
		if (r == HTTP_PARSE_DONE)
			return (1);
	} else {
		used = avail < x->body_left ? avail : (size_t)x->body_left;
		x->in_off += (uint32_t)used;
		x->body_left -= used;
		if (x->body_left == 0)
			return (1);
	}
	/* Keep the head (for the response), reuse the space of the body. */
	if (x->in_off == x->in_len)
		x->in_len = x->in_off = x->req_base + x->req.head_len;
	return (0);
}

/* The head is parsed: set up reading the body, if there is one. */
static void
http_head_done(struct http_conn *c)
{
	struct http_xchg	*x = c->x;
	struct http_server	*hs = c->hs;

	x->in_off = x->req_base + x->req.head_len;
	x->body_chunked = x->req.chunked;
	x->body_left = x->req.content_length > 0 ?
	    (uint64_t)x->req.content_length : 0;
	if (x->req.content_length > 0 &&
	    (uint64_t)x->req.content_length > hs->conf->max_body_size) {
		c->keep_alive = 0;
		http_respond_error(c, 413);
		http_request_done(c);
		return;
	}
	if (x->body_chunked)
		http_chunked_init(&x->chunked, hs->conf->max_body_size);
	if (!x->body_chunked && x->body_left == 0) {
		http_dispatch(c);
		http_request_done(c);
		return;
	}
	http_set_state(c, HTTP_READ_BODY);
	if (x->req.expect_continue && x->req.version == 11 &&
	    x->in_off == x->in_len)
		http_out_add(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* Start parsing a new request at in_off. */
static void
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
	x->status = 0;
	x->body_bytes = 0;
	if (hs->alog != NULL)
		clock_gettime(CLOCK_MONOTONIC, &x->req_start);
	http_set_state(c, HTTP_READ_HEAD);
	http_timeout(c, HTTP_TQ_HEADER);
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
	struct http_xchg	*x;
	uint32_t		 max = hs->limits.max_header_size + 4096;
	uint32_t		 start;
	char			*p;
	ssize_t			 n;

	if (http_take_buffers(c) == -1)
		return (HTTP_IO_ERROR);
	x = c->x;
	if (x->in_len == x->in_cap) {
		start = x->req_started ? x->req_base : x->in_off;
		if (c->state != HTTP_READ_BODY && start > 0) {
			/* Move the request being read to the front; its
			 * spans are relative to req_base, which moves too. */
			memmove(x->in, x->in + start, x->in_len - start);
			x->in_len -= start;
			x->in_off -= start;
			x->req_base -= x->req_started ? start : 0;
			if (!x->req_started)
				x->req_base = 0;
		} else if (x->in_cap < max) {
			if ((p = realloc(x->in, max)) == NULL)
				return (HTTP_IO_ERROR);
			x->in = p;
			x->in_cap = max;
		} else
			return (HTTP_IO_ERROR);	/* cannot happen: limits */
	}
	n = poller_recv(&c->pi, x->in + x->in_len, x->in_cap - x->in_len);
	if (n > 0) {
		x->in_len += (uint32_t)n;
		STATS_ADD(bytes_in, (uint64_t)n);
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
http_write_errno(struct http_conn *c)
{
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return (HTTP_IO_ERROR);
	c->pi.wready = 0;
	return (HTTP_IO_AGAIN);
}

/* Send queued output, then the file body. */
static enum http_io
http_write(struct http_conn *c)
{
	struct http_xchg	*x = c->x;
	ssize_t	 n;
	size_t	 chunk;

	if (!c->pi.wready)
		return (HTTP_IO_AGAIN);
	while (x->out_sent < x->out_len) {
		n = send(c->fd, x->out + x->out_sent, x->out_len - x->out_sent,
		    MSG_NOSIGNAL | (x->file_fd != -1 ? MSG_MORE : 0));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (http_write_errno(c));
		}
		x->out_sent += (size_t)n;
		STATS_ADD(bytes_out, (uint64_t)n);
	}
	x->out_len = x->out_sent = 0;
	while (x->file_fd != -1 && x->file_off < x->file_end) {
		chunk = (size_t)(x->file_end - x->file_off);
		if (chunk > (1U << 30))
			chunk = 1U << 30;
		n = sendfile(c->fd, x->file_fd, &x->file_off, chunk);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (http_write_errno(c));
		}
		if (n == 0)
			return (HTTP_IO_ERROR);	/* the file shrank */
		STATS_ADD(bytes_out, (uint64_t)n);
	}
	if (x->file_fd != -1) {
		http_file_done(c);
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
	http_timeout(c, HTTP_TQ_LINGER);
	http_want_read(c);
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
http_close_sent(struct http_conn *c)
{
	if (!c->linger && !c->pi.rready && (c->x == NULL ||
	    (c->x->in_off == c->x->in_len && c->x->in_len < c->x->in_cap)))
		http_conn_close(c, "done");
	else
		http_linger(c);
}

/* Nothing to do until the client sends more. */
static void
http_go_idle(struct http_conn *c)
{
	struct http_server	*hs = c->hs;

	http_want_read(c);
	if (c->x == NULL || c->x->in_off == c->x->in_len) {
		http_release_buffers(c);
		http_timeout(c, hs->draining ? HTTP_TQ_DRAIN :
		    HTTP_TQ_KEEPALIVE);
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
				http_want_write(c);
				http_timeout(c, HTTP_TQ_SEND);
				return;
			}
			if (io != HTTP_IO_DONE) {
				http_conn_close(c, "write error");
				return;
			}
			if (c->closing) {
				http_close_sent(c);
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
				    c->x->chunked.error_status ?
				    c->x->chunked.error_status : 400);
				http_request_done(c);
				break;
			}
			http_dispatch(c);
			http_request_done(c);
			break;
		case HTTP_IDLE:
		case HTTP_READ_HEAD:
			if (c->x == NULL || c->x->in_off == c->x->in_len)
				goto wait_input;
			if (!c->x->req_started)
				http_request_start(c);
			r = http_parse_request(&c->x->parser, &c->x->req,
			    c->x->in + c->x->in_off, c->x->in_len - c->x->in_off);
			if (r == HTTP_PARSE_AGAIN)
				goto wait_input;
			if (r == HTTP_PARSE_ERROR) {
				c->x->in_off = c->x->in_len;	/* unusable now */
				http_respond_error(c, c->x->parser.error_status ?
				    c->x->parser.error_status : 400);
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
	if (c->x != NULL && c->x->out_len > c->x->out_sent) {
		io = http_write(c);
		if (io == HTTP_IO_ERROR) {
			http_conn_close(c, "write error");
			return;
		}
		if (io == HTTP_IO_AGAIN) {
			/* The client reads slowly: read nothing more from it
			 * until what is queued has gone (http_ready). */
			http_want_write(c);
			http_timeout(c, HTTP_TQ_SEND);
			return;
		}
	}
	if (c->state == HTTP_IDLE && (c->x == NULL || !c->x->req_started))
		http_go_idle(c);
	else
		http_want_read(c);
}

static void
http_on_timeout(struct http_conn *c)
{
	switch (c->state) {
	case HTTP_READ_HEAD:
	case HTTP_READ_BODY:
		if (!c->x->req_started)
			break;
		c->keep_alive = 0;
		c->x->in_off = c->x->in_len;
		http_respond_error(c, 408);
		http_log_request(c);
		c->closing = 1;
		c->x->req_started = 0;
		http_set_state(c, HTTP_WRITE);
		http_process(c);
		return;
	case HTTP_WRITE:
		http_conn_close(c, "send timeout");
		return;
	case HTTP_IDLE:
		if (c->x != NULL && c->x->out_len > c->x->out_sent) {
			http_conn_close(c, "send timeout");
			return;
		}
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

/* epoll_ctl failed (ENOMEM, or ENOSPC: fs.epoll.max_user_watches). */
static void
http_poll_failed(struct http_conn *c)
{
	static time_t	 last;
	time_t		 now = time(NULL);

	if (now != last) {	/* at most once a second */
		last = now;
		log_warnx("server %s: connection from %s closed: epoll: %s",
		    c->hs->conf->name, http_peer(c), strerror(c->pi.error));
	}
	http_conn_close(c, "epoll failed");
}

/* The lingering close: read and drop until the client's FIN, a bounded
 * amount per turn (a client that keeps sending must not hold the loop,
 * nor the linger timeout from firing). */
static void
http_linger_read(struct http_conn *c)
{
	char		 sink[4096];
	ssize_t		 n;
	int		 i;

	for (i = 0; i < HTTP_LINGER_READS; i++)
		if ((n = poller_recv(&c->pi, sink, sizeof(sink))) <= 0)
			break;
	if (i == HTTP_LINGER_READS || (n == -1 && errno == EINTR))
		poller_post(c->hs->poller, &c->pi);
	else if (n == 0 || errno != EAGAIN)
		http_conn_close(c, "closed");
}

/* An edge came for the connection, or it was posted: do what can be
 * done with the readiness it has. */
static void
http_ready(struct poller_item *it, void *arg)
{
	struct http_conn	*c = POLLER_OWNER(it, struct http_conn, pi);
	enum http_io		 io;

	(void)arg;
	if (it->error != 0) {
		http_poll_failed(c);
		return;
	}
	if (c->state == HTTP_LINGER) {
		if (it->rready)
			http_linger_read(c);
		return;
	}
	if (c->state == HTTP_WRITE) {
		if (it->wready)
			http_process(c);
		return;
	}
	if (c->x != NULL && c->x->out_len > c->x->out_sent) {
		if (!it->wready)
			return;
		io = http_write(c);
		if (io == HTTP_IO_AGAIN) {
			/* Progress or not, as in the write state: the send
			 * timeout counts from now. */
			http_want_write(c);
			http_timeout(c, HTTP_TQ_SEND);
			return;
		}
		if (io != HTTP_IO_DONE) {
			http_conn_close(c, "write error");
			return;
		}
		if (c->x->req_started)
			http_timeout(c, HTTP_TQ_HEADER);
		http_process(c);
		return;
	}
	if (!it->rready)
		return;
	io = http_read(c);
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
			http_release_buffers(c);
		http_want_read(c);	/* first read at accept: add it */
		return;
	}
	/* If the buffer filled, rready is still set and waiting for input
	 * posts the connection again (http_want_read). */
	http_process(c);
}

/* -- connections -------------------------------------------------------- */

static void
http_conn_close(struct http_conn *c, const char *why)
{
	struct http_server	*hs = c->hs;

	if (log_wants(LOG_LEVEL_DEBUG))
		log_debug("http %s: closed: %s", http_peer(c), why);
	/* No epoll_ctl(DEL): the close removes it from the set. */
	poller_forget(hs->poller, &c->pi);
	close(c->fd);
	http_release_buffers(c);
	TAILQ_REMOVE(&hs->tq[c->tq], c, tq_entry);
	free(c);
	service_conn_closed(hs->sv);
}

static void
http_accept(struct wserver *sv, int fd, const struct sockaddr *sa,
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
	c->fd = fd;
	poller_item_init(&c->pi, fd);
	c->state = HTTP_IDLE;
	if (salen > sizeof(c->peer))
		salen = sizeof(c->peer);
	memcpy(&c->peer, sa, salen);
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
		c->pi.rready = 1;
		http_ready(&c->pi, hs);
	} else
		http_want_read(c);
}

static int
http_init(struct wserver *sv, char *err, size_t errlen)
{
	const struct server_conf	*sc = sv->conf;
	struct http_server		*hs;
	struct timeval			 sec = { 1, 0 };
	size_t				 i;
	int				 q;

	if ((hs = calloc(1, sizeof(*hs))) == NULL)
		goto oom;
	sv->svc_data = hs;
	hs->sv = sv;
	hs->conf = sc;
	for (q = 0; q < HTTP_NTQ; q++)
		TAILQ_INIT(&hs->tq[q]);
	hs->tq_ms[HTTP_TQ_HEADER] = sc->header_timeout * 1000;
	hs->tq_ms[HTTP_TQ_KEEPALIVE] = sc->keepalive_timeout * 1000;
	hs->tq_ms[HTTP_TQ_SEND] = sc->send_timeout * 1000;
	hs->tq_ms[HTTP_TQ_LINGER] = HTTP_LINGER_SECONDS * 1000;
	hs->tq_ms[HTTP_TQ_DRAIN] = HTTP_DRAIN_IDLE_MS;
	if ((hs->ev_sweep = evtimer_new(sv->base, http_sweep_cb, hs)) == NULL)
		goto oom;
	if ((hs->poller = poller_new(sv->base, http_ready, hs)) == NULL) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return (-1);
	}
	hs->limits.max_request_line = sc->max_request_line;
	hs->limits.max_header_size = sc->max_header_size;
	hs->limits.max_headers = sc->max_headers;
	hs->root_fds = calloc(sc->nlocations + 1, sizeof(*hs->root_fds));
	if (hs->root_fds == NULL)
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
	hs->fcache = fcache_new();
	if (hs->mime == NULL || hs->fcache == NULL)
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

/* Move idle connections of queue q to the drain grace. */
static void
http_drain_queue(struct http_server *hs, enum http_tq q)
{
	struct http_conn	*c, *next;

	for (c = TAILQ_FIRST(&hs->tq[q]); c != NULL; c = next) {
		next = TAILQ_NEXT(c, tq_entry);
		if (c->state == HTTP_IDLE && (c->x == NULL ||
		    (!c->x->req_started && c->x->out_len == 0)))
			http_timeout(c, HTTP_TQ_DRAIN);
	}
}

/* Stop taking new requests: answer what is in flight with Connection:
 * close, give idle keep-alive connections a moment, then close them. */
static void
http_drain(struct wserver *sv)
{
	struct http_server	*hs = sv->svc_data;

	hs->draining = 1;
	/* Idle connections wait in these two (HEADER: no byte yet). */
	http_drain_queue(hs, HTTP_TQ_KEEPALIVE);
	http_drain_queue(hs, HTTP_TQ_HEADER);
}

static void
http_shutdown(struct wserver *sv)
{
	struct http_server	*hs = sv->svc_data;
	struct http_conn	*c;
	struct http_xchg	*x;
	unsigned		 i;
	int			 q;

	if (hs == NULL)
		return;
	for (q = 0; q < HTTP_NTQ; q++)
		while ((c = TAILQ_FIRST(&hs->tq[q])) != NULL)
			http_conn_close(c, "worker stopping");
	while ((x = hs->free_x) != NULL) {
		hs->free_x = x->next_free;
		free(x->in);
		free(x->out);
		free(x);
	}
	for (i = 0; hs->root_fds != NULL && i < hs->conf->nlocations; i++)
		if (hs->root_fds[i] != -1)
			close(hs->root_fds[i]);
	free(hs->root_fds);
	if (hs->ev_sweep != NULL)
		event_free(hs->ev_sweep);
	poller_free(hs->poller);
	if (hs->ev_flush != NULL)
		event_free(hs->ev_flush);
	accesslog_free(hs->alog);
	fcache_free(hs->fcache);
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
