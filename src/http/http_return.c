/*
 * http_return.c: "return = STATUS [TEXT]": a fixed response, or a
 * redirect to TEXT for 301, 302, 303, 307 and 308.
 */
#include "autoconf.h"

#include "core/conf.h"
#include "http/http_handlers.h"

static enum http_hres
http_return_start(struct http_conn *c, const struct location_conf *lc,
    const char *path, size_t len)
{
	(void)path;
	(void)len;
	if (lc->status == 301 || lc->status == 302 || lc->status == 303 ||
	    lc->status == 307 || lc->status == 308) {
		http_response_head(c, lc->status, NULL, 0);
		http_response_printf(c, "Location: %s\r\n", lc->text);
		http_response_end_head(c);
		return (HTTP_HANDLER_DONE);
	}
	if (lc->status == 204 || lc->status == 304) {
		/* No body, so no Content-Length either (RFC 9110 8.6). */
		http_response_head(c, lc->status, NULL, -1);
		http_response_end_head(c);
		return (HTTP_HANDLER_DONE);
	}
	http_response_simple(c, lc->status, "text/plain; charset=utf-8",
	    lc->text, lc->text_len);
	return (HTTP_HANDLER_DONE);
}

const struct http_handler http_return_handler = {
	.name = "return",
	.start = http_return_start,
};
