/*
 * check_http_parser.c: the request parser on a table of valid and
 * malformed requests, each also fed split at every byte offset, plus
 * pipelining and chunked bodies.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parser.h"
#include "checklib.h"

static const struct http_limits limits = {
	.max_request_line = 256,
	.max_header_size = 1024,
	.max_headers = 10,
};

struct valid_case {
	const char	*raw;
	int		 method;
	const char	*path;
	const char	*query;
	int		 version;
	unsigned	 nheaders;
	long long	 content_length;
	int		 chunked;
	int		 keep_alive;
	const char	*host;
};

static const struct valid_case valid[] = {
	{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_GET, "/", "", 11,
	  1, -1, 0, 1, "a" },
	{ "HEAD /x?y=1&z HTTP/1.1\r\nHost: example.org\r\n\r\n",
	  HTTP_METHOD_HEAD, "/x", "y=1&z", 11, 1, -1, 0, 1, "example.org" },
	{ "GET /a HTTP/1.0\r\n\r\n", HTTP_METHOD_GET, "/a", "", 10, 0, -1, 0,
	  0, "" },
	{ "GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
	  HTTP_METHOD_GET, "/a", "", 10, 1, -1, 0, 1, "" },
	{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n",
	  HTTP_METHOD_GET, "/", "", 11, 2, -1, 0, 0, "h" },
	{ "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n",
	  HTTP_METHOD_POST, "/p", "", 11, 2, 42, 0, 1, "h" },
	{ "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	  "Content-Length: 5\r\n\r\n", HTTP_METHOD_POST, "/p", "", 11, 3, 5,
	  0, 1, "h" },
	{ "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 7, 7\r\n\r\n",
	  HTTP_METHOD_POST, "/p", "", 11, 2, 7, 0, 1, "h" },
	{ "PUT /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n"
	  "\r\n", HTTP_METHOD_PUT, "/p", "", 11, 2, -1, 1, 1, "h" },
	{ "PUT /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \t chunked \r\n"
	  "\r\n", HTTP_METHOD_PUT, "/p", "", 11, 2, -1, 1, 1, "h" },
	/* Host: what RFC 3986 calls an authority. */
	{ "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", HTTP_METHOD_GET,
	  "/", "", 11, 1, -1, 0, 1, "[::1]:8080" },
	{ "GET / HTTP/1.1\r\nHost: [v1.fe:x]\r\n\r\n", HTTP_METHOD_GET,
	  "/", "", 11, 1, -1, 0, 1, "[v1.fe:x]" },
	{ "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n", HTTP_METHOD_GET,
	  "/", "", 11, 1, -1, 0, 1, "127.0.0.1:80" },
	{ "GET / HTTP/1.1\r\nHost: Ex-1_~.%41!$&'()*+,;=.org.:\r\n\r\n",
	  HTTP_METHOD_GET, "/", "", 11, 1, -1, 0, 1,
	  "Ex-1_~.%41!$&'()*+,;=.org.:" },
	{ "GET / HTTP/1.1\r\nHost:\r\n\r\n", HTTP_METHOD_GET, "/", "", 11,
	  1, -1, 0, 1, "" },
	{ "GET / HTTP/1.1\nHost: lf\n\n", HTTP_METHOD_GET, "/", "", 11, 1, -1,
	  0, 1, "lf" },
	{ "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_GET, "/", "",
	  11, 1, -1, 0, 1, "x" },
	{ "GET http://h.example/abs?q HTTP/1.1\r\nHost: h.example\r\n\r\n",
	  HTTP_METHOD_GET, "/abs", "q", 11, 1, -1, 0, 1, "h.example" },
	{ "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_METHOD_OPTIONS, "*",
	  "", 11, 1, -1, 0, 1, "h" },
	{ "BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_METHOD_UNKNOWN,
	  "/pot", "", 11, 1, -1, 0, 1, "h" },
	{ "GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\nX-Sp:  v  \t\r\n\r\n",
	  HTTP_METHOD_GET, "/", "", 11, 3, -1, 0, 1, "h" },
	{ "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n",
	  -1, NULL, NULL, 0, 0, 0, 0, 0, NULL },	/* raw UTF-8 path: 400 */
};

