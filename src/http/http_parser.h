/*
 * http_parser.h: drover's incremental, zero-copy HTTP/1.x request parser.
 *
 * The parser reads the request head (request line and header fields) in
 * place from the connection's input buffer. It keeps its position between
 * calls, so a request may arrive split at any byte: call http_parse_request
 * again with the same buffer start and a larger len. All strings in struct
 * http_request are offsets from the start of the buffer passed in (the
 * buffer may be moved between requests, never during one).
 */
#ifndef DROVER_HTTP_PARSER_H
#define DROVER_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS_LIMIT	256	/* hard cap on max_headers */

enum http_method {
	HTTP_METHOD_UNKNOWN = 0,	/* a token, but not a method we know */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_PATCH,
	HTTP_METHOD_TRACE,
	HTTP_METHOD_CONNECT,
};

struct http_span {
	uint32_t	 off;
	uint32_t	 len;
};

struct http_header {
	struct http_span	 name;
	struct http_span	 value;	/* leading/trailing OWS stripped */
};

/* What the parser found; filled progressively, complete on HTTP_PARSE_DONE. */
struct http_request {
	enum http_method	 method;
	struct http_span	 method_text;
	struct http_span	 target;	/* raw request-target */
	struct http_span	 path;		/* target up to '?' or '#' */
	struct http_span	 query;		/* after '?', len 0 if none */
	int			 version;	/* 10 or 11 */
	struct http_header	*headers;	/* caller's array */
	unsigned		 nheaders;

	/* Semantics of the headers, decided by the parser. */
	int64_t			 content_length;	/* -1: none */
	int			 chunked;	/* Transfer-Encoding: chunked */
	int			 keep_alive;	/* by version and Connection */
	int			 expect_continue;
	int			 has_host;
	struct http_span	 host;
	struct http_span	 if_none_match;		/* len 0: absent */
	struct http_span	 if_modified_since;	/* len 0: absent */
	struct http_span	 range;			/* len 0: absent */
	struct http_span	 if_range;		/* len 0: absent */
	struct http_span	 user_agent;		/* for the access log */
	struct http_span	 referer;		/* for the access log */

	uint32_t		 head_len;	/* bytes up to and incl. CRLFCRLF */
};

struct http_limits {
	uint32_t	 max_request_line;	/* longer: 414 */
	uint32_t	 max_header_size;	/* whole head longer: 431 */
	unsigned	 max_headers;		/* more fields: 431 */
};

/* Parser state between calls; opaque to callers but for error_status. */
struct http_parser {
	int			 state;
	uint32_t		 pos;		/* next byte to look at */
	uint32_t		 mark;		/* start of the current token */
	uint32_t		 mark2;		/* start of a header value */
	uint32_t		 name_end;	/* end of a header name */
	unsigned		 hosts;		/* Host fields seen */
	unsigned		 te_seen;	/* Transfer-Encoding fields */
	int			 conn_close;	/* Connection: close */
	int			 conn_keep;	/* Connection: keep-alive */
	struct http_limits	 limits;
	int			 error_status;	/* 400, 414, 431, 501, 505 */
	const char		*error_reason;	/* short text for logs */
};

enum http_parse_result {
	HTTP_PARSE_AGAIN = 0,	/* need more bytes */
	HTTP_PARSE_DONE,	/* head complete: req is filled */
	HTTP_PARSE_ERROR,	/* see parser->error_status */
};

/* A hex digit's value, or -1 (chunk sizes, %XX in paths). */
static inline int
http_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

void	http_parser_init(struct http_parser *, const struct http_limits *);
void	http_request_init(struct http_request *, struct http_header *);
enum http_parse_result
	http_parse_request(struct http_parser *, struct http_request *,
	    const char *, size_t);
const char *http_method_name(enum http_method);

/* Chunked request bodies: decoded and discarded, or streamed. */
struct http_chunked {
	int		 state;
	unsigned	 digits;	/* of the chunk size so far */
	unsigned	 extlen;	/* of this chunk line's extensions, or
					 * of the trailers */
	uint64_t	 remaining;	/* bytes left in the current chunk */
	uint64_t	 total;		/* body bytes so far */
	uint64_t	 max_body;	/* larger: error 413 */
	int		 error_status;	/* 400 or 413 */
};

void	http_chunked_init(struct http_chunked *, uint64_t);
/* Consume up to len bytes; *used says how many (on ERROR too: up to the
 * bad byte). DONE after the last CRLF. */
enum http_parse_result
	http_chunked_feed(struct http_chunked *, const char *, size_t,
	    size_t *);
/* The same, but stop where chunk data starts: take it with
 * http_chunked_data_left and http_chunked_take, then frame again. */
enum http_parse_result
	http_chunked_frame(struct http_chunked *, const char *, size_t,
	    size_t *);
uint64_t http_chunked_data_left(const struct http_chunked *);
void	 http_chunked_take(struct http_chunked *, uint64_t);

#endif
