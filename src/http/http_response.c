/*
 * http_response.c: the response writer. Responses are assembled in the
 * exchange's output buffer (pipelined responses and small files
 * together) and sent by the connection with one send(); a streaming
 * handler adds its body piece by piece, in chunks when the length is not
 * known in advance.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stats.h"
#include "event/service.h"
#include "http/http_core.h"
#include "http/http_date.h"

int
http_response_reserve(struct http_conn *c, size_t n)
{
	struct http_xchg	*x = c->x;
	size_t			 cap;
	char			*p;

	if (x->out_cap - x->out_len >= n)
		return (0);
	if (x->out_sent > 0) {
		/* A streamed response: what is sent is room again. */
		memmove(x->out, x->out + x->out_sent, x->out_len - x->out_sent);
		x->out_len -= x->out_sent;
		x->out_sent = 0;
		if (x->out_cap - x->out_len >= n)
			return (0);
	}
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
http_response_add(struct http_conn *c, const void *data, size_t n)
{
	if (http_response_reserve(c, n) == -1) {
		c->closing = 1;		/* cannot answer properly: give up */
		return;
	}
	memcpy(c->x->out + c->x->out_len, data, n);
	c->x->out_len += n;
}

void
http_response_printf(struct http_conn *c, const char *fmt, ...)
{
	struct http_xchg	*x = c->x;
	va_list			 ap;
	int			 n;

	if (http_response_reserve(c, 256) == -1) {
		c->closing = 1;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(x->out + x->out_len, x->out_cap - x->out_len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= x->out_cap - x->out_len) {
		if (http_response_reserve(c, (size_t)n + 1) == -1) {
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
http_response_u64(char *p, uint64_t v)
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

/* The reason phrase of every status registered with IANA from 100 to 599. */
const char *
http_response_status_text(int status)
{
	switch (status) {
	case 100: return ("Continue");
	case 101: return ("Switching Protocols");
	case 102: return ("Processing");
	case 103: return ("Early Hints");
	case 200: return ("OK");
	case 201: return ("Created");
	case 202: return ("Accepted");
	case 203: return ("Non-Authoritative Information");
	case 204: return ("No Content");
	case 205: return ("Reset Content");
	case 206: return ("Partial Content");
	case 207: return ("Multi-Status");
	case 208: return ("Already Reported");
	case 226: return ("IM Used");
	case 300: return ("Multiple Choices");
	case 301: return ("Moved Permanently");
	case 302: return ("Found");
	case 303: return ("See Other");
	case 304: return ("Not Modified");
	case 305: return ("Use Proxy");
	case 307: return ("Temporary Redirect");
	case 308: return ("Permanent Redirect");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 402: return ("Payment Required");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 406: return ("Not Acceptable");
	case 407: return ("Proxy Authentication Required");
	case 408: return ("Request Timeout");
	case 409: return ("Conflict");
	case 410: return ("Gone");
	case 411: return ("Length Required");
	case 412: return ("Precondition Failed");
	case 413: return ("Content Too Large");
	case 414: return ("URI Too Long");
	case 415: return ("Unsupported Media Type");
	case 416: return ("Range Not Satisfiable");
	case 417: return ("Expectation Failed");
	case 421: return ("Misdirected Request");
	case 422: return ("Unprocessable Content");
	case 423: return ("Locked");
	case 424: return ("Failed Dependency");
	case 425: return ("Too Early");
	case 426: return ("Upgrade Required");
	case 428: return ("Precondition Required");
	case 429: return ("Too Many Requests");
	case 431: return ("Request Header Fields Too Large");
	case 451: return ("Unavailable For Legal Reasons");
	case 500: return ("Internal Server Error");
	case 501: return ("Not Implemented");
	case 502: return ("Bad Gateway");
	case 503: return ("Service Unavailable");
	case 504: return ("Gateway Timeout");
	case 505: return ("HTTP Version Not Supported");
	case 506: return ("Variant Also Negotiates");
	case 507: return ("Insufficient Storage");
	case 508: return ("Loop Detected");
	case 510: return ("Not Extended");
	case 511: return ("Network Authentication Required");
	}
	return ("Unknown");
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
	const char		*text = http_response_status_text(status);
	size_t			 tlen = strlen(text);
	size_t			 clen_ct = ctype != NULL ? strlen(ctype) : 0;
	char			*p, *start;
	int			 i;

	x->status = status;
	if (HTTP_DRAIN_CLOSES(c->hs))
		c->keep_alive = 0;	/* a pending request ends the drain */
	i = status / 100 - 1;
	if (i >= 0 && i < STATS_NCLASSES)
		STATS_ADD(c->hs->sv->st, responses[i], 1);
	if (status < 100 || status > 999)
		status = 500;
	if (http_response_reserve(c, 192 + tlen + clen_ct) == -1) {
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
		p = http_response_u64(p, (uint64_t)clen);
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
	http_response_add(c, "\r\n", 2);
}

/* A complete in-memory response (no body for HEAD). */
void
http_response_simple(struct http_conn *c, int status, const char *ctype,
    const char *body, size_t len)
{
	http_response_head(c, status, ctype, (int64_t)len);
	http_response_end_head(c);
	if (c->x->req.method != HTTP_METHOD_HEAD && len > 0) {
		http_response_add(c, body, len);
		c->x->body_bytes = len;
	}
}

/* An error page; errors that leave the stream unusable close it. */
void
http_response_error(struct http_conn *c, int status)
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
	    http_response_status_text(status));
	http_response_head(c, status, "text/plain; charset=utf-8", n);
	if (status == 405)
		http_response_add(c, "Allow: GET, HEAD\r\n", 18);
	http_response_end_head(c);
	if (c->x->req.method != HTTP_METHOD_HEAD) {
		http_response_add(c, body, (size_t)n);
		c->x->body_bytes = (uint64_t)n;
	}
}

/* Bytes queued and not yet sent: a streaming handler waits above
 * HTTP_OUT_HIGH, so a slow client holds a bounded buffer. */
size_t
http_response_pending(const struct http_conn *c)
{
	return (c->x->out_len - c->x->out_sent);
}

/* The body comes in chunks (before http_response_end_head). */
void
http_response_chunked(struct http_conn *c)
{
	http_response_add(c, "Transfer-Encoding: chunked\r\n", 28);
	c->x->out_chunked = 1;
}

/* A piece of a streamed body (nothing for HEAD). */
void
http_response_body(struct http_conn *c, const void *data, size_t len)
{
	if (len == 0 || c->x->req.method == HTTP_METHOD_HEAD)
		return;
	if (c->x->out_chunked)
		http_response_printf(c, "%zx\r\n", len);
	http_response_add(c, data, len);
	if (c->x->out_chunked)
		http_response_add(c, "\r\n", 2);
	c->x->body_bytes += len;
}

/* The end of a streamed body. */
void
http_response_body_end(struct http_conn *c)
{
	if (c->x->out_chunked && c->x->req.method != HTTP_METHOD_HEAD)
		http_response_add(c, "0\r\n\r\n", 5);
}
