/*
 * worker.c: one worker process.
 *
 * It opens its own SO_REUSEPORT listener for every listen address
 * (worker_listen.c), drops privileges, tells the master it is ready once
 * its loop runs, and accepts connections for the services until it is
 * told to drain (channel message, SIGQUIT, or the master's death) or to
 * stop (SIGTERM).
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "process/channel.h"
#include "process/handover.h"
#include "process/heartbeat.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/proc.h"
#include "event/service.h"
#include "core/stats.h"
#include "process/sibling.h"
#include "process/worker.h"
#include "process/worker_int.h"
#include "upstream/upstream.h"

#define WORKER_DISPATCH_MAX	64	/* callbacks before polling again */

struct worker_state	 w;

static void	worker_drain(const char *, int);

/* Tell the master (if it still listens) and exit: start-up failures. */
void
worker_fatalx(const char *fmt, ...)
{
	struct chan_msg	 m;
	va_list		 ap;

	channel_msg_init(&m, CHAN_FATAL);
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	m.generation = w.generation;
	m.slot = w.slot;
	m.pid = getpid();
	log_warnx("%s", m.text);
	if (channel_send(w.chan, &m, -1) == -1)
		log_warn("cannot tell the master why");
	exit(1);
}

void
service_conn_opened(struct wserver *sv)
{
	sv->nconns++;
	w.nconns++;
	STATS_ADD(sv->st, active, 1);
	/* A UDP service's connections are its sessions, which it limits
	 * itself: its socket must be read on, or datagrams pile up there. */
	if (sv->svc->datagrams == NULL &&
	    sv->nconns >= (size_t)sv->conf->max_connections && !sv->paused) {
		/* At the limit: leave new connections in the kernel's queue
		 * (or to other workers) instead of refusing anyone. */
		log_notice("server %s: max_connections (%d) reached: pausing "
		    "accepts", sv->conf->name, sv->conf->max_connections);
		sv->paused = 1;
		worker_server_accept(sv, 0);
	}
}

void
service_conn_closed(struct wserver *sv)
{
	sv->nconns--;
	w.nconns--;
	STATS_SUB(sv->st, active, 1);
	if (sv->paused && sv->nconns < (size_t)sv->conf->max_connections) {
		sv->paused = 0;
		if (!w.draining && !w.accept_paused)
			worker_server_accept(sv, 1);
		log_info("server %s: below max_connections: accepting again",
		    sv->conf->name);
	}
	if (w.draining && w.nconns == 0) {
		snprintf(w.exit_reason, sizeof(w.exit_reason), "drained");
		event_base_loopexit(w.base, NULL);
	}
}

/* This worker's server of that name and protocol, or NULL. */
struct wserver *
worker_server_find(const char *name, int protocol)
{
	size_t	 i;

	for (i = 0; i < w.nservers; i++)
		if (w.servers[i].svc != NULL &&
		    strcmp(w.servers[i].conf->name, name) == 0 &&
		    (int)w.servers[i].conf->protocol == protocol)
			return (&w.servers[i]);
	return (NULL);
}

const struct service *
service_find(int protocol)
{
	switch (protocol) {
	case PROTO_ECHO:
		return (&echo_service);
	case PROTO_HTTP:
		return (&http_service);
	case PROTO_UDP_ECHO:
		return (&udp_echo_service);
	case PROTO_TCP_PROXY:
		return (&tcp_proxy_service);
	case PROTO_UDP_PROXY:
		return (&udp_proxy_service);
	}
	return (NULL);
}

/* A message to the master, if it still listens. */
static int
worker_tell(enum chan_type type, const char *text)
{
	struct chan_msg	 m;

	if (w.chan == -1)
		return (-1);
	channel_msg_init(&m, type);
	m.generation = w.generation;
	m.slot = w.slot;
	m.pid = getpid();
	if (text != NULL)
		snprintf(m.text, sizeof(m.text), "%s", text);
	return (channel_send(w.chan, &m, -1));
}

static void
worker_drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	snprintf(w.exit_reason, sizeof(w.exit_reason), "shutdown_timeout "
	    "(%d s) reached with %zu connections open; closing them",
	    w.conf->shutdown_timeout, w.nconns);
	log_notice("%s", w.exit_reason);
	event_base_loopbreak(w.base);
}

/*
 * Stop accepting, let the services finish, exit when nothing is left.
 * With handover set, a serving generation reads the inbox: the services
 * hand their idle connections on rather than close them (handover.c).
 */
