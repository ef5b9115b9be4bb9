/*
 * worker_int.h: what the worker's files share (worker.c: its life, drain
 * and channel; worker_listen.c: its listeners and accepting;
 * worker_proxyproto.c: PROXY headers before the service). Nothing else
 * includes it.
 */
#ifndef DROVER_WORKER_INT_H
#define DROVER_WORKER_INT_H

#include <sys/types.h>

#include <time.h>

#include <event2/event.h>

#include "core/addr.h"
#include "process/channel.h"

struct config;
struct listen_conf;
struct wserver;

struct wlistener {
	int		 fd;
	ino_t		 ino;		/* of the socket, to spot duplicates */
	struct event	*ev;
	struct wserver	*sv;
	int		 batch;		/* accepts to try per wake-up */
	int		 full_runs;	/* wake-ups that used all of it */
	char		 text[ADDR_STRLEN];	/* resolved address */
};

/* The worker's state; one worker per process. */
struct worker_state {
	struct event_base	*base;
	struct config		*conf;
	unsigned		 generation;
	int			 slot;
	pid_t			 master;
	int			 chan;
	struct event		*ev_chan;
	struct event		*ev_sig[3];
	struct event		*ev_drain_timer;
	struct event		*ev_accept_resume;
	struct wserver		*servers;
	size_t			 nservers;
	struct wlistener	**listeners;
	size_t			 nlisteners;
	size_t			 listeners_cap;
	size_t			 nconns;
	int			 draining;
	int			 accept_paused;
	time_t			 last_accept_warn;
	char			 exit_reason[CHAN_TEXT_MAX];
};

/* worker.c */
extern struct worker_state	 w;

void	 worker_fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* worker_listen.c */
void	 worker_open_listeners(void);
void	 worker_close_listeners(void);
void	 worker_server_accept(struct wserver *, int);
void	 worker_accept_resume_cb(evutil_socket_t, short, void *);

/* worker_proxyproto.c */
void	 worker_proxyproto_accept(struct wserver *, int,
	     const struct sockaddr *, socklen_t);
void	 worker_proxyproto_shutdown(void);

#endif
