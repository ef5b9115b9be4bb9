/*
 * wproc.c: the master's record of each process of a generation, one of
 * drover's workers or a process of an exec server (exec.c): forking a
 * worker, its channel and reports, readiness, and its end, after which
 * it is replaced in its slot (with backoff when the slot keeps dying) or
 * its generation learns it is gone.
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
#include "core/stats.h"
#include "process/channel.h"
#include "process/control.h"
#include "process/master_int.h"
#include "process/worker.h"

#define MASTER_RESPAWN_ALONE_MS	1000	/* backoff cap with no worker up */

/* The worker is gone or talks nonsense: stop listening to it. */
void
wproc_close_chan(struct wproc *wp)
{
	if (wp->ev_chan != NULL)
		event_free(wp->ev_chan);
	wp->ev_chan = NULL;
	if (wp->chan != -1)
		close(wp->chan);
	wp->chan = -1;
}

/* Send a worker a message, with fd if not -1. */
void
wproc_send(struct wproc *wp, enum chan_type type, int fd, int arg)
{
	struct chan_msg	 msg;

	if (wp->chan == -1)
		return;
	channel_msg_init(&msg, type);
	msg.generation = wp->gen->id;
	msg.slot = wp->slot;
	msg.arg = arg;
	if (channel_send(wp->chan, &msg, fd) == -1) {
		/* The worker does not read: the kill deadline deals with it. */
		log_warn("worker %ld: cannot send %s", (long)wp->pid,
		    channel_type_name(type));
		if (type == CHAN_DRAIN)
			kill(wp->pid, SIGQUIT);
	}
}


/*
 * What a message other than "ready" says: its reason, or a listener the
 * worker opened. The descriptor sent with it is taken (kept or closed).
 * 0 if it is none of those.
 */
static int
wproc_note(struct wproc *wp, const struct chan_msg *msg, int fd)
{
	switch (msg->type) {
	case CHAN_FATAL:
	case CHAN_DRAINED:
		snprintf(wp->reason, sizeof(wp->reason), "%s", msg->text);
		break;
	case CHAN_LISTENER:
		keeper_offer(wp, msg, fd);
		return (1);
	case CHAN_UNLISTENED:
		wp->unlistened = 1;
		control_settle();
		break;
	default:
		if (fd != -1)
			close(fd);
		return (0);
	}
	if (fd != -1)
		close(fd);
	return (1);
}

/*
 * A worker has exited: read what it sent before and the loop has not
 * read yet (its exit and its channel can be reported in either order).
 * Its reason; and a listener it opened, which is in the reuseport group
 * with connections maybe queued in it. A late "ready" means nothing now.
 */
static void
wproc_read_last(struct wproc *wp)
{
	struct chan_msg	 msg;
	int		 passfd;

	while (wp->chan != -1 && channel_recv(wp->chan, &msg, &passfd) > 0)
		(void)wproc_note(wp, &msg, passfd);
}

/* A worker's channel is readable: its reports, "ready" above all. */
static void
wproc_chan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wproc		*wp = arg;
	struct chan_msg		 msg;
	int			 rc, passfd;

	for (;;) {
		rc = channel_recv(fd, &msg, &passfd);
		if (rc == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (rc <= 0) {
			if (rc == -1)
				log_warn("worker %ld: channel", (long)wp->pid);
			wproc_close_chan(wp);	/* the reaper does the rest */
			return;
		}
		if (msg.type != CHAN_READY) {
			if (wproc_note(wp, &msg, passfd))
				continue;
			log_warnx("worker %ld: unexpected %s message: closing "
			    "its channel", (long)wp->pid,
			    channel_type_name(msg.type));
			wproc_close_chan(wp);
			return;
		}
		if (passfd != -1)
			close(passfd);
		wproc_ready(wp);
	}
}

/*
 * A worker, or an exec server's process, is ready: its generation serves
 * once all are. The generation may be freed (gen_serving() drains the
 * old one, never this one).
 */