static void
worker_drain(const char *why, int handover)
{
	struct timeval	 tv;
	size_t		 i;

	if (w.draining)
		return;
	w.draining = 1;
	log_info("draining (%s): %zu connections open%s", why, w.nconns,
	    handover ? "; idle ones are handed to the serving generation" :
	    "");
	worker_close_listeners();
	handover_receive(0);
	sibling_close_all();
	worker_tell(CHAN_UNLISTENED, NULL);	/* a verdict waits for it */
	if (w.ev_accept_resume != NULL)
		evtimer_del(w.ev_accept_resume);
	upstream_drain();
	for (i = 0; i < w.nservers; i++) {
		w.servers[i].handover = handover;
		w.servers[i].draining = 1;
		if (w.servers[i].svc != NULL)
			w.servers[i].svc->drain(&w.servers[i]);
	}
	if (w.nconns == 0) {
		snprintf(w.exit_reason, sizeof(w.exit_reason), "drained");
		event_base_loopexit(w.base, NULL);
		return;
	}
	tv.tv_sec = w.conf->shutdown_timeout;
	tv.tv_usec = 0;
	w.ev_drain_timer = evtimer_new(w.base, worker_drain_timeout_cb, NULL);
	if (w.ev_drain_timer != NULL)
		evtimer_add(w.ev_drain_timer, &tv);
}

static void
worker_chan_close(void)
{
	if (w.ev_chan != NULL)
		event_free(w.ev_chan);
	w.ev_chan = NULL;
	if (w.chan != -1)
		close(w.chan);
	w.chan = -1;
}

static void
worker_chan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chan_msg	 m;
	int		 rc, passfd;

	for (;;) {
		rc = channel_recv(fd, &m, &passfd);
		if (rc == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (rc == 0) {
			worker_chan_close();
			worker_drain("the master is gone", 0);
			return;
		}
		if (rc == -1) {
			log_warn("channel from the master");
			worker_chan_close();
			worker_drain("broken channel", 0);
			return;
		}
		switch (m.type) {
		case CHAN_DRAIN:
			worker_drain("told by the master", m.arg == 1);
			break;
		case CHAN_LOG_FD:
			if (passfd != -1)
				log_set_fd(passfd);
			break;
		case CHAN_ADOPT:
			if (passfd != -1)
				worker_adopt(passfd, m.arg, m.slot);
			break;
		case CHAN_SIBLING:
			sibling_message(w.base, &m, passfd);
			break;
		case CHAN_ACCESS_LOG_FD:
			if (passfd == -1)
				break;
			if (m.arg >= 0 && (size_t)m.arg < w.nservers &&
			    w.servers[m.arg].svc != NULL &&
			    w.servers[m.arg].svc->reopen != NULL)
				w.servers[m.arg].svc->reopen(&w.servers[m.arg],
				    passfd);
			else
				close(passfd);
			break;
		default:
			log_warnx("unexpected %s message from the master",
			    channel_type_name(m.type));
			if (passfd != -1)
				close(passfd);
			break;
		}
	}
}

static void
worker_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGQUIT:
		worker_drain("SIGQUIT", 0);
		break;
	default:
		snprintf(w.exit_reason, sizeof(w.exit_reason),
		    "stopped by %s", strsignal((int)sig));
		event_base_loopbreak(w.base);
		break;
	}
}

static void
worker_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	if (worker_tell(CHAN_READY, NULL) == -1) {
		log_warn("cannot tell the master this worker is ready");
		worker_drain("the master is gone", 0);
		return;
	}
	if (!w.draining)
		handover_receive(1);	/* serving: take idle ones too */
}

/*
 * The loop polls again and runs the timers after WORKER_DISPATCH_MAX
 * callbacks, so that no burst of callbacks keeps the listeners, the
 * channel and the timeouts waiting. (A service's connections are run 64
 * edges per callback by its poller, and what they post for themselves
 * waits a turn, so they cannot hold the loop either.)
 */
static struct event_base *
worker_event_base(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		return (NULL);
	(void)event_config_set_max_dispatch_interval(cfg, NULL,
	    WORKER_DISPATCH_MAX, 0);
	/*
	 * libevent watches only a handful of descriptors here: the channel,
	 * its signal pipe, the listeners and one epoll instance per server
	 * that holds the connections (poller.c). With poll() for those few,
	 * that epoll instance is not itself in an epoll set, which would
	 * make every EPOLL_CTL_ADD into it take the kernel's global
	 * epnested_mutex for a loop check (and add a wake-up callback per
	 * event): one lock for every worker's every new connection.
	 */
	(void)event_config_avoid_method(cfg, "epoll");
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base != NULL)
		log_debug("worker: libevent uses %s",
		    event_base_get_method(base));
	return (base);
}

