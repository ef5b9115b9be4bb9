/*
 * http_delay.c: "delay = SECONDS" in a location: its handler answers
 * only after the delay, the request pending meanwhile (a libevent timer
 * wakes it). It stands in front of the location's own handler, to show
 * and test requests that wait: pipelined requests behind it, a drain
 * that waits for it, a client that goes away meanwhile. A body the
 * handler reads stays unread until then (the client is held back).
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/log.h"
#include "http/http_handlers.h"

struct http_delay {
	struct http_conn	*c;
	struct event		*ev;
	int			 fired;
	size_t			 len;
	char			 path[];	/* the normalised path */
};

static void
http_delay_free(struct http_conn *c)
{
	struct http_delay	*d = c->x->hdata;

	if (d->ev != NULL)
		event_free(d->ev);
	free(d);
	c->x->hdata = NULL;
}

static void
http_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_delay	*d = arg;

	(void)fd;
	(void)what;
	d->fired = 1;
	http_request_wake(d->c);
}

/* The time is up: the location's own handler takes over. */
static enum http_hres
http_delay_resume(struct http_conn *c)
{
	const struct location_conf	*lc = c->x->loc;
	const struct http_handler	*h = http_handler_base(lc);
	struct http_delay		*d = c->x->hdata;
	char				 path[8192];
	size_t				 len = d->len;

	if (!d->fired)
		return (HTTP_HANDLER_PENDING);
	memcpy(path, d->path, len + 1);
	http_delay_free(c);
	http_request_set_handler(c, h);
	return (h->start(c, lc, path, len));
}

static enum http_hres
http_delay_start(struct http_conn *c, const struct location_conf *lc,
    const char *path, size_t len)
{
	struct http_delay	*d;
	struct timeval		 tv;

	if (len >= 8192 || (d = calloc(1, sizeof(*d) + len + 1)) == NULL) {
		log_warnx("location %s: no memory to delay a request",
		    lc->prefix);
		http_response_error(c, 503);
		return (HTTP_HANDLER_DONE);
	}
	d->c = c;
	d->len = len;
	memcpy(d->path, path, len);
	c->x->hdata = d;
	tv.tv_sec = lc->delay_ms / 1000;
	tv.tv_usec = (lc->delay_ms % 1000) * 1000;
	d->ev = evtimer_new(http_request_base(c), http_delay_cb, d);
	if (d->ev == NULL || evtimer_add(d->ev, &tv) == -1) {
		http_delay_free(c);
		http_response_error(c, 503);
		return (HTTP_HANDLER_DONE);
	}
	return (HTTP_HANDLER_PENDING);
}

/* The request ended first (the client went away, the worker stops). */
static void
http_delay_cancel(struct http_conn *c)
{
	http_delay_free(c);
}

const struct http_handler http_delay_handler = {
	.name = "delay",
	.start = http_delay_start,
	.resume = http_delay_resume,
	.cancel = http_delay_cancel,
};

const struct http_handler http_delay_body_handler = {
	.name = "delay",
	.reads_body = 1,
	.any_method = 1,
	.start = http_delay_start,
	.resume = http_delay_resume,
	.cancel = http_delay_cancel,
};
