/*
 * master_foreign.c: a port that stays ours. Every few seconds the master
 * asks the kernel (sock_diag) for every socket bound to each of its listen
 * addresses, and tells the ones drover did not create.
 *
 * The kernel lets any socket of the same effective uid (or root's) join a
 * SO_REUSEPORT group, and then gives it its share of the connections or
 * datagrams: a stray copy of a test server, or another program run as the
 * same user, silently takes traffic. Ours are the sockets the master keeps
 * (struct keeper: workers and exec processes are given copies, the same
 * inodes), and any socket held by a process of ours: a worker's new
 * listener is in flight to the master for a moment, and during a binary
 * upgrade the new master and the old one (its parent) share the port.
 * A socket is told as foreign only when two checks in a row find it and
 * no process of ours holds it, so those moments never raise an alarm.
 *
 * Only sockets of the listen address's own family are looked at. A
 * dual-stack [::]:PORT socket of someone else's also receives IPv4 for
 * the port, but the kernel's lookup scores a socket of the packet's own
 * family higher (compute_score), so it gets nothing while an IPv4 socket
 * of ours is bound there: it cannot take a share of our traffic.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/stat.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/sockdiag.h"
#include "core/stats.h"
#include "process/master_int.h"

#define MASTER_FOREIGN_PERIOD	3	/* s between checks */
#define MASTER_FOREIGN_MAX	64	/* sockets remembered at once */
#define MASTER_FOREIGN_DUMP	256	/* sockets per address looked at */
#define MASTER_FOREIGN_OURS	1024	/* kept inodes looked at */

enum mf_state {
	MF_OURS,	/* held by a process of ours: not looked at again */
	MF_SUSPECT,	/* seen once, not ours: looked at next time */
	MF_FOREIGN,	/* seen twice, not ours: told */
};

/* A socket on one of our ports that no keeper holds. */
struct mf_entry {
	struct foreign_sock	 s;
	enum mf_state		 state;
	int			 seen;		/* in the current check */
};

static struct event	*master_foreign_ev;
static struct mf_entry	 mf[MASTER_FOREIGN_MAX];
static size_t		 nmf;
static uint64_t		 mf_seen;	/* foreign sockets ever told */
static pid_t		 mf_old_master;	/* upgrade: our parent */
static int		 mf_failed;	/* sock_diag failure told */
static int		 mf_full;	/* "too many" told */

/* The inodes of every socket the master keeps, into ours; the count. */
static size_t
master_foreign_kept(unsigned long *ours, size_t max)
{
	struct keeper	*k;
	struct stat	 st;
	size_t		 n = 0;
	int		 i, fd;

	TAILQ_FOREACH(k, &m.keepers, entry)
		for (i = -1; i < k->nslot_fds + k->nxslot_fds; i++) {
			if (i == -1)
				fd = k->fd;
			else if (i < k->nslot_fds)
				fd = k->slot_fds[i];
			else
				fd = k->xslot_fds[i - k->nslot_fds];
			if (fd != -1 && n < max && fstat(fd, &st) == 0)
				ours[n++] = (unsigned long)st.st_ino;
		}
	return (n);
}

static int
master_foreign_in(const unsigned long *set, size_t n, unsigned long ino)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (set[i] == ino)
			return (1);
	return (0);
}

/*
 * Whether a process of ours holds ino: this master or one of its children
 * (workers, exec processes and theirs, a new master during an upgrade),
 * or, in a new master, the old master that started it while it runs.
 */
static int
master_foreign_ours(unsigned long ino)
{
	if (sockdiag_pid_holds(getpid(), ino))
		return (1);
	return (mf_old_master > 1 && getppid() == mf_old_master &&
	    sockdiag_pid_holds(mf_old_master, ino));
}

static struct mf_entry *
master_foreign_find(unsigned long ino, const char *addr)
{
	size_t	 i;

	for (i = 0; i < nmf; i++)
		if (mf[i].s.ino == ino && strcmp(mf[i].s.addr, addr) == 0)
			return (&mf[i]);
	return (NULL);
}

/* Tell a socket that is not ours, once: it takes a share of the traffic. */
static void
master_foreign_tell(struct mf_entry *e)
{
	char	 pid[64];

	e->s.pid = sockdiag_holder(e->s.ino, e->s.comm, sizeof(e->s.comm));
	if (e->s.pid == -1)
		snprintf(pid, sizeof(pid), "pid unknown (not visible to "
		    "drover)");
	else
		snprintf(pid, sizeof(pid), "pid %ld (%s)", (long)e->s.pid,
		    e->s.comm);
	log_warnx("listen %s (%s): a socket drover did not create is bound "
	    "to it: %s, inode %lu; in our reuseport group it takes a share "
	    "of the traffic (the kernel lets any process of the uid that "
	    "bound the group join it, root's too when drover starts as "
	    "root: start drover as a dedicated user)", e->s.addr,
	    e->s.udp ? "udp" : "tcp", pid, e->s.ino);
	e->state = MF_FOREIGN;
	mf_seen++;
}

