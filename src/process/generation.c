/*
 * generation.c: generations of workers (and of exec servers' processes;
 * each process's record is wproc.c's).
 *
 * A generation is one configuration's set of worker slots. It starts,
 * serves once every worker has reported ready, and drains when a newer
 * one serves or the master stops; one that cannot start is drained at
 * once and the serving one carries on. A worker that dies unexpectedly is
 * replaced in its slot, with backoff when the slot keeps dying.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/stats.h"
#include "process/channel.h"
#include "process/control.h"
#include "process/master_int.h"
#include "process/worker.h"

#define MASTER_KILL_GRACE	2	/* s after shutdown_timeout: SIGKILL */

static void	gen_slots_init(struct generation *);

/* -- access logs ---------------------------------------------------------- */

/* Open one server's access log; -1 with err set. */
static int
gen_open_access_log(struct server_conf *sc, char *err, size_t errlen)
{
	int	 fd;

	fd = open(sc->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644);
	if (fd == -1) {
		snprintf(err, errlen, "server %s: access_log %s: %s", sc->name,
		    sc->access_log, strerror(errno));
		return (-1);
	}
	return (fd);
}

/* Open every access log of a configuration (the workers inherit them). */
static int
gen_open_access_logs(struct config *conf, char *err, size_t errlen)
{
	size_t	 i;

	for (i = 0; i < conf->nservers; i++) {
		if (conf->servers[i].access_log == NULL)
			continue;
		conf->servers[i].access_log_fd = gen_open_access_log(
		    &conf->servers[i], err, errlen);
		if (conf->servers[i].access_log_fd == -1)
			return (-1);
	}
	return (0);
}

/* The master's copies of a configuration's access logs. */
static void
gen_close_access_logs(struct config *conf)
{
	size_t	 i;

	for (i = 0; conf != NULL && i < conf->nservers; i++) {
		if (conf->servers[i].access_log_fd != -1)
			close(conf->servers[i].access_log_fd);
		conf->servers[i].access_log_fd = -1;
	}
}

/* Reopen a generation's access logs and hand them to its workers. */
void
gen_reopen_access_logs(struct generation *g)
{
	struct server_conf	*sc;
	struct wproc		*wp;
	char			 err[512];
	size_t			 i;
	int			 fd;

	for (i = 0; i < g->conf->nservers; i++) {
		sc = &g->conf->servers[i];
		if (sc->access_log == NULL)
			continue;
		if ((fd = gen_open_access_log(sc, err, sizeof(err))) == -1) {
			log_warnx("reopen: %s", err);
			continue;
		}
		close(sc->access_log_fd);
		sc->access_log_fd = fd;
		TAILQ_FOREACH(wp, &g->procs, entry)
			wproc_send(wp, CHAN_ACCESS_LOG_FD, fd, (int)i);
	}
}

/* -- generations ---------------------------------------------------------- */

/* Send a message (and fd, if not -1) to every worker of a generation. */
void
gen_send_all(struct generation *gen, enum chan_type type, int fd, int arg)
{
	struct wproc	*wp;

	TAILQ_FOREACH(wp, &gen->procs, entry)
		wproc_send(wp, type, fd, arg);
}

/* Arm the generation's one deadline (ready or kill), replacing any. */
static void
gen_timer_set(struct generation *gen, void (*cb)(evutil_socket_t, short,
    void *), int seconds)
{
	struct timeval	 tv = { seconds, 0 };

	if (gen->ev_timer != NULL)
		event_free(gen->ev_timer);
	gen->ev_timer = evtimer_new(m.base, cb, gen);
	if (gen->ev_timer != NULL)
		evtimer_add(gen->ev_timer, &tv);
}

/* Start a slot's process: a worker, or a process of an exec server. */
static int
gslot_spawn(struct gslot *gs)
{
	if (gs->sc != NULL)
		return (exec_spawn(gs->gen, gs));
	return (wproc_spawn(gs->gen, gs->slot));
}

