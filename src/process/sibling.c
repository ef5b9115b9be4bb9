/*
 * sibling.c: a worker's watch on the siblings it stands in for, to accept
 * on a sibling's listeners the moment it dies, with no help from the
 * master (which may be stopped or busy; master_sibling.c says who watches
 * whom).
 *
 * For each, the master sends (CHAN_SIBLING) a socket in whose queue it has
 * parked a CHAN_SIBLING message with a pidfd of the sibling, then a
 * CHAN_ADOPT message with each of the sibling's listeners. The worker
 * takes the pidfd out and watches it; the listeners stay parked, open but
 * in nobody's descriptor table, until the pidfd becomes readable: the
 * sibling has exited, and what the kernel queues in its listeners has
 * nobody to accept it until the master lends them to someone. Then the
 * worker takes them out and accepts on them exactly as on listeners the
 * master lends (worker_adopt(), which skips one it has).
 *
 * A draining worker lets go of all of it: the parked copies would keep
 * listeners open that the master may want closed.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/stats.h"
#include "process/channel.h"
#include "process/sibling.h"
#include "process/worker.h"

#define SIBLING_MAX	16	/* watched at once: a few, see master_sibling.c */

struct sibling {
	TAILQ_ENTRY(sibling)	 entry;
	pid_t			 pid;
	int			 slot;
	int			 pidfd;
	int			 park;	/* its listeners wait in this queue */
	struct event		*ev;
};

static TAILQ_HEAD(, sibling) siblings = TAILQ_HEAD_INITIALIZER(siblings);
static int	nsiblings;
static int	closed;		/* draining: take nothing more */

/* Let go of one sibling's record, and of what is parked for it. */
static void
sibling_free(struct sibling *sb)
{
	TAILQ_REMOVE(&siblings, sb, entry);
	nsiblings--;
	if (sb->ev != NULL)
		event_free(sb->ev);
	if (sb->pidfd != -1)
		close(sb->pidfd);
	if (sb->park != -1)
		close(sb->park);
	free(sb);
}

/* The sibling has exited: accept on its listeners from now on. */
static void
sibling_exited_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sibling	*sb = arg;
	struct chan_msg	 msg;
	int		 lfd, n = 0;

	/* A drain begun (the master marks it before it tells us): the
	 * sibling drained too, and its listeners are not ours to take. */
	if (stats_self != NULL &&
	    __atomic_load_n(&stats_self->draining, __ATOMIC_RELAXED)) {
		sibling_free(sb);
		return;
	}
	while (channel_recv(sb->park, &msg, &lfd) > 0) {
		if (msg.type == CHAN_ADOPT && lfd != -1) {
			worker_adopt(lfd, msg.arg, msg.slot);
			n++;
		} else if (lfd != -1)
			close(lfd);
	}
	log_notice("worker %ld (slot %d) has exited: accepting on its %d "
	    "listeners until the master lends them", (long)sb->pid, sb->slot,
	    n);
	sibling_free(sb);
}

/* Watch the sibling whose pidfd and listeners are parked in park. */
static void
sibling_watch(struct event_base *base, const struct chan_msg *msg, int park)
{
	struct sibling	*sb;
	struct chan_msg	 first;
	int		 pidfd = -1;

	if (nsiblings >= SIBLING_MAX || (sb = calloc(1, sizeof(*sb))) == NULL) {
		log_warnx("cannot watch worker %ld: %d siblings watched "
		    "already", (long)msg->pid, nsiblings);
		close(park);
		return;
	}
	sb->pid = msg->pid;
	sb->slot = msg->slot;
	sb->park = park;
	sb->pidfd = -1;
	TAILQ_INSERT_TAIL(&siblings, sb, entry);
	nsiblings++;
	if (channel_recv(park, &first, &pidfd) <= 0 ||
	    first.type != CHAN_SIBLING || pidfd == -1) {
		log_warnx("worker %ld: nothing parked to take over",
		    (long)msg->pid);
		if (pidfd != -1)
			close(pidfd);
		sibling_free(sb);
		return;
	}
	sb->pidfd = pidfd;
	sb->ev = event_new(base, pidfd, EV_READ, sibling_exited_cb, sb);
	if (sb->ev == NULL || event_add(sb->ev, NULL) == -1) {
		log_warnx("cannot watch worker %ld", (long)msg->pid);
		sibling_free(sb);
		return;
	}
	log_debug("watching worker %ld (slot %d) to take its listeners over",
	    (long)sb->pid, sb->slot);
}

/* A CHAN_SIBLING message from the master, with its socket. */
void
sibling_message(struct event_base *base, const struct chan_msg *msg, int fd)
{
	if (fd == -1)
		return;
	if (closed) {
		close(fd);
		return;
	}
	sibling_watch(base, msg, fd);
}

/* Draining or exiting: let go of every sibling's, take no more. */
void
sibling_close_all(void)
{
	struct sibling	*sb;

	closed = 1;
	while ((sb = TAILQ_FIRST(&siblings)) != NULL)
		sibling_free(sb);
}
