/*
 * worker_listen.c: a worker's listeners and accepting on them.
 *
 * Each listen address gets the listener this slot used before (kept by
 * the master, so its accept queue survived the worker before), or a new
 * SO_REUSEPORT one whose copy goes to the master to keep. Listeners of
 * retired slots, lent ones and a dead sibling's are accepted on too.
 * Accepting pauses at max_connections and when out of descriptors, and
 * each wake-up takes about as many connections as the last one found.
 * A UDP server's sockets are kept and adopted the same way; their
 * datagrams go to the service as they come (service.h's datagrams).
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "event/service.h"
#include "process/channel.h"
#include "process/listener.h"
#include "process/worker.h"
#include "process/worker_int.h"
#include "upstream/upstream.h"

#define WORKER_ACCEPT_BATCH	64	/* most accepts per wake-up and listener */
#define WORKER_ACCEPT_GROW_AFTER 16	/* full batches before a larger one */
#define WORKER_ACCEPT_PAUSE_MS	1000	/* after EMFILE/ENFILE */

static void	worker_add_listener(struct wserver *, const struct listen_conf *,
		    int);

/* Start or stop watching one server's listeners. */
void
worker_server_accept(struct wserver *sv, int on)
{
	size_t	 i;

	for (i = 0; i < w.nlisteners; i++) {
		if (w.listeners[i]->ev == NULL || w.listeners[i]->sv != sv)
			continue;
		if (on)
			event_add(w.listeners[i]->ev, NULL);
		else
			event_del(w.listeners[i]->ev);
	}
}

/* Start or stop accepting on every server (not on paused ones). */
static void
worker_accept_enable(int on)
{
	size_t	 i;

	for (i = 0; i < w.nservers; i++) {
		/* Reading datagrams takes no descriptor: never paused. */
		if (w.servers[i].svc == NULL ||
		    w.servers[i].svc->datagrams != NULL)
			continue;
		if (!on || !w.servers[i].paused)
			worker_server_accept(&w.servers[i], on);
	}
	w.accept_paused = !on;
}

void
worker_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!w.draining)
		worker_accept_enable(1);
}

/* Out of descriptors: stop accepting for a moment rather than spin. */
static void
worker_accept_pause(const char *text, int err)
{
	struct timeval	 tv = { 0, WORKER_ACCEPT_PAUSE_MS * 1000 };
	time_t		 now = time(NULL);

	if (now != w.last_accept_warn) {
		w.last_accept_warn = now;
		log_warnx("accept on %s: %s: pausing accepts for %d ms "
		    "(%zu connections open; raise rlimit_nofile?)", text,
		    strerror(err), WORKER_ACCEPT_PAUSE_MS, w.nconns);
	}
	worker_accept_enable(0);
	evtimer_add(w.ev_accept_resume, &tv);
}

/*
 * How many connections to accept per wake-up. Accepting until EAGAIN
 * costs a failed accept4() per wake-up, as many system calls as the
 * connections themselves when they come one or two at a time. So the
 * batch follows what the queue held: as many as the last wake-up found,
 * more after a few wake-ups that used the whole batch (the listener is
 * level-triggered: what a batch leaves is reported at once again).
 */
static void
worker_accept_learn(struct wlistener *l, int accepted, int emptied)
{
	if (emptied) {
		l->batch = accepted > 0 ? accepted : 1;
		l->full_runs = 0;
	} else if (++l->full_runs >= WORKER_ACCEPT_GROW_AFTER) {
		l->batch = l->batch * 2 < WORKER_ACCEPT_BATCH ?
		    l->batch * 2 : WORKER_ACCEPT_BATCH;
		l->full_runs = 0;
	}
}

static void
worker_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wlistener	*l = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 i, c, n;

	n = 0;
	/* Not past max_connections either: accepting pauses there. */
	for (i = 0; i < l->batch && !w.draining && !l->sv->paused; i++) {
		len = sizeof(ss);
		c = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c == -1) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EAGAIN:
				/* Nothing at all: a wake-up that says
				 * nothing about the queue. */
				if (n > 0)
					worker_accept_learn(l, n, 1);
				return;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				worker_accept_pause(l->text, errno);
				return;
			default:
				log_warn("accept on %s", l->text);
				return;
			}
		}
		n++;
		STATS_ADD(l->sv->st, accepted, 1);
		/* A PROXY header first: the service gets the connection
		 * from the client it names (worker_proxyproto.c). */
		if (l->sv->conf->proxy_protocol)
			worker_proxyproto_accept(l->sv, c,
			    (struct sockaddr *)&ss, len);
		else
			l->sv->svc->accept(l->sv, c, (struct sockaddr *)&ss,
			    len);
	}
	if (i == l->batch)
		worker_accept_learn(l, n, 0);
}

