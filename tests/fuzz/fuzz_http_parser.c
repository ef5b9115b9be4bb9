/*
 * fuzz_http_parser.c: libFuzzer target for the request parser and the
 * chunked decoder. The input is parsed whole and then again fed one byte
 * more at a time; both must agree, and every span must lie in the head.
 * A chunked body is decoded whole and again as a handler streams it
 * (framing, then data taken in pieces); both must agree.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parser.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_span(struct http_span s, uint32_t head_len)
{
	if ((uint64_t)s.off + s.len > head_len)
		abort();
}

/* Decode as a streaming handler does: frame, take up to 3 bytes of data
 * at a time; the result, the position and the total must match feed's. */
static void
check_streamed(const char *buf, size_t len, enum http_parse_result whole,
    size_t whole_used, const struct http_chunked *whole_ck)
{
	struct http_chunked	 ck;
	enum http_parse_result	 r;
	size_t			 off = 0, used, take;
	uint64_t		 left;

	http_chunked_init(&ck, 4096);
	for (;;) {
		r = http_chunked_frame(&ck, buf + off, len - off, &used);
		off += used;
		if (r != HTTP_PARSE_AGAIN)
			break;
		if ((left = http_chunked_data_left(&ck)) == 0 || off == len)
			break;
		take = len - off < left ? len - off : (size_t)left;
		if (take > 3)
			take = 3;
		http_chunked_take(&ck, take);
		off += take;
	}
	if (r != whole || off != whole_used || ck.total != whole_ck->total ||
	    ck.error_status != whole_ck->error_status)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits limits = { 512, 2048, 32 };
	struct http_header	 h1[32], h2[32];
	struct http_parser	 p1, p2;
	struct http_request	 r1, r2;
	struct http_chunked	 ck;
	enum http_parse_result	 a, b = HTTP_PARSE_AGAIN;
	const char		*buf = (const char *)data;
	size_t			 n, used;
	unsigned		 i;

	http_parser_init(&p1, &limits);
	http_request_init(&r1, h1);
	a = http_parse_request(&p1, &r1, buf, size);

	http_parser_init(&p2, &limits);
	http_request_init(&r2, h2);
	for (n = 0; n <= size && b == HTTP_PARSE_AGAIN; n++)
		b = http_parse_request(&p2, &r2, buf, n);
	if (a != b)
		abort();
	if ((a == HTTP_PARSE_ERROR) != (p1.error_status != 0))
		abort();
	if (a == HTTP_PARSE_ERROR && p1.error_status != p2.error_status)
		abort();
	if (a != HTTP_PARSE_DONE)
		return (0);
	if (r1.head_len > size || r1.head_len != r2.head_len ||
	    r1.nheaders != r2.nheaders || r1.nheaders > limits.max_headers)
		abort();
	check_span(r1.method_text, r1.head_len);
	check_span(r1.target, r1.head_len);
	check_span(r1.path, r1.head_len);
	check_span(r1.query, r1.head_len);
	check_span(r1.host, r1.head_len);
	for (i = 0; i < r1.nheaders; i++) {
		check_span(h1[i].name, r1.head_len);
		check_span(h1[i].value, r1.head_len);
	}
	if (r1.chunked && r1.content_length != -1)
		abort();
	if (r1.chunked) {
		http_chunked_init(&ck, 4096);
		used = 0;
		a = http_chunked_feed(&ck, buf + r1.head_len,
		    size - r1.head_len, &used);
		if (used > size - r1.head_len || ck.total > 4096)
			abort();
		check_streamed(buf + r1.head_len, size - r1.head_len, a, used,
		    &ck);
	}
	return (0);
}