/* A slot's backoff is over: its new process, or another try in 1 s. */
static void
gslot_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gslot	*gs = arg;

	if (gs->gen->state == GEN_DRAINING || m.stopping)
		return;
	if (gslot_spawn(gs) == -1) {
		struct timeval tv = { 1, 0 };

		evtimer_add(gs->ev_respawn, &tv);
	}
}

/* ready_timeout passed before every worker of gen was ready. */
static void
gen_ready_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct generation	*gen = arg;
	char			 why[256];

	snprintf(why, sizeof(why), "generation %u: ready_timeout (%d s) "
	    "reached with %d of %d %s ready", gen->id,
	    gen->conf->ready_timeout, gen->nready, gen->ngslots,
	    gen->ngslots > gen->nslots ? "processes" : "workers");
	(void)gen_abort(gen, why);
}

/* Take the keeper of each address gen listens on, resolving port 0. */
static int
gen_listen(struct generation *gen, char *err, size_t errlen)
{
	struct server_conf	*sc;
	struct keeper		*k;
	size_t			 i, j;
	char			 text[ADDR_STRLEN];

	for (i = 0; i < gen->conf->nservers; i++) {
		sc = &gen->conf->servers[i];
		for (j = 0; j < sc->nlistens; j++) {
			k = keeper_get(&sc->listens[j],
			    CONF_PROTO_UDP(sc->protocol), err, errlen);
			if (k == NULL)
				return (-1);
			gen->kserver[gen->nkeepers] = sc;
			gen->keepers[gen->nkeepers++] = k;
			addr_format(&sc->listens[j].addr, text, sizeof(text));
			log_info("server %s (%s): listen %s", sc->name,
			    conf_protocol_name(sc->protocol), text);
		}
	}
	/*
	 * UDP slots' sockets only once every address is ours: opened, they
	 * take their share of the datagrams, and a reload that fails after
	 * them leaves them to the serving workers (gen_create()).
	 */
	for (i = 0; i < gen->nkeepers; i++)
		if (gen->keepers[i]->udp &&
		    keeper_udp_slots(gen, i, err, errlen) == -1)
			return (-1);
	return (0);
}

