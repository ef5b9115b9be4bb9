/*
 * http_parser.c: the incremental, zero-copy HTTP/1.x request parser.
 *
 * A state machine over the bytes in place (after nginx's ngx_http_parse.c):
 * every call resumes at parser->pos in the state it stopped in, so a
 * request may arrive split at any byte and the work stays linear in its
 * length. The parser holds offsets only, never pointers into the buffer.
 *
 * It is strict where leniency lets two parsers disagree on where a request
 * ends (request smuggling): one SP between the parts of the request line,
 * no whitespace before a header colon, no obs-fold, no CTLs, one
 * Content-Length value, never Content-Length with Transfer-Encoding,
 * chunked the final coding and only once, no Transfer-Encoding in HTTP/1.0,
 * exactly one Host in HTTP/1.1, and CRLF (not bare LF) inside chunked
 * bodies. A bare LF ends a line of the head, as RFC 9112 2.2 allows.
 */
#include "autoconf.h"

#include <string.h>
#include <strings.h>

#include "http_parser.h"

/* Request head states. */
enum {
	S_START = 0,	/* empty lines before the request line */
	S_START_LF,	/* CR of an empty line before the request line */
	S_METHOD,
	S_TARGET,
	S_VERSION,
	S_REQLINE_LF,
	S_HEADER_START,
	S_NAME,
	S_OWS,
	S_VALUE,
	S_VALUE_LF,
	S_HEAD_END_LF,
	S_DONE,
};

/* Bytes of CR/LF tolerated before the request line (RFC 9112 2.2). */
#define MAX_LEADING_EOL	16

/* Transfer-Encoding flags in parser->te_seen. */
#define TE_SEEN		0x01	/* the field is present */
#define TE_CHUNKED	0x02	/* chunked seen: it must be the last coding */
#define TE_OTHER	0x04	/* a coding we do not implement */

static const char *const method_names[] = {
	[HTTP_METHOD_UNKNOWN] = "UNKNOWN",
	[HTTP_METHOD_GET] = "GET",
	[HTTP_METHOD_HEAD] = "HEAD",
	[HTTP_METHOD_POST] = "POST",
	[HTTP_METHOD_PUT] = "PUT",
	[HTTP_METHOD_DELETE] = "DELETE",
	[HTTP_METHOD_OPTIONS] = "OPTIONS",
	[HTTP_METHOD_PATCH] = "PATCH",
	[HTTP_METHOD_TRACE] = "TRACE",
	[HTTP_METHOD_CONNECT] = "CONNECT",
};

#define NMETHODS	(sizeof(method_names) / sizeof(method_names[0]))

/* The canonical name of a method, "UNKNOWN" for anything else. */
const char *
http_method_name(enum http_method m)
{
	if ((unsigned)m >= NMETHODS)
		return ("UNKNOWN");
	return (method_names[m]);
}

/* RFC 9110 5.6.2 tchar. */
static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return (1);
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return (1);
	}
	return (0);
}

/* A byte allowed in a field value: VCHAR, obs-text, SP or HTAB. */
static int
is_field_byte(unsigned char c)
{
	return (c == '\t' || (c >= 0x20 && c != 0x7f));
}

/* A byte of an RFC 3986 host[:port]: reg-name, IP-literal, port. */
static int
is_host_byte(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return (1);
	switch (c) {
	case '-': case '.': case '_': case '~': case '%': case '!':
	case '$': case '&': case '\'': case '(': case ')': case '*':
	case '+': case ',': case ';': case '=': case ':': case '[':
	case ']':
		return (1);
	}
	return (0);
}

/* Whether len bytes at s are a plausible host[:port] (no userinfo). */
static int
host_valid(const char *s, uint32_t len)
{
	uint32_t	 i;

	for (i = 0; i < len; i++)
		if (!is_host_byte((unsigned char)s[i]))
			return (0);
	return (1);
}

/* Reset a parser for a new request under the given limits. */
void
http_parser_init(struct http_parser *p, const struct http_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->state = S_START;
	p->limits = *limits;
	if (p->limits.max_headers > HTTP_MAX_HEADERS_LIMIT)
		p->limits.max_headers = HTTP_MAX_HEADERS_LIMIT;
}

