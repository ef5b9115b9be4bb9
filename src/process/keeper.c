/*
 * keeper.c: the listener keeper.
 *
 * For each listen address the master holds a keeper socket, which reserves
 * the port (listener_reserve()), and a copy of each worker slot's listening
 * socket (SO_REUSEPORT, one per slot). A new worker for slot i takes over
 * slot i's listener, so the connections queued in it survive a reload, a
 * crash of the worker that made it, or a binary upgrade.
 *
 * THE RULE: a listener is closed only when nobody can accept on it.
 *
 * The kernel spreads new connections over every listener of a reuseport
 * group and queues them there. Closing one that a worker can still accept
 * on resets what is queued in it; keeping one that nobody accepts on
 * strands what the kernel keeps queueing in it. So every kept listener has
 * a worker to accept on it, and the one that has none is closed:
 *
 *   - a slot's worker inherits the slot's listener and those of retired
 *     slots s (beyond its generation's count) with s mod nslots == slot
 *     (keeper_set_inherit());
 *   - the listeners of a dead worker are lent to a live worker of its
 *     generation until its replacement runs (keeper_lend()), and its
 *     siblings are given copies to take them over even before the
 *     master notices (keeper_send_slot(), master_sibling.c);
 *   - those a failed reload leaves behind are adopted by the serving
 *     generation (keeper_adopt_strays()), and a listener a worker offers
 *     is kept or closed by the same measure (keeper_offer());
 *   - keeper_trim() closes what no generation in service accepts on, and
 *     keeper_put() the listeners of an address no generation uses.
 *
 * An exec server's program cannot be handed a listener once it runs, so
 * its listeners are never lent or adopted: process i of each generation
 * is given slot i's listener (keeper_exec_fds()), and what queues in the
 * listener of a slot that a reload to fewer processes retires is accepted
 * by its old process until it stops, then reset when it exits (unless
 * net.ipv4.tcp_migrate_req moves it to another listener of the group).
 *
 * UDP sockets are kept by the same rule, and the rule is stricter for
 * them: a bound UDP socket in a reuseport group receives its share of the
 * datagrams whether or not anyone reads it, and closing one drops what it
 * holds. So there is no keeper socket that receives: the socket that
 * reserves a UDP address is worker slot 0's (listener_reserve_udp()),
 * the master opens every slot's socket before a worker reads it
 * (keeper_udp_slots()), and retired slots' sockets are read by serving
 * workers (adopted, as listeners are) and never closed while they are.
 *
 * Nothing else in the master closes a kept listener.
 */
#include "autoconf.h"

#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "process/channel.h"
#include "process/listener.h"
#include "process/master_int.h"

static int	keeper_slot_fd(const struct keeper *, int);
static void	keeper_close_slots(struct keeper *, int, int);