static void
worker_setup_signals(void)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGQUIT };
	size_t			 i;

	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		w.ev_sig[i] = evsignal_new(w.base, sigs[i], worker_signal_cb,
		    NULL);
		if (w.ev_sig[i] == NULL || evsignal_add(w.ev_sig[i], NULL) == -1)
			worker_fatalx("cannot watch signal %d", sigs[i]);
	}
}

static void
worker_cleanup(void)
{
	size_t	 i;

	worker_proxyproto_shutdown();
	for (i = 0; i < w.nservers; i++)
		if (w.servers[i].svc != NULL && w.servers[i].svc_data != NULL)
			w.servers[i].svc->shutdown(&w.servers[i]);
	upstream_shutdown();
	worker_close_listeners();
	sibling_close_all();
	for (i = 0; i < sizeof(w.ev_sig) / sizeof(w.ev_sig[0]); i++)
		if (w.ev_sig[i] != NULL)
			event_free(w.ev_sig[i]);
	if (w.ev_drain_timer != NULL)
		event_free(w.ev_drain_timer);
	if (w.ev_accept_resume != NULL)
		event_free(w.ev_accept_resume);
	heartbeat_stop();
	if (w.ev_chan != NULL)
		event_free(w.ev_chan);
	w.ev_chan = NULL;
	handover_worker_free();
	for (i = 0; i < w.nlisteners; i++)
		free(w.listeners[i]);
	free(w.listeners);
	free(w.servers);
	event_base_free(w.base);
	conf_free(w.conf);
}

/* The worker's life; never returns. */
void
worker_main(struct worker_args *args)
{
	struct timeval	 zero = { 0, 0 };
	char		 role[32], err[512];
	sigset_t	 none;

	memset(&w, 0, sizeof(w));
	w.conf = args->conf;
	w.generation = args->generation;
	w.slot = args->slot;
	w.chan = args->chan;
	w.master = args->master;
	snprintf(role, sizeof(role), "worker %u.%d", w.generation, w.slot);
	log_set_role(role);
	log_also_stderr(0);
	stats_attach(stats_region, args->stats_idx);
	if (args->detach_stdio)
		proc_stdio_null(1);

	if (w.conf->rlimit_nofile > 0 &&
	    proc_set_nofile(w.conf->rlimit_nofile, err, sizeof(err)) == -1)
		worker_fatalx("%s", err);
	if ((w.base = worker_event_base()) == NULL)
		worker_fatalx("cannot create an event base");
	worker_open_listeners();
	if (handover_worker_init(w.base, args->handover_send,
	    args->handover_recv) == -1)
		worker_fatalx("cannot set up the handover inbox");
	if (proc_drop_privileges(w.conf->user, w.conf->group, err,
	    sizeof(err)) == -1)
		worker_fatalx("%s", err);
	/* Set after dropping privileges: a credential change clears it. */
	if (prctl(PR_SET_PDEATHSIG, SIGQUIT) == -1)
		log_warn("prctl(PR_SET_PDEATHSIG)");
	worker_setup_signals();
	w.ev_chan = event_new(w.base, w.chan, EV_READ | EV_PERSIST,
	    worker_chan_cb, NULL);
	w.ev_accept_resume = evtimer_new(w.base, worker_accept_resume_cb, NULL);
	if (w.ev_chan == NULL || event_add(w.ev_chan, NULL) == -1 ||
	    w.ev_accept_resume == NULL || heartbeat_start(w.base) == -1 ||
	    event_base_once(w.base, -1, EV_TIMEOUT, worker_ready_cb, NULL,
	    &zero) == -1)
		worker_fatalx("cannot set up the event loop");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (getppid() != w.master)
		worker_drain("the master is gone", 0);

	log_debug("started: %zu listeners", w.nlisteners);
	event_base_dispatch(w.base);

	if (w.exit_reason[0] == '\0')
		snprintf(w.exit_reason, sizeof(w.exit_reason), "loop ended");
	log_debug("exiting: %s", w.exit_reason);
	(void)worker_tell(CHAN_DRAINED, w.exit_reason);
	worker_cleanup();
	worker_chan_close();
	exit(0);
}
