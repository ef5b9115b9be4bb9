/*
 * service.h: what a protocol (echo, later http and proxy) plugs into the
 * worker loop. The worker owns the listeners and accepting; a service owns
 * its connections from accept to close and tells the worker when one ends.
 */
#ifndef DROVER_SERVICE_H
#define DROVER_SERVICE_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct server_conf;
struct stats_counters;
struct wserver;

/*
 * What travels with an idle connection handed to a worker of the serving
 * generation (process/handover.c): enough to keep the promises made to
 * the client, and nothing a request left behind (there is none).
 */
struct service_handoff {
	int64_t			 deadline;	/* ms, CLOCK_MONOTONIC_COARSE */
	uint8_t			 fresh;		/* no request yet */
	uint8_t			 nodelay;	/* TCP_NODELAY is set */
	uint16_t		 peerlen;
	struct sockaddr_storage	 peer;
};

struct service {
	const char	*name;
	/* Set up per-server state (sv->svc_data); -1 with err on failure. */
	int		 (*init)(struct wserver *, char *, size_t);
	/* Take ownership of a new, non-blocking client socket. */
	void		 (*accept)(struct wserver *, int,
			     const struct sockaddr *, socklen_t);
	/* Drain begins: finish what is in flight, close at clean points. */
	void		 (*drain)(struct wserver *);
	/* Close every connection now and free per-server state. */
	void		 (*shutdown)(struct wserver *);
	/* Optional: the master reopened this server's log file (USR1). */
	void		 (*reopen)(struct wserver *, int);
	/* Optional: take over an idle connection another worker handed on. */
	void		 (*adopt)(struct wserver *, int,
			     const struct service_handoff *);
	/* UDP services: datagrams wait on socket fd (read until EAGAIN or
	 * a batch's worth; the socket is level-triggered). */
	void		 (*datagrams)(struct wserver *, int);
};

/* One configured server inside a worker. */
struct wserver {
	const struct server_conf	*conf;
	const struct service		*svc;
	struct event_base		*base;
	void				*svc_data;
	size_t				 nconns;
	int				 draining;
	int				 paused;	/* max_connections */
	int				 handover;	/* drain hands idle on */
	struct stats_counters		*st;	/* its series, or NULL */
};

const struct service	*service_find(int);
void			 service_conn_opened(struct wserver *);
void			 service_conn_closed(struct wserver *);
int			 service_handover(struct wserver *, int,
			     const struct service_handoff *);

extern const struct service	echo_service;
extern const struct service	http_service;
extern const struct service	udp_echo_service;
extern const struct service	tcp_proxy_service;
extern const struct service	udp_proxy_service;

#endif