/* Reset a request, which will store its fields into headers. */
void
http_request_init(struct http_request *req, struct http_header *headers)
{
	memset(req, 0, sizeof(*req));
	req->headers = headers;
	req->content_length = -1;
}

/* Record an error; the parser stays in it. */
static enum http_parse_result
parse_error(struct http_parser *p, int status, const char *reason)
{
	p->error_status = status;
	p->error_reason = reason;
	return (HTTP_PARSE_ERROR);
}

/* Whether a span equals a lower-case literal, ignoring case. */
static int
span_is(const char *buf, struct http_span s, const char *lit)
{
	size_t	 n = strlen(lit);

	return (s.len == n && strncasecmp(buf + s.off, lit, n) == 0);
}

/* Map a method token to the enum (methods are case-sensitive). */
static enum http_method
method_lookup(const char *s, uint32_t len)
{
	size_t	 i;

	for (i = 1; i < NMETHODS; i++)
		if (strlen(method_names[i]) == len &&
		    memcmp(method_names[i], s, len) == 0)
			return ((enum http_method)i);
	return (HTTP_METHOD_UNKNOWN);
}

/* Split the request-target into path and query; -1 if it is not valid. */
static int
parse_target(const char *buf, struct http_request *req)
{
	const char	*t = buf + req->target.off;
	uint32_t	 len = req->target.len, i, start;

	if (t[0] == '*') {
		/* asterisk-form, for OPTIONS only */
		if (len != 1 || req->method != HTTP_METHOD_OPTIONS)
			return (-1);
		req->path = req->target;
		return (0);
	}
	start = 0;
	if (t[0] != '/') {
		/* absolute-form: "http" or "https" "://" authority path */
		for (i = 0; i < len && t[i] != ':'; i++)
			;
		if (!((i == 4 && strncasecmp(t, "http", 4) == 0) ||
		    (i == 5 && strncasecmp(t, "https", 5) == 0)))
			return (-1);
		if (len - i < 3 || t[i + 1] != '/' || t[i + 2] != '/')
			return (-1);
		start = i + 3;
		for (i = start; i < len && t[i] != '/' && t[i] != '?' &&
		    t[i] != '#'; i++)
			;
		if (i == start || !host_valid(t + start, i - start))
			return (-1);
		/* The authority of the target overrides any Host field. */
		req->host.off = req->target.off + start;
		req->host.len = i - start;
		req->has_host = 1;
		if (i == len || t[i] != '/')
			return (-1);	/* an empty path: not supported */
		start = i;
	}
	for (i = start; i < len && t[i] != '?' && t[i] != '#'; i++)
		;
	req->path.off = req->target.off + start;
	req->path.len = i - start;
	if (i < len && t[i] == '?') {
		start = ++i;
		while (i < len && t[i] != '#')
			i++;
		req->query.off = req->target.off + start;
		req->query.len = i - start;
	}
	return (0);
}

/* Step over OWS in v[*i..len). */
static void
skip_ows(const char *v, uint32_t len, uint32_t *i)
{
	while (*i < len && (v[*i] == ' ' || v[*i] == '\t'))
		(*i)++;
}

/*
 * The next element of a comma-separated list (RFC 9110 5.6.1), OWS trimmed;
 * empty elements are skipped. Returns 0 at the end of the list.
 */
static int
list_next(const char *v, uint32_t len, uint32_t *i, uint32_t *s,
    uint32_t *e)
{
	for (;;) {
		skip_ows(v, len, i);
		if (*i == len)
			return (0);
		if (v[*i] != ',')
			break;
		(*i)++;
	}
	*s = *i;
	while (*i < len && v[*i] != ',')
		(*i)++;
	*e = *i;
	while (*e > *s && (v[*e - 1] == ' ' || v[*e - 1] == '\t'))
		(*e)--;
	return (1);
}

