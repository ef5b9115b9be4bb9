/*
 * poller.c: a service's own epoll instance for its connections, watched
 * by the worker's libevent loop (see poller.h for why).
 *
 * The instance is one level-triggered descriptor in libevent's loop
 * (which uses poll() in workers: worker_event_base() says why), so
 * a batch of at most POLLER_BATCH edges is taken per wake-up and what is
 * left is reported again by the next turn of the loop: other events are
 * not starved. Posted items run from one libevent event, those posted
 * before it started only, for the same reason: what is posted while they
 * run waits for the next turn of the loop (a zero timeout, not
 * event_active(), which libevent would run again in the same turn).
 *
 * Items are added edge-triggered for input and the peer's FIN, and for
 * output only once they had to wait for it (EAGAIN on a send), which
 * most connections never do: then neither the add nor the first
 * EPOLLOUT edge of a fresh socket costs anything. An item is never
 * removed: its owner closes the descriptor, and the kernel drops it from
 * the set with the last reference to the socket. A worker never forks
 * nor duplicates a connection's descriptor, so that is the close. The
 * exception is a connection handed from worker to worker (SCM_RIGHTS):
 * for a moment both hold it, and a close by either leaves the socket in
 * the closer's set, with its edges pointing at freed memory. So the
 * sender removes it before it lets go (poller_remove), and the receiver
 * marks it shared and removes it before every close of its own.
 */
#include "autoconf.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "event/poller.h"

#define POLLER_BATCH	64	/* edges taken per wake-up */

TAILQ_HEAD(poller_items, poller_item);

struct poller {
	int			 epfd;
	struct event		*ev_epoll;	/* epfd is readable */
	struct event		*ev_posted;	/* the posted list is not empty */
	int			 posted_pending; /* ev_posted made active */
	int			 posted_running; /* in poller_posted_cb */
	struct poller_items	 posted;
	unsigned		 nposted;
	poller_cb		 cb;
	void			*arg;
	/* The batch being run, so a forgotten item's later edges in it
	 * are not run (its memory may be gone). */
	struct epoll_event	 batch[POLLER_BATCH];
	int			 batch_next;
	int			 batch_len;
};

static void
poller_unpost(struct poller *p, struct poller_item *it)
{
	if (!it->posted)
		return;
	TAILQ_REMOVE(&p->posted, it, posted_entry);
	it->posted = 0;
	p->nposted--;
}

/* The instance has edges: run a batch of them (the rest next turn). */
static void
poller_epoll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct poller		*p = arg;
	struct poller_item	*it;
	uint32_t		 e;
	int			 n;

	(void)fd;
	(void)what;
	n = epoll_wait(p->epfd, p->batch, POLLER_BATCH, 0);
	if (n == -1) {
		if (errno == EINTR)
			return;
		fatal("poller: epoll_wait");	/* on our own descriptor */
	}
	p->batch_len = n;
	for (p->batch_next = 0; p->batch_next < p->batch_len;) {
		e = p->batch[p->batch_next].events;
		it = p->batch[p->batch_next].data.ptr;
		p->batch_next++;
		if (it == NULL)
			continue;	/* forgotten earlier in this batch */
		if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			it->rready = 1;
		if (e & (EPOLLRDHUP | EPOLLHUP))
			it->rdhup = 1;
		if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			it->wready = 1;
		poller_unpost(p, it);	/* this run does what it was for */
		p->cb(it, p->arg);
	}
	p->batch_len = p->batch_next = 0;
}

/* Run the items posted before this started. */
static void
poller_posted_cb(evutil_socket_t fd, short what, void *arg)
{
	struct poller		*p = arg;
	struct poller_item	*it;
	unsigned		 n = p->nposted;

	(void)fd;
	(void)what;
	p->posted_pending = 0;
	p->posted_running = 1;
	while (n-- > 0 && (it = TAILQ_FIRST(&p->posted)) != NULL) {
		poller_unpost(p, it);
		p->cb(it, p->arg);
	}
	p->posted_running = 0;
}