void
wproc_ready(struct wproc *wp)
{
	struct generation	*gen = wp->gen;

	if (wp->state != WPROC_STARTING)
		return;
	wp->state = WPROC_READY;
	log_debug("%s %ld ready (generation %u, slot %d)", wp->x != NULL ?
	    "process" : "worker", (long)wp->pid, gen->id, wp->slot);
	if (wp->x == NULL)
		master_sibling_ready(wp);
	if (gen->state == GEN_STARTING && ++gen->nready == gen->ngslots)
		gen_serving(gen);
	else if (gen == m.current && wp->x == NULL)
		keeper_adopt_strays(wp);	/* a respawn */
}

/* In a new child: drop the master's state and run as slot's worker. */
static void __attribute__((noreturn))
wproc_child(struct generation *gen, int slot, struct wproc *wp, int chan)
{
	struct worker_args	 args;

	memset(&args, 0, sizeof(args));
	args.conf = gen->conf;
	args.generation = gen->id;
	args.slot = slot;
	args.chan = chan;
	args.master = getppid();
	args.detach_stdio = m.opts.detach;
	args.stats_idx = wp->stats_idx;
	args.handover_send = m.handover[0];
	args.handover_recv = m.handover[1];
	free(wp);
	master_child_cleanup(gen);
	worker_main(&args);
}

/* The slot's series, one per server (created once, then counted on by
 * each worker of the slot); -1 if the table is full. */
static int
wproc_stats_series(struct generation *gen, int slot)
{
	size_t	 i;
	int	 rc = 0;

	for (i = 0; m.stats != NULL && i < gen->conf->nservers; i++)
		if (stats_series_get(m.stats, gen->conf->servers[i].name,
		    gen->id, slot) == -1)
			rc = -1;
	return (rc);
}

