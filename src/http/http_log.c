/*
 * http_log.c: the access log line of a request: combined format plus
 * the request time, into the server's buffered access log.
 */
#include "autoconf.h"

#include <stdio.h>
#include <time.h>

#include "http/accesslog.h"
#include "http/http_core.h"

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
void
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
	o = (size_t)snprintf(p, room, "%s - - [%s] \"", http_conn_peer(c),
	    http_log_time());
	if (have) {
		o += http_log_escape(p + o, 1024, http_request_str(c,
		    x->req.method_text), x->req.method_text.len);
		p[o++] = ' ';
		o += http_log_escape(p + o, 1500, http_request_str(c,
		    x->req.target), x->req.target.len);
		o += (size_t)snprintf(p + o, room - o, " HTTP/1.%d",
		    x->req.version == 10 ? 0 : 1);
	} else
		p[o++] = '-';
	o += (size_t)snprintf(p + o, room - o, "\" %d %llu \"", x->status,
	    (unsigned long long)x->body_bytes);
	o += http_log_escape(p + o, 600, have ? http_request_str(c,
	    x->req.referer) : "", have ? x->req.referer.len : 0);
	p[o++] = '"';
	p[o++] = ' ';
	p[o++] = '"';
	o += http_log_escape(p + o, 600, have ? http_request_str(c,
	    x->req.user_agent) : "", have ? x->req.user_agent.len : 0);
	o += (size_t)snprintf(p + o, room - o, "\" %.3f\n", secs);
	accesslog_commit(hs->alog, o < room ? o : room);
}

/* Once a second: write what the access log buffered. */
void
http_log_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server	*hs = arg;

	accesslog_flush(hs->alog);
}