struct bad_case {
	const char	*raw;
	size_t		 len;	/* some hold a NUL */
	int		 status;
};

#define B(s, st)	{ s, sizeof(s) - 1, st }

static const struct bad_case bad[] = {
	B("GET / HTTP/1.1\r\n\r\n", 400),			/* no Host */
	B("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
	B("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
	B("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
	B("GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
	B("GET / FTP/1.1\r\nHost: a\r\n\r\n", 400),
	B("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	B("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
	B("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	B("GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	B("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	B("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a\r\n: novalue\r\n\r\n", 400),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", 400),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	  "Content-Length: 3\r\n\r\n", 400),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
	  "Content-Length: 4\r\n\r\n", 400),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", 400),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n", 400),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
	  "99999999999999999999\r\n\r\n", 400),
	/* Transfer-Encoding other than one "chunked": 501, as nginx. */
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n"
	  "\r\n", 501),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", 501),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, "
	  "chunked\r\n\r\n", 501),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n"
	  "\r\n", 501),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n",
	  501),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n",
	  501),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", 501),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 501),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n",
	  501),
	/* Host not an authority (RFC 9112 section 3.2). */
	B("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: ..\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: .\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: .a\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: []\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: [v1.]\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a\xc3\xa9\r\n\r\n", 400),
	B("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	B("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n"
	  "E: 1\r\nF: 1\r\nG: 1\r\nH: 1\r\nI: 1\r\nJ: 1\r\n\r\n", 431),
	B("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400),
};

static enum http_parse_result
parse_whole(const char *raw, size_t len, struct http_parser *p,
    struct http_request *req, struct http_header *hdrs)
{
	http_parser_init(p, &limits);
	http_request_init(req, hdrs);
	return (http_parse_request(p, req, raw, len));
}

/* Feed the bytes one more at a time; the result must not change. */
static enum http_parse_result
parse_split(const char *raw, size_t len, size_t split,
    struct http_parser *p, struct http_request *req,
    struct http_header *hdrs)
{
	enum http_parse_result	 r;
	size_t			 n;

	http_parser_init(p, &limits);
	http_request_init(req, hdrs);
	r = http_parse_request(p, req, raw, split);
	if (r != HTTP_PARSE_AGAIN)
		return (r);
	for (n = split + 1; n <= len; n++) {
		r = http_parse_request(p, req, raw, n);
		if (r != HTTP_PARSE_AGAIN)
			return (r);
	}
	return (r);
}

static void
check_span(const char *raw, struct http_span s, const char *want)
{
	ck_assert_msg(s.len == strlen(want) &&
	    memcmp(raw + s.off, want, s.len) == 0, "span \"%.*s\" != \"%s\"",
	    (int)s.len, raw + s.off, want);
}

START_TEST(test_valid)
{
	const struct valid_case	*v = &valid[_i];
	struct http_parser	 p;
	struct http_request	 req;
	struct http_header	 hdrs[10];
	size_t			 len = strlen(v->raw), split;
	enum http_parse_result	 r;

	for (split = 0; split <= len; split++) {
		r = split == len ? parse_whole(v->raw, len, &p, &req, hdrs) :
		    parse_split(v->raw, len, split, &p, &req, hdrs);
		if (v->method == -1) {
			ck_assert_int_eq(r, HTTP_PARSE_ERROR);
			ck_assert_int_eq(p.error_status, 400);
			continue;
		}
		ck_assert_msg(r == HTTP_PARSE_DONE, "case %d split %zu: %d %d "
		    "%s", _i, split, r, p.error_status,
		    p.error_reason ? p.error_reason : "");
		ck_assert_uint_eq(req.head_len, len);
		ck_assert_int_eq(req.method, v->method);
		check_span(v->raw, req.path, v->path);
		check_span(v->raw, req.query, v->query);
		ck_assert_int_eq(req.version, v->version);
		ck_assert_uint_eq(req.nheaders, v->nheaders);
		ck_assert_int_eq(req.content_length, v->content_length);
		ck_assert_int_eq(req.chunked, v->chunked);
		ck_assert_int_eq(req.keep_alive, v->keep_alive);
		if (v->host[0] != '\0')
			check_span(v->raw, req.host, v->host);
	}
}
END_TEST