/* Parse a Content-Length value, maybe a list of equal values; -1 if bad. */
static int
parse_content_length(const char *v, uint32_t len, int64_t *out)
{
	int64_t		 val = -1, cur;
	uint32_t	 i = 0;

	for (;;) {
		if (i == len || v[i] < '0' || v[i] > '9')
			return (-1);	/* empty value or element, or a sign */
		cur = 0;
		while (i < len && v[i] >= '0' && v[i] <= '9') {
			if (cur > (INT64_MAX - (v[i] - '0')) / 10)
				return (-1);
			cur = cur * 10 + (v[i] - '0');
			i++;
		}
		if (val != -1 && cur != val)
			return (-1);
		val = cur;
		skip_ows(v, len, &i);
		if (i == len)
			break;
		if (v[i] != ',')
			return (-1);
		i++;
		skip_ows(v, len, &i);
	}
	*out = val;
	return (0);
}

/* Fold one Transfer-Encoding field into the flags; -1 if it is bad. */
static int
parse_transfer_encoding(struct http_parser *p, const char *v, uint32_t len)
{
	uint32_t	 i = 0, s, e, k;

	p->te_seen |= TE_SEEN;
	while (list_next(v, len, &i, &s, &e)) {
		for (k = s; k < e; k++)
			if (!is_tchar((unsigned char)v[k]))
				return (-1);	/* parameters, quotes, junk */
		if (p->te_seen & TE_CHUNKED)
			return (-1);	/* anything after chunked */
		if (e - s == 7 && strncasecmp(v + s, "chunked", 7) == 0)
			p->te_seen |= TE_CHUNKED;
		else
			p->te_seen |= TE_OTHER;
	}
	return (0);
}

/* Note "close" and "keep-alive" among the Connection options. */
static void
parse_connection(struct http_parser *p, const char *v, uint32_t len)
{
	uint32_t	 i = 0, s, e;

	while (list_next(v, len, &i, &s, &e)) {
		if (e - s == 5 && strncasecmp(v + s, "close", 5) == 0)
			p->conn_close = 1;
		else if (e - s == 10 &&
		    strncasecmp(v + s, "keep-alive", 10) == 0)
			p->conn_keep = 1;
	}
}

/* Keep the first occurrence of a field the server reads as one value. */
static void
span_first(struct http_span *dst, struct http_span v)
{
	if (dst->len == 0)
		*dst = v;
}

/* One complete header field line ending at value_end: store, interpret. */
static enum http_parse_result
header_done(struct http_parser *p, const char *buf, struct http_request *req,
    uint32_t value_end)
{
	struct http_header	*h;
	const char		*v;
	int64_t			 cl;

	while (value_end > p->mark2 && (buf[value_end - 1] == ' ' ||
	    buf[value_end - 1] == '\t'))
		value_end--;
	h = &req->headers[req->nheaders++];
	h->name.off = p->mark;
	h->name.len = p->name_end - p->mark;
	h->value.off = p->mark2;
	h->value.len = value_end - p->mark2;
	v = buf + h->value.off;

	switch (h->name.len) {
	case 4:
		if (span_is(buf, h->name, "host")) {
			if (++p->hosts > 1)
				return (parse_error(p, 400,
				    "more than one Host"));
			if (!host_valid(v, h->value.len))
				return (parse_error(p, 400, "bad Host"));
			if (!req->has_host) {
				req->host = h->value;
				req->has_host = 1;
			}
		}
		break;
	case 5:
		if (span_is(buf, h->name, "range"))
			span_first(&req->range, h->value);
		break;
	case 6:
		if (span_is(buf, h->name, "expect") &&
		    span_is(buf, h->value, "100-continue"))
			req->expect_continue = 1;
		break;
	case 7:
		if (span_is(buf, h->name, "referer"))
			span_first(&req->referer, h->value);
		break;
	case 10:
		if (span_is(buf, h->name, "connection"))
			parse_connection(p, v, h->value.len);
		else if (span_is(buf, h->name, "user-agent"))
			span_first(&req->user_agent, h->value);
		break;
	case 13:
		if (span_is(buf, h->name, "if-none-match"))
			span_first(&req->if_none_match, h->value);
		break;
	case 14:
		if (!span_is(buf, h->name, "content-length"))
			break;
		if (parse_content_length(v, h->value.len, &cl) == -1)
			return (parse_error(p, 400, "bad Content-Length"));
		if (req->content_length != -1 && req->content_length != cl)
			return (parse_error(p, 400,
			    "conflicting Content-Length"));
		req->content_length = cl;
		break;
	case 17:
		if (span_is(buf, h->name, "if-modified-since"))
			span_first(&req->if_modified_since, h->value);
		else if (span_is(buf, h->name, "transfer-encoding") &&
		    parse_transfer_encoding(p, v, h->value.len) == -1)
			return (parse_error(p, 400,
			    "chunked is not the final transfer coding"));
		break;
	}
	return (HTTP_PARSE_AGAIN);
}

