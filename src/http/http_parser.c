/*
 * http_parser.c: the incremental, zero-copy HTTP/1.x request parser.
 *
 * A state machine over the bytes in place (after nginx's
 * ngx_http_parse.c): every call resumes at parser->pos with the state it
 * stopped in, so a request may arrive split at any byte and no byte is
 * looked at twice. Strictness where it matters against request smuggling:
 * no whitespace before a header colon, no obs-fold, no CTLs, one
 * Content-Length value, never Content-Length with Transfer-Encoding,
 * Transfer-Encoding only as one field "chunked" (else 501, as nginx), and
 * a Host that is an authority (RFC 9112 section 3.2).
 */
#include "autoconf.h"

#include <arpa/inet.h>

#include <string.h>

#include "http/http_parser.h"

enum {
	S_START = 0,		/* before the request line (empty lines) */
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

#define MAX_EMPTY_LINES	8	/* CRLFs tolerated before a request line */

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

const char *
http_method_name(enum http_method m)
{
	if ((unsigned)m >= sizeof(method_names) / sizeof(method_names[0]))
		return ("UNKNOWN");
	return (method_names[m]);
}

/* RFC 9110 tchar, as a table: it is tested for every byte of every
 * method and header name. */
static const unsigned char tchar_table[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

#define is_tchar(c)	(tchar_table[(unsigned char)(c)])

/* Bytes allowed in a request-target (visible ASCII). */
#define is_target_byte(c)	((c) > 0x20 && (c) < 0x7f)

/* ... those of a path: not '?' nor '#' (a table, for every byte of every
 * path). */
static const unsigned char path_table[256] = {
	[0x21 ... 0x22] = 1,	/* '#' is 0x23 */
	[0x24 ... 0x3e] = 1,	/* '?' is 0x3f */
	[0x40 ... 0x7e] = 1,
};

#define is_path_byte(c)		(path_table[(unsigned char)(c)])

/* Bytes allowed in a field value other than CR and LF: HTAB, SP and
 * up but DEL (a table: it is tested for every byte of every value). */
static const unsigned char value_table[256] = {
	['\t'] = 1,
	[0x20 ... 0x7e] = 1,
	[0x80 ... 0xff] = 1,
};

#define is_value_byte(c)	(value_table[(unsigned char)(c)])

void
http_parser_init(struct http_parser *p, const struct http_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->limits = *limits;
	if (p->limits.max_headers > HTTP_MAX_HEADERS_LIMIT)
		p->limits.max_headers = HTTP_MAX_HEADERS_LIMIT;
}

void
http_request_init(struct http_request *req, struct http_header *headers)
{
	memset(req, 0, sizeof(*req));
	req->headers = headers;
	req->content_length = -1;
}

static enum http_parse_result
parse_error(struct http_parser *p, int status, const char *reason)
{
	p->error_status = status;
	p->error_reason = reason;
	return (HTTP_PARSE_ERROR);
}

/* ASCII case-insensitive equality with a lowercase literal of length n
 * (what strncasecmp() does in the C locale, without its call). */
static int
lower_is(const char *s, const char *lit, size_t n)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != (unsigned char)lit[i])
			return (0);
	}
	return (1);
}

/* The span is the lowercase string literal lit, case aside. */
#define span_is(buf, s, lit)	((s).len == sizeof(lit) - 1 &&		\
	lower_is((buf) + (s).off, (lit), sizeof(lit) - 1))

