/*
 * master_hang.c: the master's side of hang detection. Once a second it
 * reads every worker's heartbeat (heartbeat.c) and kills a worker whose
 * loop has not turned for its generation's worker_hang_timeout with
 * SIGABRT (then SIGCONT, so that a stopped worker dies too). The reaper
 * sees a crash and the slot gets a new worker as after any crash; a
 * draining worker is only killed.
 */
#include "autoconf.h"

#include <sys/queue.h>

#include <signal.h>
#include <time.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "process/master_int.h"

#define MASTER_HANG_PERIOD	1	/* s between checks */

static struct event	*master_hang_ev;

/* Kill the worker if its heartbeat is older than timeout seconds. */
static void
master_hang_check(struct wproc *wp, int timeout, int64_t now)
{
	int64_t	 beat = stats_heartbeat_of(m.stats, wp->stats_idx);

	/* No heartbeat yet: a worker still starting is ready_timeout's. */
	if (beat <= 0 || now - beat <= timeout)
		return;
	log_warnx("worker %u.%d (pid %ld) has not turned its loop for %lld "
	    "s: killing it with SIGABRT", wp->gen->id, wp->slot,
	    (long)wp->pid, (long long)(now - beat));
	kill(wp->pid, SIGABRT);
	kill(wp->pid, SIGCONT);
	/* Once: it dies now, or is a zombie the reaper is about to see. */
	stats_heartbeat_clear(m.stats, wp->stats_idx);
}

static void
master_hang_cb(evutil_socket_t fd, short what, void *arg)
{
	struct generation	*g;
	struct wproc		*wp;
	struct timespec		 now;

	(void)fd;
	(void)what;
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &now);
	TAILQ_FOREACH(g, &m.gens, entry) {
		if (g->conf == NULL || g->conf->worker_hang_timeout <= 0)
			continue;
		TAILQ_FOREACH(wp, &g->procs, entry) {
			if (wp->x != NULL)
				exec_watchdog_check(wp,
				    g->conf->worker_hang_timeout,
				    (long)now.tv_sec);
			else
				master_hang_check(wp,
				    g->conf->worker_hang_timeout,
				    (int64_t)now.tv_sec);
		}
	}
}

/* Check the workers' heartbeats every MASTER_HANG_PERIOD from now on. */
void
master_hang_start(void)
{
	struct timeval	 tv = { MASTER_HANG_PERIOD, 0 };

	master_hang_ev = event_new(m.base, -1, EV_PERSIST, master_hang_cb,
	    NULL);
	if (master_hang_ev == NULL || event_add(master_hang_ev, &tv) == -1)
		log_warnx("cannot watch the workers' heartbeats: "
		    "worker_hang_timeout is off");
}

void
master_hang_stop(void)
{
	if (master_hang_ev != NULL)
		event_free(master_hang_ev);
	master_hang_ev = NULL;
}