/* The empty line: decide what the head means as a whole. */
static enum http_parse_result
head_done(struct http_parser *p, struct http_request *req)
{
	if (p->te_seen) {
		if (req->content_length != -1)
			return (parse_error(p, 400,
			    "Content-Length with Transfer-Encoding"));
		if (req->version == 10)
			return (parse_error(p, 400,
			    "Transfer-Encoding in HTTP/1.0"));
		if (!(p->te_seen & TE_CHUNKED))
			return (parse_error(p, 400,
			    "chunked is not the final transfer coding"));
		if (p->te_seen & TE_OTHER)
			return (parse_error(p, 501,
			    "unsupported transfer coding"));
		req->chunked = 1;
	}
	if (req->version == 11 && p->hosts == 0)
		return (parse_error(p, 400, "HTTP/1.1 request without Host"));
	if (req->version == 11)
		req->keep_alive = !p->conn_close;
	else
		req->keep_alive = p->conn_keep && !p->conn_close;
	req->head_len = p->pos;
	p->state = S_DONE;
	return (HTTP_PARSE_DONE);
}

/* The request line ends at pos: check the version it ends with. */
static enum http_parse_result
reqline_done(struct http_parser *p, const char *buf, struct http_request *req)
{
	const char	*v = buf + p->mark;

	if (p->pos - p->mark != 8)
		return (parse_error(p, 400, "bad HTTP version"));
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return (parse_error(p, 505, "unsupported HTTP version"));
	req->version = v[7] == '1' ? 11 : 10;
	return (HTTP_PARSE_AGAIN);
}

/*
 * Parse the request head in buf[0..len) from where the last call stopped:
 * AGAIN for more bytes, DONE with req filled, or ERROR with error_status.
 */
