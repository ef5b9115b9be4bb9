/*
 * http_core.h: what the files of the HTTP core share and handlers do not
 * see: the connection (http_conn.c), timeouts (http_timeout.c), the
 * request's way from head to response (http_request.c), the body
 * (http_body.c), the access log line (http_log.c) and the service entry
 * points (http_service.c).
 */
#ifndef DROVER_HTTP_CORE_H
#define DROVER_HTTP_CORE_H

#include "event/service.h"
#include "http/http.h"

#define HTTP_IN_DEFAULT		4096	/* input buffer to start with */
#define HTTP_OUT_DEFAULT	4096
#define HTTP_OUT_KEEP		(64 * 1024)	/* larger: not pooled */
#define HTTP_OUT_PIPELINE_MAX	(64 * 1024)	/* flush pipelined above */
#define HTTP_POOL_MAX		256	/* pooled exchanges per server */
#define HTTP_LINGER_SECONDS	2	/* reading after our FIN */
#define HTTP_DRAIN_IDLE_MS	5000	/* idle: a drain's grace to hand on */
#define HTTP_PATH_MAX		8192

enum http_io {
	HTTP_IO_DONE,
	HTTP_IO_AGAIN,
	HTTP_IO_EOF,
	HTTP_IO_ERROR,
};

/* http_conn.c */
void		 http_conn_set_state(struct http_conn *, enum http_state);
void		 http_conn_process(struct http_conn *);
void		 http_conn_close(struct http_conn *, const char *);
void		 http_conn_ready(struct poller_item *, void *);
void		 http_conn_timeout(struct http_conn *);
void		 http_conn_want_read(struct http_conn *);
void		 http_conn_want_write(struct http_conn *);
int		 http_conn_in_room(struct http_conn *);
enum http_io	 http_conn_read(struct http_conn *);
enum http_io	 http_conn_write(struct http_conn *);
void		 http_conn_free_pool(struct http_server *);
void		 http_conn_release_buffers(struct http_conn *);
void		 http_conn_nodelay(struct http_conn *);
void		 http_conn_accept(struct wserver *, int,
		     const struct sockaddr *, socklen_t);

/* A drain that cannot hand idle connections on closes them (once idle). */
#define HTTP_DRAIN_CLOSES(hs)	((hs)->draining && !(hs)->handover)

/* http_timeout.c */
void		 http_timeout(struct http_conn *, enum http_tq);
void		 http_timeout_until(struct http_conn *, enum http_tq, int64_t);
void		 http_timeout_sweep_cb(evutil_socket_t, short, void *);

/* http_request.c */
void		 http_request_start(struct http_conn *);
void		 http_request_head_done(struct http_conn *);
void		 http_request_body_done(struct http_conn *);
void		 http_request_done(struct http_conn *);
int		 http_request_run(struct http_conn *);
void		 http_request_cancel(struct http_conn *, const char *);
void		 http_request_abandoned(struct http_conn *);

/* http_body.c */
void		 http_body_init(struct http_conn *);
int		 http_body_discard(struct http_conn *);
int		 http_body_finished(const struct http_conn *);

/* http_handover.c */
int		 http_handover_start(struct http_server *);
void		 http_handover_idle(struct http_conn *, int64_t);
void		 http_handover_free(struct http_server *);
void		 http_handover_adopt(struct wserver *, int,
		     const struct service_handoff *);

/* http_log.c */
void		 http_log_request(struct http_conn *);
void		 http_log_flush_cb(evutil_socket_t, short, void *);

#endif