START_TEST(test_header_values_trimmed)
{
	const char		*raw = "GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\n"
				    "X-Sp:  v  \t\r\n\r\n";
	struct http_parser	 p;
	struct http_request	 req;
	struct http_header	 hdrs[10];

	ck_assert_int_eq(parse_whole(raw, strlen(raw), &p, &req, hdrs),
	    HTTP_PARSE_DONE);
	check_span(raw, hdrs[0].name, "Host");
	check_span(raw, hdrs[0].value, "h");
	check_span(raw, hdrs[1].name, "X-Empty");
	check_span(raw, hdrs[1].value, "");
	check_span(raw, hdrs[2].value, "v");
}
END_TEST

/* If-Range is kept for the static handler. */
START_TEST(test_if_range_kept)
{
	const char		*raw = "GET / HTTP/1.1\r\nHost: h\r\n"
				    "If-Range: \"1-2\"\r\nRange: bytes=0-1\r\n\r\n";
	struct http_parser	 p;
	struct http_request	 req;
	struct http_header	 hdrs[10];

	ck_assert_int_eq(parse_whole(raw, strlen(raw), &p, &req, hdrs),
	    HTTP_PARSE_DONE);
	check_span(raw, req.if_range, "\"1-2\"");
	check_span(raw, req.range, "bytes=0-1");
}
END_TEST

START_TEST(test_bad)
{
	const struct bad_case	*b = &bad[_i];
	struct http_parser	 p;
	struct http_request	 req;
	struct http_header	 hdrs[10];
	size_t			 len = b->len, split;
	enum http_parse_result	 r;

	for (split = 0; split <= len; split++) {
		r = split == len ? parse_whole(b->raw, len, &p, &req, hdrs) :
		    parse_split(b->raw, len, split, &p, &req, hdrs);
		ck_assert_msg(r == HTTP_PARSE_ERROR, "case %d split %zu "
		    "accepted", _i, split);
		ck_assert_msg(p.error_status == b->status, "case %d split "
		    "%zu: %d, want %d (%s)", _i, split, p.error_status,
		    b->status, p.error_reason);
	}
}
END_TEST

START_TEST(test_limits)
{
	struct http_parser	 p;
	struct http_request	 req;
	struct http_header	 hdrs[10];
	char			 buf[4096];
	size_t			 n;

	/* Request line over max_request_line: 414, before its end. */
	n = (size_t)snprintf(buf, sizeof(buf), "GET /%0300d", 0);
	ck_assert_int_eq(parse_whole(buf, n, &p, &req, hdrs),
	    HTTP_PARSE_ERROR);
	ck_assert_int_eq(p.error_status, 414);
	/* Head over max_header_size: 431, before its end. */
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: %01100d", 0);
	ck_assert_int_eq(parse_whole(buf, n, &p, &req, hdrs),
	    HTTP_PARSE_ERROR);
	ck_assert_int_eq(p.error_status, 431);
	/* Exactly at the limit is fine. */
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: %0*d\r\n\r\n", 1024 - 32, 0);
	ck_assert_uint_eq(n, 1024);
	ck_assert_int_eq(parse_whole(buf, n, &p, &req, hdrs),
	    HTTP_PARSE_DONE);
}
END_TEST

START_TEST(test_pipelined)
{
	const char		*raw = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
				    "GET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3";
	struct http_parser	 p;
	struct http_request	 req;
	struct http_header	 hdrs[10];
	size_t			 len = strlen(raw), off = 0;

	ck_assert_int_eq(parse_whole(raw, len, &p, &req, hdrs),
	    HTTP_PARSE_DONE);
	check_span(raw, req.path, "/1");
	off += req.head_len;
	ck_assert_int_eq(parse_whole(raw + off, len - off, &p, &req, hdrs),
	    HTTP_PARSE_DONE);
	check_span(raw + off, req.path, "/2");
	off += req.head_len;
	ck_assert_int_eq(parse_whole(raw + off, len - off, &p, &req, hdrs),
	    HTTP_PARSE_AGAIN);
}
END_TEST