/* A UDP socket is readable: its datagrams are the service's. */
static void
worker_datagram_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wlistener	*l = arg;

	(void)what;
	if (!w.draining)
		l->sv->svc->datagrams(l->sv, fd);
}

void
worker_close_listeners(void)
{
	size_t	 i;

	for (i = 0; i < w.nlisteners; i++) {
		if (w.listeners[i]->ev != NULL)
			event_free(w.listeners[i]->ev);
		w.listeners[i]->ev = NULL;
		if (w.listeners[i]->fd != -1)
			close(w.listeners[i]->fd);
		w.listeners[i]->fd = -1;
	}
}

/*
 * The master lends us the listener of a slot whose worker died and waits
 * to be replaced (or a sibling died, sibling.c): accept on it too, so what
 * queues there is not stranded.
 */
void
worker_adopt(int fd, int index, int slot)
{
	struct stat	 st;
	size_t		 i, j;
	int		 k = 0;

	if (w.draining || fstat(fd, &st) == -1) {
		close(fd);
		return;
	}
	for (i = 0; i < w.nlisteners; i++)
		if (w.listeners[i]->ino == st.st_ino) {
			close(fd);	/* already ours */
			return;
		}
	for (i = 0; i < w.conf->nservers; i++)
		for (j = 0; j < w.conf->servers[i].nlistens; j++, k++)
			if (k == index && w.servers[i].svc != NULL) {
				worker_add_listener(&w.servers[i],
				    &w.conf->servers[i].listens[j], fd);
				log_info("accepting on slot %d's listener for "
				    "%s while it is replaced", slot,
				    w.conf->servers[i].listens[j].text);
				return;
			}
	close(fd);
}

/* Whether a kept socket is what a server of ours reads or accepts on. */
static int
worker_listener_usable(int fd, int udp)
{
	socklen_t	 len = sizeof(int);
	int		 v = 0;

	if (udp)
		return (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0 &&
		    v == SOCK_DGRAM);
	return (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 &&
	    v);
}

/*
 * The listening socket for one address: the one this slot used before
 * (kept by the master, so its accept queue survived the previous worker),
 * or a new one of our own, a copy of which goes to the master to keep.
 */
static int
worker_listener(struct listen_conf *lc, int backlog, int udp, int index)
{
	struct chan_msg	 m;
	char		 err[512];
	int		 fd;

	if (lc->inherit_fd != -1) {
		fd = lc->inherit_fd;
		lc->inherit_fd = -1;
		if (worker_listener_usable(fd, udp))
			return (fd);
		log_warnx("listen %s: the kept listener is not %s: opening a "
		    "new one", lc->text, udp ? "a UDP socket" : "listening");
		close(fd);
	}
	fd = udp ? listener_open_udp(&lc->addr, err, sizeof(err)) :
	    listener_open(&lc->addr, backlog, err, sizeof(err));
	if (fd == -1)
		worker_fatalx("%s", err);
	channel_msg_init(&m, CHAN_LISTENER);
	m.generation = w.generation;
	m.slot = w.slot;
	m.arg = index;
	m.pid = getpid();
	if (channel_send(w.chan, &m, fd) == -1)
		log_warn("listen %s: cannot hand a copy to the master",
		    lc->text);
	return (fd);
}

/*
 * defer_accept: the kernel hands over a connection only once it has data
 * (or after the timeout), so a client that connects and says nothing
 * costs no worker anything, and the first read never waits. Set on kept
 * and adopted sockets too, so a reload can switch it either way.
 */
static void
worker_defer_accept(const struct server_conf *sc, const struct wlistener *l)
{
	int	 secs = 0;

	if (sc->defer_accept)
		secs = sc->protocol == PROTO_HTTP ? sc->header_timeout :
		    sc->idle_timeout;
	if (setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
	    sizeof(secs)) == -1 && sc->defer_accept)
		log_warn("listen %s: TCP_DEFER_ACCEPT", l->text);
}