enum http_parse_result
http_parse_request(struct http_parser *p, struct http_request *req,
    const char *buf, size_t len)
{
	enum http_parse_result	 r;
	uint32_t		 n, i;
	unsigned char		 c;

	if (p->error_status != 0)
		return (HTTP_PARSE_ERROR);
	if (p->state == S_DONE)
		return (HTTP_PARSE_DONE);
	n = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;

	for (; p->pos < n; p->pos++) {
		c = (unsigned char)buf[p->pos];

		/* Limits first, so they hit at the first byte too many. */
		if (p->state >= S_METHOD && p->state <= S_VERSION &&
		    c != '\r' && c != '\n' &&
		    p->pos - p->mark2 >= p->limits.max_request_line)
			return (parse_error(p, 414, "request line too long"));
		if (p->pos >= p->limits.max_header_size)
			return (parse_error(p, p->state >= S_METHOD &&
			    p->state <= S_REQLINE_LF ? 414 : 431,
			    "request head too large"));

		switch (p->state) {
		case S_START:
			if (c == '\r' || c == '\n') {
				if (p->pos >= MAX_LEADING_EOL)
					return (parse_error(p, 400,
					    "too many empty lines"));
				if (c == '\r')
					p->state = S_START_LF;
				break;
			}
			if (!is_tchar(c))
				return (parse_error(p, 400, "bad method"));
			if (p->limits.max_request_line == 0)
				return (parse_error(p, 414,
				    "request line too long"));
			p->mark = p->mark2 = p->pos;
			p->state = S_METHOD;
			break;
		case S_START_LF:
			if (c != '\n')
				return (parse_error(p, 400, "CR without LF"));
			p->state = S_START;
			break;
		case S_METHOD:
			if (c == ' ') {
				req->method_text.off = p->mark;
				req->method_text.len = p->pos - p->mark;
				req->method = method_lookup(buf + p->mark,
				    p->pos - p->mark);
				p->mark = p->pos + 1;
				p->state = S_TARGET;
			} else if (!is_tchar(c))
				return (parse_error(p, 400, "bad method"));
			break;
		case S_TARGET:
			if (c == ' ') {
				if (p->pos == p->mark)
					return (parse_error(p, 400,
					    "empty request-target"));
				req->target.off = p->mark;
				req->target.len = p->pos - p->mark;
				if (parse_target(buf, req) == -1)
					return (parse_error(p, 400,
					    "bad request-target"));
				p->mark = p->pos + 1;
				p->state = S_VERSION;
			} else if (c <= 0x20 || c >= 0x7f)
				return (parse_error(p, 400,
				    "bad byte in request-target"));
			break;
		case S_VERSION:
			i = p->pos - p->mark;
			if (c == '\r' || c == '\n') {
				r = reqline_done(p, buf, req);
				if (r == HTTP_PARSE_ERROR)
					return (r);
				p->state = c == '\r' ? S_REQLINE_LF :
				    S_HEADER_START;
				break;
			}
			/* "HTTP/" DIGIT "." DIGIT, checked as it comes */
			if (i >= 8 || (i < 5 && c != "HTTP/"[i]) ||
			    (i == 6 && c != '.') ||
			    ((i == 5 || i == 7) && (c < '0' || c > '9')))
				return (parse_error(p, 400,
				    "bad HTTP version"));
			break;
		case S_REQLINE_LF:
		case S_VALUE_LF:
			if (c != '\n')
				return (parse_error(p, 400, "CR without LF"));
			p->state = S_HEADER_START;
			break;
		case S_HEADER_START:
			if (c == '\r') {
				p->state = S_HEAD_END_LF;
				break;
			}
			if (c == '\n') {
				p->pos++;
				return (head_done(p, req));
			}
			if (c == ' ' || c == '\t')
				return (parse_error(p, 400,
				    "obsolete line folding"));
			if (!is_tchar(c))
				return (parse_error(p, 400,
				    "bad header name"));
			if (req->nheaders >= p->limits.max_headers)
				return (parse_error(p, 431,
				    "too many header fields"));
			p->mark = p->pos;
			p->state = S_NAME;
			break;
		case S_NAME:
			if (c == ':') {
				p->name_end = p->pos;
				p->state = S_OWS;
			} else if (c == ' ' || c == '\t')
				return (parse_error(p, 400,
				    "whitespace before colon"));
			else if (!is_tchar(c))
				return (parse_error(p, 400,
				    "bad header name"));
			break;
		case S_OWS:
			if (c == ' ' || c == '\t')
				break;
			p->mark2 = p->pos;
			p->state = S_VALUE;
			/* FALLTHROUGH */
		case S_VALUE:
			if (c == '\r' || c == '\n') {
				r = header_done(p, buf, req, p->pos);
				if (r == HTTP_PARSE_ERROR)
					return (r);
				p->state = c == '\r' ? S_VALUE_LF :
				    S_HEADER_START;
			} else if (!is_field_byte(c))
				return (parse_error(p, 400,
				    "control character in a field value"));
			break;
		case S_HEAD_END_LF:
			if (c != '\n')
				return (parse_error(p, 400, "CR without LF"));
			p->pos++;
			return (head_done(p, req));
		}
	}
	return (HTTP_PARSE_AGAIN);
}

/* -- chunked bodies ----------------------------------------------------- */

/* Chunked body states. */
enum {
	C_SIZE = 0,	/* hex chunk-size */
	C_SIZE_WS,	/* BWS after the size: a ';' must follow */
	C_EXT,		/* chunk extensions, skipped */
	C_SIZE_LF,
	C_DATA,
	C_DATA_CR,
	C_DATA_LF,
	C_TRAILER_START,
	C_TRAILER_NAME,
	C_TRAILER_VALUE,
	C_TRAILER_LF,
	C_FINAL_LF,
	C_DONE,
};

