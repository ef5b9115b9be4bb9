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
			if (len > HTTP_OUT_HIGH - queued)
				len = HTTP_OUT_HIGH - queued;
			http_response_body(c, data, len);
			http_body_consume(c, len);
			break;
		case HTTP_BODY_END:
			http_response_body_end(c);
			return (HTTP_HANDLER_DONE);
		case HTTP_BODY_WAIT:
		case HTTP_BODY_ERROR:	/* the core answers it */
			return (HTTP_HANDLER_PENDING);
		}
	}
}

/* The response head goes out at once; the body follows as it comes. */
static enum http_hres
http_echo_start(struct http_conn *c, const struct location_conf *lc,
    const char *path, size_t len)
{
	const struct http_request	*req = &c->x->req;
	const char			*ctype = "application/octet-stream";

	(void)lc;
	(void)path;
	(void)len;
	if (!req->chunked)
		http_response_head(c, 200, ctype, req->content_length > 0 ?
		    req->content_length : 0);
	else if (req->version == 11) {
		http_response_head(c, 200, ctype, -1);
		http_response_chunked(c);
	} else {
		c->keep_alive = 0;	/* HTTP/1.0: the close ends it */
		http_response_head(c, 200, ctype, -1);
	}
	http_response_end_head(c);
	return (http_echo_resume(c));
}

const struct http_handler http_echo_handler = {
	.name = "echo_body",
	.reads_body = 1,
	.start = http_echo_start,
	.resume = http_echo_resume,
};