static enum http_method
method_lookup(const char *s, size_t len)
{
	size_t	 i;

	if (len == 3 && s[0] == 'G' && s[1] == 'E' && s[2] == 'T')
		return (HTTP_METHOD_GET);
	/* The first byte first: strlen() and memcmp() for one or two. */
	for (i = 1; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (method_names[i][0] == s[0] &&
		    strlen(method_names[i]) == len &&
		    memcmp(method_names[i], s, len) == 0)
			return ((enum http_method)i);
	return (HTTP_METHOD_UNKNOWN);
}

/* Split the request-target into path and query (origin or absolute form). */
static int
parse_target(const char *buf, struct http_request *req)
{
	const char	*t = buf + req->target.off, *q, *h;
	uint32_t	 len = req->target.len, i, start;

	if (t[0] == '*' && len == 1) {
		if (req->method != HTTP_METHOD_OPTIONS)
			return (-1);
		req->path = req->target;
		return (0);
	}
	start = 0;
	if (t[0] != '/') {
		/* absolute-form: scheme "://" authority path */
		for (i = 0; i < len && t[i] != ':'; i++)
			if (!((t[i] >= 'a' && t[i] <= 'z') ||
			    (t[i] >= 'A' && t[i] <= 'Z') ||
			    (i > 0 && ((t[i] >= '0' && t[i] <= '9') ||
			    t[i] == '+' || t[i] == '-' || t[i] == '.'))))
				return (-1);
		if (i == 0 || i + 3 > len || t[i + 1] != '/' || t[i + 2] != '/')
			return (-1);
		start = i + 3;
		for (i = start; i < len && t[i] != '/' && t[i] != '?'; i++)
			;
		if (i == start)
			return (-1);
		req->host.off = req->target.off + start;
		req->host.len = i - start;
		req->has_host = 1;
		if (i == len || t[i] != '/')
			return (-1);	/* "http://host" or "http://host?q" */
		start = i;
	}
	/* The path ends at the first '?' or '#'; the query at '#'. */
	q = memchr(t + start, '?', len - start);
	i = q != NULL ? (uint32_t)(q - t) : len;
	if ((h = memchr(t + start, '#', i - start)) != NULL)
		i = (uint32_t)(h - t);
	req->path.off = req->target.off + start;
	req->path.len = i - start;
	if (i < len && t[i] == '?') {
		start = ++i;
		h = memchr(t + start, '#', len - start);
		i = h != NULL ? (uint32_t)(h - t) : len;
		req->query.off = req->target.off + start;
		req->query.len = i - start;
	}
	return (0);
}

static enum http_parse_result
parse_version(struct http_parser *p, const char *buf, struct http_request *req,
    uint32_t start, uint32_t end)
{
	const char	*v = buf + start;

	if (end - start != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
	    v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9')
		return (parse_error(p, 400, "bad HTTP version"));
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return (parse_error(p, 505, "unsupported HTTP version"));
	req->version = v[7] == '1' ? 11 : 10;
	return (HTTP_PARSE_AGAIN);
}

/* Parse a Content-Length value (maybe a list of equal values). */
static int
parse_content_length(const char *v, uint32_t len, int64_t *out)
{
	int64_t		 val = -1, cur;
	uint32_t	 i = 0;
	int		 digits;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		cur = 0;
		digits = 0;
		while (i < len && v[i] >= '0' && v[i] <= '9') {
			if (cur > (INT64_MAX - 9) / 10)
				return (-1);
			cur = cur * 10 + (v[i] - '0');
			digits++;
			i++;
		}
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (digits == 0 || (i < len && v[i] != ','))
			return (-1);
		if (val != -1 && cur != val)
			return (-1);
		val = cur;
		if (i < len)
			i++;	/* the comma */
	}
	if (val == -1)
		return (-1);
	*out = val;
	return (0);
}

/* Walk a comma-separated list; calls back for each trimmed element. */
static void
list_each(const char *v, uint32_t len, void (*fn)(void *, const char *,
    uint32_t), void *arg)
{
	uint32_t	 i = 0, s, e;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s)
			fn(arg, v + s, e - s);
	}
}

static void
conn_token(void *arg, const char *s, uint32_t len)
{
	struct http_parser	*p = arg;

	if (len == 5 && lower_is(s, "close", 5))
		p->conn_close = 1;
	else if (len == 10 && lower_is(s, "keep-alive", 10))
		p->conn_keep = 1;
}

/* RFC 3986 reg-name bytes but '.', which host_valid() counts labels by:
 * unreserved, sub-delims and '%' (followed by two hex digits). */