struct chunk_case {
	const char	*raw;
	int		 result;	/* DONE or ERROR */
	uint64_t	 total;
	int		 status;
	size_t		 used;		/* 0: whole input */
};

static const struct chunk_case chunks[] = {
	{ "5\r\nhello\r\n0\r\n\r\n", HTTP_PARSE_DONE, 5, 0, 0 },
	{ "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n", HTTP_PARSE_DONE,
	  15, 0, 0 },
	{ "0\r\nTrailer: x\r\n\r\n", HTTP_PARSE_DONE, 0, 0, 0 },
	{ "3\r\nabc\r\n0\r\n\r\nGET", HTTP_PARSE_DONE, 3, 0, 13 },
	{ "zz\r\n", HTTP_PARSE_ERROR, 0, 400, 0 },
	{ "5\r\nhelloX\r\n", HTTP_PARSE_ERROR, 0, 400, 0 },
	{ "5\nhello\r\n", HTTP_PARSE_ERROR, 0, 400, 0 },
	{ "11111111111111111\r\n", HTTP_PARSE_ERROR, 0, 400, 0 },
	{ "401\r\n", HTTP_PARSE_ERROR, 0, 413, 0 },
	{ "200\r\n", HTTP_PARSE_DONE, 0, 0, 0 },	/* placeholder, below */
};

START_TEST(test_chunked)
{
	const struct chunk_case	*k = &chunks[_i];
	struct http_chunked	 ck;
	size_t			 len = strlen(k->raw), split, used, total;
	enum http_parse_result	 r;

	if (_i == (int)(sizeof(chunks) / sizeof(chunks[0])) - 1) {
		/* 0x200 = 512 bytes: within the 1024 limit, not complete. */
		http_chunked_init(&ck, 1024);
		r = http_chunked_feed(&ck, k->raw, len, &used);
		ck_assert_int_eq(r, HTTP_PARSE_AGAIN);
		ck_assert_uint_eq(ck.remaining, 512);
		return;
	}
	for (split = 0; split <= len; split++) {
		http_chunked_init(&ck, 1024);
		total = 0;
		r = http_chunked_feed(&ck, k->raw, split, &used);
		total += r == HTTP_PARSE_ERROR ? 0 : used;
		if (r == HTTP_PARSE_AGAIN) {
			ck_assert_uint_eq(used, split);
			r = http_chunked_feed(&ck, k->raw + split,
			    len - split, &used);
			total += r == HTTP_PARSE_ERROR ? 0 : used;
		}
		ck_assert_msg((int)r == k->result, "case %d split %zu: %d",
		    _i, split, r);
		if (r == HTTP_PARSE_DONE) {
			ck_assert_uint_eq(ck.total, k->total);
			ck_assert_uint_eq(total, k->used ? k->used : len);
		} else
			ck_assert_int_eq(ck.error_status, k->status);
	}
}
END_TEST

START_TEST(test_chunked_used_on_error)
{
	struct http_chunked	 ck;
	size_t			 used = 12345;

	http_chunked_init(&ck, 1024);
	ck_assert_int_eq(http_chunked_feed(&ck, "5\r\nhelloX", 9, &used),
	    HTTP_PARSE_ERROR);
	ck_assert_uint_eq(used, 8);	/* stopped at the X */
	used = 12345;
	ck_assert_int_eq(http_chunked_feed(&ck, "0\r\n", 3, &used),
	    HTTP_PARSE_ERROR);		/* still failed, nothing used */
	ck_assert_uint_eq(used, 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http_parser");
	TCase	*tc = tcase_create("requests");

	tcase_add_loop_test(tc, test_valid, 0, sizeof(valid) /
	    sizeof(valid[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_header_values_trimmed);
	tcase_add_test(tc, test_if_range_kept);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_pipelined);
	tcase_add_test(tc, test_chunked_used_on_error);
	tcase_add_loop_test(tc, test_chunked, 0, sizeof(chunks) /
	    sizeof(chunks[0]));
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
