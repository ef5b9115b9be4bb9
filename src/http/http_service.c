/*
 * http_service.c: the HTTP service's entry points for the worker
 * (service.h): set up a server, take connections, drain, stop, reopen
 * the access log.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "event/service.h"
#include "http/accesslog.h"
#include "http/http_core.h"
#include "http/http_fcache.h"
#include "http/mime.h"

static int
http_service_init(struct wserver *sv, char *err, size_t errlen)
{
	const struct server_conf	*sc = sv->conf;
	struct http_server		*hs;
	struct timeval			 sec = { 1, 0 };
	size_t				 i;
	int				 q;

	if ((hs = calloc(1, sizeof(*hs))) == NULL)
		goto oom;
	sv->svc_data = hs;
	hs->sv = sv;
	hs->conf = sc;
	for (q = 0; q < HTTP_NTQ; q++)
		TAILQ_INIT(&hs->tq[q]);
	hs->tq_ms[HTTP_TQ_HEADER] = sc->header_timeout * 1000;
	hs->tq_ms[HTTP_TQ_BODY] = sc->body_timeout * 1000;
	hs->tq_ms[HTTP_TQ_KEEPALIVE] = sc->keepalive_timeout * 1000;
	hs->tq_ms[HTTP_TQ_SEND] = sc->send_timeout * 1000;
	hs->tq_ms[HTTP_TQ_LINGER] = HTTP_LINGER_SECONDS * 1000;
	hs->tq_ms[HTTP_TQ_DRAIN] = HTTP_DRAIN_IDLE_MS;
	hs->tq_ms[HTTP_TQ_WAIT] = -1;
	hs->tq_ms[HTTP_TQ_HANDED] = -1;	/* each has its own deadline */
	hs->ev_sweep = evtimer_new(sv->base, http_timeout_sweep_cb, hs);
	if (hs->ev_sweep == NULL)
		goto oom;
	if ((hs->poller = poller_new(sv->base, http_conn_ready, hs)) == NULL) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return (-1);
	}
	hs->limits.max_request_line = sc->max_request_line;
	hs->limits.max_header_size = sc->max_header_size;
	hs->limits.max_headers = sc->max_headers;
	hs->root_fds = calloc(sc->nlocations + 1, sizeof(*hs->root_fds));
	if (hs->root_fds == NULL)
		goto oom;
	for (i = 0; i < sc->nlocations; i++) {
		hs->root_fds[i] = -1;
		if (sc->locations[i].handler != LOC_ROOT)
			continue;
		hs->root_fds[i] = open(sc->locations[i].root,
		    O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (hs->root_fds[i] == -1) {
			snprintf(err, errlen, "location %s: root %s: %s",
			    sc->locations[i].prefix, sc->locations[i].root,
			    strerror(errno));
			return (-1);
		}
	}
	hs->mime = mime_load(sc->mime_types);
	hs->fcache = fcache_new();
	if (hs->mime == NULL || hs->fcache == NULL)
		goto oom;
	if (sc->access_log_fd != -1) {
		if ((hs->alog = accesslog_new(sc->access_log_fd)) == NULL)
			goto oom;
		hs->ev_flush = event_new(sv->base, -1, EV_PERSIST,
		    http_log_flush_cb, hs);
		if (hs->ev_flush == NULL || event_add(hs->ev_flush, &sec) == -1)
			goto oom;
	}
	return (0);
oom:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

/* Move idle connections of queue q to the drain grace. */
static void
http_service_drain_queue(struct http_server *hs, enum http_tq q)
{
	struct http_conn	*c, *next;

	for (c = TAILQ_FIRST(&hs->tq[q]); c != NULL; c = next) {
		next = TAILQ_NEXT(c, tq_entry);
		if (c->state == HTTP_IDLE && (c->x == NULL ||
		    (!c->x->req_started && c->x->out_len == 0)))
			http_handover_idle(c, c->deadline);
	}
}

/*
 * Stop taking new requests. With a serving generation to take them, idle
 * connections are handed on and busy ones once idle (http_handover.c);
 * without (a stop), what is in flight is answered with Connection: close
 * and idle connections get a moment's grace, then are closed.
 */
static void
http_service_drain(struct wserver *sv)
{
	struct http_server	*hs = sv->svc_data;

	hs->draining = 1;
	if (http_handover_start(hs) == -1)
		log_warnx("server %s: out of memory: idle connections are "
		    "closed, not handed on", sv->conf->name);
	/* Idle connections wait in these (HEADER: no byte yet). */
	http_service_drain_queue(hs, HTTP_TQ_KEEPALIVE);
	http_service_drain_queue(hs, HTTP_TQ_HANDED);
	http_service_drain_queue(hs, HTTP_TQ_HEADER);
}

static void
http_service_shutdown(struct wserver *sv)
{
	struct http_server	*hs = sv->svc_data;
	struct http_conn	*c;
	unsigned		 i;
	int			 q;

	if (hs == NULL)
		return;
	for (q = 0; q < HTTP_NTQ; q++)
		while ((c = TAILQ_FIRST(&hs->tq[q])) != NULL)
			http_conn_close(c, "worker stopping");
	http_conn_free_pool(hs);
	http_handover_free(hs);
	for (i = 0; hs->root_fds != NULL && i < hs->conf->nlocations; i++)
		if (hs->root_fds[i] != -1)
			close(hs->root_fds[i]);
	free(hs->root_fds);
	if (hs->ev_sweep != NULL)
		event_free(hs->ev_sweep);
	poller_free(hs->poller);
	if (hs->ev_flush != NULL)
		event_free(hs->ev_flush);
	accesslog_free(hs->alog);
	fcache_free(hs->fcache);
	mime_free(hs->mime);
	free(hs);
	sv->svc_data = NULL;
}

/* USR1: the master reopened this server's access log. */
static void
http_service_reopen(struct wserver *sv, int fd)
{
	struct http_server	*hs = sv->svc_data;

	if (hs == NULL || hs->alog == NULL) {
		close(fd);
		return;
	}
	accesslog_flush(hs->alog);
	accesslog_set_fd(hs->alog, fd);
}

const struct service http_service = {
	.name = "http",
	.init = http_service_init,
	.accept = http_conn_accept,
	.drain = http_service_drain,
	.shutdown = http_service_shutdown,
	.reopen = http_service_reopen,
	.adopt = http_handover_adopt,
};
