/*
 * poller.h: a service's own epoll instance for its connections, watched
 * as one descriptor by the worker's libevent loop.
 *
 * libevent removes a descriptor from epoll (epoll_ctl DEL) whenever an
 * event is deleted, and changes its mask whenever a connection turns
 * from reading to writing: one or two system calls per connection that
 * nginx does not make. Here a connection is added once, edge-triggered,
 * and never deleted (close() removes it) nor changed, unless it once
 * has to wait for writing. What the edges said is kept in readiness
 * flags, so an edge that comes while the connection waits for the other
 * direction is not lost; a connection with work to do and no edge to
 * come is "posted" and run from the loop.
 */
#ifndef DROVER_POLLER_H
#define DROVER_POLLER_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stddef.h>

#include <event2/event.h>

struct poller;

/* One per connection, embedded in the service's connection struct. */
struct poller_item {
	TAILQ_ENTRY(poller_item) posted_entry;
	int		 fd;
	int		 error;		/* errno of a failed epoll_ctl */
	unsigned	 rready:1;	/* recv() may return bytes or EOF */
	unsigned	 wready:1;	/* send() may take bytes */
	unsigned	 rdhup:1;	/* the peer's FIN has come */
	unsigned	 added:1;	/* in the epoll set */
	unsigned	 out:1;		/* ... with EPOLLOUT */
	unsigned	 posted:1;
	unsigned	 shared:1;	/* came by SCM_RIGHTS: DEL before close */
};

/* The struct an item is embedded in, from the item. */
#define POLLER_OWNER(it, type, member) \
	((type *)(void *)((char *)(it) - offsetof(type, member)))

/* Called when the item may have work: an edge came, or it was posted. */
typedef void (*poller_cb)(struct poller_item *, void *);

struct poller	*poller_new(struct event_base *, poller_cb, void *);
void		 poller_free(struct poller *);
void		 poller_item_init(struct poller_item *, int);
void		 poller_want_read(struct poller *, struct poller_item *);
void		 poller_want_write(struct poller *, struct poller_item *);
void		 poller_post(struct poller *, struct poller_item *);
void		 poller_forget(struct poller *, struct poller_item *);
void		 poller_remove(struct poller *, struct poller_item *);

#endif
