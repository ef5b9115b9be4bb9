/*
 * http_body.c: the request body, read from the connection's input
 * buffer in place: by a handler that streams it (http_body_next, then
 * http_body_consume for what it took), or discarded by the core before
 * a handler that does not read bodies answers.
 *
 * What a handler has not consumed stays in the buffer, and the core
 * reads from the client only while the buffer has room: a handler that
 * does not take the body stops the client (TCP's window does the rest),
 * and a connection holds one bounded input buffer whatever the body's
 * size.
 */
#include "autoconf.h"

#include "core/conf.h"
#include "http/http_core.h"

/* The head is parsed: what follows it is the body, if any. */
void
http_body_init(struct http_conn *c)
{
	struct http_xchg	*x = c->x;

	x->in_off = x->req_base + x->req.head_len;
	x->body_chunked = x->req.chunked;
	x->body_error = 0;
	x->body_left = x->req.content_length > 0 ?
	    (uint64_t)x->req.content_length : 0;
	x->body_done = !x->body_chunked && x->body_left == 0;
	x->body_wanted = 0;
	if (x->body_chunked)
		http_chunked_init(&x->chunked, c->hs->conf->max_body_size);
}

/* The whole body has been read. */
int
http_body_finished(const struct http_conn *c)
{
	return (c->x->body_done);
}

/* All that was in the buffer is consumed: keep the head (the response
 * and the log use it), reuse the space of the body. */
static void
http_body_reclaim(struct http_xchg *x)
{
	if (x->in_off == x->in_len)
		x->in_len = x->in_off = x->req_base + x->req.head_len;
}

/* The next piece of the body that is in the buffer. */
enum http_body
http_body_next(struct http_conn *c, const char **data, size_t *len)
{
	struct http_xchg	*x = c->x;
	enum http_parse_result	 r;
	uint32_t		 avail = x->in_len - x->in_off;
	uint64_t		 left;
	size_t			 used;

	if (x->body_error != 0)
		return (HTTP_BODY_ERROR);
	if (x->body_done)
		return (HTTP_BODY_END);
	if (x->body_chunked) {
		r = http_chunked_frame(&x->chunked, x->in + x->in_off, avail,
		    &used);
		x->in_off += (uint32_t)used;
		avail -= (uint32_t)used;
		if (r == HTTP_PARSE_ERROR) {
			x->body_error = x->chunked.error_status ?
			    x->chunked.error_status : 400;
			return (HTTP_BODY_ERROR);
		}
		if (r == HTTP_PARSE_DONE) {
			x->body_done = 1;
			return (HTTP_BODY_END);
		}
		left = http_chunked_data_left(&x->chunked);
	} else
		left = x->body_left;
	if (avail == 0 || left == 0) {
		http_body_reclaim(x);
		x->body_wanted = 1;
		return (HTTP_BODY_WAIT);
	}
	x->body_wanted = 0;
	*data = x->in + x->in_off;
	*len = avail < left ? avail : (size_t)left;
	return (HTTP_BODY_DATA);
}

/* The handler took n bytes of what http_body_next gave it. */
void
http_body_consume(struct http_conn *c, size_t n)
{
	struct http_xchg	*x = c->x;

	if (x->body_chunked)
		http_chunked_take(&x->chunked, n);
	else if ((x->body_left -= n) == 0)
		x->body_done = 1;
	x->in_off += (uint32_t)n;
	http_body_reclaim(x);
}

/* Read past the body in the buffer: 1 done, 0 more needed, -1 error. */
int
http_body_discard(struct http_conn *c)
{
	const char	*data;
	size_t		 len;

	for (;;) {
		switch (http_body_next(c, &data, &len)) {
		case HTTP_BODY_DATA:
			http_body_consume(c, len);
			break;
		case HTTP_BODY_END:
			return (1);
		case HTTP_BODY_WAIT:
			return (0);
		case HTTP_BODY_ERROR:
			return (-1);
		}
	}
}