/* Create a generation for conf (taking it) and fork its workers. */
struct generation *
gen_create(struct config *conf, char *err, size_t errlen)
{
	struct generation	*gen;
	size_t			 i, n = 0;
	int			 s;

	if ((gen = calloc(1, sizeof(*gen))) == NULL) {
		conf_free(conf);
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	gen->id = m.next_gen = stats_generation_next(m.stats, m.next_gen);
	gen->conf = conf;
	gen->state = GEN_STARTING;
	clock_gettime(CLOCK_MONOTONIC, &gen->created);
	TAILQ_INIT(&gen->procs);
	TAILQ_INSERT_TAIL(&m.gens, gen, entry);
	for (i = 0; i < conf->nservers; i++)
		n += conf->servers[i].nlistens;
	gen->keepers = calloc(n + 1, sizeof(*gen->keepers));
	gen->kserver = calloc(n + 1, sizeof(*gen->kserver));
	gen->served = calloc(n + 1, sizeof(*gen->served));
	/* drover's workers run the servers that are not exec, if any. */
	gen->nslots = conf->nworker_servers > 0 ? conf->workers : 0;
	gen->ngslots = gen->nslots;
	for (i = 0; i < conf->nservers; i++)
		if (conf->servers[i].exec != NULL)
			gen->ngslots += conf->servers[i].exec->processes;
	gen->slots = calloc((size_t)gen->ngslots, sizeof(*gen->slots));
	if (gen->keepers == NULL || gen->slots == NULL ||
	    gen->served == NULL || gen->kserver == NULL) {
		snprintf(err, errlen, "out of memory");
		gen_free(gen);
		return (NULL);
	}
	if (gen_open_access_logs(conf, err, errlen) == -1 ||
	    gen_listen(gen, err, errlen) == -1) {
		gen_free(gen);
		keeper_adopt_strays(NULL);	/* UDP slots it opened */
		return (NULL);
	}
	gen_slots_init(gen);
	gen_timer_set(gen, gen_ready_timeout_cb, conf->ready_timeout);
	for (s = 0; s < gen->ngslots; s++) {
		if (gslot_spawn(&gen->slots[s]) == -1) {
			snprintf(err, errlen, "cannot start %s %d of "
			    "generation %u", gen->slots[s].sc != NULL ?
			    "a process of server" : "worker", s, gen->id);
			keeper_adopt_strays(NULL);
			gen_drain(gen);
			(void)gen_check_end(gen);
			return (NULL);
		}
	}
	log_info("generation %u starting with %s", gen->id,
	    gen_procs_text(gen));
	return (gen);
}

/* "N workers", "N exec processes" or both: for the log. */
const char *
gen_procs_text(const struct generation *gen)
{
	static char	 text[64];
	int		 nx = gen->ngslots - gen->nslots;

	if (nx == 0)
		snprintf(text, sizeof(text), "%d workers", gen->nslots);
	else if (gen->nslots == 0)
		snprintf(text, sizeof(text), "%d exec processes", nx);
	else
		snprintf(text, sizeof(text), "%d workers and %d exec processes",
		    gen->nslots, nx);
	return (text);
}

/* The slots of gen: nslots workers, then each exec server's processes. */
static void
gen_slots_init(struct generation *gen)
{
	struct server_conf	*sc;
	size_t			 i;
	int			 s, n = 0, j;

	for (s = 0; s < gen->nslots; s++, n++)
		gen->slots[n].slot = s;
	for (i = 0; i < gen->conf->nservers; i++) {
		sc = &gen->conf->servers[i];
		for (j = 0; sc->exec != NULL && j < sc->exec->processes; j++) {
			gen->slots[n].slot = j;
			gen->slots[n++].sc = sc;
		}
	}
	for (s = 0; s < gen->ngslots; s++) {
		gen->slots[s].gen = gen;
		gen->slots[s].ev_respawn = evtimer_new(m.base,
		    gslot_respawn_cb, &gen->slots[s]);
	}
}

/*
 * A generation that cannot start: at start-up drover fails, later the
 * serving generation carries on. 1 if the generation was freed (its
 * workers were all gone), so the caller must not touch it again.
 */
int
gen_abort(struct generation *gen, const char *why)
{
	int	 gone;

	if (!m.started) {
		log_warnx("start-up failed: %s", why);
		m.exit_code = 1;
		m.pending = NULL;
		/* master_stop() frees every generation with no worker left. */
		gone = TAILQ_EMPTY(&gen->procs);
		master_stop(2);
		return (gone);
	}
	master_reload_failed("%s", why);
	m.pending = NULL;
	keeper_adopt_strays(NULL);
	gen_drain(gen);
	if (m.reload_again) {
		m.reload_again = 0;
		master_reload();
	}
	return (gen_check_end(gen));
}

/* The new generation serves: retire the old one. */
void
gen_serving(struct generation *gen)
{
	struct generation	*old = m.current;

	gen->state = GEN_SERVING;
	if (gen->ev_timer != NULL) {
		event_free(gen->ev_timer);
		gen->ev_timer = NULL;
	}
	m.current = gen;
	m.pending = NULL;
	master_write_ports(gen->conf);
	if (!m.started) {
		m.started = 1;
		log_notice("serving: generation %u, %s", gen->id,
		    gen_procs_text(gen));
		log_also_stderr(0);
		if (m.opts.upgrade != NULL)
			master_upgrade_take_pid_file();
		master_notify_started();	/* before the old master goes */
		proc_daemon_ready(m.opts.readyfd, m.opts.detach);
		m.opts.readyfd = -1;
	} else {
		log_notice("reload done: generation %u serves with %s %ld ms "
		    "after the signal; draining generation %u", gen->id,
		    gen_procs_text(gen), clock_ms_since(&m.reload_start),
		    old != NULL ? old->id : 0);
		control_reload_done(1, "generation %u serves", gen->id);
		master_notify_reloaded(1);
	}
	if (old != NULL) {
		gen_drain(old);
		(void)gen_check_end(old);
	}
	control_settle();	/* "ok" once the old accept no more */
	if (m.reload_again) {
		m.reload_again = 0;
		master_reload();
	}
}

/* shutdown_timeout (and a grace) passed: kill the workers still there. */
static void
gen_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct generation	*gen = arg;
	struct wproc		*wp;

	TAILQ_FOREACH(wp, &gen->procs, entry) {
		log_warnx("%s %ld (generation %u%s%s) still running after "
		    "shutdown_timeout: killing it", wp->x != NULL ?
		    "process" : "worker", (long)wp->pid, gen->id,
		    wp->x != NULL ? ", server " : "",
		    wp->x != NULL ? gen->slots[wp->gslot].sc->name : "");
		kill(wp->pid, SIGKILL);
		if (wp->x != NULL)
			kill(-wp->pid, SIGKILL);	/* and its children */
	}
}