static const unsigned char regname_table[256] = {
	['-'] = 1, ['_'] = 1, ['~'] = 1,
	['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
	['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1, ['%'] = 1,
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* The inside of an IP-literal's brackets: IPv6address or IPvFuture. */
static int
host_literal_valid(const char *s, uint32_t len)
{
	char		 a[INET6_ADDRSTRLEN];
	unsigned char	 in6[16];
	uint32_t	 i;

	if (len > 0 && (s[0] == 'v' || s[0] == 'V')) {
		/* "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
		for (i = 1; i < len && http_hexval((unsigned char)s[i]) != -1;
		    i++)
			;
		if (i == 1 || i + 1 >= len || s[i] != '.')
			return (0);
		for (i++; i < len; i++)
			if (s[i] == '%' || (!regname_table[(unsigned char)s[i]] &&
			    s[i] != '.' && s[i] != ':'))
				return (0);
		return (1);
	}
	if (len == 0 || len >= sizeof(a))
		return (0);
	memcpy(a, s, len);
	a[len] = '\0';
	return (inet_pton(AF_INET6, a, in6) == 1);
}

/*
 * Is the Host value uri-host [ ":" port ] (RFC 3986 section 3.2)? Empty
 * is valid (RFC 9112 section 3.2), an empty host before a port is not
 * (RFC 9110 section 4.2.1). Stricter than reg-name, as nginx is: no empty
 * label (".", "..", ".a", "a..b"), though one final dot may end the name.
 */
static int
host_valid(const char *h, uint32_t len)
{
	uint32_t	 i = 0, label = 0;
	unsigned char	 c;

	if (len == 0)
		return (1);
	if (h[0] == '[') {
		for (i = 1; i < len && h[i] != ']'; i++)
			;
		if (i == len || !host_literal_valid(h + 1, i - 1))
			return (0);
		i++;
	} else {
		for (; i < len && h[i] != ':'; i++) {
			c = (unsigned char)h[i];
			if (c == '.') {
				if (label == 0)
					return (0);
				label = 0;
				continue;
			}
			if (!regname_table[c])
				return (0);
			if (c == '%') {
				if (i + 2 >= len ||
				    http_hexval((unsigned char)h[i + 1]) == -1 ||
				    http_hexval((unsigned char)h[i + 2]) == -1)
					return (0);
				i += 2;
			}
			label++;
		}
		if (i == 0)
			return (0);
	}
	if (i < len && h[i++] != ':')
		return (0);
	for (; i < len; i++)
		if (h[i] < '0' || h[i] > '9')
			return (0);
	return (1);
}

/* Content-Length: digits only, and the same in every such field. */
static enum http_parse_result
header_content_length(struct http_parser *p, struct http_request *req,
    const char *v, uint32_t len)
{
	int64_t	 cl;

	if (parse_content_length(v, len, &cl) == -1)
		return (parse_error(p, 400, "bad Content-Length"));
	if (req->content_length != -1 && req->content_length != cl)
		return (parse_error(p, 400, "conflicting Content-Length"));
	req->content_length = cl;
	return (HTTP_PARSE_AGAIN);
}

/* Transfer-Encoding: only one such field, and it is "chunked" (RFC
 * 9112 section 6.1 lets a server answer 501 to a coding it does not know;
 * a list, even one ending in chunked, is refused rather than guessed at).
 * Decided in head_done, so that the order of the fields does not matter. */
static void
header_transfer_encoding(struct http_parser *p, struct http_request *req,
    const char *buf, struct http_span v)
{
	p->te_seen++;
	req->chunked = p->te_seen == 1 && span_is(buf, v, "chunked");
}

/* One complete header field: record it and what it means. */
static enum http_parse_result
header_done(struct http_parser *p, const char *buf, struct http_request *req,
    uint32_t value_end)
{
	struct http_header	*h;
	const char		*v;

	if (req->nheaders >= p->limits.max_headers)
		return (parse_error(p, 431, "too many header fields"));
	h = &req->headers[req->nheaders++];
	h->name.off = p->mark;
	h->name.len = p->name_end - p->mark;
	while (value_end > p->mark2 && (buf[value_end - 1] == ' ' ||
	    buf[value_end - 1] == '\t'))
		value_end--;
	h->value.off = p->mark2;
	h->value.len = value_end - p->mark2;
	v = buf + h->value.off;

	/* One comparison per field: the names that matter, by length. */
	switch (h->name.len) {
	case 4:
		if (span_is(buf, h->name, "host")) {
			if (++p->hosts > 1)
				return (parse_error(p, 400,
				    "more than one Host"));
			if (!host_valid(v, h->value.len))
				return (parse_error(p, 400, "bad Host"));
			req->host = h->value;
			req->has_host = 1;
		}
		break;
	case 5:
		if (span_is(buf, h->name, "range"))
			req->range = h->value;
		break;
	case 6:
		if (span_is(buf, h->name, "expect") &&
		    span_is(buf, h->value, "100-continue"))
			req->expect_continue = 1;
		break;
	case 7:
		if (span_is(buf, h->name, "referer"))
			req->referer = h->value;
		break;
	case 8:
		if (span_is(buf, h->name, "if-range"))
			req->if_range = h->value;
		break;
	case 10:
		if (span_is(buf, h->name, "connection"))
			list_each(v, h->value.len, conn_token, p);
		else if (span_is(buf, h->name, "user-agent"))
			req->user_agent = h->value;
		break;
	case 13:
		if (span_is(buf, h->name, "if-none-match"))
			req->if_none_match = h->value;
		break;
	case 14:
		if (span_is(buf, h->name, "content-length"))
			return (header_content_length(p, req, v, h->value.len));
		break;
	case 17:
		if (span_is(buf, h->name, "if-modified-since"))
			req->if_modified_since = h->value;
		else if (span_is(buf, h->name, "transfer-encoding"))
			header_transfer_encoding(p, req, buf, h->value);
		break;
	}
	return (HTTP_PARSE_AGAIN);
}

/* The empty line: decide what the head means as a whole. */
static enum http_parse_result
head_done(struct http_parser *p, struct http_request *req)
{
	if (p->te_seen && req->version == 10)
		return (parse_error(p, 400, "Transfer-Encoding in HTTP/1.0"));
	if (p->te_seen && !req->chunked)
		return (parse_error(p, 501, "Transfer-Encoding not chunked"));
	if (p->te_seen && req->content_length != -1)
		return (parse_error(p, 400,
		    "both Content-Length and Transfer-Encoding"));
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

/*
 * The whole head in one pass, for the common case: all of it is in the
 * buffer, with CRLF line ends and nothing the state machine would refuse.
 * It leaves p and req exactly as the state machine would (the
 * differential fuzz run in the commit that added it compared them); on
 * anything else it puts them back and returns AGAIN, and the state
 * machine parses from the start, and says what is wrong. The state
 * machine's per-byte turn (limit test, state switch) costs more than the
 * bytes themselves on a short request.
 */
static enum http_parse_result
parse_head_at_once(struct http_parser *p, struct http_request *req,
    const char *buf, uint32_t end)
{
	struct http_parser	 p0 = *p;
	struct http_request	 req0 = *req;
	uint32_t		 i = 0, lim;
	int			 plain;

	p->mark2 = 0;		/* the request line's start, as S_START sets */
	/* Every byte of the request line, its CR too, before the limit. */
	lim = p->limits.max_request_line < end ? p->limits.max_request_line :
	    end;
	while (i < lim && is_tchar(buf[i]))
		i++;
	if (i == 0 || i >= lim || buf[i] != ' ')
		goto slow;
	req->method_text.off = 0;
	req->method_text.len = i;
	req->method = method_lookup(buf, i);
	p->mark = ++i;
	/* Most targets are a path alone: then that is all parse_target()
	 * would find. */
	while (i < lim && is_path_byte(buf[i]))
		i++;
	plain = i > p->mark && buf[p->mark] == '/' && i < lim && buf[i] == ' ';
	while (i < lim && is_target_byte(buf[i]))
		i++;
	if (i >= lim || buf[i] != ' ' || i == p->mark)
		goto slow;
	req->target.off = p->mark;
	req->target.len = i - p->mark;
	if (plain)
		req->path = req->target;
	else if (parse_target(buf, req) == -1)
		goto slow;
	p->mark = ++i;
	if (i + 8 >= lim || buf[i + 8] != '\r' ||
	    parse_version(p, buf, req, i, i + 8) == HTTP_PARSE_ERROR)
		goto slow;
	i += 9;
	if (i >= end || buf[i] != '\n')
		goto slow;
	i++;
	while (i < end && buf[i] != '\r') {
		if (!is_tchar(buf[i]) || req->nheaders >= p->limits.max_headers)
			goto slow;
		p->mark = i;
		while (i < end && is_tchar(buf[i]))
			i++;
		if (i >= end || buf[i] != ':')
			goto slow;
		p->name_end = i++;
		while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		p->mark2 = i;
		while (i < end && is_value_byte(buf[i]))
			i++;
		if (i + 1 >= end || buf[i] != '\r' || buf[i + 1] != '\n' ||
		    header_done(p, buf, req, i) == HTTP_PARSE_ERROR)
			goto slow;
		i += 2;
	}
	if (i + 1 >= end || buf[i + 1] != '\n')
		goto slow;
	p->pos = i + 2;
	if (head_done(p, req) == HTTP_PARSE_DONE)
		return (HTTP_PARSE_DONE);
slow:
	*p = p0;
	*req = req0;
	return (HTTP_PARSE_AGAIN);
}

/* Where the request line must have ended (it started at mark2), or end. */
static inline uint32_t
reqline_lim(const struct http_parser *p, uint32_t end)
{
	uint32_t	 lim = p->mark2 + p->limits.max_request_line;

	return (lim > end || lim < p->mark2 ? end : lim);
}

enum http_parse_result
http_parse_request(struct http_parser *p, struct http_request *req,
    const char *buf, size_t len)
{
	enum http_parse_result	 r;
	unsigned char		 c;
	uint32_t		 n = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	uint32_t		 end, lim;

	if (p->state == S_DONE)
		return (HTTP_PARSE_DONE);
	if (p->error_status != 0)
		return (HTTP_PARSE_ERROR);
	/* Bytes at max_header_size and beyond are never looked at. */
	end = n < p->limits.max_header_size ? n : p->limits.max_header_size;
	if (p->state == S_START && p->pos == 0 &&
	    parse_head_at_once(p, req, buf, end) == HTTP_PARSE_DONE)
		return (HTTP_PARSE_DONE);
	for (; p->pos < end; p->pos++) {
		c = (unsigned char)buf[p->pos];
		if (p->state >= S_METHOD && p->state <= S_VERSION &&
		    p->pos - p->mark2 >= p->limits.max_request_line)
			return (parse_error(p, 414, "request line too long"));
		switch (p->state) {
		case S_START:
			if (c == '\r' || c == '\n') {
				if (p->pos >= 2 * MAX_EMPTY_LINES)
					return (parse_error(p, 400,
					    "empty lines"));
				break;
			}
			if (!is_tchar(c))
				return (parse_error(p, 400, "bad method"));
			p->mark = p->pos;
			p->mark2 = p->pos;	/* request line start */
			p->state = S_METHOD;
			break;
		case S_METHOD:
			if (is_tchar(c)) {
				/* The rest of the method at once, up to the
				 * request line limit (checked above). */
				lim = reqline_lim(p, end);
				while (p->pos + 1 < lim &&
				    is_tchar(buf[p->pos + 1]))
					p->pos++;
				break;
			}
			if (c == ' ') {
				req->method_text.off = p->mark;
				req->method_text.len = p->pos - p->mark;
				req->method = method_lookup(buf + p->mark,
				    p->pos - p->mark);
				p->mark = p->pos + 1;
				p->state = S_TARGET;
			} else
				return (parse_error(p, 400, "bad method"));
			break;
		case S_TARGET:
			if (is_target_byte(c)) {
				lim = reqline_lim(p, end);
				while (p->pos + 1 < lim &&
				    is_target_byte(buf[p->pos + 1]))
					p->pos++;
				break;
			}
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
			} else
				return (parse_error(p, 400,
				    "bad byte in request-target"));
			break;
		case S_VERSION:
			if (c == '\r' || c == '\n') {
				r = parse_version(p, buf, req, p->mark, p->pos);
				if (r == HTTP_PARSE_ERROR)
					return (r);
				p->state = c == '\r' ? S_REQLINE_LF :
				    S_HEADER_START;
			} else if (p->pos - p->mark >= 8)
				return (parse_error(p, 400,
				    "bad HTTP version"));
			else {
				/* Up to its 8 bytes at once; the byte after
				 * them is looked at above. */
				lim = reqline_lim(p, end);
				if (lim > p->mark + 8)
					lim = p->mark + 8;
				while (p->pos + 1 < lim &&
				    buf[p->pos + 1] != '\r' &&
				    buf[p->pos + 1] != '\n')
					p->pos++;
			}
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
			if (is_tchar(c)) {
				while (p->pos + 1 < end &&
				    is_tchar(buf[p->pos + 1]))
					p->pos++;
				break;
			}
			if (c == ':') {
				p->name_end = p->pos;
				p->state = S_OWS;
			} else
				return (parse_error(p, 400, c == ' ' ||
				    c == '\t' ? "whitespace before colon" :
				    "bad header name"));
			break;
		case S_OWS:
			if (c == ' ' || c == '\t')
				break;
			p->mark2 = p->pos;
			p->state = S_VALUE;
			/* FALLTHROUGH */
		case S_VALUE:
			if (is_value_byte(c)) {
				while (p->pos + 1 < end &&
				    is_value_byte(buf[p->pos + 1]))
					p->pos++;
				break;
			}
			if (c == '\r' || c == '\n') {
				r = header_done(p, buf, req, p->pos);
				if (r == HTTP_PARSE_ERROR)
					return (r);
				p->state = c == '\r' ? S_VALUE_LF :
				    S_HEADER_START;
			} else
				return (parse_error(p, 400,
				    "control character in a header"));
			break;
		case S_HEAD_END_LF:
			if (c != '\n')
				return (parse_error(p, 400, "CR without LF"));
			p->pos++;
			return (head_done(p, req));
		}
	}
	if (p->pos >= p->limits.max_header_size)
		return (parse_error(p, p->state <= S_VERSION ? 414 : 431,
		    "request head too large"));
	return (HTTP_PARSE_AGAIN);
}
