/*
 * http_echo.c: "echo_body = on": the request body streamed back as the
 * response body as it arrives, with the request's Content-Length, or in
 * chunks when the request came in chunks. With HTTP_OUT_HIGH bytes
 * queued for a client that reads slowly it takes no more of the body,
 * so the core stops reading from the client: a connection's memory is
 * bounded whatever the body's size.
 */
#include "autoconf.h"

#include "http/http_handlers.h"

/* The response head, once the body is known to start well: a chunked
 * body too large or malformed from its first line gets its 413 or 400. */
static void
http_echo_head(struct http_conn *c)
{
	const struct http_request	*req = &c->x->req;
	const char			*ctype = "application/octet-stream";

	if (req->chunked) {	/* HTTP/1.1: the parser refuses it in 1.0 */
		http_response_head(c, 200, ctype, -1);
		http_response_chunked(c);
	} else
		http_response_head(c, 200, ctype, req->content_length > 0 ?
		    req->content_length : 0);
	http_response_end_head(c);
}

static enum http_hres
http_echo_resume(struct http_conn *c)
{
	const char	*data;
	size_t		 len, queued;

	for (;;) {
		if ((queued = http_response_pending(c)) >= HTTP_OUT_HIGH)
			return (HTTP_HANDLER_PENDING);
		switch (http_body_next(c, &data, &len)) {
		case HTTP_BODY_DATA:
			if (c->x->status == 0)
				http_echo_head(c);
			if (len > HTTP_OUT_HIGH - queued)
				len = HTTP_OUT_HIGH - queued;
			http_response_body(c, data, len);
			http_body_consume(c, len);
			break;
		case HTTP_BODY_END:
			if (c->x->status == 0)
				http_echo_head(c);
			http_response_body_end(c);
			return (HTTP_HANDLER_DONE);
		case HTTP_BODY_WAIT:
		case HTTP_BODY_ERROR:	/* the core answers it */
			return (HTTP_HANDLER_PENDING);
		}
	}
}

/* The head goes out with the first bytes of the body, the body as it
 * comes. */
static enum http_hres
http_echo_start(struct http_conn *c, const struct location_conf *lc,
    const char *path, size_t len)
{
	(void)lc;
	(void)path;
	(void)len;
	return (http_echo_resume(c));
}

const struct http_handler http_echo_handler = {
	.name = "echo_body",
	.reads_body = 1,
	.any_method = 1,
	.start = http_echo_start,
	.resume = http_echo_resume,
};