/* A generation stops being wanted: no respawns, no ready deadline. */
void
gen_retire(struct generation *gen)
{
	struct wproc	*wp;
	int		 i;

	gen->state = GEN_DRAINING;
	if (m.current == gen)
		m.current = NULL;
	if (m.pending == gen)
		m.pending = NULL;
	for (i = 0; i < gen->ngslots; i++)
		if (gen->slots[i].ev_respawn != NULL)
			evtimer_del(gen->slots[i].ev_respawn);
	if (gen->ev_timer != NULL) {
		event_free(gen->ev_timer);
		gen->ev_timer = NULL;
	}
	TAILQ_FOREACH(wp, &gen->procs, entry) {
		wp->state = WPROC_DRAINING;
		stats_set_draining(m.stats, wp->stats_idx);
	}
	keeper_trim();
}

/*
 * Tell every worker of a generation to drain; kill stragglers after
 * shutdown_timeout. The caller then calls gen_check_end().
 */
void
gen_drain(struct generation *gen)
{
	struct wproc	*wp;
	int		 handover;

	if (gen->state == GEN_DRAINING)
		return;
	/* Its idle connections go to the generation that serves now, or
	 * to the new master's after an upgrade (handover.c). */
	handover = (m.current != NULL && m.current != gen && !m.stopping) ||
	    m.upgraded;
	gen_retire(gen);
	TAILQ_FOREACH(wp, &gen->procs, entry) {
		if (wp->x != NULL)
			exec_stop(wp, 0);
		else
			wproc_send(wp, CHAN_DRAIN, -1, handover);
	}
	if (!TAILQ_EMPTY(&gen->procs))
		gen_timer_set(gen, gen_kill_cb, gen->conf->shutdown_timeout +
		    MASTER_KILL_GRACE);
}

/* Free a retired generation whose workers are all gone; 1 if freed. */
int
gen_check_end(struct generation *gen)
{
	if (gen->state != GEN_DRAINING || !TAILQ_EMPTY(&gen->procs))
		return (0);
	stats_series_end(m.stats, gen->id);	/* into the servers' totals */
	log_info("generation %u has ended", gen->id);
	gen_free(gen);
	return (1);
}

/* Free a generation and its records; its workers are gone or not ours. */
void
gen_free(struct generation *gen)
{
	struct wproc	*wp;
	size_t		 i;

	TAILQ_REMOVE(&m.gens, gen, entry);
	if (m.current == gen)
		m.current = NULL;
	if (m.pending == gen)
		m.pending = NULL;
	while ((wp = TAILQ_FIRST(&gen->procs)) != NULL) {
		TAILQ_REMOVE(&gen->procs, wp, entry);
		wproc_close_chan(wp);
		exec_free(wp);
		free(wp);
	}
	if (gen->ev_timer != NULL)
		event_free(gen->ev_timer);
	for (i = 0; gen->slots != NULL && i < (size_t)gen->ngslots; i++)
		if (gen->slots[i].ev_respawn != NULL)
			event_free(gen->slots[i].ev_respawn);
	for (i = 0; i < gen->nkeepers; i++)
		keeper_put(gen->keepers[i]);
	free(gen->keepers);
	free(gen->kserver);
	free(gen->served);
	free(gen->slots);
	gen_close_access_logs(gen->conf);
	conf_free(gen->conf);
	free(gen);
}