/* Fork one worker for a slot of a generation. */
int
wproc_spawn(struct generation *gen, int slot)
{
	struct wproc	*wp;
	sigset_t	 all, old;
	int		 fds[2];
	pid_t		 pid;

	if ((wp = calloc(1, sizeof(*wp))) == NULL) {
		log_warnx("cannot start a worker: out of memory");
		return (-1);
	}
	if (channel_pair(fds) == -1) {
		log_warn("cannot start a worker: socketpair");
		free(wp);
		return (-1);
	}
	keeper_set_inherit(gen, slot);
	wp->stats_idx = stats_alloc(m.stats, gen->id, slot);
	if ((wp->stats_idx == -1 || wproc_stats_series(gen, slot) == -1) &&
	    !m.stats_full_warned) {
		log_warnx("no free stats record or series: this worker is "
		    "not (fully) counted");
		m.stats_full_warned = 1;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	switch ((pid = fork())) {
	case -1:
		log_warn("cannot start a worker: fork");
		sigprocmask(SIG_SETMASK, &old, NULL);
		keeper_clear_inherit(gen);
		stats_retire(m.stats, wp->stats_idx);
		close(fds[0]);
		close(fds[1]);
		free(wp);
		return (-1);
	case 0:
		close(fds[0]);
		wproc_child(gen, slot, wp, fds[1]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	keeper_clear_inherit(gen);
	stats_set_pid(m.stats, wp->stats_idx, pid);
	close(fds[1]);
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1)
		log_warn("channel: O_NONBLOCK");
	wp->pid = pid;
	wp->slot = slot;
	wp->gslot = slot;
	wp->chan = fds[0];
	wp->ev_chan = event_new(m.base, wp->chan, EV_READ | EV_PERSIST,
	    wproc_chan_cb, wp);
	if (wp->ev_chan != NULL)
		event_add(wp->ev_chan, NULL);
	wproc_add(gen, wp);
	return (0);
}

/* A process just forked (pid, slots and channel set) joins gen. */
void
wproc_add(struct generation *gen, struct wproc *wp)
{
	wp->gen = gen;
	wp->state = WPROC_STARTING;
	clock_gettime(CLOCK_MONOTONIC, &wp->started);
	TAILQ_INSERT_TAIL(&gen->procs, wp, entry);
	log_debug("%s %ld started (generation %u, slot %d)", wp->x != NULL ?
	    "process" : "worker", (long)wp->pid, gen->id, wp->slot);
}

/* The record of the worker with this pid, in any generation. */
static struct wproc *
wproc_find(pid_t pid)
{
	struct generation	*g;
	struct wproc		*wp;

	TAILQ_FOREACH(g, &m.gens, entry)
		TAILQ_FOREACH(wp, &g->procs, entry)
			if (wp->pid == pid)
				return (wp);
	return (NULL);
}

/* Whether a process of gen for the same server as gs is ready. */
static int
wproc_slot_has_ready(const struct generation *gen, const struct gslot *gs)
{
	const struct wproc	*wp;

	TAILQ_FOREACH(wp, &gen->procs, entry)
		if (wp->state == WPROC_READY &&
		    gen->slots[wp->gslot].sc == gs->sc)
			return (1);
	return (0);
}

/* A worker has been reaped: log why, and replace or retire it. */
static void
wproc_exited(struct wproc *wp, int status)
{
	struct generation	*gen = wp->gen;
	struct gslot		*gs;
	char			 how[128], why[CHAN_TEXT_MAX + 192];
	struct timeval		 tv;
	long			 uptime, delay;
	int			 expected, clean, gone;

	wproc_read_last(wp);
	master_describe_status(status, how, sizeof(how));
	uptime = clock_ms_since(&wp->started);
	expected = wp->state == WPROC_DRAINING || m.stopping;
	clean = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
	    (expected && wp->x != NULL && WIFSIGNALED(status) &&
	    WTERMSIG(status) == wp->x->sc->exec->stop_signal);
	if (wp->x != NULL)
		exec_exited(wp, how, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "worker %ld (generation %u, slot "
		    "%d) %s%s%s", (long)wp->pid, gen->id, wp->slot, how,
		    wp->reason[0] ? ": " : "", wp->reason);
	TAILQ_REMOVE(&gen->procs, wp, entry);
	wproc_close_chan(wp);
	stats_retire(m.stats, wp->stats_idx);
	control_settle();

	if (expected && clean)
		log_info("%s", why);
	else
		log_warnx("%s", why);

	gone = 0;
	if (!expected && gen->state == GEN_STARTING)
		gone = gen_abort(gen, why);
	else if (!expected && gen->state == GEN_SERVING && !m.stopping) {
		if (wp->x == NULL)
			keeper_lend(gen, wp->slot);
		gs = &gen->slots[wp->gslot];
		delay = backoff_next(&gs->backoff, uptime);
		/*
		 * The backoff must not leave the generation with nobody to
		 * accept: connections queued in the kept listeners would
		 * wait for as long. With no other worker up, a second. An
		 * exec process's listeners cannot be lent to another: its
		 * slot waits a second at most, always.
		 */
		if (delay > MASTER_RESPAWN_ALONE_MS &&
		    (!wproc_slot_has_ready(gen, gs) || gs->sc != NULL))
			delay = MASTER_RESPAWN_ALONE_MS;
		if (delay > 0)
			log_warnx("%s%s%s slot %d of generation %u died %d "
			    "times in a row: respawning in %ld ms",
			    gs->sc != NULL ? "server " : "", gs->sc != NULL ?
			    gs->sc->name : "", gs->sc != NULL ? "" : "worker",
			    wp->slot, gen->id, gs->backoff.failures, delay);
		tv.tv_sec = delay / 1000;
		tv.tv_usec = (delay % 1000) * 1000;
		evtimer_add(gs->ev_respawn, &tv);
	}
	exec_free(wp);
	free(wp);
	if (!gone)
		(void)gen_check_end(gen);
	master_check_done();
}

/* A child was reaped: 1 if it was a worker (and is dealt with), else 0. */
int
wproc_reaped(pid_t pid, int status)
{
	struct wproc	*wp;

	if ((wp = wproc_find(pid)) == NULL)
		return (0);
	wproc_exited(wp, status);
	return (1);
}