/* Watch one listening socket for a server. */
static void
worker_add_listener(struct wserver *sv, const struct listen_conf *lc, int fd)
{
	struct wlistener	*l, **p;
	struct stat		 st;
	size_t			 cap;

	if (w.nlisteners == w.listeners_cap) {
		cap = w.listeners_cap ? w.listeners_cap * 2 : 8;
		if ((p = realloc(w.listeners, cap * sizeof(*p))) == NULL)
			worker_fatalx("out of memory");
		w.listeners = p;
		w.listeners_cap = cap;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		worker_fatalx("out of memory");
	w.listeners[w.nlisteners++] = l;
	l->sv = sv;
	l->batch = WORKER_ACCEPT_BATCH;
	l->fd = fd;
	if (fstat(fd, &st) == 0)
		l->ino = st.st_ino;
	addr_format(&lc->addr, l->text, sizeof(l->text));
	if (sv->svc->datagrams != NULL)
		l->ev = event_new(w.base, l->fd, EV_READ | EV_PERSIST,
		    worker_datagram_cb, l);
	else {
		worker_defer_accept(sv->conf, l);
		l->ev = event_new(w.base, l->fd, EV_READ | EV_PERSIST,
		    worker_accept_cb, l);
	}
	/*
	 * A listener lent while accepting is paused (max_connections, out
	 * of descriptors) is watched only once accepting resumes: watched
	 * now, worker_accept_cb() would accept nothing from it and the
	 * level-triggered event would spin the loop at 100% CPU.
	 */
	if (l->ev == NULL || (!sv->paused && (!w.accept_paused ||
	    sv->svc->datagrams != NULL) && event_add(l->ev, NULL) == -1))
		worker_fatalx("server %s: cannot watch %s", sv->conf->name,
		    l->text);
}

/*
 * Listeners of slots that no worker of this generation has (there were
 * more workers before): this worker accepts on them too, so they never
 * have to be closed, and nothing queued in them is lost.
 */
static void
worker_adopt_listeners(struct wserver *sv, struct listen_conf *lc)
{
	int	 i;

	for (i = 0; i < lc->nadopt; i++) {
		if (worker_listener_usable(lc->adopt_fds[i],
		    sv->svc->datagrams != NULL))
			worker_add_listener(sv, lc, lc->adopt_fds[i]);
		else
			close(lc->adopt_fds[i]);
	}
	if (lc->nadopt > 0)
		log_debug("listen %s: accepting on %d listeners of retired "
		    "slots too", lc->text, lc->nadopt);
	lc->nadopt = 0;
}

void
worker_open_listeners(void)
{
	struct server_conf	*sc;
	char			 err[512];
	size_t			 i, j;
	int			 k = 0;

	w.servers = calloc(w.conf->nservers, sizeof(*w.servers));
	if (w.servers == NULL)
		worker_fatalx("out of memory");
	w.nservers = w.conf->nservers;
	if (upstream_init(w.base, w.conf, err, sizeof(err)) == -1)
		worker_fatalx("%s", err);
	for (i = 0; i < w.nservers; i++) {
		sc = &w.conf->servers[i];
		w.servers[i].conf = sc;
		w.servers[i].base = w.base;
		if (sc->protocol == PROTO_EXEC) {
			/* Its own processes serve it (exec.c), not we. */
			k += (int)sc->nlistens;
			continue;
		}
		w.servers[i].svc = service_find(sc->protocol);
		w.servers[i].st = stats_series_find(stats_region, sc->name,
		    w.generation, w.slot);
		if (w.servers[i].svc == NULL)
			worker_fatalx("server %s: no service for protocol %d",
			    sc->name, sc->protocol);
		if (w.servers[i].svc->init(&w.servers[i], err,
		    sizeof(err)) == -1)
			worker_fatalx("server %s: %s", sc->name, err);
		for (j = 0; j < sc->nlistens; j++, k++) {
			worker_add_listener(&w.servers[i], &sc->listens[j],
			    worker_listener(&sc->listens[j], sc->backlog,
			    CONF_PROTO_UDP(sc->protocol), k));
			worker_adopt_listeners(&w.servers[i], &sc->listens[j]);
		}
	}
}