/* One socket found on an address of ours that no keeper holds. */
static void
master_foreign_saw(unsigned long ino, const char *addr, int udp)
{
	struct mf_entry	*e;

	if ((e = master_foreign_find(ino, addr)) != NULL) {
		e->seen = 1;
		if (e->state == MF_SUSPECT) {
			if (master_foreign_ours(ino))
				e->state = MF_OURS;
			else
				master_foreign_tell(e);
		}
		return;
	}
	if (nmf == MASTER_FOREIGN_MAX) {
		if (!mf_full++)
			log_warnx("listen %s: more than %d sockets drover did "
			    "not create share its ports: not all are told",
			    addr, MASTER_FOREIGN_MAX);
		return;
	}
	e = &mf[nmf++];
	memset(e, 0, sizeof(*e));
	snprintf(e->s.addr, sizeof(e->s.addr), "%s", addr);
	e->s.udp = udp;
	e->s.ino = ino;
	e->s.pid = -1;
	e->seen = 1;
	e->state = master_foreign_ours(ino) ? MF_OURS : MF_SUSPECT;
}

/* Look at every socket on one keeper's address. */
static void
master_foreign_address(const struct keeper *k, const unsigned long *ours,
    size_t nours)
{
	unsigned long	 inos[MASTER_FOREIGN_DUMP];
	char		 addr[ADDR_STRLEN];
	int		 n, i, udp = k->udp;

	addr_format(&k->addr, addr, sizeof(addr));
	n = sockdiag_bound(&k->addr.ss, udp, inos, MASTER_FOREIGN_DUMP);
	if (n == -1) {
		if (!mf_failed++)
			log_warn("listen %s: cannot list its sockets "
			    "(sock_diag): foreign sockets go unnoticed", addr);
		return;
	}
	for (i = 0; i < n && i < MASTER_FOREIGN_DUMP; i++)
		if (inos[i] != 0 && !master_foreign_in(ours, nours, inos[i]))
			master_foreign_saw(inos[i], addr, udp);
}

/* Forget the sockets this check did not find; tell the foreign ones. */
static void
master_foreign_sweep(void)
{
	size_t	 i = 0;

	while (i < nmf) {
		if (mf[i].seen) {
			i++;
			continue;
		}
		if (mf[i].state == MF_FOREIGN)
			log_info("listen %s (%s): the foreign socket (inode "
			    "%lu) has gone", mf[i].s.addr,
			    mf[i].s.udp ? "udp" : "tcp", mf[i].s.ino);
		mf[i] = mf[--nmf];
	}
}

/* The count of distinct foreign sockets now (one may share two ports). */
static uint32_t
master_foreign_count(void)
{
	uint32_t	 n = 0;
	size_t		 i, j;

	for (i = 0; i < nmf; i++) {
		if (mf[i].state != MF_FOREIGN)
			continue;
		for (j = 0; j < i; j++)
			if (mf[j].state == MF_FOREIGN &&
			    mf[j].s.ino == mf[i].s.ino)
				break;
		n += j == i;
	}
	return (n);
}

static void
master_foreign_cb(evutil_socket_t fd, short what, void *arg)
{
	static unsigned long	 ours[MASTER_FOREIGN_OURS];
	struct keeper		*k;
	size_t			 i, nours;

	(void)fd;
	(void)what;
	(void)arg;
	for (i = 0; i < nmf; i++)
		mf[i].seen = 0;
	nours = master_foreign_kept(ours, MASTER_FOREIGN_OURS);
	TAILQ_FOREACH(k, &m.keepers, entry)
		master_foreign_address(k, ours, nours);
	master_foreign_sweep();
	/* During an upgrade both masters check: the one that serves tells. */
	if (m.started && !m.upgraded)
		stats_set_foreign(m.stats, master_foreign_count(), mf_seen);
}

/* Check the sockets on our ports every MASTER_FOREIGN_PERIOD from now on. */
void
master_foreign_start(void)
{
	struct timeval	 tv = { MASTER_FOREIGN_PERIOD, 0 };

	/* A new master's parent is the old one until that one leaves. */
	mf_old_master = m.opts.upgrade != NULL ? getppid() : 0;
	/* The count carries on across an upgrade, as the region does. */
	if (m.stats != NULL)
		mf_seen = __atomic_load_n(&m.stats->foreign_seen,
		    __ATOMIC_RELAXED);
	master_foreign_ev = event_new(m.base, -1, EV_PERSIST,
	    master_foreign_cb, NULL);
	if (master_foreign_ev == NULL ||
	    event_add(master_foreign_ev, &tv) == -1)
		log_warnx("cannot check the sockets on our ports: foreign "
		    "sockets go unnoticed");
}

void
master_foreign_stop(void)
{
	if (master_foreign_ev != NULL)
		event_free(master_foreign_ev);
	master_foreign_ev = NULL;
	nmf = 0;
}

/*
 * The foreign sockets known now, for status: the one after *i (start
 * with 0), NULL at the end.
 */
const struct foreign_sock *
master_foreign_next(size_t *i)
{
	while (*i < nmf)
		if (mf[(*i)++].state == MF_FOREIGN)
			return (&mf[*i - 1].s);
	return (NULL);
}