/* Find or create the keeper for a configured address; resolves port 0. */
struct keeper *
keeper_get(struct listen_conf *lc, int udp, char *err, size_t errlen)
{
	struct keeper	*k;
	char		 key[sizeof(k->key)];
	int		 fd;

	/* TCP and UDP ports are apart: so are their keepers. */
	snprintf(key, sizeof(key), "%s%s", udp ? KEEPER_UDP : "", lc->text);
	TAILQ_FOREACH(k, &m.keepers, entry) {
		if (strcmp(k->key, key) == 0) {
			k->refs++;
			lc->addr = k->addr;
			return (k);
		}
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	snprintf(k->key, sizeof(k->key), "%s", key);
	k->addr = lc->addr;
	k->udp = udp;
	k->fd = udp ? listener_reserve_udp(&k->addr, err, errlen) :
	    listener_reserve(&k->addr, err, errlen);
	if (k->fd == -1) {
		free(k);
		return (NULL);
	}
	/* UDP: the reserving socket is slot 0's (listener_reserve_udp()). */
	if (udp && ((fd = fcntl(k->fd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    (keeper_store(k, 0, 0, fd), keeper_slot_fd(k, 0)) != fd)) {
		snprintf(err, errlen, "listen %s: cannot keep it: %s",
		    lc->text, strerror(errno));
		keeper_close_slots(k, 0, 0);
		free(k->slot_fds);
		close(k->fd);
		free(k);
		return (NULL);
	}
	k->refs = 1;
	TAILQ_INSERT_TAIL(&m.keepers, k, entry);
	if (addr_port(&lc->addr) == 0)
		log_notice("listen %s: picked port %d", lc->text,
		    addr_port(&k->addr));
	lc->addr = k->addr;
	return (k);
}

/* Keep fd as slot's in a set of slot listeners (the first one wins). */
static void
keeper_set_store(int **fds, int *n, int slot, int fd)
{
	int	*p, i;

	if (slot >= *n) {
		if ((p = realloc(*fds, (size_t)(slot + 1) * sizeof(*p))) ==
		    NULL) {
			close(fd);
			return;
		}
		for (i = *n; i <= slot; i++)
			p[i] = -1;
		*fds = p;
		*n = slot + 1;
	}
	if ((*fds)[slot] != -1) {
		close(fd);
		return;
	}
	(*fds)[slot] = fd;
}

/* Close the listeners of a set from slot from on. */
static void
keeper_set_close(int *fds, int n, int from)
{
	int	 i;

	for (i = from; i < n; i++) {
		if (fds[i] != -1)
			close(fds[i]);
		fds[i] = -1;
	}
}

/*
 * Keep a copy of slot's listener: a worker slot's, or (exec) an exec
 * server's process slot's. The two never share a socket: a worker needs
 * it non-blocking, a program is given it blocking.
 */
void
keeper_store(struct keeper *k, int exec, int slot, int fd)
{
	if (exec)
		keeper_set_store(&k->xslot_fds, &k->nxslot_fds, slot, fd);
	else
		keeper_set_store(&k->slot_fds, &k->nslot_fds, slot, fd);
}

static int
keeper_slot_fd(const struct keeper *k, int slot)
{
	return (slot < k->nslot_fds ? k->slot_fds[slot] : -1);
}

static int
keeper_xslot_fd(const struct keeper *k, int slot)
{
	return (slot < k->nxslot_fds ? k->xslot_fds[slot] : -1);
}

/* Let go of the listeners of slots no generation in service uses. */
static void
keeper_close_slots(struct keeper *k, int nslots, int nxslots)
{
	keeper_set_close(k->slot_fds, k->nslot_fds, nslots);
	keeper_set_close(k->xslot_fds, k->nxslot_fds, nxslots);
}

/* A generation lets go of an address: the last one closes its sockets. */
void
keeper_put(struct keeper *k)
{
	if (--k->refs > 0)
		return;
	TAILQ_REMOVE(&m.keepers, k, entry);
	keeper_close_slots(k, 0, 0);
	free(k->slot_fds);
	free(k->xslot_fds);
	close(k->fd);
	free(k);
}

/* Inherited addresses the new configuration does not use: let them go. */
void
keeper_put_unused(void)
{
	struct keeper	*k, *next;

	for (k = TAILQ_FIRST(&m.keepers); k != NULL; k = next) {
		next = TAILQ_NEXT(k, entry);
		if (k->refs == 0) {
			k->refs = 1;
			keeper_put(k);
		}
	}
}

/* In a new child: let go of every keeper (keeper_child_keep() first). */
void
keeper_put_all(void)
{
	struct keeper	*k;

	while ((k = TAILQ_FIRST(&m.keepers)) != NULL) {
		k->refs = 1;
		keeper_put(k);
	}
}

/* Whether a child configured with lc is given fd. */
static int
keeper_inherited(const struct listen_conf *lc, int fd)
{
	int	 i;

	if (fd == lc->inherit_fd)
		return (1);
	for (i = 0; i < lc->nadopt; i++)
		if (fd == lc->adopt_fds[i])
			return (1);
	return (0);
}

/*
 * In a new child: the listeners it inherits are its own now, so that
 * letting go of the master's keepers does not close them.
 */
void
keeper_child_keep(struct generation *keep)
{
	struct keeper	*k;
	size_t		 i, j;
	int		 s;

	for (i = 0; i < keep->conf->nservers; i++)
		for (j = 0; j < keep->conf->servers[i].nlistens; j++)
			TAILQ_FOREACH(k, &m.keepers, entry)
				for (s = 0; s < k->nslot_fds; s++)
					if (k->slot_fds[s] != -1 &&
					    keeper_inherited(&keep->conf->
					    servers[i].listens[j],
					    k->slot_fds[s]))
						k->slot_fds[s] = -1;
}

/*
 * Point the configuration at the listeners slot used before, if any, and
 * at the listeners of retired slots (beyond this generation's count) that
 * this slot adopts: slot s goes to worker s mod nslots.
 */
void
keeper_set_inherit(struct generation *gen, int slot)
{
	struct listen_conf	*lc;
	struct keeper		*kp;
	size_t			 i, j, k = 0;
	int			 s;

	for (i = 0; i < gen->conf->nservers; i++) {
		for (j = 0; j < gen->conf->servers[i].nlistens; j++, k++) {
			lc = &gen->conf->servers[i].listens[j];
			free(lc->adopt_fds);
			lc->adopt_fds = NULL;
			lc->nadopt = 0;
			lc->inherit_fd = -1;
			if (k >= gen->nkeepers || gen->kserver[k]->exec != NULL)
				continue;
			kp = gen->keepers[k];
			lc->inherit_fd = keeper_slot_fd(kp, slot);
			if (kp->nslot_fds > gen->served[k])
				gen->served[k] = kp->nslot_fds;
			if (kp->nslot_fds <= gen->nslots)
				continue;
			lc->adopt_fds = calloc((size_t)kp->nslot_fds,
			    sizeof(int));
			for (s = gen->nslots; lc->adopt_fds != NULL &&
			    s < kp->nslot_fds; s++)
				if (s % gen->nslots == slot &&
				    kp->slot_fds[s] != -1)
					lc->adopt_fds[lc->nadopt++] =
					    kp->slot_fds[s];
		}
	}
}

/* After the fork: the parent's copy of the adoption lists is not needed. */
void
keeper_clear_inherit(struct generation *gen)
{
	size_t	 i, j;

	for (i = 0; i < gen->conf->nservers; i++)
		for (j = 0; j < gen->conf->servers[i].nlistens; j++) {
			free(gen->conf->servers[i].listens[j].adopt_fds);
			gen->conf->servers[i].listens[j].adopt_fds = NULL;
			gen->conf->servers[i].listens[j].nadopt = 0;
			gen->conf->servers[i].listens[j].inherit_fd = -1;
		}
}

/*
 * How many of k's slot listeners a worker of a generation in service
 * (serving or starting) accepts on, own or adopted; or (exec) how many
 * an exec server's processes are given.
 */
static int
keeper_slots_in_use(const struct keeper *k, int exec)
{
	struct generation	*g;
	size_t			 i;
	int			 need = 0;

	TAILQ_FOREACH(g, &m.gens, entry) {
		if (g->state == GEN_DRAINING)
			continue;
		for (i = 0; i < g->nkeepers; i++) {
			if (g->keepers[i] != k)
				continue;
			if ((g->kserver[i]->exec != NULL) != exec)
				continue;
			if (exec) {
				if (g->kserver[i]->exec->processes > need)
					need = g->kserver[i]->exec->processes;
				continue;
			}
			if (g->nslots > need)
				need = g->nslots;
			if (g->served[i] > need)
				need = g->served[i];
		}
	}
	return (need);
}

/*
 * Close the kept listeners that no worker of a generation in service
 * (serving or starting) accepts on, own or adopted: a listener nobody
 * accepts on must leave the reuseport group, or the kernel keeps queueing
 * connections in it. (Those a failed reload leaves are adopted first:
 * keeper_adopt_strays().)
 */
void
keeper_trim(void)
{
	struct keeper	*k;

	TAILQ_FOREACH(k, &m.keepers, entry)
		keeper_close_slots(k, keeper_slots_in_use(k, 0),
		    keeper_slots_in_use(k, 1));
}

/* Send CHAN_ADOPT on chan: the listener fd of listener index for slot. */
static int
keeper_lend_one(int chan, const struct generation *gen, int fd, int index,
    int slot)
{
	struct chan_msg	 msg;

	if (chan == -1)
		return (-1);
	channel_msg_init(&msg, CHAN_ADOPT);
	msg.generation = gen->id;
	msg.slot = slot;
	msg.arg = index;
	return (channel_send(chan, &msg, fd));
}

/*
 * Listeners of slots beyond what the serving generation accepts on: a
 * reload that added workers and then failed leaves them, and the kernel
 * has been queueing connections in them since they listened. Closing
 * them would reset those connections; the serving workers adopt them
 * instead, by the rule of a reload to fewer workers: slot s goes to the
 * worker of slot s mod nslots or, while that one is not ready, to any
 * ready worker (as a dead slot's are lent). With to set, only what goes
 * to that worker (which has just become ready).
 */
void
keeper_adopt_strays(struct wproc *to)
{
	struct generation	*cur = m.current;
	struct wproc		*wp, *dst;
	struct keeper		*kp;
	size_t			 k;
	int			 s;

	if (cur == NULL || cur->state != GEN_SERVING)
		return;
	for (k = 0; k < cur->nkeepers; k++) {
		kp = cur->keepers[k];
		if (cur->kserver[k]->exec != NULL)
			continue;
		/* Those adopted already are lent again: a worker drops a
		 * listener it has (same inode). */
		for (s = cur->nslots; s < kp->nslot_fds; s++) {
			if (kp->slot_fds[s] == -1)
				continue;
			dst = NULL;
			TAILQ_FOREACH(wp, &cur->procs, entry) {
				if (wp->state != WPROC_READY || wp->x != NULL)
					continue;
				if (wp->slot == s % cur->nslots) {
					dst = wp;
					break;
				}
				if (dst == NULL)
					dst = wp;
			}
			if (dst != NULL && (to == NULL || dst == to) &&
			    keeper_lend_one(dst->chan, cur, kp->slot_fds[s],
			    (int)k, s) == -1)
				log_warn("worker %ld: cannot lend slot %d's "
				    "listener", (long)dst->pid, s);
		}
		if (kp->nslot_fds > cur->served[k])
			cur->served[k] = kp->nslot_fds;
	}
}

/*
 * Send on chan, as CHAN_ADOPT messages, a copy of every listener the
 * worker of slot in gen accepts on: to a worker to accept on them now, or
 * to be kept until that worker dies (master_sibling.c). -1 if one could
 * not be sent.
 */
int
keeper_send_slot(const struct generation *gen, int chan, int slot)
{
	struct keeper	*kp;
	size_t		 k;
	int		 fd, s;

	for (k = 0; k < gen->nkeepers; k++) {
		kp = gen->keepers[k];
		if (gen->kserver[k]->exec != NULL)
			continue;
		/*
		 * The slot's own listener, and those of retired slots it
		 * adopted (s mod nslots == slot, see keeper_set_inherit()):
		 * lending only its own left what queued in the adopted ones
		 * stranded for the whole backoff, up to 30 s.
		 */
		for (s = 0; s < kp->nslot_fds; s++) {
			if (s != slot && (s < gen->nslots ||
			    s % gen->nslots != slot))
				continue;
			if ((fd = keeper_slot_fd(kp, s)) == -1)
				continue;
			if (keeper_lend_one(chan, gen, fd, (int)k, s) == -1)
				return (-1);
		}
	}
	return (0);
}

/*
 * A worker died: until its replacement runs (it may be held back by the
 * crash-loop backoff), a live worker of the generation also accepts on the
 * dead slot's listeners, so connections queued there are not stranded.
 */
void
keeper_lend(struct generation *gen, int slot)
{
	struct wproc	*wp;

	TAILQ_FOREACH(wp, &gen->procs, entry) {
		if (wp->state != WPROC_READY || wp->slot == slot ||
		    wp->chan == -1 || wp->x != NULL)
			continue;
		if (keeper_send_slot(gen, wp->chan, slot) == -1)
			log_warn("worker %ld: cannot lend slot %d's listeners",
			    (long)wp->pid, slot);
		return;
	}
}

/*
 * A worker's copy of a listener it opened (fd), for its slot: kept, unless
 * its generation is retired and no serving one would take that slot over.
 */
void
keeper_offer(struct wproc *wp, const struct chan_msg *msg, int fd)
{
	struct generation	*gen = wp->gen;

	if (fd == -1)
		return;
	if (msg->arg < 0 || (size_t)msg->arg >= gen->nkeepers ||
	    gen->kserver[msg->arg]->exec != NULL || (gen->state == GEN_DRAINING && (m.current == NULL ||
	    wp->slot < m.current->nslots))) {
		close(fd);
		return;
	}
	/*
	 * Kept even from a generation that failed meanwhile, for a slot the
	 * serving one does not have: the worker's copy closes when it
	 * exits, and what queued in it would be reset unless it is adopted.
	 */
	keeper_store(gen->keepers[msg->arg], 0, wp->slot, fd);
	if (gen->state == GEN_DRAINING) {
		keeper_adopt_strays(NULL);
		keeper_trim();
	}
}

/*
 * The listeners process slot of exec server sc in gen is given, in the
 * order of its listen addresses: the slot's kept ones, opened now for a
 * slot that has none yet (the master keeps a copy). The count, or -1 with
 * err set.
 */
int
keeper_exec_fds(struct generation *gen, struct server_conf *sc, int slot,
    int *fds, char *err, size_t errlen)
{
	struct keeper	*kp;
	size_t		 k;
	int		 n = 0, fd;

	for (k = 0; k < gen->nkeepers; k++) {
		if (gen->kserver[k] != sc)
			continue;
		kp = gen->keepers[k];
		if ((fd = keeper_xslot_fd(kp, slot)) == -1) {
			if ((fd = listener_open(&kp->addr, sc->backlog, err,
			    errlen)) == -1)
				return (-1);
			/* Given as systemd gives them: blocking. Nobody
			 * shares it yet; later its flags are the program's. */
			if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) &
			    ~O_NONBLOCK) == -1) {
				snprintf(err, errlen, "listen %s: fcntl: %s",
				    kp->key, strerror(errno));
				close(fd);
				return (-1);
			}
			keeper_store(kp, 1, slot, fd);
			if (keeper_xslot_fd(kp, slot) != fd) {
				snprintf(err, errlen, "out of memory");
				return (-1);
			}
		}
		fds[n++] = fd;
	}
	return (n);
}

