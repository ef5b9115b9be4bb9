/*
 * http_handlers.h: the handlers that answer HTTP requests, one file
 * each; http_handlers.c puts them in the table the core calls through.
 */
#ifndef DROVER_HTTP_HANDLERS_H
#define DROVER_HTTP_HANDLERS_H

#include "http/http.h"

extern const struct http_handler	http_return_handler;	/* return */
extern const struct http_handler	http_static_handler;	/* root */
extern const struct http_handler	http_stats_handler;	/* stats */
extern const struct http_handler	http_echo_handler;	/* echo_body */
extern const struct http_handler	http_proxy_handler;	/* proxy */
/* delay = SECONDS, in front of any of them (with or without a body). */
extern const struct http_handler	http_delay_handler;
extern const struct http_handler	http_delay_body_handler;

#endif
