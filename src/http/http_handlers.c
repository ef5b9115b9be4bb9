/*
 * http_handlers.c: the table of handlers, by a location's kind; the one
 * file that knows them all, so the core and the handlers include only
 * http.h.
 */
#include "autoconf.h"

#include <stddef.h>

#include "core/conf.h"
#include "http/http_handlers.h"

static const struct http_handler *const http_handlers[] = {
	[LOC_RETURN] = &http_return_handler,
	[LOC_ROOT] = &http_static_handler,
	[LOC_STATS] = &http_stats_handler,
	[LOC_ECHO_BODY] = &http_echo_handler,
	[LOC_PROXY] = &http_proxy_handler,
};

/* The handler of the location's kind. */
const struct http_handler *
http_handler_base(const struct location_conf *lc)
{
	return (http_handlers[lc->handler]);
}

/* The handler a request for the location starts with. */
const struct http_handler *
http_handler_find(const struct location_conf *lc)
{
	const struct http_handler	*h = http_handlers[lc->handler];

	if (lc->delay_ms > 0)
		return (h->reads_body ? &http_delay_body_handler :
		    &http_delay_handler);
	return (h);
}
