/*
 * master_sibling.c: workers that take over a dead sibling's listeners
 * without the master.
 *
 * When a worker dies the master lends its listeners to a live worker
 * (keeper_lend()), but only once it runs: while it is stopped or busy, the
 * connections the kernel keeps queueing in the dead worker's listener (the
 * master's copy keeps it in the reuseport group) wait. So, once both are
 * ready, the master gives a worker what it needs to take a sibling's
 * listeners over by itself: a pidfd of the sibling (the master is its
 * parent and has not reaped it, so the pid cannot have been reused) and
 * copies of its listeners. The worker accepts on them as soon as the
 * pidfd says the sibling exited (sibling.c).
 *
 * The copies are parked: sent into a socketpair whose other end goes to
 * the worker, they wait in its queue (in flight, in no process's
 * descriptor table) until the worker takes them out. So a worker holds two
 * descriptors per sibling it watches, and what each listens on stays
 * plain to see (ss -ltp: the master and the workers that accept on it).
 *
 * Bounded: each worker watches the next MASTER_SIBLING_WATCH slots of its
 * own generation round the ring, so each slot is watched by as many; a
 * worker's ready costs 2 x MASTER_SIBLING_WATCH introductions of
 * (listeners + 2) messages each, at most.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "process/channel.h"
#include "process/master_int.h"

#define MASTER_SIBLING_WATCH	2	/* siblings each worker watches */

/* A pidfd for pid, or -1 (before Linux 5.3: ENOSYS). */
static int
master_sibling_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return ((int)syscall(SYS_pidfd_open, pid, 0));
#else
	(void)pid;
	errno = ENOSYS;
	return (-1);
#endif
}

/* Whether the worker of slot a watches the worker of slot b. */
static int
master_sibling_watches(const struct generation *gen, int a, int b)
{
	int	 d;

	d = ((b - a) % gen->nslots + gen->nslots) % gen->nslots;
	return (d >= 1 && d <= MASTER_SIBLING_WATCH);
}

/*
 * Park in a new socketpair a CHAN_SIBLING message with about's pidfd, then
 * about's listeners (CHAN_ADOPT); the end to read them from, or -1.
 */
static int
master_sibling_park(struct wproc *about)
{
	static int	 warned;
	struct chan_msg	 msg;
	int		 park[2], pidfd, rc;

	if ((pidfd = master_sibling_pidfd(about->pid)) == -1) {
		if (!warned)
			log_warn("pidfd_open: workers cannot take over a dead "
			    "sibling's listeners while the master is busy");
		warned = 1;
		return (-1);
	}
	if (channel_pair(park) == -1) {
		log_warn("socketpair");
		close(pidfd);
		return (-1);
	}
	channel_msg_init(&msg, CHAN_SIBLING);
	msg.generation = about->gen->id;
	msg.slot = about->slot;
	msg.pid = about->pid;
	rc = channel_send(park[0], &msg, pidfd);
	if (rc == 0)
		rc = keeper_send_slot(about->gen, park[0], about->slot);
	close(pidfd);
	close(park[0]);	/* the reader sees EOF after the last one */
	if (rc == -1) {
		log_warn("worker %ld: cannot park its listeners",
		    (long)about->pid);
		close(park[1]);
		return (-1);
	}
	return (park[1]);
}

/* Give to what it needs to take over about's listeners when it dies. */
static void
master_sibling_introduce(struct wproc *to, struct wproc *about)
{
	struct chan_msg	 msg;
	int		 park;

	if (to->chan == -1 || (park = master_sibling_park(about)) == -1)
		return;
	channel_msg_init(&msg, CHAN_SIBLING);
	msg.generation = to->gen->id;
	msg.slot = about->slot;
	msg.pid = about->pid;
	if (channel_send(to->chan, &msg, park) == -1)
		log_warn("worker %ld: cannot tell it about worker %ld",
		    (long)to->pid, (long)about->pid);
	close(park);
}

/* wp has reported ready: introduce it and the ready siblings it pairs with. */
void
master_sibling_ready(struct wproc *wp)
{
	struct wproc	*o;

	TAILQ_FOREACH(o, &wp->gen->procs, entry) {
		if (o == wp || o->state != WPROC_READY || o->x != NULL)
			continue;	/* an exec process is no sibling */
		if (master_sibling_watches(wp->gen, o->slot, wp->slot))
			master_sibling_introduce(o, wp);
		if (master_sibling_watches(wp->gen, wp->slot, o->slot))
			master_sibling_introduce(wp, o);
	}
}