#define CHUNK_SIZE_DIGITS	16	/* hex digits of a uint64_t */

/* Start decoding a chunked body of at most max_body data bytes. */
void
http_chunked_init(struct http_chunked *ck, uint64_t max_body)
{
	memset(ck, 0, sizeof(*ck));
	ck->state = C_SIZE;
	ck->max_body = max_body;
}

/* The value of a hex digit, or -1. */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Run the decoder over buf[0..len); see http_parser.h. */
enum http_parse_result
http_chunked_feed(struct http_chunked *ck, const char *buf, size_t len,
    size_t *used)
{
	size_t		 i = 0, take;
	unsigned char	 c;
	int		 h, status = 0;

	if (ck->error_status != 0) {
		*used = 0;
		return (HTTP_PARSE_ERROR);
	}
	while (i < len && ck->state != C_DONE && status == 0) {
		if (ck->state == C_DATA) {
			take = len - i;
			if (take > ck->remaining)
				take = (size_t)ck->remaining;
			ck->remaining -= take;
			ck->total += take;
			i += take;
			if (ck->remaining == 0)
				ck->state = C_DATA_CR;
			continue;
		}
		c = (unsigned char)buf[i];
		if (ck->state == C_SIZE_WS || ck->state == C_EXT ||
		    ck->state >= C_TRAILER_START) {
			if (++ck->extlen > HTTP_CHUNKED_META_MAX) {
				status = 400;
				break;
			}
		}
		switch (ck->state) {
		case C_SIZE:
			if ((h = hexval(c)) >= 0) {
				if (++ck->digits > CHUNK_SIZE_DIGITS)
					status = 400;
				else {
					ck->remaining = ck->remaining * 16 +
					    (uint64_t)h;
					if (ck->remaining >
					    ck->max_body - ck->total)
						status = 413;
				}
			} else if (ck->digits == 0)
				status = 400;
			else if (c == ';')
				ck->state = C_EXT;
			else if (c == ' ' || c == '\t')
				ck->state = C_SIZE_WS;
			else if (c == '\r')
				ck->state = C_SIZE_LF;
			else
				status = 400;
			break;
		case C_SIZE_WS:
			if (c == ';')
				ck->state = C_EXT;
			else if (c != ' ' && c != '\t')
				status = 400;
			break;
		case C_EXT:
			if (c == '\r')
				ck->state = C_SIZE_LF;
			else if (!is_field_byte(c))
				status = 400;
			break;
		case C_SIZE_LF:
			if (c != '\n') {
				status = 400;
				break;
			}
			ck->digits = 0;
			ck->state = ck->remaining == 0 ? C_TRAILER_START :
			    C_DATA;
			break;
		case C_DATA_CR:
			if (c == '\r')
				ck->state = C_DATA_LF;
			else
				status = 400;
			break;
		case C_DATA_LF:
			if (c == '\n')
				ck->state = C_SIZE;
			else
				status = 400;
			break;
		case C_TRAILER_START:
			if (c == '\r')
				ck->state = C_FINAL_LF;
			else if (is_tchar(c))
				ck->state = C_TRAILER_NAME;
			else
				status = 400;
			break;
		case C_TRAILER_NAME:
			if (c == ':')
				ck->state = C_TRAILER_VALUE;
			else if (!is_tchar(c))
				status = 400;
			break;
		case C_TRAILER_VALUE:
			if (c == '\r')
				ck->state = C_TRAILER_LF;
			else if (!is_field_byte(c))
				status = 400;
			break;
		case C_TRAILER_LF:
			if (c == '\n')
				ck->state = C_TRAILER_START;
			else
				status = 400;
			break;
		case C_FINAL_LF:
			if (c == '\n')
				ck->state = C_DONE;
			else
				status = 400;
			break;
		}
		if (status == 0)
			i++;
	}
	*used = i;
	if (status != 0) {
		ck->error_status = status;
		return (HTTP_PARSE_ERROR);
	}
	return (ck->state == C_DONE ? HTTP_PARSE_DONE : HTTP_PARSE_AGAIN);
}