/*
 * The sockets of the worker slots of a UDP address gen listens on (keeper
 * index k), opened now for the slots that have none: the master opens
 * them all, so that none is ever bound without a worker that will read
 * it. -1 with err set.
 */
int
keeper_udp_slots(struct generation *gen, size_t k, char *err, size_t errlen)
{
	struct keeper	*kp = gen->keepers[k];
	int		 s, fd;

	for (s = 0; s < gen->nslots; s++) {
		if (keeper_slot_fd(kp, s) != -1)
			continue;
		/*
		 * Slot 0's socket is the one that reserves the address: a
		 * trim may have let go of the slot's copy while the keeper
		 * lived on. The socket (and what waits in it) goes back to
		 * a worker; a new one would leave it unread in the group.
		 */
		fd = s == 0 ? fcntl(kp->fd, F_DUPFD_CLOEXEC, 0) :
		    listener_open_udp(&kp->addr, err, errlen);
		if (fd == -1) {
			if (s == 0)
				snprintf(err, errlen, "listen %s: %s", kp->key,
				    strerror(errno));
			return (-1);
		}
		keeper_store(kp, 0, s, fd);
		if (keeper_slot_fd(kp, s) != fd) {
			snprintf(err, errlen, "out of memory");
			return (-1);
		}
	}
	return (0);
}