struct poller *
poller_new(struct event_base *base, poller_cb cb, void *arg)
{
	struct poller	*p;
	int		 saved;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	p->epfd = -1;
	TAILQ_INIT(&p->posted);
	p->cb = cb;
	p->arg = arg;
	if ((p->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		goto fail;
	p->ev_epoll = event_new(base, p->epfd, EV_READ | EV_PERSIST,
	    poller_epoll_cb, p);
	p->ev_posted = event_new(base, -1, 0, poller_posted_cb, p);
	if (p->ev_epoll == NULL || p->ev_posted == NULL ||
	    event_add(p->ev_epoll, NULL) == -1) {
		errno = ENOMEM;
		goto fail;
	}
	return (p);
fail:
	saved = errno;
	poller_free(p);
	errno = saved;
	return (NULL);
}

/* Every item must have been forgotten (and closed) first. */
void
poller_free(struct poller *p)
{
	if (p == NULL)
		return;
	if (p->ev_epoll != NULL)
		event_free(p->ev_epoll);
	if (p->ev_posted != NULL)
		event_free(p->ev_posted);
	if (p->epfd != -1)
		close(p->epfd);
	free(p);
}

/*
 * A new connection. Nothing is known of it yet but that it can be
 * written to, as every fresh socket can (so a response needs no edge).
 */
void
poller_item_init(struct poller_item *it, int fd)
{
	it->fd = fd;
	it->error = 0;
	it->rready = it->rdhup = it->added = it->out = it->posted = 0;
	it->shared = 0;
	it->wready = 1;
}

/* Add the item, or add EPOLLOUT to it; a failure is kept in it->error
 * and reported by posting it (the owner closes it from its callback). */
static void
poller_ctl(struct poller *p, struct poller_item *it, int out)
{
	struct epoll_event	 ev;

	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (out ? EPOLLOUT : 0);
	ev.data.ptr = it;
	if (epoll_ctl(p->epfd, it->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    it->fd, &ev) == -1) {
		it->error = errno;
		poller_post(p, it);
		return;
	}
	it->added = 1;
	if (out)
		it->out = 1;
}

/* The owner waits for input: run it now if some is known to be there. */
void
poller_want_read(struct poller *p, struct poller_item *it)
{
	if (!it->added)
		poller_ctl(p, it, 0);
	if (it->rready)
		poller_post(p, it);
}

/* The owner waits to write (a send said EAGAIN). */
void
poller_want_write(struct poller *p, struct poller_item *it)
{
	if (!it->out)
		poller_ctl(p, it, 1);
	if (it->wready)
		poller_post(p, it);
}

/* Run the item's callback from the loop, soon, once. */
void
poller_post(struct poller *p, struct poller_item *it)
{
	static const struct timeval	 next_turn = { 0, 0 };

	if (it->posted)
		return;
	it->posted = 1;
	TAILQ_INSERT_TAIL(&p->posted, it, posted_entry);
	p->nposted++;
	if (!p->posted_pending) {
		p->posted_pending = 1;
		if (p->posted_running)
			event_add(p->ev_posted, &next_turn);
		else
			event_active(p->ev_posted, EV_TIMEOUT, 1);
	}
}

/*
 * The descriptor goes to another process (SCM_RIGHTS) and is closed
 * here: the socket lives on, so the close does not take it out of the
 * set and its edges would still wake us. Take it out first.
 */
void
poller_remove(struct poller *p, struct poller_item *it)
{
	if (it->added && epoll_ctl(p->epfd, EPOLL_CTL_DEL, it->fd, NULL) == -1)
		log_warn("poller: epoll_ctl DEL");
	it->added = it->out = 0;
	poller_forget(p, it);
}

/* The owner is about to close the item's descriptor and free it. */
void
poller_forget(struct poller *p, struct poller_item *it)
{
	int	 i;

	poller_unpost(p, it);
	for (i = p->batch_next; i < p->batch_len; i++)
		if (p->batch[i].data.ptr == it)
			p->batch[i].data.ptr = NULL;
}
